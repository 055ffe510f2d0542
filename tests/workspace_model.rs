//! The workspace model read from the seed's files: round trips that keep every byte, the
//! precedence of registry settings, every validation error with its position, and edits that
//! change exactly the lines they must (compared as unified diffs).

use std::path::Path;

use provisioning::extension::manifest::ExtensionType;
use provisioning::workspace::diff::unified;
use provisioning::workspace::model::ModuleSource;
use provisioning::workspace::{ConfigFile, Requirement, SourceType, Workspace, edit, validate};

/// The design document's "Workspace Configuration" example, indented as YAML.
const SEED: &str = r#"# Core system dependency
dependencies:
  core:
    source: "oci://harbor.company.com/provisioning-core:v3.5.0"
    # Alternative: source: "gitea://provisioning-core"
  # Extensions repository configuration
  extensions:
    source_type: "oci" # oci, gitea, local
    # OCI registry configuration
    oci:
      registry: "localhost:5000"
      namespace: "provisioning-extensions"
      tls_enabled: false
      auth_token_path: "~/.provisioning/tokens/oci"
    # Loaded extension modules
    modules:
      providers:
        - "oci://localhost:5000/provisioning-extensions/aws:2.0.0"
        - "oci://localhost:5000/provisioning-extensions/upcloud:1.5.0"
      taskservs:
        - "oci://localhost:5000/provisioning-extensions/kubernetes:1.28.0"
        - "oci://localhost:5000/provisioning-extensions/containerd:1.7.0"
        - "oci://localhost:5000/provisioning-extensions/cilium:1.14.0"
      clusters:
        - "oci://localhost:5000/provisioning-extensions/buildkit:0.12.0"
  # Platform services
  platform:
    source_type: "oci"
    oci:
      registry: "harbor.company.com"
      namespace: "provisioning-platform"
    images:
      orchestrator: "harbor.company.com/provisioning-platform/orchestrator:v1.2.0"
      control_center: "harbor.company.com/provisioning-platform/control-center:v1.2.0"
# OCI registry configuration
registry:
  type: "oci" # oci, gitea, http
  oci:
    endpoint: "localhost:5000"
    namespaces:
      extensions: "provisioning-extensions"
      nickel: "provisioning-nickel"
      platform: "provisioning-platform"
      test: "provisioning-test"
"#;

/// The design document's Harbor example: `registry` under `dependencies`.
const HARBOR: &str = r#"# workspace/config/provisioning.yaml
dependencies:
  registry:
    type: "oci"
    oci:
      endpoint: "https://harbor.company.com"
      namespaces:
        extensions: "provisioning/extensions"
        platform: "provisioning/platform"
      tls_enabled: true
      auth_token_path: "~/.provisioning/tokens/harbor"
"#;

fn workspace_with(text: &str) -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/provisioning.yaml"), text).unwrap();
    let ws = Workspace::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    (dir, ws)
}

fn config_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("config/provisioning.yaml")).unwrap()
}

#[test]
fn seed_and_sample_round_trip_byte_identical() {
    let sample = include_str!("../assets/samples/workspace/config/provisioning.yaml");
    for text in [SEED, HARBOR, sample] {
        let (dir, mut ws) = workspace_with(text);
        assert!(!ws.save().unwrap(), "nothing changed, nothing written");
        assert_eq!(config_text(dir.path()), text);
        // Loading the saved text again gives the same model.
        let again = Workspace::load(dir.path()).unwrap();
        assert_eq!(again.config, ws.config);
        assert_eq!(ws.diff(), "");
    }
}

