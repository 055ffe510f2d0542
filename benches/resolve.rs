//! Cold and warm dependency resolution against a generated registry.
//!
//! Run with `cargo bench --bench resolve`.
//!
//! The set: 300 extensions × 10 versions (1.0.0 … 1.9.0) in the embedded registry, in a DAG 8
//! levels deep — each extension needs three of the next level (`>=1.0.0`), and every extension
//! of a level is needed by one of the level above. The workspace asks for every extension of
//! the first level (`*`). Every request goes through the loopback fault proxy of
//! `tests/common`, which adds 20 ms to each and records them.
//!
//! - cold: `provisioning dep resolve --dry-run` with an empty cache (default concurrency: 16
//!   metadata requests at once), then the same with `--concurrency 1`. Printed: wall time,
//!   requests sent (and that none was sent twice), peak RSS (`ru_maxrss` of that child alone,
//!   from `wait4`).
//! - warm: `dep resolve --offline --dry-run` with the lock the cold run computed and the cache
//!   it filled: no request at all.
//!
//! Targets: cold ≤ 2 × the floor, where the floor is max(8 levels × 3 round trips, requests ÷
//! 16) × 20 ms; cold ≥ 10 × faster than `--concurrency 1`; peak RSS ≤ 100 MiB; warm ≤ 50 ms.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::faults::{Fault, FaultKind, FaultProxy};
use futures_util::StreamExt;
use provisioning::extension::package::{ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE};
use provisioning::oci::Digest;
use provisioning::oci::client::{ClientOptions, Registries};
use provisioning::oci::credentials::CredentialStore;

const VERSIONS: u64 = 10;
const LATENCY: Duration = Duration::from_millis(20);

use common::deps::layered::{EXTENSIONS, LEVELS, members, needs};

