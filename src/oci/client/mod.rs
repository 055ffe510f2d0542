//! A distribution-spec client on `reqwest`: authentication (Basic, Bearer tokens refreshed on
//! 401), retries with capped exponential backoff honouring `Retry-After`, streaming blobs with
//! progress events and digest verification, paging through `Link` headers.

mod auth;
mod error;
mod pages;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

pub use auth::{Challenge, parse_challenge};
pub use error::{OciError, Result};

use super::credentials::{Credential, CredentialStore};
use super::progress::{Direction, Outcome, Progress, TransferEvent};
use super::{Digest, media_type};
use auth::AuthCache;
use pages::Pages;

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
}

impl Registries {
    pub fn new(options: ClientOptions, credentials: CredentialStore) -> Result<Registries> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("provisioning/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(options.concurrency.max(1) * 2)
            .no_proxy();
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
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    /// A client for one registry (`host[:port]`).
    pub fn client(&self, registry: &str) -> RegistryClient {
        let plain = self.options.plain_http
            || self
                .options
                .plain_http_registries
                .iter()
                .any(|r| r == registry);
        let auth = self
            .auth
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(registry.to_string())
            .or_default()
            .clone();
        RegistryClient {
            http: self.http.clone(),
            registry: registry.to_string(),
            base: format!("{}://{registry}", if plain { "http" } else { "https" }),
            credential: Arc::new(Mutex::new(None)),
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
    base: String,
    /// The stored credential, looked up on first need.
    credential: Arc<Mutex<Option<Option<Credential>>>>,
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

    /// `https://host` or `http://host`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Uses `credential` instead of the stored ones (for checking a login).
    pub fn with_credential(mut self, credential: Credential) -> RegistryClient {
        self.override_credential = Some(credential);
        self.auth = Arc::default();
        self
    }

    fn credential(&self) -> Result<Option<Credential>> {
        if let Some(c) = &self.override_credential {
            return Ok(Some(c.clone()));
        }
        let mut slot = self.credential.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let found = self
                .credentials
                .get(&self.registry)
                .map_err(|e| OciError::Credentials(e.to_string()))?
                .map(|(credential, _)| credential);
            *slot = Some(found);
        }
        Ok(slot.clone().flatten())
    }

    /// Sends a request with authentication and retries; returns the final response, whatever
    /// its status, except 401 (after trying to authenticate) which becomes an error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Body,
        scope: &str,
    ) -> Result<reqwest::Response> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let what = format!("{method} {}", strip_query(path));
        let mut attempt = 0u32;
        let mut authenticated = false;
        loop {
            attempt += 1;
            let credential = self.credential()?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .headers(headers.clone());
            if let Some(value) = self
                .auth
                .lock()
                .await
                .header_for(scope, credential.as_ref())
            {
                request = request.header(header::AUTHORIZATION, value);
            }
            request = match &body {
                Body::Empty => request,
                Body::Bytes(bytes) => request.body(bytes.clone()),
                Body::File {
                    path,
                    digest,
                    progress,
                } => {
                    let file = tokio::fs::File::open(path)
                        .await
                        .map_err(|e| OciError::io(path, e))?;
                    let len = file
                        .metadata()
                        .await
                        .map_err(|e| OciError::io(path, e))?
                        .len();
                    request
                        .header(header::CONTENT_LENGTH, len)
                        .body(reqwest::Body::wrap_stream(counting_stream(
                            file,
                            digest.clone(),
                            len,
                            progress.clone(),
                        )))
                }
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    if attempt < self.retry.attempts
                        && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
                    {
                        let delay = self.retry.delay(attempt);
                        tracing::debug!(registry = %self.registry, %what, attempt, "retrying after error: {e}");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(unreachable(&url, &e));
                }
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                if authenticated {
                    let detail = error_message(response).await.1;
                    return Err(OciError::Unauthorized {
                        registry: self.registry.clone(),
                        detail: detail.or_else(|| {
                            credential
                                .is_some()
                                .then(|| "the stored credentials were refused".to_string())
                        }),
                    });
                }
                authenticated = true;
                attempt -= 1;
                let challenge = response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                self.authenticate(challenge, scope, credential.as_ref())
                    .await?;
                continue;
            }
            if is_retryable(status) && attempt < self.retry.attempts {
                let delay = retry_after(response.headers())
                    .unwrap_or_else(|| self.retry.delay(attempt))
                    .min(Duration::from_secs(60));
                tracing::debug!(registry = %self.registry, %what, %status, attempt, ?delay, "retrying");
                if let Body::File {
                    digest, progress, ..
                } = &body
                {
                    progress.emit(TransferEvent::Retrying {
                        what: format!("{what} ({digest}): {status}"),
                        attempt,
                        delay,
                    });
                }
                tokio::time::sleep(delay).await;
                continue;
            }
            return Ok(response);
        }
    }

