//! The OCI client under faults injected by a proxy in front of the embedded registry: retried
//! statuses, `Retry-After`, connections cut or dropped, corrupted bytes either way, pages that
//! link in circles, pushes that fail midway, and pulls cancelled mid-transfer and mid-write.
//! Hostile archives are in `oci_archive_safety.rs`.

mod common;
use common::oci_fixtures;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestRegistry;
use common::faults::{Fault, FaultKind, FaultProxy};
use common::layout::pseudo_random;
use oci_fixtures::*;
use provisioning::oci::cache::FETCH_ATTEMPTS;
use provisioning::oci::client::OciError;
use provisioning::oci::progress::{Progress, TransferEvent};
use provisioning::oci::{Digest, Reference, ReferenceDefaults, copy, pull};
use tokio_util::sync::CancellationToken;

/// A registry, a proxy in front of it, and a workbench whose short retry policy is in
/// [`plain_options`].
struct Setup {
    registry: TestRegistry,
    proxy: FaultProxy,
    bench: Workbench,
}

impl Setup {
    async fn start() -> Setup {
        let registry = TestRegistry::start().await;
        let proxy = FaultProxy::start(&registry.url).await;
        Setup {
            registry,
            proxy,
            bench: Workbench::new(),
        }
    }

    /// Pushes straight to the registry, not through the proxy.
    async fn push(&self, artifact: &Artifact, repo: &str, tag: &str) -> Digest {
        let direct = self.bench.client(&self.registry.host());
        artifact
            .push(&direct, repo, tag, &self.bench.scratch())
            .await
    }

    fn reference(&self, path: &str) -> Reference {
        Reference::parse(
            &format!("{}/{path}", self.proxy.host),
            &ReferenceDefaults::default(),
        )
        .unwrap()
    }

    fn count(&self, method: &str, path_contains: &str) -> usize {
        self.proxy
            .seen()
            .iter()
            .filter(|r| r.method == method && r.path.contains(path_contains))
            .count()
    }

    fn inject(&self, method: &'static str, path_contains: &str, times: usize, kind: FaultKind) {
        self.proxy.inject(Fault {
            method: Some(method),
            path_contains: path_contains.to_string(),
            times,
            kind,
        });
    }
}

