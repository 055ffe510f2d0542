//! Hands the worker's answers to the panes that asked.

use super::*;
use crate::tui::worker::Response;

impl App {
    pub fn handle_response(&mut self, response: Response) {
        self.with_effects(|app, fx| match response {
            Response::Repositories { registry, result } => {
                app.workspace.on_repositories(&registry, &result, fx);
                app.registry.on_repositories(&registry, result, fx)
            }
            Response::Tags { reference, result } => {
                if app.publish.asked_about(&reference) {
                    app.publish.on_tags(result, fx);
                } else {
                    app.workspace.on_tags(&reference, &result, fx);
                    app.registry.on_tags(&reference, result, fx);
                }
            }
            Response::Inspected { reference, result } => {
                if app.publish.asked_about(&reference)
                    && app.publish.target().as_ref() == Some(&reference)
                {
                    app.publish.on_existing(result.ok());
                } else {
                    app.registry.on_inspected(&reference, result, fx);
                }
            }
            Response::Transfer { job, event } => app.transfers.on_event(job, event),
            Response::JobDone { job, result } => {
                match &result {
                    Ok(text) => fx.info(format!("job {job} done: {text}")),
                    Err(e) if e == "cancelled" => fx.info(format!("job {job} cancelled")),
                    Err(e) => fx.error(format!("job {job} failed: {e}")),
                }
                app.publish.on_job_done(job, &result, fx);
                app.workspace.on_job_done(job, &result, fx);
                app.transfers.on_done(job, result);
            }
            Response::Deleted { reference, result } => {
                app.registry.on_deleted(&reference, result, fx)
            }
            Response::Validated { dir, result } => app.publish.on_validated(dir, result, fx),
            Response::Packaged { dir, result } => app.publish.on_packaged(&dir, result),
            Response::Verified { reference, result } => app.publish.on_verified(&reference, result),
            Response::LoggedIn { registry, result } => {
                app.registry.on_logged_in(&registry, result, fx)
            }
            Response::Generated { result } => app.publish.on_generated(result, fx),
            Response::ResolveEvent { generation, event } => {
                app.dependencies.on_event(generation, event)
            }
            Response::Resolved { generation, result } => {
                app.dependencies.on_resolved(generation, result, fx)
            }
            Response::WorkspaceLoaded { root, result } => {
                app.workspace.on_loaded(&root, result, fx)
            }
            Response::WorkspaceSaved { root, result } => app.workspace.on_saved(&root, result, fx),
            Response::Signatures { reference, result } => {
                app.registry.on_signatures(&reference, result)
            }
            Response::Described { reference, result } => {
                app.workspace.on_described(&reference, &result);
                app.registry.on_described(&reference, result, fx);
            }
        });
    }
}
