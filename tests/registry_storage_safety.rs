//! The registry's storage under damage, a full disk, races and neighbours: damaged blobs and
//! manifests count as absent and a push repairs them, a full disk is answered with
//! `STORAGE_FULL` and leaves nothing half-visible, tag pushes and deletes of one repository do
//! not interleave, a directory that is not registry storage is left alone, `gc` refuses a live
//! storage, and `stop` signals only the process that holds the storage.
//!
//! Power loss, a full disk and case-insensitive filesystems cannot be produced without mount
//! privileges: damage is written into the storage files directly, and a full disk comes from
//! the storage's fault seam ([`storage::fail_writes_with_no_space`]).

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::cli::Cli;
use common::registry_http::{
    Image, OCI_CONFIG, OCI_EMPTY, OCI_MANIFEST, RegistryHttp, descriptor, pretty,
};
use common::{TestRegistry, assert_failure, assert_success, exit, sha256};
use provisioning::oci::Digest;
use provisioning::registry::daemon::{self, DaemonError, PidRecord};
use provisioning::registry::{RegistryConfig, RunningRegistry, Storage, storage};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn storage_of(dir: &Path) -> Storage {
    Storage::open_existing(dir)
        .unwrap()
        .expect("the registry's storage")
}

fn blob_file(dir: &Path, digest: &str) -> std::path::PathBuf {
    storage_of(dir).blob_path(&digest.parse::<Digest>().unwrap())
}

/// The error code of an error answer, asserting its status.
async fn error_code(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.expect("error body");
    body["errors"][0]["code"]
        .as_str()
        .expect("error code")
        .to_string()
}

async fn tags(r: &RegistryHttp, repo: &str) -> Vec<String> {
    let resp = r.get(&format!("/v2/{repo}/tags/list")).await;
    if resp.status() == StatusCode::NOT_FOUND {
        return Vec::new();
    }
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    serde_json::from_value(body["tags"].clone()).unwrap_or_default()
}

async fn catalog(r: &RegistryHttp) -> Vec<String> {
    let resp = r.get("/v2/_catalog").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    serde_json::from_value(body["repositories"].clone()).unwrap()
}

/// A blob damaged in storage (same size, other content; or another size) is replaced by the
/// next honest push of it, instead of being kept because "it exists".
#[tokio::test]
async fn a_damaged_blob_is_replaced_by_the_next_push() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let data = common::layout::pseudo_random(7, 4096);
    let digest = r.push_blob("damaged/blob", &data).await;
    let file = blob_file(reg.storage_path(), &digest);

    let same_size = vec![0u8; data.len()];
    let mut appended = data.clone();
    appended.extend_from_slice(b"appended by a stray PATCH");
    for damage in [same_size, appended, Vec::new()] {
        std::fs::write(&file, &damage).unwrap();
        r.push_blob("damaged/blob", &data).await;
        let resp = r.get(&format!("/v2/damaged/blob/blobs/{digest}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let served = resp.bytes().await.unwrap();
        assert_eq!(
            sha256(&served),
            digest,
            "damage of {} bytes was kept",
            damage.len()
        );
    }
    reg.stop().await;
}

/// A manifest whose blob has the wrong size in storage is told the blob is unknown (and the
/// damaged copy is dropped), so the client pushes it again; then the manifest goes in.
#[tokio::test]
async fn a_manifest_over_a_damaged_blob_asks_for_the_blob_again() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let image = Image::new(3);
    for blob in image.blobs() {
        r.push_blob("damaged/layer", blob).await;
    }
    let layer = sha256(&image.layers[0]);
    std::fs::write(blob_file(reg.storage_path(), &layer), b"short").unwrap();

    let resp = r
        .put_manifest("damaged/layer", "v1", OCI_MANIFEST, &image.manifest)
        .await;
    assert_eq!(
        error_code(resp, StatusCode::BAD_REQUEST).await,
        "MANIFEST_BLOB_UNKNOWN"
    );
    let resp = r.head(&format!("/v2/damaged/layer/blobs/{layer}")).await;
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "damaged blob still there"
    );

    r.push_image("damaged/layer", "v1", &image).await;
    let resp = r.get(&format!("/v2/damaged/layer/blobs/{layer}")).await;
    assert_eq!(resp.bytes().await.unwrap(), image.layers[0]);
    reg.stop().await;
}

