//! `manifest.yaml` problems as `oci package validate` reports them: every problem at once, each
//! placed `file:line:column`, errors failing the command and warnings not.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::cli::*;
use common::{assert_failure, assert_success, exit, text};

/// A scaffolded taskserv `demo` whose manifest is replaced by `manifest`.
struct Case {
    cli: Cli,
    dir: PathBuf,
}

impl Case {
    fn new(manifest: &str) -> Case {
        let cli = Cli::new();
        let parent = cli.path("src");
        let dir = cli.scaffold("taskserv", "demo", &parent);
        std::fs::write(dir.join("manifest.yaml"), manifest).unwrap();
        Case { cli, dir }
    }

    fn validate(&self) -> Output {
        self.cli
            .run_sync(&["oci", "package", "validate", self.dir.to_str().unwrap()])
    }

    fn manifest_path(&self) -> String {
        self.dir.join("manifest.yaml").display().to_string()
    }
}

/// Lines of `stderr` that start with `path:`, i.e. the diagnostics themselves.
fn diagnostics(stderr: &str, path: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with(&format!("{path}:")))
        .map(|l| l[path.len() + 1..].to_string())
        .collect()
}

fn assert_has(found: &[String], prefix: &str, words: &[&str], stderr: &str) {
    let hit = found.iter().find(|d| d.starts_with(prefix));
    let Some(hit) = hit else {
        panic!("no diagnostic starting `{prefix}`:\n{stderr}");
    };
    for word in words {
        assert!(hit.contains(word), "`{hit}` should mention `{word}`");
    }
}

#[test]
fn several_problems_are_reported_at_once_with_positions() {
    let case = Case::new(concat!(
        "type: taskserv\n",
        "version: 1.0\n",
        "description: many problems\n",
        "name: demo\n",
        "colour: blue\n",
        "dependencies:\n",
        "  etcd: \">>1\"\n",
        "  demo: \"*\"\n",
        "  Kube_rnetes: \"*\"\n",
    ));
    let output = case.validate();
    assert_failure(&output, exit::FAILURE, "error:");
    let stderr = text(&output.stderr);
    let found = diagnostics(&stderr, &case.manifest_path());
    // Bad semver, pointing at the value.
    assert_has(&found, "2:10: error:", &["version", "1.0"], &stderr);
    // Unknown field: a warning at the key.
    assert_has(&found, "5:1: warning:", &["colour"], &stderr);
    // Bad range, pointing at the quoted value.
    assert_has(&found, "7:9: error:", &["etcd", ">>1"], &stderr);
    // Depending on itself.
    assert_has(&found, "8:3: error:", &["demo", "itself"], &stderr);
    // Bad dependency name.
    assert_has(&found, "9:3: error:", &["Kube_rnetes"], &stderr);
    assert_eq!(found.len(), 5, "exactly these problems:\n{stderr}");
    // In file order.
    let lines: Vec<usize> = found
        .iter()
        .map(|d| d.split(':').next().unwrap().parse().unwrap())
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "{stderr}");
}

#[test]
fn missing_field_bad_name_and_bad_range_together() {
    let case = Case::new(concat!(
        "name: Kube_rnetes\n",
        "version: 1.0.0\n",
        "description: no type\n",
        "dependencies:\n",
        "  containerd: \">>1\"\n",
    ));
    let output = case.validate();
    assert_failure(&output, exit::FAILURE, "error:");
    let stderr = text(&output.stderr);
    let found = diagnostics(&stderr, &case.manifest_path());
    assert_has(
        &found,
        "1:7: error:",
        &["Kube_rnetes", "uppercase"],
        &stderr,
    );
    assert_has(&found, "1:1: error:", &["missing", "`type`"], &stderr);
    assert_has(&found, "5:15: error:", &["containerd", ">>1"], &stderr);
    assert_eq!(found.len(), 3, "{stderr}");
    assert!(
        stderr.contains("hint:"),
        "problems come with hints:\n{stderr}"
    );
}

#[test]
fn yaml_syntax_errors_point_at_the_place() {
    let cases: [(&str, &str); 3] = [
        // A key indented under a scalar value.
        (
            "name: demo\ntype: taskserv\nversion: 0.1.0\n  description: x\n",
            "4:14: error:",
        ),
        // An unterminated quoted scalar starts here.
        (
            "name: demo\ntype: taskserv\nversion: 0.1.0\ndescription: \"unclosed\nlicense: MIT\n",
            "4:14: error:",
        ),
        // An unterminated flow sequence, found at the next key.
        (
            "name: demo\ntype: taskserv\nversion: 0.1.0\ntags: [a, b\nlicense: MIT\n",
            "5:8: error:",
        ),
    ];
    for (manifest, position) in cases {
        let case = Case::new(manifest);
        let output = case.validate();
        assert_failure(&output, exit::FAILURE, "invalid YAML");
        let stderr = text(&output.stderr);
        let found = diagnostics(&stderr, &case.manifest_path());
        assert_has(&found, position, &["invalid YAML"], &stderr);
        assert_eq!(found.len(), 1, "a syntax error stops there:\n{stderr}");
    }
}

#[test]
fn an_unknown_field_is_only_a_warning() {
    let case = Case::new(concat!(
        "name: demo\n",
        "type: taskserv\n",
        "version: 0.1.0\n",
        "description: fine otherwise\n",
        "colour: blue\n",
    ));
    let output = case.validate();
    let stderr = text(&output.stderr);
    assert_success(&output);
    let found = diagnostics(&stderr, &case.manifest_path());
    assert_has(&found, "5:1: warning:", &["colour"], &stderr);
    assert!(
        !found.iter().any(|d| d.contains("error:")),
        "no errors:\n{stderr}"
    );
    assert!(
        text(&output.stdout).contains("taskserv demo 0.1.0 is valid"),
        "{}",
        text(&output.stdout)
    );

    let json = case.cli.run_sync(&[
        "oci",
        "package",
        "validate",
        case.dir.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_success(&json);
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(summary["name"], "demo");
    assert_eq!(summary["version"], "0.1.0");
    let warnings = summary["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{summary}");
    assert!(
        warnings[0].as_str().unwrap().contains(":5:1: warning"),
        "{summary}"
    );
}

#[test]
fn a_missing_manifest_is_reported() {
    let case = Case::new("name: demo\n");
    std::fs::remove_file(case.dir.join("manifest.yaml")).unwrap();
    let output = case.validate();
    assert_failure(&output, exit::FAILURE, "no manifest.yaml");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("{}: error:", case.manifest_path())),
        "{stderr}"
    );
    assert!(stderr.contains("no manifest.yaml"), "{stderr}");
    assert!(Path::new(&case.dir).is_dir());
}
