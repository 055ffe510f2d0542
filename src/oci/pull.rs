//! Pulling any artifact: the manifest and its blobs into the cache (verified), then files named
//! by their title annotation into the output directory, written with oras-go's safety rules.

use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::cache::BlobCache;
use super::client::{Descriptor, FetchedManifest, OciError, Registries, RegistryClient, Result};
use super::files::{FilesError, Staging, UnpackLimits};
use super::manifest::{ManifestView, TITLE, UNPACK};
use super::progress::Progress;
use super::{Digest, Reference};

/// What a pull wrote.
#[derive(Debug, Serialize)]
pub struct PullReport {
    pub reference: String,
    pub digest: Digest,
    pub media_type: String,
    pub files: Vec<PathBuf>,
    /// Layers without a title annotation, which have no file name and were not written.
    pub skipped_layers: Vec<Digest>,
}

/// Resolves a reference to its manifest, from the cache when the reference is a digest that is
/// already cached (no request at all), else from the registry.
pub async fn resolve_manifest(
    cache: &BlobCache,
    client: &RegistryClient,
    reference: &Reference,
) -> Result<FetchedManifest> {
    if let Some(digest) = &reference.digest
        && let Some(bytes) = cache.read(digest)
    {
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| super::media_type::OCI_MANIFEST.to_string());
        return Ok(FetchedManifest {
            digest: digest.clone(),
            media_type,
            bytes,
        });
    }
    let fetched = client
        .manifest(&reference.repository, &reference.target())
        .await?;
    cache.put(&fetched.digest, &fetched.bytes)?;
    Ok(fetched)
}

/// Downloads every blob into the cache, `concurrency` at a time.
pub async fn fetch_blobs(
    cache: &BlobCache,
    client: &RegistryClient,
    repo: &str,
    blobs: &[&Descriptor],
    concurrency: usize,
    progress: &Progress,
) -> Result<Vec<PathBuf>> {
    let owned: Vec<Descriptor> = blobs.iter().map(|d| (*d).clone()).collect();
    futures_util::stream::iter(owned)
        .map(|d| async move { cache.fetch(client, repo, &d, progress).await })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// Pulls `reference` into `output_dir`, refusing to replace any existing file that differs:
/// [`pull_with`] without overwrite.
pub async fn pull(
    registries: &Registries,
    cache: &BlobCache,
    reference: &Reference,
    output_dir: &Path,
    progress: &Progress,
) -> Result<PullReport> {
    pull_with(registries, cache, reference, output_dir, false, progress).await
}

/// Pulls `reference` into `output_dir`, merging into what is there: existing directories are
/// entered, files that already hold the same bytes are left, and an existing file with other
/// content is replaced only when `overwrite` is set (otherwise the pull is refused and changes
/// nothing). The user's other files are never touched.
///
/// Cancelling `progress`'s token, or dropping this future (an aborted task, Ctrl-C), stops the
/// pull: downloads in flight are abandoned (their temp files removed), and the write step,
/// which runs on a blocking thread that outlives the future, checks the token before it
/// commits, so nothing reaches `output_dir` once the caller has moved on.
pub async fn pull_with(
    registries: &Registries,
    cache: &BlobCache,
    reference: &Reference,
    output_dir: &Path,
    overwrite: bool,
    progress: &Progress,
) -> Result<PullReport> {
    let cancel = progress.cancel_token().child_token();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let client = registries.client(&reference.registry);
    let (manifest, view, paths) = cancel
        .run_until_cancelled(fetch(registries, cache, &client, reference, progress))
        .await
        .ok_or(OciError::Cancelled)??;
    let descriptor = Descriptor {
        media_type: manifest.media_type.clone(),
        digest: manifest.digest.clone(),
        size: manifest.bytes.len() as u64,
        artifact_type: view.artifact_type.clone(),
        annotations: Default::default(),
        platform: None,
    };
    cache.tag(&reference.to_string(), &descriptor)?;

    // Layers follow the config in `paths`.
    let layer_paths = paths[usize::from(view.config.is_some())..].to_vec();
    let output = output_dir.to_path_buf();
    let layers = view.layers;
    // Awaited to the end even when cancelled meanwhile: the outcome it reports is what is on
    // disk (cancelled before the commit, or committed before the cancel was seen).
    let (files, skipped_layers) = tokio::task::spawn_blocking(move || {
        write_files(&output, &layers, &layer_paths, overwrite, &cancel)
    })
    .await
    .map_err(|e| OciError::Config(format!("writing files failed: {e}")))??;
    Ok(PullReport {
        reference: reference.to_string(),
        digest: manifest.digest,
        media_type: manifest.media_type,
        files,
        skipped_layers,
    })
}

/// The network half of a pull: the manifest (refusing an index) and its blobs in the cache.
async fn fetch(
    registries: &Registries,
    cache: &BlobCache,
    client: &RegistryClient,
    reference: &Reference,
    progress: &Progress,
) -> Result<(FetchedManifest, ManifestView, Vec<PathBuf>)> {
    let manifest = resolve_manifest(cache, client, reference).await?;
    let view = parse_view(client, &manifest)?;
    if view.is_index() {
        return Err(index_refused(reference, &view));
    }
    let paths = fetch_blobs(
        cache,
        client,
        &reference.repository,
        &view.blobs(),
        registries.options().concurrency,
        progress,
    )
    .await?;
    Ok((manifest, view, paths))
}

/// Pulling an index names its children, to be pulled by digest.
fn index_refused(reference: &Reference, view: &ManifestView) -> OciError {
    let children: Vec<String> = view
        .manifests
        .iter()
        .map(|m| {
            let platform = m
                .platform
                .as_ref()
                .map(|p| {
                    format!(
                        " ({}/{})",
                        p["os"].as_str().unwrap_or("?"),
                        p["architecture"].as_str().unwrap_or("?")
                    )
                })
                .unwrap_or_default();
            format!("  {}@{}{platform}", reference.repository_path(), m.digest)
        })
        .collect();
    OciError::Protocol {
        registry: reference.registry.clone(),
        message: format!(
            "{reference} is an index of {} manifests; pull one of them by digest:\n{}",
            view.manifests.len(),
            children.join("\n")
        ),
    }
}

fn parse_view(client: &RegistryClient, manifest: &FetchedManifest) -> Result<ManifestView> {
    ManifestView::parse(&manifest.bytes, &manifest.media_type).map_err(|e| OciError::Protocol {
        registry: client.registry().to_string(),
        message: format!("manifest {} is not valid JSON: {e}", manifest.digest),
    })
}

/// A refusal of the staging area as an [`OciError`]. Conflicts with files already in the
/// output directory are I/O errors of kind `AlreadyExists` on the first conflicting path, so
/// callers can tell them from unsafe or broken content.
pub(crate) fn files_error(e: FilesError) -> OciError {
    let more = |n: usize| match n {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    };
    let message = match &e {
        FilesError::Exists { more: n, .. } => format!(
            "already exists with different content{}; nothing was changed",
            more(*n)
        ),
        FilesError::KindConflict {
            existing,
            pulled,
            more: n,
            ..
        } => format!(
            "is {existing} here but {pulled} in the pull{}; nothing was changed",
            more(*n)
        ),
        _ => return OciError::Config(e.to_string()),
    };
    let (FilesError::Exists { path, .. } | FilesError::KindConflict { path, .. }) = e else {
        unreachable!("matched above");
    };
    OciError::Io {
        path,
        source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, message),
    }
}

