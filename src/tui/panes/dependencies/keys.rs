//! What actions, prompt answers, messages and worker answers do to the Dependencies pane.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::DependenciesPane;
use crate::deps::ResolveEvent;
use crate::oci::reference::version_to_tag;
use crate::tui::action::Action;
use crate::tui::panes::{Effects, LoadState, Message, PaneId};
use crate::tui::view::{ListGeometry, Pane, View};
use crate::tui::worker::Outcome;
use crate::workspace::Requirement;

/// What a Dependencies prompt asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {}

impl Pane for DependenciesPane {
    fn hints(&self) -> Vec<Action> {
        if self.outcome.is_none() && self.live.is_empty() {
            return vec![Action::Refresh];
        }
        let mut hints = vec![
            Action::Open,
            Action::Invert,
            Action::UpdateExtension,
            Action::Filter,
        ];
        if self.invert.is_some() || !self.filter.is_empty() {
            hints.push(Action::Back);
        }
        hints.push(if self.resolving() {
            Action::Cancel
        } else {
            Action::Refresh
        });
        hints
    }

    /// Typing into the filter.
    fn raw_key(&mut self, key: &KeyEvent, _fx: &mut Effects) -> bool {
        if !self.filtering {
            return false;
        }
        match key.code {
            KeyCode::Esc => {
                self.filter.set("");
                self.filtering = false;
            }
            KeyCode::Enter => self.filtering = false,
            KeyCode::Up => self.move_by(-1),
            KeyCode::Down => self.move_by(1),
            _ => {
                if !self.filter.handle(key) {
                    return true;
                }
                self.rebuild();
                // The selection goes to the first match, so `i` then asks about it.
                let needle = self.filter.text().to_lowercase();
                let on_match = self
                    .selected_name()
                    .is_some_and(|n| n.to_lowercase().contains(&needle));
                if !on_match
                    && let Some(index) = self
                        .built
                        .rows
                        .iter()
                        .position(|r| r.name().to_lowercase().contains(&needle))
                {
                    self.selected = index;
                }
                return true;
            }
        }
        self.rebuild();
        true
    }

    fn action(&mut self, action: Action, fx: &mut Effects) {
        let page = self.geometry.get().page();
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = self.built.rows.len().saturating_sub(1),
            Action::Filter => {
                self.invert = None;
                self.filtering = true;
                self.rebuild();
            }
            Action::Back => {
                if let Some(name) = self.invert.take() {
                    self.rebuild();
                    self.select_name(&name);
                } else if !self.filter.is_empty() {
                    self.filter.set("");
                    self.rebuild();
                }
            }
            Action::Invert => self.toggle_invert(fx),
            Action::Open => self.open_in_registry(fx),
            Action::UpdateExtension => self.update(fx),
            Action::Refresh => {
                let request = self.resolve(None);
                fx.send(request);
            }
            _ => {}
        }
    }

    fn cancel_loading(&mut self) {
        if self.resolving() {
            self.state = LoadState::Failed("cancelled (esc)".into());
            if self.outcome.is_some() {
                self.live = Default::default();
            }
            self.rebuild();
        }
    }

    fn select_index(&mut self, index: usize, _fx: &mut Effects) {
        if index < self.built.rows.len() {
            self.selected = index;
        }
    }

    fn geometry(&self) -> ListGeometry {
        self.geometry.get()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, view: &View) {
        super::view::draw(self, frame, area, view);
    }
}

impl DependenciesPane {
    pub fn answer(&mut self, ask: Ask, _input: String, _fx: &mut Effects) {
        match ask {}
    }

    /// A message from another pane.
    pub fn on_message(&mut self, message: Message, fx: &mut Effects) {
        if let Message::Resolve { root, text } = message {
            if root != self.root {
                self.root = root;
                self.outcome = None;
                self.invert = None;
            }
            let request = self.resolve(text);
            fx.send(request);
        }
    }

    fn move_by(&mut self, delta: isize) {
        let last = self.built.rows.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, last.max(0)) as usize;
    }

    fn toggle_invert(&mut self, fx: &mut Effects) {
        if let Some(name) = self.invert.take() {
            self.rebuild();
            self.select_name(&name);
            return;
        }
        let Some(name) = self.selected_name().map(str::to_string) else {
            fx.info("Nothing to invert around yet: resolve first (ctrl-r)");
            return;
        };
        self.filter.set("");
        self.filtering = false;
        self.invert = Some(name);
        self.selected = 0;
        self.rebuild();
    }

    fn open_in_registry(&mut self, fx: &mut Effects) {
        let Some(name) = self.selected_name() else {
            return;
        };
        let Some(extension) = self.outcome.as_ref().and_then(|o| o.get(name)) else {
            fx.info(format!(
                "{name} is not resolved yet; wait for the resolution"
            ));
            return;
        };
        if let Some(path) = &extension.local {
            fx.info(format!(
                "{name} is a local module ({}); it is not in a registry",
                path.display()
            ));
            return;
        }
        let mut reference = extension.reference.clone();
        if let Some(version) = &extension.version {
            reference.tag = Some(
                reference
                    .tag
                    .clone()
                    .filter(|t| crate::oci::reference::tag_to_version(t).as_ref() == Some(version))
                    .unwrap_or_else(|| version_to_tag(&version.to_string())),
            );
        }
        fx.tell(PaneId::Registry, Message::ShowInRegistry(reference));
        fx.go(PaneId::Registry);
    }

    /// `u`: the update the panel suggests, as an unsaved edit in the Workspace pane.
    fn update(&mut self, fx: &mut Effects) {
        let Some(name) = self.selected_name().map(str::to_string) else {
            return;
        };
        let Some(outcome) = &self.outcome else {
            return;
        };
        match suggestion(outcome, &self.model, &name) {
            Suggestion::Set(requirement) => {
                fx.tell(
                    PaneId::Workspace,
                    Message::SetRequirement {
                        name: name.clone(),
                        requirement: requirement.clone(),
                    },
                );
                fx.info(format!(
                    "{name} set to {requirement} in Workspace (unsaved); the tree re-resolves"
                ));
            }
            Suggestion::Explain(text) => fx.info(text),
        }
    }
}

