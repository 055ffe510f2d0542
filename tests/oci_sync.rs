//! `oci sync SRC DST`: a namespace mirrored between the embedded registry and Debian's
//! distribution (which has no referrers API, so the `sha256-<hex>` tag fallback is read and
//! written), with every tag, index, referrer and cosign signature tag; a second run writes
//! nothing; moved and deleted tags; retries; failures that stop nothing else; dry runs; bad
//! input. `copy` and `export` carry signature tags too.

mod common;
use common::oci_fixtures;

use std::collections::BTreeMap;

use common::TestRegistry;
use common::cli::Cli;
use common::distribution::{Distribution, DistributionOptions};
use common::faults::{Fault, FaultKind, FaultProxy};
use common::{assert_failure, assert_success, exit, text};
use oci_fixtures::*;
use provisioning::oci::Digest;
use provisioning::oci::client::{Descriptor, RegistryClient};
use provisioning::oci::copy::signature_tag;
use serde_json::Value;

const NS: &str = "provisioning-extensions";
const COSIGN_PAYLOAD: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";

/// What [`seed_extras`] added beside the samples.
struct Extras {
    /// `<ns>/multi:1.0.0`, an index of two manifests.
    index: Digest,
    /// A referrer (subject: the index).
    referrer: Digest,
    /// The cosign signature of the index, under `sha256-<hex>.sig`.
    signature: Digest,
}

fn is_fallback_tag(tag: &str) -> bool {
    tag.starts_with("sha256-") && !tag.contains('.')
}

/// Pushes a manifest with a subject; lists it under the subject's fallback tag where the
/// registry does not index it itself.
async fn push_referrer(
    client: &RegistryClient,
    repo: &str,
    artifact: &Artifact,
    scratch: &std::path::Path,
) -> Digest {
    for blob in artifact.blobs() {
        upload(client, repo, blob, scratch).await;
    }
    let bytes = artifact.manifest_bytes();
    let digest = artifact.digest();
    let pushed = client
        .push_manifest(repo, &digest.to_string(), OCI_MANIFEST, &bytes)
        .await
        .unwrap();
    if !pushed.subject_indexed {
        client
            .add_to_referrers_tag(
                repo,
                &artifact.subject.as_ref().unwrap().digest,
                &artifact.descriptor(),
            )
            .await
            .unwrap();
    }
    digest
}

/// A cosign-shaped signature of `digest`: the simple-signing payload as its one layer, the
/// signature in the layer's annotation.
fn cosign_signature(digest: &Digest, seed: &str) -> Artifact {
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": "mirror-test"},
            "image": {"docker-manifest-digest": digest.to_string()},
            "type": "cosign container image signature"
        },
        "optional": {"seed": seed}
    }))
    .unwrap();
    Artifact::new(
        blob(
            "application/vnd.oci.image.config.v1+json",
            b"{\"architecture\":\"\",\"os\":\"\"}",
            &[],
        ),
        vec![blob(
            COSIGN_PAYLOAD,
            &payload,
            &[(COSIGN_SIGNATURE, "MEUCIQDtestsignature")],
        )],
    )
}

/// An index of two manifests at `<ns>/multi:1.0.0`, a referrer of it and its cosign
/// signature tag.
async fn seed_extras(bench: &Workbench, host: &str, ns: &str) -> Extras {
    let client = bench.client(host);
    let scratch = bench.scratch();
    let repo = format!("{ns}/multi");
    let amd = Artifact::extension("multi", "1.0.0", "amd64");
    let arm = Artifact::extension("multi", "1.0.0", "arm64");
    for child in [&amd, &arm] {
        child
            .push(&client, &repo, &child.digest().to_string(), &scratch)
            .await;
    }
    let index_bytes = index_bytes(&[
        (amd.descriptor(), "linux", "amd64"),
        (arm.descriptor(), "linux", "arm64"),
    ]);
    let index = client
        .put_manifest(&repo, "1.0.0", OCI_INDEX, &index_bytes)
        .await
        .unwrap();
    let mut referrer = Artifact::new(
        blob("application/vnd.oci.empty.v1+json", b"{}", &[]),
        vec![blob("application/vnd.example.sbom", b"sbom of multi", &[])],
    );
    referrer.artifact_type = Some("application/vnd.example.sbom.v1+json".into());
    referrer.subject = Some(Descriptor {
        media_type: OCI_INDEX.into(),
        digest: index.clone(),
        size: index_bytes.len() as u64,
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    });
    let referrer = push_referrer(&client, &repo, &referrer, &scratch).await;
    let signature = cosign_signature(&index, "1")
        .push(&client, &repo, &signature_tag(&index), &scratch)
        .await;
    Extras {
        index,
        referrer,
        signature,
    }
}

