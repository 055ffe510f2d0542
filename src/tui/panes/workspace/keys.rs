//! What actions, prompt answers, messages and worker answers do to the Workspace pane.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Mode, Resolution, WorkspacePane};
use crate::oci::Reference;
use crate::oci::browse::{RepositoryEntry, TagEntry};
use crate::tui::action::Action;
use crate::tui::panes::{Effects, LoadState, Message};
use crate::tui::view::{ListGeometry, Pane, View};
use crate::tui::worker::{Description, JobId, Request, Snapshot};
use crate::workspace::modules::Wanted;

/// What a Workspace prompt asks for (its dialogs are its own, so none yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {}

impl Pane for WorkspacePane {
    fn hints(&self) -> Vec<Action> {
        match &self.mode {
            Mode::Add(_) | Mode::Version(_) => Vec::new(),
            Mode::Diff { .. } => vec![Action::Up, Action::Down],
            Mode::List if self.is_missing() => vec![Action::InitWorkspace],
            Mode::List if !self.is_editable() => vec![Action::Refresh],
            Mode::List => {
                let mut hints = vec![
                    Action::AddModule,
                    Action::RemoveModule,
                    Action::ChangeVersion,
                ];
                if self.is_dirty() {
                    hints.extend([Action::Save, Action::Undo]);
                } else {
                    hints.push(Action::Install);
                }
                hints
            }
        }
    }

    /// The dialogs and the diff take their keys before the keymap: typing goes into the search
    /// or the version, esc closes them.
    fn raw_key(&mut self, key: &KeyEvent, fx: &mut Effects) -> bool {
        match &mut self.mode {
            Mode::List => false,
            Mode::Add(_) => self.add_key(key, fx),
            Mode::Version(_) => self.version_key(key, fx),
            Mode::Diff { .. } => match key.code {
                KeyCode::Esc => {
                    self.mode = Mode::List;
                    true
                }
                KeyCode::Enter => {
                    self.save(fx);
                    true
                }
                _ => false,
            },
        }
    }

    fn action(&mut self, action: Action, fx: &mut Effects) {
        if let Mode::Diff { scroll } = &mut self.mode {
            let page = self.geometry.get().page() as u16;
            match action {
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::Down => *scroll = scroll.saturating_add(1),
                Action::PageUp => *scroll = scroll.saturating_sub(page),
                Action::PageDown => *scroll = scroll.saturating_add(page),
                Action::Top => *scroll = 0,
                Action::Save => self.save(fx),
                Action::Back => self.mode = Mode::List,
                _ => {}
            }
            return;
        }
        let page = self.geometry.get().page();
        let last = self.rows.len().saturating_sub(1);
        let move_by = |selected: usize, delta: isize| {
            (selected as isize + delta).clamp(0, last as isize) as usize
        };
        match action {
            Action::Up => self.selected = move_by(self.selected, -1),
            Action::Down => self.selected = move_by(self.selected, 1),
            Action::PageUp => self.selected = move_by(self.selected, -page),
            Action::PageDown => self.selected = move_by(self.selected, page),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = last,
            Action::AddModule => self.open_add(fx),
            Action::RemoveModule => self.remove_selected(fx),
            Action::ChangeVersion | Action::Open => self.open_change(fx),
            Action::Undo => self.undo(fx),
            Action::Save => {
                if !self.is_dirty() {
                    fx.info("No unsaved edits: provisioning.yaml is as on disk");
                } else {
                    self.mode = Mode::Diff { scroll: 0 };
                }
            }
            Action::Install => self.install(fx),
            Action::Refresh => self.load(fx),
            Action::InitWorkspace => {
                if self.is_missing() {
                    self.state = LoadState::Loading;
                    fx.send(Request::InitWorkspace {
                        root: self.root.clone(),
                    });
                } else {
                    fx.info("There is a workspace here already");
                }
            }
            _ => {}
        }
    }

    fn cancel_loading(&mut self) {
        // Esc stops the worker's read (it is a fetch); ctrl-r asks again.
        if self.state == LoadState::Loading {
            self.state = LoadState::Idle;
        }
        if self.catalog.state == LoadState::Loading {
            self.catalog.state = LoadState::Failed("cancelled".into());
        }
        if let Mode::Version(dialog) = &mut self.mode
            && dialog.state == LoadState::Loading
        {
            dialog.state = LoadState::Failed("cancelled".into());
        }
    }

    fn select_index(&mut self, index: usize, _fx: &mut Effects) {
        if matches!(self.mode, Mode::List) && index < self.rows.len() {
            self.selected = index;
        }
    }

