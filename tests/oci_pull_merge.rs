//! `oci pull` into a directory that already holds files, through the binary against the
//! embedded registry: the pull merges file by file, never deletes the user's files, refuses a
//! file with other content unless `--overwrite` (exit 5, nothing changed), and the same for
//! extension pulls. A pull killed mid-write leaves a staging directory that the next pull
//! into the same place sweeps.

mod common;
use common::extension_fixtures;
use common::oci_fixtures;

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::cli::{Cli, oci_args};
use common::{TestRegistry, assert_failure, assert_success, exit, text};
use extension_fixtures::{read_tree, sample};
use oci_fixtures::*;

/// `ext/app:1.0.0`: a directory layer titled `src` (as oras packs one) and a file `README.md`.
async fn push_app(host: &str) {
    let bench = Workbench::new();
    let artifact = Artifact::new(
        blob("application/vnd.oci.empty.v1+json", b"{}", &[]),
        vec![
            directory_layer(
                "src",
                &[
                    TarEntry::Dir("src/"),
                    TarEntry::File("src/main.rs", b"fn main() {}\n"),
                    TarEntry::Dir("src/lib/"),
                    TarEntry::File("src/lib/util.rs", b"pub fn util() {}\n"),
                ],
            ),
            file_layer("README.md", b"pulled readme\n"),
        ],
    );
    artifact
        .push(&bench.client(host), "ext/app", "1.0.0", &bench.scratch())
        .await;
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Names in `dir` that look like staging directories.
fn staging_dirs(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.contains(".staging-"))
        .collect()
}

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    read_tree(dir)
}

/// The reproduction from the issue: `out/src/mine.txt` vanished after pulling a layer titled
/// `src`, because the existing `src` was moved aside and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_into_a_directory_keeps_the_users_files() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    push_app(&host).await;
    let cli = Cli::new();
    let out = cli.path("cwd/out");
    write(&out.join("src/mine.txt"), b"mine\n");
    write(&out.join("notes.txt"), b"notes\n");

    let output = cli.oci(&host, &["pull", "app:1.0.0", "-o", "out"]).await;
    assert_success(&output);
    let files = tree(&out);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "README.md",
            "notes.txt",
            "src/lib/util.rs",
            "src/main.rs",
            "src/mine.txt"
        ]
    );
    assert_eq!(files["src/mine.txt"], b"mine\n");
    assert_eq!(files["notes.txt"], b"notes\n");
    assert_eq!(files["src/main.rs"], b"fn main() {}\n");

    // Pulling the same again is no conflict: every file already holds the pulled bytes.
    assert_success(&cli.oci(&host, &["pull", "app:1.0.0", "-o", "out"]).await);
    assert_eq!(tree(&out), files);
    assert!(staging_dirs(&cli.path("cwd")).is_empty());
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_other_content_refuses_the_pull_unless_overwrite() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    push_app(&host).await;
    let cli = Cli::new();
    let out = cli.path("cwd/out");
    write(&out.join("src/mine.txt"), b"mine\n");
    write(&out.join("src/main.rs"), b"// my own main\n");
    write(&out.join("README.md"), b"my readme\n");
    let before = tree(&out);

    let refused = cli.oci(&host, &["pull", "app:1.0.0", "-o", "out"]).await;
    assert_failure(
        &refused,
        exit::CONFLICT,
        "already exists with different content",
    );
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("README.md") && stderr.contains("and 1 more"),
        "{stderr}"
    );
    assert!(stderr.contains("--overwrite"), "{stderr}");
    assert_eq!(tree(&out), before, "a refused pull changes nothing");
    assert!(staging_dirs(&cli.path("cwd")).is_empty());
    assert!(staging_dirs(&out).is_empty());

    let forced = cli
        .oci(&host, &["pull", "app:1.0.0", "-o", "out", "--overwrite"])
        .await;
    assert_success(&forced);
    let after = tree(&out);
    assert_eq!(after["README.md"], b"pulled readme\n");
    assert_eq!(after["src/main.rs"], b"fn main() {}\n");
    assert_eq!(
        after["src/mine.txt"], b"mine\n",
        "files the pull does not write stay"
    );
    assert_eq!(after["src/lib/util.rs"], b"pub fn util() {}\n");
    registry.stop().await;
}

