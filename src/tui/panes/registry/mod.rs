//! Registry pane: registries → repositories → tags → detail.

mod keys;
mod lazy;
mod tags_view;
mod view;

pub use keys::Ask;
pub use lazy::{Described, Usage};

use crate::oci::browse::{Inspection, RepositoryEntry, TagEntry};
use crate::oci::{Reference, ReferenceDefaults};
use crate::tui::list::{FilterControl, Filterable, FilteredList};
use crate::tui::worker::Request;

use super::LoadState;
use crate::tui::view::GeometryCell;

impl Filterable for RepositoryEntry {
    fn filter_text(&self) -> String {
        self.repository.clone()
    }
}

impl Filterable for TagEntry {
    fn filter_text(&self) -> String {
        self.tag.clone()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Repositories,
    Tags,
    Detail,
}

pub struct RegistryPane {
    pub registries: Vec<String>,
    pub current: usize,
    pub namespace: String,
    pub level: Level,
    pub repos: FilteredList<RepositoryEntry>,
    pub repos_state: LoadState,
    pub tags: FilteredList<TagEntry>,
    pub tags_state: LoadState,
    /// The repository whose tags are shown.
    pub tags_of: Option<Reference>,
    pub detail: Option<Box<Inspection>>,
    pub detail_state: LoadState,
    pub detail_of: Option<Reference>,
    pub detail_scroll: u16,
    /// The tag to select when the tag list arrives (a jump from another pane).
    pub select_tag: Option<String>,
    /// How typed references are completed (copy targets).
    pub defaults: ReferenceDefaults,
    pub geometry: GeometryCell,
    /// The signatures of the artifact in the detail, once the worker has looked.
    pub signatures: Option<Result<crate::tui::worker::SignatureSummary, String>>,
    /// What relative paths typed in this pane's prompts are relative to: the workspace.
    pub base: std::path::PathBuf,
    /// Descriptions of repositories (no tag) and tags, keyed by reference; each is asked for
    /// once, when its row is first on screen.
    pub descriptions: std::collections::HashMap<Reference, Described>,
    /// The workspace's modules (name → pin or range), to mark the tags it uses.
    pub workspace_modules: Vec<(String, String)>,
    /// The width the pane was last drawn at (0 before the first frame): at least
    /// [`WIDE`] columns shows tags beside a preview of the selected one.
    pub width: std::cell::Cell<u16>,
    /// The last extension `w` sent to the Workspace pane: its repository and version.
    pub added: Option<(Reference, Option<String>)>,
}

/// The narrowest pane that shows tags beside a preview; narrower ones drill down.
pub const WIDE: u16 = 100;

impl RegistryPane {
    pub fn new(registries: Vec<String>, defaults: ReferenceDefaults) -> RegistryPane {
        RegistryPane {
            registries,
            current: 0,
            namespace: defaults.namespace.clone(),
            level: Level::Repositories,
            repos: FilteredList::default(),
            repos_state: LoadState::Idle,
            tags: FilteredList::default(),
            tags_state: LoadState::Idle,
            tags_of: None,
            detail: None,
            detail_state: LoadState::Idle,
            detail_of: None,
            detail_scroll: 0,
            select_tag: None,
            defaults,
            geometry: GeometryCell::default(),
            signatures: None,
            base: std::path::PathBuf::from("."),
            descriptions: std::collections::HashMap::new(),
            workspace_modules: Vec::new(),
            width: std::cell::Cell::new(0),
            added: None,
        }
    }

