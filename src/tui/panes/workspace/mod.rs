//! Workspace pane: the modules of `config/provisioning.yaml` by type, edited in memory (add,
//! remove, change the version; undo), each edit re-resolved live by the Dependencies pane, and
//! saved after a diff. Edits go through `workspace::modules`, the same lossless edits the CLI's
//! `module load|unload` make, so comments, order and unknown keys stay as written.

mod dialog;
mod keys;
mod view;

pub use dialog::{AddDialog, Catalog, CatalogEntry, VersionDialog, VersionFor};
pub use keys::Ask;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Effects, LoadState, Message, PaneId};
use crate::extension::manifest::ExtensionType;
use crate::tui::view::GeometryCell;
use crate::tui::worker::{JobId, Snapshot};
use crate::workspace::Workspace;
use crate::workspace::modules::{self, ModuleError, ModuleRow, Wanted};

/// What the pane shows.
#[derive(Clone, Debug, Default)]
pub enum Mode {
    #[default]
    List,
    /// `a`: search the registry's extensions.
    Add(AddDialog),
    /// Choosing a version (after `a`, or `e`).
    Version(Box<VersionDialog>),
    /// `s`: the diff of provisioning.yaml, before saving.
    Diff { scroll: u16 },
}

/// How the latest live resolution of the edits ended (the Dependencies pane says).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resolution {
    /// Nothing asked yet.
    #[default]
    None,
    Resolving,
    Done {
        ok: bool,
        summary: String,
        versions: BTreeMap<String, String>,
    },
}

/// One unsaved edit, for undo.
#[derive(Clone, Debug)]
pub struct Edit {
    /// The text before the edit.
    pub before: String,
    pub what: String,
}

pub struct WorkspacePane {
    /// The workspace root (or, with none, where one would be created).
    pub root: PathBuf,
    pub geometry: GeometryCell,
    pub state: LoadState,
    /// What the worker read last: the lock, what is installed, the registry.
    pub snapshot: Snapshot,
    /// provisioning.yaml as on disk.
    pub saved: String,
    /// provisioning.yaml with the unsaved edits.
    pub text: String,
    /// The modules of `text`, providers first, then taskservs and clusters, each in file order.
    pub rows: Vec<ModuleRow>,
    /// Each module's requirement in the saved file, by (type, name).
    pub saved_requirements: BTreeMap<(String, String), String>,
    pub selected: usize,
    pub undo: Vec<Edit>,
    pub mode: Mode,
    pub resolution: Resolution,
    pub catalog: Catalog,
    /// The install (`r`) running.
    pub install_job: Option<JobId>,
    /// The text being saved.
    pub saving: Option<String>,
    /// The last load asked for the edited text (not the file).
    loading_edits: bool,
}

impl WorkspacePane {
    pub fn new(root: PathBuf) -> WorkspacePane {
        WorkspacePane {
            root,
            geometry: GeometryCell::default(),
            state: LoadState::Idle,
            snapshot: Snapshot::default(),
            saved: String::new(),
            text: String::new(),
            rows: Vec::new(),
            saved_requirements: BTreeMap::new(),
            selected: 0,
            undo: Vec::new(),
            mode: Mode::List,
            resolution: Resolution::None,
            catalog: Catalog::default(),
            install_job: None,
            saving: None,
            loading_edits: false,
        }
    }

    /// True when there is no workspace at the root (after reading it): `i` creates one.
    pub fn is_missing(&self) -> bool {
        self.state == LoadState::Loaded && !self.snapshot.found
    }

    /// True once a workspace has been read and can be edited.
    pub fn is_editable(&self) -> bool {
        self.state == LoadState::Loaded && self.snapshot.found
    }

