//! The registry-backed [`DependencyProvider`]: what PubGrub asks (which versions, which
//! dependencies) answered from the [`MetadataSource`], which fetched most of it before it was
//! asked. Runs on the solver's thread; it waits only for metadata not there yet.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics,
    VersionSet,
};
use semver::Version;

use super::events::ResolveEvent;
use super::source::{FetchError, FetchErrorKind, MetadataSource, Repo, VersionMeta};
use super::versions::Versions;
use crate::extension::range::VersionRange;

/// A package of the resolution: the workspace itself, the core, or an extension by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pkg {
    Root,
    Core,
    Ext(String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the workspace"),
            Pkg::Core => f.write_str("the provisioning core"),
            Pkg::Ext(name) => f.write_str(name),
        }
    }
}

/// The version the workspace itself is decided at.
pub fn root_version() -> Version {
    Version::new(0, 0, 0)
}

/// Where an extension comes from.
#[derive(Clone, Debug)]
pub enum Origin {
    Registry(Repo),
    /// A local module: one version, read from its directory.
    Local {
        meta: Arc<VersionMeta>,
        path: PathBuf,
    },
}

impl Origin {
    fn same(&self, other: &Origin) -> bool {
        match (self, other) {
            (Origin::Registry(a), Origin::Registry(b)) => a == b,
            (Origin::Local { path: a, .. }, Origin::Local { path: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Registry(repo) => write!(f, "{repo}"),
            Origin::Local { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

/// What the workspace asks of one extension.
#[derive(Clone, Debug)]
pub enum Wanted {
    Exact(Version),
    Range(VersionRange),
}

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wanted::Exact(v) => write!(f, "{v}"),
            Wanted::Range(r) => write!(f, "{r}"),
        }
    }
}

/// A requirement of the workspace: a module, or a version `dep update --to` holds.
#[derive(Clone, Debug)]
pub struct RootRequirement {
    pub name: String,
    pub origin: Origin,
    pub wanted: Wanted,
    /// A module of `provisioning.yaml` (else a version held by `dep update`).
    pub module: bool,
}

/// Why the solver had to stop (not a conflict: those are PubGrub's answer).
#[derive(Clone, Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(
        "`{name}` is reached from two repositories: {first} and {second} (through {via}); extensions are identified by name and installed into <type>s/{name}, so one must go — move the dependency to one registry and namespace"
    )]
    NameClash {
        name: String,
        first: String,
        second: String,
        via: String,
    },
    #[error("cancelled")]
    Cancelled,
}

/// The provider for one resolution.
pub struct Provider {
    pub source: MetadataSource,
    pub roots: Vec<RootRequirement>,
    /// The core's version and the reference it was read from.
    pub core: Option<(Version, String)>,
    /// The registry and namespace of the workspace's extensions (for local modules' deps).
    pub default_repo: Repo,
    names: RefCell<BTreeMap<String, Origin>>,
    /// Versions that cannot be used, and why.
    pub unavailable: RefCell<BTreeMap<(String, Version), String>>,
    /// Names whose repository does not exist.
    pub missing: RefCell<BTreeMap<String, String>>,
    /// A trial run (looking for a way out): reports no events.
    pub quiet: bool,
}

impl Provider {
    pub fn new(
        source: MetadataSource,
        roots: Vec<RootRequirement>,
        core: Option<(Version, String)>,
        default_repo: Repo,
    ) -> Provider {
        Provider {
            source,
            roots,
            core,
            default_repo,
            names: RefCell::default(),
            unavailable: RefCell::default(),
            missing: RefCell::default(),
            quiet: false,
        }
    }

    fn emit(&self, event: ResolveEvent) {
        if !self.quiet {
            self.source.events().emit(event);
        }
    }

