//! A distribution-spec client on `reqwest`. This file holds the shared state and types; the
//! requests live beside it:
//!
//! - [`transport`]: sending with authentication and retries, errors from answers.
//! - [`auth`]: challenges, token requests (OAuth2 refresh tokens too), the per-registry cache.
//! - [`listing`]: ping, catalog and tags, paged through `Link` headers ([`pages`]).
//! - [`manifests`]: manifests and referrers (with the `sha256-<hex>` tag fallback).
//! - [`blobs`]: reading blobs, resuming broken downloads.
//! - [`upload`]: uploads and cross-repository mounts.

mod auth;
mod blobs;
mod error;
mod listing;
mod manifests;
mod pages;
pub mod proxy;
mod transport;
mod upload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use auth::{Challenge, parse_challenge};
pub use error::{OciError, Result};
pub use manifests::PushedManifest;

use super::credentials::{Credential, CredentialStore};
use super::progress::Progress;
use super::reference::{DOCKER_HUB_API, docker_hub_alias};
use super::{Digest, media_type};
use auth::AuthCache;

/// Manifests and configs are read into memory up to this size, as other clients do.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// How the client reaches registries.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Use `http://` for every registry.
    pub plain_http: bool,
    /// Registries to reach over `http://` (workspace `tls_enabled: false`).
    pub plain_http_registries: Vec<String>,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// An extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Blobs moved at once.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// `(registry, mirror)`, each `host[:port]`: every request for `registry` goes to `mirror`
    /// (workspace `mirrors:`). The mirror is reached with its own transport, credentials and
    /// token cache, as if it had been named; mirrors do not chain.
    pub mirrors: Vec<(String, String)>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            plain_http: false,
            plain_http_registries: Vec::new(),
            insecure: false,
            ca_file: None,
            concurrency: 4,
            retry: RetryPolicy::default(),
            mirrors: Vec::new(),
        }
    }
}

/// Retries of 408, 429, 5xx and broken connections.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Shared state for talking to any number of registries.
#[derive(Clone)]
pub struct Registries {
    http: reqwest::Client,
    options: Arc<ClientOptions>,
    credentials: Arc<CredentialStore>,
    auth: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<AuthCache>>>>>,
    /// Loopback registries found to speak plain HTTP, shared by every client for them.
    fallen_back: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
}

/// How the client reaches one registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS only.
    Tls,
    /// Plain HTTP, because it was asked for (`--plain-http`, `tls_enabled: false`, the user
    /// config's `plain_http`).
    PlainHttp,
    /// A loopback registry: HTTPS first, plain HTTP as soon as the registry shows it does not
    /// speak TLS (as docker and go-containerregistry do for `localhost`).
    TlsThenPlainHttp,
}

