//! The worker owns every network, registry and packaging call. The UI sends it requests and
//! never awaits the network; results and progress come back as events. A request of the same
//! kind replaces the one still running (a selection that moved on cancels the stale fetch),
//! and every job can be cancelled.

mod describe;
pub mod resolve;
mod signatures;
mod workspace;

pub use describe::Description;
pub use resolve::Outcome;
pub use signatures::SignatureSummary;
pub use workspace::Snapshot;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::extension::artifact;
use crate::extension::package;
use crate::extension::publish::{self, PublishStatus};
use crate::oci::browse::{self, Inspection, RepositoryEntry, TagEntry};
use crate::oci::cache::BlobCache;
use crate::oci::client::Registries;
use crate::oci::progress::{Progress, TransferEvent};
use crate::oci::{Digest, Reference, copy};

/// A job shown in the Transfers pane.
pub type JobId = u64;

/// What the UI asks for.
#[derive(Clone, Debug)]
pub enum Request {
    Repositories {
        registry: String,
        namespace: String,
    },
    Tags {
        reference: Reference,
    },
    Inspect {
        reference: Reference,
    },
    Pull {
        job: JobId,
        reference: Reference,
        dest: PathBuf,
    },
    Copy {
        job: JobId,
        source: Reference,
        target: Reference,
    },
    Delete {
        reference: Reference,
    },
    Validate {
        dir: PathBuf,
    },
    Package {
        dir: PathBuf,
    },
    PushExtension {
        job: JobId,
        dir: PathBuf,
        target: Reference,
        force: bool,
    },
    Verify {
        reference: Reference,
        expected: Digest,
    },
    /// Checks credentials against the registry, then stores them.
    Login {
        registry: String,
        username: String,
        password: String,
    },
    /// Scaffolds a new extension into `dir`.
    Generate {
        kind: crate::extension::manifest::ExtensionType,
        name: String,
        dir: PathBuf,
    },
    /// Resolves the workspace at `root`, with `text` in place of its provisioning.yaml when
    /// given (unsaved edits). Events, then `Resolved`, carry `generation`.
    Resolve {
        generation: u64,
        root: PathBuf,
        text: Option<String>,
    },
    /// Reads the workspace at `root` (with `text` in place of its provisioning.yaml when
    /// given), its lock and what is installed.
    LoadWorkspace {
        root: PathBuf,
        text: Option<String>,
    },
    /// Writes `text` as the workspace's provisioning.yaml.
    SaveWorkspace {
        root: PathBuf,
        text: String,
    },
    /// Creates a workspace at `root` (`workspace init`), then reads it.
    InitWorkspace {
        root: PathBuf,
    },
    /// `dep resolve` for the workspace at `root`: resolve, lock and install, as a job.
    Install {
        job: JobId,
        root: PathBuf,
    },
    /// The newest version, type and description of a repository's extension.
    Describe {
        reference: Reference,
    },
    /// The signatures stored for `digest` (the manifest `reference` names), judged with the
    /// keys the workspace at `root` trusts.
    Signatures {
        reference: Reference,
        digest: Digest,
        root: PathBuf,
    },
    CancelJob {
        job: JobId,
    },
    /// Stop whatever fetch of this kind is running (Esc).
    CancelFetches,
}

impl Request {
    /// The same request with job id `id` (a new job, or a retry).
    pub fn with_job(self, id: JobId) -> Request {
        match self {
            Request::Pull {
                reference, dest, ..
            } => Request::Pull {
                job: id,
                reference,
                dest,
            },
            Request::Copy { source, target, .. } => Request::Copy {
                job: id,
                source,
                target,
            },
            Request::PushExtension {
                dir, target, force, ..
            } => Request::PushExtension {
                job: id,
                dir,
                target,
                force,
            },
            Request::Install { root, .. } => Request::Install { job: id, root },
            other => other,
        }
    }
}

