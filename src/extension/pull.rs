//! Pulling an extension: its content layer into the cache (verified), then every file of the
//! package checked against the package's `oci-manifest.json` and merged into the output
//! directory through a staging area, so nothing partial or unverified is ever visible.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::package::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE, INDEX_FILE, PackageIndex,
};
use crate::oci::cache::BlobCache;
use crate::oci::client::{Descriptor, OciError, Registries, Result};
use crate::oci::files::{FilesError, Staging, UnpackLimits};
use crate::oci::progress::Progress;
use crate::oci::pull::files_error;
use crate::oci::{Digest, Reference};

/// An extension written to disk by a pull.
#[derive(Debug, Serialize)]
pub struct PulledExtension {
    pub reference: String,
    pub digest: Digest,
    pub name: String,
    pub version: String,
    pub directory: PathBuf,
    pub files: usize,
}

/// Why pulled content is refused.
fn refuse(reference: &Reference, message: String) -> OciError {
    OciError::Protocol {
        registry: reference.registry.clone(),
        message: format!("{reference}: {message}; nothing was written"),
    }
}

/// Unpacks a cached extension package into `dest`, after checking every file of the tarball
/// against its `oci-manifest.json` (size, mode, sha256, nothing missing, nothing extra). The
/// files are merged into what `dest` holds (see [`Staging::commit`]): a file there with other
/// content is replaced only with `overwrite`, else nothing is written. Once `cancel` is
/// cancelled nothing is committed: the staged files are removed instead.
pub fn unpack_verified(
    reference: &Reference,
    package: &Path,
    dest: &Path,
    limits: UnpackLimits,
    overwrite: bool,
    cancel: &CancellationToken,
) -> Result<PackageIndex> {
    let index = verify_package(reference, package, limits)?;
    let to_error = |e: FilesError| match e {
        FilesError::Exists { .. } | FilesError::KindConflict { .. } => files_error(e),
        e => refuse(reference, e.to_string()),
    };
    let mut staging = Staging::new(dest).map_err(to_error)?;
    let mut file = std::fs::File::open(package).map_err(|e| OciError::io(package, e))?;
    staging
        .unpack_tar("", &mut file, true, limits)
        .map_err(to_error)?;
    if cancel.is_cancelled() {
        return Err(OciError::Cancelled);
    }
    staging.commit(overwrite).map_err(to_error)?;
    Ok(index)
}

/// The largest `oci-manifest.json` read: a few hundred bytes per file, so this is room for tens
/// of thousands of files, and no more memory than that for a hostile one.
pub const MAX_INDEX_BYTES: u64 = 16 << 20;

/// Reads the tarball once, hashing every entry, and compares it with the index inside it.
/// Entries are counted and the index is capped before either is kept, so a hostile package
/// costs bounded memory and is refused before anything is unpacked.
fn verify_package(
    reference: &Reference,
    package: &Path,
    limits: UnpackLimits,
) -> Result<PackageIndex> {
    let file = std::fs::File::open(package).map_err(|e| OciError::io(package, e))?;
    // Every gzip member: `cat a.gz b.gz` is one valid stream, and what the unpack reads too.
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut seen: HashMap<String, (u64, u32, String)> = HashMap::new();
    let mut index: Option<PackageIndex> = None;
    let mut total = 0u64;
    let mut count = 0usize;
    let entries = archive.entries().map_err(|e| {
        refuse(
            reference,
            format!("the package is not a tar+gzip archive: {e}"),
        )
    })?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| refuse(reference, format!("the package is damaged: {e}")))?;
        count += 1;
        if count > limits.max_entries {
            return Err(refuse(
                reference,
                format!("the package has more than {} entries", limits.max_entries),
            ));
        }
        let path = entry
            .path()
            .map_err(|e| refuse(reference, format!("an entry has an unreadable path: {e}")))?
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0) & 0o777;
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.to_string_lossy().to_string())
                .unwrap_or_default();
            seen.insert(
                path,
                (
                    0,
                    0o777,
                    Digest::sha256_of(target.as_bytes()).hex().to_string(),
                ),
            );
            continue;
        }
        let mut hasher = crate::oci::DigestAlgorithm::Sha256.hasher();
        let mut bytes = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = entry
                .read(&mut buffer)
                .map_err(|e| refuse(reference, format!("the package is damaged at {path}: {e}")))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            total += n as u64;
            if size > limits.max_file_bytes || total > limits.max_total_bytes {
                return Err(refuse(
                    reference,
                    format!("the package expands beyond the size limit at {path}"),
                ));
            }
            hasher.update(&buffer[..n]);
            if path == INDEX_FILE {
                if size > MAX_INDEX_BYTES {
                    return Err(refuse(
                        reference,
                        format!("its {INDEX_FILE} is larger than {MAX_INDEX_BYTES} bytes"),
                    ));
                }
                bytes.extend_from_slice(&buffer[..n]);
            }
        }
        if path == INDEX_FILE {
            index = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| refuse(reference, format!("{INDEX_FILE} is not valid: {e}")))?,
            );
        } else {
            seen.insert(path, (size, mode, hasher.finish().hex().to_string()));
        }
    }
    let index =
        index.ok_or_else(|| refuse(reference, format!("the package has no {INDEX_FILE}")))?;
    for file in &index.files {
        let Some((size, mode, sha)) = seen.remove(&file.path) else {
            return Err(refuse(
                reference,
                format!("{} is listed in {INDEX_FILE} but missing", file.path),
            ));
        };
        let expected_mode = u32::from_str_radix(&file.mode, 8).unwrap_or(u32::MAX);
        if size != file.size || sha != file.sha256 || (file.link.is_none() && mode != expected_mode)
        {
            return Err(refuse(
                reference,
                format!("{} does not match {INDEX_FILE}", file.path),
            ));
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(refuse(
            reference,
            format!("{extra} is not listed in {INDEX_FILE}"),
        ));
    }
    Ok(index)
}

