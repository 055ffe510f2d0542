//! Drawing the Registry, Transfers and Publish panes.

use super::*;

pub(super) fn draw_registry(frame: &mut Frame, app: &App, area: Rect) {
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

pub(super) fn filter_label(filter: &str, filtering: bool) -> String {
    match (filter.is_empty(), filtering) {
        (true, false) => String::new(),
        (_, true) => format!("  /{filter}▏"),
        (false, false) => format!("  /{filter}"),
    }
}

pub(super) fn detail_text<'a>(app: &App, d: &'a crate::oci::browse::Inspection) -> Text<'a> {
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

pub(super) fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

pub(super) fn draw_transfers(frame: &mut Frame, app: &App, area: Rect) {
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

pub(super) fn draw_publish(frame: &mut Frame, app: &App, area: Rect) {
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

pub(super) fn publish_summary(app: &App) -> Vec<Line<'static>> {
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
