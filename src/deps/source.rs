//! Metadata from registries, fetched ahead of the solver (as uv does): the moment a name enters
//! the resolution its tag list is requested; when the tags arrive, the metadata of its likeliest
//! versions (the locked one, the newest) is requested; when metadata arrives, the tag lists of
//! its dependencies are. Each request is made at most once per run and its answer kept, so the
//! solver — on its own thread — only ever waits for what it needs next.
//!
//! Metadata is the manifest and the config blob, never the content layer; configs are read
//! through the blob cache, so a second run sends no blob request. Offline, the lock's digests
//! and the cache are all there is.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use semver::Version;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::events::{ResolveEvent, ResolveEvents};
use crate::extension::manifest::{ExtensionManifest, ExtensionType};
use crate::extension::package::{ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE};
use crate::extension::range::VersionRange;
use crate::oci::cache::BlobCache;
use crate::oci::client::{Descriptor, OciError, Registries};
use crate::oci::manifest::ManifestView;
use crate::oci::progress::Progress;
use crate::oci::reference::{tag_to_version, version_to_tag};
use crate::oci::{Digest, Reference};

/// A config blob larger than this is refused unread: a manifest is a few hundred bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// More tags than this in one repository is refused.
pub const MAX_TAGS: usize = 4096;
/// More dependencies than this in one version is refused.
pub const MAX_DEPENDENCIES: usize = 256;
/// Metadata requests (tags, manifests, configs: all small) at once, unless told otherwise.
pub const DEFAULT_METADATA_CONCURRENCY: usize = 16;
/// Blob transfers (content layers) at once, unless told otherwise.
pub const DEFAULT_BLOB_CONCURRENCY: usize = 4;

/// A repository, without tag or digest: `registry/ns/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repo {
    pub registry: String,
    pub repository: String,
}

impl Repo {
    pub fn of(reference: &Reference) -> Repo {
        Repo {
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
        }
    }

    /// `registry/namespace/name` (no namespace when it is empty).
    pub fn in_namespace(registry: &str, namespace: &str, name: &str) -> Repo {
        let namespace = namespace.trim_matches('/');
        Repo {
            registry: registry.to_string(),
            repository: if namespace.is_empty() {
                name.to_string()
            } else {
                format!("{namespace}/{name}")
            },
        }
    }

    /// The last path component: the extension's name.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The repository of `name` next to this one (same registry and namespace).
    pub fn sibling(&self, name: &str) -> Repo {
        let repository = match self.repository.rsplit_once('/') {
            Some((ns, _)) => format!("{ns}/{name}"),
            None => name.to_string(),
        };
        Repo {
            registry: self.registry.clone(),
            repository,
        }
    }

    pub fn reference(&self, tag: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// Why metadata could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub kind: FetchErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// The repository or tag does not exist.
    NotFound,
    /// The metadata exists but cannot be used (too big, not an extension, bad names).
    Invalid,
    /// Offline, and the lock or the cache does not have it.
    Offline,
    /// The registry could not be reached or answered with an error.
    Failed,
    Cancelled,
}

impl FetchError {
    fn new(kind: FetchErrorKind, message: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            message: message.into(),
        }
    }

    fn from_oci(error: OciError) -> FetchError {
        let kind = match &error {
            OciError::NotFound { .. } => FetchErrorKind::NotFound,
            OciError::Cancelled => FetchErrorKind::Cancelled,
            _ => FetchErrorKind::Failed,
        };
        FetchError::new(kind, error.to_string())
    }
}

/// The versions a repository lists, newest first, with the tag spelling of each.
#[derive(Clone, Debug, Default)]
pub struct TagList {
    pub versions: Vec<(Version, String)>,
}

impl TagList {
    pub fn versions(&self) -> impl Iterator<Item = &Version> {
        self.versions.iter().map(|(v, _)| v)
    }

    pub fn tag(&self, version: &Version) -> Option<&str> {
        self.versions
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, t)| t.as_str())
    }
}

/// What the resolver knows of one extension version.
#[derive(Clone, Debug)]
pub struct VersionMeta {
    pub name: String,
    pub kind: ExtensionType,
    pub version: Version,
    /// Where it comes from, with its tag.
    pub reference: Reference,
    /// The manifest digest (for a local module: its package digest).
    pub digest: Digest,
    pub dependencies: Vec<(String, VersionRange)>,
    pub min_provisioning_version: Option<Version>,
    /// The content layer, for installing.
    pub content: Option<Descriptor>,
    /// The tag points at another digest than the lock says: (locked, now).
    pub moved: Option<(Digest, Digest)>,
}

