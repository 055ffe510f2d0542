//! Basic authentication against an htpasswd file of bcrypt entries.
//!
//! bcrypt is slow on purpose, so it runs on blocking threads, a few at a time, and never on the
//! threads that serve requests. A credential verified once is remembered (as a hash), so an
//! authenticated client pays bcrypt once. Unknown users are checked against a dummy hash of the
//! same cost, so timing does not tell which users exist, and a client address that keeps failing
//! is told to back off (429 with `Retry-After`) before any bcrypt runs for it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use base64::Engine;
use sha2::Digest as _;

/// The realm named in `WWW-Authenticate`.
pub const REALM: &str = "provisioning";

/// Failed attempts an address may make before it has to wait.
const FREE_FAILURES: u32 = 5;
/// The longest wait imposed on an address.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Addresses remembered for back-off at most (the oldest waits are forgotten first).
const MAX_TRACKED: usize = 10_000;

/// Users and their bcrypt hashes.
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// Checked when the user is unknown: same cost as the real hashes.
    dummy: String,
    /// sha256 of `Authorization` values already verified, so bcrypt (slow on purpose) runs once
    /// per credential rather than once per request. Plain secrets are never kept.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// Recent failures per client address.
    failures: Mutex<HashMap<IpAddr, Failures>>,
    /// bcrypt checks running at once at most.
    hashing: Arc<tokio::sync::Semaphore>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    /// No check for this address before then.
    until: Instant,
}

/// What a request's credentials amount to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    /// Too many failures from this address: try again after this long.
    Throttled(Duration),
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
        let cost = users
            .values()
            .find_map(|hash| hash.get(4..6)?.parse::<u32>().ok())
            .unwrap_or(bcrypt::DEFAULT_COST);
        let dummy = bcrypt::hash(uuid::Uuid::new_v4().to_string(), cost)
            .unwrap_or_else(|_| users.values().next().cloned().unwrap_or_default());
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Htpasswd {
            users,
            dummy,
            verified: Mutex::new(HashSet::new()),
            failures: Mutex::new(HashMap::new()),
            hashing: Arc::new(tokio::sync::Semaphore::new(threads.clamp(1, 4))),
        })
    }

    /// Whether an `Authorization` header from `client` carries valid credentials.
    pub async fn check(&self, header: Option<&HeaderValue>, client: IpAddr) -> Verdict {
        let Some(value) = header.and_then(|v| v.to_str().ok()) else {
            return Verdict::Denied;
        };
        let key: [u8; 32] = sha2::Sha256::digest(value.as_bytes()).into();
        if lock(&self.verified).contains(&key) {
            return Verdict::Allowed;
        }
        if let Some(wait) = self.backoff(client) {
            return Verdict::Throttled(wait);
        }
        let Some((user, password)) = basic_credentials(value) else {
            self.failed(client);
            return Verdict::Denied;
        };
        let known = self.users.get(&user);
        let hash = known.unwrap_or(&self.dummy).clone();
        let Ok(_permit) = self.hashing.clone().acquire_owned().await else {
            return Verdict::Denied;
        };
        let matches =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if matches && known.is_some() {
            let mut verified = lock(&self.verified);
            if verified.len() > 1024 {
                verified.clear();
            }
            verified.insert(key);
            lock(&self.failures).remove(&client);
            Verdict::Allowed
        } else {
            self.failed(client);
            Verdict::Denied
        }
    }

    /// How long `client` still has to wait, if it must.
    fn backoff(&self, client: IpAddr) -> Option<Duration> {
        let failures = lock(&self.failures).get(&client).copied()?;
        let now = Instant::now();
        (failures.until > now).then(|| failures.until - now)
    }

    /// Records a failure: after a few, each one doubles the wait (up to [`MAX_BACKOFF`]).
    fn failed(&self, client: IpAddr) {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, f| f.until > now);
            if failures.len() >= MAX_TRACKED {
                failures.clear();
            }
        }
        let entry = failures.entry(client).or_insert(Failures {
            count: 0,
            until: now,
        });
        entry.count += 1;
        if entry.count > FREE_FAILURES {
            let doublings = (entry.count - FREE_FAILURES - 1).min(16);
            let wait = (Duration::from_millis(250) * 2u32.pow(doublings)).min(MAX_BACKOFF);
            entry.until = now + wait;
        }
    }
}

/// `user` and `password` of a `Basic` authorization value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
