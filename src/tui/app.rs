//! The workbench's state and how keys, mouse and worker answers change it. No I/O here: the
//! app queues requests for the worker, and drawing reads it (`screen`). Tests drive it
//! headless by sending keys and answers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};

use super::action::Action;
use super::clock::Clock;
use super::input::LineInput;
use super::keymap::Keymap;
use super::panes::dependencies::DependenciesPane;
use super::panes::publish::PublishPane;
use super::panes::registry::RegistryPane;
use super::panes::transfers::TransfersPane;
use super::panes::workspace::WorkspacePane;
use super::panes::{Effects, Message};
pub use super::panes::{PaneId, PromptPurpose};
use super::theme::Theme;
use super::view::Pane;
use super::worker::{JobId, Request};
use crate::oci::ReferenceDefaults;

mod responses;

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

#[derive(Clone, Debug)]
pub enum Overlay {
    Help,
    Palette {
        input: LineInput,
        selected: usize,
    },
    Prompt {
        purpose: PromptPurpose,
        label: String,
        input: LineInput,
        masked: bool,
    },
}

pub struct App {
    pub pane: PaneId,
    pub theme: Theme,
    pub keymap: Keymap,
    pub registry: RegistryPane,
    pub dependencies: DependenciesPane,
    pub workspace: WorkspacePane,
    pub transfers: TransfersPane,
    pub publish: PublishPane,
    pub overlay: Option<Overlay>,
    pub toasts: Vec<Toast>,
    pub defaults: ReferenceDefaults,
    pub quit: bool,
    clock: Clock,
    /// What was answered to each kind of prompt, oldest first, for ↑ and ↓.
    histories: std::collections::HashMap<&'static str, Vec<String>>,
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
            registry: RegistryPane::new(registries, defaults.clone()),
            dependencies: DependenciesPane::new(workspace_root.clone()),
            workspace: WorkspacePane::new(workspace_root.clone()),
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
            clock: Clock::system(),
            histories: Default::default(),
            outbox: Vec::new(),
            next_job: 1,
        };
        let first = app.registry.load();
        app.send(first);
        app
    }

    /// The same app showing the workspace at `root` in the Dependencies and Workspace panes
    /// (or offering to create one there); it is read, then resolved.
    pub fn with_workspace(mut self, root: PathBuf) -> App {
        self.registry.base = root.clone();
        self.dependencies = DependenciesPane::new(root.clone());
        self.workspace = WorkspacePane::new(root);
        self.with_effects(|app, fx| app.workspace.start(fx));
        self
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

    /// The pane shown.
    fn current(&self) -> &dyn Pane {
        match self.pane {
            PaneId::Registry => &self.registry,
            PaneId::Dependencies => &self.dependencies,
            PaneId::Workspace => &self.workspace,
            PaneId::Transfers => &self.transfers,
            PaneId::Publish => &self.publish,
        }
    }

    fn current_mut(&mut self) -> &mut dyn Pane {
        match self.pane {
            PaneId::Registry => &mut self.registry,
            PaneId::Dependencies => &mut self.dependencies,
            PaneId::Workspace => &mut self.workspace,
            PaneId::Transfers => &mut self.transfers,
            PaneId::Publish => &mut self.publish,
        }
    }

    /// Draws the pane shown into `area`.
    pub fn draw_pane(&self, frame: &mut ratatui::Frame, area: ratatui::layout::Rect) {
        let view = super::view::View {
            theme: &self.theme,
            keymap: &self.keymap,
            now: self.clock.now(),
        };
        self.current().draw(frame, area, &view);
    }

    /// Runs `f` on a fresh set of effects, then carries them out.
    fn with_effects(&mut self, f: impl FnOnce(&mut App, &mut Effects)) {
        let mut fx = Effects::new(self.next_job);
        f(self, &mut fx);
        self.carry_out(fx);
    }

    /// Does what a pane asked for.
    fn carry_out(&mut self, fx: Effects) {
        self.next_job = fx.next_job();
        self.outbox.extend(fx.requests);
        for job in fx.jobs {
            self.transfers.add(
                job.id,
                job.kind,
                job.description.clone(),
                job.request.clone(),
            );
            self.outbox.push(job.request);
            self.toast(
                format!("{} started: {} (4 Transfers)", job.kind, job.description),
                ToastKind::Info,
            );
        }
        for (text, kind) in fx.toasts {
            self.toast(text, kind);
        }
        if let Some(prompt) = fx.prompt {
            self.open_prompt(prompt.purpose, prompt.label, &prompt.initial, prompt.masked);
        }
        if let Some(pane) = fx.goto {
            self.pane = pane;
        }
        for (pane, message) in fx.messages {
            self.with_effects(|app, fx| app.tell(pane, message, fx));
        }
        if fx.quit {
            self.quit = true;
        }
    }

    /// Shows a prompt, with the earlier answers to its kind as history (never for secrets).
    fn open_prompt(&mut self, purpose: PromptPurpose, label: String, initial: &str, masked: bool) {
        let history = match purpose.history_key() {
            Some(key) if !masked => self.histories.get(key).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        self.overlay = Some(Overlay::Prompt {
            purpose,
            label,
            input: LineInput::with_history(initial, history),
            masked,
        });
    }

    /// Hands a message from one pane to another.
    fn tell(&mut self, pane: PaneId, message: Message, fx: &mut Effects) {
        match pane {
            PaneId::Registry => self.registry.on_message(message, fx),
            PaneId::Dependencies => self.dependencies.on_message(message, fx),
            PaneId::Workspace => self.workspace.on_message(message, fx),
            PaneId::Transfers | PaneId::Publish => {
                tracing::debug!(?pane, ?message, "a message no pane takes");
            }
        }
    }

    /// The actions that make sense here, for the hint bar.
    pub fn hints(&self) -> Vec<Action> {
        if self.overlay.is_some() {
            return vec![Action::Open, Action::Cancel];
        }
        let mut hints = self.current().hints();
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
                if let Some(index) = self.current().geometry().index_at(event.column, event.row) {
                    self.with_effects(|app, fx| app.current_mut().select_index(index, fx));
                }
            }
            _ => {}
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        if self.overlay.is_some() {
            self.overlay_key(key);
            return;
        }
        let mut used = false;
        self.with_effects(|app, fx| used = app.current_mut().raw_key(&key, fx));
        if used {
            return;
        }
        if let Some(action) = self.keymap.action(self.pane.section(), &key) {
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
                    let section = self.pane.section();
                    if let Some(first) =
                        palette_matches(&self.keymap, section, input.text()).first()
                    {
                        input.set(&first.name());
                    }
                }
                KeyCode::Enter => {
                    let matches = palette_matches(&self.keymap, self.pane.section(), input.text());
                    let chosen = matches
                        .get((*selected).min(matches.len().saturating_sub(1)))
                        .copied();
                    self.overlay = None;
                    if let Some(action) = chosen {
                        self.apply(action);
                    }
                }
                _ => {
                    if input.handle(&key) {
                        *selected = 0;
                    }
                }
            },
            Overlay::Prompt { input, .. } => match key.code {
                KeyCode::Esc => self.overlay = None,
                KeyCode::Enter => {
                    if let Some(Overlay::Prompt {
                        purpose,
                        input,
                        masked,
                        ..
                    }) = self.overlay.take()
                    {
                        let answer = input.text().trim().to_string();
                        if let Some(key) = purpose.history_key()
                            && !masked
                            && !answer.is_empty()
                        {
                            let history = self.histories.entry(key).or_default();
                            history.retain(|h| *h != answer);
                            history.push(answer.clone());
                        }
                        self.answer(purpose, answer);
                    }
                }
                _ => {
                    input.handle(&key);
                }
            },
        }
    }

    /// Hands a prompt's answer to the pane that asked.
    fn answer(&mut self, purpose: PromptPurpose, input: String) {
        self.with_effects(|app, fx| match purpose {
            PromptPurpose::QuitConfirm => {
                if input.eq_ignore_ascii_case("y") || input.eq_ignore_ascii_case("yes") {
                    fx.quit = true;
                }
            }
            PromptPurpose::Registry(ask) => app.registry.answer(ask, input, fx),
            PromptPurpose::Dependencies(ask) => app.dependencies.answer(ask, input, fx),
            PromptPurpose::Workspace(ask) => app.workspace.answer(ask, input, fx),
            PromptPurpose::Publish(ask) => app.publish.answer(ask, input, fx),
        });
    }

    /// Applies an action (from a key, the palette or a test).
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Quit => {
                let running = self.transfers.running();
                if self.workspace.is_dirty() {
                    self.open_prompt(
                        PromptPurpose::QuitConfirm,
                        "provisioning.yaml has unsaved edits; quit and lose them? (y/n)".into(),
                        "",
                        false,
                    );
                } else if running > 0 {
                    self.open_prompt(
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
            Action::GoDependencies => self.pane = PaneId::Dependencies,
            Action::GoWorkspace => self.pane = PaneId::Workspace,
            Action::GoTransfers => self.pane = PaneId::Transfers,
            Action::GoPublish => self.pane = PaneId::Publish,
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Palette => {
                self.overlay = Some(Overlay::Palette {
                    input: LineInput::default(),
                    selected: 0,
                })
            }
            Action::Cancel => {
                // Esc: stop what is loading.
                self.send(Request::CancelFetches);
                self.registry.cancel_loading();
                self.dependencies.cancel_loading();
                self.workspace.cancel_loading();
                self.transfers.cancel_loading();
                self.publish.cancel_loading();
            }
            _ => self.with_effects(|app, fx| app.current_mut().action(action, fx)),
        }
    }
}

/// The actions of pane `section` and of every pane whose name or description contains
/// `input`, for the palette.
pub fn palette_matches(keymap: &Keymap, section: &str, input: &str) -> Vec<Action> {
    let needle = input.trim().to_lowercase();
    let here = keymap.section_actions(section);
    let everywhere = keymap.global_actions();
    Action::ALL
        .iter()
        .copied()
        .filter(|a| here.contains(a) || everywhere.contains(a))
        .filter(|a| {
            needle.is_empty() || a.name().contains(&needle) || a.describe().contains(&needle)
        })
        .collect()
}
