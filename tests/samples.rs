//! The bundled sample extensions under `assets/samples/` are exactly what the scaffolder makes
//! from `inventory.yaml` (versions, dependencies) and `catalog.yaml` (descriptions); run with
//! `PROVISIONING_REGENERATE_SAMPLES=1` to rewrite them after changing either or a template.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use provisioning::extension::manifest::{self, ExtensionType};
use provisioning::extension::range::VersionRange;
use provisioning::extension::scaffold::{self, ScaffoldError, ScaffoldSpec};
use serde_yaml::Value;

const TYPE_DIRS: [(&str, ExtensionType); 3] = [
    ("providers", ExtensionType::Provider),
    ("taskservs", ExtensionType::Taskserv),
    ("clusters", ExtensionType::Cluster),
];

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples")
}

fn read_yaml(name: &str) -> Value {
    let path = samples_dir().join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, found {value:?}"))
        .to_string()
}

/// Every extension version of the inventory, with its place under `assets/samples/`.
fn sample_specs() -> Vec<(PathBuf, ScaffoldSpec)> {
    provisioning::extension::samples::specs().expect("the embedded inventory and catalog are valid")
}

/// Relative path → (contents, executable) of every file under `root`.
fn tree(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, bool)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, bool)>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("readable directory").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let executable = is_executable(&path);
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                out.insert(
                    relative,
                    (fs::read(&path).expect("readable file"), executable),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    for (plural, _) in TYPE_DIRS {
        walk(root, &root.join(plural), &mut out);
    }
    out
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("stat").permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

#[test]
fn samples_are_what_the_scaffolder_generates() {
    let specs = sample_specs();
    let samples = samples_dir();

    if std::env::var("PROVISIONING_REGENERATE_SAMPLES").as_deref() == Ok("1") {
        for (plural, _) in TYPE_DIRS {
            match fs::remove_dir_all(samples.join(plural)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{plural}: {e}"),
                _ => {}
            }
        }
        for (relative, spec) in &specs {
            scaffold::generate_into(spec, &samples.join(relative))
                .unwrap_or_else(|e| panic!("{}: {e}", relative.display()));
        }
        eprintln!("regenerated {} samples", specs.len());
        return;
    }

    let generated = tempfile::tempdir().expect("temp dir");
    for (relative, spec) in &specs {
        scaffold::generate_into(spec, &generated.path().join(relative))
            .unwrap_or_else(|e| panic!("{}: {e}", relative.display()));
    }
    let expected = tree(generated.path());
    let actual = tree(&samples);
    let hint =
        "run `PROVISIONING_REGENERATE_SAMPLES=1 cargo test --test samples` and commit the result";

    let missing: Vec<_> = expected
        .keys()
        .filter(|p| !actual.contains_key(*p))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|p| !expected.contains_key(*p))
        .collect();
    assert!(missing.is_empty(), "missing samples: {missing:?}; {hint}");
    assert!(
        extra.is_empty(),
        "samples nothing generates: {extra:?}; {hint}"
    );
    for (path, (contents, executable)) in &expected {
        let (found, found_executable) = &actual[path];
        assert!(
            found == contents,
            "{} differs from what the scaffolder writes; {hint}",
            path.display()
        );
        assert_eq!(
            found_executable,
            executable,
            "{}: executable bit differs",
            path.display()
        );
    }
    assert!(specs.len() >= 50, "only {} sample versions", specs.len());
}

#[test]
fn every_sample_manifest_parses_and_matches_the_inventory() {
    for (relative, spec) in sample_specs() {
        let path = samples_dir().join(&relative).join("manifest.yaml");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (manifest, diagnostics) =
            manifest::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            diagnostics.is_empty(),
            "{}: {diagnostics:?}",
            path.display()
        );
        assert_eq!(manifest.name, spec.name);
        assert_eq!(manifest.kind, spec.kind);
        assert_eq!(manifest.version, spec.version);
        assert_eq!(manifest.description, spec.description);
        assert_eq!(manifest.homepage, spec.homepage);
        assert_eq!(manifest.tags, spec.tags);
        assert_eq!(
            manifest.min_provisioning_version,
            spec.min_provisioning_version
        );
        let names: Vec<&str> = manifest
            .dependencies
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        let wanted: Vec<&str> = spec.dependencies.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, wanted, "{}", path.display());
        for ((name, range), (_, written)) in manifest.dependencies.iter().zip(&spec.dependencies) {
            let written: VersionRange = written.parse().expect("inventory ranges parse");
            assert_eq!(*range, written, "{}: dependency {name}", path.display());
        }
    }
}

