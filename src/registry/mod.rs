//! The embedded OCI registry: a distribution-spec 1.1 server over filesystem storage.

mod api;
pub mod auth;
pub mod daemon;
pub mod error;
pub mod gc;
pub mod manifest;
mod server;
pub mod storage;
pub mod upload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::any;

pub use server::RunningRegistry;
pub use storage::Storage;

use auth::Htpasswd;
use upload::Uploads;

/// How to run a registry.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    pub addr: SocketAddr,
    pub storage: PathBuf,
    pub htpasswd: Option<PathBuf>,
    pub tls: Option<TlsFiles>,
    /// Upload sessions idle for longer than this are dropped.
    pub upload_ttl: Duration,
    /// What one client may cost.
    pub limits: Limits,
}

/// Bounds on what clients may cost the registry, so that one cannot starve the others.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub uploads: upload::UploadLimits,
    /// Connections served at once; more wait in the listen backlog. Lowered to fit the
    /// process's open-file limit.
    pub max_connections: usize,
    /// A TLS client that has not finished its handshake by then is dropped.
    pub tls_handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            uploads: upload::UploadLimits::default(),
            max_connections: 1024,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// PEM files for HTTPS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl RegistryConfig {
    /// A configuration with defaults for everything but the address and storage.
    pub fn new(addr: SocketAddr, storage: impl Into<PathBuf>) -> RegistryConfig {
        RegistryConfig {
            addr,
            storage: storage.into(),
            htpasswd: None,
            tls: None,
            upload_ttl: Duration::from_secs(3600),
            limits: Limits::default(),
        }
    }
}

/// Default storage: `<data dir>/oci-registry`.
pub fn default_storage_dir() -> PathBuf {
    crate::paths::data_dir().join("oci-registry")
}

/// What the HTTP handlers share.
pub struct RegistryState {
    storage: Storage,
    uploads: Arc<Uploads>,
    auth: Option<Htpasswd>,
}

fn router(state: Arc<RegistryState>) -> Router {
    Router::new()
        .route("/v2", any(api::dispatch))
        .route("/v2/", any(api::dispatch))
        .route("/v2/{*rest}", any(api::dispatch))
        .fallback(any(api::dispatch))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::common_headers,
        ))
        .with_state(state)
}
