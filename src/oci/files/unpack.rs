//! Unpacking a tar stream (plain, or gzip with any number of members) into a staging area under
//! the rules of [`super::rules`] and the [`UnpackLimits`].

use std::cell::Cell;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::rules::{
    check_link, check_parents, clean_components, clear_for_non_dir, create_file, ensure_dir,
    file_mode, link_target, make_symlink, open_no_follow, set_dir_mode, set_mode,
};
use super::{EntryKind, FilesError, Staging, UnpackLimits, UnpackedEntry, UnsafeContent, io_err};

#[derive(Debug)]
pub(super) enum CopyError {
    Read(io::Error),
    Write(io::Error),
    FileLimit,
    TotalLimit,
}

/// Copies while counting the bytes actually produced, so a stream larger than its header
/// claims (or a decompression bomb) stops at the limit instead of filling the disk.
pub(super) fn copy_counted(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    file_limit: u64,
    total_left: u64,
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(written),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        let next = written.saturating_add(n as u64);
        if next > file_limit {
            return Err(CopyError::FileLimit);
        }
        if next > total_left {
            return Err(CopyError::TotalLimit);
        }
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        written = next;
    }
}

/// Counts bytes passing through and remembers whether the inner reader itself failed, so
/// errors can be reported with an offset and told apart from corrupt data.
pub(super) struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
    failed: Option<Rc<Cell<bool>>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.count.set(self.count.get() + n as u64);
                Ok(n)
            }
            Err(e) => {
                if let Some(failed) = &self.failed
                    && e.kind() != io::ErrorKind::Interrupted
                {
                    failed.set(true);
                }
                Err(e)
            }
        }
    }
}

/// Where the tar stream is, for error messages.
pub(super) struct StreamState {
    source_bytes: Rc<Cell<u64>>,
    source_failed: Rc<Cell<bool>>,
    tar_bytes: Rc<Cell<u64>>,
    gzip: bool,
    root: PathBuf,
}

impl StreamState {
    /// A read failure of the caller's reader is I/O; anything else is a malformed stream.
    fn error(&self, context: &str, e: io::Error) -> FilesError {
        if self.source_failed.get() {
            return FilesError::Io {
                path: self.root.clone(),
                source: e,
            };
        }
        let at = if self.gzip {
            format!(
                "tar byte {}, compressed byte {}",
                self.tar_bytes.get(),
                self.source_bytes.get()
            )
        } else {
            format!("byte {}", self.tar_bytes.get())
        };
        FilesError::Corrupt {
            what: format!("{context} (near {at}): {e}"),
        }
    }
}

