//! Moving a staged tree into the output directory. The staged tree is merged into what is
//! there, file by file, as oras-go's file store does: directories that exist are entered, never
//! replaced, so the user's own files beside the pulled ones stay. Every conflict is found before
//! the first rename, so a refused commit changes nothing; a rename that fails midway is undone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::rules::same_file_content;
use super::staging::create_private_dir;
use super::{FilesError, Staging, io_err};

/// One rename of a commit.
enum Step {
    /// A staged file, link or whole directory goes where nothing is.
    Place { staged: PathBuf, target: PathBuf },
    /// A staged file or link replaces an existing file or link (overwrite was requested); the
    /// existing one is moved aside first, so a failed commit can put it back.
    Replace { staged: PathBuf, target: PathBuf },
}

/// A rename done, kept so a failed commit can be undone.
struct Done {
    from: PathBuf,
    to: PathBuf,
}

/// What the plan found in the way.
#[derive(Default)]
struct Conflicts {
    /// Existing files or links with other content.
    exists: Vec<PathBuf>,
    /// Existing entries of another kind (a directory where a file goes, or the reverse).
    kinds: Vec<(PathBuf, &'static str, &'static str)>,
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    if meta.file_type().is_symlink() {
        "a symlink"
    } else if meta.is_dir() {
        "a directory"
    } else if meta.is_file() {
        "a file"
    } else {
        "a special file"
    }
}

/// Whether a staged non-directory equals what is at `target`: the same bytes, or a symlink
/// with the same target.
fn same_entry(staged: &Path, target: &Path, s: &fs::Metadata, t: &fs::Metadata) -> bool {
    if s.file_type().is_symlink() && t.file_type().is_symlink() {
        return matches!(
            (fs::read_link(staged), fs::read_link(target)),
            (Ok(a), Ok(b)) if a == b
        );
    }
    same_file_content(staged, target)
}

/// Renames `from` to `to` unless something is at `to` (which a plain rename would replace).
#[cfg(target_os = "linux")]
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // The file system (or kernel) cannot do it atomically: check, then rename.
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => {
            check_then_rename(from, to)
        }
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    check_then_rename(from, to)
}

