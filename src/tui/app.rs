//! The workbench's state and how keys, mouse and worker answers change it. No I/O here: the
//! app queues requests for the worker, and drawing reads it (`screen`). Tests drive it
//! headless by sending keys and answers.

use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::action::Action;
use super::clock::Clock;
use super::keymap::Keymap;
use super::panes::LoadState;
use super::panes::publish::{PublishPane, Step, set_manifest_version};
use super::panes::registry::{Level, RegistryPane};
use super::panes::transfers::{JobState, TransfersPane};
use super::theme::Theme;
use super::worker::{JobId, Request, Response};
use crate::extension::manifest::ExtensionType;
use crate::oci::{Reference, ReferenceDefaults};

mod actions;
mod responses;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaneId {
    Registry,
    Transfers,
    Publish,
}

impl PaneId {
    pub const ALL: [PaneId; 3] = [PaneId::Registry, PaneId::Transfers, PaneId::Publish];

    /// The number key that opens it; 2 and 3 are kept for the Dependencies and Workspace panes.
    pub fn number(self) -> u8 {
        match self {
            PaneId::Registry => 1,
            PaneId::Transfers => 4,
            PaneId::Publish => 5,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            PaneId::Registry => "Registry",
            PaneId::Transfers => "Transfers",
            PaneId::Publish => "Publish",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToastKind {
    Info,
    Error,
}

#[derive(Clone, Debug)]
pub struct Toast {
    pub text: String,
    pub kind: ToastKind,
    pub born: Instant,
}

/// How long a toast stays.
pub const TOAST_LIFE: Duration = Duration::from_secs(4);

/// What a text prompt is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptPurpose {
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
    Generate {
        dir: PathBuf,
    },
    QuitConfirm,
    OpenDependency,
    PublishTarget,
}

#[derive(Clone, Debug)]
pub enum Overlay {
    Help,
    Palette {
        input: String,
        selected: usize,
    },
    Prompt {
        purpose: PromptPurpose,
        label: String,
        input: String,
        masked: bool,
    },
}

/// Where the current list was drawn, for mouse clicks.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListGeometry {
    pub area: Rect,
    pub offset: usize,
}

pub struct App {
    pub pane: PaneId,
    pub theme: Theme,
    pub keymap: Keymap,
    pub registry: RegistryPane,
    pub transfers: TransfersPane,
    pub publish: PublishPane,
    pub overlay: Option<Overlay>,
    pub toasts: Vec<Toast>,
    pub defaults: ReferenceDefaults,
    pub quit: bool,
    pub list_geometry: Cell<ListGeometry>,
    clock: Clock,
    outbox: Vec<Request>,
    next_job: JobId,
}

impl App {
    pub fn new(
        defaults: ReferenceDefaults,
        registries: Vec<String>,
        workspace_root: PathBuf,
        theme: Theme,
        keymap: Keymap,
    ) -> App {
        let mut registries = registries;
        if !registries.contains(&defaults.registry) {
            registries.insert(0, defaults.registry.clone());
        }
        let mut app = App {
            pane: PaneId::Registry,
            theme,
            keymap,
            registry: RegistryPane::new(registries, defaults.namespace.clone()),
            transfers: TransfersPane::default(),
            publish: PublishPane::new(
                workspace_root,
                defaults.registry.clone(),
                defaults.namespace.clone(),
            ),
            overlay: None,
            toasts: Vec::new(),
            defaults,
            quit: false,
            list_geometry: Cell::new(ListGeometry::default()),
            clock: Clock::system(),
            outbox: Vec::new(),
            next_job: 1,
        };
        let first = app.registry.load();
        app.send(first);
        app
    }

    /// The same app reading the time from `clock` (for toasts and transfers).
    pub fn with_clock(mut self, clock: Clock) -> App {
        self.transfers.clock = clock.clone();
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Requests queued for the worker since the last call.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.outbox)
    }

    fn send(&mut self, request: Request) {
        self.outbox.push(request);
    }

    pub fn toast(&mut self, text: impl Into<String>, kind: ToastKind) {
        self.toasts.push(Toast {
            text: text.into(),
            kind,
            born: self.clock.now(),
        });
        if self.toasts.len() > 4 {
            self.toasts.remove(0);
        }
    }

