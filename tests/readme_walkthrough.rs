//! The README's CLI walk-through (the block between `<!-- walkthrough -->` and
//! `<!-- /walkthrough -->`) runs as written against `provisioning demo --no-ui`: every command
//! in it succeeds, and every output line it shows is printed (`…` stands for what varies, and
//! `PORT` for the demo's port), so the README cannot drift from the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::cli::Cli;
use common::text;

const README: &str = include_str!("../README.md");

/// One `$ command` of the walk-through and the output lines shown under it.
#[derive(Debug)]
struct Step {
    command: String,
    shown: Vec<String>,
}

fn walkthrough() -> Vec<Step> {
    let start = README
        .find("<!-- walkthrough -->")
        .expect("README.md marks its walk-through with <!-- walkthrough -->");
    let end = README[start..]
        .find("<!-- /walkthrough -->")
        .expect("the walk-through ends with <!-- /walkthrough -->")
        + start;
    let block = &README[start..end];
    let mut steps: Vec<Step> = Vec::new();
    let mut inside = false;
    for line in block.lines() {
        if line.starts_with("```") {
            inside = !inside;
            continue;
        }
        if !inside || line.trim().is_empty() {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: command.to_string(),
                shown: Vec::new(),
            });
        } else {
            steps
                .last_mut()
                .expect("output before the first command")
                .shown
                .push(line.to_string());
        }
    }
    assert!(
        steps.len() >= 10,
        "the walk-through lost its commands: {steps:?}"
    );
    steps
}

fn collapse(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `actual` holds a line matching `shown`: the same words, `…` matching anything.
fn shows(actual: &str, shown: &str) -> bool {
    let shown = collapse(shown);
    let parts: Vec<&str> = shown.split('…').collect();
    actual.lines().map(collapse).any(|line| {
        let mut rest = line.as_str();
        for (i, part) in parts.iter().enumerate() {
            let found = if i == 0 {
                rest.starts_with(part).then_some(0)
            } else {
                rest.find(part)
            };
            match found {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        parts.len() > 1 || rest.is_empty()
    })
}

fn check_shown(step: &Step, actual: &str) {
    for line in &step.shown {
        if line.trim() == "…" {
            continue;
        }
        assert!(
            shows(actual, line),
            "README walk-through: `$ {}` should print\n  {line}\nbut printed:\n{actual}",
            step.command
        );
    }
}

#[test]
fn line_matching_follows_the_ellipsis_rule() {
    let out = "blobs       2 (6.9 KiB)\ndigest  sha256:abc\n";
    assert!(shows(out, "blobs 2 (…)"));
    assert!(shows(out, "digest  sha256:…"));
    assert!(!shows(out, "blobs 3 (…)"));
    assert!(!shows(out, "digest"));
}

#[test]
fn the_readme_walkthrough_runs_against_the_demo() {
    let steps = walkthrough();
    let cli = Cli::new();
    let temp = cli.path("tmp");
    std::fs::create_dir_all(&temp).unwrap();

    // The demo, as the first step says.
    assert_eq!(steps[0].command, "provisioning demo --no-ui");
    let mut demo = cli.command(&["demo", "--no-ui"]);
    demo.env("TMPDIR", &temp).stderr(Stdio::piped());
    let mut child = demo.spawn().expect("start the demo");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    while !said
        .iter()
        .any(|l: &String| l.contains("press Ctrl-C to stop"))
    {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => said.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the demo did not come up: {said:?}");
            }
        }
    }
    let host = said
        .iter()
        .find_map(|l| l.split("export PROVISIONING_REGISTRY=").nth(1))
        .expect("the demo prints the line that points the CLI at it")
        .trim()
        .to_string();
    let port = host.rsplit(':').next().unwrap().to_string();
    let normalize = |text: &str| {
        text.replace(&host, "127.0.0.1:PORT")
            .replace(&temp.display().to_string(), "/tmp")
    };
    check_shown(&steps[0], &normalize(&said.join("\n")));

    for step in &steps[1..] {
        if let Some(value) = step.command.strip_prefix("export PROVISIONING_REGISTRY=") {
            assert_eq!(value.replace("PORT", &port), host, "{}", step.command);
            continue;
        }
        let Some(args) = step.command.strip_prefix("provisioning ") else {
            panic!(
                "the walk-through runs `{}`, which this test does not know",
                step.command
            );
        };
        assert!(
            !args.contains(['"', '\'', '|', '&', ';']),
            "keep walk-through commands to plain words: {}",
            step.command
        );
        let args: Vec<&str> = args.split_whitespace().collect();
        let mut command = cli.command(&args);
        command
            .env("PROVISIONING_REGISTRY", &host)
            .env("PROVISIONING_CONFIG_DIR", cli.path("config"))
            .env("TMPDIR", &temp);
        let output = common::cli::wait(command, &step.command);
        let printed = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(
            output.status.success(),
            "README walk-through: `$ {}` failed ({:?}):\n{printed}",
            step.command,
            output.status
        );
        check_shown(step, &normalize(&printed));
    }

    // SIGTERM, as a closed terminal would: the demo removes its directory and says so.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = common::wait_with_deadline(child, "demo", Duration::from_secs(60)).status;
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.iter().any(|l| l.contains("are removed")), "{rest:?}");
    let left: Vec<_> = std::fs::read_dir(&temp)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("provisioning-demo-")
        })
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
