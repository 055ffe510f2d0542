//! The exit codes scripts branch on (README, "Exit codes"): each one produced by the real binary
//! in the situation it names.

mod common;

use std::time::{Duration, Instant};

use common::cli::{Cli, oci_args};
use common::faults::{Fault, FaultKind, FaultProxy};
use common::oci_fixtures::{Artifact, Workbench};
use common::{TestRegistry, assert_failure, assert_success, exit, text};

/// redis 7.2.0 in `ext/redis`.
async fn seed(host: &str) -> Workbench {
    let bench = Workbench::new();
    let client = bench.client(host);
    Artifact::extension("redis", "7.2.0", "key-value store")
        .push(&client, "ext/redis", "7.2.0", &bench.scratch())
        .await;
    bench
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_usage_and_success() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let _bench = seed(&host).await;
    let cli = Cli::new();

    assert_success(&cli.oci(&host, &["tags", "redis"]).await);

    let missing_tag = cli.oci(&host, &["pull", "redis:9.9.9", "-o", "out"]).await;
    assert_failure(&missing_tag, exit::NOT_FOUND, "not found");
    assert!(!cli.path("cwd/out").exists(), "nothing written");
    let missing_repo = cli.oci(&host, &["tags", "no-such-extension"]).await;
    assert_failure(&missing_repo, exit::NOT_FOUND, "not found");
    let missing_inspect = cli.oci(&host, &["inspect", "redis:1.0.0"]).await;
    assert_failure(&missing_inspect, exit::NOT_FOUND, "not found");

    // Usage: clap's own errors and ours.
    let unknown_flag = cli.oci(&host, &["tags", "redis", "--no-such-flag"]).await;
    assert_failure(&unknown_flag, exit::USAGE, "--no-such-flag");
    let missing_argument = cli.oci(&host, &["pull"]).await;
    assert_failure(&missing_argument, exit::USAGE, "required");
    let bad_reference = cli.oci(&host, &["tags", "Bad/Name"]).await;
    assert_failure(&bad_reference, exit::USAGE, "invalid reference");

    // An operation that fails for another reason: nothing listens there.
    let port = common::free_port();
    let unreachable = cli
        .oci(&format!("127.0.0.1:{port}"), &["tags", "redis"])
        .await;
    assert_failure(&unreachable, exit::FAILURE, "cannot reach");
    registry.stop().await;
}

/// `provisioning oci tags … | head -0`: the reader is gone before anything is written. The
/// command ends quietly with 0 (no panic, no "Broken pipe" on stderr).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_quietly() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let _bench = seed(&host).await;
    let cli = Cli::new();
    let args = oci_args(&host, &["tags", "redis"]);
    let mut command = cli.command(&args);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    command.stdout(writer);
    let output = tokio::task::spawn_blocking(move || {
        let child = command.spawn().unwrap();
        common::wait_with_deadline(child, "oci tags", Duration::from_secs(60))
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        output.status,
        text(&output.stderr)
    );
    assert_eq!(text(&output.stderr), "", "nothing to say on stderr");
    registry.stop().await;
}

/// Ctrl-C while a blob is in flight: exit 130, and the output directory never appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_mid_pull_exits_130_and_leaves_nothing() {
    let registry = TestRegistry::start().await;
    let _bench = seed(&registry.host()).await;
    let proxy = FaultProxy::start(&registry.url).await;
    proxy.inject(Fault {
        method: Some("GET"),
        path_contains: "/blobs/sha256:".into(),
        times: usize::MAX,
        kind: FaultKind::StallAfter(16),
    });
    let cli = Cli::new();
    let args = oci_args(&proxy.host, &["pull", "redis:7.2.0", "-o", "out"]);
    let child = cli.command(&args).spawn().unwrap();
    let pid = child.id() as libc::pid_t;

    // Wait until the binary is reading a blob, then interrupt it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.seen().iter().any(|r| r.path.contains("/blobs/")) {
        assert!(Instant::now() < deadline, "the pull never asked for a blob");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: `pid` is our own child, which has not been waited for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let output = tokio::task::spawn_blocking(move || {
        common::wait_with_deadline(child, "oci pull", Duration::from_secs(60))
    })
    .await
    .unwrap();
    assert_failure(&output, exit::INTERRUPTED, "interrupted");
    assert!(!cli.path("cwd/out").exists(), "no output directory");
    let cwd: Vec<_> = std::fs::read_dir(cli.path("cwd")).unwrap().collect();
    assert!(cwd.is_empty(), "nothing left in the working directory");
    let temp = cli.path("cache/tmp");
    let leftovers: Vec<_> = std::fs::read_dir(&temp)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "cache temp files left: {leftovers:?}");
    registry.stop().await;
}
