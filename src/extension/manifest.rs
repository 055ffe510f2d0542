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

// ---------------------------------------------------------------------------------------------
// The spanned tree.

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    pos: Pos,
    value: Value,
}

#[derive(Debug, Clone)]
enum Value {
    /// `plain` scalars are subject to YAML's type resolution (`1.0` is a number).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScalarKind {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

impl Node {
    fn scalar_kind(&self) -> Option<ScalarKind> {
        match &self.value {
            Value::Scalar { text, plain: true } => Some(resolve_plain(text)),
            Value::Scalar { plain: false, .. } => Some(ScalarKind::Str),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        self.scalar_kind() == Some(ScalarKind::Null)
    }

    fn describe(&self) -> &'static str {
        match (&self.value, self.scalar_kind()) {
            (Value::Seq(_), _) => "a list",
            (Value::Map(_), _) => "a mapping",
            (_, Some(ScalarKind::Null)) => "empty",
            (_, Some(ScalarKind::Bool)) => "a boolean",
            (_, Some(ScalarKind::Int | ScalarKind::Float)) => "a number",
            _ => "a string",
        }
    }
}

fn resolve_plain(text: &str) -> ScalarKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarKind::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return ScalarKind::Bool,
        ".inf" | ".Inf" | ".INF" | "-.inf" | "-.Inf" | "-.INF" | "+.inf" | "+.Inf" | "+.INF"
        | ".nan" | ".NaN" | ".NAN" => return ScalarKind::Float,
        _ => {}
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(hex) = text.strip_prefix("0x") {
        return if digits(hex, 16) {
            ScalarKind::Int
        } else {
            ScalarKind::Str
        };
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return if digits(oct, 8) {
            ScalarKind::Int
        } else {
            ScalarKind::Str
        };
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits(unsigned, 10) {
        return ScalarKind::Int;
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() || digits(int, 10))
                && (frac.is_empty() || digits(frac, 10))
                && !(int.is_empty() && frac.is_empty())
        }
        None => digits(mantissa, 10),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    if mantissa_ok && exponent_ok {
        ScalarKind::Float
    } else {
        ScalarKind::Str
    }
}

struct TreeError {
    pos: Pos,
    message: String,
    hint: Option<String>,
}

/// Nesting deeper than this is refused: no manifest needs it, and it bounds recursion.
const MAX_DEPTH: usize = 32;
/// Nodes produced by alias expansion, bounding "billion laughs" documents.
const MAX_ALIAS_NODES: usize = 10_000;

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Turns marked events into a [`Node`] tree; stops at the first problem.
#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    documents: usize,
    root: Option<Node>,
    alias_nodes: usize,
    error: Option<TreeError>,
}

