//! Docker's `config.json` and containers' `auth.json`: reading them, finding the entry for a
//! registry under any of the keys tools write, and replacing the file atomically and privately.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use super::{Credential, CredentialError, IDENTITY_TOKEN_USERNAME};

/// Where Docker keeps Docker Hub's credentials, whatever alias the user typed.
pub(super) const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Fields of an `auths` entry that hold a secret; replaced together so no stale one survives.
pub(super) const SECRET_FIELDS: [&str; 5] = [
    "auth",
    "username",
    "password",
    "identitytoken",
    "registrytoken",
];

/// Some files write `auth` without its `=` padding; accept both.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
pub(super) fn invalid(path: &Path, what: impl Into<String>) -> CredentialError {
    CredentialError::Invalid {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// The host (and port) of a registry or an `auths` key: scheme and path stripped.
pub(super) fn host_of(key: &str) -> &str {
    let key = key.trim();
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// Docker Hub answers to several names; Docker files its credentials under one.
pub(super) fn canonical_host(host: &str) -> &str {
    const HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    if HUB.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        "docker.io"
    } else {
        host
    }
}

pub(super) fn is_docker_hub(registry: &str) -> bool {
    canonical_host(host_of(registry)) == "docker.io"
}

pub(super) fn same_registry(key: &str, registry: &str) -> bool {
    canonical_host(host_of(key)).eq_ignore_ascii_case(canonical_host(host_of(registry)))
}

/// The server URL helpers are given, as Docker gives it.
pub(super) fn server_url(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB_SERVER.to_string()
    } else {
        host_of(registry).to_string()
    }
}

/// The `auths` key for a new entry, as `docker login` would write it.
pub(super) fn storage_key(registry: &str) -> String {
    server_url(registry)
}

/// Keys of `map` naming `registry`, best first: the exact storage key, then bare hosts, then
/// keys with a scheme, then keys with a path (Podman's per-repository entries).
pub(super) fn matching_keys(map: &Map<String, Value>, registry: &str) -> Vec<String> {
    let exact = storage_key(registry);
    let mut keys: Vec<(u8, &String)> = map
        .keys()
        .filter(|key| same_registry(key, registry))
        .map(|key| {
            let rank = if key.eq_ignore_ascii_case(&exact) {
                0
            } else if key.contains("://") {
                let rest = key.split_once("://").map_or("", |(_, rest)| rest);
                if rest.trim_end_matches('/').contains('/') {
                    3
                } else {
                    2
                }
            } else if key.trim_end_matches('/').contains('/') {
                3
            } else {
                1
            };
            (rank, key)
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, key)| key.clone()).collect()
}

pub(super) fn has_entry(config: &Map<String, Value>, registry: &str) -> bool {
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return false;
    };
    matching_keys(auths, registry).iter().any(|key| {
        auths
            .get(key)
            .and_then(Value::as_object)
            .is_some_and(|entry| {
                SECRET_FIELDS.iter().any(|f| {
                    entry
                        .get(*f)
                        .and_then(Value::as_str)
                        .is_some_and(|v| !v.is_empty())
                })
            })
    })
}

/// The first matching `auths` entry that holds a credential.
pub(super) fn auths_lookup(
    path: &Path,
    config: &Map<String, Value>,
    registry: &str,
) -> Result<Option<Credential>, CredentialError> {
    let Some(auths) = config.get("auths") else {
        return Ok(None);
    };
    let auths = auths
        .as_object()
        .ok_or_else(|| invalid(path, "`auths` is not an object"))?;
    for key in matching_keys(auths, registry) {
        if let Some(credential) = entry_credential(path, &key, &auths[&key])? {
            return Ok(Some(credential));
        }
    }
    Ok(None)
}

/// Reads one `auths` entry. Errors name the field, never its value.
pub(super) fn entry_credential(
    path: &Path,
    key: &str,
    entry: &Value,
) -> Result<Option<Credential>, CredentialError> {
    let entry = entry
        .as_object()
        .ok_or_else(|| invalid(path, format!("`auths.\"{key}\"` is not an object")))?;
    let field = |name: &str| -> Result<Option<String>, CredentialError> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(
                path,
                format!("`auths.\"{key}\".{name}` is not a string"),
            )),
        }
    };
    if let Some(token) = field("registrytoken")? {
        return Ok(Some(Credential::Token(token)));
    }
    if let Some(token) = field("identitytoken")? {
        return Ok(Some(Credential::Basic {
            username: IDENTITY_TOKEN_USERNAME.to_string(),
            password: token,
        }));
    }
    if let Some(auth) = field("auth")? {
        let not_user_pass = || {
            invalid(
                path,
                format!("`auths.\"{key}\".auth` is not base64 of `username:password`"),
            )
        };
        let decoded = LENIENT_BASE64
            .decode(auth.trim())
            .map_err(|_| not_user_pass())?;
        let decoded = String::from_utf8(decoded).map_err(|_| not_user_pass())?;
        let (username, password) = decoded.split_once(':').ok_or_else(not_user_pass)?;
        return Ok(Some(Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    let username = field("username")?;
    let password = field("password")?;
    if username.is_none() && password.is_none() {
        return Ok(None);
    }
    Ok(Some(Credential::Basic {
        username: username.unwrap_or_default(),
        password: password.unwrap_or_default(),
    }))
}

/// A JSON object file; `None` when it does not exist, an empty object when it is blank.
pub(super) fn read_json_object(path: &Path) -> Result<Option<Map<String, Value>>, CredentialError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        CredentialError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
        }
    })?;
    match value {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(invalid(path, "the top level is not a JSON object")),
    }
}

/// Writes `root` to `path` through a 0600 temp file in the same directory and a rename, so a
/// crash leaves the old file or the new one, never half of one, and never a readable secret.
pub(super) fn write_json_atomically(
    path: &Path,
    root: &Map<String, Value>,
) -> Result<(), CredentialError> {
    // A symlinked config (dotfile managers) is written through, as Docker does.
    let target = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).map_err(|source| CredentialError::Write {
                path: path.to_path_buf(),
                source,
            })?
        }
        _ => path.to_path_buf(),
    };
    let write_err = |source| CredentialError::Write {
        path: target.clone(),
        source,
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(write_err)?;

    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(root, &mut serializer)
        .map_err(|e| write_err(io::Error::other(e)))?;
    text.push(b'\n');

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".to_string());
    let temp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        // The umask can only narrow 0600, but an odd one could drop the owner's bits.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&temp, &target)
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(write_err(source));
    }
    Ok(())
}
