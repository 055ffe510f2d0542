//! Mirroring: every tag of a namespace (or of one repository) kept in step from one registry
//! to another, with indexes, referrers and cosign signature tags.
//!
//! Each tag is checked with one `HEAD` at either end; only a tag that is new or moved is
//! copied (through [`copy`](super::copy), so blobs the mirror has are skipped, blobs of one
//! registry are mounted, and manifests keep their bytes and digests). For a tag that did not
//! move, the referrers of its manifest are compared at both ends (the referrers API, or the
//! `sha256-<hex>` tag where a registry lacks it) and the missing ones copied. A second run
//! over an unchanged source therefore reads tag lists, referrer lists and manifest heads, and
//! writes nothing.
//!
//! A tag that fails (or a repository whose tags cannot be listed) is reported and the others
//! go on. Tags gone at the source are reported; with `prune` they are removed at the mirror.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use futures_util::StreamExt;
use serde::Serialize;

use super::cache::BlobCache;
use super::client::{OciError, Registries, RegistryClient, Result};
use super::copy::{self, CopyOptions, CopyReport, is_signature_tag};
use super::progress::Progress;
use super::{Digest, Reference, validate_repository};

mod prune;

/// Repositories of the source catalog read per page.
const CATALOG_PAGE: usize = 1000;

/// One end of a sync: a registry and a namespace or repository path in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// `host[:port]`.
    pub registry: String,
    /// `namespace` or `namespace/name`.
    pub path: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl Endpoint {
    /// Parses `host[:port]/namespace[/name…]`; the error says what is wrong with it.
    pub fn parse(text: &str) -> std::result::Result<Endpoint, String> {
        const SHAPE: &str = "expected HOST[:PORT]/NAMESPACE or HOST[:PORT]/NAMESPACE/NAME";
        let text = text.trim_end_matches('/');
        let Some((host, path)) = text.split_once('/') else {
            return Err(format!("`{text}` names no registry; {SHAPE}"));
        };
        let looks_like_host = host.contains('.') || host.contains(':') || host == "localhost";
        if host.is_empty() || !looks_like_host {
            return Err(format!(
                "`{text}` does not start with a registry host (one with a `.` or a port, or \
                 `localhost`); {SHAPE}"
            ));
        }
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !name_ok || !port_ok {
            return Err(format!("`{host}` is not a registry host; {SHAPE}"));
        }
        if path.contains('@') || path.contains(':') {
            return Err(format!(
                "`{text}` names a tag or digest; sync takes every tag, {SHAPE}"
            ));
        }
        validate_repository(path).map_err(|e| format!("`{text}`: {e}; {SHAPE}"))?;
        Ok(Endpoint {
            registry: host.to_string(),
            path: path.to_string(),
        })
    }

    /// Whether one end lies inside the other (the same registry, a path under the other's):
    /// mirroring would read what it writes.
    pub fn overlaps(&self, other: &Endpoint) -> bool {
        let under = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        self.registry.eq_ignore_ascii_case(&other.registry)
            && (under(&self.path, &other.path) || under(&other.path, &self.path))
    }
}

/// How a sync runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncOptions {
    /// Check and report, write nothing.
    pub dry_run: bool,
    /// Remove tags at the mirror that the source no longer has.
    pub prune: bool,
}

/// What happened to one tag (under `dry_run`, what would).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TagStatus {
    /// New at the mirror.
    Added,
    /// Moved at the source, moved at the mirror.
    Updated,
    /// The mirror already had it.
    Unchanged,
    /// Gone at the source, kept at the mirror (`prune` removes it).
    Deleted,
    /// Gone at the source, removed at the mirror.
    Pruned,
    /// Could not be synced; `error` says why.
    Failed,
}

/// One tag's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct TagReport {
    pub tag: String,
    pub status: TagStatus,
    /// The digest at the source (at the mirror for a tag gone at the source).
    pub digest: Option<Digest>,
    /// The digest the mirror had before (an updated tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Digest>,
    /// Referrers (signatures, attestations) copied with it.
    pub referrers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One repository's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct RepositoryReport {
    /// `registry/repository` at the source.
    pub source: String,
    /// `registry/repository` at the mirror.
    pub target: String,
    /// Why the repository could not be synced at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub tags: Vec<TagReport>,
}

/// Counts over every repository.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub repositories: usize,
    pub failed_repositories: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
    pub pruned: usize,
    pub failed: usize,
    pub referrers: usize,
    pub manifests_pushed: usize,
    pub blobs_transferred: usize,
    pub blobs_skipped: usize,
    pub blobs_mounted: usize,
}

