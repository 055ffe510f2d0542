//! The `provisioning` binary as a user runs it, with its cache, Docker config, data dir and
//! working directory in a temporary home, so no test reads or writes the user's own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::{assert_success, text};

/// A temporary home for the binary: cache, Docker config, data dir and working directory.
pub struct Cli {
    pub home: tempfile::TempDir,
}

impl Default for Cli {
    fn default() -> Self {
        Cli::new()
    }
}

impl Cli {
    pub fn new() -> Cli {
        let home = tempfile::tempdir().unwrap();
        for dir in ["cwd", "docker", "cache", "data"] {
            std::fs::create_dir_all(home.path().join(dir)).unwrap();
        }
        Cli { home }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// The Docker config file the binary reads and writes credentials in.
    pub fn docker_config(&self) -> PathBuf {
        self.path("docker/config.json")
    }

    /// The binary with `args`, its environment pointed at this home.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provisioning"));
        command.args(args);
        self.prepare(&mut command);
        command
    }

    /// The binary run by `sh -c 'umask UMASK; exec BIN ARGS'`.
    pub fn command_with_umask(&self, umask: &str, args: &[&str]) -> Command {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_provisioning"))
            .args(args);
        self.prepare(&mut command);
        command
    }

    /// Points every place the binary keeps state at this home. Only those variables are
    /// changed: whatever else the environment says (CI variables among them) the binary sees.
    fn prepare(&self, command: &mut Command) {
        command
            .current_dir(self.path("cwd"))
            .env("PROVISIONING_CACHE_DIR", self.path("cache"))
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("PROVISIONING_DATA_DIR", self.path("data"))
            .env("REGISTRY_AUTH_FILE", self.path("missing-auth.json"))
            .env_remove("PROVISIONING_WORKSPACE")
            .env_remove("PROVISIONING_LOG")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }

    /// Runs the binary and waits (killed after 300 s).
    pub fn run_sync(&self, args: &[&str]) -> Output {
        wait(self.command(args), &args.join(" "))
    }

    /// Runs the binary on a blocking thread, so an in-process registry keeps serving.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None).await
    }

    /// Like [`Cli::run`] with `stdin` written to the binary (closed when `None`).
    pub async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_command(self.command(args), &args.join(" "), stdin)
            .await
    }

    /// `provisioning oci …` like [`Cli::oci`], with `env` set on top of the environment (as a
    /// CI runner sets `GITHUB_SHA`).
    pub async fn oci_with_env(&self, host: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let all = oci_args(host, args);
        let mut command = self.command(&all);
        command.envs(env.iter().copied());
        self.run_command(command, &all.join(" "), None).await
    }

    /// Runs a prepared command on a blocking thread, `stdin` written to it (closed when
    /// `None`).
    pub async fn run_command(
        &self,
        mut command: Command,
        shown: &str,
        stdin: Option<&str>,
    ) -> Output {
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let input = stdin.map(str::to_string);
        let shown = shown.to_string();
        tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("run provisioning");
            if let Some(input) = input {
                let mut pipe = child.stdin.take().unwrap();
                pipe.write_all(input.as_bytes()).unwrap();
            }
            super::wait_with_deadline(child, &shown, Duration::from_secs(300))
        })
        .await
        .unwrap()
    }

    /// `provisioning oci --registry HOST --namespace ext --plain-http --no-progress ARGS`.
    pub async fn oci(&self, host: &str, args: &[&str]) -> Output {
        self.run(&oci_args(host, args)).await
    }

    /// Like [`Cli::oci`], asserting success; returns stdout.
    pub async fn oci_ok(&self, host: &str, args: &[&str]) -> String {
        let output = self.oci(host, args).await;
        assert_success(&output);
        text(&output.stdout)
    }

    /// Like [`Cli::oci_ok`] with `--output json`.
    pub async fn oci_json(&self, host: &str, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let stdout = self.oci_ok(host, &all).await;
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{} printed no JSON ({e}): {stdout}", args.join(" ")))
    }

    /// `generate extension KIND NAME --dir PARENT`; returns the created directory.
    pub fn scaffold(&self, kind: &str, name: &str, parent: &Path) -> PathBuf {
        let parent_text = parent.to_str().unwrap();
        let args = [
            "generate",
            "extension",
            kind,
            name,
            "--dir",
            parent_text,
            "--output",
            "json",
        ];
        let output = self.run_sync(&args);
        assert_success(&output);
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let dir = PathBuf::from(summary["directory"].as_str().unwrap());
        assert!(dir.join("manifest.yaml").is_file(), "{summary}");
        dir
    }
}

/// The full argument list of an `oci` command against a plain-HTTP registry.
pub fn oci_args<'a>(host: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "oci",
        "--registry",
        host,
        "--namespace",
        "ext",
        "--plain-http",
        "--no-progress",
    ];
    all.extend_from_slice(args);
    all
}

/// Waits for `command`, killing it after 300 s.
pub fn wait(mut command: Command, shown: &str) -> Output {
    let child = command.spawn().expect("run provisioning");
    super::wait_with_deadline(child, shown, Duration::from_secs(300))
}
