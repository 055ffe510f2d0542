//! The registry's HTTP API over real connections: every endpoint, its error cases and the
//! headers clients rely on.

mod common;

use std::path::{Path, PathBuf};

use common::layout::pseudo_random;
use common::oci_fixtures::files_under;
use common::registry_http::{
    Image, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, RegistryHttp, descriptor,
    header, location, pretty, with_query,
};
use common::{TestRegistry, sha256};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A registry under test and raw HTTP to it.
struct Registry {
    inner: TestRegistry,
    http: RegistryHttp,
}

impl std::ops::Deref for Registry {
    type Target = RegistryHttp;

    fn deref(&self) -> &RegistryHttp {
        &self.http
    }
}

impl Registry {
    async fn start() -> Registry {
        Registry::start_with(|_| {}).await
    }

    async fn start_with(
        configure: impl FnOnce(&mut provisioning::registry::RegistryConfig),
    ) -> Registry {
        let inner = TestRegistry::start_with(configure).await;
        let http = RegistryHttp::new(&inner.url);
        Registry { inner, http }
    }

    /// Opens an upload session, checking the API version header; returns its `Location` path.
    async fn open_upload(&self, repo: &str) -> String {
        let resp = self
            .request(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
            .header("Content-Length", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        assert_api_version(&resp);
        let location = location(&resp);
        assert!(
            location.starts_with(&format!("/v2/{repo}/blobs/uploads/")),
            "upload Location {location}"
        );
        location
    }

    async fn patch(&self, location: &str, range: Option<&str>, chunk: &[u8]) -> Response {
        let mut request = self
            .request(Method::PATCH, location)
            .header("Content-Type", "application/octet-stream")
            .body(chunk.to_vec());
        if let Some(range) = range {
            request = request.header("Content-Range", range);
        }
        request.send().await.unwrap()
    }

    /// Pushes `Image::new(seed)` as `repo:tag`; returns it.
    async fn push_seeded(&self, repo: &str, seed: u8, tag: &str) -> Image {
        let image = Image::new(seed);
        self.http.push_image(repo, tag, &image).await;
        image
    }

    fn storage(&self) -> &Path {
        self.inner.storage_path()
    }
}

fn assert_api_version(resp: &Response) {
    assert_eq!(
        header(resp, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0"),
        "Docker-Distribution-API-Version on {} {}",
        resp.status(),
        resp.url()
    );
}

/// Checks `{"errors":[{"code","message"}, …]}` and returns the first code.
fn error_code_of(text: &str) -> String {
    let body: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("error body {text:?}: {e}"));
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {text}"));
    assert!(!errors.is_empty(), "empty errors array in {text}");
    for error in errors {
        let code = error["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {text}"));
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
            "code {code:?} is not uppercase letters and `_`"
        );
        assert!(error["message"].is_string(), "no message in {text}");
    }
    errors[0]["code"].as_str().unwrap().to_string()
}

/// Asserts the status and a well-formed error body; returns the first code.
async fn error_body(resp: Response, status: StatusCode) -> String {
    assert_api_version(&resp);
    let actual = resp.status();
    let url = resp.url().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(actual, status, "{url}: {text}");
    error_code_of(&text)
}

async fn expect_error(resp: Response, status: StatusCode, code: &str) {
    let url = resp.url().clone();
    let actual = error_body(resp, status).await;
    assert_eq!(actual, code, "error code of {url}");
}

