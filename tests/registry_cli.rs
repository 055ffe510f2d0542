//! `provisioning oci-registry start|status|stop|serve|gc` as a user runs them: the real binary,
//! temporary storage and a free loopback port.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::cli::Cli;
use common::oci_fixtures::{PASSWORD, USER, write_htpasswd};
use common::registry_http::{Image, RegistryHttp, client_trusting, header};
use common::{assert_failure, assert_success, exit, free_port, http_client, make_pki, sha256};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Ports tried by [`Env::start_fresh`] before giving up when others keep taking them.
const ATTEMPTS: usize = 5;

/// A temporary home for one test (see [`Cli`]): registry storage and log file inside it.
struct Env {
    cli: Cli,
}

impl Env {
    fn new() -> Env {
        Env { cli: Cli::new() }
    }

    fn dir(&self) -> &Path {
        self.cli.home.path()
    }

    fn storage(&self) -> PathBuf {
        self.cli.path("storage")
    }

    fn storage_arg(&self) -> String {
        self.storage().display().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.cli.command(args);
        command.arg("--log-file").arg(self.cli.path("cli.log"));
        command
    }

    /// Runs the binary; a run that does not end within 60 s is killed and fails the test.
    fn run(&self, args: &[&str]) -> Output {
        let child = self.command(args).spawn().expect("run provisioning");
        common::wait_with_deadline(
            child,
            &format!("provisioning {}", args.join(" ")),
            Duration::from_secs(60),
        )
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

    /// A successful `start` on a free port of `ip`. A port found free can be taken by a
    /// parallel test before the registry binds it; then it tries another.
    fn start_fresh(&self, ip: &str, extra: &[&str]) -> Started {
        let mut refusals = Vec::new();
        for _ in 0..ATTEMPTS {
            let port = free_port();
            let (output, stopper) = self.start(&format!("{ip}:{port}"), extra);
            if output.status.success() {
                return Started {
                    port,
                    output,
                    _stopper: stopper,
                };
            }
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            if !stderr.contains("in use") {
                assert_success(&output);
            }
            refusals.push(stderr);
        }
        panic!(
            "no free port in {ATTEMPTS} attempts:\n{}",
            refusals.join("\n")
        );
    }

    /// `status --output json`: exit code 0 while a registry runs, 3 when none does.
    fn status_json(&self) -> Value {
        let output = self.registry("status", &["--output", "json"]);
        let status: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "status JSON: {e}:\nstdout: {}\nstderr: {}",
                stdout(&output),
                stderr(&output)
            )
        });
        if status["running"] == true {
            assert_success(&output);
        } else {
            assert_failure(&output, exit::NOT_RUNNING, "");
        }
        status
    }

    fn gc_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["--output", "json"];
        args.extend_from_slice(extra);
        let output = self.registry("gc", &args);
        assert_success(&output);
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Processes serving this storage (`oci-registry serve --storage <ours>`), zombies aside.
    fn serving_processes(&self) -> Vec<u64> {
        let storage = self.storage_arg();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u64>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let serves = args
                .windows(2)
                .any(|w| w[0] == b"oci-registry" && w[1] == b"serve");
            let ours = args
                .windows(2)
                .any(|w| w[0] == b"--storage" && w[1] == storage.as_bytes());
            if serves && ours && !process_gone(pid) {
                pids.push(pid);
            }
        }
        pids
    }
}

/// A registry started by [`Env::start_fresh`].
struct Started {
    port: u16,
    output: Output,
    _stopper: Stopper,
}

