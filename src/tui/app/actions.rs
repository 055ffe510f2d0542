//! What the pane-specific actions do to the app: Registry, Transfers and Publish.

use super::*;

impl App {
    pub(super) fn registry_action(&mut self, action: Action) {
        let page = self
            .list_geometry
            .get()
            .area
            .height
            .saturating_sub(2)
            .max(1) as isize;
        match action {
            Action::Up => self.registry.move_by(-1),
            Action::Down => self.registry.move_by(1),
            Action::PageUp => self.registry.move_by(-page),
            Action::PageDown => self.registry.move_by(page),
            Action::Top => self.registry.to_end(false),
            Action::Bottom => self.registry.to_end(true),
            Action::Open if self.registry.level == Level::Detail => {
                let names = self.registry.dependency_names();
                if names.is_empty() {
                    self.toast("This artifact declares no dependencies", ToastKind::Info);
                } else {
                    let first = names[0].clone();
                    self.prompt(
                        PromptPurpose::OpenDependency,
                        format!("Open dependency ({})", names.join(", ")),
                        first,
                        false,
                    );
                }
            }
            Action::Open => {
                if let Some(request) = self.registry.open() {
                    self.send(request);
                }
            }
            Action::Back => {
                self.registry.back();
            }
            Action::Filter => {
                if let Some(mut target) = self.registry.filtering_mut() {
                    *target.filtering() = true;
                }
            }
            Action::Refresh => {
                let request = match self.registry.level {
                    Level::Repositories => Some(self.registry.load()),
                    Level::Tags => {
                        self.registry.level = Level::Repositories;
                        self.registry.open()
                    }
                    Level::Detail => {
                        self.registry.level = Level::Tags;
                        self.registry.open()
                    }
                };
                if let Some(request) = request {
                    self.send(request);
                }
            }
            Action::SwitchRegistry => {
                let known = self.registry.registries.join(", ");
                self.prompt(
                    PromptPurpose::SwitchRegistry,
                    format!("Registry host[:port] (known: {known})"),
                    "",
                    false,
                );
            }
            Action::Login => {
                let registry = self.registry.registry().to_string();
                self.prompt(
                    PromptPurpose::LoginUser {
                        registry: registry.clone(),
                    },
                    format!("Username for {registry}"),
                    "",
                    false,
                );
            }
            Action::Pull => {
                if let Some(reference) = self.tagged_selection() {
                    let initial = format!("./{}", reference.name());
                    self.prompt(
                        PromptPurpose::PullTo(reference),
                        "Pull into directory",
                        initial,
                        false,
                    );
                }
            }
            Action::CopyTo => {
                if let Some(reference) = self.tagged_selection() {
                    let initial = reference.to_string();
                    self.prompt(
                        PromptPurpose::CopyTo(reference),
                        "Copy to reference",
                        initial,
                        false,
                    );
                }
            }
            Action::Delete => {
                if let Some(reference) = self.tagged_selection() {
                    let expected = reference.tag.clone().unwrap_or_default();
                    self.prompt(
                        PromptPurpose::DeleteConfirm {
                            reference: reference.clone(),
                            expected: expected.clone(),
                        },
                        format!(
                            "Delete {reference} and every tag on its manifest? Type `{expected}`"
                        ),
                        "",
                        false,
                    );
                }
            }
            Action::CopyReference => {
                if let Some(reference) = self.registry.selected_reference() {
                    self.toast(format!("oci://{reference}"), ToastKind::Info);
                }
            }
            _ => {}
        }
    }

    /// The selected tag (or detail) reference; a toast when a repository is selected.
    pub(super) fn tagged_selection(&mut self) -> Option<Reference> {
        let reference = self.registry.selected_reference()?;
        if reference.tag.is_none() && reference.digest.is_none() {
            self.toast(
                "Open the repository and choose a tag first",
                ToastKind::Info,
            );
            return None;
        }
        Some(reference)
    }

