//! Crash safety: the real `serve` binary killed with SIGKILL in the middle of an upload, then
//! restarted on the same storage.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::layout;
use common::registry_http::{RegistryHttp, Upload, header, location, with_query};
use provisioning::registry::daemon;
use reqwest::Method;
use serde_json::json;

const REPO: &str = "crash/app";
const BIG: usize = 64 << 20;
const CHUNK: usize = 1 << 20;

/// `provisioning oci-registry serve` in a child process, killed on drop.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

/// Ports tried before giving up when parallel tests keep taking the chosen one.
const ATTEMPTS: usize = 5;

impl Server {
    /// Serves `storage` on a free port. It serves once the pid record in the storage names
    /// this child: the child writes it after binding, so the port is its own, not that of
    /// a parallel test that took it first (then the child exits and another port is tried).
    fn start(storage: &Path, log: &Path) -> Server {
        let stderr_path = log.with_extension("stderr");
        let mut refusals = Vec::new();
        for _ in 0..ATTEMPTS {
            let addr = format!("127.0.0.1:{}", common::free_port());
            let child = Command::new(env!("CARGO_BIN_EXE_provisioning"))
                .arg("--log-file")
                .arg(log)
                .args(["oci-registry", "serve", "--addr", &addr, "--storage"])
                .arg(storage)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr_path).unwrap())
                .spawn()
                .expect("start provisioning");
            let mut server = Server {
                child,
                url: format!("http://{addr}"),
                log: log.to_path_buf(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = server.child.try_wait().unwrap() {
                    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    assert!(
                        stderr.contains("in use"),
                        "registry exited with {status}: {stderr}\n{}",
                        server.log_text()
                    );
                    refusals.push(stderr);
                    break;
                }
                if daemon::running(storage).is_some_and(|r| r.pid == server.child.id()) {
                    assert_eq!(
                        daemon::running(storage).map(|r| r.endpoint),
                        Some(server.url.clone())
                    );
                    return server;
                }
                assert!(
                    Instant::now() < deadline,
                    "registry did not serve on {addr}: {}",
                    server.log_text()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!(
            "no free port in {ATTEMPTS} attempts:\n{}",
            refusals.join("\n")
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, then reap.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the registry");
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small image committed before the crash.
struct Committed {
    blobs: Vec<(String, Vec<u8>)>,
    manifest: Vec<u8>,
    manifest_digest: String,
}

/// Two blobs pushed with POST then PUT, one in chunked PATCHes, a config and the manifest.
async fn push_committed(registry: &RegistryHttp) -> Committed {
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    let parts = [
        (layout::pseudo_random(1, 100_000), Upload::PostPut),
        (layout::pseudo_random(2, 200_000), Upload::PostPut),
        (
            layout::pseudo_random(9, 3 * CHUNK + 17),
            Upload::Chunked(CHUNK),
        ),
    ];
    for (bytes, upload) in parts {
        let digest = registry.push_blob_with(REPO, &bytes, upload).await;
        layers.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest,
            "size": bytes.len(),
        }));
        blobs.push((digest, bytes));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l["digest"].clone()).collect::<Vec<_>>() }
    }))
    .unwrap();
    let config_digest = registry
        .push_blob_with(REPO, &config, Upload::PostPut)
        .await;
    let manifest = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": layout::MANIFEST,
        "config": { "mediaType": layout::CONFIG, "digest": config_digest, "size": config.len() },
        "layers": layers,
    }))
    .unwrap();
    blobs.push((config_digest, config));
    let manifest_digest = registry
        .push_manifest(REPO, "v1", layout::MANIFEST, &manifest)
        .await;
    Committed {
        blobs,
        manifest_digest,
        manifest,
    }
}

/// Everything committed is served byte-exact.
async fn assert_committed(registry: &RegistryHttp, committed: &Committed) {
    for reference in ["v1", committed.manifest_digest.as_str()] {
        let response = registry
            .request(Method::GET, &format!("/v2/{REPO}/manifests/{reference}"))
            .header("Accept", layout::MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET manifest {reference}");
        assert_eq!(
            header(&response, "Content-Type").as_deref(),
            Some(layout::MANIFEST)
        );
        assert_eq!(
            header(&response, "Docker-Content-Digest").as_deref(),
            Some(committed.manifest_digest.as_str())
        );
        assert_eq!(response.bytes().await.unwrap(), committed.manifest);
    }
    for (digest, bytes) in &committed.blobs {
        let response = registry.get(&format!("/v2/{REPO}/blobs/{digest}")).await;
        assert_eq!(response.status(), 200, "GET blob {digest}");
        let body = response.bytes().await.unwrap();
        assert!(body == bytes[..], "blob {digest} changed");
    }
}

async fn head_blob(registry: &RegistryHttp, digest: &str) -> u16 {
    registry
        .head(&format!("/v2/{REPO}/blobs/{digest}"))
        .await
        .status()
        .as_u16()
}

/// A body that sends `data` up to `stall_at` bytes, reports that, then never ends.
fn stalling_body(
    data: &'static [u8],
    stall_at: usize,
) -> (reqwest::Body, tokio::sync::oneshot::Receiver<()>) {
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let stream = futures_util::stream::unfold(
        (0usize, Some(sent_tx)),
        move |(offset, mut sent)| async move {
            if offset >= stall_at {
                if let Some(tx) = sent.take() {
                    let _ = tx.send(());
                }
                futures_util::future::pending::<()>().await;
            }
            let end = (offset + CHUNK).min(data.len());
            Some((Ok::<_, std::io::Error>(&data[offset..end]), (end, sent)))
        },
    );
    (reqwest::Body::wrap_stream(stream), sent_rx)
}

/// Waits until a file in `dir` has at least `bytes`, i.e. the server really wrote the data.
async fn wait_for_file_of(dir: &Path, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let largest = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        if largest >= bytes {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no file of {bytes} bytes appeared in {} (largest {largest})",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{} still holds {left:?}", dir.display());
}

fn big_data() -> &'static [u8] {
    Box::leak(layout::pseudo_random(42, BIG).into_boxed_slice())
}

