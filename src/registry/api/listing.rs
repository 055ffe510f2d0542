//! Tag lists, the catalog and the referrers API.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Params, parse_digest, set_header};
use crate::oci::media_type::OCI_INDEX;
use crate::registry::RegistryState;
use crate::registry::error::{ErrorCode, RegistryError, Result};

/// Most repositories one catalog page lists, as distribution's default `maxentries`.
pub const MAX_CATALOG_PAGE: usize = 1000;

/// One page of a sorted list after `last`, at most `n` long (and at most `max`, when given),
/// and whether more follow.
fn page<'a>(
    items: &'a [String],
    params: &Params,
    max: Option<usize>,
) -> Result<(&'a [String], Option<usize>)> {
    let n = match params.get("n") {
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            RegistryError::new(
                ErrorCode::PaginationNumberInvalid,
                format!("`n={text}` is not a non-negative number"),
            )
        })?),
        None => max,
    };
    if let (Some(n), Some(max)) = (n, max)
        && n > max
    {
        return Err(RegistryError::new(
            ErrorCode::PaginationNumberInvalid,
            format!("`n={n}` is more than the {max} entries a page may have"),
        ));
    }
    let start = match params.get("last") {
        Some(last) => items.partition_point(|item| item.as_str() <= last.as_str()),
        None => 0,
    };
    let rest = &items[start..];
    Ok(match n {
        Some(n) if n < rest.len() => (&rest[..n], Some(n)),
        _ => (rest, None),
    })
}

/// A JSON answer with a `Link` to the next page when one exists.
fn paged_response(
    body: serde_json::Value,
    path: &str,
    shown: &[String],
    next_n: Option<usize>,
) -> Response {
    let mut response = axum::Json(body).into_response();
    if let (Some(n), Some(last)) = (next_n, shown.last())
        && n > 0
    {
        set_header(
            &mut response,
            "Link",
            &format!("<{path}?n={n}&last={last}>; rel=\"next\""),
        );
    }
    response
}

/// `GET /v2/_catalog`: repositories that hold a manifest, from the storage's cached list;
/// pages of at most [`MAX_CATALOG_PAGE`].
pub async fn catalog(state: &RegistryState, params: &Params) -> Result<Response> {
    let repositories = match state.storage.cached_catalog() {
        Some(list) => list,
        None => {
            let storage = state.storage.clone();
            tokio::task::spawn_blocking(move || storage.catalog())
                .await
                .map_err(|e| RegistryError::internal("catalog", e))??
        }
    };
    let (shown, next) = page(&repositories, params, Some(MAX_CATALOG_PAGE))?;
    Ok(paged_response(
        json!({ "repositories": shown }),
        "/v2/_catalog",
        shown,
        next,
    ))
}

/// `GET /v2/<name>/tags/list`.
pub fn tags(state: &RegistryState, name: &str, params: &Params) -> Result<Response> {
    let tags = state.storage.tags(name)?.ok_or_else(|| {
        RegistryError::new(
            ErrorCode::NameUnknown,
            format!("repository {name} is unknown"),
        )
    })?;
    let (shown, next) = page(&tags, params, None)?;
    Ok(paged_response(
        json!({ "name": name, "tags": shown }),
        &format!("/v2/{name}/tags/list"),
        shown,
        next,
    ))
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an index of the manifests whose subject
/// is the digest. An unknown subject has no referrers, which is not an error.
pub fn referrers(
    state: &RegistryState,
    name: &str,
    digest: &str,
    params: &Params,
) -> Result<Response> {
    let subject = parse_digest(digest)?;
    let mut manifests = state.storage.referrers(name, &subject)?;
    let filter = params.get("artifactType");
    if let Some(wanted) = filter {
        manifests
            .retain(|d| d.get("artifactType").and_then(|t| t.as_str()) == Some(wanted.as_str()));
    }
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    set_header(&mut response, "Content-Type", OCI_INDEX);
    if filter.is_some() {
        set_header(&mut response, "OCI-Filters-Applied", "artifactType");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn paging() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let (shown, next) = page(&items, &params(&[("n", "2")]), None).unwrap();
        assert_eq!(shown, ["a", "b"]);
        assert_eq!(next, Some(2));
        let (shown, next) = page(&items, &params(&[("n", "2"), ("last", "b")]), None).unwrap();
        assert_eq!(shown, ["c", "d"]);
        assert_eq!(next, None);
        let (shown, _) = page(&items, &params(&[("last", "zz")]), None).unwrap();
        assert!(shown.is_empty());
        let (shown, _) = page(&items, &params(&[("n", "0")]), None).unwrap();
        assert!(shown.is_empty());
        let (shown, _) = page(&items, &params(&[("last", "bb")]), None).unwrap();
        assert_eq!(shown, ["c", "d"]);
        assert!(page(&items, &params(&[("n", "-1")]), None).is_err());
    }

    #[test]
    fn capped_paging() {
        let items: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let (shown, next) = page(&items, &params(&[]), Some(2)).unwrap();
        assert_eq!(shown, ["a", "b"]);
        assert_eq!(next, Some(2));
        assert!(page(&items, &params(&[("n", "2")]), Some(2)).is_ok());
        let err = page(&items, &params(&[("n", "3")]), Some(2)).unwrap_err();
        assert_eq!(err.code, ErrorCode::PaginationNumberInvalid);
    }
}
