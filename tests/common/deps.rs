//! Helpers for the dependency tests: a client and cache for library calls, the samples (with the
//! core and platform artifacts) published to a registry, and the sample workspace pointed at it.

use std::path::{Path, PathBuf};

use provisioning::oci::ReferenceDefaults;
use provisioning::oci::cache::BlobCache;
use provisioning::oci::client::{ClientOptions, Registries};
use provisioning::oci::credentials::CredentialStore;

use super::cli::Cli;

/// A plain-HTTP client with no credentials and a cache, both under `scratch`.
pub fn client(scratch: &Path) -> (Registries, BlobCache) {
    super::install_crypto();
    let registries = Registries::new(
        ClientOptions {
            plain_http: true,
            ..ClientOptions::default()
        },
        CredentialStore::new(scratch.join("docker/config.json"), None, None),
    )
    .unwrap();
    (registries, BlobCache::open(scratch.join("cache")).unwrap())
}

/// Publishes the samples (with the core and platform artifacts) to `host`.
pub async fn publish(host: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let (registries, cache) = client(scratch.path());
    provisioning::extension::samples::publish(
        &scratch.path().join("samples"),
        &registries,
        &cache,
        &ReferenceDefaults {
            registry: host.to_string(),
            namespace: "provisioning-extensions".into(),
        },
    )
    .await
    .unwrap();
}

/// The sample workspace in the CLI's home (`ws`), pointed at `host`.
pub fn sample_workspace(cli: &Cli, host: &str) -> PathBuf {
    let ws = cli.path("ws");
    std::fs::create_dir_all(ws.join("config")).unwrap();
    std::fs::write(
        ws.join("config/provisioning.yaml"),
        provisioning::extension::samples::workspace_config(host),
    )
    .unwrap();
    ws
}

/// `dep ARGS… --workspace WS`.
pub fn dep_args<'a>(ws: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["dep"];
    all.extend_from_slice(args);
    all.extend(["--workspace", ws.to_str().unwrap()]);
    all
}

/// The synthetic graph the resolver and Dependencies-pane benchmarks share: 300 extensions in
/// 8 levels, each needing three of the next level.
pub mod layered {
    pub const EXTENSIONS: usize = 300;
    pub const LEVELS: usize = 8;

    pub fn level_of(i: usize) -> usize {
        i * LEVELS / EXTENSIONS
    }

    pub fn members(level: usize) -> Vec<usize> {
        (0..EXTENSIONS).filter(|&i| level_of(i) == level).collect()
    }

    /// The three extensions of the next level that `i` needs.
    pub fn needs(i: usize) -> Vec<usize> {
        let level = level_of(i);
        if level + 1 == LEVELS {
            return Vec::new();
        }
        let here = members(level);
        let next = members(level + 1);
        let at = here.iter().position(|&x| x == i).unwrap();
        let mut out: Vec<usize> = [at, at + 1, at + 7]
            .iter()
            .map(|k| next[k % next.len()])
            .collect();
        // Every extension of the next level is needed by someone: the last of this level
        // takes those left over.
        if at + 1 == here.len() {
            out.extend(next.iter().skip(here.len()).copied());
        }
        out.sort();
        out.dedup();
        out
    }
}