/// A manifest whose stored bytes came back empty or cut (power loss before this version
/// fsynced them) is unknown rather than served wrong, and pushing it again repairs it.
#[tokio::test]
async fn an_emptied_manifest_is_unknown_until_pushed_again() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let image = Image::new(4);
    r.push_image("power/loss", "v1", &image).await;
    let file = blob_file(reg.storage_path(), &image.digest);
    let cut = image.manifest[..image.manifest.len() / 2].to_vec();

    for damage in [Vec::new(), cut] {
        std::fs::write(&file, &damage).unwrap();
        for reference in ["v1", image.digest.as_str()] {
            let resp = r
                .get(&format!("/v2/power/loss/manifests/{reference}"))
                .await;
            assert_eq!(
                error_code(resp, StatusCode::NOT_FOUND).await,
                "MANIFEST_UNKNOWN",
                "damaged manifest served by {reference}"
            );
        }
        r.push_manifest("power/loss", "v1", OCI_MANIFEST, &image.manifest)
            .await;
        let resp = r.get("/v2/power/loss/manifests/v1").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), image.manifest, "not repaired");
    }
    reg.stop().await;
}

/// With the disk full, pushes are answered `507 STORAGE_FULL` (not `500 UNKNOWN`), nothing
/// shows up, and once there is space again the same pushes succeed.
#[tokio::test]
async fn a_full_disk_is_answered_with_storage_full() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let image = Image::new(5);
    storage::fail_writes_with_no_space(reg.storage_path(), 0);

    let resp = r
        .request(
            Method::POST,
            &format!(
                "/v2/full/disk/blobs/uploads/?digest={}",
                sha256(&image.config)
            ),
        )
        .body(image.config.clone())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["errors"][0]["code"], "STORAGE_FULL", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("full"),
        "{body}"
    );
    let resp = r
        .head(&format!("/v2/full/disk/blobs/{}", sha256(&image.config)))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    storage::clear_write_faults(reg.storage_path());
    for blob in image.blobs() {
        r.push_blob("full/disk", blob).await;
    }
    storage::fail_writes_with_no_space(reg.storage_path(), 0);
    let resp = r
        .put_manifest("full/disk", "v1", OCI_MANIFEST, &image.manifest)
        .await;
    assert_eq!(
        error_code(resp, StatusCode::INSUFFICIENT_STORAGE).await,
        "STORAGE_FULL"
    );
    assert!(tags(&r, "full/disk").await.is_empty());
    assert!(!catalog(&r).await.contains(&"full/disk".to_string()));

    storage::clear_write_faults(reg.storage_path());
    r.push_manifest("full/disk", "v1", OCI_MANIFEST, &image.manifest)
        .await;
    let resp = r.get("/v2/full/disk/manifests/v1").await;
    assert_eq!(resp.bytes().await.unwrap(), image.manifest);
    reg.stop().await;
}

/// A manifest push (blob, referrer entry, link, tag) that fails at any of its writes leaves a
/// repository where every listed tag and every listed referrer can be read, and pushing again
/// completes it.
#[tokio::test]
async fn a_push_failing_at_any_write_leaves_a_consistent_repository() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let image = Image::new(6);
    r.push_image("steps/base", "v1", &image).await;

    for writes_ok in 0..5 {
        let repo = format!("steps/r{writes_ok}");
        for blob in image.blobs() {
            r.push_blob(&repo, blob).await;
        }
        r.push_manifest(&repo, "base", OCI_MANIFEST, &image.manifest)
            .await;
        r.push_blob(&repo, b"{}").await;
        let artifact = pretty(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": descriptor(OCI_EMPTY, b"{}"),
            "layers": [],
            "subject": image.descriptor(),
            "annotations": { "step": writes_ok.to_string() },
        }));

        storage::fail_writes_with_no_space(reg.storage_path(), writes_ok);
        let resp = r.put_manifest(&repo, "sbom", OCI_MANIFEST, &artifact).await;
        let status = resp.status();
        storage::clear_write_faults(reg.storage_path());
        assert!(
            status == StatusCode::CREATED || status == StatusCode::INSUFFICIENT_STORAGE,
            "{writes_ok} writes: {status}"
        );

        for tag in tags(&r, &repo).await {
            let resp = r.get(&format!("/v2/{repo}/manifests/{tag}")).await;
            assert_eq!(
                resp.status(),
                StatusCode::OK,
                "{writes_ok} writes: tag {tag}"
            );
        }
        let resp = r
            .get(&format!("/v2/{repo}/referrers/{}", image.digest))
            .await;
        let index: Value = resp.json().await.unwrap();
        for entry in index["manifests"].as_array().unwrap() {
            let digest = entry["digest"].as_str().unwrap();
            let resp = r.get(&format!("/v2/{repo}/manifests/{digest}")).await;
            assert_eq!(
                resp.status(),
                StatusCode::OK,
                "{writes_ok} writes: referrer"
            );
        }

        r.push_manifest(&repo, "sbom", OCI_MANIFEST, &artifact)
            .await;
        let resp = r
            .get(&format!("/v2/{repo}/referrers/{}", image.digest))
            .await;
        let index: Value = resp.json().await.unwrap();
        assert_eq!(index["manifests"][0]["digest"], sha256(&artifact));
        assert!(tags(&r, &repo).await.contains(&"sbom".to_string()));
    }
    reg.stop().await;
}