impl Staging {
    /// Unpacks a tar stream (gzip-compressed when `gzip` is true) under a safe relative
    /// directory (`""` or `"."` for the output root). Returns the entries written, with paths
    /// relative to the output directory; hard links are copied and reported as files.
    pub fn unpack_tar(
        &mut self,
        relative_dir: &str,
        reader: &mut dyn Read,
        gzip: bool,
        limits: UnpackLimits,
    ) -> Result<Vec<UnpackedEntry>, FilesError> {
        let result = self.unpack_tar_inner(relative_dir, reader, gzip, limits);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn unpack_tar_inner(
        &mut self,
        relative_dir: &str,
        reader: &mut dyn Read,
        gzip: bool,
        limits: UnpackLimits,
    ) -> Result<Vec<UnpackedEntry>, FilesError> {
        let root_rel: PathBuf = clean_components(relative_dir)?.iter().collect();
        // Checking the parents of a child checks (and creates) every component of the root.
        check_parents(&self.content, &root_rel.join("x"), relative_dir, true)?;

        let state = StreamState {
            source_bytes: Rc::new(Cell::new(0)),
            source_failed: Rc::new(Cell::new(false)),
            tar_bytes: Rc::new(Cell::new(0)),
            gzip,
            root: self.content.join(&root_rel),
        };
        let source = Counting {
            inner: reader,
            count: state.source_bytes.clone(),
            failed: Some(state.source_failed.clone()),
        };
        let decoded: Box<dyn Read + '_> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(source))
        } else {
            Box::new(source)
        };
        let mut archive = tar::Archive::new(Counting {
            inner: decoded,
            count: state.tar_bytes.clone(),
            failed: None,
        });

        let mut written = Vec::new();
        let mut total = 0u64;
        let mut count = 0usize;
        let entries = archive
            .entries()
            .map_err(|e| state.error("reading tar", e))?;
        for item in entries {
            let mut entry = item.map_err(|e| state.error("reading tar header", e))?;
            count += 1;
            if count > limits.max_entries {
                return Err(UnsafeContent::TooManyEntries {
                    limit: limits.max_entries,
                }
                .into());
            }
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            let name = match std::str::from_utf8(&entry.path_bytes()) {
                Ok(name) => name.to_owned(),
                Err(_) => {
                    return Err(UnsafeContent::NotUtf8 {
                        entry: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                    }
                    .into());
                }
            };
            let entry_rel: PathBuf = clean_components(&name)?.iter().collect();
            // Old tars mark directories only by a trailing slash.
            let is_dir = kind.is_dir() || (kind.is_file() && name.ends_with('/'));
            if entry_rel.as_os_str().is_empty() {
                if is_dir {
                    continue;
                }
                return Err(UnsafeContent::Empty { entry: name }.into());
            }
            let rel = root_rel.join(&entry_rel);
            let path = self.content.join(&rel);
            let header_mode = entry.header().mode().map_err(|e| FilesError::Corrupt {
                what: format!(
                    "{name:?}: bad mode field at tar byte {}: {e}",
                    entry.raw_header_position()
                ),
            })?;
            let mode = header_mode & 0o777;

            if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
                return Err(UnsafeContent::DeviceOrFifo { entry: name }.into());
            }
            check_parents(&self.content, &rel, &name, true)?;

            if is_dir {
                ensure_dir(&path)?;
                // Owner access stays, so later entries can be written and cleanup works.
                let mode = mode | 0o700;
                set_dir_mode(&path, mode)?;
                written.push(UnpackedEntry {
                    path: rel,
                    kind: EntryKind::Dir,
                    size: 0,
                    mode,
                });
            } else if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
                let declared = entry.size();
                if declared > limits.max_file_bytes {
                    return Err(UnsafeContent::FileTooLarge {
                        entry: name,
                        limit: limits.max_file_bytes,
                    }
                    .into());
                }
                if total.saturating_add(declared) > limits.max_total_bytes {
                    return Err(UnsafeContent::TooLarge {
                        entry: name,
                        limit: limits.max_total_bytes,
                    }
                    .into());
                }
                clear_for_non_dir(&path, &name)?;
                let mut file = create_file(&path)?;
                let size =
                    copy_limited(&mut entry, &mut file, &path, &name, limits, total, &state)?;
                set_mode(&file, &path, mode)?;
                total += size;
                written.push(UnpackedEntry {
                    path: rel,
                    kind: EntryKind::File,
                    size,
                    mode,
                });
            } else if kind.is_symlink() {
                let target = link_target(&entry, &name)?;
                if target.starts_with('/') {
                    return Err(UnsafeContent::SymlinkEscape {
                        entry: name,
                        target,
                    }
                    .into());
                }
                check_link(&self.content, &root_rel, &rel, &target)?;
                clear_for_non_dir(&path, &name)?;
                make_symlink(&target, &path)?;
                self.symlinks.push((root_rel.clone(), rel.clone()));
                written.push(UnpackedEntry {
                    path: rel,
                    kind: EntryKind::Symlink,
                    size: 0,
                    mode: 0o777,
                });
            } else if kind.is_hard_link() {
                let target = link_target(&entry, &name)?;
                let target_rel: PathBuf = match clean_components(&target) {
                    Ok(parts) => parts.iter().collect(),
                    Err(
                        UnsafeContent::AbsolutePath { .. } | UnsafeContent::ParentTraversal { .. },
                    ) => {
                        return Err(UnsafeContent::HardLinkEscape {
                            entry: name,
                            target,
                        }
                        .into());
                    }
                    Err(e) => return Err(e.into()),
                };
                let target_rel = root_rel.join(target_rel);
                let refuse = |name: String, target: String| -> FilesError {
                    UnsafeContent::HardLinkTarget {
                        entry: name,
                        target,
                    }
                    .into()
                };
                if target_rel == rel || target_rel == root_rel {
                    return Err(refuse(name, target));
                }
                if check_parents(&self.content, &target_rel, &name, false).is_err() {
                    return Err(refuse(name, target));
                }
                let source_path = self.content.join(&target_rel);
                let meta = match fs::symlink_metadata(&source_path) {
                    Ok(meta) if meta.is_file() => meta,
                    _ => return Err(refuse(name, target)),
                };
                if meta.len() > limits.max_file_bytes {
                    return Err(UnsafeContent::FileTooLarge {
                        entry: name,
                        limit: limits.max_file_bytes,
                    }
                    .into());
                }
                let mut source = open_no_follow(&source_path)?;
                clear_for_non_dir(&path, &name)?;
                let mut file = create_file(&path)?;
                let size = match copy_counted(
                    &mut source,
                    &mut file,
                    limits.max_file_bytes,
                    limits.max_total_bytes.saturating_sub(total),
                ) {
                    Ok(n) => n,
                    Err(CopyError::Read(e)) => return Err(io_err(&source_path)(e)),
                    Err(CopyError::Write(e)) => return Err(io_err(&path)(e)),
                    Err(CopyError::FileLimit) => {
                        return Err(UnsafeContent::FileTooLarge {
                            entry: name,
                            limit: limits.max_file_bytes,
                        }
                        .into());
                    }
                    Err(CopyError::TotalLimit) => {
                        return Err(UnsafeContent::TooLarge {
                            entry: name,
                            limit: limits.max_total_bytes,
                        }
                        .into());
                    }
                };
                let mode = file_mode(&meta);
                set_mode(&file, &path, mode)?;
                total += size;
                written.push(UnpackedEntry {
                    path: rel,
                    kind: EntryKind::File,
                    size,
                    mode,
                });
            } else {
                return Err(UnsafeContent::UnsupportedType {
                    entry: name,
                    kind: char::from(kind.as_byte()),
                }
                .into());
            }
        }

        // Reading the rest of a gzip stream verifies its checksum; bounded, since the padding
        // after the end of the archive is otherwise free for a bomb.
        if gzip {
            let mut rest = archive.into_inner();
            match copy_counted(&mut rest, &mut io::sink(), u64::MAX, limits.max_total_bytes) {
                Ok(_) => {}
                Err(CopyError::Read(e)) => return Err(state.error("reading end of gzip", e)),
                Err(CopyError::Write(e)) => return Err(io_err(&state.root)(e)),
                Err(CopyError::FileLimit | CopyError::TotalLimit) => {
                    return Err(UnsafeContent::TooLarge {
                        entry: "(data after the end of the archive)".to_owned(),
                        limit: limits.max_total_bytes,
                    }
                    .into());
                }
            }
        }

        self.verify_symlinks()?;
        tracing::debug!(
            root = %state.root.display(),
            entries = written.len(),
            bytes = total,
            "unpacked tar into staging"
        );
        Ok(written)
    }

    /// Re-checks every link created so far against the final tree: a link that was safe when
    /// created can lead outside once a later link appears on its path.
    fn verify_symlinks(&self) -> Result<(), UnsafeContent> {
        for (root_rel, link_rel) in &self.symlinks {
            let path = self.content.join(link_rel);
            let is_link = fs::symlink_metadata(&path)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if !is_link {
                continue;
            }
            let target = fs::read_link(&path)
                .ok()
                .and_then(|t| t.to_str().map(str::to_owned))
                .unwrap_or_else(|| "/".to_owned());
            check_link(&self.content, root_rel, link_rel, &target)?;
        }
        Ok(())
    }
}