impl Started {
    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
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

/// The image these tests push: a small config and a 10 000-byte layer.
fn cli_image() -> Image {
    Image::of(br#"{"os":"linux"}"#.to_vec(), vec![vec![42u8; 10_000]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_status_stop() {
    let env = Env::new();
    let started = env.start_fresh("127.0.0.1", &[]);
    let url = started.url("http");
    assert!(
        stdout(&started.output).contains(&format!("Registry started at {url}")),
        "{}",
        stdout(&started.output)
    );

    let output = env.registry("status", &[]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("running (pid "), "{text}");
    assert!(text.contains(&url), "{text}");

    let status = env.status_json();
    assert_eq!(status["running"], true, "{status}");
    let pid = status["pid"].as_u64().expect("pid");
    assert!(!process_gone(pid), "pid {pid} is not a live process");
    assert_eq!(env.serving_processes(), [pid]);
    assert_eq!(status["endpoint"], url.as_str());
    assert_eq!(status["storage"], env.storage_arg().as_str());
    assert_eq!(status["repositories"], 0);

    let registry = RegistryHttp::new(&url);
    assert_eq!(registry.get("/v2/").await.status(), StatusCode::OK);
    let image = cli_image();
    registry.push_image("cli/app", "v1", &image).await;
    let status = env.status_json();
    assert_eq!(status["repositories"], 1, "{status}");
    let disk = status["disk_usage_bytes"].as_u64().expect("disk use");
    assert!(disk >= 10_000, "disk use {disk} is less than the layer");

    let output = env.registry("stop", &[]);
    assert_success(&output);
    assert!(
        stdout(&output).contains(&format!("Registry (pid {pid}) stopped")),
        "{}",
        stdout(&output)
    );
    wait_until("the registry process exits", || process_gone(pid));
    assert_eq!(env.serving_processes(), Vec::<u64>::new());

    let output = env.registry("status", &[]);
    assert_failure(&output, exit::NOT_RUNNING, "");
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
    // The port is free for anyone now, so a parallel test may listen there; whatever does
    // must not be serving this storage.
    let manifest_url = format!("{url}/v2/cli/app/manifests/v1");
    match http_client().get(&manifest_url).send().await {
        Err(e) => assert!(e.is_connect(), "{manifest_url}: {e:?}"),
        Ok(resp) => {
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            assert!(
                body != image.manifest,
                "{manifest_url} still serves the stopped registry's manifest ({status})"
            );
        }
    }

    let output = env.registry("stop", &[]);
    assert_failure(&output, exit::NOT_RUNNING, "no registry is running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_start_on_the_same_storage_is_refused() {
    let env = Env::new();
    let started = env.start_fresh("127.0.0.1", &[]);
    let pid = env.status_json()["pid"].as_u64().unwrap();

    // Storage is checked before the address, so any port shows the refusal.
    let other = format!("127.0.0.1:{}", free_port());
    let (output, _second) = env.start(&other, &[]);
    assert_failure(&output, exit::FAILURE, "already running");
    assert!(
        stderr(&output).contains(&pid.to_string()),
        "{}",
        stderr(&output)
    );

    // Serving in the foreground on the same storage is refused as well.
    let output = env.registry("serve", &["--addr", &other]);
    assert_failure(&output, exit::FAILURE, "in use by another registry");

    let status = env.status_json();
    assert_eq!(status["pid"].as_u64(), Some(pid), "{status}");
    assert_eq!(
        env.serving_processes(),
        [pid],
        "a second registry serves the storage"
    );
    let resp = http_client()
        .get(format!("{}/v2/", started.url("http")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_on_a_port_in_use_is_refused() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (output, _stopper) = env.start(&addr, &[]);
    assert_failure(&output, exit::FAILURE, &addr);
    assert_eq!(
        stderr(&output).matches("Address already in use").count(),
        1,
        "said once:\n{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("--addr"), "{}", stderr(&output));
    assert_eq!(env.status_json()["running"], false);
    assert_eq!(env.serving_processes(), Vec::<u64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_interfaces_need_htpasswd_or_allow_anonymous() {
    let env = Env::new();
    // Refused before binding, so the port needs no guarding.
    let addr = format!("0.0.0.0:{}", free_port());

    let output = env.registry("serve", &["--addr", &addr]);
    assert_failure(&output, exit::USAGE, "--htpasswd");
    assert!(
        stderr(&output).contains("--allow-anonymous"),
        "{}",
        stderr(&output)
    );

    let (output, _refused) = env.start(&addr, &[]);
    assert_failure(&output, exit::USAGE, "--htpasswd");
    assert_eq!(env.status_json()["running"], false);

    let started = env.start_fresh("0.0.0.0", &["--allow-anonymous"]);
    let resp = http_client()
        .get(format!("{}/v2/", started.url("http")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_htpasswd_wants_credentials() {
    let env = Env::new();
    let htpasswd = write_htpasswd(env.dir());
    let started = env.start_fresh(
        "127.0.0.1",
        &["--htpasswd", &htpasswd.display().to_string()],
    );
    let url = started.url("http");
    assert_eq!(env.status_json()["endpoint"], url.as_str());

    let anonymous = RegistryHttp::new(&url);
    for path in ["/v2/", "/v2/_catalog", "/v2/private/app/tags/list"] {
        let resp = anonymous.get(path).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = header(&resp, "www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Basic realm="),
            "{path}: {challenge:?}"
        );
    }
    let wrong = RegistryHttp::new(&url).basic_auth(USER, "not the password");
    assert_eq!(wrong.get("/v2/").await.status(), StatusCode::UNAUTHORIZED);

    let user = RegistryHttp::new(&url).basic_auth(USER, PASSWORD);
    assert_eq!(user.get("/v2/").await.status(), StatusCode::OK);
    let image = cli_image();
    user.push_image("private/app", "v1", &image).await;
    let resp = user.get("/v2/private/app/manifests/v1").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), image.manifest);
    let resp = anonymous.get("/v2/private/app/manifests/v1").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    assert_success(&env.registry("stop", &[]));
    assert_eq!(env.status_json()["running"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_tls_serves_https_with_the_given_certificate() {
    let env = Env::new();
    let pki = make_pki(env.dir());
    let cert = pki.cert.display().to_string();
    let key = pki.key.display().to_string();
    let started = env.start_fresh("127.0.0.1", &["--tls-cert", &cert, "--tls-key", &key]);
    let url = started.url("https");
    assert!(
        stdout(&started.output).contains(&format!("Registry started at {url}")),
        "{}",
        stdout(&started.output)
    );
    assert_eq!(env.status_json()["endpoint"], url.as_str());

    let registry = RegistryHttp::with_client(&url, client_trusting(&pki.ca_pem(), None));
    let resp = registry.get("/v2/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let image = cli_image();
    registry.push_image("secure/app", "v1", &image).await;
    let resp = registry.get("/v2/secure/app/manifests/v1").await;
    assert_eq!(resp.bytes().await.unwrap(), image.manifest);

    // Only the test CA vouches for the certificate.
    let other_dir = env.dir().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = make_pki(&other_dir);
    let error = client_trusting(&other.ca_pem(), None)
        .get(format!("{url}/v2/"))
        .send()
        .await
        .expect_err("a certificate of another CA was accepted");
    assert!(
        format!("{error:?}").contains("InvalidCertificate"),
        "not a certificate error: {error:?}"
    );
    // And the port speaks no plain HTTP.
    let plain = format!("{}/v2/", started.url("http"));
    let error = http_client()
        .get(&plain)
        .send()
        .await
        .expect_err("plain HTTP was answered on the TLS port");
    assert!(!error.is_connect(), "{error:?}");

    assert_success(&env.registry("stop", &[]));
    assert_eq!(env.status_json()["running"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cert_without_key_is_a_usage_error() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let addr = format!("127.0.0.1:{}", free_port());
    let (output, _stopper) = env.start(&addr, &["--tls-cert", &pki.cert.display().to_string()]);
    assert_failure(&output, exit::USAGE, "--tls-key");
    let output = env.registry(
        "serve",
        &["--addr", &addr, "--tls-key", &pki.key.display().to_string()],
    );
    assert_failure(&output, exit::USAGE, "--tls-cert");
    assert_eq!(env.serving_processes(), Vec::<u64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_only_unreferenced_blobs() {
    let env = Env::new();
    let storage = env.storage();
    let orphan_bytes = b"nobody references me".to_vec();
    let image = cli_image();

    let started = env.start_fresh("127.0.0.1", &[]);
    let registry = RegistryHttp::new(&started.url("http"));
    registry.push_image("gc/app", "v1", &image).await;
    let orphan = registry.push_blob("gc/app", &orphan_bytes).await;
    assert_success(&env.registry("stop", &[]));
    drop(started);
    let config = sha256(&image.config);
    let layer = sha256(&image.layers[0]);
    let kept = [&config, &layer, &image.digest];

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
    assert_success(&output);
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

    // Restarted (on whatever port is free now), the registry serves what gc kept.
    let started = env.start_fresh("127.0.0.1", &[]);
    let registry = RegistryHttp::new(&started.url("http"));
    let resp = registry.get("/v2/gc/app/manifests/v1").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), image.manifest);
    for digest in [&config, &layer] {
        let resp = registry.get(&format!("/v2/gc/app/blobs/{digest}")).await;
        assert_eq!(resp.status(), StatusCode::OK, "{digest}");
    }
    let resp = registry.get(&format!("/v2/gc/app/blobs/{orphan}")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_beside_a_running_registry_is_refused_and_a_dry_run_keeps_fresh_blobs() {
    let env = Env::new();
    let started = env.start_fresh("127.0.0.1", &[]);
    let registry = RegistryHttp::new(&started.url("http"));
    let orphan = registry.push_blob("fresh", b"just pushed").await;
    let pid = env.status_json()["pid"].as_u64().unwrap();

    let output = env.registry("gc", &[]);
    assert_failure(
        &output,
        exit::FAILURE,
        "gc does not run beside a live registry",
    );
    assert!(
        stderr(&output).contains(&pid.to_string()),
        "{}",
        stderr(&output)
    );
    assert!(blob_file(&env.storage(), &orphan).exists());

    let output = env.registry("gc", &["--dry-run"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("younger than 10 minutes were kept"),
        "{}",
        stdout(&output)
    );
    assert!(!stdout(&output).contains(&orphan), "{}", stdout(&output));

    let report = env.gc_json(&["--dry-run", "--min-age", "0"]);
    assert_eq!(report["blobs"][0]["digest"], orphan.as_str(), "{report}");
    assert!(blob_file(&env.storage(), &orphan).exists());
    let resp = registry.get(&format!("/v2/fresh/blobs/{orphan}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_of_a_directory_that_is_no_storage_is_refused() {
    let env = Env::new();
    std::fs::create_dir_all(env.storage()).unwrap();
    std::fs::write(env.storage().join("notes.txt"), "mine").unwrap();
    let output = env.registry("gc", &[]);
    assert_failure(&output, exit::FAILURE, "not a registry storage directory");
    assert_eq!(
        std::fs::read_to_string(env.storage().join("notes.txt")).unwrap(),
        "mine"
    );
}

/// `status` and `stop` without `--storage` find the registry this user started elsewhere; with
/// two started they ask which one; with none, `status` exits 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_stop_find_the_registry_this_user_started() {
    let env = Env::new();
    let started = env.start_fresh("127.0.0.1", &[]);
    assert_success(&started.output);

    let status = env.run(&["oci-registry", "status", "--output", "json"]);
    assert_success(&status);
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["storage"], env.storage_arg(), "{json}");
    assert!(json["pid"].is_u64(), "{json}");

    // A second registry started elsewhere: a bare stop must be told which.
    let other_storage = env.cli.path("storage-2").display().to_string();
    let _stop_second = Stopper {
        command: env.command(&["oci-registry", "stop", "--storage", &other_storage]),
    };
    let mut second = None;
    for _ in 0..ATTEMPTS {
        let addr = format!("127.0.0.1:{}", free_port());
        let output = env.run(&[
            "oci-registry",
            "start",
            "--storage",
            &other_storage,
            "--addr",
            &addr,
        ]);
        if output.status.success() {
            second = Some(output);
            break;
        }
        assert!(stderr(&output).contains("in use"), "{}", stderr(&output));
    }
    assert!(second.is_some(), "the second registry did not start");
    let ambiguous = env.run(&["oci-registry", "stop"]);
    assert_failure(&ambiguous, exit::USAGE, "--storage");
    assert!(
        stderr(&ambiguous).contains(&other_storage),
        "{}",
        stderr(&ambiguous)
    );
    assert_success(&env.run(&["oci-registry", "stop", "--storage", &other_storage]));

    let stopped = env.run(&["oci-registry", "stop"]);
    assert_success(&stopped);
    assert!(stdout(&stopped).contains("stopped"), "{}", stdout(&stopped));
    let none = env.run(&["oci-registry", "status"]);
    assert_eq!(
        none.status.code(),
        Some(exit::NOT_RUNNING),
        "{}",
        stderr(&none)
    );
    assert!(stdout(&none).contains("not running"), "{}", stdout(&none));
}
