//! Writing pulled artifact content into an output directory.
//!
//! Names and archives come from a registry, so they are untrusted: the rules follow oras-go's
//! `content/file` store (relative, cleaned paths only; no `..`; no absolute paths; no way out
//! through symlinks, checked again after links are resolved). Everything is written into a
//! private staging directory first and moved into place by rename, so a refused or interrupted
//! pull never leaves partial content in the output directory.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Why a name, link or archive entry was refused. Each variant names the offending entry.
#[derive(Debug, thiserror::Error)]
pub enum UnsafeContent {
    #[error("{entry:?}: absolute paths are refused")]
    AbsolutePath { entry: String },
    #[error("{entry:?}: `..` components are refused")]
    ParentTraversal { entry: String },
    #[error("{entry:?}: empty names are refused")]
    Empty { entry: String },
    #[error("{entry:?}: names containing NUL bytes are refused")]
    Nul { entry: String },
    #[error("{entry:?}: names that are not valid UTF-8 are refused")]
    NotUtf8 { entry: String },
    #[error("{entry:?}: symlink target {target:?} leads outside the unpack root")]
    SymlinkEscape { entry: String, target: String },
    #[error("{entry:?}: symlink target {target:?} goes through too many links")]
    SymlinkLoop { entry: String, target: String },
    #[error("{entry:?}: path goes through the symlink {link:?}, which could lead anywhere")]
    ThroughSymlink { entry: String, link: String },
    #[error("{entry:?}: hard link target {target:?} is outside the unpack root")]
    HardLinkEscape { entry: String, target: String },
    #[error("{entry:?}: hard link target {target:?} is not a regular file extracted earlier")]
    HardLinkTarget { entry: String, target: String },
    #[error("{entry:?}: device nodes and fifos are refused")]
    DeviceOrFifo { entry: String },
    #[error("{entry:?}: tar entry type {kind:?} is not supported")]
    UnsupportedType { entry: String, kind: char },
    #[error("{entry:?}: conflicts with an existing entry of another kind")]
    TypeConflict { entry: String },
    #[error("{entry:?}: file is larger than the limit of {limit} bytes")]
    FileTooLarge { entry: String, limit: u64 },
    #[error("{entry:?}: unpacked content exceeds the total limit of {limit} bytes")]
    TooLarge { entry: String, limit: u64 },
    #[error("archive has more than {limit} entries")]
    TooManyEntries { limit: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("refusing unsafe content: {0}")]
    Unsafe(#[from] UnsafeContent),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("corrupt archive: {what}")]
    Corrupt { what: String },
    #[error("{}: already exists with different content; overwrite was not requested", path.display())]
    Exists { path: PathBuf },
    #[error("an earlier write into this staging area failed; refusing to commit partial content")]
    Incomplete,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Limits against decompression bombs.
#[derive(Clone, Copy, Debug)]
pub struct UnpackLimits {
    pub max_total_bytes: u64,
    pub max_entries: usize,
    pub max_file_bytes: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_total_bytes: 1 << 30,
            max_entries: 100_000,
            max_file_bytes: 512 << 20,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// One entry written by [`Staging::unpack_tar`]; `path` is relative to the output directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackedEntry {
    pub path: PathBuf,
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
}

/// Splits `name` into clean components, refusing anything that could leave the root. The result
/// may be empty (for `.` or `./`); callers decide whether that is acceptable.
fn clean_components(name: &str) -> Result<Vec<&str>, UnsafeContent> {
    let entry = || name.to_owned();
    if name.contains('\0') {
        return Err(UnsafeContent::Nul { entry: entry() });
    }
    let bytes = name.as_bytes();
    // `C:\x`, `C:x`, `\x` and `\\server\share` are absolute (or drive-relative) on Windows.
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if name.starts_with('/') || name.starts_with('\\') || drive {
        return Err(UnsafeContent::AbsolutePath { entry: entry() });
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        // A backslash is an ordinary character here but a separator on Windows: refuse `..`
        // either way so the same name is safe wherever the content ends up.
        if part.split('\\').any(|p| p == "..") {
            return Err(UnsafeContent::ParentTraversal { entry: entry() });
        }
        if !part.is_empty() && part != "." {
            parts.push(part);
        }
    }
    Ok(parts)
}

/// Checks a file name from an annotation (e.g. `org.opencontainers.image.title`) and returns the
/// cleaned relative path. Any `..` is refused, even one that would stay inside, as oras does.
pub fn safe_relative_path(name: &str) -> Result<PathBuf, UnsafeContent> {
    let parts = clean_components(name)?;
    if parts.is_empty() {
        return Err(UnsafeContent::Empty {
            entry: name.to_owned(),
        });
    }
    Ok(parts.iter().collect())
}

/// Walks the parent directories of `rel` under `base`, refusing symlinks (they could lead
/// anywhere) and non-directories; missing directories are created when `create` is set.
fn check_parents(base: &Path, rel: &Path, entry: &str, create: bool) -> Result<(), FilesError> {
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    let mut current = base.to_path_buf();
    for component in parent.components() {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = current.strip_prefix(base).unwrap_or(&current);
                return Err(UnsafeContent::ThroughSymlink {
                    entry: entry.to_owned(),
                    link: link.display().to_string(),
                }
                .into());
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(UnsafeContent::TypeConflict {
                    entry: entry.to_owned(),
                }
                .into());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                create_dir(&current)?;
            }
            Err(e) => return Err(io_err(&current)(e)),
        }
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), FilesError> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
    builder.create(path).map_err(io_err(path))
}

