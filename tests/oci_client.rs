//! The OCI client library against the embedded registry and Debian's distribution registry:
//! pushing and fetching, paging, mounts, referrers, browsing, copying, pulling into the cache.
//! Authentication and TLS are in `oci_auth_tls.rs`, faults in `oci_faults.rs`.

mod common;
use common::layout;
use common::oci_fixtures;

use std::path::Path;

use common::TestRegistry;
use common::distribution::{Distribution, DistributionOptions};
use common::faults::FaultProxy;
use oci_fixtures::*;
use provisioning::oci::client::{Descriptor, OciError, RegistryClient};
use provisioning::oci::progress::Progress;
use provisioning::oci::{Digest, Reference, ReferenceDefaults, browse, copy, pull};

const SIGNATURE_TYPE: &str = "application/vnd.example.signature.v1+json";

fn reference(text: &str) -> Reference {
    Reference::parse(text, &ReferenceDefaults::default())
        .unwrap_or_else(|e| panic!("reference {text}: {e}"))
}

fn empty_config() -> Blob {
    blob("application/vnd.oci.empty.v1+json", b"{}", &[])
}

/// A signature artifact whose subject is `subject`.
fn signature_for(subject: Descriptor, text: &str) -> Artifact {
    let mut signature = Artifact::new(
        empty_config(),
        vec![blob(
            "application/vnd.example.signature.payload",
            text.as_bytes(),
            &[],
        )],
    );
    signature.artifact_type = Some(SIGNATURE_TYPE.to_string());
    signature.subject = Some(subject);
    signature
}

async fn assert_same_manifest(
    from: &RegistryClient,
    from_repo: &str,
    to: &RegistryClient,
    to_repo: &str,
    reference: &str,
) {
    let a = from.manifest(from_repo, reference).await.unwrap();
    let b = to.manifest(to_repo, reference).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&b.bytes),
        String::from_utf8_lossy(&a.bytes),
        "{to_repo}:{reference} differs from {from_repo}:{reference}"
    );
    assert_eq!(a.digest, b.digest);
}

