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

/// Ctrl-C while the pull writes its files (its last layer's cached blob is a FIFO the test
/// holds open): the binary cancels the pull and waits for its own outcome, which here is
/// "stopped before the commit"; only then does it say that nothing partial was kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_files_are_written_reports_what_the_pull_did() {
    use common::oci_fixtures::{blob, file_layer, names_in};
    use std::os::unix::fs::OpenOptionsExt;

    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = Workbench::new();
    let late = file_layer("late.txt", b"");
    Artifact::new(
        blob("application/vnd.oci.empty.v1+json", b"{}", &[]),
        vec![file_layer("early.txt", b"early\n"), late.clone()],
    )
    .push(&bench.client(&host), "ext/slow", "1.0.0", &bench.scratch())
    .await;
    let cli = Cli::new();
    let fifo = cli
        .path("cache/blobs/sha256")
        .join(late.descriptor.digest.hex());
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let args = oci_args(&host, &["pull", "slow:1.0.0", "-o", "out"]);
    let mut child = cli.command(&args).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + Duration::from_secs(60);
    let writer = loop {
        match std::fs::File::options()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
        {
            Ok(writer) => break writer,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                assert!(
                    Instant::now() < deadline,
                    "the pull never read its last layer"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("open {}: {e}", fifo.display()),
        }
    };
    // SAFETY: `pid` is our own child, which has not been waited for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    // Once the binary says it is stopping, the token is cancelled; then the write step may
    // read to the end of the FIFO, and must find the cancel before its commit.
    let stderr = child.stderr.take().unwrap();
    let (first, lines) = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        (first, lines)
    })
    .await
    .unwrap();
    assert!(first.contains("stopping the pull"), "{first}");
    drop(writer);
    let (rest, status) = tokio::task::spawn_blocking(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        (rest.join("\n"), child.wait().unwrap())
    })
    .await
    .unwrap();
    let output = std::process::Output {
        status,
        stdout: Vec::new(),
        stderr: format!("{first}\n{rest}").into_bytes(),
    };
    assert_failure(&output, exit::INTERRUPTED, "nothing partial was kept");
    let cwd = cli.path("cwd");
    assert!(
        names_in(&cwd).iter().all(|n| !n.contains(".staging-")),
        "{:?}",
        names_in(&cwd)
    );
    assert!(
        common::oci_fixtures::files_under(&cwd.join("out")).is_empty(),
        "nothing was committed"
    );
    registry.stop().await;
}
