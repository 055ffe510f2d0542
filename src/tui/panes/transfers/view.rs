//! Drawing the Transfers pane: the jobs as a table, the selected job's blobs as gauges.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Gauge, Paragraph, Row, Table};

use super::{JobState, TransfersPane};
use crate::tui::view::{ListGeometry, View, block, short};
use crate::units::human_bytes;

pub(super) fn draw(pane: &TransfersPane, frame: &mut Frame, area: Rect, view: &View) {
    let theme = view.theme;
    let outer = block(
        theme,
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
            Paragraph::new("No transfers yet. Pull (p) or copy (c) from the Registry pane, or push from Publish.").style(theme.muted),
            inner,
        );
        return;
    }
    let [list, detail] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    let height = list.height.saturating_sub(1) as usize;
    let offset = pane.selected.saturating_sub(height.saturating_sub(1));
    pane.geometry.set(ListGeometry { area: list, offset });
    let now = view.now;
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
                theme.selection
            } else {
                match job.state {
                    JobState::Failed(_) => theme.error,
                    JobState::Done(_) => theme.success,
                    _ => theme.base,
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
        Row::new(vec!["#", "kind", "state", "bytes", "rate", "eta", "what"]).style(theme.muted),
    );
    frame.render_widget(table, list);
    if let Some(job) = pane.selected_job() {
        let [what, detail] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(detail);
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{} {}", job.kind, job.description),
                theme.accent,
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
            JobState::Failed(e) => Line::styled(format!("error: {e}"), theme.error),
            JobState::Done(text) => Line::styled(text.clone(), theme.success),
            JobState::Cancelled => Line::styled("cancelled", theme.warning),
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
                theme.muted,
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
                    .gauge_style(theme.accent),
                *row,
            );
        }
    }
}
