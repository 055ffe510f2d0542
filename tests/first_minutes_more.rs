//! The first ten minutes, continued: scaffold and publish agree, `oci push` defaults from the
//! manifest, names that cannot be file names, and the demo's leftovers.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cli::Cli;
use common::proxy::RecordingProxy;
use common::{TestRegistry, assert_failure, assert_success, exit, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_dir_then_publish_the_same_dir() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = cli.path("cwd/extensions");
    let root_text = root.to_str().unwrap();

    // A fresh directory: as the issue saw it, `--dir extensions` puts the extension right
    // under it; publish accepts that layout.
    let redis = cli.scaffold("taskserv", "redis", &root);
    assert_eq!(redis, root.join("redis"));
    let published = cli.oci_json(&host, &["publish", root_text]).await;
    let entries = published.as_array().expect("a list of entries");
    assert_eq!(entries.len(), 1, "{published}");
    assert!(published.to_string().contains("redis"), "{published}");
    let tags = cli.oci_ok(&host, &["tags", "redis"]).await;
    assert!(tags.contains("0.1.0"), "{tags}");

    // A monorepo root (it has a type directory): the type directory is added, and publish
    // finds it there.
    let mono = cli.path("cwd/mono");
    std::fs::create_dir_all(mono.join("taskservs")).unwrap();
    let valkey = cli.scaffold("taskserv", "valkey", &mono);
    assert_eq!(valkey, mono.join("taskservs/valkey"));
    let out = cli
        .oci_ok(&host, &["publish", mono.to_str().unwrap()])
        .await;
    assert!(out.contains("valkey"), "{out}");

    // One extension directory given as the root publishes that one.
    let out = cli
        .oci_ok(&host, &["publish", "--dry-run", redis.to_str().unwrap()])
        .await;
    assert!(out.contains("redis"), "{out}");

    // A root that does not exist says so, as a usage error.
    let missing = cli.path("cwd/nowhere");
    let output = cli
        .oci(&host, &["publish", missing.to_str().unwrap()])
        .await;
    assert_failure(&output, exit::USAGE, "does not exist");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_takes_name_and_version_from_the_manifest() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let dir = cli.scaffold("taskserv", "cache", &cli.path("cwd"));
    let dir_text = dir.to_str().unwrap();

    let out = cli.oci_ok(&host, &["push", dir_text]).await;
    assert!(out.contains("cache:0.1.0"), "{out}");
    // NAME:VERSION and NAME VERSION are both accepted, and checked.
    let out = cli.oci_ok(&host, &["push", dir_text, "cache:0.1.0"]).await;
    assert!(out.contains("already published"), "{out}");
    let out = cli
        .oci_ok(&host, &["push", dir_text, "cache", "0.1.0"])
        .await;
    assert!(out.contains("already published"), "{out}");
    let output = cli.oci(&host, &["push", dir_text, "cache:0.2.0"]).await;
    assert_failure(
        &output,
        exit::FAILURE,
        "manifest.yaml has version 0.1.0, not 0.2.0",
    );
    let output = cli.oci(&host, &["push", dir_text, "other"]).await;
    assert_failure(
        &output,
        exit::FAILURE,
        "names the extension `cache`, not `other`",
    );
    let output = cli
        .oci(&host, &["push", dir_text, "cache:0.1.0", "0.1.0"])
        .await;
    assert_failure(&output, exit::USAGE, "give the version once");

    let help = text(&cli.run_sync(&["oci", "push", "--help"]).stdout);
    assert!(help.contains("NAME[:VERSION]"), "{help}");
    assert!(help.contains("[default: the manifest's]"), "{help}");
    registry.stop().await;
}

#[test]
fn names_too_long_for_file_names_are_refused_early() {
    let cli = Cli::new();
    let long = "a".repeat(200);
    let output = cli.run_sync(&["generate", "extension", "taskserv", &long]);
    assert_failure(&output, exit::FAILURE, "the limit is 128");
    assert!(!cli.path(&format!("cwd/{long}")).exists());

    // A manifest renamed by hand: `package validate` names the limit before `oci package`
    // would hit the file system's.
    let dir = cli.scaffold("taskserv", "short", &cli.path("cwd"));
    let manifest = dir.join("manifest.yaml");
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        yaml.replacen("name: short", &format!("name: {long}"), 1),
    )
    .unwrap();
    let output = cli.run_sync(&["oci", "package", "validate", dir.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("the limit is 128"), "{stderr}");
    assert!(!stderr.contains("os error 36"), "{stderr}");
}

