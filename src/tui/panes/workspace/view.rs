//! Drawing the Workspace pane.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::WorkspacePane;
use crate::tui::view::{View, block, muted_text};

pub(super) fn draw(pane: &WorkspacePane, frame: &mut Frame, area: Rect, view: &View) {
    let outer = block(view.theme, format!(" {} ", pane.root.display()));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    muted_text(frame, view.theme, "Not built yet.", inner);
}
