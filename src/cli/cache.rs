//! `provisioning oci cache size|prune`: what the local blob cache holds, and freeing it.

use std::time::Duration;

use clap::Subcommand;
use color_eyre::eyre::Result;

use super::GlobalArgs;
use super::exit::outln;
use super::output::{human_bytes, print_fields, print_structured};
use crate::oci::cache::{BlobCache, Prune, parse_duration};

/// What `prune` removes when given neither `--all` nor `--older-than`.
const DEFAULT_OLDER_THAN: &str = "30d";

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// How much the cache holds: blobs, downloads under way, tagged references.
    Size,
    /// Remove cached blobs (they are downloaded again when needed); downloads under way are
    /// never touched. Prints the bytes freed.
    Prune {
        /// Remove every cached blob.
        #[arg(long, conflicts_with = "older_than")]
        all: bool,
        /// Remove blobs not used for this long: 30d, 12h, 90m, 2w.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration,
              default_value = DEFAULT_OLDER_THAN)]
        older_than: Duration,
    },
}

pub fn run(command: CacheCommand, cache: &BlobCache, global: &GlobalArgs) -> Result<()> {
    match command {
        CacheCommand::Size => size(cache, global),
        CacheCommand::Prune { all, older_than } => {
            let what = if all {
                Prune::All
            } else {
                Prune::OlderThan(older_than)
            };
            prune(cache, what, global)
        }
    }
}

fn size(cache: &BlobCache, global: &GlobalArgs) -> Result<()> {
    let usage = cache.usage();
    if print_structured(global.output, &usage)? {
        return Ok(());
    }
    print_fields(&[
        ("cache", usage.root.display().to_string()),
        (
            "blobs",
            format!("{} ({})", usage.blobs, human_bytes(usage.blob_bytes)),
        ),
        (
            "downloads",
            format!(
                "{} temp file(s) ({})",
                usage.temp_files,
                human_bytes(usage.temp_bytes)
            ),
        ),
        ("references", usage.references.to_string()),
        ("total", human_bytes(usage.total_bytes)),
    ])?;
    Ok(())
}

fn prune(cache: &BlobCache, what: Prune, global: &GlobalArgs) -> Result<()> {
    let report = cache.prune(what)?;
    if print_structured(global.output, &report)? || global.quiet {
        return Ok(());
    }
    outln!(
        "Freed {}: removed {} blob(s) and {} abandoned temp file(s); kept {} blob(s) ({})",
        human_bytes(report.freed_bytes),
        report.removed_blobs,
        report.removed_temp_files,
        report.kept_blobs,
        human_bytes(report.kept_bytes)
    );
    if report.in_use_temp_files > 0 {
        outln!(
            "{} temp file(s) belong to downloads under way and were left alone",
            report.in_use_temp_files
        );
    }
    Ok(())
}