fn blob_file(storage: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    storage.join("blobs/sha256").join(&hex[..2]).join(hex)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_endpoint_answers_200_with_api_version() {
    let r = Registry::start().await;
    for path in ["/v2/", "/v2"] {
        let resp = r.get(path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_api_version(&resp);
    }
    let resp = r.head("/v2/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_api_version(&resp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_version_header_and_error_shape_on_every_kind_of_answer() {
    let r = Registry::start().await;
    let image = r.push_seeded("headers/repo", 7, "v1").await;
    let checks = [
        (Method::GET, "/v2/headers/repo/tags/list".to_string()),
        (Method::GET, "/v2/_catalog".to_string()),
        (
            Method::GET,
            format!("/v2/headers/repo/manifests/{}", image.digest),
        ),
        (
            Method::HEAD,
            format!("/v2/headers/repo/blobs/{}", sha256(&image.layers[0])),
        ),
        (
            Method::GET,
            format!("/v2/headers/repo/referrers/{}", image.digest),
        ),
    ];
    for (method, path) in checks {
        let resp = r.request(method.clone(), &path).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{method} {path}");
        assert_api_version(&resp);
    }
    let resp = r.get("/v2/headers/repo/manifests/missing").await;
    expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let resp = r
        .request(Method::POST, "/v2/headers/repo/tags/list")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED").await;
    let resp = r.get("/v2/headers/repo/nothing-here").await;
    let status = resp.status();
    assert_eq!(status, StatusCode::NOT_FOUND);
    error_body(resp, status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_get_and_head() {
    let r = Registry::start().await;
    let data = pseudo_random(1, 1000);
    let digest = r.push_blob("library/blob", &data).await;
    let path = format!("/v2/library/blob/blobs/{digest}");

    let resp = r.get(&path).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_api_version(&resp);
    assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(header(&resp, "content-length").as_deref(), Some("1000"));
    assert_eq!(resp.bytes().await.unwrap(), data);

    let resp = r.head(&path).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(header(&resp, "content-length").as_deref(), Some("1000"));
    assert!(resp.bytes().await.unwrap().is_empty(), "HEAD has no body");

    // Clients may percent-encode the colon.
    let encoded = format!("/v2/library/blob/blobs/{}", digest.replace(':', "%3A"));
    let resp = r.get(&encoded).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), data);

    let unknown = sha256(b"hello world");
    let resp = r.get(&format!("/v2/library/blob/blobs/{unknown}")).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    let resp = r.head(&format!("/v2/library/blob/blobs/{unknown}")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.bytes().await.unwrap().is_empty(), "HEAD has no body");

    // Blobs belong to the repositories they were pushed to.
    let resp = r.get(&format!("/v2/library/other/blobs/{digest}")).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;

    let resp = r.get("/v2/library/blob/blobs/sha256:totallywrong").await;
    expect_error(resp, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_range_requests() {
    let r = Registry::start().await;
    let data = pseudo_random(2, 100);
    let digest = r.push_blob("ranges", &data).await;
    let path = format!("/v2/ranges/blobs/{digest}");

    for (range, start, end) in [
        ("bytes=0-9", 0usize, 9usize),
        ("bytes=90-", 90, 99),
        ("bytes=-5", 95, 99),
        ("bytes=50-500", 50, 99),
        ("bytes=99-99", 99, 99),
    ] {
        let resp = r
            .request(Method::GET, &path)
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&resp, "content-range"),
            Some(format!("bytes {start}-{end}/100")),
            "{range}"
        );
        assert_eq!(
            header(&resp, "content-length"),
            Some((end - start + 1).to_string()),
            "{range}"
        );
        assert_eq!(resp.bytes().await.unwrap(), data[start..=end], "{range}");
    }

    for range in ["bytes=100-", "bytes=200-300", "bytes=50-10"] {
        let resp = r
            .request(Method::GET, &path)
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&resp, "content-range").as_deref(),
            Some("bytes */100"),
            "{range}"
        );
        error_body(resp, StatusCode::RANGE_NOT_SATISFIABLE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_delete() {
    let r = Registry::start().await;
    let data = pseudo_random(3, 64);
    let digest = r.push_blob("del/one", &data).await;
    r.push_blob("del/two", &data).await;

    let resp = r.delete(&format!("/v2/del/one/blobs/{digest}")).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_api_version(&resp);

    let resp = r.get(&format!("/v2/del/one/blobs/{digest}")).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    let resp = r.head(&format!("/v2/del/one/blobs/{digest}")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = r.delete(&format!("/v2/del/one/blobs/{digest}")).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;

    // The other repository keeps its copy.
    let resp = r.get(&format!("/v2/del/two/blobs/{digest}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monolithic_post_with_digest() {
    let r = Registry::start().await;
    let data = pseudo_random(4, 500);
    let digest = sha256(&data);
    for attempt in 0..2 {
        let resp = r
            .request(
                Method::POST,
                &format!("/v2/mono/blobs/uploads/?digest={digest}"),
            )
            .header("Content-Type", "application/octet-stream")
            .body(data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "attempt {attempt}");
        assert_api_version(&resp);
        assert_eq!(location(&resp), format!("/v2/mono/blobs/{digest}"));
        assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));
        let resp = r.get(&location(&resp)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), data);
    }

    // A wrong digest stores nothing.
    let other = pseudo_random(5, 500);
    let claimed = sha256(b"not these bytes");
    let resp = r
        .request(
            Method::POST,
            &format!("/v2/mono/blobs/uploads/?digest={claimed}"),
        )
        .body(other.clone())
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    for d in [claimed.clone(), sha256(&other)] {
        let resp = r.get(&format!("/v2/mono/blobs/{d}")).await;
        expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
        assert!(!blob_file(r.storage(), &d).exists(), "{d} stored");
    }
    assert_eq!(files_under(&r.storage().join("tmp")), Vec::<String>::new());

    let resp = r
        .request(Method::POST, "/v2/mono/blobs/uploads/?digest=sha256:zz")
        .body(other)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

fn sha512(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha512_digests() {
    let r = Registry::start().await;
    let data = pseudo_random(29, 3000);
    let digest = sha512(&data);
    let resp = r
        .request(
            Method::POST,
            &format!("/v2/long/digest/blobs/uploads/?digest={digest}"),
        )
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));
    let resp = r.get(&format!("/v2/long/digest/blobs/{digest}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), data);

    let chunked = pseudo_random(30, 42);
    let digest = sha512(&chunked);
    let session = r.open_upload("long/digest").await;
    let resp = r.patch(&session, Some("0-41"), &chunked).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = r
        .request(Method::PUT, &with_query(&session, "digest=sha512:00"))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let session = r.open_upload("long/digest").await;
    let resp = r.patch(&session, Some("0-41"), &chunked).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = r
        .request(
            Method::PUT,
            &with_query(&session, &format!("digest={digest}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = r.get(&format!("/v2/long/digest/blobs/{digest}")).await;
    assert_eq!(resp.bytes().await.unwrap(), chunked);
    let resp = r
        .get(&format!("/v2/long/digest/blobs/{}", sha256(&chunked)))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_then_put() {
    let r = Registry::start().await;
    let data = pseudo_random(6, 4096);
    let digest = sha256(&data);
    let session = r.open_upload("two/step").await;

    let resp = r
        .request(
            Method::PUT,
            &with_query(&session, &format!("digest={digest}")),
        )
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(location(&resp), format!("/v2/two/step/blobs/{digest}"));
    assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));

    let resp = r.get(&format!("/v2/two/step/blobs/{digest}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), data);

    // The session is closed.
    let resp = r.get(&session).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_as_the_conformance_suite_does_it() {
    let r = Registry::start().await;
    let blob = pseudo_random(7, 42);
    let (chunk1, chunk2) = blob.split_at(22);
    let digest = sha256(&blob);

    // Out of order: the second chunk first.
    let session = r.open_upload("chunked").await;
    let resp = r.patch(&session, Some("22-41"), chunk2).await;
    assert_eq!(location(&resp), session, "416 names the session to resume");
    error_body(resp, StatusCode::RANGE_NOT_SATISFIABLE).await;

    let session = r.open_upload("chunked").await;
    let resp = r.patch(&session, Some("0-21"), chunk1).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&resp, "range").as_deref(), Some("0-21"));
    let after_first = location(&resp);

    // The same chunk again, on the POST's Location.
    let resp = r.patch(&session, Some("0-21"), chunk1).await;
    assert_eq!(header(&resp, "range").as_deref(), Some("0-21"));
    assert!(!location(&resp).is_empty());
    error_body(resp, StatusCode::RANGE_NOT_SATISFIABLE).await;

    let resp = r.get(&session).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&resp, "range").as_deref(), Some("0-21"));
    let status_location = location(&resp);
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = r.get(&after_first).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&resp, "range").as_deref(), Some("0-21"));

    let resp = r.patch(&status_location, Some("22-41"), chunk2).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&resp, "range").as_deref(), Some("0-41"));
    let close = location(&resp);

    let resp = r
        .request(
            Method::PUT,
            &with_query(&close, &format!("digest={digest}")),
        )
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(location(&resp), format!("/v2/chunked/blobs/{digest}"));
    let resp = r.get(&format!("/v2/chunked/blobs/{digest}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_and_gapped_chunks_are_416_and_the_session_survives() {
    let r = Registry::start().await;
    let blob = pseudo_random(8, 42);
    let session = r.open_upload("overlap").await;
    let resp = r.patch(&session, Some("0-21"), &blob[..22]).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);

    for (range, chunk) in [("10-31", &blob[10..32]), ("23-41", &blob[23..42])] {
        let resp = r.patch(&session, Some(range), chunk).await;
        assert_eq!(header(&resp, "range").as_deref(), Some("0-21"), "{range}");
        assert_eq!(location(&resp), session, "{range}");
        let code = error_body(resp, StatusCode::RANGE_NOT_SATISFIABLE).await;
        assert_eq!(code, "BLOB_UPLOAD_INVALID", "{range}");
    }

    let resp = r.patch(&session, Some("22-41"), &blob[22..]).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&resp, "range").as_deref(), Some("0-41"));
    let digest = sha256(&blob);
    let resp = r
        .request(
            Method::PUT,
            &with_query(&session, &format!("digest={digest}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = r.get(&format!("/v2/overlap/blobs/{digest}")).await;
    assert_eq!(resp.bytes().await.unwrap(), blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_put_may_carry_the_last_chunk() {
    let r = Registry::start().await;
    let blob = pseudo_random(9, 42);
    let digest = sha256(&blob);
    let session = r.open_upload("last/chunk").await;
    let resp = r.patch(&session, Some("0-21"), &blob[..22]).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = r
        .request(
            Method::PUT,
            &with_query(&location(&resp), &format!("digest={digest}")),
        )
        .header("Content-Type", "application/octet-stream")
        .body(blob[22..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = r.get(&format!("/v2/last/chunk/blobs/{digest}")).await;
    assert_eq!(resp.bytes().await.unwrap(), blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_with_a_wrong_digest_stores_nothing() {
    let r = Registry::start().await;
    let blob = pseudo_random(10, 42);
    let session = r.open_upload("wrong/digest").await;
    let resp = r.patch(&session, Some("0-41"), &blob).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let claimed = sha256(b"something else");
    let resp = r
        .request(
            Method::PUT,
            &with_query(&session, &format!("digest={claimed}")),
        )
        .header("Content-Length", "0")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;

    for d in [claimed, sha256(&blob)] {
        let resp = r.get(&format!("/v2/wrong/digest/blobs/{d}")).await;
        expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    }
    assert_eq!(
        files_under(&r.storage().join("blobs")),
        Vec::<String>::new()
    );
    assert!(
        !r.storage()
            .join("repositories/wrong/digest/_blobs")
            .exists(),
        "no blob link was made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_upload_is_gone() {
    let r = Registry::start().await;
    let session = r.open_upload("cancel").await;
    let resp = r.patch(&session, Some("0-9"), &[7u8; 10]).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);

    let resp = r.delete(&session).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_api_version(&resp);

    let resp = r.get(&session).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let resp = r.patch(&session, Some("10-19"), &[7u8; 10]).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let digest = sha256(&[7u8; 10]);
    let resp = r
        .request(
            Method::PUT,
            &with_query(&session, &format!("digest={digest}")),
        )
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let resp = r.delete(&session).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    assert_eq!(
        files_under(&r.storage().join("uploads")),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_upload_sessions_expire() {
    let r = Registry::start_with(|c| c.upload_ttl = std::time::Duration::from_secs(1)).await;
    let session = r.open_upload("expiring").await;
    let resp = r.patch(&session, Some("0-9"), &[1u8; 10]).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(files_under(&r.storage().join("uploads")).len(), 1);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let resp = r.get(&session).await;
        if resp.status() == StatusCode::NOT_FOUND {
            expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
            break;
        }
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert!(
            std::time::Instant::now() < deadline,
            "session still alive after 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        files_under(&r.storage().join("uploads")),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_sessions_belong_to_their_repository() {
    let r = Registry::start().await;
    let session = r.open_upload("owner").await;
    let id = session.rsplit('/').next().unwrap().to_string();
    let foreign = format!("/v2/intruder/blobs/uploads/{id}");
    let resp = r.get(&foreign).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let resp = r.patch(&foreign, Some("0-3"), b"abcd").await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let resp = r.get("/v2/owner/blobs/uploads/no-such-session").await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let resp = r.get(&session).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_patch_without_content_range() {
    let r = Registry::start().await;
    let blob = pseudo_random(11, 42);
    let digest = sha256(&blob);
    let session = r.open_upload("streamed").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        blob.chunks(10).map(|c| Ok(c.to_vec())).collect();
    let resp = r
        .request(Method::PATCH, &session)
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&resp, "range").as_deref(), Some("0-41"));
    let next = location(&resp);

    let resp = r
        .request(Method::PUT, &with_query(&next, &format!("digest={digest}")))
        .header("Content-Type", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(!location(&resp).is_empty());
    let resp = r.get(&format!("/v2/streamed/blobs/{digest}")).await;
    assert_eq!(resp.bytes().await.unwrap(), blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_repository_mount() {
    let r = Registry::start().await;
    let data = pseudo_random(12, 256);
    let digest = r.push_blob("source/app", &data).await;

    let resp = r
        .request(
            Method::POST,
            &format!("/v2/target/app/blobs/uploads/?mount={digest}&from=source/app"),
        )
        .header("Content-Length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(location(&resp), format!("/v2/target/app/blobs/{digest}"));
    assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));
    let resp = r.get(&location(&resp)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), data);

    // A blob `from` does not have: an ordinary upload session instead.
    let missing = sha256(b"hello world");
    let resp = r
        .request(
            Method::POST,
            &format!("/v2/target/app/blobs/uploads/?mount={missing}&from=source/app"),
        )
        .header("Content-Length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let session = location(&resp);
    assert!(
        session.starts_with("/v2/target/app/blobs/uploads/"),
        "{session}"
    );
    assert_eq!(r.get(&session).await.status(), StatusCode::NO_CONTENT);

    // `from` names a repository without the blob, though another repository has it.
    let elsewhere = r.push_blob("third", b"only in third").await;
    let resp = r
        .request(
            Method::POST,
            &format!("/v2/target/app/blobs/uploads/?mount={elsewhere}&from=source/app"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = r.get(&format!("/v2/target/app/blobs/{elsewhere}")).await;
    expect_error(resp, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_without_from() {
    let r = Registry::start().await;
    let data = pseudo_random(13, 128);
    let digest = r.push_blob("somewhere", &data).await;

    let resp = r
        .request(
            Method::POST,
            &format!("/v2/mounted/blobs/uploads/?mount={digest}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(location(&resp), format!("/v2/mounted/blobs/{digest}"));
    let resp = r.get(&format!("/v2/mounted/blobs/{digest}")).await;
    assert_eq!(resp.bytes().await.unwrap(), data);

    let missing = sha256(b"hello world");
    let resp = r
        .request(
            Method::POST,
            &format!("/v2/mounted/blobs/uploads/?mount={missing}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(location(&resp).starts_with("/v2/mounted/blobs/uploads/"));
}

/// Pushes by tag and by digest, reads back by both, then deletes by digest.
async fn manifest_round_trip(r: &Registry, repo: &str, media_type: &str, bytes: &[u8]) {
    let digest = sha256(bytes);
    let resp = r.put_manifest(repo, "v1", media_type, bytes).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_api_version(&resp);
    assert_eq!(location(&resp), format!("/v2/{repo}/manifests/{digest}"));
    assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));
    assert_eq!(header(&resp, "oci-subject"), None);

    let resp = r.put_manifest(repo, &digest, media_type, bytes).await;
    assert_eq!(resp.status(), StatusCode::CREATED, "PUT by digest");
    assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));

    for reference in ["v1", digest.as_str()] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = r
            .request(Method::GET, &path)
            .header("Accept", media_type)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, "content-type").as_deref(), Some(media_type));
        assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));
        assert_eq!(resp.bytes().await.unwrap(), bytes, "{path}");

        let resp = r.head(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "HEAD {path}");
        assert_eq!(header(&resp, "content-type").as_deref(), Some(media_type));
        assert_eq!(header(&resp, "docker-content-digest"), Some(digest.clone()));
        assert_eq!(
            header(&resp, "content-length"),
            Some(bytes.len().to_string())
        );
        assert!(resp.bytes().await.unwrap().is_empty());
    }

    let resp = r.delete(&format!("/v2/{repo}/manifests/{digest}")).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    for reference in ["v1", digest.as_str()] {
        let resp = r.get(&format!("/v2/{repo}/manifests/{reference}")).await;
        expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
        let resp = r.head(&format!("/v2/{repo}/manifests/{reference}")).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_image_manifest_round_trip() {
    let r = Registry::start().await;
    let config = br#"{"architecture":"arm64","os":"linux"}"#;
    let layer = pseudo_random(14, 200);
    r.push_blob("oci/image", config).await;
    r.push_blob("oci/image", &layer).await;
    // Odd spacing, key order and unknown fields must come back untouched.
    let manifest = format!(
        "{{ \"schemaVersion\" : 2,\n  \"mediaType\": \"{OCI_MANIFEST}\",\n  \"config\": {{\"mediaType\": \"{OCI_CONFIG}\", \"size\": {}, \"digest\": \"{}\", \"newUnspecifiedField\": null}},\n  \"layers\": [{{\"mediaType\": \"{OCI_LAYER}\", \"digest\": \"{}\", \"size\": {}}}],\n  \"annotations\": {{\"org.example\": \"\\u00e9t\\u00e9\"}}\n}}\n\n",
        config.len(),
        sha256(config),
        sha256(&layer),
        layer.len()
    );
    manifest_round_trip(&r, "oci/image", OCI_MANIFEST, manifest.as_bytes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_index_round_trip() {
    let r = Registry::start().await;
    let image = r.push_seeded("oci/index", 15, "amd64").await;
    let index = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": image.digest,
            "size": image.manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
        }],
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }));
    manifest_round_trip(&r, "oci/index", OCI_INDEX, &index).await;
    // The child survives its index.
    let resp = r
        .get(&format!("/v2/oci/index/manifests/{}", image.digest))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

fn docker_manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    pretty(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config),
        "layers": [descriptor(DOCKER_LAYER, layer)],
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_manifest_round_trip() {
    let r = Registry::start().await;
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{}}"#;
    let layer = pseudo_random(16, 150);
    r.push_blob("docker/image", config).await;
    r.push_blob("docker/image", &layer).await;
    let manifest = docker_manifest(config, &layer);
    manifest_round_trip(&r, "docker/image", DOCKER_MANIFEST, &manifest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_manifest_list_round_trip() {
    let r = Registry::start().await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = pseudo_random(17, 150);
    r.push_blob("docker/list", config).await;
    r.push_blob("docker/list", &layer).await;
    let child = docker_manifest(config, &layer);
    let child_digest = sha256(&child);
    let resp = r
        .put_manifest("docker/list", &child_digest, DOCKER_MANIFEST, &child)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let list = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [{
            "mediaType": DOCKER_MANIFEST,
            "digest": child_digest,
            "size": child.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
        }],
    }));
    manifest_round_trip(&r, "docker/list", DOCKER_LIST, &list).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_put_by_wrong_digest_is_refused() {
    let r = Registry::start().await;
    let image = Image::new(18);
    r.push_blob("wrong/manifest", &image.config).await;
    r.push_blob("wrong/manifest", &image.layers[0]).await;
    let claimed = sha256(b"another manifest");
    let resp = r
        .put_manifest("wrong/manifest", &claimed, OCI_MANIFEST, &image.manifest)
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    for d in [claimed, image.digest.clone()] {
        let resp = r.get(&format!("/v2/wrong/manifest/manifests/{d}")).await;
        expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_referencing_a_missing_blob_is_refused() {
    let r = Registry::start().await;
    let image = Image::new(19);

    // Nothing pushed yet: the config is missing.
    let resp = r
        .put_manifest("missing/blob", "v1", OCI_MANIFEST, &image.manifest)
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;

    // The config is there, the layer is not.
    r.push_blob("missing/blob", &image.config).await;
    let resp = r
        .put_manifest("missing/blob", "v1", OCI_MANIFEST, &image.manifest)
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;

    // A layer in another repository does not count.
    r.push_blob("elsewhere", &image.layers[0]).await;
    let resp = r
        .put_manifest("missing/blob", "v1", OCI_MANIFEST, &image.manifest)
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;

    let resp = r.get("/v2/missing/blob/manifests/v1").await;
    expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let resp = r
        .get(&format!("/v2/missing/blob/manifests/{}", image.digest))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_referencing_a_missing_manifest_is_refused() {
    let r = Registry::start().await;
    let absent = Image::new(20);
    let index = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": absent.digest,
            "size": absent.manifest.len(),
        }],
    }));
    let resp = r
        .put_manifest("index/missing", "v1", OCI_INDEX, &index)
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    let resp = r.get("/v2/index/missing/manifests/v1").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_content_type_must_match_media_type() {
    let r = Registry::start().await;
    let image = Image::new(21);
    r.push_blob("types", &image.config).await;
    r.push_blob("types", &image.layers[0]).await;

    for wrong in [DOCKER_MANIFEST, OCI_INDEX] {
        let resp = r.put_manifest("types", "v1", wrong, &image.manifest).await;
        expect_error(resp, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    }
    let resp = r.get("/v2/types/manifests/v1").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    for junk in [&b"not json"[..], b"{\"schemaVersion\": 2"] {
        let resp = r.put_manifest("types", "v1", OCI_MANIFEST, junk).await;
        expect_error(resp, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    }

    // Without Content-Type the mediaType field decides; with neither the type is unknown.
    let resp = r
        .request(Method::PUT, "/v2/types/manifests/untyped")
        .body(image.manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = r.get("/v2/types/manifests/untyped").await;
    assert_eq!(header(&resp, "content-type").as_deref(), Some(OCI_MANIFEST));
    let typeless = pretty(&json!({
        "schemaVersion": 2,
        "config": descriptor(OCI_CONFIG, &image.config),
        "layers": [],
    }));
    let resp = r
        .request(Method::PUT, "/v2/types/manifests/typeless")
        .body(typeless)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;

    // Parameters on Content-Type do not change the type.
    let resp = r
        .put_manifest(
            "types",
            "v1",
            &format!("{OCI_MANIFEST}; charset=utf-8"),
            &image.manifest,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_without_media_type_field_takes_the_content_type() {
    let r = Registry::start().await;
    let config = b"{}";
    r.push_blob("emptylayer", config).await;
    let manifest = pretty(&json!({
        "schemaVersion": 2,
        "config": descriptor(OCI_EMPTY, config),
        "layers": [],
    }));
    let resp = r
        .put_manifest("emptylayer", "emptylayer", OCI_MANIFEST, &manifest)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = r.get("/v2/emptylayer/manifests/emptylayer").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "content-type").as_deref(), Some(OCI_MANIFEST));
    assert_eq!(resp.bytes().await.unwrap(), manifest);
}

/// An OCI manifest padded with an annotation to exactly `len` bytes.
fn manifest_of_size(config: &[u8], len: usize) -> Vec<u8> {
    let build = |pad: usize| {
        format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{{\"mediaType\":\"{OCI_EMPTY}\",\"digest\":\"{}\",\"size\":{}}},\"layers\":[],\"annotations\":{{\"pad\":\"{}\"}}}}",
            sha256(config),
            config.len(),
            "a".repeat(pad)
        )
        .into_bytes()
    };
    let base = build(0).len();
    let bytes = build(len - base);
    assert_eq!(bytes.len(), len);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_size_limit_is_4_mib() {
    let r = Registry::start().await;
    let config = b"{}";
    r.push_blob("big", config).await;

    let fits = manifest_of_size(config, 4 * 1024 * 1024);
    let resp = r.put_manifest("big", "fits", OCI_MANIFEST, &fits).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = r.get("/v2/big/manifests/fits").await;
    assert_eq!(resp.bytes().await.unwrap(), fits);

    let too_big = manifest_of_size(config, 4 * 1024 * 1024 + 1);
    let resp = r
        .put_manifest("big", "too-big", OCI_MANIFEST, &too_big)
        .await;
    error_body(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
    let resp = r.get("/v2/big/manifests/too-big").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_manifests_are_404() {
    let r = Registry::start().await;
    r.push_seeded("known", 22, "v1").await;
    for repo in ["known", "never/pushed"] {
        for reference in [".INVALID_MANIFEST_NAME", "nope"] {
            let path = format!("/v2/{repo}/manifests/{reference}");
            let resp = r.head(&path).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "HEAD {path}");
            let resp = r.get(&path).await;
            let code = error_body(resp, StatusCode::NOT_FOUND).await;
            assert!(
                code == "MANIFEST_UNKNOWN" || code == "NAME_UNKNOWN",
                "{path}: {code}"
            );
        }
    }
    let resp = r.get("/v2/known/manifests/sha256:totallywrong").await;
    let status = resp.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
        "{status}"
    );
    let code = error_body(resp, status).await;
    assert!(
        [
            "MANIFEST_INVALID",
            "DIGEST_INVALID",
            "NAME_INVALID",
            "MANIFEST_UNKNOWN"
        ]
        .contains(&code.as_str()),
        "{code}"
    );
}

async fn tags_of(r: &Registry, repo: &str) -> Vec<String> {
    let resp = r.get(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["name"], repo);
    serde_json::from_value(body["tags"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_by_tag_removes_only_the_tag() {
    let r = Registry::start().await;
    let image = r.push_seeded("untag", 23, "first").await;
    let resp = r
        .put_manifest("untag", "second", OCI_MANIFEST, &image.manifest)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    let resp = r.delete("/v2/untag/manifests/first").await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = r.get("/v2/untag/manifests/first").await;
    expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    for reference in ["second", image.digest.as_str()] {
        let resp = r.get(&format!("/v2/untag/manifests/{reference}")).await;
        assert_eq!(resp.status(), StatusCode::OK, "{reference}");
        assert_eq!(resp.bytes().await.unwrap(), image.manifest);
    }
    assert_eq!(tags_of(&r, "untag").await, ["second"]);

    let resp = r.delete("/v2/untag/manifests/first").await;
    expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_by_digest_removes_the_manifest_and_its_tags() {
    let r = Registry::start().await;
    let image = r.push_seeded("undigest", 24, "a").await;
    let other = r.push_seeded("undigest", 25, "other").await;
    let resp = r
        .put_manifest("undigest", "b", OCI_MANIFEST, &image.manifest)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(tags_of(&r, "undigest").await, ["a", "b", "other"]);

    let resp = r
        .delete(&format!("/v2/undigest/manifests/{}", image.digest))
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    for reference in ["a", "b", image.digest.as_str()] {
        let resp = r.get(&format!("/v2/undigest/manifests/{reference}")).await;
        expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
    assert_eq!(tags_of(&r, "undigest").await, ["other"]);
    let resp = r
        .get(&format!("/v2/undigest/manifests/{}", other.digest))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Blobs stay until they are deleted themselves.
    for blob in [&image.config, &image.layers[0]] {
        let resp = r.get(&format!("/v2/undigest/blobs/{}", sha256(blob))).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = r
        .delete(&format!("/v2/undigest/manifests/{}", image.digest))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_a_tag_again_moves_it() {
    let r = Registry::start().await;
    let first = r.push_seeded("retag", 27, "latest").await;
    let second = r.push_seeded("retag", 28, "latest").await;
    let resp = r.get("/v2/retag/manifests/latest").await;
    assert_eq!(header(&resp, "docker-content-digest"), Some(second.digest));
    assert_eq!(resp.bytes().await.unwrap(), second.manifest);
    let resp = r
        .get(&format!("/v2/retag/manifests/{}", first.digest))
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "the old manifest stays");
    assert_eq!(tags_of(&r, "retag").await, ["latest"]);

    // A tag that cannot exist cannot be pushed.
    for bad in [".INVALID_MANIFEST_NAME", "-dash", "a%20b"] {
        let resp = r
            .put_manifest("retag", bad, OCI_MANIFEST, &first.manifest)
            .await;
        let status = resp.status();
        assert!(status.is_client_error(), "PUT tag {bad}: {status}");
        error_body(resp, status).await;
    }
    assert_eq!(tags_of(&r, "retag").await, ["latest"]);
}

/// GETs a paged list; returns the items under `key` and the `Link` header.
async fn page(r: &Registry, path: &str, key: &str) -> (Vec<String>, Option<String>) {
    let resp = r.get(path).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let link = header(&resp, "link");
    let body: Value = resp.json().await.unwrap();
    let items = serde_json::from_value(body[key].clone())
        .unwrap_or_else(|e| panic!("{path}: {key} in {body}: {e}"));
    (items, link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_list_paging() {
    let r = Registry::start().await;
    let image = r.push_seeded("paged", 26, "v2").await;
    for tag in ["v10", "latest", "alpha", "Zeta", "beta"] {
        let resp = r
            .put_manifest("paged", tag, OCI_MANIFEST, &image.manifest)
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let all = ["Zeta", "alpha", "beta", "latest", "v10", "v2"];

    let resp = r.get("/v2/paged/tags/list").await;
    assert_eq!(header(&resp, "link"), None);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"name": "paged", "tags": all}));

    let (tags, link) = page(&r, "/v2/paged/tags/list?n=2", "tags").await;
    assert_eq!(tags, ["Zeta", "alpha"]);
    assert_eq!(
        link.as_deref(),
        Some("</v2/paged/tags/list?n=2&last=alpha>; rel=\"next\"")
    );
    let (tags, link) = page(&r, "/v2/paged/tags/list?n=2&last=alpha", "tags").await;
    assert_eq!(tags, ["beta", "latest"]);
    assert_eq!(
        link.as_deref(),
        Some("</v2/paged/tags/list?n=2&last=latest>; rel=\"next\"")
    );
    let (tags, link) = page(&r, "/v2/paged/tags/list?n=2&last=latest", "tags").await;
    assert_eq!(tags, ["v10", "v2"]);
    assert_eq!(link, None, "no Link after the last page");

    let (tags, link) = page(&r, "/v2/paged/tags/list?n=6", "tags").await;
    assert_eq!(tags, all);
    assert_eq!(link, None);
    let (tags, link) = page(&r, "/v2/paged/tags/list?n=100", "tags").await;
    assert_eq!(tags, all);
    assert_eq!(link, None);
    let (tags, link) = page(&r, "/v2/paged/tags/list?n=0", "tags").await;
    assert!(tags.is_empty(), "n=0 gave {tags:?}");
    assert_eq!(link, None, "n=0 has no Link");
    let (tags, link) = page(&r, "/v2/paged/tags/list?last=zzz", "tags").await;
    assert!(tags.is_empty(), "last past the end gave {tags:?}");
    assert_eq!(link, None);
    let (tags, _) = page(&r, "/v2/paged/tags/list?last=beta", "tags").await;
    assert_eq!(tags, ["latest", "v10", "v2"]);
    let (tags, _) = page(&r, "/v2/paged/tags/list?n=1&last=beta", "tags").await;
    assert_eq!(tags, ["latest"]);

    for bad in ["abc", "-1", "1.5"] {
        let resp = r.get(&format!("/v2/paged/tags/list?n={bad}")).await;
        error_body(resp, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_of_an_unknown_repository_are_404() {
    let r = Registry::start().await;
    let resp = r.get("/v2/no/such/repo/tags/list").await;
    expect_error(resp, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_paging() {
    let r = Registry::start().await;
    let (repos, link) = page(&r, "/v2/_catalog", "repositories").await;
    assert!(repos.is_empty());
    assert_eq!(link, None);

    for (i, repo) in ["c/one", "a", "b/x", "a/deeper"].iter().enumerate() {
        r.push_seeded(repo, 30 + i as u8, "v1").await;
    }
    let all = ["a", "a/deeper", "b/x", "c/one"];
    let (repos, link) = page(&r, "/v2/_catalog", "repositories").await;
    assert_eq!(repos, all);
    assert_eq!(link, None);

    let (repos, link) = page(&r, "/v2/_catalog?n=3", "repositories").await;
    assert_eq!(repos, all[..3]);
    assert_eq!(
        link.as_deref(),
        Some("</v2/_catalog?n=3&last=b/x>; rel=\"next\"")
    );
    let (repos, link) = page(&r, "/v2/_catalog?n=3&last=b/x", "repositories").await;
    assert_eq!(repos, ["c/one"]);
    assert_eq!(link, None);

    let (repos, link) = page(&r, "/v2/_catalog?n=1&last=a", "repositories").await;
    assert_eq!(repos, ["a/deeper"]);
    assert_eq!(
        link.as_deref(),
        Some("</v2/_catalog?n=1&last=a/deeper>; rel=\"next\"")
    );
    let (repos, link) = page(&r, "/v2/_catalog?n=4", "repositories").await;
    assert_eq!(repos, all);
    assert_eq!(link, None);
    let (repos, link) = page(&r, "/v2/_catalog?n=0", "repositories").await;
    assert!(repos.is_empty());
    assert_eq!(link, None);
    let (repos, link) = page(&r, "/v2/_catalog?last=d", "repositories").await;
    assert!(repos.is_empty());
    assert_eq!(link, None);

    let resp = r.get("/v2/_catalog?n=many").await;
    error_body(resp, StatusCode::BAD_REQUEST).await;
}

/// GETs a referrers list, checking the content type; returns the descriptors and the
/// `OCI-Filters-Applied` header.
async fn referrers(r: &Registry, path: &str) -> (Vec<Value>, Option<String>) {
    let resp = r.get(path).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    assert_eq!(
        header(&resp, "content-type").as_deref(),
        Some(OCI_INDEX),
        "{path}"
    );
    let filters = header(&resp, "oci-filters-applied");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["schemaVersion"], 2);
    assert_eq!(body["mediaType"], OCI_INDEX);
    let manifests = body["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("no manifests list in {body}"))
        .clone();
    (manifests, filters)
}

fn find<'a>(descriptors: &'a [Value], digest: &str) -> &'a Value {
    descriptors
        .iter()
        .find(|d| d["digest"] == digest)
        .unwrap_or_else(|| panic!("{digest} not among {descriptors:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_api() {
    let r = Registry::start().await;
    let repo = "refs";
    let subject = Image::new(40);
    let subject_desc = json!({
        "mediaType": OCI_MANIFEST,
        "digest": subject.digest,
        "size": subject.manifest.len(),
    });
    let empty = b"{}";
    r.push_blob(repo, empty).await;
    let type_a = "application/vnd.example.config.a";
    let config_a = br#"{"kind":"a"}"#;
    r.push_blob(repo, config_a).await;

    // A referrer pushed before its subject; its type comes from config.mediaType.
    let referrer_a = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(type_a, config_a),
        "layers": [],
        "subject": subject_desc,
        "annotations": {"org.example.test": "config a"},
    }));
    let digest_a = sha256(&referrer_a);
    let resp = r
        .put_manifest(repo, &digest_a, OCI_MANIFEST, &referrer_a)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header(&resp, "oci-subject"), Some(subject.digest.clone()));

    r.push_blob(repo, &subject.config).await;
    r.push_blob(repo, &subject.layers[0]).await;
    let resp = r
        .put_manifest(repo, "subject", OCI_MANIFEST, &subject.manifest)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header(&resp, "oci-subject"), None);

    let type_b = "application/vnd.example.b";
    let referrer_b = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": type_b,
        "config": descriptor(OCI_EMPTY, empty),
        "layers": [descriptor(OCI_EMPTY, empty)],
        "subject": subject_desc,
        "annotations": {"org.example.test": "layer b", "org.example.other": "x"},
    }));
    let digest_b = sha256(&referrer_b);
    let resp = r
        .put_manifest(repo, &digest_b, OCI_MANIFEST, &referrer_b)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header(&resp, "oci-subject"), Some(subject.digest.clone()));

    let type_c = "application/vnd.example.index";
    let referrer_c = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": type_c,
        "manifests": [],
        "subject": subject_desc,
        "annotations": {"org.example.test": "index c"},
    }));
    let digest_c = sha256(&referrer_c);
    let resp = r
        .put_manifest(repo, &digest_c, OCI_INDEX, &referrer_c)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header(&resp, "oci-subject"), Some(subject.digest.clone()));

    // A subject that does not exist.
    let ghost = Image::new(41).digest;
    let referrer_d = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": type_b,
        "config": descriptor(OCI_EMPTY, empty),
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": ghost, "size": 123},
    }));
    let digest_d = sha256(&referrer_d);
    let resp = r
        .put_manifest(repo, &digest_d, OCI_MANIFEST, &referrer_d)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header(&resp, "oci-subject"), Some(ghost.clone()));

    // Pushed again under a tag, a referrer is still listed once.
    let resp = r
        .put_manifest(repo, "signature", OCI_MANIFEST, &referrer_b)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(header(&resp, "oci-subject"), Some(subject.digest.clone()));

    // An index without artifactType has none in its descriptor.
    let plain_subject = r.push_seeded(repo, 42, "plain").await;
    let referrer_e = pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": plain_subject.digest, "size": plain_subject.manifest.len()},
    }));
    let resp = r
        .put_manifest(repo, &sha256(&referrer_e), OCI_INDEX, &referrer_e)
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        header(&resp, "oci-subject"),
        Some(plain_subject.digest.clone())
    );
    let (list, _) = referrers(
        &r,
        &format!("/v2/{repo}/referrers/{}", plain_subject.digest),
    )
    .await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["digest"], sha256(&referrer_e));
    assert_eq!(list[0]["mediaType"], OCI_INDEX);
    assert_eq!(list[0].get("artifactType"), None, "{}", list[0]);

    let path = format!("/v2/{repo}/referrers/{}", subject.digest);
    let (list, filters) = referrers(&r, &path).await;
    assert_eq!(filters, None);
    assert_eq!(list.len(), 3, "{list:?}");
    let expected = [
        (
            &digest_a,
            &referrer_a,
            OCI_MANIFEST,
            type_a,
            json!({"org.example.test": "config a"}),
        ),
        (
            &digest_b,
            &referrer_b,
            OCI_MANIFEST,
            type_b,
            json!({"org.example.test": "layer b", "org.example.other": "x"}),
        ),
        (
            &digest_c,
            &referrer_c,
            OCI_INDEX,
            type_c,
            json!({"org.example.test": "index c"}),
        ),
    ];
    for (digest, bytes, media_type, artifact_type, annotations) in &expected {
        let d = find(&list, digest);
        assert_eq!(d["mediaType"], *media_type, "{d}");
        assert_eq!(d["size"], bytes.len(), "{d}");
        assert_eq!(d["artifactType"], *artifact_type, "{d}");
        assert_eq!(d["annotations"], *annotations, "{d}");
    }

    let (list, filters) = referrers(&r, &format!("{path}?artifactType={type_a}")).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["digest"], digest_a);
    let (list, filters) = referrers(&r, &format!("{path}?artifactType={type_b}")).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["digest"], digest_b);
    let (list, _) = referrers(&r, &format!("{path}?artifactType=application/none")).await;
    assert!(list.is_empty());

    let (list, _) = referrers(&r, &format!("/v2/{repo}/referrers/{ghost}")).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["digest"], digest_d);
    assert_eq!(list[0]["artifactType"], type_b);
    assert!(
        list[0]
            .get("annotations")
            .is_none_or(|a| a.as_object().is_some_and(|a| a.is_empty())),
        "annotations invented: {}",
        list[0]
    );

    let unknown = sha256(b"hello world");
    let (list, _) = referrers(&r, &format!("/v2/{repo}/referrers/{unknown}")).await;
    assert!(list.is_empty());
    let (list, _) = referrers(&r, &format!("/v2/other/referrers/{}", subject.digest)).await;
    assert!(list.is_empty(), "referrers are per repository");

    let resp = r.get(&format!("/v2/{repo}/referrers/sha256:nothex")).await;
    error_body(resp, StatusCode::BAD_REQUEST).await;

    let resp = r.delete(&format!("/v2/{repo}/manifests/{digest_a}")).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let (list, _) = referrers(&r, &path).await;
    let mut digests: Vec<&str> = list.iter().map(|d| d["digest"].as_str().unwrap()).collect();
    digests.sort_unstable();
    let mut want = vec![digest_b.as_str(), digest_c.as_str()];
    want.sort_unstable();
    assert_eq!(digests, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_names_are_400() {
    let r = Registry::start().await;
    let digest = sha256(b"x");
    for name in ["A/B", "a//b", "Upper", "a/b/", "_a", "a..b", "a/.b"] {
        for (method, path) in [
            (Method::GET, format!("/v2/{name}/tags/list")),
            (Method::GET, format!("/v2/{name}/manifests/latest")),
            (Method::GET, format!("/v2/{name}/blobs/{digest}")),
            (Method::POST, format!("/v2/{name}/blobs/uploads/")),
            (Method::PUT, format!("/v2/{name}/manifests/latest")),
        ] {
            let resp = r.request(method, &path).send().await.unwrap();
            expect_error(resp, StatusCode::BAD_REQUEST, "NAME_INVALID").await;
        }
    }
}

/// Sends `request` as is over a fresh connection; returns the status and the whole answer.
async fn raw_request(host: &str, request: String) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_dot_names_never_reach_the_disk() {
    let outer = tempfile::tempdir().unwrap();
    let storage = outer.path().join("storage");
    let storage_for_config = storage.clone();
    let registry =
        TestRegistry::start_with(move |config| config.storage = storage_for_config).await;
    let host = registry.host();
    let marker = format!("escape-{}", uuid::Uuid::new_v4());
    let blob = b"escaping blob".to_vec();
    let digest = sha256(&blob);
    let manifest = String::from_utf8(Image::new(50).manifest).unwrap();

    let mut names = Vec::new();
    for depth in 1..=4 {
        let up = vec![".."; depth].join("/");
        names.push(format!("{up}/{marker}"));
        names.push(format!("ok/{up}/{marker}"));
        names.push(format!("{}/{marker}", vec!["%2e%2e"; depth].join("/")));
    }
    names.push("..".to_string());
    for name in &names {
        let requests = [
            ("POST", format!("/v2/{name}/blobs/uploads/"), String::new()),
            (
                "POST",
                format!("/v2/{name}/blobs/uploads/?digest={digest}"),
                String::from_utf8(blob.clone()).unwrap(),
            ),
            (
                "POST",
                format!("/v2/{name}/blobs/uploads/?mount={digest}&from=ok"),
                String::new(),
            ),
            (
                "PUT",
                format!("/v2/{name}/manifests/latest"),
                manifest.clone(),
            ),
            ("GET", format!("/v2/{name}/tags/list"), String::new()),
            ("GET", format!("/v2/{name}/blobs/{digest}"), String::new()),
            (
                "DELETE",
                format!("/v2/{name}/manifests/latest"),
                String::new(),
            ),
        ];
        for (method, target, body) in requests {
            let request = format!(
                "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let (status, answer) = raw_request(&host, request).await;
            assert_eq!(status, 400, "{method} {target}: {answer}");
            assert!(
                answer.contains("NAME_INVALID"),
                "{method} {target}: {answer}"
            );
        }
    }

    let outside: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["storage"], "files appeared next to the storage");
    assert!(!std::env::temp_dir().join(&marker).exists());
    assert!(!Path::new("/").join(&marker).exists());
    assert_eq!(
        files_under(&storage.join("repositories")),
        Vec::<String>::new()
    );
    assert_eq!(files_under(&storage.join("blobs")), Vec::<String>::new());
    assert_eq!(files_under(&storage.join("uploads")), Vec::<String>::new());
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_of_the_same_blob() {
    let r = std::sync::Arc::new(Registry::start().await);
    let blob = std::sync::Arc::new(pseudo_random(60, 1 << 20));
    let digest = sha256(&blob);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (r, blob, digest) = (r.clone(), blob.clone(), digest.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                r.push_blob("same/blob", &blob).await;
                return;
            }
            let session = r.open_upload("same/blob").await;
            let half = blob.len() / 2;
            let first = format!("0-{}", half - 1);
            let resp = r.patch(&session, Some(first.as_str()), &blob[..half]).await;
            assert_eq!(resp.status(), StatusCode::ACCEPTED);
            let second = format!("{half}-{}", blob.len() - 1);
            let resp = r
                .patch(&location(&resp), Some(second.as_str()), &blob[half..])
                .await;
            assert_eq!(resp.status(), StatusCode::ACCEPTED);
            let resp = r
                .request(
                    Method::PUT,
                    &with_query(&location(&resp), &format!("digest={digest}")),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::CREATED, "task {i}");
        }));
    }
    for task in tasks {
        task.await.expect("push task");
    }
    let resp = r.get(&format!("/v2/same/blob/blobs/{digest}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), blob.len());
    assert_eq!(sha256(&body), digest);
    assert_eq!(
        files_under(&r.storage().join("blobs")),
        [blob_file(Path::new(""), &digest)
            .strip_prefix("blobs")
            .unwrap()
            .display()
            .to_string()]
    );
    assert_eq!(files_under(&r.storage().join("tmp")), Vec::<String>::new());
    assert_eq!(
        files_under(&r.storage().join("uploads")),
        Vec::<String>::new()
    );
}

/// A referrer of `subject` that differs from its siblings by `n`.
fn numbered_referrer(subject: &Image, n: usize, empty: &[u8]) -> Vec<u8> {
    pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": descriptor(OCI_EMPTY, empty),
        "layers": [descriptor(OCI_EMPTY, empty)],
        "subject": subject.descriptor(),
        "annotations": {"org.example.n": n.to_string()},
    }))
}

/// Puts every manifest of `batch` at once, by digest; each must be created.
async fn put_all_at_once(r: &std::sync::Arc<Registry>, repo: &'static str, batch: &[Vec<u8>]) {
    let tasks: Vec<_> = batch
        .iter()
        .cloned()
        .map(|bytes| {
            let r = r.clone();
            tokio::spawn(async move {
                r.push_manifest(repo, &sha256(&bytes), OCI_MANIFEST, &bytes)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("push task");
    }
}

/// Digests in the referrers list of `subject`, sorted, checking each entry's descriptor.
async fn referrer_digests(
    r: &Registry,
    repo: &str,
    subject: &Image,
    manifests: &[Vec<u8>],
) -> Vec<String> {
    let (list, _) = referrers(r, &format!("/v2/{repo}/referrers/{}", subject.digest)).await;
    let mut digests = Vec::new();
    for d in &list {
        let digest = d["digest"].as_str().expect("digest").to_string();
        let bytes = manifests
            .iter()
            .find(|m| sha256(m) == digest)
            .unwrap_or_else(|| panic!("{digest} was never pushed: {d}"));
        assert_eq!(d["size"], bytes.len(), "{d}");
        assert_eq!(d["mediaType"], OCI_MANIFEST, "{d}");
        assert_eq!(
            d["artifactType"], "application/vnd.example.signature",
            "{d}"
        );
        digests.push(digest);
    }
    digests.sort();
    digests
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_written_concurrently_are_all_listed() {
    const REPO: &str = "refs/concurrent";
    const MANY: usize = 48;
    let r = std::sync::Arc::new(Registry::start().await);
    let subject = r.push_seeded(REPO, 70, "subject").await;
    let empty = b"{}";
    r.push_blob(REPO, empty).await;
    let manifests: Vec<Vec<u8>> = (0..2 * MANY)
        .map(|n| numbered_referrer(&subject, n, empty))
        .collect();
    let (first, second) = manifests.split_at(MANY);

    put_all_at_once(&r, REPO, first).await;
    let mut want: Vec<String> = first.iter().map(|m| sha256(m)).collect();
    want.sort();
    assert_eq!(referrer_digests(&r, REPO, &subject, &manifests).await, want);

    // Half of the first batch deleted while the second batch is pushed.
    let (gone, kept) = first.split_at(MANY / 2);
    let deletions: Vec<_> = gone
        .iter()
        .map(|bytes| {
            let (r, digest) = (r.clone(), sha256(bytes));
            tokio::spawn(async move {
                let resp = r.delete(&format!("/v2/{REPO}/manifests/{digest}")).await;
                assert_eq!(resp.status(), StatusCode::ACCEPTED, "delete {digest}");
            })
        })
        .collect();
    put_all_at_once(&r, REPO, second).await;
    for task in deletions {
        task.await.expect("delete task");
    }
    let mut want: Vec<String> = kept.iter().chain(second).map(|m| sha256(m)).collect();
    want.sort();
    assert_eq!(referrer_digests(&r, REPO, &subject, &manifests).await, want);
    let filtered = format!(
        "/v2/{REPO}/referrers/{}?artifactType=application/vnd.example.signature",
        subject.digest
    );
    let (list, _) = referrers(&r, &filtered).await;
    assert_eq!(list.len(), want.len());
}