#[test]
fn seed_model_reads_every_part() {
    let (config, warnings) = validate::check(Path::new("p.yaml"), SEED).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let core = config.core.as_ref().unwrap();
    assert_eq!(core.reference.registry, "harbor.company.com");
    assert_eq!(core.reference.repository, "provisioning-core");
    assert_eq!(core.version, Some(semver::Version::new(3, 5, 0)));
    assert_eq!(config.source_type, SourceType::Oci);
    let names: Vec<(ExtensionType, &str)> = config
        .modules
        .iter()
        .map(|m| (m.kind, m.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (ExtensionType::Provider, "aws"),
            (ExtensionType::Provider, "upcloud"),
            (ExtensionType::Taskserv, "kubernetes"),
            (ExtensionType::Taskserv, "containerd"),
            (ExtensionType::Taskserv, "cilium"),
            (ExtensionType::Cluster, "buildkit"),
        ]
    );
    assert_eq!(
        config.modules[2].requirement,
        Requirement::Exact(semver::Version::new(1, 28, 0))
    );
    let platform = config.platform.as_ref().unwrap();
    let images: Vec<(&str, String)> = platform
        .images
        .iter()
        .map(|i| (i.name.as_str(), i.reference.to_string()))
        .collect();
    assert_eq!(
        images,
        [
            (
                "orchestrator",
                "harbor.company.com/provisioning-platform/orchestrator:v1.2.0".to_string()
            ),
            (
                "control_center",
                "harbor.company.com/provisioning-platform/control-center:v1.2.0".to_string()
            ),
        ]
    );
}

#[test]
fn precedence_and_tokens_bound_to_their_hosts() {
    let (config, _) = validate::check(Path::new("p.yaml"), SEED).unwrap();
    // Extensions: extensions.oci.
    let ext = config.oci_defaults();
    assert_eq!(
        (ext.registry.as_str(), ext.namespace.as_str()),
        ("localhost:5000", "provisioning-extensions")
    );
    // The token of extensions.oci is for localhost:5000; harbor (platform) has none.
    let local = config.endpoint_for("localhost:5000").unwrap();
    assert!(
        local
            .auth_token_path
            .unwrap()
            .ends_with(".provisioning/tokens/oci")
    );
    assert_eq!(local.tls_enabled, Some(false));
    let harbor = config.endpoint_for("harbor.company.com").unwrap();
    assert_eq!(harbor.auth_token_path, None);
    assert_eq!(harbor.block, "dependencies.platform.oci");
    assert_eq!(config.plain_http_hosts(), ["localhost:5000"]);

    // Harbor example: registry under dependencies gives every default, and its token is
    // Harbor's; TLS from the block.
    let (harbor_cfg, _) = validate::check(Path::new("p.yaml"), HARBOR).unwrap();
    let ext = harbor_cfg.oci_defaults();
    assert_eq!(
        (ext.registry.as_str(), ext.namespace.as_str()),
        ("harbor.company.com", "provisioning/extensions")
    );
    let platform = harbor_cfg.platform_defaults();
    assert_eq!(platform.namespace, "provisioning/platform");
    let eff = harbor_cfg.effective_registry();
    assert_eq!(eff.registry.as_deref(), Some("harbor.company.com"));
    assert_eq!(eff.tls_enabled, Some(true));
    assert!(
        eff.auth_token_path
            .unwrap()
            .ends_with(".provisioning/tokens/harbor")
    );

    // extensions.oci names another host than registry.oci: registry.oci's token stays with
    // the endpoint; the extensions host gets only its own.
    let mixed = "dependencies:\n  extensions:\n    oci:\n      registry: ext.example.com\n  core:\n    source: provisioning-core:v3.5.0\nregistry:\n  oci:\n    endpoint: https://main.example.com\n    namespaces:\n      core: core-ns\n    auth_token_path: /tokens/main\n";
    let (mixed, _) = validate::check(Path::new("p.yaml"), mixed).unwrap();
    assert_eq!(mixed.oci_defaults().registry, "ext.example.com");
    assert_eq!(
        mixed
            .endpoint_for("ext.example.com")
            .unwrap()
            .auth_token_path,
        None
    );
    assert_eq!(
        mixed
            .endpoint_for("main.example.com")
            .unwrap()
            .auth_token_path
            .as_deref(),
        Some(Path::new("/tokens/main"))
    );
    assert_eq!(mixed.effective_registry().auth_token_path, None);
    // A short core reference expands with registry.oci.endpoint and namespaces.core.
    assert_eq!(
        mixed.core.unwrap().reference.to_string(),
        "main.example.com/core-ns/provisioning-core:v3.5.0"
    );
}