#[test]
fn sample_workspace_is_the_inventorys_and_only_names_samples() {
    let inventory = read_yaml("inventory.yaml");
    let workspace = read_yaml("workspace/config/provisioning.yaml");
    let wanted = &inventory["sample_workspace"];
    let deps = &workspace["dependencies"];
    assert_eq!(
        text(&deps["core"]["source"]),
        format!("oci://localhost:5000/{}", text(&wanted["core"]))
    );
    let extensions = &deps["extensions"];
    assert_eq!(text(&extensions["source_type"]), "oci");
    assert_eq!(text(&extensions["oci"]["registry"]), "localhost:5000");
    assert_eq!(
        text(&extensions["oci"]["namespace"]),
        "provisioning-extensions"
    );
    assert_eq!(extensions["oci"]["tls_enabled"].as_bool(), Some(false));
    assert_eq!(text(&workspace["registry"]["type"]), "oci");
    assert_eq!(
        text(&workspace["registry"]["oci"]["endpoint"]),
        "localhost:5000"
    );
    for (plural, _) in TYPE_DIRS {
        let modules: Vec<String> = extensions["modules"][plural]
            .as_sequence()
            .unwrap_or_else(|| panic!("no {plural} modules"))
            .iter()
            .map(text)
            .collect();
        let expected: Vec<String> = wanted[plural]
            .as_sequence()
            .unwrap_or_else(|| panic!("sample_workspace has no {plural}"))
            .iter()
            .map(|m| format!("oci://localhost:5000/provisioning-extensions/{}", text(m)))
            .collect();
        assert_eq!(modules, expected);
        for module in wanted[plural].as_sequence().into_iter().flatten() {
            let module = text(module);
            let (name, version) = module.split_once(':').expect("name:version");
            let dir = samples_dir().join(plural).join(name).join(version);
            assert!(dir.join("manifest.yaml").is_file(), "no sample {module}");
        }
    }
}

/// Whether `dir` (a checkout beside this repository) is there. When it is not, prints
/// `skipped: <shown> not present` and returns false, or panics when `PROVISIONING_TEST_PEERS=1`
/// demands the peers (as [`common::require_peer`] does for binaries).
fn require_beside(dir: &Path, shown: &str) -> bool {
    if dir.is_dir() {
        return true;
    }
    if std::env::var("PROVISIONING_TEST_PEERS").as_deref() == Ok("1") {
        panic!("{shown} not present, and PROVISIONING_TEST_PEERS=1 requires it");
    }
    eprintln!("skipped: {shown} not present");
    false
}

/// The committed inventory is a copy of the shared fixture; when the fixture is beside the
/// repository, they must not drift apart.
#[test]
fn inventory_matches_the_shared_fixture_when_present() {
    let shared_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if !require_beside(&shared_dir, "../shared") {
        return;
    }
    let fixture = shared_dir.join("fixtures/extensions.yaml");
    let shared =
        fs::read_to_string(&fixture).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    let copy = fs::read_to_string(samples_dir().join("inventory.yaml")).expect("inventory.yaml");
    assert!(
        shared == copy,
        "assets/samples/inventory.yaml differs from {}; copy it and regenerate the samples",
        fixture.display()
    );
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry").path())
        .collect();
    found.sort();
    found
}

#[test]
fn generate_refuses_invalid_names_before_writing() {
    let dir = tempfile::tempdir().expect("temp dir");
    for bad in ["Bad_Name", "a/b", ".."] {
        let spec = ScaffoldSpec::new(ExtensionType::Taskserv, bad);
        let result = scaffold::generate(&spec, dir.path());
        assert!(
            matches!(result, Err(ScaffoldError::InvalidName { .. })),
            "{bad}: {result:?}"
        );
        assert!(
            entries(dir.path()).is_empty(),
            "{bad}: something was written"
        );
    }
}

#[test]
fn generate_refuses_an_existing_non_empty_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let existing = dir.path().join("redis");
    fs::create_dir(&existing).expect("mkdir");
    fs::write(existing.join("notes.txt"), "mine").expect("write");

    let spec = ScaffoldSpec::new(ExtensionType::Taskserv, "redis");
    let result = scaffold::generate(&spec, dir.path());
    assert!(
        matches!(&result, Err(ScaffoldError::Exists { path }) if *path == existing),
        "{result:?}"
    );
    assert_eq!(entries(dir.path()), vec![existing.clone()]);
    assert_eq!(entries(&existing), vec![existing.join("notes.txt")]);
    assert_eq!(
        fs::read_to_string(existing.join("notes.txt")).expect("read"),
        "mine"
    );
}

#[test]
fn generate_writes_the_seed_layout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = ScaffoldSpec::new(ExtensionType::Taskserv, "redis");
    let written = scaffold::generate(&spec, dir.path()).expect("generate");
    let root = dir.path().join("redis");
    for expected in [
        "manifest.yaml",
        "schemas/manifest.toml",
        "schemas/redis.ncl",
        "schemas/version.ncl",
        "schemas/dependencies.ncl",
        "scripts/install.nu",
        "scripts/check.nu",
        "scripts/uninstall.nu",
        "docs/README.md",
        "tests/check_test.nu",
    ] {
        assert!(written.contains(&PathBuf::from(expected)), "{expected}");
        assert!(root.join(expected).is_file(), "{expected}");
    }
    assert!(
        written
            .iter()
            .any(|p| p.starts_with("templates") && p.extension().is_some_and(|e| e == "j2"))
    );
    assert!(is_executable(&root.join("scripts/install.nu")) || cfg!(not(unix)));
    assert!(!is_executable(&root.join("manifest.yaml")));
    manifest::load(&root.join("manifest.yaml")).expect("generated manifest parses");
}
