//! The first ten minutes, continued: scaffold and publish agree, `oci push` defaults from the
//! manifest, names that cannot be file names, and the demo's leftovers.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cli::Cli;
use common::{TestRegistry, assert_failure, assert_success, exit, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_dir_then_publish_the_same_dir() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = cli.path("cwd/extensions");
    let root_text = root.to_str().unwrap();

    // A fresh directory: as the issue saw it, `--dir extensions` puts the extension right
    // under it; publish accepts that layout.
    let redis = cli.scaffold("taskserv", "redis", &root);
    assert_eq!(redis, root.join("redis"));
    let published = cli.oci_json(&host, &["publish", root_text]).await;
    let entries = published.as_array().expect("a list of entries");
    assert_eq!(entries.len(), 1, "{published}");
    assert!(published.to_string().contains("redis"), "{published}");
    let tags = cli.oci_ok(&host, &["tags", "redis"]).await;
    assert!(tags.contains("0.1.0"), "{tags}");

    // A monorepo root (it has a type directory): the type directory is added, and publish
    // finds it there.
    let mono = cli.path("cwd/mono");
    std::fs::create_dir_all(mono.join("taskservs")).unwrap();
    let valkey = cli.scaffold("taskserv", "valkey", &mono);
    assert_eq!(valkey, mono.join("taskservs/valkey"));
    let out = cli
        .oci_ok(&host, &["publish", mono.to_str().unwrap()])
        .await;
    assert!(out.contains("valkey"), "{out}");

    // One extension directory given as the root publishes that one.
    let out = cli
        .oci_ok(&host, &["publish", "--dry-run", redis.to_str().unwrap()])
        .await;
    assert!(out.contains("redis"), "{out}");

    // A root that does not exist says so, as a usage error.
    let missing = cli.path("cwd/nowhere");
    let output = cli
        .oci(&host, &["publish", missing.to_str().unwrap()])
        .await;
    assert_failure(&output, exit::USAGE, "does not exist");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_takes_name_and_version_from_the_manifest() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let dir = cli.scaffold("taskserv", "cache", &cli.path("cwd"));
    let dir_text = dir.to_str().unwrap();

    let out = cli.oci_ok(&host, &["push", dir_text]).await;
    assert!(out.contains("cache:0.1.0"), "{out}");
    // NAME:VERSION and NAME VERSION are both accepted, and checked.
    let out = cli.oci_ok(&host, &["push", dir_text, "cache:0.1.0"]).await;
    assert!(out.contains("already published"), "{out}");
    let out = cli
        .oci_ok(&host, &["push", dir_text, "cache", "0.1.0"])
        .await;
    assert!(out.contains("already published"), "{out}");
    let output = cli.oci(&host, &["push", dir_text, "cache:0.2.0"]).await;
    assert_failure(
        &output,
        exit::FAILURE,
        "manifest.yaml has version 0.1.0, not 0.2.0",
    );
    let output = cli.oci(&host, &["push", dir_text, "other"]).await;
    assert_failure(
        &output,
        exit::FAILURE,
        "names the extension `cache`, not `other`",
    );
    let output = cli
        .oci(&host, &["push", dir_text, "cache:0.1.0", "0.1.0"])
        .await;
    assert_failure(&output, exit::USAGE, "give the version once");

    let help = text(&cli.run_sync(&["oci", "push", "--help"]).stdout);
    assert!(help.contains("NAME[:VERSION]"), "{help}");
    assert!(help.contains("[default: the manifest's]"), "{help}");
    registry.stop().await;
}

#[test]
fn names_too_long_for_file_names_are_refused_early() {
    let cli = Cli::new();
    let long = "a".repeat(200);
    let output = cli.run_sync(&["generate", "extension", "taskserv", &long]);
    assert_failure(&output, exit::FAILURE, "the limit is 128");
    assert!(!cli.path(&format!("cwd/{long}")).exists());

    // A manifest renamed by hand: `package validate` names the limit before `oci package`
    // would hit the file system's.
    let dir = cli.scaffold("taskserv", "short", &cli.path("cwd"));
    let manifest = dir.join("manifest.yaml");
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        yaml.replacen("name: short", &format!("name: {long}"), 1),
    )
    .unwrap();
    let output = cli.run_sync(&["oci", "package", "validate", dir.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the limit is 128"), "{stderr}");
    assert!(!stderr.contains("os error 36"), "{stderr}");
}

/// A running `demo --no-ui`, the line that points the CLI at it, and the rest of its stderr.
struct Demo {
    child: Child,
    line: String,
    rest: mpsc::Receiver<String>,
}

/// `demo --no-ui` with its temporary directory under `temp`, once it has printed the line that
/// points the CLI at it.
fn start_demo(cli: &Cli, temp: &Path) -> Demo {
    let mut command = cli.command(&["demo", "--no-ui"]);
    command.env("TMPDIR", temp).stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the demo");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let found = line.contains("export PROVISIONING_REGISTRY=");
                seen.push(line);
                if found {
                    let line = seen.pop().unwrap();
                    return Demo {
                        child,
                        line,
                        rest: rx,
                    };
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("the demo did not come up: {seen:?}");
            }
        }
    }
}

