//! `manifest.yaml`: the extension's name, type, version and dependencies.
//!
//! Parsing goes through yaml-rust2's marked events into a small tree that remembers line and
//! column of every node, so each problem can point at the exact place in the file; all problems
//! are collected before giving up, so an author fixes a manifest in one pass.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use semver::Version;
use serde::{Deserialize, Serialize};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

mod check;
mod tree;

use check::*;
use tree::*;

use super::range::{ACCEPTED_FORMS, VersionRange};
use crate::oci::{NameError, validate_repository};

/// Extension name → version range, in the order the manifest lists them.
pub type Dependencies = Vec<(String, VersionRange)>;

/// What an extension extends; decides where it is installed (`<type>s/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtensionType {
    Provider,
    Taskserv,
    Cluster,
}

impl ExtensionType {
    pub const ALL: [ExtensionType; 3] = [
        ExtensionType::Provider,
        ExtensionType::Taskserv,
        ExtensionType::Cluster,
    ];

    /// The singular spelling used in `manifest.yaml` and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExtensionType::Provider => "provider",
            ExtensionType::Taskserv => "taskserv",
            ExtensionType::Cluster => "cluster",
        }
    }

    /// The directory and git-tag spelling: `providers`, `taskservs`, `clusters`.
    pub fn plural(&self) -> &'static str {
        match self {
            ExtensionType::Provider => "providers",
            ExtensionType::Taskserv => "taskservs",
            ExtensionType::Cluster => "clusters",
        }
    }
}

impl fmt::Display for ExtensionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExtensionType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ExtensionType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not an extension type; use one of provider, taskserv, cluster")
            })
    }
}

/// An extension's `manifest.yaml`; also the OCI config blob of its artifact (as JSON).
///
/// Field order is the seed's, which is the order the JSON form is written in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionManifest {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ExtensionType,
    pub version: Version,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Extension name → range, in the file's order (a map in YAML and JSON).
    #[serde(default, with = "ordered_map", skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Dependencies,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `os/arch[/variant]`, e.g. `linux/amd64`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_provisioning_version: Option<Version>,
}

/// Fields `manifest.yaml` knows, in the seed's order.
/// The longest extension name, in bytes. A name becomes file names (`<name>-<version>.tar.gz`,
/// `schemas/<name>.ncl`) and file systems allow 255 bytes per name; this leaves room for the
/// version and the suffix.
pub const MAX_NAME_LEN: usize = 128;

pub const KNOWN_FIELDS: [&str; 12] = [
    "name",
    "type",
    "version",
    "description",
    "author",
    "license",
    "homepage",
    "repository",
    "dependencies",
    "tags",
    "platforms",
    "min_provisioning_version",
];

impl ExtensionManifest {
    /// The manifest as a JSON value. `serde_json::Map` sorts keys; use
    /// [`to_json_bytes`](Self::to_json_bytes) where the seed's key order matters.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The config blob: compact JSON with keys in the seed's order and dependencies in the
    /// file's order, so the same manifest always gives the same bytes.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a config blob back, checking what serde alone cannot (name grammar).
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, String> {
        let manifest: ExtensionManifest = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a valid extension config: {e}"))?;
        name_problem(&manifest.name).map_or(Ok(()), |why| {
            Err(format!("extension name `{}` {why}", manifest.name))
        })?;
        for (dep, _) in &manifest.dependencies {
            if let Some(why) = name_problem(dep) {
                return Err(format!("dependency name `{dep}` {why}"));
            }
        }
        Ok(manifest)
    }

    /// The range this extension requires of `name`, if it depends on it.
    pub fn dependency(&self, name: &str) -> Option<&VersionRange> {
        self.dependencies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }

