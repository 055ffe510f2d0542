//! `provisioning oci export` and `oci import`: carrying artifacts across an air gap as an OCI
//! image layout (a directory, or a tar of one).

use std::path::{Path, PathBuf};

use color_eyre::eyre::Result;

use crate::cli::GlobalArgs;
use crate::cli::context::OciContext;
use crate::cli::exit::{Exit, coded, outln, usage};
use crate::cli::output::{human_bytes, print_structured};
use crate::cli::progress::ProgressView;
use crate::deps::lock::{LOCK_FILE, Lockfile, lock_path};
use crate::oci::Reference;
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

/// The references a lock pins (extensions from a registry, the core, platform images), each
/// with its tag and locked digest; local modules have nothing to export.
fn locked_references(ctx: &OciContext, lock: Option<PathBuf>) -> Result<Vec<Reference>> {
    let path = match (lock, &ctx.workspace) {
        (Some(path), _) => path,
        (None, Some(workspace)) => lock_path(workspace),
        (None, None) => PathBuf::from(LOCK_FILE),
    };
    let Some(lock) = Lockfile::read(&path)? else {
        return Err(coded(
            Exit::NotFound,
            format!(
                "{}: no lock; run `provisioning dep resolve` first",
                path.display()
            ),
        ));
    };
    let images = lock.core.iter().chain(lock.platform.iter());
    let pinned = images
        .map(|i| (i.reference.clone(), i.digest.clone()))
        .chain(
            lock.extensions
                .iter()
                .filter_map(|e| Some((e.reference.clone()?, e.digest.clone()))),
        );
    let mut references = vec![];
    for (text, digest) in pinned {
        let mut reference = ctx.reference(&text)?;
        reference.digest = Some(digest);
        references.push(reference);
    }
    if references.is_empty() {
        return Err(usage(format!(
            "{}: the lock pins nothing from a registry",
            path.display()
        )));
    }
    Ok(references)
}

pub async fn export(
    ctx: &OciContext,
    references: &[String],
    lock: Option<Option<PathBuf>>,
    to: &Path,
    global: &GlobalArgs,
) -> Result<()> {
    let mut parsed = references
        .iter()
        .map(|r| ctx.reference(r))
        .collect::<Result<Vec<_>>>()?;
    if let Some(lock) = lock {
        parsed.extend(locked_references(ctx, lock)?);
    }
    if parsed.is_empty() {
        return Err(usage(
            "name what to export: `oci export REF... --to PATH` or `oci export --lock --to PATH`",
        ));
    }
    let references = parsed;
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
    path: &Path,
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