/// Hundreds of tag pushes racing deletes of the same manifest by digest: afterwards every
/// listed tag answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tag_pushes_racing_digest_deletes_leave_no_dangling_tag() {
    const PAIRS: usize = 300;
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let config = b"{\"race\":true}".to_vec();
    r.push_blob("race/tags", &config).await;
    let manifests: Vec<Vec<u8>> = (0..PAIRS)
        .map(|i| {
            pretty(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, &config),
                "layers": [],
                "annotations": { "pair": i.to_string() },
            }))
        })
        .collect();
    for bytes in &manifests {
        r.push_manifest("race/tags", &sha256(bytes), OCI_MANIFEST, bytes)
            .await;
    }

    let pairs = manifests.iter().enumerate().map(|(i, bytes)| {
        let r = r.clone();
        let bytes = bytes.clone();
        async move {
            let digest = sha256(&bytes);
            let tag = format!("t{i}");
            let put = r.put_manifest("race/tags", &tag, OCI_MANIFEST, &bytes);
            let delete = r.delete(&format!("/v2/race/tags/manifests/{digest}"));
            let (put, delete) = tokio::join!(put, delete);
            assert_eq!(put.status(), StatusCode::CREATED, "{tag}");
            assert!(
                delete.status() == StatusCode::ACCEPTED || delete.status() == StatusCode::NOT_FOUND,
                "delete {digest}: {}",
                delete.status()
            );
        }
    });
    futures_util::future::join_all(pairs).await;

    let mut dangling = Vec::new();
    for tag in tags(&r, "race/tags").await {
        let resp = r.get(&format!("/v2/race/tags/manifests/{tag}")).await;
        if resp.status() != StatusCode::OK {
            dangling.push(tag);
        }
    }
    assert!(dangling.is_empty(), "tags answering 404: {dangling:?}");
    reg.stop().await;
}

/// Tags that differ only by case are two tags, each answering its own manifest, listed with
/// their capitals (they are stored under names a case-insensitive filesystem cannot fold
/// together; see the storage's unit test).
#[tokio::test]
async fn tags_differing_only_by_case_stay_apart() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let (lower, upper) = (Image::new(10), Image::new(11));
    r.push_image("case/tags", "stable", &lower).await;
    r.push_image("case/tags", "Stable", &upper).await;
    for (tag, image) in [("stable", &lower), ("Stable", &upper)] {
        let resp = r.get(&format!("/v2/case/tags/manifests/{tag}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), image.manifest, "{tag}");
    }
    assert_eq!(tags(&r, "case/tags").await, ["Stable", "stable"]);
    let resp = r.delete("/v2/case/tags/manifests/Stable").await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(tags(&r, "case/tags").await, ["stable"]);
    reg.stop().await;
}

/// The catalog lists repositories that hold a manifest: one whose last manifest was deleted
/// leaves it. A page may not ask for more than 1000 entries.
#[tokio::test]
async fn catalog_drops_deleted_repositories_and_caps_n() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let image = Image::new(8);
    r.push_image("cat/keep", "v1", &image).await;
    r.push_image("cat/gone", "v1", &image).await;
    assert_eq!(catalog(&r).await, ["cat/gone", "cat/keep"]);

    let resp = r
        .delete(&format!("/v2/cat/gone/manifests/{}", image.digest))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(catalog(&r).await, ["cat/keep"]);

    r.push_image("cat/again", "v1", &image).await;
    assert_eq!(catalog(&r).await, ["cat/again", "cat/keep"]);

    let resp = r.get("/v2/_catalog?n=1000").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = r.get("/v2/_catalog?n=1000000").await;
    assert_eq!(
        error_code(resp, StatusCode::BAD_REQUEST).await,
        "PAGINATION_NUMBER_INVALID"
    );
    reg.stop().await;
}

