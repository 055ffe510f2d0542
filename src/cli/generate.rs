//! `provisioning generate extension TYPE NAME [--dir D]`.

use super::exit::outln;
use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;

use super::GlobalArgs;
use super::output::print_structured;
use crate::extension::manifest::ExtensionType;
use crate::extension::scaffold::{self, ScaffoldSpec};

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Scaffold a new extension: schemas, scripts, templates, docs, tests and manifest.yaml.
    Extension {
        /// provider, taskserv or cluster.
        #[arg(value_name = "TYPE")]
        kind: ExtensionType,
        name: String,
        /// Where to create it [default: .]; inside a monorepo root it goes to <type>s/<name>.
        #[arg(long, default_value = ".", value_name = "DIR")]
        dir: PathBuf,
        /// The first version.
        #[arg(long = "ext-version", default_value = "0.1.0", value_name = "VERSION")]
        ext_version: semver::Version,
        /// One line saying what it installs.
        #[arg(long)]
        description: Option<String>,
    },
}

pub fn run(command: GenerateCommand, global: &GlobalArgs) -> Result<()> {
    let GenerateCommand::Extension {
        kind,
        name,
        dir,
        ext_version,
        description,
    } = command;
    let mut spec = ScaffoldSpec::new(kind, name);
    spec.version = ext_version;
    spec.description = description;
    let target = scaffold::default_target(&spec, &dir);
    let files = scaffold::generate_into(&spec, &target)?;
    let summary = serde_json::json!({ "directory": target, "files": files });
    if !print_structured(global.output, &summary)? && !global.quiet {
        outln!(
            "Created {} {} in {}",
            spec.kind,
            spec.name,
            target.display()
        );
        for file in &files {
            outln!("  {}", file.display());
        }
        outln!(
            "Next: edit manifest.yaml and schemas/, then `provisioning oci package validate {}`",
            target.display()
        );
    }
    Ok(())
}
