//! Blob upload sessions: data streams into `uploads/<id>` while being hashed; closing verifies
//! the digest and renames the file into the blob store. Nothing is visible before that.
//!
//! A session is closed (finished, cancelled or expired) while its lock is held, and a closed
//! session takes no more data: a request that was waiting for the lock finds it closed and is
//! told the upload is unknown. Nothing ever waits on a session's lock except requests for that
//! session, so one stalled client cannot hold up anyone else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::error::{ErrorCode, RegistryError, Result};
use crate::oci::{DigestAlgorithm, Hasher};

/// One upload in progress.
pub struct UploadSession {
    pub id: String,
    pub path: PathBuf,
    /// Bytes received so far.
    pub size: u64,
    /// sha256 of the bytes so far; other algorithms re-read the file at the end.
    pub hasher: Hasher,
    touched: Instant,
    /// Finished, cancelled or expired: the data file is gone or is a blob now.
    closed: bool,
}

/// The open upload sessions of a running registry.
pub struct Uploads {
    dir: PathBuf,
    ttl: Duration,
    limits: UploadLimits,
    /// Session id → (repository, session). The repository sits outside the session's lock so
    /// that it can be checked while a chunk is being received.
    sessions: Mutex<HashMap<String, (String, SharedSession)>>,
}

pub type SharedSession = Arc<tokio::sync::Mutex<UploadSession>>;

/// What one client may cost the registry in upload sessions and request bodies.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    /// Open sessions at most; more are refused with 429 until some finish or expire.
    pub max_sessions: usize,
    /// A request body that sends nothing for this long is cut off.
    pub body_idle_timeout: Duration,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_sessions: 4096,
            body_idle_timeout: Duration::from_secs(60),
        }
    }
}

