//! Workspaces: a directory with `config/provisioning.yaml` in the seed's format — which
//! extensions an infrastructure uses, and from where.
//!
//! - [`model`]: what the file says, and which registry settings win ([`WorkspaceConfig`]).
//! - [`validate`]: reading it with every problem placed at `file:line:column`.
//! - [`yaml`], [`edit`], [`file`]: edits that keep the user's file as written, saved atomically.
//! - [`modules`], [`sources`], [`migrate`], [`init`]: the operations behind `module …` and
//!   `workspace …`.

pub mod diff;
pub mod edit;
pub mod file;
pub mod init;
pub mod migrate;
pub mod model;
pub mod modules;
pub mod sources;
pub mod validate;
pub mod yaml;

/// The old home of [`expand_home`], kept for callers not yet moved to the model.
pub mod config {
    pub use super::model::expand_home;
}

use std::path::{Path, PathBuf};

pub use file::ConfigFile;
pub use model::{
    EffectiveRegistry, ModuleEntry, ModuleSource, Requirement, SourceType, WorkspaceConfig,
    expand_home,
};

use crate::extension::manifest::{Diagnostic, Severity};

/// The configuration file, relative to the workspace root.
pub const CONFIG_FILE: &str = "config/provisioning.yaml";

/// Why a workspace cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{}: no config/provisioning.yaml here; create one with `provisioning workspace init {}` or pass another --workspace", .0.display(), .0.display())]
    NotAWorkspace(PathBuf),
    #[error("no workspace named `{name}` in {}; create it with `provisioning workspace init --name {name}`, or give its directory", dir.display())]
    UnknownName { name: String, dir: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}; the file was left as it was", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("{} changed on disk since it was read; nothing was written — run the command again", .0.display())]
    Changed(PathBuf),
    #[error("{}: {source}; edit it by hand", path.display())]
    Edit {
        path: PathBuf,
        source: edit::EditError,
    },
    #[error("{} already exists; it was left as it was", .0.display())]
    Exists(PathBuf),
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A workspace found on disk: its file as read and what it says.
#[derive(Clone, Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub config: WorkspaceConfig,
    /// Warnings found while reading it.
    pub warnings: Vec<Diagnostic>,
    /// The file's text, for edits.
    pub file: ConfigFile,
}

impl Workspace {
    /// Loads and checks the workspace at `root`.
    pub fn load(root: &Path) -> Result<Workspace, WorkspaceError> {
        let config_path = root.join(CONFIG_FILE);
        if !config_path.is_file() {
            if config_path.exists() || root.join("config").is_file() {
                return Err(WorkspaceError::Read {
                    path: config_path,
                    source: std::io::Error::other("it is not a regular file"),
                });
            }
            return Err(WorkspaceError::NotAWorkspace(root.to_path_buf()));
        }
        let file = ConfigFile::read(&config_path)?;
        let (config, warnings) =
            validate::check(&config_path, &file.text).map_err(WorkspaceError::Invalid)?;
        Ok(Workspace {
            root: root.to_path_buf(),
            config_path,
            config,
            warnings,
            file,
        })
    }

    /// `explicit` (from `--workspace`), else `$PROVISIONING_WORKSPACE`, else the nearest
    /// directory upward from `start` with `config/provisioning.yaml`; `None` when there is none.
    pub fn discover(
        explicit: Option<&Path>,
        start: &Path,
    ) -> Result<Option<Workspace>, WorkspaceError> {
        if let Some(dir) = explicit {
            return Workspace::load(dir).map(Some);
        }
        if let Some(dir) = std::env::var_os("PROVISIONING_WORKSPACE") {
            return Workspace::load(Path::new(&dir)).map(Some);
        }
        for dir in start.ancestors() {
            if dir.join(CONFIG_FILE).is_file() {
                return Workspace::load(dir).map(Some);
            }
        }
        Ok(None)
    }

    /// A workspace named on the command line: a directory (anything with a `/`, `.` or that
    /// exists), else a name under [`workspaces_dir`] (the seed's `workspace_dev`).
    pub fn locate(arg: &str) -> Result<Workspace, WorkspaceError> {
        Workspace::load(&locate_root(arg)?)
    }

    /// The workspace at `root` as if its provisioning.yaml read `text` (unsaved edits in the
    /// workbench); nothing is read from disk, and saving it refuses to replace a file.
    pub fn from_text(root: &Path, text: String) -> Result<Workspace, WorkspaceError> {
        let config_path = root.join(CONFIG_FILE);
        let (config, warnings) =
            validate::check(&config_path, &text).map_err(WorkspaceError::Invalid)?;
        Ok(Workspace {
            root: root.to_path_buf(),
            file: ConfigFile::new(&config_path, text),
            config_path,
            config,
            warnings,
        })
    }

    /// Re-reads the file and checks the edited text; the edits are kept only if it is valid.
    pub fn reload_text(&mut self, text: String) -> Result<(), WorkspaceError> {
        let (config, warnings) =
            validate::check(&self.config_path, &text).map_err(WorkspaceError::Invalid)?;
        self.file.text = text;
        self.config = config;
        self.warnings = warnings;
        Ok(())
    }

    /// Writes the edits (atomically, refusing a file changed since it was read); whether
    /// anything was written.
    pub fn save(&mut self) -> Result<bool, WorkspaceError> {
        self.file.save()
    }

    /// The edits so far as a unified diff.
    pub fn diff(&self) -> String {
        self.file.diff(CONFIG_FILE)
    }

    /// A path written in the file, relative to the workspace root unless absolute.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }
}

/// The root directory a command-line WORKSPACE argument names.
pub fn locate_root(arg: &str) -> Result<PathBuf, WorkspaceError> {
    let path = Path::new(arg);
    let looks_like_path = arg.contains(std::path::MAIN_SEPARATOR)
        || arg.contains('/')
        || arg.starts_with('.')
        || path.is_absolute();
    if looks_like_path || path.join(CONFIG_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    let named = workspaces_dir().join(arg);
    if named.join(CONFIG_FILE).is_file() {
        return Ok(named);
    }
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    Err(WorkspaceError::UnknownName {
        name: arg.to_string(),
        dir: workspaces_dir(),
    })
}

/// Where named workspaces live: `$PROVISIONING_WORKSPACES_DIR`, else `<data dir>/workspaces`.
pub fn workspaces_dir() -> PathBuf {
    std::env::var_os("PROVISIONING_WORKSPACES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::paths::data_dir().join("workspaces"))
}

/// Only the errors of a diagnostic list.
pub fn errors(diagnostics: &[Diagnostic]) -> impl Iterator<Item = &Diagnostic> {
    diagnostics.iter().filter(|d| d.severity == Severity::Error)
}
