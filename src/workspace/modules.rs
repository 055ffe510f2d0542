//! `module load | list | unload`: the module lists of a workspace, edited in place.

use std::path::{Component, Path, PathBuf};

use semver::Version;
use serde::Serialize;

use super::edit::{self, quoted, scalar};
use super::model::{ModuleEntry, ModuleSource, Requirement, SourceType};
use super::sources::{self, SourceError};
use super::{Workspace, WorkspaceError, yaml};
use crate::extension::manifest::ExtensionType;
use crate::extension::range::VersionRange;
use crate::oci::Reference;
use crate::oci::client::Registries;

/// What `module load` asks for.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub kind: ExtensionType,
    pub name: String,
    /// Else `local` with `path`, else the workspace's `source_type`.
    pub source: Option<SourceType>,
    pub version: Option<Version>,
    pub range: Option<VersionRange>,
    /// A local extension directory (absolute, or relative to the current directory).
    pub path: Option<PathBuf>,
}

/// Why a module command failed.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Usage(String),
    #[error("{kind} `{name}` is not loaded in {}", workspace.display())]
    NotLoaded {
        kind: ExtensionType,
        name: String,
        workspace: PathBuf,
    },
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadOutcome {
    Added,
    Updated,
    Unchanged,
}

/// The result of `module load`.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub outcome: LoadOutcome,
    /// The entry as written in the file.
    pub entry: String,
    /// The version found (registry) or read from the manifest (local).
    pub version: Version,
    /// The reference or directory.
    pub location: String,
}

/// One row of `module list`.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleRow {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub source: SourceType,
    /// `=1.2.0`, a range, or `local`.
    pub requirement: String,
    pub location: String,
    /// Filled in by the resolver once the workspace has a lock.
    pub locked: Option<String>,
    pub line: usize,
}

/// The modules of a workspace, in file order.
pub fn list(workspace: &Workspace) -> Vec<ModuleRow> {
    workspace
        .config
        .modules
        .iter()
        .map(|m| ModuleRow {
            kind: m.kind.to_string(),
            name: m.name.clone(),
            source: m.source_type(),
            requirement: m.requirement.to_string(),
            location: m.location(),
            locked: None,
            line: m.pos.line,
        })
        .collect()
}

/// The YAML path of a type's module list.
pub fn list_path(kind: ExtensionType) -> [&'static str; 4] {
    ["dependencies", "extensions", "modules", kind.plural()]
}

/// The index of `entry` in its list, found by its position in the text.
fn item_index(text: &str, entry: &ModuleEntry) -> Option<usize> {
    let root = yaml::parse(text).ok()??;
    let mut node = &root;
    for key in list_path(entry.kind) {
        node = node.get(key)?.1;
    }
    node.items()?.iter().position(|i| i.pos == entry.pos)
}

fn edit_error(workspace: &Workspace, source: edit::EditError) -> ModuleError {
    ModuleError::Workspace(WorkspaceError::Edit {
        path: workspace.config_path.clone(),
        source,
    })
}

/// Writes `entry` for `kind`/`name`: replaces the entry that is there, else appends it; the
/// file is checked before it is saved. Returns what changed.
pub fn write_entry(
    workspace: &mut Workspace,
    kind: ExtensionType,
    name: &str,
    entry: &str,
) -> Result<LoadOutcome, ModuleError> {
    let mut text = workspace.file.text.clone();
    let path = list_path(kind);
    let outcome = match workspace.config.module(kind, name).cloned() {
        Some(existing) => {
            let index = item_index(&text, &existing).ok_or_else(|| {
                ModuleError::Usage(format!("cannot find {kind} `{name}` in the file"))
            })?;
            let root = yaml::parse(&text).ok().flatten();
            let current = root
                .as_ref()
                .and_then(|r| {
                    let mut n = r;
                    for key in path {
                        n = n.get(key)?.1;
                    }
                    n.items()?
                        .get(index)
                        .map(|i| text[i.start..i.end].to_string())
                })
                .unwrap_or_default();
            if current == entry {
                return Ok(LoadOutcome::Unchanged);
            }
            edit::replace_item(&mut text, &path, index, entry)
                .map_err(|e| edit_error(workspace, e))?;
            LoadOutcome::Updated
        }
        None => {
            edit::append_item(&mut text, &path, entry).map_err(|e| edit_error(workspace, e))?;
            LoadOutcome::Added
        }
    };
    workspace.reload_text(text)?;
    Ok(outcome)
}

