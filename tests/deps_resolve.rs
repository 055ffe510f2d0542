//! The resolver against the embedded registry with the bundled samples: the sample workspace
//! resolves in install order, and every trap of the inventory is explained in plain sentences.

mod common;

use common::deps::client;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use provisioning::deps::source::Repo;
use provisioning::deps::{ResolveError, ResolveEvent, ResolveEvents, ResolveOptions, resolve};
use provisioning::oci::ReferenceDefaults;
use provisioning::workspace::Workspace;

/// One registry with the samples for every test of this file, on a runtime that outlives them.
fn shared_registry() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let registry = common::TestRegistry::start().await;
                let host = registry.host();
                let scratch = tempfile::tempdir().unwrap();
                let (registries, cache) = client(scratch.path());
                provisioning::extension::samples::publish(
                    &scratch.path().join("samples"),
                    &registries,
                    &cache,
                    &ReferenceDefaults {
                        registry: host.clone(),
                        namespace: "provisioning-extensions".into(),
                    },
                )
                .await
                .unwrap();
                tx.send(host).unwrap();
                std::future::pending::<()>().await;
                drop(registry);
            });
        });
        rx.recv().unwrap()
    })
}

/// A workspace on `host` whose taskservs/providers/clusters lists are given as YAML lines.
fn workspace(dir: &Path, host: &str, modules: &str) -> Workspace {
    let text = format!(
        "dependencies:\n  core:\n    source: \"oci://{host}/provisioning-core:v3.5.0\"\n  extensions:\n    source_type: oci\n    oci:\n      registry: \"{host}\"\n      namespace: provisioning-extensions\n      tls_enabled: false\n    modules:\n{modules}"
    );
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config/provisioning.yaml"), text).unwrap();
    Workspace::load(dir).unwrap()
}

fn taskservs(pins: &[&str]) -> String {
    let mut out = String::from("      taskservs:\n");
    for pin in pins {
        out.push_str(&format!("        - {pin}\n"));
    }
    out
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn options(&self) -> ResolveOptions {
        let (registries, cache) = client(self.dir.path());
        ResolveOptions::new(registries, cache)
    }

    fn ws(&self) -> PathBuf {
        self.dir.path().join("ws")
    }
}

