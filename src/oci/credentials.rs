//! Registry credentials, read and written where Docker, Podman/skopeo and the workspace keep
//! them, so a `docker login` or `podman login` works here unchanged.
//!
//! Sources, in lookup order: the Docker config's `credHelpers[registry]`, its `credsStore`, its
//! `auths` entry; the containers `auth.json` `auths` entry; the workspace's token file.
//! Secrets never reach an error, a log line or `Debug` output.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde_json::{Map, Value};

/// The username Docker uses to mark an identity (refresh) token in place of a password.
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// What a helper prints when it holds nothing for a server; not an error.
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// Where Docker keeps Docker Hub's credentials, whatever alias the user typed.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Fields of an `auths` entry that hold a secret; replaced together so no stale one survives.
const SECRET_FIELDS: [&str; 5] = [
    "auth",
    "username",
    "password",
    "identitytoken",
    "registrytoken",
];

/// Longest helper output quoted in an error; enough for a message, not a dump.
const MAX_QUOTED_OUTPUT: usize = 1000;

/// Some files write `auth` without its `=` padding; accept both.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A secret for one registry. Debug/Display never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// username + password (Basic, and for Bearer token requests).
    Basic { username: String, password: String },
    /// A token sent as `Authorization: Bearer <token>` (workspace `auth_token_path`, or Docker
    /// `registrytoken`).
    Token(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::Token(_) => f.debug_tuple("Token").field(&"<redacted>").finish(),
        }
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } if username == IDENTITY_TOKEN_USERNAME => {
                f.write_str("identity token")
            }
            Credential::Basic { username, .. } => write!(f, "password for `{username}`"),
            Credential::Token(_) => f.write_str("bearer token"),
        }
    }
}

/// Where a credential came from, for `oci config` and messages (never the value).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CredentialSource {
    DockerConfig(PathBuf),
    /// The program name, `docker-credential-<x>`.
    CredentialHelper(String),
    AuthJson(PathBuf),
    TokenFile(PathBuf),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::DockerConfig(p) | CredentialSource::AuthJson(p) => {
                write!(f, "{}", p.display())
            }
            CredentialSource::CredentialHelper(program) => {
                write!(f, "credential helper {program}")
            }
            CredentialSource::TokenFile(p) => write!(f, "token file {}", p.display()),
        }
    }
}

/// Why credentials could not be read or stored. Names the file or helper, never the secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read {}: {source}; check that it is readable", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{}:{line}:{column}: invalid JSON ({message}); fix the file or move it aside",
        path.display()
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {what}; fix or remove that entry", path.display())]
    Invalid { path: PathBuf, what: String },
    #[error("cannot write {}: {source}; check the permissions of its directory", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "credential helper `{program}` (from `{setting}` in {}) was not found on PATH; install it, or remove `{setting}` from that file",
        config.display()
    )]
    HelperNotFound {
        program: String,
        setting: &'static str,
        config: PathBuf,
    },
    #[error("cannot run credential helper `{program}`: {source}; check that it is executable")]
    HelperSpawn { program: String, source: io::Error },
    #[error(
        "credential helper `{program} {action}` failed ({status}): {output}; run it by hand to see why, or remove it from the Docker config"
    )]
    HelperFailed {
        program: String,
        action: &'static str,
        status: String,
        output: String,
    },
    #[error(
        "credential helper `{program} get` printed {what}, not JSON with `ServerURL`, `Username` and `Secret`; check the helper's version"
    )]
    HelperOutput { program: String, what: String },
    #[error(
        "credential helper `{program}` holds usernames and passwords, not bearer tokens; put the token in the workspace's token file, or remove the helper from the Docker config"
    )]
    TokenInHelper { program: String },
    #[error(
        "the username for {registry} contains `:`, which Basic authentication cannot carry; use another username"
    )]
    UsernameWithColon { registry: String },
}

/// Reads and stores registry credentials in the Docker config, credential helpers, the
/// containers `auth.json` and the workspace's token file.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    docker_config: PathBuf,
    auth_json: Option<PathBuf>,
    token_file: Option<PathBuf>,
    helper_dir: Option<PathBuf>,
}

/// A credential helper configured for a registry, and which setting chose it (for messages).
struct Helper {
    program: String,
    setting: &'static str,
}

impl CredentialStore {
    /// `$DOCKER_CONFIG/config.json` else `~/.docker/config.json`; `$REGISTRY_AUTH_FILE` (else
    /// `$XDG_RUNTIME_DIR/containers/auth.json` if it exists); the workspace's token file (a `~/`
    /// prefix expanded).
    pub fn from_env(token_file: Option<PathBuf>) -> CredentialStore {
        let home = home_dir();
        let docker_config = match non_empty_env("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir).join("config.json"),
            None => home
                .clone()
                .unwrap_or_default()
                .join(".docker")
                .join("config.json"),
        };
        let auth_json = non_empty_env("REGISTRY_AUTH_FILE")
            .map(PathBuf::from)
            .or_else(|| {
                let runtime = PathBuf::from(non_empty_env("XDG_RUNTIME_DIR")?);
                let path = runtime.join("containers").join("auth.json");
                path.exists().then_some(path)
            });
        let token_file = token_file.map(|p| expand_home(&p, home.as_deref()));
        CredentialStore::new(docker_config, auth_json, token_file)
    }

    /// Explicit paths, for callers that already know them (and for tests).
    pub fn new(
        docker_config: PathBuf,
        auth_json: Option<PathBuf>,
        token_file: Option<PathBuf>,
    ) -> CredentialStore {
        CredentialStore {
            docker_config,
            auth_json,
            token_file,
            helper_dir: None,
        }
    }

