//! Where modules come from.
//!
//! - `oci`: a repository `<registry>/<namespace>/NAME` of any OCI registry; tags are versions.
//! - `gitea`: Gitea's built-in OCI package registry. `extensions.gitea: {url, organization}`
//!   maps NAME to `<host of url>/<organization>/NAME`, which Gitea serves under
//!   `/v2/<organization>/NAME/…`; `gitea://NAME[:TAG]` (modules, `core.source`) expands the
//!   same way. From there on it is an OCI registry like any other.
//! - `local`: an extension directory on disk, checked like `oci package validate`.

use std::path::{Path, PathBuf};

use semver::Version;

use super::model::Requirement;
use crate::extension::manifest::{ExtensionManifest, ExtensionType};
use crate::extension::package::{self, CONFIG_MEDIA_TYPE, ExtensionTree};
use crate::oci::client::{OciError, Registries};
use crate::oci::manifest::ManifestView;
use crate::oci::reference::tag_to_version;
use crate::oci::{Digest, Reference};

/// An extension version found in a registry.
#[derive(Debug, Clone)]
pub struct RemoteVersion {
    /// With the version's tag.
    pub reference: Reference,
    pub version: Version,
    pub digest: Digest,
    pub manifest: ExtensionManifest,
}

/// Why a module cannot be taken from its source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "{repository} does not exist in {registry}; check the name with `provisioning oci search`"
    )]
    UnknownName {
        registry: String,
        repository: String,
    },
    #[error("{repository} has no version {wanted}; it has {available}")]
    NoVersion {
        repository: String,
        wanted: String,
        available: String,
    },
    #[error("{reference} is a {actual}, not a {expected}; load it as `module load {actual} …`")]
    WrongType {
        reference: String,
        expected: ExtensionType,
        actual: ExtensionType,
    },
    #[error("{reference} is not a provisioning extension (artifact type {artifact_type})")]
    NotAnExtension {
        reference: String,
        artifact_type: String,
    },
    #[error("{0}")]
    Registry(#[from] OciError),
    #[error("{} is not a usable extension directory:\n{reason}", path.display())]
    InvalidLocal { path: PathBuf, reason: String },
    #[error("{} is a {actual}, not a {expected}", path.display())]
    LocalWrongType {
        path: PathBuf,
        expected: ExtensionType,
        actual: ExtensionType,
    },
    #[error("{} holds extension `{actual}`, not `{expected}`", path.display())]
    LocalWrongName {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// The newest version of `repository` (a reference without tag) that `requirement` accepts,
/// read from the registry and checked to be an extension of type `kind`.
pub async fn find_remote(
    registries: &Registries,
    repository: &Reference,
    kind: ExtensionType,
    requirement: &Requirement,
) -> Result<RemoteVersion, SourceError> {
    let client = registries.client(&repository.registry);
    let tags = match client.tags(&repository.repository).await {
        Ok(tags) => tags,
        Err(OciError::NotFound { .. }) => {
            return Err(SourceError::UnknownName {
                registry: repository.registry.clone(),
                repository: repository.repository.clone(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut versions: Vec<(Version, String)> = tags
        .into_iter()
        .filter_map(|t| tag_to_version(&t).map(|v| (v, t)))
        .collect();
    if versions.is_empty() {
        return Err(SourceError::UnknownName {
            registry: repository.registry.clone(),
            repository: format!("{} (no version tags)", repository.repository),
        });
    }
    versions.sort();
    let chosen = versions.iter().rev().find(|(v, _)| match requirement {
        Requirement::Exact(want) => v == want,
        Requirement::Range(range) => range.matches(v),
        Requirement::Local => true,
    });
    let Some((version, tag)) = chosen.cloned() else {
        let mut shown: Vec<String> = versions.iter().rev().map(|(v, _)| v.to_string()).collect();
        if shown.len() > 8 {
            shown.truncate(8);
            shown.push("…".into());
        }
        return Err(SourceError::NoVersion {
            repository: repository.repository_path(),
            wanted: requirement.to_string(),
            available: shown.join(", "),
        });
    };
    let reference = repository.with_tag(&tag);
    let fetched = client.manifest(&reference.repository, &tag).await?;
    let view = ManifestView::parse(&fetched.bytes, &fetched.media_type).map_err(|e| {
        OciError::Protocol {
            registry: reference.registry.clone(),
            message: format!("{reference}: the manifest does not parse: {e}"),
        }
    })?;
    let config = view
        .config
        .as_ref()
        .filter(|c| c.media_type == CONFIG_MEDIA_TYPE)
        .ok_or_else(|| SourceError::NotAnExtension {
            reference: reference.to_string(),
            artifact_type: view.artifact_type().unwrap_or("none").to_string(),
        })?;
    let bytes = client
        .blob_bytes(&reference.repository, &config.digest, 1 << 20)
        .await?;
    let manifest = ExtensionManifest::from_json_slice(&bytes).map_err(|e| OciError::Protocol {
        registry: reference.registry.clone(),
        message: format!("{reference}: {e}"),
    })?;
    if manifest.kind != kind {
        return Err(SourceError::WrongType {
            reference: reference.to_string(),
            expected: kind,
            actual: manifest.kind,
        });
    }
    Ok(RemoteVersion {
        reference,
        version,
        digest: fetched.digest,
        manifest,
    })
}

/// Checks a local extension directory like `oci package validate`, and that it is the
/// extension the entry names.
pub fn check_local(
    path: &Path,
    kind: ExtensionType,
    name: Option<&str>,
) -> Result<ExtensionTree, SourceError> {
    let tree = package::validate(path).map_err(|e| SourceError::InvalidLocal {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if tree.manifest.kind != kind {
        return Err(SourceError::LocalWrongType {
            path: path.to_path_buf(),
            expected: kind,
            actual: tree.manifest.kind,
        });
    }
    if let Some(name) = name
        && tree.manifest.name != name
    {
        return Err(SourceError::LocalWrongName {
            path: path.to_path_buf(),
            expected: name.to_string(),
            actual: tree.manifest.name.clone(),
        });
    }
    Ok(tree)
}
