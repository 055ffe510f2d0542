//! The local blob cache: an OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`),
//! so other tools can read it (`skopeo copy oci:<cache>:<ref> …`). Blobs are downloaded to
//! `tmp/`, verified and renamed into place, so nothing partial is ever visible and several
//! processes can share the cache; `index.json` is rewritten under a file lock.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::Digest;
use super::client::{Descriptor, OciError, RegistryClient, Result};
use super::progress::{Outcome, Progress, TransferEvent};

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
        cache
            .write_if_missing("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .and_then(|_| {
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

    /// Whether the blob is cached with the expected size.
    pub fn has(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.len() == size)
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

    /// Makes sure a blob is cached, downloading and verifying it when it is not.
    pub async fn fetch(
        &self,
        client: &RegistryClient,
        repo: &str,
        descriptor: &Descriptor,
        progress: &Progress,
    ) -> Result<PathBuf> {
        let path = self.blob_path(&descriptor.digest);
        if self.has(&descriptor.digest, descriptor.size) {
            progress.emit(TransferEvent::Finished {
                digest: descriptor.digest.clone(),
                outcome: Outcome::Cached,
            });
            return Ok(path);
        }
        // Removed on every way out but success, including a cancelled (dropped) future.
        let tmp = TempFile(self.temp_path());
        client
            .download_blob(repo, descriptor, &tmp.0, progress)
            .await?;
        let parent = path.parent().expect("blob path has a parent").to_path_buf();
        fs::create_dir_all(&parent)
            .and_then(|()| fs::rename(&tmp.0, &path))
            .map_err(|e| OciError::io(&path, e))?;
        Ok(path)
    }

    /// Deletes temp files older than an hour: what a killed process left behind. Younger ones
    /// may belong to a download in progress elsewhere.
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
                .is_some_and(|age| age > std::time::Duration::from_secs(3600));
            if old {
                let _ = fs::remove_file(entry.path());
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

    fn update_index(&self, edit: impl FnOnce(&mut Vec<Value>)) -> Result<()> {
        let path = self.root.join("index.json");
        let lock_path = self.root.join("index.json.lock");
        let io_err = |e| OciError::io(&path, e);
        let lock = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err)?;
        lock.lock().map_err(io_err)?;
        let mut index: Value = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
        let mut manifests: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
        edit(&mut manifests);
        index["manifests"] = Value::Array(manifests);
        let bytes = serde_json::to_vec_pretty(&index).expect("JSON values serialize");
        self.write_atomic(&path, &bytes).map_err(io_err)
    }
}

/// A temp file deleted when dropped (after a rename away, the delete finds nothing).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