    /// Answers a 401 challenge: remembers Basic, or fetches a Bearer token for the scope.
    async fn authenticate(
        &self,
        challenge: Option<Challenge>,
        scope: &str,
        credential: Option<&Credential>,
    ) -> Result<()> {
        let mut cache = self.auth.lock().await;
        match challenge {
            Some(Challenge::Basic) => {
                if credential.is_none() {
                    return Err(OciError::Unauthorized {
                        registry: self.registry.clone(),
                        detail: Some("no credentials are stored for it".into()),
                    });
                }
                cache.remember_basic();
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope: asked,
            }) => {
                cache.forget_token(scope);
                let scopes: Vec<&str> = match asked.as_deref() {
                    Some(asked) if asked != scope => vec![scope, asked],
                    _ => vec![scope],
                };
                let (token, ttl) = auth::fetch_token(
                    &self.http,
                    &self.registry,
                    &realm,
                    service.as_deref(),
                    &scopes,
                    credential,
                )
                .await?;
                cache.store_token(scope, token, ttl);
            }
            None => {
                return Err(OciError::Unauthorized {
                    registry: self.registry.clone(),
                    detail: Some("the registry asked for an authentication scheme this client does not speak".into()),
                });
            }
        }
        Ok(())
    }

    /// Turns a non-success response into an error.
    async fn fail(&self, what: &str, response: reqwest::Response) -> OciError {
        let status = response.status().as_u16();
        let (code, message) = error_message(response).await;
        match status {
            403 => OciError::Denied {
                registry: self.registry.clone(),
                request: what.to_string(),
            },
            _ => OciError::Registry {
                registry: self.registry.clone(),
                request: what.to_string(),
                status,
                code,
                message,
            },
        }
    }

    /// Sends a GET; 404 becomes `NotFound { what }`, other failures an error.
    async fn get_found(
        &self,
        path: &str,
        headers: HeaderMap,
        scope: &str,
        what: impl FnOnce() -> String,
    ) -> Result<reqwest::Response> {
        let response = self
            .send(Method::GET, path, headers, Body::Empty, scope)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(OciError::NotFound {
                registry: self.registry.clone(),
                what: what(),
            });
        }
        if !response.status().is_success() {
            return Err(self
                .fail(&format!("GET {}", strip_query(path)), response)
                .await);
        }
        Ok(response)
    }

    /// `GET /v2/`: checks the registry answers and the credentials are accepted.
    pub async fn ping(&self) -> Result<()> {
        let response = self
            .send(Method::GET, "/v2/", HeaderMap::new(), Body::Empty, "")
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.fail("GET /v2/", response).await)
        }
    }

    /// Every repository in the catalog, following `Link` pages (refusing links in circles).
    pub async fn catalog(&self, page_size: usize) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let mut out = Vec::new();
        let mut pages = Pages::new(
            &self.registry,
            "catalog",
            format!("/v2/_catalog?n={page_size}"),
        );
        while let Some(path) = pages.next_path()? {
            let response = self
                .send(
                    Method::GET,
                    &path,
                    HeaderMap::new(),
                    Body::Empty,
                    CATALOG_SCOPE,
                )
                .await?;
            let status = response.status();
            if matches!(status.as_u16(), 404 | 403 | 405 | 501) {
                return Err(OciError::CatalogUnsupported {
                    registry: self.registry.clone(),
                    status: status.as_u16(),
                });
            }
            if !status.is_success() {
                return Err(self.fail("GET /v2/_catalog", response).await);
            }
            let headers = response.headers().clone();
            let page: Page = self.json(response, "catalog").await?;
            pages.read(&headers, page.repositories.is_empty());
            out.extend(page.repositories);
        }
        Ok(out)
    }

    /// Every tag of `repo`, following `Link` pages of up to 1000 tags.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        self.tags_paged(repo, 1000).await
    }

    /// Every tag of `repo`, asking for `page_size` at a time and following `Link` pages
    /// (refusing links in circles).
    pub async fn tags_paged(&self, repo: &str, page_size: usize) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let mut pages = Pages::new(
            &self.registry,
            "tag list",
            format!("/v2/{repo}/tags/list?n={page_size}"),
        );
        while let Some(path) = pages.next_path()? {
            let response = self
                .get_found(&path, HeaderMap::new(), &scope_pull(repo), || {
                    format!("repository {repo}")
                })
                .await?;
            let headers = response.headers().clone();
            let page: Page = self.json(response, "tag list").await?;
            let tags = page.tags.unwrap_or_default();
            pages.read(&headers, tags.is_empty());
            out.extend(tags);
        }
        Ok(out)
    }

    /// Fetches a manifest by tag or digest, verifying its digest.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<FetchedManifest> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(&manifest_accept()).expect("static"),
        );
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self
            .get_found(&path, headers, &scope_pull(repo), || {
                format!("manifest {repo}:{reference}")
            })
            .await?;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
        let header_digest = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(&path, &e))?
            .to_vec();
        let expected = reference.parse::<Digest>().ok().or(header_digest);
        let algorithm = expected
            .as_ref()
            .map(|d| d.algorithm())
            .unwrap_or(crate::oci::DigestAlgorithm::Sha256);
        let mut hasher = algorithm.hasher();
        hasher.update(&bytes);
        let digest = hasher.finish();
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(OciError::DigestMismatch {
                registry: self.registry.clone(),
                what: format!("manifest {repo}:{reference}"),
                expected,
                actual: digest,
            });
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .or(content_type)
            .unwrap_or_else(|| media_type::OCI_MANIFEST.to_string());
        Ok(FetchedManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// `HEAD` a manifest: its digest if it exists.
    pub async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(&manifest_accept()).expect("static"),
        );
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self
            .send(Method::HEAD, &path, headers, Body::Empty, &scope_pull(repo))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let digest = response
                    .headers()
                    .get("Docker-Content-Digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                match digest {
                    Some(d) => Ok(Some(d)),
                    // Without the header, only the body tells.
                    None => Ok(Some(self.manifest(repo, reference).await?.digest)),
                }
            }
            _ => Err(self.fail(&format!("HEAD {path}"), response).await),
        }
    }

    /// Pushes manifest bytes under a tag or digest; returns the digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|_| OciError::Protocol {
                registry: self.registry.clone(),
                message: format!("media type `{media_type}` is not a valid header value"),
            })?,
        );
        let path = format!("/v2/{repo}/manifests/{reference}");
        let body = Body::Bytes(bytes::Bytes::copy_from_slice(bytes));
        let response = self
            .send(Method::PUT, &path, headers, body, &scope_push(repo))
            .await?;
        if !response.status().is_success() {
            return Err(self.fail(&format!("PUT {path}"), response).await);
        }
        Ok(Digest::sha256_of(bytes))
    }

    /// Deletes a manifest by digest (or a tag, where the registry allows it).
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<()> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self
            .send(
                Method::DELETE,
                &path,
                HeaderMap::new(),
                Body::Empty,
                &scope_delete(repo),
            )
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(OciError::NotFound {
                registry: self.registry.clone(),
                what: format!("manifest {repo}@{reference}"),
            }),
            StatusCode::METHOD_NOT_ALLOWED => Err(OciError::Protocol {
                registry: self.registry.clone(),
                message: "this registry does not allow deleting manifests (distribution needs `storage.delete.enabled: true`)".into(),
            }),
            _ => Err(self.fail(&format!("DELETE {path}"), response).await),
        }
    }

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

    /// Reads a small blob (a config) into memory, verified; refuses blobs over `limit`.
    pub async fn blob_bytes(&self, repo: &str, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let response = self
            .get_found(&path, HeaderMap::new(), &scope_pull(repo), || {
                format!("blob {digest} in {repo}")
            })
            .await?;
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(OciError::Protocol {
                registry: self.registry.clone(),
                message: format!("blob {digest} is larger than the {limit} bytes expected"),
            });
        }
        let bytes = response.bytes().await.map_err(|e| unreachable(&path, &e))?;
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
        Ok(bytes.to_vec())
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
                        broken = Some(e);
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
                Some(e) => return Err(unreachable(path, &e)),
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

    /// Mounts a blob from another repository of this registry; false when the registry
    /// started an upload instead (the session is cancelled).
    pub async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<bool> {
        let path = format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}");
        let scope = format!("{} repository:{from}:pull", scope_push(repo));
        let response = self
            .send(Method::POST, &path, HeaderMap::new(), Body::Empty, &scope)
            .await?;
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
            _ => Err(self.fail("POST mount", response).await),
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
        let response = self
            .send(Method::PUT, &put, headers, body, &scope_push(repo))
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

    /// Manifests whose subject is `digest` (the referrers API); an empty list where the
    /// registry does not offer it.
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let mut path = format!("/v2/{repo}/referrers/{digest}");
        if let Some(t) = artifact_type {
            path.push_str(&format!("?artifactType={}", percent_encode(t)));
        }
        let response = self
            .send(
                Method::GET,
                &path,
                HeaderMap::new(),
                Body::Empty,
                &scope_pull(repo),
            )
            .await?;
        match response.status() {
            s if s.is_success() => {
                let filtered = response.headers().contains_key("OCI-Filters-Applied");
                let index: Index = self.json(response, "referrers").await?;
                let mut manifests = index.manifests;
                if let (Some(t), false) = (artifact_type, filtered) {
                    manifests.retain(|d| d.artifact_type.as_deref() == Some(t));
                }
                Ok(manifests)
            }
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST => {
                Ok(Vec::new())
            }
            _ => Err(self.fail(&format!("GET {path}"), response).await),
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
        what: &str,
    ) -> Result<T> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| OciError::Protocol {
            registry: self.registry.clone(),
            message: format!("unreadable {what}: {e}"),
        })
    }
}

