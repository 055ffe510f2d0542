//! The OCI client under faults injected by a proxy in front of the embedded registry: retried
//! statuses, `Retry-After`, cut connections, corrupted bytes; and hostile artifacts whose file
//! names or archives try to write outside the output directory.

mod common;
use common::oci_fixtures;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestRegistry;
use common::faults::{Fault, FaultKind, FaultProxy};
use oci_fixtures::*;
use provisioning::oci::client::OciError;
use provisioning::oci::progress::Progress;
use provisioning::oci::{Digest, Reference, ReferenceDefaults, pull};

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
    let mut bytes = Vec::with_capacity(1 << 20);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    while bytes.len() < 1 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    let layer = file_layer("big.bin", &bytes);
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
async fn retry_after_is_honoured() {
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
    let started = Instant::now();
    let fetched = client.manifest("faults/app", "1.0.0").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(fetched.bytes, artifact.manifest_bytes());
    assert_eq!(setup.count("GET", "/manifests/1.0.0"), 2);
    // The policy's own delay is 50 ms; only Retry-After explains a wait of a second.
    assert!(
        elapsed >= Duration::from_millis(900),
        "retried after {elapsed:?}, before Retry-After: 1 expired"
    );
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
    assert!(setup.count("GET", &path) >= 2);
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
    assert!(result.is_err(), "pull succeeded through a cut connection");
    let cache = &setup.bench.cache;
    assert!(!cache.blob_path(&layer.descriptor.digest).exists());
    assert!(!cache.has(&layer.descriptor.digest, layer.descriptor.size));
    assert!(
        names_in(&cache.root().join("tmp")).is_empty(),
        "{:?}",
        names_in(&cache.root().join("tmp"))
    );
    assert!(files_under(&out).is_empty(), "{:?}", files_under(&out));
    assert!(setup.count("GET", &path) >= 2);
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

/// Pushes an artifact with plain HTTP requests (no client-side checks on its content).
async fn push_raw(url: &str, repo: &str, tag: &str, artifact: &Artifact) {
    let http = common::http_client();
    for blob in artifact.blobs() {
        let response = http
            .post(format!(
                "{url}/v2/{repo}/blobs/uploads/?digest={}",
                blob.descriptor.digest
            ))
            .header("Content-Type", "application/octet-stream")
            .body(blob.bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "upload {}", blob.descriptor.digest);
    }
    let response = http
        .put(format!("{url}/v2/{repo}/manifests/{tag}"))
        .header("Content-Type", OCI_MANIFEST)
        .body(artifact.manifest_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "PUT manifest {repo}:{tag}");
}

/// Pulls a hostile artifact into `<base>/work/out`: refused with an error naming `bad`, and
/// nothing written anywhere under `base` but the empty output directory.
async fn assert_refused(registry: &TestRegistry, artifact: Artifact, tag: &str, bad: &str) {
    push_raw(&registry.url, "hostile/app", tag, &artifact).await;
    let bench = Workbench::new();
    let base = tempfile::tempdir().unwrap();
    let work = base.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = work.join("out");
    let reference = Reference::parse(
        &format!("{}/hostile/app:{tag}", registry.host()),
        &ReferenceDefaults::default(),
    )
    .unwrap();
    let result = pull::pull(
        &bench.registries,
        &bench.cache,
        &reference,
        &out,
        &Progress::silent(),
    )
    .await;
    let error = match result {
        Ok(report) => panic!("hostile artifact {tag} was pulled: {report:?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains(bad),
        "error for {tag} does not name {bad:?}: {error}"
    );
    assert!(
        names_in(&out).is_empty(),
        "{tag}: output dir holds {:?}",
        files_under(&out)
    );
    let beside: Vec<String> = names_in(&work).into_iter().filter(|n| n != "out").collect();
    assert!(
        beside.is_empty(),
        "{tag}: stray entries beside the output: {beside:?}"
    );
    assert_eq!(
        names_in(base.path()),
        ["work"],
        "{tag}: stray entries above"
    );
    assert_no_stray(base.path(), tag);
}

fn assert_no_stray(base: &Path, tag: &str) {
    assert!(
        !Path::new("/etc/evil").exists(),
        "{tag}: /etc/evil exists after the pull"
    );
    let files = files_under(base);
    assert!(files.is_empty(), "{tag}: files written: {files:?}");
}

fn hostile_files(title: &str) -> Artifact {
    Artifact::new(
        blob(EXTENSION_CONFIG, br#"{"name":"hostile"}"#, &[]),
        vec![
            file_layer("innocent.txt", b"harmless\n"),
            file_layer(title, format!("written at {title}\n").as_bytes()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_titles_and_archives_are_refused() {
    assert!(!Path::new("/etc/evil").exists());
    let registry = TestRegistry::start().await;
    assert_refused(&registry, hostile_files("../../x"), "parent", "../../x").await;
    assert_refused(
        &registry,
        hostile_files("/etc/evil"),
        "absolute",
        "/etc/evil",
    )
    .await;
    assert_refused(&registry, hostile_files("a/../../b"), "inner", "a/../../b").await;

    let archive = Artifact::new(
        blob(EXTENSION_CONFIG, br#"{"name":"hostile"}"#, &[]),
        vec![
            file_layer("innocent.txt", b"harmless\n"),
            directory_layer(
                "bundle",
                &[
                    TarEntry::Dir("bundle/"),
                    TarEntry::Symlink("bundle/escape", "../../../outside"),
                    TarEntry::File("bundle/escape/pwned", b"pwned\n"),
                ],
            ),
        ],
    );
    assert_refused(&registry, archive, "symlink", "escape").await;
    registry.stop().await;
}
