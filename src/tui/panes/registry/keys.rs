//! What actions, prompt answers and worker answers do to the Registry pane.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Described, Level, RegistryPane};
use crate::oci::Reference;
use crate::oci::browse::{Inspection, RepositoryEntry, TagEntry};
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::tui::action::Action;
use crate::tui::list::FilteredList;
use crate::tui::panes::{Effects, LoadState, Message, PaneId, PromptPurpose};
use crate::tui::view::{ListGeometry, Pane, View};
use crate::tui::worker::Request;

/// What a Registry prompt asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    PullTo(Reference),
    CopyTo(Reference),
    DeleteConfirm {
        reference: Reference,
        expected: String,
    },
    SwitchRegistry,
    LoginUser {
        registry: String,
    },
    LoginPassword {
        registry: String,
        username: String,
    },
    OpenDependency,
}

impl Pane for RegistryPane {
    fn hints(&self) -> Vec<Action> {
        match self.level {
            Level::Repositories => vec![
                Action::Open,
                Action::Filter,
                Action::SwitchRegistry,
                Action::Refresh,
            ],
            Level::Tags => vec![
                Action::Open,
                Action::Back,
                Action::AddToWorkspace,
                Action::Filter,
                Action::Pull,
                Action::CopyTo,
                Action::Delete,
            ],
            Level::Detail => vec![
                Action::Open,
                Action::Back,
                Action::AddToWorkspace,
                Action::Pull,
                Action::CopyTo,
                Action::Delete,
                Action::CopyReference,
            ],
        }
    }

    /// Typing into the filter of the list shown.
    fn raw_key(&mut self, key: &KeyEvent, fx: &mut Effects) -> bool {
        let Some(target) = self.filtering_mut() else {
            return false;
        };
        if !*target.filtering() {
            return false;
        }
        match key.code {
            KeyCode::Esc => {
                target.clear_filter();
                *target.filtering() = false;
            }
            KeyCode::Enter => *target.filtering() = false,
            KeyCode::Up => self.move_by(-1),
            KeyCode::Down => self.move_by(1),
            _ => {
                target.edit_filter(key);
            }
        }
        self.follow(fx);
        true
    }

    fn action(&mut self, action: Action, fx: &mut Effects) {
        self.act(action, fx);
        self.follow(fx);
    }

    fn cancel_loading(&mut self) {
        for state in [
            &mut self.repos_state,
            &mut self.tags_state,
            &mut self.detail_state,
        ] {
            if *state == LoadState::Loading {
                *state = LoadState::Failed("cancelled".into());
            }
        }
    }

    fn select_index(&mut self, index: usize, fx: &mut Effects) {
        match self.level {
            Level::Repositories => self.repos.select(index),
            Level::Tags => self.tags.select(index),
            Level::Detail => {}
        }
        // A click asks for what a key move would: descriptions, the preview.
        self.follow(fx);
    }

    fn geometry(&self) -> ListGeometry {
        self.geometry.get()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, view: &View) {
        super::view::draw(self, frame, area, view);
    }
}

