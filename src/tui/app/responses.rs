//! How the worker's answers change the app.

use super::*;

impl App {
    pub fn handle_response(&mut self, response: Response) {
        match response {
            Response::Repositories { registry, result } => {
                // Answers to a load that was cancelled (Esc) or replaced are ignored.
                if registry != self.registry.registry()
                    || self.registry.repos_state != LoadState::Loading
                {
                    return;
                }
                match result {
                    Ok(list) => {
                        self.registry.repos.set_items(list);
                        self.registry.repos_state = LoadState::Loaded;
                    }
                    Err(e) => {
                        self.registry.repos_state = LoadState::Failed(RegistryPane::explain(&e))
                    }
                }
            }
            Response::Tags { reference, result } => {
                let for_publish = self.publish.step == Step::Target
                    && self.publish.target().is_some_and(|t| {
                        t.repository == reference.repository && t.registry == reference.registry
                    });
                if for_publish {
                    self.publish_tags(result);
                    return;
                }
                if self.registry.tags_of.as_ref() != Some(&reference)
                    || self.registry.tags_state != LoadState::Loading
                {
                    return;
                }
                match result {
                    Ok(list) => {
                        self.registry.tags.set_items(list);
                        self.registry.tags_state = LoadState::Loaded;
                    }
                    Err(e) => {
                        self.registry.tags_state = LoadState::Failed(RegistryPane::explain(&e))
                    }
                }
            }
            Response::Inspected { reference, result } => {
                if self.publish.step == Step::Target
                    && self.publish.target().as_ref() == Some(&reference)
                {
                    self.publish.existing_digest = result.ok().map(|i| i.digest);
                    return;
                }
                if self.registry.detail_of.as_ref() != Some(&reference)
                    || self.registry.detail_state != LoadState::Loading
                {
                    return;
                }
                match result {
                    Ok(found) => {
                        self.registry.detail = Some(found);
                        self.registry.detail_state = LoadState::Loaded;
                    }
                    Err(e) => {
                        self.registry.detail_state = LoadState::Failed(RegistryPane::explain(&e))
                    }
                }
            }
            Response::Transfer { job, event } => self.transfers.on_event(job, event),
            Response::JobDone { job, result } => {
                match &result {
                    Ok(text) => self.toast(format!("job {job} done: {text}"), ToastKind::Info),
                    Err(e) if e == "cancelled" => {
                        self.toast(format!("job {job} cancelled"), ToastKind::Info)
                    }
                    Err(e) => self.toast(format!("job {job} failed: {e}"), ToastKind::Error),
                }
                if self.publish.push_job == Some(job) {
                    self.publish.push_result = Some(result.clone());
                    if result.is_ok()
                        && let (Some(target), Some(package)) =
                            (self.publish.target(), &self.publish.package)
                    {
                        self.publish.step = Step::Verify;
                        let expected = package.manifest_digest.clone();
                        self.send(Request::Verify {
                            reference: target,
                            expected,
                        });
                    }
                }
                self.transfers.on_done(job, result);
            }
            Response::Deleted { reference, result } => match result {
                Ok(digest) => {
                    self.toast(format!("Deleted {reference} ({digest})"), ToastKind::Info);
                    self.registry.level = Level::Repositories;
                    if let Some(request) = self.registry.open() {
                        self.send(request);
                    }
                }
                Err(e) => self.toast(format!("Delete failed: {e}"), ToastKind::Error),
            },
            Response::Validated { dir, result } => {
                if self.publish.dir.as_ref() != Some(&dir) {
                    return;
                }
                match result {
                    Ok(summary) => {
                        self.publish.summary = Some(summary);
                        self.publish.validation = LoadState::Loaded;
                        self.publish.step = Step::Package;
                        self.publish.package_state = LoadState::Loading;
                        self.send(Request::Package { dir });
                    }
                    Err(problems) => {
                        self.publish.problems = problems;
                        self.publish.validation = LoadState::Failed("invalid".into());
                    }
                }
            }
            Response::Packaged { dir, result } => {
                if self.publish.dir.as_ref() != Some(&dir) {
                    return;
                }
                match result {
                    Ok(summary) => {
                        self.publish.package = Some(summary);
                        self.publish.package_state = LoadState::Loaded;
                    }
                    Err(e) => self.publish.package_state = LoadState::Failed(e),
                }
            }
            Response::Verified { reference, result } => {
                if self.publish.target().as_ref() == Some(&reference) {
                    self.publish.verified = Some(result);
                    self.publish.step = Step::Done;
                }
            }
            Response::LoggedIn { registry, result } => match result {
                Ok(source) => {
                    self.toast(
                        format!("Logged in to {registry}; credentials stored in {source}"),
                        ToastKind::Info,
                    );
                    if registry == self.registry.registry() {
                        let request = self.registry.load();
                        self.send(request);
                    }
                }
                Err(e) => self.toast(
                    format!("Login failed, nothing stored: {e}"),
                    ToastKind::Error,
                ),
            },
            Response::Generated { result } => match result {
                Ok(dir) => {
                    self.toast(format!("Created {}", dir.display()), ToastKind::Info);
                    self.publish.read_dir();
                    let request = self.publish.choose(dir);
                    self.send(request);
                }
                Err(e) => self.toast(e, ToastKind::Error),
            },
        }
    }

    pub(super) fn publish_tags(
        &mut self,
        result: Result<Vec<crate::oci::browse::TagEntry>, String>,
    ) {
        match result {
            Ok(tags) => {
                self.publish.existing = tags;
                self.publish.existing_state = LoadState::Loaded;
                if self.publish.version_exists()
                    && let Some(target) = self.publish.target()
                {
                    self.send(Request::Inspect { reference: target });
                }
            }
            // A repository that does not exist yet has no versions.
            Err(e) if e.contains("not found") => {
                self.publish.existing = Vec::new();
                self.publish.existing_state = LoadState::Loaded;
            }
            Err(e) => self.publish.existing_state = LoadState::Failed(e),
        }
    }
}