    /// Looks for `docker-credential-*` programs in `dir` before PATH, so a caller (or a test)
    /// can supply helpers without changing the process-wide PATH.
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> CredentialStore {
        self.helper_dir = Some(dir.into());
        self
    }

    /// Lookup order: Docker config `credHelpers[registry]` → `credsStore` → `auths` entry; then
    /// auth.json `auths`; then the token file. `registry` is `host[:port]`; entries keyed
    /// `https://host[:port]`, `http://…`, `host/v1/` etc. match too.
    pub fn get(
        &self,
        registry: &str,
    ) -> Result<Option<(Credential, CredentialSource)>, CredentialError> {
        if let Some(config) = read_json_object(&self.docker_config)? {
            for helper in self.helpers(&config, registry)? {
                if let Some(credential) = self.helper_get(&helper, registry)? {
                    return Ok(Some((
                        credential,
                        CredentialSource::CredentialHelper(helper.program),
                    )));
                }
            }
            if let Some(credential) = auths_lookup(&self.docker_config, &config, registry)? {
                let source = CredentialSource::DockerConfig(self.docker_config.clone());
                return Ok(Some((credential, source)));
            }
        }
        if let Some(path) = &self.auth_json
            && let Some(config) = read_json_object(path)?
            && let Some(credential) = auths_lookup(path, &config, registry)?
        {
            return Ok(Some((credential, CredentialSource::AuthJson(path.clone()))));
        }
        if let Some(path) = &self.token_file
            && let Some(token) = read_token_file(path)?
        {
            return Ok(Some((
                Credential::Token(token),
                CredentialSource::TokenFile(path.clone()),
            )));
        }
        Ok(None)
    }

