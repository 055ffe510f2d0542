//! Filesystem storage for the embedded registry.
//!
//! Layout under the root:
//!
//! ```text
//! blobs/<alg>/<hex[..2]>/<hex>                     content, shared by every repository
//! repositories/<name>/_blobs/<alg>/<hex>           empty: the blob is part of this repository
//! repositories/<name>/_manifests/<alg>/<hex>       the manifest's media type; bytes live in blobs/
//! repositories/<name>/_tags/<tag>                  the digest the tag points at
//! repositories/<name>/_referrers/<alg>/<subject>/<alg>-<hex>   descriptor JSON of a referrer
//! uploads/<uuid>                                   data of an upload in progress
//! tmp/                                             files being written, renamed into place
//! ```
//!
//! Every file that becomes visible is written to `tmp/` (or `uploads/`) first and renamed, so a
//! crash leaves either the old state or the new one. Valid repository names are safe relative
//! paths (see [`crate::oci::name`]) and cannot start with `_`, so they never collide with the
//! `_`-prefixed directories.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::oci::Digest;

/// The registry's files.
#[derive(Clone, Debug)]
pub struct Storage {
    root: PathBuf,
}

/// A manifest as stored: its digest, media type and bytes.
#[derive(Debug)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Storage {
    /// Opens (creating if needed) the storage at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Storage> {
        let root = root.into();
        for dir in ["blobs", "repositories", "uploads", "tmp"] {
            fs::create_dir_all(root.join(dir))?;
        }
        Ok(Storage { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes what an earlier run left half-done. Only the process that holds the storage lock
    /// may call this, since it deletes uploads in progress.
    pub fn recover(&self) -> io::Result<()> {
        for dir in ["uploads", "tmp"] {
            let path = self.root.join(dir);
            fs::remove_dir_all(&path)?;
            fs::create_dir_all(&path)?;
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
        self.repo_dir(name).join("_tags").join(tag)
    }

    fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_referrers")
            .join(subject.algorithm().as_str())
            .join(subject.hex())
    }

    /// A fresh path in `tmp/` for a file about to be renamed into place.
    pub fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(uuid::Uuid::new_v4().to_string())
    }

    /// Writes `bytes` to `path` atomically: temp file, then rename.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.temp_path();
        let result = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
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

    /// Moves a verified file into the blob store (or drops it when the blob is already there)
    /// and links the blob into repository `name`.
    pub fn commit_blob(&self, name: &str, verified: &Path, digest: &Digest) -> io::Result<()> {
        let target = self.blob_path(digest);
        if target.exists() {
            fs::remove_file(verified)?;
            touch(&target);
        } else {
            fs::create_dir_all(target.parent().expect("blob path has a parent"))?;
            fs::rename(verified, &target)?;
        }
        self.link_blob(name, digest)
    }

    /// Makes an existing blob part of repository `name`.
    pub fn link_blob(&self, name: &str, digest: &Digest) -> io::Result<()> {
        let link = self.blob_link(name, digest);
        if !link.exists() {
            fs::create_dir_all(link.parent().expect("link has a parent"))?;
            fs::File::create(&link)?;
        }
        // A fresh mtime keeps a concurrent `gc` from taking a blob that a push is about to use.
        touch(&self.blob_path(digest));
        Ok(())
    }

    /// Removes a blob from repository `name`; the content stays until `gc`.
    pub fn unlink_blob(&self, name: &str, digest: &Digest) -> io::Result<bool> {
        remove_if_exists(&self.blob_link(name, digest))
    }

    /// Whether repository `name` holds anything at all.
    pub fn repo_exists(&self, name: &str) -> bool {
        let dir = self.repo_dir(name);
        dir.join("_manifests").is_dir() || dir.join("_blobs").is_dir()
    }

    /// Whether repository `name` has the manifest `digest`; returns its media type.
    pub fn manifest_media_type(&self, name: &str, digest: &Digest) -> io::Result<Option<String>> {
        match fs::read_to_string(self.manifest_link(name, digest)) {
            Ok(media_type) => Ok(Some(media_type)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The digest a tag points at.
    pub fn resolve_tag(&self, name: &str, tag: &str) -> io::Result<Option<Digest>> {
        match fs::read_to_string(self.tag_path(name, tag)) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a manifest of repository `name`.
    pub fn manifest(&self, name: &str, digest: &Digest) -> io::Result<Option<StoredManifest>> {
        let Some(media_type) = self.manifest_media_type(name, digest)? else {
            return Ok(None);
        };
        match fs::read(self.blob_path(digest)) {
            Ok(bytes) => Ok(Some(StoredManifest {
                digest: digest.clone(),
                media_type,
                bytes,
            })),
            // The link outlived its content (a gc race); the manifest is gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores manifest bytes (already validated) and links them into repository `name`;
    /// `tag` also points at it when given. `referrer` is the descriptor to list under the
    /// manifest's subject, if it has one.
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
        if blob.exists() {
            touch(&blob);
        } else {
            self.write_atomic(&blob, bytes)?;
        }
        if let Some((subject, descriptor)) = referrer {
            let entry = self.referrers_dir(name, subject).join(format!(
                "{}-{}",
                digest.algorithm().as_str(),
                digest.hex()
            ));
            self.write_atomic(&entry, descriptor.to_string().as_bytes())?;
        }
        self.write_atomic(&self.manifest_link(name, digest), media_type.as_bytes())?;
        if let Some(tag) = tag {
            self.write_atomic(&self.tag_path(name, tag), digest.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// Removes a tag; the manifest stays. Returns whether the tag existed.
    pub fn delete_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        remove_if_exists(&self.tag_path(name, tag))
    }

    /// Removes a manifest from repository `name`, with every tag pointing at it and its entry
    /// in the referrers of its subject. Returns whether it existed.
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
            let entry = self.referrers_dir(name, subject).join(format!(
                "{}-{}",
                digest.algorithm().as_str(),
                digest.hex()
            ));
            remove_if_exists(&entry)?;
        }
        remove_if_exists(&self.manifest_link(name, digest))
    }

    /// Tags of repository `name`, sorted; `None` when the repository does not exist.
    pub fn tags(&self, name: &str) -> io::Result<Option<Vec<String>>> {
        if !self.repo_exists(name) {
            return Ok(None);
        }
        let mut tags = list_dir(&self.repo_dir(name).join("_tags"))?;
        tags.sort();
        Ok(Some(tags))
    }

    /// Descriptors of the manifests in `name` whose subject is `subject`.
    pub fn referrers(&self, name: &str, subject: &Digest) -> io::Result<Vec<serde_json::Value>> {
        let dir = self.referrers_dir(name, subject);
        let mut entries = list_dir(&dir)?;
        entries.sort();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
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

    /// Every repository that has ever held a manifest, sorted lexically.
    pub fn repositories(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        walk_repositories(
            &self.root.join("repositories"),
            "",
            &["_manifests"],
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
            &["_manifests", "_blobs"],
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
        remove_if_exists(&self.blob_path(digest))
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

fn walk_repositories(
    dir: &Path,
    prefix: &str,
    markers: &[&str],
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
        if markers.iter().any(|m| path.join(m).is_dir()) {
            out.push(name.clone());
        }
        if path.is_dir() {
            walk_repositories(&path, &name, markers, out)?;
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

fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn touch(path: &Path) {
    if let Ok(file) = fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}
