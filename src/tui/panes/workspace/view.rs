//! Drawing the Workspace pane: the modules table and its status line, the empty state, the
//! add and version dialogs, and the diff before saving.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::dialog::{AddDialog, VersionDialog, VersionFor};
use super::{Mode, Resolution, RowState, WorkspacePane};
use crate::tui::input::LineInput;
use crate::tui::panes::LoadState;
use crate::tui::theme::Theme;
use crate::tui::view::{ListGeometry, View, block};
use crate::workspace::CONFIG_FILE;

pub(super) fn draw(pane: &WorkspacePane, frame: &mut Frame, area: Rect, view: &View) {
    let theme = view.theme;
    let modified = if pane.is_dirty() { " [modified]" } else { "" };
    let title = match &pane.mode {
        Mode::Add(_) => format!(
            " {} › add a module from {}/{} ",
            pane.root.display(),
            pane.catalog.registry,
            pane.catalog.namespace
        ),
        Mode::Version(dialog) => format!(
            " {} › {} › choose a version ",
            pane.root.display(),
            dialog.name()
        ),
        Mode::Diff { .. } => format!(" {} › save {CONFIG_FILE}? ", pane.root.display()),
        Mode::List => format!(" {} › {CONFIG_FILE}{modified} ", pane.root.display()),
    };
    let outer = block(theme, title);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    match &pane.mode {
        Mode::Add(dialog) => draw_add(pane, dialog, frame, inner, theme),
        Mode::Version(dialog) => draw_version(dialog, frame, inner, theme),
        Mode::Diff { scroll } => draw_diff(pane, *scroll, frame, inner, theme),
        Mode::List => match &pane.state {
            LoadState::Idle => frame.render_widget(
                Paragraph::new(format!("Not read: ctrl-r reads {CONFIG_FILE}.")).style(theme.muted),
                inner,
            ),
            LoadState::Loading => frame.render_widget(
                Paragraph::new(format!("Reading {CONFIG_FILE}… (esc stops)")).style(theme.muted),
                inner,
            ),
            LoadState::Failed(error) => {
                let mut lines: Vec<Line> = error
                    .lines()
                    .map(|l| Line::styled(l.to_string(), theme.error))
                    .collect();
                lines.push(Line::default());
                lines.push(Line::styled(
                    format!("Fix {CONFIG_FILE}, then press ctrl-r to read it again."),
                    theme.muted,
                ));
                frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
            }
            LoadState::Loaded if !pane.snapshot.found => draw_empty(pane, frame, inner, theme),
            LoadState::Loaded => draw_list(pane, frame, inner, theme),
        },
    }
}

/// `text` cut or padded to `width` chars.
fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count > width {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        format!("{text}{}", " ".repeat(width - count))
    }
}

/// A text field: the label, the text with a bar at the cursor, and a hint while empty.
fn input_line<'a>(theme: &Theme, label: &'a str, input: &LineInput, hint: &'a str) -> Line<'a> {
    let mut spans = vec![
        Span::styled(label, theme.accent),
        Span::raw(input.before_cursor().to_string()),
        Span::styled("▏", theme.accent),
        Span::raw(input.after_cursor().to_string()),
    ];
    if input.is_empty() {
        spans.push(Span::styled(hint, theme.muted));
    }
    Line::from(spans)
}

