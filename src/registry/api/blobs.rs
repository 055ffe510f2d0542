//! Blob reads, deletes and uploads (monolithic, chunked, mount).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{Params, empty, parse_digest, set_header};
use crate::oci::{Digest, DigestAlgorithm, validate_repository};
use crate::registry::RegistryState;
use crate::registry::error::{ErrorCode, RegistryError, Result};
use crate::registry::upload::{UploadSession, hash_file, write_body};

const STREAM_BUFFER: usize = 256 * 1024;

fn blob_unknown(name: &str, digest: &Digest) -> RegistryError {
    RegistryError::new(
        ErrorCode::BlobUnknown,
        format!("blob {digest} is not in {name}"),
    )
}

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`, with single `Range` requests.
pub async fn get(
    state: &RegistryState,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
) -> Result<Response> {
    let digest = parse_digest(digest)?;
    let size = state
        .storage
        .repo_blob_size(name, &digest)
        .ok_or_else(|| blob_unknown(name, &digest))?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(text) => Some(parse_range(text, size).ok_or_else(|| {
            RegistryError::new(
                ErrorCode::RangeInvalid,
                format!("range `{text}` is not satisfiable for a blob of {size} bytes"),
            )
            .with_header(header::CONTENT_RANGE, format!("bytes */{size}"))
        })?),
        None => None,
    };
    let mut file = match tokio::fs::File::open(state.storage.blob_path(&digest)).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(blob_unknown(name, &digest));
        }
        Err(e) => return Err(e.into()),
    };
    let (status, start, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, size),
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await?;
    }
    let stream = ReaderStream::with_capacity(file.take(len), STREAM_BUFFER);
    let mut response = (status, Body::from_stream(stream)).into_response();
    set_header(&mut response, "Content-Length", &len.to_string());
    set_header(&mut response, "Content-Type", "application/octet-stream");
    set_header(&mut response, "Docker-Content-Digest", &digest.to_string());
    set_header(&mut response, "Accept-Ranges", "bytes");
    set_header(&mut response, "ETag", &format!("\"{digest}\""));
    if let Some((start, end)) = range {
        set_header(
            &mut response,
            "Content-Range",
            &format!("bytes {start}-{end}/{size}"),
        );
    }
    Ok(response)
}

/// Parses a single `bytes=` range into inclusive bounds within `size`.
fn parse_range(text: &str, size: u64) -> Option<(u64, u64)> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 {
                return None;
            }
            (size.saturating_sub(n), size.checked_sub(1)?)
        }
        (start, "") => (start.parse().ok()?, size.checked_sub(1)?),
        (start, end) => (
            start.parse().ok()?,
            end.parse::<u64>().ok()?.min(size.checked_sub(1)?),
        ),
    };
    (start <= end && start < size).then_some((start, end))
}

/// `DELETE /v2/<name>/blobs/<digest>`: removes the blob from the repository.
/// The repository lock keeps it from racing a manifest PUT that checks this blob's link.
pub async fn delete(state: &RegistryState, name: &str, digest: &str) -> Result<Response> {
    let digest = parse_digest(digest)?;
    let storage = state.storage.clone();
    let (repo, target) = (name.to_string(), digest.clone());
    let unlinked = tokio::task::spawn_blocking(move || {
        let _guard = storage.lock_repository(&repo);
        storage.unlink_blob(&repo, &target)
    })
    .await
    .map_err(|e| RegistryError::internal("blob delete", e))??;
    if unlinked {
        Ok(empty(
            StatusCode::ACCEPTED,
            &[("Docker-Content-Digest", &digest.to_string())],
        ))
    } else {
        Err(blob_unknown(name, &digest))
    }
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        &[
            ("Location", &format!("/v2/{name}/blobs/{digest}")),
            ("Docker-Content-Digest", &digest.to_string()),
        ],
    )
}

/// The `Range` header value for `size` bytes received.
fn received_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn session_accepted(status: StatusCode, name: &str, session: &UploadSession) -> Response {
    empty(
        status,
        &[
            ("Location", &upload_location(name, &session.id)),
            ("Range", &received_range(session.size)),
            ("Docker-Upload-UUID", &session.id),
        ],
    )
}

/// `POST /v2/<name>/blobs/uploads/`: a mount, a monolithic upload (`?digest=`) or a new session.
pub async fn start_upload(
    state: &RegistryState,
    name: &str,
    params: &Params,
    body: Body,
) -> Result<Response> {
    if let Some(mount) = params.get("mount") {
        let digest = parse_digest(mount)?;
        let available = match params.get("from") {
            Some(from) => {
                validate_repository(from).is_ok()
                    && state.storage.repo_blob_size(from, &digest).is_some()
            }
            // Without `from`, any repository's copy will do: the registry has one trust domain.
            None => state.storage.blob_size(&digest).is_some(),
        };
        if available {
            state.storage.link_blob(name, &digest)?;
            return Ok(blob_created(name, &digest));
        }
        // Fall through: the client gets a session to upload the blob itself.
    } else if let Some(digest) = params.get("digest") {
        let digest = parse_digest(digest)?;
        let path = state.storage.temp_path();
        let result = receive_verified(state, name, &path, body, &digest).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        result?;
        return Ok(blob_created(name, &digest));
    }
    let id = state.uploads.start(name).await?;
    let session = state.uploads.get(name, &id)?;
    let session = session.lock().await;
    Ok(session_accepted(StatusCode::ACCEPTED, name, &session))
}

/// Writes a whole blob to `path`, verifies it and commits it.
async fn receive_verified(
    state: &RegistryState,
    name: &str,
    path: &std::path::Path,
    body: Body,
    digest: &Digest,
) -> Result<()> {
    let file = tokio::fs::File::create(path).await?;
    let mut hasher = digest.algorithm().hasher();
    write_body(
        file,
        body,
        &mut hasher,
        None,
        state.uploads.body_idle_timeout(),
    )
    .await?;
    let actual = hasher.finish();
    if actual != *digest {
        return Err(digest_mismatch(digest, &actual));
    }
    commit(state, name, path, digest).await
}

fn digest_mismatch(expected: &Digest, actual: &Digest) -> RegistryError {
    RegistryError::new(
        ErrorCode::DigestInvalid,
        format!("uploaded content has digest {actual}, not {expected}"),
    )
}

/// Makes a verified file durable and moves it into the blob store.
async fn commit(
    state: &RegistryState,
    name: &str,
    path: &std::path::Path,
    digest: &Digest,
) -> Result<()> {
    tokio::fs::File::open(path).await?.sync_all().await?;
    let storage = state.storage.clone();
    let (name, path, digest) = (name.to_string(), path.to_path_buf(), digest.clone());
    tokio::task::spawn_blocking(move || storage.commit_blob(&name, &path, &digest))
        .await
        .map_err(|e| RegistryError::internal("commit", e))??;
    Ok(())
}

/// `GET /v2/<name>/blobs/uploads/<id>`: how much has been received.
pub async fn upload_status(state: &RegistryState, name: &str, id: &str) -> Result<Response> {
    let session = state.uploads.get(name, id)?;
    let session = session.lock().await;
    Ok(session_accepted(StatusCode::NO_CONTENT, name, &session))
}

/// Checks `Content-Range: <start>-<end>[/<total>]` against what the session has; a gap or
/// overlap is a 416 that tells the client where to resume. Returns the length the range
/// declares, which the body must then have exactly.
fn check_chunk(name: &str, session: &UploadSession, headers: &HeaderMap) -> Result<Option<u64>> {
    let Some(text) = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let refuse = |why: String| {
        RegistryError::new(ErrorCode::BlobUploadInvalid, why)
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
            .with_header(header::LOCATION, upload_location(name, &session.id))
            .with_header(header::RANGE, received_range(session.size))
            .with_header(
                "Docker-Upload-UUID".parse().expect("static header"),
                session.id.clone(),
            )
    };
    let spec = text
        .trim()
        .trim_start_matches("bytes=")
        .trim_start_matches("bytes ");
    // `bytes 0-4/5` (RFC 9110's form) names the total too; `/*` leaves it open.
    let spec = spec.split_once('/').map_or(spec, |(range, _total)| range);
    let parsed = spec
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
    let Some((start, end)) = parsed else {
        return Err(refuse(format!(
            "Content-Range `{text}` is not `<start>-<end>`"
        )));
    };
    if start != session.size || end < start {
        return Err(refuse(format!(
            "chunk {start}-{end} does not continue the upload, which has {} bytes; resume at {}",
            session.size, session.size
        )));
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = length
        && length != end - start + 1
    {
        return Err(refuse(format!(
            "Content-Range {start}-{end} covers {} bytes but Content-Length is {length}",
            end - start + 1
        )));
    }
    Ok(Some(end - start + 1))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk.
pub async fn patch_upload(
    state: &RegistryState,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let session = state.uploads.get(name, id)?;
    let mut session = session.lock().await;
    session.ensure_open()?;
    let declared = check_chunk(name, &session, headers)?;
    session
        .append(body, declared, state.uploads.body_idle_timeout())
        .await?;
    Ok(session_accepted(StatusCode::ACCEPTED, name, &session))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (if any), then verify and commit.
pub async fn finish_upload(
    state: &RegistryState,
    name: &str,
    id: &str,
    params: &Params,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let digest = params.get("digest").ok_or_else(|| {
        RegistryError::new(
            ErrorCode::DigestInvalid,
            "closing an upload needs `?digest=`",
        )
    })?;
    let digest = parse_digest(digest)?;
    let session = state.uploads.get(name, id)?;
    let mut session = session.lock().await;
    session.ensure_open()?;
    let declared = check_chunk(name, &session, headers)?;
    // A last chunk that breaks off leaves the session open, so the client can resume.
    session
        .append(body, declared, state.uploads.body_idle_timeout())
        .await?;
    // From here the session is over, committed or refused. It is closed before its lock is
    // let go, so a request queued on it cannot add to a file that became a blob.
    state.uploads.close(&mut session);
    let actual = match digest.algorithm() {
        DigestAlgorithm::Sha256 => Ok(session.hasher.clone().finish()),
        other => hash_file(&session.path, other).await,
    };
    let result = match actual {
        Ok(actual) if actual == digest => commit(state, name, &session.path, &digest).await,
        Ok(actual) => Err(digest_mismatch(&digest, &actual)),
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = tokio::fs::remove_file(&session.path).await;
    }
    result?;
    Ok(blob_created(name, &digest))
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: cancels an upload.
pub async fn cancel_upload(state: &RegistryState, name: &str, id: &str) -> Result<Response> {
    let session = state.uploads.get(name, id)?;
    let mut session = session.lock().await;
    session.ensure_open()?;
    state.uploads.discard(&mut session).await;
    Ok(empty(StatusCode::NO_CONTENT, &[]))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=0-0", 0), None);
    }
}
