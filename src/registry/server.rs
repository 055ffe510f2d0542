//! Listening: plain HTTP or TLS, one task per connection, graceful shutdown, and the storage
//! lock that keeps two registries off the same files.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use tokio::sync::Semaphore;

use super::api::ClientAddr;
use super::auth::{Htpasswd, HtpasswdError};
use super::upload::Uploads;
use super::{Limits, RegistryConfig, RegistryState, Storage, TlsFiles, router};

/// Why a registry could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use storage {path}: {source}")]
    Storage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "storage {path} is in use by another registry or a running `oci-registry gc`; stop the registry with `provisioning oci-registry stop --storage {path}` (or wait for gc), or use another --storage"
    )]
    StorageLocked { path: PathBuf },
    // `error` is said in the message, not chained, so it is reported once.
    #[error("cannot listen on {addr}: {error}{hint}", hint = if error.kind() == std::io::ErrorKind::AddrInUse { "; another program uses this port: choose another with --addr" } else { "" })]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Htpasswd(#[from] HtpasswdError),
    #[error("TLS: {0}")]
    Tls(String),
}

/// A registry serving in the background of this process.
pub struct RunningRegistry {
    addr: SocketAddr,
    tls: bool,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    _lock: File,
}

/// Name of the lock file a running registry holds in its storage.
pub const LOCK_FILE: &str = "registry.lock";

impl RunningRegistry {
    /// Opens storage, binds the address and starts serving.
    pub async fn start(config: RegistryConfig) -> Result<RunningRegistry, StartError> {
        let storage_err = |source| StartError::Storage {
            path: config.storage.clone(),
            source,
        };
        let storage = Storage::open(&config.storage).map_err(storage_err)?;
        let lock = File::create(config.storage.join(LOCK_FILE)).map_err(storage_err)?;
        if lock.try_lock().is_err() {
            return Err(StartError::StorageLocked {
                path: config.storage.clone(),
            });
        }
        storage.recover().map_err(storage_err)?;
        let auth = config.htpasswd.as_deref().map(Htpasswd::load).transpose()?;
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|error| StartError::Bind {
                addr: config.addr,
                error,
            })?;
        let addr = listener.local_addr().map_err(|error| StartError::Bind {
            addr: config.addr,
            error,
        })?;
        let state = Arc::new(RegistryState {
            uploads: Arc::new(Uploads::new(
                storage.uploads_dir(),
                config.upload_ttl,
                config.limits.uploads,
            )),
            storage,
            auth,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let is_tls = tls.is_some();
        let task = tokio::spawn(serve(listener, state, tls, shutdown_rx, config.limits));
        tracing::info!(%addr, storage = %config.storage.display(), tls = is_tls, "registry listening");
        Ok(RunningRegistry {
            addr,
            tls: is_tls,
            shutdown,
            task,
            _lock: lock,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://…` or `https://…` of this registry.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish (up to 10 s), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Serves until the process receives SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Accepts connections while fewer than `limits.max_connections` are open (the rest wait in
/// the listen backlog), one task each. Upload expiry runs on its own task.
async fn serve(
    listener: TcpListener,
    state: Arc<RegistryState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
) {
    let app = router(state.clone());
    let graceful = GracefulShutdown::new();
    let expiry = state.uploads.clone().spawn_expiry();
    let connections = Arc::new(Semaphore::new(connection_cap(limits.max_connections)));
    let mut accept_errors = ErrorBurst::default();
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => break,
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    accept_errors.record(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service =
            TowerToHyperService::new(app.clone().layer(axum::Extension(ClientAddr(peer))));
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new());
            builder.header_read_timeout(Duration::from_secs(30));
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(
                        limits.tls_handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => {
                            watcher
                                .watch(builder.serve_connection(TokioIo::new(stream), service))
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    expiry.abort();
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after 10 s; closing them");
    }
}

/// Accept errors come in bursts (a full file table fails every accept): the first of a burst
/// is logged, the rest are counted and reported with the next one logged, at most every 5 s.
#[derive(Default)]
struct ErrorBurst {
    last_logged: Option<std::time::Instant>,
    suppressed: u64,
}

impl ErrorBurst {
    fn record(&mut self, error: &std::io::Error) {
        let due = self
            .last_logged
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(5));
        if due {
            tracing::warn!(suppressed = self.suppressed, "accept failed: {error}");
            self.last_logged = Some(std::time::Instant::now());
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
    }
}

/// `wanted` connections, lowered so that they fit the open-file limit (raised to its hard
/// maximum first, where the system allows) with room for the files requests open.
fn connection_cap(wanted: usize) -> usize {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                if limit.rlim_cur < limit.rlim_max {
                    let raised = libc::rlimit {
                        rlim_cur: limit.rlim_max,
                        rlim_max: limit.rlim_max,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        limit = raised;
                    }
                }
                let files = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
                // Each connection holds a socket and, while it streams, a file.
                return wanted.min((files.saturating_sub(64) / 2).max(1));
            }
        }
    }
    wanted.max(1)
}

fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, StartError> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|e| StartError::Tls(format!("cannot read {}: {e}", path.display())))
    };
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| StartError::Tls(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!(
            "{} holds no PEM certificate",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        StartError::Tls(format!(
            "{} holds no usable PEM private key: {e}",
            files.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(format!("certificate and key do not fit together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
