//! Push-then-pull throughput and memory of the embedded registry against Debian's distribution
//! registry (`/usr/bin/docker-registry`), each in its own process, in the same run.
//!
//! Run with `cargo bench --bench registry`.
//!
//! The set: 500 blobs of 64 KiB and 20 of 8 MiB (random, generated once), pushed with POST +
//! PUT `?digest=` and pulled with GET (digest verified), by 8 concurrent clients sharing one
//! HTTP client. Prints wall times, the ratio ours/distribution and each server's peak RSS
//! (`VmHWM`) next to the targets: our time ≤ 0.8 × distribution's, our peak RSS ≤ 64 MiB.
//!
//! Then a load run: 200 clients, each on its own connections, at once push a blob, a config
//! blob they all share and a tagged manifest, then each pulls another client's manifest and
//! blob and checks both digests. Prints the time and the count of failed or corrupted
//! transfers (which must be 0) for both registries.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

const SMALL_COUNT: usize = 500;
const SMALL_SIZE: usize = 64 << 10;
const LARGE_COUNT: usize = 20;
const LARGE_SIZE: usize = 8 << 20;
const CLIENTS: usize = 8;
const REPO: &str = "bench/blobs";
const TARGET_RATIO: f64 = 0.8;
const TARGET_RSS: u64 = 64 << 20;

struct Blob {
    digest: String,
    bytes: &'static [u8],
}

struct Figures {
    push: Duration,
    pull: Duration,
    peak_rss: Option<u64>,
}

impl Figures {
    fn total(&self) -> Duration {
        self.push + self.pull
    }
}

