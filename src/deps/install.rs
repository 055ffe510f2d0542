//! Installing a lock into `<workspace>/.provisioning/extensions/<type>s/<name>/`, in
//! topological order. Each extension is unpacked (verified file by file against its
//! `oci-manifest.json`) into a staging directory beside its place, marked with what it is, and
//! swapped in with one atomic rename — so whatever stops the run, even `kill -9`, each
//! extension is either fully old or fully new, and the next run finishes the job. An extension
//! whose installed digest matches the lock is left alone; one that left the lock is removed
//! (only directories this tool installed: they carry the marker).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::graph::DepGraph;
use super::lock::{LockedExtension, Lockfile};
use super::source::DEFAULT_BLOB_CONCURRENCY;
use crate::extension::package::CONTENT_MEDIA_TYPE;
use crate::extension::pull::unpack_verified;
use crate::oci::cache::BlobCache;
use crate::oci::client::{Descriptor, Registries};
use crate::oci::files::UnpackLimits;
use crate::oci::manifest::ManifestView;
use crate::oci::progress::Progress;
use crate::oci::{Digest, Reference};
use crate::workspace::Workspace;

/// Where extensions are installed, relative to the workspace root.
pub const INSTALL_DIR: &str = ".provisioning/extensions";
/// The file in an installed extension that says what it is.
pub const MARKER: &str = ".provisioning-installed.json";
const STAGING_PREFIX: &str = ".staging-";
const OLD_PREFIX: &str = ".old-";

/// What the marker records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledMarker {
    pub name: String,
    pub version: String,
    pub digest: Digest,
}

/// How to install.
#[derive(Clone)]
pub struct InstallOptions {
    pub registries: Registries,
    pub cache: BlobCache,
    /// Content layers downloaded at once [default: 4].
    pub concurrency: Option<usize>,
    /// From the cache only.
    pub offline: bool,
    pub progress: Progress,
    pub cancel: CancellationToken,
}

/// What an install did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct InstallReport {
    /// Installed or replaced, in the order they were.
    pub installed: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{name}: {message}")]
    Extension { name: String, message: String },
    #[error("cancelled; every extension is either as it was or fully installed")]
    Cancelled,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory an extension is installed in.
pub fn install_path(workspace: &Workspace, extension: &LockedExtension) -> PathBuf {
    workspace
        .root
        .join(INSTALL_DIR)
        .join(extension.kind.plural())
        .join(&extension.name)
}

/// What is installed at `dir`, if this tool installed it.
pub fn installed_marker(dir: &Path) -> Option<InstalledMarker> {
    serde_json::from_slice(&fs::read(dir.join(MARKER)).ok()?).ok()
}

/// The lock's extensions, each after what it needs.
pub fn install_order(lock: &Lockfile) -> Vec<&LockedExtension> {
    let nodes: Vec<(String, String, bool)> = lock
        .extensions
        .iter()
        .map(|e| (e.name.clone(), e.version.to_string(), false))
        .collect();
    let edges: Vec<(String, String)> = lock
        .extensions
        .iter()
        .flat_map(|e| e.dependencies.iter().map(|d| (e.name.clone(), d.clone())))
        .collect();
    let order = DepGraph::build(&nodes, &edges)
        .install_order()
        .unwrap_or_else(|| nodes.iter().map(|n| n.0.clone()).collect());
    order
        .iter()
        .filter_map(|name| lock.extension(name))
        .collect()
}