    /// Why nothing can be edited now (when [`Self::is_editable`] is false).
    pub fn why_not_editable(&self) -> &'static str {
        match self.state {
            LoadState::Failed(_) => {
                "Fix config/provisioning.yaml first (the error says where); ctrl-r reads it again"
            }
            LoadState::Loaded => "No workspace here: press i to create one",
            LoadState::Idle => "The workspace was not read: ctrl-r reads it",
            LoadState::Loading => "The workspace is still being read",
        }
    }

    /// The selected module.
    pub fn selected_row(&self) -> Option<&ModuleRow> {
        self.rows.get(self.selected)
    }

    /// Asks the worker to read the workspace: the file, or (with unsaved edits) the edited
    /// text, so the lock and install states are fresh without losing the edits.
    pub fn load(&mut self, fx: &mut Effects) {
        let edits = self.is_dirty();
        self.loading_edits = edits;
        if !self.is_editable() {
            self.state = LoadState::Loading;
        }
        fx.send(crate::tui::worker::Request::LoadWorkspace {
            root: self.root.clone(),
            text: edits.then(|| self.text.clone()),
        });
    }

    /// Takes in what the worker read.
    pub(super) fn loaded(&mut self, snapshot: Snapshot, fx: &mut Effects) {
        let first = !self.is_editable();
        let from_disk = !std::mem::take(&mut self.loading_edits);
        if from_disk {
            self.saved = snapshot.text.clone();
            self.saved_requirements = requirements(&snapshot.modules);
        }
        if first || !self.is_dirty() {
            self.text = snapshot.text.clone();
            self.undo.clear();
        }
        self.snapshot = snapshot;
        self.state = LoadState::Loaded;
        if self.snapshot.found {
            self.changed(fx);
        }
    }

    /// Makes an unsaved edit with `change` on the text as it is now; on success it can be
    /// undone and is re-resolved live.
    pub fn edit(
        &mut self,
        what: String,
        fx: &mut Effects,
        change: impl FnOnce(&mut Workspace) -> Result<(), ModuleError>,
    ) -> bool {
        if !self.is_editable() {
            fx.info(self.why_not_editable());
            return false;
        }
        let result = Workspace::from_text(&self.root, self.text.clone())
            .map_err(ModuleError::from)
            .and_then(|mut workspace| change(&mut workspace).map(|()| workspace.file.text));
        match result {
            Ok(text) if text == self.text => {
                fx.info(format!("{what}: nothing changed"));
                false
            }
            Ok(text) => {
                let before = std::mem::replace(&mut self.text, text);
                self.undo.push(Edit {
                    before,
                    what: what.clone(),
                });
                self.changed(fx);
                fx.info(format!("{what} (unsaved: s saves, u undoes)"));
                true
            }
            Err(e) => {
                let message = e
                    .to_string()
                    .replace(&format!("{}/", self.root.display()), "");
                fx.error(format!("{what}: {message}"));
                false
            }
        }
    }

    /// Sets module `name` (of `kind`) to ask for `wanted`.
    pub fn set_requirement(
        &mut self,
        kind: ExtensionType,
        name: &str,
        wanted: &Wanted,
        fx: &mut Effects,
    ) -> bool {
        let what = match wanted {
            Wanted::Tag(tag) => format!("{name} set to {tag}"),
            Wanted::Range(range) => format!("{name} set to {range}"),
        };
        self.edit(what, fx, |workspace| {
            let existing = workspace
                .config
                .module(kind, name)
                .cloned()
                .ok_or_else(|| {
                    ModuleError::Usage(format!("{kind} `{name}` is not in provisioning.yaml"))
                })?;
            let entry = modules::changed_entry(&workspace.config, &existing, wanted)?;
            modules::write_entry(workspace, kind, name, &entry).map(|_| ())
        })
    }

    /// Adds registry module `name` of `kind`, asking for `wanted`.
    pub fn add_module(
        &mut self,
        kind: ExtensionType,
        name: &str,
        wanted: &Wanted,
        fx: &mut Effects,
    ) -> bool {
        let shown = match wanted {
            Wanted::Tag(tag) => tag.clone(),
            Wanted::Range(range) => range.to_string(),
        };
        let added = self.edit(format!("added {kind} {name} {shown}"), fx, |workspace| {
            if let Some(existing) = workspace.config.modules.iter().find(|m| m.name == name) {
                return Err(ModuleError::Usage(format!(
                    "`{name}` is already a {} module; change its version with e",
                    existing.kind
                )));
            }
            let config = &workspace.config;
            let via = match config.source_type {
                crate::workspace::SourceType::Local => crate::workspace::SourceType::Oci,
                other => other,
            };
            let repository = crate::oci::Reference::parse(name, &config.extension_defaults())
                .map_err(|e| ModuleError::Usage(e.to_string()))?;
            let entry = modules::registry_entry(config, name, via, &repository, wanted);
            modules::write_entry(workspace, kind, name, &entry).map(|_| ())
        });
        if added && let Some(i) = self.rows.iter().position(|r| r.name == name) {
            self.selected = i;
        }
        added
    }

    /// Removes the selected module.
    pub fn remove_selected(&mut self, fx: &mut Effects) {
        let Some(row) = self.selected_row().cloned() else {
            fx.info("No module selected");
            return;
        };
        let Ok(kind) = row.kind.parse::<ExtensionType>() else {
            return;
        };
        self.edit(
            format!("removed {} {}", row.kind, row.name),
            fx,
            |workspace| modules::remove_entry(workspace, kind, &row.name).map(|_| ()),
        );
    }

    /// Takes back the last unsaved edit.
    pub fn undo(&mut self, fx: &mut Effects) {
        match self.undo.pop() {
            Some(edit) => {
                self.text = edit.before;
                self.changed(fx);
                fx.info(format!("Undone: {}", edit.what));
            }
            None => fx.info("Nothing to undo"),
        }
    }

    /// The text changed (a load or an edit): the rows follow, the Dependencies pane resolves
    /// it again, and the Registry pane learns what the workspace uses.
    fn changed(&mut self, fx: &mut Effects) {
        let selected = self.selected_row().map(|r| r.name.clone());
        if let Ok(workspace) = Workspace::from_text(&self.root, self.text.clone()) {
            let mut rows = modules::list(&workspace);
            for row in &mut rows {
                row.locked = self.snapshot.locked.get(&row.name).cloned();
            }
            rows.sort_by_key(|r| kind_order(&r.kind));
            self.rows = rows;
        }
        self.selected = selected
            .and_then(|name| self.rows.iter().position(|r| r.name == name))
            .unwrap_or(self.selected)
            .min(self.rows.len().saturating_sub(1));
        self.resolution = Resolution::Resolving;
        fx.tell(
            PaneId::Dependencies,
            Message::Resolve {
                root: self.root.clone(),
                text: self.is_dirty().then(|| self.text.clone()),
            },
        );
        fx.tell(
            PaneId::Registry,
            Message::WorkspaceModules(
                self.rows
                    .iter()
                    .map(|r| (r.name.clone(), r.requirement.clone()))
                    .collect(),
            ),
        );
    }

    /// What a row's state column says: unsaved, installed, locked but not installed, …
    pub fn row_state(&self, row: &ModuleRow) -> RowState {
        let key = (row.kind.clone(), row.name.clone());
        match self.saved_requirements.get(&key) {
            None => return RowState::Added,
            Some(saved) if *saved != row.requirement => return RowState::Changed,
            Some(_) => {}
        }
        let Some(locked) = &row.locked else {
            return RowState::NotLocked;
        };
        if !satisfies(&row.requirement, locked) {
            return RowState::LockOutOfDate;
        }
        match self.snapshot.installed.get(&row.name) {
            Some(installed) if installed == locked => RowState::Installed,
            _ => RowState::NotInstalled,
        }
    }
}