    /// Drops faded toasts; true when something visible changed (or a transfer is running).
    pub fn tick(&mut self) -> bool {
        let before = self.toasts.len();
        let now = self.clock.now();
        self.toasts
            .retain(|t| now.saturating_duration_since(t.born) < TOAST_LIFE);
        before != self.toasts.len() || self.transfers.running() > 0
    }

    fn new_job(
        &mut self,
        kind: &'static str,
        description: String,
        request: impl FnOnce(JobId) -> Request,
    ) {
        let id = self.next_job;
        self.next_job += 1;
        let request = request(id);
        self.transfers
            .add(id, kind, description.clone(), request.clone());
        self.send(request);
        self.toast(
            format!("{kind} started: {description} (4 Transfers)"),
            ToastKind::Info,
        );
    }

    /// The actions that make sense here, for the hint bar.
    pub fn hints(&self) -> Vec<Action> {
        if self.overlay.is_some() {
            return vec![Action::Open, Action::Cancel];
        }
        let mut hints = match self.pane {
            PaneId::Registry => match self.registry.level {
                Level::Repositories => vec![
                    Action::Open,
                    Action::Filter,
                    Action::SwitchRegistry,
                    Action::Refresh,
                ],
                Level::Tags => vec![
                    Action::Open,
                    Action::Back,
                    Action::Filter,
                    Action::Pull,
                    Action::CopyTo,
                    Action::Delete,
                ],
                Level::Detail => vec![
                    Action::Open,
                    Action::Back,
                    Action::Pull,
                    Action::CopyTo,
                    Action::Delete,
                    Action::CopyReference,
                ],
            },
            PaneId::Transfers => vec![
                Action::Up,
                Action::Down,
                Action::CancelJob,
                Action::RetryJob,
            ],
            PaneId::Publish => match self.publish.step {
                Step::Pick => vec![Action::Open, Action::Back, Action::Generate],
                Step::Validate => vec![Action::Validate, Action::Back],
                Step::Target => vec![Action::Open, Action::SwitchRegistry, Action::Back],
                _ => vec![Action::Open, Action::Back, Action::Validate],
            },
        };
        hints.extend([
            Action::NextPane,
            Action::Palette,
            Action::Help,
            Action::Quit,
        ]);
        hints
    }

    pub fn handle_mouse(&mut self, event: MouseEvent) {
        match event.kind {
            MouseEventKind::ScrollDown => self.apply(Action::Down),
            MouseEventKind::ScrollUp => self.apply(Action::Up),
            MouseEventKind::Down(_) => {
                let geometry = self.list_geometry.get();
                let area = geometry.area;
                if event.column >= area.x
                    && event.column < area.x + area.width
                    && event.row > area.y
                    && event.row < area.y + area.height.saturating_sub(1)
                {
                    let index = geometry.offset + (event.row - area.y - 1) as usize;
                    self.select_index(index);
                }
            }
            _ => {}
        }
    }

    fn select_index(&mut self, index: usize) {
        match self.pane {
            PaneId::Registry => match self.registry.level {
                Level::Repositories => self.registry.repos.select(index),
                Level::Tags => self.registry.tags.select(index),
                Level::Detail => {}
            },
            PaneId::Transfers => {
                self.transfers.selected = index.min(self.transfers.jobs.len().saturating_sub(1));
            }
            PaneId::Publish => {
                self.publish.selected = index.min(self.publish.entries.len().saturating_sub(1));
            }
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        if self.overlay.is_some() {
            self.overlay_key(key);
            return;
        }
        if self.pane == PaneId::Registry
            && let Some(mut target) = self.registry.filtering_mut()
            && *target.filtering()
        {
            match key.code {
                KeyCode::Esc => {
                    target.clear();
                    *target.filtering() = false;
                }
                KeyCode::Enter => *target.filtering() = false,
                KeyCode::Backspace => target.pop(),
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    target.push(c)
                }
                KeyCode::Up => self.registry.move_by(-1),
                KeyCode::Down => self.registry.move_by(1),
                _ => {}
            }
            return;
        }
        if self.pane == PaneId::Publish
            && self.publish.step == Step::Target
            && let KeyCode::Char(c @ '1'..='3') = key.code
        {
            self.choose_suggestion(c as usize - '0' as usize);
            return;
        }
        match key.code {
            KeyCode::Char('2') | KeyCode::Char('3') if key.modifiers.is_empty() => {
                self.toast(
                    "The Dependencies and Workspace panes arrive with the resolver",
                    ToastKind::Info,
                );
                return;
            }
            _ => {}
        }
        if let Some(action) = self.keymap.action(&key) {
            self.apply(action);
        }
    }

