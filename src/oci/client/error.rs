//! Errors of registry access. They name the registry and request, carry the registry's own
//! error code and message, and say what to do; they never contain credentials.

use std::path::PathBuf;

use crate::oci::Digest;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{registry}: {request} failed with {status}{}{}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(), message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Registry {
        registry: String,
        request: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    #[error("{registry}: {what} not found")]
    NotFound { registry: String, what: String },
    #[error("{}", unauthorized_text(registry, detail.as_deref()))]
    Unauthorized {
        registry: String,
        detail: Option<String>,
    },
    #[error("{registry}: access denied to {request}; the credentials in use lack permission")]
    Denied { registry: String, request: String },
    #[error("cannot reach {url}: {reason}{hint}")]
    Unreachable {
        url: String,
        reason: String,
        hint: &'static str,
    },
    #[error(
        "{registry}: {what} has digest {actual}, expected {expected}; the registry served wrong content, so it was discarded"
    )]
    DigestMismatch {
        registry: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "{registry}: the registry does not offer a catalog (GET /v2/_catalog: {status}); list the tags of a known name instead with `provisioning oci tags NAME`"
    )]
    CatalogUnsupported { registry: String, status: u16 },
    #[error("{registry}: {message}")]
    Protocol { registry: String, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Credentials(String),
    #[error("{0}")]
    Config(String),
    #[error("cancelled")]
    Cancelled,
}

/// The start of an `Unauthorized` detail saying credentials were sent and refused.
pub const CREDENTIALS_REFUSED: &str = "the credentials were refused";

/// Refused credentials are said as such (and what to check); a registry that wants credentials
/// it was not given says to log in.
fn unauthorized_text(registry: &str, detail: Option<&str>) -> String {
    match detail {
        Some(d) if d.contains("refused") => format!(
            "{registry}: {d} (authentication required); check the username and password (or \
             token), then log in again with `provisioning oci login {registry}`"
        ),
        Some(d) => format!(
            "{registry}: authentication required ({d}); log in with `provisioning oci login {registry}`"
        ),
        None => format!(
            "{registry}: authentication required; log in with `provisioning oci login {registry}`"
        ),
    }
}

impl OciError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> OciError {
        OciError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether retrying the whole operation may help.
    pub fn is_transient(&self) -> bool {
        match self {
            OciError::Registry { status, .. } => matches!(status, 408 | 429 | 500..=599),
            OciError::Unreachable { .. } => true,
            _ => false,
        }
    }
}

pub type Result<T, E = OciError> = std::result::Result<T, E>;
