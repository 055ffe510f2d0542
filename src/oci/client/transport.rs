//! Sending requests: authentication (Basic, Bearer tokens fetched on a challenge and
//! refreshed on 401, the workspace token only where its host asks for it), retries with capped
//! backoff honouring `Retry-After`, and the rule that credentials go to the registry's own
//! host only, never to a `Location` or `Link` elsewhere.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::auth::{self, Challenge, parse_challenge};
use super::{Body, OciError, RegistryClient, Result};
use crate::oci::Digest;
use crate::oci::credentials::Credential;
use crate::oci::progress::{Progress, TransferEvent};

/// Whether `send` may repeat a request by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retries {
    /// Retry broken connections and 408/429/5xx.
    Yes,
    /// Retry 408/429/5xx (the registry answered, so it saw the request whole), but not a
    /// connection that broke: an upload session's PUT whose body broke mid-way leaves the
    /// session in an unknown state, and only the caller can start a new one.
    AnsweredOnly,
}

impl RegistryClient {
    /// Sends a request with authentication and retries; returns the final response, whatever
    /// its status, except 401 (after trying to authenticate) which becomes an error.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Body,
        scope: &str,
    ) -> Result<reqwest::Response> {
        self.send_with(method, path, headers, body, scope, Retries::Yes)
            .await
    }

    /// [`send`](Self::send), choosing whether it retries by itself.
    pub(super) async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Body,
        scope: &str,
        retries: Retries,
    ) -> Result<reqwest::Response> {
        let mut url = self.resolve(path)?;
        // A `Location` or `Link` may point at another host (a CDN, a pre-signed URL): it gets
        // no credentials of ours.
        let own = self.is_own(&url);
        let what = format!("{method} {}", strip_query(path));
        let transport_attempts = match retries {
            Retries::Yes => self.retry.attempts,
            Retries::AnsweredOnly => 1,
        };
        let mut attempt = 0u32;
        let mut authenticated = false;
        loop {
            attempt += 1;
            // Credentials go over plain HTTP to a loopback host only.
            let cleartext = url.scheme() == "http" && !url_is_loopback(&url);
            let credential = if own && !cleartext {
                self.credential().await?
            } else {
                None
            };
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if own
                && let Some(value) = self
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
            let started = std::time::Instant::now();
            let sent = request.send().await;
            log_request(&method, &url, &sent, started.elapsed());
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    let e = e.without_url();
                    // A loopback registry that answers the TLS handshake with something else
                    // speaks plain HTTP: switch at once, no retries, nothing was sent.
                    if own
                        && url.scheme() == "https"
                        && is_tls_mismatch(&e)
                        && self.fall_back_to_plain_http()
                    {
                        if !(path.starts_with("http://") || path.starts_with("https://")) {
                            url = self.resolve(path)?;
                        } else {
                            let _ = url.set_scheme("http");
                        }
                        attempt -= 1;
                        continue;
                    }
                    if attempt < transport_attempts
                        && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
                    {
                        let delay = self.retry.delay(attempt);
                        tracing::debug!(registry = %self.registry, %what, attempt, "retrying after error: {e}");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(unreachable(url.as_str(), e));
                }
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                if own && cleartext {
                    let stored = self.credential().await?.is_some();
                    return Err(OciError::Unauthorized {
                        registry: self.registry.clone(),
                        detail: Some(if stored {
                            "credentials are never sent over plain HTTP to a host that is not loopback; reach it over HTTPS".to_string()
                        } else {
                            "it asks for credentials over plain HTTP, and they are sent over HTTPS only (or plain HTTP to a loopback host)".to_string()
                        }),
                    });
                }
                if authenticated || !own {
                    let detail = error_message(response).await.1;
                    let refused = own && credential.is_some();
                    return Err(OciError::Unauthorized {
                        registry: self.registry.clone(),
                        detail: match (refused, detail) {
                            (true, Some(d)) => {
                                Some(format!("{}: {d}", super::error::CREDENTIALS_REFUSED))
                            }
                            (true, None) => Some(super::error::CREDENTIALS_REFUSED.to_string()),
                            (false, d) => d,
                        },
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

    /// A path on this registry, or an absolute URL a registry handed out.
    pub(super) fn resolve(&self, path: &str) -> Result<Url> {
        let text = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base_url())
        };
        Url::parse(&text).map_err(|e| OciError::Protocol {
            registry: self.registry.clone(),
            message: format!("`{}` is not a URL: {e}", strip_query(&text)),
        })
    }

    /// Whether `url` is on this registry's own scheme, host and port.
    pub(super) fn is_own(&self, url: &Url) -> bool {
        Url::parse(&self.base_url()).is_ok_and(|base| {
            base.scheme() == url.scheme()
                && base.host_str().map(str::to_ascii_lowercase)
                    == url.host_str().map(str::to_ascii_lowercase)
                && base.port_or_known_default() == url.port_or_known_default()
        })
    }

    /// Answers a 401 challenge: the workspace's token where that is the credential, else
    /// Basic, or a Bearer token fetched for the scope (each of its scopes a `scope` parameter).
    async fn authenticate(
        &self,
        challenge: Option<Challenge>,
        scope: &str,
        credential: Option<&Credential>,
    ) -> Result<()> {
        let mut cache = self.auth.lock().await;
        if let (Some(_), Some(Credential::Token(_))) = (&challenge, credential) {
            // A token stored for this host is sent as it is, once the host asks.
            cache.remember_challenged();
            return Ok(());
        }
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
                let mut scopes: Vec<&str> = scope.split_whitespace().collect();
                for extra in asked.as_deref().unwrap_or("").split_whitespace() {
                    if !scopes.contains(&extra) {
                        scopes.push(extra);
                    }
                }
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
    pub(super) async fn fail(&self, what: &str, response: reqwest::Response) -> OciError {
        let status = response.status().as_u16();
        let (code, message) = error_message(response).await;
        match status {
            403 => OciError::Denied {
                registry: self.registry.clone(),
                request: strip_query(what).to_string(),
            },
            _ => OciError::Registry {
                registry: self.registry.clone(),
                request: strip_query(what).to_string(),
                status,
                code,
                message,
            },
        }
    }

    /// Sends a GET; 404 becomes `NotFound { what }`, other failures an error.
    pub(super) async fn get_found(
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

    pub(super) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
        what: &str,
    ) -> Result<T> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(&self.base_url(), e))?;
        serde_json::from_slice(&bytes).map_err(|e| OciError::Protocol {
            registry: self.registry.clone(),
            message: format!("unreadable {what}: {e}"),
        })
    }
}

/// A stream over a file that reports progress as it is read.
pub(super) fn counting_stream(
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
pub(super) fn percent_encode(value: &str) -> String {
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

pub(super) fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (HTTP dates are rare from registries and read as absent).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

pub(super) fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(super) fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// The spec's error code and message from an error body, if it has one.
pub(super) async fn error_message(response: reqwest::Response) -> (Option<String>, Option<String>) {
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

/// Whether `url`'s host is a loopback one.
fn url_is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(super::is_loopback)
}

/// Whether a request failed because the other end does not speak TLS: it answered the
/// ClientHello with plain HTTP ("received corrupt message", "wrong version number") or closed
/// the handshake.
pub(super) fn is_tls_mismatch(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
            );
        }
        let text = cause.to_string();
        if text.contains("InvalidContentType")
            || text.contains("corrupt message")
            || text.contains("wrong version number")
            || text.contains("tls handshake eof")
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The request log of `-v`/`-vv` (debug): method, URL without query or user info, status
/// (or the failure), time taken. Never a header, so never a credential or token.
pub(super) fn log_request(
    method: &Method,
    url: &Url,
    sent: &std::result::Result<reqwest::Response, reqwest::Error>,
    elapsed: Duration,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let url = loggable_url(url);
    match sent {
        Ok(response) => tracing::debug!(
            "HTTP {method} {url} -> {} in {elapsed:.1?}",
            response.status().as_u16()
        ),
        Err(e) => tracing::debug!(
            "HTTP {method} {url} -> failed in {elapsed:.1?}: {}",
            if e.is_connect() {
                "cannot connect"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "no answer"
            }
        ),
    }
}

/// `url` without query, fragment or user info: what may be logged.
pub(super) fn loggable_url(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

pub(super) fn unreachable(url: &str, error: reqwest::Error) -> OciError {
    // reqwest names the URL in its message; a pre-signed one carries its signature there.
    let error = error.without_url();
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
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

/// Reads a whole body into memory, refusing one longer than `limit` bytes whether or not it
/// says its length up front.
pub(super) async fn read_capped(
    client: &RegistryClient,
    response: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>> {
    let too_big = || OciError::Protocol {
        registry: client.registry.clone(),
        message: format!("{what} is larger than the {limit} bytes allowed"),
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_big());
    }
    let url = strip_query(response.url().as_str()).to_string();
    let mut stream = response.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| unreachable(&url, e))?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_big());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
