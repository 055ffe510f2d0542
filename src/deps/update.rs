//! `dep update NAME [--to VERSION]`, Cargo's conservative update: everything else stays as
//! locked. A module pinned in `provisioning.yaml` has its pin rewritten there (comments kept);
//! a module given as a range, or an extension only reached through others, changes only in
//! the lock — `--to` then holds that version for the run, and must be inside the range.

use semver::Version;

use super::lock::Lockfile;
use super::resolve::ResolveOptions;
use super::source::Repo;
use crate::oci::Reference;
use crate::workspace::model::EntryForm;
use crate::workspace::modules::{list_path, write_entry};
use crate::workspace::{ModuleSource, Requirement, Workspace, yaml};

/// What kind of update this is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    /// A pinned module: `provisioning.yaml` changes.
    Pin,
    /// A module given as a range: only the lock changes.
    Range,
    /// An extension other extensions need: only the lock changes.
    Transitive,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Edit(String),
}

/// Prepares the options (and, for a pin with `--to`, the edited workspace text) of an update.
pub fn prepare(
    workspace: &mut Workspace,
    lock: Option<&Lockfile>,
    name: &str,
    to: Option<&Version>,
    options: &mut ResolveOptions,
) -> Result<UpdateKind, UpdateError> {
    let module = workspace
        .config
        .modules
        .iter()
        .find(|m| m.name == name)
        .cloned();
    match module {
        Some(module) => match (&module.source, &module.requirement) {
            (ModuleSource::Local { path }, _) => Err(UpdateError::Usage(format!(
                "{name} is a local module ({}): its version is its manifest.yaml's; edit that instead",
                path.display()
            ))),
            (ModuleSource::Oci { .. }, Requirement::Exact(_)) => {
                match to {
                    Some(version) => rewrite_pin(workspace, name, version)?,
                    None => options.float.push(name.to_string()),
                }
                Ok(UpdateKind::Pin)
            }
            (ModuleSource::Oci { reference, .. }, Requirement::Range(range)) => {
                if let Some(version) = to {
                    if !range.matches(version) {
                        return Err(UpdateError::Usage(format!(
                            "{name} is given as the range {range} in provisioning.yaml, and {version} is outside it; change the range (`provisioning module load … --range`) or pin it (`--version {version}`)"
                        )));
                    }
                    options
                        .hold
                        .push((name.to_string(), Repo::of(reference), version.clone()));
                }
                Ok(UpdateKind::Range)
            }
            (ModuleSource::Oci { .. }, Requirement::Local) => Ok(UpdateKind::Range),
        },
        None => {
            let locked = lock.and_then(|l| l.extension(name)).ok_or_else(|| {
                UpdateError::NotFound(format!(
                    "{name} is neither a module of provisioning.yaml nor in config/provisioning.lock; run `provisioning dep tree` to see what is"
                ))
            })?;
            if let Some(version) = to {
                let reference = locked
                    .reference
                    .as_deref()
                    .ok_or_else(|| UpdateError::Usage(format!("{name} is a local module")))?;
                let reference = Reference::parse(reference, &Default::default())
                    .map_err(|e| UpdateError::Edit(format!("config/provisioning.lock: {e}")))?;
                options
                    .hold
                    .push((name.to_string(), Repo::of(&reference), version.clone()));
            }
            Ok(UpdateKind::Transitive)
        }
    }
}

/// Rewrites the pin of module `name` to `version`, keeping the entry's form and the comments
/// around it; the workspace is re-read from the edited text (not saved).
pub fn rewrite_pin(
    workspace: &mut Workspace,
    name: &str,
    version: &Version,
) -> Result<(), UpdateError> {
    let Some(entry) = workspace
        .config
        .modules
        .iter()
        .find(|m| m.name == name)
        .cloned()
    else {
        return Err(UpdateError::NotFound(format!("{name} is not a module")));
    };
    let (Requirement::Exact(old), ModuleSource::Oci { reference, .. }) =
        (&entry.requirement, &entry.source)
    else {
        return Err(UpdateError::Usage(format!(
            "{name} is not pinned to a version"
        )));
    };
    if old == version {
        return Ok(());
    }
    let text = workspace.file.text.clone();
    let root = yaml::parse(&text)
        .ok()
        .flatten()
        .ok_or_else(|| UpdateError::Edit("provisioning.yaml does not parse".into()))?;
    let mut node = &root;
    for key in list_path(entry.kind) {
        node = node
            .get(key)
            .ok_or_else(|| UpdateError::Edit(format!("cannot find {key} in provisioning.yaml")))?
            .1;
    }
    let item = node
        .items()
        .and_then(|items| items.iter().find(|i| i.pos == entry.pos))
        .ok_or_else(|| {
            UpdateError::Edit(format!(
                "cannot find the entry of {name} in provisioning.yaml"
            ))
        })?;
    let written = &text[item.start..item.end];
    let old_tag = reference.tag.clone().unwrap_or_else(|| old.to_string());
    let new_tag = if old_tag.starts_with('v') {
        format!("v{version}")
    } else {
        crate::oci::reference::version_to_tag(&version.to_string())
    };
    let replaced = match entry.form {
        EntryForm::Reference => written.rfind(&format!(":{old_tag}")).map(|at| {
            format!(
                "{}:{new_tag}{}",
                &written[..at],
                &written[at + 1 + old_tag.len()..]
            )
        }),
        EntryForm::Mapping => written.find(&old.to_string()).map(|at| {
            format!(
                "{}{version}{}",
                &written[..at],
                &written[at + old.to_string().len()..]
            )
        }),
    }
    .ok_or_else(|| {
        UpdateError::Edit(format!(
            "cannot find the version of {name} in `{written}`; edit provisioning.yaml by hand"
        ))
    })?;
    write_entry(workspace, entry.kind, name, &replaced)
        .map_err(|e| UpdateError::Edit(e.to_string()))?;
    Ok(())
}
