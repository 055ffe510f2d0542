//! The bundled samples: every extension and version of the inventory, made by the scaffolder
//! from the embedded `inventory.yaml` (versions, dependencies) and `catalog.yaml`
//! (descriptions). `assets/samples/` holds the same trees on disk (a test keeps them equal),
//! and `demo` regenerates them anywhere, so the binary needs no source checkout.

use std::path::{Path, PathBuf};

use semver::Version;
use serde_yaml::Value;

use super::manifest::ExtensionType;
use super::scaffold::{self, ScaffoldSpec};

const INVENTORY: &str = include_str!("../../assets/samples/inventory.yaml");
const CATALOG: &str = include_str!("../../assets/samples/catalog.yaml");
const WORKSPACE: &str = include_str!("../../assets/samples/workspace/config/provisioning.yaml");

const TYPE_DIRS: [(&str, ExtensionType); 3] = [
    ("providers", ExtensionType::Provider),
    ("taskservs", ExtensionType::Taskserv),
    ("clusters", ExtensionType::Cluster),
];

fn text(value: &Value, what: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{what}: expected a string, found {value:?}"))
}

/// Every sample with its place in a monorepo (`<type>s/<name>/<version>`).
pub fn specs() -> Result<Vec<(PathBuf, ScaffoldSpec)>, String> {
    let inventory: Value =
        serde_yaml::from_str(INVENTORY).map_err(|e| format!("inventory.yaml: {e}"))?;
    let catalog: Value = serde_yaml::from_str(CATALOG).map_err(|e| format!("catalog.yaml: {e}"))?;
    let mut specs = Vec::new();
    for (plural, kind) in TYPE_DIRS {
        let extensions = inventory[plural]
            .as_mapping()
            .ok_or_else(|| format!("inventory.yaml has no {plural}"))?;
        for (name, versions) in extensions {
            let name = text(name, "extension name")?;
            let about = &catalog[plural][name.as_str()];
            let versions = versions.as_mapping().ok_or_else(|| {
                format!("inventory.yaml: {plural}.{name} is not a map of versions")
            })?;
            for (version, entry) in versions {
                let version = text(version, "version")?;
                let mut spec = ScaffoldSpec::new(kind, name.clone());
                spec.version =
                    Version::parse(&version).map_err(|e| format!("{name} {version}: {e}"))?;
                spec.description = Some(text(&about["description"], "description")?);
                spec.homepage = Some(text(&about["homepage"], "homepage")?);
                spec.tags = about["tags"]
                    .as_sequence()
                    .map(|tags| {
                        tags.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(deps) = entry.get("dependencies").and_then(Value::as_mapping) {
                    spec.dependencies = deps
                        .iter()
                        .map(|(n, r)| Ok((text(n, "dependency")?, text(r, "range")?)))
                        .collect::<Result<_, String>>()?;
                }
                spec.min_provisioning_version = entry
                    .get("min_provisioning_version")
                    .map(|v| {
                        text(v, "min_provisioning_version")
                            .and_then(|t| Version::parse(&t).map_err(|e| e.to_string()))
                    })
                    .transpose()?;
                specs.push((Path::new(plural).join(&name).join(&version), spec));
            }
        }
    }
    Ok(specs)
}

/// Writes every sample under `root` (a monorepo layout); returns the extension directories.
pub fn write_all(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut dirs = Vec::new();
    for (relative, spec) in specs()? {
        let dir = root.join(relative);
        scaffold::generate_into(&spec, &dir).map_err(|e| e.to_string())?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// The sample workspace's `config/provisioning.yaml`, pointed at `registry` instead of
/// `localhost:5000`.
pub fn workspace_config(registry: &str) -> String {
    WORKSPACE.replace("localhost:5000", registry)
}

/// Writes every sample under `root` and publishes them all to `defaults`' registry and
/// namespace; returns how many versions were published, or every failure.
pub async fn publish(
    root: &Path,
    registries: &crate::oci::client::Registries,
    cache: &crate::oci::cache::BlobCache,
    defaults: &crate::oci::ReferenceDefaults,
) -> Result<usize, String> {
    use super::publish::{PublishStatus, publish_all};
    let dirs = write_all(root)?;
    let progress = crate::oci::progress::Progress::silent();
    let entries = publish_all(registries, cache, dirs, defaults, false, 8, &progress).await;
    let failed: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.status {
            PublishStatus::Failed { reason } => {
                Some(format!("{}: {reason}", e.directory.display()))
            }
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        publish_platform(registries, &defaults.registry).await?;
        Ok(entries.len())
    } else {
        Err(format!(
            "publishing the samples failed:\n{}",
            failed.join("\n")
        ))
    }
}

/// The small core and platform artifacts the sample workspace pins: (repository, tag, what).
pub const PLATFORM_ARTIFACTS: [(&str, &str, &str); 3] = [
    ("provisioning-core", "v3.5.0", "core"),
    ("provisioning-platform/orchestrator", "v1.2.0", "platform"),
    ("provisioning-platform/control-center", "v1.2.0", "platform"),
];

/// Publishes [`PLATFORM_ARTIFACTS`] to `registry`: each a config naming it and one small text
/// layer, so `dep resolve` in the sample workspace can pin them by digest. Publishing again
/// changes nothing (the bytes are the same).
pub async fn publish_platform(
    registries: &crate::oci::client::Registries,
    registry: &str,
) -> Result<(), String> {
    use crate::oci::Digest;
    let client = registries.client(registry);
    for (repository, tag, what) in PLATFORM_ARTIFACTS {
        let name = repository.rsplit('/').next().unwrap_or(repository);
        let version = tag.trim_start_matches('v');
        let config = serde_json::to_vec(
            &serde_json::json!({"name": name, "version": version, "kind": what}),
        )
        .expect("JSON values serialize");
        let layer =
            format!("{name} {version}: a sample {what} artifact of the provisioning demo\n")
                .into_bytes();
        let (config_digest, layer_digest) = (Digest::sha256_of(&config), Digest::sha256_of(&layer));
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::oci::media_type::OCI_MANIFEST,
            "artifactType": format!("application/vnd.provisioning.{what}.v1"),
            "config": {"mediaType": format!("application/vnd.provisioning.{what}.config.v1+json"), "digest": config_digest.to_string(), "size": config.len()},
            "layers": [{"mediaType": "text/plain", "digest": layer_digest.to_string(), "size": layer.len(),
                        "annotations": {crate::oci::manifest::TITLE: "README.txt"}}],
            "annotations": {"org.opencontainers.image.title": name, "org.opencontainers.image.version": version},
        }))
        .expect("JSON values serialize");
        let fail = |e: crate::oci::client::OciError| {
            format!("publishing {registry}/{repository}:{tag}: {e}")
        };
        for (digest, bytes) in [(&config_digest, &config), (&layer_digest, &layer)] {
            if client
                .blob_size(repository, digest)
                .await
                .map_err(fail)?
                .is_none()
            {
                client
                    .upload_bytes(repository, digest, bytes)
                    .await
                    .map_err(fail)?;
            }
        }
        client
            .put_manifest(
                repository,
                tag,
                crate::oci::media_type::OCI_MANIFEST,
                &manifest,
            )
            .await
            .map_err(fail)?;
    }
    Ok(())
}
