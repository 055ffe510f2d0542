//! Running the registry in the background: the pid record a serving registry writes into its
//! storage, and `start`/`stop`/`status` built on it. The storage lock (held by the serving
//! process for its whole life) is the source of truth for "running", and a pid record counts
//! only when the process it names holds that lock: a stale record left by a registry that
//! died, beside a process that serves the storage without writing one (`provisioning demo`),
//! must never get some unrelated process signalled.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::server::LOCK_FILE;
use super::storage::Storage;

/// File in the storage dir describing the serving process.
pub const PID_FILE: &str = "registry.pid";

/// What a serving registry records about itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PidRecord {
    pub pid: u32,
    /// `http://127.0.0.1:5000` or `https://…`.
    pub endpoint: String,
    pub storage: PathBuf,
    pub log_file: Option<PathBuf>,
}

/// What `status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct RegistryStatus {
    pub running: bool,
    pub pid: Option<u32>,
    pub endpoint: Option<String>,
    pub storage: PathBuf,
    pub repositories: usize,
    pub disk_usage_bytes: u64,
    pub log_file: Option<PathBuf>,
}

/// Why `start` or `stop` failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "a registry is already running on storage {storage} (pid {pid}, {endpoint}); stop it with `provisioning oci-registry stop --storage {storage}`"
    )]
    AlreadyRunning {
        storage: PathBuf,
        pid: u32,
        endpoint: String,
    },
    #[error("no registry is running on storage {0}")]
    NotRunning(PathBuf),
    #[error(
        "storage {0} is in use by a process that was not started with `provisioning oci-registry start` (such as `provisioning demo`); stop that process where it runs"
    )]
    NotStarted(PathBuf),
    #[error(
        "the registry (pid {pid}) was killed, but storage {} is still locked {} s later; another process holds it",
        storage.display(),
        waited.as_secs()
    )]
    StillLocked {
        storage: PathBuf,
        pid: u32,
        waited: Duration,
    },
    #[error("the registry did not start{}: {}", exit.map(|c| format!(" (exit code {c})")).unwrap_or_default(), child_error(log))]
    StartFailed { exit: Option<i32>, log: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Writes the pid record atomically.
pub fn write_pid_record(record: &PidRecord) -> io::Result<()> {
    let tmp = record.storage.join(format!("{PID_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(record)?)?;
    std::fs::rename(tmp, record.storage.join(PID_FILE))
}

/// Removes the pid record if it is this process's.
pub fn remove_pid_record(storage: &Path) {
    if read_pid_record(storage).is_some_and(|r| r.pid == std::process::id()) {
        let _ = std::fs::remove_file(storage.join(PID_FILE));
    }
}

fn read_pid_record(storage: &Path) -> Option<PidRecord> {
    let text = std::fs::read(storage.join(PID_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Whether some process holds the storage lock.
fn storage_locked(storage: &Path) -> bool {
    let Ok(file) = File::options()
        .read(true)
        .write(true)
        .open(storage.join(LOCK_FILE))
    else {
        return false;
    };
    file.try_lock().is_err()
}

/// Whether process `pid` has the lock file of `storage` open: `Some(true)` or `Some(false)`
/// where `/proc` can tell, `None` where it cannot (no `/proc`, or another user's process).
fn holds_lock(pid: u32, storage: &Path) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self/fd").is_dir() {
        return None;
    }
    let lock = std::fs::canonicalize(storage.join(LOCK_FILE)).ok()?;
    let fds = match std::fs::read_dir(proc.join(pid.to_string()).join("fd")) {
        Ok(fds) => fds,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(false),
        Err(_) => return None,
    };
    Some(
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == lock)),
    )
}

/// The record of the registry serving `storage`, if one is: the storage is locked and the
/// process the record names is the one holding the lock.
pub fn running(storage: &Path) -> Option<PidRecord> {
    if !storage_locked(storage) {
        return None;
    }
    let record = read_pid_record(storage)?;
    (holds_lock(record.pid, storage) != Some(false)).then_some(record)
}

/// Where `start` notes the storages it started a registry on, one small file each, so that
/// `status` and `stop` without `--storage` find them.
fn started_dir() -> PathBuf {
    crate::paths::data_dir().join("oci-registry-started")
}

fn started_note(storage: &Path) -> PathBuf {
    let digest = crate::oci::Digest::sha256_of(storage.as_os_str().as_encoded_bytes());
    started_dir().join(&digest.hex()[..16])
}

/// Notes that a registry was started on `storage` (an absolute path).
pub fn remember_started(storage: &Path) -> io::Result<()> {
    std::fs::create_dir_all(started_dir())?;
    let note = started_note(storage);
    let temp = note.with_extension("tmp");
    std::fs::write(&temp, storage.as_os_str().as_encoded_bytes())?;
    std::fs::rename(&temp, &note)
}

/// The registries this user started that still run, by storage path; notes of registries that
/// stopped are removed.
pub fn started() -> Vec<PidRecord> {
    let Ok(entries) = std::fs::read_dir(started_dir()) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        match running(Path::new(text.trim_end())) {
            Some(record) => found.push(record),
            None => {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    found.sort_by(|a, b| a.storage.cmp(&b.storage));
    found
}

/// The status of the registry on `storage`. Creates nothing where it is pointed.
pub fn status(storage: &Path) -> io::Result<RegistryStatus> {
    let record = running(storage);
    let (repositories, disk_usage_bytes) = match Storage::open_existing(storage)? {
        Some(s) => (s.repositories()?.len(), s.disk_usage()),
        None => (0, 0),
    };
    Ok(RegistryStatus {
        running: record.is_some(),
        pid: record.as_ref().map(|r| r.pid),
        endpoint: record.as_ref().map(|r| r.endpoint.clone()),
        storage: storage.to_path_buf(),
        repositories,
        disk_usage_bytes,
        log_file: record.and_then(|r| r.log_file),
    })
}

/// Runs `exe serve_args…` detached, with output to `log_file`, and waits until it serves.
pub fn start(
    exe: &Path,
    serve_args: &[String],
    storage: &Path,
    log_file: &Path,
) -> Result<PidRecord, DaemonError> {
    if let Some(r) = running(storage) {
        return Err(DaemonError::AlreadyRunning {
            storage: storage.to_path_buf(),
            pid: r.pid,
            endpoint: r.endpoint,
        });
    }
    // Refused before the log is written into it; `serve` would refuse it anyway.
    super::storage::check_storage_dir(storage)?;
    if let Some(dir) = log_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let log = File::options().create(true).append(true).open(log_file)?;
    let log_start = log.metadata()?.len();
    let mut command = Command::new(exe);
    command
        .args(serve_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    {
        // Its own process group: a Ctrl-C in this terminal must not reach the registry.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(DaemonError::StartFailed {
                exit: status.code(),
                log: read_from(log_file, log_start),
            });
        }
        if let Some(record) = read_pid_record(storage)
            && record.pid == child.id()
        {
            return Ok(record);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DaemonError::StartFailed {
                exit: None,
                log: read_from(log_file, log_start),
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// What the registry process said about its failure: its `error:` report (once, without the
/// log lines before it), else the end of its log.
fn child_error(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    match lines.iter().position(|l| l.starts_with("error: ")) {
        Some(at) => lines[at..].join("\n")["error: ".len()..].to_string(),
        None if log.is_empty() => "it wrote nothing to its log".to_string(),
        None => format!("its log ends with:\n{log}"),
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.read_to_string(&mut text);
    }
    text.trim_end().to_string()
}

/// How `stop` ended.
#[derive(Debug, Serialize)]
pub struct Stopped {
    pub pid: u32,
    /// Whether it had to be killed after not stopping within the grace period.
    pub killed: bool,
}

/// How long `stop` waits for the storage lock to be released after a SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Asks the registry on `storage` to stop (SIGTERM), waits for it, and kills it if it does not
/// stop within `grace`. Signals only a process that holds the storage lock per its pid record,
/// and gives up (with an error) if the lock is still held [`KILL_WAIT`] after the kill.
pub fn stop(storage: &Path, grace: Duration) -> Result<Stopped, DaemonError> {
    let Some(record) = running(storage) else {
        return Err(if storage_locked(storage) {
            DaemonError::NotStarted(storage.to_path_buf())
        } else {
            DaemonError::NotRunning(storage.to_path_buf())
        });
    };
    signal(record.pid, libc::SIGTERM)?;
    if wait_unlocked(storage, Instant::now() + grace) {
        return Ok(Stopped {
            pid: record.pid,
            killed: false,
        });
    }
    // Still the lock holder? Then it is the registry that did not stop; kill it.
    if holds_lock(record.pid, storage) == Some(false) {
        return Err(DaemonError::NotStarted(storage.to_path_buf()));
    }
    signal(record.pid, libc::SIGKILL)?;
    if !wait_unlocked(storage, Instant::now() + KILL_WAIT) {
        return Err(DaemonError::StillLocked {
            storage: storage.to_path_buf(),
            pid: record.pid,
            waited: KILL_WAIT,
        });
    }
    if read_pid_record(storage).is_some_and(|r| r.pid == record.pid) {
        let _ = std::fs::remove_file(storage.join(PID_FILE));
    }
    Ok(Stopped {
        pid: record.pid,
        killed: true,
    })
}

/// Waits until nobody holds the storage lock; false if `deadline` passed first.
fn wait_unlocked(storage: &Path, deadline: Instant) -> bool {
    while storage_locked(storage) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}

fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(err)
        }
    }
}
