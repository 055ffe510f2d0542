//! The workspace's token file (`auth_token_path`): a bearer token that belongs to the
//! workspace registry's host and to no other.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::CredentialError;
use super::docker_config::same_registry;

/// A token file and the registry host (`host[:port]`) it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFile {
    pub host: String,
    pub path: PathBuf,
}

impl TokenFile {
    pub fn new(host: impl Into<String>, path: impl Into<PathBuf>) -> TokenFile {
        TokenFile {
            host: host.into(),
            path: path.into(),
        }
    }

    /// Whether this token is for `registry`.
    pub fn serves(&self, registry: &str) -> bool {
        same_registry(&self.host, registry)
    }
}
/// The token file's text, trimmed; `None` when it is missing or blank. Warns when group or
/// others can read it, since the token is as good as a password.
pub(super) fn read_token_file(path: &Path) -> Result<Option<String>, CredentialError> {
    let read_err = |source| CredentialError::Read {
        path: path.to_path_buf(),
        source,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(path = %path.display(), "token file does not exist");
            return Ok(None);
        }
        Err(source) => return Err(read_err(source)),
    };
    let mode = std::fs::metadata(path)
        .map_err(read_err)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "token file is readable by group or others; run `chmod 600` on it"
        );
    }
    let token = text.trim();
    Ok((!token.is_empty()).then(|| token.to_string()))
}

pub(super) fn non_empty_env(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

pub(super) fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_path_buf())
        .or_else(|| non_empty_env("HOME").map(PathBuf::from))
}

/// `~/x` → `<home>/x`; anything else unchanged.
pub(super) fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}
