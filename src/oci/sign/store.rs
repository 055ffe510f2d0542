//! Signatures in the registry, laid out as cosign lays them: the `sha256-<hex>.sig` tag in the
//! signed artifact's repository holds an OCI image manifest whose config is an image config
//! (as go-containerregistry writes it for cosign) and whose layers are simple-signing payloads,
//! each annotated with its base64 signature. Another signature appends a layer.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{
    SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, Signer, SimpleSigning, signature_tag,
};
use crate::oci::client::{Descriptor, OciError, RegistryClient};
use crate::oci::manifest::ManifestView;
use crate::oci::{Digest, media_type};

/// The config media type of a signature manifest.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// A payload larger than this is not read: cosign's are a few hundred bytes.
const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;
/// Go's zero time, which cosign's signature images carry.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One stored signature: the payload bytes exactly as pulled, and the base64 signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignatureLayer {
    pub digest: Digest,
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub signature: String,
}

/// What `sign_manifest` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignatureOutcome {
    /// `sha256-<hex>.sig`.
    pub tag: String,
    /// The signature manifest's digest.
    pub manifest: Digest,
    /// Signatures under the tag now.
    pub count: usize,
    /// This key had already signed this digest there (cosign keeps one such signature).
    pub unchanged: bool,
}

/// The image config cosign's signature manifests carry (go-containerregistry's field order).
#[derive(Serialize, Deserialize)]
struct SignatureConfig {
    architecture: String,
    created: String,
    history: Vec<History>,
    os: String,
    rootfs: RootFs,
    config: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct History {
    created: String,
}

#[derive(Serialize, Deserialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: String,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignatureManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: Digest::sha256_of(bytes),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    }
}

/// The signature layers of the manifest under `sha256-<hex>.sig`, if there is one.
async fn existing_layers(
    client: &RegistryClient,
    repo: &str,
    digest: &Digest,
) -> Result<Vec<Descriptor>, OciError> {
    match client.manifest(repo, &signature_tag(digest)).await {
        Ok(found) => {
            let view = ManifestView::parse(&found.bytes, &found.media_type).map_err(|e| {
                OciError::Protocol {
                    registry: client.registry().to_string(),
                    message: format!(
                        "the signature manifest {repo}:{} is not valid JSON ({e})",
                        signature_tag(digest)
                    ),
                }
            })?;
            Ok(view.layers)
        }
        Err(OciError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Signs `digest` (in `repo` of `client`'s registry) and stores the signature where cosign
/// does, appending to the signatures already there.
pub async fn sign_manifest(
    client: &RegistryClient,
    repo: &str,
    digest: &Digest,
    signer: &Signer,
) -> Result<SignatureOutcome, color_eyre::Report> {
    let docker_reference = format!("{}/{repo}", client.registry());
    let payload = SimpleSigning::new(&docker_reference, digest).to_bytes();
    let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign(&payload)?);
    let mut layer = descriptor(SIMPLE_SIGNING_MEDIA_TYPE, &payload);
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.to_string(), signature);

    let mut layers = existing_layers(client, repo, digest).await?;
    let tag = signature_tag(digest);
    // Like cosign's duplicate detector: a signature this key already made for this digest
    // is kept, not joined by another (ECDSA signatures differ at each signing).
    let verifier = super::Verifier::from_pem(signer.public_pem.as_bytes())?;
    let mut already = false;
    for stored in fetch_signatures(client, repo, digest).await? {
        if verifier.verify_layer(&stored, digest).is_ok() {
            already = true;
            break;
        }
    }
    if already {
        let manifest = client
            .manifest_digest(repo, &tag)
            .await?
            .unwrap_or_else(|| layer.digest.clone());
        return Ok(SignatureOutcome {
            tag,
            manifest,
            count: layers.len(),
            unchanged: true,
        });
    }
    client.upload_bytes(repo, &layer.digest, &payload).await?;
    layers.push(layer);

    let config = SignatureConfig {
        architecture: String::new(),
        created: ZERO_TIME.to_string(),
        history: layers
            .iter()
            .map(|_| History {
                created: ZERO_TIME.to_string(),
            })
            .collect(),
        os: String::new(),
        rootfs: RootFs {
            kind: "layers".to_string(),
            diff_ids: layers.iter().map(|l| l.digest.to_string()).collect(),
        },
        config: serde_json::Map::new(),
    };
    let config_bytes = serde_json::to_vec(&config)?;
    let config_descriptor = descriptor(CONFIG_MEDIA_TYPE, &config_bytes);
    client
        .upload_bytes(repo, &config_descriptor.digest, &config_bytes)
        .await?;
    let manifest = serde_json::to_vec(&SignatureManifest {
        schema_version: 2,
        media_type: media_type::OCI_MANIFEST,
        config: &config_descriptor,
        layers: &layers,
    })?;
    let pushed = client
        .put_manifest(repo, &tag, media_type::OCI_MANIFEST, &manifest)
        .await?;
    Ok(SignatureOutcome {
        tag,
        manifest: pushed,
        count: layers.len(),
        unchanged: false,
    })
}

/// The signatures stored for `digest` in `repo`: each simple-signing layer's payload (pulled
/// and digest-checked) and signature annotation. None stored: an empty list.
pub async fn fetch_signatures(
    client: &RegistryClient,
    repo: &str,
    digest: &Digest,
) -> Result<Vec<SignatureLayer>, OciError> {
    let mut found = Vec::new();
    for layer in existing_layers(client, repo, digest).await? {
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            continue;
        }
        let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
            continue;
        };
        let payload = client
            .blob_bytes(repo, &layer.digest, MAX_PAYLOAD_BYTES)
            .await?;
        found.push(SignatureLayer {
            digest: layer.digest.clone(),
            payload,
            signature: signature.clone(),
        });
    }
    Ok(found)
}