/// A directory where the pull has a file (or the reverse) is never replaced, not even with
/// `--overwrite`: that would delete what the directory holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_is_never_replaced_by_a_file() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    push_app(&host).await;
    let cli = Cli::new();
    let out = cli.path("cwd/out");
    write(&out.join("README.md/kept"), b"kept\n");
    let before = tree(&out);
    for extra in [&[][..], &["--overwrite"][..]] {
        let mut args = vec!["pull", "app:1.0.0", "-o", "out"];
        args.extend_from_slice(extra);
        let refused = cli.oci(&host, &args).await;
        assert_failure(&refused, exit::CONFLICT, "is a directory here but a file");
        assert_eq!(tree(&out), before);
    }
    registry.stop().await;
}

/// The same rules for an extension: verified, then merged into the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_pull_merges_and_refuses_the_same_way() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let redis = sample("taskservs/redis/7.2.4");
    let pushed = cli
        .oci(&host, &["push", redis.to_str().unwrap(), "redis", "7.2.4"])
        .await;
    assert_success(&pushed);
    let out = cli.path("cwd/redis");
    write(&out.join("notes.txt"), b"my notes\n");
    write(&out.join("manifest.yaml"), b"name: mine\n");
    let before = tree(&out);

    let refused = cli
        .oci(&host, &["pull", "redis:7.2.4", "-o", "redis"])
        .await;
    assert_failure(&refused, exit::CONFLICT, "manifest.yaml");
    assert_eq!(tree(&out), before);
    assert!(staging_dirs(&cli.path("cwd")).is_empty());

    let forced = cli
        .oci(
            &host,
            &["pull", "redis:7.2.4", "-o", "redis", "--overwrite"],
        )
        .await;
    assert_success(&forced);
    let after = tree(&out);
    assert_eq!(after["notes.txt"], b"my notes\n");
    assert_eq!(
        after["manifest.yaml"],
        std::fs::read(redis.join("manifest.yaml")).unwrap()
    );
    for (path, bytes) in read_tree(&redis) {
        assert_eq!(after.get(&path), Some(&bytes), "{path}");
    }
    registry.stop().await;
}

/// A pull killed (`kill -9`) while it writes its files leaves its staging directory beside the
/// output; the next pull into the same place removes it once nothing holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pulls_staging_directory_is_swept_by_the_next() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = Workbench::new();
    let late = file_layer("late.txt", b"");
    let artifact = Artifact::new(
        blob("application/vnd.oci.empty.v1+json", b"{}", &[]),
        vec![file_layer("early.txt", b"early\n"), late.clone()],
    );
    artifact
        .push(&bench.client(&host), "ext/slow", "1.0.0", &bench.scratch())
        .await;
    let cli = Cli::new();
    // The empty layer's cached blob is a FIFO: the write step blocks reading it.
    let fifo = cli
        .path("cache/blobs/sha256")
        .join(late.descriptor.digest.hex());
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());

    let args = oci_args(&host, &["pull", "slow:1.0.0", "-o", "out"]);
    let mut child = cli.command(&args).spawn().unwrap();
    let cwd = cli.path("cwd");
    let deadline = Instant::now() + Duration::from_secs(60);
    let staged = loop {
        if let Some(name) = staging_dirs(&cwd).pop() {
            break cwd.join(name);
        }
        assert!(Instant::now() < deadline, "the pull never staged anything");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Once the FIFO has a reader, the pull is writing its files from the staging area.
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
    child.kill().unwrap();
    child.wait().unwrap();
    drop(writer);
    assert!(
        staged.exists(),
        "a killed pull leaves its staging directory"
    );
    assert!(
        files_under(&cwd.join("out")).is_empty(),
        "nothing was committed"
    );

    // Old enough to be swept (younger ones may be another pull's, just created).
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(&staged)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    std::fs::remove_file(&fifo).unwrap();
    let output = cli.oci(&host, &["pull", "slow:1.0.0", "-o", "out"]).await;
    assert_success(&output);
    assert!(!staged.exists(), "swept by the next pull");
    assert!(staging_dirs(&cwd).is_empty());
    assert_eq!(files_under(&cwd.join("out")), ["early.txt", "late.txt"]);
    registry.stop().await;
}
