//! Writes that survive power loss, and the fault seam that stands in for a full disk in tests.
//!
//! A file that becomes visible is written to a temp file, fsynced, renamed into place, and the
//! directory holding it is fsynced, so after a crash the name points either at the old complete
//! file or at the new complete file. Directories created on the way are made durable the same
//! way: each new directory's parent is fsynced.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
/// Filesystems that cannot fsync a directory (they answer `EINVAL`) are taken as they are.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    match fs::File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and any missing ancestors, fsyncing the parent of each one created.
pub(super) fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(path) = cursor {
        if path.as_os_str().is_empty() || path.is_dir() {
            break;
        }
        missing.push(path);
        cursor = path.parent();
    }
    for path in missing.into_iter().rev() {
        match fs::create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => continue,
            Err(e) => return Err(e),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `tmp`, fsyncs it, renames it to `path` and fsyncs `path`'s directory.
/// On failure `tmp` is removed and `path` is as it was.
pub(super) fn write_via(tmp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let result = (|| {
        use std::io::Write;
        let mut file = fs::File::create(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        let parent = path.parent().expect("a stored file has a directory");
        create_dirs(parent)?;
        fs::rename(tmp, path)?;
        sync_dir(parent)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Removes a file and fsyncs its directory; returns whether it existed.
pub(super) fn remove_file(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            if let Some(parent) = path.parent() {
                sync_dir(parent)?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

// The fault seam. A full disk cannot be produced without mount privileges, so tests arm a fault
// for one storage root and every later write of that storage fails with `ENOSPC` once the given
// number of writes has gone through. Unarmed, the check is one relaxed atomic load.

struct Fault {
    root: PathBuf,
    writes_left: usize,
}

static ARMED: AtomicBool = AtomicBool::new(false);
static FAULTS: Mutex<Vec<Fault>> = Mutex::new(Vec::new());

fn faults() -> std::sync::MutexGuard<'static, Vec<Fault>> {
    FAULTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key a storage root is known by in the fault table.
pub(super) fn fault_key(root: &Path) -> PathBuf {
    fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())
}

/// Test seam: after `writes_ok` more writes, every write to the storage at `root` (metadata
/// files, blob commits, repository links) fails with `ENOSPC`, as on a full disk.
#[doc(hidden)]
pub fn fail_writes_with_no_space(root: &Path, writes_ok: usize) {
    let root = fault_key(root);
    let mut faults = faults();
    faults.retain(|f| f.root != root);
    faults.push(Fault {
        root,
        writes_left: writes_ok,
    });
    ARMED.store(true, Ordering::SeqCst);
}

/// Test seam: writes to the storage at `root` succeed again.
#[doc(hidden)]
pub fn clear_write_faults(root: &Path) {
    let root = fault_key(root);
    let mut faults = faults();
    faults.retain(|f| f.root != root);
    ARMED.store(!faults.is_empty(), Ordering::SeqCst);
}

/// Fails with `ENOSPC` when a fault is armed for the storage known as `key` and used up.
pub(super) fn check_write(key: &Path) -> io::Result<()> {
    if !ARMED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut faults = faults();
    match faults.iter_mut().find(|f| f.root == key) {
        Some(fault) if fault.writes_left == 0 => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
        Some(fault) => {
            fault.writes_left -= 1;
            Ok(())
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_dirs_makes_every_missing_level() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dirs(&deep).unwrap();
        assert!(deep.is_dir());
        create_dirs(&deep).unwrap();
    }

    #[test]
    fn write_via_replaces_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x/y");
        write_via(&dir.path().join("t1"), &target, b"one").unwrap();
        write_via(&dir.path().join("t2"), &target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert!(!dir.path().join("t1").exists() && !dir.path().join("t2").exists());
    }

    #[test]
    fn armed_fault_fails_after_the_allowed_writes() {
        let dir = tempfile::tempdir().unwrap();
        let key = fault_key(dir.path());
        fail_writes_with_no_space(dir.path(), 1);
        assert!(check_write(&key).is_ok());
        let err = check_write(&key).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        clear_write_faults(dir.path());
        assert!(check_write(&key).is_ok());
    }
}
