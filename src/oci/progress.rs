//! Progress of long operations as events on a channel: the CLI draws them as bars, the
//! workbench in its Transfers pane. One code path, two views.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::Digest;

/// Something that happened to one blob (or manifest) of a transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferEvent {
    /// Work on a blob began; `total` is its size.
    Started {
        digest: Digest,
        total: u64,
        direction: Direction,
    },
    /// Bytes moved so far for a blob.
    Progress {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// The blob is where it must be.
    Finished { digest: Digest, outcome: Outcome },
    /// The blob could not be moved; `error` says why.
    Failed { digest: Digest, error: String },
    /// A request failed in a way worth retrying; the client waits `delay` first.
    Retrying {
        what: String,
        attempt: u32,
        delay: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Pull,
    Push,
}

/// How a blob got where it had to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Transferred,
    /// The target already had it.
    AlreadyPresent,
    /// It came from the local cache.
    Cached,
    /// Mounted from another repository of the same registry.
    Mounted,
}

/// Where progress events go; silent when no channel is attached.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    sender: Option<UnboundedSender<TransferEvent>>,
}

impl Progress {
    pub fn new(sender: UnboundedSender<TransferEvent>) -> Progress {
        Progress {
            sender: Some(sender),
        }
    }

    /// A sink that drops every event.
    pub fn silent() -> Progress {
        Progress::default()
    }

    pub fn emit(&self, event: TransferEvent) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(event);
        }
    }
}