/// Installs what `lock` says into `workspace`.
pub async fn install(
    workspace: &Workspace,
    lock: &Lockfile,
    options: &InstallOptions,
) -> Result<InstallReport, InstallError> {
    let root = workspace.root.join(INSTALL_DIR);
    fs::create_dir_all(&root).map_err(io_error(&root))?;
    // One install at a time per workspace.
    let lock_path = root.join(".lock");
    let guard = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(&lock_path))?;
    guard.lock().map_err(io_error(&lock_path))?;
    sweep(&root);

    let mut report = InstallReport::default();
    let mut todo = Vec::new();
    for extension in install_order(lock) {
        let dir = install_path(workspace, extension);
        match installed_marker(&dir) {
            Some(marker) if marker.digest == extension.digest && marker.name == extension.name => {
                report.unchanged.push(extension.name.clone());
            }
            _ => todo.push(extension),
        }
    }
    // Downloads run concurrently; each extension is committed, in install order, as soon as
    // its own download (and those before it) are done.
    let concurrency = options
        .concurrency
        .unwrap_or(DEFAULT_BLOB_CONCURRENCY)
        .max(1);
    // The futures are made first (they start only when polled): a stream mapped through a
    // closure over references is a type the compiler cannot prove `Send` for, and the
    // workbench runs this on a spawned task.
    let downloads: Vec<_> = todo
        .iter()
        .map(|&e| async move { package_of(e, options).await.map(|p| (e, p)) })
        .collect();
    let mut packages = futures_util::stream::iter(downloads).buffered(concurrency);
    while let Some(next) = packages.next().await {
        let (extension, package) = next?;
        if options.cancel.is_cancelled() {
            return Err(InstallError::Cancelled);
        }
        let dir = install_path(workspace, extension);
        let name = extension.name.clone();
        let extension = extension.clone();
        let cancel = options.cancel.clone();
        tokio::task::spawn_blocking(move || commit(&extension, &package, &dir, &cancel))
            .await
            .map_err(|e| InstallError::Extension {
                name: name.clone(),
                message: format!("stopped: {e}"),
            })??;
        report.installed.push(name);
    }
    drop(packages);
    report.removed = remove_unlocked(&root, lock)?;
    drop(guard);
    Ok(report)
}

/// The package of an extension in the cache: its content layer, downloaded if missing.
async fn package_of(
    extension: &LockedExtension,
    options: &InstallOptions,
) -> Result<PathBuf, InstallError> {
    let fail = |message: String| InstallError::Extension {
        name: extension.name.clone(),
        message,
    };
    let cache = &options.cache;
    let Some(reference) = &extension.reference else {
        // A local module was packaged into the cache when it was resolved.
        let path = cache.blob_path(&extension.digest);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(fail(format!(
                "its package ({}) is not in the cache; run `provisioning dep resolve` again",
                extension.digest
            )))
        };
    };
    let reference: Reference = Reference::parse(reference, &Default::default())
        .map_err(|e| fail(format!("the lock's reference does not parse: {e}")))?
        .with_digest(extension.digest.clone());
    let client = options.registries.client(&reference.registry);
    let manifest = match cache.read(&extension.digest) {
        Some(bytes) => bytes,
        None if options.offline => {
            return Err(fail(format!(
                "the manifest {} is not in the cache; run without --offline",
                extension.digest
            )));
        }
        None => {
            crate::oci::pull::resolve_manifest(cache, &client, &reference)
                .await
                .map_err(|e| fail(e.to_string()))?
                .bytes
        }
    };
    let view = ManifestView::parse(&manifest, crate::oci::media_type::OCI_MANIFEST)
        .map_err(|e| fail(format!("its manifest is not valid JSON: {e}")))?;
    let layer: Descriptor = view
        .layers
        .iter()
        .find(|l| l.media_type == CONTENT_MEDIA_TYPE)
        .cloned()
        .ok_or_else(|| fail(format!("{reference} has no extension content layer")))?;
    if options.offline {
        return if cache.verified(&layer.digest, layer.size) {
            Ok(cache.blob_path(&layer.digest))
        } else {
            Err(fail(format!(
                "its content {} is not in the cache; run without --offline",
                layer.digest
            )))
        };
    }
    tokio::select! {
        fetched = cache.fetch(&client, &reference.repository, &layer, &options.progress) => fetched.map_err(|e| fail(e.to_string())),
        () = options.cancel.cancelled() => Err(InstallError::Cancelled),
    }
}