/// What the worker answers.
#[derive(Clone, Debug)]
pub enum Response {
    Repositories {
        registry: String,
        result: Result<Vec<RepositoryEntry>, String>,
    },
    Tags {
        reference: Reference,
        result: Result<Vec<TagEntry>, String>,
    },
    Inspected {
        reference: Reference,
        result: Result<Box<Inspection>, String>,
    },
    Transfer {
        job: JobId,
        event: TransferEvent,
    },
    JobDone {
        job: JobId,
        result: Result<String, String>,
    },
    Deleted {
        reference: Reference,
        result: Result<Digest, String>,
    },
    Validated {
        dir: PathBuf,
        result: Result<ValidationSummary, Vec<String>>,
    },
    Packaged {
        dir: PathBuf,
        result: Result<PackageSummary, String>,
    },
    Verified {
        reference: Reference,
        result: Result<Digest, String>,
    },
    LoggedIn {
        registry: String,
        result: Result<String, String>,
    },
    Generated {
        result: Result<PathBuf, String>,
    },
    ResolveEvent {
        generation: u64,
        event: crate::deps::ResolveEvent,
    },
    Resolved {
        generation: u64,
        result: Result<Box<Outcome>, String>,
    },
    WorkspaceLoaded {
        root: PathBuf,
        result: Result<Box<Snapshot>, String>,
    },
    WorkspaceSaved {
        root: PathBuf,
        result: Result<(), String>,
    },
    Described {
        reference: Reference,
        result: Result<Description, String>,
    },
    Signatures {
        reference: Reference,
        result: Result<SignatureSummary, String>,
    },
}

/// A valid extension tree, as the Publish pane shows it.
#[derive(Clone, Debug)]
pub struct ValidationSummary {
    pub name: String,
    pub kind: String,
    pub version: semver::Version,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct PackageSummary {
    pub files: usize,
    pub size: u64,
    pub digest: Digest,
    pub manifest_digest: Digest,
    pub name: String,
    pub version: semver::Version,
    /// The manifest and config as they would be pushed, to compare content with the registry's.
    pub artifact: Box<artifact::ExtensionArtifact>,
}

/// The worker's handles: send requests, receive responses.
pub struct WorkerHandle {
    pub requests: UnboundedSender<Request>,
    pub responses: UnboundedReceiver<Response>,
}

#[derive(Clone)]
struct Context {
    registries: Registries,
    cache: BlobCache,
    out: UnboundedSender<Response>,
}

/// Starts the worker on the current tokio runtime.
pub fn spawn(registries: Registries, cache: BlobCache) -> WorkerHandle {
    let (requests, mut incoming) = unbounded_channel::<Request>();
    let (out, responses) = unbounded_channel();
    let ctx = Context {
        registries,
        cache,
        out,
    };
    tokio::spawn(async move {
        let mut fetches: HashMap<String, AbortHandle> = HashMap::new();
        let mut jobs: HashMap<JobId, (AbortHandle, CancellationToken, Duration)> = HashMap::new();
        while let Some(request) = incoming.recv().await {
            match request {
                Request::CancelJob { job } => {
                    if let Some((handle, cancel, grace)) = jobs.remove(&job) {
                        cancel.cancel();
                        tokio::spawn(settle_cancelled(handle, job, grace, ctx.out.clone()));
                    }
                }
                Request::CancelFetches => {
                    for (_, handle) in fetches.drain() {
                        handle.abort();
                    }
                }
                request => {
                    let kind = fetch_kind(&request);
                    let job = job_of(&request);
                    // Pulls write files and stop at their own safe point; the others only
                    // talk to registries and can be dropped at once.
                    let grace = if matches!(request, Request::Pull { .. }) {
                        Duration::from_secs(5)
                    } else {
                        Duration::ZERO
                    };
                    let cancel = CancellationToken::new();
                    let handle =
                        tokio::spawn(handle(ctx.clone(), request, cancel.clone())).abort_handle();
                    if let Some(job) = job {
                        jobs.retain(|_, (h, _, _)| !h.is_finished());
                        jobs.insert(job, (handle, cancel, grace));
                    } else if let Some(kind) = kind
                        && let Some(stale) = fetches.insert(kind, handle)
                    {
                        stale.abort();
                    }
                }
            }
        }
    });
    WorkerHandle {
        requests,
        responses,
    }
}

/// After a job's token was cancelled, it has `grace` to report its own outcome: a pull waits
/// for its write step, so "cancelled" is only said once nothing more will be written (or its
/// files are reported if they were committed before the cancel was seen). A job still running
/// then is aborted and reported cancelled.
async fn settle_cancelled(
    handle: AbortHandle,
    job: JobId,
    grace: Duration,
    out: UnboundedSender<Response>,
) {
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if handle.is_finished() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.abort();
    let _ = out.send(Response::JobDone {
        job,
        result: Err("cancelled".into()),
    });
}

/// Requests whose newer instance makes the older one pointless, by what they fetch. Lists
/// are keyed by what they list, so two panes asking about different repositories never cancel
/// each other; a pane that moved on just ignores the stale answer.
fn fetch_kind(request: &Request) -> Option<String> {
    match request {
        Request::Repositories {
            registry,
            namespace,
        } => Some(format!("repositories {registry}/{namespace}")),
        Request::Tags { reference } => Some(format!("tags {reference}")),
        Request::Inspect { .. } => Some("inspect".into()),
        Request::Validate { .. } => Some("validate".into()),
        Request::Package { .. } => Some("package".into()),
        Request::Resolve { .. } => Some("resolve".into()),
        Request::LoadWorkspace { .. } => Some("workspace".into()),
        _ => None,
    }
}

fn job_of(request: &Request) -> Option<JobId> {
    match request {
        Request::Pull { job, .. }
        | Request::Copy { job, .. }
        | Request::PushExtension { job, .. }
        | Request::Install { job, .. } => Some(*job),
        _ => None,
    }
}

/// A progress sink that tags transfer events with their job.
fn job_progress(
    out: &UnboundedSender<Response>,
    job: JobId,
    cancel: CancellationToken,
) -> Progress {
    let (sender, mut receiver) = unbounded_channel::<TransferEvent>();
    let out = out.clone();
    tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            let _ = out.send(Response::Transfer { job, event });
        }
    });
    Progress::new(sender).with_cancel(cancel)
}

