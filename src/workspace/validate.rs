//! Reading the positioned YAML tree into a [`WorkspaceConfig`], reporting every problem at
//! once as `file:line:column` with what to do. Keys this version does not know are kept and
//! ignored, except inside a module entry, where a typo would change what is installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use semver::Version;

use super::model::*;
use super::yaml::{self, Node, Pos, Style, Value};
use crate::extension::manifest::{Diagnostic, ExtensionType, Severity};
use crate::extension::range::VersionRange;
use crate::oci::reference::tag_to_version;
use crate::oci::{Reference, ReferenceDefaults};

mod mirrors;
mod modules;
mod signatures;

/// The keys of a module mapping.
pub const MODULE_KEYS: [&str; 5] = ["name", "version", "range", "path", "source"];
/// The module lists under `modules:`.
pub const TYPE_LISTS: [(&str, ExtensionType); 3] = [
    ("providers", ExtensionType::Provider),
    ("taskservs", ExtensionType::Taskserv),
    ("clusters", ExtensionType::Cluster),
];

/// Checks `text` (`path` labels the diagnostics): the configuration and its warnings, or every
/// diagnostic found.
pub fn check(
    path: &Path,
    text: &str,
) -> Result<(WorkspaceConfig, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut checker = Checker {
        path,
        diagnostics: Vec::new(),
    };
    let config = match yaml::parse(text) {
        Ok(root) => checker.config(root.as_ref()),
        Err(e) => {
            checker.error(
                e.pos,
                "",
                e.message,
                Some("check the indentation (spaces, not tabs) and quote values containing `: ` or starting with special characters"),
            );
            WorkspaceConfig::default()
        }
    };
    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by_key(|d| (d.line, d.column));
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        Err(diagnostics)
    } else {
        Ok((config, diagnostics))
    }
}

struct Checker<'a> {
    path: &'a Path,
    diagnostics: Vec<Diagnostic>,
}

fn key_or_value(key: &Node, value: &Node) -> Pos {
    if value.is_null() { key.pos } else { value.pos }
}

