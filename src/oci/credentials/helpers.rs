//! Docker credential helpers (`docker-credential-<name> get|store|erase`), run with a time
//! limit, their output quoted in errors only with every secret cut out.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::docker_config::{invalid, matching_keys, server_url};
use super::{Credential, CredentialError, CredentialStore};

/// What a helper prints when it holds nothing for a server; not an error.
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// Longest helper output quoted in an error; enough for a message, not a dump.
const MAX_QUOTED_OUTPUT: usize = 1000;

/// A credential helper configured for a registry, and which setting chose it (for messages).
pub(super) struct Helper {
    pub(super) program: String,
    pub(super) setting: &'static str,
}

impl CredentialStore {
    /// The helpers to ask for `registry`, in order: its `credHelpers` entry, then `credsStore`.
    pub(super) fn helpers(
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

    pub(super) fn helper_get(
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
    pub(super) fn run_helper(
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
        let spawn_err = |source| CredentialError::HelperSpawn {
            program: helper.program.clone(),
            source,
        };
        // Read both pipes on threads of their own, so a chatty helper never blocks on a full
        // pipe while we wait for it to exit.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let status = match wait_until(&mut child, Instant::now() + self.helper_timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CredentialError::HelperTimeout {
                    program: helper.program.clone(),
                    action,
                    timeout: self.helper_timeout,
                });
            }
            Err(source) => return Err(spawn_err(source)),
        };
        Ok(Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        })
    }
}

pub(super) fn helper(
    config: &Path,
    name: &str,
    setting: &'static str,
) -> Result<Helper, CredentialError> {
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

pub(super) fn says_not_found(output: &Output) -> bool {
    String::from_utf8_lossy(&output.stdout).contains(HELPER_NOT_FOUND)
        || String::from_utf8_lossy(&output.stderr).contains(HELPER_NOT_FOUND)
}

/// A failed helper run, quoting its output with every known secret cut out (a helper may echo
/// its input).
pub(super) fn helper_failed(
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
pub(super) fn redact(text: &str, secrets: &[&str]) -> String {
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

pub(super) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// The child's exit status, or `None` if it still runs at `deadline`.
fn wait_until(
    child: &mut std::process::Child,
    deadline: Instant,
) -> io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