/// What the lock says of an extension, for preferring and for offline runs.
#[derive(Clone, Debug)]
pub struct Pinned {
    pub version: Version,
    pub digest: Digest,
}

enum Slot<T> {
    Pending,
    Ready(Result<Arc<T>, FetchError>),
}

#[derive(Default)]
struct State {
    tags: HashMap<Repo, Slot<TagList>>,
    metas: HashMap<(Repo, Version), Slot<VersionMeta>>,
}

/// Settings of a [`MetadataSource`].
#[derive(Clone)]
pub struct SourceOptions {
    pub registries: Registries,
    pub cache: BlobCache,
    /// Metadata requests at once.
    pub concurrency: usize,
    pub offline: bool,
    /// The lock's version and digest per name.
    pub locked: BTreeMap<String, Pinned>,
    pub events: ResolveEvents,
    pub cancel: CancellationToken,
}

/// The shared, prefetching index of registry metadata.
#[derive(Clone)]
pub struct MetadataSource {
    inner: Arc<Inner>,
}

struct Inner {
    options: SourceOptions,
    runtime: tokio::runtime::Handle,
    permits: Semaphore,
    state: Mutex<State>,
    ready: Condvar,
    requests: AtomicUsize,
}

impl MetadataSource {
    /// Must be called inside a tokio runtime: fetches run on it.
    pub fn new(options: SourceOptions) -> MetadataSource {
        let permits = Semaphore::new(options.concurrency.max(1));
        MetadataSource {
            inner: Arc::new(Inner {
                options,
                runtime: tokio::runtime::Handle::current(),
                permits,
                state: Mutex::default(),
                ready: Condvar::new(),
                requests: AtomicUsize::new(0),
            }),
        }
    }

