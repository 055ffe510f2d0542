//! Checks a manifest before the registry stores it: well-formed JSON of a known type, a media
//! type that agrees with the request, and every referenced blob or child manifest present.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ErrorCode, RegistryError, Result};
use super::storage::Storage;
use crate::oci::{Digest, media_type};

/// Manifests larger than this are refused; the spec asks registries to accept at least 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: Digest,
    size: i64,
    #[serde(default)]
    urls: Vec<String>,
}

/// What the registry needs to know of a manifest it accepted.
#[derive(Debug)]
pub struct CheckedManifest {
    pub media_type: String,
    pub subject: Option<Digest>,
    /// The descriptor to list under the subject in the referrers API.
    pub referrer_descriptor: Option<Value>,
}

fn invalid(message: impl Into<String>) -> RegistryError {
    RegistryError::new(ErrorCode::ManifestInvalid, message)
}

/// Validates `bytes` pushed to repository `name` with `content_type` from the request.
pub fn check(
    storage: &Storage,
    name: &str,
    content_type: Option<&str>,
    bytes: &[u8],
    digest: &Digest,
) -> Result<CheckedManifest> {
    let doc: ManifestDoc = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("manifest is not valid JSON of a known shape: {e}")))?;
    if doc.schema_version != Some(2) {
        return Err(invalid(
            "schemaVersion must be 2 (Docker schema 1 manifests are not supported)",
        ));
    }
    // Parameters such as `; charset=utf-8` do not change the type.
    let content_type = content_type
        .map(|ct| ct.split(';').next().unwrap_or("").trim())
        .filter(|ct| !ct.is_empty());
    let media_type = match (content_type, doc.media_type.as_deref()) {
        (Some(header), Some(field)) if header != field => {
            return Err(invalid(format!(
                "Content-Type `{header}` does not match the manifest's mediaType `{field}`"
            )));
        }
        (Some(t), _) | (None, Some(t)) => t.to_string(),
        (None, None) => {
            return Err(invalid(
                "set Content-Type or the manifest's mediaType to say what kind of manifest this is",
            ));
        }
    };
    if !media_type::MANIFEST_TYPES.contains(&media_type.as_str()) {
        return Err(invalid(format!(
            "unsupported manifest media type `{media_type}`; expected one of {}",
            media_type::MANIFEST_TYPES.join(", ")
        )));
    }

    if media_type::is_index(&media_type) {
        let children = doc
            .manifests
            .as_ref()
            .ok_or_else(|| invalid("an index must have a `manifests` list"))?;
        for child in children {
            // Reading the child verifies its bytes: a damaged one counts as absent.
            let known = storage.manifest(name, &child.digest)?.is_some();
            if !known {
                return Err(RegistryError::new(
                    ErrorCode::ManifestBlobUnknown,
                    format!(
                        "index references manifest {} which is not in {name}; push it first",
                        child.digest
                    ),
                ));
            }
        }
    } else {
        let config = doc
            .config
            .as_ref()
            .ok_or_else(|| invalid("an image manifest must have a `config` descriptor"))?;
        let layers = doc
            .layers
            .as_ref()
            .ok_or_else(|| invalid("an image manifest must have a `layers` list"))?;
        for desc in std::iter::once(config).chain(layers) {
            // Foreign layers live elsewhere and are not pushed to this registry.
            if !desc.urls.is_empty() {
                continue;
            }
            match storage.repo_blob_size(name, &desc.digest) {
                None => {
                    return Err(RegistryError::new(
                        ErrorCode::ManifestBlobUnknown,
                        format!(
                            "manifest references blob {} which is not in {name}; push it first",
                            desc.digest
                        ),
                    ));
                }
                Some(size) if size as i64 != desc.size => {
                    // Either the descriptor is wrong or the stored blob is damaged; only the
                    // content can tell, and this is the rare path where reading it is worth it.
                    if !storage.blob_is_intact(&desc.digest)? {
                        storage.drop_damaged_blob(&desc.digest)?;
                        return Err(RegistryError::new(
                            ErrorCode::ManifestBlobUnknown,
                            format!(
                                "blob {} was damaged in storage and has been dropped; push it again, then the manifest",
                                desc.digest
                            ),
                        ));
                    }
                    return Err(invalid(format!(
                        "descriptor of {} says size {} but the blob has {size} bytes",
                        desc.digest, desc.size
                    )));
                }
                Some(_) => {}
            }
        }
    }

    let subject = doc.subject.as_ref().map(|s| s.digest.clone());
    let referrer_descriptor = doc.subject.as_ref().map(|_| {
        let artifact_type = doc
            .artifact_type
            .clone()
            .or_else(|| doc.config.as_ref().map(|c| c.media_type.clone()));
        let mut d = json!({
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": bytes.len(),
        });
        if let Some(t) = artifact_type {
            d["artifactType"] = json!(t);
        }
        if let Some(a) = &doc.annotations {
            d["annotations"] = json!(a);
        }
        d
    });
    Ok(CheckedManifest {
        media_type,
        subject,
        referrer_descriptor,
    })
}

/// The subject of stored manifest bytes, used to drop its referrers entry on delete.
pub fn subject_of(bytes: &[u8]) -> Option<Digest> {
    #[derive(Deserialize)]
    struct WithSubject {
        subject: Option<SubjectRef>,
    }
    #[derive(Deserialize)]
    struct SubjectRef {
        digest: Digest,
    }
    serde_json::from_slice::<WithSubject>(bytes)
        .ok()?
        .subject
        .map(|s| s.digest)
}

/// Every digest a stored manifest references (config, layers, children), for `gc`.
pub fn references_of(bytes: &[u8]) -> Vec<Digest> {
    #[derive(Deserialize)]
    struct Refs {
        config: Option<Ref>,
        #[serde(default)]
        layers: Vec<Ref>,
        #[serde(default)]
        manifests: Vec<Ref>,
    }
    #[derive(Deserialize)]
    struct Ref {
        digest: Digest,
    }
    let Ok(refs) = serde_json::from_slice::<Refs>(bytes) else {
        return Vec::new();
    };
    refs.config
        .into_iter()
        .chain(refs.layers)
        .chain(refs.manifests)
        .map(|r| r.digest)
        .collect()
}
