//! What clones of one opened storage share: the per-repository lock on manifest and tag
//! changes, and the cached catalog.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use super::Storage;

/// What clones of one opened storage share.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// The root as the fault seam knows it.
    pub(super) fault_key: PathBuf,
    /// One lock per repository for manifest and tag changes.
    pub(super) repo_locks: RepoLocks,
    pub(super) catalog: Mutex<Catalog>,
}

/// The repositories whose manifests and tags are being changed.
#[derive(Debug, Default)]
pub(super) struct RepoLocks {
    held: Mutex<HashSet<String>>,
    released: Condvar,
}

/// The lock on one repository's manifests and tags; released on drop.
#[derive(Debug)]
pub struct RepoGuard {
    storage: Arc<Shared>,
    name: String,
}

impl Drop for RepoGuard {
    fn drop(&mut self) {
        let locks = &self.storage.repo_locks;
        locks
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.name);
        locks.released.notify_all();
    }
}

/// The sorted repository list, kept up to date by manifest pushes and deletes.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    /// Bumped by every change, so a scan that raced one is not cached.
    generation: u64,
    sorted: Option<Arc<Vec<String>>>,
}

impl Storage {
    /// Waits for the lock on manifest and tag changes of repository `name`, blocking the
    /// thread (the lock is held only for file work that never waits on the network). Pushes,
    /// tag moves and deletes of one repository take it, so a delete by digest cannot interleave
    /// with a tag push and leave a tag pointing at a deleted manifest.
    pub fn lock_repository(&self, name: &str) -> RepoGuard {
        let locks = &self.shared.repo_locks;
        let mut held = locks.held.lock().unwrap_or_else(|e| e.into_inner());
        while held.contains(name) {
            held = locks.released.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        held.insert(name.to_string());
        RepoGuard {
            storage: self.shared.clone(),
            name: name.to_string(),
        }
    }

    /// Every repository that holds a manifest, sorted lexically; cached between changes.
    pub fn catalog(&self) -> io::Result<Arc<Vec<String>>> {
        let generation = {
            let catalog = self.catalog_lock();
            if let Some(sorted) = &catalog.sorted {
                return Ok(sorted.clone());
            }
            catalog.generation
        };
        let sorted = Arc::new(self.repositories()?);
        let mut catalog = self.catalog_lock();
        if catalog.generation == generation {
            catalog.sorted = Some(sorted.clone());
        }
        Ok(sorted)
    }

    /// The cached catalog, if there is one.
    pub fn cached_catalog(&self) -> Option<Arc<Vec<String>>> {
        self.catalog_lock().sorted.clone()
    }

    fn catalog_lock(&self) -> std::sync::MutexGuard<'_, Catalog> {
        self.shared
            .catalog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Records that repository `name` now has manifests (`present`) or none.
    pub(super) fn catalog_changed(&self, name: &str, present: bool) {
        let mut catalog = self.catalog_lock();
        catalog.generation += 1;
        if let Some(sorted) = &mut catalog.sorted {
            match (sorted.binary_search_by(|r| r.as_str().cmp(name)), present) {
                (Err(at), true) => Arc::make_mut(sorted).insert(at, name.to_string()),
                (Ok(at), false) => {
                    Arc::make_mut(sorted).remove(at);
                }
                _ => {}
            }
        }
    }
}
