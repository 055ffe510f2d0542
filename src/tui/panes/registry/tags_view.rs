//! Drawing the Registry pane's tags: a table beside a preview of the selected tag on wide
//! panes, the table alone on narrow ones, and the full detail.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Paragraph, Wrap};

use super::view::{fit, row, rows_geometry};
use super::{Described, RegistryPane};
use crate::oci::browse::Inspection;
use crate::tui::panes::LoadState;
use crate::tui::theme::Theme;
use crate::tui::view::{block, filter_label, loading_text, short};
use crate::tui::worker::SignatureSummary;
use crate::units::human_bytes;

/// Columns of the tag table: tag, digest, size, workspace.
const TAG: usize = 20;
const DIGEST: usize = 12;
const SIZE: usize = 9;
const USE: usize = 9;
/// The tag table's width with its border.
const TABLE_WIDTH: u16 = (1 + TAG + 2 + DIGEST + 2 + SIZE + 2 + USE + 1 + 2) as u16;

pub(super) fn tags(
    pane: &RegistryPane,
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    header: &str,
) {
    let (list_area, preview_area) = if pane.wide() {
        let [list, preview] =
            Layout::horizontal([Constraint::Length(TABLE_WIDTH), Constraint::Min(20)]).areas(area);
        (list, Some(preview))
    } else {
        (area, None)
    };
    // Beside the preview the table is narrow: the registry is left to the preview's
    // reference line, and the namespace too when it does not fit.
    let header = match (preview_area, &pane.tags_of) {
        (Some(_), Some(repository)) => {
            let (namespace, name) = repository
                .repository
                .rsplit_once('/')
                .unwrap_or(("", &repository.repository));
            let long = format!(" {namespace} › {name} ");
            if namespace.is_empty() || long.chars().count() + 16 > list_area.width as usize {
                format!(" {name} ")
            } else {
                long
            }
        }
        _ => header.to_string(),
    };
    let title = format!(
        "{header}tags {}/{}{}",
        pane.tags.len(),
        pane.tags.total(),
        filter_label(&pane.tags.filter, pane.tags.filtering)
    );
    let outer = block(theme, title);
    let inner = outer.inner(list_area);
    frame.render_widget(outer, list_area);
    rows_geometry(pane, list_area, 0);
    if let Some(preview_area) = preview_area {
        preview(pane, frame, preview_area, theme);
    }
    if let Some(text) = loading_text(theme, &pane.tags_state, "tags") {
        frame.render_widget(text, inner);
        return;
    }
    let (offset, rows) = pane.tags.window(inner.height.saturating_sub(1) as usize);
    rows_geometry(pane, list_area, offset);
    let mut lines = vec![Line::styled(
        format!(
            " {}  {}  {}  {}",
            fit("TAG", TAG),
            fit("DIGEST", DIGEST),
            format_args!("{:>SIZE$}", "SIZE"),
            fit("WORKSPACE", USE)
        ),
        theme.muted,
    )];
    let base = pane.tags_of.clone();
    lines.extend(rows.iter().map(|(i, t)| {
        let found = base
            .as_ref()
            .and_then(|b| pane.description(&b.with_tag(&t.tag)));
        let (digest, size) = match found {
            Some(Described::Found(d)) => (
                d.digest
                    .as_deref()
                    .map(|d| d.split_once(':').map_or(d, |(_, hex)| hex))
                    .map(|hex| hex.chars().take(DIGEST).collect())
                    .unwrap_or_else(|| "-".to_string()),
                d.size.map(human_bytes).unwrap_or_else(|| "-".to_string()),
            ),
            Some(Described::Failed) => ("-".to_string(), "-".to_string()),
            Some(Described::Pending) | None => ("…".to_string(), "…".to_string()),
        };
        let tag = if t.version.is_some() {
            t.tag.clone()
        } else {
            format!("{} (not semver)", t.tag)
        };
        let usage = pane.usage(&t.tag).map(|u| u.label()).unwrap_or("");
        let cells = [
            (fit(&tag, TAG), theme.base),
            (fit(&digest, DIGEST), theme.muted),
            (format!("{size:>SIZE$}"), theme.base),
            (fit(usage, USE), theme.success),
        ];
        row(&cells, *i == pane.tags.selected_index(), theme)
    }));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The selected tag's detail beside the table, its reference first.
fn preview(pane: &RegistryPane, frame: &mut Frame, area: Rect, theme: &Theme) {
    let tag = pane
        .detail_of
        .as_ref()
        .and_then(|r| r.tag.clone())
        .unwrap_or_default();
    let outer = block(theme, format!(" {tag} · enter: full detail "));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if pane.tags_state != LoadState::Loaded || pane.detail_of.is_none() {
        return;
    }
    if let Some(text) = loading_text(theme, &pane.detail_state, "details") {
        frame.render_widget(text, inner);
        return;
    }
    let Some(detail) = &pane.detail else { return };
    let mut text = detail_text(theme, detail, pane.signatures.as_ref());
    if let Some(reference) = &pane.detail_of {
        text.lines.insert(
            0,
            Line::from(vec![
                Span::styled(format!("{:<14} ", "reference"), theme.muted),
                Span::raw(reference.to_string()),
            ]),
        );
    }
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
}

pub(super) fn detail(
    pane: &RegistryPane,
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    header: &str,
) {
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
        Paragraph::new(detail_text(theme, detail, pane.signatures.as_ref()))
            .scroll((pane.detail_scroll, 0))
            .wrap(Wrap { trim: false }),
        inner,
    );
}

/// The signatures row: how many, and whether one verifies with a key the workspace trusts.
fn signatures_line(
    theme: &Theme,
    signatures: Option<&Result<SignatureSummary, String>>,
) -> Span<'static> {
    match signatures {
        None => Span::styled("…", theme.muted),
        Some(Err(e)) => Span::styled(format!("cannot read them: {e}"), theme.error),
        Some(Ok(s)) if s.count == 0 => Span::styled("none", theme.muted),
        Some(Ok(s)) => match (&s.verified_with, s.trusted_keys) {
            (Some(key), _) => {
                Span::styled(format!("{} (verified with {key})", s.count), theme.success)
            }
            (None, 0) => Span::raw(format!(
                "{} (the workspace trusts no key: signatures.keys)",
                s.count
            )),
            (None, _) => Span::styled(
                format!("{} (none verifies with the workspace's keys)", s.count),
                theme.warning,
            ),
        },
    }
}

pub(super) fn detail_text<'a>(
    theme: &Theme,
    d: &'a Inspection,
    signatures: Option<&Result<SignatureSummary, String>>,
) -> Text<'a> {
    let key = |k: &'a str| Span::styled(format!("{k:<14} "), theme.muted);
    let mut lines = vec![
        Line::from(vec![key("digest"), Span::raw(d.digest.to_string())]),
        Line::from(vec![key("media type"), Span::raw(d.media_type.as_str())]),
        Line::from(vec![
            key("artifact type"),
            Span::raw(d.artifact_type.clone().unwrap_or_else(|| "-".into())),
        ]),
        Line::from(vec![key("size"), Span::raw(human_bytes(d.size))]),
        Line::from(vec![key("signatures"), signatures_line(theme, signatures)]),
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
