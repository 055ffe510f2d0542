//! `provisioning module load | list | unload`: a workspace's extension modules.

use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;
use semver::Version;

use super::GlobalArgs;
use super::context::RegistryArgs;
use super::exit::{Exit, coded, outln, usage};
use super::output::{print_structured, print_table};
use super::workspace::{context_for, module_report, report};
use crate::extension::manifest::ExtensionType;
use crate::extension::range::VersionRange;
use crate::workspace::modules::{self, LoadOutcome, LoadRequest};
use crate::workspace::{SourceType, Workspace};

#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// Add a module to a workspace (or update the one there): checked at its source first.
    #[command(disable_version_flag = true)]
    Load {
        /// provider, taskserv or cluster.
        #[arg(value_name = "TYPE", value_parser = parse_type)]
        kind: ExtensionType,
        /// A workspace directory, or a name under the workspaces directory.
        #[arg(id = "workspace_arg", value_name = "WORKSPACE")]
        workspace: String,
        /// The extension's name.
        name: String,
        /// oci, gitea or local [default: local with --path, else the workspace's source_type].
        #[arg(long, value_parser = parse_source)]
        source: Option<SourceType>,
        /// Pin this version [default: the newest in the registry].
        #[arg(long = "version", value_name = "V", conflicts_with = "range")]
        pin: Option<String>,
        /// Accept a version range, e.g. "^1.14" or ">=1.0, <2.0".
        #[arg(long, value_name = "R")]
        range: Option<String>,
        /// The local extension directory [default: <workspace>/extensions/<type>s/<name>].
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// The modules of a workspace: type, name, source, pin or range, where from.
    List {
        /// A workspace directory or name [default: --workspace, $PROVISIONING_WORKSPACE, else
        /// the nearest directory upward with config/provisioning.yaml].
        #[arg(id = "workspace_arg", value_name = "WORKSPACE")]
        workspace: Option<String>,
    },
    /// Remove a module from a workspace.
    Unload {
        #[arg(value_name = "TYPE", value_parser = parse_type)]
        kind: ExtensionType,
        /// A workspace directory, or a name under the workspaces directory.
        #[arg(id = "workspace_arg", value_name = "WORKSPACE")]
        workspace: String,
        name: String,
    },
}

fn parse_type(text: &str) -> Result<ExtensionType, String> {
    text.trim_end_matches('s')
        .parse::<ExtensionType>()
        .map_err(|_| format!("`{text}` is not a type: use provider, taskserv or cluster"))
}

fn parse_source(text: &str) -> Result<SourceType, String> {
    SourceType::parse(text)
        .ok_or_else(|| format!("`{text}` is not a source: use oci, gitea or local"))
}

pub fn run(command: ModuleCommand, args: &RegistryArgs, global: &GlobalArgs) -> Result<()> {
    match command {
        ModuleCommand::Load {
            kind,
            workspace,
            name,
            source,
            pin,
            range,
            path,
        } => {
            let version = pin
                .map(|v| {
                    Version::parse(v.strip_prefix('v').unwrap_or(&v))
                        .map_err(|e| usage(format!("--version `{v}` is not a version: {e}")))
                })
                .transpose()?;
            let range = range
                .map(|r| {
                    r.parse::<VersionRange>()
                        .map_err(|e| usage(format!("--range `{r}` does not parse: {e}")))
                })
                .transpose()?;
            let request = LoadRequest {
                kind,
                name,
                source,
                version,
                range,
                path,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                tokio::select! {
                    result = load(&workspace, request, args.clone(), global) => result,
                    _ = tokio::signal::ctrl_c() => Err(coded(
                        Exit::Interrupted,
                        "interrupted; provisioning.yaml was not written",
                    )),
                }
            })
        }
        ModuleCommand::List { workspace } => list(workspace.as_deref(), args, global),
        ModuleCommand::Unload {
            kind,
            workspace,
            name,
        } => {
            let mut ws = Workspace::locate(&workspace).map_err(report)?;
            let removed = modules::unload(&mut ws, kind, &name).map_err(module_report)?;
            if !print_structured(
                global.output,
                &serde_json::json!({ "removed": name, "type": kind.to_string(), "config": ws.config_path }),
            )? && !global.quiet
            {
                outln!(
                    "Removed {kind} {name} ({}) from {}",
                    removed.location(),
                    ws.config_path.display()
                );
            }
            Ok(())
        }
    }
}

async fn load(
    workspace: &str,
    request: LoadRequest,
    args: RegistryArgs,
    global: &GlobalArgs,
) -> Result<()> {
    let mut ws = Workspace::locate(workspace).map_err(report)?;
    let ctx = context_for(&ws, args)?;
    let loaded = modules::load(&mut ws, &ctx.registries, &request)
        .await
        .map_err(module_report)?;
    if !print_structured(global.output, &loaded)? && !global.quiet {
        let what = match loaded.outcome {
            LoadOutcome::Added => "Added",
            LoadOutcome::Updated => "Updated",
            LoadOutcome::Unchanged => "Already loaded:",
        };
        outln!(
            "{what} {} {} {} ({}) in {}",
            request.kind,
            request.name,
            loaded.version,
            loaded.location,
            ws.config_path.display()
        );
        outln!("  - {}", loaded.entry);
    }
    Ok(())
}

fn list(workspace: Option<&str>, args: &RegistryArgs, global: &GlobalArgs) -> Result<()> {
    let ws = match workspace {
        Some(name) => Workspace::locate(name).map_err(report)?,
        None => {
            let cwd = std::env::current_dir()?;
            Workspace::discover(args.workspace.as_deref(), &cwd)
                .map_err(report)?
                .ok_or_else(|| {
                    coded(
                        Exit::NotFound,
                        "no workspace here: name one (`module list WORKSPACE`), pass --workspace, or create one with `provisioning workspace init`",
                    )
                })?
        }
    };
    let rows = modules::list(&ws);
    if print_structured(global.output, &rows)? {
        return Ok(());
    }
    if rows.is_empty() {
        eprintln!("No modules in {}", ws.config_path.display());
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.kind.clone(),
                r.name.clone(),
                r.source.to_string(),
                r.requirement.clone(),
                r.location.clone(),
            ]
        })
        .collect();
    print_table(&["type", "name", "source", "version", "location"], &table)?;
    Ok(())
}