    /// Stores in the helper configured for this registry (`credHelpers`, else `credsStore`),
    /// else in config.json `auths[registry]`, keeping every other key and entry. Returns where
    /// it went.
    pub fn store(
        &self,
        registry: &str,
        credential: &Credential,
    ) -> Result<CredentialSource, CredentialError> {
        if let Credential::Basic { username, .. } = credential
            && username.contains(':')
        {
            return Err(CredentialError::UsernameWithColon {
                registry: host_of(registry).to_string(),
            });
        }
        let config = read_json_object(&self.docker_config)?;
        let helper = match &config {
            Some(config) => self.helpers(config, registry)?.into_iter().next(),
            None => None,
        };
        if let Some(helper) = helper {
            let Credential::Basic { username, password } = credential else {
                return Err(CredentialError::TokenInHelper {
                    program: helper.program,
                });
            };
            let input = serde_json::json!({
                "ServerURL": server_url(registry),
                "Username": username,
                "Secret": password,
            })
            .to_string();
            let output = self.run_helper(&helper, "store", input.as_bytes())?;
            if !output.status.success() {
                return Err(helper_failed(&helper, "store", &output, &[password]));
            }
            return Ok(CredentialSource::CredentialHelper(helper.program));
        }

        let mut root = config.unwrap_or_default();
        let path = &self.docker_config;
        let auths = root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| invalid(path, "`auths` is not an object"))?;
        let key = matching_keys(auths, registry)
            .into_iter()
            .next()
            .unwrap_or_else(|| storage_key(registry));
        let entry = auths
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| invalid(path, format!("`auths.\"{key}\"` is not an object")))?;
        for field in SECRET_FIELDS {
            entry.remove(field);
        }
        let (field, value) = match credential {
            Credential::Basic { username, password } if username == IDENTITY_TOKEN_USERNAME => {
                ("identitytoken", password.clone())
            }
            Credential::Basic { username, password } => {
                ("auth", STANDARD.encode(format!("{username}:{password}")))
            }
            Credential::Token(token) => ("registrytoken", token.clone()),
        };
        entry.insert(field.to_string(), Value::String(value));
        write_json_atomically(path, &root)?;
        Ok(CredentialSource::DockerConfig(path.clone()))
    }

    /// Removes from the helper (`erase`) and from config.json's matching `auths` entries (same
    /// preservation rules as `store`). `Ok(false)` when there was nothing to remove.
    pub fn erase(&self, registry: &str) -> Result<bool, CredentialError> {
        let Some(mut root) = read_json_object(&self.docker_config)? else {
            return Ok(false);
        };
        let mut removed = false;
        if let Some(helper) = self.helpers(&root, registry)?.into_iter().next() {
            let output = self.run_helper(&helper, "erase", server_url(registry).as_bytes())?;
            if output.status.success() {
                removed = true;
            } else if !says_not_found(&output) {
                return Err(helper_failed(&helper, "erase", &output, &[]));
            }
        }
        let path = &self.docker_config;
        let Some(auths) = root.get_mut("auths") else {
            return Ok(removed);
        };
        let auths = auths
            .as_object_mut()
            .ok_or_else(|| invalid(path, "`auths` is not an object"))?;
        let doomed: Vec<String> = matching_keys(auths, registry)
            .into_iter()
            .filter(|key| {
                auths
                    .get(key)
                    .and_then(Value::as_object)
                    .is_some_and(|entry| SECRET_FIELDS.iter().any(|f| entry.contains_key(*f)))
            })
            .collect();
        if doomed.is_empty() {
            return Ok(removed);
        }
        for key in &doomed {
            auths.remove(key);
        }
        write_json_atomically(path, &root)?;
        Ok(true)
    }

    /// Registries with stored credentials or a helper configured (`auths` and `credHelpers`
    /// of config.json, `auths` of auth.json), as `host[:port]`, sorted; unreadable files count
    /// as empty. Secrets are not read.
    pub fn known_registries(&self) -> Vec<String> {
        let mut hosts = std::collections::BTreeSet::new();
        let files = [Some(&self.docker_config), self.auth_json.as_ref()];
        for path in files.into_iter().flatten() {
            let Ok(Some(root)) = read_json_object(path) else {
                continue;
            };
            for section in ["auths", "credHelpers"] {
                if let Some(map) = root.get(section).and_then(Value::as_object) {
                    hosts.extend(map.keys().map(|k| canonical_host(host_of(k)).to_string()));
                }
            }
        }
        hosts.into_iter().filter(|h| !h.is_empty()).collect()
    }

    /// Where credentials for `registry` would come from, without asking helpers for secrets:
    /// e.g. `["credential helper docker-credential-pass", "/root/.docker/config.json"]`.
    pub fn sources(&self, registry: &str) -> Vec<String> {
        let mut sources = Vec::new();
        match read_json_object(&self.docker_config) {
            Ok(Some(config)) => {
                match self.helpers(&config, registry) {
                    Ok(helpers) => sources.extend(
                        helpers
                            .into_iter()
                            .map(|h| CredentialSource::CredentialHelper(h.program).to_string()),
                    ),
                    Err(e) => {
                        sources.push(format!("{} (unusable: {e})", self.docker_config.display()))
                    }
                }
                if has_entry(&config, registry) {
                    sources.push(self.docker_config.display().to_string());
                }
            }
            Ok(None) => {}
            Err(e) => sources.push(format!("{} (unusable: {e})", self.docker_config.display())),
        }
        if let Some(path) = &self.auth_json {
            match read_json_object(path) {
                Ok(Some(config)) if has_entry(&config, registry) => {
                    sources.push(path.display().to_string())
                }
                Ok(_) => {}
                Err(e) => sources.push(format!("{} (unusable: {e})", path.display())),
            }
        }
        if let Some(path) = &self.token_file
            && path.is_file()
        {
            sources.push(CredentialSource::TokenFile(path.clone()).to_string());
        }
        sources
    }

    /// The helpers to ask for `registry`, in order: its `credHelpers` entry, then `credsStore`.
    fn helpers(
        &self,
        config: &Map<String, Value>,
        registry: &str,
    ) -> Result<Vec<Helper>, CredentialError> {
        let path = &self.docker_config;
        let mut helpers = Vec::new();
        if let Some(per_registry) = config.get("credHelpers") {
            let per_registry = per_registry
                .as_object()
                .ok_or_else(|| invalid(path, "`credHelpers` is not an object"))?;
            if let Some(key) = matching_keys(per_registry, registry).into_iter().next() {
                let name = per_registry[&key].as_str().ok_or_else(|| {
                    invalid(path, format!("`credHelpers.\"{key}\"` is not a string"))
                })?;
                if !name.is_empty() {
                    helpers.push(helper(path, name, "credHelpers")?);
                }
            }
        }
        if let Some(name) = config.get("credsStore") {
            let name = name
                .as_str()
                .ok_or_else(|| invalid(path, "`credsStore` is not a string"))?;
            if !name.is_empty() {
                let store = helper(path, name, "credsStore")?;
                if !helpers.iter().any(|h| h.program == store.program) {
                    helpers.push(store);
                }
            }
        }
        Ok(helpers)
    }

    fn helper_get(
        &self,
        helper: &Helper,
        registry: &str,
    ) -> Result<Option<Credential>, CredentialError> {
        let output = self.run_helper(helper, "get", server_url(registry).as_bytes())?;
        if !output.status.success() {
            if says_not_found(&output) {
                return Ok(None);
            }
            return Err(helper_failed(helper, "get", &output, &[]));
        }
        // Parsed as a Value first: a syntax error never quotes the input, a type error could.
        let bad = |what: &str| CredentialError::HelperOutput {
            program: helper.program.clone(),
            what: what.to_string(),
        };
        let value: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            bad(&format!(
                "invalid JSON (line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        let object = value
            .as_object()
            .ok_or_else(|| bad("JSON that is not an object"))?;
        let secret = match object.get("Secret") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(bad("JSON without a `Secret` string")),
        };
        let username = match object.get("Username") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(_) => return Err(bad("a `Username` that is not a string")),
        };
        if username.is_empty() && secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credential::Basic {
            username,
            password: secret,
        }))
    }

    /// Runs `program action` with `input` on stdin. Helpers come from the helper dir, then PATH.
    fn run_helper(
        &self,
        helper: &Helper,
        action: &'static str,
        input: &[u8],
    ) -> Result<Output, CredentialError> {
        let executable = self
            .helper_dir
            .as_ref()
            .map(|dir| dir.join(&helper.program))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(&helper.program));
        let mut command = Command::new(&executable);
        command
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut attempt = 0;
        let mut child = loop {
            match command.spawn() {
                Ok(child) => break child,
                // A helper just written (installed or updated) can be briefly busy while another
                // thread's fork still holds it open for writing.
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 10 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(10 * attempt));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(CredentialError::HelperNotFound {
                        program: helper.program.clone(),
                        setting: helper.setting,
                        config: self.docker_config.clone(),
                    });
                }
                Err(source) => {
                    return Err(CredentialError::HelperSpawn {
                        program: helper.program.clone(),
                        source,
                    });
                }
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its exit status, not the pipe.
            let _ = stdin.write_all(input);
        }
        child
            .wait_with_output()
            .map_err(|source| CredentialError::HelperSpawn {
                program: helper.program.clone(),
                source,
            })
    }
}

