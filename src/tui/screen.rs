//! Drawing the frame around the panes: tabs, hints, toasts and overlays. Each pane draws
//! itself (`panes::*::view`); nothing here changes state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs};

use super::action::Action;
use super::app::{App, Overlay, PaneId, ToastKind, palette_matches};
use super::view::{block, centered, input_spans};

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    frame.render_widget(Block::default().style(app.theme.base), area);
    let [tabs, body, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(frame, app, tabs);
    app.draw_pane(frame, body);
    draw_hints(frame, app, hints);
    draw_toasts(frame, app, body);
    if let Some(overlay) = &app.overlay {
        draw_overlay(frame, app, overlay, area);
    }
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let titles: Vec<Line> = PaneId::ALL
        .iter()
        .map(|p| {
            let mut title = format!("{} {}", p.number(), p.title());
            if *p == PaneId::Transfers && app.transfers.running() > 0 {
                title.push_str(&format!(" ({})", app.transfers.running()));
            }
            Line::from(title)
        })
        .collect();
    let selected = PaneId::ALL.iter().position(|p| *p == app.pane).unwrap_or(0);
    let tabs = Tabs::new(titles)
        .select(selected)
        .style(app.theme.muted)
        .highlight_style(app.theme.selection)
        .divider("│");
    frame.render_widget(tabs, area);
}

fn draw_hints(frame: &mut Frame, app: &App, area: Rect) {
    // Help and quit always show; the pane's own keys fill what room is left before them.
    let hint = |action: Action| -> Option<(String, String)> {
        let keys = app.keymap.keys_for(app.pane.section(), action);
        let key = keys.first()?;
        Some((format!(" {key} "), format!("{} ", action.describe())))
    };
    let essential: Vec<(String, String)> = [Action::Help, Action::Quit]
        .into_iter()
        .filter_map(hint)
        .collect();
    let width = |list: &[(String, String)]| -> usize {
        list.iter()
            .map(|(k, d)| k.chars().count() + d.chars().count())
            .sum()
    };
    let mut shown = Vec::new();
    for action in app
        .hints()
        .into_iter()
        .filter(|a| !matches!(a, Action::Help | Action::Quit))
    {
        let Some(item) = hint(action) else { continue };
        shown.push(item);
        if width(&shown) + width(&essential) > area.width as usize {
            shown.pop();
            break;
        }
    }
    shown.extend(essential);
    let spans: Vec<Span> = shown
        .into_iter()
        .flat_map(|(k, d)| {
            [
                Span::styled(k, app.theme.accent),
                Span::styled(d, app.theme.muted),
            ]
        })
        .collect();
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Toasts stack up from the bottom right, newest lowest; each wraps at word boundaries, up
/// to five lines (longer ones end with `…`).
fn draw_toasts(frame: &mut Frame, app: &App, body: Rect) {
    let width = body.width.min(70);
    let mut bottom = body.y + body.height;
    for toast in app.toasts.iter().rev() {
        let mut lines = wrap_words(&toast.text, width.saturating_sub(2).max(1) as usize);
        if lines.len() > 5 {
            lines.truncate(5);
            lines[4].push('…');
        }
        let height = lines.len() as u16 + 2;
        if bottom < body.y + height {
            break;
        }
        bottom -= height;
        let area = Rect::new(body.x + body.width - width, bottom, width, height);
        let style = match toast.kind {
            ToastKind::Info => app.theme.accent,
            ToastKind::Error => app.theme.error,
        };
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(lines.into_iter().map(Line::raw).collect::<Vec<_>>())
                .style(app.theme.base)
                .block(Block::default().borders(Borders::ALL).border_style(style)),
            area,
        );
    }
}

/// `text` in lines of at most `width` chars, broken between words; a word longer than a line
/// is broken inside.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let mut word: Vec<char> = word.chars().collect();
            loop {
                let used = line.chars().count();
                let gap = usize::from(used > 0);
                if used + gap + word.len() <= width {
                    if gap == 1 {
                        line.push(' ');
                    }
                    line.extend(word.iter());
                    break;
                }
                if used > 0 {
                    lines.push(std::mem::take(&mut line));
                    continue;
                }
                let rest = word.split_off(width.min(word.len()));
                lines.push(word.into_iter().collect());
                word = rest;
                if word.is_empty() {
                    break;
                }
            }
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

