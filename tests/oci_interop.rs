//! The OCI client with images skopeo pushed: inspected, pulled into the cache and copied by us,
//! within and between our registry and distribution; skopeo reads back the very bytes it pushed.

mod common;

use common::layout;
use common::oci_fixtures;
use common::skopeo;

use std::path::Path;

use common::TestRegistry;
use common::distribution::{Distribution, DistributionOptions};
use oci_fixtures::Workbench;
use provisioning::oci::client::OciError;
use provisioning::oci::progress::Progress;
use provisioning::oci::{Digest, Reference, ReferenceDefaults, browse, copy, pull};

const IMAGE_REPO: &str = "skopeo/image";
const INDEX_REPO: &str = "skopeo/multi";
const IMAGE_TAG: &str = "v1";
const INDEX_TAG: &str = "multi";

fn docker_ref(host: &str, repo: &str, reference: &str) -> String {
    if reference.contains(':') {
        format!("docker://{host}/{repo}@{reference}")
    } else {
        format!("docker://{host}/{repo}:{reference}")
    }
}

async fn inspect_raw(host: &str, repo: &str, reference: &str) -> Vec<u8> {
    skopeo(vec![
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        docker_ref(host, repo, reference),
    ])
    .await
}

fn reference(text: &str) -> Reference {
    Reference::parse(text, &ReferenceDefaults::default()).unwrap()
}

fn digest(text: &str) -> Digest {
    text.parse().unwrap()
}

/// The image and index layouts, pushed by skopeo to `host`.
struct Seeded {
    image: layout::Image,
    index: layout::Index,
}

async fn seed(work: &Path, host: &str) -> Seeded {
    let image = layout::write_image_layout(&work.join("src-image"), IMAGE_TAG);
    let index = layout::write_index_layout(&work.join("src-index"), INDEX_TAG);
    for (dir, tag, repo) in [
        ("src-image", IMAGE_TAG, IMAGE_REPO),
        ("src-index", INDEX_TAG, INDEX_REPO),
    ] {
        skopeo(vec![
            "copy".into(),
            "--all".into(),
            "--preserve-digests".into(),
            "--dest-tls-verify=false".into(),
            format!("oci:{}:{tag}", work.join(dir).display()),
            docker_ref(host, repo, tag),
        ])
        .await;
    }
    Seeded { image, index }
}

/// Inspects what skopeo pushed to `host`.
async fn inspect_seeded(bench: &Workbench, host: &str, seeded: &Seeded) {
    let client = bench.client(host);
    let image = browse::inspect(
        &client,
        &reference(&format!("{host}/{IMAGE_REPO}:{IMAGE_TAG}")),
    )
    .await
    .unwrap();
    assert_eq!(image.digest, digest(&seeded.image.manifest.digest));
    assert_eq!(image.media_type, layout::MANIFEST);
    assert_eq!(image.artifact_type.as_deref(), Some(layout::CONFIG));
    let layers: Vec<String> = image.layers.iter().map(|l| l.digest.to_string()).collect();
    let expected: Vec<String> = seeded
        .image
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect();
    assert_eq!(layers, expected);
    let config = image.config_content.expect("image config content");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(
        image.annotations.get("org.opencontainers.image.title"),
        Some(&"test linux/amd64".to_string())
    );

    let index = browse::inspect(
        &client,
        &reference(&format!("{host}/{INDEX_REPO}:{INDEX_TAG}")),
    )
    .await
    .unwrap();
    assert_eq!(index.digest, digest(&seeded.index.manifest.digest));
    assert_eq!(index.media_type, layout::INDEX);
    assert!(index.layers.is_empty());
    assert_eq!(index.manifests.len(), 2);
    for (child, original) in index.manifests.iter().zip(&seeded.index.images) {
        assert_eq!(child.digest, digest(&original.manifest.digest));
        let platform = child.platform.as_ref().expect("platform");
        assert_eq!(platform["architecture"], original.architecture.as_str());
    }
}

/// Pulls the image and each child of the index into the cache.
async fn pull_seeded(bench: &Workbench, host: &str, seeded: &Seeded) {
    let image_ref = reference(&format!("{host}/{IMAGE_REPO}:{IMAGE_TAG}"));
    let report = pull::pull(
        &bench.registries,
        &bench.cache,
        &image_ref,
        &bench.path("out-image"),
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, digest(&seeded.image.manifest.digest));
    // Image layers carry no title: nothing to write.
    assert_eq!(report.skipped_layers.len(), 3);
    assert!(report.files.is_empty());
    let cached = bench
        .cache
        .read(&report.digest)
        .expect("manifest in the cache");
    assert_eq!(cached, seeded.image.manifest_bytes);
    for d in seeded.image.layers.iter().chain([&seeded.image.config]) {
        assert!(bench.cache.has(&digest(&d.digest), d.size), "{}", d.digest);
    }
    assert_eq!(
        bench.cache.lookup(&image_ref.to_string()).map(|d| d.digest),
        Some(report.digest)
    );

    // An index is not pulled as such; its children are, by digest.
    let index_ref = reference(&format!("{host}/{INDEX_REPO}:{INDEX_TAG}"));
    match pull::pull(
        &bench.registries,
        &bench.cache,
        &index_ref,
        &bench.path("out-index"),
        &Progress::silent(),
    )
    .await
    {
        Err(OciError::Protocol { message, .. }) => {
            for child in &seeded.index.images {
                assert!(message.contains(&child.manifest.digest), "{message}");
            }
        }
        other => panic!("pulling an index: {other:?}"),
    }
    for child in &seeded.index.images {
        let child_ref = reference(&format!("{host}/{INDEX_REPO}@{}", child.manifest.digest));
        pull::pull(
            &bench.registries,
            &bench.cache,
            &child_ref,
            &bench.path(&format!("out-{}", child.architecture)),
            &Progress::silent(),
        )
        .await
        .unwrap();
        assert_eq!(
            bench.cache.read(&digest(&child.manifest.digest)),
            Some(child.manifest_bytes.clone())
        );
        for d in child.layers.iter().chain([&child.config]) {
            assert!(bench.cache.has(&digest(&d.digest), d.size), "{}", d.digest);
        }
    }
}

