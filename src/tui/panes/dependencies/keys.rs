//! What actions, prompt answers, messages and worker answers do to the Dependencies pane.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::DependenciesPane;
use crate::tui::action::Action;
use crate::tui::panes::{Effects, Message};
use crate::tui::view::{ListGeometry, Pane, View};

/// What a Dependencies prompt asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {}

impl Pane for DependenciesPane {
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

impl DependenciesPane {
    pub fn answer(&mut self, ask: Ask, _input: String, _fx: &mut Effects) {
        match ask {}
    }

    /// A message from another pane.
    pub fn on_message(&mut self, _message: Message, _fx: &mut Effects) {}
}

use crate::deps::ResolveEvent;
use crate::tui::worker::Outcome;

/// Worker answers: the resolver's events, then its outcome, for the latest generation only.
impl DependenciesPane {
    pub fn on_event(&mut self, _generation: u64, _event: ResolveEvent) {}

    pub fn on_resolved(
        &mut self,
        _generation: u64,
        _result: Result<Box<Outcome>, String>,
        _fx: &mut Effects,
    ) {
    }
}
