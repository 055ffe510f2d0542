//! Workspace pane.

mod keys;
mod view;

pub use keys::Ask;

use std::path::PathBuf;

use crate::tui::view::GeometryCell;

pub struct WorkspacePane {
    /// The workspace root (or, with none, where one would be created).
    pub root: PathBuf,
    pub geometry: GeometryCell,
}

impl WorkspacePane {
    pub fn new(root: PathBuf) -> WorkspacePane {
        WorkspacePane {
            root,
            geometry: GeometryCell::default(),
        }
    }
}
