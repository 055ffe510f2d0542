//! The add and version dialogs: search the registry's extensions as you type (names and
//! descriptions), then pick a version from the tags (newest first) or type a range.

use std::collections::BTreeSet;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Mode, WorkspacePane};
use crate::extension::manifest::ExtensionType;
use crate::oci::Reference;
use crate::tui::input::LineInput;
use crate::tui::panes::{Effects, LoadState};
use crate::tui::worker::{Description, Request};
use crate::workspace::modules::Wanted;

/// Repositories described at most when the catalog arrives; more are described as a search
/// shows them.
pub const DESCRIBE_LIMIT: usize = 200;

/// The extensions of the workspace's registry and namespace, with what is known of each.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub registry: String,
    pub namespace: String,
    pub state: LoadState,
    pub entries: Vec<CatalogEntry>,
    /// Repositories whose description was asked and has not come.
    pub asked: BTreeSet<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogEntry {
    pub name: String,
    /// `namespace/name`.
    pub repository: String,
    /// Its newest version, type and description, once described.
    pub description: Option<Description>,
}

impl Catalog {
    /// The entries matching `query` (in name or description, any case): names that start with
    /// it first, then names that contain it, then descriptions.
    pub fn matches(&self, query: &str) -> Vec<&CatalogEntry> {
        let needle = query.trim().to_lowercase();
        let mut ranked: Vec<(usize, &CatalogEntry)> = self
            .entries
            .iter()
            .filter_map(|e| {
                let name = e.name.to_lowercase();
                let rank = if name.starts_with(&needle) {
                    0
                } else if name.contains(&needle) {
                    1
                } else if e
                    .description
                    .as_ref()
                    .and_then(|d| d.description.as_ref())
                    .is_some_and(|d| d.to_lowercase().contains(&needle))
                {
                    2
                } else {
                    return None;
                };
                Some((rank, e))
            })
            .collect();
        ranked.sort_by_key(|(rank, _)| *rank);
        ranked.into_iter().map(|(_, e)| e).collect()
    }

    fn reference(&self, repository: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: repository.to_string(),
            tag: None,
            digest: None,
        }
    }

    /// Asks for the descriptions of `repositories` not described or asked yet.
    fn describe<'a>(&mut self, repositories: impl Iterator<Item = &'a str>, fx: &mut Effects) {
        let wanted: Vec<String> = repositories
            .filter(|r| !self.asked.contains(*r))
            .filter(|r| {
                self.entries
                    .iter()
                    .any(|e| e.repository == *r && e.description.is_none())
            })
            .map(str::to_string)
            .collect();
        for repository in wanted {
            fx.send(Request::Describe {
                reference: self.reference(&repository),
            });
            self.asked.insert(repository);
        }
    }
}

/// `a`: the search.
#[derive(Clone, Debug, Default)]
pub struct AddDialog {
    pub query: LineInput,
    /// Index into the matches.
    pub selected: usize,
}

/// What a version is chosen for.
#[derive(Clone, Debug)]
pub enum VersionFor {
    /// A new module; its type from the registry's description (tab changes it).
    Add {
        name: String,
        kind: Option<ExtensionType>,
        /// The search to go back to with esc.
        back: Option<AddDialog>,
    },
    /// A module of the workspace, asking for `current` now.
    Change {
        name: String,
        kind: ExtensionType,
        current: String,
    },
}

/// Choosing a version: the repository's version tags, newest first, or a typed range.
#[derive(Clone, Debug)]
pub struct VersionDialog {
    pub purpose: VersionFor,
    pub repository: Reference,
    pub state: LoadState,
    /// Version tags, newest first.
    pub tags: Vec<String>,
    pub selected: usize,
    /// A typed version or range; when empty, enter takes the selected tag.
    pub input: LineInput,
    /// The tag to select when the tags arrive.
    pub preselect: Option<String>,
}

impl VersionDialog {
    pub fn new(purpose: VersionFor, repository: Reference, preselect: Option<String>) -> Self {
        VersionDialog {
            purpose,
            repository,
            state: LoadState::Loading,
            tags: Vec::new(),
            selected: 0,
            input: LineInput::default(),
            preselect,
        }
    }