/// What a sync did (or, under `dry_run`, would do).
#[derive(Clone, Debug, Serialize)]
pub struct SyncReport {
    pub source: String,
    pub target: String,
    pub dry_run: bool,
    pub prune: bool,
    pub repositories: Vec<RepositoryReport>,
    pub summary: Summary,
}

impl SyncReport {
    /// Whether any tag or repository failed.
    pub fn failed(&self) -> bool {
        self.summary.failed > 0 || self.summary.failed_repositories > 0
    }
}

/// Whether `tag` is a referrers-fallback tag (`sha256-<hex>`, no suffix): an index the client
/// keeps for registries without the referrers API, synced through the referrers themselves.
fn is_referrers_tag(tag: &str) -> bool {
    tag.split_once('-').is_some_and(|(algorithm, hex)| {
        matches!(algorithm, "sha256" | "sha384" | "sha512")
            && hex.len() >= 64
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Mirrors `source` to `target`.
pub async fn sync(
    registries: &Registries,
    cache: &BlobCache,
    source: &Endpoint,
    target: &Endpoint,
    options: SyncOptions,
    progress: &Progress,
) -> Result<SyncReport> {
    let syncer = Syncer {
        registries,
        cache,
        progress,
        source: registries.client(&source.registry),
        target: registries.client(&target.registry),
        options,
        concurrency: registries.options().concurrency.max(1),
    };
    // An end that cannot be reached fails the run at once, not every repository in turn.
    for client in [&syncer.source, &syncer.target] {
        if let Err(e @ OciError::Unreachable { .. }) = client.ping().await {
            return Err(e);
        }
    }
    let repositories = syncer.repositories(source).await?;
    let pairs: Vec<(String, String)> = repositories
        .into_iter()
        .map(|repo| {
            let mirrored = format!("{}{}", target.path, &repo[source.path.len()..]);
            (repo, mirrored)
        })
        .collect();
    let mut reports: Vec<(RepositoryReport, CopyReport)> = futures_util::stream::iter(pairs.iter())
        .map(|(from, to)| syncer.repository(from, to))
        .buffer_unordered(syncer.concurrency)
        .collect()
        .await;
    if progress.is_cancelled() {
        return Err(OciError::Cancelled);
    }
    reports.sort_by(|a, b| a.0.source.cmp(&b.0.source));
    let mut summary = Summary::default();
    for (repository, copied) in &reports {
        summary.repositories += 1;
        summary.failed_repositories += usize::from(repository.error.is_some());
        summary.manifests_pushed += copied.manifests;
        summary.blobs_transferred += copied.blobs_transferred;
        summary.blobs_skipped += copied.blobs_skipped;
        summary.blobs_mounted += copied.blobs_mounted;
        for tag in &repository.tags {
            summary.referrers += tag.referrers;
            *match tag.status {
                TagStatus::Added => &mut summary.added,
                TagStatus::Updated => &mut summary.updated,
                TagStatus::Unchanged => &mut summary.unchanged,
                TagStatus::Deleted => &mut summary.deleted,
                TagStatus::Pruned => &mut summary.pruned,
                TagStatus::Failed => &mut summary.failed,
            } += 1;
        }
    }
    Ok(SyncReport {
        source: source.to_string(),
        target: target.to_string(),
        dry_run: options.dry_run,
        prune: options.prune,
        repositories: reports.into_iter().map(|(r, _)| r).collect(),
        summary,
    })
}

struct Syncer<'a> {
    registries: &'a Registries,
    cache: &'a BlobCache,
    progress: &'a Progress,
    source: RegistryClient,
    target: RegistryClient,
    options: SyncOptions,
    concurrency: usize,
}

/// A tag as both ends have it.
struct Checked {
    tag: String,
    source: Result<Option<Digest>>,
    target: Result<Option<Digest>>,
}

impl Syncer<'_> {
    /// The source repositories: the path itself and every one under it, from the catalog; the
    /// path alone where the registry offers no catalog.
    async fn repositories(&self, source: &Endpoint) -> Result<Vec<String>> {
        let prefix = format!("{}/", source.path);
        match self.source.catalog(CATALOG_PAGE).await {
            Ok(all) => {
                let mut found: Vec<String> = all
                    .into_iter()
                    .filter(|r| *r == source.path || r.starts_with(&prefix))
                    .collect();
                found.sort();
                found.dedup();
                if found.is_empty() {
                    return Err(OciError::NotFound {
                        registry: source.registry.clone(),
                        what: format!("repository or namespace {}", source.path),
                    });
                }
                Ok(found)
            }
            Err(OciError::CatalogUnsupported { .. }) => Ok(vec![source.path.clone()]),
            Err(e) => Err(e),
        }
    }

    fn reference(&self, registry: &str, repo: &str) -> Reference {
        Reference {
            registry: registry.to_string(),
            repository: repo.to_string(),
            tag: None,
            digest: None,
        }
    }

    /// Syncs one repository; never fails as a whole, its report says what went wrong.
    async fn repository(&self, from: &str, to: &str) -> (RepositoryReport, CopyReport) {
        let mut report = RepositoryReport {
            source: format!("{}/{from}", self.source.registry()),
            target: format!("{}/{to}", self.target.registry()),
            error: None,
            tags: vec![],
        };
        let mut copied = CopyReport::default();
        if let Err(e) = self
            .repository_tags(from, to, &mut report, &mut copied)
            .await
        {
            report.error = Some(match e {
                OciError::NotFound { .. } => format!(
                    "{e}; name a namespace or repository the registry has (a registry without a catalog needs the full repository)"
                ),
                e => e.to_string(),
            });
        }
        (report, copied)
    }

    async fn repository_tags(
        &self,
        from: &str,
        to: &str,
        report: &mut RepositoryReport,
        copied: &mut CopyReport,
    ) -> Result<()> {
        let source_tags: BTreeSet<String> = self
            .source
            .tags(from)
            .await?
            .into_iter()
            .filter(|t| !is_referrers_tag(t))
            .collect();
        let target_tags: BTreeSet<String> = match self.target.tags(to).await {
            Ok(tags) => tags.into_iter().filter(|t| !is_referrers_tag(t)).collect(),
            Err(OciError::NotFound { .. }) => BTreeSet::new(),
            Err(e) => return Err(e),
        };
        let checked = self.check_tags(from, to, &source_tags, &target_tags).await;
        // What the signatures sign goes first, so a signature never arrives before its image.
        let (signatures, images): (Vec<Checked>, Vec<Checked>) =
            checked.into_iter().partition(|c| is_signature_tag(&c.tag));
        // The mirror's tags that stay, by the digest they point at.
        let mut kept: BTreeMap<Digest, String> = BTreeMap::new();
        let mut gone: Vec<String> = target_tags.difference(&source_tags).cloned().collect();
        for check in images.into_iter().chain(signatures) {
            if self.progress.is_cancelled() {
                return Err(OciError::Cancelled);
            }
            let tag = check.tag.clone();
            // What the mirror has under the tag now stays needed until the tag moves.
            let before = check.target.as_ref().ok().cloned().flatten();
            let outcome = self.sync_tag(from, to, check, copied).await;
            match &outcome {
                Some(t) => {
                    let now = if t.status == TagStatus::Failed {
                        before
                    } else {
                        t.digest.clone()
                    };
                    if let Some(d) = now {
                        kept.insert(d, tag);
                    }
                }
                // Gone at the source between its tag list and its HEAD.
                None if target_tags.contains(&tag) => gone.push(tag),
                None => {}
            }
            report.tags.extend(outcome);
        }
        let mut needed = None;
        for tag in gone {
            report
                .tags
                .push(self.gone(to, tag, &kept, &mut needed).await);
        }
        report.tags.sort_by(|a, b| a.tag.cmp(&b.tag));
        Ok(())
    }

    /// `HEAD`s every source tag at both ends, many at once.
    async fn check_tags(
        &self,
        from: &str,
        to: &str,
        source_tags: &BTreeSet<String>,
        target_tags: &BTreeSet<String>,
    ) -> Vec<Checked> {
        futures_util::stream::iter(source_tags.iter())
            .map(|tag| async move {
                let source = self.source.manifest_digest(from, tag);
                let target = async {
                    if target_tags.contains(tag) {
                        self.target.manifest_digest(to, tag).await
                    } else {
                        Ok(None)
                    }
                };
                let (source, target) = tokio::join!(source, target);
                Checked {
                    tag: tag.clone(),
                    source,
                    target,
                }
            })
            .buffer_unordered(self.concurrency * 4)
            .collect()
            .await
    }

    /// Brings one tag in step; `None` when the source no longer has it.
    async fn sync_tag(
        &self,
        from: &str,
        to: &str,
        check: Checked,
        copied: &mut CopyReport,
    ) -> Option<TagReport> {
        let Checked {
            tag,
            source,
            target,
        } = check;
        let mut report = TagReport {
            tag,
            status: TagStatus::Failed,
            digest: None,
            previous: None,
            referrers: 0,
            error: None,
        };
        let (digest, previous) = match (source, target) {
            (Ok(Some(digest)), Ok(previous)) => (digest, previous),
            (Ok(None), _) => return None,
            (Err(e), _) | (_, Err(e)) => {
                report.error = Some(e.to_string());
                return Some(report);
            }
        };
        report.digest = Some(digest.clone());
        let result = if previous.as_ref() == Some(&digest) {
            report.status = TagStatus::Unchanged;
            if is_signature_tag(&report.tag) {
                Ok(0)
            } else {
                self.missing_referrers(from, to, &digest, copied).await
            }
        } else {
            report.status = if previous.is_some() {
                TagStatus::Updated
            } else {
                TagStatus::Added
            };
            report.previous = previous;
            self.copy_tag(from, to, &report.tag, &digest, copied).await
        };
        match result {
            Ok(referrers) => report.referrers = referrers,
            Err(e) => {
                report.status = TagStatus::Failed;
                report.error = Some(e.to_string());
            }
        }
        Some(report)
    }

    /// Copies the manifest `digest` under `tag` (with its children, blobs and referrers);
    /// the number of referrers copied.
    async fn copy_tag(
        &self,
        from: &str,
        to: &str,
        tag: &str,
        digest: &Digest,
        copied: &mut CopyReport,
    ) -> Result<usize> {
        if self.options.dry_run {
            return Ok(0);
        }
        let source = self
            .reference(self.source.registry(), from)
            .with_tag(tag)
            .with_digest(digest.clone());
        let target = self.reference(self.target.registry(), to).with_tag(tag);
        let report = self.copy(&source, &target).await?;
        let referrers = report.referrers;
        add(copied, report);
        Ok(referrers)
    }

    /// Copies the referrers of `digest` the mirror lacks; how many (that would be, on a dry
    /// run).
    async fn missing_referrers(
        &self,
        from: &str,
        to: &str,
        digest: &Digest,
        copied: &mut CopyReport,
    ) -> Result<usize> {
        let (at_source, at_target) = tokio::join!(
            self.source.referrers(from, digest, None),
            self.target.referrers(to, digest, None)
        );
        let present: HashSet<Digest> = at_target?.into_iter().map(|d| d.digest).collect();
        let missing: Vec<Digest> = at_source?
            .into_iter()
            .map(|d| d.digest)
            .filter(|d| !present.contains(d))
            .collect();
        if self.options.dry_run {
            return Ok(missing.len());
        }
        for referrer in &missing {
            let source = self
                .reference(self.source.registry(), from)
                .with_digest(referrer.clone());
            let target = self
                .reference(self.target.registry(), to)
                .with_digest(referrer.clone());
            add(copied, self.copy(&source, &target).await?);
        }
        Ok(missing.len())
    }

    async fn copy(&self, source: &Reference, target: &Reference) -> Result<CopyReport> {
        // Signature tags are tags of their own here, synced like any other.
        let options = CopyOptions {
            all_tags: false,
            signature_tags: false,
        };
        copy::copy_with(
            self.registries,
            self.cache,
            source,
            target,
            options,
            self.progress,
        )
        .await
    }
}

fn add(total: &mut CopyReport, one: CopyReport) {
    total.manifests += one.manifests;
    total.blobs_transferred += one.blobs_transferred;
    total.blobs_skipped += one.blobs_skipped;
    total.blobs_mounted += one.blobs_mounted;
    total.referrers += one.referrers;
    total.signatures += one.signatures;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_a_registry_and_a_path() {
        let e = Endpoint::parse("localhost:5000/team/app/").unwrap();
        assert_eq!(e.registry, "localhost:5000");
        assert_eq!(e.path, "team/app");
        assert_eq!(e.to_string(), "localhost:5000/team/app");
        assert!(Endpoint::parse("ghcr.io/org").is_ok());
        for bad in [
            "a",
            "team/app",
            "localhost:5000",
            "localhost:5000/",
            "localhost:5000/App",
            "localhost:5000/app:1.0",
            "localhost:5000/app@sha256:00",
            ":5000/app",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn overlapping_endpoints_are_seen() {
        let p = |s| Endpoint::parse(s).unwrap();
        assert!(p("r.io/ns").overlaps(&p("r.io/ns/mirror")));
        assert!(p("r.io/ns/app").overlaps(&p("r.io/ns")));
        assert!(!p("r.io/ns").overlaps(&p("r.io/ns2")));
        assert!(!p("r.io/ns").overlaps(&p("s.io/ns")));
    }

    #[test]
    fn fallback_and_signature_tags_are_told_apart() {
        let hex = "a".repeat(64);
        assert!(is_referrers_tag(&format!("sha256-{hex}")));
        assert!(!is_referrers_tag(&format!("sha256-{hex}.sig")));
        assert!(!is_referrers_tag("v1.0.0"));
        assert!(is_signature_tag(&format!("sha256-{hex}.sig")));
        assert!(!is_signature_tag("v1.sig"));
        assert!(!is_signature_tag("release-1.sig"));
    }
}
