//! Drawing: pure functions from the app's state to a frame. Nothing here changes state except
//! the geometry cell mouse clicks read.

mod pane_views;
use pane_views::*;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Row, Table, Tabs, Wrap};

use super::action::Action;
use super::app::{App, ListGeometry, Overlay, PaneId, ToastKind, palette_matches};
use super::panes::LoadState;
use super::panes::publish::Step;
use super::panes::registry::Level;
use super::panes::transfers::JobState;
use crate::units::human_bytes;

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
    match app.pane {
        PaneId::Registry => draw_registry(frame, app, body),
        PaneId::Transfers => draw_transfers(frame, app, body),
        PaneId::Publish => draw_publish(frame, app, body),
    }
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
        let keys = app.keymap.keys_for(action);
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

fn draw_toasts(frame: &mut Frame, app: &App, body: Rect) {
    let width = body.width.min(70);
    for (i, toast) in app.toasts.iter().rev().enumerate() {
        let height = 3u16;
        let y = body.y + body.height.saturating_sub(height * (i as u16 + 1));
        if y < body.y {
            break;
        }
        let area = Rect::new(body.x + body.width - width, y, width, height);
        let style = match toast.kind {
            ToastKind::Info => app.theme.accent,
            ToastKind::Error => app.theme.error,
        };
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(toast.text.as_str())
                .style(app.theme.base)
                .block(Block::default().borders(Borders::ALL).border_style(style)),
            area,
        );
    }
}

fn block<'a>(app: &App, title: impl Into<Line<'a>>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border)
        .title(title)
        .title_style(app.theme.accent)
}

fn loading_text<'a>(app: &App, state: &'a LoadState, what: &str) -> Option<Paragraph<'a>> {
    match state {
        LoadState::Loading => {
            Some(Paragraph::new(format!("Loading {what}… (esc cancels)")).style(app.theme.muted))
        }
        LoadState::Failed(e) => Some(
            Paragraph::new(e.as_str())
                .style(app.theme.error)
                .wrap(Wrap { trim: false }),
        ),
        _ => None,
    }
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

fn draw_overlay(frame: &mut Frame, app: &App, overlay: &Overlay, area: Rect) {
    match overlay {
        Overlay::Help => {
            let entries: Vec<Line> = Action::ALL
                .iter()
                .filter_map(|a| {
                    let keys = app.keymap.keys_for(*a);
                    (!keys.is_empty()).then(|| {
                        Line::from(vec![
                            Span::styled(format!("{:<12}", keys.join(" ")), app.theme.accent),
                            Span::raw(a.describe()),
                        ])
                    })
                })
                .collect();
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
            let outer = block(app, " help (esc closes) ").style(app.theme.base);
            let inner = outer.inner(popup);
            frame.render_widget(outer, popup);
            let areas = Layout::horizontal(vec![Constraint::Ratio(1, columns as u32); columns])
                .split(inner);
            for (column, chunk) in entries.chunks(per_column.max(1)).enumerate() {
                frame.render_widget(Paragraph::new(chunk.to_vec()), areas[column]);
            }
        }
        Overlay::Palette { input, selected } => {
            let matches = palette_matches(input);
            // Leave the tab and hint bars visible; scroll the list to keep the selection shown.
            let rows = (area.height.saturating_sub(5) as usize)
                .max(1)
                .min(matches.len().max(1));
            let popup = centered(area, 60, rows as u16 + 3);
            let selected = (*selected).min(matches.len().saturating_sub(1));
            let offset = selected.saturating_sub(rows.saturating_sub(1));
            let mut lines = vec![Line::from(vec![
                Span::styled(": ", app.theme.accent),
                Span::raw(input.clone()),
                Span::raw("▏"),
            ])];
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
                    .block(block(app, " command palette "))
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
            let popup = centered(area, 70, 4);
            let shown = if *masked {
                "•".repeat(input.chars().count())
            } else {
                input.clone()
            };
            frame.render_widget(Clear, popup);
            frame.render_widget(
                Paragraph::new(vec![
                    Line::raw(label.clone()),
                    Line::from(vec![
                        Span::styled("> ", app.theme.accent),
                        Span::raw(shown),
                        Span::raw("▏"),
                    ]),
                ])
                .block(block(app, " enter confirms, esc cancels "))
                .style(app.theme.base)
                .wrap(Wrap { trim: false }),
                popup,
            );
        }
    }
    let _ = Style::default();
}
