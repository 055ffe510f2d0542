//! Running the registry in the background: the pid record a serving registry writes into its
//! storage, and `start`/`stop`/`status` built on it. The storage lock (held by the serving
//! process for its whole life) is the source of truth for "running".

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
        "a registry is already running on storage {storage} (pid {pid}, {endpoint}); stop it with `provisioning oci-registry stop`"
    )]
    AlreadyRunning {
        storage: PathBuf,
        pid: u32,
        endpoint: String,
    },
    #[error("no registry is running on storage {0}")]
    NotRunning(PathBuf),
    #[error("the registry did not start{}:\n{log}", exit.map(|c| format!(" (exit code {c})")).unwrap_or_default())]
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

/// The record of the registry serving `storage`, if one is.
pub fn running(storage: &Path) -> Option<PidRecord> {
    if storage_locked(storage) {
        read_pid_record(storage)
    } else {
        None
    }
}

/// The status of the registry on `storage`.
pub fn status(storage: &Path) -> io::Result<RegistryStatus> {
    let record = running(storage);
    let (repositories, disk_usage_bytes) = if storage.is_dir() {
        let s = Storage::open(storage)?;
        (s.repositories()?.len(), s.disk_usage())
    } else {
        (0, 0)
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

/// Asks the registry on `storage` to stop (SIGTERM), waits for it, and kills it if it does not
/// stop within `grace`.
pub fn stop(storage: &Path, grace: Duration) -> Result<Stopped, DaemonError> {
    let record = running(storage).ok_or_else(|| DaemonError::NotRunning(storage.to_path_buf()))?;
    signal(record.pid, libc::SIGTERM)?;
    let deadline = Instant::now() + grace;
    while storage_locked(storage) {
        if Instant::now() > deadline {
            signal(record.pid, libc::SIGKILL)?;
            while storage_locked(storage) {
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = std::fs::remove_file(storage.join(PID_FILE));
            return Ok(Stopped {
                pid: record.pid,
                killed: true,
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(Stopped {
        pid: record.pid,
        killed: false,
    })
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
