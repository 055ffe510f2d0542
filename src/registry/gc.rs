//! Garbage collection: deletes blobs that no manifest references, the repository links to
//! them, and upload data left idle.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::manifest::references_of;
use super::storage::Storage;
use crate::oci::Digest;

/// What a collection removed (or, on a dry run, would remove).
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub blobs: Vec<RemovedBlob>,
    pub bytes_freed: u64,
    pub repository_links: usize,
    pub stale_uploads: usize,
}

#[derive(Debug, Serialize)]
pub struct RemovedBlob {
    pub digest: Digest,
    pub size: u64,
}

/// Collects garbage in `storage`. Blobs younger than `min_age` are kept even when nothing
/// references them yet, so a push running at the same time keeps its layers; upload data
/// untouched for `upload_ttl` is deleted.
pub fn collect(
    storage: &Storage,
    dry_run: bool,
    min_age: Duration,
    upload_ttl: Duration,
) -> std::io::Result<GcReport> {
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    let now = SystemTime::now();
    let old_enough =
        |modified: SystemTime| now.duration_since(modified).unwrap_or_default() >= min_age;

    let repositories = storage.repository_dirs()?;
    let mut referenced: HashSet<Digest> = HashSet::new();
    for repo in &repositories {
        for digest in storage.manifest_digests(repo)? {
            if let Ok(bytes) = std::fs::read(storage.blob_path(&digest)) {
                referenced.extend(references_of(&bytes));
            }
            referenced.insert(digest);
        }
    }

    let mut removed: HashSet<Digest> = HashSet::new();
    for (digest, size, modified) in storage.all_blobs()? {
        if referenced.contains(&digest) || !old_enough(modified) {
            continue;
        }
        if !dry_run {
            storage.remove_blob(&digest)?;
        }
        report.bytes_freed += size;
        removed.insert(digest.clone());
        report.blobs.push(RemovedBlob { digest, size });
    }

    for repo in &repositories {
        for digest in storage.linked_blobs(repo)? {
            let gone = removed.contains(&digest) || storage.blob_size(&digest).is_none();
            if gone {
                if !dry_run {
                    storage.unlink_blob(repo, &digest)?;
                }
                report.repository_links += 1;
            }
        }
    }

    for dir in [storage.uploads_dir(), storage.root().join("tmp")] {
        report.stale_uploads += remove_older_than(&dir, now, upload_ttl, dry_run)?;
    }
    report.blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
    Ok(report)
}

fn remove_older_than(
    dir: &Path,
    now: SystemTime,
    age: Duration,
    dry_run: bool,
) -> std::io::Result<usize> {
    let mut count = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries.flatten() {
        let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        if now.duration_since(modified).unwrap_or_default() >= age {
            if !dry_run {
                let _ = std::fs::remove_file(entry.path());
            }
            count += 1;
        }
    }
    Ok(count)
}
