//! Field checks: every problem of a manifest tree, each with its position and a hint.

use super::*;

pub(super) struct Checker<'a> {
    pub(super) path: &'a Path,
    pub(super) diagnostics: Vec<Diagnostic>,
}

pub(super) const VERSION_HINT: &str = "use MAJOR.MINOR.PATCH, e.g. 1.0.0";
pub(super) const TYPE_HINT: &str = "use one of: provider, taskserv, cluster";
pub(super) const PLATFORM_HINT: &str =
    "write os/arch[/variant], e.g. linux/amd64, linux/arm64, linux/arm/v7";

/// Where a value's problem should point: an empty value has no position of its own, so its key.
pub(super) fn value_pos(key: &Node, value: &Node) -> Pos {
    match &value.value {
        Value::Scalar { text, plain: true } if text.is_empty() => key.pos,
        _ => value.pos,
    }
}

impl Checker<'_> {
    pub(super) fn push(
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

    pub(super) fn error(
        &mut self,
        pos: Pos,
        field: &str,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        self.push(
            Severity::Error,
            pos,
            field,
            message,
            hint.map(str::to_string),
        );
    }

    pub(super) fn manifest(&mut self, root: Option<&Node>) -> Option<ExtensionManifest> {
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
    pub(super) fn scalar_text(&mut self, key: &Node, value: &Node, field: &str) -> Option<String> {
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

    pub(super) fn required_string(
        &mut self,
        key: &Node,
        value: &Node,
        field: &str,
    ) -> Option<String> {
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

    pub(super) fn optional_string(
        &mut self,
        key: &Node,
        value: &Node,
        field: &str,
    ) -> Option<String> {
        if value.is_null() {
            return None;
        }
        self.scalar_text(key, value, field)
    }

    /// Checks a name against the repository-component grammar; reports and returns false if bad.
    pub(super) fn check_name(&mut self, pos: Pos, field: &str, name: &str, what: &str) -> bool {
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

    pub(super) fn version(
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

    pub(super) fn dependencies(
        &mut self,
        key: &Node,
        value: &Node,
    ) -> (Dependencies, Vec<(String, Pos)>) {
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
                    for warning in crate::extension::range::warnings(text) {
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
    pub(super) fn list(
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

pub(super) fn key_text(key: &Node) -> &str {
    match &key.value {
        Value::Scalar { text, .. } => text,
        _ => "field",
    }
}

/// Why `name` cannot name an extension (a single repository-name component), if it cannot.
pub(super) fn name_problem(name: &str) -> Option<String> {
    if name.contains('/') {
        return Some("must be a single name without `/`".to_string());
    }
    if name.len() > super::MAX_NAME_LEN {
        return Some(format!(
            "is {} bytes long; the limit is {} (it becomes file names, which file systems limit to 255 bytes)",
            name.len(),
            super::MAX_NAME_LEN
        ));
    }
    match validate_repository(name) {
        Ok(()) => None,
        Err(NameError::Repository { why, .. }) => Some(format!("is not valid: {why}")),
        Err(e) => Some(e.to_string()),
    }
}

pub(super) fn valid_platform(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// `1.0` → `1.0.0`, `2` → `2.0.0`: what a number written as a version most likely meant.
pub(super) fn three_parts(text: &str) -> String {
    let mut parts: Vec<&str> = text.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    parts.join(".")
}

/// `hint`, preceded by "did you mean `x`?" when a candidate is within edit distance 2.
pub(super) fn with_suggestion(word: &str, candidates: &[&str], hint: &str) -> String {
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

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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