/// `module load`: checks the module at its source, then writes its entry.
pub async fn load(
    workspace: &mut Workspace,
    registries: &Registries,
    request: &LoadRequest,
) -> Result<Loaded, ModuleError> {
    let config = &workspace.config;
    let source = request.source.unwrap_or(if request.path.is_some() {
        SourceType::Local
    } else {
        config.source_type
    });
    if let Err(e) = crate::oci::name::validate_repository(&request.name) {
        return Err(ModuleError::Usage(format!(
            "`{}` is not an extension name: {e}",
            request.name
        )));
    }
    if request.name.contains('/') {
        return Err(ModuleError::Usage(format!(
            "`{}`: give the extension's name alone; the registry and namespace come from the workspace",
            request.name
        )));
    }
    let (entry, version, location) = match source {
        SourceType::Local => {
            if request.version.is_some() || request.range.is_some() {
                return Err(ModuleError::Usage(
                    "a local module takes its version from its manifest.yaml; drop --version/--range".into(),
                ));
            }
            let dir = match &request.path {
                Some(p) => p.clone(),
                None => default_local_dir(workspace, request.kind, &request.name),
            };
            let tree = sources::check_local(&dir, request.kind, Some(&request.name))?;
            let written = relative_to(&dir, &workspace.root);
            let entry = format!(
                "{{name: {}, path: {}}}",
                scalar(&request.name),
                scalar(&written.to_string_lossy())
            );
            (
                entry,
                tree.manifest.version.clone(),
                dir.display().to_string(),
            )
        }
        remote => {
            if request.path.is_some() {
                return Err(ModuleError::Usage(format!(
                    "--path makes a local module, but the source is {remote}; pass --source local"
                )));
            }
            let defaults = match (remote, &config.gitea) {
                (SourceType::Gitea, Some(g)) => g.defaults(),
                (SourceType::Gitea, None) => {
                    return Err(ModuleError::Usage(
                        "the workspace has no `dependencies.extensions.gitea: {url, organization}`"
                            .into(),
                    ));
                }
                _ => config.oci_defaults(),
            };
            let repository = Reference::parse(&request.name, &defaults)
                .map_err(|e| ModuleError::Usage(e.to_string()))?;
            let requirement = match (&request.version, &request.range) {
                (Some(v), _) => Requirement::Exact(v.clone()),
                (None, Some(r)) => Requirement::Range(r.clone()),
                (None, None) => Requirement::Range(VersionRange::any()),
            };
            let found =
                sources::find_remote(registries, &repository, request.kind, &requirement).await?;
            let entry = match &request.range {
                Some(range) => {
                    let mut entry = format!(
                        "{{name: {}, range: {}",
                        scalar(&request.name),
                        quoted(&range.to_string())
                    );
                    if remote != config.source_type {
                        entry.push_str(&format!(", source: {remote}"));
                    }
                    entry + "}"
                }
                None => {
                    let tag = found.reference.tag.clone().unwrap_or_default();
                    match remote {
                        SourceType::Gitea => quoted(&format!("gitea://{}:{tag}", request.name)),
                        _ => quoted(&format!("oci://{}", found.reference)),
                    }
                }
            };
            (entry, found.version, found.reference.to_string())
        }
    };
    let outcome = write_entry(workspace, request.kind, &request.name, &entry)?;
    workspace.save()?;
    Ok(Loaded {
        outcome,
        entry,
        version,
        location,
    })
}

/// `module unload`: removes the entry; the entry's line goes, nothing else.
pub fn unload(
    workspace: &mut Workspace,
    kind: ExtensionType,
    name: &str,
) -> Result<ModuleEntry, ModuleError> {
    let removed = remove_entry(workspace, kind, name)?;
    workspace.save()?;
    Ok(removed)
}

/// Removes the entry of `kind`/`name` from the text (the entry's line goes, nothing else) and
/// checks the result; nothing is saved.
pub fn remove_entry(
    workspace: &mut Workspace,
    kind: ExtensionType,
    name: &str,
) -> Result<ModuleEntry, ModuleError> {
    let Some(existing) = workspace.config.module(kind, name).cloned() else {
        return Err(ModuleError::NotLoaded {
            kind,
            name: name.to_string(),
            workspace: workspace.root.clone(),
        });
    };
    let mut text = workspace.file.text.clone();
    let index = item_index(&text, &existing)
        .ok_or_else(|| ModuleError::Usage(format!("cannot find {kind} `{name}` in the file")))?;
    edit::remove_item(&mut text, &list_path(kind), index).map_err(|e| edit_error(workspace, e))?;
    workspace.reload_text(text)?;
    Ok(existing)
}