/// A client that accepts only Docker types does not get an OCI manifest: like distribution,
/// the registry answers `404 MANIFEST_UNKNOWN`. No `Accept`, a wildcard or the stored type
/// gets it.
#[tokio::test]
async fn manifest_get_honours_accept() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let image = Image::new(9);
    r.push_image("accept/oci", "v1", &image).await;
    let get = |accept: Option<&'static str>| {
        let mut request = r.request(Method::GET, "/v2/accept/oci/manifests/v1");
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        request.send()
    };

    let docker_only = format!("{DOCKER_MANIFEST}, {DOCKER_LIST}");
    let resp = r
        .request(Method::GET, "/v2/accept/oci/manifests/v1")
        .header("Accept", docker_only.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(resp, StatusCode::NOT_FOUND).await,
        "MANIFEST_UNKNOWN"
    );
    let resp = r
        .request(Method::HEAD, "/v2/accept/oci/manifests/v1")
        .header("Accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    for accept in [
        None,
        Some("*/*"),
        Some(OCI_MANIFEST),
        Some(
            "application/vnd.docker.distribution.manifest.v2+json;q=0.9, application/vnd.oci.image.manifest.v1+json;q=0.5",
        ),
    ] {
        let resp = get(accept).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "Accept {accept:?}");
        assert_eq!(resp.bytes().await.unwrap(), image.manifest);
    }
    reg.stop().await;
}

/// A non-empty directory that is not registry storage is refused, and its `tmp/` and
/// `uploads/` survive; an empty one becomes storage, marked, and serves again after a restart.
#[tokio::test]
async fn a_directory_that_is_not_storage_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    for file in ["tmp/build.o", "uploads/photo.jpg", "Cargo.toml"] {
        let path = project.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, file).unwrap();
    }
    let config = RegistryConfig::new("127.0.0.1:0".parse().unwrap(), &project);
    let err = match RunningRegistry::start(config).await {
        Ok(_) => panic!("a registry started on a project directory"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("not a registry storage directory"), "{err}");
    for file in ["tmp/build.o", "uploads/photo.jpg", "Cargo.toml"] {
        assert_eq!(
            std::fs::read_to_string(project.join(file)).unwrap(),
            file,
            "{file} was touched"
        );
    }

    let fresh = dir.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    for _ in 0..2 {
        let config = RegistryConfig::new("127.0.0.1:0".parse().unwrap(), &fresh);
        let registry = RunningRegistry::start(config).await.expect("fresh storage");
        assert!(fresh.join(storage::MARKER).is_file());
        let r = RegistryHttp::new(&registry.url());
        r.push_blob("fresh/repo", b"kept").await;
        registry.shutdown().await;
    }
}

/// `status` reads; it creates no directory where it is pointed.
#[test]
fn status_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let status = daemon::status(&missing).unwrap();
    assert!(!status.running);
    assert!(!missing.exists(), "status created {}", missing.display());

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    daemon::status(&empty).unwrap();
    let entries: Vec<_> = std::fs::read_dir(&empty).unwrap().collect();
    assert!(entries.is_empty(), "status wrote into {}", empty.display());
}

