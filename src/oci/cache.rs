//! The local blob cache: an OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`),
//! so other tools can read it (`skopeo copy oci:<cache>:<ref> …`). Blobs are downloaded to
//! `tmp/`, verified and renamed into place, so nothing partial is ever visible and several
//! processes can share the cache; `index.json` is created and rewritten under a file lock.
//!
//! A cache on disk can be damaged or tampered with, so a blob is hashed again on every hit
//! (a sequential read that the unpack or upload which follows then finds in the page cache);
//! one that does not match is discarded and downloaded again. A download whose bytes do not
//! match is retried [`FETCH_ATTEMPTS`] times in all before the digest mismatch is reported.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::Digest;
use super::client::{Descriptor, OciError, RegistryClient, Result};
use super::progress::{Outcome, Progress, TransferEvent};

mod usage;
pub use usage::{CacheUsage, Prune, PruneReport, parse_duration};

/// Downloads of one blob whose bytes do not match its digest, before giving up.
pub const FETCH_ATTEMPTS: u32 = 3;

/// A temp file older than this that no download holds the lock of is what a killed process
/// left behind.
const TEMP_STALE_AFTER: Duration = Duration::from_secs(3600);

/// Annotation naming a manifest in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content-addressed, digest-verified blob cache laid out as an OCI image layout.
#[derive(Clone, Debug)]
pub struct BlobCache {
    root: PathBuf,
}