/// A fresh push of `bytes` (POST, then PUT) works and is served back.
async fn assert_fresh_push(registry: &RegistryHttp, bytes: &[u8]) {
    let digest = registry.push_blob_with(REPO, bytes, Upload::PostPut).await;
    let response = registry.get(&format!("/v2/{REPO}/blobs/{digest}")).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), bytes.len());
    assert_eq!(common::sha256(&body), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_chunked_upload_keeps_committed_data_and_drops_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let log = dir.path().join("registry.log");
    let server = Server::start(&storage, &log);
    let registry = RegistryHttp::new(&server.url);
    let committed = push_committed(&registry).await;

    let data = big_data();
    let acknowledged = 2 * CHUNK;
    let session = registry.start_upload(REPO).await;
    let response = registry
        .request(Method::PATCH, &session)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("0-{}", acknowledged - 1))
        .body(data[..acknowledged].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "first PATCH");
    assert_eq!(
        header(&response, "Range"),
        Some(format!("0-{}", acknowledged - 1))
    );
    let session = location(&response);

    // The rest of the 64 MiB as one streamed PATCH that stalls halfway.
    let stall_at = BIG / 2;
    let (body, sent) = stalling_body(&data[acknowledged..], stall_at - acknowledged);
    let patch = tokio::spawn({
        let request = registry.request(Method::PATCH, &session);
        async move { request.body(body).send().await }
    });
    sent.await.expect("body reached the stall point");
    wait_for_file_of(&storage.join("uploads"), (stall_at - CHUNK) as u64).await;
    server.kill();
    let outcome = patch.await.unwrap();
    assert!(
        outcome.is_err(),
        "the stalled PATCH got an answer: {outcome:?}"
    );

    let server = Server::start(&storage, &log);
    let registry = RegistryHttp::new(&server.url);
    assert_committed(&registry, &committed).await;
    let response = registry.get(&session).await;
    assert_eq!(
        response.status(),
        404,
        "GET status of the interrupted upload"
    );
    let closing = with_query(
        &session,
        &format!("digest={}", common::sha256(&data[..acknowledged])),
    );
    let response = registry
        .request(Method::PUT, &closing)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "closing the interrupted upload");
    for partial in [
        &data[..acknowledged],
        &data[..stall_at],
        &data[..stall_at - CHUNK],
        data,
    ] {
        let digest = common::sha256(partial);
        assert_eq!(
            head_blob(&registry, &digest).await,
            404,
            "HEAD {digest} ({} bytes of partial data)",
            partial.len()
        );
    }
    assert_empty(&storage.join("uploads"));
    assert_empty(&storage.join("tmp"));

    assert_fresh_push(&registry, data).await;
    assert_committed(&registry, &committed).await;
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_monolithic_upload_leaves_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let log = dir.path().join("registry.log");
    let server = Server::start(&storage, &log);
    let registry = RegistryHttp::new(&server.url);
    let committed = push_committed(&registry).await;

    let data = big_data();
    let digest = common::sha256(data);
    let stall_at = BIG / 4;
    let (body, sent) = stalling_body(data, stall_at);
    let post = tokio::spawn({
        let request = registry
            .request(
                Method::POST,
                &format!("/v2/{REPO}/blobs/uploads/?digest={digest}"),
            )
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", BIG.to_string());
        async move { request.body(body).send().await }
    });
    sent.await.expect("body reached the stall point");
    wait_for_file_of(&storage.join("tmp"), (stall_at - CHUNK) as u64).await;
    server.kill();
    let outcome = post.await.unwrap();
    assert!(
        outcome.is_err(),
        "the stalled POST got an answer: {outcome:?}"
    );

    let server = Server::start(&storage, &log);
    let registry = RegistryHttp::new(&server.url);
    assert_committed(&registry, &committed).await;
    for partial in [data, &data[..stall_at], &data[..stall_at - CHUNK]] {
        let digest = common::sha256(partial);
        assert_eq!(
            head_blob(&registry, &digest).await,
            404,
            "HEAD {digest} ({} bytes of partial data)",
            partial.len()
        );
    }
    let response = registry.get(&format!("/v2/{REPO}/blobs/{digest}")).await;
    assert_eq!(response.status(), 404, "GET the interrupted blob");
    assert_empty(&storage.join("uploads"));
    assert_empty(&storage.join("tmp"));

    assert_fresh_push(&registry, data).await;
    server.kill();
}
