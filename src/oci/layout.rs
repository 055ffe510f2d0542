//! Air-gap transport: artifacts (with their referrers) written to an OCI image layout — a
//! directory, or a tar of one — and a layout pushed into a registry, digests and tags unchanged.
//!
//! Export fetches every blob through the verified [`BlobCache`] (what the cache has is not
//! downloaded again) and links or copies it into the layout; manifests are written
//! byte-identical. The layout is built in a temporary sibling and renamed into place only when
//! complete, so a partial export is never visible.
//!
//! Import first checks the whole layout (every blob present, of the declared size, hashing to
//! its digest, every manifest parsing), so a damaged layout pushes nothing; then it pushes
//! blobs the target lacks (streamed from the files) and the manifests, skipping what the
//! target already has.
//!
//! In layouts we write, each tagged entry of `index.json` has `org.opencontainers.image.ref.name`
//! = `<repository>:<tag>`; referrers are listed untagged with their repository in
//! [`REPOSITORY`]. Layouts written by other tools (skopeo writes a bare tag) need the target
//! repository named.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{Value, json};

use super::cache::{BlobCache, REF_NAME};
use super::client::{Descriptor, MAX_MANIFEST_BYTES, OciError, Registries, Result};
use super::copy::signature_tag;
use super::manifest::ManifestView;
use super::media_type;
use super::progress::{Outcome, Progress, TransferEvent};
use super::{Digest, Reference};

/// Annotation on untagged `index.json` entries we write: the repository the manifest is from.
pub const REPOSITORY: &str = "dev.provisioning.layout.repository";

/// What an export did.
#[derive(Debug, Default, Serialize)]
pub struct ExportReport {
    pub path: PathBuf,
    /// `<repository>:<tag>` (or `<repository>@<digest>`) per exported reference.
    pub exported: Vec<String>,
    pub manifests: usize,
    pub blobs: usize,
    pub referrers: usize,
    /// Cosign signature tags (`sha256-<hex>.sig`) exported with what they sign.
    pub signatures: usize,
    pub bytes: u64,
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    /// `registry/repository:tag` (or `@digest`) per entry pushed.
    pub imported: Vec<String>,
    pub manifests_pushed: usize,
    pub manifests_skipped: usize,
    pub blobs_pushed: usize,
    pub blobs_skipped: usize,
}

/// Where imported entries go.
#[derive(Debug, Clone)]
pub struct ImportTarget {
    pub registry: String,
    /// Replaces each repository's namespace (everything before its last `/`).
    pub namespace: Option<String>,
    /// The repository for entries that do not name one (bare tags, untagged entries).
    pub repository: Option<String>,
}

fn io_err(path: &Path, e: io::Error) -> OciError {
    OciError::io(path, e)
}

fn bad(path: &Path, message: impl Into<String>) -> OciError {
    OciError::Config(format!("{}: {}", path.display(), message.into()))
}

fn blob_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join("blobs")
        .join(digest.algorithm().as_str())
        .join(digest.hex())
}

fn is_tar(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tar")
}

/// A directory removed (with what it holds) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// A new directory in `parent` named `.provisioning-<what>-<pid>-<n>`.
    fn new_in(parent: &Path, what: &str) -> Result<TempDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!(".provisioning-{what}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&path, e)),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A temporary sibling of `dest` (same file system, so the final rename is atomic).
fn temp_sibling(dest: &Path) -> Result<TempDir> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    TempDir::new_in(&parent, "export")
}