/// Push, fetch by tag and digest, HEAD, download, delete: against any registry.
async fn push_fetch_delete(host: &str) {
    let bench = Workbench::new();
    let client = bench.client(host);
    let repo = "team/redis";
    let artifact = Artifact::extension("redis", "1.0.0", "An in-memory store")
        .annotate(DESCRIPTION, "An in-memory store");
    let digest = artifact
        .push(&client, repo, "1.0.0", &bench.scratch())
        .await;

    let by_tag = client.manifest(repo, "1.0.0").await.unwrap();
    assert_eq!(by_tag.bytes, artifact.manifest_bytes());
    assert_eq!(by_tag.digest, digest);
    assert_eq!(by_tag.media_type, OCI_MANIFEST);
    let by_digest = client.manifest(repo, &digest.to_string()).await.unwrap();
    assert_eq!(by_digest.bytes, artifact.manifest_bytes());
    assert_eq!(
        client.manifest_digest(repo, "1.0.0").await.unwrap(),
        Some(digest.clone())
    );
    assert_eq!(client.manifest_digest(repo, "9.9.9").await.unwrap(), None);
    assert!(matches!(
        client.manifest(repo, "9.9.9").await,
        Err(OciError::NotFound { .. })
    ));
    assert_eq!(client.tags(repo).await.unwrap(), vec!["1.0.0".to_string()]);

    for blob in artifact.blobs() {
        assert_eq!(
            client
                .blob_size(repo, &blob.descriptor.digest)
                .await
                .unwrap(),
            Some(blob.descriptor.size)
        );
    }
    let missing = Digest::sha256_of(b"never pushed");
    assert_eq!(client.blob_size(repo, &missing).await.unwrap(), None);

    let layer = &artifact.layers[1];
    let dest = bench.path("downloaded");
    client
        .download_blob(repo, &layer.descriptor, &dest, &Progress::silent())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), layer.bytes);

    client
        .delete_manifest(repo, &digest.to_string())
        .await
        .unwrap();
    assert_eq!(client.manifest_digest(repo, "1.0.0").await.unwrap(), None);
    assert!(matches!(
        client.manifest(repo, &digest.to_string()).await,
        Err(OciError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_fetch_delete_on_our_registry() {
    let registry = TestRegistry::start().await;
    push_fetch_delete(&registry.host()).await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_fetch_delete_on_distribution() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    push_fetch_delete(&distribution.host).await;
}

/// Five repositories listed two at a time: every page is followed.
async fn catalog_pages(upstream_url: &str) {
    let proxy = FaultProxy::start(upstream_url).await;
    let bench = Workbench::new();
    let client = bench.client(&proxy.host);
    let mut expected = Vec::new();
    for name in ["alpha", "bravo", "charlie", "delta", "echo"] {
        let repo = format!("paging/{name}");
        Artifact::extension(name, "1.0.0", "paging")
            .push(&client, &repo, "1.0.0", &bench.scratch())
            .await;
        expected.push(repo);
    }
    proxy.clear_seen();
    let listed = client.catalog(2).await.unwrap();
    assert_eq!(listed, expected, "every page, in order");
    let pages: Vec<String> = proxy.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(pages.len(), 3, "5 repositories in pages of 2: {pages:?}");
    assert!(
        pages
            .iter()
            .all(|p| p.starts_with("/v2/_catalog?") && p.contains("n=2")),
        "{pages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_follows_link_pages_on_our_registry() {
    let registry = TestRegistry::start().await;
    catalog_pages(&registry.url).await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_follows_link_pages_on_distribution() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    catalog_pages(&distribution.url).await;
}

/// Five tags listed two at a time: three pages, each asked for with the registry's `Link`.
/// (Debian's distribution ignores `n` for tags and answers with one page: `paged` is false.)
async fn tag_pages(upstream_url: &str, paged: bool) {
    let proxy = FaultProxy::start(upstream_url).await;
    let bench = Workbench::new();
    let client = bench.client(&proxy.host);
    let artifact = Artifact::extension("paged", "1.0.0", "paging");
    let tags = ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "2.1.0"];
    for tag in tags {
        artifact
            .push(&client, "paging/tags", tag, &bench.scratch())
            .await;
    }
    proxy.clear_seen();
    // Distribution does not list tags in order across pages; every tag once is the contract.
    let mut listed = client.tags_paged("paging/tags", 2).await.unwrap();
    listed.sort();
    assert_eq!(listed, tags);
    let pages: Vec<String> = proxy.seen().into_iter().map(|r| r.path).collect();
    let expected = if paged { 3 } else { 1 };
    assert_eq!(pages.len(), expected, "5 tags in pages of 2: {pages:?}");
    assert_eq!(pages[0], "/v2/paging/tags/tags/list?n=2");
    assert!(
        pages[1..].iter().all(|p| p.contains("last=")),
        "later pages continue after the last tag read: {pages:?}"
    );
    // One page of up to 1000 by default.
    proxy.clear_seen();
    let mut listed = client.tags("paging/tags").await.unwrap();
    listed.sort();
    assert_eq!(listed, tags);
    assert_eq!(proxy.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_follow_link_pages_on_our_registry() {
    let registry = TestRegistry::start().await;
    tag_pages(&registry.url, true).await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_follow_link_pages_on_distribution() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    tag_pages(&distribution.url, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_blob_within_one_registry() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    let artifact = Artifact::extension("app", "1.0.0", "mounted");
    artifact
        .push(&client, "mount/source", "1.0.0", &bench.scratch())
        .await;
    for blob in artifact.blobs() {
        let digest = &blob.descriptor.digest;
        assert_eq!(
            client.blob_size("mount/target", digest).await.unwrap(),
            None
        );
        assert!(
            client
                .mount_blob("mount/target", digest, "mount/source")
                .await
                .unwrap(),
            "mount of {digest} refused"
        );
        assert_eq!(
            client.blob_size("mount/target", digest).await.unwrap(),
            Some(blob.descriptor.size)
        );
    }
    let unknown = Digest::sha256_of(b"not in any repository");
    assert!(
        !client
            .mount_blob("mount/target", &unknown, "mount/source")
            .await
            .unwrap()
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_list_manifests_with_the_subject() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    let repo = "signed/app";
    let image = Artifact::extension("app", "1.0.0", "signed");
    let digest = image.push(&client, repo, "1.0.0", &bench.scratch()).await;
    assert!(
        client
            .referrers(repo, &digest, None)
            .await
            .unwrap()
            .is_empty()
    );

    let signature = signature_for(image.descriptor(), "signed by test");
    let sig_digest = signature
        .push(
            &client,
            repo,
            &signature.digest().to_string(),
            &bench.scratch(),
        )
        .await;
    let referrers = client.referrers(repo, &digest, None).await.unwrap();
    assert_eq!(referrers.len(), 1, "{referrers:?}");
    assert_eq!(referrers[0].digest, sig_digest);
    assert_eq!(referrers[0].artifact_type.as_deref(), Some(SIGNATURE_TYPE));
    let filtered = client
        .referrers(repo, &digest, Some(SIGNATURE_TYPE))
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    let other = client
        .referrers(repo, &digest, Some("application/vnd.example.sbom"))
        .await
        .unwrap();
    assert!(other.is_empty(), "{other:?}");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_tags_lists_newest_semver_first() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    let repo = "ext/kubernetes";
    let artifact = Artifact::extension("kubernetes", "any", "tags");
    for tag in [
        "1.9.0",
        "latest",
        "1.10.0",
        "edge",
        "2.0.0-rc.1",
        "0.1.0",
        "2.0.0",
    ] {
        artifact.push(&client, repo, tag, &bench.scratch()).await;
    }
    let target = reference(&format!("{}/{repo}", registry.host()));
    let entries = browse::tags(&client, &target).await.unwrap();
    let tags: Vec<&str> = entries.iter().map(|e| e.tag.as_str()).collect();
    assert_eq!(
        tags,
        [
            "2.0.0",
            "2.0.0-rc.1",
            "1.10.0",
            "1.9.0",
            "0.1.0",
            "edge",
            "latest"
        ]
    );
    assert_eq!(entries[0].artifact, "kubernetes");
    assert_eq!(entries[0].version.as_deref(), Some("2.0.0"));
    assert_eq!(
        entries[0].reference,
        format!("{}/{repo}:2.0.0", registry.host())
    );
    let latest = entries.iter().find(|e| e.tag == "latest").unwrap();
    assert_eq!(latest.version, None);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_search_ranks_name_matches_before_description_matches() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    let scratch = bench.scratch();
    let push = |repo: &'static str, artifact: Artifact, tag: &'static str| {
        let client = client.clone();
        let scratch = scratch.clone();
        async move { artifact.push(&client, repo, tag, &scratch).await }
    };
    push(
        "ext/redis",
        Artifact::extension("redis", "7.0.0", "key-value store"),
        "7.0.0",
    )
    .await;
    push(
        "ext/redis",
        Artifact::extension("redis", "7.2.0", "key-value store"),
        "7.2.0",
    )
    .await;
    push(
        "ext/redis-operator",
        Artifact::extension("redis-operator", "1.0.0", "operator"),
        "1.0.0",
    )
    .await;
    push(
        "ext/kv-redis-proxy",
        Artifact::extension("kv-redis-proxy", "0.3.0", "a proxy"),
        "0.3.0",
    )
    .await;
    // Description from the config.
    push(
        "ext/valkey",
        Artifact::extension("valkey", "8.0.0", "A Redis-compatible store"),
        "8.0.0",
    )
    .await;
    // Description from the manifest annotation.
    push(
        "ext/keydb",
        Artifact::extension("keydb", "6.0.0", "nothing here")
            .annotate(DESCRIPTION, "Multithreaded fork of redis"),
        "6.0.0",
    )
    .await;
    push(
        "ext/postgres",
        Artifact::extension("postgres", "16.0.0", "relational"),
        "16.0.0",
    )
    .await;
    push(
        "other/redis",
        Artifact::extension("redis", "1.0.0", "elsewhere"),
        "1.0.0",
    )
    .await;

    let hits = browse::search(&client, "ext", "redis", 4).await.unwrap();
    let names: Vec<(&str, u32)> = hits.iter().map(|h| (h.name.as_str(), h.score)).collect();
    assert_eq!(
        names.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [
            "redis",
            "redis-operator",
            "kv-redis-proxy",
            "keydb",
            "valkey"
        ],
        "{names:?}"
    );
    let scores: Vec<u32> = names.iter().map(|(_, s)| *s).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]) && scores[0] > scores[1] && scores[2] > scores[3],
        "{names:?}"
    );
    let redis = &hits[0];
    assert_eq!(redis.repository, "ext/redis");
    assert_eq!(redis.latest.as_deref(), Some("7.2.0"));
    assert_eq!(redis.description.as_deref(), Some("key-value store"));
    let keydb = hits.iter().find(|h| h.name == "keydb").unwrap();
    assert_eq!(
        keydb.description.as_deref(),
        Some("Multithreaded fork of redis")
    );
    assert!(
        browse::search(&client, "ext", "nomatch", 4)
            .await
            .unwrap()
            .is_empty()
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_inspect_shows_config_layers_and_referrers() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    let repo = "ext/aws";
    let mut artifact = Artifact::extension("aws", "2.1.0", "AWS provider")
        .annotate("org.opencontainers.image.version", "2.1.0");
    artifact.artifact_type = Some(EXTENSION_TYPE.to_string());
    let digest = artifact
        .push(&client, repo, "2.1.0", &bench.scratch())
        .await;
    let signature = signature_for(artifact.descriptor(), "aws signature");
    signature
        .push(
            &client,
            repo,
            &signature.digest().to_string(),
            &bench.scratch(),
        )
        .await;

    let target = reference(&format!("{}/{repo}:2.1.0", registry.host()));
    let found = browse::inspect(&client, &target).await.unwrap();
    assert_eq!(found.digest, digest);
    assert_eq!(
        found.reference,
        format!("{}/{repo}:2.1.0@{digest}", registry.host())
    );
    assert_eq!(found.media_type, OCI_MANIFEST);
    assert_eq!(found.artifact_type.as_deref(), Some(EXTENSION_TYPE));
    let expected_size = artifact.manifest_bytes().len() as u64
        + artifact
            .blobs()
            .iter()
            .map(|b| b.descriptor.size)
            .sum::<u64>();
    assert_eq!(found.size, expected_size);
    assert_eq!(
        found.annotations.get("org.opencontainers.image.version"),
        Some(&"2.1.0".to_string())
    );
    assert_eq!(found.config.as_ref(), Some(&artifact.config.descriptor));
    let config = found.config_content.expect("config content");
    assert_eq!(config["name"], "aws");
    assert_eq!(config["description"], "AWS provider");
    let layers: Vec<&Descriptor> = artifact.layers.iter().map(|l| &l.descriptor).collect();
    assert_eq!(found.layers.iter().collect::<Vec<_>>(), layers);
    assert!(found.manifests.is_empty());
    assert!(found.subject.is_none());
    assert_eq!(found.referrers.len(), 1);
    assert_eq!(found.referrers[0].digest, signature.digest());

    // The signature itself shows its subject.
    let sig_ref = reference(&format!(
        "{}/{repo}@{}",
        registry.host(),
        signature.digest()
    ));
    let sig = browse::inspect(&client, &sig_ref).await.unwrap();
    assert_eq!(sig.subject.map(|s| s.digest), Some(digest));
    assert_eq!(sig.artifact_type.as_deref(), Some(SIGNATURE_TYPE));
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_delete_names_every_tag_on_the_digest() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    let repo = "ext/cilium";
    let one = Artifact::extension("cilium", "1.0.0", "one");
    let two = Artifact::extension("cilium", "2.0.0", "two");
    for tag in ["1.0.0", "stable", "latest"] {
        one.push(&client, repo, tag, &bench.scratch()).await;
    }
    two.push(&client, repo, "2.0.0", &bench.scratch()).await;

    let target = reference(&format!("{}/{repo}:stable", registry.host()));
    let plan = browse::plan_delete(&client, &target, 4).await.unwrap();
    assert_eq!(plan.digest, one.digest());
    assert_eq!(plan.tags, ["1.0.0", "latest", "stable"]);

    browse::delete(&client, &target, &plan).await.unwrap();
    assert_eq!(client.tags(repo).await.unwrap(), ["2.0.0"]);
    assert_eq!(
        client.manifest_digest(repo, "2.0.0").await.unwrap(),
        Some(two.digest())
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_within_a_registry_mounts_blobs() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    let artifact = Artifact::extension("app", "1.0.0", "copied");
    artifact
        .push(&client, "copy/source", "1.0.0", &bench.scratch())
        .await;
    let source = reference(&format!("{}/copy/source:1.0.0", registry.host()));
    let target = reference(&format!("{}/copy/target", registry.host()));
    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &source,
        &target,
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert!(report.blobs_mounted > 0, "{report:?}");
    assert_eq!(report.blobs_mounted, 3, "{report:?}");
    assert_eq!(report.blobs_transferred, 0, "{report:?}");
    assert_eq!(report.manifests, 1);
    assert_eq!(
        report.copied,
        [(
            source.to_string(),
            format!("{}/copy/target:1.0.0", registry.host())
        )]
    );
    assert_same_manifest(&client, "copy/source", &client, "copy/target", "1.0.0").await;

    // Again: everything is already there.
    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &source,
        &target,
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.blobs_skipped, 3, "{report:?}");
    assert_eq!(report.blobs_mounted + report.blobs_transferred, 0);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_between_our_registry_and_distribution_both_ways() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let ours = bench.client(&registry.host());
    let theirs = bench.client(&distribution.host);
    let artifact = Artifact::extension("gitea", "1.21.0", "forge");
    artifact
        .push(&ours, "ext/gitea", "1.21.0", &bench.scratch())
        .await;

    let there = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/ext/gitea:1.21.0", registry.host())),
        &reference(&format!("{}/mirror/gitea", distribution.host)),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(there.blobs_transferred, 3, "{there:?}");
    assert_same_manifest(&ours, "ext/gitea", &theirs, "mirror/gitea", "1.21.0").await;

    let back = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/mirror/gitea:1.21.0", distribution.host)),
        &reference(&format!("{}/back/gitea:copied", registry.host())),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(back.manifests, 1);
    let original = ours.manifest("ext/gitea", "1.21.0").await.unwrap();
    let returned = ours.manifest("back/gitea", "copied").await.unwrap();
    assert_eq!(returned.bytes, original.bytes);
    assert_eq!(returned.bytes, artifact.manifest_bytes());
    for blob in artifact.blobs() {
        let dest = bench.path(&format!("check-{}", blob.descriptor.digest.hex()));
        ours.download_blob("back/gitea", &blob.descriptor, &dest, &Progress::silent())
            .await
            .unwrap();
        assert_eq!(std::fs::read(dest).unwrap(), blob.bytes);
    }
    registry.stop().await;
}

/// Pushes two images and an index of them; returns the images and the index bytes.
async fn push_index(
    client: &RegistryClient,
    repo: &str,
    tag: &str,
    scratch: &Path,
) -> (Vec<Artifact>, Vec<u8>) {
    let amd64 = Artifact::extension("multi", "1.0.0", "amd64 build");
    let arm64 = Artifact::extension("multi", "1.0.0", "arm64 build");
    for image in [&amd64, &arm64] {
        image
            .push(client, repo, &image.digest().to_string(), scratch)
            .await;
    }
    let index = index_bytes(&[
        (amd64.descriptor(), "linux", "amd64"),
        (arm64.descriptor(), "linux", "arm64"),
    ]);
    client
        .put_manifest(repo, tag, OCI_INDEX, &index)
        .await
        .unwrap();
    (vec![amd64, arm64], index)
}

async fn copy_index_to(target_host: &str) {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let source = bench.client(&registry.host());
    let target = bench.client(target_host);
    let (images, index) = push_index(&source, "multi/app", "1.0.0", &bench.scratch()).await;
    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/multi/app:1.0.0", registry.host())),
        &reference(&format!("{target_host}/copied/app")),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.manifests, 3, "{report:?}");
    let copied = target.manifest("copied/app", "1.0.0").await.unwrap();
    assert_eq!(copied.bytes, index);
    assert_eq!(copied.media_type, OCI_INDEX);
    for image in &images {
        let child = target
            .manifest("copied/app", &image.digest().to_string())
            .await
            .unwrap();
        assert_eq!(child.bytes, image.manifest_bytes());
        for blob in image.blobs() {
            assert_eq!(
                target
                    .blob_size("copied/app", &blob.descriptor.digest)
                    .await
                    .unwrap(),
                Some(blob.descriptor.size)
            );
        }
    }
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_index_with_children_to_another_registry() {
    let other = TestRegistry::start().await;
    copy_index_to(&other.host()).await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_index_with_children_to_distribution() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    copy_index_to(&distribution.host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_all_tags() {
    let registry = TestRegistry::start().await;
    let other = TestRegistry::start().await;
    let bench = Workbench::new();
    let source = bench.client(&registry.host());
    let target = bench.client(&other.host());
    let tags = ["1.0.0", "1.1.0", "latest"];
    let v1 = Artifact::extension("tool", "1.0.0", "first");
    let v2 = Artifact::extension("tool", "1.1.0", "second");
    v1.push(&source, "all/tool", "1.0.0", &bench.scratch())
        .await;
    v2.push(&source, "all/tool", "1.1.0", &bench.scratch())
        .await;
    v2.push(&source, "all/tool", "latest", &bench.scratch())
        .await;

    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/all/tool", registry.host())),
        &reference(&format!("{}/mirror/tool", other.host())),
        true,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.copied.len(), 3, "{report:?}");
    let mut copied = target.tags("mirror/tool").await.unwrap();
    copied.sort();
    assert_eq!(copied, tags);
    for tag in tags {
        assert_same_manifest(&source, "all/tool", &target, "mirror/tool", tag).await;
    }
    registry.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_brings_referrers_along() {
    let registry = TestRegistry::start().await;
    let other = TestRegistry::start().await;
    let bench = Workbench::new();
    let source = bench.client(&registry.host());
    let target = bench.client(&other.host());
    let image = Artifact::extension("signed", "1.0.0", "with a signature");
    let digest = image
        .push(&source, "sig/app", "1.0.0", &bench.scratch())
        .await;
    let signature = signature_for(image.descriptor(), "a signature");
    signature
        .push(
            &source,
            "sig/app",
            &signature.digest().to_string(),
            &bench.scratch(),
        )
        .await;

    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/sig/app:1.0.0", registry.host())),
        &reference(&format!("{}/sig/app", other.host())),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.referrers, 1, "{report:?}");
    let referrers = target.referrers("sig/app", &digest, None).await.unwrap();
    assert_eq!(referrers.len(), 1, "{referrers:?}");
    assert_eq!(referrers[0].digest, signature.digest());
    let copied = target
        .manifest("sig/app", &signature.digest().to_string())
        .await
        .unwrap();
    assert_eq!(copied.bytes, signature.manifest_bytes());
    registry.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_writes_titled_files_skips_untitled_and_unpacks_directories() {
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    // Directory layers are tarred the way oras does it: entries under the directory's name.
    let directory = directory_layer(
        "templates",
        &[
            TarEntry::Dir("templates/"),
            TarEntry::File("templates/deployment.yaml", b"kind: Deployment\n"),
            TarEntry::Dir("templates/nested/"),
            TarEntry::File("templates/nested/service.yaml", b"kind: Service\n"),
        ],
    );
    let untitled = blob(TEXT_LAYER, b"no title, no file", &[]);
    let artifact = Artifact::new(
        blob(EXTENSION_CONFIG, br#"{"name":"web"}"#, &[]),
        vec![
            file_layer("manifest.yaml", b"name: web\n"),
            untitled.clone(),
            file_layer("scripts/install.sh", b"#!/bin/sh\n"),
            directory,
        ],
    );
    let digest = artifact
        .push(&client, "ext/web", "1.0.0", &bench.scratch())
        .await;
    let out = bench.path("out");
    let target = reference(&format!("{}/ext/web:1.0.0", registry.host()));
    let report = pull::pull(
        &bench.registries,
        &bench.cache,
        &target,
        &out,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, digest);
    assert_eq!(
        report.skipped_layers,
        std::slice::from_ref(&untitled.descriptor.digest)
    );
    assert_eq!(
        files_under(&out),
        [
            "manifest.yaml",
            "scripts/install.sh",
            "templates/deployment.yaml",
            "templates/nested/service.yaml"
        ]
    );
    assert_eq!(
        std::fs::read(out.join("manifest.yaml")).unwrap(),
        b"name: web\n"
    );
    assert_eq!(
        std::fs::read(out.join("templates/nested/service.yaml")).unwrap(),
        b"kind: Service\n"
    );
    for blob in artifact.blobs() {
        assert!(
            bench
                .cache
                .has(&blob.descriptor.digest, blob.descriptor.size)
        );
    }
    let recorded = bench
        .cache
        .lookup(&target.to_string())
        .expect("tagged in cache");
    assert_eq!(recorded.digest, digest);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_pulls_send_no_blob_requests() {
    let registry = TestRegistry::start().await;
    let proxy = FaultProxy::start(&registry.url).await;
    let bench = Workbench::new();
    let client = bench.client(&proxy.host);
    let artifact = Artifact::extension("warm", "1.0.0", "cached");
    let digest = artifact
        .push(&client, "ext/warm", "1.0.0", &bench.scratch())
        .await;
    let by_tag = reference(&format!("{}/ext/warm:1.0.0", proxy.host));
    let by_digest = reference(&format!("{}/ext/warm@{digest}", proxy.host));

    pull::pull(
        &bench.registries,
        &bench.cache,
        &by_tag,
        &bench.path("cold"),
        &Progress::silent(),
    )
    .await
    .unwrap();

    proxy.clear_seen();
    let report = pull::pull(
        &bench.registries,
        &bench.cache,
        &by_digest,
        &bench.path("warm-digest"),
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, digest);
    let seen = proxy.seen();
    assert!(seen.is_empty(), "a warm pull by digest sent {seen:?}");
    assert_eq!(
        files_under(&bench.path("warm-digest")),
        ["manifest.yaml", "scripts/install.sh"]
    );

    proxy.clear_seen();
    pull::pull(
        &bench.registries,
        &bench.cache,
        &by_tag,
        &bench.path("warm-tag"),
        &Progress::silent(),
    )
    .await
    .unwrap();
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "a warm pull by tag sent {seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/v2/ext/warm/manifests/1.0.0");
    assert_eq!(
        files_under(&bench.path("warm-tag")),
        ["manifest.yaml", "scripts/install.sh"]
    );
    registry.stop().await;
}

/// Uploads every blob of a layout image and puts its manifest under `tag`.
async fn push_layout_image(
    client: &RegistryClient,
    repo: &str,
    tag: &str,
    dir: &Path,
    image: &layout::Image,
) {
    for d in image.layers.iter().chain([&image.config]) {
        let descriptor = Descriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.parse().unwrap(),
            size: d.size,
            artifact_type: None,
            annotations: Default::default(),
            platform: None,
        };
        let file = dir
            .join("blobs/sha256")
            .join(d.digest.strip_prefix("sha256:").unwrap());
        client
            .upload_blob(repo, &descriptor, &file, &Progress::silent())
            .await
            .unwrap();
    }
    client
        .put_manifest(repo, tag, layout::MANIFEST, &image.manifest_bytes)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_an_oci_layout_skopeo_reads() {
    if !common::require_peer("skopeo") {
        return;
    }
    let registry = TestRegistry::start().await;
    let bench = Workbench::new();
    let client = bench.client(&registry.host());
    let source = bench.path("layout");
    let image = layout::write_image_layout(&source, "v1");
    push_layout_image(&client, "images/base", "v1", &source, &image).await;

    let target = reference(&format!("{}/images/base:v1", registry.host()));
    let report = pull::pull(
        &bench.registries,
        &bench.cache,
        &target,
        &bench.path("out"),
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.skipped_layers.len(), 3);
    assert!(report.files.is_empty());

    let copied = bench.path("copied");
    let cache_ref = format!("oci:{}:{}", bench.cache.root().display(), target);
    let copied_ref = format!("oci:{}:x", copied.display());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("skopeo")
            .args(["--insecure-policy", "copy", &cache_ref, &copied_ref])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "skopeo could not read the cache: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (descriptor, bytes) = layout::tagged_manifest(&copied, "x");
    assert_eq!(descriptor.digest, image.manifest.digest);
    assert_eq!(bytes, image.manifest_bytes);
    let blobs = layout::blobs(&copied);
    for d in image.layers.iter().chain([&image.config]) {
        assert!(blobs.contains_key(d.digest.strip_prefix("sha256:").unwrap()));
    }
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_broken_mid_upload_restarts_with_a_new_session() {
    let registry = TestRegistry::start().await;
    let proxy = FaultProxy::start(&registry.url).await;
    proxy.inject(common::faults::Fault {
        method: Some("PUT"),
        path_contains: "/blobs/uploads/".into(),
        times: 1,
        kind: common::faults::FaultKind::CutUpload(16 * 1024),
    });
    let bench = Workbench::new();
    let client = bench.client(&proxy.host);
    let bytes = layout::pseudo_random(7, 256 * 1024);
    let blob = blob(TEXT_LAYER, &bytes, &[]);
    upload(&client, "cut/app", &blob, &bench.scratch()).await;
    assert_eq!(
        client
            .blob_size("cut/app", &blob.descriptor.digest)
            .await
            .unwrap(),
        Some(bytes.len() as u64)
    );
    let seen = proxy.seen();
    let puts: Vec<&str> = seen
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.path.split('?').next().unwrap())
        .collect();
    assert_eq!(puts.len(), 2, "{seen:?}");
    assert_ne!(
        puts[0], puts[1],
        "the broken session was PUT again: {seen:?}"
    );
    let first_put = seen.iter().position(|r| r.method == "PUT").unwrap();
    assert!(
        seen[first_put + 1..]
            .iter()
            .take_while(|r| r.method != "PUT")
            .any(|r| r.method == "POST"),
        "no new session between the PUTs: {seen:?}"
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_manifest_reads_are_capped_without_a_content_length() {
    let registry = TestRegistry::start().await;
    let proxy = FaultProxy::start(&registry.url).await;
    let bench = Workbench::new();
    let client = bench.client(&proxy.host);
    let big = blob(EXTENSION_CONFIG, &vec![b' '; 5 * 1024 * 1024], &[]);
    upload(&client, "big/app", &big, &bench.scratch()).await;
    for _ in 0..2 {
        proxy.inject(common::faults::Fault {
            method: Some("GET"),
            path_contains: "/blobs/".into(),
            times: 1,
            kind: common::faults::FaultKind::Chunked,
        });
        let error = client
            .blob_bytes(
                "big/app",
                &big.descriptor.digest,
                provisioning::oci::client::MAX_MANIFEST_BYTES,
            )
            .await
            .expect_err("5 MiB is over the cap");
        assert!(error.to_string().contains("larger than"), "{error}");
    }
    // Under the cap, chunked answers read as before.
    let small = blob(EXTENSION_CONFIG, b"{\"name\":\"small\"}", &[]);
    upload(&client, "big/app", &small, &bench.scratch()).await;
    proxy.inject(common::faults::Fault {
        method: Some("GET"),
        path_contains: "/blobs/".into(),
        times: 1,
        kind: common::faults::FaultKind::Chunked,
    });
    let bytes = client
        .blob_bytes("big/app", &small.descriptor.digest, 1024)
        .await
        .unwrap();
    assert_eq!(bytes, small.bytes);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_into_a_new_repository_asks_about_no_blob() {
    let source = TestRegistry::start().await;
    let target = TestRegistry::start().await;
    let proxy = FaultProxy::start(&target.url).await;
    let bench = Workbench::new();
    let artifact = Artifact::extension("fresh", "1.0.0", "into a new repository");
    artifact
        .push(
            &bench.client(&source.host()),
            "team/app",
            "1.0.0",
            &bench.scratch(),
        )
        .await;
    let from = reference(&format!("{}/team/app:1.0.0", source.host()));
    let to = reference(&format!("{}/mirror/app:1.0.0", proxy.host));
    let (registries, cache) = (&bench.registries, &bench.cache);
    let (from, to, progress) = (&from, &to, &Progress::silent());
    let copy_once = move || copy::copy(registries, cache, from, to, false, progress);
    let blob_heads = |proxy: &FaultProxy| {
        proxy
            .seen()
            .iter()
            .filter(|r| r.method == "HEAD" && r.path.contains("/blobs/"))
            .count()
    };
    // Cold: the repository does not exist, so no blob can be there to ask about.
    let report = copy_once().await.unwrap();
    assert_eq!(
        report.blobs_transferred,
        artifact.blobs().len(),
        "{report:?}"
    );
    assert_eq!(blob_heads(&proxy), 0, "{:?}", proxy.seen());
    // Warm: every blob is asked about, and none is sent again.
    proxy.clear_seen();
    let report = copy_once().await.unwrap();
    assert_eq!(report.blobs_skipped, artifact.blobs().len(), "{report:?}");
    assert_eq!(report.blobs_transferred, 0, "{report:?}");
    assert_eq!(blob_heads(&proxy), artifact.blobs().len());
    source.stop().await;
    target.stop().await;
}
