//! `oci export` and `oci import`: artifacts, indexes and referrers carried through an OCI image
//! layout (a directory or a tar) between the embedded registry, Debian's distribution and
//! skopeo, digests and tags unchanged; damaged layouts push nothing.

mod common;
use common::oci_fixtures;

use common::TestRegistry;
use common::cli::Cli;
use common::distribution::{Distribution, DistributionOptions};
use common::{assert_failure, assert_success, text};
use oci_fixtures::*;
use provisioning::oci::Digest;
use provisioning::oci::client::RegistryClient;
use serde_json::Value;
use std::path::Path;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

struct Seeded {
    bench: Workbench,
    redis: Digest,
    index: Digest,
    signature: Digest,
}

/// `ext/redis:7.2.0` with a signature referring to it, and `ext/multi:1.0.0`, an index of two
/// manifests.
async fn seed(host: &str) -> Seeded {
    let bench = Workbench::new();
    let client = bench.client(host);
    let scratch = bench.scratch();
    let redis = Artifact::extension("redis", "7.2.0", "key-value store");
    let redis_digest = redis.push(&client, "ext/redis", "7.2.0", &scratch).await;
    let mut signature = Artifact::new(
        blob("application/vnd.oci.empty.v1+json", b"{}", &[]),
        vec![blob("application/vnd.example.signature", b"signed", &[])],
    );
    signature.artifact_type = Some("application/vnd.example.signature.v1+json".into());
    signature.subject = Some(redis.descriptor());
    let signature_digest = signature
        .push(
            &client,
            "ext/redis",
            &signature.digest().to_string(),
            &scratch,
        )
        .await;
    let amd = Artifact::extension("multi", "1.0.0", "amd64");
    let arm = Artifact::extension("multi", "1.0.0", "arm64");
    for child in [&amd, &arm] {
        child
            .push(&client, "ext/multi", &child.digest().to_string(), &scratch)
            .await;
    }
    let index = index_bytes(&[
        (amd.descriptor(), "linux", "amd64"),
        (arm.descriptor(), "linux", "arm64"),
    ]);
    let index_digest = client
        .put_manifest(
            "ext/multi",
            "1.0.0",
            "application/vnd.oci.image.index.v1+json",
            &index,
        )
        .await
        .unwrap();
    Seeded {
        bench,
        redis: redis_digest,
        index: index_digest,
        signature: signature_digest,
    }
}

fn index_json(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

fn ref_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = index_json(dir)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"][REF_NAME].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Every blob of the layout hashes to its file name.
fn assert_layout_verified(dir: &Path) {
    let layout: Value =
        serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            Digest::sha256_of(&bytes).hex(),
            entry.file_name().to_str().unwrap()
        );
    }
}

async fn digest_at(client: &RegistryClient, repo: &str, reference: &str) -> Option<Digest> {
    client.manifest_digest(repo, reference).await.unwrap()
}

