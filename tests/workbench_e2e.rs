//! The real binary in a real terminal: `provisioning demo` runs inside tmux, keys are sent with
//! `send-keys` and the screen is read with `capture-pane` until what is expected shows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);

/// A tmux server on its own socket, killed when dropped.
struct Tmux {
    socket: String,
}

const SESSION: &str = "workbench";

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
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

    /// Polls the screen until `done` holds; panics with the last screen after `WAIT`.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Whether `pid` is gone (or only a zombie left to reap).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
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
    let dir = |name: &str| {
        let path = scratch.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    };
    let (cache, data, config, docker, tmp) = (
        dir("cache"),
        dir("data"),
        dir("config"),
        dir("docker"),
        dir("tmp"),
    );
    let dest = scratch.path().join("pulled").join("kubernetes");
    let binary = env!("CARGO_BIN_EXE_provisioning");
    let env = [
        format!("PROVISIONING_CACHE_DIR={}", cache.display()),
        format!("PROVISIONING_DATA_DIR={}", data.display()),
        format!("PROVISIONING_CONFIG_DIR={}", config.display()),
        format!("DOCKER_CONFIG={}", docker.display()),
        format!("TMPDIR={}", tmp.display()),
    ];
    let tmux = Tmux {
        socket: format!("provisioning-e2e-{}", std::process::id()),
    };
    let mut args = vec![
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
    args.extend(env.iter().map(String::as_str));
    args.extend([binary, "demo"]);
    tmux.ok(&args);
    let pid: u32 = tmux
        .ok(&["display-message", "-p", "-t", SESSION, "#{pane_pid}"])
        .trim()
        .parse()
        .expect("a pane pid");

    let screen = tmux.wait_for("the sample repositories", |s| s.contains("kubernetes"));
    assert!(screen.contains("1 Registry"), "{screen}");
    assert!(screen.contains("repositories 37/37"), "{screen}");
    assert!(
        tmp.join(format!("provisioning-demo-{pid}")).is_dir(),
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
    wait_until("the workbench to exit", || exited(pid));
    wait_until("the demo's temporary directory to go", || {
        demo_dirs(&tmp).is_empty()
    });
    assert!(
        !tmp.join(format!("provisioning-demo-{pid}")).exists(),
        "the demo cleaned up"
    );
}
