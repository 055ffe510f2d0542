//! Dependency resolution when things go wrong: a registry that fails mid-resolve, `kill -9`
//! during an install, hostile metadata (a 100 MiB config blob, dependency names that are not
//! repository names, 10,000 tags, 1,000 dependencies) — each a clear error, nothing
//! half-written — and local modules installed with the same checks.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cli::Cli;
use common::deps::{client, dep_args, publish, sample_workspace as workspace};
use common::faults::{Fault, FaultKind, FaultProxy};
use common::{assert_failure, assert_success, text};
use futures_util::StreamExt;
use provisioning::extension::package::{ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE};
use provisioning::oci::Digest;
use provisioning::oci::client::RegistryClient;

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push((
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&path).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn installed_versions(ws: &Path) -> Vec<(String, String)> {
    let root = ws.join(".provisioning/extensions");
    let mut out = Vec::new();
    for kind in ["providers", "taskservs", "clusters"] {
        let Ok(entries) = fs::read_dir(root.join(kind)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            // Whole: the marker and every file the package index lists.
            let marker: serde_json::Value = serde_json::from_slice(
                &fs::read(entry.path().join(".provisioning-installed.json"))
                    .unwrap_or_else(|_| panic!("{kind}/{name} is visible without its marker")),
            )
            .unwrap();
            let index: serde_json::Value =
                serde_json::from_slice(&fs::read(entry.path().join("oci-manifest.json")).unwrap())
                    .unwrap();
            for file in index["files"].as_array().unwrap() {
                assert!(
                    entry.path().join(file["path"].as_str().unwrap()).exists(),
                    "{kind}/{name} is half installed"
                );
            }
            out.push((name, marker["version"].as_str().unwrap().to_string()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_failing_mid_resolve_leaves_everything_as_it_was() {
    let registry = common::TestRegistry::start().await;
    publish(&registry.host()).await;
    let proxy = FaultProxy::start(&registry.url).await;
    let cli = Cli::new();
    let ws = workspace(&cli, &proxy.host);
    assert_success(&cli.run(&dep_args(&ws, &["resolve"])).await);
    let before = snapshot(&ws);
    let config = ws.join("config/provisioning.yaml");
    let text_before = fs::read_to_string(&config).unwrap();
    // A change to resolve, and a registry that stops answering for one of the new names.
    let changed = text_before.replace("kubernetes:1.28.0", "kubernetes:1.29.3");
    fs::write(&config, &changed).unwrap();
    let before = before
        .into_iter()
        .map(|(p, b)| {
            if p.ends_with("provisioning.yaml") {
                (p, changed.clone().into_bytes())
            } else {
                (p, b)
            }
        })
        .collect::<Vec<_>>();
    proxy.inject(Fault {
        method: None,
        path_contains: "/kubernetes/manifests/1.29.3".into(),
        times: 100,
        kind: FaultKind::Status(503),
    });
    let out = cli.run(&dep_args(&ws, &["resolve"])).await;
    assert_failure(&out, common::exit::FAILURE, "kubernetes");
    assert!(
        text(&out.stderr).contains("were left as they were"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot(&ws), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_install_leaves_each_extension_old_or_new_and_the_next_run_finishes() {
    let registry = common::TestRegistry::start().await;
    publish(&registry.host()).await;
    let proxy = FaultProxy::start(&registry.url).await;
    let cli = Cli::new();
    let ws = workspace(&cli, &proxy.host);
    assert_success(&cli.run(&dep_args(&ws, &["resolve"])).await);
    // New pins: containerd installs before kubernetes, whose content then stalls.
    let config = ws.join("config/provisioning.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace("kubernetes:1.28.0", "kubernetes:1.29.3")
            .replace("containerd:1.7.0", "containerd:1.7.13"),
    )
    .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (registries, _) = client(scratch.path());
    let manifest = registries
        .client(&registry.host())
        .manifest("provisioning-extensions/kubernetes", "1.29.3")
        .await
        .unwrap();
    let view =
        provisioning::oci::manifest::ManifestView::parse(&manifest.bytes, &manifest.media_type)
            .unwrap();
    let layer = view
        .layers
        .iter()
        .find(|l| l.media_type == CONTENT_MEDIA_TYPE)
        .unwrap();
    proxy.inject(Fault {
        method: Some("GET"),
        path_contains: layer.digest.hex().to_string(),
        times: 1,
        kind: FaultKind::StallAfter(64),
    });
    let mut child = cli.command(&dep_args(&ws, &["resolve"])).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let versions = installed_versions(&ws);
        if versions.contains(&("containerd".into(), "1.7.13".into())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "containerd 1.7.13 was never installed: {versions:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Wait until the stalled download is in flight, then kill.
    while !proxy
        .seen()
        .iter()
        .any(|r| r.path.contains(layer.digest.hex()))
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let versions = installed_versions(&ws);
    assert!(
        versions.contains(&("kubernetes".into(), "1.28.0".into())),
        "{versions:?}"
    );
    assert!(
        versions.contains(&("containerd".into(), "1.7.13".into())),
        "{versions:?}"
    );
    let again = cli.run(&dep_args(&ws, &["resolve"])).await;
    assert_success(&again);
    let versions = installed_versions(&ws);
    assert!(
        versions.contains(&("kubernetes".into(), "1.29.3".into())),
        "{versions:?}"
    );
    // Nothing a killed run left behind stays.
    let leftovers: Vec<String> = fs::read_dir(ws.join(".provisioning/extensions/taskservs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Pushes an extension version whose config is `config` (and a tiny content layer).
async fn push_raw(client: &RegistryClient, name: &str, tag: &str, config: &[u8]) -> Digest {
    let repo = format!("provisioning-extensions/{name}");
    let layer = b"not really a package".to_vec();
    let (config_digest, layer_digest) = (Digest::sha256_of(config), Digest::sha256_of(&layer));
    client
        .upload_bytes(&repo, &config_digest, config)
        .await
        .unwrap();
    client
        .upload_bytes(&repo, &layer_digest, &layer)
        .await
        .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": CONTENT_MEDIA_TYPE, "digest": layer_digest.to_string(), "size": layer.len()}],
    }))
    .unwrap();
    client
        .put_manifest(
            &repo,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
        .await
        .unwrap();
    config_digest
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_metadata_is_bounded_with_a_clear_error() {
    let registry = common::TestRegistry::start().await;
    let host = registry.host();
    publish(&host).await;
    let proxy = FaultProxy::start(&registry.url).await;
    let scratch = tempfile::tempdir().unwrap();
    let (registries, _) = client(scratch.path());
    let c = registries.client(&host);
    // A 100 MiB config blob.
    let mut fat = br#"{"name":"fat","type":"taskserv","version":"1.0.0"}"#.to_vec();
    fat.resize(100 << 20, b' ');
    let fat_digest = push_raw(&c, "fat", "1.0.0", &fat).await;
    drop(fat);
    // Dependency names that are not repository names.
    push_raw(&c, "badnames", "1.0.0", br#"{"name":"badnames","type":"taskserv","version":"1.0.0","dependencies":{"../../etc":"*"}}"#).await;
    // A version with 1,000 dependencies.
    let deps: serde_json::Map<String, serde_json::Value> = (0..1000)
        .map(|i| (format!("dep{i}"), serde_json::Value::from("*")))
        .collect();
    let wide = serde_json::to_vec(
        &serde_json::json!({"name":"wide","type":"taskserv","version":"1.0.0","dependencies":deps}),
    )
    .unwrap();
    push_raw(&c, "wide", "1.0.0", &wide).await;
    // 10,000 tags.
    push_raw(
        &c,
        "many",
        "1.0.0",
        br#"{"name":"many","type":"taskserv","version":"1.0.0"}"#,
    )
    .await;
    let manifest = c
        .manifest("provisioning-extensions/many", "1.0.0")
        .await
        .unwrap();
    futures_util::stream::iter(0..10_000)
        .map(|i| {
            let (c, bytes, media) = (
                c.clone(),
                manifest.bytes.clone(),
                manifest.media_type.clone(),
            );
            async move {
                c.put_manifest(
                    "provisioning-extensions/many",
                    &format!("t{i}"),
                    &media,
                    &bytes,
                )
                .await
                .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    let cli = Cli::new();
    let ws = workspace(&cli, &proxy.host);
    let config = ws.join("config/provisioning.yaml");
    let sample = fs::read_to_string(&config).unwrap();
    let pin = |name: &str| {
        sample.replace(
            "      clusters:\n",
            &format!("        - \"{name}:1.0.0\"\n      clusters:\n"),
        )
    };
    let cases = [
        (
            "fat",
            common::exit::CONFLICT,
            "its config blob is 104857600 bytes, more than the 1048576",
        ),
        (
            "badnames",
            common::exit::CONFLICT,
            "dependency name `../../etc`",
        ),
        (
            "wide",
            common::exit::CONFLICT,
            "it declares 1000 dependencies, more than the 256",
        ),
        (
            "many",
            common::exit::FAILURE,
            "lists 10001 tags, more than the 4096",
        ),
    ];
    for (name, code, says) in cases {
        fs::write(&config, pin(name)).unwrap();
        let out = cli.run(&dep_args(&ws, &["resolve"])).await;
        assert_failure(&out, code, says);
        assert!(!ws.join("config/provisioning.lock").exists());
    }
    let fetched_fat = proxy
        .seen()
        .iter()
        .any(|r| r.path.contains(fat_digest.hex()));
    assert!(!fetched_fat, "the 100 MiB config was downloaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn local_modules_are_packaged_locked_by_digest_and_installed() {
    let registry = common::TestRegistry::start().await;
    let host = registry.host();
    publish(&host).await;
    let cli = Cli::new();
    let ws = workspace(&cli, &host);
    let local = cli.scaffold("taskserv", "redis", &ws.join("extensions/taskservs"));
    let config = ws.join("config/provisioning.yaml");
    let sample = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        sample.replace(
            "      clusters:\n",
            "        - {name: redis, path: extensions/taskservs/redis}\n      clusters:\n",
        ),
    )
    .unwrap();
    let _ = local;
    assert_success(&cli.run(&dep_args(&ws, &["resolve"])).await);
    let lock = fs::read_to_string(ws.join("config/provisioning.lock")).unwrap();
    assert!(lock.contains("path: extensions/taskservs/redis"), "{lock}");
    let versions: BTreeSet<String> = installed_versions(&ws)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(versions.contains("redis"));
    assert!(
        ws.join(".provisioning/extensions/taskservs/redis/manifest.yaml")
            .is_file()
    );
    // The same tree gives the same digest: nothing changes, nothing is reinstalled.
    let again = cli.run(&dep_args(&ws, &["resolve", "--locked"])).await;
    assert_success(&again);
    assert!(
        text(&again.stdout).contains("Installed 0 extension(s), 11 already installed"),
        "{}",
        text(&again.stdout)
    );
    // An edit to the module changes its digest, so --locked notices.
    fs::write(
        ws.join("extensions/taskservs/redis/docs/README.md"),
        "changed\n",
    )
    .unwrap();
    assert_failure(
        &cli.run(&dep_args(&ws, &["resolve", "--locked"])).await,
        common::exit::NOT_RUNNING,
        "change    redis",
    );
    // Dropping a module removes its install.
    fs::write(&config, &sample).unwrap();
    let out = cli.run(&dep_args(&ws, &["resolve"])).await;
    assert_success(&out);
    assert!(
        text(&out.stdout).contains("1 removed"),
        "{}",
        text(&out.stdout)
    );
    assert!(!ws.join(".provisioning/extensions/taskservs/redis").exists());
}