fn draw_overlay(frame: &mut Frame, app: &App, overlay: &Overlay, area: Rect) {
    match overlay {
        Overlay::Help => {
            // This pane's own keys first, then those that work everywhere: (keys, what) rows,
            // with a heading row (no keys) before each group.
            let section = app.pane.section();
            let mut entries: Vec<(Option<String>, String)> = Vec::new();
            for (title, actions) in [
                (
                    format!("{} pane", app.pane.title()),
                    app.keymap.section_actions(section),
                ),
                ("everywhere".to_string(), app.keymap.global_actions()),
            ] {
                let rows: Vec<(Option<String>, String)> = actions
                    .iter()
                    .filter_map(|a| {
                        let keys = app.keymap.keys_for(section, *a);
                        (!keys.is_empty()).then(|| (Some(keys.join(" ")), a.describe().into()))
                    })
                    .collect();
                if !rows.is_empty() {
                    entries.push((None, title));
                    entries.extend(rows);
                }
            }
            let rows_available = area.height.saturating_sub(6).max(1) as usize;
            // One column when everything fits, else two side by side.
            let columns = if entries.len() <= rows_available {
                1
            } else {
                2
            };
            let per_column = entries.len().div_ceil(columns);
            let width = if columns == 1 {
                56
            } else {
                area.width.saturating_sub(2)
            };
            let popup = centered(area, width, per_column as u16 + 2);
            frame.render_widget(Clear, popup);
            let outer = block(&app.theme, " help (esc closes) ").style(app.theme.base);
            let inner = outer.inner(popup);
            frame.render_widget(outer, popup);
            let areas = Layout::horizontal(vec![Constraint::Ratio(1, columns as u32); columns])
                .split(inner);
            for (column, chunk) in entries.chunks(per_column.max(1)).enumerate() {
                // Each column's keys are as wide as its widest, plus a space.
                let key_width = chunk
                    .iter()
                    .filter_map(|(keys, _)| keys.as_ref().map(|k| k.chars().count()))
                    .max()
                    .unwrap_or(0)
                    + 1;
                let lines: Vec<Line> = chunk
                    .iter()
                    .map(|(keys, what)| match keys {
                        Some(keys) => Line::from(vec![
                            Span::styled(format!("{keys:<key_width$}"), app.theme.accent),
                            Span::raw(what.clone()),
                        ]),
                        None => Line::styled(what.clone(), app.theme.muted),
                    })
                    .collect();
                frame.render_widget(Paragraph::new(lines), areas[column]);
            }
        }
        Overlay::Palette { input, selected } => {
            let matches = palette_matches(&app.keymap, app.pane.section(), input.text());
            // Leave the tab and hint bars visible; scroll the list to keep the selection shown.
            let rows = (area.height.saturating_sub(5) as usize)
                .max(1)
                .min(matches.len().max(1));
            let popup = centered(area, 60, rows as u16 + 3);
            let selected = (*selected).min(matches.len().saturating_sub(1));
            let offset = selected.saturating_sub(rows.saturating_sub(1));
            let mut spans = vec![Span::styled(": ", app.theme.accent)];
            spans.extend(input_spans(input, false));
            let mut lines = vec![Line::from(spans)];
            lines.extend(
                matches
                    .iter()
                    .enumerate()
                    .skip(offset)
                    .take(rows)
                    .map(|(i, a)| {
                        let style = if i == selected {
                            app.theme.selection
                        } else {
                            app.theme.base
                        };
                        Line::styled(format!(" {:<18} {}", a.name(), a.describe()), style)
                    }),
            );
            frame.render_widget(Clear, popup);
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block(&app.theme, " command palette "))
                    .style(app.theme.base),
                popup,
            );
        }
        Overlay::Prompt {
            label,
            input,
            masked,
            ..
        } => {
            // As tall as the question needs, so it never hides the answer line; the answer
            // scrolls sideways to keep the cursor in view.
            let width = 70.min(area.width);
            let inner = width.saturating_sub(2).max(1) as usize;
            let mut lines: Vec<Line> = wrap_words(label, inner)
                .into_iter()
                .map(Line::raw)
                .collect();
            let shown = if *masked {
                input.masked()
            } else {
                input.text().to_string()
            };
            // Chars before the cursor, and how many of them scroll out on the left.
            let before = input.cursor();
            let skip = (before + 4).saturating_sub(inner);
            let text: Vec<char> = shown.chars().skip(skip).collect();
            let at = before - skip;
            let answer = vec![
                Span::styled(if skip > 0 { "…" } else { "> " }, app.theme.accent),
                Span::raw(text[..at].iter().collect::<String>()),
                Span::raw("▏"),
                Span::raw(text[at..].iter().collect::<String>()),
            ];
            lines.push(Line::from(answer));
            let popup = centered(area, width, lines.len() as u16 + 2);
            frame.render_widget(Clear, popup);
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block(&app.theme, " enter confirms, esc cancels "))
                    .style(app.theme.base),
                popup,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wrap_words;

    #[test]
    fn toasts_wrap_between_words() {
        assert_eq!(
            wrap_words("job 3 failed: connection refused", 12),
            ["job 3", "failed:", "connection", "refused"]
        );
        assert_eq!(
            wrap_words("sha256:0123456789", 8),
            ["sha256:0", "12345678", "9"]
        );
        assert_eq!(wrap_words("one\ntwo", 20), ["one", "two"]);
        assert_eq!(wrap_words("", 20), [""]);
    }
}
