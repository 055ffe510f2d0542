//! Copying artifacts between repositories and registries: blobs the target has are skipped,
//! blobs within one registry are mounted, others go through the verified cache; indexes are
//! copied with all their children, and referrers (signatures, SBOMs) follow their subject.
//! Manifests are pushed byte-identical, so digests never change. Registries without the
//! referrers API are read and written through the `sha256-<hex>` tag fallback. Cosign's
//! signature tags (`sha256-<hex>.sig`) travel with the manifest they sign.

use std::collections::HashSet;

use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::cache::BlobCache;
use super::client::{Descriptor, OciError, Registries, RegistryClient, Result};
use super::manifest::ManifestView;
use super::progress::{Outcome, Progress, TransferEvent};
use super::{Digest, Reference};

/// What a copy did.
#[derive(Debug, Default, Serialize)]
pub struct CopyReport {
    /// `source -> target` per tag copied.
    pub copied: Vec<(String, String)>,
    pub manifests: usize,
    pub blobs_transferred: usize,
    pub blobs_skipped: usize,
    pub blobs_mounted: usize,
    pub referrers: usize,
    /// Cosign signature tags (`sha256-<hex>.sig`) copied with what they sign.
    pub signatures: usize,
}

/// The tag cosign keeps the signature of `digest` under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}.sig", digest.to_string().replacen(':', "-", 1))
}

/// Whether `tag` is a cosign signature tag (`<algorithm>-<hex>.sig`).
pub fn is_signature_tag(tag: &str) -> bool {
    tag.strip_suffix(".sig")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(algorithm, hex)| {
            matches!(algorithm, "sha256" | "sha384" | "sha512")
                && hex.len() >= 64
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// How [`copy_with`] copies.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyOptions {
    /// Every tag of the source repository.
    pub all_tags: bool,
    /// Copy each manifest's cosign signature tag (`sha256-<hex>.sig`) with it.
    pub signature_tags: bool,
}

/// Blobs up to this size are "small": latency-bound.
const SMALL_BLOB: u64 = 1 << 20;
/// How many small blobs share one slot of `--concurrency`.
const SMALL_PER_SLOT: usize = 4;

struct Copier<'a> {
    source: RegistryClient,
    target: RegistryClient,
    source_repo: String,
    target_repo: String,
    cache: &'a BlobCache,
    progress: &'a Progress,
    concurrency: usize,
    done: HashSet<Digest>,
    /// The target repository did not exist when the copy began: no blob there to ask about.
    target_is_new: bool,
    /// Blobs this copy has put in the target (indexes and tags share them).
    placed: std::sync::Mutex<HashSet<Digest>>,
    follow_signatures: bool,
    report: CopyReport,
}

/// Copies `source` to `target`; with `all_tags`, every tag of the source repository (the
/// signature tags among them), else one artifact with its signature tag.
pub async fn copy(
    registries: &Registries,
    cache: &BlobCache,
    source: &Reference,
    target: &Reference,
    all_tags: bool,
    progress: &Progress,
) -> Result<CopyReport> {
    let options = CopyOptions {
        all_tags,
        signature_tags: !all_tags,
    };
    copy_with(registries, cache, source, target, options, progress).await
}

/// Copies `source` to `target` as `options` say.
pub async fn copy_with(
    registries: &Registries,
    cache: &BlobCache,
    source: &Reference,
    target: &Reference,
    options: CopyOptions,
    progress: &Progress,
) -> Result<CopyReport> {
    let all_tags = options.all_tags;
    let target_client = registries.client(&target.registry);
    // One request instead of a HEAD per blob into a repository that does not exist yet (any
    // doubt, and every blob is asked about as usual).
    let target_is_new = !target_client
        .repository_exists(&target.repository)
        .await
        .unwrap_or(true);
    let mut copier = Copier {
        source: registries.client(&source.registry),
        target: target_client,
        source_repo: source.repository.clone(),
        target_repo: target.repository.clone(),
        cache,
        progress,
        concurrency: registries.options().concurrency,
        done: HashSet::new(),
        target_is_new,
        placed: std::sync::Mutex::default(),
        follow_signatures: options.signature_tags,
        report: CopyReport::default(),
    };
    let tags = if all_tags {
        copier.source.tags(&source.repository).await?
    } else {
        vec![]
    };
    if all_tags {
        for tag in tags {
            copier.copy_manifest(&tag, &tag).await?;
            copier.report.copied.push((
                source.with_tag(&tag).to_string(),
                target.with_tag(&tag).to_string(),
            ));
        }
    } else {
        // Without a target tag, keep the source's tag (or push by digest).
        let target_ref = match (&target.tag, &target.digest, &source.tag) {
            (Some(tag), _, _) => tag.clone(),
            (None, Some(d), _) => d.to_string(),
            (None, None, Some(tag)) => tag.clone(),
            (None, None, None) => String::new(),
        };
        let digest = copier.copy_manifest(&source.target(), &target_ref).await?;
        let shown = if target_ref.is_empty() {
            target.with_digest(digest).to_string()
        } else if target_ref.contains(':') {
            format!("{}@{target_ref}", target.repository_path())
        } else {
            target.with_tag(&target_ref).to_string()
        };
        copier.report.copied.push((source.to_string(), shown));
    }
    Ok(copier.report)
}

