//! What actions, prompt answers, messages and worker answers do to the Workspace pane.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::WorkspacePane;
use crate::tui::action::Action;
use crate::tui::panes::{Effects, Message};
use crate::tui::view::{ListGeometry, Pane, View};

/// What a Workspace prompt asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {}

impl Pane for WorkspacePane {
    fn hints(&self) -> Vec<Action> {
        Vec::new()
    }

    fn action(&mut self, _action: Action, _fx: &mut Effects) {}

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
        false
    }

    /// Reads the workspace (when there is one) as the workbench opens.
    pub fn start(&mut self, _fx: &mut Effects) {}

    pub fn answer(&mut self, ask: Ask, _input: String, _fx: &mut Effects) {
        match ask {}
    }

    /// A message from another pane.
    pub fn on_message(&mut self, _message: Message, _fx: &mut Effects) {}
}

use crate::oci::Reference;
use crate::oci::browse::{RepositoryEntry, TagEntry};
use crate::tui::worker::{Description, JobId, Snapshot};

/// Worker answers. The Workspace pane sees every tag list, repository list and description
/// (for its add and change dialogs) and keeps those it asked for.
impl WorkspacePane {
    pub fn on_tags(
        &mut self,
        _reference: &Reference,
        _result: &Result<Vec<TagEntry>, String>,
        _fx: &mut Effects,
    ) {
    }

    pub fn on_repositories(
        &mut self,
        _registry: &str,
        _result: &Result<Vec<RepositoryEntry>, String>,
        _fx: &mut Effects,
    ) {
    }

    pub fn on_described(&mut self, _reference: &Reference, _result: &Result<Description, String>) {}

    pub fn on_job_done(
        &mut self,
        _job: JobId,
        _result: &Result<String, String>,
        _fx: &mut Effects,
    ) {
    }

    pub fn on_loaded(
        &mut self,
        _root: &std::path::Path,
        _result: Result<Box<Snapshot>, String>,
        _fx: &mut Effects,
    ) {
    }

    pub fn on_saved(
        &mut self,
        _root: &std::path::Path,
        _result: Result<(), String>,
        _fx: &mut Effects,
    ) {
    }
}
