//! `provisioning generate extension TYPE NAME [--dir D]` and
//! `provisioning generate ci PROVIDER [--dir ROOT] [--install-from URL]`.

use super::exit::{Exit, coded, outln, usage};
use std::path::PathBuf;

use clap::Subcommand;
use color_eyre::eyre::Result;

use super::GlobalArgs;
use super::output::print_structured;
use crate::extension::ci::{self, CiError, CiProvider, CiSpec};
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
    /// Write the CI workflow that publishes an extensions monorepo: a tag
    /// <type>s/<name>/v<version> publishes that extension (`oci publish --from-tag`), a push to
    /// the main branch dry-runs every extension. Refuses to overwrite an existing workflow
    /// (exit 5).
    Ci {
        /// github (.github/workflows/), gitea (.gitea/workflows/) or gitlab (.gitlab-ci.yml,
        /// including .gitlab/ci/provisioning.yml).
        #[arg(value_name = "PROVIDER", value_parser = parse_provider)]
        provider: CiProvider,
        /// The repository root, which holds providers/, taskservs/ and clusters/.
        #[arg(long, default_value = ".", value_name = "ROOT")]
        dir: PathBuf,
        /// The git URL to install provisioning from in CI (`cargo install --git URL`); without
        /// it the workflow holds a marked placeholder to replace.
        #[arg(long, value_name = "URL")]
        install_from: Option<String>,
        /// The git tag of provisioning to install [default: v<this version>].
        #[arg(long, value_name = "TAG")]
        install_tag: Option<String>,
        /// The registry to publish to (host[:port]); without it, a marked placeholder.
        #[arg(long, value_name = "HOST[:PORT]")]
        registry: Option<String>,
        /// The namespace to publish under.
        #[arg(long, default_value = crate::oci::reference::DEFAULT_NAMESPACE, value_name = "NS")]
        namespace: String,
        /// The branch whose pushes run the dry run.
        #[arg(long, default_value = "main", value_name = "BRANCH")]
        branch: String,
        /// Talk plain HTTP to the registry (one on the runner's own network without TLS).
        #[arg(long)]
        plain_http: bool,
    },
}

fn parse_provider(value: &str) -> Result<CiProvider, String> {
    value.parse()
}

pub fn run(command: GenerateCommand, global: &GlobalArgs) -> Result<()> {
    let (kind, name, dir, ext_version, description) = match command {
        GenerateCommand::Extension {
            kind,
            name,
            dir,
            ext_version,
            description,
        } => (kind, name, dir, ext_version, description),
        GenerateCommand::Ci {
            provider,
            dir,
            install_from,
            install_tag,
            registry,
            namespace,
            branch,
            plain_http,
        } => {
            let mut spec = CiSpec::new(provider);
            spec.install_from = install_from;
            if let Some(tag) = install_tag {
                spec.install_tag = tag;
            }
            spec.registry = registry;
            spec.namespace = namespace;
            spec.branch = branch;
            spec.plain_http = plain_http;
            return generate_ci(&spec, &dir, global);
        }
    };
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

/// `generate ci`: an existing workflow is a conflict (exit 5), a value that cannot go into a
/// workflow is a usage error (exit 2).
fn generate_ci(spec: &CiSpec, dir: &std::path::Path, global: &GlobalArgs) -> Result<()> {
    let generated = ci::generate(spec, dir).map_err(|e| match e {
        CiError::Exists(_) => coded(Exit::Conflict, e.to_string()),
        CiError::Invalid { .. } => usage(e.to_string()),
        CiError::Io { .. } => color_eyre::eyre::eyre!(e),
    })?;
    let placeholders = spec.placeholders();
    let summary = serde_json::json!({
        "provider": spec.provider.as_str(),
        "written": generated.written.iter().map(|p| dir.join(p)).collect::<Vec<_>>(),
        "notes": generated.notes,
        "placeholders": placeholders,
    });
    if print_structured(global.output, &summary)? {
        return Ok(());
    }
    if !global.quiet {
        outln!("Wrote the {} workflow:", spec.provider);
        for path in &generated.written {
            outln!("  {}", dir.join(path).display());
        }
    }
    for note in &generated.notes {
        eprintln!("note: {note}");
    }
    if !placeholders.is_empty() {
        eprintln!(
            "warning: the workflow holds placeholders (marked PLACEHOLDER) until you edit them or generate again with {}",
            placeholders.join(" and ")
        );
    }
    if !global.quiet {
        outln!(
            "Next: add the secrets PROVISIONING_REGISTRY_USERNAME and PROVISIONING_REGISTRY_PASSWORD, commit, and push a tag like taskservs/<name>/v<version>"
        );
    }
    Ok(())
}
