//! The side panel: what the selected extension is, who asks for which range, the version chosen
//! and why, its lock state and the update `u` would make — and for a conflict or a cycle, the
//! resolver's explanation with the way out.

use ratatui::text::{Line, Span};

use super::DependenciesPane;
use super::keys::{Suggestion, suggestion};
use super::model::Status;
use crate::tui::panes::LoadState;
use crate::tui::theme::Theme;
use crate::tui::view::short;
use crate::tui::worker::resolve::NodeLock;

/// Paths listed in the inverted view's panel.
const MAX_PATHS: usize = 50;

fn heading(theme: &Theme, text: &str) -> Line<'static> {
    Line::styled(text.to_string(), theme.accent)
}

fn field(theme: &Theme, label: &str, value: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<10}"), theme.muted),
        Span::raw(value),
    ])
}

/// The lock state of a node in words, with its style.
pub fn lock_words(theme: &Theme, lock: &NodeLock) -> (String, ratatui::style::Style) {
    match lock {
        NodeLock::Installed => ("locked and installed".into(), theme.success),
        NodeLock::NotInstalled => (
            "locked, not installed (Workspace: r installs)".into(),
            theme.warning,
        ),
        NodeLock::Differs { locked } => {
            (format!("lock out of date: it has {locked}"), theme.warning)
        }
        NodeLock::NotLocked => ("not in config/provisioning.lock".into(), theme.muted),
    }
}

pub fn lines(pane: &DependenciesPane, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if let LoadState::Failed(e) = &pane.state
        && !e.starts_with("cancelled")
    {
        out.push(Line::styled(
            format!("The last resolution failed: {e}"),
            theme.error,
        ));
        out.push(Line::styled(
            "The tree shows the result before it; ctrl-r tries the saved workspace again."
                .to_string(),
            theme.muted,
        ));
        out.push(Line::raw(""));
    }
    let Some(name) = pane.selected_name() else {
        return out;
    };
    let Some(node) = pane.model.nodes.get(name) else {
        return out;
    };
    let title = match &node.version {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    };
    out.push(Line::styled(title, theme.accent));
    // Part of the problem: its explanation first, so a short panel still shows it.
    let involved = matches!(node.status, Status::Conflict | Status::Cycle);
    if involved {
        problems(pane, theme, node.status, &mut out);
        out.push(Line::raw(""));
    }
    let extension = pane
        .outcome
        .as_ref()
        .and_then(|o| o.get(name))
        .filter(|_| !pane.showing_live());
    if node.status == Status::Pending {
        out.push(Line::styled(
            match node.candidates {
                Some(n) => format!("pending: {n} versions listed, none chosen yet"),
                None => "pending: listing its versions".to_string(),
            },
            theme.muted,
        ));
    }
    if let Some(e) = extension {
        // What matters most first: on a narrow terminal the panel is short.
        if let Some(v) = &e.version {
            out.push(Line::from(vec![
                Span::styled(format!("{:<10}", "chosen"), theme.muted),
                Span::raw(format!("{v}: {}", e.why)),
            ]));
        }
        let (words, style) = lock_words(theme, &e.lock);
        out.push(Line::from(vec![
            Span::styled(format!("{:<10}", "lock"), theme.muted),
            Span::styled(words, style),
        ]));
        if let (Some(newest), Some(outcome)) = (&e.newest, &pane.outcome) {
            let action = match suggestion(outcome, &pane.model, name) {
                Suggestion::Set(r) => format!("u sets {name} to {r} in Workspace (unsaved)"),
                Suggestion::Explain(text) => text,
            };
            out.push(Line::from(vec![
                Span::styled(format!("{:<10}", "update"), theme.muted),
                Span::styled(format!("{newest} is published; "), theme.warning),
                Span::raw(action),
            ]));
        }
        out.push(Line::raw(""));
        out.push(heading(theme, "Asked for by"));
        if e.asks.is_empty() {
            out.push(Line::styled("  nobody (held by the lock)", theme.muted));
        }
        for ask in &e.asks {
            out.push(Line::from(vec![
                Span::raw(format!("  {:<24} ", ask.by)),
                Span::styled(ask.range.clone(), theme.accent),
            ]));
        }
        out.push(Line::raw(""));
        if let Some(kind) = e.kind {
            out.push(field(
                theme,
                "type",
                format!(
                    "{kind}{}",
                    if e.module {
                        ", a module of the workspace"
                    } else {
                        ""
                    }
                ),
            ));
        }
        match &e.local {
            Some(path) => out.push(field(theme, "local", path.display().to_string())),
            None => {
                out.push(field(theme, "registry", e.reference.registry.clone()));
                out.push(field(theme, "repo", e.reference.repository.clone()));
            }
        }
        if let Some(digest) = &e.digest {
            out.push(field(theme, "digest", short(&digest.to_string())));
        }
    }
    let needed_by = pane.model.needed_by.get(name).cloned().unwrap_or_default();
    if needed_by.len() > 1 {
        out.push(Line::raw(""));
        out.push(Line::styled(
            format!(
                "shared: needed by {} (×{} in the tree)",
                needed_by.join(", "),
                needed_by.len()
            ),
            theme.muted,
        ));
    }
    if pane.invert.as_deref() == Some(name) || pane.invert.is_some() {
        let target = pane.invert.clone().unwrap_or_default();
        let paths = pane.model.paths_to(&target, MAX_PATHS);
        out.push(Line::raw(""));
        out.push(heading(
            theme,
            &format!("Why {target} is here: {} path(s)", paths.len()),
        ));
        if paths.is_empty() {
            out.push(Line::raw("  it is a module of the workspace".to_string()));
        }
        for path in paths {
            out.push(Line::raw(format!("  {}", path.join(" → "))));
        }
    }
    if !involved {
        problems(pane, theme, node.status, &mut out);
    }
    out
}

/// The conflict's or the cycle's explanation, when the outcome has one.
fn problems(pane: &DependenciesPane, theme: &Theme, status: Status, out: &mut Vec<Line<'static>>) {
    let Some(outcome) = &pane.outcome else {
        return;
    };
    if let Some(conflict) = &outcome.conflict {
        if status != Status::Conflict {
            out.push(Line::raw(""));
        }
        let title = if status == Status::Conflict {
            "✗ Conflict: no versions fit together"
        } else {
            "✗ The workspace does not resolve"
        };
        out.push(Line::styled(title, theme.error));
        for fact in &conflict.facts {
            out.push(Line::raw(format!("  - {fact}")));
        }
        if !conflict.ways_out.is_empty() {
            out.push(heading(theme, "Way out"));
            for way in &conflict.ways_out {
                out.push(Line::raw(format!("  - {}", way.text)));
                if let Some(command) = &way.command {
                    out.push(Line::styled(format!("    {command}"), theme.muted));
                }
            }
        }
    }
    if let Some(cycle) = &outcome.cycle {
        if status != Status::Cycle {
            out.push(Line::raw(""));
        }
        out.push(Line::styled(
            "↻ Cycle: the dependencies go round",
            theme.error,
        ));
        out.push(Line::raw(format!("  {}", cycle.join(" → "))));
        out.push(Line::raw(
            "  extensions cannot be installed in an order where each comes after what it needs; remove one of these dependencies".to_string(),
        ));
    }
}