fn draw_empty(pane: &WorkspacePane, frame: &mut Frame, area: Rect, theme: &Theme) {
    let root = pane.root.display().to_string();
    let lines = vec![
        Line::styled(
            format!("No workspace here: {root} has no {CONFIG_FILE}."),
            theme.base,
        ),
        Line::default(),
        Line::from(vec![
            Span::styled("Press i", theme.accent),
            Span::raw(format!(" to create a workspace here ({root}),")),
        ]),
        Line::raw("as `provisioning workspace init` does: a commented provisioning.yaml with the"),
        Line::raw("registry to take extensions from and empty module lists."),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn draw_list(pane: &WorkspacePane, frame: &mut Frame, area: Rect, theme: &Theme) {
    let notes = pane.snapshot.diagnostics.len().min(3) as u16;
    let [table, notes_area, status] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(notes),
        Constraint::Length(1),
    ])
    .areas(area);
    let width = table.width as usize;
    // Narrow terminals drop the source column (nearly always the workspace's own).
    let wide = width >= 100;
    let mut columns = vec![("type", 9), ("name", if wide { 16 } else { 14 })];
    if wide {
        columns.push(("source", 7));
    }
    columns.extend([
        ("pin/range", 12),
        ("locked", 9),
        ("resolved", 9),
        ("state", STATE),
    ]);
    let fixed: usize = columns.iter().map(|(_, w)| w + 1).sum();
    let from_width = width.saturating_sub(fixed + 1);
    let mut header: String = columns
        .iter()
        .map(|(name, w)| format!("{} ", fit(name, *w)))
        .collect();
    if from_width >= 12 {
        header.push_str("from");
    }
    let mut lines = vec![Line::styled(format!(" {header}"), theme.muted)];
    let height = (table.height as usize).saturating_sub(1).max(1);
    let offset = (pane.selected + 1).saturating_sub(height);
    pane.geometry.set(ListGeometry {
        area: Rect::new(table.x, table.y, table.width, height as u16 + 2),
        offset,
    });
    if pane.rows.is_empty() {
        lines.push(Line::styled(
            " No modules yet: press a to add one from the registry.",
            theme.muted,
        ));
    }
    let resolved = match &pane.resolution {
        Resolution::Done { versions, .. } => Some(versions),
        _ => None,
    };
    for (i, row) in pane.rows.iter().enumerate().skip(offset).take(height) {
        let first_of_kind = i == 0 || pane.rows[i - 1].kind != row.kind;
        let kind = if first_of_kind {
            format!("{}s", row.kind)
        } else {
            String::new()
        };
        let state = pane.row_state(row);
        let resolved = match resolved {
            Some(versions) => versions
                .get(&row.name)
                .cloned()
                .unwrap_or_else(|| "-".into()),
            None if pane.resolution == Resolution::Resolving => "…".into(),
            None => "-".into(),
        };
        let from = row
            .location
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .map_or(row.location.as_str(), |(repo, _)| repo);
        let mut cells = vec![kind, row.name.clone()];
        if wide {
            cells.push(row.source.to_string());
        }
        cells.extend([
            row.requirement.clone(),
            row.locked.clone().unwrap_or_else(|| "-".into()),
            resolved,
        ]);
        let mut text = String::from(" ");
        for (cell, (_, w)) in cells.iter().zip(&columns) {
            text.push_str(&fit(cell, *w));
            text.push(' ');
        }
        let selected = i == pane.selected;
        let row_style = if selected {
            theme.selection
        } else {
            theme.base
        };
        let state_style = if selected {
            theme.selection
        } else {
            state_style(theme, state)
        };
        let mut spans = vec![
            Span::styled(text, row_style),
            Span::styled(format!("{} ", fit(state.label(), STATE)), state_style),
        ];
        if from_width >= 12 {
            spans.push(Span::styled(fit(from, from_width), row_style));
        }
        // The selection runs to the edge.
        let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        spans.push(Span::styled(
            " ".repeat(width.saturating_sub(used)),
            row_style,
        ));
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), table);
    let notes: Vec<Line> = pane
        .snapshot
        .diagnostics
        .iter()
        .take(3)
        .map(|d| {
            Line::styled(
                d.lines().next().unwrap_or_default().to_string(),
                theme.warning,
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(notes), notes_area);
    frame.render_widget(Paragraph::new(status_line(pane, theme)), status);
}

/// The width of the state column.
const STATE: usize = 16;

fn state_style(theme: &Theme, state: RowState) -> Style {
    match state {
        RowState::Added | RowState::Changed => theme.warning,
        RowState::Installed => theme.success,
        RowState::LockOutOfDate => theme.error,
        RowState::NotLocked | RowState::NotInstalled => theme.muted,
    }
}

/// Unsaved edits, how the live resolution ended, the lock, the install running.
fn status_line<'a>(pane: &WorkspacePane, theme: &Theme) -> Line<'a> {
    let sep = || Span::styled(" · ", theme.muted);
    let mut spans = Vec::new();
    let edits = pane.undo.len();
    if pane.is_dirty() {
        let count = if edits == 1 {
            "1 unsaved edit".to_string()
        } else {
            format!("{edits} unsaved edits")
        };
        spans.push(Span::styled(
            format!("{count} (s saves, u undoes)"),
            theme.warning,
        ));
    } else {
        spans.push(Span::styled("saved", theme.muted));
    }
    match &pane.resolution {
        Resolution::None => {}
        Resolution::Resolving => {
            spans.push(sep());
            spans.push(Span::styled("resolving…", theme.muted));
        }
        Resolution::Done { ok, summary, .. } => {
            spans.push(sep());
            let style = if *ok { theme.success } else { theme.error };
            spans.push(Span::styled(summary.clone(), style));
        }
    }
    spans.push(sep());
    let (lock, style) = match pane.snapshot.lock_current {
        None => ("no lock yet (r writes it)", theme.muted),
        Some(true) => ("lock up to date", theme.muted),
        Some(false) => ("lock out of date (r updates it)", theme.warning),
    };
    spans.push(Span::styled(lock, style));
    if pane.install_job.is_some() {
        spans.push(sep());
        spans.push(Span::styled("installing… (4 Transfers)", theme.accent));
    }
    Line::from(spans)
}

fn draw_add(
    pane: &WorkspacePane,
    dialog: &AddDialog,
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
) {
    let catalog = &pane.catalog;
    let matches = catalog.matches(dialog.query.text());
    let mut lines = vec![input_line(
        theme,
        "search: ",
        &dialog.query,
        "  (a name or words of a description)",
    )];
    match &catalog.state {
        LoadState::Loading | LoadState::Idle => lines.push(Line::styled(
            format!(
                "Loading the extensions of {}… (esc closes)",
                catalog.registry
            ),
            theme.muted,
        )),
        LoadState::Failed(e) => lines.push(Line::styled(e.clone(), theme.error)),
        LoadState::Loaded => {
            lines.push(Line::styled(
                format!(
                    " {} {} {} description  ({} of {})",
                    fit("name", 18),
                    fit("type", 9),
                    fit("latest", 9),
                    matches.len(),
                    catalog.entries.len()
                ),
                theme.muted,
            ));
        }
    }
    let height = (area.height as usize).saturating_sub(3).max(1);
    let offset = (dialog.selected + 1).saturating_sub(height);
    let width = area.width as usize;
    for (i, entry) in matches.iter().enumerate().skip(offset).take(height) {
        let described = entry.description.as_ref();
        let field = |f: fn(&crate::tui::worker::Description) -> Option<&String>| {
            described.and_then(f).cloned().unwrap_or_default()
        };
        let used = pane.rows.iter().any(|r| r.name == entry.name);
        let mut description = field(|d| d.description.as_ref());
        if used {
            description = format!("(in the workspace) {description}");
        }
        let text = format!(
            " {} {} {} {}",
            fit(&entry.name, 18),
            fit(&field(|d| d.kind.as_ref()), 9),
            fit(&field(|d| d.version.as_ref()), 9),
            description
        );
        let style = if i == dialog.selected {
            theme.selection
        } else if used {
            theme.muted
        } else {
            theme.base
        };
        lines.push(Line::styled(fit(&text, width), style));
    }
    let [list, help] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    frame.render_widget(Paragraph::new(lines), list);
    frame.render_widget(
        Paragraph::new("↑↓ choose · enter: pick a version · esc: close").style(theme.muted),
        help,
    );
}

fn draw_version(dialog: &VersionDialog, frame: &mut Frame, area: Rect, theme: &Theme) {
    let mut lines = vec![input_line(
        theme,
        "version or range: ",
        &dialog.input,
        "  (empty: the selected tag; or 1.2.3, ^1.14)",
    )];
    let (about, enter) = match &dialog.purpose {
        VersionFor::Add {
            kind: Some(kind), ..
        } => (
            Line::from(vec![
                Span::styled("type: ", theme.muted),
                Span::raw(kind.to_string()),
                Span::styled("  (tab changes)", theme.muted),
            ]),
            "enter: add",
        ),
        VersionFor::Add { kind: None, .. } => (
            Line::styled(
                "type: not known yet — tab chooses provider, taskserv or cluster",
                theme.warning,
            ),
            "enter: add",
        ),
        VersionFor::Change { current, .. } => (
            Line::from(vec![
                Span::styled("now: ", theme.muted),
                Span::raw(current.clone()),
            ]),
            "enter: set it",
        ),
    };
    lines.push(about);
    lines.push(Line::styled(
        format!("versions of {}, newest first", dialog.repository),
        theme.muted,
    ));
    match &dialog.state {
        LoadState::Loading | LoadState::Idle => lines.push(Line::styled(
            "Loading the tags… (esc goes back)",
            theme.muted,
        )),
        LoadState::Failed(e) => lines.push(Line::styled(e.clone(), theme.error)),
        LoadState::Loaded if dialog.tags.is_empty() => lines.push(Line::styled(
            "No version tags: type a version or a range",
            theme.muted,
        )),
        LoadState::Loaded => {}
    }
    let height = (area.height as usize)
        .saturating_sub(lines.len() + 1)
        .max(1);
    let offset = (dialog.selected + 1).saturating_sub(height);
    let typed = !dialog.input.is_empty();
    for (i, tag) in dialog.tags.iter().enumerate().skip(offset).take(height) {
        let now = dialog.preselect.as_deref() == Some(tag.as_str())
            && matches!(dialog.purpose, VersionFor::Change { .. });
        let text = format!(" {}{}", fit(tag, 16), if now { "(now)" } else { "" });
        let style = match (i == dialog.selected, typed) {
            (true, false) => theme.selection,
            (true, true) => theme.accent,
            _ => theme.base,
        };
        lines.push(Line::styled(fit(&text, area.width as usize), style));
    }
    let [list, help] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    frame.render_widget(Paragraph::new(lines), list);
    frame.render_widget(
        Paragraph::new(format!("↑↓ choose · {enter} · esc: back")).style(theme.muted),
        help,
    );
}

fn draw_diff(pane: &WorkspacePane, scroll: u16, frame: &mut Frame, area: Rect, theme: &Theme) {
    let diff = crate::workspace::diff::unified(CONFIG_FILE, &pane.saved, &pane.text);
    let width = (area.width as usize).max(1);
    let mut lines: Vec<Line> = Vec::new();
    for l in diff.lines() {
        let style = if l.starts_with("+++") || l.starts_with("---") {
            theme.muted
        } else if l.starts_with('+') {
            theme.success
        } else if l.starts_with('-') {
            theme.error
        } else if l.starts_with("@@") {
            theme.accent
        } else {
            theme.base
        };
        // Long lines are cut into rows of the width, so the version at their end shows.
        let chars: Vec<char> = l.chars().collect();
        for chunk in chars.chunks(width) {
            lines.push(Line::styled(chunk.iter().collect::<String>(), style));
        }
        if chars.is_empty() {
            lines.push(Line::default());
        }
    }
    let [body, footer] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    pane.geometry.set(ListGeometry {
        area: body,
        offset: 0,
    });
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), body);
    let help = if pane.saving.is_some() {
        Line::styled("Saving…", theme.muted)
    } else {
        Line::from(vec![
            Span::styled("enter", theme.accent),
            Span::styled(" writes the file (comments and order kept) · ", theme.muted),
            Span::styled("esc", theme.accent),
            Span::styled(" goes back · ↑↓ scroll", theme.muted),
        ])
    };
    frame.render_widget(Paragraph::new(help), footer);
}
