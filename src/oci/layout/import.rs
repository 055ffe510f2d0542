//! Import: a layout checked whole, then pushed into a registry, skipping what it has.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::*;
use crate::oci::Digest;
use crate::oci::cache::REF_NAME;
use crate::oci::client::{Descriptor, MAX_MANIFEST_BYTES, OciError, Registries, Result};
use crate::oci::manifest::ManifestView;
use crate::oci::progress::{Outcome, Progress, TransferEvent};

/// One manifest of the layout, checked.
struct Checked {
    media_type: String,
    bytes: Vec<u8>,
    view: ManifestView,
}

/// What to push: each entry of `index.json` with the repository and reference it goes to.
struct Planned {
    descriptor: Descriptor,
    repository: String,
    /// A tag, or empty for the manifest's digest.
    tag: String,
}

struct Importer<'a> {
    root: PathBuf,
    client: crate::oci::client::RegistryClient,
    progress: &'a Progress,
    manifests: BTreeMap<Digest, Checked>,
    blobs: BTreeMap<Digest, u64>,
    /// `(repository, digest)` already handled.
    done: HashSet<(String, Digest)>,
    concurrency: usize,
    report: ImportReport,
}

/// Pushes the layout at `source` (a directory, or a tar of one) into `target`.
pub async fn import(
    registries: &Registries,
    source: &Path,
    target: &ImportTarget,
    progress: &Progress,
) -> Result<ImportReport> {
    let _unpacked;
    let root = if source.is_file() {
        let dir = TempDir::new_in(&std::env::temp_dir(), "import")?;
        let (s, d) = (source.to_path_buf(), dir.path().to_path_buf());
        tokio::task::spawn_blocking(move || unpack_tar(&s, &d))
            .await
            .map_err(|e| OciError::Config(format!("unpacking failed: {e}")))??;
        let root = dir.path().to_path_buf();
        _unpacked = dir;
        root
    } else {
        source.to_path_buf()
    };
    let index_path = root.join("index.json");
    if !root.join("oci-layout").is_file() || !index_path.is_file() {
        return Err(bad(
            source,
            "not an OCI image layout (oci-layout and index.json expected)",
        ));
    }
    let index: Value =
        serde_json::from_slice(&fs::read(&index_path).map_err(|e| io_err(&index_path, e))?)
            .map_err(|e| bad(&index_path, format!("not JSON: {e}")))?;
    let entries: Vec<Descriptor> = serde_json::from_value(index["manifests"].clone())
        .map_err(|e| bad(&index_path, format!("bad manifests list: {e}")))?;
    let mut plan = vec![];
    for descriptor in entries {
        let ref_name = descriptor.annotations.get(REF_NAME).cloned();
        let own_repo = descriptor.annotations.get(REPOSITORY).cloned();
        let (repository, tag) = match (ref_name, own_repo) {
            (Some(name), _) => match name.rsplit_once(':') {
                Some((repo, tag)) if !repo.is_empty() && !tag.contains('/') => {
                    (Some(repo.to_string()), tag.to_string())
                }
                _ => (None, name),
            },
            (None, repo) => (repo, String::new()),
        };
        let repository = match (repository, &target.repository) {
            (_, Some(forced)) => forced.clone(),
            (Some(repo), None) => rename_namespace(&repo, target.namespace.as_deref()),
            (None, None) => {
                return Err(OciError::Config(format!(
                    "{}: the entry {} names no repository (a bare tag, as skopeo writes); pass --repository REPO",
                    index_path.display(),
                    descriptor.digest
                )));
            }
        };
        crate::oci::validate_repository(&repository)
            .map_err(|e| bad(&index_path, format!("repository {repository}: {e}")))?;
        if !tag.is_empty() {
            crate::oci::validate_tag(&tag)
                .map_err(|e| bad(&index_path, format!("tag {tag}: {e}")))?;
        }
        plan.push(Planned {
            descriptor,
            repository,
            tag,
        });
    }
    let mut importer = Importer {
        root,
        client: registries.client(&target.registry),
        progress,
        manifests: BTreeMap::new(),
        blobs: BTreeMap::new(),
        done: HashSet::new(),
        concurrency: registries.options().concurrency.max(1),
        report: ImportReport::default(),
    };
    // Tagged entries first: a referrer goes in after its subject.
    plan.sort_by_key(|p| p.tag.is_empty());
    // Check everything before pushing anything.
    for planned in &plan {
        importer.check_manifest(&planned.descriptor).await?;
    }
    for planned in &plan {
        let digest = &planned.descriptor.digest;
        let repo = &planned.repository;
        let reference = if planned.tag.is_empty() {
            digest.to_string()
        } else {
            planned.tag.clone()
        };
        let present = importer.client.manifest_digest(repo, &reference).await?;
        if present.as_ref() == Some(digest) {
            importer.report.manifests_skipped += 1;
            importer.progress.emit(TransferEvent::Finished {
                digest: digest.clone(),
                outcome: Outcome::AlreadyPresent,
            });
        } else {
            importer.push_manifest(repo, digest, &reference).await?;
        }
        importer.report.imported.push(if planned.tag.is_empty() {
            format!("{}/{repo}@{digest}", target.registry)
        } else {
            format!("{}/{repo}:{}", target.registry, planned.tag)
        });
    }
    Ok(importer.report)
}

