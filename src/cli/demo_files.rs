//! The demo's files: its temporary directory (removed when the demo ends, however it ends), the
//! leftovers of demos that could not clean up (swept on the next start), and the signals that end
//! a demo.

use std::path::{Path, PathBuf};

/// The prefix of a demo's temporary directory; the process id follows.
pub const PREFIX: &str = "provisioning-demo-";

/// The temporary directory of the demo run by process `pid`.
pub fn demo_dir(temp: &Path, pid: u32) -> PathBuf {
    temp.join(format!("{PREFIX}{pid}"))
}

/// Whether a process with this id exists (one owned by another user counts as existing).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks the process exists; no memory is involved.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes the directories of demos whose process has ended (killed before they could clean
/// up); a directory whose process still runs is kept. Returns what was removed.
pub fn sweep_stale(temp: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // Only real directories (not symlinks) of ended processes, never this one's.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir || pid == std::process::id() || pid_alive(pid) {
            continue;
        }
        let path = entry.path();
        if std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

/// Which signal ended the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
    Hangup,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "Ctrl-C",
            Stop::Terminate => "SIGTERM",
            Stop::Hangup => "SIGHUP (the terminal closed)",
        }
    }
}

/// The signals that end a demo (Ctrl-C, SIGTERM, SIGHUP), listened to from the moment this is
/// made: from then on they no longer kill the process, [`StopSignals::recv`] reports them.
pub struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Must be called inside a tokio runtime.
    pub fn listen() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Waits for the first of the stop signals.
    pub async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => Stop::Interrupt,
                _ = self.terminate.recv() => Stop::Terminate,
                _ = self.hangup.recv() => Stop::Hangup,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_an_ended_one_is_not() {
        assert!(pid_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }

    #[test]
    fn sweep_removes_only_directories_of_ended_processes() {
        let temp = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = demo_dir(temp.path(), dead);
        let live = demo_dir(temp.path(), std::process::id());
        let other = temp.path().join("provisioning-demo-notapid");
        for dir in [&stale, &live, &other] {
            std::fs::create_dir_all(dir.join("registry")).unwrap();
        }
        assert_eq!(sweep_stale(temp.path()), vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(live.is_dir() && other.is_dir());
    }
}
