//! Basic authentication against an htpasswd file, and HTTPS with a certificate from a test CA.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::oci_fixtures::{PASSWORD, USER, write_htpasswd};
use common::registry_http::{Image, RegistryHttp, client_trusting, header};
use common::{TestPki, TestRegistry, http_client, install_crypto, make_pki, sha256};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An htpasswd file of the test user, with a comment line the parser must skip.
fn htpasswd_with_comment(dir: &Path) -> std::path::PathBuf {
    let path = write_htpasswd(dir);
    let entries = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("# test users\n{entries}")).unwrap();
    path
}

async fn start_with_auth(dir: &Path) -> TestRegistry {
    let htpasswd = htpasswd_with_comment(dir);
    TestRegistry::start_with(move |config| config.htpasswd = Some(htpasswd)).await
}

/// Asserts a 401 with a Basic challenge and an UNAUTHORIZED body.
async fn assert_unauthorized(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{}", resp.url());
    let challenge = header(&resp, "www-authenticate").expect("WWW-Authenticate");
    assert!(
        challenge.starts_with("Basic realm="),
        "challenge {challenge:?}"
    );
    assert_eq!(
        header(&resp, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );
    let body: Value = resp.json().await.expect("JSON error body");
    let errors = body["errors"].as_array().expect("errors array");
    assert!(!errors.is_empty());
    assert_eq!(errors[0]["code"], "UNAUTHORIZED", "{body}");
    assert!(errors[0]["message"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_credentials_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start_with_auth(dir.path()).await;
    let client = http_client();
    let url = &registry.url;
    for path in [
        "/v2/".to_string(),
        "/v2/_catalog".to_string(),
        "/v2/some/repo/tags/list".to_string(),
        format!("/v2/some/repo/blobs/{}", sha256(b"x")),
    ] {
        let resp = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_unauthorized(resp).await;
    }
    let blob = sha256(b"x");
    let manifest = serde_json::json!({"schemaVersion": 2}).to_string();
    let requests = [
        client.head(format!("{url}/v2/some/repo/blobs/{blob}")),
        client.head(format!("{url}/v2/some/repo/manifests/latest")),
        client.get(format!("{url}/v2/some/repo/manifests/latest")),
        client.get(format!("{url}/v2/some/repo/referrers/{blob}")),
        client.post(format!("{url}/v2/some/repo/blobs/uploads/")),
        client
            .post(format!("{url}/v2/some/repo/blobs/uploads/?digest={blob}"))
            .body("x"),
        client.post(format!(
            "{url}/v2/some/repo/blobs/uploads/?mount={blob}&from=other/repo"
        )),
        client
            .patch(format!("{url}/v2/some/repo/blobs/uploads/any-session"))
            .body("x"),
        client.put(format!(
            "{url}/v2/some/repo/blobs/uploads/any-session?digest={blob}"
        )),
        client.get(format!("{url}/v2/some/repo/blobs/uploads/any-session")),
        client.delete(format!("{url}/v2/some/repo/blobs/uploads/any-session")),
        client
            .put(format!("{url}/v2/some/repo/manifests/latest"))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest),
        client.delete(format!("{url}/v2/some/repo/manifests/latest")),
        client.delete(format!("{url}/v2/some/repo/blobs/{blob}")),
    ];
    for request in requests {
        let request = request.build().unwrap();
        let shown = format!("{} {}", request.method(), request.url());
        let head = request.method() == reqwest::Method::HEAD;
        let resp = client.execute(request).await.unwrap();
        if head {
            // No body to read: the status and the challenge say it all.
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{shown}");
            assert!(header(&resp, "www-authenticate").is_some(), "{shown}");
        } else {
            assert_unauthorized(resp).await;
        }
    }
    assert!(
        !registry.storage_path().join("repositories/some").exists(),
        "an unauthorised request left traces"
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let client = http_client();
    let wrong_credentials = [
        (USER, "wrong"),
        ("stranger", PASSWORD),
        (USER, ""),
        ("", PASSWORD),
    ];
    let malformed = ["Basic !!!not-base64", "Bearer token", "Basic"];
    // A registry per batch: an address that keeps failing is soon told to back off instead.
    let registry = start_with_auth(dir.path()).await;
    let url = format!("{}/v2/", registry.url);
    for (user, password) in wrong_credentials {
        let resp = client
            .get(&url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap();
        assert_unauthorized(resp).await;
    }
    registry.stop().await;
    let registry = start_with_auth(dir.path()).await;
    let url = format!("{}/v2/", registry.url);
    for value in malformed {
        let resp = client
            .get(&url)
            .header("Authorization", value)
            .send()
            .await
            .unwrap();
        assert_unauthorized(resp).await;
    }
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_credentials_can_push_and_pull() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start_with_auth(dir.path()).await;
    let user = RegistryHttp::new(&registry.url).basic_auth(USER, PASSWORD);

    let resp = user.get("/v2/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );

    let image = Image::new(1);
    user.push_image("private/app", "v1", &image).await;
    let resp = user.get("/v2/private/app/manifests/v1").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), image.manifest);

    // The same content stays closed to anonymous readers.
    let anonymous = RegistryHttp::new(&registry.url);
    assert_unauthorized(anonymous.get("/v2/private/app/manifests/v1").await).await;
    let resp = anonymous
        .get(&format!("/v2/private/app/blobs/{}", sha256(&image.config)))
        .await;
    assert_unauthorized(resp).await;
    registry.stop().await;
}

fn trusting_client(pki: &TestPki, localhost: Option<SocketAddr>) -> Client {
    client_trusting(&pki.ca_pem(), localhost)
}

async fn start_tls(pki: &TestPki) -> TestRegistry {
    let files = pki.tls_files();
    let registry = TestRegistry::start_with(move |config| config.tls = Some(files)).await;
    assert!(registry.url.starts_with("https://"), "{}", registry.url);
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_trusted_ca() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let registry = start_tls(&pki).await;
    let addr: SocketAddr = registry.host().parse().unwrap();

    let client = trusting_client(&pki, Some(addr));
    let resp = client
        .get(format!("{}/v2/", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );
    let resp = client
        .get(format!("https://localhost:{}/v2/", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "by the localhost name");

    let secure = RegistryHttp::with_client(&registry.url, client);
    let image = Image::new(2);
    secure.push_image("secure/app", "v1", &image).await;
    let resp = secure.get("/v2/secure/app/manifests/v1").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), image.manifest);
    registry.stop().await;
}

/// The request failed because the server's certificate was not trusted.
fn assert_certificate_refused(result: reqwest::Result<reqwest::Response>) {
    let error = match result {
        Ok(resp) => panic!("untrusted certificate accepted: {}", resp.status()),
        Err(e) => e,
    };
    assert!(error.is_connect(), "{error:?}");
    assert!(
        format!("{error:?}").contains("InvalidCertificate"),
        "not a certificate error: {error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_refused_by_a_client_that_does_not_trust_the_ca() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let registry = start_tls(&pki).await;

    let result = http_client()
        .get(format!("{}/v2/", registry.url))
        .send()
        .await;
    assert_certificate_refused(result);

    // Another CA's client is no better.
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = make_pki(&other_dir);
    let result = trusting_client(&other, None)
        .get(format!("{}/v2/", registry.url))
        .send()
        .await;
    assert_certificate_refused(result);

    // Plain HTTP on the TLS port gets no HTTP answer: the connection is accepted, and what
    // comes back is at most a TLS alert before the server closes it.
    let plain = format!("http://{}/v2/", registry.host());
    match http_client().get(&plain).send().await {
        Ok(resp) => panic!(
            "plain HTTP on the TLS port was answered: {} {:?}",
            resp.status(),
            resp.headers()
        ),
        Err(e) => assert!(
            !e.is_connect() && !e.is_timeout(),
            "the TLS port did not take the connection: {e:?}"
        ),
    }
    let answer = raw_exchange(
        &registry.host(),
        format!(
            "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            registry.host()
        ),
    )
    .await;
    assert_tls_alert(&answer);

    // The server still serves trusting clients after failed handshakes.
    let resp = trusting_client(&pki, None)
        .get(format!("{}/v2/", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_together() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let htpasswd = htpasswd_with_comment(dir.path());
    let files = pki.tls_files();
    let registry = TestRegistry::start_with(move |config| {
        config.tls = Some(files);
        config.htpasswd = Some(htpasswd);
    })
    .await;
    let client = trusting_client(&pki, None);
    let url = format!("{}/v2/", registry.url);
    let resp = client.get(&url).send().await.unwrap();
    assert_unauthorized(resp).await;
    let resp = client
        .get(&url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let user = RegistryHttp::with_client(&registry.url, client.clone()).basic_auth(USER, PASSWORD);
    let image = Image::new(3);
    user.push_image("both/app", "v1", &image).await;
    let resp = user.get("/v2/both/app/manifests/v1").await;
    assert_eq!(resp.bytes().await.unwrap(), image.manifest);
    let resp = client
        .get(format!("{}/v2/both/app/manifests/v1", registry.url))
        .send()
        .await
        .unwrap();
    assert_unauthorized(resp).await;
    registry.stop().await;
}

/// Sends `request` over a fresh TCP connection and returns every byte that comes back.
async fn raw_exchange(host: &str, request: String) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A reset after the alert is as good as a close.
    let _ = stream.read_to_end(&mut answer).await;
    answer
}

/// `answer` is one TLS alert record (content type 21, TLS 1.x), not an HTTP response.
fn assert_tls_alert(answer: &[u8]) {
    let shown = String::from_utf8_lossy(answer);
    assert!(
        answer.len() >= 7 && answer[0] == 0x15 && answer[1] == 0x03,
        "not a TLS alert: {answer:02x?} ({shown:?})"
    );
    assert!(!shown.contains("HTTP/"), "an HTTP answer: {shown:?}");
}
