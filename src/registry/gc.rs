//! Garbage collection: deletes blobs that no manifest references, the repository links to
//! them, and upload data left idle.
//!
//! Collection runs only while no registry serves the storage: it takes the storage lock a
//! serving registry holds, and is refused while that lock is held. Beside a live registry, a
//! blob a client has just uploaded or HEADed (and is about to reference) could be deleted, and
//! a manifest pushed between mark and sweep could be committed pointing at a deleted blob. A
//! dry run deletes nothing and may run at any time.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::manifest::references_of;
use super::server::LOCK_FILE;
use super::storage::Storage;
use crate::oci::Digest;

/// Why `gc` did not run.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("{0} is not a registry storage directory (no blobs/ inside)")]
    NotStorage(PathBuf),
    #[error(
        "a registry is serving storage {}{}; gc does not run beside a live registry, which could be about to reference the blobs it deletes. Stop it (`provisioning oci-registry stop --storage {}`, or end the process that serves it), run gc, then start it again; `gc --dry-run` works while it runs",
        storage.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        storage.display()
    )]
    Live { storage: PathBuf, pid: Option<u32> },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Collects garbage in the storage at `dir`: a dry run at any time, a real one only while no
/// registry serves it (holding the storage lock meanwhile, so none starts).
pub fn collect_storage(
    dir: &Path,
    dry_run: bool,
    min_age: Duration,
    upload_ttl: Duration,
) -> Result<GcReport, GcError> {
    let not_storage = || GcError::NotStorage(dir.to_path_buf());
    if !dir.join("blobs").is_dir() {
        return Err(not_storage());
    }
    let storage = Storage::open_existing(dir)?.ok_or_else(not_storage)?;
    if dry_run {
        return Ok(collect(&storage, true, min_age, upload_ttl)?);
    }
    let lock = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))?;
    if lock.try_lock().is_err() {
        return Err(GcError::Live {
            storage: dir.to_path_buf(),
            pid: super::daemon::running(dir).map(|r| r.pid),
        });
    }
    let report = collect(&storage, false, min_age, upload_ttl)?;
    drop(lock);
    Ok(report)
}

/// What a collection removed (or, on a dry run, would remove).
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub blobs: Vec<RemovedBlob>,
    pub bytes_freed: u64,
    /// Unreferenced blobs kept because they are younger than the minimum age.
    pub kept_recent: usize,
    pub kept_recent_bytes: u64,
    /// The minimum age, in seconds, an unreferenced blob needs to be collected.
    pub min_age_secs: u64,
    pub repository_links: usize,
    pub stale_uploads: usize,
}

#[derive(Debug, Serialize)]
pub struct RemovedBlob {
    pub digest: Digest,
    pub size: u64,
}

/// Collects garbage in `storage`, which no registry may be serving unless this is a dry run
/// (see [`collect_storage`]). Unreferenced blobs younger than `min_age` are kept; upload data
/// untouched for `upload_ttl` is deleted.
pub fn collect(
    storage: &Storage,
    dry_run: bool,
    min_age: Duration,
    upload_ttl: Duration,
) -> std::io::Result<GcReport> {
    let mut report = GcReport {
        dry_run,
        min_age_secs: min_age.as_secs(),
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
        if referenced.contains(&digest) {
            continue;
        }
        if !old_enough(modified) {
            report.kept_recent += 1;
            report.kept_recent_bytes += size;
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