/// What a registry module asks for: one tag (a pin), or a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Tag(String),
    Range(VersionRange),
}

impl Wanted {
    /// A typed version or range: `1.15.3`, `=1.15.3` and `v1.15.3` pin that tag, anything else
    /// must parse as a range (`^1.14`, `>=1.2, <2`).
    pub fn parse(text: &str) -> Result<Wanted, String> {
        let text = text.trim();
        let exact = text.strip_prefix('=').unwrap_or(text).trim();
        if crate::oci::reference::tag_to_version(exact).is_some() {
            return Ok(Wanted::Tag(exact.to_string()));
        }
        text.parse::<VersionRange>()
            .map(Wanted::Range)
            .map_err(|e| format!("`{text}` is neither a version nor a range: {e}"))
    }
}

/// The entry of a registry module `name` from `repository` (no tag) asking for `wanted`,
/// written as `module load` writes it: a pin as the seed's reference
/// (`"oci://host/ns/name:1.2.0"`), a range as a mapping (`{name: N, range: "^1.2"}`).
pub fn registry_entry(
    config: &super::WorkspaceConfig,
    name: &str,
    via: SourceType,
    repository: &Reference,
    wanted: &Wanted,
) -> String {
    match wanted {
        Wanted::Tag(tag) => match via {
            SourceType::Gitea => quoted(&format!("gitea://{name}:{tag}")),
            _ => quoted(&format!("oci://{}", repository.with_tag(tag))),
        },
        Wanted::Range(range) => {
            let mut entry = format!(
                "{{name: {}, range: {}",
                scalar(name),
                quoted(&range.to_string())
            );
            if via != config.source_type {
                entry.push_str(&format!(", source: {via}"));
            }
            entry + "}"
        }
    }
}

/// The entry that makes `existing` ask for `wanted` instead, keeping its repository and, for a
/// pin, its form (a reference stays a reference, a mapping a mapping).
pub fn changed_entry(
    config: &super::WorkspaceConfig,
    existing: &ModuleEntry,
    wanted: &Wanted,
) -> Result<String, ModuleError> {
    let ModuleSource::Oci { reference, via } = &existing.source else {
        return Err(ModuleError::Usage(format!(
            "{} `{}` is local: it takes its version from its manifest.yaml",
            existing.kind, existing.name
        )));
    };
    let repository = Reference {
        tag: None,
        digest: None,
        ..reference.clone()
    };
    let name = existing.name.as_str();
    match (wanted, existing.form) {
        (Wanted::Tag(tag), super::model::EntryForm::Mapping) => {
            let mut entry = format!("{{name: {}, version: {}", scalar(name), quoted(tag));
            if *via != config.source_type {
                entry.push_str(&format!(", source: {via}"));
            }
            Ok(entry + "}")
        }
        (Wanted::Tag(_), _) => Ok(registry_entry(config, name, *via, &repository, wanted)),
        (Wanted::Range(_), _) => {
            let defaults = match (via, &config.gitea) {
                (SourceType::Gitea, Some(g)) => g.defaults(),
                _ => config.oci_defaults(),
            };
            let default = Reference::parse(name, &defaults).ok();
            if default.as_ref() != Some(&repository) {
                return Err(ModuleError::Usage(format!(
                    "{} `{name}` comes from {repository}, which a range entry cannot name; pick a version, or edit provisioning.yaml by hand",
                    existing.kind
                )));
            }
            Ok(registry_entry(config, name, *via, &repository, wanted))
        }
    }
}

/// Where `module load --source local` looks without `--path`: `<local dir>/<type>s/<name>`,
/// else `<local dir>/<name>` (the layout `generate extension --dir` makes).
pub fn default_local_dir(workspace: &Workspace, kind: ExtensionType, name: &str) -> PathBuf {
    let typed = workspace.resolve_path(&workspace.config.local_dir(kind, name));
    if typed.join("manifest.yaml").is_file() {
        return typed;
    }
    let flat = typed
        .parent()
        .and_then(Path::parent)
        .map(|root| root.join(name));
    match flat {
        Some(flat) if flat.join("manifest.yaml").is_file() => flat,
        _ => typed,
    }
}