fn helper(config: &Path, name: &str, setting: &'static str) -> Result<Helper, CredentialError> {
    // The name becomes a file name; a path would escape the helper dir and PATH lookup.
    if name.contains('/') || name.contains('\0') {
        return Err(invalid(
            config,
            format!("`{setting}` names `{name}`, which is not a helper name"),
        ));
    }
    Ok(Helper {
        program: format!("docker-credential-{name}"),
        setting,
    })
}

fn says_not_found(output: &Output) -> bool {
    String::from_utf8_lossy(&output.stdout).contains(HELPER_NOT_FOUND)
        || String::from_utf8_lossy(&output.stderr).contains(HELPER_NOT_FOUND)
}

/// A failed helper run, quoting its output with every known secret cut out (a helper may echo
/// its input).
fn helper_failed(
    helper: &Helper,
    action: &'static str,
    output: &Output,
    secrets: &[&str],
) -> CredentialError {
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    if text.is_empty() {
        text = "no output".to_string();
    }
    CredentialError::HelperFailed {
        program: helper.program.clone(),
        action,
        status: output.status.to_string(),
        output: truncate(&redact(&text, secrets), MAX_QUOTED_OUTPUT),
    }
}

/// Replaces each secret, raw and as it appears inside a JSON string, with `<redacted>`, then
/// withholds any line still holding a piece of one: a helper's echo can mangle escapes.
fn redact(text: &str, secrets: &[&str]) -> String {
    let secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    let mut text = text.to_string();
    for secret in &secrets {
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        let escaped = escaped
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or("");
        for form in [*secret, escaped] {
            if !form.is_empty() {
                text = text.replace(form, "<redacted>");
            }
        }
    }
    let pieces: Vec<String> = secrets
        .iter()
        .flat_map(|secret| {
            let chars: Vec<char> = secret.chars().collect();
            let width = chars.len().min(4);
            chars
                .windows(width)
                .map(|w| w.iter().collect::<String>())
                .collect::<Vec<_>>()
        })
        .collect();
    text.lines()
        .map(|line| {
            if pieces.iter().any(|piece| line.contains(piece.as_str())) {
                "<line withheld: it may hold the secret>"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

fn invalid(path: &Path, what: impl Into<String>) -> CredentialError {
    CredentialError::Invalid {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// The host (and port) of a registry or an `auths` key: scheme and path stripped.
fn host_of(key: &str) -> &str {
    let key = key.trim();
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// Docker Hub answers to several names; Docker files its credentials under one.
fn canonical_host(host: &str) -> &str {
    const HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    if HUB.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        "docker.io"
    } else {
        host
    }
}

fn is_docker_hub(registry: &str) -> bool {
    canonical_host(host_of(registry)) == "docker.io"
}

fn same_registry(key: &str, registry: &str) -> bool {
    canonical_host(host_of(key)).eq_ignore_ascii_case(canonical_host(host_of(registry)))
}

/// The server URL helpers are given, as Docker gives it.
fn server_url(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB_SERVER.to_string()
    } else {
        host_of(registry).to_string()
    }
}

/// The `auths` key for a new entry, as `docker login` would write it.
fn storage_key(registry: &str) -> String {
    server_url(registry)
}

/// Keys of `map` naming `registry`, best first: the exact storage key, then bare hosts, then
/// keys with a scheme, then keys with a path (Podman's per-repository entries).
fn matching_keys(map: &Map<String, Value>, registry: &str) -> Vec<String> {
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

fn has_entry(config: &Map<String, Value>, registry: &str) -> bool {
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
fn auths_lookup(
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
fn entry_credential(
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
fn read_json_object(path: &Path) -> Result<Option<Map<String, Value>>, CredentialError> {
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
fn write_json_atomically(path: &Path, root: &Map<String, Value>) -> Result<(), CredentialError> {
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

/// The token file's text, trimmed; `None` when it is missing or blank. Warns when group or
/// others can read it, since the token is as good as a password.
fn read_token_file(path: &Path) -> Result<Option<String>, CredentialError> {
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

fn non_empty_env(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_path_buf())
        .or_else(|| non_empty_env("HOME").map(PathBuf::from))
}

/// `~/x` → `<home>/x`; anything else unchanged.
fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    const FAKE_HELPER: &str = r#"#!/bin/sh
# Keeps one JSON file per server URL under ./store, beside this script.
store="$(dirname "$0")/store"
mkdir -p "$store"
echo "$1" >> "$(dirname "$0")/calls"
case "$1" in
get)
    url=$(cat)
    f="$store/$(printf %s "$url" | tr '/:' '__')"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
store)
    json=$(cat)
    url=$(printf %s "$json" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    printf %s "$json" > "$store/$(printf %s "$url" | tr '/:' '__')"
    ;;
erase)
    url=$(cat)
    f="$store/$(printf %s "$url" | tr '/:' '__')"
    if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
*)
    echo "unknown action $1" >&2
    exit 2
    ;;
esac
"#;

    /// Fails every action, echoing its input to both streams.
    const ECHO_HELPER: &str = "#!/bin/sh\ninput=$(cat)\necho \"failed: $input\" >&2\necho \"keychain is locked\" >&2\necho \"$input\"\nexit 1\n";

    struct Fixture {
        dir: TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                dir: tempfile::tempdir().expect("temp dir"),
            }
        }
        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }
        fn docker_config(&self) -> PathBuf {
            self.path("docker/config.json")
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.path(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write");
            path
        }
        fn write_config(&self, value: Value) {
            self.write("docker/config.json", &value.to_string());
        }
        fn read_config(&self) -> Value {
            serde_json::from_slice(&std::fs::read(self.docker_config()).expect("read config"))
                .expect("config is JSON")
        }
        fn helper(&self, name: &str, script: &str) {
            let path = self.write(&format!("bin/docker-credential-{name}"), script);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        fn calls(&self) -> String {
            std::fs::read_to_string(self.path("bin/calls")).unwrap_or_default()
        }
        fn store(&self) -> CredentialStore {
            CredentialStore::new(self.docker_config(), None, None).with_helper_dir(self.path("bin"))
        }
    }

    fn basic(username: &str, password: &str) -> Credential {
        Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    fn b64(text: &str) -> String {
        STANDARD.encode(text)
    }

    #[test]
    fn known_registries_come_from_auths_and_helpers() {
        let fx = Fixture::new();
        fx.write_config(serde_json::json!({
            "auths": {"https://harbor.example.com": {"auth": b64("u:p")}, "localhost:5000": {}},
            "credHelpers": {"ghcr.io": "pass"},
            "other": true
        }));
        assert_eq!(
            fx.store().known_registries(),
            ["ghcr.io", "harbor.example.com", "localhost:5000"]
        );
    }

    #[test]
    fn debug_and_display_hide_the_secret() {
        let c = basic("alice", "hunter2-secret");
        for text in [format!("{c:?}"), format!("{c}"), format!("{:?}", Some(&c))] {
            assert!(!text.contains("hunter2-secret"), "{text}");
        }
        assert!(format!("{c:?}").contains("alice"));
        let t = Credential::Token("tok-secret-123".to_string());
        assert!(!format!("{t:?}").contains("tok-secret-123"));
        assert!(!format!("{t}").contains("tok-secret-123"));
        let id = basic(IDENTITY_TOKEN_USERNAME, "id-secret");
        assert_eq!(id.to_string(), "identity token");
    }

    #[test]
    fn nothing_configured_is_none() {
        let f = Fixture::new();
        let store = CredentialStore::new(
            f.docker_config(),
            Some(f.path("auth.json")),
            Some(f.path("token")),
        );
        assert!(store.get("reg.example").expect("get").is_none());
        assert!(store.sources("reg.example").is_empty());
        assert!(!store.erase("reg.example").expect("erase"));
    }

    #[test]
    fn auths_auth_field() {
        let f = Fixture::new();
        f.write_config(serde_json::json!({"auths": {"reg.example": {"auth": b64("alice:pa:ss")}}}));
        let (cred, source) = f.store().get("reg.example").expect("get").expect("found");
        assert_eq!(cred, basic("alice", "pa:ss"));
        assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
        assert!(f.store().get("other.example").expect("get").is_none());
    }

    #[test]
    fn auths_auth_without_padding() {
        let f = Fixture::new();
        let auth = b64("bob:pw").trim_end_matches('=').to_string();
        f.write_config(serde_json::json!({"auths": {"reg.example": {"auth": auth}}}));
        let (cred, _) = f.store().get("reg.example").expect("get").expect("found");
        assert_eq!(cred, basic("bob", "pw"));
    }

    #[test]
    fn auths_username_password_fields() {
        let f = Fixture::new();
        f.write_config(
            serde_json::json!({"auths": {"reg.example": {"username": "u", "password": "p"}}}),
        );
        let (cred, _) = f.store().get("reg.example").expect("get").expect("found");
        assert_eq!(cred, basic("u", "p"));
    }

    #[test]
    fn identity_token_is_basic_with_token_username() {
        let f = Fixture::new();
        f.write_config(serde_json::json!({"auths": {"reg.example": {
            "auth": b64("00000000-0000-0000-0000-000000000000:"),
            "identitytoken": "refresh-me"
        }}}));
        let (cred, _) = f.store().get("reg.example").expect("get").expect("found");
        assert_eq!(cred, basic("<token>", "refresh-me"));
    }

    #[test]
    fn registry_token_is_bearer() {
        let f = Fixture::new();
        f.write_config(
            serde_json::json!({"auths": {"reg.example": {"registrytoken": "bearer-x"}}}),
        );
        let (cred, _) = f.store().get("reg.example").expect("get").expect("found");
        assert_eq!(cred, Credential::Token("bearer-x".to_string()));
    }

    #[test]
    fn keys_with_scheme_port_and_path_match() {
        let f = Fixture::new();
        f.write_config(serde_json::json!({"auths": {
            "https://reg.example:5000": {"auth": b64("a:1")},
            "http://plain.example:8080/": {"auth": b64("b:2")},
            "legacy.example/v1/": {"auth": b64("c:3")},
        }}));
        let store = f.store();
        let get = |r: &str| store.get(r).expect("get").map(|(c, _)| c);
        assert_eq!(get("reg.example:5000"), Some(basic("a", "1")));
        assert_eq!(get("https://reg.example:5000/v2/"), Some(basic("a", "1")));
        assert_eq!(
            get("reg.example"),
            None,
            "a different port is another registry"
        );
        assert_eq!(get("reg.example:5001"), None);
        assert_eq!(get("plain.example:8080"), Some(basic("b", "2")));
        assert_eq!(get("legacy.example"), Some(basic("c", "3")));
    }

    #[test]
    fn exact_key_beats_scheme_key_and_empty_entries_are_skipped() {
        let f = Fixture::new();
        f.write_config(serde_json::json!({"auths": {
            "https://reg.example": {"auth": b64("scheme:1")},
            "reg.example": {"auth": b64("exact:2")},
            "https://other.example": {"auth": b64("real:3")},
            "other.example": {},
        }}));
        let store = f.store();
        let (cred, _) = store.get("reg.example").expect("get").expect("found");
        assert_eq!(cred, basic("exact", "2"));
        let (cred, _) = store.get("other.example").expect("get").expect("found");
        assert_eq!(cred, basic("real", "3"));
    }

    #[test]
    fn docker_hub_aliases_share_one_entry() {
        let f = Fixture::new();
        f.write_config(
            serde_json::json!({"auths": {"https://index.docker.io/v1/": {"auth": b64("hub:pw")}}}),
        );
        for registry in ["docker.io", "registry-1.docker.io", "index.docker.io"] {
            let (cred, _) = f.store().get(registry).expect("get").expect(registry);
            assert_eq!(cred, basic("hub", "pw"));
        }
        let f = Fixture::new();
        f.store()
            .store("docker.io", &basic("me", "pw"))
            .expect("store");
        let auths = &f.read_config()["auths"];
        assert!(auths.get(DOCKER_HUB_SERVER).is_some(), "{auths}");
    }

    #[test]
    fn auth_json_after_docker_config() {
        let f = Fixture::new();
        let auth_json = f.write(
            "containers/auth.json",
            &serde_json::json!({"auths": {
                "quay.io": {"auth": b64("podman:pw")},
                "both.example": {"auth": b64("podman:2")},
                "quay.io/org/repo": {"auth": b64("scoped:pw")},
            }})
            .to_string(),
        );
        f.write_config(serde_json::json!({"auths": {"both.example": {"auth": b64("docker:1")}}}));
        let store = CredentialStore::new(f.docker_config(), Some(auth_json.clone()), None);
        let (cred, source) = store.get("quay.io").expect("get").expect("found");
        assert_eq!(cred, basic("podman", "pw"));
        assert_eq!(source, CredentialSource::AuthJson(auth_json.clone()));
        let (cred, source) = store.get("both.example").expect("get").expect("found");
        assert_eq!(cred, basic("docker", "1"));
        assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
        assert_eq!(
            store.sources("quay.io"),
            vec![auth_json.display().to_string()]
        );
    }

    #[test]
    fn token_file_last() {
        let f = Fixture::new();
        let token = f.write("ws/token", "  tok-123\n");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        f.write_config(serde_json::json!({"auths": {"reg.example": {"auth": b64("a:b")}}}));
        let store = CredentialStore::new(f.docker_config(), None, Some(token.clone()));
        let (cred, source) = store.get("other.example").expect("get").expect("found");
        assert_eq!(cred, Credential::Token("tok-123".to_string()));
        assert_eq!(source, CredentialSource::TokenFile(token.clone()));
        let (_, source) = store.get("reg.example").expect("get").expect("found");
        assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
        assert_eq!(
            store.sources("other.example"),
            vec![format!("token file {}", token.display())]
        );
    }

    #[test]
    fn token_file_readable_by_others_still_works_and_blank_is_none() {
        let f = Fixture::new();
        let token = f.write("token", "tok\n");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let store = CredentialStore::new(f.docker_config(), None, Some(token.clone()));
        let (cred, _) = store.get("r").expect("get").expect("found");
        assert_eq!(cred, Credential::Token("tok".to_string()));
        std::fs::write(&token, " \n").expect("write");
        assert!(store.get("r").expect("get").is_none());
    }

    #[test]
    fn home_prefix_expanded() {
        let home = Path::new("/home/me");
        assert_eq!(
            expand_home(Path::new("~/ws/token"), Some(home)),
            PathBuf::from("/home/me/ws/token")
        );
        assert_eq!(
            expand_home(Path::new("/abs/token"), Some(home)),
            PathBuf::from("/abs/token")
        );
        assert_eq!(
            expand_home(Path::new("~other/token"), Some(home)),
            PathBuf::from("~other/token")
        );
        assert_eq!(expand_home(Path::new("~/t"), None), PathBuf::from("~/t"));
    }

    #[test]
    fn store_then_get_round_trips() {
        let f = Fixture::new();
        let store = f.store();
        let credentials = [
            basic("alice", "p@ss:word\"\\"),
            basic(IDENTITY_TOKEN_USERNAME, "refresh"),
            Credential::Token("bearer".to_string()),
        ];
        for credential in credentials {
            let source = store.store("reg.example:5000", &credential).expect("store");
            assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
            let (got, source) = store.get("reg.example:5000").expect("get").expect("found");
            assert_eq!(got, credential);
            assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
            let auths = f.read_config()["auths"].clone();
            assert_eq!(auths.as_object().map(Map::len), Some(1), "{auths}");
        }
    }

    #[test]
    fn store_preserves_everything_else_and_is_private() {
        let f = Fixture::new();
        let original = serde_json::json!({
            "auths": {
                "other.example": {"auth": b64("o:p"), "email": "o@example"},
                "https://reg.example": {"auth": b64("old:old"), "email": "keep@example", "identitytoken": "stale"},
            },
            "credHelpers": {"gcr.io": "gcloud"},
            "psFormat": "table {{.ID}}",
            "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
            "experimental": "enabled",
        });
        f.write_config(original.clone());
        f.store()
            .store("reg.example", &basic("new", "pw"))
            .expect("store");

        let mut expected = original;
        expected["auths"]["https://reg.example"] =
            serde_json::json!({"auth": b64("new:pw"), "email": "keep@example"});
        assert_eq!(f.read_config(), expected);

        let mode = std::fs::metadata(f.docker_config())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(f.path("docker"))
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("config.json")]);
    }

    #[test]
    fn store_creates_private_directory() {
        let f = Fixture::new();
        let config = f.path("new/dir/config.json");
        let store = CredentialStore::new(config.clone(), None, None);
        store.store("reg.example", &basic("u", "p")).expect("store");
        let mode = std::fs::metadata(f.path("new/dir"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let mode = std::fs::metadata(&config)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            store.get("reg.example").expect("get").map(|(c, _)| c),
            Some(basic("u", "p"))
        );
    }

    #[test]
    fn store_writes_through_a_symlink() {
        let f = Fixture::new();
        let real = f.write("dotfiles/docker.json", r#"{"auths":{}}"#);
        std::fs::create_dir_all(f.path("docker")).expect("mkdir");
        std::os::unix::fs::symlink(&real, f.docker_config()).expect("symlink");
        f.store()
            .store("reg.example", &basic("u", "p"))
            .expect("store");
        let meta = std::fs::symlink_metadata(f.docker_config()).expect("meta");
        assert!(meta.file_type().is_symlink());
        let text = std::fs::read_to_string(&real).expect("read");
        assert!(text.contains("reg.example"), "{text}");
    }

    #[test]
    fn store_refuses_username_with_colon() {
        let f = Fixture::new();
        let err = f
            .store()
            .store("reg.example", &basic("a:b", "secret-pw"))
            .expect_err("refused");
        assert!(matches!(err, CredentialError::UsernameWithColon { .. }));
        assert!(!f.docker_config().exists());
    }

    #[test]
    fn erase_from_config() {
        let f = Fixture::new();
        f.write_config(serde_json::json!({
            "auths": {
                "https://reg.example": {"auth": b64("a:1")},
                "reg.example": {"auth": b64("a:2")},
                "other.example": {"auth": b64("b:3")},
            },
            "psFormat": "x",
        }));
        let store = f.store();
        assert!(store.erase("reg.example").expect("erase"));
        assert!(store.get("reg.example").expect("get").is_none());
        assert_eq!(
            f.read_config(),
            serde_json::json!({"auths": {"other.example": {"auth": b64("b:3")}}, "psFormat": "x"})
        );
        assert!(!store.erase("reg.example").expect("erase again"));
        let mode = std::fs::metadata(f.docker_config())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn malformed_config_names_file_and_position() {
        let f = Fixture::new();
        f.write(
            "docker/config.json",
            "{\n  \"auths\": {\n    \"reg\": {\"auth\": \"x\",}\n  }\n}\n",
        );
        let err = f.store().get("reg").expect_err("malformed");
        let CredentialError::Syntax { line, column, .. } = &err else {
            panic!("not a syntax error: {err:?}");
        };
        assert_eq!(*line, 3);
        assert!(*column > 0);
        let text = err.to_string();
        let expected = format!("{}:3:{column}: invalid JSON", f.docker_config().display());
        assert!(text.starts_with(&expected), "{text}");
        assert!(!text.contains("at line"), "{text}");
        // Writes refuse too rather than replacing a file they could not read.
        assert!(f.store().store("reg", &basic("u", "p")).is_err());
        assert!(f.store().sources("reg")[0].contains("invalid JSON"));
    }

    #[test]
    fn bad_entries_name_the_field_not_the_value() {
        let f = Fixture::new();
        f.write_config(
            serde_json::json!({"auths": {"reg.example": {"auth": "!!not-base64-secret!!"}}}),
        );
        let err = f.store().get("reg.example").expect_err("bad auth");
        let text = err.to_string();
        assert!(text.contains("auths.\"reg.example\".auth"), "{text}");
        assert!(
            text.contains(&f.docker_config().display().to_string()),
            "{text}"
        );
        assert!(!text.contains("not-base64-secret"), "{text}");

        f.write_config(serde_json::json!({"auths": {"reg.example": {"password": 12345678}}}));
        let err = f.store().get("reg.example").expect_err("bad type");
        assert!(!format!("{err} {err:?}").contains("12345678"));

        f.write_config(serde_json::json!(["not", "an", "object"]));
        assert!(matches!(
            f.store().get("reg.example"),
            Err(CredentialError::Invalid { .. })
        ));
    }

    #[test]
    fn helper_store_get_erase() {
        let f = Fixture::new();
        f.helper("test", FAKE_HELPER);
        f.write_config(serde_json::json!({"credsStore": "test", "auths": {}}));
        let store = f.store();
        assert!(store.get("reg.example:5000").expect("get").is_none());

        let source = store
            .store("reg.example:5000", &basic("alice", "pw\"1"))
            .expect("store");
        let helper = CredentialSource::CredentialHelper("docker-credential-test".to_string());
        assert_eq!(source, helper);
        let (cred, source) = store.get("reg.example:5000").expect("get").expect("found");
        assert_eq!(cred, basic("alice", "pw\"1"));
        assert_eq!(source, helper);
        assert_eq!(
            f.read_config(),
            serde_json::json!({"credsStore": "test", "auths": {}}),
            "the config file is left alone"
        );
        assert_eq!(
            store.sources("reg.example:5000"),
            vec!["credential helper docker-credential-test".to_string()]
        );

        store
            .store("reg.example:5000", &basic("<token>", "idtok"))
            .expect("store");
        let (cred, _) = store.get("reg.example:5000").expect("get").expect("found");
        assert_eq!(cred, basic("<token>", "idtok"));

        assert!(store.erase("reg.example:5000").expect("erase"));
        assert!(store.get("reg.example:5000").expect("get").is_none());
        assert!(!store.erase("reg.example:5000").expect("erase again"));
        assert!(f.calls().contains("erase"));
    }

    #[test]
    fn cred_helpers_entry_beats_creds_store_and_falls_through() {
        let f = Fixture::new();
        f.helper("test", FAKE_HELPER);
        f.helper("broken", ECHO_HELPER);
        f.write_config(serde_json::json!({
            "credsStore": "broken",
            "credHelpers": {"https://reg.example:5000": "test"},
            "auths": {"plain.example": {"auth": b64("p:q")}},
        }));
        let store = f.store();
        store
            .store("reg.example:5000", &basic("alice", "pw"))
            .expect("store in `test`");
        let (cred, source) = store.get("reg.example:5000").expect("get").expect("found");
        assert_eq!(cred, basic("alice", "pw"));
        assert_eq!(
            source,
            CredentialSource::CredentialHelper("docker-credential-test".to_string())
        );
        assert!(
            store.get("plain.example").is_err(),
            "credsStore `broken` fails"
        );

        // Nothing in the helper: the lookup goes on to `auths`.
        f.write_config(serde_json::json!({
            "credHelpers": {"plain.example": "test"},
            "auths": {"plain.example": {"auth": b64("p:q")}},
        }));
        let (cred, source) = store.get("plain.example").expect("get").expect("found");
        assert_eq!(cred, basic("p", "q"));
        assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
    }

    #[test]
    fn helper_errors_never_show_the_secret() {
        let f = Fixture::new();
        f.helper("echo", ECHO_HELPER);
        f.write_config(serde_json::json!({"credsStore": "echo"}));
        let secret = "s3cr\"et\\pa55";
        let err = f
            .store()
            .store("reg.example", &basic("alice", secret))
            .expect_err("fails");
        let text = format!("{err} {err:?}");
        assert!(
            matches!(err, CredentialError::HelperFailed { .. }),
            "{text}"
        );
        assert!(text.contains("docker-credential-echo"), "{text}");
        assert!(
            text.contains("keychain is locked"),
            "other output is quoted: {text}"
        );
        assert!(text.contains("withheld"), "{text}");
        assert!(!text.contains("s3cr"), "{text}");
        assert!(!text.contains("pa55"), "{text}");

        let err = f.store().get("reg.example").expect_err("fails");
        assert!(
            err.to_string().contains("docker-credential-echo get"),
            "{err}"
        );
    }

    #[test]
    fn redact_cuts_secrets_and_keeps_the_rest() {
        let text = "keychain locked\nsecret is hunter2 here\nmangled hunt\\er2\nbye";
        let out = redact(text, &["hunter2"]);
        assert_eq!(
            out,
            "keychain locked\nsecret is <redacted> here\n<line withheld: it may hold the secret>\nbye"
        );
        assert_eq!(redact("a \"q\\\"x\" b", &["q\"x"]), "a \"<redacted>\" b");
        assert_eq!(redact("plain", &[""]), "plain");
    }

    #[test]
    fn helper_bad_output_is_an_error_without_the_secret() {
        let f = Fixture::new();
        f.helper(
            "odd",
            "#!/bin/sh\ncat >/dev/null\necho '{\"Username\": 7, \"Secret\": \"odd-secret\"}'\n",
        );
        f.write_config(serde_json::json!({"credsStore": "odd"}));
        let err = f.store().get("reg.example").expect_err("bad output");
        let text = format!("{err} {err:?}");
        assert!(
            matches!(err, CredentialError::HelperOutput { .. }),
            "{text}"
        );
        assert!(!text.contains("odd-secret"), "{text}");
    }

    #[test]
    fn missing_helper_says_how_to_fix() {
        let f = Fixture::new();
        f.write_config(serde_json::json!({"credsStore": "surely-not-installed-xyz"}));
        let err = f.store().get("reg.example").expect_err("missing helper");
        let text = err.to_string();
        assert!(
            matches!(err, CredentialError::HelperNotFound { .. }),
            "{text}"
        );
        assert!(
            text.contains("docker-credential-surely-not-installed-xyz"),
            "{text}"
        );
        assert!(text.contains("credsStore"), "{text}");
        assert!(
            text.contains(&f.docker_config().display().to_string()),
            "{text}"
        );
        assert!(text.contains("install it"), "{text}");
    }

    #[test]
    fn helper_names_cannot_be_paths() {
        let f = Fixture::new();
        f.write_config(serde_json::json!({"credHelpers": {"reg.example": "../../bin/sh"}}));
        assert!(matches!(
            f.store().get("reg.example"),
            Err(CredentialError::Invalid { .. })
        ));
    }

    #[test]
    fn tokens_are_not_stored_in_helpers() {
        let f = Fixture::new();
        f.helper("test", FAKE_HELPER);
        f.write_config(serde_json::json!({"credsStore": "test"}));
        let err = f
            .store()
            .store("reg.example", &Credential::Token("tok-secret".to_string()))
            .expect_err("refused");
        assert!(matches!(err, CredentialError::TokenInHelper { .. }));
        assert!(!format!("{err} {err:?}").contains("tok-secret"));
        assert!(!f.calls().contains("store"));
    }

    #[test]
    fn sources_lists_helpers_and_files() {
        let f = Fixture::new();
        f.write_config(serde_json::json!({
            "credsStore": "pass",
            "auths": {"reg.example": {"auth": b64("a:b")}, "empty.example": {}},
        }));
        let store = f.store();
        assert_eq!(
            store.sources("reg.example"),
            vec![
                "credential helper docker-credential-pass".to_string(),
                f.docker_config().display().to_string(),
            ]
        );
        assert_eq!(
            store.sources("empty.example"),
            vec!["credential helper docker-credential-pass".to_string()]
        );
        assert!(!f.calls().contains("get"), "no helper is run");
    }
}
