//! Crash safety: the real `serve` binary killed with SIGKILL in the middle of an upload, then
//! restarted on the same storage.

mod common;
use common::layout;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

impl Server {
    fn start(storage: &Path, log: &Path) -> Server {
        let port = common::free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_provisioning"))
            .arg("--log-file")
            .arg(log)
            .args(["oci-registry", "serve", "--addr", &addr, "--storage"])
            .arg(storage)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start provisioning");
        let mut server = Server {
            child,
            url: format!("http://{addr}"),
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("registry exited with {status}: {}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "registry did not listen on {addr}: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
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

/// Resolves a `Location` header against the registry URL.
fn location(url: &str, response: &reqwest::Response) -> String {
    let location = response
        .headers()
        .get("Location")
        .expect("Location header")
        .to_str()
        .unwrap();
    if location.starts_with('/') {
        format!("{url}{location}")
    } else {
        location.to_string()
    }
}

/// Pushes a blob with POST then PUT `?digest=`.
async fn push_blob(client: &reqwest::Client, url: &str, bytes: &[u8]) -> String {
    let digest = common::sha256(bytes);
    let response = client
        .post(format!("{url}/v2/{REPO}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "POST upload");
    let upload = location(url, &response);
    let response = client
        .put(format!("{upload}?digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "PUT upload {digest}");
    digest
}

/// A small image committed before the crash.
struct Committed {
    blobs: Vec<(String, Vec<u8>)>,
    manifest: Vec<u8>,
    manifest_digest: String,
}

async fn push_image(client: &reqwest::Client, url: &str) -> Committed {
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    for seed in 1..=2u8 {
        let bytes = layout::pseudo_random(seed, 100_000 * seed as usize);
        let digest = push_blob(client, url, &bytes).await;
        layers.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest,
            "size": bytes.len(),
        }));
        blobs.push((digest, bytes));
    }
    // One blob through a chunked upload as well.
    let chunked = layout::pseudo_random(9, 3 * CHUNK + 17);
    let response = client
        .post(format!("{url}/v2/{REPO}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let mut upload = location(url, &response);
    for (n, part) in chunked.chunks(CHUNK).enumerate() {
        let start = n * CHUNK;
        let response = client
            .patch(&upload)
            .header("Content-Type", "application/octet-stream")
            .header(
                "Content-Range",
                format!("{start}-{}", start + part.len() - 1),
            )
            .body(part.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "PATCH chunk {n}");
        upload = location(url, &response);
    }
    let chunked_digest = common::sha256(&chunked);
    let separator = if upload.contains('?') { '&' } else { '?' };
    let response = client
        .put(format!("{upload}{separator}digest={chunked_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "close chunked upload");
    layers.push(json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": chunked_digest,
        "size": chunked.len(),
    }));
    blobs.push((chunked_digest, chunked));

    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l["digest"].clone()).collect::<Vec<_>>() }
    }))
    .unwrap();
    let config_digest = push_blob(client, url, &config).await;
    let manifest = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": layout::MANIFEST,
        "config": { "mediaType": layout::CONFIG, "digest": config_digest, "size": config.len() },
        "layers": layers,
    }))
    .unwrap();
    blobs.push((config_digest, config));
    let response = client
        .put(format!("{url}/v2/{REPO}/manifests/v1"))
        .header("Content-Type", layout::MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "PUT manifest");
    Committed {
        blobs,
        manifest_digest: common::sha256(&manifest),
        manifest,
    }
}

