//! What the resolver reports while it works. The CLI draws a progress line from these; the
//! workbench's dependency tree fills itself in from the same stream.

use semver::Version;
use tokio::sync::mpsc::UnboundedSender;

/// One step of a resolution.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ResolveEvent {
    /// A name entered the resolution: its versions are being listed.
    Requested { name: String, repository: String },
    /// The versions of a name are known.
    CandidatesKnown { name: String, versions: usize },
    /// The metadata (manifest and config) of one version arrived.
    MetadataFetched { name: String, version: Version },
    /// The solver picked a version.
    Chosen { name: String, version: Version },
    /// A chosen version's dependencies, as its manifest writes them.
    DependenciesKnown {
        name: String,
        version: Version,
        dependencies: Vec<(String, String)>,
    },
    /// No set of versions fits; the explanation in plain sentences.
    Conflict { explanation: String },
    /// The resolved graph has a cycle.
    Cycle { path: Vec<String> },
    /// Stopped by something other than a conflict (a registry, a local module, cancel).
    Failed { message: String },
    /// Finished: how many extensions, and how many requests were sent.
    Done { extensions: usize, requests: usize },
}

/// Where events go: a channel, or nowhere.
#[derive(Clone, Debug, Default)]
pub struct ResolveEvents {
    sender: Option<UnboundedSender<ResolveEvent>>,
}

impl ResolveEvents {
    pub fn new(sender: UnboundedSender<ResolveEvent>) -> ResolveEvents {
        ResolveEvents {
            sender: Some(sender),
        }
    }

    pub fn silent() -> ResolveEvents {
        ResolveEvents::default()
    }

    pub fn emit(&self, event: ResolveEvent) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(event);
        }
    }
}
