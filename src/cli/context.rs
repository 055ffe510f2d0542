//! What every `oci` command needs: the workspace (if any), how short references expand, the
//! client options and credentials, and the cache.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{Result, WrapErr};

use crate::oci::cache::BlobCache;
use crate::oci::client::{ClientOptions, Registries};
use crate::oci::credentials::{CredentialStore, TokenFile};
use crate::oci::reference::{DEFAULT_NAMESPACE, DEFAULT_REGISTRY};
use crate::oci::{Reference, ReferenceDefaults};
use crate::workspace::Workspace;

/// Registry and workspace options shared by the `oci` commands.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Workspace directory [default: $PROVISIONING_WORKSPACE, else the nearest directory upward
    /// with config/provisioning.yaml].
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Registry for short references [default: the workspace's, else localhost:5000].
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub registry: Option<String>,
    /// Namespace for short references [default: the workspace's, else provisioning-extensions].
    #[arg(long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Talk plain HTTP to registries.
    #[arg(long, global = true)]
    pub plain_http: bool,
    /// Skip TLS certificate verification.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Trust this CA certificate (PEM) too.
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Blobs moved at once.
    #[arg(long, global = true, default_value_t = 4, value_name = "N")]
    pub concurrency: usize,
    /// Draw no progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

impl RegistryArgs {
    /// The options `provisioning` without arguments runs the workbench with.
    pub fn default_for_ui() -> RegistryArgs {
        RegistryArgs {
            workspace: None,
            registry: None,
            namespace: None,
            plain_http: false,
            insecure: false,
            ca_file: None,
            concurrency: 4,
            no_progress: true,
        }
    }
}

/// Resolved settings for one command.
pub struct OciContext {
    pub workspace: Option<Workspace>,
    pub defaults: ReferenceDefaults,
    pub registries: Registries,
    pub cache: BlobCache,
    pub args: RegistryArgs,
}

impl OciContext {
    pub fn new(args: &RegistryArgs) -> Result<OciContext> {
        let cwd = std::env::current_dir().wrap_err("cannot read the current directory")?;
        let workspace = Workspace::discover(args.workspace.as_deref(), &cwd)?;
        let effective = workspace
            .as_ref()
            .map(|w| w.config.effective_registry())
            .unwrap_or_default();
        let defaults = ReferenceDefaults {
            registry: args
                .registry
                .clone()
                .or_else(|| effective.registry.clone())
                .unwrap_or_else(|| DEFAULT_REGISTRY.to_string()),
            namespace: args
                .namespace
                .clone()
                .or_else(|| effective.namespace.clone())
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        };
        let mut options = ClientOptions {
            plain_http: args.plain_http,
            insecure: args.insecure,
            ca_file: args.ca_file.clone(),
            concurrency: args.concurrency.max(1),
            ..ClientOptions::default()
        };
        // Each host the workspace says is plain HTTP (its own block's `tls_enabled: false`).
        if let Some(w) = &workspace {
            options
                .plain_http_registries
                .extend(w.config.plain_http_hosts());
        }
        // Each workspace token is for the host of the block that names it, and no other.
        let tokens: Vec<TokenFile> = workspace
            .as_ref()
            .map(|w| {
                let mut hosts: Vec<String> =
                    w.config.endpoints().into_iter().map(|e| e.host).collect();
                hosts.sort();
                hosts.dedup();
                hosts
                    .into_iter()
                    .filter_map(|host| {
                        let path = w.config.endpoint_for(&host)?.auth_token_path?;
                        Some(TokenFile::new(host, path))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let credentials = CredentialStore::from_env(tokens);
        let registries = Registries::new(options, credentials)?;
        let cache_dir = workspace
            .as_ref()
            .and_then(|w| w.config.cache_dir.clone())
            .unwrap_or_else(BlobCache::default_dir);
        let cache = BlobCache::open(cache_dir)?;
        Ok(OciContext {
            workspace,
            defaults,
            registries,
            cache,
            args: args.clone(),
        })
    }

    /// Parses a reference, expanding short forms.
    pub fn reference(&self, text: &str) -> Result<Reference> {
        Ok(Reference::parse(text, &self.defaults)?)
    }
}