    /// Checks that the manifest is the extension a command named (`oci push DIR NAME VERSION`).
    /// The version may use the tag spelling (`_` for `+`).
    pub fn check_matches(&self, name: &str, version: &str) -> Result<(), String> {
        let mut problems = Vec::new();
        if name != self.name {
            problems.push(format!(
                "manifest.yaml names the extension `{}`, not `{name}`",
                self.name
            ));
        }
        let parsed = Version::parse(version).or_else(|e| {
            if version.contains('_') {
                Version::parse(&version.replace('_', "+")).map_err(|_| e)
            } else {
                Err(e)
            }
        });
        match parsed {
            Ok(v) if v == self.version => {}
            Ok(_) => problems.push(format!(
                "manifest.yaml has version {}, not {version}",
                self.version
            )),
            Err(e) => problems.push(format!(
                "`{version}` is not a semantic version ({e}); use MAJOR.MINOR.PATCH, e.g. 1.0.0"
            )),
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Serializes `Vec<(String, VersionRange)>` as a map, keeping its order both ways.
mod ordered_map {
    use std::fmt;

    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    use crate::extension::range::VersionRange;

    pub fn serialize<S: Serializer>(
        entries: &[(String, VersionRange)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, VersionRange)>, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Vec<(String, VersionRange)>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of extension name to version range")
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, VersionRange)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, VersionRange>()? {
                    if out.iter().any(|(n, _)| *n == k) {
                        return Err(serde::de::Error::custom(format!(
                            "dependency `{k}` is listed twice"
                        )));
                    }
                    out.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_any(Ordered)
    }
}

/// How bad a [`Diagnostic`] is: errors stop packaging, warnings are shown and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem in a file, placed like a compiler message so editors can jump to it.
/// `line` and `column` are 1-based; 0 means the problem concerns the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The field concerned, e.g. `version`, `dependencies.etcd`, `platforms[1]`; empty for the
    /// document itself.
    pub field: String,
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.path.display())?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column)?;
        }
        write!(f, " {}: {}", self.severity, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A manifest that cannot be used: every diagnostic found (at least one error), in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl ManifestErrors {
    /// Only the errors, without the warnings.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestErrors {}

/// Reads and checks a `manifest.yaml`; see [`parse`].
pub fn load(path: &Path) -> Result<(ExtensionManifest, Vec<Diagnostic>), ManifestErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => {
            let message = if e.kind() == std::io::ErrorKind::InvalidData {
                "cannot read the manifest: it is not UTF-8 text".to_string()
            } else {
                format!("cannot read the manifest: {e}")
            };
            Err(ManifestErrors {
                diagnostics: vec![Diagnostic {
                    path: path.to_path_buf(),
                    line: 0,
                    column: 0,
                    field: String::new(),
                    severity: Severity::Error,
                    message,
                    hint: None,
                }],
            })
        }
    }
}

