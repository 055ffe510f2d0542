//! `oci publish`: every sample of a monorepo at once, unchanged versions skipped with manifest
//! checks only, a changed file under an old version reported as a conflict, `--dry-run`
//! pushing nothing, and `--from-tag` publishing the one extension a CI tag names.

mod common;
use common::extension_fixtures;

use std::path::Path;

use common::TestRegistry;
use common::cli::*;
use common::distribution::{Distribution, DistributionOptions};
use common::faults::{FaultProxy, SeenRequest};
use common::{assert_failure, assert_success, exit, text};
use extension_fixtures::*;
use serde_json::Value;

/// `oci publish ROOT … --output json`: the exit code, the parsed entries and stderr.
async fn publish(
    cli: &Cli,
    host: &str,
    root: &Path,
    extra: &[&str],
) -> (Option<i32>, Vec<Value>, String) {
    publish_in_env(cli, host, root, extra, &[]).await
}

/// [`publish`] with `env` set on top of the environment.
async fn publish_in_env(
    cli: &Cli,
    host: &str,
    root: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Vec<Value>, String) {
    let mut args = vec!["publish", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend(["--output", "json"]);
    let output = cli.oci_with_env(host, &args, env).await;
    let stdout = text(&output.stdout);
    let entries: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "publish printed no JSON ({e}):\nstdout: {stdout}\nstderr: {}",
            text(&output.stderr)
        )
    });
    (
        output.status.code(),
        entries.as_array().unwrap().clone(),
        text(&output.stderr),
    )
}

