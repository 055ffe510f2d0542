//! `provisioning oci …` as a user runs it: the real binary with its cache, Docker config and
//! data dir in temporary directories, against the embedded registry or distribution.

mod common;
use common::oci_fixtures;

use std::os::unix::fs::PermissionsExt;

use common::TestRegistry;
use common::cli::Cli;
use common::distribution::{Distribution, DistributionOptions};
use common::{assert_failure, assert_success, exit, text};
use oci_fixtures::*;
use serde_json::Value;

/// Pushes redis 7.0.0, 7.2.0 and `latest` (= 7.2.0), postgres 16.1.0 and one artifact outside
/// the `ext` namespace.
async fn seed(host: &str) -> Workbench {
    let bench = Workbench::new();
    let client = bench.client(host);
    let scratch = bench.scratch();
    Artifact::extension("redis", "7.0.0", "key-value store")
        .push(&client, "ext/redis", "7.0.0", &scratch)
        .await;
    let newest = Artifact::extension("redis", "7.2.0", "key-value store");
    newest.push(&client, "ext/redis", "7.2.0", &scratch).await;
    newest.push(&client, "ext/redis", "latest", &scratch).await;
    Artifact::extension("postgres", "16.1.0", "relational database, redis-free")
        .push(&client, "ext/postgres", "16.1.0", &scratch)
        .await;
    Artifact::extension("tool", "1.0.0", "elsewhere")
        .push(&client, "other/tool", "1.0.0", &scratch)
        .await;
    bench
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_search_tags_and_inspect() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = seed(&host).await;
    let cli = Cli::new();

    let listed = cli.oci_ok(&host, &["list"]).await;
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{listed}");
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(listed.contains(&format!("{host}/ext/redis")), "{listed}");
    assert!(listed.contains(&format!("{host}/ext/postgres")), "{listed}");
    assert!(!listed.contains("other/tool"), "{listed}");
    let all = cli.oci_ok(&host, &["list", "--all"]).await;
    assert!(all.contains("other/tool"), "{all}");
    let json = cli.oci_json(&host, &["list"]).await;
    let mut repos: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["repository"].as_str().unwrap())
        .collect();
    repos.sort();
    assert_eq!(repos, ["ext/postgres", "ext/redis"]);

    let found = cli.oci_ok(&host, &["search", "redis"]).await;
    let lines: Vec<&str> = found.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{found}");
    assert!(lines[1].starts_with("redis "), "{found}");
    assert!(lines[1].contains("7.2.0"), "{found}");
    assert!(lines[2].starts_with("postgres "), "{found}");
    let json = cli.oci_json(&host, &["search", "redis"]).await;
    let hits = json.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{json}");
    assert_eq!(hits[0]["name"], "redis");
    assert_eq!(hits[0]["latest"], "7.2.0");
    assert_eq!(hits[1]["name"], "postgres");
    assert!(hits[0]["score"].as_u64() > hits[1]["score"].as_u64());

    let tags = cli.oci_ok(&host, &["tags", "redis"]).await;
    let lines: Vec<&str> = tags.lines().collect();
    assert_eq!(lines[0], "ARTIFACT  VERSION  REFERENCE", "{tags}");
    assert_eq!(lines.len(), 4, "{tags}");
    for (line, tag) in lines[1..].iter().zip(["7.2.0", "7.0.0", "latest"]) {
        let columns: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            columns,
            ["redis", tag, &format!("{host}/ext/redis:{tag}")],
            "{tags}"
        );
    }
    let json = cli.oci_json(&host, &["tags", "redis"]).await;
    let listed: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["7.2.0", "7.0.0", "latest"]);

    let client = bench.client(&host);
    let digest = client.manifest("ext/redis", "7.2.0").await.unwrap().digest;
    let shown = cli.oci_ok(&host, &["inspect", "redis:7.2.0"]).await;
    assert!(shown.contains(&digest.to_string()), "{shown}");
    assert!(shown.contains("manifest.yaml"), "{shown}");
    assert!(shown.contains("scripts/install.sh"), "{shown}");
    let json = cli.oci_json(&host, &["inspect", "redis:7.2.0"]).await;
    assert_eq!(json["digest"], digest.to_string());
    assert_eq!(json["media_type"], OCI_MANIFEST);
    assert_eq!(json["config_content"]["version"], "7.2.0");
    assert_eq!(json["layers"].as_array().unwrap().len(), 2);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_copy_and_delete() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = seed(&host).await;
    let client = bench.client(&host);
    let cli = Cli::new();

    let out = cli.path("pulled");
    let out_arg = out.display().to_string();
    let stdout = cli
        .oci_ok(&host, &["pull", "redis:7.2.0", "-o", &out_arg])
        .await;
    assert!(stdout.contains("Pulled"), "{stdout}");
    assert_eq!(files_under(&out), ["manifest.yaml", "scripts/install.sh"]);
    assert_eq!(
        std::fs::read_to_string(out.join("manifest.yaml")).unwrap(),
        "name: redis\nversion: 7.2.0\n"
    );
    assert!(
        !files_under(&cli.path("cache").join("blobs")).is_empty(),
        "the pull cached nothing under PROVISIONING_CACHE_DIR"
    );

    cli.oci_ok(&host, &["copy", "redis:7.2.0", "mirror/redis"])
        .await;
    assert_eq!(
        client
            .manifest("mirror/redis", "7.2.0")
            .await
            .unwrap()
            .bytes,
        client.manifest("ext/redis", "7.2.0").await.unwrap().bytes
    );
    let json = cli
        .oci_json(&host, &["copy", "--all-tags", "redis", "mirror/all"])
        .await;
    assert_eq!(json["copied"].as_array().unwrap().len(), 3, "{json}");
    let mut copied = client.tags("mirror/all").await.unwrap();
    copied.sort();
    assert_eq!(copied, ["7.0.0", "7.2.0", "latest"]);

    // Without --yes and without a terminal: refused, nothing deleted.
    let refused = cli.oci(&host, &["delete", "redis:7.0.0"]).await;
    assert_failure(&refused, exit::USAGE, "--yes");
    assert!(
        client
            .manifest_digest("ext/redis", "7.0.0")
            .await
            .unwrap()
            .is_some()
    );

    let stdout = cli.oci_ok(&host, &["delete", "redis:7.0.0", "--yes"]).await;
    assert!(stdout.contains("Deleted"), "{stdout}");
    assert_eq!(
        client.manifest_digest("ext/redis", "7.0.0").await.unwrap(),
        None
    );
    let mut left = client.tags("ext/redis").await.unwrap();
    left.sort();
    assert_eq!(left, ["7.2.0", "latest"]);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_shows_the_effective_settings() {
    let cli = Cli::new();
    let host = "registry.example.com:5443";
    let stdout = cli.oci_ok(host, &["config"]).await;
    let field = |name: &str| -> String {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("registry"), host);
    assert_eq!(field("namespace"), "ext");
    assert_eq!(field("cache_dir"), cli.path("cache").display().to_string());
    assert!(field("tls").contains("plain HTTP"), "{stdout}");

    let json = cli.oci_json(host, &["config"]).await;
    assert_eq!(json["registry"], host);
    assert_eq!(json["namespace"], "ext");
    assert_eq!(json["cache_dir"], cli.path("cache").display().to_string());
    assert!(
        json["tls"].as_str().unwrap().contains("plain HTTP"),
        "{json}"
    );

    // Without --plain-http, TLS is verified.
    let output = cli
        .run(&["oci", "--registry", host, "config", "--output", "json"])
        .await;
    assert_success(&output);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json["tls"].as_str().unwrap().contains("verified"), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_logout_against_distribution() {
    let auth_dir = tempfile::tempdir().unwrap();
    let htpasswd = write_htpasswd(auth_dir.path());
    let Some(distribution) = Distribution::start(DistributionOptions {
        htpasswd: Some(htpasswd),
        tls: None,
    }) else {
        return;
    };
    let host = distribution.host.clone();
    // Something to list, pushed with credentials of its own.
    let bench = Workbench::new();
    write_docker_config(&bench.path("config.json"), &host, USER, PASSWORD);
    Artifact::extension("vault", "1.15.0", "secrets")
        .push(
            &bench.client(&host),
            "ext/vault",
            "1.15.0",
            &bench.scratch(),
        )
        .await;

    let cli = Cli::new();
    let original = format!(
        r#"{{"psFormat": "table {{{{.Names}}}}", "auths": {{"other.example.com": {{"auth": "{}"}}}}}}"#,
        "dXNlcjpwYXNz"
    );
    std::fs::write(cli.docker_config(), &original).unwrap();

    let no_credentials = cli.oci(&host, &["tags", "vault"]).await;
    assert_failure(&no_credentials, exit::FAILURE, "authentication required");

    let login = |password: &'static str| {
        let cli = &cli;
        let host = host.clone();
        async move {
            cli.run_with_stdin(
                &[
                    "oci",
                    "login",
                    &host,
                    "--username",
                    USER,
                    "--password-stdin",
                    "--plain-http",
                ],
                Some(&format!("{password}\n")),
            )
            .await
        }
    };

    let wrong = login("wrong-password").await;
    assert_failure(&wrong, exit::FAILURE, "authentication required");
    for stream in [&wrong.stdout, &wrong.stderr] {
        assert!(!text(stream).contains("wrong-password"), "{}", text(stream));
    }
    assert_eq!(
        std::fs::read_to_string(cli.docker_config()).unwrap(),
        original,
        "a refused login changed config.json"
    );

    let right = login(PASSWORD).await;
    assert_success(&right);
    for stream in [&right.stdout, &right.stderr] {
        assert!(!text(stream).contains(PASSWORD), "{}", text(stream));
    }
    let mode = std::fs::metadata(cli.docker_config())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "config.json mode {mode:o}");
    let config: Value =
        serde_json::from_slice(&std::fs::read(cli.docker_config()).unwrap()).unwrap();
    assert_eq!(config["psFormat"], "table {{.Names}}", "{config}");
    assert_eq!(config["auths"]["other.example.com"]["auth"], "dXNlcjpwYXNz");
    let entry = config["auths"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(key, _)| key.contains(&host))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no auths entry for {host}: {config}"));
    assert!(entry["auth"].is_string(), "{config}");

    let tags = cli.oci_ok(&host, &["tags", "vault"]).await;
    assert!(tags.contains(&format!("{host}/ext/vault:1.15.0")), "{tags}");

    let logout = cli.run(&["oci", "logout", &host]).await;
    assert_success(&logout);
    let config: Value =
        serde_json::from_slice(&std::fs::read(cli.docker_config()).unwrap()).unwrap();
    assert!(
        !config["auths"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains(&host)),
        "{config}"
    );
    assert_eq!(config["auths"]["other.example.com"]["auth"], "dXNlcjpwYXNz");
    assert_eq!(config["psFormat"], "table {{.Names}}");
    let after = cli.oci(&host, &["tags", "vault"]).await;
    assert_failure(&after, exit::FAILURE, "authentication required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reference_is_shown_with_a_caret() {
    let cli = Cli::new();
    let output = cli.oci("127.0.0.1:1", &["tags", "Bad/Name"]).await;
    assert_failure(&output, exit::USAGE, "invalid reference");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("Bad/Name"), "{stderr}");
    let input_line = stderr
        .lines()
        .position(|l| l.trim() == "Bad/Name")
        .unwrap_or_else(|| panic!("the reference is not shown on its own line: {stderr}"));
    let marker = stderr.lines().nth(input_line + 1).unwrap_or_default();
    assert!(marker.trim_start().starts_with('^'), "{stderr}");
    let column = |line: &str, at: usize| line.len() - line[at..].trim_start().len();
    let input = stderr.lines().nth(input_line).unwrap();
    assert_eq!(column(marker, 0), column(input, 0), "{stderr}");
}
