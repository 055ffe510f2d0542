//! Interoperability with skopeo and Debian's distribution registry: OCI layouts copied into a
//! registry and back out, and between registries, keep every manifest and blob byte-identical.

mod common;

use common::layout;
use common::skopeo;

use std::path::Path;

use common::TestRegistry;
use common::distribution::{Distribution, DistributionOptions};

const IMAGE_REPO: &str = "interop/image";
const INDEX_REPO: &str = "interop/multi";
const IMAGE_TAG: &str = "v1";
const INDEX_TAG: &str = "multi";

fn oci_ref(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

fn docker_ref(host: &str, repo: &str, reference: &str) -> String {
    if reference.contains(':') {
        format!("docker://{host}/{repo}@{reference}")
    } else {
        format!("docker://{host}/{repo}:{reference}")
    }
}

/// Pushes a layout's tagged image (or index, with `--all`) to `dest`.
async fn push(src: &Path, tag: &str, dest: &str) {
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &oci_ref(src, tag),
        dest,
    ])
    .await;
}

/// Pulls `src` (with `--all`) into a fresh layout at `out` under `tag`.
async fn pull(src: &str, out: &Path, tag: &str) {
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        src,
        &oci_ref(out, tag),
    ])
    .await;
}

async fn inspect_raw(reference: &str) -> Vec<u8> {
    skopeo(&["inspect", "--raw", "--tls-verify=false", reference]).await
}

/// Both layouts hold the same blobs, byte for byte, and tag the same manifest.
fn assert_same_layout(original: &Path, copy: &Path, tag: &str) {
    let expected = layout::blobs(original);
    let actual = layout::blobs(copy);
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "blob sets of {} and {} differ",
        original.display(),
        copy.display()
    );
    for (hex, bytes) in &expected {
        assert!(
            actual[hex] == *bytes,
            "blob sha256:{hex} differs after the round trip"
        );
        assert_eq!(layout::sha256_hex(&actual[hex]), *hex);
    }
    let (want_desc, want_bytes) = layout::tagged_manifest(original, tag);
    let (got_desc, got_bytes) = layout::tagged_manifest(copy, tag);
    assert_eq!(got_desc, want_desc);
    assert_eq!(
        String::from_utf8_lossy(&got_bytes),
        String::from_utf8_lossy(&want_bytes)
    );
}

/// The registry at `host` serves exactly the original manifests of the image and the index.
async fn assert_serves_originals(host: &str, image: &layout::Image, index: &layout::Index) {
    let raw = inspect_raw(&docker_ref(host, IMAGE_REPO, IMAGE_TAG)).await;
    assert_eq!(
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&image.manifest_bytes),
        "image manifest of {host} differs"
    );
    let raw = inspect_raw(&docker_ref(host, IMAGE_REPO, &image.manifest.digest)).await;
    assert_eq!(raw, image.manifest_bytes);
    let raw = inspect_raw(&docker_ref(host, INDEX_REPO, INDEX_TAG)).await;
    assert_eq!(
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&index.manifest_bytes),
        "index of {host} differs"
    );
    for child in &index.images {
        let raw = inspect_raw(&docker_ref(host, INDEX_REPO, &child.manifest.digest)).await;
        assert_eq!(
            String::from_utf8_lossy(&raw),
            String::from_utf8_lossy(&child.manifest_bytes),
            "{}/{} manifest of {host} differs",
            child.os,
            child.architecture
        );
    }
}

/// Writes the image and the index layouts under `work` and pushes both to `host`.
async fn seed(work: &Path, host: &str) -> (layout::Image, layout::Index) {
    let image = layout::write_image_layout(&work.join("src-image"), IMAGE_TAG);
    let index = layout::write_index_layout(&work.join("src-index"), INDEX_TAG);
    push(
        &work.join("src-image"),
        IMAGE_TAG,
        &docker_ref(host, IMAGE_REPO, IMAGE_TAG),
    )
    .await;
    push(
        &work.join("src-index"),
        INDEX_TAG,
        &docker_ref(host, INDEX_REPO, INDEX_TAG),
    )
    .await;
    (image, index)
}

