//! Publishing extensions: one directory (`oci push`), a whole monorepo
//! (`ROOT/{providers,taskservs,clusters}/*`, concurrently, unchanged versions skipped), or the
//! one extension a CI tag names (`taskservs/kubernetes/v1.28.0`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use serde::Serialize;

use super::artifact::{self, PushStatus};
use super::manifest::ExtensionType;
use super::package::{self, ExtensionTree};
use crate::oci::cache::BlobCache;
use crate::oci::client::{OciError, Registries, RegistryClient};
use crate::oci::progress::Progress;
use crate::oci::reference::version_to_tag;
use crate::oci::{Digest, Reference, ReferenceDefaults};

/// Type directories of a monorepo, in publishing order.
pub const TYPE_DIRS: [&str; 3] = ["providers", "taskservs", "clusters"];

/// Extension directories under a monorepo root: `ROOT/<types>/<name>` holding a
/// `manifest.yaml`, or, for trees that keep several versions, `ROOT/<types>/<name>/<version>`.
pub fn discover(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for type_dir in TYPE_DIRS {
        for dir in sorted_dirs(&root.join(type_dir))? {
            if dir.join("manifest.yaml").is_file() {
                found.push(dir);
            } else {
                found.extend(
                    sorted_dirs(&dir)?
                        .into_iter()
                        .filter(|v| v.join("manifest.yaml").is_file()),
                );
            }
        }
    }
    Ok(found)
}

fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    out.sort();
    Ok(out)
}

/// Where an extension version goes: `<registry>/<namespace>/<name>:<version>`.
pub fn target_reference(
    defaults: &ReferenceDefaults,
    name: &str,
    version: &semver::Version,
) -> Reference {
    let repository = if defaults.namespace.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", defaults.namespace)
    };
    Reference {
        registry: defaults.registry.clone(),
        repository,
        tag: Some(version_to_tag(&version.to_string())),
        digest: None,
    }
}

/// What happened to one extension of a publish run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum PublishStatus {
    Published {
        digest: Digest,
    },
    Replaced {
        digest: Digest,
        previous: Digest,
    },
    Unchanged {
        digest: Digest,
    },
    /// Dry run: it would be published.
    WouldPublish {
        digest: Digest,
    },
    /// The version exists with other content.
    Conflict {
        registry: Digest,
        local: Digest,
    },
    Failed {
        reason: String,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct PublishEntry {
    pub directory: PathBuf,
    pub name: Option<String>,
    pub version: Option<String>,
    pub reference: Option<String>,
    #[serde(flatten)]
    pub status: PublishStatus,
}

impl PublishEntry {
    pub fn failed(&self) -> bool {
        matches!(
            self.status,
            PublishStatus::Failed { .. } | PublishStatus::Conflict { .. }
        )
    }
}

/// Validates, packages and pushes the extension in `dir` to `target`.
pub async fn publish_one(
    registries: &Registries,
    cache: &BlobCache,
    tree: Arc<ExtensionTree>,
    target: &Reference,
    force: bool,
    dry_run: bool,
    progress: &Progress,
) -> Result<PublishStatus, OciError> {
    let package_path = cache.temp_path();
    let guard = RemoveOnDrop(package_path.clone());
    let package = {
        let (packed, path) = (tree.clone(), package_path.clone());
        tokio::task::spawn_blocking(move || package::package(&packed, &path))
            .await
            .map_err(|e| OciError::Config(format!("packaging failed: {e}")))?
            .map_err(|e| OciError::io(&tree.root, e))?
    };
    let built = artifact::build(&tree.manifest, &package);
    let client = registries.client(&target.registry);
    let existing = match compare(&client, target, &built).await? {
        Existing::Missing => None,
        Existing::Same(digest) => return Ok(PublishStatus::Unchanged { digest }),
        Existing::Other(registry) if !force => {
            return Ok(PublishStatus::Conflict {
                registry,
                local: built.digest,
            });
        }
        Existing::Other(registry) => Some(registry),
    };
    if dry_run {
        return Ok(PublishStatus::WouldPublish {
            digest: built.digest,
        });
    }
    let outcome = artifact::push(
        registries,
        target,
        &built,
        &package_path,
        existing,
        force,
        progress,
    )
    .await?;
    drop(guard);
    Ok(match outcome.status {
        PushStatus::Published => PublishStatus::Published {
            digest: outcome.digest,
        },
        PushStatus::Unchanged => PublishStatus::Unchanged {
            digest: outcome.digest,
        },
        PushStatus::Replaced { previous } => PublishStatus::Replaced {
            digest: outcome.digest,
            previous,
        },
    })
}

/// What the registry has under the target's tag, compared with what would be pushed.
enum Existing {
    Missing,
    /// The same extension: the same manifest, or one whose config and content are the same
    /// and only annotations (CI's revision, a date) differ.
    Same(Digest),
    /// Other content.
    Other(Digest),
}

/// One HEAD when the manifest is identical or missing; one GET more when its digest differs,
/// to compare config and content.
async fn compare(
    client: &RegistryClient,
    target: &Reference,
    built: &artifact::ExtensionArtifact,
) -> Result<Existing, OciError> {
    let Some(digest) = client
        .manifest_digest(&target.repository, &target.target())
        .await?
    else {
        return Ok(Existing::Missing);
    };
    if digest == built.digest {
        return Ok(Existing::Same(digest));
    }
    // By digest: the tag may move meanwhile, the comparison is with what HEAD named.
    let fetched = client
        .manifest(&target.repository, &digest.to_string())
        .await?;
    Ok(if artifact::same_content(&fetched.bytes, built) {
        Existing::Same(digest)
    } else {
        Existing::Other(digest)
    })
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Publishes every extension under a monorepo root, `concurrency` at a time.
pub async fn publish_all(
    registries: &Registries,
    cache: &BlobCache,
    dirs: Vec<PathBuf>,
    defaults: &ReferenceDefaults,
    dry_run: bool,
    concurrency: usize,
    progress: &Progress,
) -> Vec<PublishEntry> {
    let entries = futures_util::stream::iter(dirs.into_iter().map(|dir| async move {
        let validated = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || package::validate(&dir)).await
        };
        let validated = match validated {
            Ok(Ok(tree)) => Ok(Arc::new(tree)),
            Ok(Err(e)) => Err(e
                .problems
                .first()
                .map(|p| p.to_string())
                .unwrap_or_else(|| e.to_string())),
            Err(e) => Err(e.to_string()),
        };
        let tree = match validated {
            Ok(tree) => tree,
            Err(reason) => {
                return PublishEntry {
                    directory: dir,
                    name: None,
                    version: None,
                    reference: None,
                    status: PublishStatus::Failed { reason },
                };
            }
        };
        let target = target_reference(defaults, &tree.manifest.name, &tree.manifest.version);
        let status = publish_one(
            registries,
            cache,
            tree.clone(),
            &target,
            false,
            dry_run,
            progress,
        )
        .await
        .unwrap_or_else(|e| PublishStatus::Failed {
            reason: e.to_string(),
        });
        PublishEntry {
            directory: dir,
            name: Some(tree.manifest.name.clone()),
            version: Some(tree.manifest.version.to_string()),
            reference: Some(target.to_string()),
            status,
        }
    }))
    .buffer_unordered(concurrency.max(1));
    let mut entries: Vec<PublishEntry> = entries.collect().await;
    entries.sort_by(|a, b| a.directory.cmp(&b.directory));
    entries
}

