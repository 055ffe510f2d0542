//! Packaging an extension against GNU tar + gzip, and publishing the samples to Debian's
//! distribution registry, in the same run.
//!
//! Run with `cargo bench --bench package`.
//!
//! - package: a taskserv scaffolded by `scaffold::generate_into`, plus 5,000 files under
//!   `templates/` totalling 200 MiB: 4,980 text-like files of 2–40 KiB (lines drawn from a small
//!   vocabulary with a skewed choice, so gzip finds repetition) and 20 larger ones sharing the
//!   rest. The content is deterministic. Ours is `package::validate` + `package::package`;
//!   theirs is `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -czf`. One
//!   warm-up each, then three timed runs each, alternating; the medians are compared.
//!   Target: ours ≤ 1.0 × GNU tar + gzip.
//! - publish: `provisioning oci publish assets/samples` to distribution through the fault proxy
//!   of `tests/common`, which records every request: wall time and requests of the first run,
//!   then the second run (all unchanged) by kind, which must be manifest checks only.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use provisioning::extension::manifest::ExtensionType;
use provisioning::extension::package;
use provisioning::extension::scaffold::{ScaffoldSpec, generate_into};

const TOTAL_BYTES: u64 = 200 << 20;
const FILES: usize = 5_000;
const LARGE_FILES: usize = 20;
const RUNS: usize = 3;

/// xorshift64*: deterministic and fast.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Skewed towards small values: the minimum of two draws.
    fn skewed(&mut self, n: u64) -> u64 {
        self.below(n).min(self.below(n))
    }
}

const WORDS: &[&str] = &[
    "name",
    "version",
    "image",
    "port",
    "replicas",
    "cluster",
    "service",
    "enabled",
    "true",
    "false",
    "config",
    "node",
    "taskserv",
    "kubernetes",
    "containerd",
    "etcd",
    "network",
    "storage",
    "volume",
    "mount",
    "path",
    "label",
    "selector",
    "template",
    "resources",
    "limits",
    "requests",
    "cpu",
    "memory",
    "namespace",
    "default",
    "spec",
    "metadata",
    "kind",
    "apiVersion",
    "{{",
    "}}",
    "-",
    ":",
    "=",
    "env",
    "value",
    "secret",
    "token",
    "host",
    "address",
    "listen",
    "timeout",
    "retry",
    "interval",
    "health",
    "check",
    "install",
    "uninstall",
    "script",
    "nu",
    "let",
    "def",
    "if",
    "else",
    "for",
    "in",
    "echo",
    "run",
];

/// Text-like content of exactly `size` bytes.
fn text(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 128);
    while out.len() < size {
        let indent = rng.below(4) as usize * 2;
        out.extend(std::iter::repeat_n(b' ', indent));
        let words = 2 + rng.below(8);
        for i in 0..words {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(WORDS[rng.skewed(WORDS.len() as u64) as usize].as_bytes());
            if rng.below(5) == 0 {
                write!(out, "_{}", rng.below(1000)).unwrap();
            }
        }
        out.push(b'\n');
    }
    out.truncate(size);
    out
}

/// The scaffolded extension plus the bulk files; returns its directory and total file bytes.
fn build_tree(parent: &Path) -> (PathBuf, u64) {
    let dir = parent.join("bulk");
    let spec = ScaffoldSpec::new(ExtensionType::Taskserv, "bulk");
    generate_into(&spec, &dir).expect("scaffold");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let small: Vec<usize> = (0..FILES - LARGE_FILES)
        .map(|_| 2048 + rng.below(38 * 1024) as usize)
        .collect();
    let small_total: u64 = small.iter().map(|&s| s as u64).sum();
    let large = ((TOTAL_BYTES - small_total) / LARGE_FILES as u64) as usize;
    let mut total = 0u64;
    for (n, size) in small
        .into_iter()
        .chain(std::iter::repeat_n(large, LARGE_FILES))
        .enumerate()
    {
        let sub = dir.join(format!("templates/d{:02}", n % 50));
        std::fs::create_dir_all(&sub).unwrap();
        let name = if size == large && n >= FILES - LARGE_FILES {
            format!("large-{n:04}.yaml.j2")
        } else {
            format!("file-{n:04}.yaml.j2")
        };
        std::fs::write(sub.join(name), text(&mut rng, size)).unwrap();
        total += size as u64;
    }
    (dir, total)
}

fn ours(tree_dir: &Path, output: &Path) -> (Duration, u64) {
    let started = Instant::now();
    let tree = package::validate(tree_dir).expect("the bulk tree validates");
    let package = package::package(&tree, output).expect("package");
    (started.elapsed(), package.size)
}