/// Pulls the image and the index from `host` into fresh layouts and compares them with the
/// originals under `work`.
async fn pull_and_compare(work: &Path, host: &str, label: &str) {
    let out_image = work.join(format!("out-image-{label}"));
    pull(
        &docker_ref(host, IMAGE_REPO, IMAGE_TAG),
        &out_image,
        IMAGE_TAG,
    )
    .await;
    assert_same_layout(&work.join("src-image"), &out_image, IMAGE_TAG);
    let out_index = work.join(format!("out-index-{label}"));
    pull(
        &docker_ref(host, INDEX_REPO, INDEX_TAG),
        &out_index,
        INDEX_TAG,
    )
    .await;
    assert_same_layout(&work.join("src-index"), &out_index, INDEX_TAG);
}

async fn round_trip(host: &str) {
    let work = tempfile::tempdir().unwrap();
    let (image, index) = seed(work.path(), host).await;
    assert_serves_originals(host, &image, &index).await;
    pull_and_compare(work.path(), host, "back").await;
}

/// Blobs are also served byte-exact over the plain API, with the right digest header.
async fn assert_blobs_served(url: &str, image: &layout::Image) {
    let client = common::http_client();
    let mut descriptors = image.layers.clone();
    descriptors.push(image.config.clone());
    let dir = tempfile::tempdir().unwrap();
    let writer = layout::LayoutWriter::create(dir.path());
    let again = writer.image("linux", "amd64", 1);
    for (d, expected) in descriptors
        .iter()
        .zip(again.layers.iter().chain([&again.config]))
    {
        assert_eq!(d, expected, "layouts are not reproducible");
        let response = client
            .get(format!("{url}/v2/{IMAGE_REPO}/blobs/{}", d.digest))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET blob {}", d.digest);
        assert_eq!(
            response
                .headers()
                .get("Docker-Content-Digest")
                .and_then(|v| v.to_str().ok()),
            Some(d.digest.as_str())
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len() as u64, d.size);
        assert_eq!(format!("sha256:{}", layout::sha256_hex(&body)), d.digest);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_round_trip_through_our_registry() {
    if !common::require_peer("skopeo") {
        return;
    }
    let registry = TestRegistry::start().await;
    round_trip(&registry.host()).await;
    let dir = tempfile::tempdir().unwrap();
    let image = layout::write_image_layout(dir.path(), IMAGE_TAG);
    assert_blobs_served(&registry.url, &image).await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_round_trip_through_distribution() {
    if !common::require_peer("skopeo") {
        return;
    }
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    round_trip(&distribution.host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_from_our_registry_to_distribution() {
    if !common::require_peer("skopeo") {
        return;
    }
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let registry = TestRegistry::start().await;
    let work = tempfile::tempdir().unwrap();
    let (image, index) = seed(work.path(), &registry.host()).await;
    copy_between(&registry.host(), &distribution.host).await;
    assert_serves_originals(&distribution.host, &image, &index).await;
    pull_and_compare(work.path(), &distribution.host, "distribution").await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_from_distribution_to_our_registry() {
    if !common::require_peer("skopeo") {
        return;
    }
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let registry = TestRegistry::start().await;
    let work = tempfile::tempdir().unwrap();
    let (image, index) = seed(work.path(), &distribution.host).await;
    copy_between(&distribution.host, &registry.host()).await;
    assert_serves_originals(&registry.host(), &image, &index).await;
    pull_and_compare(work.path(), &registry.host(), "ours").await;
    assert_blobs_served(&registry.url, &image).await;
    registry.stop().await;
}

/// Copies the image and the index from one registry to the other.
async fn copy_between(from: &str, to: &str) {
    for (repo, tag) in [(IMAGE_REPO, IMAGE_TAG), (INDEX_REPO, INDEX_TAG)] {
        skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &docker_ref(from, repo, tag),
            &docker_ref(to, repo, tag),
        ])
        .await;
    }
}
