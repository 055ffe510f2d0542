//! An extension from scaffold to registry and back: `generate extension`, `oci package
//! validate`, `oci package`, `oci push`, `oci pull`, against the embedded registry and Debian's
//! distribution; pushing again is a no-op, other content under the same version is a conflict
//! unless forced; skopeo copies keep the digest; hostile extension artifacts are refused on pull
//! with nothing written.

mod common;

use common::extension_fixtures;
use common::oci_fixtures;
use common::skopeo;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::TestRegistry;
use common::cli::*;
use common::distribution::{Distribution, DistributionOptions};
use common::faults::{FaultProxy, SeenRequest};
use common::{assert_failure, assert_success, exit, text};
use extension_fixtures::*;
use oci_fixtures::{Artifact, EXTENSION_CONFIG, EXTENSION_TYPE, TITLE, Workbench, blob};
use serde_json::{Value, json};

const CONTENT: &str = "application/vnd.provisioning.extension.content.v1.tar+gzip";

/// A scaffolded taskserv `demo` 0.1.0 under `cli`'s home.
fn scaffold_demo(cli: &Cli) -> PathBuf {
    cli.scaffold("taskserv", "demo", &cli.path("src"))
}

fn dir_arg(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

/// `oci-manifest.json` of a package, read with GNU tar.
fn index_of(package: &Path) -> Vec<u8> {
    let out = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(package)
        .arg("oci-manifest.json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    out.stdout
}

/// Scaffold → validate → package → push → pull against `host`; returns the pushed digest.
async fn roundtrip(cli: &Cli, host: &str) -> String {
    let dir = scaffold_demo(cli);
    let validated = cli
        .run(&["oci", "package", "validate", dir_arg(&dir)])
        .await;
    assert_success(&validated);
    assert!(
        text(&validated.stdout).contains("taskserv demo 0.1.0 is valid"),
        "{}",
        text(&validated.stdout)
    );
    let package = cli.path("cwd/demo-0.1.0.tar.gz");
    let packaged = cli
        .run(&[
            "oci",
            "package",
            dir_arg(&dir),
            "-o",
            package.to_str().unwrap(),
        ])
        .await;
    assert_success(&packaged);

    let pushed = cli
        .oci_json(host, &["push", dir_arg(&dir), "demo", "0.1.0"])
        .await;
    assert_eq!(pushed["result"]["status"], "published", "{pushed}");
    assert_eq!(pushed["reference"], format!("{host}/ext/demo:0.1.0"));
    let digest = pushed["result"]["digest"].as_str().unwrap().to_string();

    let out = cli.path("out");
    let pulled = cli
        .oci_json(host, &["pull", "demo:0.1.0", "-o", out.to_str().unwrap()])
        .await;
    assert_eq!(pulled["digest"], digest, "{pulled}");
    assert_eq!(pulled["name"], "demo");
    assert_eq!(pulled["version"], "0.1.0");
    let mut got = read_tree(&out);
    let index = got
        .remove("oci-manifest.json")
        .expect("the pull writes oci-manifest.json");
    let source = read_tree(&dir);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>()
    );
    assert!(got == source, "pulled files are byte-identical");
    assert_eq!(pulled["files"], source.len());
    assert_eq!(index, index_of(&package), "the package's own index");
    for script in ["scripts/install.nu", "scripts/check.nu"] {
        let mode = std::fs::metadata(out.join(script))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o100 != 0, "{script} stays executable ({mode:o})");
    }
    digest
}