/// A module's state, in its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowState {
    Added,
    Changed,
    NotLocked,
    LockOutOfDate,
    NotInstalled,
    Installed,
}

impl RowState {
    pub fn label(self) -> &'static str {
        match self {
            RowState::Added => "added, unsaved",
            RowState::Changed => "changed, unsaved",
            RowState::NotLocked => "not locked",
            RowState::LockOutOfDate => "lock out of date",
            RowState::NotInstalled => "not installed",
            RowState::Installed => "installed",
        }
    }
}

/// Providers, taskservs, clusters.
pub fn kind_order(kind: &str) -> usize {
    ExtensionType::ALL
        .iter()
        .position(|k| k.as_str() == kind)
        .unwrap_or(ExtensionType::ALL.len())
}

fn requirements(rows: &[ModuleRow]) -> BTreeMap<(String, String), String> {
    rows.iter()
        .map(|r| ((r.kind.clone(), r.name.clone()), r.requirement.clone()))
        .collect()
}

/// Whether `version` meets `requirement` (`=1.2.0`, a range, or `local`).
fn satisfies(requirement: &str, version: &str) -> bool {
    let Ok(version) = semver::Version::parse(version) else {
        return true;
    };
    match Wanted::parse(requirement) {
        Ok(Wanted::Tag(tag)) => {
            crate::oci::reference::tag_to_version(&tag).is_none_or(|v| v == version)
        }
        Ok(Wanted::Range(range)) => range.matches(&version),
        Err(_) => true,
    }
}
