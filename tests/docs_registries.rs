//! `docs/registries.md` cannot drift: every `provisioning.yaml` block loads through the
//! workspace model, `provisioning oci config` run in a workspace holding it prints the lines
//! the guide shows, every `provisioning` command line parses with the tool's command tree, and
//! every login line runs against the embedded registry (HTTPS, Basic auth) with its user name.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Parser;
use common::cli::Cli;
use common::{TestRegistry, assert_success, make_pki, text};
use provisioning::workspace::Workspace;

const GUIDE: &str = include_str!("../docs/registries.md");
const CONFIG_MARK: &str = "# config/provisioning.yaml";

/// A fenced block: its language and its lines.
struct Block {
    lang: String,
    lines: Vec<String>,
}

/// A `## ` section of the guide with its fenced blocks.
struct Section {
    title: String,
    blocks: Vec<Block>,
}

fn sections() -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut open: Option<Block> = None;
    for line in GUIDE.lines() {
        if let Some(block) = open.as_mut() {
            if line.starts_with("```") {
                let block = open.take().unwrap();
                sections.last_mut().expect("a section").blocks.push(block);
            } else {
                block.lines.push(line.to_string());
            }
        } else if let Some(lang) = line.strip_prefix("```") {
            open = Some(Block {
                lang: lang.trim().to_string(),
                lines: Vec::new(),
            });
        } else if let Some(title) = line.strip_prefix("## ") {
            sections.push(Section {
                title: title.to_string(),
                blocks: Vec::new(),
            });
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    sections
}

/// The workspace blocks of a section.
fn workspace_blocks(section: &Section) -> Vec<String> {
    section
        .blocks
        .iter()
        .filter(|b| b.lang == "yaml" && b.lines.first().map(String::as_str) == Some(CONFIG_MARK))
        .map(|b| b.lines.join("\n") + "\n")
        .collect()
}

/// `$ …` command lines of a section's console blocks, each with the output lines after it.
fn console_commands(section: &Section) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for block in section.blocks.iter().filter(|b| b.lang == "console") {
        for line in &block.lines {
            if let Some(command) = line.strip_prefix("$ ") {
                out.push((command.to_string(), Vec::new()));
            } else if let Some(last) = out.last_mut() {
                last.1.push(line.clone());
            }
        }
    }
    out
}

fn workspace_with(dir: &Path, yaml: &str) -> PathBuf {
    let root = dir.to_path_buf();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(root.join("config/provisioning.yaml"), yaml).unwrap();
    root
}

/// Splits a command line: single and double quotes, `$VAR` left as written.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, ' ') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in `{line}`");
    if in_word {
        words.push(word);
    }
    words
}

/// The `provisioning …` part of a command line (the right side of a pipe).
fn provisioning_part(command: &str) -> Option<&str> {
    let command = command
        .rsplit_once(" | ")
        .map_or(command, |(_, right)| right)
        .trim();
    command.starts_with("provisioning ").then_some(command)
}

#[test]
fn the_guide_covers_each_registry_with_a_workspace_block() {
    let sections = sections();
    let titles: Vec<&str> = sections.iter().map(|s| s.title.as_str()).collect();
    for expected in ["embedded", "distribution", "Harbor", "GHCR", "Gitea"] {
        let section = sections
            .iter()
            .find(|s| s.title.contains(expected))
            .unwrap_or_else(|| panic!("no section on {expected}: {titles:?}"));
        assert_eq!(
            workspace_blocks(section).len(),
            1,
            "{}: one provisioning.yaml block",
            section.title
        );
        let commands = console_commands(section);
        assert!(
            commands.iter().any(|(c, _)| c == "provisioning oci config"),
            "{}: shows `oci config`",
            section.title
        );
    }
    let tested = sections
        .iter()
        .find(|s| s.title.contains("tested"))
        .expect("a section on what is tested");
    assert!(tested.title.contains("not"), "{}", tested.title);
}

#[test]
fn every_workspace_block_loads_through_the_workspace_model() {
    let mut loaded = 0;
    for section in sections() {
        for yaml in workspace_blocks(&section) {
            let dir = tempfile::tempdir().unwrap();
            let root = workspace_with(dir.path(), &yaml);
            let workspace = Workspace::load(&root).unwrap_or_else(|e| {
                panic!("{}: the block does not load:\n{e}\n{yaml}", section.title)
            });
            assert!(
                workspace.warnings.is_empty(),
                "{}: warnings {:?}",
                section.title,
                workspace.warnings
            );
            let effective = workspace.config.effective_registry();
            assert!(
                effective.registry.is_some() && effective.namespace.is_some(),
                "{}: names a registry and namespace: {effective:?}",
                section.title
            );
            loaded += 1;
        }
    }
    assert!(loaded >= 5, "{loaded} blocks");
}