/// Our registry as a child process, killed on drop.
struct Ours {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Ours {
    fn start() -> Ours {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = format!("127.0.0.1:{}", common::free_port());
        let log = dir.path().join("registry.log");
        let child = Command::new(env!("CARGO_BIN_EXE_provisioning"))
            .arg("--log-file")
            .arg(&log)
            .args(["oci-registry", "serve", "--addr", &addr, "--storage"])
            .arg(dir.path().join("storage"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start provisioning oci-registry serve");
        let mut ours = Ours {
            child,
            url: format!("http://{addr}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            if let Some(status) = ours.child.try_wait().unwrap() {
                panic!(
                    "provisioning exited with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "registry did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        ours
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Random bytes (xorshift) from `seed`.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The blob set, large blobs spread among the small ones.
fn blob_set() -> Vec<Blob> {
    let mut blobs = Vec::with_capacity(SMALL_COUNT + LARGE_COUNT);
    let every = SMALL_COUNT / LARGE_COUNT;
    let mut seed = 1u64;
    let mut make = |size: usize| {
        let bytes: &'static [u8] = Box::leak(random_bytes(seed, size).into_boxed_slice());
        seed += 1;
        Blob {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
            bytes,
        }
    };
    for n in 0..SMALL_COUNT {
        if n % every == 0 && n / every < LARGE_COUNT {
            blobs.push(make(LARGE_SIZE));
        }
        blobs.push(make(SMALL_SIZE));
    }
    blobs
}

/// Runs `job` over every blob with `CLIENTS` concurrent tasks.
async fn parallel<F, Fut>(blobs: &'static [Blob], job: F) -> Duration
where
    F: Fn(reqwest::Client, &'static Blob) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let client = common::http_client();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, next, job) = (client.clone(), next.clone(), job.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(blob) = blobs.get(n) else { break };
                job(client.clone(), blob).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    start.elapsed()
}

/// POST then PUT `?digest=` with the whole blob; the answer's status, or the error.
async fn upload(
    client: &reqwest::Client,
    base: &reqwest::Url,
    repo: &str,
    blob: &Blob,
) -> Result<(), String> {
    let response = client
        .post(base.join(&format!("/v2/{repo}/blobs/uploads/")).unwrap())
        .send()
        .await
        .map_err(|e| format!("POST upload: {e}"))?;
    if response.status() != 202 {
        return Err(format!("POST upload: {}", response.status()));
    }
    let location = response
        .headers()
        .get("Location")
        .ok_or("POST upload: no Location")?
        .to_str()
        .unwrap();
    let mut target = base.join(location).unwrap();
    target.query_pairs_mut().append_pair("digest", &blob.digest);
    let response = client
        .put(target)
        .header("Content-Type", "application/octet-stream")
        .body(blob.bytes)
        .send()
        .await
        .map_err(|e| format!("PUT upload: {e}"))?;
    if response.status() != 201 {
        return Err(format!("PUT {}: {}", blob.digest, response.status()));
    }
    Ok(())
}

async fn push(client: reqwest::Client, base: reqwest::Url, blob: &Blob) {
    if let Err(e) = upload(&client, &base, REPO, blob).await {
        panic!("{e}");
    }
}

async fn pull(client: reqwest::Client, base: reqwest::Url, blob: &Blob) {
    let mut response = client
        .get(
            base.join(&format!("/v2/{REPO}/blobs/{}", blob.digest))
                .unwrap(),
        )
        .send()
        .await
        .expect("GET blob");
    assert_eq!(response.status(), 200, "GET {}", blob.digest);
    let mut hasher = Sha256::new();
    let mut size = 0;
    while let Some(chunk) = response.chunk().await.expect("blob body") {
        size += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(size, blob.bytes.len(), "size of {}", blob.digest);
    assert_eq!(
        format!("sha256:{}", hex::encode(hasher.finalize())),
        blob.digest,
        "pulled content differs"
    );
}

async fn run(url: &str, blobs: &'static [Blob], pid: u32) -> Figures {
    let base = reqwest::Url::parse(url).unwrap();
    let push_base = base.clone();
    let push = parallel(blobs, move |client, blob| {
        let base = push_base.clone();
        async move { push(client, base, blob).await }
    })
    .await;
    let pull = parallel(blobs, move |client, blob| {
        let base = base.clone();
        async move { pull(client, base, blob).await }
    })
    .await;
    Figures {
        push,
        pull,
        peak_rss: peak_rss(pid),
    }
}

/// `VmHWM` of a process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn rss_text(rss: Option<u64>) -> String {
    rss.map(|b| format!("{:.1} MiB", mib(b)))
        .unwrap_or_else(|| "n/a".into())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

const LOAD_CLIENTS: usize = 200;
const LOAD_REPO: &str = "bench/load";

/// What a load run saw.
struct Load {
    elapsed: Duration,
    failures: Vec<String>,
}

fn manifest_for(config: &str, config_size: usize, blob: &Blob) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": blob.digest,
            "size": blob.bytes.len(),
        }],
    }))
    .unwrap()
}

/// One load client: push, then (after every client pushed) pull another client's image.
async fn load_client(
    base: reqwest::Url,
    n: usize,
    blobs: &'static [Blob],
    config: &'static Blob,
    pushed: Arc<tokio::sync::Barrier>,
) -> Result<(), String> {
    let client = common::http_client();
    let blob = &blobs[n];
    let tag = format!("c{n}");
    let repo_url = |path: String| base.join(&format!("/v2/{LOAD_REPO}/{path}")).unwrap();
    let result = async {
        for b in [config, blob] {
            upload(&client, &base, LOAD_REPO, b)
                .await
                .map_err(|e| format!("client {n}: {e}"))?;
        }
        let manifest = manifest_for(&config.digest, config.bytes.len(), blob);
        let response = client
            .put(repo_url(format!("manifests/{tag}")))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest)
            .send()
            .await
            .map_err(|e| format!("client {n}: manifest: {e}"))?;
        if response.status() != 201 {
            return Err(format!("client {n}: manifest PUT: {}", response.status()));
        }
        Ok(())
    }
    .await;
    pushed.wait().await;
    result?;
    let other = (n * 7 + 3) % LOAD_CLIENTS;
    let expected = &blobs[other];
    let response = client
        .get(repo_url(format!("manifests/c{other}")))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .map_err(|e| format!("client {n}: pull manifest: {e}"))?;
    if response.status() != 200 {
        return Err(format!(
            "client {n}: GET manifest c{other}: {}",
            response.status()
        ));
    }
    let manifest = response
        .bytes()
        .await
        .map_err(|e| format!("client {n}: manifest body: {e}"))?;
    if manifest.as_ref() != manifest_for(&config.digest, config.bytes.len(), expected).as_slice() {
        return Err(format!("client {n}: manifest c{other} differs"));
    }
    let body = client
        .get(repo_url(format!("blobs/{}", expected.digest)))
        .send()
        .await
        .map_err(|e| format!("client {n}: pull blob: {e}"))?
        .bytes()
        .await
        .map_err(|e| format!("client {n}: blob body: {e}"))?;
    if format!("sha256:{}", hex::encode(Sha256::digest(&body))) != expected.digest {
        return Err(format!("client {n}: blob of c{other} is corrupted"));
    }
    Ok(())
}

async fn load(url: &str, blobs: &'static [Blob], config: &'static Blob) -> Load {
    let base = reqwest::Url::parse(url).unwrap();
    let pushed = Arc::new(tokio::sync::Barrier::new(LOAD_CLIENTS));
    let start = Instant::now();
    let tasks: Vec<_> = (0..LOAD_CLIENTS)
        .map(|n| tokio::spawn(load_client(base.clone(), n, blobs, config, pushed.clone())))
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.expect("load client") {
            failures.push(e);
        }
    }
    Load {
        elapsed: start.elapsed(),
        failures,
    }
}

fn load_bench(runtime: &tokio::runtime::Runtime) {
    let blobs: &'static [Blob] = Box::leak(
        (0..LOAD_CLIENTS)
            .map(|n| {
                let bytes: &'static [u8] =
                    Box::leak(random_bytes(10_000 + n as u64, 16 << 10).into_boxed_slice());
                Blob {
                    digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
                    bytes,
                }
            })
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let config: &'static Blob = Box::leak(Box::new(Blob {
        digest: format!("sha256:{}", hex::encode(Sha256::digest(b"{}"))),
        bytes: b"{}",
    }));
    println!(
        "load: {LOAD_CLIENTS} clients at once, each pushes a 16 KiB blob, a shared config and a manifest, then pulls another's"
    );
    let ours = Ours::start();
    let our = runtime.block_on(load(&ours.url, blobs, config));
    drop(ours);
    let distribution = common::distribution::Distribution::start(Default::default())
        .expect("docker-registry starts");
    let theirs = runtime.block_on(load(&distribution.url, blobs, config));
    drop(distribution);
    for (name, run) in [("ours", &our), ("distribution", &theirs)] {
        println!(
            "{name:<14}{:>9.3}s  {} failed or corrupted{}",
            run.elapsed.as_secs_f64(),
            run.failures.len(),
            run.failures
                .first()
                .map(|f| format!(" (first: {f})"))
                .unwrap_or_default()
        );
    }
    println!(
        "load ratio ours/distribution: {:.2}; nothing corrupted: {}",
        our.elapsed.as_secs_f64() / theirs.elapsed.as_secs_f64(),
        verdict(our.failures.is_empty())
    );
}

