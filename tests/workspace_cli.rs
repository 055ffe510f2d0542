//! `workspace init`, `module load | list | unload` and `workspace migrate-to-oci` as a user runs
//! them, against the embedded registry (also laid out like Gitea's package registry) and
//! Debian's distribution: refused loads write nothing, and a second migration changes nothing.

mod common;

use std::path::{Path, PathBuf};

use common::cli::Cli;
use common::distribution::{Distribution, DistributionOptions};
use common::{TestRegistry, assert_failure, assert_success, exit, text};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples")
}

/// Publishes the samples to `host` under `namespace`.
async fn publish_samples(cli: &Cli, host: &str, namespace: &str) {
    let samples = samples();
    let out = cli
        .run(&[
            "oci",
            "--registry",
            host,
            "--namespace",
            namespace,
            "--plain-http",
            "--no-progress",
            "publish",
            samples.to_str().unwrap(),
        ])
        .await;
    assert_success(&out);
}

/// `workspace init DIR --registry HOST --namespace NS`; returns the config path.
async fn init(cli: &Cli, dir: &Path, host: &str, namespace: &str) -> PathBuf {
    let out = cli
        .run(&[
            "workspace",
            "init",
            dir.to_str().unwrap(),
            "--registry",
            host,
            "--namespace",
            namespace,
        ])
        .await;
    assert_success(&out);
    dir.join("config/provisioning.yaml")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Loads, updates, refuses and unloads modules against a registry at `host`.
async fn load_cycle(cli: &Cli, host: &str) {
    let ws = cli.path("ws");
    let config = init(cli, &ws, host, "ext").await;
    let ws_arg = ws.to_str().unwrap();
    let before = read(&config);

    // Newest version by default.
    let out = cli
        .run(&["module", "load", "taskserv", ws_arg, "cilium"])
        .await;
    assert_success(&out);
    let entry = format!("        - \"oci://{host}/ext/cilium:1.15.3\"\n");
    let after_load = read(&config);
    assert_eq!(
        after_load,
        before.replace(
            "      taskservs: []\n",
            &format!("      taskservs:\n{entry}")
        )
    );

    // The same module again is updated in place, never duplicated.
    let out = cli
        .run(&[
            "module",
            "load",
            "taskserv",
            ws_arg,
            "cilium",
            "--version",
            "1.14.0",
        ])
        .await;
    assert_success(&out);
    assert_eq!(
        read(&config),
        after_load.replace("cilium:1.15.3", "cilium:1.14.0")
    );
    let out = cli
        .run(&[
            "module", "load", "taskserv", ws_arg, "cilium", "--range", "^1.14",
        ])
        .await;
    assert_success(&out);
    let ranged = read(&config);
    assert!(
        ranged.contains("        - {name: cilium, range: \"^1.14\"}\n"),
        "{ranged}"
    );
    let entries = ranged
        .lines()
        .filter(|l| l.trim_start().starts_with("- ") && l.contains("cilium"))
        .count();
    assert_eq!(entries, 1, "{ranged}");

    // Refused: wrong type, unknown name, a version that does not exist. Nothing written.
    let out = cli
        .run(&["module", "load", "provider", ws_arg, "cilium"])
        .await;
    assert_failure(&out, exit::USAGE, "is a taskserv, not a provider");
    let out = cli
        .run(&["module", "load", "taskserv", ws_arg, "nosuch"])
        .await;
    assert_failure(&out, exit::NOT_FOUND, "does not exist");
    let out = cli
        .run(&[
            "module",
            "load",
            "taskserv",
            ws_arg,
            "cilium",
            "--version",
            "9.9.9",
        ])
        .await;
    assert_failure(&out, exit::NOT_FOUND, "has no version =9.9.9");
    assert_eq!(read(&config), ranged);

    // list shows it; unload takes its line away.
    let out = cli
        .run(&["module", "list", ws_arg, "--output", "json"])
        .await;
    assert_success(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["name"], "cilium");
    assert_eq!(rows[0]["type"], "taskserv");
    assert_eq!(rows[0]["source"], "oci");
    assert_eq!(rows[0]["requirement"], "^1.14");
    let out = cli
        .run(&["module", "unload", "taskserv", ws_arg, "cilium"])
        .await;
    assert_success(&out);
    assert_eq!(read(&config), before.replace("taskservs: []", "taskservs:"));
    let out = cli
        .run(&["module", "unload", "taskserv", ws_arg, "cilium"])
        .await;
    assert_failure(&out, exit::NOT_FOUND, "is not loaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn module_load_list_unload_against_the_embedded_registry() {
    let registry = TestRegistry::start().await;
    let cli = Cli::new();
    publish_samples(&cli, &registry.host(), "ext").await;
    load_cycle(&cli, &registry.host()).await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn module_load_against_distribution() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let cli = Cli::new();
    publish_samples(&cli, &distribution.host, "ext").await;
    load_cycle(&cli, &distribution.host).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_registry_and_bad_workspaces_write_nothing() {
    let cli = Cli::new();
    let host = format!("127.0.0.1:{}", common::free_port());
    let ws = cli.path("ws");
    let config = init(&cli, &ws, &host, "ext").await;
    let before = read(&config);
    let out = cli
        .run(&["module", "load", "taskserv", ws.to_str().unwrap(), "cilium"])
        .await;
    assert_failure(&out, exit::FAILURE, "cannot reach");
    assert_eq!(read(&config), before);

    // init refuses an existing file.
    let out = cli.run(&["workspace", "init", ws.to_str().unwrap()]).await;
    assert_failure(&out, exit::CONFLICT, "already exists");
    assert_eq!(read(&config), before);

    // A bare name is looked up under the workspaces directory.
    let out = cli
        .run(&["module", "load", "taskserv", "workspace_dev", "redis"])
        .await;
    assert_failure(&out, exit::NOT_FOUND, "no workspace named `workspace_dev`");

    // A malformed file is reported with its position and left alone.
    let broken = "dependencies:\n  extensions:\n    modules:\n      taskservs:\n        - {name: redis, range: \"^^1\"}\n";
    std::fs::write(&config, broken).unwrap();
    let out = cli
        .run(&[
            "module",
            "unload",
            "taskserv",
            ws.to_str().unwrap(),
            "redis",
        ])
        .await;
    assert_failure(
        &out,
        exit::FAILURE,
        "provisioning.yaml:5:32: error: the range",
    );
    assert_eq!(read(&config), broken);
}

#[tokio::test(flavor = "multi_thread")]
async fn gitea_source_maps_names_under_the_organization() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    // Gitea serves an organization's packages as /v2/<organization>/<name>/…
    publish_samples(&cli, &host, "infra").await;
    let ws = cli.path("data/workspaces/workspace_dev");
    std::fs::create_dir_all(ws.join("config")).unwrap();
    let config = ws.join("config/provisioning.yaml");
    let text = format!(
        "dependencies:\n  core:\n    source: \"gitea://cilium:1.14.0\"\n  extensions:\n    source_type: gitea  # Gitea packages\n    gitea:\n      url: \"http://{host}\"\n      organization: infra\n    modules:\n      taskservs: []\n"
    );
    std::fs::write(&config, &text).unwrap();
    // The seed's argument order, with a workspace name.
    let out = cli
        .run(&["module", "load", "taskserv", "workspace_dev", "cilium"])
        .await;
    assert_success(&out);
    assert_eq!(
        read(&config),
        text.replace(
            "      taskservs: []\n",
            "      taskservs:\n        - \"gitea://cilium:1.15.3\"\n"
        )
    );
    let out = cli
        .run(&["module", "list", "workspace_dev", "--output", "json"])
        .await;
    assert_success(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["source"], "gitea");
    assert_eq!(
        rows[0]["location"],
        format!("{host}/infra/cilium:1.15.3").as_str()
    );
    let out = cli
        .run(&["module", "load", "cluster", "workspace_dev", "cilium"])
        .await;
    assert_failure(&out, exit::USAGE, "is a taskserv, not a cluster");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_to_oci_publishes_local_modules_once() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let ws = cli.path("ws");
    let config = init(&cli, &ws, &host, "ext").await;
    let ws_arg = ws.to_str().unwrap();
    // Local modules made from the samples, as in a monorepo beside the workspace.
    for (kind, name, version) in [
        ("taskservs", "redis", None),
        ("providers", "aws", Some("2.0.0")),
    ] {
        let from = match version {
            Some(v) => samples().join(kind).join(name).join(v),
            None => {
                let dir = samples().join(kind).join(name);
                let mut versions: Vec<_> = std::fs::read_dir(&dir)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                versions.sort();
                versions.pop().unwrap()
            }
        };
        let to = cli.path("mono").join(kind).join(name);
        copy_tree(&from, &to);
        let out = cli
            .run(&[
                "module",
                "load",
                &kind[..kind.len() - 1],
                ws_arg,
                name,
                "--source",
                "local",
                "--path",
                to.to_str().unwrap(),
            ])
            .await;
        assert_success(&out);
    }
    let loaded = read(&config);
    assert!(
        loaded.contains("        - {name: redis, path: ../mono/taskservs/redis}\n"),
        "{loaded}"
    );
    let local = loaded.replace("source_type: \"oci\"", "source_type: \"local\"");
    std::fs::write(&config, &local).unwrap();

    // Dry run: the diff, nothing published or written.
    let out = cli
        .run(&["workspace", "migrate-to-oci", ws_arg, "--dry-run"])
        .await;
    assert_success(&out);
    let stdout = text_of(&out);
    assert!(stdout.contains("would publish"), "{stdout}");
    assert!(stdout.contains("-    source_type: \"local\""), "{stdout}");
    assert_eq!(read(&config), local);

    let out = cli.run(&["workspace", "migrate-to-oci", ws_arg]).await;
    assert_success(&out);
    let stdout = text_of(&out);
    assert!(stdout.contains("published"), "{stdout}");
    let migrated = read(&config);
    let redis_line = migrated
        .lines()
        .find(|l| l.contains("/ext/redis:"))
        .unwrap_or_else(|| panic!("{migrated}"));
    assert!(
        redis_line.starts_with(&format!("        - \"oci://{host}/ext/redis:")),
        "{redis_line}"
    );
    assert!(
        migrated.contains(&format!("        - \"oci://{host}/ext/aws:2.0.0\"\n")),
        "{migrated}"
    );
    // Only the module lines and source_type changed.
    assert_eq!(
        migrated
            .replace("source_type: \"oci\"", "source_type: \"local\"")
            .lines()
            .count(),
        local.lines().count()
    );
    assert!(migrated.contains("    source_type: \"oci\" # oci, gitea, local\n"));
    // The registry has them.
    let out = cli.oci(&host, &["tags", "aws", "--output", "json"]).await;
    assert_success(&out);
    assert!(text(&out.stdout).contains("2.0.0"));

    // A second run finds nothing local and writes nothing.
    let out = cli.run(&["workspace", "migrate-to-oci", ws_arg]).await;
    assert_success(&out);
    let stdout = text_of(&out);
    assert!(stdout.contains("No local modules"), "{stdout}");
    assert!(stdout.contains("unchanged"), "{stdout}");
    assert_eq!(read(&config), migrated);
    registry.stop().await;
}

fn text_of(out: &std::process::Output) -> String {
    text(&out.stdout)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
