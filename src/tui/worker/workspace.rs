//! The workspace for the Workspace pane: read, save, create, and install (`dep resolve`).

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::{Context, JobId, Request, Response};

/// A workspace as the Workspace pane shows it.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {}

pub(super) async fn run(_ctx: &Context, request: Request) -> Response {
    let root = match request {
        Request::LoadWorkspace { root, .. }
        | Request::SaveWorkspace { root, .. }
        | Request::InitWorkspace { root } => root,
        _ => PathBuf::new(),
    };
    Response::WorkspaceLoaded {
        root,
        result: Err("not built yet".into()),
    }
}

pub(super) async fn install(
    _ctx: &Context,
    job: JobId,
    _root: PathBuf,
    _cancel: CancellationToken,
) -> Response {
    Response::JobDone {
        job,
        result: Err("not built yet".into()),
    }
}