/// skopeo copies `ext/demo:0.1.0` into a layout and from there to `ext/other:0.1.0`; the
/// manifest digest is unchanged, and our pull of the copy verifies.
async fn skopeo_keeps_the_digest(cli: &Cli, host: &str, digest: &str) {
    if !common::require_peer("skopeo") {
        return;
    }
    let layout = cli.path("layout");
    let layout_ref = format!("oci:{}:x", layout.display());
    skopeo(vec![
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{host}/ext/demo:0.1.0"),
        layout_ref.clone(),
    ])
    .await;
    skopeo(vec![
        "copy".into(),
        "--dest-tls-verify=false".into(),
        layout_ref,
        format!("docker://{host}/ext/other:0.1.0"),
    ])
    .await;
    let raw = skopeo(vec![
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!("docker://{host}/ext/other:0.1.0"),
    ])
    .await;
    assert_eq!(format!("sha256:{}", sha256_hex(&raw)), digest);
    let out = cli.path("out-other");
    let pulled = cli
        .oci_json(host, &["pull", "other:0.1.0", "-o", out.to_str().unwrap()])
        .await;
    assert_eq!(pulled["digest"], digest, "{pulled}");
    assert_eq!(read_tree(&out), read_tree(&cli.path("out")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaffold_to_pull_on_the_embedded_registry() {
    let registry = TestRegistry::start().await;
    let cli = Cli::new();
    let digest = roundtrip(&cli, &registry.host()).await;
    skopeo_keeps_the_digest(&cli, &registry.host(), &digest).await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaffold_to_pull_on_distribution() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let cli = Cli::new();
    let digest = roundtrip(&cli, &distribution.host).await;
    skopeo_keeps_the_digest(&cli, &distribution.host, &digest).await;
}

fn writes(seen: &[SeenRequest]) -> Vec<String> {
    seen.iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn blob_requests(seen: &[SeenRequest]) -> Vec<String> {
    seen.iter()
        .filter(|r| r.path.contains("/blobs/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_again_conflicts_and_force() {
    let registry = TestRegistry::start().await;
    let proxy = FaultProxy::start(&registry.url).await;
    let host = proxy.host.clone();
    let cli = Cli::new();
    let dir = scaffold_demo(&cli);

    let first = cli
        .oci_json(&host, &["push", dir_arg(&dir), "demo", "0.1.0"])
        .await;
    assert_eq!(first["result"]["status"], "published", "{first}");
    let first_digest = first["result"]["digest"].as_str().unwrap().to_string();
    assert!(
        !blob_requests(&proxy.seen()).is_empty(),
        "the first push uploads"
    );

    // The same content again: nothing is uploaded.
    proxy.clear_seen();
    let again = cli
        .oci_ok(&host, &["push", dir_arg(&dir), "demo", "0.1.0"])
        .await;
    assert!(again.contains("already published"), "{again}");
    assert!(again.contains(&first_digest), "{again}");
    let seen = proxy.seen();
    assert!(writes(&seen).is_empty(), "no writes: {:?}", writes(&seen));
    assert!(
        blob_requests(&seen).is_empty(),
        "no blob requests: {:?}",
        blob_requests(&seen)
    );
    assert!(
        seen.iter().any(|r| r.path.contains("/manifests/0.1.0")),
        "{seen:?}"
    );

    // Other content under the same version: refused, naming both digests.
    std::fs::write(
        dir.join("docs/README.md"),
        "# demo\n\nChanged after 0.1.0.\n",
    )
    .unwrap();
    proxy.clear_seen();
    let conflict = cli
        .oci(&host, &["push", dir_arg(&dir), "demo", "0.1.0"])
        .await;
    assert_failure(
        &conflict,
        exit::CONFLICT,
        "already exists with other content",
    );
    let stderr = text(&conflict.stderr);
    assert!(stderr.contains(&first_digest), "{stderr}");
    let local = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("local:"))
        .unwrap_or_else(|| panic!("no local digest in:\n{stderr}"))
        .trim()
        .to_string();
    assert!(
        local.starts_with("sha256:") && local != first_digest,
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    let seen = proxy.seen();
    assert!(
        writes(&seen).is_empty(),
        "a conflict writes nothing: {seen:?}"
    );

    // --force replaces it.
    let forced = cli
        .oci_json(&host, &["push", dir_arg(&dir), "demo", "0.1.0", "--force"])
        .await;
    assert_eq!(forced["result"]["status"], "replaced", "{forced}");
    assert_eq!(forced["result"]["previous"], first_digest, "{forced}");
    assert_eq!(forced["result"]["digest"], local, "{forced}");
    let out = cli.path("out");
    let pulled = cli
        .oci_json(&host, &["pull", "demo:0.1.0", "-o", out.to_str().unwrap()])
        .await;
    assert_eq!(pulled["digest"], local);
    assert_eq!(
        std::fs::read_to_string(out.join("docs/README.md")).unwrap(),
        "# demo\n\nChanged after 0.1.0.\n"
    );

    // NAME or VERSION not matching the manifest: refused before any request.
    proxy.clear_seen();
    for (name, version, needle) in [
        ("other", "0.1.0", "`other`"),
        ("demo", "0.2.0", "0.2.0"),
        ("demo", "0.1", "0.1"),
    ] {
        let refused = cli
            .oci(&host, &["push", dir_arg(&dir), name, version])
            .await;
        assert_failure(&refused, exit::FAILURE, needle);
        let stderr = text(&refused.stderr);
        assert!(stderr.contains("manifest.yaml"), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }
    assert!(
        proxy.seen().is_empty(),
        "no request for a mismatch: {:?}",
        proxy.seen()
    );
    registry.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Hostile artifacts.

/// A tar entry written with raw header fields, so names the builder refuses get through.
struct Raw {
    name: String,
    kind: tar::EntryType,
    data: Vec<u8>,
    link: Option<String>,
    /// Listed in `oci-manifest.json`.
    indexed: bool,
    /// The hash the index claims, when it should lie.
    claimed_sha: Option<String>,
}

impl Raw {
    fn file(name: &str, data: &[u8]) -> Raw {
        Raw {
            name: name.into(),
            kind: tar::EntryType::Regular,
            data: data.to_vec(),
            link: None,
            indexed: true,
            claimed_sha: None,
        }
    }

    fn link(name: &str, kind: tar::EntryType, target: &str) -> Raw {
        Raw {
            name: name.into(),
            kind,
            data: Vec::new(),
            link: Some(target.into()),
            indexed: true,
            claimed_sha: None,
        }
    }

    fn special(name: &str, kind: tar::EntryType) -> Raw {
        Raw {
            name: name.into(),
            kind,
            data: Vec::new(),
            link: None,
            indexed: true,
            claimed_sha: None,
        }
    }

    fn unindexed(mut self) -> Raw {
        self.indexed = false;
        self
    }

    fn claiming(mut self, sha: &str) -> Raw {
        self.claimed_sha = Some(sha.into());
        self
    }

    fn mode(&self) -> u32 {
        if self.kind == tar::EntryType::Symlink {
            0o777
        } else {
            0o644
        }
    }

    fn header(&self) -> tar::Header {
        raw_header(
            &self.name,
            self.kind,
            self.data.len() as u64,
            self.mode(),
            self.link.as_deref(),
        )
    }

    fn index_entry(&self) -> Value {
        let sha = match (&self.claimed_sha, &self.link, self.kind) {
            (Some(sha), _, _) => sha.clone(),
            (None, Some(target), tar::EntryType::Symlink) => sha256_hex(target.as_bytes()),
            _ => sha256_hex(&self.data),
        };
        let mut entry = json!({
            "path": self.name,
            "size": self.data.len(),
            "mode": format!("{:04o}", self.mode()),
            "sha256": sha,
        });
        if self.kind == tar::EntryType::Symlink {
            entry["link"] = json!(self.link);
        }
        entry
    }
}

fn raw_header(
    name: &str,
    kind: tar::EntryType,
    size: u64,
    mode: u32,
    link: Option<&str>,
) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    if kind == tar::EntryType::Char {
        header.set_device_major(1).unwrap();
        header.set_device_minor(3).unwrap();
    }
    let old = header.as_old_mut();
    assert!(name.len() < 100, "{name}");
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        assert!(link.len() < 100, "{link}");
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_cksum();
    header
}

/// A package of `entries` followed by an `oci-manifest.json` listing the indexed ones.
fn hostile_package(entries: &[Raw]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for entry in entries {
        builder
            .append(&entry.header(), entry.data.as_slice())
            .unwrap();
    }
    let index = json!({
        "name": "evil",
        "version": "1.0.0",
        "type": "taskserv",
        "files": entries.iter().filter(|e| e.indexed).map(Raw::index_entry).collect::<Vec<_>>(),
    });
    let index = serde_json::to_vec_pretty(&index).unwrap();
    let header = raw_header(
        "oci-manifest.json",
        tar::EntryType::Regular,
        index.len() as u64,
        0o644,
        None,
    );
    builder.append(&header, index.as_slice()).unwrap();
    let mut encoder = builder.into_inner().unwrap();
    encoder.flush().unwrap();
    encoder.finish().unwrap()
}

/// A package whose one entry claims 2 GiB of zeros, streamed through the compressor.
fn bomb_package() -> Vec<u8> {
    const SIZE: u64 = 2 << 30;
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    let header = raw_header("bomb.bin", tar::EntryType::Regular, SIZE, 0o644, None);
    builder
        .append(&header, std::io::repeat(0).take(SIZE))
        .unwrap();
    let mut encoder = builder.into_inner().unwrap();
    encoder.flush().unwrap();
    encoder.finish().unwrap()
}

/// Pushes `package` as extension `ext/<repo>:1.0.0`, like any client could.
async fn push_hostile(bench: &Workbench, host: &str, repo: &str, package: Vec<u8>) {
    let config = serde_json::to_vec(&json!({
        "name": "evil",
        "type": "taskserv",
        "version": "1.0.0",
    }))
    .unwrap();
    let mut artifact = Artifact::new(
        blob(EXTENSION_CONFIG, &config, &[]),
        vec![blob(CONTENT, &package, &[(TITLE, "evil-1.0.0.tar.gz")])],
    );
    artifact.artifact_type = Some(EXTENSION_TYPE.to_string());
    artifact
        .push(
            &bench.client(host),
            &format!("ext/{repo}"),
            "1.0.0",
            &bench.scratch(),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_extensions_are_refused_with_nothing_written() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = Workbench::new();
    let cli = Cli::new();
    // Everything a pull could write lands under `root`: the output dir, its staging, and the
    // victims outside it.
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim.txt"), "untouched\n").unwrap();
    let outside_text = outside.display().to_string();
    let victim_text = outside.join("victim.txt").display().to_string();
    let before = all_paths(root.path());

    let readme = Raw::file("docs/README.md", b"# evil\n");
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "dotdot",
            hostile_package(&[
                Raw::file("../escape.txt", b"escaped\n"),
                readme_again(&readme),
            ]),
            vec!["escape.txt"],
        ),
        (
            "dotdot-deep",
            hostile_package(&[Raw::file("docs/../../../escape.txt", b"escaped\n")]),
            vec!["escape.txt"],
        ),
        (
            "absolute",
            hostile_package(&[Raw::file(&format!("{outside_text}/abs.txt"), b"absolute\n")]),
            vec!["abs.txt"],
        ),
        (
            "symlink-then-file",
            hostile_package(&[
                Raw::link("link", tar::EntryType::Symlink, &outside_text),
                Raw::file("link/through.txt", b"through the link\n"),
            ]),
            vec!["link"],
        ),
        (
            "relative-symlink-then-file",
            hostile_package(&[
                Raw::link("docs", tar::EntryType::Symlink, "../../outside"),
                Raw::file("docs/through.txt", b"through the link\n"),
            ]),
            vec!["docs"],
        ),
        (
            "hardlink-absolute",
            hostile_package(&[Raw::link("hard", tar::EntryType::Link, &victim_text)]),
            vec!["hard"],
        ),
        (
            "hardlink-climbing",
            hostile_package(&[Raw::link(
                "hard",
                tar::EntryType::Link,
                "../../outside/victim.txt",
            )]),
            vec!["hard"],
        ),
        (
            "device",
            hostile_package(&[Raw::special("null", tar::EntryType::Char)]),
            vec!["null"],
        ),
        (
            "fifo",
            hostile_package(&[Raw::special("pipe", tar::EntryType::Fifo)]),
            vec!["pipe"],
        ),
        (
            "bomb",
            tokio::task::spawn_blocking(bomb_package).await.unwrap(),
            vec!["limit"],
        ),
        (
            "content-mismatch",
            hostile_package(&[
                readme_again(&readme),
                Raw::file("scripts/install.nu", b"rm -rf /\n").claiming(&sha256_hex(b"echo ok\n!")),
            ]),
            vec!["scripts/install.nu", "does not match"],
        ),
        (
            "not-indexed",
            hostile_package(&[
                readme_again(&readme),
                Raw::file("scripts/extra.nu", b"surprise\n").unindexed(),
            ]),
            vec!["scripts/extra.nu", "not listed"],
        ),
        (
            "indexed-but-missing",
            {
                let mut ghost = Raw::file("scripts/ghost.nu", b"boo\n");
                ghost.indexed = true;
                hostile_package_with_ghost(&readme, &ghost)
            },
            vec!["scripts/ghost.nu", "missing"],
        ),
    ];
    let bomb_size = cases
        .iter()
        .find(|(name, _, _)| *name == "bomb")
        .map(|(_, bytes, _)| bytes.len())
        .unwrap();
    assert!(
        bomb_size < 8 << 20,
        "the bomb is small compressed ({bomb_size} bytes)"
    );

    let mut failures = Vec::new();
    for (name, package, needles) in cases {
        push_hostile(&bench, &host, name, package).await;
        let out = work.join("out");
        let args = [
            "pull",
            &format!("{name}:1.0.0"),
            "-o",
            out.to_str().unwrap(),
        ]
        .map(|s| s.to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let pulled = cli.oci(&host, &args).await;
        let stderr = text(&pulled.stderr);
        if pulled.status.code() != Some(exit::FAILURE) {
            failures.push(format!(
                "{name}: the pull should fail with exit code 1, got {}:\n{}{stderr}",
                pulled.status,
                text(&pulled.stdout)
            ));
        } else {
            for needle in &needles {
                if !stderr.contains(needle) {
                    failures.push(format!(
                        "{name}: the error does not mention `{needle}`:\n{stderr}"
                    ));
                }
            }
        }
        if out.exists() {
            failures.push(format!(
                "{name}: {} exists: {:?}",
                out.display(),
                all_paths(&out)
            ));
            let _ = std::fs::remove_dir_all(&out);
        }
        let after = all_paths(root.path());
        if after != before {
            failures.push(format!("{name}: the temp root changed: {after:?}"));
        }
        let victim = std::fs::read_to_string(outside.join("victim.txt")).unwrap_or_default();
        if victim != "untouched\n" {
            failures.push(format!("{name}: the victim file changed: {victim:?}"));
        }
        // Start each case from the same state.
        for path in all_paths(root.path()).iter().rev() {
            if !before.contains(path) {
                let full = root.path().join(path);
                let _ = std::fs::remove_file(&full).or_else(|_| std::fs::remove_dir(&full));
            }
        }
        std::fs::write(outside.join("victim.txt"), "untouched\n").unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // A well-formed package from the same kind of push does pull, so the refusals above are
    // about the content.
    push_hostile(
        &bench,
        &host,
        "fine",
        hostile_package(&[readme_again(&readme)]),
    )
    .await;
    let out = work.join("fine");
    cli.oci_ok(&host, &["pull", "fine:1.0.0", "-o", out.to_str().unwrap()])
        .await;
    let mut expected = BTreeMap::new();
    expected.insert("docs/README.md".to_string(), b"# evil\n".to_vec());
    let mut got = read_tree(&out);
    assert!(got.remove("oci-manifest.json").is_some());
    assert_eq!(got, expected);
    registry.stop().await;
}

fn readme_again(readme: &Raw) -> Raw {
    Raw::file(&readme.name, &readme.data)
}

/// A package whose index lists `ghost`, which the archive does not hold.
fn hostile_package_with_ghost(readme: &Raw, ghost: &Raw) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder
        .append(&readme.header(), readme.data.as_slice())
        .unwrap();
    let index = json!({
        "name": "evil",
        "version": "1.0.0",
        "type": "taskserv",
        "files": [readme.index_entry(), ghost.index_entry()],
    });
    let index = serde_json::to_vec_pretty(&index).unwrap();
    let header = raw_header(
        "oci-manifest.json",
        tar::EntryType::Regular,
        index.len() as u64,
        0o644,
        None,
    );
    builder.append(&header, index.as_slice()).unwrap();
    let mut encoder = builder.into_inner().unwrap();
    encoder.flush().unwrap();
    encoder.finish().unwrap()
}
