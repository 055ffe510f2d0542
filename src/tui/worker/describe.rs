//! What the Registry table shows beside a repository's name: its newest version, type and
//! description, from that version's config blob.

use super::{Context, Response};
use crate::oci::Reference;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {
    /// The newest tag that is a version.
    pub version: Option<String>,
    /// `provider`, `taskserv` or `cluster`, from the config blob.
    pub kind: Option<String>,
    /// The extension's one-line description, from the config blob.
    pub description: Option<String>,
}

pub(super) async fn run(_ctx: &Context, reference: Reference) -> Response {
    Response::Described {
        reference,
        result: Err("not built yet".into()),
    }
}