fn statuses(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

fn count(entries: &[Value], status: &str) -> usize {
    entries.iter().filter(|e| e["status"] == status).count()
}

/// The registry's catalog (every repository), read directly.
async fn catalog(host: &str) -> Vec<String> {
    let body: Value = common::http_client()
        .get(format!("http://{host}/v2/_catalog?n=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut repos: Vec<String> = body["repositories"]
        .as_array()
        .map(|a| a.iter().map(|r| r.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    repos.sort();
    repos
}

/// Tags of `ext/<name>`, sorted.
async fn tags(host: &str, name: &str) -> Vec<String> {
    let response = common::http_client()
        .get(format!("http://{host}/v2/ext/{name}/tags/list"))
        .send()
        .await
        .unwrap();
    if response.status() == 404 {
        return Vec::new();
    }
    let body: Value = response.json().await.unwrap();
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

/// The distinct extension names of the samples.
fn sample_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = sample_version_dirs(root)
        .iter()
        .map(|d| {
            d.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Requests other than manifest checks (`HEAD`/`GET` on `/manifests/`) and the `/v2/` ping.
fn beyond_manifest_checks(seen: &[SeenRequest]) -> Vec<String> {
    seen.iter()
        .filter(|r| {
            let check = (r.method == "HEAD" || r.method == "GET") && r.path.contains("/manifests/");
            let ping = r.method == "GET" && (r.path == "/v2/" || r.path == "/v2");
            !check && !ping
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Publishes every sample to `host`, then again; the second run is all unchanged and sends
/// manifest checks only (`proxy` sits in front of `host`).
async fn publish_samples_twice(cli: &Cli, host: &str, proxy: &FaultProxy) -> Vec<Value> {
    let root = samples_root();
    let versions = sample_version_dirs(&root);
    assert!(versions.len() > 40, "the samples: {}", versions.len());
    let (code, first, stderr) = publish(cli, host, &root, &[]).await;
    assert_eq!(code, Some(0), "{stderr}\n{first:?}");
    assert_eq!(first.len(), versions.len(), "one entry per sample version");
    assert_eq!(
        count(&first, "published"),
        versions.len(),
        "{:?}",
        statuses(&first)
    );
    for entry in &first {
        let name = entry["name"].as_str().unwrap();
        let version = entry["version"].as_str().unwrap();
        assert_eq!(entry["reference"], format!("{host}/ext/{name}:{version}"));
        assert!(entry["digest"].as_str().unwrap().starts_with("sha256:"));
        let dir = Path::new(entry["directory"].as_str().unwrap());
        assert!(versions.iter().any(|v| v == dir), "{entry}");
    }

    proxy.clear_seen();
    let (code, second, stderr) = publish(cli, host, &root, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        count(&second, "unchanged"),
        versions.len(),
        "{:?}",
        statuses(&second)
    );
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a["digest"], b["digest"], "same digests");
    }
    let seen = proxy.seen();
    let extra = beyond_manifest_checks(&seen);
    assert!(extra.is_empty(), "only manifest checks: {extra:?}");
    assert!(
        seen.len() >= versions.len(),
        "one check per version at least"
    );
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_all_samples_then_nothing_changes() {
    let registry = TestRegistry::start().await;
    let proxy = FaultProxy::start(&registry.url).await;
    let cli = Cli::new();
    publish_samples_twice(&cli, &proxy.host, &proxy).await;
    let expected: Vec<String> = sample_names(&samples_root())
        .iter()
        .map(|n| format!("ext/{n}"))
        .collect();
    assert_eq!(catalog(&registry.host()).await, expected);
    assert_eq!(
        tags(&registry.host(), "kubernetes").await,
        ["1.27.11", "1.28.0", "1.29.3", "1.30.2", "1.31.1"]
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_all_samples_to_distribution() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let proxy = FaultProxy::start(&distribution.url).await;
    let cli = Cli::new();
    publish_samples_twice(&cli, &proxy.host, &proxy).await;
    assert_eq!(
        tags(&distribution.host, "kubernetes").await,
        ["1.27.11", "1.28.0", "1.29.3", "1.30.2", "1.31.1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_sample_conflicts_until_its_version_is_bumped() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = cli.path("monorepo");
    copy_tree(&samples_root(), &root);
    let total = sample_version_dirs(&root).len();
    let (code, first, stderr) = publish(&cli, &host, &root, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(count(&first, "published"), total);

    // One file of one sample changes, its version does not.
    let changed = root.join("taskservs/redis/7.2.4");
    let readme = changed.join("docs/README.md");
    let mut text_now = std::fs::read_to_string(&readme).unwrap();
    text_now.push_str("\nA line added without bumping the version.\n");
    std::fs::write(&readme, text_now).unwrap();
    let (code, second, _) = publish(&cli, &host, &root, &[]).await;
    assert_eq!(code, Some(exit::CONFLICT), "a conflict alone exits 5");
    assert_eq!(count(&second, "conflict"), 1, "{:?}", statuses(&second));
    assert_eq!(count(&second, "unchanged"), total - 1);
    let conflict = second.iter().find(|e| e["status"] == "conflict").unwrap();
    assert_eq!(conflict["name"], "redis");
    assert_eq!(conflict["version"], "7.2.4");
    let published = first.iter().find(|e| e["name"] == "redis").unwrap();
    assert_eq!(conflict["registry"], published["digest"], "{conflict}");
    assert_ne!(conflict["local"], published["digest"], "{conflict}");
    assert_eq!(tags(&host, "redis").await, ["7.2.4"]);

    // Bumping the version publishes exactly that one.
    let bumped = root.join("taskservs/redis/7.2.5");
    std::fs::rename(&changed, &bumped).unwrap();
    let manifest = bumped.join("manifest.yaml");
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    assert!(yaml.contains("version: 7.2.4"), "{yaml}");
    std::fs::write(&manifest, yaml.replace("version: 7.2.4", "version: 7.2.5")).unwrap();
    let (code, third, stderr) = publish(&cli, &host, &root, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(count(&third, "published"), 1, "{:?}", statuses(&third));
    assert_eq!(count(&third, "unchanged"), total - 1);
    let new = third.iter().find(|e| e["status"] == "published").unwrap();
    assert_eq!(new["name"], "redis");
    assert_eq!(new["version"], "7.2.5");
    assert_eq!(tags(&host, "redis").await, ["7.2.4", "7.2.5"]);

    // The table says the same for people.
    let table = cli.oci(&host, &["publish", root.to_str().unwrap()]).await;
    assert_success(&table);
    let stdout = text(&table.stdout);
    assert!(
        stdout.contains(&format!("0 published, {} unchanged, 0 failed", total)),
        "{stdout}"
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_pushes_nothing() {
    let registry = TestRegistry::start().await;
    let proxy = FaultProxy::start(&registry.url).await;
    let cli = Cli::new();
    let root = samples_root();
    let total = sample_version_dirs(&root).len();
    let (code, entries, stderr) = publish(&cli, &proxy.host, &root, &["--dry-run"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        count(&entries, "would_publish"),
        total,
        "{:?}",
        statuses(&entries)
    );
    assert!(catalog(&registry.host()).await.is_empty(), "nothing pushed");
    let extra = beyond_manifest_checks(&proxy.seen());
    assert!(extra.is_empty(), "a dry run only looks: {extra:?}");

    // After a real publish of one, a dry run sees it unchanged.
    let (code, _, stderr) = publish(
        &cli,
        &proxy.host,
        &root,
        &["--from-tag", "taskservs/etcd/v3.5.12"],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let catalog_before = catalog(&registry.host()).await;
    let (code, entries, stderr) = publish(&cli, &proxy.host, &root, &["--dry-run"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(count(&entries, "unchanged"), 1, "{:?}", statuses(&entries));
    assert_eq!(count(&entries, "would_publish"), total - 1);
    assert_eq!(catalog(&registry.host()).await, catalog_before);
    assert_eq!(tags(&registry.host(), "etcd").await, ["3.5.12"]);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_tag_publishes_only_that_one() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = samples_root();
    let (code, entries, stderr) = publish(
        &cli,
        &host,
        &root,
        &["--from-tag", "taskservs/kubernetes/v1.28.0"],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["status"], "published");
    assert_eq!(entries[0]["name"], "kubernetes");
    assert_eq!(entries[0]["version"], "1.28.0");
    assert_eq!(catalog(&host).await, ["ext/kubernetes"]);
    assert_eq!(tags(&host, "kubernetes").await, ["1.28.0"]);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_disagreeing_with_the_manifest_is_refused() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    // A tree laid out without version directories, whose manifest says another version.
    let root = cli.path("monorepo");
    let dir = root.join("taskservs/kubernetes");
    copy_tree(&sample("taskservs/kubernetes/1.28.0"), &dir);
    let args = [
        "publish",
        "--from-tag",
        "taskservs/kubernetes/v1.29.0",
        root.to_str().unwrap(),
    ];
    let output = cli.oci(&host, &args).await;
    assert_failure(&output, exit::FAILURE, "1.29.0");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("1.28.0"),
        "the manifest's version: {stderr}"
    );
    assert!(stderr.contains("1.29.0"), "the tag's version: {stderr}");

    // In a tree with version directories, a version that is not there is named with those
    // that are.
    let samples = samples_root();
    let args = [
        "publish",
        "--from-tag",
        "taskservs/kubernetes/v1.29.0",
        samples.to_str().unwrap(),
    ];
    let output = cli.oci(&host, &args).await;
    assert_failure(&output, exit::FAILURE, "1.29.0");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("1.29.0"), "{stderr}");
    assert!(stderr.contains("1.28.0"), "{stderr}");

    // A version directory whose manifest disagrees with its name and the tag.
    let root = cli.path("monorepo2");
    let dir = root.join("taskservs/kubernetes/1.29.0");
    copy_tree(&sample("taskservs/kubernetes/1.28.0"), &dir);
    let args = [
        "publish",
        "--from-tag",
        "taskservs/kubernetes/v1.29.0",
        root.to_str().unwrap(),
    ];
    let output = cli.oci(&host, &args).await;
    assert_failure(&output, exit::FAILURE, "1.29.0");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("1.28.0") && stderr.contains("1.29.0"),
        "both versions: {stderr}"
    );
    assert!(catalog(&host).await.is_empty(), "nothing pushed");
    registry.stop().await;
}

/// CI sets `GITHUB_SHA` to each commit, and the manifest carries it as an annotation, so the
/// manifest digest changes with every commit. The content does not: a version published from
/// one commit is unchanged from the next, not a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_from_one_ci_commit_to_the_next() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = cli.path("monorepo");
    for path in ["taskservs/redis/7.2.4", "providers/aws/2.0.0"] {
        copy_tree(&sample(path), &root.join(path));
    }
    // Every variable the revision is read from, so whichever the runner itself sets is covered.
    let commit = |sha: &'static str| {
        [
            ("PROVISIONING_SOURCE_REVISION", sha),
            ("GITHUB_SHA", sha),
            ("CI_COMMIT_SHA", sha),
        ]
    };
    let first_sha = "1111111111111111111111111111111111111111";
    let (code, first, stderr) = publish_in_env(&cli, &host, &root, &[], &commit(first_sha)).await;
    assert_eq!(code, Some(0), "{stderr}\n{first:?}");
    assert_eq!(statuses(&first), ["published", "published"]);

    let second_sha = "2222222222222222222222222222222222222222";
    let (code, second, stderr) = publish_in_env(&cli, &host, &root, &[], &commit(second_sha)).await;
    assert_eq!(code, Some(0), "{stderr}\n{second:?}");
    assert_eq!(statuses(&second), ["unchanged", "unchanged"]);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a["digest"], b["digest"], "the registry's manifest is kept");
    }
    let (code, dry, stderr) = publish_in_env(
        &cli,
        &host,
        &root,
        &["--dry-run"],
        &commit("3333333333333333333333333333333333333333"),
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(statuses(&dry), ["unchanged", "unchanged"]);

    // `oci push` of one of them from yet another commit says the same.
    let dir = root.join("taskservs/redis/7.2.4");
    let pushed = cli
        .oci_with_env(
            &host,
            &["push", dir.to_str().unwrap(), "redis", "7.2.4"],
            &commit("4444444444444444444444444444444444444444"),
        )
        .await;
    assert_success(&pushed);
    assert!(
        text(&pushed.stdout).contains("already published with this content"),
        "{}",
        text(&pushed.stdout)
    );

    // The registry still holds the first commit's manifest.
    let manifest: Value = common::http_client()
        .get(format!("http://{host}/v2/ext/redis/manifests/7.2.4"))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.revision"],
        first_sha
    );
    registry.stop().await;
}
