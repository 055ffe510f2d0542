//! The distribution-spec HTTP API: routing of `/v2/<name>/…` paths and the handlers.
//!
//! Repository names contain slashes, so paths are matched from the right: the last segments
//! say what is addressed (`manifests/<ref>`, `blobs/<digest>`, `blobs/uploads/<id>`,
//! `tags/list`, `referrers/<digest>`) and everything before them is the name.

mod blobs;
mod listing;
mod manifests;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::RegistryState;
use super::auth::Verdict;
use super::error::{ErrorCode, RegistryError, Result};
use crate::oci::{Digest, validate_repository};

/// What a `/v2/…` path addresses.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    UploadStart(&'a str),
    Upload(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

fn parse_route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    // Split off the last `n` segments; the name is what precedes them.
    let split_tail = |n: usize| -> Option<(&str, Vec<&str>)> {
        let mut idx = rest.len();
        for _ in 0..n {
            idx = rest[..idx].rfind('/')?;
        }
        let tail = rest[idx + 1..].split('/').collect();
        Some((&rest[..idx], tail))
    };
    if let Some((name, t)) = split_tail(3)
        && t[0] == "blobs"
        && t[1] == "uploads"
    {
        return Some(if t[2].is_empty() {
            Route::UploadStart(name)
        } else {
            Route::Upload(name, t[2])
        });
    }
    let (name, t) = split_tail(2)?;
    match (t[0], t[1]) {
        ("blobs", "uploads") => Some(Route::UploadStart(name)),
        ("tags", "list") => Some(Route::Tags(name)),
        ("manifests", reference) => Some(Route::Manifest(name, reference)),
        ("blobs", digest) => Some(Route::Blob(name, digest)),
        ("referrers", digest) => Some(Route::Referrers(name, digest)),
        _ => None,
    }
}

type Params = HashMap<String, String>;

