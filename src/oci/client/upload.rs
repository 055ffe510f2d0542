//! Uploads: cross-repository mounts (any failure means "not mounted"), and monolithic
//! POST-then-PUT uploads where a retry always starts a new session.

use std::path::Path;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use super::transport::{Retries, location, strip_query};
use super::{Body, Descriptor, OciError, RegistryClient, Result, scope_pull, scope_push};
use crate::oci::Digest;
use crate::oci::progress::{Direction, Outcome, Progress, TransferEvent};

impl RegistryClient {
    /// Mounts a blob from another repository of this registry; false when the registry
    /// started an upload instead (the session is cancelled) or refused the mount in any way
    /// (no pull access to `from`, no mount support): the caller uploads instead.
    pub async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool> {
        let path = format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}");
        // Two scopes, one for each repository; `send` asks for each as its own parameter.
        let scope = format!("{} {}", scope_push(repo), scope_pull(from));
        let response = match self
            .send(Method::POST, &path, HeaderMap::new(), Body::Empty, &scope)
            .await
        {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(registry = %self.registry, %digest, "mount refused, uploading instead: {e}");
                return Ok(false);
            }
        };
        match response.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Some(location) = location(&response) {
                    let _ = self
                        .send(
                            Method::DELETE,
                            &location,
                            HeaderMap::new(),
                            Body::Empty,
                            &scope_push(repo),
                        )
                        .await;
                }
                Ok(false)
            }
            status => {
                tracing::debug!(registry = %self.registry, %digest, %status, "mount refused, uploading instead");
                Ok(false)
            }
        }
    }

    /// Uploads a blob from a file (POST, then PUT with the whole body). Retries restart the
    /// upload with a new session.
    pub async fn upload_blob(
        &self,
        repo: &str,
        descriptor: &Descriptor,
        file: &Path,
        progress: &Progress,
    ) -> Result<()> {
        let digest = &descriptor.digest;
        progress.emit(TransferEvent::Started {
            digest: digest.clone(),
            total: descriptor.size,
            direction: Direction::Push,
        });
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let body = Body::File {
                path: file.to_path_buf(),
                digest: digest.clone(),
                progress: progress.clone(),
            };
            match self.upload_once(repo, digest, body).await {
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    let delay = self.retry.delay(attempt);
                    progress.emit(TransferEvent::Retrying {
                        what: format!("upload of {digest}: {e}"),
                        attempt,
                        delay,
                    });
                    tokio::time::sleep(delay).await;
                }
                other => break other,
            }
        };
        match &result {
            Ok(()) => progress.emit(TransferEvent::Finished {
                digest: digest.clone(),
                outcome: Outcome::Transferred,
            }),
            Err(e) => progress.emit(TransferEvent::Failed {
                digest: digest.clone(),
                error: e.to_string(),
            }),
        }
        result
    }

    /// Uploads a small blob held in memory (a config), with the same retries.
    pub async fn upload_bytes(&self, repo: &str, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let body = Body::Bytes(bytes::Bytes::copy_from_slice(bytes));
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.upload_once(repo, digest, body.clone()).await {
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn upload_once(&self, repo: &str, digest: &Digest, body: Body) -> Result<()> {
        let start = format!("/v2/{repo}/blobs/uploads/");
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        let response = self
            .send(
                Method::POST,
                &start,
                headers,
                Body::Empty,
                &scope_push(repo),
            )
            .await?;
        if response.status() != StatusCode::ACCEPTED && response.status() != StatusCode::CREATED {
            return Err(self.fail(&format!("POST {start}"), response).await);
        }
        let location = location(&response).ok_or_else(|| OciError::Protocol {
            registry: self.registry.clone(),
            message: "upload started without a Location header".into(),
        })?;
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{separator}digest={digest}");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        // Not sent again on a broken connection: a body broken mid-way leaves this session in
        // an unknown state, so the retry (upload_blob's) starts a new one.
        let response = self
            .send_with(
                Method::PUT,
                &put,
                headers,
                body,
                &scope_push(repo),
                Retries::AnsweredOnly,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND
            && self.blob_size(repo, digest).await?.is_some()
        {
            // A PUT sent again after its answer was lost finds the session already finished;
            // the registry verified and stored the blob under its digest the first time.
            return Ok(());
        }
        if !response.status().is_success() {
            return Err(self
                .fail(&format!("PUT {}", strip_query(&location)), response)
                .await);
        }
        Ok(())
    }
}
