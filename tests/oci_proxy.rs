//! `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`: registries elsewhere are reached through the
//! proxy (HTTPS in a `CONNECT` tunnel), loopback ones never, and registry credentials never
//! reach the proxy. The proxy is a small recording one on loopback (`common/proxy.rs`); the
//! registries are ours, bound to all addresses and named by this machine's own non-loopback
//! address, so the client treats them as remote.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::path::Path;

use common::cli::Cli;
use common::oci_fixtures::{PASSWORD, USER, write_docker_config, write_htpasswd};
use common::{TestRegistry, assert_success, make_pki, text};
use proxy::RecordingProxy;

/// This machine's address on its default route, if it has one that is not loopback.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the route and so the address.
    socket.connect("192.0.2.255:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A registry on all addresses, named `ip:port` (not loopback); `None` without such an address.
async fn remote_registry(dir: &Path, tls: bool, auth: bool) -> Option<(TestRegistry, String)> {
    let Some(ip) = non_loopback_address() else {
        eprintln!("skipped: this machine has no non-loopback address");
        return None;
    };
    let pki = tls.then(|| make_pki(dir));
    let htpasswd = auth.then(|| write_htpasswd(dir));
    let registry = TestRegistry::start_with(|config| {
        config.addr = "0.0.0.0:0".parse().unwrap();
        config.tls = pki.as_ref().map(|p| p.tls_files());
        config.htpasswd = htpasswd;
    })
    .await;
    let port = registry.url.rsplit(':').next().unwrap().to_string();
    Some((registry, format!("{ip}:{port}")))
}

/// `oci ARGS` with the proxy variables of `env` (and no others from the outside).
async fn oci_with_proxy(cli: &Cli, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut command = cli.command(args);
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(name);
    }
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
    let Some((registry, host)) = remote_registry(&cli.path("pki"), true, true).await else {
        return;
    };
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
            "--insecure",
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
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_forwarded_and_never_carries_credentials() {
    let cli = Cli::new();
    let Some((registry, host)) = remote_registry(&cli.path("pki"), false, false).await else {
        return;
    };
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
    let Some((guarded, guarded_host)) = remote_registry(&auth_cli.path("pki"), false, true).await
    else {
        return;
    };
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
    registry.stop().await;
    guarded.stop().await;
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

    let Some((remote, host)) = remote_registry(&cli.path("pki"), false, false).await else {
        return;
    };
    let ip = host.rsplit_once(':').unwrap().0.to_string();
    let mut env = as_refs(&env);
    env.push(("NO_PROXY", &ip));
    let output = oci_with_proxy(
        &cli,
        &env,
        &[
            "oci",
            "--registry",
            &host,
            "--plain-http",
            "--no-progress",
            "push",
            dir.to_str().unwrap(),
        ],
    )
    .await;
    assert_success(&output);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.first_lines());
    remote.stop().await;
}

#[test]
fn a_proxy_variable_that_is_no_url_is_named() {
    let cli = Cli::new();
    let mut command = cli.command(&["oci", "--registry", "registry.example", "tags", "x"]);
    command.env("HTTPS_PROXY", "http://[broken");
    let output = common::cli::wait(command, "oci tags");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("HTTPS_PROXY is not a proxy URL"),
        "{}",
        text(&output.stderr)
    );
}