    pub fn registry(&self) -> &str {
        self.registries
            .get(self.current)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Asks for the repositories of the current registry.
    pub fn load(&mut self) -> Request {
        self.repos_state = LoadState::Loading;
        // A reload describes the rows again.
        self.descriptions.clear();
        self.level = Level::Repositories;
        Request::Repositories {
            registry: self.registry().to_string(),
            namespace: self.namespace.clone(),
        }
    }

    /// Switches to `registry` (added when new) and reloads.
    pub fn switch_to(&mut self, registry: &str) -> Request {
        match self.registries.iter().position(|r| r == registry) {
            Some(i) => self.current = i,
            None => {
                self.registries.push(registry.to_string());
                self.current = self.registries.len() - 1;
            }
        }
        self.repos = FilteredList::default();
        self.load()
    }

    /// The reference of the selected repository.
    pub fn selected_repository(&self) -> Option<Reference> {
        let entry = self.repos.selected()?;
        Some(Reference {
            registry: self.registry().to_string(),
            repository: entry.repository.clone(),
            tag: None,
            digest: None,
        })
    }

    /// The reference under the cursor: the tag (or detail) when shown, else the repository.
    pub fn selected_reference(&self) -> Option<Reference> {
        match self.level {
            Level::Repositories => self.selected_repository(),
            Level::Tags => {
                let base = self.tags_of.as_ref()?;
                Some(base.with_tag(&self.tags.selected()?.tag))
            }
            Level::Detail => self.detail_of.clone(),
        }
    }

    /// Enter: repositories → tags → detail.
    pub fn open(&mut self) -> Option<Request> {
        match self.level {
            Level::Repositories => {
                let reference = self.selected_repository()?;
                self.level = Level::Tags;
                self.tags = FilteredList::default();
                self.tags_state = LoadState::Loading;
                self.tags_of = Some(reference.clone());
                Some(Request::Tags { reference })
            }
            Level::Tags => {
                let reference = self.selected_reference()?;
                self.level = Level::Detail;
                if self.detail_of.as_ref() == Some(&reference)
                    && matches!(self.detail_state, LoadState::Loaded | LoadState::Loading)
                {
                    // The preview already has (or is fetching) it.
                    self.detail_scroll = 0;
                    return None;
                }
                self.detail = None;
                self.detail_scroll = 0;
                self.detail_state = LoadState::Loading;
                self.detail_of = Some(reference.clone());
                Some(Request::Inspect { reference })
            }
            Level::Detail => None,
        }
    }

    /// Names of the dependencies the shown extension declares.
    pub fn dependency_names(&self) -> Vec<String> {
        self.detail
            .as_ref()
            .and_then(|d| d.config_content.as_ref())
            .and_then(|c| c.get("dependencies"))
            .and_then(|d| d.as_object())
            .map(|deps| deps.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Jumps to a dependency's repository and lists its tags.
    pub fn open_dependency(&mut self, name: &str) -> Option<Request> {
        let repository = if self.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.namespace)
        };
        self.repos.set_filter("");
        self.repos.filtering = false;
        let index = self
            .repos
            .items()
            .iter()
            .position(|r| r.repository == repository)?;
        self.repos.select(index);
        self.level = Level::Repositories;
        self.open()
    }

    /// Back one level; false at the top.
    pub fn back(&mut self) -> bool {
        self.level = match self.level {
            Level::Repositories => return false,
            Level::Tags => Level::Repositories,
            Level::Detail => Level::Tags,
        };
        true
    }

    /// The list keys act on at this level.
    pub fn move_by(&mut self, delta: isize) {
        match self.level {
            Level::Repositories => self.repos.move_by(delta),
            Level::Tags => self.tags.move_by(delta),
            Level::Detail => {
                self.detail_scroll = (self.detail_scroll as isize + delta).max(0) as u16;
            }
        }
    }

    pub fn to_end(&mut self, last: bool) {
        match (self.level, last) {
            (Level::Repositories, true) => self.repos.select_last(),
            (Level::Repositories, false) => self.repos.select(0),
            (Level::Tags, true) => self.tags.select_last(),
            (Level::Tags, false) => self.tags.select(0),
            (Level::Detail, _) => self.detail_scroll = 0,
        }
    }

    /// The filterable list at this level.
    pub fn filtering_mut(&mut self) -> Option<&mut dyn FilterControl> {
        match self.level {
            Level::Repositories => Some(&mut self.repos),
            Level::Tags => Some(&mut self.tags),
            Level::Detail => None,
        }
    }

    /// An explanation for a failed load, with what to do.
    pub fn explain(error: &str) -> String {
        if error.contains("does not offer a catalog") {
            format!(
                "{error}\n\nOpen a repository by name with `:` → switch-registry, or list tags with `provisioning oci tags NAME`."
            )
        } else if error.contains("authentication required") || error.contains("Unauthorized") {
            format!("{error}\n\nPress L to log in.")
        } else if let Some(cut) = error.find("; the registry may speak plain HTTP") {
            // The command line's advice (a flag) means nothing here.
            format!(
                "{}\n\nThe registry may speak plain HTTP: list its host under `plain_http` in {}, or in the workspace's `tls_enabled: false`; then press ctrl-r.",
                &error[..cut],
                crate::paths::config_dir().join("config.yaml").display()
            )
        } else if error.contains("cannot reach") {
            format!(
                "{error}\n\nThe registry is down or unreachable; press ctrl-r to retry, R to choose another."
            )
        } else {
            error.to_string()
        }
    }
}