/// An artifact with one large (1 MiB) titled layer.
fn big_artifact() -> (Artifact, Blob) {
    let layer = file_layer("big.bin", &pseudo_random(7, 1 << 20));
    let artifact = Artifact::new(
        blob(EXTENSION_CONFIG, br#"{"name":"big"}"#, &[]),
        vec![layer.clone()],
    );
    (artifact, layer)
}

fn blob_path(digest: &Digest) -> String {
    format!("/blobs/{digest}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_get_503_twice_is_retried() {
    let setup = Setup::start().await;
    let artifact = Artifact::extension("app", "1.0.0", "retried");
    let digest = setup.push(&artifact, "faults/app", "1.0.0").await;
    setup.inject("GET", "/manifests/1.0.0", 2, FaultKind::Status(503));
    let client = setup.bench.client(&setup.proxy.host);
    let fetched = client.manifest("faults/app", "1.0.0").await.unwrap();
    assert_eq!(fetched.digest, digest);
    assert_eq!(fetched.bytes, artifact.manifest_bytes());
    assert_eq!(setup.count("GET", "/manifests/1.0.0"), 3);
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_get_503_twice_is_retried() {
    let setup = Setup::start().await;
    let artifact = Artifact::extension("app", "1.0.0", "retried");
    setup.push(&artifact, "faults/app", "1.0.0").await;
    let layer = &artifact.layers[0];
    let path = blob_path(&layer.descriptor.digest);
    setup.inject("GET", &path, 2, FaultKind::Status(503));
    let client = setup.bench.client(&setup.proxy.host);
    let dest = setup.bench.path("blob");
    client
        .download_blob("faults/app", &layer.descriptor, &dest, &Progress::silent())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), layer.bytes);
    assert_eq!(setup.count("GET", &path), 3);
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_get_429_is_retried() {
    let setup = Setup::start().await;
    let artifact = Artifact::extension("app", "1.0.0", "throttled");
    setup.push(&artifact, "faults/app", "1.0.0").await;
    setup.inject(
        "GET",
        "/manifests/1.0.0",
        1,
        FaultKind::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let client = setup.bench.client(&setup.proxy.host);
    let fetched = client.manifest("faults/app", "1.0.0").await.unwrap();
    assert_eq!(fetched.bytes, artifact.manifest_bytes());
    assert_eq!(setup.count("GET", "/manifests/1.0.0"), 2);
    // That the wait is Retry-After's, not the policy's, shows in the retry events of an upload
    // (`blob_put_429_waits_as_long_as_retry_after_says`).
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_blob_is_recovered() {
    let setup = Setup::start().await;
    let (artifact, layer) = big_artifact();
    setup.push(&artifact, "faults/big", "1.0.0").await;
    let path = blob_path(&layer.descriptor.digest);
    setup.inject("GET", &path, 1, FaultKind::CutAfter(1000));
    let out = setup.bench.path("out");
    let report = pull::pull(
        &setup.bench.registries,
        &setup.bench.cache,
        &setup.reference("faults/big:1.0.0"),
        &out,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, artifact.digest());
    assert_eq!(std::fs::read(out.join("big.bin")).unwrap(), layer.bytes);
    assert_eq!(
        setup.bench.cache.read(&layer.descriptor.digest).as_deref(),
        Some(&layer.bytes[..])
    );
    assert_eq!(setup.count("GET", &path), 2, "one cut, one resumed request");
    assert!(names_in(&setup.bench.cache.root().join("tmp")).is_empty());
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_on_every_attempt_fails_cleanly() {
    let setup = Setup::start().await;
    let (artifact, layer) = big_artifact();
    setup.push(&artifact, "faults/big", "1.0.0").await;
    let path = blob_path(&layer.descriptor.digest);
    setup.inject("GET", &path, 100, FaultKind::CutAfter(1000));
    let out = setup.bench.path("out");
    let result = pull::pull(
        &setup.bench.registries,
        &setup.bench.cache,
        &setup.reference("faults/big:1.0.0"),
        &out,
        &Progress::silent(),
    )
    .await;
    match result {
        Err(OciError::Unreachable { url, reason, .. }) => {
            assert_eq!(url, format!("/v2/faults/big{path}"));
            assert!(
                reason.contains("end of file before message length reached"),
                "{reason}"
            );
        }
        other => panic!("expected the cut connection to be reported, got {other:?}"),
    }
    let cache = &setup.bench.cache;
    assert!(!cache.blob_path(&layer.descriptor.digest).exists());
    assert!(!cache.has(&layer.descriptor.digest, layer.descriptor.size));
    assert!(
        names_in(&cache.root().join("tmp")).is_empty(),
        "{:?}",
        names_in(&cache.root().join("tmp"))
    );
    assert!(files_under(&out).is_empty(), "{:?}", files_under(&out));
    let attempts = plain_options().retry.attempts as usize;
    assert_eq!(
        setup.count("GET", &path),
        attempts,
        "every attempt was made"
    );
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_blob_is_refused_and_not_cached() {
    let setup = Setup::start().await;
    let artifact = Artifact::extension("app", "1.0.0", "corrupted");
    setup.push(&artifact, "faults/app", "1.0.0").await;
    let layer = &artifact.layers[0];
    setup.inject(
        "GET",
        &blob_path(&layer.descriptor.digest),
        100,
        FaultKind::Corrupt,
    );
    let out = setup.bench.path("out");
    let result = pull::pull(
        &setup.bench.registries,
        &setup.bench.cache,
        &setup.reference("faults/app:1.0.0"),
        &out,
        &Progress::silent(),
    )
    .await;
    match result {
        Err(OciError::DigestMismatch { expected, .. }) => {
            assert_eq!(expected, layer.descriptor.digest)
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    let cache = &setup.bench.cache;
    assert!(!cache.blob_path(&layer.descriptor.digest).exists());
    assert!(names_in(&cache.root().join("tmp")).is_empty());
    assert!(files_under(&out).is_empty(), "{:?}", files_under(&out));
    assert_eq!(
        setup.count("GET", &blob_path(&layer.descriptor.digest)),
        FETCH_ATTEMPTS as usize,
        "fetched again a bounded number of times"
    );
    setup.registry.stop().await;
}

/// An artifact with one small titled file.
fn small_artifact(title: &str, bytes: &[u8]) -> (Artifact, Blob) {
    let layer = file_layer(title, bytes);
    let artifact = Artifact::new(
        blob(EXTENSION_CONFIG, br#"{"name":"small"}"#, &[]),
        vec![layer.clone()],
    );
    (artifact, layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_corrupted_once_is_fetched_again() {
    let setup = Setup::start().await;
    let (artifact, layer) = small_artifact("data.bin", &pseudo_random(3, 100_000));
    setup.push(&artifact, "faults/once", "1.0.0").await;
    let path = blob_path(&layer.descriptor.digest);
    setup.inject("GET", &path, 1, FaultKind::Corrupt);
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let out = setup.bench.path("out");
    pull::pull(
        &setup.bench.registries,
        &setup.bench.cache,
        &setup.reference("faults/once:1.0.0"),
        &out,
        &Progress::new(sender),
    )
    .await
    .expect("the second download is sound");
    assert_eq!(std::fs::read(out.join("data.bin")).unwrap(), layer.bytes);
    assert_eq!(setup.count("GET", &path), 2, "{:?}", setup.proxy.seen());
    let mut retried = false;
    while let Ok(event) = events.try_recv() {
        retried |= matches!(event, TransferEvent::Retrying { ref what, .. } if what.contains("fetching it again"));
    }
    assert!(retried, "the refetch is shown");
    let cache = &setup.bench.cache;
    assert!(cache.verified(&layer.descriptor.digest, layer.descriptor.size));
    assert!(names_in(&cache.root().join("tmp")).is_empty());
    setup.registry.stop().await;
}

/// `oci copy` between registries goes through the cache, so it fetches a corrupted blob again
/// too; the target receives the right bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_fetches_a_blob_corrupted_once_again() {
    let setup = Setup::start().await;
    let (artifact, layer) = small_artifact("data.bin", &pseudo_random(4, 100_000));
    setup.push(&artifact, "faults/source", "1.0.0").await;
    let path = blob_path(&layer.descriptor.digest);
    setup.inject("GET", &path, 1, FaultKind::Corrupt);
    let target = Reference::parse(
        &format!("{}/faults/target:1.0.0", setup.registry.host()),
        &ReferenceDefaults::default(),
    )
    .unwrap();
    copy::copy(
        &setup.bench.registries,
        &setup.bench.cache,
        &setup.reference("faults/source:1.0.0"),
        &target,
        false,
        &Progress::silent(),
    )
    .await
    .expect("the copy succeeds after fetching the blob again");
    assert_eq!(setup.count("GET", &path), 2);
    let direct = setup.bench.client(&setup.registry.host());
    let copied = setup.bench.path("copied");
    direct
        .download_blob(
            "faults/target",
            &layer.descriptor,
            &copied,
            &Progress::silent(),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&copied).unwrap(), layer.bytes);
    setup.registry.stop().await;
}

/// A cached blob changed in place, keeping its size, is hashed on the hit, discarded and
/// downloaded again; the pull writes the registry's bytes, never the tampered ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_cache_hit_is_downloaded_again() {
    let setup = Setup::start().await;
    let (artifact, layer) = small_artifact("data.bin", &pseudo_random(5, 100_000));
    setup.push(&artifact, "faults/cached", "1.0.0").await;
    let reference = setup.reference("faults/cached:1.0.0");
    let bench = &setup.bench;
    let first = bench.path("first");
    pull::pull(
        &bench.registries,
        &bench.cache,
        &reference,
        &first,
        &Progress::silent(),
    )
    .await
    .unwrap();
    let path = blob_path(&layer.descriptor.digest);
    assert_eq!(setup.count("GET", &path), 1);

    let cached = bench.cache.blob_path(&layer.descriptor.digest);
    let mut tampered = std::fs::read(&cached).unwrap();
    tampered[500] ^= 0x55;
    std::fs::write(&cached, &tampered).unwrap();

    let second = bench.path("second");
    pull::pull(
        &bench.registries,
        &bench.cache,
        &reference,
        &second,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(second.join("data.bin")).unwrap(), layer.bytes);
    assert_eq!(setup.count("GET", &path), 2, "downloaded again");
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        layer.bytes,
        "the cache is repaired"
    );

    // An intact hit costs no request.
    let third = bench.path("third");
    pull::pull(
        &bench.registries,
        &bench.cache,
        &reference,
        &third,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(setup.count("GET", &path), 2);
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_manifest_500_then_success() {
    let setup = Setup::start().await;
    let artifact = Artifact::extension("app", "1.0.0", "pushed");
    let client = setup.bench.client(&setup.proxy.host);
    for blob in artifact.blobs() {
        upload(&client, "faults/push", blob, &setup.bench.scratch()).await;
    }
    setup.inject("PUT", "/manifests/1.0.0", 1, FaultKind::Status(500));
    let digest = client
        .put_manifest(
            "faults/push",
            "1.0.0",
            OCI_MANIFEST,
            &artifact.manifest_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(digest, artifact.digest());
    assert_eq!(setup.count("PUT", "/manifests/1.0.0"), 2);
    let direct = setup.bench.client(&setup.registry.host());
    assert_eq!(
        direct.manifest("faults/push", "1.0.0").await.unwrap().bytes,
        artifact.manifest_bytes()
    );
    setup.registry.stop().await;
}

/// The 1 MiB layer of [`big_artifact`] uploaded through the proxy after `faults` were set on
/// the upload's `POST` (`"POST"`) or final `PUT` (`"PUT"`); returns the outcome and the retries
/// the client reported.
async fn upload_through(
    setup: &Setup,
    faults: Vec<(&'static str, usize, FaultKind)>,
) -> (Blob, Result<(), OciError>, Vec<TransferEvent>) {
    let (_, layer) = big_artifact();
    for (method, times, kind) in faults {
        setup.inject(method, "/v2/faults/push/blobs/uploads/", times, kind);
    }
    let client = setup.bench.client(&setup.proxy.host);
    let file = setup.bench.path("upload.bin");
    std::fs::write(&file, &layer.bytes).unwrap();
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let result = client
        .upload_blob(
            "faults/push",
            &layer.descriptor,
            &file,
            &Progress::new(sender),
        )
        .await;
    let mut retries = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        if matches!(event, TransferEvent::Retrying { .. }) {
            retries.push(event);
        }
    }
    (layer, result, retries)
}

/// Every blob file in the embedded registry's storage, named by its digest; panics when a
/// file's content does not have the digest it is stored under.
fn stored_blobs(registry: &TestRegistry) -> Vec<Digest> {
    let mut found = Vec::new();
    let root = registry.storage_path().join("blobs/sha256");
    for file in files_under(&root) {
        let hex = Path::new(&file).file_name().unwrap().to_str().unwrap();
        let digest: Digest = format!("sha256:{hex}").parse().unwrap();
        let bytes = std::fs::read(root.join(&file)).unwrap();
        assert!(digest.matches(&bytes), "{file} holds other content");
        found.push(digest);
    }
    found
}

/// The blob is in the registry, byte for byte, and nothing else was stored.
async fn assert_uploaded(setup: &Setup, layer: &Blob) {
    let direct = setup.bench.client(&setup.registry.host());
    let bytes = direct
        .blob_bytes(
            "faults/push",
            &layer.descriptor.digest,
            layer.descriptor.size,
        )
        .await
        .unwrap();
    assert!(bytes == layer.bytes, "the registry holds other bytes");
    assert_eq!(
        stored_blobs(&setup.registry),
        std::slice::from_ref(&layer.descriptor.digest)
    );
}

/// Nothing was committed: not under the blob's digest, not under any other.
async fn assert_nothing_committed(setup: &Setup, layer: &Blob) {
    let direct = setup.bench.client(&setup.registry.host());
    assert_eq!(
        direct
            .blob_size("faults/push", &layer.descriptor.digest)
            .await
            .unwrap(),
        None
    );
    assert_eq!(stored_blobs(&setup.registry), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_post_503_twice_is_retried() {
    let setup = Setup::start().await;
    let (layer, result, _) =
        upload_through(&setup, vec![("POST", 2, FaultKind::Status(503))]).await;
    result.unwrap();
    assert_eq!(setup.count("POST", "/blobs/uploads/"), 3);
    assert_eq!(setup.count("PUT", "/blobs/uploads/"), 1);
    assert_uploaded(&setup, &layer).await;
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_post_429_is_retried() {
    let setup = Setup::start().await;
    let throttled = FaultKind::TooManyRequests {
        retry_after_secs: 1,
    };
    let (layer, result, _) = upload_through(&setup, vec![("POST", 1, throttled)]).await;
    result.unwrap();
    assert_eq!(setup.count("POST", "/blobs/uploads/"), 2);
    assert_uploaded(&setup, &layer).await;
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_post_dropped_is_retried() {
    let setup = Setup::start().await;
    let (layer, result, _) =
        upload_through(&setup, vec![("POST", 1, FaultKind::DropRequest)]).await;
    result.unwrap();
    assert_eq!(setup.count("POST", "/blobs/uploads/"), 2);
    assert_uploaded(&setup, &layer).await;
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_put_503_twice_is_retried() {
    let setup = Setup::start().await;
    let (layer, result, retries) =
        upload_through(&setup, vec![("PUT", 2, FaultKind::Status(503))]).await;
    result.unwrap();
    assert_eq!(setup.count("PUT", "/blobs/uploads/"), 3);
    assert_eq!(retries.len(), 2, "{retries:?}");
    for retry in &retries {
        let TransferEvent::Retrying { what, .. } = retry else {
            unreachable!()
        };
        assert!(what.contains("503"), "{what}");
    }
    assert_uploaded(&setup, &layer).await;
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_put_429_waits_as_long_as_retry_after_says() {
    let setup = Setup::start().await;
    let throttled = FaultKind::TooManyRequests {
        retry_after_secs: 1,
    };
    let (layer, result, retries) = upload_through(&setup, vec![("PUT", 1, throttled)]).await;
    result.unwrap();
    // The policy's own first delay is 50 ms; the client waits what the registry asked.
    match &retries[..] {
        [TransferEvent::Retrying { delay, attempt, .. }] => {
            assert_eq!(*delay, Duration::from_secs(1));
            assert_eq!(*attempt, 1);
        }
        other => panic!("expected one retry, got {other:?}"),
    }
    assert_eq!(setup.count("PUT", "/blobs/uploads/"), 2);
    assert_uploaded(&setup, &layer).await;
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_put_dropped_before_the_registry_is_retried() {
    let setup = Setup::start().await;
    let (layer, result, _) = upload_through(&setup, vec![("PUT", 1, FaultKind::DropRequest)]).await;
    result.unwrap();
    assert_eq!(setup.count("PUT", "/blobs/uploads/"), 2);
    assert_uploaded(&setup, &layer).await;
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_put_whose_answer_is_lost_after_the_commit_succeeds() {
    let setup = Setup::start().await;
    let (layer, result, _) = upload_through(&setup, vec![("PUT", 1, FaultKind::DropAnswer)]).await;
    result.unwrap();
    assert_uploaded(&setup, &layer).await;
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_put_503_on_every_attempt_fails_and_commits_nothing() {
    let setup = Setup::start().await;
    let (layer, result, _) =
        upload_through(&setup, vec![("PUT", 1000, FaultKind::Status(503))]).await;
    match result {
        Err(OciError::Registry {
            status, request, ..
        }) => {
            assert_eq!(status, 503);
            assert!(
                request.starts_with("PUT /v2/faults/push/blobs/uploads/"),
                "{request}"
            );
        }
        other => panic!("expected the registry's 503, got {other:?}"),
    }
    // Each of the upload's attempts retried its PUT on its own.
    let attempts = plain_options().retry.attempts as usize;
    assert_eq!(setup.count("POST", "/blobs/uploads/"), attempts);
    assert_eq!(setup.count("PUT", "/blobs/uploads/"), attempts * attempts);
    assert_nothing_committed(&setup, &layer).await;
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_with_corrupted_bytes_is_refused_and_commits_nothing() {
    let setup = Setup::start().await;
    let (layer, result, _) =
        upload_through(&setup, vec![("PUT", 1000, FaultKind::CorruptUpload)]).await;
    match result {
        Err(OciError::Registry { status, code, .. }) => {
            assert_eq!(status, 400);
            assert_eq!(code.as_deref(), Some("DIGEST_INVALID"));
        }
        other => panic!("expected DIGEST_INVALID, got {other:?}"),
    }
    assert_eq!(setup.count("PUT", "/blobs/uploads/"), 1, "not retried");
    assert_nothing_committed(&setup, &layer).await;
    setup.registry.stop().await;
}

/// Pushes `faults/app:<tag>` for each tag, straight to the registry.
async fn push_tags(setup: &Setup, tags: &[&str]) {
    let artifact = Artifact::extension("app", "1.0.0", "paged");
    for tag in tags {
        setup.push(&artifact, "faults/app", tag).await;
    }
}

fn assert_circular(error: OciError, what: &str, back_to: &str) {
    match &error {
        OciError::Protocol { message, .. } => assert!(
            message.contains(&format!("{what} pages link back to {back_to}")),
            "{message}"
        ),
        other => panic!("expected the circle to be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_page_that_links_to_itself_is_refused() {
    let setup = Setup::start().await;
    push_tags(&setup, &["1.0.0"]).await;
    let first = "/v2/_catalog?n=2";
    // Limited, so a client without the guard would come out of the circle and fail below.
    setup.inject("GET", "/v2/_catalog", 20, FaultKind::Link(first.into()));
    let client = setup.bench.client(&setup.proxy.host);
    let error = client.catalog(2).await.unwrap_err();
    assert_circular(error, "catalog", first);
    assert_eq!(
        setup.count("GET", "/v2/_catalog"),
        1,
        "{:?}",
        setup.proxy.seen()
    );
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_pages_that_loop_are_refused() {
    let setup = Setup::start().await;
    push_tags(&setup, &["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"]).await;
    let first = "/v2/faults/app/tags/list?n=2";
    // The second page links back to the first.
    setup.inject("GET", "last=", 20, FaultKind::Link(first.into()));
    let client = setup.bench.client(&setup.proxy.host);
    let error = client.tags_paged("faults/app", 2).await.unwrap_err();
    assert_circular(error, "tag list", first);
    assert_eq!(
        setup.count("GET", "/tags/list"),
        2,
        "{:?}",
        setup.proxy.seen()
    );
    setup.registry.stop().await;
}

/// Waits until `digest` has received bytes, then cancels `token`; returns how many.
async fn cancel_once_bytes_arrive(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<TransferEvent>,
    digest: &Digest,
    token: &CancellationToken,
) -> u64 {
    while let Some(event) = events.recv().await {
        if let TransferEvent::Progress {
            digest: d, done, ..
        } = event
            && d == *digest
            && done > 0
        {
            token.cancel();
            return done;
        }
    }
    panic!("the transfer of {digest} ended without receiving a byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_cancelled_mid_transfer_stops_and_leaves_nothing() {
    let setup = Setup::start().await;
    let (artifact, layer) = big_artifact();
    setup.push(&artifact, "faults/big", "1.0.0").await;
    let path = blob_path(&layer.descriptor.digest);
    // The registry sends 64 KiB of the 1 MiB, then nothing more: only a cancel ends the pull.
    setup.inject("GET", &path, 1, FaultKind::StallAfter(64 * 1024));
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let progress = Progress::new(sender).with_cancel(token.clone());
    let out = setup.bench.path("out");
    let reference = setup.reference("faults/big:1.0.0");
    let pulling = pull::pull(
        &setup.bench.registries,
        &setup.bench.cache,
        &reference,
        &out,
        &progress,
    );
    let (result, received) = tokio::join!(
        pulling,
        cancel_once_bytes_arrive(&mut events, &layer.descriptor.digest, &token)
    );
    assert!(received < layer.descriptor.size, "cancelled in flight");
    assert!(
        matches!(result, Err(OciError::Cancelled)),
        "expected the pull to be cancelled, got {result:?}"
    );
    let cache = &setup.bench.cache;
    assert!(
        names_in(&cache.root().join("tmp")).is_empty(),
        "the partial download is left in the cache: {:?}",
        names_in(&cache.root().join("tmp"))
    );
    assert!(!cache.has(&layer.descriptor.digest, layer.descriptor.size));
    assert!(!out.exists(), "{:?}", files_under(&out));
    assert_eq!(setup.count("GET", &path), 1, "not retried after the cancel");
    setup.registry.stop().await;
}

/// An artifact whose last layer is an empty titled file, and a FIFO in `cache` in place of
/// that blob: the pull's write step blocks reading it until the test opens and closes it.
fn artifact_with_fifo_layer(bench: &Workbench) -> (Artifact, PathBuf) {
    let empty = file_layer("late.txt", b"");
    let artifact = Artifact::new(
        blob(EXTENSION_CONFIG, br#"{"name":"slow"}"#, &[]),
        vec![file_layer("early.txt", b"early\n"), empty.clone()],
    );
    let fifo = bench.cache.blob_path(&empty.descriptor.digest);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    (artifact, fifo)
}

/// Opens `fifo` for writing once its reader (the pull's write step) has it open.
async fn writer_once_read(fifo: &Path) -> std::fs::File {
    loop {
        match std::fs::File::options()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(writer) => return writer,
            // No reader yet.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => panic!("open {}: {e}", fifo.display()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_cancelled_while_files_are_written_commits_nothing() {
    let setup = Setup::start().await;
    let (artifact, fifo) = artifact_with_fifo_layer(&setup.bench);
    setup.push(&artifact, "faults/slow", "1.0.0").await;
    let token = CancellationToken::new();
    let progress = Progress::silent().with_cancel(token.clone());
    let out = setup.bench.path("pulls/out");
    let reference = setup.reference("faults/slow:1.0.0");
    let pulling = pull::pull(
        &setup.bench.registries,
        &setup.bench.cache,
        &reference,
        &out,
        &progress,
    );
    tokio::pin!(pulling);
    let writer = tokio::select! {
        result = &mut pulling => panic!("the pull ended before writing its last file: {result:?}"),
        writer = writer_once_read(&fifo) => writer,
    };
    // The write step is reading the last layer: cancel, then let it read to the end.
    token.cancel();
    drop(writer);
    let result = pulling.await;
    assert!(
        matches!(result, Err(OciError::Cancelled)),
        "expected the pull to be cancelled, got {result:?}"
    );
    let pulls = setup.bench.path("pulls");
    assert!(!pulls.exists(), "written: {:?}", files_under(&pulls));
    setup.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_aborted_while_files_are_written_commits_nothing() {
    let setup = Setup::start().await;
    let (artifact, fifo) = artifact_with_fifo_layer(&setup.bench);
    setup.push(&artifact, "faults/slow", "1.0.0").await;
    let pulls = setup.bench.path("pulls");
    // As the workbench does it: the pull's task is aborted, no token involved.
    let task = {
        let registries = setup.bench.registries.clone();
        let cache = setup.bench.cache.clone();
        let reference = setup.reference("faults/slow:1.0.0");
        let out = pulls.join("out");
        tokio::spawn(async move {
            pull::pull(&registries, &cache, &reference, &out, &Progress::silent()).await
        })
    };
    let writer = writer_once_read(&fifo).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // The write step runs on in its blocking thread; once it has read its last file, it
    // either commits or removes its staging directory.
    drop(writer);
    let staging = || {
        names_in(&pulls)
            .into_iter()
            .any(|n| n.contains(".staging-"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while staging() {
        assert!(
            std::time::Instant::now() < deadline,
            "the write step never finished"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        files_under(&pulls).is_empty(),
        "written after the abort: {:?}",
        files_under(&pulls)
    );
    setup.registry.stop().await;
}
