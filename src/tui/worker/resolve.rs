//! Resolution for the Dependencies pane: the resolver's events as they come, then the outcome.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::{Context, Response};

/// How a resolution ended, as the Dependencies pane shows it.
#[derive(Clone, Debug, Default)]
pub struct Outcome {}

pub(super) async fn run(
    _ctx: &Context,
    generation: u64,
    _root: PathBuf,
    _text: Option<String>,
    _cancel: CancellationToken,
) -> Response {
    Response::Resolved {
        generation,
        result: Err("not built yet".into()),
    }
}
