//! Publish pane, guided: pick or generate an extension → validate → package → choose target
//! and version → push with progress → verify by reading it back → the line for a workspace.

mod keys;
mod view;

pub use keys::Ask;

use std::path::{Path, PathBuf};

use crate::extension::artifact;
use crate::oci::browse::{Inspection, TagEntry};
use crate::oci::reference::tag_to_version;
use crate::oci::{Digest, Reference};
use crate::tui::worker::{JobId, PackageSummary, Request, ValidationSummary};

use super::LoadState;
use crate::tui::view::GeometryCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Pick,
    Validate,
    Package,
    Target,
    Push,
    Verify,
    Done,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Pick,
        Step::Validate,
        Step::Package,
        Step::Target,
        Step::Push,
        Step::Verify,
        Step::Done,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Step::Pick => "pick",
            Step::Validate => "validate",
            Step::Package => "package",
            Step::Target => "target",
            Step::Push => "push",
            Step::Verify => "verify",
            Step::Done => "done",
        }
    }
}

/// An entry of the file picker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickerEntry {
    pub name: String,
    pub path: PathBuf,
    /// Holds a manifest.yaml.
    pub extension: bool,
}

pub struct PublishPane {
    pub step: Step,
    pub root: PathBuf,
    pub cwd: PathBuf,
    pub entries: Vec<PickerEntry>,
    pub selected: usize,
    pub dir: Option<PathBuf>,
    pub validation: LoadState,
    pub summary: Option<ValidationSummary>,
    pub problems: Vec<String>,
    pub package: Option<PackageSummary>,
    pub package_state: LoadState,
    pub registry: String,
    pub namespace: String,
    pub existing: Vec<TagEntry>,
    pub existing_state: LoadState,
    /// The registry's digest for the manifest's version, when it has one.
    pub existing_digest: Option<Digest>,
    /// The registry's manifest for the manifest's version, when it has one: its config and
    /// layer decide whether the content differs.
    pub existing_manifest: Option<Box<Inspection>>,
    pub push_job: Option<JobId>,
    pub push_result: Option<Result<String, String>>,
    pub verified: Option<Result<Digest, String>>,
    pub geometry: GeometryCell,
    /// The last extension `w` sent to the Workspace pane: its repository and version.
    pub added: Option<(Reference, Option<String>)>,
}

impl PublishPane {
    pub fn new(root: PathBuf, registry: String, namespace: String) -> PublishPane {
        let mut pane = PublishPane {
            step: Step::Pick,
            cwd: root.clone(),
            root,
            entries: Vec::new(),
            selected: 0,
            dir: None,
            validation: LoadState::Idle,
            summary: None,
            problems: Vec::new(),
            package: None,
            package_state: LoadState::Idle,
            registry,
            namespace,
            existing: Vec::new(),
            existing_state: LoadState::Idle,
            existing_digest: None,
            existing_manifest: None,
            push_job: None,
            push_result: None,
            verified: None,
            geometry: GeometryCell::default(),
            added: None,
        };
        pane.read_dir();
        pane
    }