/// `path` relative to `base` when both resolve on disk, else `path` made absolute.
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let (Ok(path), Ok(base)) = (path.canonicalize(), base.canonicalize()) else {
        return std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    };
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return path;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

impl ModuleEntry {
    /// The directory of a local module, resolved against the workspace root.
    pub fn local_dir(&self, workspace: &Workspace) -> Option<PathBuf> {
        match &self.source {
            ModuleSource::Local { path } => Some(workspace.resolve_path(path)),
            ModuleSource::Oci { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"dependencies:
  extensions:
    oci:
      registry: "reg.example:5000"
      namespace: "ext"
    modules:
      taskservs:
        - "oci://reg.example:5000/ext/cilium:1.14.0"  # the CNI
        - "oci://other.example/team/redis:7.2.4"
        - {name: etcd, version: "3.5.9"}
        - {name: web, path: ../web}
"#;

    fn workspace() -> Workspace {
        Workspace::from_text(Path::new("/ws"), TEXT.to_string()).unwrap()
    }

    fn entry(workspace: &Workspace, name: &str) -> ModuleEntry {
        workspace
            .config
            .module(ExtensionType::Taskserv, name)
            .unwrap()
            .clone()
    }

    #[test]
    fn typed_versions_pin_and_anything_else_is_a_range() {
        for pin in ["1.15.3", "=1.15.3", "v1.15.3", " 1.15.3 "] {
            let expected = pin.trim().trim_start_matches('=').to_string();
            assert_eq!(Wanted::parse(pin), Ok(Wanted::Tag(expected)), "{pin}");
        }
        assert!(matches!(Wanted::parse("^1.14"), Ok(Wanted::Range(r)) if r.to_string() == "^1.14"));
        let err = Wanted::parse("banana").unwrap_err();
        assert!(err.contains("neither a version nor a range"), "{err}");
    }

    #[test]
    fn a_changed_entry_keeps_its_repository_and_form() {
        let ws = workspace();
        let config = &ws.config;
        let tag = Wanted::Tag("1.15.3".into());
        let range = Wanted::parse("^1.14").unwrap();
        assert_eq!(
            changed_entry(config, &entry(&ws, "cilium"), &tag).unwrap(),
            "\"oci://reg.example:5000/ext/cilium:1.15.3\""
        );
        assert_eq!(
            changed_entry(config, &entry(&ws, "cilium"), &range).unwrap(),
            "{name: cilium, range: \"^1.14\"}"
        );
        assert_eq!(
            changed_entry(config, &entry(&ws, "redis"), &Wanted::Tag("7.4.0".into())).unwrap(),
            "\"oci://other.example/team/redis:7.4.0\""
        );
        assert_eq!(
            changed_entry(config, &entry(&ws, "etcd"), &Wanted::Tag("3.5.12".into())).unwrap(),
            "{name: etcd, version: \"3.5.12\"}"
        );
        // A range cannot name another registry; a local module has no version to change.
        let err = changed_entry(config, &entry(&ws, "redis"), &range).unwrap_err();
        assert!(err.to_string().contains("other.example"), "{err}");
        let err = changed_entry(config, &entry(&ws, "web"), &tag).unwrap_err();
        assert!(err.to_string().contains("local"), "{err}");
    }

    #[test]
    fn edits_in_memory_keep_the_rest_of_the_text() {
        let mut ws = workspace();
        let entry = changed_entry(
            &ws.config,
            &entry(&ws, "cilium"),
            &Wanted::Tag("1.15.3".into()),
        )
        .unwrap();
        write_entry(&mut ws, ExtensionType::Taskserv, "cilium", &entry).unwrap();
        remove_entry(&mut ws, ExtensionType::Taskserv, "redis").unwrap();
        let repository = Reference::parse("postgres", &ws.config.oci_defaults()).unwrap();
        let added = registry_entry(
            &ws.config,
            "postgres",
            SourceType::Oci,
            &repository,
            &Wanted::Tag("16.2.0".into()),
        );
        write_entry(&mut ws, ExtensionType::Taskserv, "postgres", &added).unwrap();
        let expected = TEXT
            .replace("cilium:1.14.0", "cilium:1.15.3")
            .replace("        - \"oci://other.example/team/redis:7.2.4\"\n", "")
            .replace(
                "path: ../web}\n",
                "path: ../web}\n        - \"oci://reg.example:5000/ext/postgres:16.2.0\"\n",
            );
        assert_eq!(ws.file.text, expected);
        assert!(!Path::new("/ws/config/provisioning.yaml").exists());
    }
}
