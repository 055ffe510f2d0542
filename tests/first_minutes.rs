//! What a new user meets first: the CLI reaches the embedded registry on a loopback address
//! without `--plain-http` (and any other host over TLS), reads the user config, takes a bare
//! extension name as its newest version and suggests near names for one that is not found.

mod common;
use common::oci_fixtures;

use common::cli::Cli;
use common::{TestRegistry, assert_failure, assert_success, exit, make_pki, text};
use oci_fixtures::*;
use provisioning::oci::client::{ClientOptions, Transport, is_loopback};

/// Pushes kubernetes 1.30.2, 1.31.1 and 1.9.0 (semver order differs from text order) and redis
/// 7.2.0 under `ext`.
async fn seed(host: &str) {
    let bench = Workbench::new();
    let client = bench.client(host);
    let scratch = bench.scratch();
    for version in ["1.30.2", "1.31.1", "1.9.0"] {
        Artifact::extension("kubernetes", version, "container orchestration")
            .push(&client, "ext/kubernetes", version, &scratch)
            .await;
    }
    Artifact::extension("redis", "7.2.0", "key-value store")
        .push(&client, "ext/redis", "7.2.0", &scratch)
        .await;
}

/// `provisioning oci --registry HOST --namespace ext --no-progress ARGS`: no `--plain-http`.
fn args<'a>(host: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "oci",
        "--registry",
        host,
        "--namespace",
        "ext",
        "--no-progress",
    ];
    all.extend_from_slice(rest);
    all
}

async fn run_ok(cli: &Cli, host: &str, rest: &[&str]) -> String {
    let output = cli.run(&args(host, rest)).await;
    assert_success(&output);
    text(&output.stdout)
}

