//! Basic authentication against an htpasswd file of bcrypt entries.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use axum::http::HeaderValue;
use base64::Engine;
use sha2::Digest as _;

/// The realm named in `WWW-Authenticate`.
pub const REALM: &str = "provisioning";

/// Users and their bcrypt hashes.
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// sha256 of `Authorization` values already verified, so bcrypt (slow on purpose) runs once
    /// per credential rather than once per request. Plain secrets are never kept.
    verified: Mutex<HashSet<[u8; 32]>>,
}

/// Why an htpasswd file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: expected `user:$2y$…` (a bcrypt hash, as `htpasswd -B` writes); other hash kinds are not accepted"
    )]
    Entry { path: String, line: usize },
    #[error("{path} has no users; add one with `htpasswd -B {path} USER`")]
    Empty { path: String },
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, hash)) if !user.is_empty() && hash.starts_with("$2") => {
                    users.insert(user.to_string(), hash.to_string());
                }
                _ => {
                    return Err(HtpasswdError::Entry {
                        path: shown,
                        line: i + 1,
                    });
                }
            }
        }
        if users.is_empty() {
            return Err(HtpasswdError::Empty { path: shown });
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Whether an `Authorization` header carries valid credentials.
    pub fn check(&self, header: Option<&HeaderValue>) -> bool {
        let Some(value) = header.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let key: [u8; 32] = sha2::Sha256::digest(value.as_bytes()).into();
        if self.lock().contains(&key) {
            return true;
        }
        let Some(encoded) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let ok = self
            .users
            .get(user)
            .is_some_and(|hash| bcrypt::verify(password, hash).unwrap_or(false));
        if ok {
            let mut verified = self.lock();
            if verified.len() > 1024 {
                verified.clear();
            }
            verified.insert(key);
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}
