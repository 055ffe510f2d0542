//! One extension version as one OCI manifest (SPEC section 3): the config blob is the manifest
//! as JSON, one tar+gzip content layer titled `<name>-<version>.tar.gz`, and annotations.
//! Pushing the same content again is a no-op; pulling verifies every file against the
//! package's `oci-manifest.json` before anything becomes visible.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::manifest::ExtensionManifest;
use super::package::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE, INDEX_FILE, Package, PackageIndex,
    package_file_name,
};
use crate::oci::cache::BlobCache;
use crate::oci::client::{Descriptor, OciError, Registries, Result};
use crate::oci::files::{Staging, UnpackLimits};
use crate::oci::manifest::TITLE;
use crate::oci::media_type::OCI_MANIFEST;
use crate::oci::progress::{Outcome, Progress, TransferEvent};
use crate::oci::{Digest, Reference};

/// The manifest and config bytes of an extension version, ready to push.
#[derive(Debug, Clone)]
pub struct ExtensionArtifact {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub layer: Descriptor,
    pub manifest: Vec<u8>,
    pub digest: Digest,
}

/// Builds the artifact for a package. Deterministic: the same package and environment give
/// the same manifest digest (`created` only when `SOURCE_DATE_EPOCH` is set).
pub fn build(manifest: &ExtensionManifest, package: &Package) -> ExtensionArtifact {
    let config = manifest.to_json_bytes();
    let config_digest = Digest::sha256_of(&config);
    let title = package_file_name(manifest);
    let layer = Descriptor {
        media_type: CONTENT_MEDIA_TYPE.to_string(),
        digest: package.digest.clone(),
        size: package.size,
        artifact_type: None,
        annotations: BTreeMap::from([(TITLE.to_string(), title.clone())]),
        platform: None,
    };
    let mut annotations = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            annotations.insert(key.to_string(), v);
        }
    };
    put(
        "org.opencontainers.image.title",
        Some(manifest.name.clone()),
    );
    put(
        "org.opencontainers.image.version",
        Some(manifest.version.to_string()),
    );
    put(
        "org.opencontainers.image.description",
        manifest.description.clone(),
    );
    put("org.opencontainers.image.authors", manifest.author.clone());
    put(
        "org.opencontainers.image.licenses",
        manifest.license.clone(),
    );
    put("org.opencontainers.image.url", manifest.homepage.clone());
    put(
        "org.opencontainers.image.source",
        manifest.repository.clone(),
    );
    put("org.opencontainers.image.revision", source_revision());
    put("org.opencontainers.image.created", created_from_env());
    put(
        "dev.provisioning.extension.name",
        Some(manifest.name.clone()),
    );
    put(
        "dev.provisioning.extension.type",
        Some(manifest.kind.to_string()),
    );
    let document = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config_digest.to_string(),
            "size": config.len(),
        },
        "layers": [layer],
        "annotations": annotations,
    });
    let bytes = serde_json::to_vec(&document).expect("JSON values serialize");
    ExtensionArtifact {
        digest: Digest::sha256_of(&bytes),
        config,
        config_digest,
        layer,
        manifest: bytes,
    }
}

/// The commit CI builds from, when it says.
fn source_revision() -> Option<String> {
    [
        "PROVISIONING_SOURCE_REVISION",
        "GITHUB_SHA",
        "CI_COMMIT_SHA",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok())
}

