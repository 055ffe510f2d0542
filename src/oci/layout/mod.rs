//! Air-gap transport: artifacts (with their referrers) written to an OCI image layout — a
//! directory, or a tar of one — and a layout pushed into a registry, digests and tags unchanged.
//!
//! Export fetches every blob through the verified [`BlobCache`] (what the cache has is not
//! downloaded again) and links or copies it into the layout; manifests are written
//! byte-identical. The layout is built in a temporary sibling and renamed into place only when
//! complete, so a partial export is never visible.
//!
//! Import first checks the whole layout (every blob present, of the declared size, hashing to
//! its digest, every manifest parsing), so a damaged layout pushes nothing; then it pushes
//! blobs the target lacks (streamed from the files) and the manifests, skipping what the
//! target already has.
//!
//! In layouts we write, each tagged entry of `index.json` has `org.opencontainers.image.ref.name`
//! = `<repository>:<tag>`; referrers are listed untagged with their repository in
//! [`REPOSITORY`]. Layouts written by other tools (skopeo writes a bare tag) need the target
//! repository named.

mod export;
mod import;

pub use export::export;
pub use import::{import, rename_namespace};

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::Digest;
use super::client::{OciError, Result};

/// Annotation on untagged `index.json` entries we write: the repository the manifest is from.
pub const REPOSITORY: &str = "dev.provisioning.layout.repository";

/// What an export did.
#[derive(Debug, Default, Serialize)]
pub struct ExportReport {
    pub path: PathBuf,
    /// `<repository>:<tag>` (or `<repository>@<digest>`) per exported reference.
    pub exported: Vec<String>,
    pub manifests: usize,
    pub blobs: usize,
    pub referrers: usize,
    /// Cosign signature tags (`sha256-<hex>.sig`) exported with what they sign.
    pub signatures: usize,
    pub bytes: u64,
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    /// `registry/repository:tag` (or `@digest`) per entry pushed.
    pub imported: Vec<String>,
    pub manifests_pushed: usize,
    pub manifests_skipped: usize,
    pub blobs_pushed: usize,
    pub blobs_skipped: usize,
}

/// Where imported entries go.
#[derive(Debug, Clone)]
pub struct ImportTarget {
    pub registry: String,
    /// Replaces each repository's namespace (everything before its last `/`).
    pub namespace: Option<String>,
    /// The repository for entries that do not name one (bare tags, untagged entries).
    pub repository: Option<String>,
}

fn io_err(path: &Path, e: io::Error) -> OciError {
    OciError::io(path, e)
}

fn bad(path: &Path, message: impl Into<String>) -> OciError {
    OciError::Config(format!("{}: {}", path.display(), message.into()))
}

fn blob_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join("blobs")
        .join(digest.algorithm().as_str())
        .join(digest.hex())
}

fn is_tar(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tar")
}

/// A directory removed (with what it holds) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// A new directory in `parent` named `.provisioning-<what>-<pid>-<n>`.
    fn new_in(parent: &Path, what: &str) -> Result<TempDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!(".provisioning-{what}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&path, e)),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A temporary sibling of `dest` (same file system, so the final rename is atomic).
fn temp_sibling(dest: &Path) -> Result<TempDir> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    TempDir::new_in(&parent, "export")
}

/// Hashes a file without holding it in memory; its size and digest.
fn hash_file(path: &Path, digest: &Digest) -> io::Result<(u64, Digest)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = digest.algorithm().hasher();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok((size, hasher.finish())),
            n => {
                size += n as u64;
                hasher.update(&buffer[..n]);
            }
        }
    }
}

/// Tars a layout directory (paths relative to it, files streamed).
fn write_tar(root: &Path, tar_path: &Path) -> io::Result<()> {
    let file = fs::File::create(tar_path)?;
    let mut builder = tar::Builder::new(io::BufWriter::new(file));
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    for name in ["oci-layout", "index.json"] {
        builder.append_path_with_name(root.join(name), name)?;
    }
    let mut stack = vec![PathBuf::from("blobs")];
    while let Some(dir) = stack.pop() {
        builder.append_dir(&dir, root.join(&dir))?;
        let mut children: Vec<_> = fs::read_dir(root.join(&dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        children.sort();
        for child in children {
            let relative = dir.join(&child);
            let meta = fs::symlink_metadata(root.join(&relative))?;
            if meta.is_dir() {
                stack.push(relative);
            } else {
                builder.append_path_with_name(root.join(&relative), &relative)?;
            }
        }
    }
    let writer = builder.into_inner()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

// ---------------------------------------------------------------------------------------------
// Import

/// Unpacks a tar of a layout into `dest`: regular files and directories only, relative paths
/// without `..`.
fn unpack_tar(tar_path: &Path, dest: &Path) -> Result<()> {
    let file = fs::File::open(tar_path).map_err(|e| io_err(tar_path, e))?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    let entries = archive.entries().map_err(|e| io_err(tar_path, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(tar_path, format!("not a readable tar: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(tar_path, format!("bad entry name: {e}")))?
            .into_owned();
        let safe = path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !safe {
            return Err(bad(
                tar_path,
                format!("entry {} leaves the layout", path.display()),
            ));
        }
        let target = dest.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&target).map_err(|e| io_err(&target, e))?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                }
                let mut out = fs::File::create(&target).map_err(|e| io_err(&target, e))?;
                let copied = io::copy(&mut entry, &mut out)
                    .map_err(|e| bad(tar_path, format!("truncated or unreadable tar: {e}")))?;
                if copied != entry.header().size().unwrap_or(copied) {
                    return Err(bad(tar_path, "truncated tar"));
                }
            }
            // pax headers and the like carry no content of the layout.
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => {}
            other => {
                return Err(bad(
                    tar_path,
                    format!("entry {} is a {other:?}, not a file", path.display()),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_replaced() {
        assert_eq!(
            rename_namespace("provisioning-extensions/kubernetes", Some("mirror")),
            "mirror/kubernetes"
        );
        assert_eq!(rename_namespace("a/b/c", Some("x/y")), "x/y/c");
        assert_eq!(rename_namespace("a/b", None), "a/b");
    }
}
