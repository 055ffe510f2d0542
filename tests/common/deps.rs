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