/// Copies one tar entry's data, mapping limits and stream errors.
fn copy_limited(
    entry: &mut dyn Read,
    file: &mut fs::File,
    path: &Path,
    name: &str,
    limits: UnpackLimits,
    total: u64,
    state: &StreamState,
) -> Result<u64, FilesError> {
    match copy_counted(
        entry,
        file,
        limits.max_file_bytes,
        limits.max_total_bytes.saturating_sub(total),
    ) {
        Ok(n) => Ok(n),
        Err(CopyError::Read(e)) => Err(state.error(&format!("reading {name:?}"), e)),
        Err(CopyError::Write(e)) => Err(io_err(path)(e)),
        Err(CopyError::FileLimit) => Err(UnsafeContent::FileTooLarge {
            entry: name.to_owned(),
            limit: limits.max_file_bytes,
        }
        .into()),
        Err(CopyError::TotalLimit) => Err(UnsafeContent::TooLarge {
            entry: name.to_owned(),
            limit: limits.max_total_bytes,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use std::io::Cursor;
    use std::time::{Duration, Instant};
    use tar::{EntryType, Header};

    #[test]
    fn refuses_parent_traversal_entry() {
        let err = refused(&[file("../evil", b"x")]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::ParentTraversal { .. })
        ));
        let err = refused(&[file("a/../../evil", b"x")]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::ParentTraversal { .. })
        ));
    }

    #[test]
    fn refuses_absolute_entry() {
        let err = refused(&[file("/tmp/provisioning-files-test-evil", b"x")]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::AbsolutePath { .. })
        ));
        assert!(!Path::new("/tmp/provisioning-files-test-evil").exists());
    }

    #[test]
    fn refuses_symlink_to_etc_and_file_through_it() {
        let err = refused(&[
            link("etc", EntryType::Symlink, "/etc"),
            file("etc/provisioning-files-test-evil", b"x"),
        ]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::SymlinkEscape { .. })
        ));
        assert!(!Path::new("/etc/provisioning-files-test-evil").exists());
    }

    #[test]
    fn refuses_symlink_climbing_out() {
        let err = refused(&[dir("a/"), link("a/up", EntryType::Symlink, "../../x")]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::SymlinkEscape { .. })
        ));
    }

    #[test]
    fn refuses_symlink_escaping_through_a_later_link() {
        // `x/s -> p/..` is harmless while `p` is missing; once `x/p -> ..` exists it leads
        // one level above the root.
        let err = refused(&[
            dir("x/"),
            link("x/s", EntryType::Symlink, "p/.."),
            link("x/p", EntryType::Symlink, ".."),
        ]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::SymlinkEscape { .. })
        ));
    }

    #[test]
    fn refuses_symlink_loop() {
        let err = refused(&[
            link("a", EntryType::Symlink, "b"),
            link("b", EntryType::Symlink, "a"),
        ]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::SymlinkLoop { .. })
        ));
    }

    #[test]
    fn refuses_file_through_inner_symlink() {
        let err = refused(&[
            dir("sub/"),
            link("l", EntryType::Symlink, "sub"),
            file("l/x", b"x"),
        ]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::ThroughSymlink { .. })
        ));
    }

    #[test]
    fn refuses_hard_links_outside() {
        let err = refused(&[link("passwd", EntryType::Link, "/etc/passwd")]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::HardLinkEscape { .. })
        ));
        let err = refused(&[link("o", EntryType::Link, "../outside")]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::HardLinkEscape { .. })
        ));
    }

    #[test]
    fn refuses_hard_link_to_missing_or_linked_target() {
        let err = refused(&[link("h", EntryType::Link, "missing")]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::HardLinkTarget { .. })
        ));
        let err = refused(&[
            file("f", b"x"),
            link("s", EntryType::Symlink, "f"),
            link("h", EntryType::Link, "s"),
        ]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::HardLinkTarget { .. })
        ));
    }

    #[test]
    fn refuses_devices_and_fifos() {
        for kind in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
            let entry = (raw_header(b"node", kind, 0, b"", 0o644), Vec::new());
            let err = refused(&[entry]);
            assert!(matches!(
                err,
                FilesError::Unsafe(UnsafeContent::DeviceOrFifo { .. })
            ));
        }
    }

    #[test]
    fn refuses_non_utf8_name() {
        let entry = (
            raw_header(b"bad\xff", EntryType::Regular, 0, b"", 0o644),
            Vec::new(),
        );
        let err = refused(&[entry]);
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::NotUtf8 { .. })
        ));
    }

    #[test]
    fn refuses_too_many_entries() {
        let env = Env::new();
        let tar = raw_tar(&[file("a", b"1"), file("b", b"2"), file("c", b"3")]);
        let limits = UnpackLimits {
            max_entries: 2,
            ..UnpackLimits::default()
        };
        let mut staging = env.staging();
        let err = staging
            .unpack_tar("", &mut Cursor::new(tar), false, limits)
            .unwrap_err();
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::TooManyEntries { limit: 2 })
        ));
        drop(staging);
        env.assert_untouched();
    }

    #[test]
    fn refuses_file_over_per_file_limit() {
        let env = Env::new();
        let tar = raw_tar(&[file("big", &[7u8; 4096])]);
        let limits = UnpackLimits {
            max_file_bytes: 1000,
            ..UnpackLimits::default()
        };
        let err = env
            .staging()
            .unpack_tar("", &mut Cursor::new(tar), false, limits)
            .unwrap_err();
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::FileTooLarge { limit: 1000, .. })
        ));
        env.assert_untouched();
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit_quickly() {
        let env = Env::new();
        let huge = 10u64 << 30;
        let header = raw_header(b"bomb", EntryType::Regular, huge, b"", 0o644);
        let stream = Cursor::new(header.as_bytes().to_vec()).chain(Zeros(huge));
        let mut gz = flate2::read::GzEncoder::new(stream, flate2::Compression::fast());
        let limits = UnpackLimits {
            max_total_bytes: 1 << 20,
            max_file_bytes: u64::MAX,
            max_entries: 10,
        };
        let started = Instant::now();
        let mut staging = env.staging();
        let err = staging.unpack_tar("", &mut gz, true, limits).unwrap_err();
        assert!(
            matches!(err, FilesError::Unsafe(UnsafeContent::TooLarge { limit, .. }) if limit == 1 << 20)
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        drop(staging);
        env.assert_untouched();
    }

    #[test]
    fn copy_counts_actual_bytes_not_headers() {
        let mut sink = io::sink();
        let err = copy_counted(&mut Zeros(10 << 30), &mut sink, u64::MAX, 1 << 20).unwrap_err();
        assert!(matches!(err, CopyError::TotalLimit));
        let err = copy_counted(&mut Zeros(10 << 30), &mut sink, 1 << 20, u64::MAX).unwrap_err();
        assert!(matches!(err, CopyError::FileLimit));
        let n = copy_counted(&mut Zeros(1 << 20), &mut sink, 1 << 20, 1 << 20).unwrap();
        assert_eq!(n, 1 << 20);
    }

    #[test]
    fn corrupt_streams_are_reported() {
        let env = Env::new();
        let mut staging = env.staging();
        let err = staging
            .unpack_tar(
                "",
                &mut Cursor::new(b"not gzip at all".to_vec()),
                true,
                UnpackLimits::default(),
            )
            .unwrap_err();
        assert!(matches!(err, FilesError::Corrupt { .. }), "{err}");
        drop(staging);
        env.assert_untouched();

        let mut tar = raw_tar(&[file("a", &[1u8; 2000])]);
        tar.truncate(1000);
        let err = unpack(&env, &tar).unwrap_err();
        assert!(matches!(err, FilesError::Corrupt { .. }), "{err}");
        env.assert_untouched();

        let mut bad_sum = raw_tar(&[file("a", b"x")]);
        bad_sum[0] = b'b';
        let err = unpack(&env, &bad_sum).unwrap_err();
        assert!(
            matches!(err, FilesError::Corrupt { ref what } if what.contains("byte")),
            "{err}"
        );
        env.assert_untouched();
    }

    #[test]
    fn reader_failure_is_io() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone"))
            }
        }
        let env = Env::new();
        let mut staging = env.staging();
        let err = staging
            .unpack_tar("", &mut Failing, true, UnpackLimits::default())
            .unwrap_err();
        assert!(matches!(err, FilesError::Io { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn unpacks_safe_archive_and_commits() {
        let env = Env::new();
        let script = raw_header(b"bin/run.sh", EntryType::Regular, 10, b"", 0o4755);
        let entries = [
            dir("./"),
            dir("bin/"),
            (script, b"#!/bin/sh\n".to_vec()),
            file("a/b/c/deep.txt", b"deep"),
            link("a/b/latest", EntryType::Symlink, "c/deep.txt"),
            link("a/up", EntryType::Symlink, "../bin/run.sh"),
            link("copy.sh", EntryType::Link, "bin/run.sh"),
        ];
        let mut staging = env.staging();
        let written = staging
            .unpack_tar(
                ".",
                &mut Cursor::new(gzip(&raw_tar(&entries))),
                true,
                UnpackLimits::default(),
            )
            .unwrap();
        let summary: Vec<(PathBuf, EntryKind, u64)> = written
            .iter()
            .map(|e| (e.path.clone(), e.kind, e.size))
            .collect();
        assert_eq!(
            summary,
            vec![
                (PathBuf::from("bin"), EntryKind::Dir, 0),
                (PathBuf::from("bin/run.sh"), EntryKind::File, 10),
                (PathBuf::from("a/b/c/deep.txt"), EntryKind::File, 4),
                (PathBuf::from("a/b/latest"), EntryKind::Symlink, 0),
                (PathBuf::from("a/up"), EntryKind::Symlink, 0),
                (PathBuf::from("copy.sh"), EntryKind::File, 10),
            ]
        );
        assert_eq!(written[1].mode, 0o755);
        // Nothing is visible before commit.
        assert!(listing(&env.dest()).is_empty());

        let finals = staging.commit(false).unwrap();
        let dest = fs::canonicalize(env.dest()).unwrap();
        assert_eq!(
            finals,
            vec![dest.join("a"), dest.join("bin"), dest.join("copy.sh")]
        );
        assert_eq!(listing(&env.root()), vec!["out"]);
        assert_eq!(fs::read(dest.join("a/b/latest")).unwrap(), b"deep");
        assert_eq!(fs::read(dest.join("a/up")).unwrap(), b"#!/bin/sh\n");
        assert_eq!(mode_of(&dest.join("bin/run.sh")), 0o755);
        assert_eq!(mode_of(&dest.join("copy.sh")), 0o755);
        let copy = fs::symlink_metadata(dest.join("copy.sh")).unwrap();
        assert!(copy.is_file());
        assert_eq!(fs::read(dest.join("copy.sh")).unwrap(), b"#!/bin/sh\n");
    }

    #[test]
    fn unpacks_long_names_under_a_subdirectory() {
        let env = Env::new();
        let long = format!("{}/file.txt", "d".repeat(150));
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, &long, &b"abc"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();

        let mut staging = env.staging();
        let written = staging
            .unpack_tar(
                "layer/one",
                &mut Cursor::new(tar),
                false,
                UnpackLimits::default(),
            )
            .unwrap();
        assert_eq!(written[0].path, Path::new("layer/one").join(&long));
        let finals = staging.commit(false).unwrap();
        assert_eq!(finals.len(), 1);
        assert_eq!(fs::read(finals[0].join("one").join(&long)).unwrap(), b"abc");
    }

    #[test]
    fn unpack_root_may_not_be_a_symlink() {
        let env = Env::new();
        let mut staging = env.staging();
        staging
            .unpack_tar(
                "",
                &mut Cursor::new(raw_tar(&[
                    dir("real/"),
                    link("l", EntryType::Symlink, "real"),
                ])),
                false,
                UnpackLimits::default(),
            )
            .unwrap();
        let err = staging
            .unpack_tar(
                "l",
                &mut Cursor::new(raw_tar(&[file("x", b"1")])),
                false,
                UnpackLimits::default(),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                FilesError::Unsafe(UnsafeContent::ThroughSymlink { .. })
            ),
            "{err}"
        );
        let err = staging
            .write_file("l/x", &mut Cursor::new(b"1".to_vec()), None)
            .unwrap_err();
        assert!(
            matches!(
                err,
                FilesError::Unsafe(UnsafeContent::ThroughSymlink { .. })
            ),
            "{err}"
        );
        drop(staging);
        env.assert_untouched();
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let env = Env::new();
        let mut staging = env.staging();
        let tar = raw_tar(&[
            file("f", b"one"),
            link("l", EntryType::Symlink, "f"),
            file("l", b"plain now"),
            file("f", b"two"),
        ]);
        staging
            .unpack_tar("", &mut Cursor::new(tar), false, UnpackLimits::default())
            .unwrap();
        staging.commit(false).unwrap();
        assert_eq!(fs::read(env.dest().join("f")).unwrap(), b"two");
        let l = env.dest().join("l");
        assert!(fs::symlink_metadata(&l).unwrap().is_file());
        assert_eq!(fs::read(&l).unwrap(), b"plain now");

        let err = unpack(&Env::new(), &raw_tar(&[dir("d/"), file("d", b"x")])).unwrap_err();
        assert!(matches!(
            err,
            FilesError::Unsafe(UnsafeContent::TypeConflict { .. })
        ));
    }

    /// `cat a.gz b.gz` is one valid gzip stream; a single-member decoder stops after `a` and the
    /// archive's later entries silently vanish.
    #[test]
    fn every_member_of_a_multi_member_gzip_is_read() {
        let env = Env::new();
        let tar = raw_tar(&[file("first", b"1"), file("second", b"2")]);
        // Split at the second entry's header: the first member ends on an entry boundary.
        let (one, two) = tar.split_at(1024);
        let stream = [gzip(one), gzip(two)].concat();
        let mut staging = env.staging();
        let written = staging
            .unpack_tar("", &mut Cursor::new(stream), true, UnpackLimits::default())
            .unwrap();
        let paths: Vec<_> = written.iter().map(|e| e.path.clone()).collect();
        assert_eq!(paths, vec![PathBuf::from("first"), PathBuf::from("second")]);
        staging.commit(false).unwrap();
        assert_eq!(listing(&env.dest()), vec!["first", "second"]);
    }
}
