//! The real binary in a real terminal: `provisioning demo` runs inside tmux (its own server and
//! socket, no user configuration), keys are sent with `send-keys` and the screen is read with
//! `capture-pane` until what is expected shows. Also how the workbench commands fail: their
//! exit codes are a contract.

mod common;

use common::cli::Cli;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);

/// A tmux server on its own socket, reading no configuration file, killed when dropped.
struct Tmux {
    socket: String,
}

const SESSION: &str = "workbench";

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-f", "/dev/null", "-L"])
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn screen(&self) -> String {
        let output = self.run(&["capture-pane", "-p", "-t", SESSION]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    fn text(&self, text: &str) {
        self.ok(&["send-keys", "-t", SESSION, "-l", text]);
    }

    /// Polls the screen until `done` holds on two captures in a row that are the same, so a
    /// capture taken while the workbench is part-way through drawing a frame is never the
    /// answer; panics with the last screen after `WAIT`.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + WAIT;
        let mut previous = String::new();
        loop {
            let screen = self.screen();
            if done(&screen) && screen == previous {
                return screen;
            }
            previous = screen.clone();
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Tmux {
    /// A 120×40 session running `binary args…` with `env` set, under `sh`, which writes the
    /// binary's exit status to `status` when it ends. (tmux itself is not asked for it: it
    /// marks a pane dead when its terminal closes and sometimes never reaps the process.)
    fn start_recorded(&self, env: &[String], binary: &str, args: &[&str], status: &Path) {
        let script = format!("\"$0\" \"$@\"; echo $? > '{}'", status.display());
        let mut command = vec![
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "120",
            "-y",
            "40",
            "env",
        ];
        command.extend(env.iter().map(String::as_str));
        command.extend(["sh", "-c", &script, binary]);
        command.extend_from_slice(args);
        self.ok(&command);
    }
}

/// The exit status `sh` recorded for the binary, once it ended.
fn recorded_status(status: &Path) -> String {
    wait_until("the binary to exit", || {
        std::fs::read_to_string(status).is_ok_and(|s| s.ends_with('\n'))
    });
    std::fs::read_to_string(status).unwrap().trim().to_string()
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The variables that put every directory the demo uses under `scratch`, and those directories.
fn isolated_env(scratch: &Path) -> Vec<(String, PathBuf)> {
    ["cache", "data", "config", "docker", "tmp"]
        .iter()
        .zip([
            "PROVISIONING_CACHE_DIR",
            "PROVISIONING_DATA_DIR",
            "PROVISIONING_CONFIG_DIR",
            "DOCKER_CONFIG",
            "TMPDIR",
        ])
        .map(|(dir, var)| {
            let path = scratch.join(dir);
            std::fs::create_dir_all(&path).unwrap();
            (var.to_string(), path)
        })
        .collect()
}

/// Runs the binary with `args` as a script would (no terminal), in a temporary home that also
/// holds its config and temporary directories.
fn run_binary(cli: &Cli, args: &[&str]) -> Output {
    let mut command = cli.command(args);
    for (var, dir) in [("PROVISIONING_CONFIG_DIR", "config"), ("TMPDIR", "tmp")] {
        std::fs::create_dir_all(cli.path(dir)).unwrap();
        command.env(var, cli.path(dir));
    }
    common::cli::wait(command, &format!("provisioning {}", args.join(" ")))
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let end = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn demo_dirs(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("provisioning-demo-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn demo_browse_pull_and_quit_in_a_terminal() {
    if !common::require_peer("tmux") {
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let isolated = isolated_env(scratch.path());
    let tmp = scratch.path().join("tmp");
    let dest = scratch.path().join("pulled").join("kubernetes");
    let binary = env!("CARGO_BIN_EXE_provisioning");
    let env: Vec<String> = isolated
        .iter()
        .map(|(var, path)| format!("{var}={}", path.display()))
        .collect();
    let tmux = Tmux {
        socket: format!("provisioning-e2e-{}", std::process::id()),
    };
    let status = scratch.path().join("exit-status");
    tmux.start_recorded(&env, binary, &["demo"], &status);

    let screen = tmux.wait_for("the sample repositories", |s| s.contains("kubernetes"));
    assert!(screen.contains("1 Registry"), "{screen}");
    assert!(screen.contains("repositories 37/37"), "{screen}");
    assert_eq!(
        demo_dirs(&tmp).len(),
        1,
        "the demo works in its temporary directory"
    );

    tmux.text("/kube");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the filter", |s| s.contains("repositories 2/37"));
    assert!(
        screen.contains("kubectl") && screen.contains("kubernetes"),
        "{screen}"
    );
    assert!(!screen.contains("containerd"), "filtered out: {screen}");

    // Catalog order: kubectl, then kubernetes.
    tmux.text("j");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the tags", |s| s.contains("tags 5/5"));
    assert!(screen.contains("› kubernetes"), "{screen}");
    let newest = screen.find("1.31.1").expect("1.31.1 listed");
    let oldest = screen.find("1.27.11").expect("1.27.11 listed");
    assert!(newest < oldest, "newest first: {screen}");

    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the detail", |s| {
        s.contains("dependencies") && s.contains("containerd")
    });
    assert!(screen.contains("extension manifest"), "{screen}");
    assert!(screen.contains("etcd"), "{screen}");

    tmux.text("p");
    tmux.wait_for("the pull prompt", |s| s.contains("Pull into directory"));
    let clear: Vec<&str> = std::iter::repeat_n("BSpace", 20).collect();
    tmux.keys(&clear);
    tmux.text(&dest.display().to_string());
    tmux.keys(&["Enter"]);
    tmux.text("4");
    let screen = tmux.wait_for("the finished pull", |s| {
        s.contains("Transfers") && s.lines().any(|l| l.contains("pull") && l.contains("done"))
    });
    assert!(screen.contains("files in"), "{screen}");
    assert!(screen.contains("transfers 1 (0 running)"), "{screen}");
    assert!(
        dest.join("manifest.yaml").is_file(),
        "pulled into {}",
        dest.display()
    );

    tmux.text("q");
    assert_eq!(
        recorded_status(&status),
        "0",
        "quitting exits with success; the screen:\n{}",
        tmux.screen()
    );
    wait_until("the demo's temporary directory to go", || {
        demo_dirs(&tmp).is_empty()
    });
}

/// The demo's workspace in a terminal: why etcd is there (Dependencies), cilium moved to
/// 1.15.3 and the tree following before anything is saved (Workspace), then saved with its
/// comments kept.
#[test]
fn demo_why_edit_resolve_and_save_in_a_terminal() {
    if !common::require_peer("tmux") {
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let isolated = isolated_env(scratch.path());
    let tmp = scratch.path().join("tmp");
    let binary = env!("CARGO_BIN_EXE_provisioning");
    let env: Vec<String> = isolated
        .iter()
        .map(|(var, path)| format!("{var}={}", path.display()))
        .collect();
    let tmux = Tmux {
        socket: format!("provisioning-e2e-ws-{}", std::process::id()),
    };
    let status = scratch.path().join("exit-status");
    tmux.start_recorded(&env, binary, &["demo"], &status);
    tmux.wait_for("the sample repositories", |s| {
        s.contains("repositories 37/37")
    });
    let demo = demo_dirs(&tmp).pop().expect("the demo's directory");
    let config = demo.join("workspace/config/provisioning.yaml");
    let before = std::fs::read_to_string(&config).expect("the demo's workspace");

    // Dependencies: the resolved tree, then why etcd is in it.
    tmux.text("2");
    let screen = tmux.wait_for("the resolved tree", |s| {
        s.contains("Dependencies · 10 extensions") && s.contains("etcd 3.5.12")
    });
    assert!(screen.contains("cilium 1.14.0"), "{screen}");
    tmux.text("/etcd");
    tmux.keys(&["Enter"]);
    tmux.text("i");
    let screen = tmux.wait_for("the inverted tree", |s| s.contains("why etcd is here"));
    let tree: Vec<&str> = screen
        .lines()
        .map(|l| l.split("││").next().unwrap_or(l))
        .collect();
    for via in ["kubernetes 1.28.0", "buildkit 0.12.0", "cilium 1.14.0"] {
        assert!(
            tree.iter().any(|l| l.contains(via)),
            "{via} leads to etcd: {screen}"
        );
    }
    tmux.text("i");

    // Workspace: cilium to 1.15.3, unsaved; the tree follows before anything is saved.
    tmux.text("3");
    tmux.wait_for("the modules", |s| {
        s.contains("cilium") && s.contains("=1.14.0")
    });
    tmux.text("jjjj");
    tmux.text("e");
    tmux.wait_for("cilium's versions", |s| {
        s.contains("› cilium › choose a version") && s.contains("1.15.3")
    });
    tmux.text("1.15.3");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the unsaved edit", |s| s.contains("changed, unsaved"));
    tmux.text("2");
    let screen = tmux.wait_for("the re-resolved tree", |s| {
        s.contains("unsaved") && s.contains("cilium 1.15.3")
    });
    assert!(!screen.contains("cilium 1.14.0"), "{screen}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        before,
        "nothing is written before saving"
    );

    // Save: the diff first, then the file.
    tmux.text("3");
    tmux.text("s");
    tmux.wait_for("the diff", |s| {
        s.contains("-        - \"oci://") && s.contains("cilium:1.15.3\"")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the save", |s| s.contains("Saved config/provisioning.yaml"));
    let after = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        after,
        before.replace("cilium:1.14.0", "cilium:1.15.3"),
        "one line changed, comments and order kept"
    );

    tmux.text("q");
    assert_eq!(
        recorded_status(&status),
        "0",
        "quitting exits with success; the screen:\n{}",
        tmux.screen()
    );
    wait_until("the demo's temporary directory to go", || {
        demo_dirs(&tmp).is_empty()
    });
}

#[test]
fn ui_with_an_unknown_theme_is_a_usage_error() {
    let output = run_binary(&Cli::new(), &["ui", "--theme", "no-such-theme"]);
    common::assert_failure(&output, common::exit::USAGE, "theme no-such-theme");
}

#[test]
fn ui_without_a_terminal_is_a_usage_error() {
    let output = run_binary(&Cli::new(), &["ui"]);
    common::assert_failure(&output, common::exit::USAGE, "needs a terminal");
}

/// The demo fails before publishing anything when its port is taken, and cleans up.
#[test]
fn demo_on_a_port_in_use_fails_and_leaves_nothing() {
    let cli = Cli::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address").to_string();
    let output = run_binary(&cli, &["demo", "--no-ui", "--addr", &addr]);
    common::assert_failure(
        &output,
        common::exit::FAILURE,
        &format!("cannot listen on {addr}"),
    );
    assert!(
        demo_dirs(&cli.path("tmp")).is_empty(),
        "the demo cleaned up"
    );
}

/// Without a terminal the demo refuses before it starts a registry, unless told `--no-ui`.
#[test]
fn demo_without_a_terminal_is_a_usage_error() {
    let cli = Cli::new();
    let output = run_binary(&cli, &["demo"]);
    common::assert_failure(&output, common::exit::USAGE, "needs a terminal");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("demo registry at"), "{stderr}");
    assert!(demo_dirs(&cli.path("tmp")).is_empty());
}

/// `provisioning` with no arguments on a terminal opens the workbench (here on an unreachable
/// default registry, which it explains), and `q` quits with 0.
#[test]
fn no_arguments_on_a_terminal_open_the_workbench() {
    if !common::require_peer("tmux") {
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let env: Vec<String> = isolated_env(scratch.path())
        .iter()
        .map(|(var, path)| format!("{var}={}", path.display()))
        .collect();
    let tmux = Tmux {
        socket: format!("provisioning-bare-{}", std::process::id()),
    };
    let status = scratch.path().join("exit-status");
    tmux.start_recorded(&env, env!("CARGO_BIN_EXE_provisioning"), &[], &status);
    let screen = tmux.wait_for("the workbench", |s| s.contains("1 Registry"));
    assert!(!screen.contains("Usage:"), "not the help: {screen}");
    tmux.keys(&["q"]);
    assert_eq!(recorded_status(&status), "0", "{}", tmux.screen());
}

/// Without a terminal and without a command there is nothing to open: the help goes to stderr
/// and the exit code says usage.
#[test]
fn no_arguments_without_a_terminal_print_help_and_exit_2() {
    let output = run_binary(&Cli::new(), &[]);
    common::assert_failure(&output, common::exit::USAGE, "Usage:");
    assert!(output.stdout.is_empty());
}