/// Everything committed is served byte-exact.
async fn assert_committed(client: &reqwest::Client, url: &str, committed: &Committed) {
    for reference in ["v1", committed.manifest_digest.as_str()] {
        let response = client
            .get(format!("{url}/v2/{REPO}/manifests/{reference}"))
            .header("Accept", layout::MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET manifest {reference}");
        assert_eq!(
            response
                .headers()
                .get("Content-Type")
                .and_then(|v| v.to_str().ok()),
            Some(layout::MANIFEST)
        );
        assert_eq!(
            response
                .headers()
                .get("Docker-Content-Digest")
                .and_then(|v| v.to_str().ok()),
            Some(committed.manifest_digest.as_str())
        );
        assert_eq!(response.bytes().await.unwrap(), committed.manifest);
    }
    for (digest, bytes) in &committed.blobs {
        let response = client
            .get(format!("{url}/v2/{REPO}/blobs/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET blob {digest}");
        let body = response.bytes().await.unwrap();
        assert!(body == bytes[..], "blob {digest} changed");
    }
}

async fn head_blob(client: &reqwest::Client, url: &str, digest: &str) -> u16 {
    client
        .head(format!("{url}/v2/{REPO}/blobs/{digest}"))
        .send()
        .await
        .unwrap()
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

/// A fresh chunked push of `bytes` works and is served back.
async fn assert_fresh_push(client: &reqwest::Client, url: &str, bytes: &[u8]) {
    let digest = push_blob(client, url, bytes).await;
    let response = client
        .get(format!("{url}/v2/{REPO}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
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
    let client = common::http_client();
    let server = Server::start(&storage, &log);
    let url = server.url.clone();
    let committed = push_image(&client, &url).await;

    let data = big_data();
    let acknowledged = 2 * CHUNK;
    let response = client
        .post(format!("{url}/v2/{REPO}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let upload = location(&url, &response);
    let response = client
        .patch(&upload)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("0-{}", acknowledged - 1))
        .body(data[..acknowledged].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "first PATCH");
    assert_eq!(
        response
            .headers()
            .get("Range")
            .and_then(|v| v.to_str().ok()),
        Some(format!("0-{}", acknowledged - 1).as_str())
    );
    let upload = location(&url, &response);

    // The rest of the 64 MiB as one streamed PATCH that stalls halfway.
    let stall_at = BIG / 2;
    let (body, sent) = stalling_body(&data[acknowledged..], stall_at - acknowledged);
    let patch = tokio::spawn({
        let client = client.clone();
        let upload = upload.clone();
        async move { client.patch(&upload).body(body).send().await }
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
    let url = server.url.clone();
    assert_committed(&client, &url, &committed).await;
    let upload = upload.replace(&url_origin(&upload), &url);
    let response = client.get(&upload).send().await.unwrap();
    assert_eq!(
        response.status(),
        404,
        "GET status of the interrupted upload"
    );
    let response = client
        .put(format!(
            "{upload}{}digest={}",
            if upload.contains('?') { '&' } else { '?' },
            common::sha256(&data[..acknowledged])
        ))
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
            head_blob(&client, &url, &digest).await,
            404,
            "HEAD {digest} ({} bytes of partial data)",
            partial.len()
        );
    }
    assert_empty(&storage.join("uploads"));
    assert_empty(&storage.join("tmp"));

    assert_fresh_push(&client, &url, data).await;
    assert_committed(&client, &url, &committed).await;
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_monolithic_upload_leaves_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    let log = dir.path().join("registry.log");
    let client = common::http_client();
    let server = Server::start(&storage, &log);
    let url = server.url.clone();
    let committed = push_image(&client, &url).await;

    let data = big_data();
    let digest = common::sha256(data);
    let stall_at = BIG / 4;
    let (body, sent) = stalling_body(data, stall_at);
    let post = tokio::spawn({
        let client = client.clone();
        let target = format!("{url}/v2/{REPO}/blobs/uploads/?digest={digest}");
        async move {
            client
                .post(target)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", BIG.to_string())
                .body(body)
                .send()
                .await
        }
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
    let url = server.url.clone();
    assert_committed(&client, &url, &committed).await;
    for partial in [data, &data[..stall_at], &data[..stall_at - CHUNK]] {
        let digest = common::sha256(partial);
        assert_eq!(
            head_blob(&client, &url, &digest).await,
            404,
            "HEAD {digest} ({} bytes of partial data)",
            partial.len()
        );
    }
    let response = client
        .get(format!("{url}/v2/{REPO}/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "GET the interrupted blob");
    assert_empty(&storage.join("uploads"));
    assert_empty(&storage.join("tmp"));

    assert_fresh_push(&client, &url, data).await;
    server.kill();
}

/// `http://host:port` of an absolute URL.
fn url_origin(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split('/').next().unwrap();
    format!("http://{host}")
}
