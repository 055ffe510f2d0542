//! Filesystem storage for the embedded registry.
//!
//! Layout under the root:
//!
//! ```text
//! .provisioning-registry                           marks the directory as registry storage
//! blobs/<alg>/<hex[..2]>/<hex>                     content, shared by every repository
//! repositories/<name>/_blobs/<alg>/<hex>           empty: the blob is part of this repository
//! repositories/<name>/_manifests/<alg>/<hex>       the manifest's media type; bytes live in blobs/
//! repositories/<name>/_tags/<tag file name>        the digest the tag points at (see tag_names)
//! repositories/<name>/_referrers/<alg>/<subject>/<alg>-<hex>   descriptor JSON of a referrer
//! uploads/<uuid>                                   data of an upload in progress
//! tmp/                                             files being written, renamed into place
//! ```
//!
//! Every file that becomes visible is written to `tmp/` (or `uploads/`) first, fsynced, renamed,
//! and its directory fsynced, so a crash or power loss leaves either the old state or the new
//! one. Content is verified before it is committed; a stored file whose size or digest is wrong
//! (damaged outside the registry, or by power loss under an older version) counts as absent and
//! is replaced by the next push. Valid repository names are safe relative paths (see
//! [`crate::oci::name`]) and cannot start with `_`, so they never collide with the
//! `_`-prefixed directories.

mod claim;
mod durable;
mod shared;
mod tag_names;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::oci::Digest;

pub use claim::{MARKER, check as check_storage_dir};
#[doc(hidden)]
pub use durable::{clear_write_faults, fail_writes_with_no_space};
pub use shared::RepoGuard;
use shared::Shared;

/// The registry's files.
#[derive(Clone, Debug)]
pub struct Storage {
    root: PathBuf,
    shared: Arc<Shared>,
}

/// A manifest as stored: its digest, media type and bytes.
#[derive(Debug)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Sub-directories every storage has.
const DIRS: [&str; 4] = ["blobs", "repositories", "uploads", "tmp"];

