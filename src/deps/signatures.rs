//! The workspace's signature policy (`signatures: {keys, require: true}`): every registry
//! extension resolved or installed must carry a cosign signature (the `sha256-<hex>.sig` tag
//! beside it) that one of the trusted public keys verifies, over its manifest digest.
//!
//! Signature manifests and payloads go through the blob cache: a payload read once is not
//! downloaded again, and offline the signature tag recorded in the cache is all there is.

use crate::oci::cache::BlobCache;
use crate::oci::client::{OciError, Registries};
use crate::oci::manifest::ManifestView;
use crate::oci::sign::{
    self, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer, Verifier,
};
use crate::oci::{Digest, Reference};
use crate::workspace::Workspace;

/// A payload larger than this is not read.
const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;

/// The trusted keys, when the workspace requires signatures; `None` when it does not.
pub fn required_keys(workspace: &Workspace) -> Result<Option<Vec<(String, Verifier)>>, String> {
    let Some(policy) = &workspace.config.signatures else {
        return Ok(None);
    };
    if !policy.require {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for path in &policy.keys {
        let full = workspace.root.join(path);
        let pem = std::fs::read(&full).map_err(|e| {
            format!(
                "cannot read the trusted key {} named in signatures.keys ({e}); fix the path in {}",
                full.display(),
                workspace.config_path.display()
            )
        })?;
        let verifier = Verifier::from_pem(&pem)
            .map_err(|e| format!("the trusted key {} in signatures.keys: {e}", full.display()))?;
        keys.push((path.display().to_string(), verifier));
    }
    Ok(Some(keys))
}

/// The signature layers of `digest`, through the cache.
async fn cached_signatures(
    registries: &Registries,
    cache: &BlobCache,
    offline: bool,
    reference: &Reference,
    digest: &Digest,
) -> Result<Vec<SignatureLayer>, OciError> {
    let tag = sign::signature_tag(digest);
    let repo = &reference.repository;
    let ref_name = format!("{}/{repo}:{tag}", reference.registry);
    let client = registries.client(&reference.registry);
    let (bytes, media_type) = if offline {
        let Some(descriptor) = cache.lookup(&ref_name) else {
            return Ok(Vec::new());
        };
        match cache.read(&descriptor.digest) {
            Some(bytes) => (bytes, descriptor.media_type),
            None => return Ok(Vec::new()),
        }
    } else {
        match client.manifest(repo, &tag).await {
            Ok(found) => {
                cache.put(&found.digest, &found.bytes)?;
                let descriptor = crate::oci::client::Descriptor {
                    media_type: found.media_type.clone(),
                    digest: found.digest.clone(),
                    size: found.bytes.len() as u64,
                    artifact_type: None,
                    annotations: Default::default(),
                    platform: None,
                };
                cache.tag(&ref_name, &descriptor)?;
                (found.bytes, found.media_type)
            }
            Err(OciError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let Ok(view) = ManifestView::parse(&bytes, &media_type) else {
        return Ok(Vec::new());
    };
    let mut layers = Vec::new();
    for layer in view.layers {
        if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
            continue;
        }
        let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
            continue;
        };
        let payload = match cache.read(&layer.digest) {
            Some(bytes) => bytes,
            None if offline => continue,
            None => {
                let bytes = client
                    .blob_bytes(repo, &layer.digest, MAX_PAYLOAD_BYTES)
                    .await?;
                cache.put(&layer.digest, &bytes)?;
                bytes
            }
        };
        layers.push(SignatureLayer {
            digest: layer.digest.clone(),
            payload,
            signature: signature.clone(),
        });
    }
    Ok(layers)
}

/// Checks that each `(name, reference, digest)` is signed by one of `keys`; the error names
/// every extension that is not, and the way out.
pub async fn check_signed(
    registries: &Registries,
    cache: &BlobCache,
    offline: bool,
    keys: &[(String, Verifier)],
    extensions: &[(&str, &Reference, &Digest)],
) -> Result<(), String> {
    let mut refused = Vec::new();
    for &(name, reference, digest) in extensions {
        let layers = cached_signatures(registries, cache, offline, reference, digest)
            .await
            .map_err(|e| format!("cannot read the signatures of {name} ({reference}): {e}"))?;
        if layers.is_empty() {
            refused.push(format!("{name} ({reference}, {digest}) is not signed"));
            continue;
        }
        let ok = layers.iter().any(|layer| {
            keys.iter()
                .any(|(_, key)| key.verify_layer(layer, digest).is_ok())
        });
        if !ok {
            refused.push(format!(
                "{name} ({reference}, {digest}) has {} signature(s), none by a trusted key",
                layers.len()
            ));
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the workspace requires signatures (signatures.require) by {}: {}; sign it with `provisioning oci sign REF --key KEY` using a trusted key, or add its signer's public key to signatures.keys",
        keys.iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        refused.join("; ")
    ))
}