fn gnu(tree_dir: &Path, output: &Path) -> (Duration, u64) {
    let started = Instant::now();
    let status = Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-czf",
        ])
        .arg(output)
        .arg("-C")
        .arg(tree_dir)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success());
    (started.elapsed(), std::fs::metadata(output).unwrap().len())
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn bench_package(scratch: &Path) {
    let started = Instant::now();
    let (tree, total) = build_tree(&scratch.join("src"));
    let files = count_files(&tree);
    println!(
        "tree: {files} files, {:.1} MiB of content, built in {}",
        total as f64 / (1 << 20) as f64,
        secs(started.elapsed())
    );
    let ours_out = scratch.join("ours.tar.gz");
    let gnu_out = scratch.join("gnu.tar.gz");
    ours(&tree, &ours_out);
    gnu(&tree, &gnu_out);
    let mut ours_times = Vec::new();
    let mut gnu_times = Vec::new();
    let (mut ours_size, mut gnu_size) = (0, 0);
    for _ in 0..RUNS {
        let (t, s) = ours(&tree, &ours_out);
        ours_times.push(t);
        ours_size = s;
        let (t, s) = gnu(&tree, &gnu_out);
        gnu_times.push(t);
        gnu_size = s;
    }
    let (ours_median, gnu_median) = (median(ours_times.clone()), median(gnu_times.clone()));
    println!(
        "package  ours {} (runs {}), {:.1} MiB",
        secs(ours_median),
        ours_times
            .iter()
            .map(|d| secs(*d))
            .collect::<Vec<_>>()
            .join(", "),
        ours_size as f64 / (1 << 20) as f64
    );
    println!(
        "package  tar+gzip {} (runs {}), {:.1} MiB",
        secs(gnu_median),
        gnu_times
            .iter()
            .map(|d| secs(*d))
            .collect::<Vec<_>>()
            .join(", "),
        gnu_size as f64 / (1 << 20) as f64
    );
    let ratio = ours_median.as_secs_f64() / gnu_median.as_secs_f64();
    println!(
        "package  ratio ours / tar+gzip = {ratio:.2} (target <= 1.00: {})",
        if ratio <= 1.0 { "met" } else { "NOT met" }
    );
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            n += count_files(&entry.path());
        } else {
            n += 1;
        }
    }
    n
}

/// `oci publish SAMPLES --output json` through `proxy`; returns wall time and the entries.
fn publish(home: &Path, host: &str) -> (Duration, Vec<serde_json::Value>) {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_provisioning"))
        .args([
            "oci",
            "--registry",
            host,
            "--namespace",
            "bench",
            "--plain-http",
            "--no-progress",
            "publish",
        ])
        .arg(&samples)
        .args(["--output", "json"])
        .env("PROVISIONING_CACHE_DIR", home.join("cache"))
        .env("PROVISIONING_DATA_DIR", home.join("data"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .env_remove("PROVISIONING_WORKSPACE")
        .stdin(Stdio::null())
        .output()
        .expect("run provisioning");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "publish failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    (elapsed, entries)
}

fn kind_of(request: &common::faults::SeenRequest) -> String {
    let what = if request.path == "/v2/" || request.path == "/v2" {
        "ping"
    } else if request.path.contains("/manifests/") {
        "manifest"
    } else if request.path.contains("/blobs/uploads") {
        "blob upload"
    } else if request.path.contains("/blobs/") {
        "blob"
    } else {
        "other"
    };
    format!("{} {what}", request.method)
}

fn by_kind(seen: &[common::faults::SeenRequest]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for request in seen {
        *kinds.entry(kind_of(request)).or_insert(0) += 1;
    }
    kinds
}

fn statuses(entries: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in entries {
        *counts
            .entry(entry["status"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    counts
}

fn bench_publish(runtime: &tokio::runtime::Runtime, scratch: &Path) {
    if !Path::new(common::distribution::BINARY).exists() {
        println!("publish  skipped: docker-registry not installed");
        return;
    }
    let distribution =
        common::distribution::Distribution::start(Default::default()).expect("distribution");
    let proxy = runtime.block_on(common::faults::FaultProxy::start(&distribution.url));
    let home = scratch.join("home");
    for dir in ["cache", "data", "docker"] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
    }
    let (first_time, first) = publish(&home, &proxy.host);
    let first_seen = proxy.seen();
    println!(
        "publish  first run: {} extensions in {}, {:?}, {} requests {:?}",
        first.len(),
        secs(first_time),
        statuses(&first),
        first_seen.len(),
        by_kind(&first_seen)
    );
    proxy.clear_seen();
    let (second_time, second) = publish(&home, &proxy.host);
    let second_seen = proxy.seen();
    let kinds = by_kind(&second_seen);
    let only_checks = kinds
        .keys()
        .all(|k| k == "HEAD manifest" || k == "GET manifest" || k == "GET ping");
    println!(
        "publish  second run: {} in {}, {:?}, {} requests {:?} (manifest checks only: {})",
        second.len(),
        secs(second_time),
        statuses(&second),
        second_seen.len(),
        kinds,
        if only_checks { "yes" } else { "NO" }
    );
}

fn main() {
    common::install_crypto();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scratch = tempfile::tempdir().expect("temp dir");
    bench_package(scratch.path());
    bench_publish(&runtime, scratch.path());
}