/// What `u` would do for an extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suggestion {
    /// Set the module's requirement to this.
    Set(String),
    /// Nothing to set here; why, and what to change instead.
    Explain(String),
}

/// The update the panel suggests for `name`.
pub fn suggestion(outcome: &Outcome, model: &super::model::Model, name: &str) -> Suggestion {
    let Some(extension) = outcome.get(name) else {
        return Suggestion::Explain(format!("{name} is not resolved"));
    };
    let Some(newest) = &extension.newest else {
        return Suggestion::Explain(match &extension.version {
            Some(v) => format!("{name} {v} is the newest published version"),
            None => format!("{name} has no version chosen; see the explanation"),
        });
    };
    match outcome.module(name) {
        Some(module) if module.local => Suggestion::Explain(format!(
            "{name} is a local module: change the version in its manifest.yaml"
        )),
        Some(module) => match &module.requirement {
            Requirement::Range(range) if range.matches(newest) => Suggestion::Explain(format!(
                "{name}'s range {range} already admits {newest}; the lock keeps the older one: run `provisioning dep update {name}`"
            )),
            Requirement::Range(_) => Suggestion::Set(format!(">={newest}")),
            // The tag spelled as the registry spells the chosen one (`v1.2.0` or `1.2.0`).
            _ if extension
                .reference
                .tag
                .as_deref()
                .is_some_and(|t| t.starts_with('v')) =>
            {
                Suggestion::Set(format!("v{newest}"))
            }
            _ => Suggestion::Set(newest.to_string()),
        },
        None => {
            let via: Vec<String> = model
                .paths_to(name, 20)
                .iter()
                .filter_map(|p| p.first().cloned())
                .fold(Vec::new(), |mut acc, m| {
                    if !acc.contains(&m) {
                        acc.push(m);
                    }
                    acc
                });
            Suggestion::Explain(format!(
                "{name} is not a module of the workspace; it comes with {} — update {} in Workspace, or run `provisioning dep update {name} --to {newest}`",
                if via.is_empty() {
                    "other extensions".to_string()
                } else {
                    via.join(", ")
                },
                if via.len() == 1 {
                    "that module"
                } else {
                    "one of those modules"
                },
            ))
        }
    }
}

/// Worker answers: the resolver's events, then its outcome, for the latest generation only.
impl DependenciesPane {
    pub fn on_event(&mut self, generation: u64, event: ResolveEvent) {
        if generation != self.generation || !self.resolving() {
            return;
        }
        self.live.apply(event);
        self.rebuild();
    }

    pub fn on_resolved(
        &mut self,
        generation: u64,
        result: Result<Box<Outcome>, String>,
        fx: &mut Effects,
    ) {
        if generation != self.generation || !self.resolving() {
            return;
        }
        match result {
            Ok(outcome) => {
                let (ok, summary) = summary(&outcome);
                let versions = outcome
                    .extensions
                    .iter()
                    .filter_map(|e| e.version.as_ref().map(|v| (e.name.clone(), v.to_string())))
                    .collect();
                self.outcome = Some(outcome);
                self.state = LoadState::Loaded;
                self.stale = false;
                self.live = Default::default();
                self.rebuild();
                fx.tell(
                    PaneId::Workspace,
                    Message::Resolution {
                        ok,
                        summary,
                        versions,
                    },
                );
            }
            Err(e) => {
                self.state = LoadState::Failed(e.clone());
                if self.outcome.is_some() {
                    self.live = Default::default();
                }
                self.rebuild();
                fx.tell(
                    PaneId::Workspace,
                    Message::Resolution {
                        ok: false,
                        summary: format!("resolution failed: {e}"),
                        versions: Vec::new(),
                    },
                );
            }
        }
    }
}

/// Whether it resolved, and one line saying how.
pub fn summary(outcome: &Outcome) -> (bool, String) {
    if let Some(conflict) = &outcome.conflict {
        let first = conflict.facts.first().cloned().unwrap_or_default();
        return (
            false,
            format!("conflict: {} ({first})", conflict.involved.join(", ")),
        );
    }
    if let Some(cycle) = &outcome.cycle {
        return (false, format!("cycle: {}", cycle.join(" → ")));
    }
    let updates = outcome
        .extensions
        .iter()
        .filter(|e| e.newest.is_some())
        .count();
    let mut text = format!("resolved {} extensions", outcome.extensions.len());
    if updates > 0 {
        text.push_str(&format!(", {updates} with updates"));
    }
    (true, text)
}
