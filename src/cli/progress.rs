//! Draws transfer events as progress bars on a terminal; prints nothing when piped.

use std::collections::HashMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::oci::progress::{Direction, Outcome, Progress, TransferEvent};

/// A progress sink and the task drawing it.
pub struct ProgressView {
    pub progress: Progress,
    task: Option<JoinHandle<()>>,
}

impl ProgressView {
    /// Bars on stderr when it is a terminal and progress is wanted; silent otherwise.
    pub fn start(enabled: bool) -> ProgressView {
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressView {
                progress: Progress::silent(),
                task: None,
            };
        }
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        ProgressView {
            progress: Progress::new(sender),
            task: Some(tokio::spawn(draw(receiver))),
        }
    }

    /// Waits until every event has been drawn.
    pub async fn finish(self) {
        let ProgressView { progress, task } = self;
        drop(progress);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn draw(mut events: UnboundedReceiver<TransferEvent>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>8} {msg:19} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {eta:>4}")
        .expect("valid template")
        .progress_chars("=> ");
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    while let Some(event) = events.recv().await {
        match event {
            TransferEvent::Started {
                digest,
                total,
                direction,
            } => {
                let bar = multi.add(ProgressBar::new(total));
                bar.set_style(style.clone());
                bar.set_prefix(match direction {
                    Direction::Pull => "pull",
                    Direction::Push => "push",
                });
                bar.set_message(short(&digest.to_string()));
                bars.insert(digest.to_string(), bar);
            }
            TransferEvent::Progress { digest, done, .. } => {
                if let Some(bar) = bars.get(&digest.to_string()) {
                    bar.set_position(done);
                }
            }
            TransferEvent::Finished { digest, outcome } => {
                let label = match outcome {
                    Outcome::Transferred => "done",
                    Outcome::AlreadyPresent => "exists",
                    Outcome::Cached => "cached",
                    Outcome::Mounted => "mounted",
                };
                match bars.get(&digest.to_string()) {
                    Some(bar) => {
                        bar.set_prefix(label);
                        bar.finish();
                    }
                    None => {
                        let _ = multi.println(format!("{label:>8} {}", short(&digest.to_string())));
                    }
                }
            }
            TransferEvent::Failed { digest, error } => {
                if let Some(bar) = bars.get(&digest.to_string()) {
                    bar.set_prefix("failed");
                    bar.abandon_with_message(error);
                }
            }
            TransferEvent::Retrying {
                what,
                attempt,
                delay,
            } => {
                let _ = multi.println(format!(
                    "   retry {what} (attempt {attempt}, waiting {delay:?})"
                ));
            }
        }
    }
}

fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}
