//! Debian's CNCF distribution registry (`/usr/bin/docker-registry`) run from a test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path Debian installs the distribution registry at.
pub const BINARY: &str = "/usr/bin/docker-registry";

/// Optional settings for a distribution registry.
#[derive(Default, Clone)]
pub struct DistributionOptions {
    /// An htpasswd file (bcrypt entries).
    pub htpasswd: Option<PathBuf>,
    /// PEM certificate and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A running distribution registry, killed on drop.
pub struct Distribution {
    child: Child,
    pub dir: tempfile::TempDir,
    pub host: String,
    pub url: String,
}

impl Distribution {
    /// Starts it on a free loopback port with temporary storage; `None` when the binary is
    /// missing (see [`super::require_peer`]).
    pub fn start(options: DistributionOptions) -> Option<Distribution> {
        if !super::require_peer(BINARY) {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let port = super::free_port();
        let host = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        if let Some((cert, key)) = &options.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some(htpasswd) = &options.htpasswd {
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{host}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {host}: {}",
                std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Distribution {
            child,
            dir,
            host,
            url,
        })
    }

    /// The process id, for measuring its memory.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
