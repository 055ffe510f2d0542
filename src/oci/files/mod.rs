//! Writing pulled artifact content into an output directory.
//!
//! Names and archives come from a registry, so they are untrusted: the rules follow oras-go's
//! `content/file` store (relative, cleaned paths only; no `..`; no absolute paths; no way out
//! through symlinks, checked again after links are resolved). Everything is written into a
//! private staging directory first and moved into place by rename, so a refused or interrupted
//! pull never leaves partial content in the output directory.
//!
//! - [`rules`]: which names and links are acceptable, and the careful file-system primitives;
//! - [`unpack`]: tar (and multi-member gzip) streams into a staging area, with limits;
//! - [`staging`]: the staging area itself, its lock, and the sweep of ones a killed pull left;
//! - [`commit`]: merging the staged tree into the output directory, file by file.

use std::io;
use std::path::{Path, PathBuf};

mod commit;
mod rules;
mod staging;
mod unpack;

#[cfg(test)]
mod test_support;

pub use rules::safe_relative_path;
pub use staging::Staging;
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
    #[error(
        "{}{}: already exists with different content; overwrite was not requested, nothing was changed",
        path.display(),
        and_more(*more)
    )]
    Exists { path: PathBuf, more: usize },
    #[error(
        "{}{}: is {existing} in the output directory but {pulled} in the pull; nothing was changed",
        path.display(),
        and_more(*more)
    )]
    KindConflict {
        path: PathBuf,
        existing: &'static str,
        pulled: &'static str,
        more: usize,
    },
    #[error("an earlier write into this staging area failed; refusing to commit partial content")]
    Incomplete,
}

fn and_more(more: usize) -> String {
    match more {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FilesError + '_ {
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
