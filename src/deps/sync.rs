//! `dep resolve` as one operation: resolve, pin the core and platform images, compare with the
//! lock (`--locked`), write the lock, install. Nothing is written before the resolution and
//! every check succeeded, so a failure leaves the lock and the installs as they were.

use serde::Serialize;

use super::install::{InstallError, InstallOptions, InstallReport, install};
use super::lock::{LockError, Lockfile, PlanLine, lock_of, lock_path, pin_images, plan};
use super::resolve::{MovedTag, Resolution, ResolveError, ResolveOptions, resolve};
use super::source::FetchError;
use crate::oci::progress::Progress;
use crate::workspace::Workspace;

/// What `dep resolve` is asked to do.
#[derive(Clone)]
pub struct SyncOptions {
    pub resolve: ResolveOptions,
    /// Fail when the lock would change (or a tag moved).
    pub locked: bool,
    /// Write nothing, install nothing: only the plan.
    pub dry_run: bool,
    /// Install after writing the lock.
    pub install: bool,
    pub progress: Progress,
    /// Names whose locked version is not preferred (`dep update NAME`).
    pub unlock: Vec<String>,
}

impl SyncOptions {
    pub fn new(resolve: ResolveOptions) -> SyncOptions {
        SyncOptions {
            resolve,
            locked: false,
            dry_run: false,
            install: true,
            progress: Progress::silent(),
            unlock: Vec::new(),
        }
    }
}

/// What happened.
#[derive(Debug, Serialize)]
pub struct SyncOutcome {
    #[serde(skip)]
    pub resolution: Resolution,
    pub lock: Lockfile,
    #[serde(skip)]
    pub previous: Option<Lockfile>,
    pub plan: Vec<PlanLine>,
    pub lock_written: bool,
    pub install: Option<InstallReport>,
    /// Tags that moved since the lock: the locked digests were kept.
    pub moved: Vec<MovedTag>,
    pub warnings: Vec<String>,
    pub requests: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Images(FetchError),
    #[error("config/provisioning.lock is out of date (--locked):\n{}\nrun `provisioning dep resolve` without --locked to update it", .0.join("\n"))]
    Stale(Vec<String>),
    #[error("{} (--locked); if the new content is wanted, run `provisioning dep update` for it", moved_text(.0))]
    Moved(Vec<MovedTag>),
    #[error(
        "installing failed: {0}; config/provisioning.lock was written, run `provisioning dep resolve` again to finish"
    )]
    Install(#[from] InstallError),
}

fn moved_text(moved: &[MovedTag]) -> String {
    moved
        .iter()
        .map(|m| {
            format!(
                "the tag {} now points at {}, but config/provisioning.lock has {} — the tag was moved, maybe tampered with",
                m.reference, m.now, m.locked
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line per plan change, for messages.
pub fn describe(plan: &[PlanLine]) -> Vec<String> {
    plan.iter()
        .map(|p| {
            let from = p.from.as_ref().map(|v| v.to_string()).unwrap_or_default();
            let to = p.to.as_ref().map(|v| v.to_string()).unwrap_or_default();
            match p.change {
                super::lock::Change::Added => format!("  add       {} {to}", p.name),
                super::lock::Change::Upgraded => format!("  upgrade   {} {from} -> {to}", p.name),
                super::lock::Change::Downgraded => format!("  downgrade {} {from} -> {to}", p.name),
                super::lock::Change::Changed => {
                    format!("  change    {} {to} (other content)", p.name)
                }
                super::lock::Change::Removed => format!("  remove    {} {from}", p.name),
            }
        })
        .collect()
}

/// Resolves the workspace and, unless told otherwise, writes the lock and installs.
pub async fn sync(workspace: &Workspace, options: SyncOptions) -> Result<SyncOutcome, SyncError> {
    let mut outcome = plan_sync(workspace, &options).await?;
    if !options.dry_run {
        apply(workspace, &mut outcome, &options).await?;
    }
    Ok(outcome)
}

/// Resolves and compares with the lock; writes nothing.
pub async fn plan_sync(
    workspace: &Workspace,
    options: &SyncOptions,
) -> Result<SyncOutcome, SyncError> {
    let mut options = options.clone();
    let path = lock_path(workspace);
    let previous = Lockfile::read(&path)?;
    if let Some(previous) = &previous
        && options.resolve.locked.is_empty()
    {
        options.resolve.locked = previous.pins();
    }
    for name in &options.unlock {
        options.resolve.locked.remove(name);
    }
    let offline = options.resolve.offline;
    let registries = options.resolve.registries.clone();
    let resolution = resolve(workspace, options.resolve.clone()).await?;
    let (core, platform, mut moved) =
        pin_images(workspace, &registries, offline, previous.as_ref())
            .await
            .map_err(SyncError::Images)?;
    moved.extend(resolution.moved.iter().cloned());
    if options.locked && !moved.is_empty() {
        return Err(SyncError::Moved(moved));
    }
    let lock = lock_of(workspace, &resolution, core, platform);
    let changes = plan(previous.as_ref(), &lock);
    if options.locked && previous.as_ref() != Some(&lock) {
        let mut why = describe(&changes);
        match &previous {
            None => why.insert(0, "  there is no lock yet".into()),
            Some(p) if p.inputs != lock.inputs => why.insert(
                0,
                "  the modules, core or platform images of provisioning.yaml changed since it was written".into(),
            ),
            Some(p) if p.core != lock.core || p.platform != lock.platform => {
                why.push("  the core or a platform image changed".into())
            }
            _ => {}
        }
        return Err(SyncError::Stale(why));
    }
    let mut warnings = resolution.warnings.clone();
    for m in &moved {
        warnings.push(format!(
            "the tag {} now points at {}, but config/provisioning.lock has {}; the locked content is used (run `provisioning dep update` for the new one)",
            m.reference, m.now, m.locked
        ));
    }
    Ok(SyncOutcome {
        requests: resolution.requests,
        resolution,
        lock,
        previous,
        plan: changes,
        lock_written: false,
        install: None,
        moved,
        warnings,
    })
}

/// Writes the lock of `outcome` and installs it (unless `options.install` is off).
pub async fn apply(
    workspace: &Workspace,
    outcome: &mut SyncOutcome,
    options: &SyncOptions,
) -> Result<(), SyncError> {
    outcome.lock_written = outcome.lock.write(&lock_path(workspace))?;
    if options.install {
        let report = install(
            workspace,
            &outcome.lock,
            &InstallOptions {
                registries: options.resolve.registries.clone(),
                cache: options.resolve.cache.clone(),
                concurrency: options.resolve.concurrency,
                offline: options.resolve.offline,
                progress: options.progress.clone(),
                cancel: options.resolve.cancel.clone(),
            },
        )
        .await?;
        outcome.install = Some(report);
    }
    Ok(())
}
