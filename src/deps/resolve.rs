//! One resolution: the workspace's modules become the solver's roots, PubGrub runs on its own
//! thread over the [`Provider`], and the answer is checked for cycles and ordered for
//! installing — or explained, with the ways out there are.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use semver::Version;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::events::{ResolveEvent, ResolveEvents};
use super::explain::{self, Explanation, WayOut};
use super::graph::DepGraph;
use super::provider::{
    Origin, Pkg, Provider, ProviderError, RootRequirement, Wanted, root_version,
};
use super::source::{
    DEFAULT_METADATA_CONCURRENCY, FetchError, FetchErrorKind, MetadataSource, Pinned, Repo,
    SourceOptions, VersionMeta,
};
use crate::extension::manifest::ExtensionType;
use crate::extension::package::CONTENT_MEDIA_TYPE;
use crate::extension::range::VersionRange;
use crate::oci::cache::BlobCache;
use crate::oci::client::{Descriptor, Registries};
use crate::oci::{Digest, Reference};
use crate::workspace::{ModuleSource, Requirement, Workspace};

/// How to resolve.
#[derive(Clone)]
pub struct ResolveOptions {
    pub registries: Registries,
    pub cache: BlobCache,
    /// Metadata requests at once [default: 16].
    pub concurrency: Option<usize>,
    /// From the lock and the cache only.
    pub offline: bool,
    /// The lock's version and digest per name: preferred, and all there is offline.
    pub locked: BTreeMap<String, Pinned>,
    /// Versions held exactly beside the modules (`dep update NAME --to V` of a dependency or
    /// of a module given as a range), with the repository each comes from.
    pub hold: Vec<(String, Repo, Version)>,
    /// Modules whose exact pin is lifted for this run (`dep update NAME` looks for the newest).
    pub float: Vec<String>,
    pub events: ResolveEvents,
    pub cancel: CancellationToken,
}

impl ResolveOptions {
    pub fn new(registries: Registries, cache: BlobCache) -> ResolveOptions {
        ResolveOptions {
            registries,
            cache,
            concurrency: None,
            offline: false,
            locked: BTreeMap::new(),
            hold: Vec::new(),
            float: Vec::new(),
            events: ResolveEvents::silent(),
            cancel: CancellationToken::new(),
        }
    }
}

/// Where a resolved extension comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolvedSource {
    Registry,
    /// A local module: its directory as `provisioning.yaml` writes it.
    Local {
        path: PathBuf,
    },
}

/// One extension of the answer.
#[derive(Clone, Debug, Serialize)]
pub struct Resolved {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ExtensionType,
    pub version: Version,
    /// `registry/ns/name:tag`.
    #[serde(serialize_with = "as_text")]
    pub reference: Reference,
    /// The manifest digest; for a local module, its package digest.
    pub digest: Digest,
    /// Names of what it needs, sorted.
    pub dependencies: Vec<String>,
    /// The ranges as its manifest writes them.
    #[serde(skip)]
    pub ranges: Vec<(String, VersionRange)>,
    pub source: ResolvedSource,
    /// Listed in `provisioning.yaml`.
    pub module: bool,
    /// The content to install: a layer in the registry, or a package in the cache.
    #[serde(skip)]
    pub content: Option<Descriptor>,
}

fn as_text<S: serde::Serializer>(reference: &Reference, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(reference)
}

/// A tag that points at another digest than the lock says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MovedTag {
    pub reference: String,
    pub locked: Digest,
    pub now: Digest,
}

/// The answer.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// In install order: each after what it needs.
    pub extensions: Vec<Resolved>,
    pub graph: DepGraph,
    pub core: Option<Version>,
    pub moved: Vec<MovedTag>,
    pub warnings: Vec<String>,
    /// Requests sent to registries.
    pub requests: usize,
    /// The versions each resolved extension's repository lists, newest first (a local
    /// module: its own), as the resolver read them: what an update could move to.
    pub available: BTreeMap<String, Vec<Version>>,
}

impl Resolution {
    pub fn get(&self, name: &str) -> Option<&Resolved> {
        self.extensions.iter().find(|e| e.name == name)
    }
}

