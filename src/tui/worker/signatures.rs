//! The signatures the Registry detail shows: how many are stored for the manifest, and
//! whether one verifies with a key the workspace trusts (`signatures.keys`).

use std::path::Path;

use super::{Context, Response};
use crate::oci::sign::{self, Verifier};
use crate::oci::{Digest, Reference};
use crate::workspace::Workspace;

/// What the detail says about an artifact's signatures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureSummary {
    /// Signatures stored for the manifest digest (cosign's `sha256-<hex>.sig` tag).
    pub count: usize,
    /// The workspace's trusted key that verified one, as written in `signatures.keys`.
    pub verified_with: Option<String>,
    /// How many keys the workspace trusts.
    pub trusted_keys: usize,
}

/// The workspace's trusted keys at `root`; none without a workspace or a `signatures:` block.
fn trusted_keys(root: &Path) -> Result<Vec<(String, Verifier)>, String> {
    let Ok(workspace) = Workspace::load(root) else {
        return Ok(Vec::new());
    };
    let Some(policy) = &workspace.config.signatures else {
        return Ok(Vec::new());
    };
    policy
        .keys
        .iter()
        .map(|path| {
            let pem = std::fs::read(workspace.root.join(path))
                .map_err(|e| format!("trusted key {}: {e}", path.display()))?;
            let key = Verifier::from_pem(&pem)
                .map_err(|e| format!("trusted key {}: {e}", path.display()))?;
            Ok((path.display().to_string(), key))
        })
        .collect()
}

pub(super) async fn run(
    ctx: &Context,
    reference: Reference,
    digest: Digest,
    root: &Path,
) -> Response {
    let result = async {
        let (names, keys): (Vec<String>, Vec<Verifier>) = trusted_keys(root)?.into_iter().unzip();
        let client = ctx.registries.client(&reference.registry);
        let layers = sign::fetch_signatures(&client, &reference.repository, &digest)
            .await
            .map_err(|e| e.to_string())?;
        let verdict = sign::judge(&layers, &keys, &digest);
        let verified_with = verdict
            .verified_by
            .iter()
            .flatten()
            .next()
            .map(|&i| names[i].clone());
        Ok(SignatureSummary {
            count: verdict.count,
            verified_with,
            trusted_keys: keys.len(),
        })
    }
    .await;
    Response::Signatures { reference, result }
}