#[test]
fn module_mappings_mix_sources() {
    let text = "dependencies:\n  extensions:\n    source_type: oci\n    oci: {registry: \"localhost:5000\", namespace: ext}\n    gitea: {url: \"http://127.0.0.1:3000\", organization: infra}\n    modules:\n      taskservs:\n        - {name: cilium, range: \"^1.14\"}\n        - {name: redis, path: ../extensions/taskservs/redis}\n        - \"gitea://etcd:3.5.9\"\n        - {name: coredns, version: \"1.11.1\", source: gitea}\n        - \"containerd:1.7.0\"\n";
    let (config, _) = validate::check(Path::new("p.yaml"), text).unwrap();
    let m = &config.modules;
    assert_eq!(m[0].requirement.to_string(), "^1.14");
    assert_eq!(m[0].location(), "localhost:5000/ext/cilium");
    assert_eq!(
        m[1].source,
        ModuleSource::Local {
            path: "../extensions/taskservs/redis".into()
        }
    );
    assert_eq!(m[2].source_type(), SourceType::Gitea);
    assert_eq!(m[2].location(), "127.0.0.1:3000/infra/etcd:3.5.9");
    assert_eq!(m[3].location(), "127.0.0.1:3000/infra/coredns");
    assert_eq!(m[4].location(), "localhost:5000/ext/containerd:1.7.0");
    assert!(
        config
            .plain_http_hosts()
            .contains(&"127.0.0.1:3000".to_string())
    );
}

#[test]
fn every_validation_error_with_its_position() {
    let text = r#"dependencies:
  core:
    source: "oci://harbor.company.com/provisioning-core:latest"
  extensions:
    source_type: "svn"
    oci:
      registry: "not a host"
      tls_enabled: "no"
    modules:
      providers:
        - "oci://localhost:5000/provisioning-extensions/aws"
        - "oci://localhost:5000/provisioning-extensions/aws:two"
        - "oci://localhost:5000/Bad Name:1.0.0"
      services:
        - "x:1.0.0"
      taskservs:
        - {name: cilium, range: "^1.14"}
        - {name: cilium, version: "1.14.0"}
        - {name: etcd, version: "3.5.0", range: ">=1.x.0.1"}
        - {nmae: redis}
        - {name: local-one, path: ./x, version: "1.0.0"}
      clusters: "buildkit"
registry:
  type: "ftp"
"#;
    let errors = validate::check(Path::new("ws/config/provisioning.yaml"), text).unwrap_err();
    let lines: Vec<String> = errors
        .iter()
        .map(|d| {
            format!(
                "{}:{} {}",
                d.line,
                d.column,
                d.message.lines().next().unwrap()
            )
        })
        .collect();
    let expected = [
        "3:13 the core tag `latest` is not a version",
        "5:18 `dependencies.extensions.source_type` is `svn`, which is not a source type",
        "7:17 `not a host` is not a registry host",
        "8:20 `dependencies.extensions.oci.tls_enabled` must be true or false, found a scalar",
        "11:11 `oci://localhost:5000/provisioning-extensions/aws` pins no version",
        "12:11 the tag `two` of `oci://localhost:5000/provisioning-extensions/aws:two` is not a version",
        "13:11 bad module reference: invalid reference `oci://localhost:5000/Bad Name:1.0.0`: ",
        "14:7 `services` is not a module type list",
        "18:11 taskserv `cilium` is listed twice (first at line 17)",
        "19:49 give `version` or `range`, not both",
        "19:49 the range `>=1.x.0.1` does not parse: ",
        "20:12 unknown key `nmae` in a module entry",
        "20:11 a module mapping needs `name`",
        "21:49 a local module takes its version from its manifest.yaml",
        "22:17 `dependencies.extensions.modules.clusters` must be a list, found a scalar",
        "24:9 `registry.type` is `ftp`, which is not a registry type",
    ];
    for want in expected {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "missing {want:?} in:\n{}",
            lines.join("\n")
        );
    }
    // Rendered like a compiler: file:line:column.
    let first = errors[0].to_string();
    assert!(
        first.starts_with("ws/config/provisioning.yaml:3:13: error:"),
        "{first}"
    );
}