/// A CI tag `<type>s/<name>/v<version>` taken apart.
#[derive(Debug, PartialEq, Eq)]
pub struct ReleaseTag {
    pub kind: ExtensionType,
    pub name: String,
    pub version: semver::Version,
}

/// Parses `taskservs/kubernetes/v1.28.0`.
pub fn parse_release_tag(tag: &str) -> Result<ReleaseTag, String> {
    let expected = "expected `<type>s/<name>/v<version>`, like `taskservs/kubernetes/v1.28.0`";
    let parts: Vec<&str> = tag
        .trim()
        .trim_start_matches("refs/tags/")
        .split('/')
        .collect();
    let [kind, name, version] = parts.as_slice() else {
        return Err(format!("`{tag}`: {expected}"));
    };
    let kind = match *kind {
        "providers" => ExtensionType::Provider,
        "taskservs" => ExtensionType::Taskserv,
        "clusters" => ExtensionType::Cluster,
        other => {
            return Err(format!(
                "`{tag}`: `{other}` is not providers, taskservs or clusters; {expected}"
            ));
        }
    };
    let version = version
        .strip_prefix('v')
        .ok_or_else(|| format!("`{tag}`: the version must start with `v`; {expected}"))?;
    let version = semver::Version::parse(version)
        .map_err(|e| format!("`{tag}`: `{version}` is not a semver version ({e})"))?;
    crate::oci::validate_repository(name).map_err(|e| format!("`{tag}`: {e}"))?;
    Ok(ReleaseTag {
        kind,
        name: name.to_string(),
        version,
    })
}

/// The directory a release tag names under `root`, after checking its manifest agrees.
pub fn locate_release(root: &Path, tag: &ReleaseTag) -> Result<PathBuf, String> {
    let base = root.join(tag.kind.plural()).join(&tag.name);
    let candidates = [base.clone(), base.join(tag.version.to_string())];
    let Some(dir) = candidates
        .iter()
        .find(|d| d.join("manifest.yaml").is_file())
    else {
        let mut versions: Vec<String> = sorted_dirs(&base)
            .unwrap_or_default()
            .iter()
            .filter(|d| d.join("manifest.yaml").is_file())
            .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        versions.sort();
        return Err(if versions.is_empty() {
            format!(
                "no extension at {} (looked for manifest.yaml there)",
                base.display()
            )
        } else {
            format!(
                "{} has no version {} (it has {})",
                base.display(),
                tag.version,
                versions.join(", ")
            )
        });
    };
    let (manifest, _) =
        super::manifest::load(&dir.join("manifest.yaml")).map_err(|e| e.to_string())?;
    if manifest.version != tag.version {
        return Err(format!(
            "{}: manifest.yaml says version {} but the tag says {}; bump the manifest or fix the tag",
            dir.display(),
            manifest.version,
            tag.version
        ));
    }
    if manifest.name != tag.name || manifest.kind != tag.kind {
        return Err(format!(
            "{}: manifest.yaml describes {} {} but the tag names {} {}",
            dir.display(),
            manifest.kind,
            manifest.name,
            tag.kind,
            tag.name
        ));
    }
    Ok(dir.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_tags() {
        let t = parse_release_tag("taskservs/kubernetes/v1.28.0").unwrap();
        assert_eq!(t.kind, ExtensionType::Taskserv);
        assert_eq!(t.name, "kubernetes");
        assert_eq!(t.version, semver::Version::new(1, 28, 0));
        assert!(parse_release_tag("refs/tags/providers/aws/v2.0.0").is_ok());
        for bad in [
            "kubernetes/v1",
            "widgets/x/v1.0.0",
            "taskservs/x/1.0.0",
            "taskservs/x/v1.0",
            "taskservs/Bad/v1.0.0",
        ] {
            assert!(parse_release_tag(bad).is_err(), "{bad}");
        }
    }
}
