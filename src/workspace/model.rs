//! What `config/provisioning.yaml` says, read exactly as the design document writes it.
//!
//! Precedence (tested in `tests/workspace_model.rs`):
//! - Extensions come from `dependencies.extensions`: with `source_type: oci` (the default) from
//!   `extensions.oci.registry`/`namespace`, each falling back to `registry.oci.endpoint` and
//!   `registry.oci.namespaces.extensions` (top level, else under `dependencies`), then to
//!   `localhost:5000` and `provisioning-extensions`; with `source_type: gitea` from
//!   `extensions.gitea.url` and `organization` (`host/<organization>/NAME`).
//! - `registry.oci.endpoint` and its `namespaces` are the defaults for everything else: a short
//!   core reference (`namespaces.core`, else no namespace) and short platform images (after
//!   `platform.oci`, `namespaces.platform`).
//! - `tls_enabled` and `auth_token_path` belong to the host of the block that states them, and
//!   to no other host: see [`WorkspaceConfig::endpoints`] and [`WorkspaceConfig::endpoint_for`].
//! - `mirrors:` (top level, `{registry: mirror}`) changes where requests go, not what is named:
//!   references, the lock and this file keep the registry; the mirror is reached with its own
//!   TLS setting (an `http://` mirror is plain HTTP) and credentials. See [`Mirror`].

use std::fmt;
use std::path::PathBuf;

use semver::Version;

use crate::extension::manifest::ExtensionType;
use crate::extension::range::VersionRange;
use crate::oci::reference::{DEFAULT_NAMESPACE, DEFAULT_REGISTRY};
use crate::oci::{Reference, ReferenceDefaults};

use super::yaml::Pos;

/// Where extensions come from: `source_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceType {
    #[default]
    Oci,
    Gitea,
    Local,
}

impl SourceType {
    pub const ALL: [&'static str; 3] = ["oci", "gitea", "local"];

    pub fn parse(text: &str) -> Option<SourceType> {
        match text {
            "oci" => Some(SourceType::Oci),
            "gitea" => Some(SourceType::Gitea),
            "local" => Some(SourceType::Local),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SourceType::Oci => "oci",
            SourceType::Gitea => "gitea",
            SourceType::Local => "local",
        }
    }
}

impl fmt::Display for SourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `oci:` block: `dependencies.extensions.oci` or `dependencies.platform.oci`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OciBlock {
    /// `host[:port]`, scheme removed.
    pub registry: Option<String>,
    pub namespace: Option<String>,
    pub tls_enabled: Option<bool>,
    /// `~` expanded.
    pub auth_token_path: Option<PathBuf>,
}

/// `dependencies.extensions.gitea`: Gitea's built-in OCI package registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiteaBlock {
    /// `host[:port]` of `url`.
    pub host: String,
    /// `Some(false)` for an `http://` url.
    pub tls_enabled: Option<bool>,
    pub organization: String,
    pub auth_token_path: Option<PathBuf>,
}

/// `registry:` (top level, or under `dependencies` as the Harbor example writes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryBlock {
    /// `oci`, `gitea` or `http`.
    pub kind: Option<String>,
    /// `host[:port]` of `oci.endpoint`.
    pub endpoint: Option<String>,
    pub namespaces: Vec<(String, String)>,
    /// `oci.tls_enabled`, else what the endpoint's scheme says.
    pub tls_enabled: Option<bool>,
    pub auth_token_path: Option<PathBuf>,
    /// `registry` or `dependencies.registry`.
    pub field: &'static str,
}

impl RegistryBlock {
    pub fn namespace(&self, purpose: &str) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|(k, _)| k == purpose)
            .map(|(_, v)| v.as_str())
    }
}

/// What a module asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// The seed's pinned reference, or `version:`.
    Exact(Version),
    /// `range:`; a mapping with neither version nor range means any version.
    Range(VersionRange),
    /// A local module: its version is its manifest's.
    Local,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Exact(v) => write!(f, "={v}"),
            Requirement::Range(r) => write!(f, "{r}"),
            Requirement::Local => f.write_str("local"),
        }
    }
}

/// Where a module comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// A repository in an OCI registry (Gitea's included); the tag, if any, is the pin.
    Oci {
        reference: Reference,
        /// `oci` or `gitea`.
        via: SourceType,
    },
    /// An extension directory, absolute or relative to the workspace root (`~` expanded).
    Local { path: PathBuf },
}

/// One entry of `dependencies.extensions.modules.<type>s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEntry {
    pub kind: ExtensionType,
    pub name: String,
    pub source: ModuleSource,
    pub requirement: Requirement,
    /// Where the entry is written.
    pub pos: Pos,
    /// The seed's reference string, or a mapping (`{name: …, range: …}`).
    pub form: EntryForm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryForm {
    Reference,
    Mapping,
}

impl ModuleEntry {
    /// `oci`, `gitea` or `local`.
    pub fn source_type(&self) -> SourceType {
        match &self.source {
            ModuleSource::Oci { via, .. } => *via,
            ModuleSource::Local { .. } => SourceType::Local,
        }
    }