/// `gc` refuses a storage a registry serves, and deletes nothing; a dry run still reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_refuses_a_live_storage() {
    let reg = TestRegistry::start().await;
    let r = RegistryHttp::new(&reg.url);
    let orphan = r.push_blob("gc/live", b"about to be referenced").await;
    let storage = reg.storage_path().display().to_string();
    let cli = Cli::new();

    let output = cli.run_sync(&[
        "oci-registry",
        "gc",
        "--storage",
        &storage,
        "--min-age",
        "0",
    ]);
    assert_failure(
        &output,
        exit::FAILURE,
        "gc does not run beside a live registry",
    );
    assert!(
        blob_file(reg.storage_path(), &orphan).exists(),
        "gc deleted"
    );
    let resp = r.head(&format!("/v2/gc/live/blobs/{orphan}")).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let output = cli.run_sync(&[
        "oci-registry",
        "gc",
        "--storage",
        &storage,
        "--dry-run",
        "--min-age",
        "0",
    ]);
    assert_success(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains(&orphan));
    reg.stop().await;
}

/// `gc --upload-ttl` decides which leftover upload data is stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_honours_upload_ttl() {
    let reg = TestRegistry::start().await;
    let dir = reg.storage.path().to_path_buf();
    let r = RegistryHttp::new(&reg.url);
    r.push_blob("gc/ttl", b"x").await;
    let TestRegistry {
        registry, storage, ..
    } = reg;
    registry.unwrap().shutdown().await;

    let leftover = dir.join("uploads").join("left-over");
    std::fs::write(&leftover, b"partial").unwrap();
    let two_minutes_ago = SystemTime::now() - Duration::from_secs(120);
    std::fs::File::options()
        .append(true)
        .open(&leftover)
        .unwrap()
        .set_modified(two_minutes_ago)
        .unwrap();
    let cli = Cli::new();
    let gc = |extra: &[&str]| {
        let mut args = vec!["oci-registry", "gc", "--output", "json", "--storage"];
        let dir = dir.to_str().unwrap();
        args.push(dir);
        args.extend_from_slice(extra);
        let output = cli.run_sync(&args);
        assert_success(&output);
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };

    let report = gc(&["--upload-ttl", "600"]);
    assert_eq!(report["stale_uploads"], 0, "{report}");
    assert!(leftover.exists());
    let report = gc(&["--upload-ttl", "60"]);
    assert_eq!(report["stale_uploads"], 1, "{report}");
    assert!(!leftover.exists());
    drop(storage);
}

/// A process that serves the storage without a pid record of its own (the demo does) beside a
/// stale record naming another process: `stop` signals nobody and says why.
#[tokio::test]
async fn stop_never_signals_a_process_that_does_not_hold_the_storage() {
    let reg = TestRegistry::start().await;
    let mut bystander = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("run sleep");
    daemon::write_pid_record(&PidRecord {
        pid: bystander.id(),
        endpoint: reg.url.clone(),
        storage: reg.storage_path().to_path_buf(),
        log_file: None,
    })
    .unwrap();

    let result = daemon::stop(reg.storage_path(), Duration::ZERO);
    let alive = bystander.try_wait().unwrap().is_none();
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert!(
        alive,
        "stop signalled a process that does not hold the storage"
    );
    match result {
        Err(e @ DaemonError::NotStarted(_)) => {
            assert!(e.to_string().contains("not started with"), "{e}")
        }
        other => panic!("stop answered {other:?}"),
    }
    assert!(daemon::running(reg.storage_path()).is_none());
    reg.stop().await;
}

/// `start` then `stop`: the started registry holds the storage and is stopped by its record.
#[test]
fn stop_stops_the_registry_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage");
    std::fs::create_dir(&storage).unwrap();
    let log = storage.join("registry.log");
    let args: Vec<String> = [
        "oci-registry",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--storage",
        storage.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let record = daemon::start(
        Path::new(env!("CARGO_BIN_EXE_provisioning")),
        &args,
        &storage,
        &log,
    )
    .expect("registry starts");
    assert_eq!(daemon::running(&storage), Some(record.clone()));
    let stopped = daemon::stop(&storage, Duration::from_secs(15)).expect("stops");
    assert_eq!(stopped.pid, record.pid);
    assert!(!stopped.killed);
    assert!(daemon::running(&storage).is_none());
}

/// `start` refuses a directory that is not registry storage before writing its log there.
#[test]
fn start_refuses_a_foreign_directory_without_writing_into_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let log = dir.path().join("registry.log");
    let err = daemon::start(
        Path::new(env!("CARGO_BIN_EXE_provisioning")),
        &[],
        dir.path(),
        &log,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not a registry storage directory"),
        "{err}"
    );
    assert!(!log.exists());
}
