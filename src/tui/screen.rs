//! Drawing: pure functions from the app's state to a frame. Nothing here changes state except
//! the geometry cell mouse clicks read.

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

fn draw_registry(frame: &mut Frame, app: &App, area: Rect) {
    let pane = &app.registry;
    let header = format!(
        " {} › {}{} ",
        pane.registry(),
        if pane.namespace.is_empty() {
            "*"
        } else {
            &pane.namespace
        },
        match pane.level {
            Level::Repositories => String::new(),
            Level::Tags | Level::Detail => format!(
                " › {}",
                pane.tags_of
                    .as_ref()
                    .map(|r| r.name().to_string())
                    .unwrap_or_default()
            ),
        }
    );
    match pane.level {
        Level::Repositories => {
            let title = format!(
                "{header}repositories {}/{}{}",
                pane.repos.len(),
                pane.repos.total(),
                filter_label(&pane.repos.filter, pane.repos.filtering)
            );
            let outer = block(app, title);
            let inner = outer.inner(area);
            frame.render_widget(outer, area);
            if let Some(text) = loading_text(app, &pane.repos_state, "repositories") {
                frame.render_widget(text, inner);
                return;
            }
            if pane.repos.total() == 0 {
                frame.render_widget(
                    Paragraph::new(format!(
                        "No repositories under `{}`. Press R to open another registry.",
                        pane.namespace
                    ))
                    .style(app.theme.muted),
                    inner,
                );
                return;
            }
            let (offset, rows) = pane.repos.window(inner.height as usize);
            app.list_geometry.set(ListGeometry { area, offset });
            let lines: Vec<Line> = rows
                .iter()
                .map(|(i, entry)| {
                    let style = if *i == pane.repos.selected_index() {
                        app.theme.selection
                    } else {
                        app.theme.base
                    };
                    Line::styled(
                        format!(
                            " {:<width$}",
                            entry.name,
                            width = inner.width.saturating_sub(1) as usize
                        ),
                        style,
                    )
                })
                .collect();
            frame.render_widget(Paragraph::new(lines), inner);
        }
        Level::Tags => {
            let title = format!(
                "{header}tags {}/{}{}",
                pane.tags.len(),
                pane.tags.total(),
                filter_label(&pane.tags.filter, pane.tags.filtering)
            );
            let outer = block(app, title);
            let inner = outer.inner(area);
            frame.render_widget(outer, area);
            if let Some(text) = loading_text(app, &pane.tags_state, "tags") {
                frame.render_widget(text, inner);
                return;
            }
            let (offset, rows) = pane.tags.window(inner.height as usize);
            app.list_geometry.set(ListGeometry { area, offset });
            let lines: Vec<Line> = rows
                .iter()
                .map(|(i, t)| {
                    let style = if *i == pane.tags.selected_index() {
                        app.theme.selection
                    } else {
                        app.theme.base
                    };
                    let version = if t.version.is_some() {
                        ""
                    } else {
                        "  (not a version)"
                    };
                    Line::styled(format!(" {:<20}{version}", t.tag), style)
                })
                .collect();
            frame.render_widget(Paragraph::new(lines), inner);
        }
        Level::Detail => {
            let title = format!(
                "{header}{}",
                pane.detail_of
                    .as_ref()
                    .and_then(|r| r.tag.clone())
                    .unwrap_or_default()
            );
            let outer = block(app, title);
            let inner = outer.inner(area);
            frame.render_widget(outer, area);
            if let Some(text) = loading_text(app, &pane.detail_state, "details") {
                frame.render_widget(text, inner);
                return;
            }
            let Some(detail) = &pane.detail else { return };
            frame.render_widget(
                Paragraph::new(detail_text(app, detail))
                    .scroll((pane.detail_scroll, 0))
                    .wrap(Wrap { trim: false }),
                inner,
            );
        }
    }
}

fn filter_label(filter: &str, filtering: bool) -> String {
    match (filter.is_empty(), filtering) {
        (true, false) => String::new(),
        (_, true) => format!("  /{filter}▏"),
        (false, false) => format!("  /{filter}"),
    }
}