#[test]
fn missing_unreadable_and_malformed_files_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let err = Workspace::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("no config/provisioning.yaml here") && err.contains("workspace init"),
        "{err}"
    );
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    let path = dir.path().join("config/provisioning.yaml");
    std::fs::write(&path, "dependencies:\n  extensions: [\n    modules: x\n").unwrap();
    let err = Workspace::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("provisioning.yaml:"), "{err}");
    assert!(err.contains("invalid YAML"), "{err}");
    std::fs::write(&path, b"dependencies: \xff\xfe\n").unwrap();
    let err = Workspace::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("not UTF-8"), "{err}");
    std::fs::write(&path, "- a\n- b\n").unwrap();
    let err = Workspace::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains(":1:3: error: provisioning.yaml must be a mapping"),
        "{err}"
    );
}

/// A file with comments everywhere, unknown keys, and every quoting style.
const COMMENTED: &str = r#"# Team workspace — edited by hand and by the tool.
# Keep this header.

dependencies:   # everything this infrastructure needs
  core:
    source: 'oci://localhost:5000/provisioning-core:v3.5.0'  # pinned core

  # extensions come from the lab registry
  extensions:
    source_type: local   # we are migrating
    owner: platform-team  # not a key the tool knows
    oci:
      registry: localhost:5000
      namespace: provisioning-extensions
    modules:
      # providers first
      providers:
        - "oci://localhost:5000/provisioning-extensions/aws:2.0.0"   # prod pin

        - 'oci://localhost:5000/provisioning-extensions/upcloud:1.5.0'
      # taskservs: the runtime stack
      taskservs:
        - {name: cilium, range: "^1.14"}  # CNI
        - oci://localhost:5000/provisioning-extensions/containerd:1.7.0
      # no clusters yet
      clusters: []

# trailing comment
x-custom:
  keep: "me"
"#;

fn edited(edit: impl FnOnce(&mut String)) -> String {
    let mut text = COMMENTED.to_string();
    edit(&mut text);
    validate::check(Path::new("p.yaml"), &text)
        .unwrap_or_else(|e| panic!("edit left an invalid file: {e:?}\n{text}"));
    unified("provisioning.yaml", COMMENTED, &text)
}

const TASKSERVS: [&str; 4] = ["dependencies", "extensions", "modules", "taskservs"];

#[test]
fn appending_to_a_block_list_adds_one_line() {
    let diff = edited(|t| edit::append_item(t, &TASKSERVS, "{name: redis, path: ../r}").unwrap());
    assert_eq!(
        diff,
        r#"--- a/provisioning.yaml
+++ b/provisioning.yaml
@@ -22,6 +22,7 @@
       taskservs:
         - {name: cilium, range: "^1.14"}  # CNI
         - oci://localhost:5000/provisioning-extensions/containerd:1.7.0
+        - {name: redis, path: ../r}
       # no clusters yet
       clusters: []
 
"#
    );
}

#[test]
fn appending_to_an_empty_flow_list_opens_a_block_list() {
    let path = ["dependencies", "extensions", "modules", "clusters"];
    let diff = edited(|t| edit::append_item(t, &path, "\"oci://h:5000/ns/web:1.0.0\"").unwrap());
    assert_eq!(
        diff,
        r#"--- a/provisioning.yaml
+++ b/provisioning.yaml
@@ -23,7 +23,8 @@
         - {name: cilium, range: "^1.14"}  # CNI
         - oci://localhost:5000/provisioning-extensions/containerd:1.7.0
       # no clusters yet
-      clusters: []
+      clusters:
+        - "oci://h:5000/ns/web:1.0.0"
 
 # trailing comment
 x-custom:
"#
    );
}