impl BlobCache {
    /// `$PROVISIONING_CACHE_DIR`, else the platform cache dir's `oci`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("PROVISIONING_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        directories::ProjectDirs::from("dev", "provisioning", "provisioning")
            .map(|p| p.cache_dir().join("oci"))
            .unwrap_or_else(|| PathBuf::from(".provisioning/cache/oci"))
    }

    /// Opens (creating if needed) the cache at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobCache> {
        let root = root.into();
        let io_err = |e| OciError::io(&root, e);
        fs::create_dir_all(root.join("blobs").join("sha256")).map_err(io_err)?;
        fs::create_dir_all(root.join("tmp")).map_err(io_err)?;
        let cache = BlobCache { root };
        // Under the index lock: a process that checked "missing" can never write an empty
        // index over one another process has just created and tagged into.
        cache
            .with_index_lock(|| {
                cache.write_if_missing("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
                cache.write_if_missing("index.json", br#"{"schemaVersion":2,"manifests":[]}"#)
            })
            .map_err(|e| OciError::io(&cache.root, e))?;
        cache.sweep_temp();
        Ok(cache)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn write_if_missing(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.root.join(name);
        if path.exists() {
            return Ok(());
        }
        self.write_atomic(&path, bytes)
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.temp_path();
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// A fresh temp path on the cache's filesystem.
    pub fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(uuid::Uuid::new_v4().to_string())
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Whether the blob is cached with the expected size (not whether its bytes are right:
    /// [`BlobCache::verified`] hashes them).
    pub fn has(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.len() == size)
    }

    /// Whether the blob is cached with the expected size and bytes that hash to its digest. An
    /// empty blob is checked without reading: its digest either is the empty digest or not.
    pub fn verified(&self, digest: &Digest, size: u64) -> bool {
        if !self.has(digest, size) {
            return false;
        }
        if size == 0 {
            return digest.matches(b"");
        }
        let hashed = (|| -> io::Result<Digest> {
            let mut file = fs::File::open(self.blob_path(digest))?;
            let mut hasher = digest.algorithm().hasher();
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                match file.read(&mut buffer)? {
                    0 => return Ok(hasher.finish()),
                    n => hasher.update(&buffer[..n]),
                }
            }
        })();
        matches!(hashed, Ok(actual) if actual == *digest)
    }

    /// Reads a cached blob.
    pub fn read(&self, digest: &Digest) -> Option<Vec<u8>> {
        let bytes = fs::read(self.blob_path(digest)).ok()?;
        // A cache on disk can be damaged; never hand out bytes that do not match.
        digest.matches(&bytes).then_some(bytes)
    }

    /// Stores bytes whose digest the caller verified (manifests, configs).
    pub fn put(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let path = self.blob_path(digest);
        if fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(());
        }
        fs::create_dir_all(path.parent().expect("blob path has a parent"))
            .map_err(|e| OciError::io(&path, e))?;
        self.write_atomic(&path, bytes)
            .map_err(|e| OciError::io(&path, e))
    }

    /// Makes sure a blob is cached with the right bytes: a hit is hashed again, and a blob
    /// that is missing or damaged is downloaded, verified and renamed into place. A download
    /// whose bytes do not match is discarded and fetched again, [`FETCH_ATTEMPTS`] in all.
    pub async fn fetch(
        &self,
        client: &RegistryClient,
        repo: &str,
        descriptor: &Descriptor,
        progress: &Progress,
    ) -> Result<PathBuf> {
        let path = self.blob_path(&descriptor.digest);
        if self.verified_off_runtime(descriptor).await {
            progress.emit(TransferEvent::Finished {
                digest: descriptor.digest.clone(),
                outcome: Outcome::Cached,
            });
            return Ok(path);
        }
        if path.exists() {
            tracing::warn!(
                digest = %descriptor.digest,
                path = %path.display(),
                "cached blob does not match its digest; downloading it again"
            );
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.download(client, repo, descriptor, progress).await {
                Err(OciError::DigestMismatch { actual, .. }) if attempt < FETCH_ATTEMPTS => {
                    progress.emit(TransferEvent::Retrying {
                        what: format!(
                            "blob {} arrived with digest {actual}; fetching it again",
                            descriptor.digest
                        ),
                        attempt,
                        delay: Duration::ZERO,
                    });
                }
                other => return other,
            }
        }
    }

    /// Hashes a cached blob on a blocking thread (it may be large).
    async fn verified_off_runtime(&self, descriptor: &Descriptor) -> bool {
        let (cache, digest, size) = (self.clone(), descriptor.digest.clone(), descriptor.size);
        tokio::task::spawn_blocking(move || cache.verified(&digest, size))
            .await
            .unwrap_or(false)
    }

    /// One download into a locked temp file, renamed into place once verified.
    async fn download(
        &self,
        client: &RegistryClient,
        repo: &str,
        descriptor: &Descriptor,
        progress: &Progress,
    ) -> Result<PathBuf> {
        let path = self.blob_path(&descriptor.digest);
        // Removed on every way out but success, including a cancelled (dropped) future; locked
        // while it lives, so another process's sweep never takes it from under a slow download.
        let tmp = TempFile::create_locked(self.temp_path())?;
        client
            .download_blob(repo, descriptor, &tmp.path, progress)
            .await?;
        let parent = path.parent().expect("blob path has a parent").to_path_buf();
        fs::create_dir_all(&parent)
            .and_then(|()| fs::rename(&tmp.path, &path))
            .map_err(|e| OciError::io(&path, e))?;
        Ok(path)
    }

    /// Deletes what a killed process left in `tmp/`: files older than an hour that no live
    /// download holds the lock of. A download locks its temp file for as long as it runs, so
    /// one that stalls for longer than that is still left alone.
    fn sweep_temp(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > TEMP_STALE_AFTER);
            if !old {
                continue;
            }
            let path = entry.path();
            let unlocked = fs::File::open(&path).is_ok_and(|f| f.try_lock().is_ok());
            if unlocked {
                let _ = fs::remove_file(&path);
            }
        }
    }

    /// Records `descriptor` in `index.json` under `ref_name`, replacing an older entry.
    pub fn tag(&self, ref_name: &str, descriptor: &Descriptor) -> Result<()> {
        self.update_index(|manifests| {
            manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(ref_name));
            let mut entry = json!({
                "mediaType": descriptor.media_type,
                "digest": descriptor.digest.to_string(),
                "size": descriptor.size,
                "annotations": { REF_NAME: ref_name },
            });
            if let Some(t) = &descriptor.artifact_type {
                entry["artifactType"] = json!(t);
            }
            manifests.push(entry);
        })
    }

    /// The descriptor recorded under `ref_name`.
    pub fn lookup(&self, ref_name: &str) -> Option<Descriptor> {
        let index: Value =
            serde_json::from_slice(&fs::read(self.root.join("index.json")).ok()?).ok()?;
        let entry = index["manifests"]
            .as_array()?
            .iter()
            .find(|m| m["annotations"][REF_NAME].as_str() == Some(ref_name))?;
        serde_json::from_value(entry.clone()).ok()
    }

    /// Runs `f` holding the exclusive lock on `index.json.lock`.
    fn with_index_lock<T>(&self, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let lock = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("index.json.lock"))?;
        lock.lock()?;
        f()
    }

    fn update_index(&self, edit: impl FnOnce(&mut Vec<Value>)) -> Result<()> {
        let path = self.root.join("index.json");
        self.with_index_lock(|| {
            let mut index: Value = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
            let mut manifests: Vec<Value> =
                index["manifests"].as_array().cloned().unwrap_or_default();
            edit(&mut manifests);
            index["manifests"] = Value::Array(manifests);
            let bytes = serde_json::to_vec_pretty(&index).expect("JSON values serialize");
            self.write_atomic(&path, &bytes)
        })
        .map_err(|e| OciError::io(&path, e))
    }
}