fn detail_text<'a>(app: &App, d: &'a crate::oci::browse::Inspection) -> Text<'a> {
    let key = |k: &'a str| Span::styled(format!("{k:<14} "), app.theme.muted);
    let mut lines = vec![
        Line::from(vec![key("digest"), Span::raw(d.digest.to_string())]),
        Line::from(vec![key("media type"), Span::raw(d.media_type.as_str())]),
        Line::from(vec![
            key("artifact type"),
            Span::raw(d.artifact_type.clone().unwrap_or_else(|| "-".into())),
        ]),
        Line::from(vec![key("size"), Span::raw(human_bytes(d.size))]),
    ];
    if let Some(created) = d.annotations.get("org.opencontainers.image.created") {
        lines.push(Line::from(vec![
            key("created"),
            Span::raw(created.as_str()),
        ]));
    }
    if let Some(config) = &d.config_content {
        lines.push(Line::default());
        lines.push(Line::styled("extension manifest", app.theme.accent));
        for field in [
            "name",
            "type",
            "version",
            "description",
            "min_provisioning_version",
        ] {
            if let Some(value) = config.get(field).and_then(|v| v.as_str()) {
                lines.push(Line::from(vec![key(field), Span::raw(value.to_string())]));
            }
        }
        if let Some(deps) = config.get("dependencies").and_then(|v| v.as_object()) {
            lines.push(Line::styled("dependencies", app.theme.accent));
            if deps.is_empty() {
                lines.push(Line::styled("  none", app.theme.muted));
            }
            for (name, range) in deps {
                lines.push(Line::raw(format!(
                    "  {name} {}",
                    range.as_str().unwrap_or("")
                )));
            }
        }
    }
    if !d.annotations.is_empty() {
        lines.push(Line::default());
        lines.push(Line::styled("annotations", app.theme.accent));
        for (k, v) in &d.annotations {
            lines.push(Line::raw(format!("  {k} = {v}")));
        }
    }
    let mut section = |title: &'static str, list: &'a [crate::oci::client::Descriptor]| {
        if list.is_empty() {
            return;
        }
        lines.push(Line::default());
        lines.push(Line::styled(title, app.theme.accent));
        for l in list {
            let name = l
                .annotations
                .get(crate::oci::manifest::TITLE)
                .cloned()
                .or_else(|| l.artifact_type.clone())
                .unwrap_or_default();
            lines.push(Line::raw(format!(
                "  {:>10}  {}  {name}",
                human_bytes(l.size),
                short(&l.digest.to_string())
            )));
        }
    };
    section("layers", &d.layers);
    section("manifests", &d.manifests);
    section("referrers", &d.referrers);
    Text::from(lines)
}

fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

