//! Drawing the Registry pane: the repositories table. Tags, the preview and the detail are in
//! `tags_view`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Described, Level, RegistryPane};
use crate::oci::Reference;
use crate::tui::theme::Theme;
use crate::tui::view::{ListGeometry, View, block, filter_label, loading_text};

pub(super) fn draw(pane: &RegistryPane, frame: &mut Frame, area: Rect, view: &View) {
    pane.width.set(area.width);
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
        Level::Repositories => repositories(pane, frame, area, view.theme, &header),
        Level::Tags => super::tags_view::tags(pane, frame, area, view.theme, &header),
        Level::Detail => super::tags_view::detail(pane, frame, area, view.theme, &header),
    }
}

/// Where a table's rows go inside its bordered `area`, below the column header: set as the
/// list geometry, so clicks and page keys count rows under the header.
pub(super) fn rows_geometry(pane: &RegistryPane, area: Rect, offset: usize) {
    let area = Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(1),
        ..area
    };
    pane.geometry.set(ListGeometry { area, offset });
}

fn repositories(pane: &RegistryPane, frame: &mut Frame, area: Rect, theme: &Theme, header: &str) {
    let title = format!(
        "{header}repositories {}/{}{}",
        pane.repos.len(),
        pane.repos.total(),
        filter_label(&pane.repos.filter, pane.repos.filtering)
    );
    let outer = block(theme, title);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    // Known before the rows arrive, so the first descriptions asked are the visible ones.
    rows_geometry(pane, area, 0);
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
    let (offset, rows) = pane.repos.window(inner.height.saturating_sub(1) as usize);
    rows_geometry(pane, area, offset);
    let name_width = rows
        .iter()
        .map(|(_, e)| e.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(12, 28);
    let columns = [name_width, 9, 10];
    let rest =
        (inner.width as usize).saturating_sub(1 + columns.iter().map(|w| w + 2).sum::<usize>());
    let mut lines = vec![Line::styled(
        format!(
            " {}  {}  {}  {}",
            fit("NAME", name_width),
            fit("TYPE", 9),
            fit("VERSION", 10),
            fit("DESCRIPTION", rest)
        ),
        theme.muted,
    )];
    let registry = pane.registry().to_string();
    lines.extend(rows.iter().map(|(i, entry)| {
        let selected = *i == pane.repos.selected_index();
        let reference = Reference {
            registry: registry.clone(),
            repository: entry.repository.clone(),
            tag: None,
            digest: None,
        };
        let found = pane.description(&reference);
        let field = |pick: fn(&crate::tui::worker::Description) -> Option<&String>| match found {
            Some(Described::Found(d)) => pick(d).map(String::as_str).unwrap_or("-"),
            Some(Described::Failed) => "-",
            Some(Described::Pending) | None => "…",
        };
        let cells = [
            (fit(&entry.name, name_width), theme.base),
            (fit(field(|d| d.kind.as_ref()), 9), theme.muted),
            (fit(field(|d| d.version.as_ref()), 10), theme.base),
            (fit(field(|d| d.description.as_ref()), rest), theme.muted),
        ];
        row(&cells, selected, theme)
    }));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A table row: cells two spaces apart; the selected row in the selection style throughout.
pub(super) fn row<'a>(cells: &[(String, Style)], selected: bool, theme: &Theme) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    for (i, (text, style)) in cells.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        // The selection's own colours win over the columns', so it reads in every theme.
        let style = if selected { theme.selection } else { *style };
        spans.push(Span::styled(text.clone(), style));
    }
    let line = Line::from(spans);
    if selected {
        line.style(theme.selection)
    } else {
        line
    }
}

/// `text` cut or padded to `width` characters; a cut ends in `…`.
pub(super) fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        format!("{text:<width$}")
    } else if width == 0 {
        String::new()
    } else {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}