/// Hashes a file without holding it in memory; its size and digest.
fn hash_file(path: &Path, digest: &Digest) -> io::Result<(u64, Digest)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = digest.algorithm().hasher();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok((size, hasher.finish())),
            n => {
                size += n as u64;
                hasher.update(&buffer[..n]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Export

struct Exporter<'a> {
    registries: &'a Registries,
    cache: &'a BlobCache,
    progress: &'a Progress,
    root: PathBuf,
    written: HashSet<Digest>,
    /// Manifests exported as a signature tag (not asked for signatures of their own).
    signatures: HashSet<Digest>,
    entries: Vec<Value>,
    report: ExportReport,
}

/// Writes `references` (with everything they point at and their referrers) to `dest`: an OCI
/// image layout directory, or a tar of one when `dest` ends in `.tar`. `dest` must not exist.
pub async fn export(
    registries: &Registries,
    cache: &BlobCache,
    references: &[Reference],
    dest: &Path,
    progress: &Progress,
) -> Result<ExportReport> {
    if dest.exists() {
        return Err(io_err(
            dest,
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists; export writes a new layout",
            ),
        ));
    }
    let staging = temp_sibling(dest)?;
    let root = staging.path().join("layout");
    fs::create_dir_all(root.join("blobs/sha256")).map_err(|e| io_err(&root, e))?;
    let mut exporter = Exporter {
        registries,
        cache,
        progress,
        root: root.clone(),
        written: HashSet::new(),
        signatures: HashSet::new(),
        entries: vec![],
        report: ExportReport::default(),
    };
    for reference in references {
        exporter.export_reference(reference).await?;
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": exporter.entries,
    });
    let write = |name: &str, bytes: Vec<u8>| {
        let path = root.join(name);
        fs::write(&path, bytes).map_err(|e| io_err(&path, e))
    };
    write(
        "oci-layout",
        serde_json::to_vec(&json!({"imageLayoutVersion": "1.0.0"})).expect("json"),
    )?;
    write("index.json", serde_json::to_vec(&index).expect("json"))?;
    let mut report = exporter.report;
    if is_tar(dest) {
        let tar_path = staging.path().join("layout.tar");
        let (root2, tar2) = (root.clone(), tar_path.clone());
        tokio::task::spawn_blocking(move || write_tar(&root2, &tar2))
            .await
            .map_err(|e| OciError::Config(format!("writing the tar failed: {e}")))?
            .map_err(|e| io_err(&tar_path, e))?;
        fs::rename(&tar_path, dest).map_err(|e| io_err(dest, e))?;
    } else {
        fs::rename(&root, dest).map_err(|e| io_err(dest, e))?;
    }
    report.path = dest.to_path_buf();
    Ok(report)
}

