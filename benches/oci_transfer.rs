//! Push and pull of whole artifacts by our OCI client against skopeo, both talking to Debian's
//! distribution registry (`/usr/bin/docker-registry`) on loopback, in the same run.
//!
//! Run with `cargo bench --bench oci_transfer`.
//!
//! Three content sets: one 64 MiB file, 50 × 1 MiB and 200 × 16 KiB of random bytes, written
//! once to disk (streamed, never held in memory) as an OCI image layout per set and tool: one
//! manifest whose layers are the files (`application/octet-stream`, titled with
//! `org.opencontainers.image.title`) and whose config is the empty `{}`
//! (`application/vnd.oci.empty.v1+json`). Each tool gets its own random content of the same
//! sizes, fresh every run, so distribution's global blob store and skopeo's blob-info cache
//! never let one tool reuse what the other (or an earlier run) uploaded.
//!
//! - push: ours is `RegistryClient::upload_blob` for the config and every layer, at most four
//!   at once (`buffer_unordered`, as `--concurrency 4`), then `put_manifest`, to
//!   `bench/ours-<set>`; skopeo is `skopeo copy oci:<layout>:<tag> docker://…/bench/skopeo-<set>`.
//! - pull: ours is the real binary, `provisioning oci pull … -o DIR --plain-http --no-progress`
//!   with a fresh `PROVISIONING_CACHE_DIR`; skopeo is `skopeo copy docker://… oci:<dir>:<tag>`.
//!   Both outputs are checked against the expected digests and sizes.
//! - warm pull: ours again with the same cache, through the fault proxy of `tests/common`,
//!   which records every request: the pull must send no blob request at all.
//! - our peak RSS while pulling the 64 MiB set. The cold pull of that set is the first child
//!   process this benchmark waits for: the registry is reaped only at the end and no skopeo
//!   runs before it. So `getrusage(RUSAGE_CHILDREN)` read right after that wait reports, in
//!   `ru_maxrss`, exactly our process's high-water mark (`VmHWM`) at exit; it reads 0 before,
//!   which is checked. Polling `/proc/<pid>/status` instead could miss a peak between two
//!   samples, and an exited process no longer has a `VmHWM` to read.
//!
//! - copy: 64 × 256 KiB between two distribution registries, cold (a fresh destination and
//!   an empty cache): ours is `provisioning oci copy … --plain-http --no-progress`, skopeo is
//!   `skopeo copy docker://… docker://…`; each copies its own content, which skopeo put into the
//!   source registry beforehand (untimed).
//!
//! - sync: the same 64 × 256 KiB mirrored from one distribution registry to another, one
//!   repository each: ours is `provisioning oci sync HOST/bench/sync-ours HOST2/mirror/sync-ours`,
//!   skopeo is `skopeo sync --src docker --dest docker`; cold (an empty mirror), then warm (a
//!   second run over an unchanged source), ours through the recording proxy, which must see no
//!   write.
//!
//! Targets: ours ≤ 0.5 × skopeo's time for the many-small sets and the copy, ≤ 1.0 × for the
//! 64 MiB file, push and pull alike; the warm pull sends no blob request; our peak RSS ≤ 64 MiB.
//! The sync row is reported, with its ratio, but not a target.
//!
//! `cargo bench --bench oci_transfer -- copy` runs the copy alone, `-- sync` the sync alone.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, TryStreamExt};
use provisioning::oci::Digest;
use provisioning::oci::client::{ClientOptions, Descriptor, Registries};
use provisioning::oci::credentials::CredentialStore;
use provisioning::oci::progress::Progress;
use serde_json::json;
use sha2::{Digest as _, Sha256};

const SKOPEO: &str = "/usr/bin/skopeo";
const TAG: &str = "v1";
const CONCURRENCY: usize = 4;
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const LAYER: &str = "application/octet-stream";
const ARTIFACT_TYPE: &str = "application/vnd.provisioning.bench.v1";
const TITLE: &str = "org.opencontainers.image.title";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const TARGET_RSS: u64 = 64 << 20;
const CHUNK: usize = 1 << 20;

/// A content set: `count` files of `size` bytes.
struct ContentSet {
    name: &'static str,
    label: &'static str,
    count: usize,
    size: usize,
    target_ratio: f64,
}

