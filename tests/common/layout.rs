//! Writes OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/…`) with real
//! images: gzip'ed ustar layers, a config with matching diff_ids, manifests and an index.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    pub fn json(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size })
    }
}

/// An image manifest written into a layout.
#[derive(Clone, Debug)]
pub struct Image {
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub os: String,
    pub architecture: String,
}

/// An image index written into a layout.
#[derive(Clone, Debug)]
pub struct Index {
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub images: Vec<Image>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Builds a layout directory; `finish` writes `index.json`.
pub struct LayoutWriter {
    dir: PathBuf,
    entries: Vec<Value>,
}

impl LayoutWriter {
    pub fn create(dir: &Path) -> LayoutWriter {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        LayoutWriter {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
        }
    }

    /// Stores `bytes` as a blob.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> Descriptor {
        let hex = sha256_hex(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        Descriptor {
            media_type: media_type.to_string(),
            digest: format!("sha256:{hex}"),
            size: bytes.len() as u64,
        }
    }

    /// A three-layer image for `os`/`architecture`; `seed` varies the content (the first layer
    /// is the same for every seed, so images share it).
    pub fn image(&self, os: &str, architecture: &str, seed: u8) -> Image {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for n in 0..3u8 {
            let layer_seed = if n == 0 { 0 } else { seed.wrapping_mul(7) ^ n };
            let files = [
                (format!("layer{n}/"), None::<Vec<u8>>),
                (
                    format!("layer{n}/data-{layer_seed}.bin"),
                    Some(pseudo_random(layer_seed, 3000 + 1000 * n as usize)),
                ),
                (
                    format!("layer{n}/hello.txt"),
                    Some(format!("layer {n} of seed {layer_seed}\n").into_bytes()),
                ),
            ];
            let tar = ustar(&files);
            diff_ids.push(format!("sha256:{}", sha256_hex(&tar)));
            layers.push(self.blob(LAYER_GZIP, &gzip(&tar)));
        }
        let config = json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": architecture,
            "os": os,
            "config": { "Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"] },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": [
                { "created": "2024-01-01T00:00:00Z", "created_by": "layer 0" },
                { "created": "2024-01-01T00:00:00Z", "created_by": "layer 1" },
                { "created": "2024-01-01T00:00:00Z", "created_by": "layer 2" }
            ]
        });
        let config = self.blob(CONFIG, &serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.json(),
            "layers": layers.iter().map(Descriptor::json).collect::<Vec<_>>(),
            "annotations": { "org.opencontainers.image.title": format!("test {os}/{architecture}") }
        });
        // Pretty-printed: a registry that re-serializes would change these bytes.
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap();
        Image {
            manifest: self.blob(MANIFEST, &manifest_bytes),
            manifest_bytes,
            config,
            layers,
            os: os.to_string(),
            architecture: architecture.to_string(),
        }
    }

    /// An index of `images` with their platforms.
    pub fn index(&self, images: Vec<Image>) -> Index {
        let manifests: Vec<Value> = images
            .iter()
            .map(|image| {
                let mut d = image.manifest.json();
                d["platform"] = json!({ "architecture": image.architecture, "os": image.os });
                d
            })
            .collect();
        let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests });
        let manifest_bytes = serde_json::to_vec_pretty(&index).unwrap();
        Index {
            manifest: self.blob(INDEX, &manifest_bytes),
            manifest_bytes,
            images,
        }
    }

    /// Lists `descriptor` in `index.json` under the name `tag`.
    pub fn tag(&mut self, descriptor: &Descriptor, tag: &str) {
        let mut d = descriptor.json();
        d["annotations"] = json!({ REF_NAME: tag });
        self.entries.push(d);
    }

    pub fn finish(self) {
        let index = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": self.entries });
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

/// A layout holding one linux/amd64 image tagged `tag`.
pub fn write_image_layout(dir: &Path, tag: &str) -> Image {
    let mut layout = LayoutWriter::create(dir);
    let image = layout.image("linux", "amd64", 1);
    layout.tag(&image.manifest, tag);
    layout.finish();
    image
}

/// A layout holding an index of linux/amd64 and linux/arm64 images, tagged `tag`.
pub fn write_index_layout(dir: &Path, tag: &str) -> Index {
    let mut layout = LayoutWriter::create(dir);
    let amd64 = layout.image("linux", "amd64", 2);
    let arm64 = layout.image("linux", "arm64", 3);
    let index = layout.index(vec![amd64, arm64]);
    layout.tag(&index.manifest, tag);
    layout.finish();
    index
}

/// Every blob of a layout: file name (hex) to bytes.
pub fn blobs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        out.insert(
            entry.file_name().into_string().unwrap(),
            std::fs::read(entry.path()).unwrap(),
        );
    }
    out
}

/// The descriptor `index.json` lists under `tag`, and the bytes of that manifest.
pub fn tagged_manifest(dir: &Path, tag: &str) -> (Descriptor, Vec<u8>) {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"][REF_NAME] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {}/index.json: {index}", dir.display()));
    let descriptor = Descriptor {
        media_type: entry["mediaType"].as_str().unwrap().to_string(),
        digest: entry["digest"].as_str().unwrap().to_string(),
        size: entry["size"].as_u64().unwrap(),
    };
    let hex = descriptor.digest.strip_prefix("sha256:").unwrap();
    let bytes = std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap();
    (descriptor, bytes)
}

/// Deterministic bytes from `seed` (xorshift).
pub fn pseudo_random(seed: u8, len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ ((u64::from(seed) << 32) | 1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A ustar archive of `(path, content)` entries; `None` content is a directory.
pub fn ustar(entries: &[(String, Option<Vec<u8>>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, content) in entries {
        let mut header = [0u8; 512];
        assert!(path.len() < 100, "path too long for a plain ustar name");
        header[..path.len()].copy_from_slice(path.as_bytes());
        let (mode, size, typeflag) = match content {
            Some(c) => (0o644, c.len(), b'0'),
            None => (0o755, 0, b'5'),
        };
        octal(&mut header[100..108], mode);
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], size as u64);
        octal(&mut header[136..148], 1_704_067_200);
        header[156] = typeflag;
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[265..269].copy_from_slice(b"root");
        header[297..301].copy_from_slice(b"root");
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        if let Some(content) = content {
            out.extend_from_slice(content);
            out.resize(out.len().next_multiple_of(512), 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Writes `value` as zero-padded octal with a trailing NUL into `field`.
fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(text.as_bytes());
}

/// `gzip -n` of `bytes` (no name or time stamp, so the output is reproducible).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "gzip failed");
    output.stdout
}