impl RegistryPane {
    fn act(&mut self, action: Action, fx: &mut Effects) {
        let page = self.geometry.get().page();
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Top => self.to_end(false),
            Action::Bottom => self.to_end(true),
            Action::Open if self.level == Level::Detail => {
                let names = self.dependency_names();
                if names.is_empty() {
                    fx.info("This artifact declares no dependencies");
                } else {
                    let first = names[0].clone();
                    fx.prompt(
                        PromptPurpose::Registry(Ask::OpenDependency),
                        format!("Open dependency ({})", names.join(", ")),
                        first,
                    );
                }
            }
            Action::Open => {
                if let Some(request) = self.open() {
                    fx.send(request);
                }
            }
            Action::Back => {
                self.back();
            }
            Action::Filter => {
                if let Some(target) = self.filtering_mut() {
                    target.start_filter();
                }
            }
            Action::Refresh => {
                let request = match self.level {
                    Level::Repositories => Some(self.load()),
                    Level::Tags => {
                        self.level = Level::Repositories;
                        self.open()
                    }
                    Level::Detail => {
                        self.level = Level::Tags;
                        self.open()
                    }
                };
                if let Some(request) = request {
                    fx.send(request);
                }
            }
            Action::SwitchRegistry => {
                let known = self.registries.join(", ");
                fx.prompt(
                    PromptPurpose::Registry(Ask::SwitchRegistry),
                    format!("Registry host[:port] (known: {known})"),
                    "",
                );
            }
            Action::Login => {
                let registry = self.registry().to_string();
                fx.prompt(
                    PromptPurpose::Registry(Ask::LoginUser {
                        registry: registry.clone(),
                    }),
                    format!("Username for {registry}"),
                    "",
                );
            }
            Action::Pull => {
                if let Some(reference) = self.tagged_selection(fx) {
                    let initial = format!("./{}", reference.name());
                    fx.prompt(
                        PromptPurpose::Registry(Ask::PullTo(reference)),
                        format!("Pull into directory (relative to {})", self.base.display()),
                        initial,
                    );
                }
            }
            Action::AddToWorkspace => {
                if let Some(reference) = self.tagged_selection(fx) {
                    let version = reference.tag.clone();
                    let repository = Reference {
                        tag: None,
                        digest: None,
                        ..reference
                    };
                    self.added = Some((repository.clone(), version.clone()));
                    fx.tell(
                        PaneId::Workspace,
                        Message::AddToWorkspace {
                            reference: repository,
                            version,
                        },
                    );
                    fx.go(PaneId::Workspace);
                }
            }
            Action::CopyTo => {
                if let Some(reference) = self.tagged_selection(fx) {
                    let initial = reference.to_string();
                    fx.prompt(
                        PromptPurpose::Registry(Ask::CopyTo(reference)),
                        "Copy to reference",
                        initial,
                    );
                }
            }
            Action::Delete => {
                if let Some(reference) = self.tagged_selection(fx) {
                    let expected = reference.tag.clone().unwrap_or_default();
                    fx.prompt(
                        PromptPurpose::Registry(Ask::DeleteConfirm {
                            reference: reference.clone(),
                            expected: expected.clone(),
                        }),
                        format!(
                            "Delete {reference} and every tag on its manifest? Type `{expected}`"
                        ),
                        "",
                    );
                }
            }
            Action::CopyReference => {
                if let Some(reference) = self.selected_reference() {
                    fx.info(format!("oci://{reference}"));
                }
            }
            _ => {}
        }
    }

    /// The selected tag (or detail) reference; a toast when a repository is selected.
    fn tagged_selection(&self, fx: &mut Effects) -> Option<Reference> {
        let reference = self.selected_reference()?;
        if reference.tag.is_none() && reference.digest.is_none() {
            fx.info("Open the repository and choose a tag first");
            return None;
        }
        Some(reference)
    }

    pub fn answer(&mut self, ask: Ask, input: String, fx: &mut Effects) {
        match ask {
            Ask::PullTo(reference) => {
                if input.is_empty() {
                    return;
                }
                // Relative to the workspace, as the prompt says.
                let dest = self.base.join(&input);
                let description = format!("{reference} → {}", dest.display());
                fx.job(
                    "pull",
                    description,
                    Request::Pull {
                        job: 0,
                        reference,
                        dest,
                    },
                );
            }
            Ask::CopyTo(source) => match Reference::parse(&input, &self.defaults) {
                Ok(target) if target == source => {
                    fx.error(format!(
                        "{target} is what you are copying; give another reference"
                    ));
                }
                Ok(target) => {
                    let description = format!("{source} → {target}");
                    fx.job(
                        "copy",
                        description,
                        Request::Copy {
                            job: 0,
                            source,
                            target,
                        },
                    );
                }
                Err(e) => fx.error(e.to_string()),
            },
            Ask::DeleteConfirm {
                reference,
                expected,
            } => {
                if input == expected {
                    fx.send(Request::Delete { reference });
                } else {
                    fx.info("Not deleted: the confirmation did not match");
                }
            }
            Ask::SwitchRegistry => {
                // `host[:port]` or `host[:port]/namespace`, with or without a scheme.
                let input = ["oci://", "https://", "http://"]
                    .iter()
                    .fold(input.as_str(), |rest, scheme| {
                        rest.strip_prefix(scheme).unwrap_or(rest)
                    })
                    .trim_end_matches('/');
                let (host, namespace) = match input.split_once('/') {
                    Some((host, namespace)) => (host, Some(namespace)),
                    None => (input, None),
                };
                if !host.is_empty() {
                    if let Some(namespace) = namespace {
                        self.namespace = namespace.to_string();
                    }
                    fx.send(self.switch_to(host));
                }
            }
            Ask::LoginUser { registry } => {
                if !input.is_empty() {
                    fx.secret_prompt(
                        PromptPurpose::Registry(Ask::LoginPassword {
                            registry: registry.clone(),
                            username: input,
                        }),
                        format!("Password for {registry}"),
                    );
                }
            }
            Ask::LoginPassword { registry, username } => {
                fx.send(Request::Login {
                    registry,
                    username,
                    password: input,
                });
            }
            Ask::OpenDependency => {
                if let Some(request) = self.open_dependency(&input) {
                    fx.send(request);
                } else if !input.is_empty() {
                    fx.error(format!("`{input}` is not in this registry's namespace"));
                }
            }
        }
    }

    pub fn on_repositories(
        &mut self,
        registry: &str,
        result: Result<Vec<RepositoryEntry>, String>,
        fx: &mut Effects,
    ) {
        // Answers to a load that was cancelled (Esc) or replaced are ignored.
        if registry != self.registry() || self.repos_state != LoadState::Loading {
            return;
        }
        match result {
            Ok(list) => {
                self.repos.set_items(list);
                self.repos_state = LoadState::Loaded;
                self.follow(fx);
            }
            Err(e) => self.repos_state = LoadState::Failed(RegistryPane::explain(&e)),
        }
    }

    pub fn on_tags(
        &mut self,
        reference: &Reference,
        result: Result<Vec<TagEntry>, String>,
        fx: &mut Effects,
    ) {
        if self.tags_of.as_ref() != Some(reference) || self.tags_state != LoadState::Loading {
            return;
        }
        match result {
            Ok(list) => {
                self.tags.set_items(list);
                self.tags_state = LoadState::Loaded;
                if let Some(tag) = self.select_tag.take()
                    && let Some(index) = self.tags.items().iter().position(|t| t.tag == tag)
                {
                    self.tags.select(index);
                }
                self.follow(fx);
            }
            Err(e) => self.tags_state = LoadState::Failed(RegistryPane::explain(&e)),
        }
    }

    pub fn on_inspected(
        &mut self,
        reference: &Reference,
        result: Result<Box<Inspection>, String>,
        fx: &mut Effects,
    ) {
        if self.detail_of.as_ref() != Some(reference) || self.detail_state != LoadState::Loading {
            return;
        }
        match result {
            Ok(found) => {
                self.signatures = None;
                fx.send(Request::Signatures {
                    reference: reference.clone(),
                    digest: found.digest.clone(),
                    root: self.base.clone(),
                });
                self.detail = Some(found);
                self.detail_state = LoadState::Loaded;
            }
            Err(e) => self.detail_state = LoadState::Failed(RegistryPane::explain(&e)),
        }
    }

    pub fn on_deleted(
        &mut self,
        reference: &Reference,
        result: Result<crate::oci::Digest, String>,
        fx: &mut Effects,
    ) {
        match result {
            Ok(digest) => {
                fx.info(format!("Deleted {reference} ({digest})"));
                // What was said about the tag and its repository's newest version is stale.
                self.descriptions.remove(reference);
                self.descriptions.remove(&Reference {
                    tag: None,
                    digest: None,
                    ..reference.clone()
                });
                self.level = Level::Repositories;
                if let Some(request) = self.open() {
                    fx.send(request);
                }
            }
            Err(e) => fx.error(format!("Delete failed: {e}")),
        }
    }

    pub fn on_logged_in(
        &mut self,
        registry: &str,
        result: Result<String, String>,
        fx: &mut Effects,
    ) {
        match result {
            Ok(source) => {
                fx.info(format!(
                    "Logged in to {registry}; credentials stored in {source}"
                ));
                if registry == self.registry() {
                    fx.send(self.load());
                }
            }
            Err(e) => fx.error(format!("Login failed, nothing stored: {e}")),
        }
    }

    /// Shows `reference`'s repository (switching registry when needed) and lists its tags,
    /// selecting its tag when it has one.
    pub fn show(&mut self, reference: &Reference, fx: &mut Effects) {
        if reference.registry != self.registry() {
            fx.send(self.switch_to(&reference.registry));
        }
        let repository = Reference {
            tag: None,
            digest: None,
            ..reference.clone()
        };
        self.level = Level::Tags;
        self.tags = FilteredList::default();
        self.tags_state = LoadState::Loading;
        self.tags_of = Some(repository.clone());
        self.select_tag = reference.tag.clone();
        fx.send(Request::Tags {
            reference: repository,
        });
    }

    /// The workspace's modules changed: they mark the tags it uses.
    pub fn set_workspace_modules(&mut self, modules: Vec<(String, String)>) {
        self.workspace_modules = modules;
    }

    /// A message from another pane.
    pub fn on_message(&mut self, message: crate::tui::panes::Message, fx: &mut Effects) {
        use crate::tui::panes::Message;
        match message {
            Message::ShowInRegistry(reference) => self.show(&reference, fx),
            Message::WorkspaceModules(modules) => self.set_workspace_modules(modules),
            _ => {}
        }
    }

    /// A repository's newest version, type and description arrived.
    pub fn on_described(
        &mut self,
        reference: &Reference,
        result: Result<crate::tui::worker::Description, String>,
        _fx: &mut Effects,
    ) {
        // Only answers to this pane's own questions are kept (the Workspace pane asks too).
        if let Some(slot) = self.descriptions.get_mut(reference) {
            *slot = match result {
                Ok(found) => Described::Found(found),
                Err(_) => Described::Failed,
            };
        }
    }

    /// The signatures of the artifact shown arrived.
    pub fn on_signatures(
        &mut self,
        reference: &Reference,
        result: Result<crate::tui::worker::SignatureSummary, String>,
    ) {
        if self.detail_of.as_ref() == Some(reference) {
            self.signatures = Some(result);
        }
    }
}