/// Makes room for a file or link at `path`: a previous file or link is removed (unlinking never
/// follows a link), an existing directory is a conflict.
fn clear_for_non_dir(path: &Path, entry: &str) -> Result<(), FilesError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(UnsafeContent::TypeConflict {
            entry: entry.to_owned(),
        }
        .into()),
        Ok(_) => fs::remove_file(path).map_err(io_err(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Ensures a real directory exists at `path`, replacing a previous file or link.
fn ensure_dir(path: &Path) -> Result<(), FilesError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => {
            fs::remove_file(path).map_err(io_err(path))?;
            create_dir(path)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_dir(path),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Creates a new file; `create_new` (O_EXCL) also refuses to follow a link planted at `path`.
fn create_file(path: &Path) -> Result<fs::File, FilesError> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err(path))
}

#[cfg(unix)]
fn set_mode(file: &fs::File, path: &Path, mode: u32) -> Result<(), FilesError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(path))
}

#[cfg(not(unix))]
fn set_mode(_file: &fs::File, _path: &Path, _mode: u32) -> Result<(), FilesError> {
    Ok(())
}

#[cfg(unix)]
fn set_dir_mode(path: &Path, mode: u32) -> Result<(), FilesError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

#[cfg(not(unix))]
fn set_dir_mode(_path: &Path, _mode: u32) -> Result<(), FilesError> {
    Ok(())
}

#[cfg(unix)]
fn file_mode(meta: &fs::Metadata) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777
}

#[cfg(not(unix))]
fn file_mode(_meta: &fs::Metadata) -> u32 {
    0o644
}

#[cfg(unix)]
fn make_symlink(target: &str, path: &Path) -> Result<(), FilesError> {
    std::os::unix::fs::symlink(target, path).map_err(io_err(path))
}

#[cfg(not(unix))]
fn make_symlink(_target: &str, path: &Path) -> Result<(), FilesError> {
    Err(io_err(path)(io::Error::new(
        io::ErrorKind::Unsupported,
        "symlinks are only unpacked on unix",
    )))
}

/// Opens a file for reading without following a link at the last component.
fn open_no_follow(path: &Path) -> Result<fs::File, FilesError> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path).map_err(io_err(path))
}