/// `provisioning oci config`, run in a workspace holding the section's block (after the
/// credentials its login would store), prints what the guide shows.
#[test]
fn oci_config_prints_what_the_guide_shows() {
    for section in sections() {
        let Some(yaml) = workspace_blocks(&section).pop() else {
            continue;
        };
        let commands = console_commands(&section);
        let Some((_, expected)) = commands
            .iter()
            .find(|(c, _)| c == "provisioning oci config")
        else {
            continue;
        };
        let cli = Cli::new();
        let root = workspace_with(&cli.path("infra"), &yaml);
        // What a login stores: an `auths` entry for the host it logged in to.
        if let Some((login, _)) = commands.iter().find(|(c, _)| c.contains("oci login")) {
            let args = words(provisioning_part(login).unwrap());
            let host = &args[3];
            std::fs::write(
                cli.docker_config(),
                format!(r#"{{"auths":{{"{host}":{{"auth":"dXNlcjpwYXNz"}}}}}}"#),
            )
            .unwrap();
        }
        let mut command = cli.command(&["oci", "config"]);
        command.current_dir(&root);
        let out = command.output().unwrap();
        assert_success(&out);
        let actual: Vec<(String, String)> = text(&out.stdout).lines().map(split_field).collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| split_field(l))
            .collect();
        let keys = |rows: &[(String, String)]| rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            keys(&actual),
            keys(&expected),
            "{}: the fields",
            section.title
        );
        for ((key, got), (_, shown)) in actual.iter().zip(&expected) {
            match key.as_str() {
                // The guide's paths are a user's; the test's are its temporary home.
                "cache_dir" => {}
                "client" => assert!(
                    shown.starts_with("provisioning ") && shown.ends_with(" (built-in)"),
                    "{shown}"
                ),
                // No user config in either; the paths differ as above.
                "user_config" => assert!(
                    shown.starts_with("none (") && got.starts_with("none ("),
                    "{}: user_config {got:?} / {shown:?}",
                    section.title
                ),
                "workspace" => {
                    assert_eq!(shown, "/home/me/infra", "{}", section.title);
                    assert_eq!(Path::new(got), root, "{}", section.title);
                }
                "credentials" if shown.ends_with("/.docker/config.json") => {
                    assert_eq!(Path::new(got), cli.docker_config(), "{}", section.title)
                }
                _ => assert_eq!(got, shown, "{}: {key}", section.title),
            }
        }
    }
}

fn split_field(line: &str) -> (String, String) {
    let (key, value) = line.split_once(' ').unwrap_or((line, ""));
    (key.to_string(), value.trim().to_string())
}

/// Every `provisioning …` command of the guide, in console blocks and inline code, parses
/// with the tool's command tree; logins take the password on stdin.
#[test]
fn every_command_in_the_guide_exists() {
    let mut parsed = 0;
    let mut lines: Vec<String> = sections()
        .iter()
        .flat_map(console_commands)
        .map(|(c, _)| c)
        .collect();
    let mut prose = String::new();
    let mut fenced = false;
    for line in GUIDE.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
            prose.push(' ');
        }
    }
    for span in prose.split('`').skip(1).step_by(2) {
        if span.starts_with("provisioning ") {
            lines.push(span.to_string());
        }
    }
    for line in &lines {
        let Some(command) = provisioning_part(line) else {
            continue;
        };
        let args = words(command);
        if let Err(e) = provisioning::cli::Cli::try_parse_from(&args) {
            panic!("`{command}` does not parse:\n{e}");
        }
        if args.get(2).map(String::as_str) == Some("login") {
            assert!(args.contains(&"--password-stdin".to_string()), "{line}");
            assert!(
                line.contains(" | provisioning"),
                "{line}: the password on stdin"
            );
        }
        parsed += 1;
    }
    assert!(parsed >= 12, "{parsed} commands");
}

/// Each login line of the guide, run by bash against the embedded registry (HTTPS from a test
/// CA, Basic auth with the guide's user name, `robot$…` included): it succeeds, stores the
/// credentials, and `oci config` then names where they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_line_logs_in() {
    let logins: Vec<String> = sections()
        .iter()
        .flat_map(console_commands)
        .map(|(c, _)| c)
        .filter(|c| c.contains("oci login"))
        .collect();
    assert!(logins.len() >= 4, "{logins:?}");
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let password = "correct-horse-battery-staple";
    let mut htpasswd = String::new();
    for line in &logins {
        let args = words(provisioning_part(line).unwrap());
        let user = &args[args.iter().position(|a| a == "--username").unwrap() + 1];
        let hash = bcrypt::hash(password, 4).unwrap();
        htpasswd.push_str(&format!("{user}:{hash}\n"));
    }
    let htpasswd_path = dir.path().join("htpasswd");
    std::fs::write(&htpasswd_path, htpasswd).unwrap();
    let tls = pki.tls_files();
    let registry = TestRegistry::start_with(move |config| {
        config.htpasswd = Some(htpasswd_path);
        config.tls = Some(tls);
    })
    .await;
    let host = registry.host();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_provisioning"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for line in &logins {
        let args = words(provisioning_part(line).unwrap());
        let documented_host = args[3].clone();
        let variable = line
            .split("\"$")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("`{line}`: the password from a variable"));
        let script = line.replace(&documented_host, &host);
        let cli = Cli::new();
        let mut command = Command::new("bash");
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .env("PATH", &path)
            .env(variable, password)
            .env("DOCKER_CONFIG", cli.path("docker"))
            .env("PROVISIONING_CACHE_DIR", cli.path("cache"))
            .env("PROVISIONING_DATA_DIR", cli.path("data"))
            .env("REGISTRY_AUTH_FILE", cli.path("missing-auth.json"))
            .env("SSL_CERT_FILE", &pki.ca)
            .current_dir(cli.path("cwd"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = cli.run_command(command, &script, None).await;
        assert_success(&out);
        assert!(text(&out.stdout).contains("Login succeeded"), "{script}");
        let stored = std::fs::read_to_string(cli.docker_config()).unwrap();
        assert!(stored.contains(&host), "{stored}");
        assert!(
            !stored.contains(password),
            "the password is stored encoded, not in clear"
        );
        let out = cli
            .run(&[
                "oci",
                "config",
                "--registry",
                &host,
                "--ca-file",
                pki.ca.to_str().unwrap(),
            ])
            .await;
        assert_success(&out);
        let credentials = text(&out.stdout)
            .lines()
            .find(|l| l.starts_with("credentials"))
            .unwrap()
            .to_string();
        assert!(
            credentials.ends_with(cli.docker_config().to_str().unwrap()),
            "{credentials}"
        );
    }
    registry.stop().await;
}
