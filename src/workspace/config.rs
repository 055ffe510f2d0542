//! Reading `config/provisioning.yaml`: the registry settings the client needs. Keys this
//! version does not know are ignored, never refused.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A workspace found on disk.
#[derive(Clone, Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub config: WorkspaceConfig,
}

/// Why a workspace cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{}: no config/provisioning.yaml here; create one with a `dependencies:` section or pass another --workspace", .0.display())]
    NotAWorkspace(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// The parts of `provisioning.yaml` the OCI client uses.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WorkspaceConfig {
    #[serde(default)]
    pub dependencies: Dependencies,
    /// `registry:` at top level (the seed also allows it under `dependencies`).
    #[serde(default)]
    pub registry: Option<RegistrySection>,
    /// Where the OCI cache lives, if not the default.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Dependencies {
    #[serde(default)]
    pub extensions: Option<ExtensionsSection>,
    #[serde(default)]
    pub registry: Option<RegistrySection>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ExtensionsSection {
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub oci: Option<OciSettings>,
}

/// `dependencies.extensions.oci`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OciSettings {
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub tls_enabled: Option<bool>,
    #[serde(default)]
    pub auth_token_path: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegistrySection {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub oci: Option<RegistryOci>,
}

/// `registry.oci`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegistryOci {
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub namespaces: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub tls_enabled: Option<bool>,
    #[serde(default)]
    pub auth_token_path: Option<PathBuf>,
}

/// The registry settings a workspace resolves to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EffectiveRegistry {
    pub registry: Option<String>,
    pub namespace: Option<String>,
    pub tls_enabled: Option<bool>,
    pub auth_token_path: Option<PathBuf>,
}

impl WorkspaceConfig {
    /// Parses YAML text; errors carry the line and column.
    pub fn parse(path: &Path, text: &str) -> Result<WorkspaceConfig, WorkspaceError> {
        if text.trim().is_empty() {
            return Ok(WorkspaceConfig::default());
        }
        serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            WorkspaceError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.to_string(),
            }
        })
    }

    /// `dependencies.extensions.oci` first, then `registry.oci` (top level or under
    /// `dependencies`), field by field.
    pub fn effective_registry(&self) -> EffectiveRegistry {
        let ext = self
            .dependencies
            .extensions
            .as_ref()
            .and_then(|e| e.oci.clone())
            .unwrap_or_default();
        let reg = self
            .registry
            .as_ref()
            .or(self.dependencies.registry.as_ref())
            .and_then(|r| r.oci.clone())
            .unwrap_or_default();
        let (endpoint, endpoint_tls) = match reg.endpoint.as_deref() {
            Some(e) => {
                let (host, tls) = strip_scheme(e);
                (Some(host), tls)
            }
            None => (None, None),
        };
        EffectiveRegistry {
            registry: ext.registry.map(|r| strip_scheme(&r).0).or(endpoint),
            namespace: ext
                .namespace
                .or_else(|| reg.namespaces.get("extensions").cloned()),
            tls_enabled: ext.tls_enabled.or(reg.tls_enabled).or(endpoint_tls),
            auth_token_path: ext
                .auth_token_path
                .or(reg.auth_token_path)
                .map(|p| expand_home(&p)),
        }
    }
}

/// `https://host/` → (`host`, Some(true)); `host` → (`host`, None).
fn strip_scheme(endpoint: &str) -> (String, Option<bool>) {
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

/// Expands a leading `~/`.
pub fn expand_home(path: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => directories::BaseDirs::new()
            .map(|d| d.home_dir().join(rest))
            .unwrap_or_else(|| path.to_path_buf()),
        Err(_) => path.to_path_buf(),
    }
}

impl Workspace {
    /// Loads the workspace at `root`.
    pub fn load(root: &Path) -> Result<Workspace, WorkspaceError> {
        let config_path = root.join("config").join("provisioning.yaml");
        if !config_path.is_file() {
            return Err(WorkspaceError::NotAWorkspace(root.to_path_buf()));
        }
        let text =
            std::fs::read_to_string(&config_path).map_err(|source| WorkspaceError::Read {
                path: config_path.clone(),
                source,
            })?;
        let config = WorkspaceConfig::parse(&config_path, &text)?;
        Ok(Workspace {
            root: root.to_path_buf(),
            config_path,
            config,
        })
    }

    /// `explicit` (from `--workspace`), else `$PROVISIONING_WORKSPACE`, else the nearest
    /// directory upward from `start` with `config/provisioning.yaml`; `None` when there is none.
    pub fn discover(
        explicit: Option<&Path>,
        start: &Path,
    ) -> Result<Option<Workspace>, WorkspaceError> {
        if let Some(dir) = explicit {
            return Workspace::load(dir).map(Some);
        }
        if let Some(dir) = std::env::var_os("PROVISIONING_WORKSPACE") {
            return Workspace::load(Path::new(&dir)).map(Some);
        }
        for dir in start.ancestors() {
            if dir.join("config").join("provisioning.yaml").is_file() {
                return Workspace::load(dir).map(Some);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
dependencies:
  core:
    source: "oci://harbor.company.com/provisioning-core:v3.5.0"
  extensions:
    source_type: "oci"
    oci:
      registry: "localhost:5000"
      namespace: "provisioning-extensions"
      tls_enabled: false
      auth_token_path: "~/.provisioning/tokens/oci"
    modules:
      providers:
        - "oci://localhost:5000/provisioning-extensions/aws:2.0.0"
  platform:
    source_type: "oci"
registry:
  type: "oci"
  oci:
    endpoint: "localhost:5000"
    namespaces:
      extensions: "provisioning-extensions"
      platform: "provisioning-platform"
"#;

    #[test]
    fn seed_config() {
        let config = WorkspaceConfig::parse(Path::new("p.yaml"), SEED).unwrap();
        let eff = config.effective_registry();
        assert_eq!(eff.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(eff.namespace.as_deref(), Some("provisioning-extensions"));
        assert_eq!(eff.tls_enabled, Some(false));
        assert!(
            eff.auth_token_path
                .unwrap()
                .ends_with(".provisioning/tokens/oci")
        );
    }

    #[test]
    fn registry_section_under_dependencies() {
        let text = "dependencies:\n  registry:\n    type: oci\n    oci:\n      endpoint: \"https://harbor.company.com\"\n      namespaces:\n        extensions: \"provisioning/extensions\"\n";
        let eff = WorkspaceConfig::parse(Path::new("p.yaml"), text)
            .unwrap()
            .effective_registry();
        assert_eq!(eff.registry.as_deref(), Some("harbor.company.com"));
        assert_eq!(eff.namespace.as_deref(), Some("provisioning/extensions"));
        assert_eq!(eff.tls_enabled, Some(true));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = WorkspaceConfig::parse(
            Path::new("ws/config/provisioning.yaml"),
            "dependencies:\n  extensions: [\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("ws/config/provisioning.yaml:"), "{text}");
        assert!(matches!(err, WorkspaceError::Syntax { line, .. } if line >= 2));
    }
}