/// Writes titled layers (unpacking tar+gzip directories oras marked) through a staging area,
/// so a refused, failed or cancelled pull leaves nothing in `output`; the commit merges into
/// what `output` holds. `cancel` is checked
/// before each layer and, last, right before the commit.
fn write_files(
    output: &Path,
    layers: &[Descriptor],
    paths: &[PathBuf],
    overwrite: bool,
    cancel: &CancellationToken,
) -> Result<(Vec<PathBuf>, Vec<Digest>)> {
    let to_error = files_error;
    let mut staging = Staging::new(output).map_err(to_error)?;
    let mut skipped = Vec::new();
    for (layer, path) in layers.iter().zip(paths) {
        if cancel.is_cancelled() {
            return Err(OciError::Cancelled);
        }
        let Some(title) = layer.annotations.get(TITLE) else {
            skipped.push(layer.digest.clone());
            continue;
        };
        let mut file = std::fs::File::open(path).map_err(|e| OciError::io(path, e))?;
        let unpack = layer.annotations.get(UNPACK).is_some_and(|v| v == "true");
        let gzip =
            layer.media_type.ends_with("tar+gzip") || layer.media_type.ends_with(".tar.gzip");
        if unpack && (gzip || layer.media_type.ends_with(".tar")) {
            // oras packs a directory with its own name as the entries' prefix, and refuses
            // entries outside it when unpacking.
            let entries = staging
                .unpack_tar("", &mut file, gzip, UnpackLimits::default())
                .map_err(to_error)?;
            let prefix = std::path::Path::new(title.trim_end_matches('/'));
            if let Some(outside) = entries.iter().find(|e| !e.path.starts_with(prefix)) {
                return Err(OciError::Config(format!(
                    "layer `{title}` holds {} outside its directory; refused",
                    outside.path.display()
                )));
            }
        } else {
            staging
                .write_file(title, &mut file, None)
                .map_err(to_error)?;
        }
    }
    // Dropping the staging area removes what was written.
    if cancel.is_cancelled() {
        return Err(OciError::Cancelled);
    }
    let files = staging.commit(overwrite).map_err(to_error)?;
    Ok((files, skipped))
}