#[test]
fn loopback_hosts_are_told_apart_from_the_rest() {
    for host in [
        "localhost",
        "localhost:5000",
        "LOCALHOST:5000",
        "127.0.0.1",
        "127.0.0.1:5000",
        "127.1.2.3:80",
        "[::1]:5000",
        "::1",
        "[::ffff:127.0.0.1]:5000",
    ] {
        assert!(is_loopback(host), "{host} is loopback");
    }
    for host in [
        "ghcr.io",
        "registry.example.com:5000",
        "10.0.0.1:5000",
        "192.168.1.10",
        "[::2]:5000",
        "localhost.example.com",
        "128.0.0.1:5000",
        "0.0.0.0:5000",
    ] {
        assert!(!is_loopback(host), "{host} is not loopback");
    }

    let dir = tempfile::tempdir().unwrap();
    let registries = registries_in(dir.path(), ClientOptions::default());
    assert_eq!(
        registries.transport("127.0.0.1:5000"),
        Transport::TlsThenPlainHttp
    );
    assert_eq!(
        registries.transport("localhost:5000"),
        Transport::TlsThenPlainHttp
    );
    assert_eq!(registries.transport("10.0.0.1:5000"), Transport::Tls);
    assert_eq!(registries.transport("ghcr.io"), Transport::Tls);
    assert!(
        registries
            .client("registry.example.com:5000")
            .base_url()
            .starts_with("https://")
    );

    let told = registries_in(
        dir.path(),
        ClientOptions {
            plain_http_registries: vec!["registry.lan:5000".into()],
            ..ClientOptions::default()
        },
    );
    assert_eq!(told.transport("registry.lan:5000"), Transport::PlainHttp);
    assert_eq!(told.transport("registry.lan:5001"), Transport::Tls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_registry_without_plain_http_flag() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    seed(&host).await;
    let cli = Cli::new();

    let listed = run_ok(&cli, &host, &["list"]).await;
    assert!(
        listed.contains(&format!("{host}/ext/kubernetes")),
        "{listed}"
    );
    let tags = run_ok(&cli, &host, &["tags", "kubernetes"]).await;
    assert!(tags.contains("1.31.1"), "{tags}");

    // `localhost` is loopback too.
    let port = host.rsplit(':').next().unwrap();
    let by_name = format!("localhost:{port}");
    let listed = run_ok(&cli, &by_name, &["list"]).await;
    assert!(listed.contains("ext/redis"), "{listed}");

    let shown = run_ok(&cli, &host, &["config"]).await;
    assert!(shown.contains("falling back to plain HTTP"), "{shown}");
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&cli, &host, &["config", "--output", "json"]).await).unwrap();
    assert!(
        json["tls"].as_str().unwrap().contains("plain HTTP"),
        "{json}"
    );
    let elsewhere = run_ok(&cli, "registry.example.com", &["config"]).await;
    assert!(elsewhere.contains("enabled, verified"), "{elsewhere}");
    assert!(!elsewhere.contains("plain HTTP"), "{elsewhere}");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_registry_on_loopback_stays_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let registry = TestRegistry::start_with(|c| c.tls = Some(pki.tls_files())).await;
    assert!(registry.url.starts_with("https://"), "{}", registry.url);
    let host = registry.host();
    let cli = Cli::new();
    let ca = pki.ca.to_str().unwrap();

    let shown = run_ok(&cli, &host, &["--ca-file", ca, "config"]).await;
    assert!(shown.contains("falling back to plain HTTP"), "{shown}");
    let listed = run_ok(&cli, &host, &["--ca-file", ca, "list", "--output", "json"]).await;
    assert_eq!(listed.trim(), "[]", "{listed}");

    // A certificate it cannot verify is an error, never a reason to drop to plain HTTP.
    let output = cli.run(&args(&host, &["list"])).await;
    assert!(!output.status.success(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("https://{host}")), "{stderr}");
    assert!(stderr.contains("--ca-file"), "{stderr}");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_config_points_the_cli_at_a_registry() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    seed(&host).await;
    let cli = Cli::new();
    let config_dir = cli.path("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.yaml"),
        format!("registry: {host}\nnamespace: ext\nplain_http: [\"{host}\"]\n"),
    )
    .unwrap();

    let run = |args: &[&str]| {
        let mut command = cli.command(args);
        command.env("PROVISIONING_CONFIG_DIR", &config_dir);
        command.env_remove("PROVISIONING_REGISTRY");
        command
    };
    let output = cli
        .run_command(run(&["oci", "--no-progress", "list"]), "oci list", None)
        .await;
    assert_success(&output);
    let listed = text(&output.stdout);
    assert!(
        listed.contains(&format!("{host}/ext/kubernetes")),
        "{listed}"
    );

    let output = cli
        .run_command(run(&["oci", "config"]), "oci config", None)
        .await;
    assert_success(&output);
    let shown = text(&output.stdout);
    assert!(
        shown.contains(&config_dir.join("config.yaml").display().to_string()),
        "{shown}"
    );
    assert!(shown.contains(&host), "{shown}");
    assert!(shown.contains("disabled (plain HTTP)"), "{shown}");

    // A flag wins over the user config.
    let output = cli
        .run_command(
            run(&["oci", "--registry", "registry.example.com", "config"]),
            "oci config",
            None,
        )
        .await;
    assert_success(&output);
    assert!(
        text(&output.stdout).contains("registry.example.com"),
        "{}",
        text(&output.stdout)
    );

    // A key the user config does not have is refused, naming the file.
    std::fs::write(config_dir.join("config.yaml"), "registy: x\n").unwrap();
    let output = cli
        .run_command(run(&["oci", "config"]), "oci config", None)
        .await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("config.yaml"),
        "{}",
        text(&output.stderr)
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_name_means_newest_version() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    seed(&host).await;
    let cli = Cli::new();

    let output = cli.run(&args(&host, &["inspect", "kubernetes"])).await;
    assert_success(&output);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("kubernetes:1.31.1, the newest version"),
        "{stderr}"
    );
    let shown = text(&output.stdout);
    assert!(
        shown.contains(&format!("{host}/ext/kubernetes:1.31.1")),
        "{shown}"
    );

    let into = cli.path("pulled");
    let output = cli
        .run(&args(
            &host,
            &["pull", "kubernetes", "--output-dir", into.to_str().unwrap()],
        ))
        .await;
    assert_success(&output);
    assert!(
        text(&output.stderr).contains("kubernetes:1.31.1, the newest version"),
        "{}",
        text(&output.stderr)
    );
    let manifest = std::fs::read_to_string(into.join("manifest.yaml"))
        .or_else(|_| std::fs::read_to_string(into.join("kubernetes/manifest.yaml")))
        .unwrap_or_else(|e| panic!("no manifest.yaml under {}: {e}", into.display()));
    assert!(manifest.contains("version: 1.31.1"), "{manifest}");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_suggests_near_names_and_versions() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    seed(&host).await;
    let cli = Cli::new();

    let output = cli
        .run(&args(&host, &["inspect", "kubernets:1.31.1"]))
        .await;
    assert_failure(&output, exit::NOT_FOUND, "did you mean kubernetes?");
    assert!(
        text(&output.stderr).contains("versions of kubernetes: 1.31.1, 1.30.2, 1.9.0"),
        "{}",
        text(&output.stderr)
    );

    let output = cli
        .run(&args(&host, &["inspect", "kubernetes:v1.31.1"]))
        .await;
    assert_failure(&output, exit::NOT_FOUND, "did you mean kubernetes:1.31.1?");

    let output = cli.run(&args(&host, &["pull", "kubernetes:1.31"])).await;
    assert_failure(&output, exit::NOT_FOUND, "did you mean kubernetes:1.31.1?");
    assert!(
        text(&output.stderr).contains("versions of kubernetes: 1.31.1, 1.30.2, 1.9.0"),
        "{}",
        text(&output.stderr)
    );

    let output = cli.run(&args(&host, &["tags", "redsi"])).await;
    assert_failure(&output, exit::NOT_FOUND, "did you mean redis?");

    let output = cli.run(&args(&host, &["inspect", "nginx:1.0.0"])).await;
    assert_failure(
        &output,
        exit::NOT_FOUND,
        "no repository named nginx under ext",
    );
    registry.stop().await;
}