/// `ns/sub/name` with namespace `other` → `other/name`; without one, unchanged.
pub fn rename_namespace(repository: &str, namespace: Option<&str>) -> String {
    match namespace {
        None => repository.to_string(),
        Some(ns) => {
            let name = repository.rsplit('/').next().unwrap_or(repository);
            let ns = ns.trim_matches('/');
            if ns.is_empty() {
                name.to_string()
            } else {
                format!("{ns}/{name}")
            }
        }
    }
}

impl Importer<'_> {
    /// Checks a blob file: present, of the declared size, hashing to its digest.
    async fn check_blob(&mut self, descriptor: &Descriptor) -> Result<()> {
        if self.blobs.contains_key(&descriptor.digest) {
            return Ok(());
        }
        let path = blob_path(&self.root, &descriptor.digest);
        if !path.is_file() {
            return Err(bad(
                &self.root,
                format!("blob {} is missing from the layout", descriptor.digest),
            ));
        }
        let (p, d) = (path.clone(), descriptor.digest.clone());
        let (size, actual) = tokio::task::spawn_blocking(move || hash_file(&p, &d))
            .await
            .map_err(|e| OciError::Config(format!("hashing failed: {e}")))?
            .map_err(|e| io_err(&path, e))?;
        if actual != descriptor.digest {
            return Err(bad(
                &path,
                format!(
                    "blob hashes to {actual}, not {}; the layout is damaged",
                    descriptor.digest
                ),
            ));
        }
        if size != descriptor.size {
            return Err(bad(
                &path,
                format!(
                    "blob {} is {size} bytes, the manifest says {}",
                    descriptor.digest, descriptor.size
                ),
            ));
        }
        self.blobs.insert(descriptor.digest.clone(), size);
        Ok(())
    }

    async fn check_manifest(&mut self, descriptor: &Descriptor) -> Result<()> {
        if self.manifests.contains_key(&descriptor.digest) {
            return Ok(());
        }
        if descriptor.size > MAX_MANIFEST_BYTES {
            return Err(bad(
                &self.root,
                format!("manifest {} is too large", descriptor.digest),
            ));
        }
        self.check_blob(descriptor).await?;
        let path = blob_path(&self.root, &descriptor.digest);
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        let media_type = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| descriptor.media_type.clone());
        let view = ManifestView::parse(&bytes, &media_type)
            .map_err(|e| bad(&path, format!("manifest is not valid: {e}")))?;
        if view.is_index() {
            for child in view.manifests.clone() {
                Box::pin(self.check_manifest(&child)).await?;
            }
        } else {
            for blob in view.blobs() {
                let blob = blob.clone();
                self.check_blob(&blob).await?;
            }
        }
        self.manifests.insert(
            descriptor.digest.clone(),
            Checked {
                media_type,
                bytes,
                view,
            },
        );
        Ok(())
    }

    /// Pushes a checked manifest (children and blobs first) under `reference`.
    async fn push_manifest(&mut self, repo: &str, digest: &Digest, reference: &str) -> Result<()> {
        let key = (repo.to_string(), digest.clone());
        let (media_type, bytes, view) = {
            let checked = self.manifests.get(digest).expect("checked before pushing");
            (
                checked.media_type.clone(),
                checked.bytes.clone(),
                checked.view.clone(),
            )
        };
        if !self.done.contains(&key) {
            if view.is_index() {
                for child in &view.manifests {
                    let d = child.digest.to_string();
                    if self.client.manifest_digest(repo, &d).await?.as_ref() == Some(&child.digest)
                    {
                        self.report.manifests_skipped += 1;
                        continue;
                    }
                    Box::pin(self.push_manifest(repo, &child.digest, &d)).await?;
                }
            } else {
                let concurrency = self.concurrency;
                let this = &*self;
                let pushed: Vec<bool> = futures_util::stream::iter(view.blobs())
                    .map(|blob| this.push_blob(repo, blob))
                    .buffer_unordered(concurrency)
                    .try_collect()
                    .await?;
                let sent = pushed.iter().filter(|p| **p).count();
                self.report.blobs_pushed += sent;
                self.report.blobs_skipped += pushed.len() - sent;
            }
        }
        let pushed = self
            .client
            .push_manifest(repo, reference, &media_type, &bytes)
            .await?;
        if pushed.digest != *digest {
            return Err(OciError::DigestMismatch {
                registry: self.client.registry().to_string(),
                what: format!("manifest {repo}:{reference}"),
                expected: digest.clone(),
                actual: pushed.digest,
            });
        }
        if let Some(subject) = &view.subject
            && !pushed.subject_indexed
        {
            let descriptor = Descriptor {
                media_type: media_type.clone(),
                digest: digest.clone(),
                size: bytes.len() as u64,
                artifact_type: view.artifact_type().map(str::to_string),
                annotations: view.annotations.clone(),
                platform: None,
            };
            self.client
                .add_to_referrers_tag(repo, &subject.digest, &descriptor)
                .await?;
        }
        self.done.insert(key);
        self.report.manifests_pushed += 1;
        Ok(())
    }

    /// Uploads one blob unless the target has it; whether it was sent.
    async fn push_blob(&self, repo: &str, blob: &Descriptor) -> Result<bool> {
        if self.client.blob_size(repo, &blob.digest).await? == Some(blob.size) {
            self.progress.emit(TransferEvent::Finished {
                digest: blob.digest.clone(),
                outcome: Outcome::AlreadyPresent,
            });
            return Ok(false);
        }
        let path = blob_path(&self.root, &blob.digest);
        self.client
            .upload_blob(repo, blob, &path, self.progress)
            .await?;
        Ok(true)
    }
}
