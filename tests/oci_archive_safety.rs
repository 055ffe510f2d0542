//! Hostile artifacts pulled by the OCI client: file names and archives that try to write
//! outside the output directory are refused, and nothing is written anywhere.

mod common;
use common::oci_fixtures;

use std::path::Path;

use common::TestRegistry;
use common::registry_http::RegistryHttp;
use oci_fixtures::*;
use provisioning::oci::progress::Progress;
use provisioning::oci::{Reference, ReferenceDefaults, pull};

/// Pushes an artifact with plain HTTP requests (no client-side checks on its content).
async fn push_raw(url: &str, repo: &str, tag: &str, artifact: &Artifact) {
    let http = RegistryHttp::new(url);
    for blob in artifact.blobs() {
        let digest = http.push_blob(repo, &blob.bytes).await;
        assert_eq!(digest, blob.descriptor.digest.to_string());
    }
    http.push_manifest(repo, tag, OCI_MANIFEST, &artifact.manifest_bytes())
        .await;
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

/// The absolute path a hostile title names: in a directory this test run owns, so a leftover
/// from an earlier run cannot decide the outcome.
fn absolute_target() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
        .join("evil")
}

fn assert_no_stray(base: &Path, tag: &str) {
    let target = absolute_target();
    assert!(
        !target.exists(),
        "{tag}: {} exists after the pull",
        target.display()
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
    let target = absolute_target();
    assert!(!target.exists());
    let target = target.to_str().unwrap();
    let registry = TestRegistry::start().await;
    assert_refused(&registry, hostile_files("../../x"), "parent", "../../x").await;
    assert_refused(&registry, hostile_files(target), "absolute", target).await;
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
