//! `mirrors:` in `provisioning.yaml`, through the binary against the embedded registry: after
//! an air-gap export → import, a workspace that still names the original registry resolves,
//! locks and installs from the mirror alone, the lock keeping the original's references and
//! digests; the mirror gets its own credentials (never the original's); `oci config` shows the
//! mapping; bad entries are refused with their positions.

mod common;

use std::fs;
use std::path::Path;

use common::cli::Cli;
use common::deps::{dep_args, publish, sample_workspace};
use common::faults::FaultProxy;
use common::oci_fixtures::{PASSWORD, USER, write_docker_config, write_htpasswd};
use common::{TestRegistry, assert_success, text};

/// Adds `mirrors: {registry: mirror}` to the workspace's provisioning.yaml.
fn add_mirror(ws: &Path, registry: &str, mirror: &str) {
    let path = ws.join("config/provisioning.yaml");
    let mut yaml = fs::read_to_string(&path).unwrap();
    yaml.push_str(&format!("\nmirrors:\n  \"{registry}\": \"{mirror}\"\n"));
    fs::write(&path, yaml).unwrap();
}

fn lock(ws: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&fs::read_to_string(ws.join("config/provisioning.lock")).unwrap()).unwrap()
}

/// Every `(reference, digest)` the lock pins: the core, the platform images, the extensions.
fn pins(ws: &Path) -> Vec<(String, String)> {
    let lock = lock(ws);
    let mut out = vec![(
        lock["core"]["reference"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        lock["core"]["digest"].as_str().unwrap().to_string(),
    )];
    for section in ["platform", "extensions"] {
        for entry in lock[section].as_sequence().unwrap() {
            out.push((
                entry["reference"].as_str().unwrap().to_string(),
                entry["digest"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn installed_count(ws: &Path) -> usize {
    ["providers", "taskservs", "clusters"]
        .iter()
        .filter_map(|kind| fs::read_dir(ws.join(".provisioning/extensions").join(kind)).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_imported_mirror_serves_the_workspace_while_the_original_is_down() {
    let origin = TestRegistry::start().await;
    let origin_host = origin.host();
    publish(&origin_host).await;
    let airgap = TestRegistry::start().await;
    // The mirror is reached through a recording proxy: every request that reaches it is seen.
    let proxy = FaultProxy::start(&airgap.url).await;

    // Online: resolve against the original, then carry what the lock pins across the gap.
    let online = Cli::new();
    let ws = sample_workspace(&online, &origin_host);
    assert_success(&online.run(&dep_args(&ws, &["resolve"])).await);
    let original_pins = pins(&ws);
    assert!(original_pins.len() > 10, "{original_pins:?}");
    let carry = online.path("carry.tar");
    let lock_path = ws.join("config/provisioning.lock");
    online
        .oci_ok(
            &origin_host,
            &[
                "export",
                "--lock",
                lock_path.to_str().unwrap(),
                "--to",
                carry.to_str().unwrap(),
            ],
        )
        .await;
    let import = online
        .run(&[
            "oci",
            "import",
            carry.to_str().unwrap(),
            "--registry",
            &airgap.host(),
            "--plain-http",
            "--no-progress",
        ])
        .await;
    assert_success(&import);

    // Air-gapped: the same workspace file, with a mirror; the original is gone.
    origin.stop().await;
    let offline = Cli::new();
    let ws = sample_workspace(&offline, &origin_host);
    add_mirror(&ws, &origin_host, &proxy.host);
    let out = offline.run(&dep_args(&ws, &["resolve"])).await;
    assert_success(&out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Installed 10 extension(s)"), "{stdout}");
    assert_eq!(installed_count(&ws), 10);
    // The lock names the original registry, with the digests it had there.
    assert_eq!(pins(&ws), original_pins);
    for (reference, _) in pins(&ws) {
        assert!(
            reference.contains(&origin_host),
            "{reference} does not name {origin_host}"
        );
    }
    // Every request went to the mirror: manifests and blobs among them.
    let seen = proxy.seen();
    assert!(
        seen.iter().any(|r| r.path.contains("/manifests/")),
        "{seen:#?}"
    );
    assert!(seen.iter().any(|r| r.path.contains("/blobs/")), "{seen:#?}");

    // The workspace file is left as it was written.
    let yaml = fs::read_to_string(ws.join("config/provisioning.yaml")).unwrap();
    assert!(yaml.contains(&format!("\"{origin_host}\": \"{}\"", proxy.host)));
    assert!(yaml.contains(&format!("oci://{origin_host}/provisioning-core:v3.5.0")));
    airgap.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mirror_gets_its_own_credentials_never_the_originals() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = write_htpasswd(dir.path());
    let mirror = TestRegistry::start_with(move |config| config.htpasswd = Some(htpasswd)).await;
    let proxy = FaultProxy::start(&mirror.url).await;
    // The original does not resolve: nothing can reach it.
    let origin = "origin.invalid:5000";

    // Credentials stored for the original only: the mirror refuses, and the error names it.
    let cli = Cli::new();
    write_docker_config(&cli.docker_config(), origin, USER, PASSWORD);
    let ws = sample_workspace(&cli, origin);
    add_mirror(&ws, origin, &proxy.host);
    let out = cli.run(&dep_args(&ws, &["resolve"])).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: authentication required", proxy.host)),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("provisioning oci login {}", proxy.host)),
        "{stderr}"
    );
    assert!(!stderr.contains(origin), "{stderr}");
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|r| r.authorization.is_none()),
        "the original's credentials reached the mirror: {seen:#?}"
    );

    // Credentials stored for the mirror: looked up under the mirror's host, and they work.
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("docker/config.json");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    write_docker_config(&config, &mirror.host(), USER, PASSWORD);
    publish_with_credentials(&mirror.host(), scratch.path(), &config).await;
    write_docker_config(&cli.docker_config(), &proxy.host, USER, PASSWORD);
    proxy.clear_seen();
    let out = cli.run(&dep_args(&ws, &["resolve"])).await;
    assert_success(&out);
    assert!(
        proxy.seen().iter().any(|r| r.authorization.is_some()),
        "no credentials were sent to the mirror"
    );
    mirror.stop().await;
}

/// Publishes the samples to a registry that wants the credentials in `config`.
async fn publish_with_credentials(host: &str, scratch: &Path, config: &Path) {
    use provisioning::oci::ReferenceDefaults;
    use provisioning::oci::cache::BlobCache;
    use provisioning::oci::client::{ClientOptions, Registries};
    use provisioning::oci::credentials::CredentialStore;
    common::install_crypto();
    let registries = Registries::new(
        ClientOptions {
            plain_http: true,
            ..ClientOptions::default()
        },
        CredentialStore::new(config.to_path_buf(), None, None),
    )
    .unwrap();
    let cache = BlobCache::open(scratch.join("cache")).unwrap();
    provisioning::extension::samples::publish(
        &scratch.join("samples"),
        &registries,
        &cache,
        &ReferenceDefaults {
            registry: host.to_string(),
            namespace: "provisioning-extensions".into(),
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_config_shows_each_mirror() {
    let cli = Cli::new();
    let ws = sample_workspace(&cli, "localhost:5000");
    let path = ws.join("config/provisioning.yaml");
    let mut yaml = fs::read_to_string(&path).unwrap();
    yaml.push_str("\nmirrors:\n  \"localhost:5000\": \"127.0.0.1:5999\"\n  ghcr.io: \"http://airgap.local:5000\"\n");
    fs::write(&path, yaml).unwrap();
    write_docker_config(&cli.docker_config(), "localhost:5000", USER, PASSWORD);
    let ws_text = ws.to_str().unwrap();

    let out = cli.run(&["oci", "config", "--workspace", ws_text]).await;
    assert_success(&out);
    let stdout = text(&out.stdout);
    let mirrors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("mirror "))
        .collect();
    assert_eq!(mirrors.len(), 2, "{stdout}");
    assert!(
        mirrors[0].contains("localhost:5000 -> 127.0.0.1:5999 (tls: HTTPS, falling back"),
        "{stdout}"
    );
    assert!(mirrors[0].contains("credentials: none stored"), "{stdout}");
    assert!(
        mirrors[1].contains("ghcr.io -> airgap.local:5000 (tls: disabled (plain HTTP)"),
        "{stdout}"
    );
    // The registry is reached at its mirror, with the mirror's (absent) credentials.
    assert!(
        stdout.contains("localhost:5000 (reached at its mirror 127.0.0.1:5999)"),
        "{stdout}"
    );
    let credentials = stdout
        .lines()
        .find(|l| l.starts_with("credentials "))
        .unwrap();
    assert!(credentials.contains("none stored"), "{stdout}");

    let out = cli
        .run(&["oci", "config", "--workspace", ws_text, "--output", "json"])
        .await;
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mirrors"][1]["registry"], "ghcr.io");
    assert_eq!(json["mirrors"][1]["mirror"], "airgap.local:5000");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_mirror_entries_are_refused_with_their_positions() {
    let cli = Cli::new();
    let ws = cli.path("ws");
    fs::create_dir_all(ws.join("config")).unwrap();
    fs::write(
        ws.join("config/provisioning.yaml"),
        "mirrors:\n  a.example: a.example\n  b.example: c.example\n  c.example: d.example\n  e.example: e.example/ns\n  \"https://f.example\": g.example\n",
    )
    .unwrap();
    let out = cli
        .run(&["oci", "config", "--workspace", ws.to_str().unwrap()])
        .await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    for expected in [
        "provisioning.yaml:2:14: error: `a.example` is mirrored to itself",
        "provisioning.yaml:3:14: error: the mirror `c.example` is mirrored itself, to `d.example` (line 4); mirrors do not chain",
        "provisioning.yaml:5:14: error: the mirror `e.example/ns` is not a registry host",
        "provisioning.yaml:6:3: error: `https://f.example` is not a registry host",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
}
