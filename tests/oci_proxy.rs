//! `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`: registries elsewhere are reached through the
//! proxy (HTTPS in a `CONNECT` tunnel), loopback ones never, and registry credentials never
//! reach the proxy. Everything runs on loopback: the proxy is a small recording one on
//! 127.0.0.1 (`common/proxy.rs`), our registries listen on 127.0.0.1 too, and the client names
//! them `NAME.test:PORT` (RFC 6761 reserves `.test`), which it does not take for loopback and
//! which resolves nowhere; the proxy connects whatever it is asked for to 127.0.0.1 on the
//! port asked for. So a registry reached at all was reached through the proxy.

mod common;

use std::process::Command;

use common::cli::Cli;
use common::oci_fixtures::{PASSWORD, USER, write_docker_config, write_htpasswd};
use common::proxy::RecordingProxy;
use common::{TestPki, TestRegistry, assert_success, make_pki_for, text};

/// A registry on 127.0.0.1, with its TLS files when `tls`, an htpasswd file when `auth`, and
/// the name `NAME.test:PORT` the client is to use for it.
struct Remote {
    registry: TestRegistry,
    host: String,
    pki: Option<TestPki>,
}

async fn remote_registry(cli: &Cli, name: &str, tls: bool, auth: bool) -> Remote {
    let dir = cli.path(&format!("{name}-files"));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = tls.then(|| make_pki_for(&dir, &[name]));
    let htpasswd = auth.then(|| write_htpasswd(&dir));
    let registry = TestRegistry::start_with(|config| {
        config.tls = pki.as_ref().map(|p| p.tls_files());
        config.htpasswd = htpasswd;
    })
    .await;
    let port = registry.url.rsplit(':').next().unwrap().to_string();
    Remote {
        registry,
        host: format!("{name}:{port}"),
        pki,
    }
}

const PROXY_VARIABLES: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Removes the proxy variables the tests were started with.
fn without_outside_proxies(command: &mut Command) {
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
}

/// `oci ARGS` with the proxy variables of `env` (and no others from the outside).
async fn oci_with_proxy(cli: &Cli, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut command = cli.command(args);
    without_outside_proxies(&mut command);
    command.envs(env.iter().copied());
    cli.run_command(command, &args.join(" "), None).await
}