    /// The repository or directory, for display.
    pub fn location(&self) -> String {
        match &self.source {
            ModuleSource::Oci { reference, .. } => reference.to_string(),
            ModuleSource::Local { path } => path.display().to_string(),
        }
    }
}

/// `dependencies.core`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreDependency {
    /// As written.
    pub source: String,
    pub reference: Reference,
    /// The tag read as a version (`v3.5.0` → 3.5.0).
    pub version: Option<Version>,
}

/// A platform image: `dependencies.platform.images.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformImage {
    pub name: String,
    pub reference: Reference,
}

/// `dependencies.platform`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    pub source_type: Option<SourceType>,
    pub oci: Option<OciBlock>,
    pub images: Vec<PlatformImage>,
}

/// `dependencies.extensions.local`: where `module load --source local` looks by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalBlock {
    pub path: Option<PathBuf>,
}

/// The whole workspace configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceConfig {
    pub core: Option<CoreDependency>,
    /// `dependencies.extensions.source_type` (oci when absent).
    pub source_type: SourceType,
    pub extensions_oci: Option<OciBlock>,
    pub gitea: Option<GiteaBlock>,
    pub local: LocalBlock,
    /// In file order.
    pub modules: Vec<ModuleEntry>,
    pub platform: Option<Platform>,
    pub registry: Option<RegistryBlock>,
    /// Where the OCI cache lives, if not the default.
    pub cache_dir: Option<PathBuf>,
    /// `signatures:` (top level): the keys extensions must be signed with.
    pub signatures: Option<SignaturePolicy>,
    /// `mirrors:` (top level), in file order.
    pub mirrors: Vec<Mirror>,
}

/// One entry of `mirrors:`: every request for `registry` goes to `mirror`, with the mirror's
/// own credentials and TLS settings; references, the lock and this file keep naming `registry`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mirror {
    /// `host[:port]` the workspace names.
    pub registry: String,
    /// `host[:port]` requests go to.
    pub mirror: String,
    /// `Some(false)` for an `http://` mirror, `Some(true)` for `https://`.
    pub tls_enabled: Option<bool>,
}

/// `signatures: {keys: [paths], require: true}`: cosign public keys (PEM) the workspace trusts;
/// with `require`, resolving and installing refuse an extension no such key signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SignaturePolicy {
    /// Public key files as written (relative ones are read from the workspace directory).
    pub keys: Vec<PathBuf>,
    pub require: bool,
}

/// One registry host with the settings the workspace gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistryEndpoint {
    /// `host[:port]`.
    pub host: String,
    pub tls_enabled: Option<bool>,
    /// The token file for this host alone (`~` expanded).
    pub auth_token_path: Option<PathBuf>,
    /// The block that names it, e.g. `dependencies.extensions.oci`.
    pub block: &'static str,
}

/// The registry settings the `oci` commands use: the extensions' host and namespace, with that
/// host's own TLS and token settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EffectiveRegistry {
    pub registry: Option<String>,
    pub namespace: Option<String>,
    pub tls_enabled: Option<bool>,
    pub auth_token_path: Option<PathBuf>,
}

impl WorkspaceConfig {
    /// `registry.oci.endpoint`'s host, if written.
    fn endpoint(&self) -> Option<&str> {
        self.registry.as_ref()?.endpoint.as_deref()
    }

    /// Where extensions with the workspace's `source_type` come from (local: the OCI
    /// settings, where `migrate-to-oci` publishes).
    pub fn extension_defaults(&self) -> ReferenceDefaults {
        if self.source_type == SourceType::Gitea
            && let Some(gitea) = &self.gitea
        {
            return gitea.defaults();
        }
        self.oci_defaults()
    }