async fn conflict(modules: &str) -> String {
    let host = shared_registry();
    let scratch = Scratch::new();
    let ws = workspace(&scratch.ws(), host, modules);
    match resolve(&ws, scratch.options()).await {
        Err(ResolveError::Conflict(explanation)) => explanation.to_string(),
        Err(other) => panic!("expected a conflict, got: {other}"),
        Ok(r) => panic!(
            "expected a conflict, resolved: {:?}",
            r.extensions
                .iter()
                .map(|e| format!("{} {}", e.name, e.version))
                .collect::<Vec<_>>()
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sample_workspace_resolves_in_install_order() {
    let host = shared_registry();
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.ws().join("config")).unwrap();
    std::fs::write(
        scratch.ws().join("config/provisioning.yaml"),
        provisioning::extension::samples::workspace_config(host),
    )
    .unwrap();
    let ws = Workspace::load(&scratch.ws()).unwrap();
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut options = scratch.options();
    options.events = ResolveEvents::new(sender);
    let resolution = resolve(&ws, options).await.unwrap();
    let got: BTreeSet<String> = resolution
        .extensions
        .iter()
        .map(|e| format!("{} {}", e.name, e.version))
        .collect();
    let expected: BTreeSet<String> = [
        "aws 2.0.0",
        "upcloud 1.5.0",
        "kubernetes 1.28.0",
        "containerd 1.7.0",
        "cilium 1.14.0",
        "buildkit 0.12.0",
        "etcd 3.5.12",
        "runc 1.2.0",
        "oci-reg 2.0.1",
        "os 1.1.0",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(got, expected);
    // Install order: every extension after what it needs.
    let order: Vec<&str> = resolution
        .extensions
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for e in &resolution.extensions {
        let at = order.iter().position(|n| *n == e.name).unwrap();
        for dep in &e.dependencies {
            let dep_at = order.iter().position(|n| n == dep).unwrap();
            assert!(dep_at < at, "{dep} must come before {}: {order:?}", e.name);
        }
    }
    assert_eq!(resolution.core, Some(semver::Version::new(3, 5, 0)));
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        events.push(event);
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ResolveEvent::CandidatesKnown { name, .. } if name == "runc"))
    );
    assert!(events.iter().any(|e| matches!(e, ResolveEvent::Chosen { name, version } if name == "os" && version.to_string() == "1.1.0")));
    assert!(matches!(
        events.last(),
        Some(ResolveEvent::Done { extensions: 10, .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn cilium_1_14_with_kubernetes_1_31_is_explained_with_the_way_out() {
    let text = conflict(&taskservs(&["kubernetes:1.31.1", "cilium:1.14.0"])).await;
    assert!(
        text.contains("the workspace pins cilium 1.14.0 and kubernetes 1.31.1"),
        "{text}"
    );
    assert!(
        text.contains("cilium 1.14.0 needs kubernetes >=1.26.0, <1.30.0"),
        "{text}"
    );
    assert!(
        text.contains(
            "cilium 1.15.3 accepts kubernetes 1.31.1: provisioning dep update cilium --to 1.15.3"
        ),
        "{text}"
    );
    assert!(
        text.contains("kubernetes 1.29.3 accepts cilium 1.14.0: provisioning dep update kubernetes --to 1.29.3"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_range_finds_the_cilium_that_fits() {
    let host = shared_registry();
    let scratch = Scratch::new();
    let modules = taskservs(&["kubernetes:1.31.1", "{name: cilium, range: \"^1.14\"}"]);
    let ws = workspace(&scratch.ws(), host, &modules);
    let resolution = resolve(&ws, scratch.options()).await.unwrap();
    let version = |n: &str| resolution.get(n).unwrap().version.to_string();
    assert_eq!(version("cilium"), "1.15.3");
    assert_eq!(version("containerd"), "2.0.0");
    assert_eq!(version("runc"), "1.2.0");
    assert_eq!(version("etcd"), "3.5.12");
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_1_31_needs_containerd_2_which_needs_runc_1_2() {
    let text = conflict(&taskservs(&["kubernetes:1.31.1", "runc:1.1.12"])).await;
    assert!(
        text.contains("the workspace pins kubernetes 1.31.1 and runc 1.1.12"),
        "{text}"
    );
    assert!(
        text.contains("kubernetes 1.31.1 needs containerd >=2.0.0"),
        "{text}"
    );
    assert!(
        text.contains("containerd 2.0.0 needs runc >=1.2.0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cycle_is_refused_with_its_path() {
    let host = shared_registry();
    let scratch = Scratch::new();
    let ws = workspace(&scratch.ws(), host, &taskservs(&["cycle-a:1.0.0"]));
    let error = resolve(&ws, scratch.options()).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cycle-a 1.0.0 → cycle-b 1.0.0 → cycle-a 1.0.0"),
        "{error}"
    );
    assert!(matches!(error, ResolveError::Cycle(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_dash_needs_a_newer_core() {
    let text = conflict(&taskservs(&["legacy-dash:0.9.0"])).await;
    assert!(
        text.contains("the workspace uses provisioning core 3.5.0"),
        "{text}"
    );
    assert!(
        text.contains(
            "legacy-dash 0.9.0 needs provisioning core >=4.0.0 (its min_provisioning_version)"
        ),
        "{text}"
    );
    assert!(
        text.contains("use a core of version 4.0.0 or newer"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unpublished_pin_says_what_is_there() {
    let text = conflict(&taskservs(&["os:9.9.9"])).await;
    assert!(
        text.contains("os 9.9.9 is not published (the newest are 1.1.0, 1.0.0)"),
        "{text}"
    );
    let text = conflict(&taskservs(&["no-such-thing:1.0.0"])).await;
    assert!(text.contains("no-such-thing is not published in"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_from_two_repositories_is_refused_naming_both() {
    let host = shared_registry();
    let scratch = Scratch::new();
    // kubernetes from a mirror namespace reaches `containerd` there; the workspace pins the
    // one of provisioning-extensions.
    let (registries, cache) = client(scratch.dir.path());
    let client = registries.client(host);
    for (name, tag) in [("kubernetes", "1.28.0")] {
        let from = format!("provisioning-extensions/{name}");
        let manifest = client.manifest(&from, tag).await.unwrap();
        let view =
            provisioning::oci::manifest::ManifestView::parse(&manifest.bytes, &manifest.media_type)
                .unwrap();
        let to = format!("mirror/{name}");
        for blob in view.blobs() {
            client.mount_blob(&to, &blob.digest, &from).await.unwrap();
        }
        client
            .put_manifest(&to, tag, &manifest.media_type, &manifest.bytes)
            .await
            .unwrap();
    }
    let _ = cache;
    let modules = taskservs(&[
        &format!("\"oci://{host}/mirror/kubernetes:1.28.0\""),
        "containerd:1.7.0",
    ]);
    let ws = workspace(&scratch.ws(), host, &modules);
    let error = resolve(&ws, scratch.options())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`containerd` is reached from two repositories"),
        "{error}"
    );
    assert!(
        error.contains(&format!("{host}/provisioning-extensions/containerd")),
        "{error}"
    );
    assert!(
        error.contains(&format!("{host}/mirror/containerd")),
        "{error}"
    );
    let _ = Repo::in_namespace(host, "mirror", "x");
}
