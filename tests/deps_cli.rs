//! `provisioning dep …` through the binary against the embedded registry with the samples:
//! resolve, lock, install; `--locked`, `--offline`, moved tags, updates and rollbacks, the
//! views; and the same flow once against Debian's distribution.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use common::cli::Cli;
use common::deps::{client, dep_args, publish, sample_workspace};
use common::faults::FaultProxy;
use common::{assert_failure, assert_success, text};

async fn dep(cli: &Cli, ws: &Path, args: &[&str]) -> std::process::Output {
    cli.run(&dep_args(ws, args)).await
}

fn lock(ws: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&fs::read_to_string(ws.join("config/provisioning.lock")).unwrap()).unwrap()
}

fn locked_version(ws: &Path, name: &str) -> String {
    let lock = lock(ws);
    lock["extensions"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .map(|e| e["version"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn installed(ws: &Path) -> BTreeSet<String> {
    let root = ws.join(".provisioning/extensions");
    let mut out = BTreeSet::new();
    for kind in ["providers", "taskservs", "clusters"] {
        let Ok(entries) = fs::read_dir(root.join(kind)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                out.insert(format!("{kind}/{name}"));
            }
        }
    }
    out
}

/// Every installed extension is whole: its marker, and every file its index lists.
fn assert_installs_whole(ws: &Path) {
    for dir in installed(ws) {
        let path = ws.join(".provisioning/extensions").join(&dir);
        assert!(
            path.join(".provisioning-installed.json").is_file(),
            "{dir} has no marker"
        );
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(path.join("oci-manifest.json")).unwrap()).unwrap();
        for file in index["files"].as_array().unwrap() {
            let p = path.join(file["path"].as_str().unwrap());
            assert!(p.exists(), "{} is missing", p.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn resolve_locks_installs_and_a_second_run_sends_no_blob_request() {
    let registry = common::TestRegistry::start().await;
    publish(&registry.host()).await;
    let proxy = FaultProxy::start(&registry.url).await;
    let cli = Cli::new();
    let ws = sample_workspace(&cli, &proxy.host);
    let out = dep(&cli, &ws, &["resolve"]).await;
    assert_success(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Resolved 10 extension(s) for core 3.5.0"),
        "{stdout}"
    );
    assert!(stdout.contains("Installed 10 extension(s)"), "{stdout}");
    // No request was sent twice.
    let seen: Vec<String> = proxy
        .seen()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "repeated requests: {seen:#?}");
    // The lock: version 1, stable order, every extension by digest, the core and platform.
    let text_lock = fs::read_to_string(ws.join("config/provisioning.lock")).unwrap();
    assert!(
        text_lock.starts_with("# config/provisioning.lock: generated"),
        "{text_lock}"
    );
    let lock = lock(&ws);
    assert_eq!(lock["version"].as_u64(), Some(1));
    assert!(
        lock["core"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(lock["platform"].as_sequence().unwrap().len(), 2);
    let names: Vec<&str> = lock["extensions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let k8s = lock["extensions"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "kubernetes")
        .unwrap();
    assert_eq!(k8s["type"], "taskserv");
    assert!(
        k8s["reference"]
            .as_str()
            .unwrap()
            .ends_with("/provisioning-extensions/kubernetes:1.28.0")
    );
    assert_eq!(
        k8s["dependencies"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["containerd", "etcd"]
    );
    assert_eq!(installed(&ws).len(), 10);
    assert!(installed(&ws).contains("clusters/buildkit"));
    assert!(
        ws.join(".provisioning/extensions/taskservs/kubernetes/manifest.yaml")
            .is_file()
    );
    assert_installs_whole(&ws);

    proxy.clear_seen();
    let again = dep(&cli, &ws, &["resolve"]).await;
    assert_success(&again);
    assert!(
        text(&again.stdout).contains("Unchanged:"),
        "{}",
        text(&again.stdout)
    );
    assert!(
        text(&again.stdout).contains("0 extension(s), 10 already installed")
            || text(&again.stdout).contains("Installed 0 extension(s), 10 already installed")
    );
    let blobs: Vec<String> = proxy
        .seen()
        .iter()
        .filter(|r| r.path.contains("/blobs/"))
        .map(|r| r.path.clone())
        .collect();
    assert!(
        blobs.is_empty(),
        "a second resolve fetched blobs: {blobs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn locked_offline_dry_run_and_the_plan() {
    let registry = common::TestRegistry::start().await;
    let host = registry.host();
    publish(&host).await;
    let cli = Cli::new();
    let ws = sample_workspace(&cli, &host);
    // --locked without a lock: it would change.
    assert_failure(
        &dep(&cli, &ws, &["resolve", "--locked"]).await,
        common::exit::NOT_RUNNING,
        "out of date",
    );
    // --dry-run prints the plan and writes nothing.
    let dry = dep(&cli, &ws, &["resolve", "--dry-run"]).await;
    assert_success(&dry);
    assert!(
        text(&dry.stdout).contains("add       cilium 1.14.0"),
        "{}",
        text(&dry.stdout)
    );
    assert!(!ws.join("config/provisioning.lock").exists());
    assert!(installed(&ws).is_empty());
    assert_success(&dep(&cli, &ws, &["resolve"]).await);
    // A comment is not an input; a pin is.
    let config = ws.join("config/provisioning.yaml");
    let original = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("# a new comment\n{original}")).unwrap();
    assert_success(&dep(&cli, &ws, &["resolve", "--locked"]).await);
    fs::write(&config, original.replace("cilium:1.14.0", "cilium:1.14.5")).unwrap();
    let before = fs::read(ws.join("config/provisioning.lock")).unwrap();
    let stale = dep(&cli, &ws, &["resolve", "--locked"]).await;
    assert_failure(
        &stale,
        common::exit::NOT_RUNNING,
        "config/provisioning.lock is out of date",
    );
    assert!(
        text(&stale.stderr).contains("upgrade   cilium 1.14.0 -> 1.14.5"),
        "{}",
        text(&stale.stderr)
    );
    assert_eq!(
        fs::read(ws.join("config/provisioning.lock")).unwrap(),
        before
    );
    fs::write(&config, &original).unwrap();

    // Offline from the lock and the cache, with the registry gone.
    registry.stop().await;
    let offline = dep(&cli, &ws, &["resolve", "--offline"]).await;
    assert_success(&offline);
    fs::remove_dir_all(cli.path("cache")).unwrap();
    fs::create_dir_all(cli.path("cache")).unwrap();
    let out = dep(&cli, &ws, &["resolve", "--offline"]).await;
    assert_failure(
        &out,
        common::exit::FAILURE,
        "is not in the cache; run without --offline",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moved_tag_is_caught() {
    let registry = common::TestRegistry::start().await;
    let host = registry.host();
    publish(&host).await;
    let cli = Cli::new();
    let ws = sample_workspace(&cli, &host);
    assert_success(&dep(&cli, &ws, &["resolve"]).await);
    let locked = lock(&ws)["extensions"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "os")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // Someone pushes other bytes under os:1.1.0.
    let scratch = tempfile::tempdir().unwrap();
    let (registries, _) = client(scratch.path());
    let c = registries.client(&host);
    let manifest = c
        .manifest("provisioning-extensions/os", "1.1.0")
        .await
        .unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    doc["annotations"]["tampered"] = "yes".into();
    let bytes = serde_json::to_vec(&doc).unwrap();
    let now = c
        .put_manifest(
            "provisioning-extensions/os",
            "1.1.0",
            &manifest.media_type,
            &bytes,
        )
        .await
        .unwrap();
    let out = dep(&cli, &ws, &["resolve", "--locked"]).await;
    assert_failure(
        &out,
        common::exit::NOT_RUNNING,
        "provisioning-extensions/os:1.1.0 now points at",
    );
    assert!(
        text(&out.stderr).contains(&locked) && text(&out.stderr).contains(&now.to_string()),
        "{}",
        text(&out.stderr)
    );
    let out = dep(&cli, &ws, &["resolve"]).await;
    assert_success(&out);
    assert!(
        text(&out.stderr).contains("the locked content is used"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        fs::read_to_string(ws.join("config/provisioning.lock"))
            .unwrap()
            .contains(&locked)
    );
    let validate = dep(&cli, &ws, &["validate"]).await;
    assert_failure(&validate, common::exit::NOT_RUNNING, "points at");
}

#[tokio::test(flavor = "multi_thread")]
async fn update_rolls_back_and_the_next_resolve_keeps_it() {
    let registry = common::TestRegistry::start().await;
    let host = registry.host();
    publish(&host).await;
    let cli = Cli::new();
    let ws = sample_workspace(&cli, &host);
    assert_success(&dep(&cli, &ws, &["resolve"]).await);
    assert_eq!(locked_version(&ws, "os"), "1.1.0");
    let config = ws.join("config/provisioning.yaml");
    let before = fs::read_to_string(&config).unwrap();
    // A dependency: only the lock changes.
    let out = dep(&cli, &ws, &["update", "os", "--to", "1.0.0"]).await;
    assert_success(&out);
    assert!(
        text(&out.stdout).contains("downgrade os 1.1.0 -> 1.0.0"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(locked_version(&ws, "os"), "1.0.0");
    assert_eq!(fs::read_to_string(&config).unwrap(), before);
    assert_success(&dep(&cli, &ws, &["resolve"]).await);
    assert_eq!(locked_version(&ws, "os"), "1.0.0");
    assert_success(&dep(&cli, &ws, &["resolve", "--locked"]).await);
    // A pinned module: its pin is rewritten, comments kept, diff shown.
    let dry = dep(
        &cli,
        &ws,
        &["update", "kubernetes", "--to", "1.27.11", "--dry-run"],
    )
    .await;
    assert_success(&dry);
    assert!(
        text(&dry.stdout).contains("+        - \"oci://"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), before);
    let out = dep(&cli, &ws, &["update", "kubernetes", "--to", "1.27.11"]).await;
    assert_success(&out);
    let after = fs::read_to_string(&config).unwrap();
    assert!(
        after.contains("provisioning-extensions/kubernetes:1.27.11\""),
        "{after}"
    );
    assert!(after.contains("# Loaded extension modules"), "{after}");
    assert_eq!(locked_version(&ws, "kubernetes"), "1.27.11");
    assert_success(&dep(&cli, &ws, &["resolve", "--locked"]).await);
    // Without --to: the newest that fits everything else, written back as the pin.
    let out = dep(&cli, &ws, &["update", "cilium"]).await;
    assert_success(&out);
    assert!(
        fs::read_to_string(&config)
            .unwrap()
            .contains("provisioning-extensions/cilium:1.15.3\""),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(locked_version(&ws, "cilium"), "1.15.3");
    assert_success(&dep(&cli, &ws, &["update", "os"]).await);
    assert_eq!(locked_version(&ws, "os"), "1.1.0");
    assert_success(&dep(&cli, &ws, &["resolve", "--locked"]).await);
    assert_success(&dep(&cli, &ws, &["update", "cilium", "--to", "1.14.0"]).await);
    let after = fs::read_to_string(&config).unwrap();
    // Outside what cilium accepts: refused with the explanation, nothing written.
    let out = dep(&cli, &ws, &["update", "kubernetes", "--to", "1.31.1"]).await;
    assert_failure(
        &out,
        common::exit::CONFLICT,
        "cilium 1.14.0 needs kubernetes >=1.26.0, <1.30.0",
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), after);
    // Unknown names.
    assert_failure(
        &dep(&cli, &ws, &["update", "nothing-here"]).await,
        common::exit::NOT_FOUND,
        "neither a module",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn range_modules_update_only_the_lock_and_refuse_outside_the_range() {
    let registry = common::TestRegistry::start().await;
    let host = registry.host();
    publish(&host).await;
    let cli = Cli::new();
    let ws = sample_workspace(&cli, &host);
    let config = ws.join("config/provisioning.yaml");
    let text_before = fs::read_to_string(&config).unwrap().replace(
        &format!("\"oci://{host}/provisioning-extensions/cilium:1.14.0\""),
        "{name: cilium, range: \"~1.14\"}",
    );
    fs::write(&config, &text_before).unwrap();
    assert_success(&dep(&cli, &ws, &["resolve"]).await);
    assert_eq!(locked_version(&ws, "cilium"), "1.14.5");
    assert_success(&dep(&cli, &ws, &["update", "cilium", "--to", "1.14.0"]).await);
    assert_eq!(locked_version(&ws, "cilium"), "1.14.0");
    assert_eq!(fs::read_to_string(&config).unwrap(), text_before);
    assert_failure(
        &dep(&cli, &ws, &["update", "cilium", "--to", "1.13.0"]).await,
        common::exit::USAGE,
        "the range ~1.14",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicts_views_and_updates_through_the_binary() {
    let registry = common::TestRegistry::start().await;
    let host = registry.host();
    publish(&host).await;
    let cli = Cli::new();
    let ws = sample_workspace(&cli, &host);
    assert_success(&dep(&cli, &ws, &["resolve"]).await);
    let tree = dep(&cli, &ws, &["tree"]).await;
    assert_success(&tree);
    let shown = text(&tree.stdout);
    assert!(
        shown.contains("buildkit 0.12.0\n├── containerd 1.7.0\n│   └── runc 1.2.0\n├── kubernetes 1.28.0\n│   ├── containerd 1.7.0 (*)\n│   └── etcd 3.5.12\n└── oci-reg 2.0.1\n    └── os 1.1.0\n"),
        "{shown}"
    );
    assert!(shown.contains("(*)"), "{shown}");
    let why = dep(&cli, &ws, &["tree", "--invert", "os"]).await;
    assert_success(&why);
    assert!(
        text(&why.stdout).starts_with("os 1.1.0\n└── oci-reg 2.0.1\n    └── buildkit 0.12.0"),
        "{}",
        text(&why.stdout)
    );
    let depth = dep(&cli, &ws, &["tree", "kubernetes", "--depth", "1"]).await;
    assert_eq!(
        text(&depth.stdout),
        "kubernetes 1.28.0\n├── containerd 1.7.0\n└── etcd 3.5.12\n"
    );
    let dup = dep(&cli, &ws, &["tree", "--duplicates"]).await;
    assert!(
        text(&dup.stdout).contains("kubernetes 1.28.0 (needed by buildkit, cilium)"),
        "{}",
        text(&dup.stdout)
    );
    let dot = dep(&cli, &ws, &["tree", "--format", "dot"]).await;
    assert!(
        text(&dot.stdout).contains("\"kubernetes\" -> \"containerd\""),
        "{}",
        text(&dot.stdout)
    );
    let mermaid = dep(&cli, &ws, &["tree", "--format", "mermaid"]).await;
    assert!(text(&mermaid.stdout).contains("kubernetes --> etcd"));
    let json = dep(&cli, &ws, &["tree", "--output", "json"]).await;
    let lines: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(lines.as_array().unwrap().len() > 10);
    let validate = dep(&cli, &ws, &["validate"]).await;
    assert_success(&validate);
    assert!(text(&validate.stdout).contains("every min_provisioning_version met by core 3.5.0"));
    let updates = dep(&cli, &ws, &["check-updates", "--output", "json"]).await;
    assert_success(&updates);
    let rows: serde_json::Value = serde_json::from_slice(&updates.stdout).unwrap();
    let row = |n: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(row("cilium")["current"], "1.14.0");
    assert_eq!(row("cilium")["compatible"], "1.15.3");
    assert_eq!(row("cilium")["newest"], "1.15.3");
    assert_eq!(row("cilium")["newest_step"], "minor");
    assert_eq!(row("kubernetes")["compatible"], "1.29.3");
    // A conflict exits 5 with its explanation and changes nothing.
    let config = ws.join("config/provisioning.yaml");
    let original = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        original.replace("kubernetes:1.28.0", "kubernetes:1.31.1"),
    )
    .unwrap();
    let lock_before = fs::read(ws.join("config/provisioning.lock")).unwrap();
    let out = dep(&cli, &ws, &["resolve"]).await;
    // containerd 1.7.0 is pinned too, so the newer cilium alone is no way out here.
    assert_failure(
        &out,
        common::exit::CONFLICT,
        "kubernetes 1.29.3 accepts cilium 1.14.0: provisioning dep update kubernetes --to 1.29.3",
    );
    assert_eq!(
        fs::read(ws.join("config/provisioning.lock")).unwrap(),
        lock_before
    );
    assert_failure(
        &dep(&cli, &ws, &["validate"]).await,
        common::exit::CONFLICT,
        "cilium 1.14.0 needs kubernetes",
    );
    // The graph shows the conflict's extensions in red, over what the lock knows.
    let dot = dep(&cli, &ws, &["tree", "--format", "dot"]).await;
    assert_eq!(dot.status.code(), Some(common::exit::CONFLICT));
    let drawn = text(&dot.stdout);
    assert!(
        drawn.contains("\"cilium\" [label=\"cilium 1.14.0\", style=bold, color=red"),
        "{drawn}"
    );
    assert!(
        drawn.contains("\"kubernetes\" [label=\"kubernetes 1.28.0\", style=bold, color=red"),
        "{drawn}"
    );
    assert!(
        !drawn.contains("\"runc\" [label=\"runc 1.2.0\", color=red"),
        "{drawn}"
    );
    // The way out works.
    assert_success(&dep(&cli, &ws, &["update", "kubernetes", "--to", "1.29.3"]).await);
    assert_eq!(locked_version(&ws, "kubernetes"), "1.29.3");
    assert!(
        fs::read_to_string(&config)
            .unwrap()
            .contains("kubernetes:1.29.3")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_flow_against_distribution() {
    let Some(distribution) = common::distribution::Distribution::start(Default::default()) else {
        return;
    };
    let host = distribution.host.clone();
    publish(&host).await;
    let cli = Cli::new();
    let ws = sample_workspace(&cli, &host);
    let out = dep(&cli, &ws, &["resolve"]).await;
    assert_success(&out);
    assert!(
        text(&out.stdout).contains("Installed 10 extension(s)"),
        "{}",
        text(&out.stdout)
    );
    assert_success(&dep(&cli, &ws, &["resolve", "--locked"]).await);
    assert_success(&dep(&cli, &ws, &["update", "os", "--to", "1.0.0"]).await);
    assert_eq!(locked_version(&ws, "os"), "1.0.0");
    assert_success(&dep(&cli, &ws, &["resolve"]).await);
    assert_eq!(locked_version(&ws, "os"), "1.0.0");
    let config = ws.join("config/provisioning.yaml");
    let original = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        original.replace("kubernetes:1.28.0", "kubernetes:1.31.1"),
    )
    .unwrap();
    assert_failure(
        &dep(&cli, &ws, &["resolve"]).await,
        common::exit::CONFLICT,
        "cilium 1.14.0 needs kubernetes >=1.26.0, <1.30.0",
    );
    fs::write(&config, &original).unwrap();
    drop(distribution);
    assert_success(&dep(&cli, &ws, &["resolve", "--offline"]).await);
}