    fn overlay_key(&mut self, key: KeyEvent) {
        let Some(overlay) = self.overlay.as_mut() else {
            return;
        };
        match overlay {
            Overlay::Help => {
                if matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('?') | KeyCode::Char('q')
                ) {
                    self.overlay = None;
                }
            }
            Overlay::Palette { input, selected } => match key.code {
                KeyCode::Esc => self.overlay = None,
                KeyCode::Up => *selected = selected.saturating_sub(1),
                KeyCode::Down => *selected += 1,
                KeyCode::Tab => {
                    if let Some(first) = palette_matches(input).first() {
                        *input = first.name();
                    }
                }
                KeyCode::Backspace => {
                    input.pop();
                    *selected = 0;
                }
                KeyCode::Char(c) => {
                    input.push(c);
                    *selected = 0;
                }
                KeyCode::Enter => {
                    let matches = palette_matches(input);
                    let chosen = matches
                        .get((*selected).min(matches.len().saturating_sub(1)))
                        .copied();
                    self.overlay = None;
                    if let Some(action) = chosen {
                        self.apply(action);
                    }
                }
                _ => {}
            },
            Overlay::Prompt { input, .. } => match key.code {
                KeyCode::Esc => self.overlay = None,
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => input.push(c),
                KeyCode::Enter => {
                    if let Some(Overlay::Prompt { purpose, input, .. }) = self.overlay.take() {
                        self.answer(purpose, input);
                    }
                }
                _ => {}
            },
        }
    }

    fn prompt(
        &mut self,
        purpose: PromptPurpose,
        label: impl Into<String>,
        initial: impl Into<String>,
        masked: bool,
    ) {
        self.overlay = Some(Overlay::Prompt {
            purpose,
            label: label.into(),
            input: initial.into(),
            masked,
        });
    }

    fn answer(&mut self, purpose: PromptPurpose, input: String) {
        let input = input.trim().to_string();
        match purpose {
            PromptPurpose::PullTo(reference) => {
                if input.is_empty() {
                    return;
                }
                let dest = PathBuf::from(&input);
                let description = format!("{reference} → {input}");
                self.new_job("pull", description, |job| Request::Pull {
                    job,
                    reference,
                    dest,
                });
            }
            PromptPurpose::CopyTo(source) => match Reference::parse(&input, &self.defaults) {
                Ok(target) => {
                    let description = format!("{source} → {target}");
                    self.new_job("copy", description, |job| Request::Copy {
                        job,
                        source,
                        target,
                    });
                }
                Err(e) => self.toast(e.to_string(), ToastKind::Error),
            },
            PromptPurpose::DeleteConfirm {
                reference,
                expected,
            } => {
                if input == expected {
                    self.send(Request::Delete { reference });
                } else {
                    self.toast(
                        "Not deleted: the confirmation did not match",
                        ToastKind::Info,
                    );
                }
            }
            PromptPurpose::SwitchRegistry => {
                if !input.is_empty() {
                    let request = self.registry.switch_to(&input);
                    self.send(request);
                }
            }
            PromptPurpose::LoginUser { registry } => {
                if !input.is_empty() {
                    self.prompt(
                        PromptPurpose::LoginPassword {
                            registry: registry.clone(),
                            username: input,
                        },
                        format!("Password for {registry}"),
                        "",
                        true,
                    );
                }
            }
            PromptPurpose::LoginPassword { registry, username } => {
                self.send(Request::Login {
                    registry,
                    username,
                    password: input,
                });
            }
            PromptPurpose::Generate { dir } => {
                let mut parts = input.split_whitespace();
                let kind = parts.next().and_then(|k| k.parse::<ExtensionType>().ok());
                match (kind, parts.next()) {
                    (Some(kind), Some(name)) => self.send(Request::Generate {
                        kind,
                        name: name.to_string(),
                        dir,
                    }),
                    _ => self.toast("Type `TYPE NAME`, e.g. `taskserv redis`", ToastKind::Error),
                }
            }
            PromptPurpose::PublishTarget => match input.split_once('/') {
                Some((registry, namespace)) if !registry.is_empty() => {
                    self.publish.registry = registry.to_string();
                    self.publish.namespace = namespace.trim_matches('/').to_string();
                    self.publish.existing_digest = None;
                    if let Some(target) = self.publish.target() {
                        self.publish.existing_state = LoadState::Loading;
                        self.send(Request::Tags {
                            reference: Reference {
                                tag: None,
                                ..target
                            },
                        });
                    }
                }
                _ => self.toast(
                    "Type `REGISTRY/NAMESPACE`, e.g. `localhost:5000/provisioning-extensions`",
                    ToastKind::Error,
                ),
            },
            PromptPurpose::OpenDependency => {
                if let Some(request) = self.registry.open_dependency(&input) {
                    self.send(request);
                } else if !input.is_empty() {
                    self.toast(
                        format!("`{input}` is not in this registry's namespace"),
                        ToastKind::Error,
                    );
                }
            }
            PromptPurpose::QuitConfirm => {
                if input.eq_ignore_ascii_case("y") || input.eq_ignore_ascii_case("yes") {
                    self.quit = true;
                }
            }
        }
    }

    /// Applies an action (from a key, the palette or a test).
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Quit => {
                if self.transfers.running() > 0 {
                    let running = self.transfers.running();
                    self.prompt(
                        PromptPurpose::QuitConfirm,
                        format!("{running} transfer(s) running; quit and cancel them? (y/n)"),
                        "",
                        false,
                    );
                } else {
                    self.quit = true;
                }
            }
            Action::NextPane | Action::PrevPane => {
                let i = PaneId::ALL
                    .iter()
                    .position(|p| *p == self.pane)
                    .unwrap_or(0);
                let n = PaneId::ALL.len();
                let next = if action == Action::NextPane {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.pane = PaneId::ALL[next];
            }
            Action::GoRegistry => self.pane = PaneId::Registry,
            Action::GoTransfers => self.pane = PaneId::Transfers,
            Action::GoPublish => self.pane = PaneId::Publish,
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Palette => {
                self.overlay = Some(Overlay::Palette {
                    input: String::new(),
                    selected: 0,
                })
            }
            Action::Cancel => {
                // Esc: stop what is loading.
                self.send(Request::CancelFetches);
                for state in [
                    &mut self.registry.repos_state,
                    &mut self.registry.tags_state,
                    &mut self.registry.detail_state,
                ] {
                    if *state == LoadState::Loading {
                        *state = LoadState::Failed("cancelled".into());
                    }
                }
            }
            _ => match self.pane {
                PaneId::Registry => self.registry_action(action),
                PaneId::Transfers => self.transfers_action(action),
                PaneId::Publish => self.publish_action(action),
            },
        }
    }
}

/// The same request with a new job id (for retry).
fn with_job(request: Request, id: JobId) -> Request {
    match request {
        Request::Pull {
            reference, dest, ..
        } => Request::Pull {
            job: id,
            reference,
            dest,
        },
        Request::Copy { source, target, .. } => Request::Copy {
            job: id,
            source,
            target,
        },
        Request::PushExtension {
            dir, target, force, ..
        } => Request::PushExtension {
            job: id,
            dir,
            target,
            force,
        },
        other => other,
    }
}

/// Actions whose name or description contains `input`, for the palette.
pub fn palette_matches(input: &str) -> Vec<Action> {
    let needle = input.trim().to_lowercase();
    Action::ALL
        .iter()
        .copied()
        .filter(|a| {
            needle.is_empty() || a.name().contains(&needle) || a.describe().contains(&needle)
        })
        .collect()
}
