//! Reading blobs: existence checks, small blobs into memory (capped however the registry
//! sends them), and streamed downloads verified by size and digest that resume with `Range`.

use std::path::Path;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::io::AsyncWriteExt;

use super::transport::{read_capped, unreachable};
use super::{Body, Descriptor, OciError, RegistryClient, Result, scope_pull};
use crate::oci::Digest;
use crate::oci::progress::{Direction, Outcome, Progress, TransferEvent};

impl RegistryClient {
    /// `HEAD` a blob: its size if the repository has it.
    pub async fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let response = self
            .send(
                Method::HEAD,
                &path,
                HeaderMap::new(),
                Body::Empty,
                &scope_pull(repo),
            )
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            // HEAD has no body, so the size is only in the header.
            s if s.is_success() => Ok(Some(
                response
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            _ => Err(self.fail(&format!("HEAD {path}"), response).await),
        }
    }

    /// Reads a small blob (a config) into memory, verified; refuses blobs over `limit`, counted
    /// as the bytes arrive, whether or not the registry said a `Content-Length`.
    pub async fn blob_bytes(&self, repo: &str, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let response = self
            .get_found(&path, HeaderMap::new(), &scope_pull(repo), || {
                format!("blob {digest} in {repo}")
            })
            .await?;
        let bytes = read_capped(self, response, limit, &format!("blob {digest}")).await?;
        if !digest.matches(&bytes) {
            let mut hasher = digest.algorithm().hasher();
            hasher.update(&bytes);
            return Err(OciError::DigestMismatch {
                registry: self.registry.clone(),
                what: format!("blob in {repo}"),
                expected: digest.clone(),
                actual: hasher.finish(),
            });
        }
        Ok(bytes)
    }

    /// Downloads a blob to `dest` (a temp path the caller renames), verifying size and digest.
    /// A connection that breaks mid-blob resumes with a `Range` request, or starts over.
    pub async fn download_blob(
        &self,
        repo: &str,
        descriptor: &Descriptor,
        dest: &Path,
        progress: &Progress,
    ) -> Result<()> {
        let digest = &descriptor.digest;
        let path = format!("/v2/{repo}/blobs/{digest}");
        progress.emit(TransferEvent::Started {
            digest: digest.clone(),
            total: descriptor.size,
            direction: Direction::Pull,
        });
        let result = self
            .download_attempts(repo, descriptor, &path, dest, progress)
            .await;
        match &result {
            Ok(()) => progress.emit(TransferEvent::Finished {
                digest: digest.clone(),
                outcome: Outcome::Transferred,
            }),
            Err(e) => {
                let _ = tokio::fs::remove_file(dest).await;
                progress.emit(TransferEvent::Failed {
                    digest: digest.clone(),
                    error: e.to_string(),
                });
            }
        }
        result
    }

    async fn download_attempts(
        &self,
        repo: &str,
        descriptor: &Descriptor,
        path: &str,
        dest: &Path,
        progress: &Progress,
    ) -> Result<()> {
        let digest = &descriptor.digest;
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| OciError::io(dest, e))?;
        let mut hasher = digest.algorithm().hasher();
        let mut done = 0u64;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut headers = HeaderMap::new();
            if done > 0 {
                headers.insert(
                    header::RANGE,
                    HeaderValue::from_str(&format!("bytes={done}-")).expect("ascii"),
                );
            }
            let response = self
                .send(Method::GET, path, headers, Body::Empty, &scope_pull(repo))
                .await?;
            let status = response.status();
            if status == StatusCode::NOT_FOUND {
                return Err(OciError::NotFound {
                    registry: self.registry.clone(),
                    what: format!("blob {digest} in {repo}"),
                });
            }
            if !status.is_success() {
                return Err(self.fail(&format!("GET {path}"), response).await);
            }
            if done > 0 && status != StatusCode::PARTIAL_CONTENT {
                // The registry ignored the range: start over.
                done = 0;
                hasher = digest.algorithm().hasher();
                file.set_len(0).await.map_err(|e| OciError::io(dest, e))?;
                file = tokio::fs::File::create(dest)
                    .await
                    .map_err(|e| OciError::io(dest, e))?;
            }
            let mut stream = response.bytes_stream();
            let mut broken = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => {
                        if done + chunk.len() as u64 > descriptor.size {
                            return Err(OciError::Protocol {
                                registry: self.registry.clone(),
                                message: format!(
                                    "blob {digest} is longer than the {} bytes its descriptor says",
                                    descriptor.size
                                ),
                            });
                        }
                        hasher.update(&chunk);
                        file.write_all(&chunk)
                            .await
                            .map_err(|e| OciError::io(dest, e))?;
                        done += chunk.len() as u64;
                        progress.emit(TransferEvent::Progress {
                            digest: digest.clone(),
                            done,
                            total: descriptor.size,
                        });
                    }
                    Err(e) => {
                        broken = Some(e.without_url());
                        break;
                    }
                }
            }
            match broken {
                None if done == descriptor.size => break,
                None => {
                    return Err(OciError::Protocol {
                        registry: self.registry.clone(),
                        message: format!(
                            "blob {digest} ended after {done} of {} bytes",
                            descriptor.size
                        ),
                    });
                }
                Some(e) if attempt < self.retry.attempts => {
                    let delay = self.retry.delay(attempt);
                    progress.emit(TransferEvent::Retrying {
                        what: format!("GET blob {digest}: {e}"),
                        attempt,
                        delay,
                    });
                    tokio::time::sleep(delay).await;
                }
                Some(e) => return Err(unreachable(path, e)),
            }
        }
        file.flush().await.map_err(|e| OciError::io(dest, e))?;
        let actual = hasher.finish();
        if actual != *digest {
            return Err(OciError::DigestMismatch {
                registry: self.registry.clone(),
                what: format!("blob in {repo}"),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(())
    }
}