/// `SOURCE_DATE_EPOCH` as RFC 3339, for reproducible builds that want a date.
fn created_from_env() -> Option<String> {
    let seconds: i64 = std::env::var("SOURCE_DATE_EPOCH")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(rfc3339(seconds))
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC, proleptic Gregorian).
fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How a push ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    Published,
    /// The registry already had exactly this content under the tag.
    Unchanged,
    /// The tag pointed at other content and `--force` replaced it.
    Replaced {
        previous: Digest,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct PushOutcome {
    pub reference: String,
    pub digest: Digest,
    pub status: PushStatus,
}

/// Why a push was refused before anything was sent.
pub fn conflict_error(reference: &Reference, existing: &Digest, ours: &Digest) -> OciError {
    OciError::Protocol {
        registry: reference.registry.clone(),
        message: format!(
            "{reference} already exists with other content\n  registry: {existing}\n  local:    {ours}\nbump the version, or pass --force to replace it"
        ),
    }
}

/// Pushes an extension version to `target` (its tag is the version). `existing` is what the
/// registry has under that tag now (the caller looked, once).
pub async fn push(
    registries: &Registries,
    target: &Reference,
    artifact: &ExtensionArtifact,
    package_path: &Path,
    existing: Option<Digest>,
    force: bool,
    progress: &Progress,
) -> Result<PushOutcome> {
    let client = registries.client(&target.registry);
    let repo = &target.repository;
    let tag = target.target();
    let status = match existing {
        Some(d) if d == artifact.digest => {
            return Ok(PushOutcome {
                reference: target.to_string(),
                digest: artifact.digest.clone(),
                status: PushStatus::Unchanged,
            });
        }
        Some(d) if !force => return Err(conflict_error(target, &d, &artifact.digest)),
        Some(d) => PushStatus::Replaced { previous: d },
        None => PushStatus::Published,
    };
    let config = Descriptor {
        media_type: CONFIG_MEDIA_TYPE.into(),
        digest: artifact.config_digest.clone(),
        size: artifact.config.len() as u64,
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    };
    if client.blob_size(repo, &config.digest).await?.is_none() {
        client
            .upload_bytes(repo, &config.digest, &artifact.config)
            .await?;
    }
    if client
        .blob_size(repo, &artifact.layer.digest)
        .await?
        .is_some()
    {
        progress.emit(TransferEvent::Finished {
            digest: artifact.layer.digest.clone(),
            outcome: Outcome::AlreadyPresent,
        });
    } else {
        client
            .upload_blob(repo, &artifact.layer, package_path, progress)
            .await?;
    }
    client
        .put_manifest(repo, &tag, OCI_MANIFEST, &artifact.manifest)
        .await?;
    Ok(PushOutcome {
        reference: target.to_string(),
        digest: artifact.digest.clone(),
        status,
    })
}

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
/// against its `oci-manifest.json` (size, mode, sha256, nothing missing, nothing extra). Once
/// `cancel` is cancelled nothing is committed: the staged files are removed instead.
pub fn unpack_verified(
    reference: &Reference,
    package: &Path,
    dest: &Path,
    limits: UnpackLimits,
    cancel: &CancellationToken,
) -> Result<PackageIndex> {
    let index = verify_package(reference, package, limits)?;
    let to_error = |e: crate::oci::files::FilesError| refuse(reference, e.to_string());
    let mut staging = Staging::new(dest).map_err(to_error)?;
    let mut file = std::fs::File::open(package).map_err(|e| OciError::io(package, e))?;
    staging
        .unpack_tar("", &mut file, true, limits)
        .map_err(to_error)?;
    if cancel.is_cancelled() {
        return Err(OciError::Cancelled);
    }
    staging.commit(true).map_err(to_error)?;
    Ok(index)
}

/// Reads the tarball once, hashing every entry, and compares it with the index inside it.
fn verify_package(
    reference: &Reference,
    package: &Path,
    limits: UnpackLimits,
) -> Result<PackageIndex> {
    let file = std::fs::File::open(package).map_err(|e| OciError::io(package, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut seen: HashMap<String, (u64, u32, String)> = HashMap::new();
    let mut index: Option<PackageIndex> = None;
    let mut total = 0u64;
    let entries = archive.entries().map_err(|e| {
        refuse(
            reference,
            format!("the package is not a tar+gzip archive: {e}"),
        )
    })?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| refuse(reference, format!("the package is damaged: {e}")))?;
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

/// Pulls an extension (`artifactType` says it is one) into `dest`, verified.
pub async fn pull(
    registries: &Registries,
    cache: &BlobCache,
    reference: &Reference,
    dest: &Path,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

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
            &CancellationToken::new(),
        )
        .expect("an uncancelled unpack commits");
        assert!(dest.join("manifest.yaml").is_file());
        assert!(!index.files.is_empty());
    }
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
pub async fn pull_any(
    registries: &Registries,
    cache: &BlobCache,
    reference: &Reference,
    dest: Option<&Path>,
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
        pull(registries, cache, &pinned, &dest, progress)
            .await
            .map(Pulled::Extension)
    } else {
        let dest = dest.unwrap_or(Path::new("."));
        crate::oci::pull::pull(registries, cache, &pinned, dest, progress)
            .await
            .map(Pulled::Files)
    }
}