    pub fn name(&self) -> &str {
        match &self.purpose {
            VersionFor::Add { name, .. } | VersionFor::Change { name, .. } => name,
        }
    }

    /// What enter would ask for: the typed version or range, else the selected tag.
    pub fn wanted(&self) -> Result<Wanted, String> {
        if !self.input.text().trim().is_empty() {
            return Wanted::parse(self.input.text());
        }
        self.tags
            .get(self.selected)
            .map(|t| Wanted::Tag(t.clone()))
            .ok_or_else(|| "no version to pick: type one, or a range like ^1.2".to_string())
    }
}

impl WorkspacePane {
    /// `a`: opens the search, asking for the registry's extensions when not known yet.
    pub(super) fn open_add(&mut self, fx: &mut Effects) {
        if !self.is_editable() {
            fx.info(self.why_not_editable());
            return;
        }
        let (registry, namespace) = (
            self.snapshot.registry.clone(),
            self.snapshot.namespace.clone(),
        );
        let known = self.catalog.registry == registry
            && self.catalog.namespace == namespace
            && self.catalog.state == LoadState::Loaded;
        if !known {
            self.catalog = Catalog {
                registry: registry.clone(),
                namespace: namespace.clone(),
                state: LoadState::Loading,
                ..Catalog::default()
            };
            fx.send(Request::Repositories {
                registry,
                namespace,
            });
        }
        self.mode = Mode::Add(AddDialog::default());
    }

    /// Opens the version dialog for `reference`'s repository (tags asked for).
    pub(super) fn open_versions(
        &mut self,
        purpose: VersionFor,
        repository: Reference,
        preselect: Option<String>,
        fx: &mut Effects,
    ) {
        fx.send(Request::Tags {
            reference: repository.clone(),
        });
        self.mode = Mode::Version(Box::new(VersionDialog::new(purpose, repository, preselect)));
    }

    /// `e`: the version dialog for the selected module.
    pub(super) fn open_change(&mut self, fx: &mut Effects) {
        let Some(row) = self.selected_row().cloned() else {
            fx.info("No module selected");
            return;
        };
        let Ok(kind) = row.kind.parse::<ExtensionType>() else {
            return;
        };
        let workspace = crate::workspace::Workspace::from_text(&self.root, self.text.clone());
        let source = workspace
            .ok()
            .and_then(|w| w.config.module(kind, &row.name).map(|m| m.source.clone()));
        let Some(crate::workspace::ModuleSource::Oci { reference, .. }) = source else {
            fx.info(format!(
                "{} is a local module: its version is its manifest's",
                row.name
            ));
            return;
        };
        let preselect = reference.tag.clone();
        let repository = Reference {
            tag: None,
            digest: None,
            ..reference
        };
        let purpose = VersionFor::Change {
            name: row.name.clone(),
            kind,
            current: row.requirement.clone(),
        };
        self.open_versions(purpose, repository, preselect, fx);
    }