    /// Where `name` comes from in this resolution.
    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.names.borrow().get(name).cloned()
    }

    fn register(&self, name: &str, origin: Origin, via: &str) -> Result<Origin, ProviderError> {
        let mut names = self.names.borrow_mut();
        match names.get(name) {
            // A local module stands for its name wherever that name is reached.
            Some(existing @ Origin::Local { .. }) => Ok(existing.clone()),
            Some(existing) if existing.same(&origin) => Ok(existing.clone()),
            Some(existing) => Err(ProviderError::NameClash {
                name: name.to_string(),
                first: existing.to_string(),
                second: origin.to_string(),
                via: via.to_string(),
            }),
            None => {
                if let Origin::Registry(repo) = &origin {
                    self.source.request_tags(repo);
                }
                names.insert(name.to_string(), origin.clone());
                Ok(origin)
            }
        }
    }

    /// The versions of `name` there are, newest first.
    pub fn candidates(&self, name: &str) -> Result<Vec<Version>, ProviderError> {
        match self.origin(name) {
            Some(Origin::Local { meta, .. }) => Ok(vec![meta.version.clone()]),
            Some(Origin::Registry(repo)) => match self.source.tags(&repo) {
                Ok(tags) => Ok(tags.versions().cloned().collect()),
                Err(e) if e.kind == FetchErrorKind::NotFound => {
                    self.missing.borrow_mut().insert(
                        name.to_string(),
                        format!("{name} is not published in {repo}"),
                    );
                    Ok(Vec::new())
                }
                Err(e) if e.kind == FetchErrorKind::Cancelled => Err(ProviderError::Cancelled),
                Err(e) => Err(e.into()),
            },
            None => Ok(Vec::new()),
        }
    }

    /// The metadata of `name` at `version`; `Ok(None)` when that version cannot be used.
    pub fn meta(
        &self,
        name: &str,
        version: &Version,
    ) -> Result<Option<Arc<VersionMeta>>, ProviderError> {
        match self.origin(name) {
            Some(Origin::Local { meta, .. }) => Ok((&meta.version == version).then_some(meta)),
            Some(Origin::Registry(repo)) => match self.source.meta(&repo, version) {
                Ok(meta) => Ok(Some(meta)),
                Err(e) if matches!(e.kind, FetchErrorKind::Invalid | FetchErrorKind::NotFound) => {
                    self.unavailable
                        .borrow_mut()
                        .insert((name.to_string(), version.clone()), e.message);
                    Ok(None)
                }
                Err(e) if e.kind == FetchErrorKind::Cancelled => Err(ProviderError::Cancelled),
                Err(e) => Err(e.into()),
            },
            None => Ok(None),
        }
    }

    fn root_dependencies(&self) -> Result<DependencyConstraints<Pkg, Versions>, ProviderError> {
        for root in &self.roots {
            self.register(&root.name, root.origin.clone(), "the workspace")?;
        }
        let mut out = DependencyConstraints::default();
        for root in &self.roots {
            let set = match &root.wanted {
                Wanted::Exact(v) => Versions::singleton(v.clone()),
                Wanted::Range(range) => Versions::matching(range, &self.candidates(&root.name)?),
            };
            let pkg = Pkg::Ext(root.name.clone());
            let merged = match out.get(&pkg) {
                Some(existing) => set.intersection(existing),
                None => set,
            };
            out.insert(pkg, merged);
        }
        if let Some((core, _)) = &self.core {
            out.insert(Pkg::Core, Versions::singleton(core.clone()));
        }
        Ok(out)
    }

    fn extension_dependencies(
        &self,
        name: &str,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Versions, String>, ProviderError> {
        let Some(meta) = self.meta(name, version)? else {
            let why = self
                .unavailable
                .borrow()
                .get(&(name.to_string(), version.clone()))
                .cloned()
                .unwrap_or_else(|| format!("{name} {version} is not published"));
            return Ok(Dependencies::Unavailable(why));
        };
        let parent_repo = match self.origin(name) {
            Some(Origin::Registry(repo)) => repo,
            _ => self.default_repo.clone(),
        };
        let mut deps = Vec::new();
        for (dep, range) in &meta.dependencies {
            if dep == name {
                continue;
            }
            self.register(dep, Origin::Registry(parent_repo.sibling(dep)), name)?;
            deps.push((dep, range));
        }
        let mut out = DependencyConstraints::default();
        for (dep, range) in &deps {
            let set = Versions::matching(range, &self.candidates(dep)?);
            out.insert(Pkg::Ext((*dep).clone()), set);
        }
        if let (Some(min), Some((core, _))) = (&meta.min_provisioning_version, &self.core) {
            let set = if core >= min {
                Versions::singleton(core.clone())
            } else {
                Versions::empty()
            };
            out.insert(Pkg::Core, set);
        }
        self.emit(ResolveEvent::DependenciesKnown {
            name: name.to_string(),
            version: version.clone(),
            dependencies: meta
                .dependencies
                .iter()
                .map(|(n, r)| (n.clone(), r.to_string()))
                .collect(),
        });
        Ok(Dependencies::Available(out))
    }
}

impl DependencyProvider for Provider {
    type P = Pkg;
    type V = Version;
    type VS = Versions;
    type M = String;
    type Priority = (u32, Reverse<usize>);
    type Err = ProviderError;

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Versions,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        match package {
            Pkg::Root | Pkg::Core => (u32::MAX, Reverse(0)),
            Pkg::Ext(name) => {
                let count = self
                    .candidates(name)
                    .map(|c| c.iter().filter(|v| range.contains(v)).count())
                    .unwrap_or(0);
                (stats.conflict_count(), Reverse(count))
            }
        }
    }

    fn choose_version(
        &self,
        package: &Pkg,
        range: &Versions,
    ) -> Result<Option<Version>, ProviderError> {
        let chosen = match package {
            Pkg::Root => Some(root_version()).filter(|v| range.contains(v)),
            Pkg::Core => self
                .core
                .as_ref()
                .map(|(v, _)| v.clone())
                .filter(|v| range.contains(v)),
            Pkg::Ext(name) => {
                let candidates = self.candidates(name)?;
                let fits = |v: &&Version| {
                    range.contains(v) && (v.pre.is_empty() || matches!(range, Versions::Only(_)))
                };
                let locked = self
                    .source
                    .locked(name)
                    .map(|p| &p.version)
                    .filter(|v| candidates.contains(v) && range.contains(v));
                locked.or_else(|| candidates.iter().find(fits)).cloned()
            }
        };
        if let (Pkg::Ext(name), Some(version)) = (package, &chosen) {
            self.emit(ResolveEvent::Chosen {
                name: name.clone(),
                version: version.clone(),
            });
        }
        Ok(chosen)
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Versions, String>, ProviderError> {
        match package {
            Pkg::Root => Ok(Dependencies::Available(self.root_dependencies()?)),
            Pkg::Core => Ok(Dependencies::Available(DependencyConstraints::default())),
            Pkg::Ext(name) => self.extension_dependencies(name, version),
        }
    }

    fn should_cancel(&self) -> Result<(), ProviderError> {
        if self.source.cancel_token().is_cancelled() {
            Err(ProviderError::Cancelled)
        } else {
            Ok(())
        }
    }
}