impl Exporter<'_> {
    async fn export_reference(&mut self, reference: &Reference) -> Result<()> {
        let client = self.registries.client(&reference.registry);
        let repo = reference.repository.clone();
        let fetched = client.manifest(&repo, &reference.target()).await?;
        let digest = self
            .export_manifest(&reference.registry, &repo, fetched)
            .await?;
        let descriptor = self.descriptor_of(&digest)?;
        let mut entry = descriptor;
        // A reference pinned by digest keeps its tag (a lock's `name:tag@digest`): the tag is
        // written for the digest actually fetched, never for whatever the tag points at now.
        let name = match &reference.tag {
            Some(tag) => {
                entry["annotations"] = json!({ REF_NAME: format!("{repo}:{tag}") });
                format!("{repo}:{tag}")
            }
            _ => {
                entry["annotations"] = json!({ REPOSITORY: repo });
                format!("{repo}@{digest}")
            }
        };
        self.entries.push(entry);
        self.report.exported.push(name);
        Ok(())
    }

    /// The `index.json` descriptor of a manifest already written.
    fn descriptor_of(&self, digest: &Digest) -> Result<Value> {
        let path = blob_path(&self.root, digest);
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        let view: Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(&path, format!("manifest is not JSON: {e}")))?;
        let media_type = view["mediaType"]
            .as_str()
            .unwrap_or(media_type::OCI_MANIFEST)
            .to_string();
        let mut entry = json!({
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": bytes.len(),
        });
        if let Some(t) = view["artifactType"].as_str() {
            entry["artifactType"] = json!(t);
        }
        Ok(entry)
    }

    /// Writes one manifest with its blobs, children and referrers; returns its digest.
    async fn export_manifest(
        &mut self,
        registry: &str,
        repo: &str,
        fetched: super::client::FetchedManifest,
    ) -> Result<Digest> {
        let client = self.registries.client(registry);
        let digest = fetched.digest.clone();
        if self.written.contains(&digest) {
            return Ok(digest);
        }
        if !digest.matches(&fetched.bytes) {
            return Err(OciError::DigestMismatch {
                registry: registry.to_string(),
                what: format!("manifest {repo}@{digest}"),
                expected: digest.clone(),
                actual: Digest::sha256_of(&fetched.bytes),
            });
        }
        let view = ManifestView::parse(&fetched.bytes, &fetched.media_type).map_err(|e| {
            OciError::Protocol {
                registry: registry.to_string(),
                message: format!("manifest {digest} is not valid JSON: {e}"),
            }
        })?;
        if view.is_index() {
            for child in &view.manifests {
                let child_fetched = client.manifest(repo, &child.digest.to_string()).await?;
                Box::pin(self.export_manifest(registry, repo, child_fetched)).await?;
            }
        } else {
            let fresh: Vec<Descriptor> = view
                .blobs()
                .into_iter()
                .filter(|b| self.written.insert(b.digest.clone()))
                .cloned()
                .collect();
            let concurrency = self.registries.options().concurrency.max(1);
            let (this, client) = (&*self, &client);
            let sizes: Vec<u64> = futures_util::stream::iter(fresh.iter())
                .map(|blob| this.export_blob(client, repo, blob))
                .buffer_unordered(concurrency)
                .try_collect()
                .await?;
            self.report.blobs += sizes.len();
            self.report.bytes += sizes.iter().sum::<u64>();
        }
        let path = blob_path(&self.root, &digest);
        fs::create_dir_all(path.parent().expect("parent")).map_err(|e| io_err(&path, e))?;
        fs::write(&path, &fetched.bytes).map_err(|e| io_err(&path, e))?;
        self.written.insert(digest.clone());
        self.report.manifests += 1;
        self.report.bytes += fetched.bytes.len() as u64;
        for referrer in client.referrers(repo, &digest, None).await? {
            if self.written.contains(&referrer.digest) {
                continue;
            }
            let referrer_fetched = client.manifest(repo, &referrer.digest.to_string()).await?;
            let d = Box::pin(self.export_manifest(registry, repo, referrer_fetched)).await?;
            let mut entry = self.descriptor_of(&d)?;
            entry["annotations"] = json!({ REPOSITORY: repo });
            self.entries.push(entry);
            self.report.referrers += 1;
        }
        // Cosign keeps a signature under the tag `sha256-<hex>.sig`, not as a referrer.
        if !self.signatures.contains(&digest) {
            let tag = signature_tag(&digest);
            if let Some(signature) = client.manifest_digest(repo, &tag).await?
                && !self.written.contains(&signature)
            {
                self.signatures.insert(signature.clone());
                let fetched = client.manifest(repo, &signature.to_string()).await?;
                let d = Box::pin(self.export_manifest(registry, repo, fetched)).await?;
                let mut entry = self.descriptor_of(&d)?;
                entry["annotations"] = json!({ REF_NAME: format!("{repo}:{tag}") });
                self.entries.push(entry);
                self.report.signatures += 1;
            }
        }
        Ok(digest)
    }

    /// Fetches one blob through the cache into the layout, verified there; its size.
    async fn export_blob(
        &self,
        client: &super::client::RegistryClient,
        repo: &str,
        blob: &Descriptor,
    ) -> Result<u64> {
        let registry = client.registry();
        let cached = self.cache.fetch(client, repo, blob, self.progress).await?;
        let path = blob_path(&self.root, &blob.digest);
        fs::create_dir_all(path.parent().expect("parent")).map_err(|e| io_err(&path, e))?;
        // A hard link costs nothing; the cache's blobs are never rewritten in place (they are
        // renamed over), so the layout's copy cannot change under it.
        if fs::hard_link(&cached, &path).is_err() {
            let (from, to) = (cached.clone(), path.clone());
            tokio::task::spawn_blocking(move || fs::copy(&from, &to))
                .await
                .map_err(|e| OciError::Config(format!("copying a blob failed: {e}")))?
                .map_err(|e| io_err(&path, e))?;
        }
        // The cache verified it; check the layout's file once more where it now lives.
        let (p, d) = (path.clone(), blob.digest.clone());
        let (size, actual) = tokio::task::spawn_blocking(move || hash_file(&p, &d))
            .await
            .map_err(|e| OciError::Config(format!("hashing a blob failed: {e}")))?
            .map_err(|e| io_err(&path, e))?;
        if actual != blob.digest || size != blob.size {
            return Err(OciError::DigestMismatch {
                registry: registry.to_string(),
                what: format!("blob {repo}@{}", blob.digest),
                expected: blob.digest.clone(),
                actual,
            });
        }
        Ok(blob.size)
    }
}