/// A running `demo --no-ui`, the line that points the CLI at it, and the rest of its stderr.
struct Demo {
    child: Child,
    line: String,
    rest: mpsc::Receiver<String>,
}

/// `demo --no-ui` with its temporary directory under `temp`, once it has printed the line that
/// points the CLI at it.
fn start_demo(cli: &Cli, temp: &Path) -> Demo {
    let mut command = cli.command(&["demo", "--no-ui"]);
    command.env("TMPDIR", temp).stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the demo");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let found = line.contains("export PROVISIONING_REGISTRY=");
                seen.push(line);
                if found {
                    let line = seen.pop().unwrap();
                    return Demo {
                        child,
                        line,
                        rest: rx,
                    };
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the demo did not come up: {seen:?}");
            }
        }
    }
}

fn demo_dirs(temp: &Path) -> Vec<String> {
    std::fs::read_dir(temp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("provisioning-demo-"))
        .collect()
}

fn stop_demo_with(signal: libc::c_int) {
    let cli = Cli::new();
    let temp = cli.path("tmp");
    std::fs::create_dir_all(&temp).unwrap();
    let demo = start_demo(&cli, &temp);
    let pid = demo.child.id();
    let dir = format!("provisioning-demo-{pid}");
    assert_eq!(demo_dirs(&temp), vec![dir.clone()]);
    assert!(temp.join(&dir).join("registry").is_dir());
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
    let status = common::wait_with_deadline(demo.child, "demo", Duration::from_secs(60)).status;
    assert!(status.success(), "{status:?}");
    assert!(demo_dirs(&temp).is_empty(), "{:?}", demo_dirs(&temp));
    // It says where its files were and that they are gone.
    let said: Vec<String> = demo.rest.iter().collect();
    assert!(
        said.iter()
            .any(|l| l.contains(&dir) && l.contains("are removed")),
        "{said:?}"
    );
}

#[test]
fn sigterm_on_demo_leaves_nothing() {
    stop_demo_with(libc::SIGTERM);
}

#[test]
fn sighup_on_demo_leaves_nothing() {
    stop_demo_with(libc::SIGHUP);
}