/// Stops the registry `oci-registry start` started, even when the test fails.
struct StopOnDrop(Option<std::process::Command>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(mut command) = self.0.take() {
            let _ = command.output();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_start_prints_the_line_that_points_the_cli_at_it() {
    let cli = Cli::new();
    let storage = cli.path("store");
    let storage_text = storage.to_str().unwrap().to_string();
    let mut started = None;
    let mut refusals = Vec::new();
    // A port found free can be taken by a parallel test before the registry binds it.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let output = cli
            .run(&[
                "oci-registry",
                "start",
                "--addr",
                &addr,
                "--storage",
                &storage_text,
            ])
            .await;
        if output.status.success() {
            started = Some(output);
            break;
        }
        refusals.push(text(&output.stderr));
    }
    let output = started.unwrap_or_else(|| panic!("the registry did not start: {refusals:?}"));
    let _stop = StopOnDrop(Some(cli.command(&[
        "oci-registry",
        "stop",
        "--storage",
        &storage_text,
    ])));
    let stdout = text(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split("export PROVISIONING_REGISTRY=").nth(1))
        .unwrap_or_else(|| panic!("no export line: {stdout}"))
        .trim()
        .to_string();
    assert!(line.starts_with("127.0.0.1:"), "{stdout}");

    // As the line says: no --registry, no --plain-http.
    let mut command = cli.command(&["oci", "--no-progress", "list"]);
    command
        .env("PROVISIONING_REGISTRY", &line)
        .env("PROVISIONING_CONFIG_DIR", cli.path("config"));
    let output = cli.run_command(command, "oci list", None).await;
    assert_success(&output);
    // An empty registry: the note names the registry it asked.
    let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(said.contains(&format!("in {line}")), "{said}");
}