    pub(super) fn transfers_action(&mut self, action: Action) {
        match action {
            Action::Up => self.transfers.move_by(-1),
            Action::Down => self.transfers.move_by(1),
            Action::Top => self.transfers.selected = 0,
            Action::Bottom => self.transfers.selected = self.transfers.jobs.len().saturating_sub(1),
            Action::CancelJob => {
                if let Some(job) = self.transfers.selected_job()
                    && job.state == JobState::Running
                {
                    let id = job.id;
                    self.send(Request::CancelJob { job: id });
                }
            }
            Action::RetryJob => {
                if let Some(job) = self.transfers.selected_job()
                    && matches!(job.state, JobState::Failed(_) | JobState::Cancelled)
                {
                    let (kind, description, request) =
                        (job.kind, job.description.clone(), job.request.clone());
                    self.new_job(kind, description, |id| with_job(request, id));
                }
            }
            _ => {}
        }
    }

    pub(super) fn publish_action(&mut self, action: Action) {
        let publish = &mut self.publish;
        match (publish.step, action) {
            (Step::Pick, Action::Up) => publish.move_by(-1),
            (Step::Pick, Action::Down) => publish.move_by(1),
            (Step::Pick, Action::Open) => {
                if let Some(request) = publish.open() {
                    self.send(request);
                }
            }
            (_, Action::Back) => {
                publish.up();
            }
            (Step::Pick, Action::Generate) => {
                let dir = publish.cwd.clone();
                self.prompt(
                    PromptPurpose::Generate { dir },
                    "New extension: TYPE NAME (e.g. taskserv redis)",
                    "",
                    false,
                );
            }
            (_, Action::Validate) => {
                if let Some(request) = publish.revalidate() {
                    self.send(request);
                }
            }
            (Step::Package, Action::Open) => {
                publish.step = Step::Target;
                if let Some(target) = publish.target() {
                    publish.existing_state = LoadState::Loading;
                    let repo = Reference {
                        tag: None,
                        ..target.clone()
                    };
                    self.send(Request::Tags { reference: repo });
                }
            }
            (Step::Target, Action::Open) => {
                if publish.version_conflict() {
                    self.toast(
                        "This version exists with other content: choose a suggested version (1–3)",
                        ToastKind::Error,
                    );
                    return;
                }
                let (Some(dir), Some(target)) = (publish.dir.clone(), publish.target()) else {
                    return;
                };
                publish.step = Step::Push;
                let description = format!("{} → {target}", dir.display());
                let id = self.next_job;
                self.publish.push_job = Some(id);
                self.new_job("push", description, |job| Request::PushExtension {
                    job,
                    dir,
                    target,
                    force: false,
                });
            }
            (Step::Target, Action::SwitchRegistry) => {
                let current = format!("{}/{}", publish.registry, publish.namespace);
                self.prompt(
                    PromptPurpose::PublishTarget,
                    "Publish to REGISTRY/NAMESPACE",
                    current,
                    false,
                );
            }
            (Step::Done, Action::Open) => {
                publish.step = Step::Pick;
                publish.read_dir();
            }
            _ => {}
        }
    }

    /// Picks suggested version `n` (1 = patch, 2 = minor, 3 = major) in the Target step by
    /// rewriting manifest.yaml's version, then validates again.
    pub fn choose_suggestion(&mut self, n: usize) {
        if self.pane != PaneId::Publish || self.publish.step != Step::Target {
            return;
        }
        let Some((_, version)) = self.publish.suggestions().get(n.saturating_sub(1)).cloned()
        else {
            return;
        };
        let Some(dir) = self.publish.dir.clone() else {
            return;
        };
        match set_manifest_version(&dir, &version) {
            Ok(()) => {
                self.toast(
                    format!("manifest.yaml now says version {version}"),
                    ToastKind::Info,
                );
                let request = self.publish.choose(dir);
                self.send(request);
            }
            Err(e) => self.toast(
                format!("cannot update manifest.yaml: {e}"),
                ToastKind::Error,
            ),
        }
    }
}