    fn geometry(&self) -> ListGeometry {
        self.geometry.get()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, view: &View) {
        super::view::draw(self, frame, area, view);
    }
}

impl WorkspacePane {
    /// Whether provisioning.yaml has edits not saved yet (quitting asks first).
    pub fn is_dirty(&self) -> bool {
        self.is_editable() && self.text != self.saved
    }

    /// Reads the workspace (when there is one) as the workbench opens.
    pub fn start(&mut self, fx: &mut Effects) {
        self.load(fx);
    }

    pub fn answer(&mut self, ask: Ask, _input: String, _fx: &mut Effects) {
        match ask {}
    }

    /// Enter in the diff: writes the edited text.
    fn save(&mut self, fx: &mut Effects) {
        if self.saving.is_some() {
            return;
        }
        self.saving = Some(self.text.clone());
        fx.send(Request::SaveWorkspace {
            root: self.root.clone(),
            text: self.text.clone(),
        });
    }

    /// `r`: `dep resolve` (resolve, lock, install) as a job in Transfers.
    fn install(&mut self, fx: &mut Effects) {
        if !self.is_editable() {
            fx.info(self.why_not_editable());
        } else if self.is_dirty() {
            fx.info("Save first (s): r installs what provisioning.yaml on disk says");
        } else if self.install_job.is_some() {
            fx.info("Already installing (4 Transfers)");
        } else {
            let description = format!("dep resolve in {}", self.root.display());
            let request = Request::Install {
                job: 0,
                root: self.root.clone(),
            };
            self.install_job = Some(fx.job("install", description, request));
        }
    }

    /// A message from another pane.
    pub fn on_message(&mut self, message: Message, fx: &mut Effects) {
        match message {
            Message::Resolution {
                ok,
                summary,
                versions,
            } => {
                self.resolution = Resolution::Done {
                    ok,
                    summary,
                    versions: versions.into_iter().collect(),
                }
            }
            Message::AddToWorkspace { reference, version } => {
                self.add_prefilled(reference, version, fx)
            }
            Message::SetRequirement { name, requirement } => {
                let Some(kind) = self
                    .rows
                    .iter()
                    .find(|r| r.name == name)
                    .and_then(|r| r.kind.parse().ok())
                else {
                    fx.error(format!("`{name}` is not a module of provisioning.yaml"));
                    return;
                };
                match Wanted::parse(&requirement) {
                    Ok(wanted) => {
                        self.set_requirement(kind, &name, &wanted, fx);
                    }
                    Err(e) => fx.error(e),
                }
            }
            _ => {}
        }
    }
}

/// Worker answers. The Workspace pane sees every tag list, repository list and description
/// (for its add and change dialogs) and keeps those it asked for.
impl WorkspacePane {
    pub fn on_tags(
        &mut self,
        reference: &Reference,
        result: &Result<Vec<TagEntry>, String>,
        _fx: &mut Effects,
    ) {
        self.tags_arrived(reference, result);
    }

    pub fn on_repositories(
        &mut self,
        registry: &str,
        result: &Result<Vec<RepositoryEntry>, String>,
        fx: &mut Effects,
    ) {
        self.repositories_arrived(registry, result, fx);
    }

    pub fn on_described(&mut self, reference: &Reference, result: &Result<Description, String>) {
        self.description_arrived(reference, result);
    }

    pub fn on_job_done(&mut self, job: JobId, _result: &Result<String, String>, fx: &mut Effects) {
        if self.install_job == Some(job) {
            self.install_job = None;
            self.load(fx);
        }
    }

    pub fn on_loaded(
        &mut self,
        root: &std::path::Path,
        result: Result<Box<Snapshot>, String>,
        fx: &mut Effects,
    ) {
        if root != self.root {
            return;
        }
        match result {
            Ok(snapshot) => self.loaded(*snapshot, fx),
            Err(e) => {
                if self.is_editable() {
                    fx.error(format!("Could not read the workspace: {e}"));
                } else {
                    self.state = LoadState::Failed(e);
                }
            }
        }
    }

    pub fn on_saved(
        &mut self,
        root: &std::path::Path,
        result: Result<(), String>,
        fx: &mut Effects,
    ) {
        if root != self.root {
            return;
        }
        let Some(text) = self.saving.take() else {
            return;
        };
        self.mode = Mode::List;
        match result {
            Ok(()) => {
                self.saved = text;
                if !self.is_dirty() {
                    self.undo.clear();
                }
                fx.info("Saved config/provisioning.yaml; r resolves and installs it");
                self.load(fx);
            }
            Err(e) => fx.error(format!("Not saved: {e}; your edits are kept")),
        }
    }
}