#[test]
fn demo_sweeps_dirs_of_dead_demos_and_keeps_live_ones() {
    let cli = Cli::new();
    let temp = cli.path("tmp");
    let mut ended = std::process::Command::new("true").spawn().unwrap();
    let dead = ended.id();
    ended.wait().unwrap();
    let stale = temp.join(format!("provisioning-demo-{dead}"));
    let live = temp.join(format!("provisioning-demo-{}", std::process::id()));
    for dir in [&stale, &live] {
        std::fs::create_dir_all(dir.join("registry")).unwrap();
        std::fs::write(dir.join("registry/blob"), b"left over").unwrap();
    }
    let demo = start_demo(&cli, &temp);
    assert!(demo.line.contains("127.0.0.1:"), "{}", demo.line);
    assert!(
        !stale.exists(),
        "the stale directory of pid {dead} is still there"
    );
    assert!(
        live.join("registry/blob").is_file(),
        "a live demo's directory was removed"
    );
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(demo.child.id() as libc::pid_t, libc::SIGTERM) };
    let output = common::wait_with_deadline(demo.child, "demo", Duration::from_secs(60));
    assert_success(&output);
    assert!(live.is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_size_and_prune_report_bytes() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let dir = cli.scaffold("taskserv", "web", &cli.path("cwd"));
    cli.oci_ok(&host, &["push", dir.to_str().unwrap()]).await;
    let out = cli.path("pulled");
    cli.oci_ok(&host, &["pull", "web:0.1.0", "-o", out.to_str().unwrap()])
        .await;

    let size = cli.oci_json(&host, &["cache", "size"]).await;
    let blobs = size["blobs"].as_u64().unwrap();
    let bytes = size["blob_bytes"].as_u64().unwrap();
    assert!(blobs >= 2 && bytes > 0, "{size}");
    assert_eq!(size["total_bytes"].as_u64().unwrap(), bytes, "{size}");

    // Recently used blobs stay with the default age; --all frees them all.
    let kept = cli.oci_json(&host, &["cache", "prune"]).await;
    assert_eq!(kept["removed_blobs"], 0, "{kept}");
    assert_eq!(kept["kept_blobs"].as_u64().unwrap(), blobs, "{kept}");
    let text = cli.oci_ok(&host, &["cache", "prune", "--all"]).await;
    assert!(text.contains(&format!("removed {blobs} blob(s)")), "{text}");
    let size = cli.oci_json(&host, &["cache", "size"]).await;
    assert_eq!(size["blobs"], 0, "{size}");
    assert_eq!(size["references"], 0, "{size}");

    let output = cli
        .oci(&host, &["cache", "prune", "--older-than", "soon"])
        .await;
    assert_failure(&output, exit::USAGE, "write e.g. 30d");
    // The pulled files are untouched; a second pull downloads again.
    assert!(out.join("manifest.yaml").is_file());
    cli.oci_ok(
        &host,
        &[
            "pull",
            "web:0.1.0",
            "-o",
            cli.path("again").to_str().unwrap(),
        ],
    )
    .await;
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_says_why_it_kept_recent_unreferenced_blobs() {
    let mut registry = TestRegistry::start().await;
    let storage = registry.storage_path().to_path_buf();
    let http = common::registry_http::RegistryHttp::new(&registry.url);
    let orphan = http.push_blob("lonely", b"never referenced").await;
    // Stopped, with its storage kept for gc.
    registry.registry.take().unwrap().shutdown().await;
    let cli = Cli::new();
    let storage_text = storage.to_str().unwrap();

    let output = cli.run_sync(&[
        "oci-registry",
        "gc",
        "--storage",
        storage_text,
        "--min-age",
        "3600",
    ]);
    assert_success(&output);
    let said = text(&output.stdout);
    assert!(said.contains("1 unreferenced blob(s)"), "{said}");
    assert!(said.contains("younger than 1 hour were kept"), "{said}");
    assert!(said.contains("`--min-age 0` keeps none"), "{said}");

    let output = cli.run_sync(&[
        "oci-registry",
        "gc",
        "--storage",
        storage_text,
        "--output",
        "json",
    ]);
    assert_success(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["blobs"][0]["digest"], orphan.as_str(), "{report}");
    assert_eq!(report["kept_recent"], 0, "{report}");
}

/// A token service and a distribution that trusts it; `None` without distribution installed.
async fn token_registry() -> Option<(
    common::token_server::TokenServer,
    common::distribution::Distribution,
)> {
    use common::oci_fixtures::{PASSWORD, USER};
    let policy = common::token_server::Policy {
        users: std::collections::HashMap::from([(USER.to_string(), PASSWORD.to_string())]),
        ..Default::default()
    };
    let tokens = common::token_server::TokenServer::start(policy).await;
    let distribution = common::distribution::Distribution::start_with_token(tokens.auth())?;
    Some((tokens, distribution))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_each_request_and_never_a_secret() {
    use common::oci_fixtures::{PASSWORD, USER, write_docker_config};
    let Some((tokens, distribution)) = token_registry().await else {
        return;
    };
    let host = distribution.host.clone();
    let cli = Cli::new();
    write_docker_config(&cli.docker_config(), &host, USER, PASSWORD);
    let dir = cli.scaffold("taskserv", "logged", &cli.path("cwd"));
    let output = cli
        .run(&[
            "oci",
            "--registry",
            &host,
            "--namespace",
            "team",
            "--plain-http",
            "--no-progress",
            "-vv",
            "push",
            dir.to_str().unwrap(),
        ])
        .await;
    assert_success(&output);
    let log = text(&output.stderr);
    // Method, URL, status and time of each request: the registry's and the token service's.
    assert!(
        log.contains(&format!(
            "HTTP HEAD http://{host}/v2/team/logged/manifests/0.1.0 -> 401 in "
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("HTTP GET {}/token -> 200 in ", tokens.url)),
        "{log}"
    );
    assert!(log.contains("HTTP PUT http://"), "{log}");
    assert!(log.contains("/manifests/0.1.0 -> 201 in "), "{log}");
    // Never a secret: no password, no Basic or Bearer value, no token, no query.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in [
        PASSWORD,
        basic.as_str(),
        "Bearer ",
        "Basic ",
        "eyJ",
        "scope=",
        "?",
    ] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_said_as_such() {
    use common::oci_fixtures::{USER, write_docker_config};
    let Some((_tokens, distribution)) = token_registry().await else {
        return;
    };
    let host = distribution.host.clone();
    let cli = Cli::new();
    let login = cli
        .run_with_stdin(
            &["oci", "login", &host, "-u", USER, "--password-stdin"],
            Some("not-the-password\n"),
        )
        .await;
    assert_failure(
        &login,
        exit::FAILURE,
        "refused these credentials; nothing was stored",
    );
    assert!(!text(&login.stderr).contains("not-the-password"));

    write_docker_config(&cli.docker_config(), &host, USER, "not-the-password");
    let output = cli
        .run(&[
            "oci",
            "--registry",
            &host,
            "--no-progress",
            "tags",
            "team/app",
        ])
        .await;
    assert_failure(&output, exit::FAILURE, "refused the stored credentials");
    assert!(text(&output.stderr).contains("check the username and password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_plain_http_is_not_called_refused_credentials() {
    // A plain-HTTP registry on loopback, named `registry.test:PORT` (a name the client does not
    // take for loopback and that resolves nowhere) and reached through a proxy on loopback that
    // connects it to the registry: to the client a remote registry, so it speaks TLS to it, as
    // it does to any registry that is not loopback without --plain-http.
    let registry = TestRegistry::start().await;
    let port = registry.url.rsplit(':').next().unwrap().to_string();
    let host = format!("registry.test:{port}");
    let proxy = RecordingProxy::start().await;
    let cli = Cli::new();
    let args = ["oci", "login", &host, "-u", "someone", "--password-stdin"];
    let mut command = cli.command(&args);
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(name);
    }
    command.env("HTTPS_PROXY", &proxy.url);
    let login = cli
        .run_command(command, &args.join(" "), Some("whatever\n"))
        .await;
    assert_failure(&login, exit::FAILURE, "could not check the credentials");
    let stderr = text(&login.stderr);
    assert!(stderr.contains("add --plain-http"), "{stderr}");
    assert!(!stderr.contains("refused"), "{stderr}");
    // The registry was reached (through the proxy's tunnel) and answered TLS with plain HTTP.
    let lines = proxy.first_lines();
    assert!(!lines.is_empty(), "nothing went through the proxy");
    for line in &lines {
        assert_eq!(line, &format!("CONNECT {host} HTTP/1.1"), "{lines:?}");
    }
    assert!(
        proxy.seen().iter().all(|c| !c.contains("whatever")),
        "{:?}",
        proxy.seen()
    );
    registry.stop().await;
}

const JSON_DOC: &str = include_str!("../docs/json.md");

/// The `## \`command\`` sections of docs/json.md with the shape of their first ```json block.
fn documented_shapes() -> Vec<(String, serde_json::Value)> {
    let mut shapes = Vec::new();
    let mut title: Option<String> = None;
    let mut block: Option<String> = None;
    for line in JSON_DOC.lines() {
        if let Some(text) = block.as_mut() {
            if line.starts_with("```") {
                let shape = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("docs/json.md, {title:?}: not JSON ({e})"));
                if let Some(t) = title.take() {
                    shapes.push((t, shape));
                }
                block = None;
            } else {
                text.push_str(line);
                text.push('\n');
            }
        } else if let Some(rest) = line.strip_prefix("## `") {
            title = Some(rest.trim_end_matches('`').to_string());
        } else if line == "```json" {
            block = Some(String::new());
        }
    }
    shapes
}

/// Whether `actual` has every key of `shape`, each of its documented type; the path of the first
/// mismatch otherwise.
fn check_shape(
    shape: &serde_json::Value,
    actual: &serde_json::Value,
    at: &str,
) -> Result<(), String> {
    use serde_json::Value;
    match shape {
        Value::String(types) => {
            let ok = types.split('|').any(|t| match t {
                "string" => actual.is_string(),
                "number" => actual.is_number(),
                "bool" => actual.is_boolean(),
                "object" => actual.is_object(),
                "array" => actual.is_array(),
                "null" => actual.is_null(),
                "any" => true,
                other => panic!("docs/json.md: unknown type `{other}` at {at}"),
            });
            ok.then_some(())
                .ok_or_else(|| format!("{at}: {actual} is not {types}"))
        }
        Value::Object(keys) => {
            let Value::Object(found) = actual else {
                return Err(format!("{at}: {actual} is not an object"));
            };
            for (key, inner) in keys {
                let value = found
                    .get(key)
                    .ok_or_else(|| format!("{at}.{key}: missing in {actual}"))?;
                check_shape(inner, value, &format!("{at}.{key}"))?;
            }
            Ok(())
        }
        Value::Array(element) => {
            let Value::Array(items) = actual else {
                return Err(format!("{at}: {actual} is not an array"));
            };
            match element.first() {
                Some(element) => items
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, item)| check_shape(element, item, &format!("{at}[{i}]"))),
                None => Ok(()),
            }
        }
        other => panic!("docs/json.md: a shape holds {other} at {at}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_shapes_match_docs_json_md() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    common::deps::publish(&host).await;
    let cli = Cli::new();
    let ws = common::deps::sample_workspace(&cli, &host);
    let ws_text = ws.to_str().unwrap().to_string();
    let root = cli.path("cwd/extensions");
    let dir = cli.scaffold("taskserv", "shaped", &root);
    let dir_text = dir.to_str().unwrap().to_string();
    let root_text = root.to_str().unwrap().to_string();
    let storage = registry.storage_path().to_str().unwrap().to_string();
    let pulled = cli.path("pulled").to_str().unwrap().to_string();
    let package = cli.path("shaped.tar.gz").to_str().unwrap().to_string();
    let layout = cli.path("layout").to_str().unwrap().to_string();
    let gen_dir = cli.path("generated").to_str().unwrap().to_string();

    let oci = |rest: &[&str]| -> Vec<String> {
        let mut all = vec!["oci", "--registry", &host, "--plain-http", "--no-progress"];
        all.extend_from_slice(rest);
        all.iter().map(|s| s.to_string()).collect()
    };
    let plain = |all: &[&str]| -> Vec<String> { all.iter().map(|s| s.to_string()).collect() };
    // In order: later commands use what earlier ones made.
    let commands: Vec<(&str, Vec<String>)> = vec![
        (
            "generate extension TYPE NAME",
            plain(&["generate", "extension", "cluster", "gen", "--dir", &gen_dir]),
        ),
        (
            "oci package validate DIR",
            oci(&["package", "validate", &dir_text]),
        ),
        (
            "oci package DIR",
            oci(&["package", &dir_text, "-o", &package]),
        ),
        ("oci push DIR", oci(&["push", &dir_text])),
        (
            "oci publish ROOT",
            oci(&["publish", &root_text, "--dry-run"]),
        ),
        ("oci list", oci(&["list"])),
        ("oci search QUERY", oci(&["search", "kube"])),
        ("oci tags NAME", oci(&["tags", "kubernetes"])),
        (
            "oci inspect REFERENCE",
            oci(&["inspect", "kubernetes:1.31.1"]),
        ),
        (
            "oci pull REFERENCE",
            oci(&["pull", "kubernetes", "-o", &pulled]),
        ),
        (
            "oci copy SOURCE TARGET",
            oci(&["copy", "shaped:0.1.0", "copied/shaped:0.1.0"]),
        ),
        (
            "oci delete REFERENCE",
            oci(&["delete", "copied/shaped:0.1.0", "--yes"]),
        ),
        (
            "oci export REFERENCE… --to PATH",
            oci(&["export", "shaped:0.1.0", "--to", &layout]),
        ),
        (
            "oci login REGISTRY",
            oci(&["login", &host, "-u", "someone", "--password-stdin"]),
        ),
        ("oci logout REGISTRY", oci(&["logout", &host])),
        ("oci config", oci(&["config"])),
        ("oci cache size", oci(&["cache", "size"])),
        ("oci cache prune", oci(&["cache", "prune"])),
        (
            "oci-registry status",
            plain(&["oci-registry", "status", "--storage", &storage]),
        ),
        (
            "oci-registry gc",
            plain(&["oci-registry", "gc", "--dry-run", "--storage", &storage]),
        ),
        (
            "module list",
            plain(&["module", "list", "--workspace", &ws_text]),
        ),
        (
            "dep resolve",
            plain(&["dep", "resolve", "--workspace", &ws_text]),
        ),
        (
            "dep validate",
            plain(&["dep", "validate", "--workspace", &ws_text]),
        ),
        ("dep tree", plain(&["dep", "tree", "--workspace", &ws_text])),
        (
            "dep check-updates",
            plain(&["dep", "check-updates", "--workspace", &ws_text]),
        ),
    ];
    let shapes = documented_shapes();
    let documented: Vec<&str> = shapes.iter().map(|(t, _)| t.as_str()).collect();
    let run: Vec<&str> = commands.iter().map(|(t, _)| *t).collect();
    let mut sorted_documented = documented.clone();
    sorted_documented.sort();
    let mut sorted_run = run.clone();
    sorted_run.sort();
    assert_eq!(
        sorted_documented, sorted_run,
        "docs/json.md and this test name other commands"
    );

    for (title, args) in &commands {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--output", "json"]);
        let stdin = title.starts_with("oci login").then_some("a-password\n");
        let output = cli.run_with_stdin(&args, stdin).await;
        // `oci-registry status` exits 3 when no registry runs there, and still prints it.
        if *title != "oci-registry status" {
            assert_success(&output);
        }
        let actual: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                panic!(
                    "{title}: stdout is not JSON ({e}): {}",
                    text(&output.stdout)
                )
            });
        let shape = &shapes.iter().find(|(t, _)| t == title).unwrap().1;
        if let Err(mismatch) = check_shape(shape, &actual, title) {
            panic!("docs/json.md does not match the binary: {mismatch}");
        }
    }
    registry.stop().await;
}

#[test]
fn error_reports_and_logs_have_no_colour_with_no_color_or_off_a_terminal() {
    let cli = Cli::new();
    // Nothing listens on port 1: the command fails, with -v its report and log go to stderr.
    let args = [
        "oci",
        "-v",
        "--registry",
        "127.0.0.1:1",
        "--no-progress",
        "tags",
        "x",
    ];
    for no_color in [Some("1"), None] {
        let mut command = cli.command(&args);
        match no_color {
            Some(value) => command.env("NO_COLOR", value),
            None => command.env_remove("NO_COLOR"),
        };
        let output = common::cli::wait(command, "oci -v tags");
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert!(stderr.contains("cannot reach"), "{stderr}");
        assert!(stderr.contains("DEBUG"), "no -v log: {stderr}");
        assert!(!stderr.contains('\u{1b}'), "colour in {stderr:?}");
    }
}

#[test]
fn oci_config_names_the_proxy_and_never_for_loopback() {
    let cli = Cli::new();
    let run = |registry: &str| {
        let mut command =
            cli.command(&["oci", "--registry", registry, "config", "--output", "json"]);
        command
            .env("HTTPS_PROXY", "http://user:secret@proxy.example:3128")
            .env("NO_PROXY", "internal.example")
            .env_remove("https_proxy")
            .env_remove("no_proxy");
        let output = common::cli::wait(command, "oci config");
        assert_success(&output);
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let remote = run("registry.example.com");
    assert_eq!(remote["proxy"], "http://proxy.example:3128/", "{remote}");
    assert!(!remote.to_string().contains("secret"));
    assert!(run("127.0.0.1:5000")["proxy"].is_null());
    assert!(run("registry.internal.example")["proxy"].is_null());
}
