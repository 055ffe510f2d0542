//! Dependencies pane: the workspace's resolved graph as a tree, filled in live from the
//! resolver's events, with a panel explaining the selected extension.

mod keys;
pub mod model;
mod panel;
pub mod tree;
mod view;

pub use keys::Ask;

use std::cell::RefCell;
use std::path::PathBuf;

use tui_tree_widget::TreeState;

use self::model::{Live, Model};
use self::tree::Built;
use super::LoadState;
use crate::tui::input::LineInput;
use crate::tui::view::GeometryCell;
use crate::tui::worker::{Outcome, Request};

pub struct DependenciesPane {
    /// The workspace root (or, with none, where one would be created).
    pub root: PathBuf,
    pub geometry: GeometryCell,
    /// The resolution asked for last; answers of older ones are ignored.
    pub generation: u64,
    /// `Loading` while the latest resolution runs; `Failed` when it failed or was cancelled.
    pub state: LoadState,
    /// What the running resolution has said so far.
    pub live: Live,
    /// The last finished resolution.
    pub outcome: Option<Box<Outcome>>,
    /// The outcome is not the latest request's (that one runs, failed or was cancelled).
    pub stale: bool,
    /// Whether the latest request was for unsaved edits.
    pub edited: bool,
    /// The extension the view is inverted around ("why is this here").
    pub invert: Option<String>,
    pub filter: LineInput,
    pub filtering: bool,
    /// The selected row.
    pub selected: usize,
    /// What the tree is drawn from, and its rows.
    pub model: Model,
    pub built: Built,
    tree_state: RefCell<TreeState<String>>,
}

impl DependenciesPane {
    pub fn new(root: PathBuf) -> DependenciesPane {
        DependenciesPane {
            root,
            geometry: GeometryCell::default(),
            generation: 0,
            state: LoadState::Idle,
            live: Live::default(),
            outcome: None,
            stale: false,
            edited: false,
            invert: None,
            filter: LineInput::default(),
            filtering: false,
            selected: 0,
            model: Model::default(),
            built: Built::default(),
            tree_state: RefCell::new(TreeState::default()),
        }
    }

    /// Starts a resolution of the workspace at the pane's root, with `text` in place of its
    /// provisioning.yaml (unsaved edits); returns the request to send.
    pub fn resolve(&mut self, text: Option<String>) -> Request {
        self.generation += 1;
        self.state = LoadState::Loading;
        self.live = Live::default();
        self.stale = self.outcome.is_some();
        self.edited = text.is_some();
        self.rebuild();
        Request::Resolve {
            generation: self.generation,
            root: self.root.clone(),
            text,
        }
    }

    /// Whether a resolution is running.
    pub fn resolving(&self) -> bool {
        self.state == LoadState::Loading
    }

    /// The names of the workspace's modules, as the last outcome knew them.
    fn modules(&self) -> Vec<String> {
        self.outcome
            .iter()
            .flat_map(|o| o.modules.iter().map(|m| m.name.clone()))
            .collect()
    }

    /// Whether the tree shows the running resolution rather than the last outcome.
    pub fn showing_live(&self) -> bool {
        (self.resolving() && !self.live.is_empty())
            || (self.outcome.is_none() && !self.live.is_empty())
    }

    /// Rebuilds the model and the rows, keeping the selection on the same path (or name).
    pub fn rebuild(&mut self) {
        let keep = self.built.rows.get(self.selected).cloned();
        self.model = if self.showing_live() {
            self.live.model(&self.modules())
        } else if let Some(outcome) = &self.outcome {
            Model::from_outcome(outcome)
        } else {
            Model::default()
        };
        if let Some(name) = &self.invert
            && !self.model.nodes.contains_key(name)
        {
            self.invert = None;
        }
        self.built = match &self.invert {
            Some(name) => tree::inverted(&self.model, name),
            None => tree::forward(&self.model, self.filter.text()),
        };
        self.selected = keep
            .and_then(|row| {
                self.built
                    .rows
                    .iter()
                    .position(|r| r.path == row.path)
                    .or_else(|| self.built.rows.iter().position(|r| r.name() == row.name()))
            })
            .unwrap_or(0)
            .min(self.built.rows.len().saturating_sub(1));
    }

    /// The name on the selected row.
    pub fn selected_name(&self) -> Option<&str> {
        self.built.rows.get(self.selected).map(|r| r.name())
    }

    /// The rows' names as drawn, indented two spaces a level (for tests and logs).
    pub fn lines(&self) -> Vec<String> {
        self.built
            .rows
            .iter()
            .map(|r| format!("{}{}", "  ".repeat(r.depth()), r.name()))
            .collect()
    }

    /// Selects the first row showing `name`; false when there is none.
    pub fn select_name(&mut self, name: &str) -> bool {
        match self.built.rows.iter().position(|r| r.name() == name) {
            Some(i) => {
                self.selected = i;
                true
            }
            None => false,
        }
    }
}
