//! The Dependencies pane: frame time with a large graph, and edit → re-resolved tree.

fn main() {}
