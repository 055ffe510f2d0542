//! Drawing the Dependencies pane: the tree (tui-tree-widget) and, beside it on a wide terminal
//! or below it on a narrow one, the panel for the selected extension.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use tui_tree_widget::{Tree, TreeItem};

use super::DependenciesPane;
use super::model::{Model, Status};
use super::tree::TreeNode;
use crate::tui::panes::LoadState;
use crate::tui::theme::Theme;
use crate::tui::view::{ListGeometry, View, block};
use crate::tui::worker::resolve::{LockState, NodeLock};

/// From this width on, the panel sits beside the tree; narrower, below it.
pub const SIDE_BY_SIDE: u16 = 100;

pub(super) fn draw(pane: &DependenciesPane, frame: &mut Frame, area: Rect, view: &View) {
    let theme = view.theme;
    if pane.built.rows.is_empty() && pane.outcome.is_none() {
        empty(pane, frame, area, theme);
        return;
    }
    let wide = area.width >= SIDE_BY_SIDE;
    let [tree_area, panel_area] = if wide {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    };
    draw_tree(pane, frame, tree_area, theme, wide);
    let panel = super::panel::lines(pane, theme);
    let outer = block(theme, " selected ");
    frame.render_widget(
        Paragraph::new(panel)
            .block(outer)
            .style(theme.base)
            .wrap(Wrap { trim: false }),
        panel_area,
    );
}

/// No tree yet: how to get one, what is running, or what went wrong.
fn empty(pane: &DependenciesPane, frame: &mut Frame, area: Rect, theme: &Theme) {
    let outer = block(theme, format!(" Dependencies · {} ", pane.root.display()));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let text = match &pane.state {
        LoadState::Loading => {
            Paragraph::new("Resolving the workspace… (esc cancels)").style(theme.muted)
        }
        LoadState::Failed(e) => Paragraph::new(vec![
            Line::styled(format!("The resolution failed: {e}"), theme.error),
            Line::raw(""),
            Line::styled("ctrl-r resolves the saved workspace again.", theme.muted),
        ]),
        _ => Paragraph::new(vec![
            Line::raw("No resolution yet."),
            Line::raw(""),
            Line::styled(
                "The Workspace pane (3) resolves the workspace when it reads it and after each edit; ctrl-r resolves the saved workspace here.",
                theme.muted,
            ),
        ]),
    };
    frame.render_widget(text.wrap(Wrap { trim: false }), inner);
}

/// The title: what is shown, how many, the lock, and whether it is current.
fn title(pane: &DependenciesPane) -> String {
    let mut parts = vec![" Dependencies".to_string()];
    if let Some(name) = &pane.invert {
        parts.push(format!("why {name} is here"));
    }
    let count = pane.model.nodes.len();
    if pane.showing_live() {
        parts.push(match &pane.state {
            LoadState::Loading => format!("resolving… {count} so far"),
            LoadState::Failed(e) if e.starts_with("cancelled") => {
                format!("cancelled after {count} names")
            }
            _ => format!("stopped after {count} names"),
        });
    } else if let Some(outcome) = &pane.outcome {
        parts.push(format!("{count} extensions"));
        if outcome.edited {
            parts.push("unsaved".into());
        }
        parts.push(match &outcome.lock {
            LockState::Missing => "no lock yet".into(),
            LockState::Current => {
                let installed = outcome
                    .extensions
                    .iter()
                    .filter(|e| e.lock == NodeLock::Installed)
                    .count();
                if installed == outcome.extensions.len() {
                    "locked and installed".into()
                } else {
                    format!("locked, {installed}/{} installed", outcome.extensions.len())
                }
            }
            LockState::OutOfDate(_) => "lock out of date".into(),
            LockState::Unreadable(_) => "lock unreadable".into(),
        });
    }
    if pane.stale && !pane.showing_live() {
        parts.push(match &pane.state {
            LoadState::Loading => "not current: resolving".into(),
            LoadState::Failed(e) if e.starts_with("cancelled") => "not current: cancelled".into(),
            LoadState::Failed(_) => "not current: the last resolution failed".into(),
            _ => "not current".into(),
        });
    }
    format!("{} ", parts.join(" · "))
}

