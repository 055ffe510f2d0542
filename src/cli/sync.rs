//! `provisioning oci sync SRC DST`: keeps a mirror of a namespace (or one repository) in step,
//! and says per tag what it did.

use clap::Args;
use color_eyre::eyre::Result;

use crate::cli::GlobalArgs;
use crate::cli::context::OciContext;
use crate::cli::exit::{Exit, coded, outln, usage};
use crate::cli::output::print_structured;
use crate::cli::progress::ProgressView;
use crate::oci::sync::{self, Endpoint, SyncOptions, SyncReport, TagReport, TagStatus};

/// `oci sync` arguments.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// What to mirror: HOST[:PORT]/NAMESPACE (every repository under it), or
    /// HOST[:PORT]/NAMESPACE/NAME (one repository).
    #[arg(value_name = "SRC")]
    pub source: String,
    /// The mirror: HOST[:PORT]/NAMESPACE (or …/NAME); each repository keeps its path below
    /// SRC under it.
    #[arg(value_name = "DST")]
    pub target: String,
    /// Check both ends and report what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove tags from the mirror that the source no longer has (they are only reported
    /// otherwise).
    #[arg(long)]
    pub prune: bool,
}

/// Parses one end, naming the argument when it is malformed.
fn endpoint(name: &str, text: &str) -> Result<Endpoint> {
    Endpoint::parse(text).map_err(|e| usage(format!("{name}: {e}")))
}

pub async fn run(ctx: &OciContext, args: SyncArgs, global: &GlobalArgs) -> Result<()> {
    let source = endpoint("SRC", &args.source)?;
    let target = endpoint("DST", &args.target)?;
    if source.overlaps(&target) {
        return Err(usage(format!(
            "SRC {source} and DST {target} overlap: a mirror must lie outside what it mirrors"
        )));
    }
    let options = SyncOptions {
        dry_run: args.dry_run,
        prune: args.prune,
    };
    let view = ProgressView::start(!ctx.args.no_progress && !global.quiet);
    let result = sync::sync(
        &ctx.registries,
        &ctx.cache,
        &source,
        &target,
        options,
        &view.progress,
    )
    .await;
    view.finish().await;
    let report = result?;
    if !print_structured(global.output, &report)? && !global.quiet {
        print_text(&report)?;
    }
    if report.failed() {
        let s = &report.summary;
        let mut failed = vec![];
        if s.failed > 0 {
            failed.push(plural(s.failed, "tag", "tags"));
        }
        if s.failed_repositories > 0 {
            failed.push(plural(s.failed_repositories, "repository", "repositories"));
        }
        return Err(coded(
            Exit::Failure,
            format!(
                "sync incomplete: {} failed (see above); the rest is in step, run it again to retry",
                failed.join(" and ")
            ),
        ));
    }
    Ok(())
}

/// What a status is called, as done or (on a dry run) as planned.
fn verb(status: TagStatus, dry_run: bool) -> &'static str {
    match (status, dry_run) {
        (TagStatus::Added, false) => "added",
        (TagStatus::Added, true) => "would add",
        (TagStatus::Updated, false) => "updated",
        (TagStatus::Updated, true) => "would update",
        (TagStatus::Unchanged, _) => "unchanged",
        (TagStatus::Deleted, _) => "deleted",
        (TagStatus::Pruned, false) => "pruned",
        (TagStatus::Pruned, true) => "would prune",
        (TagStatus::Failed, _) => "failed",
    }
}

fn short(digest: Option<&crate::oci::Digest>) -> String {
    digest
        .map(|d| d.to_string().chars().take(19).collect())
        .unwrap_or_default()
}

fn tag_line(tag: &TagReport, dry_run: bool) -> String {
    let mut line = format!(
        "  {:<12} {:<24} {}",
        verb(tag.status, dry_run),
        tag.tag,
        short(tag.digest.as_ref())
    );
    if let Some(previous) = &tag.previous {
        line.push_str(&format!(" (was {})", short(Some(previous))));
    }
    if tag.referrers > 0 {
        let copied = if dry_run { "to copy" } else { "copied" };
        line.push_str(&format!(" +{} referrer(s) {copied}", tag.referrers));
    }
    if tag.status == TagStatus::Deleted {
        line.push_str(" (gone at the source; kept, --prune removes it)");
    }
    if let Some(error) = &tag.error {
        line.push_str(&format!(": {error}"));
    }
    line.trim_end().to_string()
}

fn print_text(report: &SyncReport) -> Result<()> {
    for repository in &report.repositories {
        outln!("{} -> {}", repository.source, repository.target);
        if let Some(error) = &repository.error {
            outln!("  failed: {error}");
        }
        for tag in &repository.tags {
            outln!("{}", tag_line(tag, report.dry_run));
        }
    }
    outln!("{}", summary_line(report));
    let s = &report.summary;
    if !report.dry_run && s.manifests_pushed > 0 {
        outln!(
            "{} manifest(s) pushed; {} blob(s) transferred, {} already there, {} mounted",
            s.manifests_pushed,
            s.blobs_transferred,
            s.blobs_skipped,
            s.blobs_mounted
        );
    }
    Ok(())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `Synced 37 repositories: 53 added, 2 unchanged, 1 failed; 3 referrers` (non-zero counts).
fn summary_line(report: &SyncReport) -> String {
    let s = &report.summary;
    let dry = report.dry_run;
    let counts = [
        (s.added, if dry { "to add" } else { "added" }),
        (s.updated, if dry { "to update" } else { "updated" }),
        (s.unchanged, "unchanged"),
        (s.deleted, "deleted at the source (kept)"),
        (s.pruned, if dry { "to prune" } else { "pruned" }),
        (s.failed, "failed"),
    ];
    let mut tags: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| format!("{n} {label}"))
        .collect();
    if tags.is_empty() {
        tags.push("no tags".into());
    }
    let mut line = format!(
        "{} {}: {}",
        if dry {
            "Dry run, nothing written;"
        } else {
            "Synced"
        },
        plural(s.repositories, "repository", "repositories"),
        tags.join(", ")
    );
    if s.referrers > 0 {
        let what = plural(s.referrers, "referrer", "referrers");
        line.push_str(&format!(
            "; {what} {}",
            if dry { "to copy" } else { "copied" }
        ));
    }
    if s.failed_repositories > 0 {
        line.push_str(&format!(
            "; {} failed",
            plural(s.failed_repositories, "repository", "repositories")
        ));
    }
    line
}
