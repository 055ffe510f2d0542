//! Resolution for the Dependencies pane: the resolver's events as they come, then the outcome —
//! the resolved set with why each version was chosen, the graph, a conflict or a cycle, the
//! lock's state and what could be updated. A preview: nothing is written, nothing installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use semver::Version;
use tokio::sync::mpsc::unbounded_channel;
use tokio_util::sync::CancellationToken;

use super::{Context, Response};
use crate::deps::graph::DepGraph;
use crate::deps::install::{install_path, installed_marker};
use crate::deps::lock::{Lockfile, inputs_hash, lock_path};
use crate::deps::resolve::{Resolution, ResolveError, ResolvedSource, default_repo, resolve};
use crate::deps::{Explanation, ResolveEvent, ResolveEvents, ResolveOptions};
use crate::extension::manifest::ExtensionType;
use crate::extension::range::VersionRange;
use crate::oci::{Digest, Reference};
use crate::workspace::{ModuleSource, Requirement, Workspace};

/// How long a resolution waits before it starts, so a burst of edits resolves once (a newer
/// request aborts the waiting one).
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(150);

static DEBOUNCE_MS: AtomicU64 = AtomicU64::new(DEFAULT_DEBOUNCE.as_millis() as u64);

/// Sets the wait before each resolution (zero for benchmarks and tests).
pub fn set_debounce(wait: Duration) {
    DEBOUNCE_MS.store(wait.as_millis() as u64, Ordering::Relaxed);
}

/// The wait before each resolution.
pub fn debounce() -> Duration {
    Duration::from_millis(DEBOUNCE_MS.load(Ordering::Relaxed))
}

/// How a resolution ended, as the Dependencies pane shows it.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The workspace resolved.
    pub root: PathBuf,
    /// Resolved from unsaved edits rather than the file on disk.
    pub edited: bool,
    /// Every extension, by name: the resolved set, or — after a conflict or a cycle — what
    /// the resolver had chosen when it stopped.
    pub extensions: Vec<Extension>,
    pub graph: DepGraph,
    /// No versions fit: the resolver's explanation and the ways out.
    pub conflict: Option<Explanation>,
    /// The dependencies go round: `a 1.0.0 → b 1.0.0 → a 1.0.0`.
    pub cycle: Option<Vec<String>>,
    pub lock: LockState,
    /// The workspace's modules, in file order.
    pub modules: Vec<Module>,
    pub warnings: Vec<String>,
    /// Requests sent to registries.
    pub requests: usize,
}

impl Outcome {
    pub fn get(&self, name: &str) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.name == name)
    }

    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// Resolved, with neither a conflict nor a cycle.
    pub fn ok(&self) -> bool {
        self.conflict.is_none() && self.cycle.is_none()
    }
}

/// One extension of the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    /// Unknown when the resolver stopped before reading it.
    pub kind: Option<ExtensionType>,
    /// The chosen version; none when the resolver never chose one.
    pub version: Option<Version>,
    /// Its repository, with the chosen version's tag.
    pub reference: Reference,
    /// Manifest digest (a local module: its package digest), when resolved.
    pub digest: Option<Digest>,
    /// A local module's directory, as provisioning.yaml writes it.
    pub local: Option<PathBuf>,
    /// Listed in provisioning.yaml.
    pub module: bool,
    /// Who asks for it, and for which range.
    pub asks: Vec<Asked>,
    /// Why this version, in words.
    pub why: String,
    /// A newer release the registry lists than the chosen version.
    pub newest: Option<Version>,
    pub lock: NodeLock,
}

/// One requirement on an extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    /// `provisioning.yaml`, or `kubernetes 1.28.0`.
    pub by: String,
    /// `=1.28.0`, `>=1.7.0`.
    pub range: String,
}

/// An extension against config/provisioning.lock and the installed tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NodeLock {
    /// Locked at this version and digest, and installed.
    Installed,
    /// Locked at this version and digest, not (or not fully) installed.
    NotInstalled,
    /// The lock has another version or content.
    Differs { locked: Version },
    /// Not in the lock (or there is no lock).
    #[default]
    NotLocked,
}

/// The lock as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LockState {
    /// There is no config/provisioning.lock.
    #[default]
    Missing,
    /// Written for these modules and this answer.
    Current,
    /// Written for other modules (provisioning.yaml or the edits changed them) or another
    /// answer; `dep resolve` would rewrite it.
    OutOfDate(String),
    /// It cannot be read.
    Unreadable(String),
}

/// A module of provisioning.yaml, as the `u` key needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub requirement: Requirement,
    pub local: bool,
}