#[derive(Debug)]
enum CopyError {
    Read(io::Error),
    Write(io::Error),
    FileLimit,
    TotalLimit,
}

/// Copies while counting the bytes actually produced, so a stream larger than its header
/// claims (or a decompression bomb) stops at the limit instead of filling the disk.
fn copy_counted(
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
struct Counting<R> {
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
struct StreamState {
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

enum LinkCheck {
    Inside,
    Escapes,
    Loop,
}

/// Resolves a symlink target the way the kernel would, starting in the link's directory and
/// expanding links already on disk, so a link cannot get out through another link plus `..`.
/// Components that do not exist are taken literally (the kernel would stop there anyway).
fn resolve_link(content: &Path, root_rel: &Path, link_rel: &Path, target: &str) -> LinkCheck {
    const MAX_HOPS: usize = 40;
    let depth = root_rel.components().count();
    let mut stack: Vec<OsString> = link_rel
        .parent()
        .map(|p| p.components().map(|c| c.as_os_str().to_owned()).collect())
        .unwrap_or_default();
    if target.starts_with('/') {
        return LinkCheck::Escapes;
    }
    let mut queue: VecDeque<String> = target.split('/').map(str::to_owned).collect();
    let mut hops = 0;
    while let Some(part) = queue.pop_front() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                if stack.len() <= depth {
                    return LinkCheck::Escapes;
                }
                stack.pop();
            }
            name => {
                stack.push(OsString::from(name));
                let path = content.join(stack.iter().collect::<PathBuf>());
                let is_link = fs::symlink_metadata(&path)
                    .map(|m| m.file_type().is_symlink())
                    .unwrap_or(false);
                if !is_link {
                    continue;
                }
                hops += 1;
                if hops > MAX_HOPS {
                    return LinkCheck::Loop;
                }
                let Some(next) = fs::read_link(&path)
                    .ok()
                    .and_then(|t| t.to_str().map(str::to_owned))
                else {
                    return LinkCheck::Escapes;
                };
                if next.starts_with('/') {
                    return LinkCheck::Escapes;
                }
                stack.pop();
                for piece in next.split('/').rev() {
                    queue.push_front(piece.to_owned());
                }
            }
        }
    }
    LinkCheck::Inside
}

fn check_link(
    content: &Path,
    root_rel: &Path,
    link_rel: &Path,
    target: &str,
) -> Result<(), UnsafeContent> {
    let entry = || link_rel.display().to_string();
    match resolve_link(content, root_rel, link_rel, target) {
        LinkCheck::Inside => Ok(()),
        LinkCheck::Escapes => Err(UnsafeContent::SymlinkEscape {
            entry: entry(),
            target: target.to_owned(),
        }),
        LinkCheck::Loop => Err(UnsafeContent::SymlinkLoop {
            entry: entry(),
            target: target.to_owned(),
        }),
    }
}