    /// Lists the picker's directory (directories only; extensions marked).
    pub fn read_dir(&mut self) {
        let mut entries: Vec<PickerEntry> = std::fs::read_dir(&self.cwd)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| {
                        let name = e.file_name().to_str()?.to_string();
                        (!name.starts_with('.')).then(|| PickerEntry {
                            extension: e.path().join("manifest.yaml").is_file(),
                            path: e.path(),
                            name,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        self.entries = entries;
        self.selected = 0;
    }

    pub fn move_by(&mut self, delta: isize) {
        if !self.entries.is_empty() {
            self.selected =
                (self.selected as isize + delta).clamp(0, self.entries.len() as isize - 1) as usize;
        }
    }

    /// Enter in the picker: an extension is chosen, another directory is opened.
    pub fn open(&mut self) -> Option<Request> {
        let entry = self.entries.get(self.selected)?.clone();
        if entry.extension {
            Some(self.choose(entry.path))
        } else {
            self.cwd = entry.path;
            self.read_dir();
            None
        }
    }

    /// Back in the picker: up a directory, never above the root.
    pub fn up(&mut self) -> bool {
        if self.step != Step::Pick {
            self.step = Step::Pick;
            return true;
        }
        match self.cwd.parent() {
            Some(parent) if self.cwd != self.root && parent.starts_with(&self.root) => {
                let previous = self.cwd.clone();
                self.cwd = parent.to_path_buf();
                self.read_dir();
                self.selected = self
                    .entries
                    .iter()
                    .position(|e| e.path == previous)
                    .unwrap_or(0);
                true
            }
            _ => false,
        }
    }

    /// Starts the flow on `dir`.
    pub fn choose(&mut self, dir: PathBuf) -> Request {
        self.dir = Some(dir.clone());
        self.step = Step::Validate;
        self.validation = LoadState::Loading;
        self.summary = None;
        self.problems.clear();
        self.package = None;
        self.package_state = LoadState::Idle;
        self.push_job = None;
        self.push_result = None;
        self.verified = None;
        self.existing_digest = None;
        self.existing_manifest = None;
        Request::Validate { dir }
    }

    pub fn revalidate(&mut self) -> Option<Request> {
        let dir = self.dir.clone()?;
        Some(self.choose(dir))
    }

    /// The reference this extension publishes to.
    pub fn target(&self) -> Option<Reference> {
        let summary = self.summary.as_ref()?;
        Some(crate::extension::publish::target_reference(
            &crate::oci::ReferenceDefaults {
                registry: self.registry.clone(),
                namespace: self.namespace.clone(),
            },
            &summary.name,
            &summary.version,
        ))
    }

    /// Next patch, minor and major after the newest version in the registry (or the manifest's
    /// version when that is newer).
    pub fn suggestions(&self) -> Vec<(&'static str, semver::Version)> {
        let newest = self
            .existing
            .iter()
            .filter_map(|t| tag_to_version(&t.tag))
            .max()
            .into_iter()
            .chain(self.summary.as_ref().map(|s| s.version.clone()))
            .max();
        let Some(v) = newest else {
            return Vec::new();
        };
        vec![
            ("patch", semver::Version::new(v.major, v.minor, v.patch + 1)),
            ("minor", semver::Version::new(v.major, v.minor + 1, 0)),
            ("major", semver::Version::new(v.major + 1, 0, 0)),
        ]
    }

    /// The registry's answer about the manifest's version.
    pub fn on_existing(&mut self, found: Option<Box<Inspection>>) {
        self.existing_digest = found.as_ref().map(|i| i.digest.clone());
        self.existing_manifest = found;
    }

    /// Whether the manifest's version is in the registry with other content. The content is
    /// the config and the package layer: a re-pack that differs only in its `created`
    /// timestamp (another manifest digest) is the same content, and pushing it is a no-op.
    pub fn version_conflict(&self) -> bool {
        match (&self.existing_manifest, &self.package) {
            (Some(existing), Some(package)) => {
                !artifact::same_content(&manifest_bytes(existing), &package.artifact)
            }
            _ => false,
        }
    }

    /// Whether the manifest's version is already in the registry.
    pub fn version_exists(&self) -> bool {
        let Some(summary) = &self.summary else {
            return false;
        };
        self.existing
            .iter()
            .any(|t| tag_to_version(&t.tag).as_ref() == Some(&summary.version))
    }

    /// The line to add under `modules.<type>s` in provisioning.yaml.
    pub fn workspace_line(&self) -> Option<String> {
        let target = self.target()?;
        let kind = self.summary.as_ref()?.kind.clone();
        Some(format!("{kind}s:\n  - \"oci://{target}\""))
    }
}

/// The parts of a registry's manifest that [`artifact::same_content`] reads, written back as
/// manifest JSON from the inspection the worker returned.
fn manifest_bytes(inspection: &Inspection) -> Vec<u8> {
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": inspection.media_type,
        "config": inspection.config,
        "layers": inspection.layers,
    });
    if let Some(kind) = &inspection.artifact_type {
        manifest["artifactType"] = serde_json::Value::String(kind.clone());
    }
    serde_json::to_vec(&manifest).unwrap_or_default()
}

/// Rewrites the `version:` line of a manifest.yaml, keeping everything else.
pub fn set_manifest_version(dir: &Path, version: &semver::Version) -> std::io::Result<()> {
    let path = dir.join("manifest.yaml");
    let text = std::fs::read_to_string(&path)?;
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !found && line.starts_with("version:") {
                found = true;
                format!("version: {version}")
            } else {
                line.to_string()
            }
        })
        .collect();
    if !found {
        return Err(std::io::Error::other(
            "manifest.yaml has no top-level `version:` line",
        ));
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, out)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::extension::artifact::ExtensionArtifact;
    use crate::extension::package::{ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, CONTENT_MEDIA_TYPE};
    use crate::oci::client::Descriptor;

    fn descriptor(media_type: &str, text: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: Digest::sha256_of(text.as_bytes()),
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    fn package() -> PackageSummary {
        let layer = descriptor(CONTENT_MEDIA_TYPE, "content", 5_321);
        PackageSummary {
            files: 3,
            size: layer.size,
            digest: layer.digest.clone(),
            manifest_digest: Digest::sha256_of(b"manifest created now"),
            name: "redis".into(),
            version: semver::Version::new(0, 1, 0),
            artifact: Box::new(ExtensionArtifact {
                config: b"{}".to_vec(),
                config_digest: Digest::sha256_of(b"config"),
                layer,
                manifest: b"{}".to_vec(),
                digest: Digest::sha256_of(b"manifest created now"),
            }),
        }
    }

    /// The registry's manifest of the version, created at another time, with `content`.
    fn registry_manifest(content: &str) -> Box<Inspection> {
        Box::new(Inspection {
            reference: "registry.example:5000/team/redis:0.1.0".into(),
            digest: Digest::sha256_of(b"manifest created yesterday"),
            media_type: crate::oci::media_type::OCI_MANIFEST.into(),
            artifact_type: Some(ARTIFACT_TYPE.into()),
            size: 6_000,
            annotations: BTreeMap::from([(
                "org.opencontainers.image.created".to_string(),
                "2024-01-01T00:00:00Z".to_string(),
            )]),
            config: Some(descriptor(CONFIG_MEDIA_TYPE, "config", 2)),
            config_content: None,
            layers: vec![descriptor(CONTENT_MEDIA_TYPE, content, 5_321)],
            manifests: Vec::new(),
            subject: None,
            referrers: Vec::new(),
        })
    }

    fn pane() -> PublishPane {
        let mut pane = PublishPane::new(
            std::env::temp_dir().join("no-such-publish-root"),
            "registry.example:5000".into(),
            "team".into(),
        );
        pane.package = Some(package());
        pane
    }

    #[test]
    fn a_repack_with_another_timestamp_is_no_conflict() {
        let mut pane = pane();
        pane.on_existing(Some(registry_manifest("content")));
        assert_ne!(
            pane.existing_digest.as_ref(),
            Some(&package().manifest_digest),
            "the manifests differ"
        );
        assert!(!pane.version_conflict(), "the content is the same");
    }

    #[test]
    fn other_content_under_the_version_is_a_conflict() {
        let mut pane = pane();
        pane.on_existing(Some(registry_manifest("other content")));
        assert!(pane.version_conflict());
        pane.on_existing(None);
        assert!(!pane.version_conflict(), "a version not published");
    }
}
