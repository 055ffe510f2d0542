//! Dependencies pane.

mod keys;
mod view;

pub use keys::Ask;

use std::path::PathBuf;

use crate::tui::view::GeometryCell;

pub struct DependenciesPane {
    /// The workspace root (or, with none, where one would be created).
    pub root: PathBuf,
    pub geometry: GeometryCell,
}

impl DependenciesPane {
    pub fn new(root: PathBuf) -> DependenciesPane {
        DependenciesPane {
            root,
            geometry: GeometryCell::default(),
        }
    }
}