/// Tars a layout directory (paths relative to it, files streamed).
fn write_tar(root: &Path, tar_path: &Path) -> io::Result<()> {
    let file = fs::File::create(tar_path)?;
    let mut builder = tar::Builder::new(io::BufWriter::new(file));
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    for name in ["oci-layout", "index.json"] {
        builder.append_path_with_name(root.join(name), name)?;
    }
    let mut stack = vec![PathBuf::from("blobs")];
    while let Some(dir) = stack.pop() {
        builder.append_dir(&dir, root.join(&dir))?;
        let mut children: Vec<_> = fs::read_dir(root.join(&dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        children.sort();
        for child in children {
            let relative = dir.join(&child);
            let meta = fs::symlink_metadata(root.join(&relative))?;
            if meta.is_dir() {
                stack.push(relative);
            } else {
                builder.append_path_with_name(root.join(&relative), &relative)?;
            }
        }
    }
    let writer = builder.into_inner()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

// ---------------------------------------------------------------------------------------------
// Import

/// Unpacks a tar of a layout into `dest`: regular files and directories only, relative paths
/// without `..`.
fn unpack_tar(tar_path: &Path, dest: &Path) -> Result<()> {
    let file = fs::File::open(tar_path).map_err(|e| io_err(tar_path, e))?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    let entries = archive.entries().map_err(|e| io_err(tar_path, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(tar_path, format!("not a readable tar: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(tar_path, format!("bad entry name: {e}")))?
            .into_owned();
        let safe = path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !safe {
            return Err(bad(
                tar_path,
                format!("entry {} leaves the layout", path.display()),
            ));
        }
        let target = dest.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&target).map_err(|e| io_err(&target, e))?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                }
                let mut out = fs::File::create(&target).map_err(|e| io_err(&target, e))?;
                let copied = io::copy(&mut entry, &mut out)
                    .map_err(|e| bad(tar_path, format!("truncated or unreadable tar: {e}")))?;
                if copied != entry.header().size().unwrap_or(copied) {
                    return Err(bad(tar_path, "truncated tar"));
                }
            }
            // pax headers and the like carry no content of the layout.
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => {}
            other => {
                return Err(bad(
                    tar_path,
                    format!("entry {} is a {other:?}, not a file", path.display()),
                ));
            }
        }
    }
    Ok(())
}

/// One manifest of the layout, checked.
struct Checked {
    media_type: String,
    bytes: Vec<u8>,
    view: ManifestView,
}

/// What to push: each entry of `index.json` with the repository and reference it goes to.
struct Planned {
    descriptor: Descriptor,
    repository: String,
    /// A tag, or empty for the manifest's digest.
    tag: String,
}

struct Importer<'a> {
    root: PathBuf,
    client: super::client::RegistryClient,
    progress: &'a Progress,
    manifests: BTreeMap<Digest, Checked>,
    blobs: BTreeMap<Digest, u64>,
    /// `(repository, digest)` already handled.
    done: HashSet<(String, Digest)>,
    concurrency: usize,
    report: ImportReport,
}

/// Pushes the layout at `source` (a directory, or a tar of one) into `target`.
pub async fn import(
    registries: &Registries,
    source: &Path,
    target: &ImportTarget,
    progress: &Progress,
) -> Result<ImportReport> {
    let _unpacked;
    let root = if source.is_file() {
        let dir = TempDir::new_in(&std::env::temp_dir(), "import")?;
        let (s, d) = (source.to_path_buf(), dir.path().to_path_buf());
        tokio::task::spawn_blocking(move || unpack_tar(&s, &d))
            .await
            .map_err(|e| OciError::Config(format!("unpacking failed: {e}")))??;
        let root = dir.path().to_path_buf();
        _unpacked = dir;
        root
    } else {
        source.to_path_buf()
    };
    let index_path = root.join("index.json");
    if !root.join("oci-layout").is_file() || !index_path.is_file() {
        return Err(bad(
            source,
            "not an OCI image layout (oci-layout and index.json expected)",
        ));
    }
    let index: Value =
        serde_json::from_slice(&fs::read(&index_path).map_err(|e| io_err(&index_path, e))?)
            .map_err(|e| bad(&index_path, format!("not JSON: {e}")))?;
    let entries: Vec<Descriptor> = serde_json::from_value(index["manifests"].clone())
        .map_err(|e| bad(&index_path, format!("bad manifests list: {e}")))?;
    let mut plan = vec![];
    for descriptor in entries {
        let ref_name = descriptor.annotations.get(REF_NAME).cloned();
        let own_repo = descriptor.annotations.get(REPOSITORY).cloned();
        let (repository, tag) = match (ref_name, own_repo) {
            (Some(name), _) => match name.rsplit_once(':') {
                Some((repo, tag)) if !repo.is_empty() && !tag.contains('/') => {
                    (Some(repo.to_string()), tag.to_string())
                }
                _ => (None, name),
            },
            (None, repo) => (repo, String::new()),
        };
        let repository = match (repository, &target.repository) {
            (_, Some(forced)) => forced.clone(),
            (Some(repo), None) => rename_namespace(&repo, target.namespace.as_deref()),
            (None, None) => {
                return Err(OciError::Config(format!(
                    "{}: the entry {} names no repository (a bare tag, as skopeo writes); pass --repository REPO",
                    index_path.display(),
                    descriptor.digest
                )));
            }
        };
        super::validate_repository(&repository)
            .map_err(|e| bad(&index_path, format!("repository {repository}: {e}")))?;
        if !tag.is_empty() {
            super::validate_tag(&tag).map_err(|e| bad(&index_path, format!("tag {tag}: {e}")))?;
        }
        plan.push(Planned {
            descriptor,
            repository,
            tag,
        });
    }
    let mut importer = Importer {
        root,
        client: registries.client(&target.registry),
        progress,
        manifests: BTreeMap::new(),
        blobs: BTreeMap::new(),
        done: HashSet::new(),
        concurrency: registries.options().concurrency.max(1),
        report: ImportReport::default(),
    };
    // Tagged entries first: a referrer goes in after its subject.
    plan.sort_by_key(|p| p.tag.is_empty());
    // Check everything before pushing anything.
    for planned in &plan {
        importer.check_manifest(&planned.descriptor).await?;
    }
    for planned in &plan {
        let digest = &planned.descriptor.digest;
        let repo = &planned.repository;
        let reference = if planned.tag.is_empty() {
            digest.to_string()
        } else {
            planned.tag.clone()
        };
        let present = importer.client.manifest_digest(repo, &reference).await?;
        if present.as_ref() == Some(digest) {
            importer.report.manifests_skipped += 1;
            importer.progress.emit(TransferEvent::Finished {
                digest: digest.clone(),
                outcome: Outcome::AlreadyPresent,
            });
        } else {
            importer.push_manifest(repo, digest, &reference).await?;
        }
        importer.report.imported.push(if planned.tag.is_empty() {
            format!("{}/{repo}@{digest}", target.registry)
        } else {
            format!("{}/{repo}:{}", target.registry, planned.tag)
        });
    }
    Ok(importer.report)
}

/// `ns/sub/name` with namespace `other` → `other/name`; without one, unchanged.
pub fn rename_namespace(repository: &str, namespace: Option<&str>) -> String {
    match namespace {
        None => repository.to_string(),
        Some(ns) => {
            let name = repository.rsplit('/').next().unwrap_or(repository);
            let ns = ns.trim_matches('/');
            if ns.is_empty() {
                name.to_string()
            } else {
                format!("{ns}/{name}")
            }
        }
    }
}

impl Importer<'_> {
    /// Checks a blob file: present, of the declared size, hashing to its digest.
    async fn check_blob(&mut self, descriptor: &Descriptor) -> Result<()> {
        if self.blobs.contains_key(&descriptor.digest) {
            return Ok(());
        }
        let path = blob_path(&self.root, &descriptor.digest);
        if !path.is_file() {
            return Err(bad(
                &self.root,
                format!("blob {} is missing from the layout", descriptor.digest),
            ));
        }
        let (p, d) = (path.clone(), descriptor.digest.clone());
        let (size, actual) = tokio::task::spawn_blocking(move || hash_file(&p, &d))
            .await
            .map_err(|e| OciError::Config(format!("hashing failed: {e}")))?
            .map_err(|e| io_err(&path, e))?;
        if actual != descriptor.digest {
            return Err(bad(
                &path,
                format!(
                    "blob hashes to {actual}, not {}; the layout is damaged",
                    descriptor.digest
                ),
            ));
        }
        if size != descriptor.size {
            return Err(bad(
                &path,
                format!(
                    "blob {} is {size} bytes, the manifest says {}",
                    descriptor.digest, descriptor.size
                ),
            ));
        }
        self.blobs.insert(descriptor.digest.clone(), size);
        Ok(())
    }

    async fn check_manifest(&mut self, descriptor: &Descriptor) -> Result<()> {
        if self.manifests.contains_key(&descriptor.digest) {
            return Ok(());
        }
        if descriptor.size > MAX_MANIFEST_BYTES {
            return Err(bad(
                &self.root,
                format!("manifest {} is too large", descriptor.digest),
            ));
        }
        self.check_blob(descriptor).await?;
        let path = blob_path(&self.root, &descriptor.digest);
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        let media_type = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| descriptor.media_type.clone());
        let view = ManifestView::parse(&bytes, &media_type)
            .map_err(|e| bad(&path, format!("manifest is not valid: {e}")))?;
        if view.is_index() {
            for child in view.manifests.clone() {
                Box::pin(self.check_manifest(&child)).await?;
            }
        } else {
            for blob in view.blobs() {
                let blob = blob.clone();
                self.check_blob(&blob).await?;
            }
        }
        self.manifests.insert(
            descriptor.digest.clone(),
            Checked {
                media_type,
                bytes,
                view,
            },
        );
        Ok(())
    }

    /// Pushes a checked manifest (children and blobs first) under `reference`.
    async fn push_manifest(&mut self, repo: &str, digest: &Digest, reference: &str) -> Result<()> {
        let key = (repo.to_string(), digest.clone());
        let (media_type, bytes, view) = {
            let checked = self.manifests.get(digest).expect("checked before pushing");
            (
                checked.media_type.clone(),
                checked.bytes.clone(),
                checked.view.clone(),
            )
        };
        if !self.done.contains(&key) {
            if view.is_index() {
                for child in &view.manifests {
                    let d = child.digest.to_string();
                    if self.client.manifest_digest(repo, &d).await?.as_ref() == Some(&child.digest)
                    {
                        self.report.manifests_skipped += 1;
                        continue;
                    }
                    Box::pin(self.push_manifest(repo, &child.digest, &d)).await?;
                }
            } else {
                let concurrency = self.concurrency;
                let this = &*self;
                let pushed: Vec<bool> = futures_util::stream::iter(view.blobs())
                    .map(|blob| this.push_blob(repo, blob))
                    .buffer_unordered(concurrency)
                    .try_collect()
                    .await?;
                let sent = pushed.iter().filter(|p| **p).count();
                self.report.blobs_pushed += sent;
                self.report.blobs_skipped += pushed.len() - sent;
            }
        }
        let pushed = self
            .client
            .push_manifest(repo, reference, &media_type, &bytes)
            .await?;
        if pushed.digest != *digest {
            return Err(OciError::DigestMismatch {
                registry: self.client.registry().to_string(),
                what: format!("manifest {repo}:{reference}"),
                expected: digest.clone(),
                actual: pushed.digest,
            });
        }
        if let Some(subject) = &view.subject
            && !pushed.subject_indexed
        {
            let descriptor = Descriptor {
                media_type: media_type.clone(),
                digest: digest.clone(),
                size: bytes.len() as u64,
                artifact_type: view.artifact_type().map(str::to_string),
                annotations: view.annotations.clone(),
                platform: None,
            };
            self.client
                .add_to_referrers_tag(repo, &subject.digest, &descriptor)
                .await?;
        }
        self.done.insert(key);
        self.report.manifests_pushed += 1;
        Ok(())
    }

    /// Uploads one blob unless the target has it; whether it was sent.
    async fn push_blob(&self, repo: &str, blob: &Descriptor) -> Result<bool> {
        if self.client.blob_size(repo, &blob.digest).await? == Some(blob.size) {
            self.progress.emit(TransferEvent::Finished {
                digest: blob.digest.clone(),
                outcome: Outcome::AlreadyPresent,
            });
            return Ok(false);
        }
        let path = blob_path(&self.root, &blob.digest);
        self.client
            .upload_blob(repo, blob, &path, self.progress)
            .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_replaced() {
        assert_eq!(
            rename_namespace("provisioning-extensions/kubernetes", Some("mirror")),
            "mirror/kubernetes"
        );
        assert_eq!(rename_namespace("a/b/c", Some("x/y")), "x/y/c");
        assert_eq!(rename_namespace("a/b", None), "a/b");
    }
}