    /// Keys while the search is shown: typing searches, ↑/↓ choose, enter goes on to the
    /// versions, esc closes.
    pub(super) fn add_key(&mut self, key: &KeyEvent, fx: &mut Effects) -> bool {
        let Mode::Add(dialog) = &mut self.mode else {
            return false;
        };
        let count = self.catalog.matches(dialog.query.text()).len();
        match key.code {
            KeyCode::Esc => self.mode = Mode::List,
            KeyCode::Up => dialog.selected = dialog.selected.saturating_sub(1),
            KeyCode::Down => dialog.selected = (dialog.selected + 1).min(count.saturating_sub(1)),
            KeyCode::Enter => {
                let dialog = dialog.clone();
                let chosen = self
                    .catalog
                    .matches(dialog.query.text())
                    .get(dialog.selected)
                    .map(|e| (*e).clone());
                match chosen {
                    Some(entry) => {
                        let kind = entry
                            .description
                            .as_ref()
                            .and_then(|d| d.kind.as_deref())
                            .and_then(|k| k.parse().ok());
                        let repository = self.catalog.reference(&entry.repository);
                        let purpose = VersionFor::Add {
                            name: entry.name.clone(),
                            kind,
                            back: Some(dialog),
                        };
                        self.open_versions(purpose, repository, None, fx);
                    }
                    // A registry without a catalog lists nothing: a typed name is taken
                    // as it is.
                    None if is_name(dialog.query.text()) => {
                        let name = dialog.query.text().trim().to_string();
                        let repository = match self.catalog.namespace.as_str() {
                            "" => name.clone(),
                            namespace => format!("{namespace}/{name}"),
                        };
                        let repository = self.catalog.reference(&repository);
                        fx.send(Request::Describe {
                            reference: repository.clone(),
                        });
                        let purpose = VersionFor::Add {
                            name,
                            kind: None,
                            back: Some(dialog),
                        };
                        self.open_versions(purpose, repository, None, fx);
                    }
                    None => fx.info("No extension matches; esc closes the search"),
                }
            }
            _ if is_quit(key) => return false,
            _ => {
                if dialog.query.handle(key) {
                    dialog.selected = 0;
                    let query = dialog.query.text().to_string();
                    self.describe_matches(&query, fx);
                }
            }
        }
        true
    }

    /// Asks for the descriptions of the first matches of `query` (what the search shows).
    fn describe_matches(&mut self, query: &str, fx: &mut Effects) {
        let shown: Vec<String> = self
            .catalog
            .matches(query)
            .iter()
            .take(40)
            .map(|e| e.repository.clone())
            .collect();
        self.catalog.describe(shown.iter().map(String::as_str), fx);
    }

    /// Keys while choosing a version: ↑/↓ pick a tag, typing enters a version or range, tab
    /// changes the type of a new module, enter applies, esc goes back.
    pub(super) fn version_key(&mut self, key: &KeyEvent, fx: &mut Effects) -> bool {
        let Mode::Version(dialog) = &mut self.mode else {
            return false;
        };
        match key.code {
            KeyCode::Esc => {
                self.mode = match &mut dialog.purpose {
                    VersionFor::Add {
                        back: Some(back), ..
                    } => Mode::Add(std::mem::take(back)),
                    _ => Mode::List,
                };
            }
            KeyCode::Up => dialog.selected = dialog.selected.saturating_sub(1),
            KeyCode::Down => {
                dialog.selected = (dialog.selected + 1).min(dialog.tags.len().saturating_sub(1))
            }
            KeyCode::Tab | KeyCode::BackTab => {
                if let VersionFor::Add { kind, .. } = &mut dialog.purpose {
                    *kind = Some(next_kind(*kind, key.code == KeyCode::BackTab));
                }
            }
            KeyCode::Enter => {
                let dialog = dialog.clone();
                let wanted = match dialog.wanted() {
                    Ok(wanted) => wanted,
                    Err(e) => {
                        fx.error(e);
                        return true;
                    }
                };
                let done = match &dialog.purpose {
                    VersionFor::Add { name, kind, .. } => match kind {
                        Some(kind) => self.add_module(*kind, name, &wanted, fx),
                        None => {
                            fx.error(format!(
                                "The registry does not say what type {name} is: tab chooses provider, taskserv or cluster"
                            ));
                            false
                        }
                    },
                    VersionFor::Change { name, kind, .. } => {
                        self.set_requirement(*kind, name, &wanted, fx)
                    }
                };
                if done {
                    self.mode = Mode::List;
                }
            }
            _ if is_quit(key) => return false,
            _ => {
                dialog.input.handle(key);
            }
        }
        true
    }

    /// A repository's tags arrived: the versions, newest first, for the dialog that asked.
    pub(super) fn tags_arrived(
        &mut self,
        reference: &Reference,
        result: &Result<Vec<crate::oci::browse::TagEntry>, String>,
    ) {
        let Mode::Version(dialog) = &mut self.mode else {
            return;
        };
        if dialog.repository != *reference || dialog.state != LoadState::Loading {
            return;
        }
        match result {
            Ok(tags) => {
                dialog.tags = tags
                    .iter()
                    .filter(|t| t.version.is_some())
                    .map(|t| t.tag.clone())
                    .collect();
                dialog.state = LoadState::Loaded;
                if let Some(tag) = &dialog.preselect
                    && let Some(i) = dialog.tags.iter().position(|t| t == tag)
                {
                    dialog.selected = i;
                }
            }
            Err(e) => dialog.state = LoadState::Failed(e.clone()),
        }
    }

