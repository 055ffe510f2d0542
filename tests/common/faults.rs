//! A loopback HTTP proxy in front of a real registry that injects faults on matching requests:
//! error statuses (503, 429 with `Retry-After`), connections cut mid-body or dropped without an
//! answer, transfers that stall, corrupted bytes either way, rewritten `Link` headers and
//! latency, `Location`s moved to another host, replaced `Authorization`, upload bodies cut
//! mid-way, answers without `Content-Length`. It also records every request (with the scheme of
//! its `Authorization`, never the secret), so tests can assert what a client sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// What to do to a matching request.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Answer with this status (and no body) instead of forwarding.
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>`.
    TooManyRequests { retry_after_secs: u64 },
    /// Forward, then cut the connection after this many body bytes.
    CutAfter(usize),
    /// Forward, flipping one byte of the body.
    Corrupt,
    /// Forward after waiting.
    Delay(Duration),
    /// Forward, then stop sending after this many body bytes and hold the connection open: the
    /// transfer stays in flight until the client gives up on it.
    StallAfter(usize),
    /// Close the connection without answering; the request is not forwarded.
    DropRequest,
    /// Forward and let the registry answer, then close the connection without passing the
    /// answer on: the request took effect, the client cannot know.
    DropAnswer,
    /// Forward with one byte of the request body flipped.
    CorruptUpload,
    /// Forward, replacing the answer's `Link` header with `<target>; rel="next"`.
    Link(String),
    /// Forward, replacing the answer's `Location` with this template, its `{path}` the
    /// original path and query: an upload session handed out on another host (a CDN,
    /// pre-signed storage).
    Location(String),
    /// Forward with this `Authorization` value instead of the client's (a token that expired
    /// since the client got it).
    ReplaceAuthorization(String),
    /// Read this many bytes of the request body, then close the connection without forwarding:
    /// an upload whose body broke mid-way.
    CutUpload(usize),
    /// Forward, dropping the answer's `Content-Length` (the body arrives chunked).
    Chunked,
}

/// A fault applied to the next `times` requests whose method matches and whose path contains
/// `path_contains`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<&'static str>,
    pub path_contains: String,
    pub times: usize,
    pub kind: FaultKind,
}

/// A request the proxy saw.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    /// The scheme of its `Authorization` header (`Basic`, `Bearer`), never the secret.
    pub authorization: Option<String>,
}

#[derive(Default)]
struct ProxyState {
    upstream: String,
    faults: Mutex<Vec<Fault>>,
    seen: Mutex<Vec<SeenRequest>>,
    client: Option<reqwest::Client>,
}

/// The running proxy.
pub struct FaultProxy {
    state: Arc<ProxyState>,
    pub host: String,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: Some(super::http_client()),
            ..ProxyState::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let shared = state.clone();
        // Served with hyper directly: a handler that fails makes hyper close the connection
        // without writing an answer, which is how requests are dropped. The connections live
        // in the accept task's set, so stopping the proxy ends stalled ones too.
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<_>| {
                        forward(state.clone(), request.map(Body::new))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        FaultProxy { state, host, task }
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push(fault);
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Forgets the requests seen so far.
    pub fn clear_seen(&self) {
        self.state.seen.lock().unwrap().clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn take_fault(state: &ProxyState, method: &str, path: &str) -> Option<FaultKind> {
    let mut faults = state.faults.lock().unwrap();
    let index = faults.iter().position(|f| {
        f.times > 0 && f.method.is_none_or(|m| m == method) && path.contains(&f.path_contains)
    })?;
    faults[index].times -= 1;
    Some(faults[index].kind.clone())
}

/// Why the proxy closed a connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn forward(state: Arc<ProxyState>, request: Request) -> Result<Response, Dropped> {
    let method = request.method().as_str().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(' ').next().unwrap_or("").to_string());
    state.seen.lock().unwrap().push(SeenRequest {
        method: method.clone(),
        path: path_and_query.clone(),
        authorization,
    });
    let fault = take_fault(&state, &method, &path_and_query);
    match &fault {
        // A request body the proxy does not read would reach the client as a broken pipe
        // instead of the answer; read it first.
        Some(FaultKind::Status(code)) => {
            let _ = axum::body::to_bytes(request.into_body(), usize::MAX).await;
            return Ok(StatusCode::from_u16(*code).unwrap().into_response());
        }
        Some(FaultKind::TooManyRequests { retry_after_secs }) => {
            let _ = axum::body::to_bytes(request.into_body(), usize::MAX).await;
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [("Retry-After", retry_after_secs.to_string())],
            )
                .into_response());
        }
        Some(FaultKind::DropRequest) => return Err(Dropped),
        Some(FaultKind::CutUpload(limit)) => {
            let mut body = request.into_body().into_data_stream();
            let mut read = 0;
            while read < *limit {
                match body.next().await {
                    Some(Ok(chunk)) => read += chunk.len(),
                    _ => break,
                }
            }
            return Err(Dropped);
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }

    let request_host = request
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let client = state.client.as_ref().unwrap();
    let url = format!("{}{}", state.upstream, path_and_query);
    let mut upstream = client.request(request.method().clone(), url);
    for (name, value) in request.headers() {
        let replaced =
            name == "authorization" && matches!(fault, Some(FaultKind::ReplaceAuthorization(_)));
        if name != "host" && !replaced {
            upstream = upstream.header(name, value);
        }
    }
    // Registries that write absolute `Location`s (distribution) name the host the client
    // asked, as behind any reverse proxy.
    if let Some(host) = request_host.as_deref() {
        upstream = upstream.header("X-Forwarded-Host", host);
    }
    if let Some(FaultKind::ReplaceAuthorization(value)) = &fault {
        upstream = upstream.header("authorization", value);
    }
    let request_body = request.into_body().into_data_stream();
    let body = if matches!(fault, Some(FaultKind::CorruptUpload)) {
        reqwest::Body::wrap_stream(flip_first_byte(request_body))
    } else {
        reqwest::Body::wrap_stream(request_body)
    };
    let answer = match upstream.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return Ok((StatusCode::BAD_GATEWAY, e.to_string()).into_response()),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        let dropped = (name == "link" && matches!(fault, Some(FaultKind::Link(_))))
            || (name == "location" && matches!(fault, Some(FaultKind::Location(_))))
            || (name == "content-length" && matches!(fault, Some(FaultKind::Chunked)));
        if !dropped {
            response = response.header(name, value);
        }
    }
    if let Some(FaultKind::Location(template)) = &fault
        && let Some(location) = answer
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
    {
        // Relative or absolute, the path and query move to the other host.
        let path = match location.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => location,
        };
        response = response.header("Location", template.replace("{path}", path));
    }
    if let Some(FaultKind::Link(target)) = &fault {
        response = response.header("Link", format!("<{target}>; rel=\"next\""));
    }
    if matches!(fault, Some(FaultKind::DropAnswer)) {
        // The registry has finished with the request once its whole answer is read.
        let _ = answer.bytes().await;
        return Err(Dropped);
    }
    let stream = answer.bytes_stream();
    let body = match fault {
        Some(FaultKind::CutAfter(limit)) => {
            // Yielding once lets the bytes before the cut reach the client.
            let cut = futures_util::stream::once(async {
                tokio::task::yield_now().await;
                Err(std::io::Error::other("connection cut by fault proxy"))
            });
            Body::from_stream(first_bytes(stream, limit).chain(cut))
        }
        Some(FaultKind::StallAfter(limit)) => {
            Body::from_stream(first_bytes(stream, limit).chain(futures_util::stream::pending()))
        }
        Some(FaultKind::Corrupt) => Body::from_stream(flip_first_byte(stream)),
        _ => Body::from_stream(stream),
    };
    Ok(response.body(body).unwrap())
}

/// The first `limit` bytes of `stream`.
fn first_bytes(
    stream: impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>>,
    limit: usize,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    let mut left = limit;
    stream
        .map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            let keep = chunk.slice(..chunk.len().min(left));
            left -= keep.len();
            Ok(keep)
        })
        .take_while(|chunk| std::future::ready(!matches!(chunk, Ok(c) if c.is_empty())))
}

/// `stream` with the first byte of its first non-empty chunk flipped.
fn flip_first_byte<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    stream: impl futures_util::Stream<Item = Result<bytes::Bytes, E>>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let mut first = true;
    stream.map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        if first && !chunk.is_empty() {
            first = false;
            let mut bytes = chunk.to_vec();
            bytes[0] ^= 0xff;
            return Ok(bytes.into());
        }
        Ok(chunk)
    })
}
