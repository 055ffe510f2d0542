//! What actions, prompt answers and worker answers do to the Publish pane.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};

use super::{PublishPane, Step, set_manifest_version};
use crate::extension::manifest::ExtensionType;
use crate::oci::browse::TagEntry;
use crate::oci::{Digest, Reference};
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::tui::action::Action;
use crate::tui::panes::{Effects, LoadState, Message, PaneId, PromptPurpose};
use crate::tui::view::{ListGeometry, Pane, View};
use crate::tui::worker::{JobId, PackageSummary, Request, ValidationSummary};

/// What a Publish prompt asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    Generate { dir: PathBuf },
    PublishTarget,
}

impl Pane for PublishPane {
    fn hints(&self) -> Vec<Action> {
        match self.step {
            Step::Pick => vec![Action::Open, Action::Back, Action::Generate],
            Step::Validate => vec![Action::Validate, Action::Back],
            Step::Target => vec![Action::Open, Action::SwitchRegistry, Action::Back],
            Step::Done => vec![Action::AddToWorkspace, Action::Open, Action::Back],
            _ => vec![Action::Open, Action::Back, Action::Validate],
        }
    }

    /// 1–3 in the Target step pick a suggested version.
    fn raw_key(&mut self, key: &KeyEvent, fx: &mut Effects) -> bool {
        if self.step == Step::Target
            && key.modifiers.is_empty()
            && let KeyCode::Char(c @ '1'..='3') = key.code
        {
            self.choose_suggestion(c as usize - '0' as usize, fx);
            return true;
        }
        false
    }

    fn action(&mut self, action: Action, fx: &mut Effects) {
        match (self.step, action) {
            (Step::Pick, Action::Up) => self.move_by(-1),
            (Step::Pick, Action::Down) => self.move_by(1),
            (Step::Pick, Action::Open) => {
                if let Some(request) = self.open() {
                    fx.send(request);
                }
            }
            (_, Action::Back) => {
                self.up();
            }
            (Step::Pick, Action::Generate) => {
                let dir = self.cwd.clone();
                fx.prompt(
                    PromptPurpose::Publish(Ask::Generate { dir }),
                    "New extension: TYPE NAME (e.g. taskserv redis)",
                    "",
                );
            }
            (_, Action::Validate) => {
                if let Some(request) = self.revalidate() {
                    fx.send(request);
                }
            }
            (Step::Package, Action::Open) => {
                self.step = Step::Target;
                self.ask_existing(fx);
            }
            (Step::Target, Action::Open) => {
                if self.version_conflict() {
                    fx.error(
                        "This version exists with other content: choose a suggested version (1–3)",
                    );
                    return;
                }
                let (Some(dir), Some(target)) = (self.dir.clone(), self.target()) else {
                    return;
                };
                self.step = Step::Push;
                let description = format!("{} → {target}", dir.display());
                let id = fx.job(
                    "push",
                    description,
                    Request::PushExtension {
                        job: 0,
                        dir,
                        target,
                        force: false,
                    },
                );
                self.push_job = Some(id);
            }
            (Step::Target, Action::SwitchRegistry) => {
                let current = format!("{}/{}", self.registry, self.namespace);
                fx.prompt(
                    PromptPurpose::Publish(Ask::PublishTarget),
                    "Publish to REGISTRY/NAMESPACE",
                    current,
                );
            }
            (Step::Done, Action::AddToWorkspace) => self.add_to_workspace(fx),
            (Step::Done, Action::Open) => {
                self.step = Step::Pick;
                self.read_dir();
            }
            _ => {}
        }
    }

    fn select_index(&mut self, index: usize, _fx: &mut Effects) {
        self.selected = index.min(self.entries.len().saturating_sub(1));
    }

    fn geometry(&self) -> ListGeometry {
        self.geometry.get()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, view: &View) {
        super::view::draw(self, frame, area, view);
    }
}

impl PublishPane {
    /// `w` at the end: the Workspace pane's add, pre-filled with what was published.
    fn add_to_workspace(&mut self, fx: &mut Effects) {
        let Some(target) = self.target() else {
            return;
        };
        let version = target.tag.clone();
        let reference = Reference {
            tag: None,
            ..target
        };
        self.added = Some((reference.clone(), version.clone()));
        fx.tell(
            PaneId::Workspace,
            Message::AddToWorkspace { reference, version },
        );
        fx.go(PaneId::Workspace);
    }

    /// Asks the registry which versions of the target exist.
    fn ask_existing(&mut self, fx: &mut Effects) {
        if let Some(target) = self.target() {
            self.existing_state = LoadState::Loading;
            fx.send(Request::Tags {
                reference: Reference {
                    tag: None,
                    ..target
                },
            });
        }
    }