fn draw_transfers(frame: &mut Frame, app: &App, area: Rect) {
    let pane = &app.transfers;
    let outer = block(
        app,
        format!(
            " transfers {} ({} running) ",
            pane.jobs.len(),
            pane.running()
        ),
    );
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if pane.jobs.is_empty() {
        frame.render_widget(
            Paragraph::new("No transfers yet. Pull (p) or copy (c) from the Registry pane, or push from Publish.").style(app.theme.muted),
            inner,
        );
        return;
    }
    let [list, detail] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let height = list.height.saturating_sub(1) as usize;
    let offset = pane.selected.saturating_sub(height.saturating_sub(1));
    app.list_geometry.set(ListGeometry { area: list, offset });
    let now = app.clock().now();
    let rows: Vec<Row> = pane
        .jobs
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, job)| {
            let (done, total) = job.bytes();
            let state = match &job.state {
                JobState::Running => "running".to_string(),
                JobState::Done(_) => "done".to_string(),
                JobState::Failed(_) => "failed".to_string(),
                JobState::Cancelled => "cancelled".to_string(),
            };
            let eta = job
                .eta(now)
                .map(|d| format!("{}s", d.as_secs()))
                .unwrap_or_default();
            let style = if i == pane.selected {
                app.theme.selection
            } else {
                match job.state {
                    JobState::Failed(_) => app.theme.error,
                    JobState::Done(_) => app.theme.success,
                    _ => app.theme.base,
                }
            };
            Row::new(vec![
                format!("{}", job.id),
                job.kind.to_string(),
                state,
                format!("{}/{}", human_bytes(done), human_bytes(total)),
                format!("{}/s", human_bytes(job.rate(now) as u64)),
                eta,
                job.description.clone(),
            ])
            .style(style)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(3),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(21),
            Constraint::Length(11),
            Constraint::Length(5),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec!["#", "kind", "state", "bytes", "rate", "eta", "what"]).style(app.theme.muted),
    );
    frame.render_widget(table, list);
    if let Some(job) = pane.selected_job() {
        let [what, detail] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(detail);
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{} {}", job.kind, job.description),
                app.theme.accent,
            )),
            what,
        );
        let mut constraints = vec![Constraint::Length(1)];
        constraints.extend(
            job.blobs
                .iter()
                .take(detail.height.saturating_sub(2) as usize)
                .map(|_| Constraint::Length(1)),
        );
        let rows = Layout::vertical(constraints).split(detail);
        let status = match &job.state {
            JobState::Failed(e) => Line::styled(format!("error: {e}"), app.theme.error),
            JobState::Done(text) => Line::styled(text.clone(), app.theme.success),
            JobState::Cancelled => Line::styled("cancelled", app.theme.warning),
            JobState::Running => Line::styled(
                format!(
                    "{} blob(s){}",
                    job.blobs.len(),
                    if job.retries_seen > 0 {
                        format!(", {} retries", job.retries_seen)
                    } else {
                        String::new()
                    }
                ),
                app.theme.muted,
            ),
        };
        frame.render_widget(Paragraph::new(status), rows[0]);
        for (row, (digest, blob)) in rows.iter().skip(1).zip(job.blobs.iter()) {
            let ratio = if blob.total == 0 {
                1.0
            } else {
                blob.done as f64 / blob.total as f64
            };
            let label = match (&blob.failed, blob.outcome) {
                (Some(e), _) => format!("{} failed: {e}", short(&digest.to_string())),
                (None, Some(outcome)) => format!("{} {outcome:?}", short(&digest.to_string())),
                (None, None) => format!(
                    "{} {}/{}",
                    short(&digest.to_string()),
                    human_bytes(blob.done),
                    human_bytes(blob.total)
                ),
            };
            frame.render_widget(
                Gauge::default()
                    .ratio(ratio.clamp(0.0, 1.0))
                    .label(label)
                    .gauge_style(app.theme.accent),
                *row,
            );
        }
    }
}

