//! The staging area: a private directory beside the output directory where a pull writes
//! everything before [`Staging::commit`] moves it into place.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::rules::{check_parents, clear_for_non_dir, create_file, safe_relative_path, set_mode};
use super::unpack::{CopyError, copy_counted};
use super::{FilesError, io_err};

#[cfg(unix)]
pub(super) fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => ma.dev() == mb.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
pub(super) fn same_device(_a: &Path, _b: &Path) -> bool {
    true
}

pub(super) fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// A staging directory beside the output directory is `.<name>.staging-<32 hex digits>`.
const SIBLING_INFIX: &str = ".staging-";
/// One inside the output directory (when its parent cannot hold one) is `.staging-<hex>`.
const INNER_PREFIX: &str = ".staging-";
/// A staging directory nobody holds the lock of is removed once it is this old: younger ones
/// may belong to a pull that has created it and not yet locked it.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Removes the staging directories that a killed pull left in `dir`: named `<prefix><hex>`,
/// older than [`STALE_AFTER`], and locked by no live staging area.
fn sweep_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if !meta.is_dir() || !old {
            continue;
        }
        let Ok(handle) = fs::File::open(&path) else {
            continue;
        };
        if handle.try_lock().is_err() {
            continue;
        }
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed a staging directory left by an interrupted pull")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a stale staging directory")
            }
        }
    }
}

/// A staging area: content is written into a hidden temporary directory next to `dest` (same
/// filesystem, so rename works) and only moved into `dest` by [`Staging::commit`]. Dropping it
/// without committing removes everything staged.
pub struct Staging {
    pub(super) dest: PathBuf,
    pub(super) dir: PathBuf,
    pub(super) content: PathBuf,
    /// Every symlink created, with the unpack root it must stay inside (both relative to
    /// `content`), re-checked after each unpack since later links can change where earlier
    /// ones lead.
    pub(super) symlinks: Vec<(PathBuf, PathBuf)>,
    pub(super) failed: bool,
    /// Directories `new` created for `dest`, deepest first: removed again (when empty) if
    /// nothing is committed, so a refused pull leaves no directory behind.
    pub(super) created: Vec<PathBuf>,
    /// An exclusive lock on `dir`, held while this staging area lives.
    _lock: Option<fs::File>,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("dest", &self.dest)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.dir.display(), error = %e, "could not remove staging directory");
        }
        for dir in &self.created {
            // Only empty directories go; anything else put there is kept.
            let _ = fs::remove_dir(dir);
        }
    }
}