    /// The OCI registry and namespace for extensions (`extensions.oci`, then `registry.oci`).
    pub fn oci_defaults(&self) -> ReferenceDefaults {
        let oci = self.extensions_oci.clone().unwrap_or_default();
        let registry = oci
            .registry
            .or_else(|| self.endpoint().map(str::to_string))
            .unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
        let namespace = oci
            .namespace
            .or_else(|| {
                self.registry
                    .as_ref()
                    .and_then(|r| r.namespace("extensions"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        ReferenceDefaults {
            registry,
            namespace,
        }
    }

    /// How a short core reference expands: `registry.oci.endpoint` and `namespaces.core`.
    pub fn core_defaults(&self) -> ReferenceDefaults {
        ReferenceDefaults {
            registry: self
                .endpoint()
                .map(str::to_string)
                .unwrap_or_else(|| self.oci_defaults().registry),
            namespace: self
                .registry
                .as_ref()
                .and_then(|r| r.namespace("core"))
                .unwrap_or("")
                .to_string(),
        }
    }

    /// How a short platform image expands: `platform.oci`, then `registry.oci.endpoint` and
    /// `namespaces.platform`.
    pub fn platform_defaults(&self) -> ReferenceDefaults {
        let oci = self
            .platform
            .as_ref()
            .and_then(|p| p.oci.clone())
            .unwrap_or_default();
        ReferenceDefaults {
            registry: oci
                .registry
                .or_else(|| self.endpoint().map(str::to_string))
                .unwrap_or_else(|| DEFAULT_REGISTRY.to_string()),
            namespace: oci
                .namespace
                .or_else(|| {
                    self.registry
                        .as_ref()
                        .and_then(|r| r.namespace("platform"))
                        .map(str::to_string)
                })
                .unwrap_or_default(),
        }
    }

    /// Every block that names a registry host, most specific first: `extensions.oci`,
    /// `extensions.gitea`, `platform.oci`, then `registry.oci`. A block without a host of its
    /// own (an `oci:` without `registry:`) speaks for the host it falls back to.
    pub fn endpoints(&self) -> Vec<RegistryEndpoint> {
        let mut out = Vec::new();
        if let Some(oci) = &self.extensions_oci {
            out.push(RegistryEndpoint {
                host: self.oci_defaults().registry,
                tls_enabled: oci.tls_enabled,
                auth_token_path: oci.auth_token_path.clone(),
                block: "dependencies.extensions.oci",
            });
        }
        if let Some(gitea) = &self.gitea {
            out.push(RegistryEndpoint {
                host: gitea.host.clone(),
                tls_enabled: gitea.tls_enabled,
                auth_token_path: gitea.auth_token_path.clone(),
                block: "dependencies.extensions.gitea",
            });
        }
        if let Some(oci) = self.platform.as_ref().and_then(|p| p.oci.as_ref()) {
            out.push(RegistryEndpoint {
                host: self.platform_defaults().registry,
                tls_enabled: oci.tls_enabled,
                auth_token_path: oci.auth_token_path.clone(),
                block: "dependencies.platform.oci",
            });
        }
        if let Some(registry) = &self.registry
            && let Some(host) = &registry.endpoint
        {
            out.push(RegistryEndpoint {
                host: host.clone(),
                tls_enabled: registry.tls_enabled,
                auth_token_path: registry.auth_token_path.clone(),
                block: if registry.field == "registry" {
                    "registry.oci"
                } else {
                    "dependencies.registry.oci"
                },
            });
        }
        out
    }

    /// The settings for `host`: each field from the most specific block naming that host
    /// that states it; `None` when no block names the host.
    pub fn endpoint_for(&self, host: &str) -> Option<RegistryEndpoint> {
        let blocks: Vec<RegistryEndpoint> = self
            .endpoints()
            .into_iter()
            .filter(|e| e.host.eq_ignore_ascii_case(host))
            .collect();
        let first = blocks.first()?.clone();
        Some(RegistryEndpoint {
            tls_enabled: blocks.iter().find_map(|b| b.tls_enabled),
            auth_token_path: blocks.iter().find_map(|b| b.auth_token_path.clone()),
            ..first
        })
    }

    /// Hosts the workspace says speak plain HTTP (`tls_enabled: false` or an `http://` url).
    pub fn plain_http_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .endpoints()
            .into_iter()
            .filter_map(|e| {
                (self.endpoint_for(&e.host)?.tls_enabled == Some(false)).then_some(e.host)
            })
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// What the `oci` commands use for short references, with that host's own settings.
    pub fn effective_registry(&self) -> EffectiveRegistry {
        let defaults = self.extension_defaults();
        let endpoint = self.endpoint_for(&defaults.registry);
        let named =
            self.extensions_oci.is_some() || self.gitea.is_some() || self.registry.is_some();
        EffectiveRegistry {
            registry: named.then(|| defaults.registry.clone()),
            namespace: named.then(|| defaults.namespace.clone()),
            tls_enabled: endpoint.as_ref().and_then(|e| e.tls_enabled),
            auth_token_path: endpoint.and_then(|e| e.auth_token_path),
        }
    }

    /// The module of that type and name, if present.
    pub fn module(&self, kind: ExtensionType, name: &str) -> Option<&ModuleEntry> {
        self.modules
            .iter()
            .find(|m| m.kind == kind && m.name == name)
    }
}

impl GiteaBlock {
    /// `host/<organization>/NAME`: Gitea serves its packages under `/v2/<organization>/NAME`.
    pub fn defaults(&self) -> ReferenceDefaults {
        ReferenceDefaults {
            registry: self.host.clone(),
            namespace: self.organization.clone(),
        }
    }
}

/// `https://host/` → (`host`, Some(true)); `http://host` → Some(false); `host` → None.
pub fn split_endpoint(endpoint: &str) -> (String, Option<bool>) {
    let (rest, tls) = if let Some(rest) = endpoint.strip_prefix("https://") {
        (rest, Some(true))
    } else if let Some(rest) = endpoint.strip_prefix("http://") {
        (rest, Some(false))
    } else if let Some(rest) = endpoint.strip_prefix("oci://") {
        (rest, None)
    } else {
        (endpoint, None)
    };
    (rest.trim_end_matches('/').to_string(), tls)
}

/// Expands a leading `~/` to the home directory.
pub fn expand_home(path: &std::path::Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => directories::BaseDirs::new()
            .map(|d| d.home_dir().join(rest))
            .unwrap_or_else(|| path.to_path_buf()),
        Err(_) => path.to_path_buf(),
    }
}
