//! Extension packages: checking a tree, and packing it reproducibly as
//! `<name>-<version>.tar.gz` with an `oci-manifest.json` index of every file.
//!
//! Reproducible means the same tree gives the same bytes on any machine: entries sorted by
//! path, mtime 0, uid/gid 0 and no owner names, modes normalised to 0644/0755, and a gzip
//! header without timestamp or file name. The index goes last, so every file is read once:
//! hashed for the index while it is written into the tar.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::manifest::{self, Diagnostic, ExtensionManifest, ExtensionType, Severity};
use crate::oci::Digest;

/// Media type of the content layer.
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.provisioning.extension.content.v1.tar+gzip";
/// Media type of the config blob (the manifest as JSON).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.provisioning.extension.config.v1+json";
/// The artifact type of an extension manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.provisioning.extension.v1";
/// The file index inside every package.
pub const INDEX_FILE: &str = "oci-manifest.json";

/// Files larger than this are refused: extensions are schemas and scripts, not payloads.
pub const MAX_FILE_BYTES: u64 = 100 << 20;

/// One file of a package, as listed in `oci-manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IndexEntry {
    pub path: String,
    pub size: u64,
    /// `0644`, `0755`, or `0777` for symlinks (as an octal string).
    pub mode: String,
    /// sha256 hex of the content; of the link target for symlinks.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `oci-manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PackageIndex {
    pub name: String,
    pub version: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub files: Vec<IndexEntry>,
}

/// A file found in an extension tree.
#[derive(Clone, Debug)]
struct TreeEntry {
    /// Relative, `/`-separated.
    path: String,
    kind: TreeKind,
}

#[derive(Clone, Debug)]
enum TreeKind {
    Dir,
    File { size: u64, executable: bool },
    Symlink { target: String },
}

/// A tree that passed validation, ready to package.
#[derive(Debug)]
pub struct ExtensionTree {
    pub root: PathBuf,
    pub manifest: ExtensionManifest,
    /// Warnings that did not stop validation.
    pub warnings: Vec<Diagnostic>,
    entries: Vec<TreeEntry>,
}

/// Everything wrong with a tree.
#[derive(Debug, thiserror::Error)]
#[error("{} is not a valid extension:\n{}", root.display(), problems.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ValidationFailed {
    pub root: PathBuf,
    pub problems: Vec<Diagnostic>,
}

/// Files each type needs, beside `manifest.yaml`; `{name}` is the extension's name.
fn required_files(kind: ExtensionType) -> &'static [&'static str] {
    match kind {
        ExtensionType::Taskserv => &[
            "schemas/manifest.toml",
            "schemas/{name}.ncl",
            "schemas/version.ncl",
            "schemas/dependencies.ncl",
            "scripts/install.nu",
            "scripts/check.nu",
            "scripts/uninstall.nu",
            "docs/README.md",
        ],
        ExtensionType::Provider | ExtensionType::Cluster => &[
            "schemas/manifest.toml",
            "schemas/{name}.ncl",
            "scripts/install.nu",
            "docs/README.md",
        ],
    }
}

fn problem(path: &Path, field: &str, message: String, hint: Option<&str>) -> Diagnostic {
    Diagnostic {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        field: field.to_string(),
        severity: Severity::Error,
        message,
        hint: hint.map(str::to_string),
    }
}

