//! Export: artifacts and their referrers, through the verified cache, into a layout.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::*;
use crate::oci::cache::{BlobCache, REF_NAME};
use crate::oci::client::{Descriptor, OciError, Registries, Result};
use crate::oci::copy::signature_tag;
use crate::oci::manifest::ManifestView;
use crate::oci::media_type;
use crate::oci::progress::Progress;
use crate::oci::{Digest, Reference};

struct Exporter<'a> {
    registries: &'a Registries,
    cache: &'a BlobCache,
    progress: &'a Progress,
    root: PathBuf,
    written: HashSet<Digest>,
    /// Manifests exported as a signature tag (not asked for signatures of their own).
    signatures: HashSet<Digest>,
    entries: Vec<Value>,
    report: ExportReport,
}

/// Writes `references` (with everything they point at and their referrers) to `dest`: an OCI
/// image layout directory, or a tar of one when `dest` ends in `.tar`. `dest` must not exist.
pub async fn export(
    registries: &Registries,
    cache: &BlobCache,
    references: &[Reference],
    dest: &Path,
    progress: &Progress,
) -> Result<ExportReport> {
    if dest.exists() {
        return Err(io_err(
            dest,
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists; export writes a new layout",
            ),
        ));
    }
    let staging = temp_sibling(dest)?;
    let root = staging.path().join("layout");
    fs::create_dir_all(root.join("blobs/sha256")).map_err(|e| io_err(&root, e))?;
    let mut exporter = Exporter {
        registries,
        cache,
        progress,
        root: root.clone(),
        written: HashSet::new(),
        signatures: HashSet::new(),
        entries: vec![],
        report: ExportReport::default(),
    };
    for reference in references {
        exporter.export_reference(reference).await?;
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": exporter.entries,
    });
    let write = |name: &str, bytes: Vec<u8>| {
        let path = root.join(name);
        fs::write(&path, bytes).map_err(|e| io_err(&path, e))
    };
    write(
        "oci-layout",
        serde_json::to_vec(&json!({"imageLayoutVersion": "1.0.0"})).expect("json"),
    )?;
    write("index.json", serde_json::to_vec(&index).expect("json"))?;
    let mut report = exporter.report;
    if is_tar(dest) {
        let tar_path = staging.path().join("layout.tar");
        let (root2, tar2) = (root.clone(), tar_path.clone());
        tokio::task::spawn_blocking(move || write_tar(&root2, &tar2))
            .await
            .map_err(|e| OciError::Config(format!("writing the tar failed: {e}")))?
            .map_err(|e| io_err(&tar_path, e))?;
        fs::rename(&tar_path, dest).map_err(|e| io_err(dest, e))?;
    } else {
        fs::rename(&root, dest).map_err(|e| io_err(dest, e))?;
    }
    report.path = dest.to_path_buf();
    Ok(report)
}

