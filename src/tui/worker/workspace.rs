//! The workspace for the Workspace pane: read, save, create, and install (`dep resolve`).
//! Paths in what goes back to the pane are relative to the workspace root, which the pane
//! shows in its title.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::{Context, JobId, Request, Response};
use crate::deps::install::{INSTALL_DIR, installed_marker};
use crate::deps::lock::{Lockfile, inputs_hash, lock_path};
use crate::deps::resolve::ResolveOptions;
use crate::deps::sync::{SyncOptions, sync};
use crate::workspace::init::{InitOptions, init};
use crate::workspace::modules::{ModuleRow, list};
use crate::workspace::{CONFIG_FILE, ConfigFile, Workspace, WorkspaceError, validate};

/// A workspace as the Workspace pane shows it.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// False when the root has no `config/provisioning.yaml` (the pane offers to create one);
    /// everything else is empty then.
    pub found: bool,
    /// provisioning.yaml as read (or as given, with unsaved edits).
    pub text: String,
    /// The modules, in file order.
    pub modules: Vec<ModuleRow>,
    /// The locked version of every extension in `config/provisioning.lock`.
    pub locked: BTreeMap<String, String>,
    /// The installed version of every extension installed under `.provisioning/extensions`.
    pub installed: BTreeMap<String, String>,
    /// Whether `config/provisioning.lock` was written for these modules (`dep resolve`
    /// updates it when not); `None` when there is no lock, or it cannot be read (said in
    /// `diagnostics`).
    pub lock_current: Option<bool>,
    /// Where new modules come from: the extensions' registry and namespace.
    pub registry: String,
    pub namespace: String,
    /// Warnings about the file (`config/provisioning.yaml:LINE:COLUMN: …`) and the lock.
    pub diagnostics: Vec<String>,
}

pub(super) async fn run(_ctx: &Context, request: Request) -> Response {
    match request {
        Request::LoadWorkspace { root, text } => {
            let result = load(&root, text).map(Box::new);
            Response::WorkspaceLoaded { root, result }
        }
        Request::SaveWorkspace { root, text } => {
            let result = save(&root, text);
            Response::WorkspaceSaved { root, result }
        }
        Request::InitWorkspace { root } => {
            let result = init(&root, &InitOptions::default())
                .map_err(|e| relative(&root, e.to_string()))
                .and_then(|_| load(&root, None))
                .map(Box::new);
            Response::WorkspaceLoaded { root, result }
        }
        other => {
            tracing::error!(?other, "not a workspace request");
            Response::WorkspaceLoaded {
                root: PathBuf::new(),
                result: Err("not a workspace request".into()),
            }
        }
    }
}

/// `message` with the root's paths written relative to it.
fn relative(root: &Path, message: String) -> String {
    let prefix = format!("{}/", root.display());
    message.replace(&prefix, "")
}

/// Reads the workspace at `root`, with `text` in place of its provisioning.yaml when given.
fn load(root: &Path, text: Option<String>) -> Result<Snapshot, String> {
    let path = root.join(CONFIG_FILE);
    let text = match text {
        Some(text) => text,
        None if !path.exists() && !root.join("config").is_file() => {
            return Ok(Snapshot::default());
        }
        None => {
            ConfigFile::read(&path)
                .map_err(|e| relative(root, e.to_string()))?
                .text
        }
    };
    let workspace = Workspace::from_text(root, text).map_err(|e| match e {
        WorkspaceError::Invalid(diagnostics) => diagnostics
            .iter()
            .map(|d| relative(root, d.to_string()))
            .collect::<Vec<_>>()
            .join("\n"),
        other => relative(root, other.to_string()),
    })?;
    let mut diagnostics: Vec<String> = workspace
        .warnings
        .iter()
        .map(|d| relative(root, d.to_string()))
        .collect();
    let (mut locked, mut lock_current) = (BTreeMap::new(), None);
    let mut installed = BTreeMap::new();
    let extensions = root.join(INSTALL_DIR);
    match Lockfile::read(&lock_path(&workspace)) {
        Ok(Some(file)) => {
            lock_current = Some(file.inputs == inputs_hash(&workspace));
            for extension in &file.extensions {
                locked.insert(extension.name.clone(), extension.version.to_string());
                let dir = extensions
                    .join(extension.kind.plural())
                    .join(&extension.name);
                if let Some(marker) = installed_marker(&dir) {
                    installed.insert(extension.name.clone(), marker.version);
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            diagnostics.push(relative(root, e.to_string()));
        }
    }
    let mut modules = list(&workspace);
    for module in &mut modules {
        module.locked = locked.get(&module.name).cloned();
        if !installed.contains_key(&module.name) {
            let dir = extensions
                .join(format!("{}s", module.kind))
                .join(&module.name);
            if let Some(marker) = installed_marker(&dir) {
                installed.insert(module.name.clone(), marker.version);
            }
        }
    }
    let defaults = workspace.config.extension_defaults();
    Ok(Snapshot {
        found: true,
        text: workspace.file.text.clone(),
        modules,
        locked,
        installed,
        lock_current,
        registry: defaults.registry,
        namespace: defaults.namespace,
        diagnostics,
    })
}

/// Writes `text` as the workspace's provisioning.yaml: checked first, then written to a temp
/// file beside it (with its permissions) and renamed over it.
fn save(root: &Path, text: String) -> Result<(), String> {
    let path = root.join(CONFIG_FILE);
    if let Err(diagnostics) = validate::check(&path, &text) {
        let problems: Vec<String> = diagnostics
            .iter()
            .map(|d| relative(root, d.to_string()))
            .collect();
        return Err(format!("{}\nnothing was written", problems.join("\n")));
    }
    let mut file = ConfigFile::read(&path).map_err(|e| relative(root, e.to_string()))?;
    file.text = text;
    file.save()
        .map(|_| ())
        .map_err(|e| relative(root, e.to_string()))
}

/// `dep resolve` at `root`: resolve, write the lock, install; blob progress goes to the job.
pub(super) async fn install(
    ctx: &Context,
    job: JobId,
    root: PathBuf,
    cancel: CancellationToken,
) -> Response {
    let result = async {
        let workspace = Workspace::load(&root).map_err(|e| relative(&root, e.to_string()))?;
        let mut resolve = ResolveOptions::new(ctx.registries.clone(), ctx.cache.clone());
        resolve.cancel = cancel.clone();
        let mut options = SyncOptions::new(resolve);
        options.progress = super::job_progress(&ctx.out, job, cancel.clone());
        let outcome = sync(&workspace, options).await.map_err(|e| {
            if cancel.is_cancelled() {
                "cancelled".to_string()
            } else {
                relative(&root, e.to_string())
            }
        })?;
        let lock = if outcome.lock_written {
            "config/provisioning.lock written"
        } else {
            "config/provisioning.lock unchanged"
        };
        let report = outcome.install.unwrap_or_default();
        Ok(format!(
            "{lock}; {} installed, {} unchanged, {} removed",
            report.installed.len(),
            report.unchanged.len(),
            report.removed.len()
        ))
    }
    .await;
    Response::JobDone { job, result }
}