impl Storage {
    /// Opens the storage at `root`, creating and marking it when it is missing or empty.
    /// Refuses a non-empty directory that is not registry storage.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Storage> {
        let root = root.into();
        claim::claim(&root)?;
        for dir in DIRS {
            durable::create_dirs(&root.join(dir))?;
        }
        Ok(Storage::at(root))
    }

    /// The storage at `root` if it is one, creating nothing.
    pub fn open_existing(root: impl Into<PathBuf>) -> io::Result<Option<Storage>> {
        let root = root.into();
        Ok(match claim::kind(&root)? {
            claim::Kind::Storage { .. } => Some(Storage::at(root)),
            _ => None,
        })
    }

    fn at(root: PathBuf) -> Storage {
        let shared = Shared {
            fault_key: durable::fault_key(&root),
            ..Shared::default()
        };
        Storage {
            root,
            shared: Arc::new(shared),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes what an earlier run left half-done, and renames tag files written before tag
    /// names were encoded. Only the process that holds the storage lock may call this, since it
    /// deletes uploads in progress.
    pub fn recover(&self) -> io::Result<()> {
        for dir in ["uploads", "tmp"] {
            let path = self.root.join(dir);
            fs::remove_dir_all(&path)?;
            durable::create_dirs(&path)?;
        }
        for repo in self.repository_dirs()? {
            let dir = self.repo_dir(&repo).join("_tags");
            let mut renamed = false;
            for name in list_dir(&dir)? {
                if tag_names::is_legacy(&name) {
                    fs::rename(dir.join(&name), dir.join(tag_names::encode(&name)))?;
                    renamed = true;
                }
            }
            if renamed {
                durable::sync_dir(&dir)?;
            }
        }
        Ok(())
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    fn blob_link(&self, name: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    fn manifest_link(&self, name: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    fn tag_path(&self, name: &str, tag: &str) -> PathBuf {
        self.repo_dir(name)
            .join("_tags")
            .join(tag_names::encode(tag))
    }

    fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_referrers")
            .join(subject.algorithm().as_str())
            .join(subject.hex())
    }

    fn referrer_entry(&self, name: &str, subject: &Digest, digest: &Digest) -> PathBuf {
        self.referrers_dir(name, subject).join(format!(
            "{}-{}",
            digest.algorithm().as_str(),
            digest.hex()
        ))
    }

    /// A fresh path in `tmp/` for a file about to be renamed into place.
    pub fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(uuid::Uuid::new_v4().to_string())
    }

    /// Fails as a full disk would when the fault seam says so.
    fn check_write(&self) -> io::Result<()> {
        durable::check_write(&self.shared.fault_key)
    }

    /// Writes `bytes` to `path` durably and atomically: temp file, fsync, rename, fsync of the
    /// directory.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.check_write()?;
        durable::write_via(&self.temp_path(), path, bytes)
    }

    /// Writes `bytes` to `path` unless it already holds exactly them.
    fn write_if_changed(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        match fs::read(path) {
            Ok(existing) if existing == bytes => Ok(()),
            _ => self.write_atomic(path, bytes),
        }
    }

    /// Size of a blob in the shared store, if present.
    pub fn blob_size(&self, digest: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(digest)).ok().map(|m| m.len())
    }

    /// Size of a blob if it is part of repository `name`.
    pub fn repo_blob_size(&self, name: &str, digest: &Digest) -> Option<u64> {
        if self.blob_link(name, digest).exists() {
            self.blob_size(digest)
        } else {
            None
        }
    }

    /// Whether the stored blob's content has `digest` (reads the whole blob).
    pub fn blob_is_intact(&self, digest: &Digest) -> io::Result<bool> {
        use std::io::Read;
        let mut file = match fs::File::open(self.blob_path(digest)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut hasher = digest.algorithm().hasher();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(hasher.finish() == *digest);
            }
            hasher.update(&buf[..n]);
        }
    }

    /// Moves a verified, fsynced file into the blob store and links the blob into repository
    /// `name`. A copy already there is replaced: it may be damaged (wrong size or content), and
    /// the rename costs no more than checking it would; readers that opened the old copy keep
    /// reading it, and both are complete.
    pub fn commit_blob(&self, name: &str, verified: &Path, digest: &Digest) -> io::Result<()> {
        self.check_write()?;
        let target = self.blob_path(digest);
        let dir = target.parent().expect("blob path has a parent");
        durable::create_dirs(dir)?;
        fs::rename(verified, &target)?;
        durable::sync_dir(dir)?;
        self.link_blob(name, digest)
    }

    /// Makes an existing blob part of repository `name`.
    pub fn link_blob(&self, name: &str, digest: &Digest) -> io::Result<()> {
        let link = self.blob_link(name, digest);
        if !link.exists() {
            self.check_write()?;
            let dir = link.parent().expect("link has a parent");
            durable::create_dirs(dir)?;
            fs::File::create(&link)?;
            durable::sync_dir(dir)?;
        }
        // A fresh mtime keeps `gc --min-age` from taking a blob that was just pushed.
        touch(&self.blob_path(digest));
        Ok(())
    }

    /// Removes a blob from repository `name`; the content stays until `gc`.
    pub fn unlink_blob(&self, name: &str, digest: &Digest) -> io::Result<bool> {
        durable::remove_file(&self.blob_link(name, digest))
    }

    /// Drops a blob whose content does not match its digest, so that it counts as absent and
    /// the next push stores it again.
    pub fn drop_damaged_blob(&self, digest: &Digest) -> io::Result<()> {
        tracing::warn!(%digest, "stored blob does not match its digest; dropped it");
        durable::remove_file(&self.blob_path(digest)).map(|_| ())
    }

    /// Whether repository `name` holds anything at all.
    pub fn repo_exists(&self, name: &str) -> bool {
        let dir = self.repo_dir(name);
        dir.join("_manifests").is_dir() || dir.join("_blobs").is_dir()
    }

    /// Whether repository `name` has the manifest `digest`; returns its media type. A link that
    /// lost its content (power loss under an older version) counts as absent.
    pub fn manifest_media_type(&self, name: &str, digest: &Digest) -> io::Result<Option<String>> {
        match fs::read_to_string(self.manifest_link(name, digest)) {
            Ok(media_type) if !media_type.trim().is_empty() => Ok(Some(media_type)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The digest a tag points at. A tag file that does not hold a digest (damaged) counts as
    /// absent.
    pub fn resolve_tag(&self, name: &str, tag: &str) -> io::Result<Option<Digest>> {
        match fs::read_to_string(self.tag_path(name, tag)) {
            Ok(text) => Ok(text.trim().parse().ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a manifest of repository `name`. Bytes that do not match the digest (a blob
    /// damaged outside the registry, or emptied by power loss under an older version) count as
    /// absent, so the manifest is unknown until it is pushed again.
    pub fn manifest(&self, name: &str, digest: &Digest) -> io::Result<Option<StoredManifest>> {
        let Some(media_type) = self.manifest_media_type(name, digest)? else {
            return Ok(None);
        };
        let bytes = match fs::read(self.blob_path(digest)) {
            Ok(bytes) => bytes,
            // The link outlived its content; the manifest is gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut hasher = digest.algorithm().hasher();
        hasher.update(&bytes);
        if hasher.finish() != *digest {
            tracing::warn!(repository = name, %digest, "stored manifest is damaged; answering it as unknown");
            return Ok(None);
        }
        Ok(Some(StoredManifest {
            digest: digest.clone(),
            media_type,
            bytes,
        }))
    }

    /// Stores manifest bytes (already validated) and links them into repository `name`;
    /// `tag` also points at it when given. `referrer` is the descriptor to list under the
    /// manifest's subject, if it has one. Callers hold [`Storage::lock_repository`].
    ///
    /// Each file is durable before the next is written, in the order blob, referrer entry,
    /// manifest link, tag: a failure part-way leaves nothing that points at a missing file, and
    /// pushing again completes it.
    pub fn put_manifest(
        &self,
        name: &str,
        digest: &Digest,
        media_type: &str,
        bytes: &[u8],
        tag: Option<&str>,
        referrer: Option<(&Digest, &serde_json::Value)>,
    ) -> io::Result<()> {
        let blob = self.blob_path(digest);
        match fs::read(&blob) {
            Ok(existing) if existing == bytes => touch(&blob),
            // Absent, or damaged: write it (again).
            _ => self.write_atomic(&blob, bytes)?,
        }
        if let Some((subject, descriptor)) = referrer {
            let entry = self.referrer_entry(name, subject, digest);
            self.write_if_changed(&entry, descriptor.to_string().as_bytes())?;
        }
        self.write_if_changed(&self.manifest_link(name, digest), media_type.as_bytes())?;
        self.catalog_changed(name, true);
        if let Some(tag) = tag {
            self.write_if_changed(&self.tag_path(name, tag), digest.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Removes a tag; the manifest stays. Returns whether the tag existed. Callers hold
    /// [`Storage::lock_repository`].
    pub fn delete_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        durable::remove_file(&self.tag_path(name, tag))
    }

    /// Removes a manifest from repository `name`, with every tag pointing at it and its entry
    /// in the referrers of its subject. Returns whether it existed. Callers hold
    /// [`Storage::lock_repository`].
    pub fn delete_manifest(
        &self,
        name: &str,
        digest: &Digest,
        subject: Option<&Digest>,
    ) -> io::Result<bool> {
        if let Some(tags) = self.tags(name)? {
            for tag in tags {
                if self.resolve_tag(name, &tag)?.as_ref() == Some(digest) {
                    self.delete_tag(name, &tag)?;
                }
            }
        }
        if let Some(subject) = subject {
            durable::remove_file(&self.referrer_entry(name, subject, digest))?;
        }
        let existed = durable::remove_file(&self.manifest_link(name, digest))?;
        if !self.has_manifests(name) {
            self.catalog_changed(name, false);
        }
        Ok(existed)
    }

    /// Tags of repository `name`, sorted; `None` when the repository does not exist.
    pub fn tags(&self, name: &str) -> io::Result<Option<Vec<String>>> {
        if !self.repo_exists(name) {
            return Ok(None);
        }
        let mut tags: Vec<String> = list_dir(&self.repo_dir(name).join("_tags"))?
            .iter()
            .filter_map(|file| tag_names::decode(file))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(Some(tags))
    }

    /// Descriptors of the manifests in `name` whose subject is `subject`. An entry whose
    /// manifest is not (or no longer) linked is left out.
    pub fn referrers(&self, name: &str, subject: &Digest) -> io::Result<Vec<serde_json::Value>> {
        let dir = self.referrers_dir(name, subject);
        let mut entries = list_dir(&dir)?;
        entries.sort();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let linked = entry
                .replacen('-', ":", 1)
                .parse::<Digest>()
                .is_ok_and(|d| self.manifest_link(name, &d).is_file());
            if !linked {
                continue;
            }
            let text = match fs::read(dir.join(&entry)) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if let Ok(value) = serde_json::from_slice(&text) {
                out.push(value);
            }
        }
        Ok(out)
    }

    /// Whether repository `name` has at least one manifest.
    fn has_manifests(&self, name: &str) -> bool {
        has_manifests(&self.repo_dir(name))
    }

    /// Every repository that holds a manifest, sorted lexically, read from disk.
    pub fn repositories(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        walk_repositories(
            &self.root.join("repositories"),
            "",
            &has_manifests,
            &mut out,
        )?;
        out.sort();
        Ok(out)
    }

    /// Every repository directory holding manifests or blob links, for `gc`.
    pub fn repository_dirs(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        walk_repositories(
            &self.root.join("repositories"),
            "",
            &|dir: &Path| dir.join("_manifests").is_dir() || dir.join("_blobs").is_dir(),
            &mut out,
        )?;
        Ok(out)
    }

    /// Digests of every manifest linked in repository `name`.
    pub fn manifest_digests(&self, name: &str) -> io::Result<Vec<Digest>> {
        digests_under(&self.repo_dir(name).join("_manifests"))
    }

    /// Digests of every blob linked in repository `name`.
    pub fn linked_blobs(&self, name: &str) -> io::Result<Vec<Digest>> {
        digests_under(&self.repo_dir(name).join("_blobs"))
    }

    /// Every blob in the shared store with its size and modification time.
    pub fn all_blobs(&self) -> io::Result<Vec<(Digest, u64, SystemTime)>> {
        let mut out = Vec::new();
        let root = self.root.join("blobs");
        for alg in list_dir(&root)? {
            for prefix in list_dir(&root.join(&alg))? {
                let dir = root.join(&alg).join(&prefix);
                for hex in list_dir(&dir)? {
                    let Ok(digest) = format!("{alg}:{hex}").parse::<Digest>() else {
                        continue;
                    };
                    if let Ok(meta) = fs::metadata(dir.join(&hex)) {
                        out.push((digest, meta.len(), meta.modified()?));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Deletes a blob from the shared store.
    pub fn remove_blob(&self, digest: &Digest) -> io::Result<bool> {
        durable::remove_file(&self.blob_path(digest))
    }

    /// Bytes used by the files under the root.
    pub fn disk_usage(&self) -> u64 {
        fn size(path: &Path) -> u64 {
            let Ok(meta) = fs::symlink_metadata(path) else {
                return 0;
            };
            if meta.is_dir() {
                fs::read_dir(path)
                    .map(|entries| entries.flatten().map(|e| size(&e.path())).sum())
                    .unwrap_or(0)
            } else {
                meta.len()
            }
        }
        size(&self.root)
    }
}

/// Whether the repository directory `dir` links at least one manifest.
fn has_manifests(dir: &Path) -> bool {
    let Ok(algorithms) = fs::read_dir(dir.join("_manifests")) else {
        return false;
    };
    algorithms
        .flatten()
        .any(|alg| fs::read_dir(alg.path()).is_ok_and(|mut manifests| manifests.next().is_some()))
}

fn walk_repositories(
    dir: &Path,
    prefix: &str,
    is_repository: &dyn Fn(&Path) -> bool,
    out: &mut Vec<String>,
) -> io::Result<()> {
    for entry in list_dir(dir)? {
        if entry.starts_with('_') {
            continue;
        }
        let name = if prefix.is_empty() {
            entry.clone()
        } else {
            format!("{prefix}/{entry}")
        };
        let path = dir.join(&entry);
        if is_repository(&path) {
            out.push(name.clone());
        }
        if path.is_dir() {
            walk_repositories(&path, &name, is_repository, out)?;
        }
    }
    Ok(())
}

fn digests_under(dir: &Path) -> io::Result<Vec<Digest>> {
    let mut out = Vec::new();
    for alg in list_dir(dir)? {
        for hex in list_dir(&dir.join(&alg))? {
            if let Ok(d) = format!("{alg}:{hex}").parse() {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// Names in a directory; an absent directory is empty.
fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn touch(path: &Path) {
    if let Ok(file) = fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(n: u32) -> (Digest, Vec<u8>) {
        let bytes = json!({ "schemaVersion": 2, "n": n })
            .to_string()
            .into_bytes();
        (Digest::sha256_of(&bytes), bytes)
    }

    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

    /// Tags that differ only by case are two files whose names differ by more than case, so a
    /// case-insensitive filesystem cannot fold one onto the other.
    #[test]
    fn tags_differing_only_by_case_cannot_collide() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let tags = ["latest", "Latest", "LATEST", "v1.0-rc", "V1.0-RC"];
        for (i, tag) in tags.iter().enumerate() {
            let (digest, bytes) = manifest(i as u32);
            storage
                .put_manifest("app", &digest, OCI, &bytes, Some(tag), None)
                .unwrap();
        }
        let files = list_dir(&dir.path().join("repositories/app/_tags")).unwrap();
        assert_eq!(files.len(), tags.len(), "{files:?}");
        let mut folded: Vec<String> = files.iter().map(|f| f.to_lowercase()).collect();
        folded.sort();
        folded.dedup();
        assert_eq!(
            folded.len(),
            files.len(),
            "names collide ignoring case: {files:?}"
        );
        for (i, tag) in tags.iter().enumerate() {
            let resolved = storage.resolve_tag("app", tag).unwrap();
            assert_eq!(resolved, Some(manifest(i as u32).0), "{tag}");
        }
        let mut expected: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        expected.sort();
        assert_eq!(storage.tags("app").unwrap(), Some(expected));
    }

    #[test]
    fn legacy_tag_files_are_renamed_on_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let (digest, bytes) = manifest(1);
        storage
            .put_manifest("app", &digest, OCI, &bytes, Some("x"), None)
            .unwrap();
        let tags = dir.path().join("repositories/app/_tags");
        fs::write(tags.join("Stable"), digest.to_string()).unwrap();
        storage.recover().unwrap();
        assert_eq!(storage.resolve_tag("app", "Stable").unwrap(), Some(digest));
        assert!(!tags.join("Stable").exists());
    }

    #[test]
    fn catalog_follows_pushes_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        assert!(storage.catalog().unwrap().is_empty());
        let (digest, bytes) = manifest(1);
        for repo in ["b", "a/x"] {
            storage
                .put_manifest(repo, &digest, OCI, &bytes, None, None)
                .unwrap();
        }
        assert_eq!(*storage.catalog().unwrap(), ["a/x", "b"]);
        storage.delete_manifest("b", &digest, None).unwrap();
        assert_eq!(*storage.catalog().unwrap(), ["a/x"]);
        assert_eq!(storage.repositories().unwrap(), ["a/x"]);
    }
}