/// Whether `registry` (`host[:port]`, `[v6]:port`) is `localhost`, in `127.0.0.0/8` or `::1`.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else if registry.matches(':').count() > 1 {
        // A bare IPv6 address without a port.
        registry
    } else {
        registry.split(':').next().unwrap_or("")
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

impl Registries {
    pub fn new(options: ClientOptions, credentials: CredentialStore) -> Result<Registries> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = reqwest::Client::builder()
            .user_agent(concat!("provisioning/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            // Copies run up to four small blobs per slot; keep a connection for each.
            .pool_max_idle_per_host(options.concurrency.max(1) * 8);
        let mut builder = proxy::ProxyEnv::from_env().apply(builder)?;
        if let Some(path) = &options.ca_file {
            let pem = std::fs::read(path).map_err(|e| OciError::io(path, e))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                OciError::Config(format!("{}: not a PEM certificate: {e}", path.display()))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        if options.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| OciError::Config(format!("cannot set up HTTP: {e}")))?;
        Ok(Registries {
            http,
            options: Arc::new(options),
            credentials: Arc::new(credentials),
            auth: Arc::default(),
            fallen_back: Arc::default(),
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    /// How `registry` is reached: plain HTTP where asked, HTTPS falling back to plain HTTP on
    /// a loopback host, HTTPS everywhere else.
    pub fn transport(&self, registry: &str) -> Transport {
        let plain = self.options.plain_http
            || self
                .options
                .plain_http_registries
                .iter()
                .any(|r| r.eq_ignore_ascii_case(registry));
        if plain {
            Transport::PlainHttp
        } else if is_loopback(registry) {
            Transport::TlsThenPlainHttp
        } else {
            Transport::Tls
        }
    }

    /// The mirror requests for `registry` go to, if the options name one.
    pub fn mirror_for(&self, registry: &str) -> Option<&str> {
        self.options
            .mirrors
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(registry))
            .map(|(_, to)| to.as_str())
    }

    /// Where requests for `registry` go: its mirror, else the registry itself.
    pub fn route<'a>(&'a self, registry: &'a str) -> &'a str {
        self.mirror_for(registry).unwrap_or(registry)
    }

    /// A client for one registry (`host[:port]`), or for its mirror when it has one: the
    /// client then is the mirror's in everything (address, TLS, credentials, errors).
    pub fn client(&self, registry: &str) -> RegistryClient {
        let routed = self.route(registry);
        if routed != registry {
            tracing::debug!(%registry, mirror = %routed, "sending requests to the mirror");
        }
        self.client_unmirrored(routed)
    }

    /// A client for `registry` itself, whatever mirror it has (checking a login for it).
    pub fn client_unmirrored(&self, registry: &str) -> RegistryClient {
        let transport = self.transport(registry);
        let fallen_back = self
            .fallen_back
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(registry.to_string())
            .or_default()
            .clone();
        if transport == Transport::PlainHttp {
            fallen_back.store(true, Ordering::Relaxed);
        }
        let auth = self
            .auth
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(registry.to_string())
            .or_default()
            .clone();
        // Docker Hub's API answers at one host whatever name the reference used.
        let host = if docker_hub_alias(registry) {
            DOCKER_HUB_API
        } else {
            registry
        };
        RegistryClient {
            http: self.http.clone(),
            registry: registry.to_string(),
            host: host.to_string(),
            plain: fallen_back,
            may_fall_back: transport == Transport::TlsThenPlainHttp,
            credential: Arc::default(),
            credentials: self.credentials.clone(),
            override_credential: None,
            auth,
            retry: self.options.retry,
        }
    }
}

/// A client for one registry.
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    registry: String,
    /// `host[:port]` as requested (Docker Hub's API host for its aliases).
    host: String,
    /// Plain HTTP: asked for, or found on a loopback host that does not speak TLS.
    plain: Arc<AtomicBool>,
    /// Whether a failed TLS handshake may switch this (loopback) registry to plain HTTP.
    may_fall_back: bool,
    /// The stored credential, looked up on first need.
    credential: Arc<tokio::sync::Mutex<Option<Option<Credential>>>>,
    credentials: Arc<CredentialStore>,
    /// Credentials given explicitly (login), used instead of the store.
    override_credential: Option<Credential>,
    auth: Arc<tokio::sync::Mutex<AuthCache>>,
    retry: RetryPolicy,
}

/// A request the client can send again on retry.
#[derive(Clone)]
enum Body {
    Empty,
    Bytes(bytes::Bytes),
    /// A file streamed from disk, reporting progress for `digest`.
    File {
        path: PathBuf,
        digest: Digest,
        progress: Progress,
    },
}

/// A manifest as the registry served it.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// A content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

fn scope_pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn scope_push(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn scope_delete(repo: &str) -> String {
    format!("repository:{repo}:delete")
}

const CATALOG_SCOPE: &str = "registry:catalog:*";

/// Every manifest type we can read, for `Accept`.
fn manifest_accept() -> String {
    media_type::MANIFEST_TYPES.join(", ")
}

impl RegistryClient {
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `https://host` or `http://host`, as the client reaches it now.
    pub fn base_url(&self) -> String {
        let scheme = if self.plain.load(Ordering::Relaxed) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.host)
    }

    /// Whether this client talks plain HTTP now (asked for, or fallen back to on loopback).
    pub fn is_plain_http(&self) -> bool {
        self.plain.load(Ordering::Relaxed)
    }

    /// Switches a loopback registry to plain HTTP; false when that is not allowed here. A
    /// request that went out over HTTPS while another one switched is sent again too.
    pub(super) fn fall_back_to_plain_http(&self) -> bool {
        if !self.may_fall_back {
            return false;
        }
        if !self.plain.swap(true, Ordering::Relaxed) {
            tracing::info!(registry = %self.registry, "the registry does not speak TLS; it is on a loopback address, so using plain HTTP");
        }
        true
    }

    /// Uses `credential` instead of the stored ones (for checking a login).
    pub fn with_credential(mut self, credential: Credential) -> RegistryClient {
        self.override_credential = Some(credential);
        self.auth = Arc::default();
        self
    }

    /// The stored credential, looked up once. Helpers are programs that may wait on a
    /// keychain, so the lookup runs on a blocking thread, never on the runtime's.
    async fn credential(&self) -> Result<Option<Credential>> {
        if let Some(c) = &self.override_credential {
            return Ok(Some(c.clone()));
        }
        let mut slot = self.credential.lock().await;
        if let Some(found) = &*slot {
            return Ok(found.clone());
        }
        let store = self.credentials.clone();
        let registry = self.registry.clone();
        let found = tokio::task::spawn_blocking(move || store.get(&registry))
            .await
            .map_err(|e| OciError::Credentials(format!("credential lookup failed: {e}")))?
            .map_err(|e| OciError::Credentials(e.to_string()))?
            .map(|(credential, _)| credential);
        *slot = Some(found.clone());
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_reached_at_its_api_host() {
        let store = CredentialStore::new(PathBuf::from("/nonexistent/config.json"), None, None);
        let registries = Registries::new(ClientOptions::default(), store).unwrap();
        for name in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            let client = registries.client(name);
            assert_eq!(client.base_url(), "https://registry-1.docker.io", "{name}");
            // Credentials are still looked up under the name the user gave.
            assert_eq!(client.registry(), name);
        }
        assert_eq!(registries.client("ghcr.io").base_url(), "https://ghcr.io");
    }

    #[test]
    fn a_mirrored_registry_is_reached_at_its_mirror_as_the_mirror() {
        let store = CredentialStore::new(PathBuf::from("/nonexistent/config.json"), None, None);
        let options = ClientOptions {
            plain_http_registries: vec!["airgap.local:5000".into()],
            mirrors: vec![("ghcr.io".into(), "airgap.local:5000".into())],
            ..ClientOptions::default()
        };
        let registries = Registries::new(options, store).unwrap();
        let client = registries.client("GHCR.io");
        assert_eq!(client.base_url(), "http://airgap.local:5000");
        // Credentials, tokens and errors are the mirror's.
        assert_eq!(client.registry(), "airgap.local:5000");
        assert_eq!(registries.route("quay.io"), "quay.io");
        assert_eq!(
            registries.client_unmirrored("ghcr.io").base_url(),
            "https://ghcr.io"
        );
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1), Duration::from_millis(200));
        assert_eq!(policy.delay(2), Duration::from_millis(400));
        assert_eq!(policy.delay(20), Duration::from_secs(10));
    }
}
