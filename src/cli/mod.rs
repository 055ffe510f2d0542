//! The command line: parses arguments, calls the domain, renders results.

mod airgap;
mod cache;
mod context;
mod demo_files;
mod dep;
pub mod exit;
mod generate;
mod module;
mod oci;
mod oci_account;
mod output;
mod progress;
mod prompt;
mod publish;
mod registry;
mod sign;
mod sync;
mod workbench;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

pub use output::OutputFormat;

/// Publish, find, resolve and install infrastructure extensions as OCI artifacts.
#[derive(Debug, Parser)]
#[command(name = "provisioning", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Without a command, the workbench opens (on a terminal).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// How to print results.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Log to stderr (-v debug, -vv trace) instead of the log file.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Write logs to this file (default: <data dir>/logs/provisioning.log).
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the workbench: browse registries, follow transfers, publish extensions.
    Ui {
        #[command(flatten)]
        registry: context::RegistryArgs,
        #[command(flatten)]
        ui: workbench::UiArgs,
    },
    /// Start an embedded registry, publish the bundled samples, write a sample workspace and
    /// open the workbench on it; quitting stops it all.
    Demo(workbench::DemoArgs),
    /// Find, inspect, pull, copy and delete artifacts in any OCI registry; log in and out.
    Oci {
        #[command(flatten)]
        registry: context::RegistryArgs,
        #[command(subcommand)]
        command: oci::OciCommand,
    },
    /// Run the embedded OCI registry.
    #[command(name = "oci-registry", subcommand)]
    OciRegistry(registry::RegistryCommand),
    /// Create new things from templates.
    #[command(subcommand)]
    Generate(generate::GenerateCommand),
    /// Create workspaces; move their local modules to a registry.
    #[command(subcommand)]
    Workspace(workspace::WorkspaceCommand),
    /// Add, list and remove the extension modules of a workspace.
    Module {
        #[command(flatten)]
        registry: context::RegistryArgs,
        #[command(subcommand)]
        command: module::ModuleCommand,
    },
    /// Resolve, lock, install, show and update the workspace's dependencies.
    Dep {
        #[command(flatten)]
        registry: dep::DepArgs,
        #[command(subcommand)]
        command: dep::DepCommand,
    },
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut hook = color_eyre::config::HookBuilder::default().display_env_section(false);
    if !stderr_color() {
        hook = hook.theme(color_eyre::config::Theme::new());
    }
    let _ = hook.install();
    let _guard = init_logging(&cli.global);
    let verbose = cli.global.verbose > 0;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            let exit = exit::classify(&report);
            if exit == exit::Exit::Success || exit::is_silent(&report) {
                // Stdout was closed by its reader (`… | head -1`), or the command already
                // printed why it ends this way: nothing more to say.
                return exit.into();
            }
            tracing::error!("{report:#}");
            if verbose {
                eprintln!("Error: {report:?}");
            } else {
                // What went wrong and why, without locations or backtraces: those are for -v.
                eprintln!("error: {report}");
                for cause in report.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            exit.into()
        }
    }
}

fn run(cli: Cli) -> color_eyre::Result<()> {
    let Some(command) = cli.command else {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
            let registry = context::RegistryArgs::default_for_ui();
            return workbench::ui(
                &registry,
                &workbench::UiArgs {
                    theme: "dark".into(),
                },
            );
        }
        // Not on a terminal (a script, a pipe): there is nothing to open, so say how to use it.
        eprintln!("{}", Cli::command().render_help());
        return Err(exit::silent(exit::Exit::Usage));
    };
    match command {
        Command::Ui { registry, ui } => workbench::ui(&registry, &ui),
        Command::Demo(args) => workbench::demo(&args, cli.global.quiet),
        Command::Oci { registry, command } => oci::run(command, &registry, &cli.global),
        Command::OciRegistry(command) => registry::run(command, &cli.global),
        Command::Generate(command) => generate::run(command, &cli.global),
        Command::Workspace(command) => workspace::run(command, &cli.global),
        Command::Module { registry, command } => module::run(command, &registry, &cli.global),
        Command::Dep { registry, command } => dep::run(command, &registry, &cli.global),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "provisioning",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

/// Whether stderr gets colour: a terminal, and `NO_COLOR` unset or empty (no-color.org).
fn stderr_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Logs go to stderr with `-v`, otherwise to the log file; never into command output.
fn init_logging(global: &GlobalArgs) -> Option<()> {
    use tracing_subscriber::EnvFilter;
    if global.verbose > 0 {
        let level = if global.verbose == 1 {
            "debug"
        } else {
            "trace"
        };
        let filter = EnvFilter::try_from_env("PROVISIONING_LOG")
            .unwrap_or_else(|_| EnvFilter::new(format!("provisioning={level},info")));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(stderr_color())
            .with_writer(std::io::stderr)
            .try_init()
            .ok()?;
        return Some(());
    }
    let path = global
        .log_file
        .clone()
        .unwrap_or_else(|| crate::paths::log_dir().join("provisioning.log"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    let filter =
        EnvFilter::try_from_env("PROVISIONING_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