#[test]
fn replacing_and_removing_items_touch_only_their_line() {
    let providers = ["dependencies", "extensions", "modules", "providers"];
    let diff = edited(|t| {
        edit::replace_item(
            t,
            &providers,
            0,
            "\"oci://localhost:5000/provisioning-extensions/aws:2.1.0\"",
        )
        .unwrap()
    });
    assert_eq!(
        diff,
        r#"--- a/provisioning.yaml
+++ b/provisioning.yaml
@@ -15,7 +15,7 @@
     modules:
       # providers first
       providers:
-        - "oci://localhost:5000/provisioning-extensions/aws:2.0.0"   # prod pin
+        - "oci://localhost:5000/provisioning-extensions/aws:2.1.0"   # prod pin
 
         - 'oci://localhost:5000/provisioning-extensions/upcloud:1.5.0'
       # taskservs: the runtime stack
"#
    );
    let diff = edited(|t| edit::remove_item(t, &providers, 1).unwrap());
    assert_eq!(
        diff,
        r#"--- a/provisioning.yaml
+++ b/provisioning.yaml
@@ -17,7 +17,6 @@
       providers:
         - "oci://localhost:5000/provisioning-extensions/aws:2.0.0"   # prod pin
 
-        - 'oci://localhost:5000/provisioning-extensions/upcloud:1.5.0'
       # taskservs: the runtime stack
       taskservs:
         - {name: cilium, range: "^1.14"}  # CNI
"#
    );
}

#[test]
fn setting_a_scalar_keeps_its_comment_and_missing_keys_are_added_in_place() {
    let diff = edited(|t| {
        edit::set_scalar(t, &["dependencies", "extensions", "source_type"], "oci").unwrap()
    });
    assert_eq!(
        diff,
        r#"--- a/provisioning.yaml
+++ b/provisioning.yaml
@@ -7,7 +7,7 @@
 
   # extensions come from the lab registry
   extensions:
-    source_type: local   # we are migrating
+    source_type: oci   # we are migrating
     owner: platform-team  # not a key the tool knows
     oci:
       registry: localhost:5000
"#
    );
    let mut text = "dependencies:\n  core:\n    source: x:v1.0.0 # c\n".to_string();
    edit::append_item(
        &mut text,
        &TASKSERVS,
        "\"oci://localhost:5000/provisioning-extensions/redis:1.0.0\"",
    )
    .unwrap();
    assert_eq!(
        text,
        "dependencies:\n  core:\n    source: x:v1.0.0 # c\n  extensions:\n    modules:\n      taskservs:\n        - \"oci://localhost:5000/provisioning-extensions/redis:1.0.0\"\n"
    );
    let mut empty = String::new();
    edit::append_item(&mut empty, &TASKSERVS, "{name: a, path: ./a}").unwrap();
    assert_eq!(
        empty,
        "dependencies:\n  extensions:\n    modules:\n      taskservs:\n        - {name: a, path: ./a}\n"
    );
}

#[test]
fn a_file_changed_on_disk_is_not_overwritten() {
    let (dir, ws) = workspace_with(COMMENTED);
    let path = dir.path().join("config/provisioning.yaml");
    let mut file = ConfigFile::read(&path).unwrap();
    edit::append_item(&mut file.text, &TASKSERVS, "{name: redis, path: ../r}").unwrap();
    // Someone else saves the file meanwhile.
    let theirs = COMMENTED.replace("# Keep this header.", "# Changed by someone else.");
    std::fs::write(&path, &theirs).unwrap();
    let err = file.save().unwrap_err().to_string();
    assert!(err.contains("changed on disk since it was read"), "{err}");
    assert_eq!(config_text(dir.path()), theirs);
    // No temp file is left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("config"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["provisioning.yaml"]);
    drop(ws);
}