impl Checker<'_> {
    fn push(
        &mut self,
        severity: Severity,
        pos: Pos,
        field: &str,
        message: String,
        hint: Option<&str>,
    ) {
        self.diagnostics.push(Diagnostic {
            path: self.path.to_path_buf(),
            line: pos.line,
            column: pos.column,
            field: field.to_string(),
            severity,
            message,
            hint: hint.map(str::to_string),
        });
    }

    fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>, hint: Option<&str>) {
        self.push(Severity::Error, pos, field, message.into(), hint);
    }

    /// A mapping at `field`, or an error; a null value is an empty mapping.
    fn mapping<'n>(&mut self, key: &Node, value: &'n Node, field: &str) -> Option<&'n Node> {
        match &value.value {
            Value::Map { .. } => Some(value),
            _ if value.is_null() => None,
            _ => {
                self.error(
                    key_or_value(key, value),
                    field,
                    format!("`{field}` must be a mapping, found {}", value.describe()),
                    None,
                );
                None
            }
        }
    }

    fn string(&mut self, key: &Node, value: &Node, field: &str) -> Option<String> {
        match &value.value {
            Value::Scalar { text, .. } if !value.is_null() => Some(text.clone()),
            _ => {
                self.error(
                    key_or_value(key, value),
                    field,
                    format!("`{field}` must be a string, found {}", value.describe()),
                    None,
                );
                None
            }
        }
    }

    fn boolean(&mut self, key: &Node, value: &Node, field: &str) -> Option<bool> {
        match &value.value {
            Value::Scalar {
                text,
                style: Style::Plain,
            } if text == "true" || text == "false" => Some(text == "true"),
            _ => {
                self.error(
                    key_or_value(key, value),
                    field,
                    format!(
                        "`{field}` must be true or false, found {}",
                        value.describe()
                    ),
                    Some("write true or false without quotes"),
                );
                None
            }
        }
    }

    fn host(&mut self, key: &Node, value: &Node, field: &str) -> Option<(String, Option<bool>)> {
        let text = self.string(key, value, field)?;
        let (host, tls) = split_endpoint(&text);
        match Reference::parse(&format!("{host}/probe"), &ReferenceDefaults::default()) {
            Ok(r) if r.registry == host => Some((host, tls)),
            _ => {
                self.error(
                    value.pos,
                    field,
                    format!("`{text}` is not a registry host"),
                    Some("write host[:port], e.g. localhost:5000 or https://harbor.example.com"),
                );
                None
            }
        }
    }

    fn token_path(&mut self, key: &Node, value: &Node, field: &str) -> Option<PathBuf> {
        self.string(key, value, field)
            .map(|p| expand_home(Path::new(&p)))
    }

    fn source_type(&mut self, key: &Node, value: &Node, field: &str) -> Option<SourceType> {
        let text = self.string(key, value, field)?;
        let parsed = SourceType::parse(&text);
        if parsed.is_none() {
            self.error(
                value.pos,
                field,
                format!("`{field}` is `{text}`, which is not a source type"),
                Some("use one of: oci, gitea, local"),
            );
        }
        parsed
    }

    fn config(&mut self, root: Option<&Node>) -> WorkspaceConfig {
        let mut config = WorkspaceConfig::default();
        let Some(root) = root else {
            return config;
        };
        let Some(entries) = root.entries() else {
            if !root.is_null() {
                self.error(
                    root.pos,
                    "",
                    format!(
                        "provisioning.yaml must be a mapping, found {}",
                        root.describe()
                    ),
                    Some("start with `dependencies:`"),
                );
            }
            return config;
        };
        let mut modules = None;
        let mut core = None;
        let mut images = None;
        for (key, value) in entries {
            match key.as_str() {
                Some("dependencies") => {
                    if let Some(deps) = self.mapping(key, value, "dependencies") {
                        for (k, v) in deps.entries().unwrap_or_default() {
                            match k.as_str() {
                                Some("core") => {
                                    core = self
                                        .mapping(k, v, "dependencies.core")
                                        .and_then(|c| c.get("source"))
                                }
                                Some("extensions") => {
                                    if let Some(ext) = self.mapping(k, v, "dependencies.extensions")
                                    {
                                        modules = self.extensions(ext, &mut config);
                                    }
                                }
                                Some("platform") => {
                                    if let Some(p) = self.mapping(k, v, "dependencies.platform") {
                                        images = self.platform(p, &mut config);
                                    }
                                }
                                Some("registry") => {
                                    if let Some(r) = self.mapping(k, v, "dependencies.registry") {
                                        self.registry(r, "dependencies.registry", &mut config);
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
                Some("registry") => {
                    if let Some(r) = self.mapping(key, value, "registry") {
                        self.registry(r, "registry", &mut config);
                    }
                }
                Some("signatures") => config.signatures = self.signatures(key, value),
                Some("mirrors") => self.mirrors(key, value, &mut config),
                Some("cache_dir") => {
                    config.cache_dir = self
                        .string(key, value, "cache_dir")
                        .map(|p| expand_home(Path::new(&p)));
                }
                _ => {}
            }
        }
        // References expand with the blocks above, wherever in the file they are written.
        if let Some((key, value)) = core {
            config.core = self.core(key, value, &config);
        }
        if let Some(images) = images {
            self.images(images, &mut config);
        }
        if let Some(modules) = modules {
            self.modules(modules, &mut config);
        }
        config
    }

    fn extensions<'n>(&mut self, ext: &'n Node, config: &mut WorkspaceConfig) -> Option<&'n Node> {
        let mut modules = None;
        for (k, v) in ext.entries().unwrap_or_default() {
            match k.as_str() {
                Some("source_type") => {
                    if let Some(t) = self.source_type(k, v, "dependencies.extensions.source_type") {
                        config.source_type = t;
                    }
                }
                Some("oci") => {
                    config.extensions_oci =
                        Some(self.oci_block(k, v, "dependencies.extensions.oci"));
                }
                Some("gitea") => config.gitea = self.gitea(k, v),
                Some("local") => {
                    if let Some(local) = self.mapping(k, v, "dependencies.extensions.local")
                        && let Some((pk, pv)) = local.get("path")
                    {
                        config.local.path = self
                            .string(pk, pv, "dependencies.extensions.local.path")
                            .map(|p| expand_home(Path::new(&p)));
                    }
                }
                Some("modules") => modules = self.mapping(k, v, "dependencies.extensions.modules"),
                _ => {}
            }
        }
        if config.source_type == SourceType::Gitea
            && config.gitea.is_none()
            && let Some((k, _)) = ext.get("source_type")
        {
            self.error(
                k.pos,
                "dependencies.extensions.source_type",
                "`source_type: gitea` needs `dependencies.extensions.gitea: {url, organization}`",
                Some("add `gitea:` with `url: https://gitea.example.com` and `organization: ORG` under `extensions:`"),
            );
        }
        modules
    }

    fn oci_block(&mut self, key: &Node, value: &Node, field: &str) -> OciBlock {
        let mut block = OciBlock::default();
        let Some(map) = self.mapping(key, value, field) else {
            return block;
        };
        for (k, v) in map.entries().unwrap_or_default() {
            let sub = format!("{field}.{}", k.as_str().unwrap_or(""));
            match k.as_str() {
                Some("registry") => {
                    if let Some((host, tls)) = self.host(k, v, &sub) {
                        block.registry = Some(host);
                        block.tls_enabled = block.tls_enabled.or(tls);
                    }
                }
                Some("namespace") => block.namespace = self.string(k, v, &sub),
                Some("tls_enabled") => block.tls_enabled = self.boolean(k, v, &sub),
                Some("auth_token_path") => block.auth_token_path = self.token_path(k, v, &sub),
                _ => {}
            }
        }
        block
    }

    fn gitea(&mut self, key: &Node, value: &Node) -> Option<GiteaBlock> {
        let field = "dependencies.extensions.gitea";
        let map = self.mapping(key, value, field)?;
        let (mut host, mut organization, mut token, mut tls) = (None, None, None, None);
        for (k, v) in map.entries().unwrap_or_default() {
            let sub = format!("{field}.{}", k.as_str().unwrap_or(""));
            match k.as_str() {
                Some("url") => {
                    if let Some((h, t)) = self.host(k, v, &sub) {
                        host = Some(h);
                        tls = tls.or(t);
                    }
                }
                Some("organization") => organization = self.string(k, v, &sub),
                Some("tls_enabled") => tls = self.boolean(k, v, &sub),
                Some("auth_token_path") => token = self.token_path(k, v, &sub),
                _ => {}
            }
        }
        let missing: Vec<&str> = [
            ("url", host.is_none()),
            ("organization", organization.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect();
        if !missing.is_empty() {
            self.error(
                key.pos,
                field,
                format!("`{field}` needs {}", missing.join(" and ")),
                Some("write `gitea: {url: https://gitea.example.com, organization: ORG}`"),
            );
            return None;
        }
        Some(GiteaBlock {
            host: host?,
            tls_enabled: tls,
            organization: organization?,
            auth_token_path: token,
        })
    }

    fn platform<'n>(&mut self, p: &'n Node, config: &mut WorkspaceConfig) -> Option<&'n Node> {
        let mut platform = Platform::default();
        let mut images = None;
        for (k, v) in p.entries().unwrap_or_default() {
            match k.as_str() {
                Some("source_type") => {
                    platform.source_type =
                        self.source_type(k, v, "dependencies.platform.source_type")
                }
                Some("oci") => {
                    platform.oci = Some(self.oci_block(k, v, "dependencies.platform.oci"))
                }
                Some("images") => images = self.mapping(k, v, "dependencies.platform.images"),
                _ => {}
            }
        }
        config.platform = Some(platform);
        images
    }

    fn images(&mut self, images: &Node, config: &mut WorkspaceConfig) {
        let defaults = config.platform_defaults();
        let mut out = Vec::new();
        for (k, v) in images.entries().unwrap_or_default() {
            let name = k.as_str().unwrap_or_default().to_string();
            let field = format!("dependencies.platform.images.{name}");
            let Some(text) = self.string(k, v, &field) else {
                continue;
            };
            match Reference::parse(&text, &defaults) {
                Ok(reference) => out.push(PlatformImage { name, reference }),
                Err(e) => self.error(v.pos, &field, format!("bad image reference: {e}"), None),
            }
        }
        if let Some(p) = config.platform.as_mut() {
            p.images = out;
        }
    }

    fn registry(&mut self, r: &Node, field: &'static str, config: &mut WorkspaceConfig) {
        let mut block = RegistryBlock {
            field,
            ..RegistryBlock::default()
        };
        for (k, v) in r.entries().unwrap_or_default() {
            match k.as_str() {
                Some("type") => {
                    let sub = format!("{field}.type");
                    if let Some(kind) = self.string(k, v, &sub) {
                        if !["oci", "gitea", "http"].contains(&kind.as_str()) {
                            self.error(
                                v.pos,
                                &sub,
                                format!("`{sub}` is `{kind}`, which is not a registry type"),
                                Some("use one of: oci, gitea, http"),
                            );
                        }
                        block.kind = Some(kind);
                    }
                }
                Some("oci") => {
                    let sub = format!("{field}.oci");
                    let Some(oci) = self.mapping(k, v, &sub) else {
                        continue;
                    };
                    for (ok, ov) in oci.entries().unwrap_or_default() {
                        let leaf = format!("{sub}.{}", ok.as_str().unwrap_or(""));
                        match ok.as_str() {
                            Some("endpoint") => {
                                if let Some((host, tls)) = self.host(ok, ov, &leaf) {
                                    block.endpoint = Some(host);
                                    block.tls_enabled = block.tls_enabled.or(tls);
                                }
                            }
                            Some("namespaces") => {
                                if let Some(ns) = self.mapping(ok, ov, &leaf) {
                                    for (nk, nv) in ns.entries().unwrap_or_default() {
                                        let purpose = nk.as_str().unwrap_or_default().to_string();
                                        if let Some(n) =
                                            self.string(nk, nv, &format!("{leaf}.{purpose}"))
                                        {
                                            block.namespaces.push((purpose, n));
                                        }
                                    }
                                }
                            }
                            Some("tls_enabled") => {
                                if let Some(t) = self.boolean(ok, ov, &leaf) {
                                    block.tls_enabled = Some(t);
                                }
                            }
                            Some("auth_token_path") => {
                                block.auth_token_path = self.token_path(ok, ov, &leaf)
                            }
                            _ => {}
                        }
                    }
                }
                Some("mirrors") => self.misplaced_mirrors(k, field),
                _ => {}
            }
        }
        if config.registry.is_some() {
            self.error(
                r.pos,
                field,
                "`registry:` is written both at the top level and under `dependencies`",
                Some("keep one of them"),
            );
        }
        config.registry = Some(block);
    }

    fn core(
        &mut self,
        key: &Node,
        value: &Node,
        config: &WorkspaceConfig,
    ) -> Option<CoreDependency> {
        let field = "dependencies.core.source";
        let source = self.string(key, value, field)?;
        let parsed = match source.strip_prefix("gitea://") {
            Some(rest) => match &config.gitea {
                Some(gitea) => Reference::parse(rest, &gitea.defaults()),
                None => {
                    self.error(value.pos, field, "a `gitea://` core needs `dependencies.extensions.gitea: {url, organization}`", None);
                    return None;
                }
            },
            None => Reference::parse(&source, &config.core_defaults()),
        };
        match parsed {
            Ok(reference) => {
                let version = reference.tag.as_deref().and_then(tag_to_version);
                if reference.tag.is_some() && version.is_none() {
                    self.error(
                        value.pos,
                        field,
                        format!(
                            "the core tag `{}` is not a version",
                            reference.tag.as_deref().unwrap_or_default()
                        ),
                        Some("pin the core like `provisioning-core:v3.5.0`"),
                    );
                }
                Some(CoreDependency {
                    source,
                    reference,
                    version,
                })
            }
            Err(e) => {
                self.error(value.pos, field, format!("bad core reference: {e}"), None);
                None
            }
        }
    }
}

impl WorkspaceConfig {
    /// Where a local module without `path` is looked for: `extensions.local.path` (else
    /// `extensions`, relative to the workspace root) `/<type>s/<name>`.
    pub fn local_dir(&self, kind: ExtensionType, name: &str) -> PathBuf {
        self.local
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from("extensions"))
            .join(kind.plural())
            .join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        check(Path::new("p.yaml"), text)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn every_problem_at_once_with_positions() {
        let text = "dependencies:\n  extensions:\n    source_type: svn\n    modules:\n      providers:\n        - \"oci://localhost:5000/ns/aws\"\n        - {name: aws, range: \"^1.x.y.z\"}\n      services:\n        - x\n      taskservs:\n        - \"redis:1.0.0\"\n        - \"redis:1.1.0\"\n";
        let errors = errors(text);
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(
            errors[0]
                .starts_with("p.yaml:3:18: error: `dependencies.extensions.source_type` is `svn`"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1]
                .starts_with("p.yaml:6:11: error: `oci://localhost:5000/ns/aws` pins no version"),
            "{}",
            errors[1]
        );
        assert!(
            errors[2].starts_with("p.yaml:7:30: error: the range `^1.x.y.z` does not parse"),
            "{}",
            errors[2]
        );
        assert!(
            errors[3].starts_with("p.yaml:8:7: error: `services` is not a module type list"),
            "{}",
            errors[3]
        );
        assert!(
            errors[4].starts_with(
                "p.yaml:12:11: error: taskserv `redis` is listed twice (first at line 11)"
            ),
            "{}",
            errors[4]
        );
    }
}
