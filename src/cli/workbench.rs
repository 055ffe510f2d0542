//! `provisioning ui` (the workbench) and `provisioning demo` (the workbench on a fresh embedded
//! registry with the bundled samples published).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{Result, WrapErr, bail};

use super::context::{OciContext, RegistryArgs};
use super::demo_files;
use super::exit;
use crate::extension::samples;
use crate::oci::ReferenceDefaults;
use crate::oci::cache::BlobCache;
use crate::oci::client::{ClientOptions, Registries};
use crate::oci::credentials::CredentialStore;
use crate::oci::reference::DEFAULT_NAMESPACE;
use crate::registry::{RegistryConfig, RunningRegistry};
use crate::tui::WorkbenchOptions;
use crate::tui::theme::Theme;

#[derive(Debug, Args)]
pub struct UiArgs {
    /// Theme: dark, light, high-contrast, or a file name in <config dir>/themes.
    #[arg(long, default_value = "dark")]
    pub theme: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Registry storage [default: a temporary directory, removed on exit].
    #[arg(long, value_name = "DIR")]
    pub storage: Option<PathBuf>,
    /// Where the demo registry listens.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "HOST:PORT")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub ui: UiArgs,
    /// Set everything up, print where it is, and wait for Ctrl-C instead of opening the workbench.
    #[arg(long)]
    pub no_ui: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// What the workbench needs before anything starts: a theme that loads, and a terminal on
/// stdin and stdout. Both failures are usage errors: the command line has to change.
fn check_workbench(ui: &UiArgs) -> Result<()> {
    Theme::load(&ui.theme).map_err(|e| exit::usage(e.to_string()))?;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(exit::usage(
            "the workbench needs a terminal on stdin and stdout; scripts use the commands \
             (`provisioning --help`), and `provisioning demo --no-ui` sets the demo up without it",
        ));
    }
    Ok(())
}

/// `provisioning ui`.
pub fn ui(args: &RegistryArgs, ui: &UiArgs) -> Result<()> {
    check_workbench(ui)?;
    runtime()?.block_on(async {
        let ctx = OciContext::new(args)?;
        let mut registries = Vec::new();
        if let Some(registry) = ctx
            .workspace
            .as_ref()
            .and_then(|w| w.config.effective_registry().registry)
        {
            registries.push(registry);
        }
        // Registries with stored credentials are offered too.
        for registry in ctx.registries.credentials().known_registries() {
            if !registries.contains(&registry) {
                registries.push(registry);
            }
        }
        let workspace_root = match &ctx.workspace {
            Some(w) => w.root.clone(),
            None => std::env::current_dir()?,
        };
        let options = WorkbenchOptions {
            defaults: ctx.defaults.clone(),
            registries,
            workspace: workspace_root.clone(),
            workspace_root,
            theme: ui.theme.clone(),
        };
        crate::tui::run(options, ctx.registries.clone(), ctx.cache.clone()).await
    })
}

/// One line on stderr, or nothing when stderr is gone (the terminal closed: SIGHUP).
fn note(text: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Removes the demo's temporary directory when dropped, and says so on stderr (one line):
/// extensions created in the demo's Publish pane live there and go with it.
struct TempDir {
    path: PathBuf,
    quiet: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let removed = std::fs::remove_dir_all(&self.path);
        if !self.quiet {
            match removed {
                Ok(()) => note(format!(
                    "demo stopped; its files (registry, sample workspace, extensions made in the workbench) were in {} and are removed",
                    self.path.display()
                )),
                Err(e) => note(format!(
                    "demo stopped; could not remove its files in {}: {e}",
                    self.path.display()
                )),
            }
        }
    }
}

/// `provisioning demo`.
pub fn demo(args: &DemoArgs, quiet: bool) -> Result<()> {
    if !args.no_ui {
        check_workbench(&args.ui)?;
    }
    let temp = std::env::temp_dir();
    for stale in demo_files::sweep_stale(&temp) {
        if !quiet {
            eprintln!(
                "removed {}, left by a demo that ended without cleaning up",
                stale.display()
            );
        }
    }
    let root = demo_files::demo_dir(&temp, std::process::id());
    std::fs::create_dir_all(&root).wrap_err_with(|| format!("cannot create {}", root.display()))?;
    let _cleanup = TempDir {
        path: root.clone(),
        quiet,
    };
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        // From here on Ctrl-C, SIGTERM and SIGHUP end the demo through its cleanup.
        let mut stop = demo_files::StopSignals::listen()?;
        tokio::select! {
            result = run_demo(args, quiet, &root) => result,
            signal = stop.recv() => {
                if !quiet {
                    note(format!("{}: stopping the demo", signal.name()));
                }
                Ok(())
            }
        }
    });
    // Work still running (a request in flight, a blocking write) gets a moment, not forever:
    // the cleanup follows.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

/// The demo itself: registry, samples, workspace, then the workbench (or a wait for a stop
/// signal, which the caller races against this).
async fn run_demo(args: &DemoArgs, quiet: bool, root: &std::path::Path) -> Result<()> {
    let storage = args
        .storage
        .clone()
        .unwrap_or_else(|| root.join("registry"));
    let registry = RunningRegistry::start(RegistryConfig::new(args.addr, &storage)).await?;
    let host = registry.local_addr().to_string();
    let say = |text: String| {
        if !quiet {
            eprintln!("{text}");
        }
    };
    say(format!(
        "demo registry at {} (storage {})",
        registry.url(),
        storage.display()
    ));

    let samples_root = root.join("extensions");
    let workspace = root.join("workspace");
    std::fs::create_dir_all(workspace.join("config"))?;
    std::fs::write(
        workspace.join("config/provisioning.yaml"),
        samples::workspace_config(&host),
    )?;

    let options = ClientOptions {
        plain_http_registries: vec![host.clone()],
        ..ClientOptions::default()
    };
    let credentials = CredentialStore::new(root.join("docker/config.json"), None, None);
    let registries = Registries::new(options, credentials)?;
    let cache = BlobCache::open(root.join("cache"))?;
    let defaults = ReferenceDefaults {
        registry: host.clone(),
        namespace: DEFAULT_NAMESPACE.to_string(),
    };
    let published = match samples::publish(&samples_root, &registries, &cache, &defaults).await {
        Ok(count) => count,
        Err(e) => {
            registry.shutdown().await;
            bail!(e);
        }
    };
    say(format!("published {published} sample extension versions"));
    say(format!("sample workspace at {}", workspace.display()));
    say(format!(
        "resolve and install its dependencies: cd {} && provisioning dep resolve",
        workspace.display()
    ));

    if args.no_ui {
        // The one line that points the CLI at the demo (loopback: plain HTTP is found alone).
        say(format!(
            "Point the CLI at it: export PROVISIONING_REGISTRY={host}"
        ));
        say("press Ctrl-C to stop".into());
        std::future::pending::<()>().await;
        return Ok(());
    }
    let options = WorkbenchOptions {
        defaults,
        registries: vec![],
        workspace_root: samples_root,
        workspace: workspace.clone(),
        theme: args.ui.theme.clone(),
    };
    let result = crate::tui::run(options, registries, cache).await;
    registry.shutdown().await;
    result
}
