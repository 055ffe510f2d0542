//! Manifest reads, pushes and deletes. Pushes and deletes of one repository hold its lock
//! (see [`crate::registry::Storage::lock_repository`]) and do their file work off the async
//! threads, since every write is fsynced.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{empty, parse_digest, set_header};
use crate::oci::{Digest, DigestAlgorithm, media_type, validate_tag};
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

/// Whether a client that sent `headers` takes a manifest of `stored_type`. A client that names
/// no type, or a wildcard, takes any. Otherwise, as in distribution, a Docker schema-2 image
/// manifest (the type every client reads) is always served, and any other type only to a
/// client that names it: a Docker-only client must not get an OCI manifest it cannot read.
fn accepts(headers: &HeaderMap, stored_type: &str) -> bool {
    let mut named = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty())
        .peekable();
    if named.peek().is_none() || stored_type == media_type::DOCKER_MANIFEST {
        return true;
    }
    named.any(|t| t == stored_type || t == "*/*" || t == "application/*")
}

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`: the stored bytes and media type, exactly, if
/// the request's `Accept` takes that type (see [`accepts`]).
pub fn get_negotiated(
    state: &RegistryState,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
) -> Result<Response> {
    let digest = resolve(state, name, reference)?;
    let stored = state
        .storage
        .manifest(name, &digest)?
        .ok_or_else(|| manifest_unknown(name, reference))?;
    if !accepts(headers, &stored.media_type) {
        return Err(RegistryError::new(
            ErrorCode::ManifestUnknown,
            format!(
                "manifest {name}:{reference} is a {}, which the request's Accept header does not include",
                stored.media_type
            ),
        ));
    }
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
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let tag = match &reference {
        Reference::Tag(tag) => Some(tag.to_string()),
        Reference::Digest(_) => None,
    };
    let storage = state.storage.clone();
    let (repo, stored_digest) = (name.to_string(), digest.clone());
    let checked = blocking(move || {
        // Checked under the lock too: a delete of a referenced child must not slip in between.
        let _guard = storage.lock_repository(&repo);
        let checked = manifest::check(
            &storage,
            &repo,
            content_type.as_deref(),
            &bytes,
            &stored_digest,
        )?;
        let referrer = checked
            .subject
            .as_ref()
            .zip(checked.referrer_descriptor.as_ref());
        storage.put_manifest(
            &repo,
            &stored_digest,
            &checked.media_type,
            &bytes,
            tag.as_deref(),
            referrer,
        )?;
        Ok(checked)
    })
    .await?;
    tracing::info!(repository = name, %digest, "manifest pushed");
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
pub async fn delete(state: &RegistryState, name: &str, reference: &str) -> Result<Response> {
    let target = match parse_reference(reference) {
        Ok(Reference::Tag(tag)) => Ok(tag.to_string()),
        Ok(Reference::Digest(digest)) => Err(digest),
        Err(_) => return Err(manifest_unknown(name, reference)),
    };
    let storage = state.storage.clone();
    let repo = name.to_string();
    // The repository lock is taken off the async threads: it may wait for a push's fsyncs.
    let deleted = blocking(move || {
        let _guard = storage.lock_repository(&repo);
        Ok(match target {
            Ok(tag) => storage.delete_tag(&repo, &tag)?,
            Err(digest) => match storage.manifest(&repo, &digest)? {
                Some(stored) => {
                    let subject = manifest::subject_of(&stored.bytes);
                    storage.delete_manifest(&repo, &digest, subject.as_ref())?;
                    tracing::info!(repository = repo, %digest, "manifest deleted");
                    true
                }
                // A link whose bytes are damaged or gone is still removed.
                None => storage.delete_manifest(&repo, &digest, None)?,
            },
        })
    })
    .await?;
    if deleted {
        Ok(empty(StatusCode::ACCEPTED, &[]))
    } else {
        Err(manifest_unknown(name, reference))
    }
}

/// Runs storage work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RegistryError::internal("storage task", e))?
}