/// Copies the image and the index from `from` to `to` (under `prefix/`), and checks with skopeo
/// that every manifest there is byte-identical to what skopeo pushed.
async fn copy_and_verify(bench: &Workbench, from: &str, to: &str, prefix: &str, seeded: &Seeded) {
    let image_target = format!("{prefix}/image");
    let index_target = format!("{prefix}/multi");
    copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{from}/{IMAGE_REPO}:{IMAGE_TAG}")),
        &reference(&format!("{to}/{image_target}")),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{from}/{INDEX_REPO}:{INDEX_TAG}")),
        &reference(&format!("{to}/{index_target}")),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.manifests, 3, "{report:?}");

    let raw = inspect_raw(to, &image_target, IMAGE_TAG).await;
    assert_eq!(
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&seeded.image.manifest_bytes),
        "image copied {from} -> {to}"
    );
    let raw = inspect_raw(to, &index_target, INDEX_TAG).await;
    assert_eq!(
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&seeded.index.manifest_bytes),
        "index copied {from} -> {to}"
    );
    for child in &seeded.index.images {
        let raw = inspect_raw(to, &index_target, &child.manifest.digest).await;
        assert_eq!(
            String::from_utf8_lossy(&raw),
            String::from_utf8_lossy(&child.manifest_bytes),
            "{} child copied {from} -> {to}",
            child.architecture
        );
    }
}

async fn interop_from(source: &str, others: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let seeded = seed(work.path(), source).await;
    let bench = Workbench::new();
    inspect_seeded(&bench, source, &seeded).await;
    pull_seeded(&bench, source, &seeded).await;
    copy_and_verify(&bench, source, source, "copied", &seeded).await;
    for (n, other) in others.iter().enumerate() {
        copy_and_verify(&bench, source, other, &format!("from-{n}"), &seeded).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushed_content_in_our_registry() {
    if !common::require_peer("skopeo") {
        return;
    }
    let registry = TestRegistry::start().await;
    let other = TestRegistry::start().await;
    let distribution = Distribution::start(DistributionOptions::default());
    let mut targets = vec![other.host()];
    if let Some(d) = &distribution {
        targets.push(d.host.clone());
    }
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    interop_from(&registry.host(), &targets).await;
    registry.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushed_content_in_distribution() {
    if !common::require_peer("skopeo") {
        return;
    }
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let registry = TestRegistry::start().await;
    interop_from(&distribution.host, &[&registry.host()]).await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_cross_distribution_through_the_tag_fallback() {
    use oci_fixtures::{Artifact, blob};
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let ours = TestRegistry::start().await;
    let back = TestRegistry::start().await;
    let bench = Workbench::new();
    let source = bench.client(&ours.host());
    let image = Artifact::extension("signed", "1.0.0", "signed, copied to distribution");
    let digest = image
        .push(&source, "sig/app", "1.0.0", &bench.scratch())
        .await;
    let mut signature = Artifact::new(
        blob("application/vnd.oci.empty.v1+json", b"{}", &[]),
        vec![blob("application/vnd.example.signature", b"signed", &[])],
    );
    signature.artifact_type = Some("application/vnd.example.signature.v1+json".into());
    signature.subject = Some(image.descriptor());
    signature
        .push(
            &source,
            "sig/app",
            &signature.digest().to_string(),
            &bench.scratch(),
        )
        .await;

    // distribution 2.8 has no referrers API: the copy keeps the `sha256-<hex>` index.
    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/sig/app:1.0.0", ours.host())),
        &reference(&format!("{}/sig/app:1.0.0", distribution.host)),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.referrers, 1, "{report:?}");
    let theirs = bench.client(&distribution.host);
    let fallback_tag = format!("sha256-{}", digest.hex());
    assert!(
        theirs
            .tags("sig/app")
            .await
            .unwrap()
            .contains(&fallback_tag)
    );
    let referrers = theirs.referrers("sig/app", &digest, None).await.unwrap();
    assert_eq!(referrers.len(), 1, "{referrers:?}");
    assert_eq!(referrers[0].digest, signature.digest());
    assert_eq!(
        referrers[0].artifact_type.as_deref(),
        Some("application/vnd.example.signature.v1+json")
    );
    let inspection = browse::inspect(
        &theirs,
        &reference(&format!("{}/sig/app:1.0.0", distribution.host)),
    )
    .await
    .unwrap();
    assert_eq!(inspection.referrers.len(), 1);

    // And back from distribution: the fallback is read, the referrer comes along.
    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/sig/app:1.0.0", distribution.host)),
        &reference(&format!("{}/sig/app:1.0.0", back.host())),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.referrers, 1, "{report:?}");
    let listed = bench
        .client(&back.host())
        .referrers("sig/app", &digest, None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    ours.stop().await;
    back.stop().await;
}