    pub fn answer(&mut self, ask: Ask, input: String, fx: &mut Effects) {
        match ask {
            Ask::Generate { dir } => {
                let mut parts = input.split_whitespace();
                let kind = parts.next().and_then(|k| k.parse::<ExtensionType>().ok());
                match (kind, parts.next()) {
                    (Some(kind), Some(name)) => fx.send(Request::Generate {
                        kind,
                        name: name.to_string(),
                        dir,
                    }),
                    _ => fx.error("Type `TYPE NAME`, e.g. `taskserv redis`"),
                }
            }
            Ask::PublishTarget => match input.split_once('/') {
                Some((registry, namespace)) if !registry.is_empty() => {
                    self.registry = registry.to_string();
                    self.namespace = namespace.trim_matches('/').to_string();
                    self.existing_digest = None;
                    self.ask_existing(fx);
                }
                _ => fx.error(
                    "Type `REGISTRY/NAMESPACE`, e.g. `localhost:5000/provisioning-extensions`",
                ),
            },
        }
    }

    /// Picks suggested version `n` (1 = patch, 2 = minor, 3 = major) in the Target step by
    /// rewriting manifest.yaml's version, then validates again.
    pub fn choose_suggestion(&mut self, n: usize, fx: &mut Effects) {
        if self.step != Step::Target {
            return;
        }
        let Some((_, version)) = self.suggestions().get(n.saturating_sub(1)).cloned() else {
            return;
        };
        let Some(dir) = self.dir.clone() else {
            return;
        };
        match set_manifest_version(&dir, &version) {
            Ok(()) => {
                fx.info(format!("manifest.yaml now says version {version}"));
                fx.send(self.choose(dir));
            }
            Err(e) => fx.error(format!("cannot update manifest.yaml: {e}")),
        }
    }

    /// Whether a tag list or inspection of `reference` is the Target step's question.
    pub fn asked_about(&self, reference: &Reference) -> bool {
        self.step == Step::Target
            && self.target().is_some_and(|t| {
                t.repository == reference.repository && t.registry == reference.registry
            })
    }

    pub fn on_tags(&mut self, result: Result<Vec<TagEntry>, String>, fx: &mut Effects) {
        match result {
            Ok(tags) => {
                self.existing = tags;
                self.existing_state = LoadState::Loaded;
                if self.version_exists()
                    && let Some(target) = self.target()
                {
                    fx.send(Request::Inspect { reference: target });
                }
            }
            // A repository that does not exist yet has no versions.
            Err(e) if e.contains("not found") => {
                self.existing = Vec::new();
                self.existing_state = LoadState::Loaded;
            }
            Err(e) => self.existing_state = LoadState::Failed(e),
        }
    }

    /// The end of a job; true when it was this pane's push.
    pub fn on_job_done(&mut self, job: JobId, result: &Result<String, String>, fx: &mut Effects) {
        if self.push_job != Some(job) {
            return;
        }
        self.push_result = Some(result.clone());
        if result.is_ok()
            && let (Some(target), Some(package)) = (self.target(), &self.package)
        {
            self.step = Step::Verify;
            let expected = package.manifest_digest.clone();
            fx.send(Request::Verify {
                reference: target,
                expected,
            });
        }
    }

    pub fn on_validated(
        &mut self,
        dir: PathBuf,
        result: Result<ValidationSummary, Vec<String>>,
        fx: &mut Effects,
    ) {
        if self.dir.as_ref() != Some(&dir) {
            return;
        }
        match result {
            Ok(summary) => {
                self.summary = Some(summary);
                self.validation = LoadState::Loaded;
                self.step = Step::Package;
                self.package_state = LoadState::Loading;
                fx.send(Request::Package { dir });
            }
            Err(problems) => {
                self.problems = problems;
                self.validation = LoadState::Failed("invalid".into());
            }
        }
    }

    pub fn on_packaged(&mut self, dir: &PathBuf, result: Result<PackageSummary, String>) {
        if self.dir.as_ref() != Some(dir) {
            return;
        }
        match result {
            Ok(summary) => {
                self.package = Some(summary);
                self.package_state = LoadState::Loaded;
            }
            Err(e) => self.package_state = LoadState::Failed(e),
        }
    }

    pub fn on_verified(&mut self, reference: &Reference, result: Result<Digest, String>) {
        if self.target().as_ref() == Some(reference) {
            self.verified = Some(result);
            self.step = Step::Done;
        }
    }

    pub fn on_generated(&mut self, result: Result<PathBuf, String>, fx: &mut Effects) {
        match result {
            Ok(dir) => {
                fx.info(format!("Created {}", dir.display()));
                self.read_dir();
                fx.send(self.choose(dir));
            }
            Err(e) => fx.error(e),
        }
    }
}
