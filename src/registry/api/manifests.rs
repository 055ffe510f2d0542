//! Manifest reads, pushes and deletes.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{empty, parse_digest, set_header};
use crate::oci::{Digest, DigestAlgorithm, validate_tag};
use crate::registry::RegistryState;
use crate::registry::error::{ErrorCode, RegistryError, Result};
use crate::registry::manifest::{self, MAX_MANIFEST_BYTES};

/// A manifest reference from the path: a digest or a tag.
enum Reference<'a> {
    Digest(Digest),
    Tag(&'a str),
}

fn parse_reference(reference: &str) -> Result<Reference<'_>> {
    if reference.contains(':') {
        return parse_digest(reference).map(Reference::Digest);
    }
    validate_tag(reference)
        .map(|()| Reference::Tag(reference))
        .map_err(|e| RegistryError::new(ErrorCode::ManifestInvalid, e.to_string()))
}

fn manifest_unknown(name: &str, reference: &str) -> RegistryError {
    RegistryError::new(
        ErrorCode::ManifestUnknown,
        format!("manifest {name}:{reference} is unknown"),
    )
}

/// The digest a reference names in repository `name`, if the repository has it.
fn resolve(state: &RegistryState, name: &str, reference: &str) -> Result<Digest> {
    let digest = match parse_reference(reference) {
        Ok(Reference::Digest(d)) => d,
        Ok(Reference::Tag(tag)) => state
            .storage
            .resolve_tag(name, tag)?
            .ok_or_else(|| manifest_unknown(name, reference))?,
        // A tag that cannot exist is simply not there.
        Err(e) if e.code == ErrorCode::ManifestInvalid => {
            return Err(manifest_unknown(name, reference));
        }
        Err(e) => return Err(e),
    };
    Ok(digest)
}

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the stored bytes and media type, exactly.
pub fn get(state: &RegistryState, name: &str, reference: &str) -> Result<Response> {
    let digest = resolve(state, name, reference)?;
    let stored = state
        .storage
        .manifest(name, &digest)?
        .ok_or_else(|| manifest_unknown(name, reference))?;
    let length = stored.bytes.len().to_string();
    let mut response = (StatusCode::OK, Body::from(stored.bytes)).into_response();
    set_header(&mut response, "Content-Type", &stored.media_type);
    set_header(&mut response, "Content-Length", &length);
    set_header(&mut response, "Docker-Content-Digest", &digest.to_string());
    set_header(&mut response, "ETag", &format!("\"{digest}\""));
    Ok(response)
}

/// `PUT /v2/<name>/manifests/<reference>`.
pub async fn put(
    state: &RegistryState,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let reference = parse_reference(reference)?;
    let bytes = axum::body::to_bytes(body, MAX_MANIFEST_BYTES)
        .await
        .map_err(|_| {
            RegistryError::new(
                ErrorCode::SizeInvalid,
                format!("manifest is larger than {} MiB", MAX_MANIFEST_BYTES >> 20),
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
    let algorithm = match &reference {
        Reference::Digest(d) => d.algorithm(),
        Reference::Tag(_) => DigestAlgorithm::Sha256,
    };
    let mut hasher = algorithm.hasher();
    hasher.update(&bytes);
    let digest = hasher.finish();
    if let Reference::Digest(expected) = &reference
        && *expected != digest
    {
        return Err(RegistryError::new(
            ErrorCode::DigestInvalid,
            format!("manifest has digest {digest}, not {expected} as the URL says"),
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let checked = manifest::check(&state.storage, name, content_type, &bytes, &digest)?;
    let tag = match &reference {
        Reference::Tag(tag) => Some(*tag),
        Reference::Digest(_) => None,
    };
    let referrer = checked
        .subject
        .as_ref()
        .zip(checked.referrer_descriptor.as_ref());
    state
        .storage
        .put_manifest(name, &digest, &checked.media_type, &bytes, tag, referrer)?;
    tracing::info!(repository = name, %digest, tag, "manifest pushed");
    let location = format!("/v2/{name}/manifests/{digest}");
    let digest_text = digest.to_string();
    let mut headers = vec![
        ("Location", location.as_str()),
        ("Docker-Content-Digest", digest_text.as_str()),
    ];
    let subject_text = checked.subject.as_ref().map(|s| s.to_string());
    if let Some(subject) = &subject_text {
        headers.push(("OCI-Subject", subject.as_str()));
    }
    Ok(empty(StatusCode::CREATED, &headers))
}

/// `DELETE /v2/<name>/manifests/<reference>`: by digest removes the manifest and its tags; by
/// tag removes only the tag.
pub fn delete(state: &RegistryState, name: &str, reference: &str) -> Result<Response> {
    match parse_reference(reference) {
        Ok(Reference::Tag(tag)) => {
            if state.storage.delete_tag(name, tag)? {
                Ok(empty(StatusCode::ACCEPTED, &[]))
            } else {
                Err(manifest_unknown(name, reference))
            }
        }
        Ok(Reference::Digest(digest)) => {
            let stored = state
                .storage
                .manifest(name, &digest)?
                .ok_or_else(|| manifest_unknown(name, reference))?;
            let subject = manifest::subject_of(&stored.bytes);
            state
                .storage
                .delete_manifest(name, &digest, subject.as_ref())?;
            tracing::info!(repository = name, %digest, "manifest deleted");
            Ok(empty(StatusCode::ACCEPTED, &[]))
        }
        Err(_) => Err(manifest_unknown(name, reference)),
    }
}