/// Parses and checks manifest text; `path` only labels the diagnostics.
///
/// On success, returns the manifest and its warnings; otherwise every diagnostic found.
pub fn parse(
    path: &Path,
    text: &str,
) -> Result<(ExtensionManifest, Vec<Diagnostic>), ManifestErrors> {
    let mut checker = Checker {
        path,
        diagnostics: Vec::new(),
    };
    let manifest = match build_tree(text) {
        Ok(root) => checker.manifest(root.as_ref()),
        Err(e) => {
            checker.push(Severity::Error, e.pos, "", e.message, e.hint);
            None
        }
    };
    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by_key(|d| (d.line, d.column));
    match manifest {
        Some(m) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => {
            Ok((m, diagnostics))
        }
        _ => Err(ManifestErrors { diagnostics }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"name: kubernetes
type: taskserv
version: 1.28.0
description: Kubernetes container orchestration platform
author: Provisioning Team
license: MIT
homepage: https://kubernetes.io
repository: https://gitea.example.com/provisioning-extensions/kubernetes
dependencies:
  containerd: ">=1.7.0"
  etcd: ">=3.5.0"
tags:
  - kubernetes
  - container-orchestration
  - cncf
platforms:
  - linux/amd64
  - linux/arm64
min_provisioning_version: "3.0.0"
"#;

    fn path() -> &'static Path {
        Path::new("ext/manifest.yaml")
    }

    fn ok(text: &str) -> (ExtensionManifest, Vec<Diagnostic>) {
        match parse(path(), text) {
            Ok(parsed) => parsed,
            Err(e) => panic!("refused:\n{e}"),
        }
    }

    fn errs(text: &str) -> Vec<Diagnostic> {
        match parse(path(), text) {
            Ok((m, _)) => panic!("accepted: {m:?}"),
            Err(e) => e.diagnostics,
        }
    }

    /// The one error diagnostic, with its position.
    fn one_error(text: &str) -> Diagnostic {
        let all = errs(text);
        let errors: Vec<_> = all
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{all:#?}");
        errors[0].clone()
    }

    fn at(d: &Diagnostic) -> (usize, usize) {
        (d.line, d.column)
    }

    #[test]
    fn seed_manifest_parses() {
        let (m, warnings) = ok(SEED);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(m.name, "kubernetes");
        assert_eq!(m.kind, ExtensionType::Taskserv);
        assert_eq!(m.kind.plural(), "taskservs");
        assert_eq!(m.version, Version::new(1, 28, 0));
        assert_eq!(m.author.as_deref(), Some("Provisioning Team"));
        assert_eq!(m.license.as_deref(), Some("MIT"));
        assert_eq!(m.homepage.as_deref(), Some("https://kubernetes.io"));
        let deps: Vec<_> = m
            .dependencies
            .iter()
            .map(|(n, r)| (n.as_str(), r.to_string()))
            .collect();
        assert_eq!(
            deps,
            [
                ("containerd", ">=1.7.0".to_string()),
                ("etcd", ">=3.5.0".to_string())
            ]
        );
        assert_eq!(m.tags, ["kubernetes", "container-orchestration", "cncf"]);
        assert_eq!(m.platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(m.min_provisioning_version, Some(Version::new(3, 0, 0)));
        assert!(
            m.dependency("etcd")
                .is_some_and(|r| r.matches(&Version::new(3, 5, 9)))
        );
        assert!(m.check_matches("kubernetes", "1.28.0").is_ok());
    }

    #[test]
    fn seed_layout_without_indentation_parses() {
        // The seed document shows list items flush with their key, which YAML allows.
        let (m, _) = ok(&SEED.replace("  - ", "- "));
        assert_eq!(m.tags.len(), 3);
    }

    #[test]
    fn json_keeps_seed_order() {
        let (m, _) = ok(SEED);
        let text = String::from_utf8(m.to_json_bytes()).unwrap();
        let order: Vec<usize> = KNOWN_FIELDS
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.find("containerd").unwrap() < text.find("etcd").unwrap());
        assert!(text.contains("\"type\":\"taskserv\""));
        let back = ExtensionManifest::from_json_slice(text.as_bytes()).unwrap();
        assert_eq!(back, m);
        assert_eq!(m.to_json()["dependencies"]["etcd"], ">=3.5.0");
        assert_eq!(
            serde_json::from_value::<ExtensionManifest>(m.to_json())
                .unwrap()
                .name,
            "kubernetes"
        );
        // Dependencies keep their order through JSON even when not alphabetical.
        let json =
            br#"{"name":"a","type":"cluster","version":"1.0.0","dependencies":{"z":"^1","b":"*"}}"#;
        let m = ExtensionManifest::from_json_slice(json).unwrap();
        assert_eq!(m.dependencies[0].0, "z");
        assert!(
            ExtensionManifest::from_json_slice(
                br#"{"name":"A","type":"cluster","version":"1.0.0"}"#
            )
            .is_err()
        );
        assert!(
            ExtensionManifest::from_json_slice(
                br#"{"name":"a","type":"clusters","version":"1.0.0"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn extension_type() {
        for t in ExtensionType::ALL {
            assert_eq!(t.as_str().parse::<ExtensionType>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert_eq!(ExtensionType::Provider.plural(), "providers");
        assert_eq!(ExtensionType::Cluster.plural(), "clusters");
        assert!("Provider".parse::<ExtensionType>().is_err());
    }

    #[test]
    fn check_matches() {
        let (m, _) = ok(SEED);
        assert!(m.check_matches("kubernetes", "1.28.0").is_ok());
        let e = m.check_matches("k8s", "1.29.0").unwrap_err();
        assert!(
            e.contains("`kubernetes`, not `k8s`") && e.contains("not 1.29.0"),
            "{e}"
        );
        assert!(
            m.check_matches("kubernetes", "1.28")
                .unwrap_err()
                .contains("MAJOR.MINOR.PATCH")
        );
        let (m, _) = ok("name: a\ntype: cluster\nversion: 1.0.0+build.1\ndescription: d\n");
        assert!(m.check_matches("a", "1.0.0_build.1").is_ok());
    }

    #[test]
    fn yaml_syntax_error_has_position() {
        let d = one_error("name: a\ntype: taskserv\nversion: \"1.0.0\nfoo: [\n");
        assert!(d.message.starts_with("invalid YAML"), "{d}");
        let d = one_error("name: a\n  type: b\n");
        assert_eq!(at(&d), (2, 7));
        assert!(d.message.contains("mapping values are not allowed"), "{d}");
        let d = one_error("name: redis\ntype:\n\tversion: 1.0.0\n");
        assert_eq!(d.line, 3);
        assert!(d.message.contains("tab"), "{d}");
    }

    #[test]
    fn not_a_mapping() {
        let d = one_error("- name: a\n- type: b\n");
        assert_eq!(at(&d), (1, 1));
        assert!(d.message.contains("not a list"), "{d}");
        let d = one_error("just text\n");
        assert!(d.message.contains("not a string"), "{d}");
        for empty in ["", "# nothing\n", "---\n", "~\n"] {
            let d = one_error(empty);
            assert_eq!(d.message, "the manifest is empty");
            assert_eq!(at(&d), (1, 1));
        }
        let d = one_error("name: a\ntype: cluster\nversion: 1.0.0\n---\nname: b\n");
        assert_eq!(d.line, 4);
        assert!(d.message.contains("more than one"), "{d}");
    }

    #[test]
    fn missing_required_fields() {
        let all = errs("description: nothing else\n");
        let missing: Vec<_> = all
            .iter()
            .map(|d| (d.field.as_str(), at(d), d.severity))
            .collect();
        assert_eq!(
            missing,
            [
                ("name", (1, 1), Severity::Error),
                ("type", (1, 1), Severity::Error),
                ("version", (1, 1), Severity::Error),
            ]
        );
        assert!(all[0].message.contains("missing required field `name`"));
    }

    #[test]
    fn missing_description_is_a_warning() {
        let (m, warnings) = ok("name: redis\ntype: taskserv\nversion: 1.0.0\n");
        assert_eq!(m.description, None);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].severity, Severity::Warning);
        assert_eq!(warnings[0].field, "description");
    }

    #[test]
    fn wrong_types() {
        let d = one_error("name: [a, b]\ntype: taskserv\nversion: 1.0.0\ndescription: x\n");
        assert_eq!((d.field.as_str(), at(&d)), ("name", (1, 7)));
        assert!(d.message.contains("must be a string, not a list"), "{d}");

        let d = one_error("name: redis\ntype: taskserv\nversion: 1.0\ndescription: x\n");
        assert_eq!((d.field.as_str(), at(&d)), ("version", (3, 10)));
        assert!(d.message.contains("is the number 1.0"), "{d}");
        assert_eq!(
            d.hint.as_deref(),
            Some("quote it and use three parts: `version: \"1.0.0\"`")
        );

        let d = one_error("name: redis\ntype: taskserv\nversion: 2\ndescription: x\n");
        assert!(d.hint.as_deref().unwrap().contains("\"2.0.0\""), "{d}");

        let d = one_error("name: redis\ntype: taskserv\nversion: 1.0.0\ndescription:\n  a: b\n");
        assert_eq!((d.field.as_str(), at(&d)), ("description", (5, 3)));
        assert!(d.message.contains("not a mapping"), "{d}");

        let d = one_error("name: redis\ntype: taskserv\nversion: 1.0.0\ntags: redis\n");
        assert_eq!((d.field.as_str(), at(&d)), ("tags", (4, 7)));
        let d = one_error("name: redis\ntype: taskserv\nversion: 1.0.0\ntags: [a, [b]]\n");
        assert_eq!((d.field.as_str(), at(&d)), ("tags[1]", (4, 11)));
        let d = one_error("name: redis\ntype: taskserv\nversion: 1.0.0\ndependencies: [a]\n");
        assert_eq!((d.field.as_str(), at(&d)), ("dependencies", (4, 15)));
        let d = one_error("name:\ntype: taskserv\nversion: 1.0.0\n");
        assert_eq!((d.field.as_str(), at(&d)), ("name", (1, 1)));
        assert!(d.message.contains("is empty"));
    }

    #[test]
    fn quoted_numbers_and_tags_are_strings() {
        let (m, _) = ok(
            "name: '7zip'\ntype: provider\nversion: !!str 1.0.0\nauthor: 2024\nlicense: 0BSD\ndescription: x\n",
        );
        assert_eq!(m.name, "7zip");
        assert_eq!(m.author.as_deref(), Some("2024"));
    }

    #[test]
    fn bad_name() {
        let d = one_error("name: Kubernetes\ntype: taskserv\nversion: 1.0.0\n");
        assert_eq!((d.field.as_str(), at(&d)), ("name", (1, 7)));
        assert!(d.message.contains("uppercase"), "{d}");
        let d = one_error("name: ext/kubernetes\ntype: taskserv\nversion: 1.0.0\n");
        assert!(d.message.contains("without `/`"), "{d}");
        let d = one_error("name: \"my_ext_\"\ntype: taskserv\nversion: 1.0.0\n");
        assert_eq!(at(&d), (1, 7));
    }

    #[test]
    fn bad_type() {
        let d = one_error("name: a\ntype: taskservs\nversion: 1.0.0\n");
        assert_eq!((d.field.as_str(), at(&d)), ("type", (2, 7)));
        assert_eq!(
            d.hint.as_deref(),
            Some("did you mean `taskserv`? use one of: provider, taskserv, cluster")
        );
        let d = one_error("name: a\ntype: plugin\nversion: 1.0.0\n");
        assert_eq!(d.hint.as_deref(), Some(TYPE_HINT));
    }

    #[test]
    fn bad_version() {
        let d = one_error("name: a\ntype: cluster\nversion: \"1.0\"\n");
        assert_eq!((d.field.as_str(), at(&d)), ("version", (3, 10)));
        assert!(d.message.contains("not a semantic version"), "{d}");
        assert_eq!(d.hint.as_deref(), Some(VERSION_HINT));
        let d = one_error("name: a\ntype: cluster\nversion: v1.0.0\n");
        assert_eq!(d.hint.as_deref(), Some("drop the leading `v`: 1.0.0"));
        let d =
            one_error("name: a\ntype: cluster\nversion: 1.0.0\nmin_provisioning_version: 3.x\n");
        assert_eq!(
            (d.field.as_str(), at(&d)),
            ("min_provisioning_version", (4, 27))
        );
        let d =
            one_error("name: a\ntype: cluster\nversion: 1.0.0\nmin_provisioning_version: 3.5\n");
        assert!(d.message.contains("number"), "{d}");
    }

    #[test]
    fn bad_dependencies() {
        let text = "name: web\ntype: cluster\nversion: 1.0.0\ndependencies:\n  kubernetes: \">>1.28\"\n  Cilium: \"^1.14\"\n  web: \"*\"\n  redis:\n  postgres: \">=15\"\n  postgres: \">=16\"\n";
        let all: Vec<_> = errs(text)
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        let got: Vec<_> = all.iter().map(|d| (d.field.as_str(), at(d))).collect();
        assert_eq!(
            got,
            [
                ("dependencies.kubernetes", (5, 15)),
                ("dependencies.Cilium", (6, 3)),
                ("dependencies.web", (7, 3)),
                ("dependencies.redis", (8, 3)),
                ("dependencies.postgres", (10, 3)),
            ]
        );
        assert!(
            all[0].message.contains("unknown operator `>>`"),
            "{}",
            all[0]
        );
        assert!(all[0].hint.as_deref().unwrap().contains("accepted forms"));
        assert!(all[2].message.contains("depends on itself"));
        assert!(all[3].message.contains("no version range"));
        assert!(all[4].message.contains("duplicate dependency"));
    }

    #[test]
    fn fixture_ranges_in_manifests() {
        let (m, _) = ok(
            "name: cilium\ntype: taskserv\nversion: 1.14.0\ndescription: x\ndependencies: {kubernetes: \">=1.26.0, <1.30.0\", etcd: ^3.5, os: ~1.1}\n",
        );
        assert_eq!(m.dependencies.len(), 3);
        assert!(
            m.dependency("kubernetes")
                .unwrap()
                .matches(&Version::new(1, 29, 3))
        );
        assert!(
            !m.dependency("kubernetes")
                .unwrap()
                .matches(&Version::new(1, 31, 1))
        );
    }

    #[test]
    fn bad_platforms() {
        let d = one_error(
            "name: a\ntype: cluster\nversion: 1.0.0\nplatforms:\n  - linux/amd64\n  - linux\n  - linux/arm/v7\n",
        );
        assert_eq!((d.field.as_str(), at(&d)), ("platforms[1]", (6, 5)));
        assert_eq!(d.hint.as_deref(), Some(PLATFORM_HINT));
        for bad in ["linux/", "/amd64", "Linux/amd64", "a/b/c/d", "linux amd64"] {
            assert!(!valid_platform(bad), "{bad}");
        }
    }

    #[test]
    fn bare_versions_and_ruby_tilde_in_ranges_warn() {
        let (m, warnings) = ok(
            "name: a\ntype: cluster\nversion: 1.0.0\ndescription: x\ndependencies:\n  os: \"1.2.3\"\n  etcd: \"~> 3.5\"\n  redis: \"^7.0\"\n",
        );
        assert_eq!(m.dependencies.len(), 3, "still accepted");
        let shown: Vec<(&str, (usize, usize))> =
            warnings.iter().map(|w| (w.field.as_str(), at(w))).collect();
        assert_eq!(
            shown,
            [("dependencies.os", (6, 7)), ("dependencies.etcd", (7, 9))]
        );
        assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
        assert!(
            warnings[0].message.contains("means exactly 1.2.3"),
            "{}",
            warnings[0].message
        );
        assert!(
            warnings[1].message.contains("is read as `~3.5`"),
            "{}",
            warnings[1].message
        );
    }

    #[test]
    fn unknown_fields_warn() {
        let (m, warnings) = ok(
            "name: a\ntype: cluster\nversion: 1.0.0\ndescription: x\nverison: 1.0.0\nmaintainers: [me]\n",
        );
        assert_eq!(m.name, "a");
        assert_eq!(warnings.len(), 2);
        assert_eq!(
            (warnings[0].field.as_str(), at(&warnings[0])),
            ("verison", (5, 1))
        );
        assert!(
            warnings[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("did you mean `version`? known fields: name, type")
        );
        assert!(
            warnings[1]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("known fields:")
        );
        assert_eq!(warnings[0].severity, Severity::Warning);
    }

    #[test]
    fn duplicate_keys() {
        let d = one_error("name: a\ntype: cluster\nversion: 1.0.0\nname: b\n");
        assert_eq!((d.field.as_str(), at(&d)), ("name", (4, 1)));
        assert!(d.message.contains("first given at line 1"), "{d}");
    }

    #[test]
    fn all_problems_at_once() {
        let text = "name: Bad_\ntype: plugin\nversion: 1.0\ndependencies:\n  x: \"1.2.3.4\"\nplatforms: [linux]\ntagz: []\n";
        let all = errs(text);
        let got: Vec<_> = all.iter().map(|d| (d.field.as_str(), d.severity)).collect();
        assert_eq!(
            got,
            [
                ("description", Severity::Warning),
                ("name", Severity::Error),
                ("type", Severity::Error),
                ("version", Severity::Error),
                ("dependencies.x", Severity::Error),
                ("platforms[0]", Severity::Error),
                ("tagz", Severity::Warning),
            ]
        );
        let shown = ManifestErrors { diagnostics: all }.to_string();
        assert!(
            shown.contains("\next/manifest.yaml:1:7: error: extension name `Bad_`"),
            "{shown}"
        );
        assert!(shown.contains("\n  hint: "), "{shown}");
        assert!(
            shown.contains("ext/manifest.yaml:7:1: warning: unknown field `tagz`"),
            "{shown}"
        );
    }

    #[test]
    fn diagnostic_display() {
        let d = Diagnostic {
            path: PathBuf::from("m.yaml"),
            line: 3,
            column: 10,
            field: "version".into(),
            severity: Severity::Error,
            message: "bad".into(),
            hint: Some("fix it".into()),
        };
        assert_eq!(d.to_string(), "m.yaml:3:10: error: bad\n  hint: fix it");
        let whole = Diagnostic {
            line: 0,
            column: 0,
            hint: None,
            ..d
        };
        assert_eq!(whole.to_string(), "m.yaml: error: bad");
    }

    #[test]
    fn load_reports_unreadable_files() {
        let e = load(Path::new("/nonexistent/manifest.yaml")).unwrap_err();
        assert_eq!(e.diagnostics.len(), 1);
        assert!(
            e.to_string()
                .starts_with("/nonexistent/manifest.yaml: error: cannot read")
        );
    }

    #[test]
    fn aliases_expand_with_a_limit() {
        let (m, _) = ok("name: &n redis\ntype: taskserv\nversion: 1.0.0\ndescription: *n\n");
        assert_eq!(m.description.as_deref(), Some("redis"));
        let mut bomb = String::from("a: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let d = one_error(&bomb);
        assert!(d.message.contains("too many nodes"), "{d}");
        let deep = format!("name: {}{}\n", "[".repeat(200), "]".repeat(200));
        assert!(one_error(&deep).message.contains("nested too deeply"));
    }

    #[test]
    fn malformed_inputs_never_panic() {
        let mut inputs: Vec<String> = [
            "",
            ":",
            "::",
            "- -",
            "? a\n: b\n",
            "? [a]\n: b\n",
            "[a]: b\n",
            "{a: b}: c\n",
            "&a",
            "*a",
            "a: *b\n",
            "a: &x\n  b: *x\n",
            "\"",
            "'",
            "name: \"\\x\"\n",
            "%YAML 1.2\n---\na: b\n",
            "%TAG ! tag:x,2000:\n--- !a\nb: c\n",
            "!!map\n",
            "a: !!binary x\n",
            "---\n---\n",
            "...\n",
            "a:\n- b\n-c\n",
            "a: |\n  b\n c\n",
            "a: >\n",
            "{",
            "[",
            "}",
            "]",
            "a: {b: [c: d]}\n",
            "\u{feff}name: a\n",
            "name: a\r\ntype: cluster\r\nversion: 1.0.0\r\n",
            "\0",
            "a: b #c\n#",
            "dependencies:\n  ? [x]\n  : y\n",
            "dependencies: {a: {b: c}}\n",
            "tags: [~, null, '']\n",
            "platforms: [[], {}]\n",
            "version: .inf\n",
            "version: 0x1F\n",
            "version: -1\n",
            "version: [1, 0, 0]\n",
            "type: {a: b}\n",
            "1: 2\n",
            "true: false\n",
            "null: x\n",
            "~: x\n",
            "\t",
            " \n  \n",
            "a: 'b\n",
            "a: \"b\\\n",
            "- ? a\n",
            "a: b: c\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every prefix of a full manifest, and every single-character deletion of it.
        let full = SEED.to_string();
        for (i, _) in full.char_indices() {
            inputs.push(full[..i].to_string());
            let mut cut = full.clone();
            cut.remove(i);
            inputs.push(cut);
        }
        for input in &inputs {
            match parse(path(), input) {
                Ok(_) => {}
                Err(e) => {
                    assert!(e.errors().next().is_some(), "{input:?}: no error in {e}");
                    for d in &e.diagnostics {
                        assert!(d.line >= 1 && d.column >= 1, "{input:?}: {d}");
                    }
                }
            }
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("verison", "version"), 2);
        assert_eq!(edit_distance("tag", "tags"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            with_suggestion("Name", &KNOWN_FIELDS, "h"),
            "did you mean `name`? h"
        );
    }
}
