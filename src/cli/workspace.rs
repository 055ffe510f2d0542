//! `provisioning workspace …`: create a workspace, move its local modules to a registry.

use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;

use super::GlobalArgs;
use super::context::{OciContext, RegistryArgs};
use super::exit::{Exit, coded, outln, usage};
use super::output::{print_structured, print_table};
use super::progress::ProgressView;
use crate::extension::publish::PublishStatus;
use crate::workspace::init::{self, InitOptions};
use crate::workspace::modules::ModuleError;
use crate::workspace::sources::SourceError;
use crate::workspace::{Workspace, WorkspaceError, migrate};

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Write a commented config/provisioning.yaml in the seed's layout, with empty module lists.
    Init {
        /// The workspace directory [default: .].
        #[arg(conflicts_with = "name")]
        dir: Option<PathBuf>,
        /// Create it as NAME under the workspaces directory ($PROVISIONING_WORKSPACES_DIR, else
        /// <data dir>/workspaces), where `module load TYPE NAME …` finds it.
        #[arg(long)]
        name: Option<String>,
        /// The extensions registry, host[:port] [default: localhost:5000].
        #[arg(long, value_name = "HOST[:PORT]")]
        registry: Option<String>,
        /// The extensions namespace [default: provisioning-extensions].
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// The core reference, e.g. oci://harbor.example.com/provisioning-core:v3.5.0.
        #[arg(long, value_name = "REF")]
        core: Option<String>,
    },
    /// Publish every local module to the workspace registry, rewrite its entry to the
    /// oci:// reference, and set `source_type: oci` once no local module remains.
    #[command(name = "migrate-to-oci")]
    MigrateToOci {
        /// A workspace directory, or a name under the workspaces directory.
        #[arg(id = "workspace_arg", value_name = "WORKSPACE")]
        workspace: String,
        /// Compare with the registry and show the diff, but publish and write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

pub fn run(command: WorkspaceCommand, global: &GlobalArgs) -> Result<()> {
    match command {
        WorkspaceCommand::Init {
            dir,
            name,
            registry,
            namespace,
            core,
        } => {
            let root = match name {
                Some(name) => init::named_root(&name).map_err(usage)?,
                None => dir.unwrap_or_else(|| PathBuf::from(".")),
            };
            let options = InitOptions {
                registry,
                namespace,
                core,
            };
            let path = init::init(&root, &options).map_err(report)?;
            if !print_structured(global.output, &serde_json::json!({ "config": path }))?
                && !global.quiet
            {
                outln!("Created {}", path.display());
            }
            Ok(())
        }
        WorkspaceCommand::MigrateToOci {
            workspace,
            dry_run,
            registry,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                tokio::select! {
                    result = migrate_to_oci(&workspace, dry_run, registry, global) => result,
                    _ = tokio::signal::ctrl_c() => Err(coded(
                        Exit::Interrupted,
                        "interrupted; provisioning.yaml was not written",
                    )),
                }
            })
        }
    }
}

/// The exit code a workspace error deserves.
pub fn report(error: WorkspaceError) -> color_eyre::Report {
    let exit = match &error {
        WorkspaceError::NotAWorkspace(_) | WorkspaceError::UnknownName { .. } => Exit::NotFound,
        WorkspaceError::Changed(_) | WorkspaceError::Exists(_) => Exit::Conflict,
        _ => Exit::Failure,
    };
    coded(exit, error.to_string())
}

/// The exit code a module error deserves.
pub fn module_report(error: ModuleError) -> color_eyre::Report {
    match error {
        ModuleError::Workspace(e) => report(e),
        ModuleError::Usage(message) => usage(message),
        ModuleError::NotLoaded { .. } => coded(Exit::NotFound, error.to_string()),
        ModuleError::Source(source) => {
            let exit = match &source {
                SourceError::UnknownName { .. } | SourceError::NoVersion { .. } => Exit::NotFound,
                SourceError::WrongType { .. }
                | SourceError::LocalWrongType { .. }
                | SourceError::LocalWrongName { .. } => Exit::Usage,
                SourceError::Registry(e) => {
                    return color_eyre::Report::new(SourceRegistry(e.to_string()))
                        .wrap_err("nothing was written");
                }
                _ => Exit::Failure,
            };
            coded(exit, format!("{source}; nothing was written"))
        }
    }
}

/// A registry failure while checking a module (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SourceRegistry(String);

/// The context for a named workspace: its registry settings, TLS and credentials.
pub fn context_for(workspace: &Workspace, mut args: RegistryArgs) -> Result<OciContext> {
    if args.registry.is_some() || args.namespace.is_some() {
        return Err(usage(
            "modules come from the workspace's registry; change it in provisioning.yaml instead of passing --registry/--namespace",
        ));
    }
    args.workspace = Some(workspace.root.clone());
    OciContext::new(&args)
}

async fn migrate_to_oci(
    name: &str,
    dry_run: bool,
    args: RegistryArgs,
    global: &GlobalArgs,
) -> Result<()> {
    let mut workspace = Workspace::locate(name).map_err(report)?;
    let ctx = context_for(&workspace, args)?;
    let view = ProgressView::start(!ctx.args.no_progress && !global.quiet);
    let result = migrate::migrate_to_oci(
        &mut workspace,
        &ctx.registries,
        &ctx.cache,
        dry_run,
        &view.progress,
    )
    .await;
    view.finish().await;
    let migration = result.map_err(module_report)?;
    if !print_structured(global.output, &migration)? && !global.quiet {
        if migration.modules.is_empty() {
            outln!("No local modules in {}", workspace.config_path.display());
        } else {
            let rows: Vec<Vec<String>> = migration
                .modules
                .iter()
                .map(|m| {
                    let (state, detail) = match &m.status {
                        PublishStatus::Published { .. } => ("published", String::new()),
                        PublishStatus::Replaced { .. } => ("replaced", String::new()),
                        PublishStatus::Unchanged { .. } => ("already there", String::new()),
                        PublishStatus::WouldPublish { .. } => ("would publish", String::new()),
                        PublishStatus::Conflict { registry, local } => (
                            "conflict",
                            format!("registry has {registry}, local is {local}; bump the version"),
                        ),
                        PublishStatus::Failed { reason } => ("failed", reason.clone()),
                    };
                    vec![
                        m.kind.to_string(),
                        m.name.clone(),
                        m.version.clone().unwrap_or_default(),
                        state.to_string(),
                        if detail.is_empty() {
                            m.reference.clone().unwrap_or_default()
                        } else {
                            detail
                        },
                    ]
                })
                .collect();
            print_table(&["type", "name", "version", "result", "reference"], &rows)?;
        }
        if migration.diff.is_empty() {
            outln!("provisioning.yaml is unchanged");
        } else {
            outln!("{}", migration.diff.trim_end());
            if dry_run {
                outln!("dry run: nothing was published or written");
            }
        }
    }
    let failed = migration.failed();
    if failed > 0 {
        return Err(super::publish::batch_failure(
            migration.modules.iter().map(|m| &m.status),
            format!("{failed} local module(s) could not be published; their entries stay local"),
        ));
    }
    Ok(())
}
