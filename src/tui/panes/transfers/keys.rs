//! What actions do to the Transfers pane.

use super::{JobState, TransfersPane};
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::tui::action::Action;
use crate::tui::panes::Effects;
use crate::tui::view::{ListGeometry, Pane, View};
use crate::tui::worker::Request;

impl Pane for TransfersPane {
    fn hints(&self) -> Vec<Action> {
        vec![
            Action::Up,
            Action::Down,
            Action::CancelJob,
            Action::RetryJob,
        ]
    }

    fn action(&mut self, action: Action, fx: &mut Effects) {
        let page = self.geometry.get().page();
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = self.jobs.len().saturating_sub(1),
            Action::CancelJob => {
                if let Some(job) = self.selected_job()
                    && job.state == JobState::Running
                {
                    fx.send(Request::CancelJob { job: job.id });
                }
            }
            Action::RetryJob => {
                if let Some(job) = self.selected_job()
                    && matches!(job.state, JobState::Failed(_) | JobState::Cancelled)
                {
                    fx.job(job.kind, job.description.clone(), job.request.clone());
                }
            }
            _ => {}
        }
    }

    fn select_index(&mut self, index: usize, _fx: &mut Effects) {
        self.selected = index.min(self.jobs.len().saturating_sub(1));
    }

    fn geometry(&self) -> ListGeometry {
        self.geometry.get()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, view: &View) {
        super::view::draw(self, frame, area, view);
    }
}