fn proxy_env(proxy: &RecordingProxy) -> Vec<(&'static str, String)> {
    vec![
        ("HTTPS_PROXY", proxy.url.clone()),
        ("HTTP_PROXY", proxy.url.clone()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Whether any of what the proxy saw holds a credential of ours.
fn assert_no_credentials(proxy: &RecordingProxy) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for connection in proxy.seen() {
        let lower = connection.to_ascii_lowercase();
        assert!(!lower.contains("authorization:"), "{connection}");
        assert!(!connection.contains(PASSWORD), "{connection}");
        assert!(!connection.contains(&basic), "{connection}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_goes_through_a_connect_tunnel_and_credentials_stay_inside_it() {
    let cli = Cli::new();
    let remote = remote_registry(&cli, "registry.test", true, true).await;
    let host = remote.host.clone();
    let ca = remote.pki.as_ref().unwrap().ca.clone();
    let proxy = RecordingProxy::start().await;
    write_docker_config(&cli.docker_config(), &host, USER, PASSWORD);
    let dir = cli.scaffold("taskserv", "tunnelled", &cli.path("cwd"));
    let env = proxy_env(&proxy);
    let output = oci_with_proxy(
        &cli,
        &as_refs(&env),
        &[
            "oci",
            "--registry",
            &host,
            "--ca-file",
            ca.to_str().unwrap(),
            "--no-progress",
            "push",
            dir.to_str().unwrap(),
        ],
    )
    .await;
    assert_success(&output);
    let lines = proxy.first_lines();
    assert!(!lines.is_empty(), "nothing went through the proxy");
    for line in &lines {
        assert_eq!(line, &format!("CONNECT {host} HTTP/1.1"), "{lines:?}");
    }
    assert_no_credentials(&proxy);
    // The credentials did go, inside the tunnel: the registry stored what was pushed.
    let tags = oci_with_proxy(
        &cli,
        &as_refs(&env),
        &[
            "oci",
            "--registry",
            &host,
            "--ca-file",
            ca.to_str().unwrap(),
            "tags",
            "tunnelled",
        ],
    )
    .await;
    assert_success(&tags);
    let listed = text(&tags.stdout);
    assert!(
        listed.contains(&format!("{host}/provisioning-extensions/tunnelled:0.1.0")),
        "{listed}"
    );
    assert_no_credentials(&proxy);
    remote.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_forwarded_and_never_carries_credentials() {
    let cli = Cli::new();
    let remote = remote_registry(&cli, "registry.test", false, false).await;
    let host = remote.host.clone();
    let proxy = RecordingProxy::start().await;
    let dir = cli.scaffold("taskserv", "forwarded", &cli.path("cwd"));
    let env = proxy_env(&proxy);
    let base = ["oci", "--registry", &host, "--plain-http", "--no-progress"];
    let mut push = base.to_vec();
    push.extend(["push", dir.to_str().unwrap()]);
    let output = oci_with_proxy(&cli, &as_refs(&env), &push).await;
    assert_success(&output);
    let seen = proxy.seen().join("\n");
    assert!(seen.contains(&format!(" http://{host}/v2/")), "{seen}");

    // Credentials stored for it are not sent over plain HTTP, so not to the proxy either.
    let auth_cli = Cli::new();
    let guarded = remote_registry(&auth_cli, "guarded.test", false, true).await;
    let guarded_host = guarded.host.clone();
    write_docker_config(&auth_cli.docker_config(), &guarded_host, USER, PASSWORD);
    let output = oci_with_proxy(
        &auth_cli,
        &as_refs(&env),
        &[
            "oci",
            "--registry",
            &guarded_host,
            "--plain-http",
            "--no-progress",
            "tags",
            "ext/anything",
        ],
    )
    .await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("never sent over plain HTTP"),
        "{}",
        text(&output.stderr)
    );
    let seen = proxy.seen().join("\n");
    assert!(
        seen.contains(&format!(" http://{guarded_host}/v2/")),
        "{seen}"
    );
    assert_no_credentials(&proxy);
    remote.registry.stop().await;
    guarded.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_and_no_proxy_hosts_are_reached_directly() {
    let cli = Cli::new();
    let proxy = RecordingProxy::start().await;
    let env = proxy_env(&proxy);

    let local = TestRegistry::start().await;
    let dir = cli.scaffold("taskserv", "direct", &cli.path("cwd"));
    let output = oci_with_proxy(
        &cli,
        &as_refs(&env),
        &[
            "oci",
            "--registry",
            &local.host(),
            "--no-progress",
            "push",
            dir.to_str().unwrap(),
        ],
    )
    .await;
    assert_success(&output);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.first_lines());
    local.stop().await;

    // `registry.test` is reached only through the proxy (the proxy alone knows where it is)...
    let remote = remote_registry(&cli, "registry.test", false, false).await;
    let host = remote.host.clone();
    let base = ["oci", "--registry", &host, "--plain-http", "--no-progress"];
    let mut push = base.to_vec();
    push.extend(["push", dir.to_str().unwrap()]);
    let output = oci_with_proxy(&cli, &as_refs(&env), &push).await;
    assert_success(&output);
    let mut tags = base.to_vec();
    tags.extend(["tags", "direct"]);
    let output = oci_with_proxy(&cli, &as_refs(&env), &tags).await;
    assert_success(&output);
    let through_proxy = proxy.seen().len();
    assert!(through_proxy > 0, "nothing went through the proxy");

    // ...so with it in NO_PROXY, by name or by domain, the client goes to it itself: the proxy
    // hears nothing, and the client says it cannot reach the name.
    for no_proxy in ["registry.test", "other.example, .test"] {
        let mut env = as_refs(&env);
        env.push(("NO_PROXY", no_proxy));
        let output = oci_with_proxy(&cli, &env, &tags).await;
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "NO_PROXY={no_proxy}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot reach http://{host}/")),
            "NO_PROXY={no_proxy}: {stderr}"
        );
        assert_eq!(
            proxy.seen().len(),
            through_proxy,
            "NO_PROXY={no_proxy}: {:?}",
            proxy.first_lines()
        );
    }
    remote.registry.stop().await;
}

#[test]
fn a_proxy_variable_that_is_no_url_is_named() {
    let cli = Cli::new();
    let mut command = cli.command(&["oci", "--registry", "registry.test", "tags", "x"]);
    without_outside_proxies(&mut command);
    command.env("HTTPS_PROXY", "http://[broken");
    let output = common::cli::wait(command, "oci tags");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("HTTPS_PROXY is not a proxy URL"),
        "{}",
        text(&output.stderr)
    );
}
