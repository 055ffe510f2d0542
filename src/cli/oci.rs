//! `provisioning oci …`: list, search, tags, inspect, pull, copy, delete, login, logout, config.

use super::exit::{Exit, coded, out, outln, usage};
use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::{Result, bail};
use tokio_util::sync::CancellationToken;

use super::GlobalArgs;
use super::context::{OciContext, RegistryArgs};
use super::output::{human_bytes, print_fields, print_structured, print_table};
use super::progress::ProgressView;
use super::prompt;
use crate::extension::artifact::Pulled;
use crate::oci::client::OciError;
use crate::oci::{Reference, browse, copy, suggest};

#[derive(Debug, Subcommand)]
pub enum OciCommand {
    /// Repositories of the namespace (--namespace, else the configured one), from the catalog.
    List {
        /// List every repository of the registry, whatever its namespace.
        #[arg(long)]
        all: bool,
    },
    /// Find extensions by name or description.
    Search { query: String },
    /// Versions of an artifact, newest first.
    Tags { name: String },
    /// Digest, types, size, annotations, config, layers and referrers of an artifact.
    Inspect {
        reference: String,
        /// Check the artifact's cosign signatures against this public key.
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
    },
    #[command(flatten)]
    Signing(super::sign::SignCommand),
    /// Download an artifact's files (named by their title annotation), merged into the output
    /// directory: files already there stay; one with other content is refused unless
    /// --overwrite.
    Pull {
        reference: String,
        /// Where to write the files [default: ./<name> for extensions, else .].
        #[arg(long, short = 'o', value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// Replace existing files whose content differs from the pulled ones (other files in
        /// the output directory are never touched).
        #[arg(long)]
        overwrite: bool,
    },
    /// Copy an artifact (or every tag) to another repository or registry, digests unchanged.
    Copy {
        source: String,
        target: String,
        /// Copy every tag of the source repository.
        #[arg(long)]
        all_tags: bool,
    },
    /// Write artifacts (with their referrers) to an OCI image layout: a directory, or a tar
    /// of one when PATH ends in `.tar`.
    Export {
        #[arg(required_unless_present = "lock")]
        references: Vec<String>,
        /// Export everything a lock pins, by digest [default: the workspace's
        /// config/provisioning.lock].
        #[arg(long, value_name = "LOCK", num_args = 0..=1)]
        lock: Option<Option<PathBuf>>,
        /// The layout to write (must not exist).
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
    },
    /// Push an OCI image layout (a directory or a tar of one) into a registry (--registry),
    /// digests and tags unchanged; --namespace replaces each repository's namespace.
    Import {
        path: PathBuf,
        /// The repository for entries that name none (layouts with bare tags, as skopeo writes).
        #[arg(long, value_name = "REPO")]
        repository: Option<String>,
    },
    /// Mirror a namespace (or one repository) to another registry: every tag, index, referrer
    /// and signature; idempotent, reports added / updated / unchanged / failed per tag.
    Sync(super::sync::SyncArgs),
    /// Delete an artifact's manifest (and so every tag pointing at it).
    Delete {
        reference: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Check credentials against a registry, then store them.
    Login {
        registry: String,
        #[arg(long, short = 'u')]
        username: Option<String>,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove stored credentials for a registry.
    Logout { registry: String },
    /// The effective settings (never credential values).
    Config,
    /// The local blob cache: `size`, and `prune [--all | --older-than DURATION]`.
    #[command(subcommand)]
    Cache(super::cache::CacheCommand),
    /// Package an extension directory as `<name>-<version>.tar.gz` (reproducibly), or check it
    /// with `package validate DIR`.
    #[command(args_conflicts_with_subcommands = true)]
    Package {
        #[command(subcommand)]
        command: Option<super::publish::PackageCommand>,
        /// The extension directory.
        dir: Option<PathBuf>,
        /// Where to write the package [default: ./<name>-<version>.tar.gz]. (`--output` is taken
        /// by the output format.)
        #[arg(long = "output-file", short = 'o', value_name = "FILE")]
        output_file: Option<PathBuf>,
    },
    /// Validate, package and push an extension; its name and version come from its
    /// manifest.yaml (when given, they must match it).
    Push {
        /// The extension directory (holding manifest.yaml).
        dir: PathBuf,
        /// NAME or NAME:VERSION to check against the manifest [default: the manifest's].
        #[arg(value_name = "NAME[:VERSION]")]
        name: Option<String>,
        /// VERSION to check against the manifest, when NAME does not carry it.
        #[arg(value_name = "VERSION")]
        ext_version: Option<String>,
        /// Replace the version when it exists with other content.
        #[arg(long)]
        force: bool,
    },
    /// Publish every extension of a monorepo (ROOT/{providers,taskservs,clusters}/*), or the one
    /// a CI tag names with --from-tag.
    Publish {
        /// The monorepo root.
        #[arg(default_value = ".")]
        root: PathBuf,
        /// A tag like taskservs/kubernetes/v1.28.0: publish just that extension. Without a
        /// value, the tag of the CI build: GITHUB_REF_NAME when GITHUB_REF_TYPE=tag (GitHub and
        /// Gitea Actions), else CI_COMMIT_TAG (GitLab); none, or one off the pattern, exits 2.
        #[arg(long, value_name = "TAG", num_args = 0..=1)]
        from_tag: Option<Option<String>>,
        /// Validate, package and compare with the registry, but push nothing.
        #[arg(long)]
        dry_run: bool,
        /// Sign what is published (cosign's layout) with --key.
        #[arg(long, requires = "key")]
        sign: bool,
        /// The cosign private key for --sign.
        #[arg(long, value_name = "FILE", requires = "sign")]
        key: Option<PathBuf>,
    },
}

pub fn run(command: OciCommand, args: &RegistryArgs, global: &GlobalArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let ctx = OciContext::new(args)?;
        // Pulls stop through this token at their next safe point and report what is on disk;
        // everything else is dropped on Ctrl-C, which removes its temp files as it unwinds.
        let cancel = CancellationToken::new();
        let reports_own_outcome = matches!(command, OciCommand::Pull { .. });
        let work = async {
            match command {
                OciCommand::List { all } => list(&ctx, all, global).await,
                OciCommand::Search { query } => search(&ctx, &query, global).await,
                OciCommand::Tags { name } => tags(&ctx, &name, global).await,
                OciCommand::Inspect { reference, key } => inspect(&ctx, &reference, key.as_deref(), global).await,
                OciCommand::Signing(command) => super::sign::run(&ctx, command, global).await,
                OciCommand::Pull {
                    reference,
                    output_dir,
                    overwrite,
                } => {
                    pull_command(&ctx, &reference, output_dir, overwrite, &cancel, global).await
                }
                OciCommand::Copy {
                    source,
                    target,
                    all_tags,
                } => copy_command(&ctx, &source, &target, all_tags, global).await,
                OciCommand::Export { references, lock, to } => super::airgap::export(&ctx, &references, lock, &to, global).await,
                OciCommand::Import { path, repository } => super::airgap::import(&ctx, &path, repository, global).await,
                OciCommand::Sync(sync) => super::sync::run(&ctx, sync, global).await,
                OciCommand::Delete { reference, yes } => {
                    delete(&ctx, &reference, yes, global).await
                }
                OciCommand::Login {
                    registry,
                    username,
                    password_stdin,
                } => super::oci_account::login(&ctx, &registry, username, password_stdin, global).await,
                OciCommand::Logout { registry } => super::oci_account::logout(&ctx, &registry, global),
                OciCommand::Config => super::oci_account::config(&ctx, global),
                OciCommand::Cache(command) => super::cache::run(command, &ctx.cache, global),
                OciCommand::Package { command, dir, output_file } => match (command, dir) {
                    (Some(super::publish::PackageCommand::Validate { dir }), _) => super::publish::validate(&dir, global),
                    (None, Some(dir)) => super::publish::package(&dir, output_file, global),
                    (None, None) => Err(usage("name the extension directory: `oci package DIR` or `oci package validate DIR`")),
                },
                OciCommand::Push { dir, name, ext_version, force } => super::publish::push(&ctx, &dir, name.as_deref(), ext_version.as_deref(), force, global).await,
                OciCommand::Publish { root, from_tag, dry_run, sign: _, key } => {
                    let from_tag = match from_tag {
                        Some(None) => Some(crate::extension::ci::release_tag_from_process_env().map_err(usage)?.tag),
                        given => given.flatten(),
                    };
                    super::publish::publish(&ctx, &root, from_tag.as_deref(), dry_run, key.as_deref(), global).await
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            result = &mut work => return result,
            _ = tokio::signal::ctrl_c() => {}
        }
        if !reports_own_outcome {
            // Dropping the work removes its temp files and staged output.
            return Err(coded(Exit::Interrupted, "interrupted; nothing partial was kept"));
        }
        // A pull checks the token before it commits; a commit already under way finishes.
        // Either way its own outcome says what is on disk.
        cancel.cancel();
        eprintln!("interrupted; stopping the pull before it commits anything");
        tokio::select! {
            result = &mut work => interrupted(result),
            _ = tokio::signal::ctrl_c() => Err(coded(
                Exit::Interrupted,
                "interrupted twice; the pull was stopped before its commit or finished it, check the output directory",
            )),
        }
    })
}

/// What to say after Ctrl-C once the pull itself has ended.
fn interrupted(result: Result<()>) -> Result<()> {
    match result {
        Ok(()) => Err(coded(
            Exit::Interrupted,
            "interrupted after the pull had completed: its files are in place",
        )),
        Err(e) if matches!(e.downcast_ref::<OciError>(), Some(OciError::Cancelled)) => Err(coded(
            Exit::Interrupted,
            "interrupted; nothing partial was kept",
        )),
        Err(e) => Err(e),
    }
}

fn progress_enabled(ctx: &OciContext, global: &GlobalArgs) -> bool {
    !ctx.args.no_progress && !global.quiet
}

async fn list(ctx: &OciContext, all: bool, global: &GlobalArgs) -> Result<()> {
    let namespace = if all {
        String::new()
    } else {
        ctx.defaults.namespace.clone()
    };
    let client = ctx.registries.client(&ctx.defaults.registry);
    let entries = browse::list(&client, &namespace).await?;
    if print_structured(global.output, &entries)? {
        return Ok(());
    }
    if entries.is_empty() {
        eprintln!(
            "No repositories under `{namespace}` in {}",
            ctx.defaults.registry
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                format!("{}/{}", ctx.defaults.registry, e.repository),
            ]
        })
        .collect();
    print_table(&["name", "repository"], &rows)?;
    Ok(())
}

async fn search(ctx: &OciContext, query: &str, global: &GlobalArgs) -> Result<()> {
    let client = ctx.registries.client(&ctx.defaults.registry);
    let hits = browse::search(&client, &ctx.defaults.namespace, query, 8).await?;
    if print_structured(global.output, &hits)? {
        return Ok(());
    }
    if hits.is_empty() {
        eprintln!(
            "Nothing matches `{query}` in {}/{}",
            ctx.defaults.registry, ctx.defaults.namespace
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.latest.clone().unwrap_or_default(),
                h.description.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&["name", "latest", "description"], &rows)?;
    Ok(())
}

async fn tags(ctx: &OciContext, name: &str, global: &GlobalArgs) -> Result<()> {
    let reference = ctx.reference(name)?;
    let client = ctx.registries.client(&reference.registry);
    let entries = with_suggestions(
        ctx,
        &reference,
        browse::tags(&client, &reference).await.map_err(Into::into),
    )
    .await?;
    if print_structured(global.output, &entries)? {
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|t| {
            vec![
                t.artifact.clone(),
                t.version.clone().unwrap_or_else(|| t.tag.clone()),
                t.reference.clone(),
            ]
        })
        .collect();
    print_table(&["artifact", "version", "reference"], &rows)?;
    Ok(())
}

/// A bare name (no tag, no digest) means its newest version; says which, on stderr.
async fn newest_if_bare(ctx: &OciContext, reference: Reference, global: &GlobalArgs) -> Reference {
    let client = ctx.registries.client(&reference.registry);
    match suggest::resolve_bare(&client, &reference).await {
        Some((newest, tag)) => {
            if !global.quiet {
                eprintln!(
                    "Using {}:{tag}, the newest version ({newest})",
                    reference.name()
                );
            }
            newest
        }
        None => reference,
    }
}

/// A "not found" for `reference` with the near names and the versions that exist; the exit
/// code stays "not found".
async fn with_suggestions<T>(
    ctx: &OciContext,
    reference: &Reference,
    result: Result<T>,
) -> Result<T> {
    let Err(report) = result else {
        return result;
    };
    let not_found = report.chain().any(|c| {
        matches!(
            c.downcast_ref::<OciError>(),
            Some(OciError::NotFound { .. })
        )
    });
    if !not_found {
        return Err(report);
    }
    let client = ctx.registries.client(&reference.registry);
    match suggest::not_found_hint(&client, reference).await {
        Some(hint) => Err(report.wrap_err(format!("{reference} not found; {hint}"))),
        None => Err(report),
    }
}

async fn inspect(
    ctx: &OciContext,
    reference: &str,
    key: Option<&std::path::Path>,
    global: &GlobalArgs,
) -> Result<()> {
    let reference = ctx.reference(reference)?;
    let reference = newest_if_bare(ctx, reference, global).await;
    let client = ctx.registries.client(&reference.registry);
    let found = with_suggestions(
        ctx,
        &reference,
        browse::inspect(&client, &reference)
            .await
            .map_err(Into::into),
    )
    .await?;
    if print_structured(global.output, &found)? {
        return Ok(());
    }
    let mut rows = vec![
        ("reference", found.reference.clone()),
        ("digest", found.digest.to_string()),
        ("media type", found.media_type.clone()),
    ];
    if let Some(t) = &found.artifact_type {
        rows.push(("artifact type", t.clone()));
    }
    rows.push(("size", human_bytes(found.size)));
    if let Some(subject) = &found.subject {
        rows.push(("subject", subject.digest.to_string()));
    }
    match super::sign::inspect_lines(ctx, &reference, &found.digest, key).await {
        Ok(lines) => rows.extend(lines),
        Err(e) if key.is_some() => return Err(e),
        Err(_) => {}
    }
    print_fields(&rows)?;
    if !found.annotations.is_empty() {
        outln!("\nannotations");
        let rows: Vec<Vec<String>> = found
            .annotations
            .iter()
            .map(|(k, v)| vec![k.clone(), v.clone()])
            .collect();
        print_table(&["key", "value"], &rows)?;
    }
    if let Some(content) = &found.config_content {
        outln!(
            "\nconfig ({})",
            found
                .config
                .as_ref()
                .map(|c| c.media_type.as_str())
                .unwrap_or("")
        );
        out!("{}", serde_yaml::to_string(content)?);
    }
    let descriptor_rows = |list: &[crate::oci::client::Descriptor]| -> Vec<Vec<String>> {
        list.iter()
            .map(|d| {
                vec![
                    d.digest.to_string(),
                    d.media_type.clone(),
                    human_bytes(d.size),
                    d.annotations
                        .get(crate::oci::manifest::TITLE)
                        .cloned()
                        .or_else(|| {
                            d.platform.as_ref().map(|p| {
                                format!(
                                    "{}/{}",
                                    p["os"].as_str().unwrap_or("?"),
                                    p["architecture"].as_str().unwrap_or("?")
                                )
                            })
                        })
                        .or_else(|| d.artifact_type.clone())
                        .unwrap_or_default(),
                ]
            })
            .collect()
    };
    if !found.layers.is_empty() {
        outln!("\nlayers");
        print_table(
            &["digest", "media type", "size", "title"],
            &descriptor_rows(&found.layers),
        )?;
    }
    if !found.manifests.is_empty() {
        outln!("\nmanifests");
        print_table(
            &["digest", "media type", "size", "platform"],
            &descriptor_rows(&found.manifests),
        )?;
    }
    if !found.referrers.is_empty() {
        outln!("\nreferrers");
        print_table(
            &["digest", "media type", "size", "artifact type"],
            &descriptor_rows(&found.referrers),
        )?;
    }
    Ok(())
}

async fn pull_command(
    ctx: &OciContext,
    reference: &str,
    output_dir: Option<PathBuf>,
    overwrite: bool,
    cancel: &CancellationToken,
    global: &GlobalArgs,
) -> Result<()> {
    let reference = ctx.reference(reference)?;
    let reference = newest_if_bare(ctx, reference, global).await;
    let view = ProgressView::start(progress_enabled(ctx, global));
    let progress = view.progress.clone().with_cancel(cancel.clone());
    let result = crate::extension::artifact::pull_any_with(
        &ctx.registries,
        &ctx.cache,
        &reference,
        output_dir.as_deref(),
        overwrite,
        &progress,
    )
    .await;
    drop(progress);
    view.finish().await;
    let report = match with_suggestions(ctx, &reference, result.map_err(conflict_exit)).await? {
        Pulled::Extension(pulled) => {
            if !print_structured(global.output, &pulled)? && !global.quiet {
                outln!(
                    "Pulled {} {} into {} ({} files, verified)",
                    pulled.name,
                    pulled.version,
                    pulled.directory.display(),
                    pulled.files
                );
                outln!("digest  {}", pulled.digest);
            }
            return Ok(());
        }
        Pulled::Files(report) => report,
    };
    if print_structured(global.output, &report)? || global.quiet {
        return Ok(());
    }
    outln!("Pulled {}", report.reference);
    outln!("digest  {}", report.digest);
    for file in &report.files {
        outln!("wrote   {}", file.display());
    }
    if !report.skipped_layers.is_empty() {
        outln!(
            "{} layer(s) without a title annotation were not written",
            report.skipped_layers.len()
        );
    }
    Ok(())
}

/// A pull refused because the output directory holds other content exits with 5.
fn conflict_exit(e: OciError) -> color_eyre::Report {
    match &e {
        OciError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => coded(
            Exit::Conflict,
            format!("{e}\npass --overwrite to replace existing files with the pulled ones"),
        ),
        _ => e.into(),
    }
}

async fn copy_command(
    ctx: &OciContext,
    source: &str,
    target: &str,
    all_tags: bool,
    global: &GlobalArgs,
) -> Result<()> {
    let source = ctx.reference(source)?;
    let target = ctx.reference(target)?;
    let view = ProgressView::start(progress_enabled(ctx, global));
    let result = copy::copy(
        &ctx.registries,
        &ctx.cache,
        &source,
        &target,
        all_tags,
        &view.progress,
    )
    .await;
    view.finish().await;
    let report = result?;
    if print_structured(global.output, &report)? || global.quiet {
        return Ok(());
    }
    for (from, to) in &report.copied {
        outln!("Copied {from} -> {to}");
    }
    outln!(
        "{} manifest(s), {} blob(s) transferred, {} already there, {} mounted, {} referrer(s)",
        report.manifests,
        report.blobs_transferred,
        report.blobs_skipped,
        report.blobs_mounted,
        report.referrers
    );
    Ok(())
}

async fn delete(ctx: &OciContext, reference: &str, yes: bool, global: &GlobalArgs) -> Result<()> {
    let reference = ctx.reference(reference)?;
    let client = ctx.registries.client(&reference.registry);
    let plan = browse::plan_delete(&client, &reference, ctx.args.concurrency).await?;
    if !yes {
        eprintln!(
            "This deletes manifest {}@{}",
            reference.repository_path(),
            plan.digest
        );
        let others: Vec<&String> = plan
            .tags
            .iter()
            .filter(|t| Some(*t) != reference.tag.as_ref())
            .collect();
        if !plan.tags.is_empty() {
            eprintln!("and with it the tag(s): {}", plan.tags.join(", "));
        }
        if !others.is_empty() {
            eprintln!("Other tags point at the same manifest and go too.");
        }
        let expected = reference
            .tag
            .clone()
            .unwrap_or_else(|| reference.name().to_string());
        if !prompt::confirm_by_typing(&format!("Type `{expected}` to delete: "), &expected)? {
            bail!("not deleted: the confirmation did not match");
        }
    }
    browse::delete(&client, &reference, &plan).await?;
    if !print_structured(global.output, &plan)? && !global.quiet {
        outln!("Deleted {}@{}", reference.repository_path(), plan.digest);
        if !plan.tags.is_empty() {
            outln!("Removed tag(s): {}", plan.tags.join(", "));
        }
    }
    Ok(())
}