impl Copier<'_> {
    /// Copies one manifest (recursively) and pushes it under `target_ref` (a tag, a digest,
    /// or empty for its own digest). Returns its digest.
    async fn copy_manifest(&mut self, source_ref: &str, target_ref: &str) -> Result<Digest> {
        let fetched = self.source.manifest(&self.source_repo, source_ref).await?;
        let view = ManifestView::parse(&fetched.bytes, &fetched.media_type).map_err(|e| {
            OciError::Protocol {
                registry: self.source.registry().to_string(),
                message: format!("manifest {} is not valid JSON: {e}", fetched.digest),
            }
        })?;
        if view.is_index() {
            for child in &view.manifests {
                if !self.done.contains(&child.digest) {
                    Box::pin(
                        self.copy_manifest(&child.digest.to_string(), &child.digest.to_string()),
                    )
                    .await?;
                }
            }
        } else {
            self.copy_blobs(&view.blobs()).await?;
        }
        let reference = if target_ref.is_empty() {
            fetched.digest.to_string()
        } else {
            target_ref.to_string()
        };
        let pushed = self
            .target
            .push_manifest(
                &self.target_repo,
                &reference,
                &fetched.media_type,
                &fetched.bytes,
            )
            .await?;
        if let Some(subject) = &view.subject
            && !pushed.subject_indexed
        {
            // The target has no referrers API: list it under the subject's fallback tag.
            let descriptor = Descriptor {
                media_type: fetched.media_type.clone(),
                digest: fetched.digest.clone(),
                size: fetched.bytes.len() as u64,
                artifact_type: view.artifact_type().map(str::to_string),
                annotations: view.annotations.clone(),
                platform: None,
            };
            self.target
                .add_to_referrers_tag(&self.target_repo, &subject.digest, &descriptor)
                .await?;
        }
        self.report.manifests += 1;
        self.done.insert(fetched.digest.clone());
        for referrer in self
            .source
            .referrers(&self.source_repo, &fetched.digest, None)
            .await?
        {
            if !self.done.contains(&referrer.digest) {
                let digest = referrer.digest.to_string();
                Box::pin(self.copy_manifest(&digest, &digest)).await?;
                self.report.referrers += 1;
            }
        }
        if self.follow_signatures && !is_signature_tag(target_ref) {
            let tag = signature_tag(&fetched.digest);
            if let Some(signature) = self.source.manifest_digest(&self.source_repo, &tag).await? {
                Box::pin(self.copy_manifest(&signature.to_string(), &tag)).await?;
                self.report.signatures += 1;
            }
        }
        Ok(fetched.digest)
    }

    /// Copies blobs `concurrency` at a time, counting a small blob as a quarter: its cost is
    /// round trips, not bandwidth, so up to four times as many small ones move at once.
    async fn copy_blobs(&mut self, blobs: &[&Descriptor]) -> Result<()> {
        let concurrency = self.concurrency.max(1);
        let permits = tokio::sync::Semaphore::new(concurrency * SMALL_PER_SLOT);
        let outcomes: Vec<Outcome> =
            futures_util::stream::iter(blobs.iter().map(|d| (*d).clone()).collect::<Vec<_>>())
                .map(|d| {
                    let (this, permits) = (&*self, &permits);
                    async move {
                        let weight = if d.size <= SMALL_BLOB {
                            1
                        } else {
                            SMALL_PER_SLOT as u32
                        };
                        let _permit = permits
                            .acquire_many(weight)
                            .await
                            .map_err(|_| OciError::Cancelled)?;
                        this.copy_blob(&d).await
                    }
                })
                .buffer_unordered(concurrency * SMALL_PER_SLOT)
                .try_collect()
                .await?;
        for outcome in outcomes {
            match outcome {
                Outcome::Transferred | Outcome::Cached => self.report.blobs_transferred += 1,
                Outcome::AlreadyPresent => self.report.blobs_skipped += 1,
                Outcome::Mounted => self.report.blobs_mounted += 1,
            }
        }
        Ok(())
    }

    async fn copy_blob(&self, descriptor: &Descriptor) -> Result<Outcome> {
        let outcome = self.place_blob(descriptor).await?;
        self.placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(descriptor.digest.clone());
        Ok(outcome)
    }

    async fn place_blob(&self, descriptor: &Descriptor) -> Result<Outcome> {
        let digest = &descriptor.digest;
        let placed = self
            .placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(digest);
        if placed {
            self.progress.emit(TransferEvent::Finished {
                digest: digest.clone(),
                outcome: Outcome::AlreadyPresent,
            });
            return Ok(Outcome::AlreadyPresent);
        }
        let same_registry = self.source.registry() == self.target.registry();
        let present = async {
            if self.target_is_new {
                Ok(None)
            } else {
                self.target.blob_size(&self.target_repo, digest).await
            }
        };
        // Between registries, a small blob is fetched while the target is asked whether it has
        // it: one round trip less on the path every small blob waits on, and at worst a few
        // bytes read for nothing (they stay in the cache).
        let (present, fetched) = if !same_registry && descriptor.size <= SMALL_BLOB {
            let fetch =
                self.cache
                    .fetch(&self.source, &self.source_repo, descriptor, self.progress);
            let (present, fetched) = tokio::join!(present, fetch);
            (present?, Some(fetched))
        } else {
            (present.await?, None)
        };
        if present.is_some() {
            self.progress.emit(TransferEvent::Finished {
                digest: digest.clone(),
                outcome: Outcome::AlreadyPresent,
            });
            return Ok(Outcome::AlreadyPresent);
        }
        if same_registry
            && self
                .target
                .mount_blob(&self.target_repo, digest, &self.source_repo)
                .await?
        {
            self.progress.emit(TransferEvent::Finished {
                digest: digest.clone(),
                outcome: Outcome::Mounted,
            });
            return Ok(Outcome::Mounted);
        }
        let path = match fetched {
            Some(fetched) => fetched?,
            None => {
                self.cache
                    .fetch(&self.source, &self.source_repo, descriptor, self.progress)
                    .await?
            }
        };
        self.target
            .upload_blob(&self.target_repo, descriptor, &path, self.progress)
            .await?;
        Ok(Outcome::Transferred)
    }
}
