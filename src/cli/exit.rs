//! Exit codes: a contract scripts branch on, documented in the README.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (also when stdout is a pipe that closed early, as in `… \| head -1`) |
//! | 1 | the operation failed |
//! | 2 | usage: the command line is wrong (unknown flag, missing argument, malformed reference) |
//! | 3 | not running (no registry runs on that storage), or out of date (`dep … --locked`: the lock would change or a tag moved) |
//! | 4 | not found: the repository, tag or digest does not exist |
//! | 5 | conflict: the version exists with other content (bump it or `--force`) |
//! | 130 | interrupted by Ctrl-C; nothing partial was kept |

use std::fmt;
use std::process::ExitCode;

use color_eyre::Report;

use crate::oci::client::OciError;
use crate::oci::reference::ReferenceError;
use crate::registry::daemon::DaemonError;

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    Usage = 2,
    NotRunning = 3,
    NotFound = 4,
    Conflict = 5,
    Interrupted = 130,
}

impl Exit {
    /// 3 also says "the lock is out of date" for the dependency commands under `--locked`.
    pub const LOCK_OUT_OF_DATE: Exit = Exit::NotRunning;
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error that carries its exit code; its message is what the user reads.
#[derive(Debug)]
pub struct Coded {
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// A report that exits with `exit` and says `message`.
pub fn coded(exit: Exit, message: impl Into<String>) -> Report {
    Report::new(Coded {
        exit,
        message: message.into(),
    })
}

/// A usage error (exit 2): the command line has to change.
pub fn usage(message: impl Into<String>) -> Report {
    coded(Exit::Usage, message)
}

/// A report that exits with `exit` and prints nothing: the command already said why.
pub fn silent(exit: Exit) -> Report {
    coded(exit, "")
}

/// Stdout was closed by its reader: the command ends quietly with 0.
#[derive(Debug)]
pub struct ClosedStdout;

impl fmt::Display for ClosedStdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for ClosedStdout {}

/// Turns a failed write to stdout into a report: a closed pipe becomes [`ClosedStdout`].
pub fn stdout_error(error: std::io::Error) -> Report {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Report::new(ClosedStdout)
    } else {
        Report::new(error).wrap_err("cannot write to stdout")
    }
}

/// Whether the report has nothing to tell the user (see [`silent`]).
pub fn is_silent(report: &Report) -> bool {
    report
        .downcast_ref::<Coded>()
        .is_some_and(|coded| coded.message.is_empty())
}

/// The exit code for a failed command: the first cause in the chain that names one.
pub fn classify(report: &Report) -> Exit {
    for cause in report.chain() {
        if cause.is::<ClosedStdout>() {
            return Exit::Success;
        }
        if let Some(coded) = cause.downcast_ref::<Coded>() {
            return coded.exit;
        }
        if cause.is::<ReferenceError>() {
            return Exit::Usage;
        }
        match cause.downcast_ref::<OciError>() {
            Some(OciError::NotFound { .. }) => return Exit::NotFound,
            Some(OciError::Cancelled) => return Exit::Interrupted,
            _ => {}
        }
        if let Some(DaemonError::NotRunning(_)) = cause.downcast_ref::<DaemonError>() {
            return Exit::NotRunning;
        }
    }
    Exit::Failure
}

/// `println!` that ends the command quietly when stdout is closed, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::cli::exit::stdout_error)?
    }};
}

/// `print!` with the same handling as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err($crate::cli::exit::stdout_error)?
    }};
}

pub(crate) use {out, outln};

#[cfg(test)]
mod tests {
    use super::*;
    use color_eyre::eyre::WrapErr;

    #[test]
    fn codes_follow_the_cause_chain() {
        let not_found: color_eyre::Result<()> = Err(OciError::NotFound {
            registry: "r".into(),
            what: "x".into(),
        }
        .into());
        let wrapped = not_found.wrap_err("cannot pull").unwrap_err();
        assert_eq!(classify(&wrapped), Exit::NotFound);
        assert_eq!(classify(&coded(Exit::Conflict, "c")), Exit::Conflict);
        assert_eq!(
            classify(&stdout_error(std::io::ErrorKind::BrokenPipe.into())),
            Exit::Success
        );
        assert_eq!(
            classify(&stdout_error(std::io::ErrorKind::Other.into())),
            Exit::Failure
        );
        assert_eq!(
            classify(&Report::new(DaemonError::NotRunning("/s".into()))),
            Exit::NotRunning
        );
        assert_eq!(
            classify(&color_eyre::eyre::eyre!("plain failure")),
            Exit::Failure
        );
    }
}
