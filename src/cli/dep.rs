//! `provisioning dep resolve | validate | tree | check-updates | update`: the workspace's
//! dependencies resolved, locked, installed, shown and updated.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use color_eyre::eyre::Result;
use semver::Version;

use super::GlobalArgs;
use super::context::{OciContext, RegistryArgs};
use super::exit::{Exit, coded, outln, usage};
use super::output::{print_structured, print_table};
use super::progress::ProgressView;
use crate::deps::lock::{Lockfile, lock_path};
use crate::deps::resolve::{ResolveError, ResolveOptions};
use crate::deps::source::FetchErrorKind;
use crate::deps::sync::{SyncError, SyncOptions, SyncOutcome, apply, describe, plan_sync};
use crate::deps::update::{UpdateError, UpdateKind, prepare};
use crate::deps::{ResolveEvent, ResolveEvents};
use crate::workspace::Workspace;

mod tree;

/// Registry options, as for `oci`, with `--concurrency` left unset unless given: metadata
/// requests then run 16 at a time and blob transfers 4.
#[derive(Debug, Clone, Args)]
pub struct DepArgs {
    /// Workspace directory [default: $PROVISIONING_WORKSPACE, else the nearest directory upward
    /// with config/provisioning.yaml].
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Talk plain HTTP to registries.
    #[arg(long, global = true)]
    pub plain_http: bool,
    /// Skip TLS certificate verification.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Trust this CA certificate (PEM) too.
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Requests at once, metadata and blobs alike [default: 16 metadata requests, 4 blobs].
    #[arg(long, global = true, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Draw no progress.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum DepCommand {
    /// Resolve, write config/provisioning.lock, install into .provisioning/extensions.
    Resolve {
        /// Fail (exit 3) when the lock would change or a tag moved.
        #[arg(long)]
        locked: bool,
        /// From the lock and the cache only.
        #[arg(long)]
        offline: bool,
        /// Print the plan (added / upgraded / downgraded / removed); write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Resolve without installing: conflicts, cycles, core compatibility, missing artifacts,
    /// lock against registry digests. Exits non-zero on any problem.
    Validate {
        #[arg(long)]
        offline: bool,
    },
    /// The resolved graph, like `cargo tree`.
    Tree {
        /// Start from this extension instead of the workspace's modules.
        name: Option<String>,
        /// Who needs NAME: "why is this here".
        #[arg(long, short = 'i', value_name = "NAME", conflicts_with = "name")]
        invert: Option<String>,
        /// Levels to show.
        #[arg(long, value_name = "N")]
        depth: Option<usize>,
        /// Only extensions that more than one other extension needs.
        #[arg(long, short = 'd')]
        duplicates: bool,
        /// text, dot (Graphviz) or mermaid (Markdown).
        #[arg(long, value_enum, default_value_t = TreeFormat::Text)]
        format: TreeFormat,
        #[arg(long)]
        offline: bool,
    },
    /// Per extension: current, newest compatible with everything else, newest overall.
    CheckUpdates,
    /// Update one extension, everything else as locked; `--to` an older version rolls back.
    Update {
        name: String,
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Show the diff and the plan; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Exit 3 for the dependency commands: the lock is out of date (or a tag moved) under `--locked`.
const LOCK_OUT_OF_DATE: Exit = Exit::LOCK_OUT_OF_DATE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TreeFormat {
    Text,
    Dot,
    Mermaid,
}

pub fn run(command: DepCommand, args: &DepArgs, global: &GlobalArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::select! {
            result = dispatch(command, args, global) => result,
            _ = tokio::signal::ctrl_c() => Err(coded(
                Exit::Interrupted,
                "interrupted; every installed extension is either as it was or fully new",
            )),
        }
    })
}

struct Setup {
    workspace: Workspace,
    ctx: OciContext,
}

fn setup(args: &DepArgs) -> Result<Setup> {
    let registry_args = RegistryArgs {
        workspace: args.workspace.clone(),
        registry: None,
        namespace: None,
        plain_http: args.plain_http,
        insecure: args.insecure,
        ca_file: args.ca_file.clone(),
        concurrency: args.concurrency.unwrap_or(4),
        no_progress: args.no_progress,
    };
    let ctx = OciContext::new(&registry_args).map_err(|e| match e
        .downcast_ref::<crate::workspace::WorkspaceError>()
    {
        Some(w) => super::workspace::report(clone_workspace_error(w)),
        None => e,
    })?;
    let workspace = ctx.workspace.clone().ok_or_else(|| {
        coded(
            Exit::NotFound,
            "no workspace here: pass --workspace DIR, or create one with `provisioning workspace init`",
        )
    })?;
    Ok(Setup { workspace, ctx })
}

fn clone_workspace_error(e: &crate::workspace::WorkspaceError) -> crate::workspace::WorkspaceError {
    use crate::workspace::WorkspaceError as W;
    match e {
        W::NotAWorkspace(p) => W::NotAWorkspace(p.clone()),
        W::UnknownName { name, dir } => W::UnknownName {
            name: name.clone(),
            dir: dir.clone(),
        },
        other => W::Read {
            path: PathBuf::new(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

fn resolve_options(
    setup: &Setup,
    args: &DepArgs,
    offline: bool,
    events: ResolveEvents,
) -> ResolveOptions {
    let mut options = ResolveOptions::new(setup.ctx.registries.clone(), setup.ctx.cache.clone());
    options.concurrency = args.concurrency;
    options.offline = offline;
    options.events = events;
    options
}

/// A one-line progress display on a terminal, fed by resolver events.
struct EventLine {
    events: ResolveEvents,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl EventLine {
    fn start(enabled: bool) -> EventLine {
        if !enabled || !std::io::stderr().is_terminal() {
            return EventLine {
                events: ResolveEvents::silent(),
                task: None,
            };
        }
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            let (mut names, mut versions) = (0usize, 0usize);
            while let Some(event) = receiver.recv().await {
                match event {
                    ResolveEvent::Requested { .. } => names += 1,
                    ResolveEvent::MetadataFetched { .. } => versions += 1,
                    ResolveEvent::Chosen { name, version } => {
                        bar.set_message(format!("resolving: {names} names, {versions} versions read; chose {name} {version}"));
                    }
                    ResolveEvent::Done { .. }
                    | ResolveEvent::Failed { .. }
                    | ResolveEvent::Conflict { .. }
                    | ResolveEvent::Cycle { .. } => break,
                    _ => bar.set_message(format!(
                        "resolving: {names} names, {versions} versions read"
                    )),
                }
                bar.tick();
            }
            bar.finish_and_clear();
        });
        EventLine {
            events: ResolveEvents::new(sender),
            task: Some(task),
        }
    }

    async fn finish(self) {
        drop(self.events);
        if let Some(task) = self.task {
            task.abort();
            let _ = task.await;
        }
    }
}

/// The exit code and message for a failed resolution.
fn sync_report(error: SyncError) -> color_eyre::Report {
    let exit = match &error {
        SyncError::Resolve(ResolveError::Conflict(_) | ResolveError::Cycle(_)) => Exit::Conflict,
        SyncError::Resolve(ResolveError::Provider(
            crate::deps::provider::ProviderError::NameClash { .. },
        )) => Exit::Conflict,
        SyncError::Resolve(ResolveError::Cancelled) => Exit::Interrupted,
        SyncError::Resolve(e) => match e.fetch().map(|f| f.kind) {
            Some(FetchErrorKind::NotFound) => Exit::NotFound,
            _ => Exit::Failure,
        },
        SyncError::Images(e) if e.kind == FetchErrorKind::NotFound => Exit::NotFound,
        SyncError::Stale(_) | SyncError::Moved(_) => LOCK_OUT_OF_DATE,
        _ => Exit::Failure,
    };
    let mut message = error.to_string();
    if matches!(error, SyncError::Resolve(_) | SyncError::Images(_)) && exit != Exit::Conflict {
        message.push_str(
            "\nconfig/provisioning.lock and the installed extensions were left as they were",
        );
    }
    coded(exit, message.trim_end().to_string())
}

async fn dispatch(command: DepCommand, args: &DepArgs, global: &GlobalArgs) -> Result<()> {
    let setup = setup(args)?;
    for warning in &setup.workspace.warnings {
        tracing::warn!("{warning}");
    }
    let progress_wanted = !args.no_progress && !global.quiet;
    match command {
        DepCommand::Resolve {
            locked,
            offline,
            dry_run,
        } => {
            let line = EventLine::start(progress_wanted);
            let view = ProgressView::start(progress_wanted);
            let mut options =
                SyncOptions::new(resolve_options(&setup, args, offline, line.events.clone()));
            options.locked = locked;
            options.dry_run = dry_run;
            options.progress = view.progress.clone();
            let result = async {
                let mut outcome = plan_sync(&setup.workspace, &options).await?;
                if !dry_run {
                    apply(&setup.workspace, &mut outcome, &options).await?;
                }
                Ok::<_, SyncError>(outcome)
            }
            .await;
            line.finish().await;
            view.finish().await;
            let outcome = result.map_err(sync_report)?;
            print_outcome(&setup.workspace, &outcome, dry_run, global)
        }
        DepCommand::Validate { offline } => validate(&setup, args, offline, global).await,
        DepCommand::Tree {
            name,
            invert,
            depth,
            duplicates,
            format,
            offline,
        } => {
            tree::tree(
                &setup, args, offline, name, invert, depth, duplicates, format, global,
            )
            .await
        }
        DepCommand::CheckUpdates => check_updates(&setup, args, global).await,
        DepCommand::Update { name, to, dry_run } => {
            update(setup, args, &name, to, dry_run, global).await
        }
    }
}

fn warn_all(outcome: &SyncOutcome, global: &GlobalArgs) {
    if global.quiet {
        return;
    }
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
}

fn print_outcome(
    workspace: &Workspace,
    outcome: &SyncOutcome,
    dry_run: bool,
    global: &GlobalArgs,
) -> Result<()> {
    warn_all(outcome, global);
    if print_structured(global.output, outcome)? || global.quiet {
        return Ok(());
    }
    let lines = describe(&outcome.plan);
    if dry_run {
        if lines.is_empty() {
            outln!("Nothing would change: config/provisioning.lock is up to date");
        } else {
            outln!("Would change config/provisioning.lock:");
            for line in &lines {
                outln!("{line}");
            }
        }
        outln!("(dry run: nothing was written or installed)");
        return Ok(());
    }
    outln!(
        "Resolved {} extension(s){}",
        outcome.lock.extensions.len(),
        match (&outcome.lock.core, outcome.resolution.core.as_ref()) {
            (Some(_), Some(v)) => format!(" for core {v}"),
            _ => String::new(),
        }
    );
    for line in &lines {
        outln!("{line}");
    }
    outln!(
        "{} {}",
        if outcome.lock_written {
            "Wrote"
        } else {
            "Unchanged:"
        },
        lock_path(workspace).display()
    );
    if let Some(report) = &outcome.install {
        outln!(
            "Installed {} extension(s), {} already installed, {} removed, in {}",
            report.installed.len(),
            report.unchanged.len(),
            report.removed.len(),
            workspace
                .root
                .join(crate::deps::install::INSTALL_DIR)
                .display()
        );
    }
    Ok(())
}

async fn validate(setup: &Setup, args: &DepArgs, offline: bool, global: &GlobalArgs) -> Result<()> {
    let mut options = SyncOptions::new(resolve_options(
        setup,
        args,
        offline,
        ResolveEvents::silent(),
    ));
    options.dry_run = true;
    options.install = false;
    let outcome = plan_sync(&setup.workspace, &options)
        .await
        .map_err(sync_report)?;
    let mut problems = Vec::new();
    for m in &outcome.moved {
        problems.push(format!(
            "the tag {} points at {}, but config/provisioning.lock has {}",
            m.reference, m.now, m.locked
        ));
    }
    let summary = serde_json::json!({
        "valid": problems.is_empty(),
        "extensions": outcome.lock.extensions.len(),
        "core": outcome.resolution.core.as_ref().map(|v| v.to_string()),
        "lock_up_to_date": outcome.previous.as_ref() == Some(&outcome.lock),
        "problems": problems,
        "warnings": outcome.warnings,
    });
    if !print_structured(global.output, &summary)? && !global.quiet {
        for warning in &outcome.warnings {
            eprintln!("warning: {warning}");
        }
        if problems.is_empty() {
            outln!(
                "The dependencies are valid: {} extension(s), no conflict, no cycle{}",
                outcome.lock.extensions.len(),
                match &outcome.resolution.core {
                    Some(v) => format!(", every min_provisioning_version met by core {v}"),
                    None => String::new(),
                }
            );
            if outcome.previous.as_ref() != Some(&outcome.lock) {
                outln!("config/provisioning.lock would change: run `provisioning dep resolve`");
            }
        }
    }
    if !problems.is_empty() {
        return Err(coded(LOCK_OUT_OF_DATE, problems.join("\n")));
    }
    Ok(())
}

/// `patch`, `minor` or `major`: the size of the step from `from` to `to`.
fn step(from: &Version, to: &Version) -> &'static str {
    if to <= from {
        "-"
    } else if to.major != from.major {
        "major"
    } else if to.minor != from.minor {
        "minor"
    } else {
        "patch"
    }
}

async fn check_updates(setup: &Setup, args: &DepArgs, global: &GlobalArgs) -> Result<()> {
    let mut options =
        SyncOptions::new(resolve_options(setup, args, false, ResolveEvents::silent()));
    options.dry_run = true;
    let outcome = plan_sync(&setup.workspace, &options)
        .await
        .map_err(sync_report)?;
    let mut rows = Vec::new();
    for extension in &outcome.resolution.extensions {
        let current = outcome
            .previous
            .as_ref()
            .and_then(|l| l.extension(&extension.name))
            .map(|e| e.version.clone())
            .unwrap_or_else(|| extension.version.clone());
        let client = setup.ctx.registries.client(&extension.reference.registry);
        let newest = client
            .tags(&extension.reference.repository)
            .await
            .ok()
            .and_then(|tags| {
                tags.iter()
                    .filter_map(|t| crate::oci::reference::tag_to_version(t))
                    .filter(|v| v.pre.is_empty())
                    .max()
            });
        // The newest compatible: this one unlocked (a pin lifted), everything else as locked.
        let mut trial = options.clone();
        trial.unlock = vec![extension.name.clone()];
        trial.resolve.float = vec![extension.name.clone()];
        let compatible = plan_sync(&setup.workspace, &trial)
            .await
            .ok()
            .and_then(|o| o.resolution.get(&extension.name).map(|e| e.version.clone()));
        rows.push(serde_json::json!({
            "name": extension.name,
            "current": current.to_string(),
            "compatible": compatible.as_ref().map(|v| v.to_string()),
            "newest": newest.as_ref().map(|v| v.to_string()),
            "compatible_step": compatible.as_ref().map(|v| step(&current, v)),
            "newest_step": newest.as_ref().map(|v| step(&current, v)),
        }));
    }
    if print_structured(global.output, &rows)? {
        return Ok(());
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                text(&r["name"]),
                text(&r["current"]),
                format!(
                    "{} ({})",
                    text(&r["compatible"]),
                    text(&r["compatible_step"])
                ),
                format!("{} ({})", text(&r["newest"]), text(&r["newest_step"])),
            ]
        })
        .collect();
    print_table(&["name", "current", "compatible", "newest"], &table)?;
    Ok(())
}

async fn update(
    mut setup: Setup,
    args: &DepArgs,
    name: &str,
    to: Option<String>,
    dry_run: bool,
    global: &GlobalArgs,
) -> Result<()> {
    let to = to
        .map(|v| {
            Version::parse(v.strip_prefix('v').unwrap_or(&v))
                .map_err(|e| usage(format!("--to `{v}` is not a version: {e}")))
        })
        .transpose()?;
    let previous = Lockfile::read(&lock_path(&setup.workspace))
        .map_err(|e| coded(Exit::Failure, e.to_string()))?;
    let line = EventLine::start(!args.no_progress && !global.quiet);
    let mut resolve = resolve_options(&setup, args, false, line.events.clone());
    let kind = prepare(
        &mut setup.workspace,
        previous.as_ref(),
        name,
        to.as_ref(),
        &mut resolve,
    )
    .map_err(|e| match e {
        UpdateError::Usage(m) => usage(m),
        UpdateError::NotFound(m) => coded(Exit::NotFound, m),
        UpdateError::Edit(m) => coded(Exit::Failure, m),
    })?;
    let mut options = SyncOptions::new(resolve);
    options.unlock = vec![name.to_string()];
    options.dry_run = dry_run;
    let planned = plan_sync(&setup.workspace, &options).await;
    line.finish().await;
    let mut outcome = planned.map_err(sync_report)?;
    // A pin lifted to find the newest is written back as the new pin.
    if kind == UpdateKind::Pin
        && to.is_none()
        && let Some(found) = outcome.resolution.get(name).map(|e| e.version.clone())
    {
        crate::deps::update::rewrite_pin(&mut setup.workspace, name, &found)
            .map_err(|e| coded(Exit::Failure, e.to_string()))?;
        outcome.lock.inputs = crate::deps::lock::inputs_hash(&setup.workspace);
    }
    let diff = setup.workspace.diff();
    if !global.quiet && !diff.is_empty() && !global_structured(global) {
        outln!("{}", diff.trim_end());
    }
    if dry_run {
        return print_outcome(&setup.workspace, &outcome, true, global);
    }
    setup.workspace.save().map_err(super::workspace::report)?;
    let view = ProgressView::start(!args.no_progress && !global.quiet);
    options.progress = view.progress.clone();
    let applied = apply(&setup.workspace, &mut outcome, &options).await;
    view.finish().await;
    applied.map_err(sync_report)?;
    print_outcome(&setup.workspace, &outcome, false, global)
}

fn global_structured(global: &GlobalArgs) -> bool {
    !matches!(global.output, super::OutputFormat::Table)
}
