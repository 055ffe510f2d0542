//! One extension version as one OCI manifest (SPEC section 3): the config blob is the manifest
//! as JSON, one tar+gzip content layer titled `<name>-<version>.tar.gz`, and annotations.
//! Pushing the same content again is a no-op. Pulling is in [`super::pull`] (re-exported here):
//! it verifies every file against the package's `oci-manifest.json` before anything becomes
//! visible.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::manifest::ExtensionManifest;
use super::package::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE, Package, package_file_name,
};
pub use super::pull::{
    MAX_INDEX_BYTES, Pulled, PulledExtension, pull, pull_any, pull_any_with, pull_with,
    unpack_verified,
};
use crate::oci::client::{Descriptor, OciError, Registries, Result};
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

/// Whether `manifest` (as a registry holds it) carries the same extension as `artifact`: the
/// same config blob, the same content layer and the same artifact type. Annotations are not
/// compared: the revision and date CI puts there change with every commit while the content
/// stays the same, and a version must not look changed (and so conflict) for that.
pub fn same_content(manifest: &[u8], artifact: &ExtensionArtifact) -> bool {
    let Ok(view) = crate::oci::manifest::ManifestView::parse(manifest, OCI_MANIFEST) else {
        return false;
    };
    let config_matches = view
        .config
        .as_ref()
        .is_some_and(|c| c.digest == artifact.config_digest && c.media_type == CONFIG_MEDIA_TYPE);
    let layers_match = matches!(
        view.layers.as_slice(),
        [layer] if layer.digest == artifact.layer.digest
            && layer.media_type == artifact.layer.media_type
            && layer.size == artifact.layer.size
    );
    config_matches && layers_match && view.artifact_type() == Some(ARTIFACT_TYPE)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