/// The samples (53 extensions with the core and platform artifacts) and the extras.
async fn seed_namespace(host: &str) -> (Workbench, Extras) {
    common::deps::publish(host).await;
    let bench = Workbench::new();
    let extras = seed_extras(&bench, host, NS).await;
    (bench, extras)
}

/// Every repository under `ns` at `host` with its tags (fallback tags left out) and digests.
async fn snapshot(client: &RegistryClient, ns: &str) -> BTreeMap<String, BTreeMap<String, Digest>> {
    let mut out = BTreeMap::new();
    for repo in client.catalog(1000).await.unwrap() {
        let Some(rest) = repo.strip_prefix(&format!("{ns}/")) else {
            continue;
        };
        let mut tags = BTreeMap::new();
        for tag in client.tags(&repo).await.unwrap() {
            if is_fallback_tag(&tag) {
                continue;
            }
            let digest = client.manifest_digest(&repo, &tag).await.unwrap().unwrap();
            tags.insert(tag, digest);
        }
        out.insert(rest.to_string(), tags);
    }
    out
}

fn sync_args<'a>(source: &'a str, target: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "oci",
        "sync",
        source,
        target,
        "--plain-http",
        "--no-progress",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    args
}

/// `oci sync … --output json`, asserting success; the report.
async fn sync_ok(cli: &Cli, source: &str, target: &str, extra: &[&str]) -> Value {
    let output = cli.run(&sync_args(source, target, extra)).await;
    assert_success(&output);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", text(&output.stdout)))
}

