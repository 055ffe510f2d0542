//! Which directories are registry storage. A registry deletes `tmp/` and `uploads/` when it
//! starts, so it must never take a directory that holds anything else: a storage is marked
//! with [`MARKER`] on first use, and a non-empty directory without the mark is refused.

use std::fs;
use std::io;
use std::path::Path;

use super::durable;

/// The file that marks a directory as registry storage.
pub const MARKER: &str = ".provisioning-registry";

const MARKER_TEXT: &str = "provisioning oci-registry storage, layout 1\n\
Everything in this directory belongs to the registry; do not put other files here.\n";

/// What the registry itself keeps in its storage. A directory holding only these, with
/// `blobs/` and `repositories/` among them when `tmp/` or `uploads/` are, is storage written
/// before the mark existed, and is adopted.
const OWN_ENTRIES: &[&str] = &[
    "blobs",
    "repositories",
    "uploads",
    "tmp",
    "registry.lock",
    "registry.pid",
    "registry.pid.tmp",
    "registry.log",
    // A fresh filesystem's own directory, when the storage is a dedicated mount.
    "lost+found",
];

/// What a directory is, for the registry.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Missing, or empty, or holding only the log or lock of a registry about to start.
    Fresh,
    /// Marked, or storage from before the mark.
    Storage { marked: bool },
    /// Anything else: refused.
    Foreign,
}

pub(super) fn kind(root: &Path) -> io::Result<Kind> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Kind::Fresh),
        Err(e) => return Err(e),
    };
    if root.join(MARKER).is_file() {
        return Ok(Kind::Storage { marked: true });
    }
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    if !names.iter().all(|n| OWN_ENTRIES.contains(&n.as_str())) {
        return Ok(Kind::Foreign);
    }
    let has = |name: &str| names.iter().any(|n| n == name);
    let layout = root.join("blobs").is_dir() && root.join("repositories").is_dir();
    Ok(if layout {
        Kind::Storage { marked: false }
    } else if has("tmp") || has("uploads") || has("blobs") || has("repositories") {
        // Half a layout: these could be anyone's `tmp/` and `uploads/`.
        Kind::Foreign
    } else {
        Kind::Fresh
    })
}

/// The refusal of a directory that is not registry storage.
pub(super) fn foreign(root: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is not empty and is not a registry storage directory (it has no {MARKER} file); \
         the registry deletes files in its storage, so choose an empty or new directory for --storage",
        root.display()
    ))
}

/// Makes `root` registry storage: creates it if needed and marks it. Refuses a foreign one.
pub(super) fn claim(root: &Path) -> io::Result<()> {
    match kind(root)? {
        Kind::Storage { marked: true } => Ok(()),
        Kind::Foreign => Err(foreign(root)),
        Kind::Fresh | Kind::Storage { marked: false } => {
            durable::create_dirs(root)?;
            let tmp = root.join(format!("{MARKER}.tmp"));
            durable::write_via(&tmp, &root.join(MARKER), MARKER_TEXT.as_bytes())
        }
    }
}

/// Checks that `root` may become or already is registry storage, changing nothing.
pub fn check(root: &Path) -> io::Result<()> {
    match kind(root)? {
        Kind::Foreign => Err(foreign(root)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s");
        assert_eq!(kind(&root).unwrap(), Kind::Fresh);
        fs::create_dir(&root).unwrap();
        assert_eq!(kind(&root).unwrap(), Kind::Fresh);
        fs::write(root.join("registry.log"), "").unwrap();
        fs::create_dir(root.join("lost+found")).unwrap();
        assert_eq!(kind(&root).unwrap(), Kind::Fresh);
        fs::create_dir(root.join("tmp")).unwrap();
        assert_eq!(kind(&root).unwrap(), Kind::Foreign);
        fs::create_dir(root.join("blobs")).unwrap();
        fs::create_dir(root.join("repositories")).unwrap();
        assert_eq!(kind(&root).unwrap(), Kind::Storage { marked: false });
        fs::write(root.join("Cargo.toml"), "").unwrap();
        assert_eq!(kind(&root).unwrap(), Kind::Foreign);
        assert!(claim(&root).is_err());
        fs::remove_file(root.join("Cargo.toml")).unwrap();
        claim(&root).unwrap();
        assert_eq!(kind(&root).unwrap(), Kind::Storage { marked: true });
    }
}