/// A stream over a file that reports progress as it is read.
fn counting_stream(
    file: tokio::fs::File,
    digest: Digest,
    total: u64,
    progress: Progress,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    let mut done = 0u64;
    tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
        if let Ok(chunk) = &chunk {
            done += chunk.len() as u64;
            progress.emit(TransferEvent::Progress {
                digest: digest.clone(),
                done,
                total,
            });
        }
        chunk
    })
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (HTTP dates are rare from registries and read as absent).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// The spec's error code and message from an error body, if it has one.
async fn error_message(response: reqwest::Response) -> (Option<String>, Option<String>) {
    #[derive(Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let Ok(bytes) = response.bytes().await else {
        return (None, None);
    };
    match serde_json::from_slice::<Body>(&bytes) {
        Ok(body) => body
            .errors
            .into_iter()
            .next()
            .map(|e| (e.code, e.message))
            .unwrap_or((None, None)),
        Err(_) => (None, None),
    }
}

fn unreachable(url: &str, error: &reqwest::Error) -> OciError {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason = format!("{reason}: {cause}");
        source = cause.source();
    }
    let hint = if reason.contains("InvalidContentType")
        || reason.contains("wrong version number")
        || reason.contains("corrupt message")
    {
        "; the registry may speak plain HTTP: add --plain-http"
    } else if reason.contains("certificate") || reason.contains("UnknownIssuer") {
        "; trust its CA with --ca-file PEM, or skip verification with --insecure"
    } else if error.is_connect() {
        "; is the registry running?"
    } else {
        ""
    };
    OciError::Unreachable {
        url: url.split('?').next().unwrap_or(url).to_string(),
        reason,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1), Duration::from_millis(200));
        assert_eq!(policy.delay(2), Duration::from_millis(400));
        assert_eq!(policy.delay(20), Duration::from_secs(10));
    }
}
