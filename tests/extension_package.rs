//! `oci package`: the same tree gives the same bytes whatever its mtimes, permission bits (beyond
//! the exec bit) and the packager's umask; trees holding what cannot be packaged are refused
//! by name; the package's `oci-manifest.json` describes its files exactly, and GNU tar sees
//! sorted members with mtime 0 and owner 0/0.

mod common;
use common::extension_fixtures;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::TestRegistry;
use common::cli::*;
use common::{assert_failure, assert_success, exit, text};
use extension_fixtures::*;
use serde_json::Value;

const KUBERNETES: &str = "taskservs/kubernetes/1.28.0";

/// Sets the mtime of everything under `dir` (the dir included) with `touch -d`.
fn touch_all(dir: &Path, date: &str) {
    let status = Command::new("find")
        .arg(dir)
        .args(["-exec", "touch", "-h", "-d", date, "{}", "+"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Sets every file's mode to `plain` or `exec` (by its exec bit) and every dir's to `dirs`.
fn chmod_all(dir: &Path, plain: u32, exec: u32, dirs: u32) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            chmod_all(&path, plain, exec, dirs);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(dirs)).unwrap();
        } else {
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                exec
            } else {
                plain
            };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// Sets every file's mtime with `File::set_modified`, a different one per file.
fn scatter_mtimes(dir: &Path, base: SystemTime) {
    let mut n = 0u64;
    for (relative, _) in read_tree(dir) {
        n += 1;
        let file = std::fs::File::options()
            .append(true)
            .open(dir.join(relative))
            .unwrap();
        file.set_modified(base + Duration::from_secs(n * 3_607))
            .unwrap();
    }
}

fn package(cli: &Cli, dir: &Path, output: &Path) -> Output {
    cli.run_sync(&[
        "oci",
        "package",
        dir.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ])
}

fn validate(cli: &Cli, dir: &Path) -> Output {
    cli.run_sync(&["oci", "package", "validate", dir.to_str().unwrap()])
}

async fn push_json(cli: &Cli, host: &str, namespace: &str, dir: &Path) -> Value {
    let args = [
        "oci",
        "--registry",
        host,
        "--namespace",
        namespace,
        "--plain-http",
        "--no-progress",
        "push",
        dir.to_str().unwrap(),
        "kubernetes",
        "1.28.0",
        "--output",
        "json",
    ];
    let output = cli.run(&args).await;
    assert_success(&output);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The manifest bytes under `repo:tag`, fetched directly.
async fn raw_manifest(host: &str, repo: &str, tag: &str) -> Vec<u8> {
    let response = common::http_client()
        .get(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET manifest {repo}:{tag}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_tree_same_bytes_whatever_mtimes_modes_and_umask() {
    let cli = Cli::new();
    let a = cli.path("a/kubernetes");
    let b = cli.path("b/kubernetes");
    copy_tree(&sample(KUBERNETES), &a);
    copy_tree(&sample(KUBERNETES), &b);
    touch_all(&a, "2001-02-03 04:05:06");
    chmod_all(&a, 0o644, 0o755, 0o755);
    scatter_mtimes(
        &b,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000),
    );
    chmod_all(&b, 0o600, 0o700, 0o700);
    // The exec bits agree, the rest differs.
    for relative in read_tree(&a).keys() {
        let mode_a = std::fs::metadata(a.join(relative))
            .unwrap()
            .permissions()
            .mode();
        let mode_b = std::fs::metadata(b.join(relative))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode_a & 0o100, mode_b & 0o100, "{relative}");
        assert_ne!(mode_a & 0o777, mode_b & 0o777, "{relative}");
    }
    assert!(
        std::fs::metadata(a.join("scripts/install.nu"))
            .unwrap()
            .permissions()
            .mode()
            & 0o100
            != 0,
        "the sample has executable scripts"
    );

    let tar_a = cli.path("cwd/a.tar.gz");
    let tar_b = cli.path("cwd/b.tar.gz");
    let out = package(&cli, &a, &tar_a);
    assert_success(&out);
    let args = [
        "oci",
        "package",
        b.to_str().unwrap(),
        "-o",
        tar_b.to_str().unwrap(),
    ];
    let out = wait(
        cli.command_with_umask("077", &args),
        "umask 077; oci package b",
    );
    assert_success(&out);
    let bytes_a = std::fs::read(&tar_a).unwrap();
    let bytes_b = std::fs::read(&tar_b).unwrap();
    assert!(!bytes_a.is_empty());
    assert!(
        bytes_a == bytes_b,
        "packages differ: {} vs {}",
        sha256_hex(&bytes_a),
        sha256_hex(&bytes_b)
    );
    // The gzip header has no timestamp.
    assert_eq!(
        &bytes_a[..4],
        &[0x1f, 0x8b, 8, 0],
        "gzip magic, deflate, no flags"
    );
    assert_eq!(&bytes_a[4..8], &[0, 0, 0, 0], "gzip mtime is 0");

    // Pushed to two registries under two namespaces, the manifests are the same bytes.
    let first = TestRegistry::start().await;
    let second = TestRegistry::start().await;
    let pushed_a = push_json(&cli, &first.host(), "ext", &a).await;
    let args_b = [
        "oci",
        "--registry",
        &second.host(),
        "--namespace",
        "mirror/team",
        "--plain-http",
        "--no-progress",
        "push",
        b.to_str().unwrap(),
        "kubernetes",
        "1.28.0",
        "--output",
        "json",
    ]
    .map(str::to_string);
    let args_b: Vec<&str> = args_b.iter().map(String::as_str).collect();
    let out = wait(
        cli.command_with_umask("077", &args_b),
        "umask 077; oci push b",
    );
    assert_success(&out);
    let pushed_b: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pushed_a["result"]["status"], "published", "{pushed_a}");
    assert_eq!(pushed_b["result"]["status"], "published", "{pushed_b}");
    let digest_a = pushed_a["result"]["digest"].as_str().unwrap();
    let digest_b = pushed_b["result"]["digest"].as_str().unwrap();
    assert_eq!(digest_a, digest_b, "same content, same manifest digest");

    let manifest_a = raw_manifest(&first.host(), "ext/kubernetes", "1.28.0").await;
    let manifest_b = raw_manifest(&second.host(), "mirror/team/kubernetes", "1.28.0").await;
    assert_eq!(manifest_a, manifest_b);
    assert_eq!(format!("sha256:{}", sha256_hex(&manifest_a)), digest_a);
    // Its one layer is the package `oci package` wrote.
    let manifest: Value = serde_json::from_slice(&manifest_a).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(
        layers[0]["digest"],
        format!("sha256:{}", sha256_hex(&bytes_a)),
        "{manifest}"
    );
    assert_eq!(layers[0]["size"], bytes_a.len() as u64);
    first.stop().await;
    second.stop().await;
}

/// A scaffolded taskserv `demo` under a fresh home.
fn scaffolded() -> (Cli, PathBuf) {
    let cli = Cli::new();
    let parent = cli.path("src");
    let dir = cli.scaffold("taskserv", "demo", &parent);
    (cli, dir)
}

/// Validation and packaging both refuse; stderr is returned.
fn refused(cli: &Cli, dir: &Path) -> String {
    let out = validate(cli, dir);
    assert_failure(&out, exit::FAILURE, "error");
    let stderr = text(&out.stderr);
    let target = cli.path("cwd/refused.tar.gz");
    let out = package(cli, dir, &target);
    assert_failure(&out, exit::FAILURE, "error");
    assert!(!target.exists(), "no package is written");
    let leftovers: Vec<String> = all_paths(&cli.path("cwd"));
    assert!(leftovers.is_empty(), "nothing left behind: {leftovers:?}");
    stderr
}

#[test]
fn a_symlink_pointing_outside_is_refused() {
    let (cli, dir) = scaffolded();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("templates/passwd")).unwrap();
    std::os::unix::fs::symlink("../../outside.txt", dir.join("templates/climb")).unwrap();
    let stderr = refused(&cli, &dir);
    let passwd = dir.join("templates/passwd").display().to_string();
    let climb = dir.join("templates/climb").display().to_string();
    assert!(stderr.contains(&format!("{passwd}: error:")), "{stderr}");
    assert!(stderr.contains(&format!("{climb}: error:")), "{stderr}");
    assert!(stderr.contains("outside"), "{stderr}");
    assert!(stderr.contains("/etc/passwd"), "{stderr}");
}