/// Whether two paths are regular files with identical bytes (then replacing is harmless).
fn same_file_content(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (fs::symlink_metadata(a), fs::symlink_metadata(b)) else {
        return false;
    };
    if !ma.is_file() || !mb.is_file() || ma.len() != mb.len() {
        return false;
    }
    let (Ok(mut fa), Ok(mut fb)) = (fs::File::open(a), fs::File::open(b)) else {
        return false;
    };
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let Ok(n) = fa.read(&mut ba) else {
            return false;
        };
        if n == 0 {
            return fb.read(&mut bb[..1]).map(|m| m == 0).unwrap_or(false);
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

#[cfg(unix)]
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => ma.dev() == mb.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_device(_a: &Path, _b: &Path) -> bool {
    true
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// One step of a commit, kept so a failed commit can be undone.
enum Moved {
    /// A staged entry now at `to`, which came from `from`.
    Placed { from: PathBuf, to: PathBuf },
    /// An existing entry moved aside from `original` to `aside`.
    Aside { original: PathBuf, aside: PathBuf },
}

/// A staging area: content is written into a hidden temporary directory next to `dest` (same
/// filesystem, so rename works) and only moved into `dest` by [`Staging::commit`]. Dropping it
/// without committing removes everything staged.
pub struct Staging {
    dest: PathBuf,
    dir: PathBuf,
    content: PathBuf,
    /// Every symlink created, with the unpack root it must stay inside (both relative to
    /// `content`), re-checked after each unpack since later links can change where earlier
    /// ones lead.
    symlinks: Vec<(PathBuf, PathBuf)>,
    failed: bool,
    /// Directories `new` created for `dest`, deepest first: removed again (when empty) if
    /// nothing is committed, so a refused pull leaves no directory behind.
    created: Vec<PathBuf>,
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
        let mut dir = None;
        if let Some(parent) = dest.parent()
            && same_device(parent, &dest)
        {
            let candidate = parent.join(format!(".{base_name}.staging-{unique}"));
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
                let candidate = dest.join(format!(".staging-{unique}"));
                create_private_dir(&candidate).map_err(io_err(&candidate))?;
                candidate
            }
        };
        let content = dir.join("content");
        let staging = Staging {
            dest,
            dir,
            content,
            symlinks: Vec::new(),
            failed: false,
            created,
        };
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
            Box::new(flate2::read::GzDecoder::new(source))
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

    /// Moves everything staged into `dest`, one rename per top-level entry, and returns the
    /// final paths. All conflicts are checked before anything moves; an existing entry with
    /// different content is refused unless `overwrite` is set, in which case it is replaced
    /// (a file atomically by rename; a directory is moved aside first and deleted afterwards).
    /// If a rename fails midway, the entries already moved are moved back.
    pub fn commit(mut self, overwrite: bool) -> Result<Vec<PathBuf>, FilesError> {
        if self.failed {
            return Err(FilesError::Incomplete);
        }
        self.created.clear();
        let mut names = Vec::new();
        for item in fs::read_dir(&self.content).map_err(io_err(&self.content))? {
            let item = item.map_err(io_err(&self.content))?;
            names.push(item.file_name());
        }
        names.sort();

        // Plan: (staged, final, existing is replaced by moving it aside first).
        let mut plan = Vec::new();
        for name in &names {
            let staged = self.content.join(name);
            let target = self.dest.join(name);
            let aside = match fs::symlink_metadata(&target) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => return Err(io_err(&target)(e)),
                Ok(existing) => {
                    if !overwrite && !same_file_content(&staged, &target) {
                        return Err(FilesError::Exists { path: target });
                    }
                    let staged_dir = fs::symlink_metadata(&staged)
                        .map_err(io_err(&staged))?
                        .is_dir();
                    // rename(2) replaces files and links in one step, but not directories.
                    existing.is_dir() || staged_dir
                }
            };
            plan.push((staged, target, aside));
        }

        let replaced = self.dir.join("replaced");
        let mut done: Vec<Moved> = Vec::new();
        let mut result = Ok(());
        for (index, (staged, target, aside)) in plan.iter().enumerate() {
            if *aside {
                if let Err(e) = create_private_dir(&replaced)
                    && e.kind() != io::ErrorKind::AlreadyExists
                {
                    result = Err(io_err(&replaced)(e));
                    break;
                }
                let moved_to = replaced.join(index.to_string());
                if let Err(e) = fs::rename(target, &moved_to) {
                    result = Err(io_err(target)(e));
                    break;
                }
                done.push(Moved::Aside {
                    original: target.clone(),
                    aside: moved_to,
                });
            }
            if let Err(e) = fs::rename(staged, target) {
                result = Err(io_err(target)(e));
                break;
            }
            done.push(Moved::Placed {
                from: staged.clone(),
                to: target.clone(),
            });
        }

        if let Err(e) = result {
            for step in done.into_iter().rev() {
                let (from, to) = match step {
                    Moved::Placed { from, to } => (to, from),
                    Moved::Aside { original, aside } => (aside, original),
                };
                if let Err(undo) = fs::rename(&from, &to) {
                    tracing::warn!(
                        from = %from.display(),
                        to = %to.display(),
                        error = %undo,
                        "could not undo a partial commit"
                    );
                }
            }
            return Err(e);
        }

        let finals: Vec<PathBuf> = plan.into_iter().map(|(_, target, _)| target).collect();
        tracing::debug!(dest = %self.dest.display(), entries = finals.len(), "committed staged content");
        Ok(finals)
    }
}

fn link_target(entry: &tar::Entry<'_, impl Read>, name: &str) -> Result<String, FilesError> {
    let Some(raw) = entry.link_name_bytes() else {
        return Err(UnsafeContent::Empty {
            entry: format!("{name} (link target)"),
        }
        .into());
    };
    let target = match std::str::from_utf8(&raw) {
        Ok(target) => target.to_owned(),
        Err(_) => {
            return Err(UnsafeContent::NotUtf8 {
                entry: format!("{name} -> {}", String::from_utf8_lossy(&raw)),
            }
            .into());
        }
    };
    if target.is_empty() {
        return Err(UnsafeContent::Empty {
            entry: format!("{name} (link target)"),
        }
        .into());
    }
    if target.contains('\0') {
        return Err(UnsafeContent::Nul { entry: target }.into());
    }
    Ok(target)
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
    use super::*;
    use std::io::Cursor;
    use std::time::{Duration, Instant};
    use tar::{EntryType, Header};

    /// A temp root holding only `root/out`, so anything written elsewhere shows up.
    struct Env {
        tmp: tempfile::TempDir,
    }

    impl Env {
        fn new() -> Env {
            let tmp = tempfile::tempdir().unwrap();
            fs::create_dir(tmp.path().join("root")).unwrap();
            Env { tmp }
        }

        fn root(&self) -> PathBuf {
            self.tmp.path().join("root")
        }

        fn dest(&self) -> PathBuf {
            self.root().join("out")
        }

        fn staging(&self) -> Staging {
            Staging::new(&self.dest()).unwrap()
        }

        /// Nothing outside `dest`, nothing inside it, no leftover staging directory.
        fn assert_untouched(&self) {
            assert_eq!(listing(self.tmp.path()), vec!["root"]);
            let root = listing(&self.root());
            assert!(root.is_empty() || root == vec!["out"], "{root:?}");
            if self.dest().exists() {
                assert!(listing(&self.dest()).is_empty());
            }
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A header with raw name bytes, bypassing the builder's refusal of hostile paths.
    fn raw_header(name: &[u8], kind: EntryType, size: u64, link: &[u8], mode: u32) -> Header {
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        header
    }

    fn file(name: &str, data: &[u8]) -> (Header, Vec<u8>) {
        let header = raw_header(
            name.as_bytes(),
            EntryType::Regular,
            data.len() as u64,
            b"",
            0o644,
        );
        (header, data.to_vec())
    }

    fn dir(name: &str) -> (Header, Vec<u8>) {
        (
            raw_header(name.as_bytes(), EntryType::Directory, 0, b"", 0o755),
            Vec::new(),
        )
    }

    fn link(name: &str, kind: EntryType, target: &str) -> (Header, Vec<u8>) {
        let header = raw_header(name.as_bytes(), kind, 0, target.as_bytes(), 0o777);
        (header, Vec::new())
    }

    fn raw_tar(entries: &[(Header, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (header, data) in entries {
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn unpack(env: &Env, tar: &[u8]) -> Result<Vec<UnpackedEntry>, FilesError> {
        let mut staging = env.staging();
        staging.unpack_tar("", &mut Cursor::new(tar), false, UnpackLimits::default())
    }

    /// Unpacks, expects a refusal, and checks that nothing is left anywhere.
    fn refused(entries: &[(Header, Vec<u8>)]) -> FilesError {
        let env = Env::new();
        let err = unpack(&env, &raw_tar(entries)).unwrap_err();
        env.assert_untouched();
        err
    }

    /// A lazily produced run of zeros, so a huge stream costs no memory.
    struct Zeros(u64);

    impl Read for Zeros {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(usize::try_from(self.0).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            self.0 -= n as u64;
            Ok(n)
        }
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn safe_relative_path_cleans_and_refuses() {
        let ok = |name: &str| safe_relative_path(name).unwrap();
        assert_eq!(ok("a/./b"), PathBuf::from("a/b"));
        assert_eq!(ok("./a//b/"), PathBuf::from("a/b"));
        assert_eq!(ok("file.tar.gz"), PathBuf::from("file.tar.gz"));
        assert_eq!(ok("ab:c"), PathBuf::from("ab:c"));

        let err = |name: &str| safe_relative_path(name).unwrap_err();
        assert!(matches!(err("../x"), UnsafeContent::ParentTraversal { .. }));
        assert!(matches!(
            err("a/../../x"),
            UnsafeContent::ParentTraversal { .. }
        ));
        assert!(matches!(
            err("a/../b"),
            UnsafeContent::ParentTraversal { .. }
        ));
        assert!(matches!(
            err("a\\..\\b"),
            UnsafeContent::ParentTraversal { .. }
        ));
        assert!(matches!(err("/x"), UnsafeContent::AbsolutePath { .. }));
        assert!(matches!(err("C:\\x"), UnsafeContent::AbsolutePath { .. }));
        assert!(matches!(err("c:x"), UnsafeContent::AbsolutePath { .. }));
        assert!(matches!(err("\\x"), UnsafeContent::AbsolutePath { .. }));
        assert!(matches!(
            err("\\\\server\\share"),
            UnsafeContent::AbsolutePath { .. }
        ));
        assert!(matches!(err(""), UnsafeContent::Empty { .. }));
        assert!(matches!(err("."), UnsafeContent::Empty { .. }));
        assert!(matches!(err("./"), UnsafeContent::Empty { .. }));
        assert!(matches!(err("a\0b"), UnsafeContent::Nul { .. }));
        assert!(err("../x").to_string().contains("../x"));
    }

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

    #[test]
    fn commit_refuses_different_existing_content_unless_overwrite() {
        let env = Env::new();
        fs::create_dir_all(env.dest().join("tree")).unwrap();
        fs::write(env.dest().join("tree/old"), b"old").unwrap();
        fs::write(env.dest().join("a.txt"), b"old").unwrap();
        fs::write(env.dest().join("same.txt"), b"same").unwrap();

        let stage = |env: &Env| {
            let mut staging = env.staging();
            for (name, data) in [("a.txt", "new"), ("same.txt", "same"), ("tree/new", "new")] {
                staging
                    .write_file(name, &mut Cursor::new(data.as_bytes().to_vec()), None)
                    .unwrap();
            }
            staging
        };

        let err = stage(&env).commit(false).unwrap_err();
        assert!(
            matches!(err, FilesError::Exists { ref path } if path.ends_with("a.txt")),
            "{err}"
        );
        // Nothing moved: the check happens before any rename.
        assert_eq!(fs::read(env.dest().join("a.txt")).unwrap(), b"old");
        assert!(env.dest().join("tree/old").exists());
        assert_eq!(listing(&env.root()), vec!["out"]);

        // Identical files are not a conflict.
        let mut staging = env.staging();
        staging
            .write_file("same.txt", &mut Cursor::new(b"same".to_vec()), None)
            .unwrap();
        staging.commit(false).unwrap();

        stage(&env).commit(true).unwrap();
        assert_eq!(fs::read(env.dest().join("a.txt")).unwrap(), b"new");
        assert_eq!(listing(&env.dest().join("tree")), vec!["new"]);
        assert_eq!(listing(&env.dest()), vec!["a.txt", "same.txt", "tree"]);
        assert_eq!(listing(&env.root()), vec!["out"]);
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
}