/// The copy between two registries.
const COPY_SET: ContentSet = ContentSet {
    name: "copy64x256k",
    label: "64 × 256 KiB",
    count: 64,
    size: 256 << 10,
    target_ratio: 0.5,
};

/// The 64 MiB set comes first: its cold pull must be the first child process reaped.
const SETS: [ContentSet; 3] = [
    ContentSet {
        name: "64m",
        label: "1 × 64 MiB",
        count: 1,
        size: 64 << 20,
        target_ratio: 1.0,
    },
    ContentSet {
        name: "50x1m",
        label: "50 × 1 MiB",
        count: 50,
        size: 1 << 20,
        target_ratio: 0.5,
    },
    ContentSet {
        name: "200x16k",
        label: "200 × 16 KiB",
        count: 200,
        size: 16 << 10,
        target_ratio: 0.5,
    },
];

/// A blob of a layout: its descriptor and where it lies.
struct Blob {
    descriptor: Descriptor,
    path: PathBuf,
}

/// One set written as an OCI image layout for one tool.
struct Layout {
    dir: PathBuf,
    config: Blob,
    layers: Vec<Blob>,
    manifest: Vec<u8>,
}

impl Layout {
    fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

struct Row {
    push_ours: Duration,
    push_skopeo: Duration,
    pull_ours: Duration,
    pull_skopeo: Duration,
    warm: Duration,
    warm_blob_gets: usize,
    warm_blob_requests: usize,
    warm_requests: usize,
}

/// splitmix64, to derive independent seeds.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Writes `len` random bytes (xorshift from `seed`) into `dir/blobs/sha256`, a chunk at a
/// time, hashing as it goes.
fn random_blob(dir: &Path, seed: u64, len: usize, title: String) -> Blob {
    let blobs = dir.join("blobs/sha256");
    let tmp = blobs.join(format!(".tmp-{seed:016x}"));
    let mut file = File::create(&tmp).expect("create blob");
    let mut hasher = Sha256::new();
    let mut state = mix(seed) | 1;
    let mut buffer = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK);
        for word in buffer[..n.next_multiple_of(8)].chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).expect("write blob");
        left -= n;
    }
    drop(file);
    let hex = hex::encode(hasher.finalize());
    let path = blobs.join(&hex);
    std::fs::rename(&tmp, &path).expect("rename blob");
    Blob {
        descriptor: Descriptor {
            media_type: LAYER.to_string(),
            digest: format!("sha256:{hex}").parse().unwrap(),
            size: len as u64,
            artifact_type: None,
            annotations: [(TITLE.to_string(), title)].into(),
            platform: None,
        },
        path,
    }
}

/// Writes `bytes` as a blob of the layout.
fn small_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Blob {
    let digest = Digest::sha256_of(bytes);
    let path = dir.join("blobs/sha256").join(digest.hex());
    std::fs::write(&path, bytes).expect("write blob");
    Blob {
        descriptor: Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: Default::default(),
            platform: None,
        },
        path,
    }
}

/// The layout of `set` for one tool, its content drawn from `seed`.
fn write_layout(dir: &Path, set: &ContentSet, seed: u64) -> Layout {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config = small_blob(dir, EMPTY_CONFIG, b"{}");
    let layers: Vec<Blob> = (0..set.count)
        .map(|n| {
            let seed = mix(seed ^ mix(n as u64 + 1));
            random_blob(dir, seed, set.size, format!("file-{n:03}.bin"))
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": config.descriptor,
        "layers": layers.iter().map(|b| &b.descriptor).collect::<Vec<_>>(),
    }))
    .unwrap();
    let manifest_blob = small_blob(dir, MANIFEST, &manifest);
    let mut entry = serde_json::to_value(&manifest_blob.descriptor).unwrap();
    entry["annotations"] = json!({ REF_NAME: TAG });
    let index = json!({ "schemaVersion": 2, "manifests": [entry] });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    Layout {
        dir: dir.to_path_buf(),
        config,
        layers,
        manifest,
    }
}

