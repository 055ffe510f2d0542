//! The module lists: each entry, a reference string or a mapping, checked with its position.

use super::*;

const MODULE_HINT: &str = "write the seed's reference (`oci://host/namespace/name:1.2.0`) or a mapping: `{name: cilium, range: \"^1.14\"}`, `{name: redis, path: ../extensions/taskservs/redis}`";

impl Checker<'_> {
    pub(super) fn modules(&mut self, modules: &Node, config: &mut WorkspaceConfig) {
        let mut seen: HashMap<(ExtensionType, String), Pos> = HashMap::new();
        for (k, v) in modules.entries().unwrap_or_default() {
            let list = k.as_str().unwrap_or_default();
            let Some(kind) = TYPE_LISTS.iter().find(|(n, _)| *n == list).map(|(_, t)| *t) else {
                self.error(
                    k.pos,
                    &format!("dependencies.extensions.modules.{list}"),
                    format!("`{list}` is not a module type list"),
                    Some("use providers, taskservs or clusters"),
                );
                continue;
            };
            let field = format!("dependencies.extensions.modules.{list}");
            let items = match &v.value {
                Value::Seq { items, .. } => items.as_slice(),
                _ if v.is_null() => &[],
                _ => {
                    self.error(
                        v.pos,
                        &field,
                        format!("`{field}` must be a list, found {}", v.describe()),
                        None,
                    );
                    continue;
                }
            };
            for (i, item) in items.iter().enumerate() {
                let field = format!("{field}[{i}]");
                let Some(entry) = self.module(item, kind, &field, config) else {
                    continue;
                };
                match seen.get(&(kind, entry.name.clone())) {
                    Some(first) => self.error(
                        item.pos,
                        &field,
                        format!(
                            "{kind} `{}` is listed twice (first at line {})",
                            entry.name, first.line
                        ),
                        Some("keep one entry per module"),
                    ),
                    None => {
                        seen.insert((kind, entry.name.clone()), item.pos);
                        config.modules.push(entry);
                    }
                }
            }
        }
    }

    fn module(
        &mut self,
        item: &Node,
        kind: ExtensionType,
        field: &str,
        config: &WorkspaceConfig,
    ) -> Option<ModuleEntry> {
        match &item.value {
            Value::Scalar { text, .. } if !item.is_null() => {
                self.module_reference(item, text, kind, field, config)
            }
            Value::Map { entries, .. } => self.module_mapping(item, entries, kind, field, config),
            _ => {
                self.error(
                    item.pos,
                    field,
                    format!(
                        "a module is a reference string or a mapping, found {}",
                        item.describe()
                    ),
                    Some(MODULE_HINT),
                );
                None
            }
        }
    }

    fn module_reference(
        &mut self,
        item: &Node,
        text: &str,
        kind: ExtensionType,
        field: &str,
        config: &WorkspaceConfig,
    ) -> Option<ModuleEntry> {
        let (via, body) = if let Some(rest) = text.strip_prefix("gitea://") {
            (SourceType::Gitea, rest)
        } else if text.starts_with("oci://") {
            (SourceType::Oci, text)
        } else {
            (config.source_type, text)
        };
        let defaults = match via {
            SourceType::Gitea => match &config.gitea {
                Some(g) => g.defaults(),
                None => {
                    self.error(item.pos, field, format!("`{text}` comes from Gitea, but `dependencies.extensions.gitea` is missing"), Some("add `gitea: {url: …, organization: …}` under `extensions:`"));
                    return None;
                }
            },
            SourceType::Local => {
                // A bare name in a local workspace: the directory under the local path.
                let (name, pin) = match text.split_once(':') {
                    Some((n, v)) => (n, Some(v)),
                    None => (text, None),
                };
                if let Err(e) = crate::oci::name::validate_repository(name) {
                    self.error(
                        item.pos,
                        field,
                        format!("bad module name `{name}`: {e}"),
                        Some(MODULE_HINT),
                    );
                    return None;
                }
                if pin.is_some() {
                    self.error(
                        item.pos,
                        field,
                        format!(
                            "`{text}`: a local module takes its version from its manifest.yaml"
                        ),
                        Some("write the name alone, or `{name: NAME, path: DIR}`"),
                    );
                    return None;
                }
                return Some(ModuleEntry {
                    kind,
                    name: name.to_string(),
                    source: ModuleSource::Local {
                        path: config.local_dir(kind, name),
                    },
                    requirement: Requirement::Local,
                    pos: item.pos,
                    form: EntryForm::Reference,
                });
            }
            SourceType::Oci => config.oci_defaults(),
        };
        let reference = match Reference::parse(body, &defaults) {
            Ok(r) => r,
            Err(e) => {
                self.error(
                    item.pos,
                    field,
                    format!("bad module reference: {e}"),
                    Some(MODULE_HINT),
                );
                return None;
            }
        };
        let Some(tag) = reference.tag.as_deref() else {
            self.error(
                item.pos,
                field,
                format!("`{text}` pins no version"),
                Some(
                    "add the version tag (`name:1.2.0`), or write `{name: NAME, range: \"^1.2\"}`",
                ),
            );
            return None;
        };
        let Some(version) = tag_to_version(tag) else {
            self.error(
                item.pos,
                field,
                format!("the tag `{tag}` of `{text}` is not a version"),
                Some("pin a semver version like 1.2.0, or write `{name: NAME, range: RANGE}`"),
            );
            return None;
        };
        Some(ModuleEntry {
            kind,
            name: reference.name().to_string(),
            source: ModuleSource::Oci {
                reference: reference.clone(),
                via,
            },
            requirement: Requirement::Exact(version),
            pos: item.pos,
            form: EntryForm::Reference,
        })
    }

    fn module_mapping(
        &mut self,
        item: &Node,
        entries: &[(Node, Node)],
        kind: ExtensionType,
        field: &str,
        config: &WorkspaceConfig,
    ) -> Option<ModuleEntry> {
        let mut values: HashMap<&str, (&Node, String)> = HashMap::new();
        let mut ok = true;
        for (k, v) in entries {
            let key = k.as_str().unwrap_or_default();
            let Some(known) = MODULE_KEYS.iter().find(|n| **n == key) else {
                self.error(
                    k.pos,
                    field,
                    format!("unknown key `{key}` in a module entry"),
                    Some("a module mapping takes name, version, range, path and source"),
                );
                ok = false;
                continue;
            };
            match self.string(k, v, &format!("{field}.{key}")) {
                Some(text) => {
                    values.insert(known, (v, text));
                }
                None => ok = false,
            }
        }
        let Some((name_node, name)) = values.get("name").cloned() else {
            self.error(
                item.pos,
                field,
                "a module mapping needs `name`",
                Some(MODULE_HINT),
            );
            return None;
        };
        if let Err(e) = crate::oci::name::validate_repository(&name) {
            self.error(
                name_node.pos,
                &format!("{field}.name"),
                format!("bad module name `{name}`: {e}"),
                None,
            );
            ok = false;
        }
        let source = match values.get("source") {
            Some((node, text)) => match SourceType::parse(text) {
                Some(s) => s,
                None => {
                    self.error(
                        node.pos,
                        &format!("{field}.source"),
                        format!("`{text}` is not a source type"),
                        Some("use one of: oci, gitea, local"),
                    );
                    return None;
                }
            },
            None if values.contains_key("path") => SourceType::Local,
            // A version or range is asked of a registry, even in a local workspace.
            None if config.source_type == SourceType::Local
                && (values.contains_key("version") || values.contains_key("range")) =>
            {
                SourceType::Oci
            }
            None => config.source_type,
        };
        let version = values.get("version");
        let range = values.get("range");
        let mut requirement = Requirement::Range(VersionRange::any());
        if let (Some(_), Some((node, _))) = (version, range) {
            self.error(
                node.pos,
                &format!("{field}.range"),
                "give `version` or `range`, not both",
                None,
            );
            ok = false;
        }
        if let Some((node, text)) = version {
            match Version::parse(text.strip_prefix('v').unwrap_or(text)) {
                Ok(v) => requirement = Requirement::Exact(v),
                Err(e) => {
                    self.error(
                        node.pos,
                        &format!("{field}.version"),
                        format!("`{text}` is not a version: {e}"),
                        Some("use MAJOR.MINOR.PATCH, e.g. 1.14.0"),
                    );
                    ok = false;
                }
            }
        }
        if let Some((node, text)) = range {
            match text.parse::<VersionRange>() {
                Ok(r) => requirement = Requirement::Range(r),
                Err(e) => {
                    self.error(
                        node.pos,
                        &format!("{field}.range"),
                        format!("the range `{text}` does not parse: {e}"),
                        None,
                    );
                    ok = false;
                }
            }
        }
        let source = match source {
            SourceType::Local => {
                if let Some((node, _)) = version.or(range) {
                    self.error(
                        node.pos,
                        field,
                        "a local module takes its version from its manifest.yaml",
                        Some("remove `version`/`range`, or drop `path` to take it from a registry"),
                    );
                    ok = false;
                }
                requirement = Requirement::Local;
                let path = match values.get("path") {
                    Some((_, p)) => expand_home(Path::new(p)),
                    None => config.local_dir(kind, &name),
                };
                ModuleSource::Local { path }
            }
            via => {
                if let Some((node, _)) = values.get("path") {
                    self.error(
                        node.pos,
                        &format!("{field}.path"),
                        format!("`path` makes a local module, but `source` is {via}"),
                        Some("remove `path`, or set `source: local`"),
                    );
                    ok = false;
                }
                let defaults = match (via, &config.gitea) {
                    (SourceType::Gitea, Some(g)) => g.defaults(),
                    (SourceType::Gitea, None) => {
                        self.error(item.pos, field, "this module comes from Gitea, but `dependencies.extensions.gitea` is missing", None);
                        return None;
                    }
                    _ => config.oci_defaults(),
                };
                let reference = match Reference::parse(&name, &defaults) {
                    Ok(r) => r,
                    Err(_) => return None,
                };
                ModuleSource::Oci { reference, via }
            }
        };
        ok.then(|| ModuleEntry {
            kind,
            name,
            source,
            requirement,
            pos: item.pos,
            form: EntryForm::Mapping,
        })
    }
}
