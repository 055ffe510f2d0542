//! Which names and links pulled content may have, and the file-system primitives that write
//! it without following anything planted on the way.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{FilesError, UnsafeContent, io_err};

/// Splits `name` into clean components, refusing anything that could leave the root. The result
/// may be empty (for `.` or `./`); callers decide whether that is acceptable.
pub(super) fn clean_components(name: &str) -> Result<Vec<&str>, UnsafeContent> {
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
pub(super) fn check_parents(
    base: &Path,
    rel: &Path,
    entry: &str,
    create: bool,
) -> Result<(), FilesError> {
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

pub(super) fn create_dir(path: &Path) -> Result<(), FilesError> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o755);
    builder.create(path).map_err(io_err(path))
}

/// Makes room for a file or link at `path`: a previous file or link is removed (unlinking never
/// follows a link), an existing directory is a conflict.
pub(super) fn clear_for_non_dir(path: &Path, entry: &str) -> Result<(), FilesError> {
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
pub(super) fn ensure_dir(path: &Path) -> Result<(), FilesError> {
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
pub(super) fn create_file(path: &Path) -> Result<fs::File, FilesError> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err(path))
}

#[cfg(unix)]
pub(super) fn set_mode(file: &fs::File, path: &Path, mode: u32) -> Result<(), FilesError> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(path))
}

#[cfg(not(unix))]
pub(super) fn set_mode(_file: &fs::File, _path: &Path, _mode: u32) -> Result<(), FilesError> {
    Ok(())
}

#[cfg(unix)]
pub(super) fn set_dir_mode(path: &Path, mode: u32) -> Result<(), FilesError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

#[cfg(not(unix))]
pub(super) fn set_dir_mode(_path: &Path, _mode: u32) -> Result<(), FilesError> {
    Ok(())
}

#[cfg(unix)]
pub(super) fn file_mode(meta: &fs::Metadata) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777
}

#[cfg(not(unix))]
pub(super) fn file_mode(_meta: &fs::Metadata) -> u32 {
    0o644
}

#[cfg(unix)]
pub(super) fn make_symlink(target: &str, path: &Path) -> Result<(), FilesError> {
    std::os::unix::fs::symlink(target, path).map_err(io_err(path))
}

#[cfg(not(unix))]
pub(super) fn make_symlink(_target: &str, path: &Path) -> Result<(), FilesError> {
    Err(io_err(path)(io::Error::new(
        io::ErrorKind::Unsupported,
        "symlinks are only unpacked on unix",
    )))
}

/// Opens a file for reading without following a link at the last component.
pub(super) fn open_no_follow(path: &Path) -> Result<fs::File, FilesError> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path).map_err(io_err(path))
}
pub(super) enum LinkCheck {
    Inside,
    Escapes,
    Loop,
}

/// Resolves a symlink target the way the kernel would, starting in the link's directory and
/// expanding links already on disk, so a link cannot get out through another link plus `..`.
/// Components that do not exist are taken literally (the kernel would stop there anyway).
pub(super) fn resolve_link(
    content: &Path,
    root_rel: &Path,
    link_rel: &Path,
    target: &str,
) -> LinkCheck {
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

pub(super) fn check_link(
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

pub(super) fn link_target(
    entry: &tar::Entry<'_, impl Read>,
    name: &str,
) -> Result<String, FilesError> {
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

/// Whether two paths are regular files with identical bytes (then replacing is harmless).
pub(super) fn same_file_content(a: &Path, b: &Path) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
