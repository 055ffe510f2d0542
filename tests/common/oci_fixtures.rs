//! Building and pushing OCI artifacts for client tests: blobs, manifests with titled layers,
//! tar+gzip directories, credentials and certificates for distribution.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use provisioning::oci::Digest;
use provisioning::oci::cache::BlobCache;
use provisioning::oci::client::{
    ClientOptions, Descriptor, Registries, RegistryClient, RetryPolicy,
};
use provisioning::oci::credentials::CredentialStore;
use provisioning::oci::progress::Progress;
use serde_json::{Value, json};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const EXTENSION_CONFIG: &str = "application/vnd.provisioning.extension.config.v1+json";
pub const EXTENSION_TYPE: &str = "application/vnd.provisioning.extension.v1";
pub const FILE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const TEXT_LAYER: &str = "text/plain";
pub const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const TITLE: &str = "org.opencontainers.image.title";
pub const UNPACK: &str = "io.deis.oras.content.unpack";
pub const DESCRIPTION: &str = "org.opencontainers.image.description";

pub const USER: &str = "deployer";
pub const PASSWORD: &str = "s3cret-horse-battery";

/// Bytes with their descriptor.
#[derive(Clone, Debug)]
pub struct Blob {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

/// A blob of `media_type` with optional annotations.
pub fn blob(media_type: &str, bytes: &[u8], annotations: &[(&str, &str)]) -> Blob {
    Blob {
        descriptor: Descriptor {
            media_type: media_type.to_string(),
            digest: Digest::sha256_of(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            platform: None,
        },
        bytes: bytes.to_vec(),
    }
}

/// A layer written as file `title`.
pub fn file_layer(title: &str, bytes: &[u8]) -> Blob {
    blob(TEXT_LAYER, bytes, &[(TITLE, title)])
}

/// An image manifest under construction.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub annotations: BTreeMap<String, String>,
    pub artifact_type: Option<String>,
    pub subject: Option<Descriptor>,
}

impl Artifact {
    pub fn new(config: Blob, layers: Vec<Blob>) -> Artifact {
        Artifact {
            config,
            layers,
            annotations: BTreeMap::new(),
            artifact_type: None,
            subject: None,
        }
    }

    /// An extension: a JSON config naming it and two titled files.
    pub fn extension(name: &str, version: &str, description: &str) -> Artifact {
        let config = serde_json::to_vec(
            &json!({ "name": name, "version": version, "description": description }),
        )
        .unwrap();
        Artifact::new(
            blob(EXTENSION_CONFIG, &config, &[]),
            vec![
                file_layer(
                    "manifest.yaml",
                    format!("name: {name}\nversion: {version}\n").as_bytes(),
                ),
                file_layer(
                    "scripts/install.sh",
                    format!("#!/bin/sh\necho installing {name} {version}\n").as_bytes(),
                ),
            ],
        )
    }

    pub fn annotate(mut self, key: &str, value: &str) -> Artifact {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }

