//! `provisioning oci-registry start|status|stop|serve|gc` as a user runs them: the real binary,
//! temporary storage and a free loopback port.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, http_client, sha256};
use reqwest::StatusCode;
use serde_json::{Value, json};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A temporary home for one test: data dir, log file and registry storage.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    fn storage_arg(&self) -> String {
        self.storage().display().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provisioning"));
        command
            .args(args)
            .arg("--log-file")
            .arg(self.dir.path().join("cli.log"))
            .env("PROVISIONING_DATA_DIR", self.dir.path().join("data"))
            .env_remove("PROVISIONING_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs the binary; a run that does not end within 60 s is killed and fails the test.
    fn run(&self, args: &[&str]) -> Output {
        let mut child = self.command(args).spawn().expect("run provisioning");
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let output = child.wait_with_output().unwrap();
                panic!(
                    "`provisioning {}` did not finish: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    fn registry(&self, verb: &str, extra: &[&str]) -> Output {
        let storage = self.storage_arg();
        let mut args = vec!["oci-registry", verb, "--storage", &storage];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `start` on `addr`; the guard stops the registry when dropped.
    fn start(&self, addr: &str, extra: &[&str]) -> (Output, Stopper) {
        let mut args = vec!["--addr", addr];
        args.extend_from_slice(extra);
        let stopper = Stopper {
            command: self.command(&["oci-registry", "stop", "--storage", &self.storage_arg()]),
        };
        (self.registry("start", &args), stopper)
    }

    fn status_json(&self) -> Value {
        let output = self.registry("status", &["--output", "json"]);
        assert_success(&output, "status --output json");
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "status JSON: {e}: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    fn gc_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["--output", "json"];
        args.extend_from_slice(extra);
        let output = self.registry("gc", &args);
        assert_success(&output, "gc");
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

/// Runs `oci-registry stop` on drop, so a failed assertion leaves no registry behind.
struct Stopper {
    command: Command,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = self.command.output();
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

fn assert_refused(output: &Output, what: &str) {
    assert!(
        !output.status.success(),
        "{what} succeeded:\nstdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}

/// Whether the process has exited (a zombie waiting for its reaper counts as exited).
fn process_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn blob_file(storage: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    storage.join("blobs/sha256").join(&hex[..2]).join(hex)
}

async fn push_blob(url: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let resp = http_client()
        .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={digest}"))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    digest
}

/// An image pushed as `repo:v1`.
struct Pushed {
    config: String,
    layer: String,
    manifest: Vec<u8>,
}

async fn push_image(url: &str, repo: &str) -> Pushed {
    let config_bytes = br#"{"os":"linux"}"#;
    let layer_bytes = vec![42u8; 10_000];
    let config = push_blob(url, repo, config_bytes).await;
    let layer = push_blob(url, repo, &layer_bytes).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_bytes.len()}],
    }))
    .unwrap();
    let resp = http_client()
        .put(format!("{url}/v2/{repo}/manifests/v1"))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    Pushed {
        config,
        layer,
        manifest,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_status_stop() {
    let env = Env::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let (output, _stopper) = env.start(&addr, &[]);
    assert_success(&output, "start");
    assert!(
        stdout(&output).contains(&format!("Registry started at {url}")),
        "{}",
        stdout(&output)
    );

    let output = env.registry("status", &[]);
    assert_success(&output, "status");
    let text = stdout(&output);
    assert!(text.contains("running (pid "), "{text}");
    assert!(text.contains(&url), "{text}");

    let status = env.status_json();
    assert_eq!(status["running"], true, "{status}");
    let pid = status["pid"].as_u64().expect("pid");
    assert!(!process_gone(pid), "pid {pid} is not a live process");
    assert_eq!(status["endpoint"], url.as_str());
    assert_eq!(status["storage"], env.storage_arg().as_str());
    assert_eq!(status["repositories"], 0);

    let resp = http_client()
        .get(format!("{url}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    push_image(&url, "cli/app").await;
    let status = env.status_json();
    assert_eq!(status["repositories"], 1, "{status}");
    let disk = status["disk_usage_bytes"].as_u64().expect("disk use");
    assert!(disk >= 10_000, "disk use {disk} is less than the layer");

    let output = env.registry("stop", &[]);
    assert_success(&output, "stop");
    assert!(
        stdout(&output).contains(&format!("Registry (pid {pid}) stopped")),
        "{}",
        stdout(&output)
    );
    wait_until("the registry process exits", || process_gone(pid));

    let output = env.registry("status", &[]);
    assert_success(&output, "status");
    assert!(
        stdout(&output).contains("not running"),
        "{}",
        stdout(&output)
    );
    let status = env.status_json();
    assert_eq!(status["running"], false, "{status}");
    assert_eq!(status["pid"], Value::Null);
    assert_eq!(status["endpoint"], Value::Null);
    assert_eq!(
        status["repositories"], 1,
        "the content outlives the process"
    );
    assert!(
        http_client()
            .get(format!("{url}/v2/"))
            .send()
            .await
            .is_err(),
        "something still answers on {url}"
    );

    let output = env.registry("stop", &[]);
    assert_refused(&output, "stop of a stopped registry");
    assert!(
        stderr(&output).contains("no registry is running"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_start_on_the_same_storage_is_refused() {
    let env = Env::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let (output, _stopper) = env.start(&addr, &[]);
    assert_success(&output, "start");
    let pid = env.status_json()["pid"].as_u64().unwrap();

    let other = format!("127.0.0.1:{}", free_port());
    let (output, _second) = env.start(&other, &[]);
    assert_refused(&output, "second start");
    let message = stderr(&output);
    assert!(message.contains("already running"), "{message}");
    assert!(message.contains(&pid.to_string()), "{message}");

    // Serving in the foreground on the same storage is refused as well.
    let output = env.registry("serve", &["--addr", &other]);
    assert_refused(&output, "serve on locked storage");
    assert!(
        stderr(&output).contains("already running"),
        "{}",
        stderr(&output)
    );

    let status = env.status_json();
    assert_eq!(status["pid"].as_u64(), Some(pid), "{status}");
    let resp = http_client()
        .get(format!("http://{addr}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        http_client()
            .get(format!("http://{other}/v2/"))
            .send()
            .await
            .is_err(),
        "a second registry listens on {other}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_on_a_port_in_use_is_refused() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (output, _stopper) = env.start(&addr, &[]);
    assert_refused(&output, "start on a taken port");
    let message = stderr(&output);
    assert!(message.contains(&addr), "{message}");
    assert!(message.to_lowercase().contains("in use"), "{message}");
    assert_eq!(env.status_json()["running"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_interfaces_need_htpasswd_or_allow_anonymous() {
    let env = Env::new();
    let port = free_port();
    let addr = format!("0.0.0.0:{port}");

    let output = env.registry("serve", &["--addr", &addr]);
    assert_refused(&output, "serve on 0.0.0.0 without --htpasswd");
    let message = stderr(&output);
    assert!(message.contains("--htpasswd"), "{message}");
    assert!(message.contains("--allow-anonymous"), "{message}");

    let (output, _refused) = env.start(&addr, &[]);
    assert_refused(&output, "start on 0.0.0.0 without --htpasswd");
    assert!(
        stderr(&output).contains("--htpasswd"),
        "{}",
        stderr(&output)
    );
    assert_eq!(env.status_json()["running"], false);

    let (output, _stopper) = env.start(&addr, &["--allow-anonymous"]);
    assert_success(&output, "start on 0.0.0.0 with --allow-anonymous");
    let resp = http_client()
        .get(format!("http://127.0.0.1:{port}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_only_unreferenced_blobs() {
    let env = Env::new();
    let storage = env.storage();
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let orphan_bytes = b"nobody references me".to_vec();

    let (output, stopper) = env.start(&addr, &[]);
    assert_success(&output, "start");
    let image = push_image(&url, "gc/app").await;
    let orphan = push_blob(&url, "gc/app", &orphan_bytes).await;
    assert_success(&env.registry("stop", &[]), "stop");
    drop(stopper);
    let manifest_digest = sha256(&image.manifest);
    let kept = [&image.config, &image.layer, &manifest_digest];

    let report = env.gc_json(&["--dry-run"]);
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        report["blobs"],
        json!([{"digest": orphan, "size": orphan_bytes.len()}]),
        "{report}"
    );
    assert_eq!(report["bytes_freed"], orphan_bytes.len());
    assert!(blob_file(&storage, &orphan).exists(), "dry run deleted");

    let output = env.registry("gc", &["--dry-run"]);
    assert_success(&output, "gc --dry-run");
    assert!(
        stdout(&output).contains(&format!("Would delete {orphan}")),
        "{}",
        stdout(&output)
    );
    assert!(blob_file(&storage, &orphan).exists(), "dry run deleted");

    let report = env.gc_json(&[]);
    assert_eq!(report["dry_run"], false);
    assert_eq!(
        report["blobs"],
        json!([{"digest": orphan, "size": orphan_bytes.len()}]),
        "{report}"
    );
    assert_eq!(report["repository_links"], 1, "{report}");
    assert!(!blob_file(&storage, &orphan).exists(), "orphan survived gc");
    for digest in kept {
        assert!(blob_file(&storage, digest).exists(), "{digest} was deleted");
    }
    let report = env.gc_json(&[]);
    assert_eq!(report["blobs"], json!([]), "second gc: {report}");

    let (output, _stopper) = env.start(&addr, &[]);
    assert_success(&output, "restart");
    let client = http_client();
    let resp = client
        .get(format!("{url}/v2/gc/app/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), image.manifest);
    for digest in [&image.config, &image.layer] {
        let resp = client
            .get(format!("{url}/v2/gc/app/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{digest}");
    }
    let resp = client
        .get(format!("{url}/v2/gc/app/blobs/{orphan}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_beside_a_running_registry_keeps_fresh_blobs() {
    let env = Env::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}");
    let (output, _stopper) = env.start(&addr, &[]);
    assert_success(&output, "start");
    let orphan = push_blob(&url, "fresh", b"just pushed").await;

    let output = env.registry("gc", &[]);
    assert_success(&output, "gc");
    assert!(
        stdout(&output).contains("younger than 10 minutes were kept"),
        "{}",
        stdout(&output)
    );
    assert!(blob_file(&env.storage(), &orphan).exists());
    let resp = http_client()
        .get(format!("{url}/v2/fresh/blobs/{orphan}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let report = env.gc_json(&["--dry-run", "--min-age", "0"]);
    assert_eq!(report["blobs"][0]["digest"], orphan.as_str(), "{report}");
    assert!(blob_file(&env.storage(), &orphan).exists());
}
