//! Raw HTTP against a registry URL (the embedded registry, distribution or a spawned binary):
//! pushing blobs, manifests and small images, optionally with Basic credentials or a client
//! that trusts a test CA.

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use super::sha256;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// A registry spoken to over plain HTTP requests.
#[derive(Clone)]
pub struct RegistryHttp {
    /// `http://host:port` or `https://host:port`.
    pub url: String,
    pub client: Client,
    basic: Option<(String, String)>,
}

/// How [`RegistryHttp::push_blob_with`] uploads a blob.
#[derive(Clone, Copy, Debug)]
pub enum Upload {
    /// One `POST …/blobs/uploads/?digest=` with the bytes.
    Monolithic,
    /// An empty `POST` for a session, then one `PUT ?digest=` with the bytes.
    PostPut,
    /// A session, `PATCH`es of this many bytes with `Content-Range`, then an empty `PUT`.
    Chunked(usize),
}

impl RegistryHttp {
    /// Anonymous requests with the plain test client.
    pub fn new(url: &str) -> RegistryHttp {
        RegistryHttp::with_client(url, super::http_client())
    }

    /// Requests through `client` (one that trusts a test CA, say).
    pub fn with_client(url: &str, client: Client) -> RegistryHttp {
        RegistryHttp {
            url: url.trim_end_matches('/').to_string(),
            client,
            basic: None,
        }
    }

    /// Every request carries these Basic credentials.
    pub fn basic_auth(mut self, user: &str, password: &str) -> RegistryHttp {
        self.basic = Some((user.to_string(), password.to_string()));
        self
    }

