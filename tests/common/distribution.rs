//! Debian's CNCF distribution registry (`/usr/bin/docker-registry`) run from a test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path Debian installs the distribution registry at.
pub const BINARY: &str = "/usr/bin/docker-registry";

/// A header every answer of our distribution process carries, with a value of its own: the
/// proof that the process listening on the port is the one this test started, not a registry
/// of a parallel test that took the port first.
const INSTANCE_HEADER: &str = "X-Provisioning-Test-Instance";

/// Ports tried before giving up when others keep taking the chosen one.
const ATTEMPTS: usize = 5;

/// Optional settings for a distribution registry.
#[derive(Default, Clone)]
pub struct DistributionOptions {
    /// An htpasswd file (bcrypt entries).
    pub htpasswd: Option<PathBuf>,
    /// PEM certificate and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// distribution's `auth: token` settings.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    /// Where clients get tokens (the challenge's `realm`).
    pub realm: String,
    /// The challenge's `service`, and the audience tokens must name.
    pub service: String,
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// PEM certificates whose keys (or chains) sign tokens.
    pub root_cert_bundle: PathBuf,
}

/// A running distribution registry, killed on drop.
pub struct Distribution {
    child: Child,
    pub dir: tempfile::TempDir,
    pub host: String,
    pub url: String,
}

/// How one attempt to start distribution ended.
enum Attempt {
    /// It serves on its port.
    Serving(Child),
    /// The port was not ours (taken before distribution bound it); try another.
    PortTaken(String),
}

impl Distribution {
    /// Starts it on a free loopback port with temporary storage; `None` when the binary is
    /// missing (see [`super::require_peer`]).
    pub fn start(options: DistributionOptions) -> Option<Distribution> {
        Distribution::launch(options, None)
    }

    /// Starts one that wants Bearer tokens from the token service `token` describes
    /// (`auth: token`).
    pub fn start_with_token(token: TokenAuth) -> Option<Distribution> {
        Distribution::launch(DistributionOptions::default(), Some(token))
    }

    fn launch(options: DistributionOptions, token: Option<TokenAuth>) -> Option<Distribution> {
        if !super::require_peer(BINARY) {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let instance = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let mut refusals = Vec::new();
        for attempt in 0..ATTEMPTS {
            let host = format!("127.0.0.1:{}", super::free_port());
            let url = format!("{scheme}://{host}");
            let config = config_text(&options, token.as_ref(), &storage, &host, &instance);
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log_path = dir.path().join(format!("registry-{attempt}.log"));
            match attempt_on(&config_path, &log_path, &host, &url, &instance) {
                Attempt::Serving(child) => {
                    return Some(Distribution {
                        child,
                        dir,
                        host,
                        url,
                    });
                }
                Attempt::PortTaken(why) => refusals.push(format!("{host}: {why}")),
            }
        }
        panic!(
            "docker-registry found no free port in {ATTEMPTS} attempts:\n{}",
            refusals.join("\n")
        );
    }

    /// The process id, for measuring its memory.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn config_text(
    options: &DistributionOptions,
    token: Option<&TokenAuth>,
    storage: &Path,
    host: &str,
    instance: &str,
) -> String {
    let mut config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  headers:\n    {INSTANCE_HEADER}: [\"{instance}\"]\n",
        storage.display()
    );
    if let Some((cert, key)) = &options.tls {
        config.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        ));
    }
    if let Some(token) = token {
        config.push_str(&format!(
            "auth:\n  token:\n    realm: \"{}\"\n    service: \"{}\"\n    issuer: \"{}\"\n    rootcertbundle: {}\n",
            token.realm,
            token.service,
            token.issuer,
            token.root_cert_bundle.display()
        ));
    } else if let Some(htpasswd) = &options.htpasswd {
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            htpasswd.display()
        ));
    }
    config
}

/// Spawns distribution with `config_path` and waits until it answers on `host` as `instance`.
fn attempt_on(
    config_path: &Path,
    log_path: &Path,
    host: &str,
    url: &str,
    instance: &str,
) -> Attempt {
    let log = std::fs::File::create(log_path).unwrap();
    let mut child = Command::new(BINARY)
        .arg("serve")
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start docker-registry");
    let log_text = || std::fs::read_to_string(log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let log = log_text();
            assert!(
                log.contains("address already in use"),
                "docker-registry exited with {status}:\n{log}"
            );
            return Attempt::PortTaken(log);
        }
        if std::net::TcpStream::connect(host).is_ok() {
            match served_instance(url) {
                Some(answer) if answer == instance => {
                    assert!(
                        child.try_wait().unwrap().is_none(),
                        "docker-registry answered, then exited:\n{}",
                        log_text()
                    );
                    return Attempt::Serving(child);
                }
                Some(other) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Attempt::PortTaken(format!(
                        "another server answers there (instance header {other:?})"
                    ));
                }
                // Listening but not answering yet, or someone else's server.
                None => {}
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            // Something else holds the port and our process hangs on to it: fail with the
            // facts rather than guess.
            panic!(
                "docker-registry did not answer on {host} as {instance}:\n{}",
                log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The instance header of `GET {url}/v2/`, if an answer came; certificates are not checked,
/// since the header alone identifies the process.
fn served_instance(url: &str) -> Option<String> {
    let target = format!("{url}/v2/");
    // A thread of its own: callers may be inside a tokio runtime.
    std::thread::spawn(move || {
        super::install_crypto();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = reqwest::Client::builder()
                .no_proxy()
                .tls_danger_accept_invalid_certs(true)
                // Bounds a probe of a server that accepts and never answers (a fault server of
                // a parallel test); our distribution answers at once.
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let resp = client.get(target).send().await.ok()?;
            resp.headers()
                .get(INSTANCE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or(Some(String::new()))
        })
    })
    .join()
    .unwrap()
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