/// Why there is no resolution.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Conflict(Explanation),
    #[error("the dependencies form a cycle: {}; extensions cannot be installed in an order where each comes after what it needs — remove one of these dependencies", .0.join(" → "))]
    Cycle(Vec<String>),
    #[error(transparent)]
    Provider(ProviderError),
    #[error("{0}")]
    Local(String),
    #[error("cancelled; nothing was written")]
    Cancelled,
}

impl ResolveError {
    /// The fetch failure behind this error, if that is what it is.
    pub fn fetch(&self) -> Option<&FetchError> {
        match self {
            ResolveError::Provider(ProviderError::Fetch(e)) => Some(e),
            _ => None,
        }
    }
}

impl From<ProviderError> for ResolveError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Cancelled => ResolveError::Cancelled,
            ProviderError::Fetch(f) if f.kind == FetchErrorKind::Cancelled => {
                ResolveError::Cancelled
            }
            e => ResolveError::Provider(e),
        }
    }
}

/// The registry and namespace the workspace's extensions come from, as a repository of `name`.
pub fn default_repo(workspace: &Workspace, name: &str) -> Repo {
    let defaults = workspace.config.extension_defaults();
    Repo::in_namespace(&defaults.registry, &defaults.namespace, name)
}

/// Resolves the workspace's modules.
pub async fn resolve(
    workspace: &Workspace,
    options: ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let cancel = options.cancel.child_token();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let trusted = super::signatures::required_keys(workspace).map_err(ResolveError::Local)?;
    let mut roots = Vec::new();
    for module in &workspace.config.modules {
        let (origin, wanted) = match (&module.source, &module.requirement) {
            (ModuleSource::Oci { reference, .. }, requirement) => (
                Origin::Registry(Repo::of(reference)),
                match requirement {
                    Requirement::Exact(_) if options.float.contains(&module.name) => {
                        Wanted::Range(VersionRange::any())
                    }
                    Requirement::Exact(v) => Wanted::Exact(v.clone()),
                    Requirement::Range(r) => Wanted::Range(r.clone()),
                    Requirement::Local => Wanted::Range(VersionRange::any()),
                },
            ),
            (ModuleSource::Local { path }, _) => {
                let meta = local_module(workspace, &module.name, path, &options.cache).await?;
                let version = meta.version.clone();
                (
                    Origin::Local {
                        meta: Arc::new(meta),
                        path: path.clone(),
                    },
                    Wanted::Exact(version),
                )
            }
        };
        roots.push(RootRequirement {
            name: module.name.clone(),
            origin,
            wanted,
            module: true,
        });
    }
    for (name, repo, version) in &options.hold {
        roots.push(RootRequirement {
            name: name.clone(),
            origin: Origin::Registry(repo.clone()),
            wanted: Wanted::Exact(version.clone()),
            module: false,
        });
    }
    let mut warnings = Vec::new();
    let core = match &workspace.config.core {
        Some(core) => match &core.version {
            Some(v) => Some((v.clone(), core.reference.to_string())),
            None => {
                warnings.push(format!(
                    "the tag of dependencies.core.source ({}) is not a version, so min_provisioning_version is not checked",
                    core.source
                ));
                None
            }
        },
        None => {
            warnings.push("the workspace names no core (dependencies.core.source), so min_provisioning_version is not checked".into());
            None
        }
    };
    let source = MetadataSource::new(SourceOptions {
        registries: options.registries.clone(),
        cache: options.cache.clone(),
        concurrency: options.concurrency.unwrap_or(DEFAULT_METADATA_CONCURRENCY),
        offline: options.offline,
        locked: options.locked.clone(),
        events: options.events.clone(),
        cancel: cancel.clone(),
    });
    let provider = Provider::new(
        source.clone(),
        roots,
        core.clone(),
        default_repo(workspace, "_"),
    );
    let solved = tokio::task::spawn_blocking(move || solve(provider))
        .await
        .map_err(|e| ResolveError::Local(format!("the resolver stopped: {e}")))?;
    let (provider, selected) = match solved {
        Ok(found) => found,
        Err(e) => {
            if let ResolveError::Conflict(explanation) = &e {
                options.events.emit(ResolveEvent::Conflict {
                    explanation: explanation.to_string(),
                });
            }
            match &e {
                ResolveError::Conflict(_) => {}
                ResolveError::Cycle(path) => options
                    .events
                    .emit(ResolveEvent::Cycle { path: path.clone() }),
                other => options.events.emit(ResolveEvent::Failed {
                    message: other.to_string(),
                }),
            }
            return Err(e);
        }
    };
    let (extensions, graph, moved) = selected;
    if let Some(keys) = &trusted {
        let mut registry = Vec::new();
        for e in &extensions {
            if e.source == ResolvedSource::Registry {
                registry.push((e.name.as_str(), &e.reference, &e.digest));
            }
        }
        super::signatures::check_signed(
            &options.registries,
            &options.cache,
            options.offline,
            keys,
            &registry,
        )
        .await
        .map_err(ResolveError::Local)?;
    }
    let available = extensions
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                provider.candidates(&e.name).unwrap_or_default(),
            )
        })
        .collect();
    let resolution = Resolution {
        extensions,
        graph,
        core: core.map(|(v, _)| v),
        moved,
        warnings,
        requests: source.requests(),
        available,
    };
    options.events.emit(ResolveEvent::Done {
        extensions: resolution.extensions.len(),
        requests: resolution.requests,
    });
    Ok(resolution)
}