fn demo_dirs(temp: &Path) -> Vec<String> {
    std::fs::read_dir(temp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("provisioning-demo-"))
        .collect()
}

fn stop_demo_with(signal: libc::c_int) {
    let cli = Cli::new();
    let temp = cli.path("tmp");
    std::fs::create_dir_all(&temp).unwrap();
    let demo = start_demo(&cli, &temp);
    let pid = demo.child.id();
    let dir = format!("provisioning-demo-{pid}");
    assert_eq!(demo_dirs(&temp), vec![dir.clone()]);
    assert!(temp.join(&dir).join("registry").is_dir());
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
    let status = common::wait_with_deadline(demo.child, "demo", Duration::from_secs(60)).status;
    assert!(status.success(), "{status:?}");
    assert!(demo_dirs(&temp).is_empty(), "{:?}", demo_dirs(&temp));
    // It says where its files were and that they are gone.
    let said: Vec<String> = demo.rest.iter().collect();
    assert!(
        said.iter()
            .any(|l| l.contains(&dir) && l.contains("are removed")),
        "{said:?}"
    );
}

#[test]
fn sigterm_on_demo_leaves_nothing() {
    stop_demo_with(libc::SIGTERM);
}

#[test]
fn sighup_on_demo_leaves_nothing() {
    stop_demo_with(libc::SIGHUP);
}

#[test]
fn demo_sweeps_dirs_of_dead_demos_and_keeps_live_ones() {
    let cli = Cli::new();
    let temp = cli.path("tmp");
    let mut ended = std::process::Command::new("true").spawn().unwrap();
    let dead = ended.id();
    ended.wait().unwrap();
    let stale = temp.join(format!("provisioning-demo-{dead}"));
    let live = temp.join(format!("provisioning-demo-{}", std::process::id()));
    for dir in [&stale, &live] {
        std::fs::create_dir_all(dir.join("registry")).unwrap();
        std::fs::write(dir.join("registry/blob"), b"left over").unwrap();
    }
    let demo = start_demo(&cli, &temp);
    assert!(demo.line.contains("127.0.0.1:"), "{}", demo.line);
    assert!(
        !stale.exists(),
        "the stale directory of pid {dead} is still there"
    );
    assert!(
        live.join("registry/blob").is_file(),
        "a live demo's directory was removed"
    );
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(demo.child.id() as libc::pid_t, libc::SIGTERM) };
    let output = common::wait_with_deadline(demo.child, "demo", Duration::from_secs(60));
    assert_success(&output);
    assert!(live.is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_size_and_prune_report_bytes() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let dir = cli.scaffold("taskserv", "web", &cli.path("cwd"));
    cli.oci_ok(&host, &["push", dir.to_str().unwrap()]).await;
    let out = cli.path("pulled");
    cli.oci_ok(&host, &["pull", "web:0.1.0", "-o", out.to_str().unwrap()])
        .await;

    let size = cli.oci_json(&host, &["cache", "size"]).await;
    let blobs = size["blobs"].as_u64().unwrap();
    let bytes = size["blob_bytes"].as_u64().unwrap();
    assert!(blobs >= 2 && bytes > 0, "{size}");
    assert_eq!(size["total_bytes"].as_u64().unwrap(), bytes, "{size}");

    // Recently used blobs stay with the default age; --all frees them all.
    let kept = cli.oci_json(&host, &["cache", "prune"]).await;
    assert_eq!(kept["removed_blobs"], 0, "{kept}");
    assert_eq!(kept["kept_blobs"].as_u64().unwrap(), blobs, "{kept}");
    let text = cli.oci_ok(&host, &["cache", "prune", "--all"]).await;
    assert!(text.contains(&format!("removed {blobs} blob(s)")), "{text}");
    let size = cli.oci_json(&host, &["cache", "size"]).await;
    assert_eq!(size["blobs"], 0, "{size}");
    assert_eq!(size["references"], 0, "{size}");

    let output = cli
        .oci(&host, &["cache", "prune", "--older-than", "soon"])
        .await;
    assert_failure(&output, exit::USAGE, "write e.g. 30d");
    // The pulled files are untouched; a second pull downloads again.
    assert!(out.join("manifest.yaml").is_file());
    cli.oci_ok(
        &host,
        &[
            "pull",
            "web:0.1.0",
            "-o",
            cli.path("again").to_str().unwrap(),
        ],
    )
    .await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_says_why_it_kept_recent_unreferenced_blobs() {
    let mut registry = TestRegistry::start().await;
    let storage = registry.storage_path().to_path_buf();
    let http = common::registry_http::RegistryHttp::new(&registry.url);
    let orphan = http.push_blob("lonely", b"never referenced").await;
    // Stopped, with its storage kept for gc.
    registry.registry.take().unwrap().shutdown().await;
    let cli = Cli::new();
    let storage_text = storage.to_str().unwrap();

    let output = cli.run_sync(&[
        "oci-registry",
        "gc",
        "--storage",
        storage_text,
        "--min-age",
        "3600",
    ]);
    assert_success(&output);
    let said = text(&output.stdout);
    assert!(said.contains("1 unreferenced blob(s)"), "{said}");
    assert!(said.contains("younger than 1 hour were kept"), "{said}");
    assert!(said.contains("`--min-age 0` keeps none"), "{said}");

    let output = cli.run_sync(&[
        "oci-registry",
        "gc",
        "--storage",
        storage_text,
        "--output",
        "json",
    ]);
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["blobs"][0]["digest"], orphan.as_str(), "{report}");
    assert_eq!(report["kept_recent"], 0, "{report}");
}