    /// `path` (or a `Location` path) against the registry URL; absolute URLs stay as they are.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.url)
        }
    }

    /// A request with the credentials, if any.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match &self.basic {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    // The request is built before the future is returned, so the future borrows neither the
    // registry nor `path` (a temporary `&format!(…)` is fine, and so is `tokio::join!`).

    pub fn get(&self, path: &str) -> impl Future<Output = Response> + Send + use<> {
        self.send(Method::GET, path)
    }

    pub fn head(&self, path: &str) -> impl Future<Output = Response> + Send + use<> {
        self.send(Method::HEAD, path)
    }

    pub fn delete(&self, path: &str) -> impl Future<Output = Response> + Send + use<> {
        self.send(Method::DELETE, path)
    }

    fn send(&self, method: Method, path: &str) -> impl Future<Output = Response> + Send + use<> {
        let shown = format!("{method} {path}");
        let request = self.request(method, path);
        async move {
            request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{shown}: {e}"))
        }
    }

    /// Pushes a blob in one `POST ?digest=`; returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        self.push_blob_with(repo, bytes, Upload::Monolithic).await
    }

    /// Pushes a blob the way `upload` says, asserting every step; returns its digest.
    pub async fn push_blob_with(&self, repo: &str, bytes: &[u8], upload: Upload) -> String {
        let digest = sha256(bytes);
        let uploads = format!("/v2/{repo}/blobs/uploads/");
        let closing = match upload {
            Upload::Monolithic => self
                .request(Method::POST, &format!("{uploads}?digest={digest}"))
                .header("Content-Type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap(),
            Upload::PostPut => {
                let session = self.start_upload(repo).await;
                self.request(
                    Method::PUT,
                    &with_query(&session, &format!("digest={digest}")),
                )
                .header("Content-Type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap()
            }
            Upload::Chunked(size) => {
                let mut session = self.start_upload(repo).await;
                for (n, part) in bytes.chunks(size).enumerate() {
                    let start = n * size;
                    let resp = self
                        .request(Method::PATCH, &session)
                        .header("Content-Type", "application/octet-stream")
                        .header(
                            "Content-Range",
                            format!("{start}-{}", start + part.len() - 1),
                        )
                        .body(part.to_vec())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(
                        resp.status(),
                        StatusCode::ACCEPTED,
                        "PATCH chunk {n} of {digest} to {repo}"
                    );
                    session = location(&resp);
                }
                self.request(
                    Method::PUT,
                    &with_query(&session, &format!("digest={digest}")),
                )
                .send()
                .await
                .unwrap()
            }
        };
        assert_eq!(
            closing.status(),
            StatusCode::CREATED,
            "push blob {digest} to {repo} ({upload:?})"
        );
        digest
    }

    /// Opens an upload session; returns its `Location` path.
    pub async fn start_upload(&self, repo: &str) -> String {
        let resp = self
            .request(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
            .header("Content-Length", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::ACCEPTED,
            "open an upload to {repo}"
        );
        location(&resp)
    }

    /// `PUT /v2/<repo>/manifests/<reference>`, whatever the answer.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Response {
        self.request(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("Content-Type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Puts a manifest and asserts it was created; returns its digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let resp = self.put_manifest(repo, reference, media_type, bytes).await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "push {repo}:{reference}: {text}"
        );
        sha256(bytes)
    }

    /// Pushes `image`'s blobs and its manifest under `tag`.
    pub async fn push_image(&self, repo: &str, tag: &str, image: &Image) {
        for blob in image.blobs() {
            self.push_blob(repo, blob).await;
        }
        let digest = self
            .push_manifest(repo, tag, OCI_MANIFEST, &image.manifest)
            .await;
        assert_eq!(digest, image.digest);
    }
}

/// An OCI image: a config, layers and the manifest bytes.
#[derive(Clone, Debug)]
pub struct Image {
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl Image {
    /// A config naming `seed` and one 300-byte layer from it.
    pub fn new(seed: u8) -> Image {
        let config =
            format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}").into_bytes();
        Image::of(config, vec![super::layout::pseudo_random(seed, 300)])
    }

    /// An image of exactly these config and layer bytes.
    pub fn of(config: Vec<u8>, layers: Vec<Vec<u8>>) -> Image {
        let manifest = pretty(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config),
            "layers": layers.iter().map(|l| descriptor(OCI_LAYER, l)).collect::<Vec<_>>(),
        }));
        let digest = sha256(&manifest);
        Image {
            config,
            layers,
            manifest,
            digest,
        }
    }

    /// The config, then the layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Vec<u8>> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// The descriptor of the manifest, as a `subject` or an index entry.
    pub fn descriptor(&self) -> Value {
        json!({ "mediaType": OCI_MANIFEST, "digest": self.digest, "size": self.manifest.len() })
    }
}

/// A descriptor of `bytes` as `media_type`.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": sha256(bytes), "size": bytes.len() })
}

/// Pretty JSON with a trailing newline: not the canonical form, so byte-exactness shows.
pub fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap();
    bytes.push(b'\n');
    bytes
}

/// A header's value as text.
pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_string())
}

/// The path and query of the `Location` header (absolute or relative).
pub fn location(resp: &Response) -> String {
    let value = header(resp, "location").expect("Location header");
    assert!(!value.is_empty(), "empty Location");
    match value.find("://") {
        Some(i) => {
            let rest = &value[i + 3..];
            rest[rest.find('/').unwrap_or(rest.len())..].to_string()
        }
        None => value,
    }
}

/// `location` with `key=value` appended to its query.
pub fn with_query(location: &str, pair: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}{pair}")
}

/// A client that trusts the CA in `ca_pem` (and no other), optionally resolving `localhost`
/// to `localhost_addr`.
pub fn client_trusting(ca_pem: &[u8], localhost_addr: Option<std::net::SocketAddr>) -> Client {
    super::install_crypto();
    let ca = reqwest::Certificate::from_pem(ca_pem).unwrap();
    let mut builder = Client::builder().no_proxy().tls_certs_only([ca]);
    if let Some(addr) = localhost_addr {
        builder = builder.resolve("localhost", addr);
    }
    builder.build().unwrap()
}