type Solved = (Vec<Resolved>, DepGraph, Vec<MovedTag>);

/// Runs the solver (blocking) and turns its answer into extensions in install order.
fn solve(provider: Provider) -> Result<(Provider, Solved), ResolveError> {
    let selected = match pubgrub::resolve(&provider, Pkg::Root, root_version()) {
        Ok(selected) => selected,
        Err(pubgrub::PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            let mut explanation = explain::explain(&tree, &provider);
            explanation.ways_out = ways_out(&tree, &provider);
            return Err(ResolveError::Conflict(explanation));
        }
        Err(pubgrub::PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(pubgrub::PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(pubgrub::PubGrubError::ErrorInShouldCancel(source)) => return Err(source.into()),
    };
    let modules: Vec<&str> = provider
        .roots
        .iter()
        .filter(|r| r.module)
        .map(|r| r.name.as_str())
        .collect();
    let mut extensions = Vec::new();
    let mut moved = Vec::new();
    for (pkg, version) in &selected {
        let Pkg::Ext(name) = pkg else { continue };
        let meta = provider.meta(name, version)?.ok_or_else(|| {
            ResolveError::Local(format!("{name} {version} vanished during the resolution"))
        })?;
        if let Some((locked, now)) = &meta.moved {
            moved.push(MovedTag {
                reference: meta.reference.to_string(),
                locked: locked.clone(),
                now: now.clone(),
            });
        }
        let mut dependencies: Vec<String> = meta
            .dependencies
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| n != name && selected.contains_key(&Pkg::Ext(n.clone())))
            .collect();
        dependencies.sort();
        let source = match provider.origin(name) {
            Some(Origin::Local { path, .. }) => ResolvedSource::Local { path },
            _ => ResolvedSource::Registry,
        };
        extensions.push(Resolved {
            name: name.clone(),
            kind: meta.kind,
            version: version.clone(),
            reference: meta.reference.clone(),
            digest: meta.digest.clone(),
            dependencies,
            ranges: meta.dependencies.clone(),
            source,
            module: modules.contains(&name.as_str()),
            content: meta.content.clone(),
        });
    }
    let graph = graph_of(&extensions);
    if let Some(cycle) = graph.find_cycle() {
        return Err(ResolveError::Cycle(cycle));
    }
    let order = graph.install_order().unwrap_or_default();
    extensions.sort_by_key(|e| order.iter().position(|n| *n == e.name));
    moved.sort_by(|a, b| a.reference.cmp(&b.reference));
    Ok((provider, (extensions, graph, moved)))
}

/// The graph of resolved extensions.
pub fn graph_of(extensions: &[Resolved]) -> DepGraph {
    let nodes: Vec<(String, String, bool)> = extensions
        .iter()
        .map(|e| (e.name.clone(), e.version.to_string(), e.module))
        .collect();
    let edges: Vec<(String, String)> = extensions
        .iter()
        .flat_map(|e| e.dependencies.iter().map(|d| (e.name.clone(), d.clone())))
        .collect();
    DepGraph::build(&nodes, &edges)
}

/// Trial runs with one pinned module moved to another version: the first that resolves is a
/// way out. Bounded, newest first; the metadata is mostly there already.
fn ways_out(
    tree: &pubgrub::DerivationTree<Pkg, super::versions::Versions, String>,
    provider: &Provider,
) -> Vec<WayOut> {
    const TRIALS: usize = 24;
    let pinned = explain::pinned_in_conflict(tree, provider);
    let mut out = Vec::new();
    let mut budget = TRIALS;
    for (name, current) in &pinned {
        let others: Vec<String> = pinned
            .iter()
            .filter(|(n, _)| n != name)
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        let candidates = provider.candidates(name).unwrap_or_default();
        for version in candidates
            .iter()
            .filter(|v| *v != current && v.pre.is_empty())
        {
            if budget == 0 || provider.source.cancel_token().is_cancelled() {
                break;
            }
            budget -= 1;
            let mut roots = provider.roots.clone();
            for root in roots.iter_mut().filter(|r| &r.name == name) {
                root.wanted = Wanted::Exact(version.clone());
            }
            let mut trial = Provider::new(
                provider.source.clone(),
                roots,
                provider.core.clone(),
                provider.default_repo.clone(),
            );
            trial.quiet = true;
            if pubgrub::resolve(&trial, Pkg::Root, root_version()).is_ok() {
                let text = if others.is_empty() {
                    format!("{name} {version} fits")
                } else {
                    format!("{name} {version} accepts {}", others.join(" and "))
                };
                out.push(WayOut {
                    text,
                    command: Some(format!("provisioning dep update {name} --to {version}")),
                });
                break;
            }
        }
    }
    if let (Some(needed), Some((core, _))) = (explain::core_needed(tree, provider), &provider.core)
        && *core < needed
    {
        out.push(WayOut {
            text: format!(
                "use a core of version {needed} or newer in dependencies.core.source (the workspace has {core})"
            ),
            command: None,
        });
    }
    out
}

/// A local module: checked like `oci package validate`, packaged reproducibly into the cache
/// (content-addressed, so the install finds it by digest).
async fn local_module(
    workspace: &Workspace,
    name: &str,
    path: &std::path::Path,
    cache: &BlobCache,
) -> Result<VersionMeta, ResolveError> {
    let dir = workspace.resolve_path(path);
    let cache = cache.clone();
    let name = name.to_string();
    let defaults = workspace.config.extension_defaults();
    tokio::task::spawn_blocking(move || {
        let tree = crate::extension::package::validate(&dir).map_err(|e| {
            ResolveError::Local(format!("local module {name} ({}): {e}", dir.display()))
        })?;
        if tree.manifest.name != name {
            return Err(ResolveError::Local(format!(
                "local module {name} ({}): its manifest.yaml names `{}`",
                dir.display(),
                tree.manifest.name
            )));
        }
        let tmp = cache.temp_path();
        let package = crate::extension::package::package(&tree, &tmp).map_err(|e| {
            ResolveError::Local(format!(
                "local module {name} ({}): cannot package it: {e}",
                dir.display()
            ))
        })?;
        let blob = cache.blob_path(&package.digest);
        std::fs::create_dir_all(blob.parent().expect("blob path has a parent"))
            .and_then(|()| std::fs::rename(&tmp, &blob))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                ResolveError::Local(format!(
                    "cannot store the package of {name} in {}: {e}",
                    blob.display()
                ))
            })?;
        let manifest = tree.manifest;
        Ok(VersionMeta {
            reference: Repo::in_namespace(&defaults.registry, &defaults.namespace, &name)
                .reference(&manifest.version.to_string()),
            name,
            kind: manifest.kind,
            version: manifest.version,
            digest: package.digest.clone(),
            dependencies: manifest.dependencies,
            min_provisioning_version: manifest.min_provisioning_version,
            content: Some(Descriptor {
                media_type: CONTENT_MEDIA_TYPE.to_string(),
                digest: package.digest,
                size: package.size,
                artifact_type: None,
                annotations: Default::default(),
                platform: None,
            }),
            moved: None,
        })
    })
    .await
    .map_err(|e| ResolveError::Local(format!("packaging a local module stopped: {e}")))?
}