impl TreeBuilder {
    fn fail(&mut self, pos: Pos, message: impl Into<String>, hint: Option<&str>) {
        if self.error.is_none() {
            self.error = Some(TreeError {
                pos,
                message: message.into(),
                hint: hint.map(str::to_string),
            });
        }
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn open(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(pos, "the document is nested too deeply", None);
        } else {
            self.stack.push(frame);
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = Pos::from(mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        pos,
                        "manifest.yaml holds more than one YAML document",
                        Some("keep one document; remove the `---` separator and what follows"),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let explicit_str = tag.is_some_and(|t| t.suffix == "str");
                let plain = style == TScalarStyle::Plain && !explicit_str;
                self.complete(
                    Node {
                        pos,
                        value: Value::Scalar { text, plain },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => self.open(
                Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                },
                pos,
            ),
            Event::MappingStart(anchor, _) => self.open(
                Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                },
                pos,
            ),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => {
                    // A block sequence's event sits on its first item; use that.
                    let pos = items.first().map_or(pos, |n| min_pos(pos, n.pos));
                    self.complete(
                        Node {
                            pos,
                            value: Value::Seq(items),
                        },
                        anchor,
                    );
                }
                Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    ..
                }) => {
                    // A block mapping's event sits after its first key; the key is the start.
                    let pos = entries.first().map_or(pos, |(k, _)| min_pos(pos, k.pos));
                    self.complete(
                        Node {
                            pos,
                            value: Value::Map(entries),
                        },
                        anchor,
                    );
                }
                None => self.fail(pos, "unbalanced YAML structure", None),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    self.alias_nodes += count_nodes(node);
                    if self.alias_nodes > MAX_ALIAS_NODES {
                        self.fail(
                            pos,
                            "aliases expand to too many nodes",
                            Some("write the values out instead of using `*alias`"),
                        );
                    } else {
                        let mut node = node.clone();
                        node.pos = pos;
                        self.complete(node, 0);
                    }
                }
                None => self.fail(pos, "alias to an unknown anchor", None),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

fn min_pos(a: Pos, b: Pos) -> Pos {
    if (b.line, b.column) < (a.line, a.column) {
        b
    } else {
        a
    }
}

/// The document's root node, or `None` for an empty stream.
fn build_tree(text: &str) -> Result<Option<Node>, TreeError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = TreeBuilder::default();
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((ev, mark)) => {
                builder.on_event(ev, mark);
                if let Some(e) = builder.error.take() {
                    return Err(e);
                }
            }
            Err(e) => {
                return Err(TreeError {
                    pos: Pos::from(*e.marker()),
                    message: format!("invalid YAML: {}", e.info()),
                    hint: Some(
                        "check the indentation (spaces, not tabs) and quote values containing `: ` or starting with special characters"
                            .to_string(),
                    ),
                });
            }
        }
    }
    Ok(builder.root)
}

// ---------------------------------------------------------------------------------------------
// Field checks.

struct Checker<'a> {
    path: &'a Path,
    diagnostics: Vec<Diagnostic>,
}

const VERSION_HINT: &str = "use MAJOR.MINOR.PATCH, e.g. 1.0.0";
const TYPE_HINT: &str = "use one of: provider, taskserv, cluster";
const PLATFORM_HINT: &str = "write os/arch[/variant], e.g. linux/amd64, linux/arm64, linux/arm/v7";

/// Where a value's problem should point: an empty value has no position of its own, so its key.
fn value_pos(key: &Node, value: &Node) -> Pos {
    match &value.value {
        Value::Scalar { text, plain: true } if text.is_empty() => key.pos,
        _ => value.pos,
    }
}