/// Pulls an extension (`artifactType` says it is one) into `dest`, verified, refusing to
/// replace a file there that differs: [`pull_with`] without overwrite.
pub async fn pull(
    registries: &Registries,
    cache: &BlobCache,
    reference: &Reference,
    dest: &Path,
    progress: &Progress,
) -> Result<PulledExtension> {
    pull_with(registries, cache, reference, dest, false, progress).await
}

/// Pulls an extension into `dest`, verified, merged into what `dest` holds; an existing file
/// with other content is replaced only with `overwrite`.
pub async fn pull_with(
    registries: &Registries,
    cache: &BlobCache,
    reference: &Reference,
    dest: &Path,
    overwrite: bool,
    progress: &Progress,
) -> Result<PulledExtension> {
    // Cancelled by the caller's token or by dropping this future (an aborted task, Ctrl-C):
    // the unpacking thread outlives the future, so it checks before it commits.
    let cancel = progress.cancel_token().child_token();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let client = registries.client(&reference.registry);
    let manifest = crate::oci::pull::resolve_manifest(cache, &client, reference).await?;
    let view = crate::oci::manifest::ManifestView::parse(&manifest.bytes, &manifest.media_type)
        .map_err(|e| refuse(reference, format!("its manifest is not valid JSON: {e}")))?;
    if view.artifact_type() != Some(ARTIFACT_TYPE)
        && view.artifact_type() != Some(CONFIG_MEDIA_TYPE)
    {
        return Err(refuse(
            reference,
            "it is not a provisioning extension".into(),
        ));
    }
    let layer = view
        .layers
        .iter()
        .find(|l| l.media_type == CONTENT_MEDIA_TYPE)
        .ok_or_else(|| refuse(reference, "it has no extension content layer".into()))?;
    let path = cancel
        .run_until_cancelled(cache.fetch(&client, &reference.repository, layer, progress))
        .await
        .ok_or(OciError::Cancelled)??;
    let reference_owned = reference.clone();
    let dest_owned = dest.to_path_buf();
    let index = tokio::task::spawn_blocking(move || {
        unpack_verified(
            &reference_owned,
            &path,
            &dest_owned,
            UnpackLimits::default(),
            overwrite,
            &cancel,
        )
    })
    .await
    .map_err(|e| OciError::Config(format!("unpacking failed: {e}")))??;
    cache.tag(
        &reference.to_string(),
        &Descriptor {
            media_type: manifest.media_type.clone(),
            digest: manifest.digest.clone(),
            size: manifest.bytes.len() as u64,
            artifact_type: Some(ARTIFACT_TYPE.into()),
            annotations: BTreeMap::new(),
            platform: None,
        },
    )?;
    Ok(PulledExtension {
        reference: reference.to_string(),
        digest: manifest.digest,
        name: index.name.clone(),
        version: index.version.clone(),
        directory: dest.to_path_buf(),
        files: index.files.len(),
    })
}

/// What `pull_any` wrote.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Pulled {
    Extension(PulledExtension),
    Files(crate::oci::pull::PullReport),
}

/// Pulls any artifact: an extension is verified and unpacked into `dest` (default `./<name>`),
/// anything else is written as titled files (default `.`). The manifest is resolved once.
/// Existing files that differ are refused: [`pull_any_with`] without overwrite.
pub async fn pull_any(
    registries: &Registries,
    cache: &BlobCache,
    reference: &Reference,
    dest: Option<&Path>,
    progress: &Progress,
) -> Result<Pulled> {
    pull_any_with(registries, cache, reference, dest, false, progress).await
}