    /// The manifest bytes (pretty-printed, so re-serialising registries would show).
    pub fn manifest_bytes(&self) -> Vec<u8> {
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.config.descriptor,
            "layers": self.layers.iter().map(|l| &l.descriptor).collect::<Vec<_>>(),
        });
        if let Some(t) = &self.artifact_type {
            manifest["artifactType"] = json!(t);
        }
        if let Some(s) = &self.subject {
            manifest["subject"] = json!(s);
        }
        if !self.annotations.is_empty() {
            manifest["annotations"] = json!(self.annotations);
        }
        serde_json::to_vec_pretty(&manifest).unwrap()
    }

    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.manifest_bytes())
    }

    pub fn descriptor(&self) -> Descriptor {
        let bytes = self.manifest_bytes();
        Descriptor {
            media_type: OCI_MANIFEST.to_string(),
            digest: Digest::sha256_of(&bytes),
            size: bytes.len() as u64,
            artifact_type: self.artifact_type.clone(),
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    pub fn blobs(&self) -> Vec<&Blob> {
        std::iter::once(&self.config)
            .chain(self.layers.iter())
            .collect()
    }

    /// Uploads the blobs from files under `scratch` and puts the manifest under `reference`.
    pub async fn push(
        &self,
        client: &RegistryClient,
        repo: &str,
        reference: &str,
        scratch: &Path,
    ) -> Digest {
        for blob in self.blobs() {
            upload(client, repo, blob, scratch).await;
        }
        let digest = client
            .put_manifest(repo, reference, OCI_MANIFEST, &self.manifest_bytes())
            .await
            .unwrap_or_else(|e| panic!("PUT manifest {repo}:{reference}: {e}"));
        assert_eq!(digest, self.digest());
        digest
    }
}

/// Uploads one blob with `upload_blob`, from a file written under `scratch`.
pub async fn upload(client: &RegistryClient, repo: &str, blob: &Blob, scratch: &Path) {
    std::fs::create_dir_all(scratch).unwrap();
    let path = scratch.join(blob.descriptor.digest.hex());
    std::fs::write(&path, &blob.bytes).unwrap();
    client
        .upload_blob(repo, &blob.descriptor, &path, &Progress::silent())
        .await
        .unwrap_or_else(|e| panic!("upload {} to {repo}: {e}", blob.descriptor.digest));
}

/// An index of `children` (descriptors with platforms).
pub fn index_bytes(children: &[(Descriptor, &str, &str)]) -> Vec<u8> {
    let manifests: Vec<Value> = children
        .iter()
        .map(|(d, os, arch)| {
            let mut v = json!(d);
            v["platform"] = json!({ "os": os, "architecture": arch });
            v
        })
        .collect();
    serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .unwrap()
}

/// An entry of a tar archive built for a test.
pub enum TarEntry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

/// A gzip-compressed tar of `entries`, written as given (links and paths unchecked).
pub fn tar_gz(entries: &[TarEntry]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_704_067_200);
        match entry {
            TarEntry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            TarEntry::File(path, bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, *bytes).unwrap();
            }
            TarEntry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    let mut encoder = builder.into_inner().unwrap();
    encoder.flush().unwrap();
    encoder.finish().unwrap()
}

/// A tar+gzip directory layer that oras-style clients unpack into `title`.
pub fn directory_layer(title: &str, entries: &[TarEntry]) -> Blob {
    blob(
        TAR_GZIP,
        &tar_gz(entries),
        &[(TITLE, title), (UNPACK, "true")],
    )
}

/// Client options for plain HTTP with a short retry policy.
pub fn plain_options() -> ClientOptions {
    ClientOptions {
        plain_http: true,
        retry: RetryPolicy {
            attempts: 5,
            base_delay: std::time::Duration::from_millis(50),
            max_delay: std::time::Duration::from_secs(1),
        },
        ..ClientOptions::default()
    }
}

/// Registries with credentials read only from `<dir>/config.json`.
pub fn registries_in(dir: &Path, options: ClientOptions) -> Registries {
    let store = CredentialStore::new(dir.join("config.json"), None, None);
    Registries::new(options, store).expect("registries")
}

/// A temp directory with a plain-HTTP `Registries`, a cache and scratch space.
pub struct Workbench {
    pub dir: tempfile::TempDir,
    pub registries: Registries,
    pub cache: BlobCache,
}

impl Workbench {
    pub fn new() -> Workbench {
        Workbench::with_options(plain_options())
    }

    pub fn with_options(options: ClientOptions) -> Workbench {
        let dir = tempfile::tempdir().unwrap();
        let registries = registries_in(dir.path(), options);
        let cache = BlobCache::open(dir.path().join("cache")).unwrap();
        Workbench {
            dir,
            registries,
            cache,
        }
    }

    pub fn client(&self, host: &str) -> RegistryClient {
        self.registries.client(host)
    }

    pub fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Writes a Docker config.json with a Basic `auths` entry for `registry`.
pub fn write_docker_config(path: &Path, registry: &str, user: &str, password: &str) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = json!({ "auths": { registry: { "auth": auth } } });
    std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// An htpasswd file with one bcrypt (`$2y$`, cost 4) entry for [`USER`].
pub fn write_htpasswd(dir: &Path) -> PathBuf {
    let hash = bcrypt::hash_with_result(PASSWORD, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    assert!(hash.starts_with("$2y$"), "{hash}");
    let path = dir.join("htpasswd");
    std::fs::write(&path, format!("{USER}:{hash}\n")).unwrap();
    path
}

/// Every file under `dir`, relative, sorted (empty when `dir` is missing).
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Names directly in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
