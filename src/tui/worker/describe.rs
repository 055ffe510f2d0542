//! What the Registry table shows beside a repository's name: its newest version, type and
//! description, from that version's config blob.

use super::{Context, Response};
use crate::oci::Reference;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {}

pub(super) async fn run(_ctx: &Context, reference: Reference) -> Response {
    Response::Described {
        reference,
        result: Err("not built yet".into()),
    }
}
