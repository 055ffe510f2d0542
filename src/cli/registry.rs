//! `provisioning oci-registry serve|start|stop|status|gc`.

use super::exit::{Exit, outln, silent};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use color_eyre::eyre::WrapErr;

use super::GlobalArgs;
use super::output::{human_bytes, print_fields, print_structured};
use crate::registry::daemon::{self, PidRecord};
use crate::registry::{RegistryConfig, RunningRegistry, TlsFiles, default_storage_dir, gc};

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve the registry in the foreground until Ctrl-C.
    Serve(ServeArgs),
    /// Start the registry in the background.
    Start(ServeArgs),
    /// Stop the background registry.
    Stop(StorageArg),
    /// Show whether the registry runs, where, and what it holds.
    Status(StorageArg),
    /// Delete blobs that no manifest references and stale upload data.
    Gc(GcArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StorageArg {
    /// Storage directory [default: <data dir>/oci-registry].
    #[arg(long, value_name = "DIR")]
    pub storage: Option<PathBuf>,
}

impl StorageArg {
    fn dir(&self) -> color_eyre::Result<PathBuf> {
        let dir = self.storage.clone().unwrap_or_else(default_storage_dir);
        std::path::absolute(&dir).wrap_err_with(|| format!("cannot resolve {}", dir.display()))
    }

    /// The storage `status` and `stop` act on: the one given; else the default storage when a
    /// registry serves it; else the one registry this user started elsewhere. Several started
    /// elsewhere (and none on the default) must be told apart with `--storage`.
    fn running_dir(&self) -> color_eyre::Result<PathBuf> {
        let default = self.dir()?;
        if self.storage.is_some() || daemon::running(&default).is_some() {
            return Ok(default);
        }
        let mut started = daemon::started();
        match started.len() {
            0 => Ok(default),
            1 => Ok(started.remove(0).storage),
            _ => {
                let list: Vec<String> = started
                    .iter()
                    .map(|r| {
                        format!(
                            "  --storage {}  ({}, pid {})",
                            r.storage.display(),
                            r.endpoint,
                            r.pid
                        )
                    })
                    .collect();
                Err(super::exit::usage(format!(
                    "{} registries you started are running; name one:\n{}",
                    started.len(),
                    list.join("\n")
                )))
            }
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "HOST:PORT")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub storage: StorageArg,
    /// htpasswd file of bcrypt entries; clients must then log in.
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow listening on a non-loopback address without --htpasswd.
    #[arg(long)]
    pub allow_anonymous: bool,
    /// Drop upload sessions idle for this many seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub upload_ttl: u64,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub storage: StorageArg,
    /// Report what would be deleted without deleting.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep unreferenced blobs younger than this many seconds: a client of a live registry
    /// may be about to reference what it just uploaded [default: 600 for a dry run while a
    /// registry serves the storage, else 0]. `--min-age 0` keeps none.
    #[arg(long, value_name = "SECS")]
    pub min_age: Option<u64>,
    /// Delete upload data untouched for this many seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub upload_ttl: u64,
}

pub fn run(command: RegistryCommand, global: &GlobalArgs) -> color_eyre::Result<()> {
    match command {
        RegistryCommand::Serve(args) => serve(&args, global),
        RegistryCommand::Start(args) => start(&args, global),
        RegistryCommand::Stop(args) => stop(&args, global),
        RegistryCommand::Status(args) => status(&args, global),
        RegistryCommand::Gc(args) => collect(&args, global),
    }
}

impl ServeArgs {
    fn config(&self) -> color_eyre::Result<RegistryConfig> {
        if !self.addr.ip().is_loopback() && self.htpasswd.is_none() && !self.allow_anonymous {
            return Err(super::exit::usage(format!(
                "{} is reachable from other machines and no --htpasswd is set; add --htpasswd FILE, or --allow-anonymous if anyone may push and delete",
                self.addr
            )));
        }
        let mut config = RegistryConfig::new(self.addr, self.storage.dir()?);
        config.htpasswd = self.htpasswd.clone();
        config.tls = self
            .tls_cert
            .clone()
            .zip(self.tls_key.clone())
            .map(|(cert, key)| TlsFiles { cert, key });
        config.upload_ttl = Duration::from_secs(self.upload_ttl.max(1));
        Ok(config)
    }

    /// The same options as arguments of a `serve` child process, with absolute paths.
    fn to_serve_args(&self, storage: &Path, log_file: &Path) -> color_eyre::Result<Vec<String>> {
        let abs = |p: &Path| -> color_eyre::Result<String> {
            Ok(std::path::absolute(p)?.display().to_string())
        };
        let mut args = vec![
            "oci-registry".to_string(),
            "serve".into(),
            "--addr".into(),
            self.addr.to_string(),
            "--storage".into(),
            storage.display().to_string(),
            "--upload-ttl".into(),
            self.upload_ttl.to_string(),
            "--log-file".into(),
            log_file.display().to_string(),
        ];
        if let Some(h) = &self.htpasswd {
            args.extend(["--htpasswd".into(), abs(h)?]);
        }
        if let (Some(c), Some(k)) = (&self.tls_cert, &self.tls_key) {
            args.extend(["--tls-cert".into(), abs(c)?, "--tls-key".into(), abs(k)?]);
        }
        if self.allow_anonymous {
            args.push("--allow-anonymous".into());
        }
        Ok(args)
    }
}

fn runtime() -> color_eyre::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn serve(args: &ServeArgs, global: &GlobalArgs) -> color_eyre::Result<()> {
    let config = args.config()?;
    let storage = config.storage.clone();
    runtime()?.block_on(async {
        let registry = RunningRegistry::start(config).await?;
        daemon::write_pid_record(&PidRecord {
            pid: std::process::id(),
            endpoint: registry.url(),
            storage: storage.clone(),
            log_file: global.log_file.clone(),
        })
        .wrap_err("cannot write the pid file into the storage directory")?;
        if !global.quiet {
            outln!(
                "Serving OCI registry at {} (storage {}); Ctrl-C stops it",
                registry.url(),
                storage.display()
            );
        }
        registry.run_until_signal().await;
        daemon::remove_pid_record(&storage);
        Ok(())
    })
}

fn start(args: &ServeArgs, global: &GlobalArgs) -> color_eyre::Result<()> {
    args.config()?;
    let storage = args.storage.dir()?;
    std::fs::create_dir_all(&storage)
        .wrap_err_with(|| format!("cannot create {}", storage.display()))?;
    let log_file = storage.join("registry.log");
    let exe = std::env::current_exe().wrap_err("cannot find this program's path")?;
    let record = daemon::start(
        &exe,
        &args.to_serve_args(&storage, &log_file)?,
        &storage,
        &log_file,
    )?;
    if let Err(e) = daemon::remember_started(&storage) {
        tracing::warn!("cannot note the started registry: {e}");
    }
    if !print_structured(global.output, &record)? && !global.quiet {
        outln!("Registry started at {}", record.endpoint);
        print_fields(&[
            ("pid", record.pid.to_string()),
            ("storage", record.storage.display().to_string()),
            ("log", log_file.display().to_string()),
        ])?;
        let host = record
            .endpoint
            .split("://")
            .nth(1)
            .unwrap_or(&record.endpoint)
            .trim_end_matches('/');
        outln!("Point the CLI at it: export PROVISIONING_REGISTRY={host}");
    }
    Ok(())
}

fn stop(args: &StorageArg, global: &GlobalArgs) -> color_eyre::Result<()> {
    let stopped = daemon::stop(&args.running_dir()?, Duration::from_secs(15))?;
    if !print_structured(global.output, &stopped)? && !global.quiet {
        if stopped.killed {
            outln!(
                "Registry (pid {}) did not stop within 15 s and was killed",
                stopped.pid
            );
        } else {
            outln!("Registry (pid {}) stopped", stopped.pid);
        }
    }
    Ok(())
}

/// Prints the state of the registry on that storage; exits 3 when none runs there.
fn status(args: &StorageArg, global: &GlobalArgs) -> color_eyre::Result<()> {
    let status = daemon::status(&args.running_dir()?)?;
    let result = if status.pid.is_some() {
        Ok(())
    } else {
        Err(silent(Exit::NotRunning))
    };
    if print_structured(global.output, &status)? {
        return result;
    }
    let state = match status.pid {
        Some(pid) => format!("running (pid {pid})"),
        None => "not running".to_string(),
    };
    let mut rows = vec![("registry", state)];
    if let Some(endpoint) = &status.endpoint {
        rows.push(("endpoint", endpoint.clone()));
    }
    rows.push(("storage", status.storage.display().to_string()));
    rows.push(("repositories", status.repositories.to_string()));
    rows.push(("disk use", human_bytes(status.disk_usage_bytes)));
    if let Some(log) = &status.log_file {
        rows.push(("log", log.display().to_string()));
    }
    print_fields(&rows)?;
    result
}

/// `600` → `10 minutes`, `90` → `90 seconds`.
fn human_duration(secs: u64) -> String {
    match secs {
        3600 => "1 hour".into(),
        60 => "1 minute".into(),
        1 => "1 second".into(),
        s if s >= 3600 && s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

fn collect(args: &GcArgs, global: &GlobalArgs) -> color_eyre::Result<()> {
    let dir = args.storage.dir()?;
    // Only a dry run may see a live registry (a real run is refused): keep what it just pushed.
    let running = args.dry_run && daemon::running(&dir).is_some();
    let min_age = Duration::from_secs(args.min_age.unwrap_or(if running { 600 } else { 0 }));
    let upload_ttl = Duration::from_secs(args.upload_ttl);
    let report = gc::collect_storage(&dir, args.dry_run, min_age, upload_ttl)?;
    if print_structured(global.output, &report)? || global.quiet {
        return Ok(());
    }
    let verb = if args.dry_run {
        "Would delete"
    } else {
        "Deleted"
    };
    for blob in &report.blobs {
        outln!("{verb} {} ({})", blob.digest, human_bytes(blob.size));
    }
    outln!(
        "{verb} {} blob(s), freeing {}; {} repository link(s) and {} stale upload file(s)",
        report.blobs.len(),
        human_bytes(report.bytes_freed),
        report.repository_links,
        report.stale_uploads
    );
    if report.kept_recent > 0 {
        let why = if running && args.min_age.is_none() {
            "a registry serves this storage, and a client may be about to reference a blob it \
             just uploaded; `--min-age 0` counts them too (a real gc runs only once the registry \
             is stopped, and then keeps none)"
                .to_string()
        } else {
            format!(
                "--min-age {} keeps them; `--min-age 0` keeps none",
                report.min_age_secs
            )
        };
        outln!(
            "{} unreferenced blob(s) ({}) younger than {} were kept: {why}.",
            report.kept_recent,
            human_bytes(report.kept_recent_bytes),
            human_duration(report.min_age_secs)
        );
    }
    Ok(())
}