/// Our push: every blob with at most `CONCURRENCY` uploads at once, then the manifest.
async fn our_push(host: &str, repo: &str, layout: &Layout, scratch: &Path) -> Duration {
    let start = Instant::now();
    let options = ClientOptions {
        plain_http: true,
        concurrency: CONCURRENCY,
        ..ClientOptions::default()
    };
    let credentials = CredentialStore::new(scratch.join("docker/config.json"), None, None);
    let registries = Registries::new(options, credentials).expect("client");
    let client = registries.client(host);
    let progress = Progress::silent();
    futures_util::stream::iter(layout.blobs().map(|blob| {
        let (client, progress) = (&client, &progress);
        async move {
            client
                .upload_blob(repo, &blob.descriptor, &blob.path, progress)
                .await
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await
    .expect("upload blobs");
    client
        .put_manifest(repo, TAG, MANIFEST, &layout.manifest)
        .await
        .expect("put manifest");
    start.elapsed()
}

/// Runs a command to completion, asserting success; returns its wall time.
fn timed(command: &mut Command, what: &str) -> Duration {
    let start = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// `provisioning oci pull`, as a user runs it, with its own cache.
fn our_pull(reference: &str, output: &Path, cache: &Path, scratch: &Path) -> Duration {
    timed(
        Command::new(env!("CARGO_BIN_EXE_provisioning"))
            .args(["oci", "pull", reference, "-o"])
            .arg(output)
            .args(["--plain-http", "--no-progress"])
            .env("PROVISIONING_CACHE_DIR", cache)
            .env("DOCKER_CONFIG", scratch.join("docker"))
            .env_remove("PROVISIONING_WORKSPACE")
            .env_remove("REGISTRY_AUTH_FILE")
            .current_dir(scratch),
        &format!("provisioning oci pull {reference}"),
    )
}

fn skopeo_copy(source: &str, destination: &str, tls_flag: &str) -> Duration {
    timed(
        Command::new(SKOPEO).args(["--insecure-policy", "copy", tls_flag, source, destination]),
        &format!("skopeo copy {source} {destination}"),
    )
}

fn sha256_file(path: &Path) -> String {
    let mut file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).expect("read pulled file");
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Our pull wrote every file, named by its title, with the content pushed.
fn check_files(output: &Path, layout: &Layout) {
    for layer in &layout.layers {
        let path = output.join(&layer.descriptor.annotations[TITLE]);
        assert_eq!(
            sha256_file(&path),
            layer.descriptor.digest.to_string(),
            "{} differs from what was pushed",
            path.display()
        );
    }
}

/// skopeo's layout holds the tag and every blob with its size.
fn check_layout(dir: &Path, layout: &Layout) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
    assert!(
        index["manifests"]
            .as_array()
            .is_some_and(|m| m.iter().any(|e| e["annotations"][REF_NAME] == TAG)),
        "skopeo's layout lacks the tag: {index}"
    );
    for blob in layout.blobs() {
        let path = dir.join("blobs/sha256").join(blob.descriptor.digest.hex());
        let size = std::fs::metadata(&path).map(|m| m.len()).ok();
        assert_eq!(size, Some(blob.descriptor.size), "{}", path.display());
    }
}

/// `ru_maxrss` of the reaped children, in bytes.
fn children_max_rss() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn version(binary: &str, arg: &str) -> String {
    Command::new(binary)
        .arg(arg)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `provisioning oci copy`, as a user runs it, with its own cache.
fn our_copy(source: &str, destination: &str, cache: &Path, scratch: &Path) -> Duration {
    timed(
        Command::new(env!("CARGO_BIN_EXE_provisioning"))
            .args(["oci", "copy", source, destination])
            .args(["--plain-http", "--no-progress"])
            .env("PROVISIONING_CACHE_DIR", cache)
            .env("DOCKER_CONFIG", scratch.join("docker"))
            .env_remove("PROVISIONING_WORKSPACE")
            .env_remove("REGISTRY_AUTH_FILE")
            .current_dir(scratch),
        &format!("provisioning oci copy {source} {destination}"),
    )
}

/// Copies 64 × 256 KiB between two fresh registries with each tool; (ours, skopeo).
fn copy_between_registries(scratch: &Path, seed: u64) -> (Duration, Duration) {
    let source = common::distribution::Distribution::start(Default::default())
        .expect("docker-registry starts");
    let target = common::distribution::Distribution::start(Default::default())
        .expect("docker-registry starts");
    let mut times = Vec::new();
    for (n, tool) in ["ours", "skopeo"].into_iter().enumerate() {
        let layout = write_layout(
            &scratch.join(format!("{}/{tool}", COPY_SET.name)),
            &COPY_SET,
            mix(seed ^ mix(n as u64 + 1000)),
        );
        let repo = format!("bench/copy-{tool}");
        skopeo_copy(
            &format!("oci:{}:{TAG}", layout.dir.display()),
            &format!("docker://{}/{repo}:{TAG}", source.host),
            "--dest-tls-verify=false",
        );
        let from = format!("{}/{repo}:{TAG}", source.host);
        let to = format!("{}/{repo}:{TAG}", target.host);
        // Whatever the sets before wrote is on disk first, so the writeback of hundreds of
        // MiB never lands in one tool's time and not the other's.
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        times.push(if tool == "ours" {
            let cache = scratch.join(format!("{}/cache", COPY_SET.name));
            our_copy(&from, &to, &cache, scratch)
        } else {
            timed(
                Command::new(SKOPEO).args([
                    "--insecure-policy",
                    "copy",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                    &format!("docker://{from}"),
                    &format!("docker://{to}"),
                ]),
                &format!("skopeo copy docker://{from} docker://{to}"),
            )
        });
    }
    (times[0], times[1])
}

fn print_copy(ours: Duration, skopeo: Duration) -> bool {
    let ratio = secs(ours) / secs(skopeo);
    let met = ratio <= COPY_SET.target_ratio;
    println!(
        "copy {} between two registries, cold: ours {:.3}s, skopeo {:.3}s, ratio {ratio:.2} (≤ {:.1}: {})",
        COPY_SET.label,
        secs(ours),
        secs(skopeo),
        COPY_SET.target_ratio,
        verdict(met)
    );
    met
}

/// `provisioning oci sync`, as a user runs it, with its own cache.
fn our_sync(source: &str, destination: &str, cache: &Path, scratch: &Path) -> Duration {
    timed(
        Command::new(env!("CARGO_BIN_EXE_provisioning"))
            .args(["oci", "sync", source, destination])
            .args(["--plain-http", "--no-progress", "--quiet"])
            .env("PROVISIONING_CACHE_DIR", cache)
            .env("DOCKER_CONFIG", scratch.join("docker"))
            .env_remove("PROVISIONING_WORKSPACE")
            .env_remove("REGISTRY_AUTH_FILE")
            .current_dir(scratch),
        &format!("provisioning oci sync {source} {destination}"),
    )
}

/// Cold and warm times of a sync by each tool, and our warm run's requests and writes.
struct SyncTimes {
    cold: (Duration, Duration),
    warm: (Duration, Duration),
    warm_requests: usize,
    warm_writes: usize,
}

/// Mirrors 64 × 256 KiB (one repository per tool) to a fresh registry, twice.
fn sync_between_registries(
    runtime: &tokio::runtime::Runtime,
    scratch: &Path,
    seed: u64,
) -> SyncTimes {
    let source = common::distribution::Distribution::start(Default::default())
        .expect("docker-registry starts");
    let target = common::distribution::Distribution::start(Default::default())
        .expect("docker-registry starts");
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let (mut warm_requests, mut warm_writes) = (0, 0);
    for (n, tool) in ["ours", "skopeo"].into_iter().enumerate() {
        let layout = write_layout(
            &scratch.join(format!("sync/{tool}")),
            &COPY_SET,
            mix(seed ^ mix(n as u64 + 2000)),
        );
        let repo = format!("bench/sync-{tool}");
        skopeo_copy(
            &format!("oci:{}:{TAG}", layout.dir.display()),
            &format!("docker://{}/{repo}:{TAG}", source.host),
            "--dest-tls-verify=false",
        );
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        let from = format!("{}/{repo}", source.host);
        if tool == "ours" {
            let cache = scratch.join("sync/cache");
            let to = format!("{}/mirror/sync-ours", target.host);
            cold.push(our_sync(&from, &to, &cache, scratch));
            let proxy = runtime.block_on(common::faults::FaultProxy::start(&target.url));
            let through = format!("{}/mirror/sync-ours", proxy.host);
            warm.push(our_sync(&from, &through, &cache, scratch));
            let seen = proxy.seen();
            warm_requests = seen.len();
            warm_writes = seen
                .iter()
                .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
                .count();
        } else {
            let to = format!("{}/mirror-skopeo", target.host);
            let command = || {
                let mut command = Command::new(SKOPEO);
                command.args([
                    "--insecure-policy",
                    "sync",
                    "--src",
                    "docker",
                    "--dest",
                    "docker",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                    &from,
                    &to,
                ]);
                command
            };
            cold.push(timed(&mut command(), "skopeo sync (cold)"));
            warm.push(timed(&mut command(), "skopeo sync (warm)"));
        }
    }
    SyncTimes {
        cold: (cold[0], cold[1]),
        warm: (warm[0], warm[1]),
        warm_requests,
        warm_writes,
    }
}

fn print_sync(times: &SyncTimes) {
    println!(
        "sync {} (one repository) to a fresh registry: cold ours {:.3}s, skopeo {:.3}s, ratio {:.2}; warm ours {:.3}s ({} requests, {} writes: {}), skopeo {:.3}s, ratio {:.2}",
        COPY_SET.label,
        secs(times.cold.0),
        secs(times.cold.1),
        secs(times.cold.0) / secs(times.cold.1),
        secs(times.warm.0),
        times.warm_requests,
        times.warm_writes,
        verdict(times.warm_writes == 0),
        secs(times.warm.1),
        secs(times.warm.0) / secs(times.warm.1),
    );
}

fn main() {
    let only_copy = std::env::args().skip(1).any(|a| a == "copy");
    let only_sync = std::env::args().skip(1).any(|a| a == "sync");
    for binary in [SKOPEO, common::distribution::BINARY] {
        if !Path::new(binary).exists() {
            let name = Path::new(binary).file_name().unwrap().to_string_lossy();
            println!("skipped: {name} not installed");
            return;
        }
    }
    common::install_crypto();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let scratch = tempfile::tempdir().expect("temp dir");
    let scratch = scratch.path();
    std::fs::create_dir_all(scratch.join("docker")).unwrap();

    let run_seed = mix(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ u64::from(std::process::id()));
    if only_copy {
        let (ours, skopeo) = copy_between_registries(scratch, run_seed);
        print_copy(ours, skopeo);
        return;
    }
    if only_sync {
        print_sync(&sync_between_registries(&runtime, scratch, run_seed));
        return;
    }
    let started = Instant::now();
    let layouts: Vec<(Layout, Layout)> = SETS
        .iter()
        .enumerate()
        .map(|(n, set)| {
            let seed = mix(run_seed ^ mix(n as u64 + 100));
            (
                write_layout(&scratch.join(format!("{}/ours", set.name)), set, mix(seed)),
                write_layout(
                    &scratch.join(format!("{}/skopeo", set.name)),
                    set,
                    mix(!seed),
                ),
            )
        })
        .collect();
    let total: u64 = SETS.iter().map(|s| (s.count * s.size) as u64).sum();
    println!(
        "oci transfer bench: {} per tool ({:.0} MiB, different random content per tool), written in {:.1}s",
        SETS.iter().map(|s| s.label).collect::<Vec<_>>().join(", "),
        mib(total),
        secs(started.elapsed())
    );
    println!(
        "ours: upload_blob ×{CONCURRENCY} + put_manifest; `provisioning oci pull` (cold cache, then warm through a recording proxy); skopeo: `skopeo copy` oci: ⇄ docker://"
    );

    let distribution = common::distribution::Distribution::start(Default::default())
        .expect("docker-registry starts");
    let host = distribution.host.clone();

    let rss_before = children_max_rss();
    let mut peak_rss = None;
    let mut rows = Vec::new();
    for (set, (ours, theirs)) in SETS.iter().zip(&layouts) {
        let our_repo = format!("bench/ours-{}", set.name);
        let push_ours = runtime.block_on(our_push(&host, &our_repo, ours, scratch));

        let cache = scratch.join(format!("{}/cache", set.name));
        let output = scratch.join(format!("{}/out-ours", set.name));
        let reference = format!("{host}/{our_repo}:{TAG}");
        let pull_ours = our_pull(&reference, &output, &cache, scratch);
        if peak_rss.is_none() {
            peak_rss = Some(children_max_rss());
        }
        check_files(&output, ours);
        std::fs::remove_dir_all(&output).unwrap();

        let proxy = runtime.block_on(common::faults::FaultProxy::start(&distribution.url));
        let warm_output = scratch.join(format!("{}/out-warm", set.name));
        let warm_reference = format!("{}/{our_repo}:{TAG}", proxy.host);
        let warm = our_pull(&warm_reference, &warm_output, &cache, scratch);
        let seen = proxy.seen();
        drop(proxy);
        check_files(&warm_output, ours);
        std::fs::remove_dir_all(&warm_output).unwrap();
        std::fs::remove_dir_all(&cache).unwrap();

        let their_repo = format!("bench/skopeo-{}", set.name);
        let push_skopeo = skopeo_copy(
            &format!("oci:{}:{TAG}", theirs.dir.display()),
            &format!("docker://{host}/{their_repo}:{TAG}"),
            "--dest-tls-verify=false",
        );
        let skopeo_output = scratch.join(format!("{}/out-skopeo", set.name));
        let pull_skopeo = skopeo_copy(
            &format!("docker://{host}/{their_repo}:{TAG}"),
            &format!("oci:{}:{TAG}", skopeo_output.display()),
            "--src-tls-verify=false",
        );
        check_layout(&skopeo_output, theirs);
        std::fs::remove_dir_all(&skopeo_output).unwrap();

        rows.push(Row {
            push_ours,
            push_skopeo,
            pull_ours,
            pull_skopeo,
            warm,
            warm_blob_gets: seen
                .iter()
                .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
                .count(),
            warm_blob_requests: seen.iter().filter(|r| r.path.contains("/blobs/")).count(),
            warm_requests: seen.len(),
        });
    }
    drop(distribution);
    let (copy_ours, copy_skopeo) = copy_between_registries(scratch, run_seed);
    let sync_times = sync_between_registries(&runtime, scratch, run_seed);

    println!();
    println!(
        "{:<14}{:>10}{:>10}{:>7}{:>10}{:>10}{:>7}{:>8}{:>12}{:>11}",
        "set",
        "push ours",
        "skopeo",
        "ratio",
        "pull ours",
        "skopeo",
        "ratio",
        "target",
        "warm pull",
        "blob GETs"
    );
    let ratio = |a: Duration, b: Duration| secs(a) / secs(b);
    let mut ratios_met = true;
    let mut warm_met = true;
    for (set, row) in SETS.iter().zip(&rows) {
        let push = ratio(row.push_ours, row.push_skopeo);
        let pull = ratio(row.pull_ours, row.pull_skopeo);
        ratios_met &= push <= set.target_ratio && pull <= set.target_ratio;
        warm_met &= row.warm_blob_requests == 0 && row.warm_requests > 0;
        println!(
            "{:<14}{:>9.3}s{:>9.3}s{:>7.2}{:>9.3}s{:>9.3}s{:>7.2}{:>8}{:>11.3}s{:>11}",
            set.label,
            secs(row.push_ours),
            secs(row.push_skopeo),
            push,
            secs(row.pull_ours),
            secs(row.pull_skopeo),
            pull,
            format!("≤ {:.1}", set.target_ratio),
            secs(row.warm),
            row.warm_blob_gets
        );
    }
    println!();
    for (set, row) in SETS.iter().zip(&rows) {
        let push = ratio(row.push_ours, row.push_skopeo);
        let pull = ratio(row.pull_ours, row.pull_skopeo);
        println!(
            "{:<14}push {} , pull {}; warm pull: {} requests, {} to blobs ({} GET)",
            set.label,
            verdict(push <= set.target_ratio),
            verdict(pull <= set.target_ratio),
            row.warm_requests,
            row.warm_blob_requests,
            row.warm_blob_gets
        );
    }
    let copy_met = print_copy(copy_ours, copy_skopeo);
    print_sync(&sync_times);
    let peak_rss = peak_rss.filter(|_| rss_before == 0);
    let rss_text = peak_rss
        .map(|b| format!("{:.1} MiB", mib(b)))
        .unwrap_or_else(|| "n/a (another child was reaped first)".into());
    println!();
    println!(
        "targets: ours ≤ 0.5 × skopeo for 50 × 1 MiB and 200 × 16 KiB and the copy, ≤ 1.0 × for 1 × 64 MiB (push and pull): {}",
        verdict(ratios_met && copy_met)
    );
    println!(
        "         warm pull sends no blob request: {}",
        verdict(warm_met)
    );
    println!(
        "         our peak RSS pulling 1 × 64 MiB: {rss_text} (≤ {} MiB: {})",
        TARGET_RSS >> 20,
        verdict(peak_rss.is_some_and(|r| r <= TARGET_RSS))
    );
    println!(
        "peers: {}; {}",
        version(SKOPEO, "--version"),
        version(common::distribution::BINARY, "--version")
    );
}
