//! `oci package`, `oci push`, `oci publish`: from an extension directory to a registry.

use super::exit::{Exit, coded, outln, usage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use color_eyre::eyre::{Result, bail, eyre};

use super::GlobalArgs;
use super::context::OciContext;
use super::output::{human_bytes, print_fields, print_structured, print_table};
use super::progress::ProgressView;
use crate::extension::package::{self, package_file_name};
use crate::extension::publish::{self, PublishStatus, target_reference};

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Check an extension directory: manifest, required files, what the tree holds.
    Validate { dir: PathBuf },
}

fn print_warnings(tree: &package::ExtensionTree, global: &GlobalArgs) {
    if !global.quiet {
        for warning in &tree.warnings {
            eprintln!("{warning}");
        }
    }
}

/// `oci package validate DIR`.
pub fn validate(dir: &Path, global: &GlobalArgs) -> Result<()> {
    let tree = package::validate(dir)?;
    print_warnings(&tree, global);
    let summary = serde_json::json!({
        "directory": dir,
        "name": tree.manifest.name,
        "type": tree.manifest.kind.to_string(),
        "version": tree.manifest.version.to_string(),
        "warnings": tree.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
    });
    if !print_structured(global.output, &summary)? && !global.quiet {
        outln!(
            "{} {} {} is valid",
            tree.manifest.kind,
            tree.manifest.name,
            tree.manifest.version
        );
    }
    Ok(())
}

/// `oci package DIR [--output F]`.
pub fn package(dir: &Path, output: Option<PathBuf>, global: &GlobalArgs) -> Result<()> {
    let tree = package::validate(dir)?;
    print_warnings(&tree, global);
    let output = output.unwrap_or_else(|| PathBuf::from(package_file_name(&tree.manifest)));
    let package = package::package(&tree, &output)?;
    if !print_structured(global.output, &package)? && !global.quiet {
        outln!("{}", package.path.display());
        print_fields(&[
            ("files", package.files.to_string()),
            ("size", human_bytes(package.size)),
            ("digest", package.digest.to_string()),
        ])?;
    }
    Ok(())
}

/// What `oci push DIR [NAME[:VERSION] | NAME VERSION]` was given besides DIR: nothing means
/// the manifest's name and version.
pub fn split_push_target(
    name: Option<&str>,
    version: Option<&str>,
) -> Result<(Option<String>, Option<String>)> {
    let Some(name) = name else {
        return Ok((None, None));
    };
    match (name.split_once(':'), version) {
        (Some(_), Some(_)) => Err(usage(
            "give the version once: `oci push DIR NAME:VERSION` or `oci push DIR NAME VERSION`",
        )),
        (Some((n, v)), None) if n.is_empty() || v.is_empty() => Err(usage(format!(
            "`{name}` is not NAME:VERSION (e.g. redis:0.1.0)"
        ))),
        (Some((n, v)), None) => Ok((Some(n.to_string()), Some(v.to_string()))),
        (None, v) => Ok((Some(name.to_string()), v.map(str::to_string))),
    }
}

/// `oci push DIR [NAME[:VERSION] | NAME VERSION] [--force]`: what is not given comes from the
/// manifest; what is given must match it.
pub async fn push(
    ctx: &OciContext,
    dir: &Path,
    name: Option<&str>,
    version: Option<&str>,
    force: bool,
    global: &GlobalArgs,
) -> Result<()> {
    let (name, version) = split_push_target(name, version)?;
    let tree = package::validate(dir)?;
    print_warnings(&tree, global);
    let manifest_version = tree.manifest.version.to_string();
    let name = name.as_deref().unwrap_or(&tree.manifest.name);
    let version = version.as_deref().unwrap_or(&manifest_version);
    tree.manifest
        .check_matches(name, version)
        .map_err(|e| eyre!("{}: {e}", dir.join("manifest.yaml").display()))?;
    let target = target_reference(&ctx.defaults, &tree.manifest.name, &tree.manifest.version);
    let view = ProgressView::start(!ctx.args.no_progress && !global.quiet);
    let result = publish::publish_one(
        &ctx.registries,
        &ctx.cache,
        Arc::new(tree),
        &target,
        force,
        false,
        &view.progress,
    )
    .await;
    view.finish().await;
    let status = result?;
    if print_structured(
        global.output,
        &serde_json::json!({ "reference": target.to_string(), "result": status }),
    )? || global.quiet
    {
        return finish(&status, &target.to_string());
    }
    match &status {
        PublishStatus::Published { digest } => outln!("Pushed {target}\ndigest {digest}"),
        PublishStatus::Replaced { digest, previous } => {
            outln!("Pushed {target} (replaced {previous})\ndigest {digest}")
        }
        PublishStatus::Unchanged { digest } => {
            outln!(
                "{target} is already published with this content; nothing to push\ndigest {digest}"
            )
        }
        _ => {}
    }
    finish(&status, &target.to_string())
}

fn finish(status: &PublishStatus, reference: &str) -> Result<()> {
    match status {
        PublishStatus::Conflict { registry, local } => Err(coded(
            Exit::Conflict,
            format!(
                "{reference} already exists with other content\n  registry: {registry}\n  local:    {local}\nbump the version, or pass --force to replace it"
            ),
        )),
        PublishStatus::Failed { reason } => bail!("{reference}: {reason}"),
        _ => Ok(()),
    }
}