impl Checker<'_> {
    fn push(
        &mut self,
        severity: Severity,
        pos: Pos,
        field: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            path: self.path.to_path_buf(),
            line: pos.line,
            column: pos.column,
            field: field.to_string(),
            severity,
            message: message.into(),
            hint,
        });
    }

    fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>, hint: Option<&str>) {
        self.push(
            Severity::Error,
            pos,
            field,
            message,
            hint.map(str::to_string),
        );
    }

    fn manifest(&mut self, root: Option<&Node>) -> Option<ExtensionManifest> {
        let start = Pos { line: 1, column: 1 };
        let example = "start with `name: my-extension`, `type: taskserv` and `version: 1.0.0`";
        let entries = match root {
            None => {
                self.error(start, "", "the manifest is empty", Some(example));
                return None;
            }
            Some(node) => match &node.value {
                Value::Map(entries) => entries,
                _ if node.is_null() => {
                    self.error(start, "", "the manifest is empty", Some(example));
                    return None;
                }
                _ => {
                    self.error(
                        node.pos,
                        "",
                        format!(
                            "the manifest must be a mapping of fields (`name: …`), not {}",
                            node.describe()
                        ),
                        Some(example),
                    );
                    return None;
                }
            },
        };
        let root_pos = root.map_or(start, |n| n.pos);

        let mut seen: HashMap<String, Pos> = HashMap::new();
        let mut name = None;
        let mut kind = None;
        let mut version = None;
        let mut description = None;
        let mut author = None;
        let mut license = None;
        let mut homepage = None;
        let mut repository = None;
        let mut dependencies = Vec::new();
        let mut dependency_keys = Vec::new();
        let mut tags = Vec::new();
        let mut platforms = Vec::new();
        let mut min_provisioning_version = None;
        let mut present = Vec::new();

        for (key, value) in entries {
            let Value::Scalar { text: field, .. } = &key.value else {
                self.error(
                    key.pos,
                    "",
                    format!("a field name must be a plain word, not {}", key.describe()),
                    None,
                );
                continue;
            };
            if let Some(first) = seen.get(field) {
                let message = format!(
                    "duplicate key `{field}` (first given at line {})",
                    first.line
                );
                self.error(key.pos, field, message, Some("keep only one of them"));
                continue;
            }
            seen.insert(field.clone(), key.pos);
            present.push(field.as_str());
            match field.as_str() {
                "name" => {
                    if let Some(text) = self.required_string(key, value, field)
                        && self.check_name(value_pos(key, value), field, &text, "extension name")
                    {
                        name = Some(text);
                    }
                }
                "type" => {
                    if let Some(text) = self.required_string(key, value, field) {
                        match text.parse::<ExtensionType>() {
                            Ok(t) => kind = Some(t),
                            Err(_) => {
                                let hint = with_suggestion(
                                    &text,
                                    &["provider", "taskserv", "cluster"],
                                    TYPE_HINT,
                                );
                                self.push(
                                    Severity::Error,
                                    value_pos(key, value),
                                    field,
                                    format!("`type` `{text}` is not an extension type"),
                                    Some(hint),
                                );
                            }
                        }
                    }
                }
                "version" => version = self.version(key, value, field, true),
                "min_provisioning_version" => {
                    min_provisioning_version = self.version(key, value, field, false)
                }
                "description" => description = self.optional_string(key, value, field),
                "author" => author = self.optional_string(key, value, field),
                "license" => license = self.optional_string(key, value, field),
                "homepage" => homepage = self.optional_string(key, value, field),
                "repository" => repository = self.optional_string(key, value, field),
                "dependencies" => {
                    (dependencies, dependency_keys) = self.dependencies(key, value);
                }
                "tags" => {
                    tags = self.list(key, value, field, |c, pos, f, text| {
                        if text.trim().is_empty() {
                            c.error(pos, f, "a tag is empty", None);
                            false
                        } else {
                            true
                        }
                    })
                }
                "platforms" => {
                    platforms = self.list(key, value, field, |c, pos, f, text| {
                        if valid_platform(text) {
                            true
                        } else {
                            c.error(
                                pos,
                                f,
                                format!("platform `{text}` is not of the form os/arch[/variant]"),
                                Some(PLATFORM_HINT),
                            );
                            false
                        }
                    })
                }
                other => {
                    let known = KNOWN_FIELDS.join(", ");
                    let hint =
                        with_suggestion(other, &KNOWN_FIELDS, &format!("known fields: {known}"));
                    self.push(
                        Severity::Warning,
                        key.pos,
                        other,
                        format!("unknown field `{other}` is ignored"),
                        Some(hint),
                    );
                }
            }
        }

        for (field, hint) in [
            (
                "name",
                "add `name: my-extension` (lowercase letters, digits, `-`)",
            ),
            ("type", "add `type: taskserv` (or provider, cluster)"),
            ("version", "add `version: 1.0.0`"),
        ] {
            if !present.contains(&field) {
                self.error(
                    root_pos,
                    field,
                    format!("missing required field `{field}`"),
                    Some(hint),
                );
            }
        }
        if description.is_none() && !self.diagnostics.iter().any(|d| d.field == "description") {
            self.push(
                Severity::Warning,
                root_pos,
                "description",
                "no `description`",
                Some("add a one-line description; registries and `oci search` show it".into()),
            );
        }
        if let Some(own) = &name {
            for (dep, pos) in &dependency_keys {
                if dep == own {
                    self.error(
                        *pos,
                        &format!("dependencies.{dep}"),
                        format!("extension `{own}` depends on itself"),
                        Some("remove this dependency"),
                    );
                }
            }
        }

        Some(ExtensionManifest {
            name: name?,
            kind: kind?,
            version: version?,
            description,
            author,
            license,
            homepage,
            repository,
            dependencies,
            tags,
            platforms,
            min_provisioning_version,
        })
    }

    /// A scalar's text, or an error when the value is a list or mapping. Plain numbers and
    /// booleans are taken as written: `license: 0BSD` or `author: 2024` mean what they say.
    fn scalar_text(&mut self, key: &Node, value: &Node, field: &str) -> Option<String> {
        match &value.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => {
                self.error(
                    value.pos,
                    field,
                    format!("`{field}` must be a string, not {}", value.describe()),
                    Some(&format!("write `{}: some text` on one line", key_text(key))),
                );
                None
            }
        }
    }

    fn required_string(&mut self, key: &Node, value: &Node, field: &str) -> Option<String> {
        if value.is_null() {
            self.error(
                value_pos(key, value),
                field,
                format!("`{field}` is empty"),
                None,
            );
            return None;
        }
        self.scalar_text(key, value, field)
    }

    fn optional_string(&mut self, key: &Node, value: &Node, field: &str) -> Option<String> {
        if value.is_null() {
            return None;
        }
        self.scalar_text(key, value, field)
    }

    /// Checks a name against the repository-component grammar; reports and returns false if bad.
    fn check_name(&mut self, pos: Pos, field: &str, name: &str, what: &str) -> bool {
        match name_problem(name) {
            None => true,
            Some(why) => {
                self.error(
                    pos,
                    field,
                    format!("{what} `{name}` {why}"),
                    Some(
                        "use lowercase letters and digits, separated by `.`, `_`, `__` or `-`, e.g. `my-extension`",
                    ),
                );
                false
            }
        }
    }

    fn version(
        &mut self,
        key: &Node,
        value: &Node,
        field: &str,
        required: bool,
    ) -> Option<Version> {
        if !required && value.is_null() {
            return None;
        }
        if value.is_null() {
            self.error(
                value_pos(key, value),
                field,
                format!("`{field}` is empty"),
                Some(VERSION_HINT),
            );
            return None;
        }
        let kind = value.scalar_kind();
        let text = self.scalar_text(key, value, field)?;
        if matches!(kind, Some(ScalarKind::Int | ScalarKind::Float)) {
            self.error(
                value.pos,
                field,
                format!("`{field}` is the number {text}, not a version"),
                Some(&format!(
                    "quote it and use three parts: `{field}: \"{}\"`",
                    three_parts(&text)
                )),
            );
            return None;
        }
        match Version::parse(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                let hint = match text.strip_prefix(['v', 'V']) {
                    Some(rest) if Version::parse(rest).is_ok() => {
                        format!("drop the leading `v`: {rest}")
                    }
                    _ => VERSION_HINT.to_string(),
                };
                self.push(
                    Severity::Error,
                    value.pos,
                    field,
                    format!("`{field}` `{text}` is not a semantic version: {e}"),
                    Some(hint),
                );
                None
            }
        }
    }

    fn dependencies(&mut self, key: &Node, value: &Node) -> (Dependencies, Vec<(String, Pos)>) {
        let mut deps = Vec::new();
        let mut keys: Vec<(String, Pos)> = Vec::new();
        let entries = match &value.value {
            Value::Map(entries) => entries,
            _ if value.is_null() => return (deps, keys),
            _ => {
                self.error(
                    value_pos(key, value),
                    "dependencies",
                    format!(
                        "`dependencies` must be a mapping of extension name to version range, not {}",
                        value.describe()
                    ),
                    Some("write one `name: \"range\"` per line, e.g. `containerd: \">=1.7.0\"`"),
                );
                return (deps, keys);
            }
        };
        for (dep_key, range) in entries {
            let Value::Scalar { text: dep, .. } = &dep_key.value else {
                self.error(
                    dep_key.pos,
                    "dependencies",
                    format!(
                        "a dependency must be named by a string, not {}",
                        dep_key.describe()
                    ),
                    None,
                );
                continue;
            };
            let field = format!("dependencies.{dep}");
            if let Some((_, first)) = keys.iter().find(|(n, _)| n == dep) {
                let message = format!(
                    "duplicate dependency `{dep}` (first given at line {})",
                    first.line
                );
                self.error(dep_key.pos, &field, message, Some("keep only one of them"));
                continue;
            }
            keys.push((dep.clone(), dep_key.pos));
            let name_ok = self.check_name(dep_key.pos, &field, dep, "dependency name");
            let text = match &range.value {
                _ if range.is_null() => {
                    self.error(
                        value_pos(dep_key, range),
                        &field,
                        format!("dependency `{dep}` has no version range"),
                        Some("write `\"*\"` to accept any version"),
                    );
                    continue;
                }
                Value::Scalar { text, .. } => text,
                _ => {
                    self.error(
                        range.pos,
                        &field,
                        format!(
                            "the version range of `{dep}` must be a string, not {}",
                            range.describe()
                        ),
                        Some("e.g. `\">=1.7.0\"` or `\">=1.0, <2.0\"`"),
                    );
                    continue;
                }
            };
            match text.parse::<VersionRange>() {
                Ok(r) => {
                    for warning in super::range::warnings(text) {
                        self.push(
                            Severity::Warning,
                            range.pos,
                            &field,
                            format!("dependency `{dep}`: {warning}"),
                            None,
                        );
                    }
                    if name_ok {
                        deps.push((dep.clone(), r));
                    }
                }
                Err(e) => self.error(
                    range.pos,
                    &field,
                    format!(
                        "dependency `{dep}`: `{text}` is not a version range: {}",
                        e.reason()
                    ),
                    Some(&format!("accepted forms: {ACCEPTED_FORMS}")),
                ),
            }
        }
        (deps, keys)
    }

    /// A list of strings; `accept` checks each item and reports its own errors.
    fn list(
        &mut self,
        key: &Node,
        value: &Node,
        field: &str,
        accept: impl Fn(&mut Self, Pos, &str, &str) -> bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let items = match &value.value {
            Value::Seq(items) => items,
            _ if value.is_null() => return out,
            _ => {
                self.error(
                    value_pos(key, value),
                    field,
                    format!("`{field}` must be a list, not {}", value.describe()),
                    Some(&format!(
                        "write one `- item` per line under `{field}:`, or `{field}: [a, b]`"
                    )),
                );
                return out;
            }
        };
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{i}]");
            match &item.value {
                Value::Scalar { text, .. } if !item.is_null() => {
                    if accept(self, item.pos, &item_field, text) {
                        out.push(text.clone());
                    }
                }
                _ => self.error(
                    item.pos,
                    &item_field,
                    format!(
                        "each entry of `{field}` must be a string, not {}",
                        item.describe()
                    ),
                    None,
                ),
            }
        }
        out
    }
}

fn key_text(key: &Node) -> &str {
    match &key.value {
        Value::Scalar { text, .. } => text,
        _ => "field",
    }
}

/// Why `name` cannot name an extension (a single repository-name component), if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name.contains('/') {
        return Some("must be a single name without `/`".to_string());
    }
    match validate_repository(name) {
        Ok(()) => None,
        Err(NameError::Repository { why, .. }) => Some(format!("is not valid: {why}")),
        Err(e) => Some(e.to_string()),
    }
}

fn valid_platform(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// `1.0` → `1.0.0`, `2` → `2.0.0`: what a number written as a version most likely meant.
fn three_parts(text: &str) -> String {
    let mut parts: Vec<&str> = text.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    parts.join(".")
}

/// `hint`, preceded by "did you mean `x`?" when a candidate is within edit distance 2.
fn with_suggestion(word: &str, candidates: &[&str], hint: &str) -> String {
    let lower = word.to_lowercase();
    let best = candidates
        .iter()
        .map(|c| (edit_distance(&lower, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!("did you mean `{c}`? {hint}"),
        None => hint.to_string(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
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