fn check_then_rename(from: &Path, to: &Path) -> io::Result<()> {
    match fs::symlink_metadata(to) {
        Ok(_) => Err(io::Error::from(io::ErrorKind::AlreadyExists)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(from, to),
        Err(e) => Err(e),
    }
}

impl Staging {
    /// Merges everything staged into `dest` and returns the top-level paths it wrote to.
    ///
    /// Staged directories are merged into existing ones; a staged file or link goes where
    /// nothing is, is skipped when the same content is already there, and otherwise replaces
    /// the existing file or link only when `overwrite` is set. A directory is never replaced by
    /// a file nor a file by a directory, overwrite or not. Everything is checked before the
    /// first rename: a refused commit leaves `dest` as it was. Existing files are never
    /// deleted except those `overwrite` replaces.
    pub fn commit(mut self, overwrite: bool) -> Result<Vec<PathBuf>, FilesError> {
        if self.failed {
            return Err(FilesError::Incomplete);
        }
        let names = sorted_names(&self.content)?;
        let mut plan = Vec::new();
        let mut conflicts = Conflicts::default();
        for name in &names {
            plan_entry(
                &self.content.join(name),
                &self.dest.join(name),
                overwrite,
                &mut plan,
                &mut conflicts,
            )?;
        }
        if let Some((path, existing, pulled)) = conflicts.kinds.first() {
            return Err(FilesError::KindConflict {
                path: path.clone(),
                existing,
                pulled,
                more: conflicts.kinds.len() + conflicts.exists.len() - 1,
            });
        }
        if let Some(path) = conflicts.exists.first() {
            return Err(FilesError::Exists {
                path: path.clone(),
                more: conflicts.exists.len() - 1,
            });
        }

        let done = self.execute(&plan)?;
        // Committed: the directories made for `dest` now hold the output.
        self.created.clear();
        let finals: Vec<PathBuf> = names.iter().map(|n| self.dest.join(n)).collect();
        tracing::debug!(
            dest = %self.dest.display(),
            renames = done,
            "merged staged content into the output directory"
        );
        Ok(finals)
    }

    /// Runs the plan; on a failure, undoes every rename done so far and returns the error.
    fn execute(&self, plan: &[Step]) -> Result<usize, FilesError> {
        let replaced = self.dir.join("replaced");
        let mut done: Vec<Done> = Vec::new();
        let mut result = Ok(());
        for (index, step) in plan.iter().enumerate() {
            let outcome = match step {
                Step::Place { staged, target } => rename_no_replace(staged, target)
                    .map(|()| {
                        done.push(Done {
                            from: staged.clone(),
                            to: target.clone(),
                        })
                    })
                    .map_err(io_err(target)),
                Step::Replace { staged, target } => {
                    let aside = replaced.join(index.to_string());
                    ensure_private_dir(&replaced)
                        .and_then(|()| fs::rename(target, &aside).map_err(io_err(target)))
                        .and_then(|()| {
                            done.push(Done {
                                from: target.clone(),
                                to: aside,
                            });
                            fs::rename(staged, target).map_err(io_err(target))
                        })
                        .map(|()| {
                            done.push(Done {
                                from: staged.clone(),
                                to: target.clone(),
                            })
                        })
                }
            };
            if let Err(e) = outcome {
                result = Err(e);
                break;
            }
        }
        if let Err(e) = result {
            for step in done.into_iter().rev() {
                if let Err(undo) = fs::rename(&step.to, &step.from) {
                    tracing::warn!(
                        from = %step.to.display(),
                        to = %step.from.display(),
                        error = %undo,
                        "could not undo a partial commit"
                    );
                }
            }
            return Err(e);
        }
        Ok(done.len())
    }
}

fn ensure_private_dir(path: &Path) -> Result<(), FilesError> {
    match create_private_dir(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>, FilesError> {
    let mut names = Vec::new();
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        names.push(item.map_err(io_err(dir))?.file_name());
    }
    names.sort();
    Ok(names)
}

/// Decides what happens to one staged entry, descending into directories that exist on both
/// sides. Existing entries are looked at without following links: a link in the output
/// directory is an entry like any other, never a way into somewhere else.
fn plan_entry(
    staged: &Path,
    target: &Path,
    overwrite: bool,
    plan: &mut Vec<Step>,
    conflicts: &mut Conflicts,
) -> Result<(), FilesError> {
    let s = fs::symlink_metadata(staged).map_err(io_err(staged))?;
    let t = match fs::symlink_metadata(target) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            plan.push(Step::Place {
                staged: staged.to_path_buf(),
                target: target.to_path_buf(),
            });
            return Ok(());
        }
        Err(e) => return Err(io_err(target)(e)),
    };
    match (s.is_dir(), t.is_dir()) {
        (true, true) => {
            for name in sorted_names(staged)? {
                plan_entry(
                    &staged.join(&name),
                    &target.join(&name),
                    overwrite,
                    plan,
                    conflicts,
                )?;
            }
        }
        (true, false) | (false, true) => {
            conflicts
                .kinds
                .push((target.to_path_buf(), kind_of(&t), kind_of(&s)));
        }
        (false, false) if same_entry(staged, target, &s, &t) => {}
        (false, false) if overwrite => plan.push(Step::Replace {
            staged: staged.to_path_buf(),
            target: target.to_path_buf(),
        }),
        (false, false) => conflicts.exists.push(target.to_path_buf()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use std::io::Cursor;

    fn stage_files(env: &Env, files: &[(&str, &str)]) -> Staging {
        let mut staging = env.staging();
        for (name, data) in files {
            staging
                .write_file(name, &mut Cursor::new(data.as_bytes().to_vec()), None)
                .unwrap();
        }
        staging
    }

    #[test]
    fn commit_refuses_different_existing_content_unless_overwrite() {
        let env = Env::new();
        fs::create_dir_all(env.dest().join("tree")).unwrap();
        fs::write(env.dest().join("tree/old"), b"old").unwrap();
        fs::write(env.dest().join("a.txt"), b"old").unwrap();
        fs::write(env.dest().join("same.txt"), b"same").unwrap();
        let files = [("a.txt", "new"), ("same.txt", "same"), ("tree/new", "new")];

        let err = stage_files(&env, &files).commit(false).unwrap_err();
        assert!(
            matches!(err, FilesError::Exists { ref path, more: 0 } if path.ends_with("a.txt")),
            "{err}"
        );
        // Nothing moved: the check happens before any rename.
        assert_eq!(fs::read(env.dest().join("a.txt")).unwrap(), b"old");
        assert_eq!(listing(&env.dest().join("tree")), vec!["old"]);
        assert_eq!(listing(&env.root()), vec!["out"]);

        // Identical files are not a conflict.
        stage_files(&env, &[("same.txt", "same")])
            .commit(false)
            .unwrap();

        stage_files(&env, &files).commit(true).unwrap();
        assert_eq!(fs::read(env.dest().join("a.txt")).unwrap(), b"new");
        // The directory is merged into, not replaced: the user's file stays.
        assert_eq!(listing(&env.dest().join("tree")), vec!["new", "old"]);
        assert_eq!(listing(&env.dest()), vec!["a.txt", "same.txt", "tree"]);
        assert_eq!(listing(&env.root()), vec!["out"]);
    }

    /// The reproduction of the issue: a layer titled `src` pulled into a directory holding
    /// `src/mine.txt` used to move `src` aside and delete it.
    #[test]
    fn an_existing_directory_is_merged_into_and_its_files_stay() {
        let env = Env::new();
        fs::create_dir_all(env.dest().join("src/deep")).unwrap();
        fs::write(env.dest().join("src/mine.txt"), b"mine").unwrap();
        fs::write(env.dest().join("src/deep/keep"), b"keep").unwrap();
        for overwrite in [false, true] {
            let finals = stage_files(&env, &[("src/pulled.txt", "p"), ("src/deep/new", "n")])
                .commit(overwrite)
                .unwrap();
            assert_eq!(
                finals,
                vec![fs::canonicalize(env.dest()).unwrap().join("src")]
            );
            assert_eq!(fs::read(env.dest().join("src/mine.txt")).unwrap(), b"mine");
            assert_eq!(
                listing(&env.dest().join("src")),
                vec!["deep", "mine.txt", "pulled.txt"]
            );
            assert_eq!(listing(&env.dest().join("src/deep")), vec!["keep", "new"]);
            assert_eq!(listing(&env.root()), vec!["out"]);
        }
    }

    #[test]
    fn every_conflict_is_found_before_the_first_rename() {
        let env = Env::new();
        fs::create_dir_all(env.dest().join("m")).unwrap();
        fs::write(env.dest().join("m/x"), b"user").unwrap();
        fs::write(env.dest().join("z"), b"user").unwrap();
        // `a` and `m/new` would be placed first; `m/x` and `z` conflict later.
        let files = [("a", "1"), ("m/new", "2"), ("m/x", "3"), ("z", "4")];
        let err = stage_files(&env, &files).commit(false).unwrap_err();
        assert!(
            matches!(err, FilesError::Exists { ref path, more: 1 } if path.ends_with("m/x")),
            "{err}"
        );
        assert!(err.to_string().contains("and 1 more"), "{err}");
        assert_eq!(listing(&env.dest()), vec!["m", "z"]);
        assert_eq!(listing(&env.dest().join("m")), vec!["x"]);
        assert_eq!(listing(&env.root()), vec!["out"]);
    }

    #[test]
    fn a_file_never_replaces_a_directory_nor_the_reverse() {
        let env = Env::new();
        fs::create_dir_all(env.dest().join("d")).unwrap();
        fs::write(env.dest().join("d/user"), b"user").unwrap();
        fs::write(env.dest().join("f"), b"user").unwrap();
        for overwrite in [false, true] {
            let err = stage_files(&env, &[("d", "file"), ("f/inner", "x")])
                .commit(overwrite)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    FilesError::KindConflict { ref path, existing: "a directory", pulled: "a file", more: 1 }
                        if path.ends_with("d")
                ),
                "{err}"
            );
            assert_eq!(fs::read(env.dest().join("d/user")).unwrap(), b"user");
            assert_eq!(fs::read(env.dest().join("f")).unwrap(), b"user");
            assert_eq!(listing(&env.root()), vec!["out"]);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_the_output_is_never_followed() {
        let env = Env::new();
        let elsewhere = env.tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::create_dir_all(env.dest()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, env.dest().join("link")).unwrap();
        for overwrite in [false, true] {
            let err = stage_files(&env, &[("link/x", "x")])
                .commit(overwrite)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    FilesError::KindConflict {
                        existing: "a symlink",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(listing(&elsewhere).is_empty());
        }
        // A file where the link is: replaced only with overwrite, and the link itself goes,
        // not what it points at.
        let err = stage_files(&env, &[("link", "x")])
            .commit(false)
            .unwrap_err();
        assert!(matches!(err, FilesError::Exists { .. }), "{err}");
        stage_files(&env, &[("link", "x")]).commit(true).unwrap();
        assert!(
            fs::symlink_metadata(env.dest().join("link"))
                .unwrap()
                .is_file()
        );
        assert!(elsewhere.is_dir());
    }

    #[test]
    fn a_target_created_after_the_plan_is_not_replaced() {
        let env = Env::new();
        fs::create_dir_all(env.dest()).unwrap();
        let staging = stage_files(&env, &[("a", "pulled"), ("b", "pulled")]);
        let mut plan = Vec::new();
        let mut conflicts = Conflicts::default();
        for name in ["a", "b"] {
            plan_entry(
                &staging.content.join(name),
                &staging.dest.join(name),
                false,
                &mut plan,
                &mut conflicts,
            )
            .unwrap();
        }
        // Someone writes `b` between the plan and the renames.
        fs::write(env.dest().join("b"), b"theirs").unwrap();
        let err = staging.execute(&plan).unwrap_err();
        assert!(
            matches!(err, FilesError::Io { ref path, .. } if path.ends_with("b")),
            "{err}"
        );
        assert_eq!(fs::read(env.dest().join("b")).unwrap(), b"theirs");
        // The rename already done was undone.
        assert_eq!(listing(&env.dest()), vec!["b"]);
    }
}