fn draw_publish(frame: &mut Frame, app: &App, area: Rect) {
    let pane = &app.publish;
    let mut steps: Vec<Span> = Step::ALL
        .iter()
        .flat_map(|s| {
            let style = if *s == pane.step {
                app.theme.selection
            } else {
                app.theme.muted
            };
            [
                Span::styled(format!(" {} ", s.title()), style),
                Span::raw("›"),
            ]
        })
        .collect();
    steps.pop();
    let outer = block(app, Line::from(steps));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let lines: Vec<Line> = match pane.step {
        Step::Pick => {
            let mut lines = vec![Line::styled(
                format!(
                    "{}  (enter: open or choose an extension ★, n: new extension)",
                    pane.cwd.display()
                ),
                app.theme.muted,
            )];
            let height = inner.height.saturating_sub(1) as usize;
            let offset = pane.selected.saturating_sub(height.saturating_sub(1));
            app.list_geometry.set(ListGeometry {
                area: Rect {
                    y: inner.y,
                    ..inner
                },
                offset,
            });
            lines.extend(
                pane.entries
                    .iter()
                    .enumerate()
                    .skip(offset)
                    .take(height)
                    .map(|(i, e)| {
                        let style = if i == pane.selected {
                            app.theme.selection
                        } else {
                            app.theme.base
                        };
                        Line::styled(
                            format!(" {} {}", if e.extension { "★" } else { "▸" }, e.name),
                            style,
                        )
                    }),
            );
            lines
        }
        Step::Validate => match &pane.validation {
            LoadState::Loading => vec![Line::styled("Validating…", app.theme.muted)],
            LoadState::Failed(_) => {
                let mut lines = vec![Line::styled(
                    "Problems to fix (edit, then v to validate again):",
                    app.theme.error,
                )];
                lines.extend(pane.problems.iter().flat_map(|p| {
                    p.lines()
                        .map(|l| Line::raw(l.to_string()))
                        .collect::<Vec<_>>()
                }));
                lines
            }
            _ => vec![],
        },
        _ => publish_summary(app),
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn publish_summary(app: &App) -> Vec<Line<'static>> {
    let pane = &app.publish;
    let mut lines = Vec::new();
    if let (Some(dir), Some(s)) = (&pane.dir, &pane.summary) {
        lines.push(Line::styled(
            format!("{} {} {}  ({})", s.kind, s.name, s.version, dir.display()),
            app.theme.accent,
        ));
        for w in &s.warnings {
            lines.push(Line::styled(w.clone(), app.theme.warning));
        }
    }
    match (&pane.package_state, &pane.package) {
        (LoadState::Loading, _) => lines.push(Line::raw("Packaging…")),
        (LoadState::Failed(e), _) => lines.push(Line::styled(
            format!("packaging failed: {e}"),
            app.theme.error,
        )),
        (_, Some(p)) => {
            lines.push(Line::raw(format!(
                "package   {} files, {}",
                p.files,
                human_bytes(p.size)
            )));
            lines.push(Line::raw(format!("content   {}", p.digest)));
            lines.push(Line::raw(format!("manifest  {}", p.manifest_digest)));
        }
        _ => {}
    }
    if pane.step == Step::Package {
        lines.push(Line::styled("enter: choose the target", app.theme.muted));
    }
    if matches!(
        pane.step,
        Step::Target | Step::Push | Step::Verify | Step::Done
    ) {
        lines.push(Line::default());
        if let Some(target) = pane.target() {
            lines.push(Line::raw(format!("target    {target}")));
        }
        match &pane.existing_state {
            LoadState::Loading => lines.push(Line::styled(
                "reading the registry's versions…",
                app.theme.muted,
            )),
            LoadState::Failed(e) => lines.push(Line::styled(e.clone(), app.theme.error)),
            LoadState::Loaded => {
                let versions: Vec<String> = pane
                    .existing
                    .iter()
                    .take(8)
                    .map(|t| t.tag.clone())
                    .collect();
                lines.push(Line::raw(format!(
                    "published {}",
                    if versions.is_empty() {
                        "none yet".to_string()
                    } else {
                        versions.join(", ")
                    }
                )));
                if pane.version_conflict() {
                    lines.push(Line::styled(
                        "this version exists with OTHER content: choose a new version",
                        app.theme.error,
                    ));
                } else if pane.version_exists() {
                    lines.push(Line::styled(
                        "this version is published with the same content (push is a no-op)",
                        app.theme.warning,
                    ));
                }
                let suggestions: Vec<String> = pane
                    .suggestions()
                    .iter()
                    .enumerate()
                    .map(|(i, (kind, v))| format!("{} {kind} {v}", i + 1))
                    .collect();
                if pane.step == Step::Target {
                    lines.push(Line::styled(
                        format!("set version: {}   enter: push", suggestions.join("   ")),
                        app.theme.muted,
                    ));
                }
            }
            LoadState::Idle => {}
        }
    }
    if let Some(result) = &pane.push_result {
        lines.push(match result {
            Ok(text) => Line::styled(format!("push      {text}"), app.theme.success),
            Err(e) => Line::styled(format!("push      failed: {e}"), app.theme.error),
        });
    } else if pane.step == Step::Push {
        lines.push(Line::raw("pushing… (progress in 4 Transfers)"));
    }
    if let Some(verified) = &pane.verified {
        lines.push(match verified {
            Ok(d) => Line::styled(
                format!("verified  the registry serves {d}"),
                app.theme.success,
            ),
            Err(e) => Line::styled(format!("verify    {e}"), app.theme.error),
        });
    }
    if pane.step == Step::Done
        && let Some(line) = pane.workspace_line()
    {
        lines.push(Line::default());
        lines.push(Line::styled(
            "add to config/provisioning.yaml under dependencies.extensions.modules:",
            app.theme.accent,
        ));
        lines.extend(line.lines().map(|l| Line::raw(format!("  {l}"))));
    }
    lines
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