/// Tag statuses of one repository in a report: tag → status.
fn statuses(report: &Value, repo_suffix: &str) -> BTreeMap<String, String> {
    let repository = report["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"].as_str().unwrap().ends_with(repo_suffix))
        .unwrap_or_else(|| panic!("no repository {repo_suffix} in {report:#}"));
    repository["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn writes(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .seen()
        .into_iter()
        .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The mirror holds every repository, tag and digest of the source, the index's referrer and
/// the signature tag; skopeo reads the mirrored index byte for byte.
async fn assert_mirrored(
    bench: &Workbench,
    source: &str,
    target: &str,
    target_ns: &str,
    extras: &Extras,
) {
    let (from, to) = (bench.client(source), bench.client(target));
    let expected = snapshot(&from, NS).await;
    let mirrored = snapshot(&to, target_ns).await;
    assert!(
        expected.values().map(BTreeMap::len).sum::<usize>() > 50,
        "the samples were published: {expected:?}"
    );
    assert_eq!(mirrored, expected);
    let multi = format!("{target_ns}/multi");
    assert_eq!(mirrored["multi"]["1.0.0"], extras.index);
    assert_eq!(
        mirrored["multi"][&signature_tag(&extras.index)],
        extras.signature
    );
    let referrers = to.referrers(&multi, &extras.index, None).await.unwrap();
    assert_eq!(
        referrers.iter().map(|r| &r.digest).collect::<Vec<_>>(),
        vec![&extras.referrer]
    );
    if common::require_peer("skopeo") {
        let raw = |host: &str, repo: String| {
            vec![
                "inspect".to_string(),
                "--raw".into(),
                "--tls-verify=false".into(),
                format!("docker://{host}/{repo}:1.0.0"),
            ]
        };
        let at_source = common::skopeo(raw(source, format!("{NS}/multi"))).await;
        let at_mirror = common::skopeo(raw(target, multi)).await;
        assert_eq!(at_mirror, at_source);
        assert_eq!(Digest::sha256_of(&at_mirror), extras.index);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_is_mirrored_whole_and_a_second_run_writes_nothing() {
    let source = TestRegistry::start().await;
    let target = TestRegistry::start().await;
    let (bench, extras) = seed_namespace(&source.host()).await;
    let (source_proxy, target_proxy) = (
        FaultProxy::start(&source.url).await,
        FaultProxy::start(&target.url).await,
    );
    let cli = Cli::new();
    let src = format!("{}/{NS}", source_proxy.host);
    let dst = format!("{}/mirror", target_proxy.host);

    let first = sync_ok(&cli, &src, &dst, &[]).await;
    let summary = &first["summary"];
    assert_eq!(summary["failed"], 0, "{first:#}");
    assert!(summary["added"].as_u64().unwrap() > 50, "{summary}");
    assert_eq!(summary["unchanged"], 0);
    assert_eq!(
        statuses(&first, "/multi")[&signature_tag(&extras.index)],
        "added"
    );
    assert_mirrored(&bench, &source.host(), &target.host(), "mirror", &extras).await;

    source_proxy.clear_seen();
    target_proxy.clear_seen();
    let second = sync_ok(&cli, &src, &dst, &[]).await;
    let summary = &second["summary"];
    assert_eq!(summary["added"], 0, "{second:#}");
    assert_eq!(summary["updated"], 0);
    assert_eq!(summary["referrers"], 0);
    assert_eq!(summary["unchanged"], first["summary"]["added"]);
    assert_eq!(
        writes(&target_proxy),
        Vec::<String>::new(),
        "the second run wrote to the mirror"
    );
    for proxy in [&source_proxy, &target_proxy] {
        let bodies: Vec<_> = proxy
            .seen()
            .into_iter()
            .filter(|r| {
                r.path.contains("/blobs/") || (r.method == "GET" && r.path.contains("/manifests/"))
            })
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            bodies,
            Vec::<String>::new(),
            "only manifest checks (HEAD) on a second run"
        );
        assert!(
            proxy
                .seen()
                .iter()
                .any(|r| r.method == "HEAD" && r.path.contains("/manifests/"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tag_fallback_is_written_and_read_between_distribution_and_the_embedded_registry() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let source = TestRegistry::start().await;
    let (bench, extras) = seed_namespace(&source.host()).await;
    let cli = Cli::new();

    // To distribution: referrers are written under the `sha256-<hex>` tag.
    let proxy = FaultProxy::start(&distribution.url).await;
    let dst = format!("{}/mirror", proxy.host);
    let first = sync_ok(&cli, &format!("{}/{NS}", source.host()), &dst, &[]).await;
    assert_eq!(first["summary"]["failed"], 0, "{first:#}");
    assert_mirrored(
        &bench,
        &source.host(),
        &distribution.host,
        "mirror",
        &extras,
    )
    .await;
    let fallback = format!("sha256-{}", extras.index.hex());
    assert!(
        bench
            .client(&distribution.host)
            .tags("mirror/multi")
            .await
            .unwrap()
            .contains(&fallback)
    );
    proxy.clear_seen();
    let second = sync_ok(&cli, &format!("{}/{NS}", source.host()), &dst, &[]).await;
    assert_eq!(
        second["summary"]["unchanged"], first["summary"]["added"],
        "{second:#}"
    );
    assert_eq!(writes(&proxy), Vec::<String>::new());
    assert!(!proxy.seen().iter().any(|r| r.path.contains("/blobs/")));

    // From distribution: referrers are read from the `sha256-<hex>` tag, which is not a tag
    // of its own at the mirror's end.
    let back = TestRegistry::start().await;
    let report = sync_ok(
        &cli,
        &format!("{}/mirror", distribution.host),
        &format!("{}/{NS}", back.host()),
        &[],
    )
    .await;
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    assert!(
        !statuses(&report, "/multi").contains_key(&fallback),
        "{report:#}"
    );
    assert_mirrored(&bench, &source.host(), &back.host(), NS, &extras).await;
}

/// `ext/app` with 1.0.0, 2.0.0 and `latest` (= 2.0.0).
async fn seed_app(bench: &Workbench, host: &str) -> BTreeMap<&'static str, Digest> {
    let client = bench.client(host);
    let mut out = BTreeMap::new();
    for version in ["1.0.0", "2.0.0"] {
        let digest = Artifact::extension("app", version, "an app")
            .push(&client, "ext/app", version, &bench.scratch())
            .await;
        out.insert(version, digest);
    }
    Artifact::extension("app", "2.0.0", "an app")
        .push(&client, "ext/app", "latest", &bench.scratch())
        .await;
    out
}

async fn moved_and_deleted_tags(source: &str, target: &str) {
    let bench = Workbench::new();
    let seeded = seed_app(&bench, source).await;
    let (from, to) = (bench.client(source), bench.client(target));
    let cli = Cli::new();
    let (src, dst) = (format!("{source}/ext/app"), format!("{target}/mirror/app"));
    sync_ok(&cli, &src, &dst, &[]).await;

    // `latest` moves to 3.0.0; 1.0.0 is deleted at the source.
    let three = Artifact::extension("app", "3.0.0", "an app");
    three
        .push(&from, "ext/app", "3.0.0", &bench.scratch())
        .await;
    three
        .push(&from, "ext/app", "latest", &bench.scratch())
        .await;
    from.delete_manifest("ext/app", &seeded["1.0.0"].to_string())
        .await
        .unwrap();

    let report = sync_ok(&cli, &src, &dst, &[]).await;
    let tags = statuses(&report, "ext/app");
    assert_eq!(tags["latest"], "updated", "{report:#}");
    assert_eq!(tags["3.0.0"], "added");
    assert_eq!(tags["2.0.0"], "unchanged");
    assert_eq!(tags["1.0.0"], "deleted");
    let latest = report["repositories"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "latest")
        .unwrap();
    assert_eq!(latest["previous"], seeded["2.0.0"].to_string());
    assert_eq!(latest["digest"], three.digest().to_string());
    assert_eq!(
        to.manifest_digest("mirror/app", "latest").await.unwrap(),
        Some(three.digest())
    );
    assert_eq!(
        to.manifest_digest("mirror/app", "1.0.0").await.unwrap(),
        Some(seeded["1.0.0"].clone()),
        "kept without --prune"
    );
    let text_output = cli
        .run(&["oci", "sync", &src, &dst, "--plain-http", "--no-progress"])
        .await;
    assert_success(&text_output);
    assert!(
        text(&text_output.stdout).contains("1.0.0"),
        "{}",
        text(&text_output.stdout)
    );
    assert!(text(&text_output.stdout).contains("--prune removes it"));

    let pruned = sync_ok(&cli, &src, &dst, &["--prune"]).await;
    assert_eq!(
        statuses(&pruned, "ext/app")["1.0.0"],
        "pruned",
        "{pruned:#}"
    );
    assert_eq!(
        to.manifest_digest("mirror/app", "1.0.0").await.unwrap(),
        None
    );
    assert_eq!(
        to.manifest_digest("mirror/app", "2.0.0").await.unwrap(),
        Some(seeded["2.0.0"].clone())
    );
    let after = sync_ok(&cli, &src, &dst, &["--prune"]).await;
    assert!(!statuses(&after, "ext/app").contains_key("1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_tag_moves_and_a_deleted_one_is_reported_then_pruned() {
    let (source, target) = (TestRegistry::start().await, TestRegistry::start().await);
    moved_and_deleted_tags(&source.host(), &target.host()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_prunes_a_deleted_tag_by_its_manifest() {
    let Some(source) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let Some(target) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    moved_and_deleted_tags(&source.host, &target.host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_writes_nothing_and_says_what_it_would_do() {
    let (source, target) = (TestRegistry::start().await, TestRegistry::start().await);
    let bench = Workbench::new();
    seed_app(&bench, &source.host()).await;
    let proxy = FaultProxy::start(&target.url).await;
    let cli = Cli::new();
    let (src, dst) = (
        format!("{}/ext", source.host()),
        format!("{}/mirror", proxy.host),
    );
    let report = sync_ok(&cli, &src, &dst, &["--dry-run"]).await;
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        statuses(&report, "ext/app").values().collect::<Vec<_>>(),
        vec!["added"; 3],
        "{report:#}"
    );
    assert_eq!(writes(&proxy), Vec::<String>::new());
    assert!(
        bench
            .client(&target.host())
            .catalog(100)
            .await
            .unwrap()
            .is_empty()
    );
    let shown = cli
        .run(&[
            "oci",
            "sync",
            &src,
            &dst,
            "--dry-run",
            "--plain-http",
            "--no-progress",
        ])
        .await;
    assert_success(&shown);
    let shown = text(&shown.stdout);
    assert!(
        shown.contains("would add") && shown.contains("Dry run, nothing written"),
        "{shown}"
    );
    assert_eq!(writes(&proxy), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_and_a_429_mid_sync_are_retried() {
    let (source, target) = (TestRegistry::start().await, TestRegistry::start().await);
    let bench = Workbench::new();
    let seeded = seed_app(&bench, &source.host()).await;
    let (source_proxy, target_proxy) = (
        FaultProxy::start(&source.url).await,
        FaultProxy::start(&target.url).await,
    );
    source_proxy.inject(Fault {
        method: Some("GET"),
        path_contains: "/tags/list".into(),
        times: 1,
        kind: FaultKind::Status(503),
    });
    source_proxy.inject(Fault {
        method: Some("HEAD"),
        path_contains: "/manifests/".into(),
        times: 1,
        kind: FaultKind::TooManyRequests {
            retry_after_secs: 1,
        },
    });
    target_proxy.inject(Fault {
        method: Some("PUT"),
        path_contains: "/manifests/".into(),
        times: 2,
        kind: FaultKind::Status(503),
    });
    let cli = Cli::new();
    let report = sync_ok(
        &cli,
        &format!("{}/ext", source_proxy.host),
        &format!("{}/mirror", target_proxy.host),
        &[],
    )
    .await;
    assert_eq!(report["summary"]["added"], 3, "{report:#}");
    assert_eq!(report["summary"]["failed"], 0);
    let to = bench.client(&target.host());
    for (tag, digest) in &seeded {
        assert_eq!(
            to.manifest_digest("mirror/app", tag)
                .await
                .unwrap()
                .as_ref(),
            Some(digest)
        );
    }
    let count = |proxy: &FaultProxy, method: &str, path: &str| {
        proxy
            .seen()
            .iter()
            .filter(|r| r.method == method && r.path.contains(path))
            .count()
    };
    assert_eq!(
        count(&source_proxy, "GET", "/ext/app/tags/list"),
        2,
        "the tag list was asked for again"
    );
    assert_eq!(
        count(&source_proxy, "HEAD", "/ext/app/manifests/"),
        4,
        "one manifest check was asked again"
    );
    assert!(
        count(&target_proxy, "PUT", "/manifests/") >= 5,
        "{:?}",
        target_proxy.seen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_repository_or_tag_stops_nothing_else_and_exits_1() {
    let (source, target) = (TestRegistry::start().await, TestRegistry::start().await);
    let bench = Workbench::new();
    let client = bench.client(&source.host());
    for name in ["alpha", "broken", "bad", "omega"] {
        Artifact::extension(name, "1.0.0", name)
            .push(&client, &format!("ext/{name}"), "1.0.0", &bench.scratch())
            .await;
    }
    let (source_proxy, target_proxy) = (
        FaultProxy::start(&source.url).await,
        FaultProxy::start(&target.url).await,
    );
    // `broken` cannot be listed; `bad` cannot be written.
    source_proxy.inject(Fault {
        method: Some("GET"),
        path_contains: "/ext/broken/tags/list".into(),
        times: 1000,
        kind: FaultKind::Status(503),
    });
    target_proxy.inject(Fault {
        method: Some("PUT"),
        path_contains: "/mirror/bad/manifests/".into(),
        times: 1000,
        kind: FaultKind::Status(500),
    });
    let cli = Cli::new();
    let output = cli
        .run(&sync_args(
            &format!("{}/ext", source_proxy.host),
            &format!("{}/mirror", target_proxy.host),
            &[],
        ))
        .await;
    assert_failure(
        &output,
        exit::FAILURE,
        "sync incomplete: 1 tag and 1 repository failed",
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        statuses(&report, "ext/alpha")["1.0.0"],
        "added",
        "{report:#}"
    );
    assert_eq!(statuses(&report, "ext/omega")["1.0.0"], "added");
    assert_eq!(statuses(&report, "ext/bad")["1.0.0"], "failed");
    let broken = report["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"].as_str().unwrap().ends_with("ext/broken"))
        .unwrap();
    assert!(
        broken["error"].as_str().unwrap().contains("503"),
        "{broken:#}"
    );
    let to = bench.client(&target.host());
    for name in ["alpha", "omega"] {
        assert!(
            to.manifest_digest(&format!("mirror/{name}"), "1.0.0")
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(
        to.manifest_digest("mirror/bad", "1.0.0").await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_overlapping_ends_are_usage_errors_naming_the_argument() {
    let cli = Cli::new();
    for (args, says) in [
        (["a", "b"], "SRC: `a` names no registry"),
        (["localhost:5000/ns", "b"], "DST: `b` names no registry"),
        (
            ["localhost:5000/ns", "team/app"],
            "DST: `team/app` does not start with a registry host",
        ),
        (
            ["localhost:5000/ns:1.0", "localhost:6000/m"],
            "SRC: `localhost:5000/ns:1.0` names a tag or digest",
        ),
        (
            ["localhost:5000/Ns", "localhost:6000/m"],
            "SRC: `localhost:5000/Ns`",
        ),
        (["localhost:5000/ns", "localhost:5000/ns/mirror"], "overlap"),
    ] {
        let output = cli
            .run(&[
                "oci",
                "sync",
                args[0],
                args[1],
                "--plain-http",
                "--no-progress",
            ])
            .await;
        assert_failure(&output, exit::USAGE, says);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_namespace_is_not_found() {
    let (source, target) = (TestRegistry::start().await, TestRegistry::start().await);
    let bench = Workbench::new();
    seed_app(&bench, &source.host()).await;
    let cli = Cli::new();
    let output = cli
        .run(&sync_args(
            &format!("{}/nothing-here", source.host()),
            &format!("{}/m", target.host()),
            &[],
        ))
        .await;
    assert_failure(
        &output,
        exit::NOT_FOUND,
        "repository or namespace nothing-here not found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_export_carry_signature_tags() {
    let (source, target) = (TestRegistry::start().await, TestRegistry::start().await);
    let bench = Workbench::new();
    let extras = seed_extras(&bench, &source.host(), "ext").await;
    let sig_tag = signature_tag(&extras.index);
    let cli = Cli::new();

    let copied = cli
        .oci_json(
            &source.host(),
            &[
                "copy",
                &format!("{}/ext/multi:1.0.0", source.host()),
                &format!("{}/copied/multi:1.0.0", target.host()),
            ],
        )
        .await;
    assert_eq!(copied["signatures"], 1, "{copied:#}");
    let to = bench.client(&target.host());
    assert_eq!(
        to.manifest_digest("copied/multi", &sig_tag).await.unwrap(),
        Some(extras.signature.clone())
    );

    let dir = cli.path("layout");
    let exported = cli
        .oci_json(
            &source.host(),
            &["export", "multi:1.0.0", "--to", dir.to_str().unwrap()],
        )
        .await;
    assert_eq!(exported["signatures"], 1, "{exported:#}");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert!(
        names.contains(&format!("ext/multi:{sig_tag}").as_str()),
        "{names:?}"
    );
    let imported = TestRegistry::start().await;
    let output = cli
        .run(&[
            "oci",
            "import",
            dir.to_str().unwrap(),
            "--registry",
            &imported.host(),
            "--plain-http",
            "--no-progress",
        ])
        .await;
    assert_success(&output);
    assert_eq!(
        bench
            .client(&imported.host())
            .manifest_digest("ext/multi", &sig_tag)
            .await
            .unwrap(),
        Some(extras.signature)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_one_registry_blobs_are_mounted_not_sent_again() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let seeded = seed_app(&bench, &registry.host()).await;
    let proxy = FaultProxy::start(&registry.url).await;
    let cli = Cli::new();
    let report = sync_ok(
        &cli,
        &format!("{}/ext", proxy.host),
        &format!("{}/mirror", proxy.host),
        &[],
    )
    .await;
    let summary = &report["summary"];
    assert_eq!(summary["added"], 3, "{report:#}");
    assert_eq!(summary["blobs_transferred"], 0, "{report:#}");
    assert!(
        summary["blobs_mounted"].as_u64().unwrap() >= 5,
        "{report:#}"
    );
    assert!(
        !proxy
            .seen()
            .iter()
            .any(|r| r.method == "PATCH" || (r.method == "GET" && r.path.contains("/blobs/"))),
        "no blob was read or uploaded: {:?}",
        proxy.seen()
    );
    let client = bench.client(&registry.host());
    for (tag, digest) in &seeded {
        assert_eq!(
            client
                .manifest_digest("mirror/app", tag)
                .await
                .unwrap()
                .as_ref(),
            Some(digest)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_never_deletes_a_manifest_a_kept_index_still_needs() {
    let Some(target) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let source = TestRegistry::start().await;
    let bench = Workbench::new();
    let from = bench.client(&source.host());
    // ext/multi: an index `1.0.0` and `amd64`, a tag on one of its children.
    let amd = Artifact::extension("multi", "1.0.0", "amd64");
    let arm = Artifact::extension("multi", "1.0.0", "arm64");
    amd.push(&from, "ext/multi", "amd64", &bench.scratch())
        .await;
    arm.push(
        &from,
        "ext/multi",
        &arm.digest().to_string(),
        &bench.scratch(),
    )
    .await;
    let index = index_bytes(&[
        (amd.descriptor(), "linux", "amd64"),
        (arm.descriptor(), "linux", "arm64"),
    ]);
    let index = from
        .put_manifest("ext/multi", "1.0.0", OCI_INDEX, &index)
        .await
        .unwrap();
    let cli = Cli::new();
    let (src, dst) = (
        format!("{}/ext", source.host()),
        format!("{}/mirror", target.host),
    );
    sync_ok(&cli, &src, &dst, &[]).await;

    // The tag goes at the source; distribution can only delete its manifest, which the index
    // still lists.
    from.delete_manifest("ext/multi", "amd64").await.unwrap();
    let output = cli.run(&sync_args(&src, &dst, &["--prune"])).await;
    assert_failure(&output, exit::FAILURE, "sync incomplete: 1 tag failed");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let amd64 = report["repositories"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "amd64")
        .unwrap()
        .clone();
    assert_eq!(amd64["status"], "failed", "{report:#}");
    assert!(
        amd64["error"]
            .as_str()
            .unwrap()
            .contains("which tag 1.0.0 still needs"),
        "{amd64}"
    );
    let to = bench.client(&target.host);
    assert_eq!(
        to.manifest_digest("mirror/multi", &amd.digest().to_string())
            .await
            .unwrap(),
        Some(amd.digest()),
        "the index's child is still there"
    );
    assert_eq!(
        to.manifest_digest("mirror/multi", "1.0.0").await.unwrap(),
        Some(index)
    );
}