async fn handle(ctx: Context, request: Request, cancel: CancellationToken) {
    let out = ctx.out.clone();
    let response = match request {
        Request::Repositories {
            registry,
            namespace,
        } => {
            let client = ctx.registries.client(&registry);
            let result = browse::list(&client, &namespace)
                .await
                .map_err(|e| e.to_string());
            Response::Repositories { registry, result }
        }
        Request::Tags { reference } => {
            let client = ctx.registries.client(&reference.registry);
            let result = browse::tags(&client, &reference)
                .await
                .map_err(|e| e.to_string());
            Response::Tags { reference, result }
        }
        Request::Inspect { reference } => {
            // A newer selection replaces this fetch while it waits: holding a key fetches once.
            tokio::time::sleep(Duration::from_millis(150)).await;
            let client = ctx.registries.client(&reference.registry);
            let result = browse::inspect(&client, &reference)
                .await
                .map(Box::new)
                .map_err(|e| e.to_string());
            Response::Inspected { reference, result }
        }
        Request::Pull {
            job,
            reference,
            dest,
        } => {
            let progress = job_progress(&out, job, cancel.clone());
            let result = artifact::pull_any(
                &ctx.registries,
                &ctx.cache,
                &reference,
                Some(&dest),
                &progress,
            )
            .await
            .map(|pulled| match pulled {
                artifact::Pulled::Extension(p) => {
                    format!("{} files in {}", p.files, p.directory.display())
                }
                artifact::Pulled::Files(r) => {
                    format!("{} files in {}", r.files.len(), dest.display())
                }
            })
            .map_err(|e| e.to_string());
            Response::JobDone { job, result }
        }
        Request::Copy {
            job,
            source,
            target,
        } => {
            let progress = job_progress(&out, job, cancel.clone());
            let result = copy::copy(
                &ctx.registries,
                &ctx.cache,
                &source,
                &target,
                false,
                &progress,
            )
            .await
            .map(|r| {
                format!(
                    "{} manifest(s), {} blob(s) moved",
                    r.manifests,
                    r.blobs_transferred + r.blobs_mounted
                )
            })
            .map_err(|e| e.to_string());
            Response::JobDone { job, result }
        }
        Request::Delete { reference } => {
            let client = ctx.registries.client(&reference.registry);
            let result = async {
                let plan = browse::plan_delete(&client, &reference, 4).await?;
                browse::delete(&client, &reference, &plan).await?;
                Ok::<_, crate::oci::client::OciError>(plan.digest)
            }
            .await
            .map_err(|e| e.to_string());
            Response::Deleted { reference, result }
        }
        Request::Validate { dir } => {
            let path = dir.clone();
            let result = tokio::task::spawn_blocking(move || package::validate(&path))
                .await
                .map_err(|e| vec![e.to_string()])
                .and_then(|r| r.map_err(|e| e.problems.iter().map(|p| p.to_string()).collect()))
                .map(|tree| ValidationSummary {
                    name: tree.manifest.name.clone(),
                    kind: tree.manifest.kind.to_string(),
                    version: tree.manifest.version.clone(),
                    warnings: tree.warnings.iter().map(|w| w.to_string()).collect(),
                });
            Response::Validated { dir, result }
        }
        Request::Package { dir } => {
            let result = package_summary(&ctx, &dir).await;
            Response::Packaged { dir, result }
        }
        Request::PushExtension {
            job,
            dir,
            target,
            force,
        } => {
            let progress = job_progress(&out, job, cancel.clone());
            let result = async {
                let tree = tokio::task::spawn_blocking({
                    let dir = dir.clone();
                    move || package::validate(&dir)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                let status = publish::publish_one(&ctx.registries, &ctx.cache, Arc::new(tree), &target, force, false, &progress)
                    .await
                    .map_err(|e| e.to_string())?;
                match status {
                    PublishStatus::Published { digest } | PublishStatus::Replaced { digest, .. } => Ok(format!("pushed {digest}")),
                    PublishStatus::Unchanged { digest } => Ok(format!("already published {digest}")),
                    PublishStatus::Conflict { registry, local } => Err(format!(
                        "{target} exists with other content (registry {registry}, local {local}); choose another version"
                    )),
                    PublishStatus::Failed { reason } => Err(reason),
                    PublishStatus::WouldPublish { .. } => Ok("dry run".into()),
                }
            }
            .await;
            Response::JobDone { job, result }
        }
        Request::Verify {
            reference,
            expected,
        } => {
            let client = ctx.registries.client(&reference.registry);
            let result = match client
                .manifest(&reference.repository, &reference.target())
                .await
            {
                Ok(m) if m.digest == expected => Ok(m.digest),
                Ok(m) => Err(format!(
                    "the registry serves {} for {reference}, not {expected}",
                    m.digest
                )),
                Err(e) => Err(e.to_string()),
            };
            Response::Verified { reference, result }
        }
        Request::Login {
            registry,
            username,
            password,
        } => {
            let credential = crate::oci::credentials::Credential::Basic { username, password };
            let result = async {
                ctx.registries
                    .client(&registry)
                    .with_credential(credential.clone())
                    .ping()
                    .await
                    .map_err(|e| e.to_string())?;
                ctx.registries
                    .credentials()
                    .store(&registry, &credential)
                    .map(|source| source.to_string())
                    .map_err(|e| e.to_string())
            }
            .await;
            Response::LoggedIn { registry, result }
        }
        Request::Resolve {
            generation,
            root,
            text,
        } => resolve::run(&ctx, generation, root, text, cancel).await,
        request @ (Request::LoadWorkspace { .. }
        | Request::SaveWorkspace { .. }
        | Request::InitWorkspace { .. }) => workspace::run(&ctx, request).await,
        Request::Install { job, root } => workspace::install(&ctx, job, root, cancel).await,
        Request::Describe { reference } => describe::run(&ctx, reference).await,
        Request::Signatures {
            reference,
            digest,
            root,
        } => signatures::run(&ctx, reference, digest, &root).await,
        Request::Generate { kind, name, dir } => {
            let result = tokio::task::spawn_blocking(move || {
                let spec = crate::extension::scaffold::ScaffoldSpec::new(kind, name);
                let target = crate::extension::scaffold::default_target(&spec, &dir);
                crate::extension::scaffold::generate_into(&spec, &target)
                    .map(|_| target)
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            Response::Generated { result }
        }
        Request::CancelJob { .. } | Request::CancelFetches => return,
    };
    let _ = out.send(response);
}

/// Validates and packages `dir` into the cache's temp area, summarises the package and removes
/// it again, all on one blocking thread: that thread runs to the end even when the request is
/// cancelled (the task awaiting it is aborted), so the package must not outlive it there.
async fn package_summary(ctx: &Context, dir: &std::path::Path) -> Result<PackageSummary, String> {
    let dir = dir.to_path_buf();
    let path = ctx.cache.temp_path();
    tokio::task::spawn_blocking(move || {
        let tree = package::validate(&dir).map_err(|e| e.to_string())?;
        let package = package::package(&tree, &path).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&package.path);
        let built = artifact::build(&tree.manifest, &package);
        Ok(PackageSummary {
            files: package.files,
            size: package.size,
            digest: package.digest.clone(),
            manifest_digest: built.digest.clone(),
            name: tree.manifest.name.clone(),
            version: tree.manifest.version.clone(),
            artifact: Box::new(built),
        })
    })
    .await
    .map_err(|e| e.to_string())?
}