impl Staging {
    /// Creates `dest` if missing and a private staging directory in its parent. When the parent
    /// is on another filesystem (e.g. `dest` is a mount point) or not writable, the staging
    /// directory is a hidden directory inside `dest` instead, so that commit stays a rename.
    pub fn new(dest: &Path) -> Result<Staging, FilesError> {
        let created: Vec<PathBuf> = std::path::absolute(dest)
            .map_err(io_err(dest))?
            .ancestors()
            .take_while(|p| !p.exists())
            .map(Path::to_path_buf)
            .collect();
        fs::create_dir_all(dest).map_err(io_err(dest))?;
        let dest = fs::canonicalize(dest).map_err(io_err(dest))?;
        if !fs::metadata(&dest).map_err(io_err(&dest))?.is_dir() {
            return Err(io_err(&dest)(io::Error::new(
                io::ErrorKind::NotADirectory,
                "output path is not a directory",
            )));
        }
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let base_name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".to_owned());
        if let Some(parent) = dest.parent() {
            sweep_stale(parent, &format!(".{base_name}{SIBLING_INFIX}"));
        }
        sweep_stale(&dest, INNER_PREFIX);
        let mut dir = None;
        if let Some(parent) = dest.parent()
            && same_device(parent, &dest)
        {
            let candidate = parent.join(format!(".{base_name}{SIBLING_INFIX}{unique}"));
            match create_private_dir(&candidate) {
                Ok(()) => dir = Some(candidate),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                    ) => {}
                Err(e) => return Err(io_err(&candidate)(e)),
            }
        }
        let dir = match dir {
            Some(dir) => dir,
            None => {
                let candidate = dest.join(format!("{INNER_PREFIX}{unique}"));
                create_private_dir(&candidate).map_err(io_err(&candidate))?;
                candidate
            }
        };
        // Held until the staging area is dropped: the sweep of another pull leaves it alone.
        let lock = fs::File::open(&dir)
            .and_then(|f| f.lock().map(|()| f))
            .map_err(io_err(&dir));
        let content = dir.join("content");
        let mut staging = Staging {
            dest,
            dir,
            content,
            symlinks: Vec::new(),
            failed: false,
            created,
            _lock: None,
        };
        staging._lock = Some(lock?);
        create_private_dir(&staging.content).map_err(io_err(&staging.content))?;
        Ok(staging)
    }

    /// The output directory (canonical) that [`Staging::commit`] moves content into.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Writes a regular file at a safe relative path from a reader; returns bytes written.
    /// A file staged earlier at the same path is replaced. `mode` is masked to the permission
    /// bits (no setuid, setgid or sticky); without it the process umask applies.
    pub fn write_file(
        &mut self,
        relative: &str,
        reader: &mut dyn Read,
        mode: Option<u32>,
    ) -> Result<u64, FilesError> {
        let result = self.write_file_inner(relative, reader, mode);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn write_file_inner(
        &mut self,
        relative: &str,
        reader: &mut dyn Read,
        mode: Option<u32>,
    ) -> Result<u64, FilesError> {
        let rel = safe_relative_path(relative)?;
        check_parents(&self.content, &rel, relative, true)?;
        let path = self.content.join(&rel);
        clear_for_non_dir(&path, relative)?;
        let mut file = create_file(&path)?;
        let written = match copy_counted(reader, &mut file, u64::MAX, u64::MAX) {
            Ok(n) => n,
            Err(CopyError::Read(e)) => {
                return Err(FilesError::Io {
                    path: PathBuf::from(relative),
                    source: e,
                });
            }
            Err(CopyError::Write(e)) => return Err(io_err(&path)(e)),
            Err(CopyError::FileLimit | CopyError::TotalLimit) => {
                return Err(io_err(&path)(io::Error::other("file is too large")));
            }
        };
        if let Some(mode) = mode {
            set_mode(&file, &path, mode & 0o777)?;
        }
        // No fsync per file: the rename on commit is what makes output visible, and the
        // content is re-creatable from the verified cache.
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{UnpackLimits, UnsafeContent};
    use super::*;
    use std::io::Cursor;

    #[test]
    fn dropping_without_commit_removes_everything() {
        let env = Env::new();
        let mut staging = env.staging();
        staging
            .write_file("a/b.txt", &mut Cursor::new(b"hello".to_vec()), None)
            .unwrap();
        drop(staging);
        env.assert_untouched();
    }

    #[test]
    fn failed_staging_refuses_to_commit() {
        let env = Env::new();
        let mut staging = env.staging();
        staging
            .write_file("good", &mut Cursor::new(b"ok".to_vec()), None)
            .unwrap();
        let tar = raw_tar(&[file("ok", b"1"), file("../bad", b"2")]);
        assert!(
            staging
                .unpack_tar("", &mut Cursor::new(tar), false, UnpackLimits::default())
                .is_err()
        );
        assert!(matches!(staging.commit(false), Err(FilesError::Incomplete)));
        env.assert_untouched();
    }

    #[cfg(unix)]
    #[test]
    fn write_file_and_commit() {
        let env = Env::new();
        let mut staging = env.staging();
        let n = staging
            .write_file(
                "dir/./tool",
                &mut Cursor::new(b"#!/bin/sh\n".to_vec()),
                Some(0o6755),
            )
            .unwrap();
        assert_eq!(n, 10);
        assert!(matches!(
            staging.write_file("../x", &mut Cursor::new(Vec::new()), None),
            Err(FilesError::Unsafe(UnsafeContent::ParentTraversal { .. }))
        ));
        // The refusal poisons the staging area; start again.
        drop(staging);
        env.assert_untouched();

        let mut staging = env.staging();
        staging
            .write_file(
                "dir/./tool",
                &mut Cursor::new(b"#!/bin/sh\n".to_vec()),
                Some(0o6755),
            )
            .unwrap();
        let finals = staging.commit(false).unwrap();
        let tool = finals[0].join("tool");
        assert_eq!(fs::read(&tool).unwrap(), b"#!/bin/sh\n");
        assert_eq!(mode_of(&tool), 0o755);
        assert_eq!(listing(&env.root()), vec!["out"]);
    }

    fn backdate(dir: &Path) {
        let then = std::time::SystemTime::now() - Duration::from_secs(3600);
        fs::File::open(dir).unwrap().set_modified(then).unwrap();
    }

    /// A killed pull leaves its staging directory; the next pull into the same place removes
    /// it, but never one a live pull holds.
    #[test]
    fn stale_staging_directories_are_swept_live_ones_kept() {
        let env = Env::new();
        let dead = env
            .root()
            .join(".out.staging-0123456789abcdef0123456789abcdef");
        fs::create_dir_all(dead.join("content/half")).unwrap();
        fs::write(dead.join("content/half/written"), b"partial").unwrap();
        backdate(&dead);
        let young = env
            .root()
            .join(".out.staging-fedcba9876543210fedcba9876543210");
        fs::create_dir(&young).unwrap();
        let foreign = env.root().join(".out.staging-mine");
        fs::create_dir(&foreign).unwrap();
        backdate(&foreign);

        let live = env.staging();
        let live_dir = live.dir.clone();
        backdate(&live_dir);

        let next = env.staging();
        assert!(
            !dead.exists(),
            "the killed pull's staging directory is swept"
        );
        assert!(young.exists(), "a young one may not be locked yet");
        assert!(foreign.exists(), "only our own names are swept");
        assert!(live_dir.exists(), "a live staging area is locked");
        drop(next);
        drop(live);
        assert!(!live_dir.exists());
    }
}