/// Unpacks into a staging directory beside `dir`, marks it, and swaps it in.
fn commit(
    extension: &LockedExtension,
    package: &Path,
    dir: &Path,
    cancel: &CancellationToken,
) -> Result<(), InstallError> {
    let parent = dir.parent().expect("install paths have a parent");
    fs::create_dir_all(parent).map_err(io_error(parent))?;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let staging = parent.join(format!("{STAGING_PREFIX}{}-{unique}", extension.name));
    let reference = Reference::parse(
        extension
            .reference
            .as_deref()
            .unwrap_or(&format!("local/{}:{}", extension.name, extension.version)),
        &Default::default(),
    )
    .unwrap_or_else(|_| Reference {
        registry: "local".into(),
        repository: extension.name.clone(),
        tag: Some(extension.version.to_string()),
        digest: None,
    });
    let result = (|| {
        let index = unpack_verified(
            &reference,
            package,
            &staging,
            UnpackLimits::default(),
            false,
            cancel,
        )
        .map_err(|e| InstallError::Extension {
            name: extension.name.clone(),
            message: e.to_string(),
        })?;
        if index.name != extension.name || index.version != extension.version.to_string() {
            return Err(InstallError::Extension {
                name: extension.name.clone(),
                message: format!(
                    "its package holds {} {}, not {} {}",
                    index.name, index.version, extension.name, extension.version
                ),
            });
        }
        let marker = InstalledMarker {
            name: extension.name.clone(),
            version: extension.version.to_string(),
            digest: extension.digest.clone(),
        };
        let marker_path = staging.join(MARKER);
        let mut file = fs::File::create(&marker_path).map_err(io_error(&marker_path))?;
        file.write_all(&serde_json::to_vec_pretty(&marker).expect("markers serialize"))
            .and_then(|()| file.sync_all())
            .map_err(io_error(&marker_path))?;
        if cancel.is_cancelled() {
            return Err(InstallError::Cancelled);
        }
        swap_in(&staging, dir)
    })();
    // The staging directory holds either nothing of value or, after a swap, the old content.
    let _ = fs::remove_dir_all(&staging);
    result
}

/// Puts `staging` at `dir` in one step: exchanged with the old directory where the system can
/// (Linux), else renamed over an empty place.
fn swap_in(staging: &Path, dir: &Path) -> Result<(), InstallError> {
    if !dir.exists() {
        fs::rename(staging, dir).map_err(io_error(dir))?;
    } else {
        exchange(staging, dir)?;
    }
    if let Some(parent) = dir.parent()
        && let Ok(d) = fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn exchange(a: &Path, b: &Path) -> Result<(), InstallError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|e| io_error(p)(io::Error::other(e)))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io_error(b)(io::Error::last_os_error()))
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn exchange(a: &Path, b: &Path) -> Result<(), InstallError> {
    // Without an atomic exchange: the old directory steps aside, the new one takes its place.
    let parent = b.parent().expect("install paths have a parent");
    let name = b
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = parent.join(format!(
        "{OLD_PREFIX}{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    fs::rename(b, &aside).map_err(io_error(b))?;
    fs::rename(a, b).map_err(io_error(b))?;
    fs::rename(&aside, a).map_err(io_error(a))
}

/// Removes what killed runs left: staging directories and directories stepped aside.
fn sweep(root: &Path) {
    let Ok(kinds) = fs::read_dir(root) else {
        return;
    };
    for kind in kinds.flatten().filter(|k| k.path().is_dir()) {
        let Ok(entries) = fs::read_dir(kind.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(STAGING_PREFIX) || name.starts_with(OLD_PREFIX) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Removes installed extensions (with the marker) that the lock no longer lists.
fn remove_unlocked(root: &Path, lock: &Lockfile) -> Result<Vec<String>, InstallError> {
    let wanted: BTreeMap<(String, String), ()> = lock
        .extensions
        .iter()
        .map(|e| ((e.kind.plural().to_string(), e.name.clone()), ()))
        .collect();
    let mut removed = Vec::new();
    let Ok(kinds) = fs::read_dir(root) else {
        return Ok(removed);
    };
    for kind in kinds.flatten().filter(|k| k.path().is_dir()) {
        let plural = kind.file_name().to_string_lossy().into_owned();
        let Ok(entries) = fs::read_dir(kind.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || wanted.contains_key(&(plural.clone(), name.clone())) {
                continue;
            }
            let dir = entry.path();
            if installed_marker(&dir).is_none() {
                continue;
            }
            // Step aside first, so the name disappears at once; then delete.
            let aside = kind.path().join(format!(
                "{OLD_PREFIX}{name}-{}",
                uuid::Uuid::new_v4().simple()
            ));
            fs::rename(&dir, &aside).map_err(io_error(&dir))?;
            fs::remove_dir_all(&aside).map_err(io_error(&aside))?;
            removed.push(name);
        }
    }
    removed.sort();
    Ok(removed)
}
