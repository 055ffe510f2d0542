//! How much the cache holds (`oci cache size`) and freeing it (`oci cache prune`).
//!
//! Pruning never touches a download under way: a download writes a temp file it holds locked
//! until the verified blob is renamed into place, so only unlocked temp files are removed, and
//! only once they are a minute old (a download locks its file right after creating it). Blobs
//! are whole once visible, so removing one only makes the next use download it again; the
//! `index.json` entries that pointed at removed blobs go with them.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

use super::BlobCache;
use crate::oci::client::{OciError, Result};

/// A temp file younger than this may belong to a download that has not locked it yet.
const TEMP_GRACE: Duration = Duration::from_secs(60);

/// What the cache holds.
#[derive(Debug, Default, Serialize)]
pub struct CacheUsage {
    pub root: std::path::PathBuf,
    pub blobs: usize,
    pub blob_bytes: u64,
    /// Downloads under way, or left by a killed process.
    pub temp_files: usize,
    pub temp_bytes: u64,
    /// Tagged entries of `index.json`.
    pub references: usize,
    pub total_bytes: u64,
}

/// Which blobs to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prune {
    /// Every blob.
    All,
    /// Blobs not used (read or written) for this long.
    OlderThan(Duration),
}

/// What a prune removed and kept.
#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    pub removed_blobs: usize,
    pub removed_temp_files: usize,
    pub freed_bytes: u64,
    pub kept_blobs: usize,
    pub kept_bytes: u64,
    /// Temp files a download holds (or has just created): never removed.
    pub in_use_temp_files: usize,
    pub removed_references: usize,
}

/// When a file was last used: its access time where the file system records it (often only
/// daily), else when it was written.
fn last_used(meta: &fs::Metadata) -> Option<SystemTime> {
    let modified = meta.modified().ok();
    match (meta.accessed().ok(), modified) {
        (Some(a), Some(m)) => Some(a.max(m)),
        (a, m) => a.or(m),
    }
}

/// Files directly inside `dir` (blobs/<algorithm>/<hex>, tmp/<uuid>).
fn files_in(dir: &Path) -> Vec<(std::path::PathBuf, fs::Metadata)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            meta.is_file().then(|| (e.path(), meta))
        })
        .collect()
}

fn blob_files(root: &Path) -> Vec<(std::path::PathBuf, fs::Metadata)> {
    let Ok(algorithms) = fs::read_dir(root.join("blobs")) else {
        return Vec::new();
    };
    algorithms
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .flat_map(|e| files_in(&e.path()))
        .collect()
}

impl BlobCache {
    /// What the cache holds, in files and bytes.
    pub fn usage(&self) -> CacheUsage {
        let mut usage = CacheUsage {
            root: self.root.clone(),
            ..CacheUsage::default()
        };
        for (_, meta) in blob_files(&self.root) {
            usage.blobs += 1;
            usage.blob_bytes += meta.len();
        }
        for (_, meta) in files_in(&self.root.join("tmp")) {
            usage.temp_files += 1;
            usage.temp_bytes += meta.len();
        }
        usage.references = self.index_entries().len();
        usage.total_bytes = usage.blob_bytes + usage.temp_bytes;
        usage
    }

    fn index_entries(&self) -> Vec<Value> {
        fs::read(self.root.join("index.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["manifests"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Removes the blobs `what` selects and the temp files no download holds; reports the
    /// bytes freed.
    pub fn prune(&self, what: Prune) -> Result<PruneReport> {
        let now = SystemTime::now();
        let mut report = PruneReport::default();
        for (path, meta) in blob_files(&self.root) {
            let remove = match what {
                Prune::All => true,
                Prune::OlderThan(age) => last_used(&meta)
                    .is_some_and(|t| now.duration_since(t).unwrap_or_default() >= age),
            };
            if !remove {
                report.kept_blobs += 1;
                report.kept_bytes += meta.len();
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.removed_blobs += 1;
                    report.freed_bytes += meta.len();
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(OciError::io(&path, e)),
            }
        }
        for (path, meta) in files_in(&self.root.join("tmp")) {
            let young = meta
                .modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_none_or(|age| age < TEMP_GRACE);
            // A download holds its temp file locked until the rename: never take one.
            let held = young || !fs::File::open(&path).is_ok_and(|f| f.try_lock().is_ok());
            if held {
                report.in_use_temp_files += 1;
                continue;
            }
            if fs::remove_file(&path).is_ok() {
                report.removed_temp_files += 1;
                report.freed_bytes += meta.len();
            }
        }
        report.removed_references = self.drop_dangling_references()?;
        Ok(report)
    }

    /// Removes the `index.json` entries whose manifest blob is gone; returns how many.
    fn drop_dangling_references(&self) -> Result<usize> {
        let mut removed = 0;
        let root = self.root.clone();
        self.update_index(|manifests| {
            let before = manifests.len();
            manifests.retain(|m| {
                let Some(digest) = m["digest"].as_str() else {
                    return false;
                };
                let Some((algorithm, hex)) = digest.split_once(':') else {
                    return false;
                };
                root.join("blobs").join(algorithm).join(hex).is_file()
            });
            removed = before - manifests.len();
        })?;
        Ok(removed)
    }
}

/// `30d`, `12h`, `90m`, `45s`, `2w`: a duration as `--older-than` takes it.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 30d, 12h, 90m or 2w"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}`; use s, m, h, d or w (e.g. 30d)"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Digest;
    use crate::oci::client::Descriptor;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3y").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn prune_all_frees_blobs_and_references_but_spares_a_live_download() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let bytes = b"a cached layer";
        let digest = Digest::sha256_of(bytes);
        cache.put(&digest, bytes).unwrap();
        let descriptor: Descriptor = serde_json::from_value(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest.to_string(),
            "size": bytes.len(),
        }))
        .unwrap();
        cache.tag("ext/a:1", &descriptor).unwrap();
        let live = super::super::TempFile::create_locked(cache.temp_path()).unwrap();
        fs::write(&live.path, b"half a download").unwrap();

        let usage = cache.usage();
        assert_eq!((usage.blobs, usage.references), (1, 1));
        assert_eq!(usage.blob_bytes, bytes.len() as u64);
        assert_eq!(usage.temp_files, 1);

        let kept = cache
            .prune(Prune::OlderThan(Duration::from_secs(3600)))
            .unwrap();
        assert_eq!((kept.removed_blobs, kept.kept_blobs), (0, 1));

        let report = cache.prune(Prune::All).unwrap();
        assert_eq!(report.removed_blobs, 1);
        assert_eq!(report.freed_bytes, bytes.len() as u64);
        assert_eq!(report.in_use_temp_files, 1);
        assert_eq!(report.removed_references, 1);
        assert!(live.path.exists(), "a download's temp file was removed");
        assert!(cache.lookup("ext/a:1").is_none());
        assert_eq!(cache.usage().blobs, 0);
    }
}
