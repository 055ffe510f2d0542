//! Drawing the Registry pane.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Level, RegistryPane};
use crate::oci::browse::Inspection;
use crate::tui::theme::Theme;
use crate::tui::view::{ListGeometry, View, block, filter_label, loading_text, short};
use crate::units::human_bytes;

pub(super) fn draw(pane: &RegistryPane, frame: &mut Frame, area: Rect, view: &View) {
    let theme = view.theme;
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
            let outer = block(theme, title);
            let inner = outer.inner(area);
            frame.render_widget(outer, area);
            if let Some(text) = loading_text(theme, &pane.repos_state, "repositories") {
                frame.render_widget(text, inner);
                return;
            }
            if pane.repos.total() == 0 {
                frame.render_widget(
                    Paragraph::new(format!(
                        "No repositories under `{}`. Press R to open another registry.",
                        pane.namespace
                    ))
                    .style(theme.muted),
                    inner,
                );
                return;
            }
            let (offset, rows) = pane.repos.window(inner.height as usize);
            pane.geometry.set(ListGeometry { area, offset });
            let lines: Vec<Line> = rows
                .iter()
                .map(|(i, entry)| {
                    let style = if *i == pane.repos.selected_index() {
                        theme.selection
                    } else {
                        theme.base
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
            let outer = block(theme, title);
            let inner = outer.inner(area);
            frame.render_widget(outer, area);
            if let Some(text) = loading_text(theme, &pane.tags_state, "tags") {
                frame.render_widget(text, inner);
                return;
            }
            let (offset, rows) = pane.tags.window(inner.height as usize);
            pane.geometry.set(ListGeometry { area, offset });
            let lines: Vec<Line> = rows
                .iter()
                .map(|(i, t)| {
                    let style = if *i == pane.tags.selected_index() {
                        theme.selection
                    } else {
                        theme.base
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
            let outer = block(theme, title);
            let inner = outer.inner(area);
            frame.render_widget(outer, area);
            if let Some(text) = loading_text(theme, &pane.detail_state, "details") {
                frame.render_widget(text, inner);
                return;
            }
            let Some(detail) = &pane.detail else { return };
            frame.render_widget(
                Paragraph::new(detail_text(theme, detail))
                    .scroll((pane.detail_scroll, 0))
                    .wrap(Wrap { trim: false }),
                inner,
            );
        }
    }
}

pub(super) fn detail_text<'a>(theme: &Theme, d: &'a Inspection) -> Text<'a> {
    let key = |k: &'a str| Span::styled(format!("{k:<14} "), theme.muted);
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
        lines.push(Line::styled("extension manifest", theme.accent));
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
            lines.push(Line::styled("dependencies", theme.accent));
            if deps.is_empty() {
                lines.push(Line::styled("  none", theme.muted));
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
        lines.push(Line::styled("annotations", theme.accent));
        for (k, v) in &d.annotations {
            lines.push(Line::raw(format!("  {k} = {v}")));
        }
    }
    let mut section = |title: &'static str, list: &'a [crate::oci::client::Descriptor]| {
        if list.is_empty() {
            return;
        }
        lines.push(Line::default());
        lines.push(Line::styled(title, theme.accent));
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