/// Entry point for every `/v2` request.
pub async fn dispatch(
    State(state): State<Arc<RegistryState>>,
    method: Method,
    Query(params): Query<Params>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    // Clients may percent-encode the `:` of digests; names and tags never contain `%`.
    let path = request.uri().path().replace("%3A", ":").replace("%3a", ":");
    let body = request.into_body();
    let started = std::time::Instant::now();
    let result = route(&state, &method, &path, &params, &headers, body).await;
    let response = result.unwrap_or_else(IntoResponse::into_response);
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    if method == Method::HEAD {
        // HEAD answers carry the headers of GET, never a body.
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    response
}

async fn route(
    state: &RegistryState,
    method: &Method,
    path: &str,
    params: &Params,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let route = parse_route(path).ok_or_else(|| {
        RegistryError::new(
            ErrorCode::NameUnknown,
            format!("no registry endpoint at {path}"),
        )
        .with_status(StatusCode::NOT_FOUND)
    })?;
    let name = match &route {
        Route::Base | Route::Catalog => None,
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::UploadStart(n)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => Some(*n),
    };
    if let Some(name) = name {
        validate_repository(name)
            .map_err(|e| RegistryError::new(ErrorCode::NameInvalid, e.to_string()))?;
    }
    let get = method == Method::GET || method == Method::HEAD;
    match (route, method.as_str()) {
        (Route::Base, _) if get => Ok(axum::Json(serde_json::json!({})).into_response()),
        (Route::Catalog, _) if get => listing::catalog(state, params).await,
        (Route::Tags(name), _) if get => listing::tags(state, name, params),
        (Route::Referrers(name, digest), _) if get => {
            listing::referrers(state, name, digest, params)
        }
        (Route::Manifest(name, reference), _) if get => {
            manifests::get_negotiated(state, name, reference, headers)
        }
        (Route::Manifest(name, reference), "PUT") => {
            manifests::put(state, name, reference, headers, body).await
        }
        (Route::Manifest(name, reference), "DELETE") => {
            manifests::delete(state, name, reference).await
        }
        (Route::Blob(name, digest), _) if get => blobs::get(state, name, digest, headers).await,
        (Route::Blob(name, digest), "DELETE") => blobs::delete(state, name, digest).await,
        (Route::UploadStart(name), "POST") => blobs::start_upload(state, name, params, body).await,
        (Route::Upload(name, id), _) if get => blobs::upload_status(state, name, id).await,
        (Route::Upload(name, id), "PATCH") => {
            blobs::patch_upload(state, name, id, headers, body).await
        }
        (Route::Upload(name, id), "PUT") => {
            blobs::finish_upload(state, name, id, params, headers, body).await
        }
        (Route::Upload(name, id), "DELETE") => blobs::cancel_upload(state, name, id).await,
        (_, method) => Err(RegistryError::new(
            ErrorCode::Unsupported,
            format!("{method} is not supported on {path}"),
        )),
    }
}

/// The address of the client on a connection, set by the server for each request.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// Adds the API version header to every answer and enforces basic auth when configured.
pub async fn common_headers(
    State(state): State<Arc<RegistryState>>,
    request: Request,
    next: Next,
) -> Response {
    let verdict = match &state.auth {
        None => Verdict::Allowed,
        Some(auth) => {
            let client = request
                .extensions()
                .get::<ClientAddr>()
                .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
            auth.check(request.headers().get(header::AUTHORIZATION), client)
                .await
        }
    };
    let mut response = match verdict {
        Verdict::Allowed => next.run(request).await,
        Verdict::Denied => RegistryError::new(ErrorCode::Unauthorized, "authentication required")
            .with_header(
                header::WWW_AUTHENTICATE,
                format!("Basic realm=\"{}\"", super::auth::REALM),
            )
            .into_response(),
        Verdict::Throttled(wait) => RegistryError::new(
            ErrorCode::TooManyRequests,
            "too many failed logins from this address; wait before trying again",
        )
        .with_header(
            header::RETRY_AFTER,
            wait.as_secs_f64().ceil().max(1.0).to_string(),
        )
        .into_response(),
    };
    response.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

/// Parses a digest from a path or query parameter.
fn parse_digest(text: &str) -> Result<Digest> {
    text.parse().map_err(|e: crate::oci::DigestError| {
        RegistryError::new(ErrorCode::DigestInvalid, e.to_string())
    })
}

/// Sets a header from a string the registry built itself (always valid ASCII).
fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// An empty answer with the given status and headers.
fn empty(status: StatusCode, headers: &[(&'static str, &str)]) -> Response {
    let mut response = (status, Body::empty()).into_response();
    for (name, value) in headers {
        set_header(&mut response, name, value);
    }
    set_header(&mut response, "Content-Length", "0");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/v2/"), Some(Route::Base));
        assert_eq!(parse_route("/v2"), Some(Route::Base));
        assert_eq!(parse_route("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(parse_route("/v2/a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(
            parse_route("/v2/a/manifests/latest"),
            Some(Route::Manifest("a", "latest"))
        );
        assert_eq!(
            parse_route("/v2/a/blobs/sha256:x"),
            Some(Route::Blob("a", "sha256:x"))
        );
        assert_eq!(
            parse_route("/v2/a/b/blobs/uploads/"),
            Some(Route::UploadStart("a/b"))
        );
        assert_eq!(
            parse_route("/v2/a/blobs/uploads"),
            Some(Route::UploadStart("a"))
        );
        assert_eq!(
            parse_route("/v2/blobs/blobs/uploads/123"),
            Some(Route::Upload("blobs", "123"))
        );
        assert_eq!(
            parse_route("/v2/x/referrers/sha256:y"),
            Some(Route::Referrers("x", "sha256:y"))
        );
        assert_eq!(parse_route("/v2/x/nothing"), None);
        assert_eq!(parse_route("/v3/x"), None);
    }
}
