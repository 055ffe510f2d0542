//! Drawing the Publish pane: the steps, the file picker, and what each step found.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{PublishPane, Step};
use crate::tui::panes::LoadState;
use crate::tui::theme::Theme;
use crate::tui::view::{ListGeometry, View, block};
use crate::units::human_bytes;

pub(super) fn draw(pane: &PublishPane, frame: &mut Frame, area: Rect, view: &View) {
    let theme = view.theme;
    let mut steps: Vec<Span> = Step::ALL
        .iter()
        .flat_map(|s| {
            let style = if *s == pane.step {
                theme.selection
            } else {
                theme.muted
            };
            [
                Span::styled(format!(" {} ", s.title()), style),
                Span::raw("›"),
            ]
        })
        .collect();
    steps.pop();
    let outer = block(theme, Line::from(steps));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let lines: Vec<Line> = match pane.step {
        Step::Pick => {
            let mut lines = vec![Line::styled(
                format!(
                    "{}  (enter: open or choose an extension ★, n: new extension)",
                    pane.cwd.display()
                ),
                theme.muted,
            )];
            let height = inner.height.saturating_sub(1) as usize;
            let offset = pane.selected.saturating_sub(height.saturating_sub(1));
            pane.geometry.set(ListGeometry {
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
                            theme.selection
                        } else {
                            theme.base
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
            LoadState::Loading => vec![Line::styled("Validating…", theme.muted)],
            LoadState::Failed(_) => {
                let mut lines = vec![Line::styled(
                    "Problems to fix (edit, then v to validate again):",
                    theme.error,
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
        _ => summary(pane, theme),
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn summary(pane: &PublishPane, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let (Some(dir), Some(s)) = (&pane.dir, &pane.summary) {
        lines.push(Line::styled(
            format!("{} {} {}  ({})", s.kind, s.name, s.version, dir.display()),
            theme.accent,
        ));
        for w in &s.warnings {
            lines.push(Line::styled(w.clone(), theme.warning));
        }
    }
    match (&pane.package_state, &pane.package) {
        (LoadState::Loading, _) => lines.push(Line::raw("Packaging…")),
        (LoadState::Failed(e), _) => {
            lines.push(Line::styled(format!("packaging failed: {e}"), theme.error))
        }
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
        lines.push(Line::styled("enter: choose the target", theme.muted));
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
                theme.muted,
            )),
            LoadState::Failed(e) => lines.push(Line::styled(e.clone(), theme.error)),
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
                        theme.error,
                    ));
                } else if pane.version_exists() {
                    lines.push(Line::styled(
                        "this version is published with the same content (push is a no-op)",
                        theme.warning,
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
                        theme.muted,
                    ));
                }
            }
            LoadState::Idle => {}
        }
    }
    if let Some(result) = &pane.push_result {
        lines.push(match result {
            Ok(text) => Line::styled(format!("push      {text}"), theme.success),
            Err(e) => Line::styled(format!("push      failed: {e}"), theme.error),
        });
    } else if pane.step == Step::Push {
        lines.push(Line::raw("pushing… (progress in 4 Transfers)"));
    }
    if let Some(verified) = &pane.verified {
        lines.push(match verified {
            Ok(d) => Line::styled(format!("verified  the registry serves {d}"), theme.success),
            Err(e) => Line::styled(format!("verify    {e}"), theme.error),
        });
    }
    if pane.step == Step::Done
        && let Some(line) = pane.workspace_line()
    {
        lines.push(Line::default());
        lines.push(Line::styled(
            "w: add it to the workspace (the Workspace pane, pre-filled)",
            theme.accent,
        ));
        lines.push(Line::styled(
            "or add to config/provisioning.yaml under dependencies.extensions.modules:",
            theme.muted,
        ));
        lines.extend(line.lines().map(|l| Line::raw(format!("  {l}"))));
    }
    lines
}