fn draw_tree(pane: &DependenciesPane, frame: &mut Frame, area: Rect, theme: &Theme, wide: bool) {
    let mut outer = block(theme, title(pane));
    let bottom = if pane.filtering || !pane.filter.is_empty() {
        let cursor = if pane.filtering { "▏" } else { "" };
        Some(format!(
            " /{}{cursor}{} ",
            pane.filter.before_cursor(),
            pane.filter.after_cursor()
        ))
    } else if pane.invert.is_some() {
        Some(" i or h: back to the tree ".to_string())
    } else if !wide {
        Some(" details below; ≥100 columns puts them beside ".to_string())
    } else {
        None
    };
    if let Some(bottom) = bottom {
        outer = outer.title_bottom(Line::styled(bottom, theme.muted));
    }
    let duplicates = pane.invert.is_none();
    let items: Vec<TreeItem<'static, String>> = pane
        .built
        .nodes
        .iter()
        .map(|n| item(n, &pane.model, theme, duplicates))
        .collect();
    let mut state = pane.tree_state.borrow_mut();
    state.close_all();
    for row in &pane.built.rows {
        state.open(row.path.clone());
    }
    state.select(
        pane.built
            .rows
            .get(pane.selected)
            .map(|r| r.path.clone())
            .unwrap_or_default(),
    );
    let inner_height = area.height.saturating_sub(2) as usize;
    match Tree::new(&items) {
        Ok(tree) => {
            let tree = tree
                .block(outer)
                .style(theme.base)
                .highlight_style(theme.selection)
                .node_open_symbol("▾ ")
                .node_closed_symbol("▸ ")
                .node_no_children_symbol("  ");
            frame.render_stateful_widget(tree, area, &mut state);
        }
        Err(e) => {
            frame.render_widget(Paragraph::new(e.to_string()).block(outer), area);
        }
    }
    let offset = state.get_offset();
    let _ = inner_height;
    pane.geometry.set(ListGeometry { area, offset });
}

fn item(
    node: &TreeNode,
    model: &Model,
    theme: &Theme,
    duplicates: bool,
) -> TreeItem<'static, String> {
    let children: Vec<TreeItem<'static, String>> = node
        .children
        .iter()
        .map(|c| item(c, model, theme, duplicates))
        .collect();
    let text = label(node, model, theme, duplicates);
    match TreeItem::new(node.name.clone(), text.clone(), children) {
        Ok(item) => item,
        Err(_) => TreeItem::new_leaf(node.name.clone(), text),
    }
}

/// `kubernetes 1.28.0 ↑1.31.1 ✓ ×2`, styled by state.
fn label(node: &TreeNode, model: &Model, theme: &Theme, duplicates: bool) -> Line<'static> {
    let Some(view) = model.nodes.get(&node.name) else {
        return Line::raw(node.name.clone());
    };
    let name_style = if view.module {
        theme.accent
    } else {
        theme.base
    };
    let mut spans = vec![Span::styled(node.name.clone(), name_style)];
    match (&view.version, view.status) {
        (_, Status::Pending) => spans.push(Span::styled(" … pending", theme.muted)),
        (Some(v), _) => spans.push(Span::raw(format!(" {v}"))),
        (None, _) => {}
    }
    match view.status {
        Status::Conflict => spans.push(Span::styled(" ✗ conflict", theme.error)),
        Status::Cycle => spans.push(Span::styled(" ↻ cycle", theme.error)),
        _ => {}
    }
    if let Some(newest) = &view.update {
        spans.push(Span::styled(format!(" ↑{newest}"), theme.warning));
    }
    match &view.lock {
        Some(NodeLock::Installed) => spans.push(Span::styled(" ✓", theme.success)),
        Some(NodeLock::NotInstalled) => spans.push(Span::styled(" ○ not installed", theme.warning)),
        Some(NodeLock::Differs { locked }) => {
            spans.push(Span::styled(format!(" ≠ lock {locked}"), theme.warning))
        }
        _ => {}
    }
    let parents = model.needed_by.get(&node.name).map_or(0, Vec::len);
    if duplicates && parents > 1 {
        spans.push(Span::styled(format!(" ×{parents}"), theme.muted));
    }
    if node.repeated {
        spans.push(Span::styled(" (*)", theme.muted));
    }
    if node.cyclic && view.status != Status::Cycle {
        spans.push(Span::styled(" ↻", theme.error));
    }
    Line::from(spans)
}
