//! Blob upload sessions: data streams into `uploads/<id>` while being hashed; closing verifies
//! the digest and renames the file into the blob store. Nothing is visible before that.

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
}

/// The open upload sessions of a running registry.
pub struct Uploads {
    dir: PathBuf,
    ttl: Duration,
    /// Session id → (repository, session). The repository sits outside the session's lock so
    /// that it can be checked while a chunk is being received.
    sessions: Mutex<HashMap<String, (String, SharedSession)>>,
}

type SharedSession = Arc<tokio::sync::Mutex<UploadSession>>;

impl Uploads {
    pub fn new(dir: PathBuf, ttl: Duration) -> Uploads {
        Uploads {
            dir,
            ttl,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session for repository `repo` with an empty data file.
    pub async fn start(&self, repo: &str) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let path = self.dir.join(&id);
        tokio::fs::File::create(&path).await?;
        let session = UploadSession {
            id: id.clone(),
            path,
            size: 0,
            hasher: DigestAlgorithm::Sha256.hasher(),
            touched: Instant::now(),
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

    /// Forgets a session and deletes its data (if still there).
    pub async fn remove(&self, id: &str) {
        let removed = self.lock().remove(id);
        if let Some((_, session)) = removed {
            let path = session.lock().await.path.clone();
            let _ = tokio::fs::remove_file(path).await;
        }
    }

    /// Drops sessions idle for longer than the time to live; returns how many.
    pub async fn expire(&self) -> usize {
        let stale: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, (_, s))| {
                s.try_lock()
                    .map(|s| s.touched.elapsed() > self.ttl)
                    .unwrap_or(false)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &stale {
            self.remove(id).await;
        }
        stale.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, SharedSession)>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl UploadSession {
    /// Appends a request body to the session. On a broken body the file is cut back to where it
    /// was, so the client can resume from the offset it is told.
    pub async fn append(&mut self, body: Body) -> Result<u64> {
        self.touched = Instant::now();
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .await?;
        let mut hasher = self.hasher.clone();
        match write_body(file, body, &mut hasher).await {
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

/// Streams `body` into `file`, feeding `hasher`; returns the bytes written.
pub async fn write_body(file: tokio::fs::File, body: Body, hasher: &mut Hasher) -> Result<u64> {
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            RegistryError::new(
                ErrorCode::BlobUploadInvalid,
                format!("request body broke off after {written} bytes: {e}"),
            )
        })?;
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
