//! `workspace init`: a commented `config/provisioning.yaml` in the seed's layout, with empty
//! module lists.

use std::path::{Path, PathBuf};

use super::edit::quoted;
use super::{CONFIG_FILE, ConfigFile, WorkspaceError, validate};
use crate::oci::reference::{DEFAULT_NAMESPACE, DEFAULT_REGISTRY};

/// What `workspace init` writes.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// `host[:port]` (a scheme is accepted and kept out of the file).
    pub registry: Option<String>,
    pub namespace: Option<String>,
    /// The core reference (`oci://…/provisioning-core:v3.5.0`, `gitea://provisioning-core`).
    pub core: Option<String>,
}

/// Whether a registry host is this machine (plain HTTP is the norm there).
fn is_loopback(host: &str) -> bool {
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// The configuration text for `options`.
pub fn render(options: &InitOptions) -> String {
    let (registry, scheme_tls) =
        super::model::split_endpoint(options.registry.as_deref().unwrap_or(DEFAULT_REGISTRY));
    let tls = scheme_tls.unwrap_or(!is_loopback(&registry));
    let namespace = options.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let core = match &options.core {
        Some(core) => format!("    source: {}\n", quoted(core)),
        None => format!("    # source: \"oci://{registry}/provisioning-core:v3.5.0\"\n"),
    };
    format!(
        r#"# Workspace configuration: which extensions this infrastructure uses, and from where.
# `provisioning module load|unload` edit the module lists and keep these comments.

# Core system dependency
dependencies:
  core:
{core}    # Alternative: source: "gitea://provisioning-core"

  # Extensions repository configuration
  extensions:
    source_type: "oci" # oci, gitea, local

    # OCI registry configuration
    oci:
      registry: {registry_q}
      namespace: {namespace_q}
      tls_enabled: {tls}
      # auth_token_path: "~/.provisioning/tokens/oci"

    # Loaded extension modules: the seed's pinned references
    # ("oci://{registry}/{namespace}/NAME:VERSION"), or mappings:
    #   {{name: cilium, range: "^1.14"}}  {{name: redis, path: ../extensions/taskservs/redis}}
    modules:
      providers: []
      taskservs: []
      clusters: []

  # Platform services
  platform:
    source_type: "oci"
    images: {{}}

# OCI registry configuration
registry:
  type: "oci" # oci, gitea, http
  oci:
    endpoint: {registry_q}
    namespaces:
      extensions: {namespace_q}
      platform: "provisioning-platform"
    tls_enabled: {tls}
"#,
        registry_q = quoted(&registry),
        namespace_q = quoted(namespace),
    )
}

/// The directory `workspace init --name NAME` creates.
pub fn named_root(name: &str) -> Result<PathBuf, String> {
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid {
        return Err(format!(
            "`{name}` is not a workspace name: use letters, digits, `-`, `_` and `.`"
        ));
    }
    Ok(super::workspaces_dir().join(name))
}

/// Writes `root/config/provisioning.yaml`; refuses an existing one. Returns the file's path.
pub fn init(root: &Path, options: &InitOptions) -> Result<PathBuf, WorkspaceError> {
    let path = root.join(CONFIG_FILE);
    if path.exists() {
        return Err(WorkspaceError::Exists(path));
    }
    let text = render(options);
    // What init writes must read back: a bad --registry or --core is refused here.
    validate::check(&path, &text).map_err(WorkspaceError::Invalid)?;
    let dir = path.parent().expect("config dir");
    std::fs::create_dir_all(dir).map_err(|source| WorkspaceError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    ConfigFile::new(&path, text).save()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_file_reads_back() {
        let text = render(&InitOptions {
            registry: Some("https://harbor.example.com".into()),
            namespace: Some("team/ext".into()),
            core: Some("oci://harbor.example.com/provisioning-core:v3.5.0".into()),
        });
        let (config, _) = validate::check(Path::new("p.yaml"), &text).unwrap();
        assert!(config.modules.is_empty());
        let defaults = config.oci_defaults();
        assert_eq!(defaults.registry, "harbor.example.com");
        assert_eq!(defaults.namespace, "team/ext");
        assert_eq!(
            config.core.unwrap().version,
            Some(semver::Version::new(3, 5, 0))
        );
        assert!(text.contains("tls_enabled: true"));
        let local = render(&InitOptions::default());
        assert!(local.contains("tls_enabled: false"));
    }
}