/// A temp file deleted when dropped (after a rename away, the delete finds nothing), and
/// locked while it lives.
struct TempFile {
    path: PathBuf,
    _lock: fs::File,
}

impl TempFile {
    fn create_locked(path: PathBuf) -> Result<TempFile> {
        let file = fs::File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| OciError::io(&path, e))?;
        let temp = TempFile { path, _lock: file };
        temp._lock.lock().map_err(|e| OciError::io(&temp.path, e))?;
        Ok(temp)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn descriptor(digest: &Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest.clone(),
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    /// A cached blob whose bytes were changed in place (same size) is not a hit.
    #[test]
    fn a_tampered_blob_of_the_same_size_is_not_verified() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let bytes = b"the real content".to_vec();
        let digest = Digest::sha256_of(&bytes);
        cache.put(&digest, &bytes).unwrap();
        assert!(cache.verified(&digest, bytes.len() as u64));
        let mut tampered = bytes.clone();
        tampered[0] ^= 0xff;
        fs::write(cache.blob_path(&digest), &tampered).unwrap();
        assert!(cache.has(&digest, bytes.len() as u64), "same size");
        assert!(!cache.verified(&digest, bytes.len() as u64));
        // The empty blob needs no read, and a wrong "empty" digest is never verified.
        let empty = Digest::sha256_of(b"");
        cache.put(&empty, b"").unwrap();
        assert!(cache.verified(&empty, 0));
        fs::write(cache.blob_path(&digest), b"").unwrap();
        assert!(!cache.verified(&digest, 0));
    }

    /// Many processes opening a fresh cache and tagging at once: no tag is lost to an empty
    /// `index.json` written over it by a process that saw the file missing a moment earlier.
    #[test]
    fn concurrent_opens_never_lose_a_tag() {
        for round in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("cache");
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    let root = root.clone();
                    std::thread::spawn(move || {
                        let cache = BlobCache::open(&root).unwrap();
                        let digest = Digest::sha256_of(format!("{round}-{i}").as_bytes());
                        cache
                            .tag(&format!("t{i}"), &descriptor(&digest, 1))
                            .unwrap();
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            let cache = BlobCache::open(&root).unwrap();
            for i in 0..8 {
                assert!(
                    cache.lookup(&format!("t{i}")).is_some(),
                    "round {round}: tag t{i} was lost"
                );
            }
        }
    }

    fn age(path: &Path) {
        let then = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(then)
            .unwrap();
    }

    /// The sweep on open takes an old temp file nobody holds, and leaves one a download still
    /// writes however long it has been quiet.
    #[test]
    fn the_temp_sweep_spares_a_live_download() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let live = TempFile::create_locked(cache.temp_path()).unwrap();
        fs::write(&live.path, b"half of a blob").unwrap();
        age(&live.path);
        let abandoned = cache.temp_path();
        fs::write(&abandoned, b"left by a killed process").unwrap();
        age(&abandoned);
        let young = cache.temp_path();
        fs::write(&young, b"just written").unwrap();

        BlobCache::open(dir.path()).unwrap();
        assert!(live.path.exists(), "a locked temp file is never swept");
        assert!(!abandoned.exists(), "an old unlocked one is");
        assert!(young.exists(), "a young one is left");
        let live_path = live.path.clone();
        drop(live);
        assert!(!live_path.exists());
    }
}
