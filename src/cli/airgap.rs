//! `provisioning oci export` and `oci import`: carrying artifacts across an air gap as an OCI
//! image layout (a directory, or a tar of one).

use std::path::{Path, PathBuf};

use color_eyre::eyre::Result;

use crate::cli::GlobalArgs;
use crate::cli::context::OciContext;
use crate::cli::exit::{Exit, coded, outln, usage};
use crate::cli::output::{human_bytes, print_structured};
use crate::cli::progress::ProgressView;
use crate::oci::client::OciError;
use crate::oci::layout::{self, ImportTarget};

fn progress_enabled(ctx: &OciContext, global: &GlobalArgs) -> bool {
    !ctx.args.no_progress && !global.quiet
}

/// An existing destination is a conflict; a missing source is "not found".
fn classify(e: OciError) -> color_eyre::Report {
    match &e {
        OciError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            coded(Exit::Conflict, e.to_string())
        }
        OciError::NotFound { .. } => coded(Exit::NotFound, e.to_string()),
        _ => e.into(),
    }
}

pub async fn export(
    ctx: &OciContext,
    references: &[String],
    to: &Path,
    global: &GlobalArgs,
) -> Result<()> {
    if references.is_empty() {
        return Err(usage("name what to export: `oci export REF... --to PATH`"));
    }
    let references = references
        .iter()
        .map(|r| ctx.reference(r))
        .collect::<Result<Vec<_>>>()?;
    let view = ProgressView::start(progress_enabled(ctx, global));
    let result = layout::export(&ctx.registries, &ctx.cache, &references, to, &view.progress).await;
    view.finish().await;
    let report = result.map_err(classify)?;
    if print_structured(global.output, &report)? || global.quiet {
        return Ok(());
    }
    for name in &report.exported {
        outln!("Exported {name}");
    }
    outln!(
        "{}: {} manifest(s), {} blob(s), {} referrer(s), {} (every digest verified)",
        report.path.display(),
        report.manifests,
        report.blobs,
        report.referrers,
        human_bytes(report.bytes)
    );
    Ok(())
}

pub async fn import(
    ctx: &OciContext,
    path: &PathBuf,
    repository: Option<String>,
    global: &GlobalArgs,
) -> Result<()> {
    if !path.exists() {
        return Err(coded(
            Exit::NotFound,
            format!("{}: no such layout", path.display()),
        ));
    }
    let target = ImportTarget {
        registry: ctx.defaults.registry.clone(),
        namespace: ctx.args.namespace.clone(),
        repository,
    };
    let view = ProgressView::start(progress_enabled(ctx, global));
    let result = layout::import(&ctx.registries, path, &target, &view.progress).await;
    view.finish().await;
    let report = result.map_err(|e| match e {
        OciError::Config(message) => coded(Exit::Failure, message),
        other => classify(other),
    })?;
    if print_structured(global.output, &report)? || global.quiet {
        return Ok(());
    }
    for name in &report.imported {
        outln!("Imported {name}");
    }
    outln!(
        "{} manifest(s) pushed, {} already there; {} blob(s) pushed, {} already there",
        report.manifests_pushed,
        report.manifests_skipped,
        report.blobs_pushed,
        report.blobs_skipped
    );
    Ok(())
}
