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
    /// Registry for short references [default: the workspace's, else the user config's, else
    /// localhost:5000].
    #[arg(
        long,
        global = true,
        value_name = "HOST[:PORT]",
        env = "PROVISIONING_REGISTRY"
    )]
    pub registry: Option<String>,
    /// Namespace for short references [default: the workspace's, else the user config's, else
    /// provisioning-extensions].
    #[arg(long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Talk plain HTTP to registries [default: HTTPS, falling back to plain HTTP for a loopback
    /// registry (localhost, 127.0.0.0/8, ::1) that does not speak TLS].
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

/// The user's own settings (`<config dir>/config.yaml`), used where no flag and no workspace
/// says otherwise.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Registry for short references.
    #[serde(default)]
    pub registry: Option<String>,
    /// Namespace for short references.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Registries (`host[:port]`) reached over plain HTTP.
    #[serde(default)]
    pub plain_http: Vec<String>,
    /// Where pulled blobs are cached.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

impl UserConfig {
    /// Reads `path`; a missing file is an empty configuration, an unreadable one an error.
    pub fn load(path: &std::path::Path) -> Result<Option<UserConfig>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).wrap_err_with(|| format!("cannot read {}", path.display())),
        };
        if text.trim().is_empty() {
            return Ok(Some(UserConfig::default()));
        }
        let config: UserConfig = serde_yaml::from_str(&text).wrap_err_with(|| {
            format!(
                "{} is not a valid user config (keys: registry, namespace, plain_http, cache_dir)",
                path.display()
            )
        })?;
        Ok(Some(config))
    }
}

/// Resolved settings for one command.
pub struct OciContext {
    pub workspace: Option<Workspace>,
    /// The user config file, when one was read.
    pub user_config: Option<PathBuf>,
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
        // The workspace's settings win over the user's; flags win over both.
        let user_config_path = crate::paths::user_config_file();
        let user = UserConfig::load(&user_config_path)?;
        let user_config = user.as_ref().map(|_| user_config_path);
        let user = user.unwrap_or_default();
        let defaults = ReferenceDefaults {
            registry: args
                .registry
                .clone()
                .filter(|r| !r.is_empty())
                .or_else(|| effective.registry.clone())
                .or_else(|| user.registry.clone())
                .unwrap_or_else(|| DEFAULT_REGISTRY.to_string()),
            namespace: args
                .namespace
                .clone()
                .or_else(|| effective.namespace.clone())
                .or_else(|| user.namespace.clone())
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        };
        let mut options = ClientOptions {
            plain_http: args.plain_http,
            insecure: args.insecure,
            ca_file: args.ca_file.clone(),
            concurrency: args.concurrency.max(1),
            ..ClientOptions::default()
        };
        options
            .plain_http_registries
            .extend(user.plain_http.iter().cloned());
        // Each host the workspace says is plain HTTP (its own block's `tls_enabled: false`).
        if let Some(w) = &workspace {
            options
                .plain_http_registries
                .extend(w.config.plain_http_hosts());
        }
        // Requests for a mirrored registry go to its mirror, reached with the mirror's own
        // settings: an `http://` mirror is plain HTTP; the original's `tls_enabled` and token
        // file stay with the original host.
        if let Some(w) = &workspace {
            for mirror in &w.config.mirrors {
                options
                    .mirrors
                    .push((mirror.registry.clone(), mirror.mirror.clone()));
                if mirror.tls_enabled == Some(false) {
                    options.plain_http_registries.push(mirror.mirror.clone());
                }
            }
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
            .or_else(|| {
                // `$PROVISIONING_CACHE_DIR` names the cache for this run, over the user config.
                std::env::var_os("PROVISIONING_CACHE_DIR")
                    .is_none()
                    .then(|| user.cache_dir.clone())
                    .flatten()
            })
            .unwrap_or_else(BlobCache::default_dir);
        let cache = BlobCache::open(cache_dir)?;
        Ok(OciContext {
            workspace,
            user_config,
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
