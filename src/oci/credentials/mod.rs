//! Registry credentials, read and written where Docker, Podman/skopeo and the workspace keep
//! them, so a `docker login` or `podman login` works here unchanged.
//!
//! Sources, in lookup order: the Docker config's `credHelpers[registry]`, else its
//! `credsStore`, else its `auths` entry (a configured helper that holds nothing ends the Docker
//! config's part: a plaintext entry left behind is stale); the containers `auth.json` `auths`
//! entry; the workspace's token file, for the workspace registry's host alone. Secrets never
//! reach an error, a log line or `Debug` output.
//!
//! - [`docker_config`]: the JSON files (`config.json`, `auth.json`), keys and entries.
//! - [`helpers`]: `docker-credential-*` programs, run with a time limit.
//! - [`token_file`]: the workspace's token file and the host it belongs to.

mod docker_config;
mod helpers;
#[cfg(test)]
mod tests;
mod token_file;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use docker_config::*;
use helpers::{helper_failed, says_not_found};
pub use token_file::TokenFile;
use token_file::{expand_home, home_dir, non_empty_env, read_token_file};

/// The username Docker uses to mark an identity (refresh) token in place of a password.
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// How long a credential helper may take to answer before it is given up on.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

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
        "credential helper `{program} {action}` gave no answer within {} s; run it by hand to see why it hangs (a locked keychain waiting for a password?)",
        timeout.as_secs()
    )]
    HelperTimeout {
        program: String,
        action: &'static str,
        timeout: Duration,
    },
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
    /// Workspace tokens, each for its own host.
    token_files: Vec<TokenFile>,
    helper_dir: Option<PathBuf>,
    helper_timeout: Duration,
}

impl CredentialStore {
    /// `$DOCKER_CONFIG/config.json` else `~/.docker/config.json`; `$REGISTRY_AUTH_FILE` (else
    /// `$XDG_RUNTIME_DIR/containers/auth.json` if it exists); the workspace's token file (a `~/`
    /// prefix expanded).
    pub fn from_env(token_files: impl IntoIterator<Item = TokenFile>) -> CredentialStore {
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
        let mut store = CredentialStore::new(docker_config, auth_json, None);
        store.token_files = token_files
            .into_iter()
            .map(|t| TokenFile {
                path: expand_home(&t.path, home.as_deref()),
                ..t
            })
            .collect();
        store
    }

    /// Explicit paths, for callers that already know them (and for tests).
    pub fn new(
        docker_config: PathBuf,
        auth_json: Option<PathBuf>,
        token_file: Option<TokenFile>,
    ) -> CredentialStore {
        CredentialStore {
            docker_config,
            auth_json,
            token_files: token_file.into_iter().collect(),
            helper_dir: None,
            helper_timeout: HELPER_TIMEOUT,
        }
    }

    /// Gives helpers `timeout` to answer instead of [`HELPER_TIMEOUT`].
    pub fn with_helper_timeout(mut self, timeout: Duration) -> CredentialStore {
        self.helper_timeout = timeout;
        self
    }

    /// The workspace token for `registry`'s host, if there is one.
    fn token_file_for(&self, registry: &str) -> Option<&TokenFile> {
        self.token_files.iter().find(|t| t.serves(registry))
    }

    /// Looks for `docker-credential-*` programs in `dir` before PATH, so a caller (or a test)
    /// can supply helpers without changing the process-wide PATH.
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> CredentialStore {
        self.helper_dir = Some(dir.into());
        self
    }

    /// Lookup order: Docker config `credHelpers[registry]` → `credsStore`, else its `auths`
    /// entry; then auth.json `auths`; then the token file when `registry` is its host.
    /// `registry` is `host[:port]`; entries keyed `https://host[:port]`, `http://…`, `host/v1/`
    /// etc. match too. Helpers run on the calling thread: async callers use `spawn_blocking`.
    pub fn get(
        &self,
        registry: &str,
    ) -> Result<Option<(Credential, CredentialSource)>, CredentialError> {
        if let Some(config) = read_json_object(&self.docker_config)? {
            let helpers = self.helpers(&config, registry)?;
            for helper in &helpers {
                if let Some(credential) = self.helper_get(helper, registry)? {
                    return Ok(Some((
                        credential,
                        CredentialSource::CredentialHelper(helper.program.clone()),
                    )));
                }
            }
            // Docker reads `auths` only where no helper is configured: an entry there beside a
            // helper is what was stored before the helper took over, and is stale.
            if helpers.is_empty()
                && let Some(credential) = auths_lookup(&self.docker_config, &config, registry)?
            {
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
        if let Some(token) = self.token_file_for(registry)
            && let Some(secret) = read_token_file(&token.path)?
        {
            return Ok(Some((
                Credential::Token(secret),
                CredentialSource::TokenFile(token.path.clone()),
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
                let mut helped = false;
                match self.helpers(&config, registry) {
                    Ok(helpers) => {
                        helped = !helpers.is_empty();
                        sources.extend(
                            helpers
                                .into_iter()
                                .map(|h| CredentialSource::CredentialHelper(h.program).to_string()),
                        )
                    }
                    Err(e) => {
                        sources.push(format!("{} (unusable: {e})", self.docker_config.display()))
                    }
                }
                if !helped && has_entry(&config, registry) {
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
        if let Some(token) = self.token_file_for(registry)
            && token.path.is_file()
        {
            sources.push(CredentialSource::TokenFile(token.path.clone()).to_string());
        }
        sources
    }
}
