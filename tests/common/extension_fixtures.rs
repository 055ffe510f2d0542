//! Helpers for extension tests: the binary run with its cache, Docker config and data dir in
//! temporary directories, sample trees, copies of trees and their contents.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

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

    fn prepare(&self, command: &mut Command) {
        command
            .current_dir(self.path("cwd"))
            .env("PROVISIONING_CACHE_DIR", self.path("cache"))
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("PROVISIONING_DATA_DIR", self.path("data"))
            .env("REGISTRY_AUTH_FILE", self.path("missing-auth.json"))
            .env_remove("PROVISIONING_WORKSPACE")
            .env_remove("PROVISIONING_LOG")
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("PROVISIONING_SOURCE_REVISION")
            .env_remove("GITHUB_SHA")
            .env_remove("CI_COMMIT_SHA")
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
        let command = self.command(args);
        let shown = args.join(" ");
        tokio::task::spawn_blocking(move || wait(command, &shown))
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
        assert_success(&output, args);
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
        assert_success(&output, &args);
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

pub fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "`{}` failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

pub fn assert_failure(output: &Output, args: &[&str]) {
    assert!(
        !output.status.success(),
        "`{}` should have failed:\nstdout: {}\nstderr: {}",
        args.join(" "),
        text(&output.stdout),
        text(&output.stderr)
    );
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The repository's sample extensions (`assets/samples`).
pub fn samples_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples")
}

/// One sample version directory, e.g. `sample("taskservs/kubernetes/1.28.0")`.
pub fn sample(relative: &str) -> PathBuf {
    samples_root().join(relative)
}

/// Every `<type>s/<name>/<version>` directory with a manifest under `root`, sorted.
pub fn sample_version_dirs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for kind in ["providers", "taskservs", "clusters"] {
        for name in sorted_children(&root.join(kind)) {
            for version in sorted_children(&name) {
                if version.join("manifest.yaml").is_file() {
                    found.push(version);
                }
            }
        }
    }
    found.sort();
    found
}

fn sorted_children(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Copies a tree of directories and regular files (`fs::copy` keeps permission bits).
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let target = dst.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        } else {
            panic!(
                "copy_tree: {} is neither file nor dir",
                entry.path().display()
            );
        }
    }
}

/// Regular files under `dir`, relative path → content (empty when `dir` is missing).
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(relative.into_owned(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Every path under `dir` (files, dirs, links), relative and sorted.
pub fn all_paths(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