    /// Requests sent to registries so far.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::Relaxed)
    }

    pub fn offline(&self) -> bool {
        self.inner.options.offline
    }

    pub fn locked(&self, name: &str) -> Option<&Pinned> {
        self.inner.options.locked.get(name)
    }

    pub fn events(&self) -> &ResolveEvents {
        &self.inner.options.events
    }

    pub fn cancel_token(&self) -> &CancellationToken {
        &self.inner.options.cancel
    }

    /// Starts listing `repo`'s tags unless that was done already.
    pub fn request_tags(&self, repo: &Repo) {
        let mut state = self.lock();
        if state.tags.contains_key(repo) {
            return;
        }
        state.tags.insert(repo.clone(), Slot::Pending);
        drop(state);
        self.events().emit(ResolveEvent::Requested {
            name: repo.name().to_string(),
            repository: repo.to_string(),
        });
        let this = self.clone();
        let repo = repo.clone();
        self.inner.runtime.spawn(async move {
            let result = this.fetch_tags(&repo).await.map(Arc::new);
            if let Ok(tags) = &result {
                this.events().emit(ResolveEvent::CandidatesKnown {
                    name: repo.name().to_string(),
                    versions: tags.versions.len(),
                });
                this.prefetch_likely(&repo, tags);
            }
            let mut state = this.lock();
            state.tags.insert(repo, Slot::Ready(result));
            drop(state);
            this.inner.ready.notify_all();
        });
    }

    /// Starts fetching the metadata of `repo` at `version` unless that was done already.
    pub fn request_meta(&self, repo: &Repo, version: &Version) {
        let key = (repo.clone(), version.clone());
        let mut state = self.lock();
        if state.metas.contains_key(&key) {
            return;
        }
        state.metas.insert(key.clone(), Slot::Pending);
        drop(state);
        let this = self.clone();
        self.inner.runtime.spawn(async move {
            let result = this.fetch_meta(&key.0, &key.1).await.map(Arc::new);
            if let Ok(meta) = &result {
                this.events().emit(ResolveEvent::MetadataFetched {
                    name: meta.name.clone(),
                    version: meta.version.clone(),
                });
                // Its dependencies will be needed next: list their versions now.
                for (dep, _) in &meta.dependencies {
                    this.request_tags(&key.0.sibling(dep));
                }
            }
            let mut state = this.lock();
            state.metas.insert(key, Slot::Ready(result));
            drop(state);
            this.inner.ready.notify_all();
        });
    }

    /// The tags of `repo`, waiting for them (call from a blocking thread).
    pub fn tags(&self, repo: &Repo) -> Result<Arc<TagList>, FetchError> {
        self.request_tags(repo);
        self.wait(|state| match state.tags.get(repo) {
            Some(Slot::Ready(result)) => Some(result.clone()),
            _ => None,
        })
    }

    /// The metadata of `repo` at `version`, waiting for it (call from a blocking thread).
    pub fn meta(&self, repo: &Repo, version: &Version) -> Result<Arc<VersionMeta>, FetchError> {
        self.request_meta(repo, version);
        let key = (repo.clone(), version.clone());
        self.wait(|state| match state.metas.get(&key) {
            Some(Slot::Ready(result)) => Some(result.clone()),
            _ => None,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<T>(
        &self,
        mut ready: impl FnMut(&State) -> Option<Result<T, FetchError>>,
    ) -> Result<T, FetchError> {
        let mut state = self.lock();
        loop {
            if let Some(result) = ready(&state) {
                return result;
            }
            if self.cancel_token().is_cancelled() {
                return Err(FetchError::new(FetchErrorKind::Cancelled, "cancelled"));
            }
            state = self
                .inner
                .ready
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The locked version and the newest release: what the solver will most likely ask for.
    fn prefetch_likely(&self, repo: &Repo, tags: &TagList) {
        if let Some(pinned) = self.locked(repo.name())
            && tags.tag(&pinned.version).is_some()
        {
            self.request_meta(repo, &pinned.version);
            return;
        }
        if let Some(newest) = tags.versions().find(|v| v.pre.is_empty()) {
            self.request_meta(repo, newest);
        }
    }

    /// The tag spelling the registry lists for `version` (`v1.2.0` or `1.2.0`).
    fn tag_of(&self, repo: &Repo, version: &Version) -> String {
        match self.lock().tags.get(repo) {
            Some(Slot::Ready(Ok(tags))) => tags.tag(version).map(str::to_string),
            _ => None,
        }
        .unwrap_or_else(|| version_to_tag(&version.to_string()))
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, FetchError> {
        tokio::select! {
            permit = self.inner.permits.acquire() => permit.map_err(|_| FetchError::new(FetchErrorKind::Cancelled, "cancelled")),
            () = self.cancel_token().cancelled() => Err(FetchError::new(FetchErrorKind::Cancelled, "cancelled")),
        }
    }

    fn counted(&self) {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
    }

    async fn fetch_tags(&self, repo: &Repo) -> Result<TagList, FetchError> {
        if self.offline() {
            // Offline, the only candidate is the locked version.
            return match self.locked(repo.name()) {
                Some(pinned) => Ok(TagList {
                    versions: vec![(
                        pinned.version.clone(),
                        version_to_tag(&pinned.version.to_string()),
                    )],
                }),
                None => Err(FetchError::new(
                    FetchErrorKind::Offline,
                    format!(
                        "{} is not in config/provisioning.lock, so its versions cannot be known offline; run `provisioning dep resolve` without --offline once",
                        repo.name()
                    ),
                )),
            };
        }
        let _permit = self.permit().await?;
        self.counted();
        let client = self.inner.options.registries.client(&repo.registry);
        let tags = tokio::select! {
            tags = client.tags(&repo.repository) => tags.map_err(FetchError::from_oci)?,
            () = self.cancel_token().cancelled() => return Err(FetchError::new(FetchErrorKind::Cancelled, "cancelled")),
        };
        if tags.len() > MAX_TAGS {
            return Err(FetchError::new(
                FetchErrorKind::Invalid,
                format!(
                    "{repo} lists {} tags, more than the {MAX_TAGS} the resolver reads; remove old tags or use another repository",
                    tags.len()
                ),
            ));
        }
        let mut versions: Vec<(Version, String)> = tags
            .into_iter()
            .filter_map(|t| tag_to_version(&t).map(|v| (v, t)))
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        versions.dedup_by(|a, b| a.0 == b.0);
        Ok(TagList { versions })
    }

    async fn fetch_meta(&self, repo: &Repo, version: &Version) -> Result<VersionMeta, FetchError> {
        let tag = self.tag_of(repo, version);
        let reference = repo.reference(&tag);
        let cache = &self.inner.options.cache;
        let client = self.inner.options.registries.client(&repo.registry);
        let locked = self
            .locked(repo.name())
            .filter(|p| &p.version == version)
            .map(|p| p.digest.clone());
        let invalid =
            |why: String| FetchError::new(FetchErrorKind::Invalid, format!("{reference}: {why}"));
        let mut moved = None;
        let (digest, bytes) = if self.offline() {
            let Some(digest) = locked.clone() else {
                return Err(FetchError::new(
                    FetchErrorKind::Offline,
                    format!(
                        "{reference} is not in config/provisioning.lock; run without --offline"
                    ),
                ));
            };
            let bytes = cache.read(&digest).ok_or_else(|| {
                FetchError::new(
                    FetchErrorKind::Offline,
                    format!("the manifest of {reference} ({digest}) is not in the cache; run without --offline to fetch it"),
                )
            })?;
            (digest, bytes)
        } else {
            let fetched = {
                let _permit = self.permit().await?;
                self.counted();
                client
                    .manifest(&repo.repository, &tag)
                    .await
                    .map_err(FetchError::from_oci)?
            };
            match locked {
                Some(digest) if digest != fetched.digest => {
                    // The tag moved since the lock was written: the locked content is what
                    // gets used, and the caller decides whether that is acceptable.
                    moved = Some((digest.clone(), fetched.digest.clone()));
                    let bytes = match cache.read(&digest) {
                        Some(bytes) => bytes,
                        None => {
                            let _permit = self.permit().await?;
                            self.counted();
                            client
                                .manifest(&repo.repository, &digest.to_string())
                                .await
                                .map_err(FetchError::from_oci)?
                                .bytes
                        }
                    };
                    (digest, bytes)
                }
                _ => (fetched.digest, fetched.bytes),
            }
        };
        cache
            .put(&digest, &bytes)
            .map_err(|e| FetchError::new(FetchErrorKind::Failed, e.to_string()))?;
        let view = ManifestView::parse(&bytes, crate::oci::media_type::OCI_MANIFEST)
            .map_err(|e| invalid(format!("its manifest is not valid JSON ({e})")))?;
        if view.artifact_type() != Some(ARTIFACT_TYPE)
            && view.artifact_type() != Some(CONFIG_MEDIA_TYPE)
        {
            return Err(invalid(
                "it is not a provisioning extension (wrong artifactType)".into(),
            ));
        }
        let config = view
            .config
            .clone()
            .filter(|c| c.media_type == CONFIG_MEDIA_TYPE)
            .ok_or_else(|| invalid("its manifest has no extension config".into()))?;
        if config.size > MAX_CONFIG_BYTES {
            return Err(invalid(format!(
                "its config blob is {} bytes, more than the {MAX_CONFIG_BYTES} a manifest may take; it was not downloaded",
                config.size
            )));
        }
        let config_bytes = match cache.read(&config.digest) {
            Some(bytes) => bytes,
            None if self.offline() => {
                return Err(FetchError::new(
                    FetchErrorKind::Offline,
                    format!(
                        "the config of {reference} ({}) is not in the cache; run without --offline to fetch it",
                        config.digest
                    ),
                ));
            }
            None => {
                let _permit = self.permit().await?;
                self.counted();
                let path = cache
                    .fetch(&client, &repo.repository, &config, &Progress::silent())
                    .await
                    .map_err(FetchError::from_oci)?;
                std::fs::read(&path).map_err(|e| {
                    FetchError::new(FetchErrorKind::Failed, format!("{}: {e}", path.display()))
                })?
            }
        };
        let manifest = ExtensionManifest::from_json_slice(&config_bytes)
            .map_err(|e| invalid(format!("its config: {e}")))?;
        if manifest.name != repo.name() || &manifest.version != version {
            return Err(invalid(format!(
                "its config says {} {}, not {} {version}",
                manifest.name,
                manifest.version,
                repo.name()
            )));
        }
        if manifest.dependencies.len() > MAX_DEPENDENCIES {
            return Err(invalid(format!(
                "it declares {} dependencies, more than the {MAX_DEPENDENCIES} the resolver reads",
                manifest.dependencies.len()
            )));
        }
        let content = view
            .layers
            .iter()
            .find(|l| l.media_type == CONTENT_MEDIA_TYPE)
            .cloned();
        Ok(VersionMeta {
            name: manifest.name,
            kind: manifest.kind,
            version: manifest.version,
            reference,
            digest,
            dependencies: manifest.dependencies,
            min_provisioning_version: manifest.min_provisioning_version,
            content,
            moved,
        })
    }
}
