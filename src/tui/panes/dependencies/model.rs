//! What the tree is drawn from: the nodes with their state and who needs whom — either as the
//! resolver's events have told it so far ([`Live`]), or from a finished [`Outcome`].

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;

use crate::deps::ResolveEvent;
use crate::tui::worker::Outcome;
use crate::tui::worker::resolve::NodeLock;

/// Where a node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Its versions or metadata are being fetched; no version chosen yet.
    Pending,
    Resolved,
    /// Part of a conflict: no version fits.
    Conflict,
    /// Part of a dependency cycle.
    Cycle,
}

/// One node as the tree shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub status: Status,
    pub version: Option<Version>,
    /// How many versions its repository lists, once known (while pending).
    pub candidates: Option<usize>,
    pub module: bool,
    /// A newer release than the chosen version.
    pub update: Option<Version>,
    /// Against the lock; none while resolving.
    pub lock: Option<NodeLock>,
}

impl NodeView {
    fn pending(name: &str) -> NodeView {
        NodeView {
            name: name.to_string(),
            status: Status::Pending,
            version: None,
            candidates: None,
            module: false,
            update: None,
            lock: None,
        }
    }
}

/// The nodes and edges the tree is built from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub nodes: BTreeMap<String, NodeView>,
    /// What each needs, sorted.
    pub needs: BTreeMap<String, Vec<String>>,
    /// Who needs each, sorted.
    pub needed_by: BTreeMap<String, Vec<String>>,
    /// Where the tree starts: the workspace's modules, then anything nobody needs.
    pub roots: Vec<String>,
}

impl Model {
    fn finish(mut self, modules: &[String]) -> Model {
        let mut needed_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, deps) in &mut self.needs {
            deps.sort();
            deps.dedup();
            for dep in deps.iter() {
                needed_by
                    .entry(dep.clone())
                    .or_default()
                    .insert(from.clone());
            }
        }
        self.needed_by = needed_by
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect();
        let mut roots: Vec<String> = modules
            .iter()
            .filter(|m| self.nodes.contains_key(*m))
            .cloned()
            .collect();
        for name in self.nodes.keys() {
            if !self.needed_by.contains_key(name) && !roots.contains(name) {
                roots.push(name.clone());
            }
        }
        for name in &roots {
            if let Some(node) = self.nodes.get_mut(name) {
                node.module |= modules.contains(name);
            }
        }
        self.roots = roots;
        self
    }

    /// The tree of a finished resolution.
    pub fn from_outcome(outcome: &Outcome) -> Model {
        let cycle: Vec<&str> = outcome
            .cycle
            .iter()
            .flatten()
            .map(|p| p.split(' ').next().unwrap_or(p))
            .collect();
        let involved: Vec<&String> = outcome
            .conflict
            .iter()
            .flat_map(|c| c.involved.iter())
            .collect();
        let mut model = Model::default();
        for e in &outcome.extensions {
            let status = if cycle.contains(&e.name.as_str()) {
                Status::Cycle
            } else if involved.contains(&&e.name) {
                Status::Conflict
            } else if e.version.is_some() {
                Status::Resolved
            } else {
                Status::Pending
            };
            model.nodes.insert(
                e.name.clone(),
                NodeView {
                    name: e.name.clone(),
                    status,
                    version: e.version.clone(),
                    candidates: None,
                    module: e.module,
                    update: e.newest.clone(),
                    lock: Some(e.lock.clone()),
                },
            );
            let needs: Vec<String> = outcome
                .graph
                .needs(&e.name)
                .iter()
                .map(|n| n.name.clone())
                .collect();
            if !needs.is_empty() {
                model.needs.insert(e.name.clone(), needs);
            }
        }
        let modules: Vec<String> = outcome.modules.iter().map(|m| m.name.clone()).collect();
        model.finish(&modules)
    }

    /// Every name that matches `filter` (case-insensitive), and everything on a path to one.
    pub fn keep(&self, filter: &str) -> Option<BTreeSet<String>> {
        let filter = filter.trim().to_lowercase();
        if filter.is_empty() {
            return None;
        }
        let mut keep = BTreeSet::new();
        let mut todo: Vec<&String> = self
            .nodes
            .keys()
            .filter(|n| n.to_lowercase().contains(&filter))
            .collect();
        while let Some(name) = todo.pop() {
            if keep.insert(name.clone()) {
                todo.extend(self.needed_by.get(name).into_iter().flatten());
            }
        }
        Some(keep)
    }

    /// Every path from a module to `name` (module first), at most `limit`.
    pub fn paths_to(&self, name: &str, limit: usize) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut path = vec![name.to_string()];
        self.walk_up(&mut path, limit, &mut out);
        out
    }

    fn walk_up(&self, path: &mut Vec<String>, limit: usize, out: &mut Vec<Vec<String>>) {
        if out.len() >= limit {
            return;
        }
        let here = path.last().cloned().unwrap_or_default();
        if path.len() > 1 && self.nodes.get(&here).is_some_and(|n| n.module) {
            out.push(path.iter().rev().cloned().collect());
        }
        for parent in self.needed_by.get(&here).into_iter().flatten() {
            if path.contains(parent) {
                continue;
            }
            path.push(parent.clone());
            self.walk_up(path, limit, out);
            path.pop();
        }
    }
}

/// What the resolver has said so far in the running resolution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Live {
    pub nodes: BTreeMap<String, NodeView>,
    pub needs: BTreeMap<String, Vec<String>>,
    /// Events applied.
    pub events: usize,
}

impl Live {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn apply(&mut self, event: ResolveEvent) {
        self.events += 1;
        match event {
            ResolveEvent::Requested { name, .. } => {
                self.nodes
                    .entry(name.clone())
                    .or_insert_with(|| NodeView::pending(&name));
            }
            ResolveEvent::CandidatesKnown { name, versions } => {
                self.nodes
                    .entry(name.clone())
                    .or_insert_with(|| NodeView::pending(&name))
                    .candidates = Some(versions);
            }
            ResolveEvent::Chosen { name, version } => {
                let node = self
                    .nodes
                    .entry(name.clone())
                    .or_insert_with(|| NodeView::pending(&name));
                if node.status == Status::Pending {
                    node.status = Status::Resolved;
                }
                node.version = Some(version);
            }
            ResolveEvent::DependenciesKnown {
                name,
                version,
                dependencies,
            } => {
                if self.nodes.get(&name).and_then(|n| n.version.as_ref()) != Some(&version) {
                    return;
                }
                for (dep, _) in &dependencies {
                    self.nodes
                        .entry(dep.clone())
                        .or_insert_with(|| NodeView::pending(dep));
                }
                self.needs
                    .insert(name, dependencies.into_iter().map(|(dep, _)| dep).collect());
            }
            ResolveEvent::Cycle { path } => {
                for step in &path {
                    let name = step.split(' ').next().unwrap_or(step);
                    if let Some(node) = self.nodes.get_mut(name) {
                        node.status = Status::Cycle;
                    }
                }
            }
            ResolveEvent::MetadataFetched { .. }
            | ResolveEvent::Conflict { .. }
            | ResolveEvent::Failed { .. }
            | ResolveEvent::Done { .. } => {}
        }
    }

    /// The tree so far; `modules` (from the last outcome) start it when they are known.
    pub fn model(&self, modules: &[String]) -> Model {
        Model {
            nodes: self.nodes.clone(),
            needs: self.needs.clone(),
            ..Model::default()
        }
        .finish(modules)
    }
}
