//! A loopback HTTP proxy in front of a real registry that injects faults on matching requests:
//! error statuses (503, 429 with `Retry-After`), connections cut mid-body, corrupted bytes and
//! latency. It also records every request, so tests can assert what a client sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
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
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
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

async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let method = request.method().as_str().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    state.seen.lock().unwrap().push(SeenRequest {
        method: method.clone(),
        path: path_and_query.clone(),
    });
    let fault = take_fault(&state, &method, &path_and_query);
    match &fault {
        Some(FaultKind::Status(code)) => {
            return StatusCode::from_u16(*code).unwrap().into_response();
        }
        Some(FaultKind::TooManyRequests { retry_after_secs }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("Retry-After", retry_after_secs.to_string())],
            )
                .into_response();
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }

    let client = state.client.as_ref().unwrap();
    let url = format!("{}{}", state.upstream, path_and_query);
    let mut upstream = client.request(request.method().clone(), url);
    for (name, value) in request.headers() {
        if name != "host" {
            upstream = upstream.header(name, value);
        }
    }
    let body = reqwest::Body::wrap_stream(request.into_body().into_data_stream());
    let answer = match upstream.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let stream = answer.bytes_stream();
    let body = match fault {
        Some(FaultKind::CutAfter(limit)) => {
            let mut sent = 0usize;
            Body::from_stream(stream.map(move |chunk| {
                let chunk = chunk.map_err(std::io::Error::other)?;
                if sent + chunk.len() > limit {
                    return Err(std::io::Error::other("connection cut by fault proxy"));
                }
                sent += chunk.len();
                Ok(chunk)
            }))
        }
        Some(FaultKind::Corrupt) => {
            let mut first = true;
            Body::from_stream(stream.map(move |chunk| {
                let chunk = chunk.map_err(std::io::Error::other)?;
                if first && !chunk.is_empty() {
                    first = false;
                    let mut bytes = chunk.to_vec();
                    bytes[0] ^= 0xff;
                    return Ok::<_, std::io::Error>(bytes.into());
                }
                Ok(chunk)
            }))
        }
        _ => Body::from_stream(stream),
    };
    response.body(body).unwrap()
}
