//! Transfers pane: every push/pull/copy job with per-blob progress, rate, ETA and state.

mod keys;
mod view;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::oci::Digest;
use crate::oci::progress::{Outcome, TransferEvent};
use crate::tui::clock::Clock;
use crate::tui::view::GeometryCell;
use crate::tui::worker::{JobId, Request};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Running,
    Done(String),
    Failed(String),
    Cancelled,
}

/// Progress of one blob.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlobProgress {
    pub done: u64,
    pub total: u64,
    pub outcome: Option<Outcome>,
    pub failed: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Job {
    pub id: JobId,
    pub kind: &'static str,
    pub description: String,
    pub state: JobState,
    pub blobs: BTreeMap<Digest, BlobProgress>,
    pub started: Instant,
    pub finished: Option<Instant>,
    /// The request that started it, for retry.
    pub request: Request,
    pub retries_seen: u32,
}

impl Job {
    pub fn bytes(&self) -> (u64, u64) {
        self.blobs
            .values()
            .fold((0, 0), |(d, t), b| (d + b.done.min(b.total), t + b.total))
    }

    /// Bytes per second from the start to the end, or to `now` while it runs.
    pub fn rate(&self, now: Instant) -> f64 {
        let elapsed = self
            .finished
            .unwrap_or(now)
            .saturating_duration_since(self.started);
        let secs = elapsed.as_secs_f64().max(0.001);
        self.bytes().0 as f64 / secs
    }

    /// How long the rest takes at the rate so far, while it runs.
    pub fn eta(&self, now: Instant) -> Option<Duration> {
        if self.state != JobState::Running {
            return None;
        }
        let (done, total) = self.bytes();
        let rate = self.rate(now);
        (rate > 0.0 && total > done).then(|| Duration::from_secs_f64((total - done) as f64 / rate))
    }
}

#[derive(Default)]
pub struct TransfersPane {
    pub jobs: Vec<Job>,
    pub selected: usize,
    /// Stamps jobs' start and end.
    pub clock: Clock,
    pub geometry: GeometryCell,
}

impl TransfersPane {
    pub fn add(&mut self, id: JobId, kind: &'static str, description: String, request: Request) {
        self.jobs.push(Job {
            id,
            kind,
            description,
            state: JobState::Running,
            blobs: BTreeMap::new(),
            started: self.clock.now(),
            finished: None,
            request,
            retries_seen: 0,
        });
        self.selected = self.jobs.len() - 1;
    }

    pub fn running(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.state == JobState::Running)
            .count()
    }

    pub fn job_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    pub fn selected_job(&self) -> Option<&Job> {
        self.jobs.get(self.selected)
    }

    pub fn on_event(&mut self, id: JobId, event: TransferEvent) {
        let Some(job) = self.job_mut(id) else {
            return;
        };
        match event {
            TransferEvent::Started { digest, total, .. } => {
                job.blobs.insert(
                    digest,
                    BlobProgress {
                        total,
                        ..BlobProgress::default()
                    },
                );
            }
            TransferEvent::Progress {
                digest,
                done,
                total,
            } => {
                let blob = job.blobs.entry(digest).or_default();
                blob.done = done;
                blob.total = total;
            }
            TransferEvent::Finished { digest, outcome } => {
                let blob = job.blobs.entry(digest).or_default();
                blob.outcome = Some(outcome);
                blob.done = blob.total;
            }
            TransferEvent::Failed { digest, error } => {
                job.blobs.entry(digest).or_default().failed = Some(error);
            }
            TransferEvent::Retrying { .. } => job.retries_seen += 1,
        }
    }

    pub fn on_done(&mut self, id: JobId, result: Result<String, String>) {
        let now = self.clock.now();
        if let Some(job) = self.job_mut(id) {
            if job.state != JobState::Running {
                return;
            }
            job.finished = Some(now);
            job.state = match result {
                Ok(text) => JobState::Done(text),
                Err(e) if e == "cancelled" => JobState::Cancelled,
                Err(e) => JobState::Failed(e),
            };
        }
    }

    pub fn move_by(&mut self, delta: isize) {
        if !self.jobs.is_empty() {
            self.selected =
                (self.selected as isize + delta).clamp(0, self.jobs.len() as isize - 1) as usize;
        }
    }
}