/// [`pull_any`], merging into `dest` and replacing files that differ when `overwrite` is set.
pub async fn pull_any_with(
    registries: &Registries,
    cache: &BlobCache,
    reference: &Reference,
    dest: Option<&Path>,
    overwrite: bool,
    progress: &Progress,
) -> Result<Pulled> {
    let client = registries.client(&reference.registry);
    let manifest = crate::oci::pull::resolve_manifest(cache, &client, reference).await?;
    let is_extension =
        crate::oci::manifest::ManifestView::parse(&manifest.bytes, &manifest.media_type)
            .is_ok_and(|v| v.artifact_type() == Some(ARTIFACT_TYPE));
    // Pinned to the digest just resolved, so the pull reads the manifest from the cache.
    let pinned = reference.with_digest(manifest.digest);
    if is_extension {
        let dest = dest
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(reference.name()));
        pull_with(registries, cache, &pinned, &dest, overwrite, progress)
            .await
            .map(Pulled::Extension)
    } else {
        let dest = dest.unwrap_or(Path::new("."));
        crate::oci::pull::pull_with(registries, cache, &pinned, dest, overwrite, progress)
            .await
            .map(Pulled::Files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unpacking thread outlives a cancelled pull; once cancelled it commits nothing.
    #[test]
    fn a_cancelled_unpack_writes_nothing() {
        let sample =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/taskservs/redis/7.2.4");
        let tree = super::super::package::validate(&sample).expect("the sample is valid");
        let work = tempfile::tempdir().unwrap();
        let package = work.path().join("redis.tar.gz");
        super::super::package::package(&tree, &package).unwrap();
        let reference =
            Reference::parse("127.0.0.1:5000/ext/redis:7.2.4", &Default::default()).unwrap();
        let dest = work.path().join("out");

        let cancel = CancellationToken::new();
        cancel.cancel();
        let refused = unpack_verified(
            &reference,
            &package,
            &dest,
            UnpackLimits::default(),
            false,
            &cancel,
        );
        assert!(matches!(refused, Err(OciError::Cancelled)), "{refused:?}");
        assert!(!dest.exists(), "nothing was committed");
        let left: Vec<_> = std::fs::read_dir(work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            ["redis.tar.gz"],
            "no staging directory is left behind"
        );

        let index = unpack_verified(
            &reference,
            &package,
            &dest,
            UnpackLimits::default(),
            false,
            &CancellationToken::new(),
        )
        .expect("an uncancelled unpack commits");
        assert!(dest.join("manifest.yaml").is_file());
        assert!(!index.files.is_empty());
    }

    /// The redis sample packaged into `work`, and a reference to it.
    fn sample_package(work: &Path) -> (PathBuf, Reference) {
        let sample =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/taskservs/redis/7.2.4");
        let tree = super::super::package::validate(&sample).expect("the sample is valid");
        let package = work.join("redis.tar.gz");
        super::super::package::package(&tree, &package).unwrap();
        let reference =
            Reference::parse("127.0.0.1:5000/ext/redis:7.2.4", &Default::default()).unwrap();
        (package, reference)
    }

    fn tar_of(package: &Path) -> Vec<u8> {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(package).unwrap())
            .read_to_end(&mut tar)
            .unwrap();
        tar
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, data).unwrap();
        encoder.finish().unwrap()
    }

    /// A valid package with more entries than the limit is refused by the verification, before
    /// the unpack (which used to be the first to count).
    #[test]
    fn entries_are_capped_before_the_unpack() {
        let work = tempfile::tempdir().unwrap();
        let (package, reference) = sample_package(work.path());
        let limits = UnpackLimits {
            max_entries: 3,
            ..UnpackLimits::default()
        };
        let err = verify_package(&reference, &package, limits).unwrap_err();
        assert!(err.to_string().contains("more than 3 entries"), "{err}");
        verify_package(&reference, &package, UnpackLimits::default()).unwrap();
    }

    /// An index padded past the cap (whitespace keeps it valid JSON) is refused, not read.
    #[test]
    fn the_index_is_capped() {
        let work = tempfile::tempdir().unwrap();
        let (package, reference) = sample_package(work.path());
        let mut archive = tar::Archive::new(std::io::Cursor::new(tar_of(&package)));
        let mut builder = tar::Builder::new(Vec::new());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut header = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            if entry.path().unwrap().to_str() == Some(INDEX_FILE) {
                data.resize(data.len() + MAX_INDEX_BYTES as usize, b' ');
                header.set_size(data.len() as u64);
                header.set_cksum();
            }
            builder.append(&header, &data[..]).unwrap();
        }
        let padded = work.path().join("padded.tar.gz");
        std::fs::write(&padded, gzip(&builder.into_inner().unwrap())).unwrap();
        let err = verify_package(&reference, &padded, UnpackLimits::default()).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    /// A package gzipped as two members (`cat a.gz b.gz`) is read to its end: a single-member
    /// decoder saw only the first half and called the package incomplete.
    #[test]
    fn a_multi_member_package_is_read_whole() {
        let work = tempfile::tempdir().unwrap();
        let (package, reference) = sample_package(work.path());
        let tar = tar_of(&package);
        // Split on a block boundary well inside the archive.
        let half = tar.len() / 2 / 512 * 512;
        let two = work.path().join("two.tar.gz");
        std::fs::write(&two, [gzip(&tar[..half]), gzip(&tar[half..])].concat()).unwrap();
        let dest = work.path().join("out");
        let index = unpack_verified(
            &reference,
            &two,
            &dest,
            UnpackLimits::default(),
            false,
            &CancellationToken::new(),
        )
        .expect("both members are read");
        for file in &index.files {
            assert!(
                std::fs::symlink_metadata(dest.join(&file.path)).is_ok(),
                "{} is missing",
                file.path
            );
        }
    }
}
