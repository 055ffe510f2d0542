//! `workspace migrate-to-oci`: every local module is published to the workspace registry
//! (unless that exact content is there already), its entry rewritten to the `oci://`
//! reference, and `source_type` set to `oci` once no local entry remains. A second run finds
//! nothing local and changes nothing.

use std::sync::Arc;

use serde::Serialize;

use super::edit::quoted;
use super::model::SourceType;
use super::modules::{ModuleError, write_entry};
use super::sources;
use super::{Workspace, edit};
use crate::extension::manifest::ExtensionType;
use crate::extension::publish::{PublishStatus, publish_one, target_reference};
use crate::oci::cache::BlobCache;
use crate::oci::client::Registries;
use crate::oci::progress::Progress;

/// What happened to one local module.
#[derive(Debug, Clone, Serialize)]
pub struct MigratedModule {
    #[serde(rename = "type")]
    pub kind: ExtensionType,
    pub name: String,
    pub directory: String,
    pub version: Option<String>,
    pub reference: Option<String>,
    #[serde(flatten)]
    pub status: PublishStatus,
}

impl MigratedModule {
    pub fn failed(&self) -> bool {
        matches!(
            self.status,
            PublishStatus::Failed { .. } | PublishStatus::Conflict { .. }
        )
    }
}

/// The whole run: each local module, and the diff of `provisioning.yaml`.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    pub modules: Vec<MigratedModule>,
    pub diff: String,
    /// Whether the file was written (never on a dry run).
    pub written: bool,
}

impl Migration {
    pub fn failed(&self) -> usize {
        self.modules.iter().filter(|m| m.failed()).count()
    }
}

/// Runs the migration; with `dry_run`, compares with the registry and shows the diff, but
/// publishes and writes nothing.
pub async fn migrate_to_oci(
    workspace: &mut Workspace,
    registries: &Registries,
    cache: &BlobCache,
    dry_run: bool,
    progress: &Progress,
) -> Result<Migration, ModuleError> {
    let defaults = match (&workspace.config.source_type, &workspace.config.gitea) {
        (SourceType::Gitea, Some(gitea)) => gitea.defaults(),
        _ => workspace.config.oci_defaults(),
    };
    let locals: Vec<_> = workspace
        .config
        .modules
        .iter()
        .filter(|m| m.source_type() == SourceType::Local)
        .cloned()
        .collect();
    let mut results = Vec::new();
    for module in &locals {
        let dir = module.local_dir(workspace).expect("a local module");
        let mut result = MigratedModule {
            kind: module.kind,
            name: module.name.clone(),
            directory: dir.display().to_string(),
            version: None,
            reference: None,
            status: PublishStatus::Failed {
                reason: String::new(),
            },
        };
        let tree = match sources::check_local(&dir, module.kind, Some(&module.name)) {
            Ok(tree) => tree,
            Err(e) => {
                result.status = PublishStatus::Failed {
                    reason: e.to_string(),
                };
                results.push(result);
                continue;
            }
        };
        let target = target_reference(&defaults, &tree.manifest.name, &tree.manifest.version);
        result.version = Some(tree.manifest.version.to_string());
        result.reference = Some(format!("oci://{target}"));
        result.status = match publish_one(
            registries,
            cache,
            Arc::new(tree),
            &target,
            false,
            dry_run,
            progress,
        )
        .await
        {
            Ok(status) => status,
            Err(e) => PublishStatus::Failed {
                reason: e.to_string(),
            },
        };
        if !result.failed() {
            let entry = quoted(&format!("oci://{target}"));
            write_entry(workspace, module.kind, &module.name, &entry)?;
        }
        results.push(result);
    }
    let none_local = !workspace
        .config
        .modules
        .iter()
        .any(|m| m.source_type() == SourceType::Local);
    if none_local && workspace.config.source_type != SourceType::Oci {
        let mut text = workspace.file.text.clone();
        edit::set_scalar(
            &mut text,
            &["dependencies", "extensions", "source_type"],
            "oci",
        )
        .map_err(|source| super::WorkspaceError::Edit {
            path: workspace.config_path.clone(),
            source,
        })?;
        workspace.reload_text(text)?;
    }
    let diff = workspace.diff();
    let written = if dry_run { false } else { workspace.save()? };
    Ok(Migration {
        modules: results,
        diff,
        written,
    })
}
