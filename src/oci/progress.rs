//! Progress of long operations as events on a channel: the CLI draws them as bars, the
//! workbench in its Transfers pane. One code path, two views. The same handle carries the
//! other direction: a cancellation token the viewer trips to stop the transfer.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

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

/// Where progress events go (silent when no channel is attached), and the token that cancels
/// the operation (never cancelled unless one is attached with [`Progress::with_cancel`]).
#[derive(Clone, Debug, Default)]
pub struct Progress {
    sender: Option<UnboundedSender<TransferEvent>>,
    cancel: CancellationToken,
}

impl Progress {
    pub fn new(sender: UnboundedSender<TransferEvent>) -> Progress {
        Progress {
            sender: Some(sender),
            cancel: CancellationToken::new(),
        }
    }

    /// The same sink, cancelled through `cancel`: operations given this progress stop at their
    /// next safe point with [`OciError::Cancelled`](super::client::OciError::Cancelled) and
    /// leave nothing partial behind.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Progress {
        self.cancel = cancel;
        self
    }

    /// The token that cancels the operation.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
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