/// The extensions `oci publish ROOT` publishes: the monorepo layout
/// (`ROOT/{providers,taskservs,clusters}/<name>`), else extensions directly under ROOT
/// (`ROOT/<name>/manifest.yaml`), else ROOT itself when it is one extension.
fn discover(root: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => bail!(
            "{} is not a directory: name the directory that holds the extensions",
            root.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(usage(format!(
                "{} does not exist: name the directory that holds the extensions \
                 (`generate extension TYPE NAME --dir <root>` creates <root>/<type>s/<name>)",
                root.display()
            )));
        }
        Err(e) => bail!("cannot read {}: {e}", root.display()),
    }
    let found = publish::discover(root)?;
    if !found.is_empty() {
        return Ok(found);
    }
    if root.join("manifest.yaml").is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut flat: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("manifest.yaml").is_file())
        .collect();
    flat.sort();
    Ok(flat)
}

/// `oci publish ROOT [--dry-run]` and `oci publish --from-tag TAG [ROOT]`.
pub async fn publish(
    ctx: &OciContext,
    root: &Path,
    from_tag: Option<&str>,
    dry_run: bool,
    sign_key: Option<&Path>,
    global: &GlobalArgs,
) -> Result<()> {
    // The key opens before anything is pushed: a wrong password costs nothing.
    let signer = sign_key.map(super::sign::load_signer).transpose()?;
    let dirs = match from_tag {
        Some(tag) => {
            let tag = publish::parse_release_tag(tag).map_err(|e| usage(e.to_string()))?;
            vec![publish::locate_release(root, &tag).map_err(|e| eyre!(e))?]
        }
        None => discover(root)?,
    };
    if dirs.is_empty() {
        bail!(
            "{} has no extensions: expected <root>/{{providers,taskservs,clusters}}/<name>/manifest.yaml \
             (as `generate extension TYPE NAME --dir <root>` creates) or <root>/<name>/manifest.yaml",
            root.display()
        );
    }
    let view = ProgressView::start(false);
    let entries = publish::publish_all(
        &ctx.registries,
        &ctx.cache,
        dirs,
        &ctx.defaults,
        dry_run,
        ctx.args.concurrency,
        &view.progress,
    )
    .await;
    view.finish().await;
    if let Some(signer) = &signer
        && !dry_run
    {
        super::sign::sign_published(ctx, &entries, signer).await?;
    }
    let failed = entries.iter().filter(|e| e.failed()).count();
    if !print_structured(global.output, &entries)? && !global.quiet {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let (state, detail) = match &e.status {
                    PublishStatus::Published { digest } => ("published", digest.to_string()),
                    PublishStatus::Replaced { digest, .. } => ("replaced", digest.to_string()),
                    PublishStatus::Unchanged { digest } => ("unchanged", digest.to_string()),
                    PublishStatus::WouldPublish { digest } => ("would publish", digest.to_string()),
                    PublishStatus::Conflict { registry, local } => (
                        "conflict",
                        format!("registry has {registry}, local is {local}"),
                    ),
                    PublishStatus::Failed { reason } => ("failed", reason.clone()),
                };
                vec![
                    e.name
                        .clone()
                        .unwrap_or_else(|| e.directory.display().to_string()),
                    e.version.clone().unwrap_or_default(),
                    state.to_string(),
                    detail,
                ]
            })
            .collect();
        print_table(&["extension", "version", "result", "detail"], &rows)?;
        let count = |f: fn(&PublishStatus) -> bool| entries.iter().filter(|e| f(&e.status)).count();
        outln!(
            "{} published, {} unchanged, {} failed{}",
            count(|s| matches!(
                s,
                PublishStatus::Published { .. }
                    | PublishStatus::Replaced { .. }
                    | PublishStatus::WouldPublish { .. }
            )),
            count(|s| matches!(s, PublishStatus::Unchanged { .. })),
            failed,
            if dry_run {
                " (dry run: nothing was pushed)"
            } else {
                ""
            }
        );
    }
    if failed > 0 {
        return Err(batch_failure(
            entries.iter().map(|e| &e.status),
            format!("{failed} extension(s) could not be published"),
        ));
    }
    Ok(())
}

/// The error a batch of publishes ends with: exit 5 when every failure is a conflict, so that
/// scripts can tell "bump the version" from "something broke"; else 1.
pub(super) fn batch_failure<'a>(
    statuses: impl IntoIterator<Item = &'a PublishStatus>,
    message: String,
) -> color_eyre::Report {
    let failures: Vec<&PublishStatus> = statuses
        .into_iter()
        .filter(|s| {
            matches!(
                s,
                PublishStatus::Failed { .. } | PublishStatus::Conflict { .. }
            )
        })
        .collect();
    let only_conflicts = failures
        .iter()
        .all(|s| matches!(s, PublishStatus::Conflict { .. }));
    coded(
        if only_conflicts {
            Exit::Conflict
        } else {
            Exit::Failure
        },
        message,
    )
}
