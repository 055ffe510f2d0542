//! Tags the mirror has and the source no longer does: reported, or with `prune` removed.
//!
//! A tag is deleted alone where the registry allows it. Where it does not (distribution 2.x
//! deletes manifests only by digest, taking every tag of that manifest with it), the manifest
//! is deleted by digest, unless a tag the mirror keeps still needs it: points at it, or at an
//! index that lists it.

use std::collections::{BTreeMap, HashMap};

use super::{Syncer, TagReport, TagStatus};
use crate::oci::Digest;
use crate::oci::client::{OciError, Result};
use crate::oci::manifest::ManifestView;

/// Manifests the kept tags need, each with one tag that needs it.
pub(super) type Needed = HashMap<Digest, String>;

impl Syncer<'_> {
    /// Reports (or prunes) one tag gone at the source. `kept` maps the digests of the tags the
    /// mirror keeps to one of them; `needed` is filled from it on first need.
    pub(super) async fn gone(
        &self,
        to: &str,
        tag: String,
        kept: &BTreeMap<Digest, String>,
        needed: &mut Option<Needed>,
    ) -> TagReport {
        let digest = self.target.manifest_digest(to, &tag).await;
        let mut report = TagReport {
            tag,
            status: TagStatus::Deleted,
            digest: digest.as_ref().ok().cloned().flatten(),
            previous: None,
            referrers: 0,
            error: None,
        };
        if !self.options.prune {
            return report;
        }
        report.status = TagStatus::Pruned;
        if self.options.dry_run {
            return report;
        }
        let by_tag = match self.target.delete_manifest(to, &report.tag).await {
            Ok(()) | Err(OciError::NotFound { .. }) => return report,
            Err(e) => e,
        };
        let fallback = match &report.digest {
            Some(digest) => self.delete_by_digest(to, digest, kept, needed).await,
            None => Err(by_tag.to_string()),
        };
        if let Err(e) = fallback {
            report.status = TagStatus::Failed;
            report.error = Some(e);
        }
        report
    }

    async fn delete_by_digest(
        &self,
        to: &str,
        digest: &Digest,
        kept: &BTreeMap<Digest, String>,
        needed: &mut Option<Needed>,
    ) -> std::result::Result<(), String> {
        if needed.is_none() {
            let found = self
                .needed(to, kept)
                .await
                .map_err(|e| format!("cannot tell whether a kept tag needs {digest}: {e}"))?;
            *needed = Some(found);
        }
        if let Some(other) = needed.as_ref().and_then(|n| n.get(digest)) {
            return Err(format!(
                "the registry deletes a tag only with its manifest {digest}, which tag {other} still needs"
            ));
        }
        match self.target.delete_manifest(to, &digest.to_string()).await {
            // Another tag gone at the source pointed at it too: deleted with that one.
            Ok(()) | Err(OciError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The kept tags' manifests and the children of those that are indexes (recursively).
    async fn needed(&self, to: &str, kept: &BTreeMap<Digest, String>) -> Result<Needed> {
        let mut needed = Needed::new();
        let mut pending: Vec<(Digest, String)> =
            kept.iter().map(|(d, t)| (d.clone(), t.clone())).collect();
        while let Some((digest, tag)) = pending.pop() {
            if needed.contains_key(&digest) {
                continue;
            }
            let fetched = self.target.manifest(to, &digest.to_string()).await?;
            if let Ok(view) = ManifestView::parse(&fetched.bytes, &fetched.media_type)
                && view.is_index()
            {
                pending.extend(
                    view.manifests
                        .iter()
                        .map(|c| (c.digest.clone(), tag.clone())),
                );
            }
            needed.insert(digest, tag);
        }
        Ok(needed)
    }
}