#[test]
fn a_symlink_inside_the_tree_is_packaged_and_indexed() {
    let (cli, dir) = scaffolded();
    std::os::unix::fs::symlink("../docs/README.md", dir.join("templates/readme")).unwrap();
    let target = cli.path("cwd/demo.tar.gz");
    let out = package(&cli, &dir, &target);
    assert_success(&out);
    let index = index_of(&target);
    let link = index["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "templates/readme")
        .unwrap_or_else(|| panic!("link not indexed: {index}"));
    assert_eq!(link["link"], "../docs/README.md", "{link}");
    assert_eq!(link["sha256"], sha256_hex(b"../docs/README.md"), "{link}");
}

#[test]
fn a_fifo_is_refused() {
    let (cli, dir) = scaffolded();
    let fifo = dir.join("templates/pipe");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let stderr = refused(&cli, &dir);
    assert!(
        stderr.contains(&format!("{}: error:", fifo.display())),
        "{stderr}"
    );
    assert!(stderr.contains("fifo"), "{stderr}");
}

#[test]
fn a_missing_required_file_is_refused_by_name() {
    let (cli, dir) = scaffolded();
    std::fs::remove_file(dir.join("scripts/check.nu")).unwrap();
    std::fs::remove_file(dir.join("schemas/demo.ncl")).unwrap();
    let stderr = refused(&cli, &dir);
    assert!(stderr.contains("needs scripts/check.nu"), "{stderr}");
    assert!(stderr.contains("needs schemas/demo.ncl"), "{stderr}");
}

#[test]
fn a_toml_error_is_refused_with_line_and_column() {
    let (cli, dir) = scaffolded();
    let toml = dir.join("schemas/manifest.toml");
    std::fs::write(&toml, "[package]\nname = \"demo\"\nversion = \n").unwrap();
    let stderr = refused(&cli, &dir);
    assert!(
        stderr.contains(&format!("{}:3:11: error: not valid TOML", toml.display())),
        "{stderr}"
    );
}

#[test]
fn an_index_file_in_the_tree_is_refused() {
    let (cli, dir) = scaffolded();
    std::fs::write(dir.join("oci-manifest.json"), "{}").unwrap();
    let stderr = refused(&cli, &dir);
    assert!(
        stderr.contains(&format!(
            "{}: error:",
            dir.join("oci-manifest.json").display()
        )),
        "{stderr}"
    );
}

#[test]
fn every_problem_of_a_tree_is_reported_at_once() {
    let (cli, dir) = scaffolded();
    std::os::unix::fs::symlink("/etc", dir.join("docs/etc")).unwrap();
    let status = Command::new("mkfifo")
        .arg(dir.join("docs/pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(dir.join("scripts/uninstall.nu")).unwrap();
    std::fs::write(dir.join("oci-manifest.json"), "{}").unwrap();
    let stderr = refused(&cli, &dir);
    for needle in [
        "docs/etc: error:",
        "docs/pipe: error:",
        "needs scripts/uninstall.nu",
        "oci-manifest.json: error:",
    ] {
        assert!(stderr.contains(needle), "missing `{needle}`:\n{stderr}");
    }
}

/// `oci-manifest.json` from a package.
fn index_of(package: &Path) -> Value {
    let out = Command::new("tar")
        .arg("-xzOf")
        .arg(package)
        .arg("oci-manifest.json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_index_lists_every_file_with_size_mode_and_hash() {
    let cli = Cli::new();
    let src = cli.path("src/kubernetes");
    copy_tree(&sample(KUBERNETES), &src);
    let target = cli.path("cwd/k.tar.gz");
    assert_success(&package(&cli, &src, &target));
    let index = index_of(&target);
    assert_eq!(index["name"], "kubernetes");
    assert_eq!(index["version"], "1.28.0");
    assert_eq!(index["type"], "taskserv");
    let files = index["files"].as_array().unwrap();
    let tree = read_tree(&src);
    let listed: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    let expected: Vec<&str> = tree.keys().map(String::as_str).collect();
    assert_eq!(listed, expected, "every file, sorted, nothing else");
    for file in files {
        let path = file["path"].as_str().unwrap();
        let bytes = &tree[path];
        assert_eq!(file["size"], bytes.len() as u64, "{path}");
        assert_eq!(file["sha256"], sha256_hex(bytes), "{path}");
        let executable = std::fs::metadata(src.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o111
            != 0;
        assert_eq!(
            file["mode"],
            if executable { "0755" } else { "0644" },
            "{path}"
        );
    }
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "scripts/install.nu" && f["mode"] == "0755"),
        "{index}"
    );
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "manifest.yaml" && f["mode"] == "0644"),
        "{index}"
    );
}

#[test]
fn gnu_tar_sees_sorted_members_mtime_zero_owner_root() {
    let cli = Cli::new();
    let src = cli.path("src/kubernetes");
    copy_tree(&sample(KUBERNETES), &src);
    let target = cli.path("cwd/k.tar.gz");
    assert_success(&package(&cli, &src, &target));

    let listing = Command::new("tar")
        .env("TZ", "UTC")
        .args(["--numeric-owner", "--full-time", "-tzvf"])
        .arg(&target)
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", text(&listing.stderr));
    let listing = text(&listing.stdout);
    let mut members = Vec::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 6, "one member per line: {line}");
        let (perms, owner, size, date, time, name) = (
            fields[0], fields[1], fields[2], fields[3], fields[4], fields[5],
        );
        assert_eq!(owner, "0/0", "{line}");
        assert_eq!((date, time), ("1970-01-01", "00:00:00"), "{line}");
        if let Some(dir) = name.strip_suffix('/') {
            assert_eq!(perms, "drwxr-xr-x", "{line}");
            assert!(src.join(dir).is_dir(), "{line}");
        } else if name == "oci-manifest.json" {
            assert_eq!(perms, "-rw-r--r--", "{line}");
        } else {
            let meta = std::fs::metadata(src.join(name)).unwrap();
            assert_eq!(size.parse::<u64>().unwrap(), meta.len(), "{line}");
            let expected = if meta.permissions().mode() & 0o111 != 0 {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            };
            assert_eq!(perms, expected, "{line}");
        }
        members.push(name.to_string());
    }
    // Every directory and file of the tree, depth first with names sorted, then the index.
    fn depth_first(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut children: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        for child in children {
            let relative = child.strip_prefix(root).unwrap().display().to_string();
            if child.is_dir() {
                out.push(format!("{relative}/"));
                depth_first(root, &child, out);
            } else {
                out.push(relative);
            }
        }
    }
    let mut expected = Vec::new();
    depth_first(&src, &src, &mut expected);
    expected.push("oci-manifest.json".into());
    assert_eq!(members, expected, "{listing}");

    // Unpacked by GNU tar, the content is the tree's plus the index.
    let unpacked = cli.path("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(&target)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut got: BTreeMap<String, Vec<u8>> = read_tree(&unpacked);
    let index = got.remove("oci-manifest.json").expect("the index is there");
    assert_eq!(got, read_tree(&src));
    let index: Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(index, index_of(&target));

    // gzip agrees the stream is sound.
    let out = Command::new("gzip")
        .arg("-t")
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