fn main() {
    if !Path::new(common::distribution::BINARY).exists() {
        println!("skipped: docker-registry not installed");
        return;
    }
    common::install_crypto();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let blobs: &'static [Blob] = Box::leak(blob_set().into_boxed_slice());
    let total_bytes: u64 = blobs.iter().map(|b| b.bytes.len() as u64).sum();
    println!(
        "registry bench: {SMALL_COUNT} × {} KiB + {LARGE_COUNT} × {} MiB ({:.1} MiB), {CLIENTS} clients, push then pull",
        SMALL_SIZE >> 10,
        LARGE_SIZE >> 20,
        mib(total_bytes)
    );

    let ours = Ours::start();
    let our = runtime.block_on(run(&ours.url, blobs, ours.child.id()));
    drop(ours);

    let distribution = common::distribution::Distribution::start(Default::default())
        .expect("docker-registry starts");
    let theirs = runtime.block_on(run(&distribution.url, blobs, distribution.pid()));
    drop(distribution);

    println!(
        "{:<14}{:>10}{:>10}{:>10}{:>12}",
        "", "push", "pull", "total", "peak RSS"
    );
    for (name, f) in [("ours", &our), ("distribution", &theirs)] {
        println!(
            "{name:<14}{:>9.3}s{:>9.3}s{:>9.3}s{:>12}",
            f.push.as_secs_f64(),
            f.pull.as_secs_f64(),
            f.total().as_secs_f64(),
            rss_text(f.peak_rss)
        );
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let total_ratio = ratio(our.total(), theirs.total());
    println!(
        "ratio ours/distribution: push {:.2}, pull {:.2}, total {total_ratio:.2} (target ≤ {TARGET_RATIO:.2}: {})",
        ratio(our.push, theirs.push),
        ratio(our.pull, theirs.pull),
        verdict(total_ratio <= TARGET_RATIO)
    );
    println!(
        "our peak RSS: {} (target ≤ {} MiB: {})",
        rss_text(our.peak_rss),
        TARGET_RSS >> 20,
        verdict(our.peak_rss.is_some_and(|r| r <= TARGET_RSS))
    );
    load_bench(&runtime);
}