    /// The registry's repositories arrived, for the search.
    pub(super) fn repositories_arrived(
        &mut self,
        registry: &str,
        result: &Result<Vec<crate::oci::browse::RepositoryEntry>, String>,
        fx: &mut Effects,
    ) {
        let catalog = &mut self.catalog;
        if registry != catalog.registry || catalog.state != LoadState::Loading {
            return;
        }
        match result {
            Ok(list) => {
                let mut entries: Vec<CatalogEntry> = list
                    .iter()
                    .map(|r| CatalogEntry {
                        name: r.name.clone(),
                        repository: r.repository.clone(),
                        description: None,
                    })
                    .collect();
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                catalog.entries = entries;
                catalog.state = LoadState::Loaded;
                let first: Vec<String> = catalog
                    .entries
                    .iter()
                    .take(DESCRIBE_LIMIT)
                    .map(|e| e.repository.clone())
                    .collect();
                catalog.describe(first.iter().map(String::as_str), fx);
            }
            Err(e) => catalog.state = LoadState::Failed(e.clone()),
        }
    }

    /// A description arrived; kept when this pane asked for it. A failed one leaves the name
    /// without a description.
    pub(super) fn description_arrived(
        &mut self,
        reference: &Reference,
        result: &Result<Description, String>,
    ) {
        let description = result.clone().unwrap_or_default();
        if let Mode::Version(dialog) = &mut self.mode
            && dialog.repository == *reference
            && let VersionFor::Add { kind, .. } = &mut dialog.purpose
            && kind.is_none()
        {
            *kind = description.kind.as_deref().and_then(|k| k.parse().ok());
        }
        if reference.registry != self.catalog.registry
            || !self.catalog.asked.remove(&reference.repository)
        {
            return;
        }
        if let Some(entry) = self
            .catalog
            .entries
            .iter_mut()
            .find(|e| e.repository == reference.repository)
        {
            entry.description = Some(description);
        }
    }

    /// `w` in Registry or Publish: adds `reference`'s extension, its version preselected.
    pub(super) fn add_prefilled(
        &mut self,
        reference: Reference,
        version: Option<String>,
        fx: &mut Effects,
    ) {
        if !self.is_editable() {
            fx.error("No workspace to add to: press i in the Workspace pane to create one");
            return;
        }
        let repository = Reference {
            tag: None,
            digest: None,
            ..reference.clone()
        };
        let name = repository.name().to_string();
        let kind = self
            .catalog
            .entries
            .iter()
            .find(|e| e.repository == repository.repository)
            .and_then(|e| e.description.as_ref())
            .and_then(|d| d.kind.as_deref())
            .and_then(|k| k.parse().ok());
        if kind.is_none() {
            fx.send(Request::Describe {
                reference: repository.clone(),
            });
        }
        let preselect = version.or(reference.tag);
        let purpose = VersionFor::Add {
            name,
            kind,
            back: None,
        };
        self.open_versions(purpose, repository, preselect, fx);
        fx.go(crate::tui::panes::PaneId::Workspace);
    }
}

/// Whether `text` can be an extension's name (one repository path component).
fn is_name(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty() && !text.contains('/') && crate::oci::name::validate_repository(text).is_ok()
}

/// ctrl-c still quits from inside a dialog.
fn is_quit(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c')
}

fn next_kind(kind: Option<ExtensionType>, back: bool) -> ExtensionType {
    let all = ExtensionType::ALL;
    let n = all.len();
    let i = kind.and_then(|k| all.iter().position(|a| *a == k));
    let next = match (i, back) {
        (None, _) => 0,
        (Some(i), false) => (i + 1) % n,
        (Some(i), true) => (i + n - 1) % n,
    };
    all[next]
}