/// A token service and a distribution that trusts it; `None` without distribution installed.
async fn token_registry() -> Option<(
    common::token_server::TokenServer,
    common::distribution::Distribution,
)> {
    use common::oci_fixtures::{PASSWORD, USER};
    let policy = common::token_server::Policy {
        users: std::collections::HashMap::from([(USER.to_string(), PASSWORD.to_string())]),
        ..Default::default()
    };
    let tokens = common::token_server::TokenServer::start(policy).await;
    let distribution = common::distribution::Distribution::start_with_token(tokens.auth())?;
    Some((tokens, distribution))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_each_request_and_never_a_secret() {
    use common::oci_fixtures::{PASSWORD, USER, write_docker_config};
    let Some((tokens, distribution)) = token_registry().await else {
        return;
    };
    let host = distribution.host.clone();
    let cli = Cli::new();
    write_docker_config(&cli.docker_config(), &host, USER, PASSWORD);
    let dir = cli.scaffold("taskserv", "logged", &cli.path("cwd"));
    let output = cli
        .run(&[
            "oci",
            "--registry",
            &host,
            "--namespace",
            "team",
            "--plain-http",
            "--no-progress",
            "-vv",
            "push",
            dir.to_str().unwrap(),
        ])
        .await;
    assert_success(&output);
    let log = text(&output.stderr);
    // Method, URL, status and time of each request: the registry's and the token service's.
    assert!(
        log.contains(&format!(
            "HTTP HEAD http://{host}/v2/team/logged/manifests/0.1.0 -> 401 in "
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("HTTP GET {}/token -> 200 in ", tokens.url)),
        "{log}"
    );
    assert!(log.contains("HTTP PUT http://"), "{log}");
    assert!(log.contains("/manifests/0.1.0 -> 201 in "), "{log}");
    // Never a secret: no password, no Basic or Bearer value, no token, no query.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in [
        PASSWORD,
        basic.as_str(),
        "Bearer ",
        "Basic ",
        "eyJ",
        "scope=",
        "?",
    ] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_said_as_such() {
    use common::oci_fixtures::{USER, write_docker_config};
    let Some((_tokens, distribution)) = token_registry().await else {
        return;
    };
    let host = distribution.host.clone();
    let cli = Cli::new();
    let login = cli
        .run_with_stdin(
            &["oci", "login", &host, "-u", USER, "--password-stdin"],
            Some("not-the-password\n"),
        )
        .await;
    assert_failure(
        &login,
        exit::FAILURE,
        "refused these credentials; nothing was stored",
    );
    assert!(!text(&login.stderr).contains("not-the-password"));

    write_docker_config(&cli.docker_config(), &host, USER, "not-the-password");
    let output = cli
        .run(&[
            "oci",
            "--registry",
            &host,
            "--no-progress",
            "tags",
            "team/app",
        ])
        .await;
    assert_failure(&output, exit::FAILURE, "refused the stored credentials");
    assert!(text(&output.stderr).contains("check the username and password"));
}

/// This machine's address on its default route, if it has one that is not loopback.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the route and so the address.
    socket.connect("192.0.2.255:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_plain_http_is_not_called_refused_credentials() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("skipped: no non-loopback address");
        return;
    };
    let registry = TestRegistry::start_with(|config| {
        config.addr = "0.0.0.0:0".parse().unwrap();
    })
    .await;
    let port = registry.url.rsplit(':').next().unwrap().to_string();
    let host = format!("{ip}:{port}");
    let cli = Cli::new();
    let login = cli
        .run_with_stdin(
            &["oci", "login", &host, "-u", "someone", "--password-stdin"],
            Some("whatever\n"),
        )
        .await;
    assert_failure(&login, exit::FAILURE, "could not check the credentials");
    let stderr = text(&login.stderr);
    assert!(stderr.contains("add --plain-http"), "{stderr}");
    assert!(!stderr.contains("refused"), "{stderr}");
    registry.stop().await;
}
