//! Shared test helpers: start the embedded registry or Debian's distribution registry on a free
//! loopback port with temporary storage, and gate tests that need peer binaries.
#![allow(dead_code)]

pub mod cli;
pub mod deps;
pub mod distribution;
pub mod extension_fixtures;
pub mod faults;
pub mod layout;
pub mod oci_fixtures;
pub mod proxy;
pub mod registry_http;
pub mod snapshot;
pub mod token_server;
pub mod workbench;

use std::path::{Path, PathBuf};

use provisioning::registry::{RegistryConfig, RunningRegistry};

/// An embedded registry on `127.0.0.1:0` with its own temporary storage.
pub struct TestRegistry {
    pub registry: Option<RunningRegistry>,
    pub storage: tempfile::TempDir,
    pub url: String,
}

impl TestRegistry {
    /// Starts a registry with default settings.
    pub async fn start() -> TestRegistry {
        Self::start_with(|_| {}).await
    }

    /// Starts a registry after `configure` adjusted its configuration.
    pub async fn start_with(configure: impl FnOnce(&mut RegistryConfig)) -> TestRegistry {
        let storage = tempfile::tempdir().expect("temp dir");
        let mut config = RegistryConfig::new("127.0.0.1:0".parse().unwrap(), storage.path());
        configure(&mut config);
        let registry = RunningRegistry::start(config)
            .await
            .expect("registry starts");
        let url = registry.url();
        TestRegistry {
            registry: Some(registry),
            storage,
            url,
        }
    }

    /// `127.0.0.1:PORT`, as skopeo and references want it.
    pub fn host(&self) -> String {
        self.url.split("://").nth(1).unwrap().to_string()
    }

    pub fn storage_path(&self) -> &Path {
        self.storage.path()
    }

    pub async fn stop(mut self) {
        if let Some(registry) = self.registry.take() {
            registry.shutdown().await;
        }
    }
}

/// An HTTP client for tests (rustls with the ring provider, no proxies).
pub fn http_client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client")
}

/// Installs ring as rustls's process-wide provider (once).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether `binary` is available. When it is not, prints `skipped: <binary> not installed` and
/// returns false, or panics when `PROVISIONING_TEST_PEERS=1` demands the peers.
pub fn require_peer(binary: &str) -> bool {
    if find_binary(binary).is_some() {
        return true;
    }
    if std::env::var("PROVISIONING_TEST_PEERS").as_deref() == Ok("1") {
        panic!("{binary} not installed, and PROVISIONING_TEST_PEERS=1 requires it");
    }
    eprintln!("skipped: {binary} not installed");
    false
}

/// The path of `binary` on `PATH` (or an absolute path that exists).
pub fn find_binary(binary: &str) -> Option<PathBuf> {
    let candidate = Path::new(binary);
    if candidate.is_absolute() {
        return candidate.exists().then(|| candidate.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|path| path.is_file())
    })
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sha256 digest string of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    provisioning::oci::Digest::sha256_of(bytes).to_string()
}

/// Runs `skopeo --insecure-policy <args>` off the async threads, asserts it succeeded and
/// returns its stdout.
pub async fn skopeo<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> Vec<u8> {
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new("skopeo")
            .arg("--insecure-policy")
            .args(&args)
            .output()
            .expect("run skopeo");
        assert!(
            output.status.success(),
            "skopeo {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    })
    .await
    .unwrap()
}

/// A test CA and a server certificate signed by it: for 127.0.0.1 and localhost, and any
/// further names given to `make_pki_for`.
pub struct TestPki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA and a server certificate for 127.0.0.1 and localhost, written into `dir`.
pub fn make_pki(dir: &Path) -> TestPki {
    make_pki_for(dir, &[])
}

/// `make_pki` with `names` (host names or addresses) added to the server certificate, e.g. a
/// `registry.test` that a test reaches through a proxy.
pub fn make_pki_for(dir: &Path, names: &[&str]) -> TestPki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "provisioning test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let mut subject_names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    subject_names.extend(names.iter().map(|n| n.to_string()));
    let mut params = rcgen::CertificateParams::new(subject_names).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let pki = TestPki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

impl TestPki {
    /// The server certificate and key, as the registry takes them.
    pub fn tls_files(&self) -> provisioning::registry::TlsFiles {
        provisioning::registry::TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca).unwrap()
    }
}

/// Waits for a spawned binary, killing it (and failing with its stderr) after `limit`.
pub fn wait_with_deadline(
    mut child: std::process::Child,
    shown: &str,
    limit: std::time::Duration,
) -> std::process::Output {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "`{shown}` did not finish: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Exit codes of the `provisioning` binary, as the README documents them.
pub mod exit {
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_RUNNING: i32 = 3;
    pub const NOT_FOUND: i32 = 4;
    pub const CONFLICT: i32 = 5;
    pub const INTERRUPTED: i32 = 130;
}

/// Asserts that a command failed with exactly `code` (see [`exit`]) and that its stderr says
/// `stderr_contains`; a panic (101), a signal or another code fails the test with the output.
pub fn assert_failure(output: &std::process::Output, code: i32, stderr_contains: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit code {code}, got {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains(stderr_contains),
        "stderr does not say {stderr_contains:?}:\n{stderr}"
    );
}

/// Output bytes as text, for messages and `contains` checks.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that a command succeeded (exit code 0), showing its output when it did not.
pub fn assert_success(output: &std::process::Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