/// Validates the extension in `root`: its manifest, the files its type needs, and what the
/// tree holds (no symlink out of it, no devices/sockets/fifos, no oversized file,
/// `schemas/manifest.toml` parses). Reports every problem at once.
pub fn validate(root: &Path) -> Result<ExtensionTree, ValidationFailed> {
    let fail = |problems| ValidationFailed {
        root: root.to_path_buf(),
        problems,
    };
    let manifest_path = root.join("manifest.yaml");
    if !manifest_path.is_file() {
        return Err(fail(vec![problem(
            &manifest_path,
            "manifest.yaml",
            "there is no manifest.yaml".into(),
            Some(
                "every extension has one; `provisioning generate extension TYPE NAME` makes a complete tree",
            ),
        )]));
    }
    let (manifest, mut diagnostics) = match manifest::load(&manifest_path) {
        Ok(parsed) => parsed,
        Err(errors) => return Err(fail(errors.diagnostics)),
    };
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    if let Err(e) = walk(root, root, &mut entries, &mut problems) {
        problems.push(problem(
            root,
            "tree",
            format!("cannot read the tree: {e}"),
            None,
        ));
    }
    for required in required_files(manifest.kind) {
        let relative = required.replace("{name}", &manifest.name);
        if !entries
            .iter()
            .any(|e| e.path == relative && matches!(e.kind, TreeKind::File { .. }))
        {
            problems.push(problem(
                &root.join(&relative),
                &relative,
                format!("a {} needs {relative}", manifest.kind),
                Some("see `provisioning generate extension` for the layout"),
            ));
        }
    }
    if entries.iter().any(|e| e.path == INDEX_FILE) {
        problems.push(problem(
            &root.join(INDEX_FILE),
            INDEX_FILE,
            format!("{INDEX_FILE} is written by packaging and must not be in the tree"),
            Some("delete it"),
        ));
    }
    let toml_path = root.join("schemas/manifest.toml");
    if let Ok(text) = fs::read_to_string(&toml_path)
        && let Err(e) = text.parse::<toml::Table>()
    {
        let mut d = problem(
            &toml_path,
            "schemas/manifest.toml",
            format!("not valid TOML: {}", e.message()),
            None,
        );
        if let Some(span) = e.span() {
            let (line, column) = line_column(&text, span.start);
            d.line = line;
            d.column = column;
        }
        problems.push(d);
    }
    if !problems.is_empty() {
        problems.extend(diagnostics);
        return Err(fail(problems));
    }
    diagnostics.retain(|d| d.severity == Severity::Warning);
    Ok(ExtensionTree {
        root: root.to_path_buf(),
        manifest,
        warnings: diagnostics,
        entries,
    })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Collects entries under `dir`, sorted by path; records what must not be there.
fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<TreeEntry>,
    problems: &mut Vec<Diagnostic>,
) -> io::Result<()> {
    let mut children: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let path = child.path();
        let relative = path
            .strip_prefix(root)
            .expect("walked paths are under the root")
            .to_string_lossy()
            .replace('\\', "/");
        let Some(name) = child.file_name().to_str().map(str::to_string) else {
            problems.push(problem(
                &path,
                "tree",
                "file name is not UTF-8".into(),
                Some("rename it"),
            ));
            continue;
        };
        if name == ".git" || name == "target" && dir == root {
            continue;
        }
        let meta = fs::symlink_metadata(&path)?;
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            let target = fs::read_link(&path)?;
            let target_text = target.to_string_lossy().to_string();
            if !link_stays_inside(root, &path, &target) {
                problems.push(problem(
                    &path,
                    &relative,
                    format!("symlink points outside the extension (to {target_text})"),
                    Some("copy the file in, or point the link inside the tree"),
                ));
                continue;
            }
            out.push(TreeEntry {
                path: relative,
                kind: TreeKind::Symlink {
                    target: target_text,
                },
            });
        } else if file_type.is_dir() {
            out.push(TreeEntry {
                path: relative,
                kind: TreeKind::Dir,
            });
            walk(root, &path, out, problems)?;
        } else if file_type.is_file() {
            if meta.len() > MAX_FILE_BYTES {
                problems.push(problem(
                    &path,
                    &relative,
                    format!(
                        "file is {} MiB; the limit is {} MiB",
                        meta.len() >> 20,
                        MAX_FILE_BYTES >> 20
                    ),
                    Some("large payloads belong in their own artifact"),
                ));
                continue;
            }
            out.push(TreeEntry {
                path: relative,
                kind: TreeKind::File {
                    size: meta.len(),
                    executable: is_executable(&meta),
                },
            });
        } else {
            problems.push(problem(
                &path,
                &relative,
                "devices, sockets and fifos cannot be packaged".into(),
                Some("remove it from the tree"),
            ));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// Whether a relative link target, resolved lexically from the link's directory, stays in
/// `root`. Absolute targets never do.
fn link_stays_inside(root: &Path, link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let Ok(relative_dir) = link.parent().unwrap_or(root).strip_prefix(root) else {
        return false;
    };
    let mut depth: i64 = relative_dir.components().count() as i64;
    for component in target.components() {
        match component {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// A package written to disk.
#[derive(Debug, Serialize)]
pub struct Package {
    pub path: PathBuf,
    pub file_name: String,
    pub digest: Digest,
    pub size: u64,
    pub files: usize,
    pub index: PackageIndex,
}

/// The file name of a package: `<name>-<version>.tar.gz`.
pub fn package_file_name(manifest: &ExtensionManifest) -> String {
    format!("{}-{}.tar.gz", manifest.name, manifest.version)
}

/// Writes the package of `tree` to `output` (temp file, then rename).
pub fn package(tree: &ExtensionTree, output: &Path) -> io::Result<Package> {
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        package_file_name(&tree.manifest),
        uuid::Uuid::new_v4()
    ));
    let result = write_package(tree, &tmp).and_then(|(digest, size, index)| {
        fs::rename(&tmp, output)?;
        Ok(Package {
            path: output.to_path_buf(),
            file_name: output
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            digest,
            size,
            files: index.files.len(),
            index,
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: crate::oci::Hasher,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A writer that hands 256 KiB chunks to another thread.
struct ChannelWriter {
    buffer: Vec<u8>,
    sender: std::sync::mpsc::SyncSender<Vec<u8>>,
}

const CHUNK: usize = 256 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
            self.sender
                .send(chunk)
                .map_err(|_| io::Error::other("compressor stopped"))?;
        }
        Ok(())
    }
}

/// Tars on this thread while another compresses, like `tar | gzip`.
fn write_package(tree: &ExtensionTree, path: &Path) -> io::Result<(Digest, u64, PackageIndex)> {
    let file = fs::File::create(path)?;
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
    let compressor = std::thread::spawn(move || -> io::Result<(Digest, u64)> {
        let out = HashingWriter {
            inner: io::BufWriter::with_capacity(CHUNK, file),
            hasher: crate::oci::DigestAlgorithm::Sha256.hasher(),
            written: 0,
        };
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(out, flate2::Compression::default());
        for chunk in receiver {
            gz.write_all(&chunk)?;
        }
        let mut out = gz.finish()?;
        out.flush()?;
        out.inner.get_ref().sync_all()?;
        Ok((out.hasher.finish(), out.written))
    });
    let tarred = write_tar(
        tree,
        ChannelWriter {
            buffer: Vec::with_capacity(CHUNK),
            sender,
        },
    );
    let compressed = compressor
        .join()
        .map_err(|_| io::Error::other("the compressor thread panicked"))?;
    let index = tarred?;
    let (digest, size) = compressed?;
    Ok((digest, size, index))
}

fn header(path_kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(path_kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn write_tar<W: Write>(tree: &ExtensionTree, writer: W) -> io::Result<PackageIndex> {
    let mut builder = tar::Builder::new(writer);
    let mut files = Vec::new();
    for entry in &tree.entries {
        match &entry.kind {
            TreeKind::Dir => {
                let mut h = header(tar::EntryType::Directory, 0, 0o755);
                builder.append_data(&mut h, format!("{}/", entry.path), io::empty())?;
            }
            TreeKind::Symlink { target } => {
                let mut h = header(tar::EntryType::Symlink, 0, 0o777);
                builder.append_link(&mut h, &entry.path, target)?;
                files.push(IndexEntry {
                    path: entry.path.clone(),
                    size: 0,
                    mode: "0777".into(),
                    sha256: Digest::sha256_of(target.as_bytes()).hex().to_string(),
                    link: Some(target.clone()),
                });
            }
            TreeKind::File { size, executable } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                let mut h = header(tar::EntryType::Regular, *size, mode);
                let source = fs::File::open(tree.root.join(&entry.path))?;
                let mut hashing = HashingReader {
                    inner: source.take(*size),
                    hasher: crate::oci::DigestAlgorithm::Sha256.hasher(),
                    read: 0,
                };
                builder.append_data(&mut h, &entry.path, &mut hashing)?;
                if hashing.read != *size {
                    return Err(io::Error::other(format!(
                        "{} changed while it was being packaged",
                        entry.path
                    )));
                }
                files.push(IndexEntry {
                    path: entry.path.clone(),
                    size: *size,
                    mode: format!("{mode:04o}"),
                    sha256: hashing.hasher.finish().hex().to_string(),
                    link: None,
                });
            }
        }
    }
    let index = PackageIndex {
        name: tree.manifest.name.clone(),
        version: tree.manifest.version.to_string(),
        kind: tree.manifest.kind.to_string(),
        files,
    };
    let mut json = serde_json::to_vec_pretty(&index).map_err(io::Error::other)?;
    json.push(b'\n');
    let mut h = header(tar::EntryType::Regular, json.len() as u64, 0o644);
    builder.append_data(&mut h, INDEX_FILE, json.as_slice())?;
    let mut writer = builder.into_inner()?;
    writer.flush()?;
    Ok(index)
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hasher: crate::oci::Hasher,
    read: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}