impl Uploads {
    pub fn new(dir: PathBuf, ttl: Duration, limits: UploadLimits) -> Uploads {
        Uploads {
            dir,
            ttl,
            limits,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// How long a request body may stay silent.
    pub fn body_idle_timeout(&self) -> Duration {
        self.limits.body_idle_timeout
    }

    /// Opens a session for repository `repo` with an empty data file.
    pub async fn start(&self, repo: &str) -> Result<String> {
        if self.lock().len() >= self.limits.max_sessions {
            return Err(RegistryError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "{} upload sessions are open, the most this registry keeps; finish or cancel some, or retry later",
                    self.limits.max_sessions
                ),
            )
            .with_header(axum::http::header::RETRY_AFTER, "10".to_string()));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let path = self.dir.join(&id);
        tokio::fs::File::create(&path).await?;
        let session = UploadSession {
            id: id.clone(),
            path,
            size: 0,
            hasher: DigestAlgorithm::Sha256.hasher(),
            touched: Instant::now(),
            closed: false,
        };
        self.lock().insert(
            id.clone(),
            (repo.to_string(), Arc::new(tokio::sync::Mutex::new(session))),
        );
        Ok(id)
    }

    /// The session `id` of repository `repo`.
    pub fn get(&self, repo: &str, id: &str) -> Result<SharedSession> {
        match self.lock().get(id) {
            Some((owner, session)) if owner == repo => Ok(session.clone()),
            _ => Err(RegistryError::new(
                ErrorCode::BlobUploadUnknown,
                format!("upload {id} is unknown, finished or expired; start a new one"),
            )),
        }
    }

    /// Closes a session whose lock the caller holds: no request can reach it any more, and a
    /// request already waiting for its lock will find it closed. The data file stays for the
    /// caller to commit or delete.
    pub fn close(&self, session: &mut UploadSession) {
        session.closed = true;
        self.lock().remove(&session.id);
    }

    /// Closes a session and deletes its data, for a cancel.
    pub async fn discard(&self, session: &mut UploadSession) {
        self.close(session);
        let _ = tokio::fs::remove_file(&session.path).await;
    }

    /// Drops sessions idle for longer than the time to live; returns how many. Only sessions
    /// whose lock is free are looked at, and never waited for: a session in use is not idle.
    pub fn expire(&self) -> usize {
        let mut stale = Vec::new();
        {
            let mut sessions = self.lock();
            sessions.retain(|_, (_, session)| {
                let Ok(mut guard) = session.clone().try_lock_owned() else {
                    return true;
                };
                if guard.touched.elapsed() <= self.ttl {
                    return true;
                }
                guard.closed = true;
                stale.push(guard);
                false
            });
        }
        for guard in &stale {
            let _ = std::fs::remove_file(&guard.path);
        }
        stale.len()
    }

    /// Runs [`Uploads::expire`] every quarter of the time to live (between 1 s and 60 s), on its
    /// own task so that no request, and no accept, ever waits for it.
    pub fn spawn_expiry(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        let period = (self.ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            loop {
                ticks.tick().await;
                let expired = self.expire();
                if expired > 0 {
                    tracing::info!(expired, "expired idle upload sessions");
                }
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, SharedSession)>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl UploadSession {
    /// Refuses a session that was closed while the caller waited for its lock.
    pub fn ensure_open(&self) -> Result<()> {
        if self.closed {
            return Err(RegistryError::new(
                ErrorCode::BlobUploadUnknown,
                format!(
                    "upload {} is finished, cancelled or expired; start a new one",
                    self.id
                ),
            ));
        }
        Ok(())
    }

    /// Appends a request body to the session; at most `limit` bytes when given (the length a
    /// `Content-Range` declared). On a broken, silent or overlong body the file is cut back to
    /// where it was, so the client can resume from the offset it is told.
    pub async fn append(&mut self, body: Body, limit: Option<u64>, idle: Duration) -> Result<u64> {
        self.ensure_open()?;
        self.touched = Instant::now();
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .await?;
        let mut hasher = self.hasher.clone();
        let result = match write_body(file, body, &mut hasher, limit, idle).await {
            Ok(written) if limit.is_some_and(|l| written != l) => Err(RegistryError::new(
                ErrorCode::BlobUploadInvalid,
                format!(
                    "the chunk declared {} bytes in Content-Range but carried {written}",
                    limit.unwrap_or_default()
                ),
            )
            .with_status(axum::http::StatusCode::RANGE_NOT_SATISFIABLE)),
            other => other,
        };
        self.touched = Instant::now();
        match result {
            Ok(written) => {
                self.size += written;
                self.hasher = hasher;
                Ok(written)
            }
            Err(e) => {
                if let Ok(file) = tokio::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .await
                {
                    let _ = file.set_len(self.size).await;
                }
                Err(e)
            }
        }
    }
}

/// Streams `body` into `file`, feeding `hasher`; returns the bytes written. A body longer than
/// `limit`, or silent for `idle`, is refused.
pub async fn write_body(
    file: tokio::fs::File,
    body: Body,
    hasher: &mut Hasher,
    limit: Option<u64>,
    idle: Duration,
) -> Result<u64> {
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    loop {
        let next = tokio::time::timeout(idle, stream.next())
            .await
            .map_err(|_| {
                RegistryError::new(
                    ErrorCode::BlobUploadInvalid,
                    format!(
                        "request body sent nothing for {} s after {written} bytes; resume the upload",
                        idle.as_secs()
                    ),
                )
                .with_status(axum::http::StatusCode::REQUEST_TIMEOUT)
            })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| {
            RegistryError::new(
                ErrorCode::BlobUploadInvalid,
                format!("request body broke off after {written} bytes: {e}"),
            )
        })?;
        if let Some(limit) = limit
            && written + chunk.len() as u64 > limit
        {
            return Err(RegistryError::new(
                ErrorCode::BlobUploadInvalid,
                format!("the chunk declared {limit} bytes in Content-Range but carried more"),
            )
            .with_status(axum::http::StatusCode::RANGE_NOT_SATISFIABLE));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    out.flush().await?;
    Ok(written)
}

/// Hashes a file with `algorithm`, off the async threads.
pub async fn hash_file(path: &Path, algorithm: DigestAlgorithm) -> Result<crate::oci::Digest> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<crate::oci::Digest> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let mut hasher = algorithm.hasher();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(hasher.finish());
            }
            hasher.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| RegistryError::internal("hashing", e))?
    .map_err(RegistryError::from)
}