pub(super) async fn run(
    ctx: &Context,
    generation: u64,
    root: PathBuf,
    text: Option<String>,
    cancel: CancellationToken,
) -> Response {
    let wait = debounce();
    if !wait.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = cancel.cancelled() => return cancelled(generation),
        }
    }
    let result = outcome(ctx, generation, &root, text, cancel)
        .await
        .map(Box::new);
    Response::Resolved { generation, result }
}

fn cancelled(generation: u64) -> Response {
    Response::Resolved {
        generation,
        result: Err("cancelled; the previous result is kept".into()),
    }
}

async fn outcome(
    ctx: &Context,
    generation: u64,
    root: &Path,
    text: Option<String>,
    cancel: CancellationToken,
) -> Result<Outcome, String> {
    let edited = text.is_some();
    let workspace = {
        let root = root.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut workspace = Workspace::load(&root).map_err(|e| e.to_string())?;
            if let Some(text) = text {
                workspace.reload_text(text).map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(workspace)
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let (lock, lock_error) = match Lockfile::read(&lock_path(&workspace)) {
        Ok(lock) => (lock, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (sender, mut events) = unbounded_channel();
    let mut options = ResolveOptions::new(ctx.registries.clone(), ctx.cache.clone());
    options.events = ResolveEvents::new(sender);
    options.cancel = cancel;
    if let Some(lock) = &lock {
        options.locked = lock.pins();
    }
    let mut log = Vec::new();
    let forward = |event: ResolveEvent, log: &mut Vec<ResolveEvent>| {
        log.push(event.clone());
        let _ = ctx.out.send(Response::ResolveEvent { generation, event });
    };
    let resolving = resolve(&workspace, options);
    tokio::pin!(resolving);
    let result = loop {
        tokio::select! {
            biased;
            Some(event) = events.recv() => forward(event, &mut log),
            result = &mut resolving => break result,
        }
    };
    // What was said before the answer goes out before it.
    while let Ok(event) = events.try_recv() {
        forward(event, &mut log);
    }
    let modules = modules_of(&workspace);
    let mut outcome = match result {
        Ok(resolution) => resolved(&resolution, &modules, lock.as_ref()),
        Err(ResolveError::Conflict(explanation)) => {
            let mut outcome = from_events(&workspace, &log, &modules, &explanation.involved);
            outcome.conflict = Some(explanation);
            outcome
        }
        Err(ResolveError::Cycle(path)) => {
            let names: Vec<String> = path
                .iter()
                .map(|p| p.split(' ').next().unwrap_or(p).to_string())
                .collect();
            let mut outcome = from_events(&workspace, &log, &modules, &names);
            outcome.cycle = Some(path);
            outcome
        }
        Err(e) => return Err(e.to_string()),
    };
    outcome.root = root.to_path_buf();
    outcome.edited = edited;
    outcome.modules = modules;
    outcome.lock = match (&lock, lock_error) {
        (_, Some(e)) => LockState::Unreadable(e),
        (None, None) => LockState::Missing,
        (Some(lock), None) => lock_state(&workspace, lock, &outcome),
    };
    for extension in &mut outcome.extensions {
        extension.lock = node_lock(&workspace, lock.as_ref(), extension);
    }
    Ok(outcome)
}

fn modules_of(workspace: &Workspace) -> Vec<Module> {
    workspace
        .config
        .modules
        .iter()
        .map(|m| Module {
            name: m.name.clone(),
            requirement: m.requirement.clone(),
            local: matches!(m.source, ModuleSource::Local { .. }),
        })
        .collect()
}

/// What the workspace asks of `name`, if it is a module.
fn module_ask(modules: &[Module], name: &str) -> Option<Asked> {
    modules.iter().find(|m| m.name == name).map(|m| Asked {
        by: "provisioning.yaml".into(),
        range: m.requirement.to_string(),
    })
}

/// The outcome of a resolution that found an answer.
fn resolved(resolution: &Resolution, modules: &[Module], lock: Option<&Lockfile>) -> Outcome {
    let mut extensions: Vec<Extension> = resolution
        .extensions
        .iter()
        .map(|e| {
            let mut asks: Vec<Asked> = module_ask(modules, &e.name).into_iter().collect();
            let mut ranges: Vec<(String, VersionRange)> = Vec::new();
            for dependent in &resolution.extensions {
                for (dep, range) in &dependent.ranges {
                    if *dep == e.name && dependent.name != e.name {
                        let by = format!("{} {}", dependent.name, dependent.version);
                        asks.push(Asked {
                            by: by.clone(),
                            range: range.to_string(),
                        });
                        ranges.push((by, range.clone()));
                    }
                }
            }
            let available = resolution
                .available
                .get(&e.name)
                .cloned()
                .unwrap_or_default();
            let newest = available
                .iter()
                .find(|v| v.pre.is_empty())
                .filter(|v| **v > e.version)
                .cloned();
            let module = modules.iter().find(|m| m.name == e.name);
            let locked = lock
                .and_then(|l| l.extension(&e.name))
                .map(|l| l.version.clone());
            let why = why(
                &e.version,
                module.map(|m| &m.requirement),
                locked.as_ref(),
                &ranges,
                &available,
            );
            Extension {
                name: e.name.clone(),
                kind: Some(e.kind),
                version: Some(e.version.clone()),
                reference: e.reference.clone(),
                digest: Some(e.digest.clone()),
                local: match &e.source {
                    ResolvedSource::Local { path } => Some(path.clone()),
                    ResolvedSource::Registry => None,
                },
                module: e.module,
                asks,
                why,
                newest,
                lock: NodeLock::NotLocked,
            }
        })
        .collect();
    extensions.sort_by(|a, b| a.name.cmp(&b.name));
    Outcome {
        extensions,
        graph: resolution.graph.clone(),
        warnings: resolution.warnings.clone(),
        requests: resolution.requests,
        ..Outcome::default()
    }
}

/// Why `version` was chosen, in words.
fn why(
    version: &Version,
    requirement: Option<&Requirement>,
    locked: Option<&Version>,
    ranges: &[(String, VersionRange)],
    available: &[Version],
) -> String {
    match requirement {
        Some(Requirement::Local) => {
            return "a local module: the version its manifest.yaml says".into();
        }
        Some(Requirement::Exact(_)) => return "provisioning.yaml pins it".into(),
        _ => {}
    }
    let fits = |v: &Version| {
        v.pre.is_empty()
            && ranges.iter().all(|(_, r)| r.matches(v))
            && match requirement {
                Some(Requirement::Range(r)) => r.matches(v),
                _ => true,
            }
    };
    let newest_fitting = available.iter().find(|v| fits(v));
    if locked == Some(version) {
        return match newest_fitting {
            Some(newer) if newer > version => format!(
                "kept from config/provisioning.lock; {newer} also fits every range (`provisioning dep update` moves to it)"
            ),
            _ => "kept from config/provisioning.lock; it is also the newest that fits".into(),
        };
    }
    if newest_fitting == Some(version) {
        let newer: Vec<&Version> = available
            .iter()
            .filter(|v| v.pre.is_empty() && *v > version)
            .collect();
        return match newer.first() {
            None => "the newest version published".into(),
            Some(newer) => {
                let blocker = ranges
                    .iter()
                    .find(|(_, r)| !r.matches(newer))
                    .map(|(by, r)| format!("{by} asks for {r}"))
                    .or_else(|| match requirement {
                        Some(Requirement::Range(r)) => {
                            Some(format!("provisioning.yaml asks for {r}"))
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| "a range excludes it".into());
                format!("the newest that fits every range; {newer} is newer, but {blocker}")
            }
        };
    }
    "the newest that fits together with the rest of the graph".into()
}

/// The outcome of a resolution that stopped on a conflict or a cycle: what the resolver had
/// chosen by then (its last choice of each name), `flagged` marked.
fn from_events(
    workspace: &Workspace,
    log: &[ResolveEvent],
    modules: &[Module],
    flagged: &[String],
) -> Outcome {
    let mut names: BTreeMap<String, Option<Version>> = BTreeMap::new();
    let mut needs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for module in modules {
        names.entry(module.name.clone()).or_default();
    }
    for event in log {
        match event {
            ResolveEvent::Requested { name, .. } => {
                names.entry(name.clone()).or_default();
            }
            ResolveEvent::Chosen { name, version } => {
                names.insert(name.clone(), Some(version.clone()));
            }
            ResolveEvent::DependenciesKnown {
                name,
                version,
                dependencies,
            } if names.get(name).and_then(Option::as_ref) == Some(version) => {
                needs.insert(name.clone(), dependencies.clone());
            }
            _ => {}
        }
    }
    for name in flagged {
        names.entry(name.clone()).or_default();
    }
    let module_names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    let nodes: Vec<(String, String, bool)> = names
        .iter()
        .map(|(name, version)| {
            (
                name.clone(),
                version
                    .as_ref()
                    .map(Version::to_string)
                    .unwrap_or_else(|| "?".into()),
                module_names.contains(&name.as_str()),
            )
        })
        .collect();
    let edges: Vec<(String, String)> = needs
        .iter()
        .flat_map(|(from, deps)| deps.iter().map(|(to, _)| (from.clone(), to.clone())))
        .collect();
    let mut graph = DepGraph::build(&nodes, &edges);
    graph.flag(flagged);
    let extensions = names
        .iter()
        .map(|(name, version)| {
            let mut asks: Vec<Asked> = module_ask(modules, name).into_iter().collect();
            for (from, deps) in &needs {
                for (dep, range) in deps {
                    if dep == name {
                        let by = match names.get(from).and_then(Option::as_ref) {
                            Some(v) => format!("{from} {v}"),
                            None => from.clone(),
                        };
                        asks.push(Asked {
                            by,
                            range: range.clone(),
                        });
                    }
                }
            }
            let module = workspace.config.modules.iter().find(|m| &m.name == name);
            let reference = match module.map(|m| &m.source) {
                Some(ModuleSource::Oci { reference, .. }) => reference.clone(),
                _ => default_repo(workspace, name)
                    .reference(&version.as_ref().map(Version::to_string).unwrap_or_default()),
            };
            Extension {
                name: name.clone(),
                kind: module.map(|m| m.kind),
                version: version.clone(),
                reference,
                digest: None,
                local: match module.map(|m| &m.source) {
                    Some(ModuleSource::Local { path }) => Some(path.clone()),
                    _ => None,
                },
                module: module.is_some(),
                asks,
                why: if flagged.contains(name) {
                    "part of the problem: no version was settled".into()
                } else {
                    "chosen before the resolver stopped; not settled".into()
                },
                newest: None,
                lock: NodeLock::NotLocked,
            }
        })
        .collect();
    Outcome {
        extensions,
        graph,
        ..Outcome::default()
    }
}

/// The lock against this outcome.
fn lock_state(workspace: &Workspace, lock: &Lockfile, outcome: &Outcome) -> LockState {
    if lock.inputs != inputs_hash(workspace) {
        let what = if outcome.edited {
            "the unsaved edits change the modules"
        } else {
            "provisioning.yaml changed since it was written"
        };
        return LockState::OutOfDate(what.into());
    }
    if !outcome.ok() {
        return LockState::OutOfDate("the workspace no longer resolves".into());
    }
    let differs = outcome.extensions.iter().any(|e| {
        lock.extension(&e.name).is_none_or(|l| {
            Some(&l.version) != e.version.as_ref() || Some(&l.digest) != e.digest.as_ref()
        })
    }) || lock.extensions.len() != outcome.extensions.len();
    if differs {
        LockState::OutOfDate("the resolution differs from it".into())
    } else {
        LockState::Current
    }
}

fn node_lock(workspace: &Workspace, lock: Option<&Lockfile>, extension: &Extension) -> NodeLock {
    let Some(locked) = lock.and_then(|l| l.extension(&extension.name)) else {
        return NodeLock::NotLocked;
    };
    let same = Some(&locked.version) == extension.version.as_ref()
        && extension
            .digest
            .as_ref()
            .is_none_or(|d| *d == locked.digest);
    if !same {
        return NodeLock::Differs {
            locked: locked.version.clone(),
        };
    }
    match installed_marker(&install_path(workspace, locked)) {
        Some(marker) if marker.digest == locked.digest => NodeLock::Installed,
        _ => NodeLock::NotInstalled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn range(text: &str) -> VersionRange {
        text.parse().unwrap()
    }

    #[test]
    fn why_a_version_was_chosen() {
        let available = [v("1.31.1"), v("1.29.3"), v("1.28.0")];
        let pinned = Requirement::Exact(v("1.28.0"));
        assert_eq!(
            why(&v("1.28.0"), Some(&pinned), None, &[], &available),
            "provisioning.yaml pins it"
        );
        let cilium = [("cilium 1.14.0".to_string(), range(">=1.26.0, <1.30.0"))];
        assert_eq!(
            why(&v("1.29.3"), None, None, &cilium, &available),
            "the newest that fits every range; 1.31.1 is newer, but cilium 1.14.0 asks for >=1.26.0, <1.30.0"
        );
        assert_eq!(
            why(&v("1.28.0"), None, Some(&v("1.28.0")), &cilium, &available),
            "kept from config/provisioning.lock; 1.29.3 also fits every range (`provisioning dep update` moves to it)"
        );
        assert_eq!(
            why(&v("1.31.1"), None, None, &[], &available),
            "the newest version published"
        );
        assert_eq!(
            why(&v("1.28.0"), None, None, &[], &available),
            "the newest that fits together with the rest of the graph"
        );
    }
}