async fn populate(host: &str) {
    let registries = Registries::new(
        ClientOptions {
            plain_http: true,
            ..ClientOptions::default()
        },
        CredentialStore::new("/nonexistent/config.json".into(), None, None),
    )
    .unwrap();
    let client = registries.client(host);
    let layer = b"bench content".to_vec();
    let layer_digest = Digest::sha256_of(&layer);
    let jobs: Vec<(usize, u64)> = (0..EXTENSIONS)
        .flat_map(|i| (0..VERSIONS).map(move |v| (i, v)))
        .collect();
    futures_util::stream::iter(jobs)
        .map(|(i, v)| {
            let (client, layer, layer_digest) = (client.clone(), layer.clone(), layer_digest.clone());
            async move {
                let name = format!("ext{i:03}");
                let repo = format!("provisioning-extensions/{name}");
                let deps: serde_json::Map<String, serde_json::Value> = needs(i)
                    .into_iter()
                    .map(|d| (format!("ext{d:03}"), serde_json::Value::from(">=1.0.0")))
                    .collect();
                let config = serde_json::to_vec(&serde_json::json!({
                    "name": name, "type": "taskserv", "version": format!("1.{v}.0"), "dependencies": deps,
                }))
                .unwrap();
                let config_digest = Digest::sha256_of(&config);
                client.upload_bytes(&repo, &config_digest, &config).await.unwrap();
                if client.blob_size(&repo, &layer_digest).await.unwrap().is_none() {
                    client.upload_bytes(&repo, &layer_digest, &layer).await.unwrap();
                }
                let manifest = serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": ARTIFACT_TYPE,
                    "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest.to_string(), "size": config.len()},
                    "layers": [{"mediaType": CONTENT_MEDIA_TYPE, "digest": layer_digest.to_string(), "size": layer.len()}],
                }))
                .unwrap();
                client
                    .put_manifest(&repo, &format!("1.{v}.0"), "application/vnd.oci.image.manifest.v1+json", &manifest)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

fn write_workspace(dir: &Path, host: &str) {
    let mut modules = String::new();
    for i in members(0) {
        modules.push_str(&format!("        - {{name: ext{i:03}, range: \"*\"}}\n"));
    }
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(
        dir.join("config/provisioning.yaml"),
        format!(
            "dependencies:\n  extensions:\n    oci:\n      registry: \"{host}\"\n      namespace: provisioning-extensions\n      tls_enabled: false\n    modules:\n      taskservs:\n{modules}"
        ),
    )
    .unwrap();
}

struct Run {
    wall: Duration,
    rss_kib: i64,
    stdout: Vec<u8>,
}

/// Runs the binary and reaps exactly that child with `wait4`, for its own peak RSS.
// Reaped by `wait4` below, which clippy does not see.
#[allow(clippy::zombie_processes)]
fn run(args: &[&str], cache: &Path) -> Run {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_provisioning"))
        .args(args)
        .env("PROVISIONING_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet reaped; the pointers live across the call.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    let stdout = reader.join().unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?} failed: {}",
        String::from_utf8_lossy(&stdout)
    );
    Run {
        wall,
        rss_kib: usage.ru_maxrss,
        stdout,
    }
}

fn main() {
    common::install_crypto();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = runtime.block_on(common::TestRegistry::start());
    let started = Instant::now();
    runtime.block_on(populate(&registry.host()));
    eprintln!(
        "generated {EXTENSIONS} extensions × {VERSIONS} versions, {LEVELS} levels, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let proxy = runtime.block_on(FaultProxy::start(&registry.url));
    proxy.inject(Fault {
        method: None,
        path_contains: "/v2/".into(),
        times: usize::MAX,
        kind: FaultKind::Delay(LATENCY),
    });
    let scratch = tempfile::tempdir().unwrap();
    let ws = scratch.path().join("ws");
    write_workspace(&ws, &proxy.host);
    let ws_text = ws.to_str().unwrap();

    let mut figures = Vec::new();
    for (label, extra) in [
        ("cold, default concurrency", vec![]),
        ("cold, --concurrency 1", vec!["--concurrency", "1"]),
    ] {
        proxy.clear_seen();
        let cache = scratch.path().join(format!("cache-{}", figures.len()));
        let mut args = vec![
            "dep",
            "resolve",
            "--dry-run",
            "--no-progress",
            "--output",
            "json",
            "--workspace",
            ws_text,
        ];
        args.extend(extra);
        let result = run(&args, &cache);
        let seen: Vec<String> = proxy
            .seen()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        let unique: std::collections::BTreeSet<&String> = seen.iter().collect();
        figures.push((label, result, seen.len(), seen.len() - unique.len(), cache));
    }
    let (_, cold, requests, _, cache) = &figures[0];
    let outcome: serde_json::Value = serde_json::from_slice(&cold.stdout).unwrap();
    let resolved = outcome["lock"]["extensions"].as_array().unwrap().len();
    // The lock the cold run computed, written as `dep resolve` would, for the warm run.
    let lock_yaml = serde_yaml::to_string(&outcome["lock"]).unwrap();
    std::fs::write(ws.join("config/provisioning.lock"), lock_yaml).unwrap();
    proxy.clear_seen();
    let mut warm_runs: Vec<Duration> = (0..5)
        .map(|_| {
            run(
                &[
                    "dep",
                    "resolve",
                    "--offline",
                    "--dry-run",
                    "--no-progress",
                    "--workspace",
                    ws_text,
                ],
                cache,
            )
            .wall
        })
        .collect();
    warm_runs.sort();
    let warm = warm_runs[warm_runs.len() / 2];
    let warm_requests = proxy.seen().len();

    let floor_trips = (LEVELS * 3).max(requests.div_ceil(16));
    let floor = LATENCY * floor_trips as u32;
    println!(
        "resolve: {EXTENSIONS} extensions × {VERSIONS} versions, DAG {LEVELS} levels, +{} ms per request",
        LATENCY.as_millis()
    );
    println!("resolved {resolved} extensions");
    for (label, run, requests, repeated, _) in &figures {
        println!(
            "{label:<28} wall {:>7.0} ms   requests {requests:>5} ({repeated} sent twice)   peak RSS {:>6.1} MiB",
            run.wall.as_secs_f64() * 1000.0,
            run.rss_kib as f64 / 1024.0
        );
    }
    let serial = &figures[1].1;
    println!(
        "floor: max({LEVELS} levels × 3, {requests} requests ÷ 16) = {floor_trips} round trips = {} ms",
        floor.as_millis()
    );
    println!(
        "cold / floor   {:.2}   (target ≤ 2.00)",
        cold.wall.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "speedup over --concurrency 1   {:.1}×   (target ≥ 10×)",
        serial.wall.as_secs_f64() / cold.wall.as_secs_f64()
    );
    println!(
        "peak RSS   {:.1} MiB   (target ≤ 100 MiB)",
        cold.rss_kib as f64 / 1024.0
    );
    println!(
        "warm (--offline) median of 5   {:.1} ms, {warm_requests} requests   (target ≤ 50 ms)",
        warm.as_secs_f64() * 1000.0
    );
    drop(proxy);
    runtime.block_on(registry.stop());
}