fn import_args<'a>(path: &'a str, host: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "oci",
        "import",
        path,
        "--registry",
        host,
        "--plain-http",
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_export_imports_with_every_digest_tag_and_referrer() {
    let source = TestRegistry::start().await;
    let target = TestRegistry::start().await;
    let seeded = seed(&source.host()).await;
    let cli = Cli::new();
    let dir = cli.path("layout");
    let dir_text = dir.to_str().unwrap();

    let out = cli
        .oci_ok(
            &source.host(),
            &["export", "redis:7.2.0", "multi:1.0.0", "--to", dir_text],
        )
        .await;
    assert!(out.contains("Exported ext/redis:7.2.0"), "{out}");
    assert!(out.contains("1 referrer(s)"), "{out}");
    assert_layout_verified(&dir);
    assert_eq!(ref_names(&dir), ["ext/multi:1.0.0", "ext/redis:7.2.0"]);
    for digest in [&seeded.redis, &seeded.signature, &seeded.index] {
        assert!(dir.join("blobs/sha256").join(digest.hex()).is_file());
    }
    // Nothing but the layout next to it.
    let siblings: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".provisioning-")
        })
        .collect();
    assert!(siblings.is_empty());

    let host = target.host();
    let output = cli.run(&import_args(dir_text, &host, &[])).await;
    assert_success(&output);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("Imported {host}/ext/redis:7.2.0")),
        "{stdout}"
    );
    let client = seeded.bench.client(&host);
    assert_eq!(
        digest_at(&client, "ext/redis", "7.2.0").await,
        Some(seeded.redis.clone())
    );
    assert_eq!(
        digest_at(&client, "ext/multi", "1.0.0").await,
        Some(seeded.index.clone())
    );
    let referrers = client
        .referrers("ext/redis", &seeded.redis, None)
        .await
        .unwrap();
    assert_eq!(referrers.len(), 1);
    assert_eq!(referrers[0].digest, seeded.signature);

    // A second import finds everything there and pushes nothing.
    let again = cli
        .run(&import_args(dir_text, &host, &["--output", "json"]))
        .await;
    assert_success(&again);
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["manifests_pushed"], 0, "{report}");
    assert_eq!(report["blobs_pushed"], 0, "{report}");

    // --namespace puts each repository under another namespace.
    let moved = cli
        .run(&import_args(dir_text, &host, &["--namespace", "mirror"]))
        .await;
    assert_success(&moved);
    assert_eq!(
        digest_at(&client, "mirror/redis", "7.2.0").await,
        Some(seeded.redis.clone())
    );
    assert_eq!(
        digest_at(&client, "mirror/multi", "1.0.0").await,
        Some(seeded.index)
    );

    // The destination exists: a conflict, and the layout is untouched.
    let before = index_json(&dir);
    let conflict = cli
        .oci(&source.host(), &["export", "redis:7.2.0", "--to", dir_text])
        .await;
    assert_failure(&conflict, 5, "already exists");
    assert_eq!(index_json(&dir), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tar_export_imports_into_distribution_that_never_saw_the_source() {
    if !common::require_peer("docker-registry") {
        return;
    }
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let source = TestRegistry::start().await;
    let seeded = seed(&source.host()).await;
    let cli = Cli::new();
    let tar = cli.path("carry.tar");
    let tar_text = tar.to_str().unwrap();
    cli.oci_ok(
        &source.host(),
        &["export", "redis:7.2.0", "multi:1.0.0", "--to", tar_text],
    )
    .await;
    assert!(tar.is_file());
    // A tar of the layout: unpacked by the system tar, it is the same layout.
    let unpacked = cli.path("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let status = std::process::Command::new("tar")
        .args(["-xf", tar_text, "-C", unpacked.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_layout_verified(&unpacked);
    assert_eq!(ref_names(&unpacked), ["ext/multi:1.0.0", "ext/redis:7.2.0"]);

    // The source is gone: only the tar crosses.
    drop(source);
    let output = cli
        .run(&import_args(tar_text, &distribution.host, &[]))
        .await;
    assert_success(&output);
    let client = seeded.bench.client(&distribution.host);
    assert_eq!(
        digest_at(&client, "ext/redis", "7.2.0").await,
        Some(seeded.redis.clone())
    );
    assert_eq!(
        digest_at(&client, "ext/multi", "1.0.0").await,
        Some(seeded.index)
    );
    // distribution has no referrers API: the signature is listed under the fallback tag.
    let referrers = client
        .referrers("ext/redis", &seeded.redis, None)
        .await
        .unwrap();
    assert_eq!(referrers.len(), 1);
    assert_eq!(referrers[0].digest, seeded.signature);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_reads_our_layout_and_we_import_skopeos() {
    if !common::require_peer("skopeo") {
        return;
    }
    let source = TestRegistry::start().await;
    let target = TestRegistry::start().await;
    let seeded = seed(&source.host()).await;
    let cli = Cli::new();
    let dir = cli.path("ours");
    let dir_text = dir.to_str().unwrap();
    cli.oci_ok(&source.host(), &["export", "redis:7.2.0", "--to", dir_text])
        .await;

    // skopeo reads our layout by the `<repository>:<tag>` ref name.
    common::skopeo([
        "copy".to_string(),
        "--dest-tls-verify=false".to_string(),
        format!("oci:{dir_text}:ext/redis:7.2.0"),
        format!("docker://{}/from-skopeo/redis:7.2.0", target.host()),
    ])
    .await;
    let client = seeded.bench.client(&target.host());
    assert_eq!(
        digest_at(&client, "from-skopeo/redis", "7.2.0").await,
        Some(seeded.redis.clone())
    );

    // skopeo writes a layout with a bare tag: importing it needs --repository.
    let theirs = cli.path("theirs");
    let theirs_text = theirs.to_str().unwrap();
    common::skopeo([
        "copy".to_string(),
        "--src-tls-verify=false".to_string(),
        format!("docker://{}/ext/multi:1.0.0", source.host()),
        format!("oci:{theirs_text}:1.0.0"),
        "--all".to_string(),
        "--preserve-digests".to_string(),
    ])
    .await;
    assert_eq!(ref_names(&theirs), ["1.0.0"]);
    let refused = cli
        .run(&import_args(theirs_text, &target.host(), &[]))
        .await;
    assert_failure(&refused, 1, "--repository");
    let output = cli
        .run(&import_args(
            theirs_text,
            &target.host(),
            &["--repository", "imported/multi"],
        ))
        .await;
    assert_success(&output);
    assert_eq!(
        digest_at(&client, "imported/multi", "1.0.0").await,
        Some(seeded.index)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_layouts_push_nothing() {
    let source = TestRegistry::start().await;
    let target = TestRegistry::start().await;
    let seeded = seed(&source.host()).await;
    let cli = Cli::new();
    let host = target.host();
    let client = seeded.bench.client(&host);
    let fresh = |name: &str| {
        let dir = cli.path(name);
        let text = dir.to_str().unwrap().to_string();
        (dir, text)
    };

    // A blob whose bytes do not match its digest.
    let (tampered, tampered_text) = fresh("tampered");
    cli.oci_ok(
        &source.host(),
        &["export", "redis:7.2.0", "--to", &tampered_text],
    )
    .await;
    let layer = std::fs::read_dir(tampered.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read(p).unwrap() != b"{}" && std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&layer, bytes).unwrap();
    let output = cli.run(&import_args(&tampered_text, &host, &[])).await;
    assert_failure(&output, 1, "the layout is damaged");

    // A missing blob.
    let (missing, missing_text) = fresh("missing");
    cli.oci_ok(
        &source.host(),
        &["export", "multi:1.0.0", "--to", &missing_text],
    )
    .await;
    let index = index_json(&missing);
    let top = index["manifests"][0]["digest"].as_str().unwrap();
    let top: Digest = top.parse().unwrap();
    let child: Value = serde_json::from_slice(
        &std::fs::read(missing.join("blobs/sha256").join(top.hex())).unwrap(),
    )
    .unwrap();
    let child_digest: Digest = child["manifests"][1]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    std::fs::remove_file(missing.join("blobs/sha256").join(child_digest.hex())).unwrap();
    let output = cli.run(&import_args(&missing_text, &host, &[])).await;
    assert_failure(&output, 1, "missing from the layout");

    // A truncated tar.
    let (tar, tar_text) = fresh("cut.tar");
    cli.oci_ok(
        &source.host(),
        &["export", "redis:7.2.0", "--to", &tar_text],
    )
    .await;
    let bytes = std::fs::read(&tar).unwrap();
    std::fs::write(&tar, &bytes[..bytes.len() / 2]).unwrap();
    let output = cli.run(&import_args(&tar_text, &host, &[])).await;
    assert_failure(&output, 1, "");

    // An index.json naming a blob outside the layout.
    let (outside, outside_text) = fresh("outside");
    cli.oci_ok(
        &source.host(),
        &["export", "redis:7.2.0", "--to", &outside_text],
    )
    .await;
    let mut index = index_json(&outside);
    index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd".into();
    std::fs::write(
        outside.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let output = cli.run(&import_args(&outside_text, &host, &[])).await;
    assert_failure(&output, 1, "index.json");

    // Not a layout at all, and no such path.
    let (plain, plain_text) = fresh("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let output = cli.run(&import_args(&plain_text, &host, &[])).await;
    assert_failure(&output, 1, "not an OCI image layout");
    let output = cli
        .run(&import_args("/nonexistent/layout", &host, &[]))
        .await;
    assert_failure(&output, 4, "no such layout");

    // Nothing reached the target.
    assert_eq!(digest_at(&client, "ext/redis", "7.2.0").await, None);
    assert_eq!(digest_at(&client, "ext/multi", "1.0.0").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_exports_what_it_pins_by_digest_even_when_tags_moved() {
    let source = TestRegistry::start().await;
    let target = TestRegistry::start().await;
    let seeded = seed(&source.host()).await;
    let host = source.host();
    let cli = Cli::new();
    let lock = cli.path("provisioning.lock");
    std::fs::write(
        &lock,
        format!(
            "version: 1\ninputs: sha256:{zero}\nplatform:\n- name: orchestrator\n  reference: {host}/ext/multi:1.0.0\n  digest: {index}\nextensions:\n- name: local\n  type: taskserv\n  version: 0.1.0\n  path: extensions/local\n  digest: sha256:{zero}\n- name: redis\n  type: taskserv\n  version: 7.2.0\n  reference: {host}/ext/redis:7.2.0\n  digest: {redis}\n",
            zero = "0".repeat(64),
            index = seeded.index,
            redis = seeded.redis,
        ),
    )
    .unwrap();
    // The tag moves after the lock was written: the export still carries the locked digest.
    let moved = Artifact::extension("redis", "7.2.0", "moved")
        .push(
            &seeded.bench.client(&host),
            "ext/redis",
            "7.2.0",
            &seeded.bench.scratch(),
        )
        .await;
    assert_ne!(moved, seeded.redis);

    let dir = cli.path("locked");
    let dir_text = dir.to_str().unwrap();
    let out = cli
        .oci_ok(
            &host,
            &["export", "--lock", lock.to_str().unwrap(), "--to", dir_text],
        )
        .await;
    assert!(out.contains("1 referrer(s)"), "{out}");
    assert_eq!(ref_names(&dir), ["ext/multi:1.0.0", "ext/redis:7.2.0"]);
    assert!(!dir.join("blobs/sha256").join(moved.hex()).exists());

    let output = cli.run(&import_args(dir_text, &target.host(), &[])).await;
    assert_success(&output);
    let client = seeded.bench.client(&target.host());
    assert_eq!(
        digest_at(&client, "ext/redis", "7.2.0").await,
        Some(seeded.redis)
    );
    assert_eq!(
        digest_at(&client, "ext/multi", "1.0.0").await,
        Some(seeded.index)
    );

    // No lock there: not found.
    let missing = cli
        .oci(
            &host,
            &[
                "export",
                "--lock",
                "/nonexistent/provisioning.lock",
                "--to",
                dir_text,
            ],
        )
        .await;
    assert_failure(&missing, 4, "no lock");
}

/// Every blob of an export and of an import is reported to the progress sink, and a blob the
/// target has is reported as already there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_report_progress_for_every_blob() {
    use provisioning::oci::layout::{self, ImportTarget};
    use provisioning::oci::progress::{Direction, Progress, TransferEvent};
    use provisioning::oci::{Reference, ReferenceDefaults};

    let source = TestRegistry::start().await;
    let target = TestRegistry::start().await;
    let seeded = seed(&source.host()).await;
    let bench = &seeded.bench;
    let defaults = ReferenceDefaults {
        registry: source.host(),
        namespace: "ext".into(),
    };
    let reference = Reference::parse("redis:7.2.0", &defaults).unwrap();
    let dir = bench.path("progress-layout");

    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let report = layout::export(
        &bench.registries,
        &bench.cache,
        std::slice::from_ref(&reference),
        &dir,
        &Progress::new(sender),
    )
    .await
    .unwrap();
    let mut finished = std::collections::BTreeSet::new();
    while let Ok(event) = receiver.try_recv() {
        if let TransferEvent::Finished { digest, .. } = event {
            finished.insert(digest);
        }
    }
    // redis: config and 2 layers; the signature: config and 1 layer.
    assert_eq!(report.blobs, 5);
    assert_eq!(finished.len(), 5, "{finished:?}");

    let run_import = |host: String| {
        let dir = dir.clone();
        let registries = &bench.registries;
        async move {
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
            let report = layout::import(
                registries,
                &dir,
                &ImportTarget {
                    registry: host,
                    namespace: None,
                    repository: None,
                },
                &Progress::new(sender),
            )
            .await
            .unwrap();
            let mut events = vec![];
            while let Ok(event) = receiver.try_recv() {
                events.push(event);
            }
            (report, events)
        }
    };
    let (report, events) = run_import(target.host()).await;
    assert_eq!(report.blobs_pushed, 5);
    let pushed = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                TransferEvent::Started {
                    direction: Direction::Push,
                    ..
                }
            )
        })
        .count();
    assert_eq!(pushed, 5, "{events:?}");
    let (report, events) = run_import(target.host()).await;
    assert_eq!(report.blobs_pushed, 0);
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, TransferEvent::Started { .. })),
        "{events:?}"
    );
    // The second import asks about no blob: the tags are there with the same digests.
    assert_eq!(report.manifests_pushed, 0);
}