impl Exporter<'_> {
    async fn export_reference(&mut self, reference: &Reference) -> Result<()> {
        let client = self.registries.client(&reference.registry);
        let repo = reference.repository.clone();
        let fetched = client.manifest(&repo, &reference.target()).await?;
        let digest = self
            .export_manifest(&reference.registry, &repo, fetched)
            .await?;
        let descriptor = self.descriptor_of(&digest)?;
        let mut entry = descriptor;
        // A reference pinned by digest keeps its tag (a lock's `name:tag@digest`): the tag is
        // written for the digest actually fetched, never for whatever the tag points at now.
        let name = match &reference.tag {
            Some(tag) => {
                entry["annotations"] = json!({ REF_NAME: format!("{repo}:{tag}") });
                format!("{repo}:{tag}")
            }
            _ => {
                entry["annotations"] = json!({ REPOSITORY: repo });
                format!("{repo}@{digest}")
            }
        };
        self.entries.push(entry);
        self.report.exported.push(name);
        Ok(())
    }

    /// The `index.json` descriptor of a manifest already written.
    fn descriptor_of(&self, digest: &Digest) -> Result<Value> {
        let path = blob_path(&self.root, digest);
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        let view: Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(&path, format!("manifest is not JSON: {e}")))?;
        let media_type = view["mediaType"]
            .as_str()
            .unwrap_or(media_type::OCI_MANIFEST)
            .to_string();
        let mut entry = json!({
            "mediaType": media_type,
            "digest": digest.to_string(),
            "size": bytes.len(),
        });
        if let Some(t) = view["artifactType"].as_str() {
            entry["artifactType"] = json!(t);
        }
        Ok(entry)
    }

    /// Writes one manifest with its blobs, children and referrers; returns its digest.
    async fn export_manifest(
        &mut self,
        registry: &str,
        repo: &str,
        fetched: crate::oci::client::FetchedManifest,
    ) -> Result<Digest> {
        let client = self.registries.client(registry);
        let digest = fetched.digest.clone();
        if self.written.contains(&digest) {
            return Ok(digest);
        }
        if !digest.matches(&fetched.bytes) {
            return Err(OciError::DigestMismatch {
                registry: registry.to_string(),
                what: format!("manifest {repo}@{digest}"),
                expected: digest.clone(),
                actual: Digest::sha256_of(&fetched.bytes),
            });
        }
        let view = ManifestView::parse(&fetched.bytes, &fetched.media_type).map_err(|e| {
            OciError::Protocol {
                registry: registry.to_string(),
                message: format!("manifest {digest} is not valid JSON: {e}"),
            }
        })?;
        if view.is_index() {
            for child in &view.manifests {
                let child_fetched = client.manifest(repo, &child.digest.to_string()).await?;
                Box::pin(self.export_manifest(registry, repo, child_fetched)).await?;
            }
        } else {
            let fresh: Vec<Descriptor> = view
                .blobs()
                .into_iter()
                .filter(|b| self.written.insert(b.digest.clone()))
                .cloned()
                .collect();
            let concurrency = self.registries.options().concurrency.max(1);
            let (this, client) = (&*self, &client);
            let sizes: Vec<u64> = futures_util::stream::iter(fresh.iter())
                .map(|blob| this.export_blob(client, repo, blob))
                .buffer_unordered(concurrency)
                .try_collect()
                .await?;
            self.report.blobs += sizes.len();
            self.report.bytes += sizes.iter().sum::<u64>();
        }
        let path = blob_path(&self.root, &digest);
        fs::create_dir_all(path.parent().expect("parent")).map_err(|e| io_err(&path, e))?;
        fs::write(&path, &fetched.bytes).map_err(|e| io_err(&path, e))?;
        self.written.insert(digest.clone());
        self.report.manifests += 1;
        self.report.bytes += fetched.bytes.len() as u64;
        for referrer in client.referrers(repo, &digest, None).await? {
            if self.written.contains(&referrer.digest) {
                continue;
            }
            let referrer_fetched = client.manifest(repo, &referrer.digest.to_string()).await?;
            let d = Box::pin(self.export_manifest(registry, repo, referrer_fetched)).await?;
            let mut entry = self.descriptor_of(&d)?;
            entry["annotations"] = json!({ REPOSITORY: repo });
            self.entries.push(entry);
            self.report.referrers += 1;
        }
        // Cosign keeps a signature under the tag `sha256-<hex>.sig`, not as a referrer.
        if !self.signatures.contains(&digest) {
            let tag = signature_tag(&digest);
            if let Some(signature) = client.manifest_digest(repo, &tag).await?
                && !self.written.contains(&signature)
            {
                self.signatures.insert(signature.clone());
                let fetched = client.manifest(repo, &signature.to_string()).await?;
                let d = Box::pin(self.export_manifest(registry, repo, fetched)).await?;
                let mut entry = self.descriptor_of(&d)?;
                entry["annotations"] = json!({ REF_NAME: format!("{repo}:{tag}") });
                self.entries.push(entry);
                self.report.signatures += 1;
            }
        }
        Ok(digest)
    }

    /// Fetches one blob through the cache into the layout, verified there; its size.
    async fn export_blob(
        &self,
        client: &crate::oci::client::RegistryClient,
        repo: &str,
        blob: &Descriptor,
    ) -> Result<u64> {
        let registry = client.registry();
        let cached = self.cache.fetch(client, repo, blob, self.progress).await?;
        let path = blob_path(&self.root, &blob.digest);
        fs::create_dir_all(path.parent().expect("parent")).map_err(|e| io_err(&path, e))?;
        // A hard link costs nothing; the cache's blobs are never rewritten in place (they are
        // renamed over), so the layout's copy cannot change under it.
        if fs::hard_link(&cached, &path).is_err() {
            let (from, to) = (cached.clone(), path.clone());
            tokio::task::spawn_blocking(move || fs::copy(&from, &to))
                .await
                .map_err(|e| OciError::Config(format!("copying a blob failed: {e}")))?
                .map_err(|e| io_err(&path, e))?;
        }
        // The cache verified it; check the layout's file once more where it now lives.
        let (p, d) = (path.clone(), blob.digest.clone());
        let (size, actual) = tokio::task::spawn_blocking(move || hash_file(&p, &d))
            .await
            .map_err(|e| OciError::Config(format!("hashing a blob failed: {e}")))?
            .map_err(|e| io_err(&path, e))?;
        if actual != blob.digest || size != blob.size {
            return Err(OciError::DigestMismatch {
                registry: registry.to_string(),
                what: format!("blob {repo}@{}", blob.digest),
                expected: blob.digest.clone(),
                actual,
            });
        }
        Ok(blob.size)
    }
}
