//! Basic authentication against an htpasswd file, and HTTPS with a certificate from a test CA.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::{TestPki, TestRegistry, http_client, install_crypto, make_pki, sha256};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

const USER: &str = "pusher";
const PASSWORD: &str = "correct horse battery staple";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Writes an htpasswd file with one bcrypt (`$2y$`) entry.
fn write_htpasswd(dir: &Path) -> PathBuf {
    let hash = bcrypt::hash_with_result(PASSWORD, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    assert!(hash.starts_with("$2y$"), "{hash}");
    let path = dir.join("htpasswd");
    std::fs::write(&path, format!("# test users\n{USER}:{hash}\n")).unwrap();
    path
}

async fn start_with_auth(dir: &Path) -> TestRegistry {
    let htpasswd = write_htpasswd(dir);
    TestRegistry::start_with(move |config| config.htpasswd = Some(htpasswd)).await
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
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

/// Pushes a config, a layer and a manifest tagged `v1`; returns the manifest bytes.
async fn push_image(
    url: &str,
    repo: &str,
    authorize: impl Fn(RequestBuilder) -> RequestBuilder,
    client: &Client,
) -> Vec<u8> {
    let config = br#"{"os":"linux"}"#.to_vec();
    let layer = b"layer bytes".to_vec();
    for blob in [&config, &layer] {
        let resp = authorize(client.post(format!(
            "{url}/v2/{repo}/blobs/uploads/?digest={}",
            sha256(blob)
        )))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer.len()}],
    }))
    .unwrap();
    let resp = authorize(client.put(format!("{url}/v2/{repo}/manifests/v1")))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    manifest
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
    let resp = client
        .post(format!("{url}/v2/some/repo/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(resp).await;
    assert!(
        !registry.storage_path().join("repositories/some").exists(),
        "an unauthorised request left traces"
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start_with_auth(dir.path()).await;
    let client = http_client();
    let url = format!("{}/v2/", registry.url);
    for (user, password) in [
        (USER, "wrong"),
        ("stranger", PASSWORD),
        (USER, ""),
        ("", PASSWORD),
    ] {
        let resp = client
            .get(&url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap();
        assert_unauthorized(resp).await;
    }
    for value in ["Basic !!!not-base64", "Bearer token", "Basic"] {
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
    let client = http_client();
    let url = registry.url.clone();
    let auth = |request: RequestBuilder| request.basic_auth(USER, Some(PASSWORD));

    let resp = auth(client.get(format!("{url}/v2/"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header(&resp, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );

    let manifest = push_image(&url, "private/app", auth, &client).await;
    let resp = auth(client.get(format!("{url}/v2/private/app/manifests/v1")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), manifest);

    // The same content stays closed to anonymous readers.
    let resp = client
        .get(format!("{url}/v2/private/app/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(resp).await;
    registry.stop().await;
}

fn trusting_client(pki: &TestPki, localhost: Option<SocketAddr>) -> Client {
    install_crypto();
    let ca = reqwest::Certificate::from_pem(&pki.ca_pem()).unwrap();
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(ca);
    if let Some(addr) = localhost {
        builder = builder.resolve("localhost", addr);
    }
    builder.build().unwrap()
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

    let manifest = push_image(&registry.url, "secure/app", |r| r, &client).await;
    let resp = client
        .get(format!("{}/v2/secure/app/manifests/v1", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap(), manifest);
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

    // Plain HTTP on the TLS port gets no registry answer.
    let plain = format!("http://{}/v2/", registry.host());
    if let Ok(resp) = http_client().get(plain).send().await {
        assert_ne!(resp.status(), StatusCode::OK);
    }

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
    let htpasswd = write_htpasswd(dir.path());
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
    push_image(
        &registry.url,
        "both/app",
        |r| r.basic_auth(USER, Some(PASSWORD)),
        &client,
    )
    .await;
    registry.stop().await;
}
