//! `generate ci github|gitea|gitlab`: the workflows are parsed, their tag patterns matched,
//! every `provisioning` command they run parsed by the real command tree, and their login,
//! dry-run and publish steps run by bash, as the runner would, against the embedded registry
//! over HTTPS with Basic authentication. `oci publish --from-tag` without a value reads the
//! tag the CI sets. Linters run where installed (actionlint for the Actions workflows,
//! check-jsonschema with GitLab's schema), as peers.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::{CommandFactory, Parser};
use common::cli::Cli;
use common::oci_fixtures::{PASSWORD, USER, write_htpasswd};
use common::{TestPki, TestRegistry, assert_failure, assert_success, make_pki, require_peer, text};
use serde_yaml::Value;

const INSTALL_FROM: &str = "https://git.example.com/platform/provisioning.git";
const TAG: &str = "taskservs/kubernetes/v1.28.0";
const NAMESPACE: &str = "platform/extensions";

// ---------------------------------------------------------------------------------------------
// A monorepo and its generated workflow.

/// A monorepo with `taskservs/kubernetes` 1.28.0 and `providers/aws` 0.3.0.
fn monorepo(cli: &Cli) -> PathBuf {
    let root = cli.path("repo");
    std::fs::create_dir_all(root.join("taskservs")).unwrap();
    for (kind, name, version) in [
        ("taskserv", "kubernetes", "1.28.0"),
        ("provider", "aws", "0.3.0"),
    ] {
        let out = cli.run_sync(&[
            "generate",
            "extension",
            kind,
            name,
            "--ext-version",
            version,
            "--dir",
            root.to_str().unwrap(),
        ]);
        assert_success(&out);
    }
    assert!(root.join("taskservs/kubernetes/manifest.yaml").is_file());
    assert!(root.join("providers/aws/manifest.yaml").is_file());
    root
}

fn generate(cli: &Cli, root: &Path, provider: &str, extra: &[&str]) -> Output {
    let mut args = vec!["generate", "ci", provider, "--dir", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    cli.run_sync(&args)
}

fn workflow_path(provider: &str) -> &'static str {
    match provider {
        "github" => ".github/workflows/provisioning-publish.yml",
        "gitea" => ".gitea/workflows/provisioning-publish.yml",
        _ => ".gitlab/ci/provisioning.yml",
    }
}

fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed YAML: {e}\n{text}", path.display()))
}

/// One step a job runs: its shell script and the environment the step adds.
#[derive(Debug, Clone)]
struct Step {
    script: String,
    env: BTreeMap<String, String>,
}

/// A job: its trigger condition and its steps, in order (`uses:` steps left out).
#[derive(Debug)]
struct Job {
    condition: String,
    steps: Vec<Step>,
}

struct Workflow {
    /// Workflow-level `env:` (Actions) or `variables:` (GitLab).
    env: BTreeMap<String, String>,
    /// `check` (branch dry run) and `publish` (tag).
    check: Job,
    publish: Job,
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap().to_string(),
                        v.as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn actions_job(doc: &Value, name: &str) -> Job {
    let job = &doc["jobs"][name];
    assert!(job.is_mapping(), "no job `{name}`");
    let steps = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|step| {
            let script = step["run"].as_str()?;
            Some(Step {
                script: script.to_string(),
                env: string_map(&step["env"]),
            })
        })
        .collect();
    Job {
        condition: job["if"].as_str().unwrap_or_default().to_string(),
        steps,
    }
}

fn gitlab_job(doc: &Value, name: &str) -> Job {
    let job = &doc[name];
    assert!(job.is_mapping(), "no job `{name}`");
    let template = job["extends"].as_str().expect("extends");
    let lines = |v: &Value| -> Vec<String> {
        v.as_sequence()
            .map(|s| s.iter().map(|l| l.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut scripts = lines(&doc[template]["before_script"]);
    scripts.extend(lines(&job["script"]));
    let rules = job["rules"].as_sequence().expect("rules");
    assert_eq!(rules.len(), 1, "{name}: one rule");
    Job {
        condition: rules[0]["if"].as_str().unwrap().to_string(),
        steps: scripts
            .into_iter()
            .map(|script| Step {
                script,
                env: BTreeMap::new(),
            })
            .collect(),
    }
}

fn parse_workflow(root: &Path, provider: &str) -> Workflow {
    let doc = load_yaml(&root.join(workflow_path(provider)));
    if provider == "gitlab" {
        let root_file = load_yaml(&root.join(".gitlab-ci.yml"));
        assert_eq!(
            root_file["include"][0]["local"].as_str(),
            Some(workflow_path("gitlab")),
            ".gitlab-ci.yml includes the jobs"
        );
        Workflow {
            env: string_map(&doc["variables"]),
            check: gitlab_job(&doc, "provisioning-check"),
            publish: gitlab_job(&doc, "provisioning-publish"),
        }
    } else {
        Workflow {
            env: string_map(&doc["env"]),
            check: actions_job(&doc, "check"),
            publish: actions_job(&doc, "publish"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Command lines, as the shell would split them.

/// Splits a command line into words: double quotes (with `$VAR` expanded from `vars`), single
/// quotes, and bare words (expanded too). Anything fancier fails the test.
fn shell_words(line: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let expand = |chars: &mut std::iter::Peekable<std::str::Chars>, word: &mut String| {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let value = vars
            .get(&name)
            .unwrap_or_else(|| panic!("`${name}` in `{line}` is not set by the workflow"));
        word.push_str(value);
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next().expect("closing quote") {
                        '"' => break,
                        '$' => expand(&mut chars, &mut word),
                        '\\' | '`' => panic!("unexpected escape in `{line}`"),
                        c => word.push(c),
                    }
                }
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '$' => {
                in_word = true;
                expand(&mut chars, &mut word);
            }
            '|' | ';' | '&' | '<' | '>' | '`' | '\\' => {
                panic!("`{line}`: not a plain command line")
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Every `provisioning …` command in `script` (also the right side of a pipe), and every one
/// in a commented-out line when `commented`.
fn provisioning_commands(script: &str, commented: bool) -> Vec<String> {
    script
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            let line = match line.strip_prefix('#') {
                Some(rest) if commented => rest.trim().trim_start_matches("- ").trim(),
                Some(_) => return None,
                None if commented => return None,
                None => line,
            };
            let command = match line.split_once(" | ") {
                Some((_, right)) => right.trim(),
                None => line,
            };
            command
                .starts_with("provisioning ")
                .then(|| command.to_string())
        })
        .collect()
}

/// The variables a command line may use: the workflow's, the secrets the steps map in, and
/// the signing step's key file.
fn test_vars(workflow: &Workflow) -> BTreeMap<String, String> {
    let mut vars = workflow.env.clone();
    vars.insert("PROVISIONING_REGISTRY_USERNAME".into(), USER.into());
    vars.insert("PROVISIONING_REGISTRY_PASSWORD".into(), PASSWORD.into());
    vars.insert("key".into(), "/run/signing.key".into());
    vars
}

/// Parses `provisioning …` with the binary's own command tree.
fn parse_cli(words: &[String]) -> Result<provisioning::cli::Cli, clap::Error> {
    provisioning::cli::Cli::try_parse_from(words)
}

// ---------------------------------------------------------------------------------------------
// Tag patterns.

/// GitHub's and Gitea's filter patterns as the templates use them: `*` matches within one
/// path segment, everything else is literal; other special characters fail the test.
fn glob_matches(pattern: &str, text: &str) -> bool {
    assert!(
        !pattern.contains(['?', '[', '+', '!']) && !pattern.contains("**"),
        "pattern `{pattern}` uses syntax this check does not model"
    );
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

const RELEASE_TAGS: [&str; 3] = [
    "taskservs/kubernetes/v1.28.0",
    "providers/aws/v5.0.0",
    "clusters/buildkit/v0.12.0-rc.1",
];
const NOT_RELEASE_TAGS: [&str; 5] = [
    "v1.28.0",
    "kubernetes/v1.28.0",
    "taskservs/v1.28.0",
    "taskservs/kubernetes/1.28.0",
    "services/kubernetes/v1.28.0",
];

fn check_actions_triggers(root: &Path, provider: &str) {
    let doc = load_yaml(&root.join(workflow_path(provider)));
    let push = &doc["on"]["push"];
    let patterns: Vec<&str> = push["tags"]
        .as_sequence()
        .expect("on.push.tags")
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let matched = |tag: &str| patterns.iter().any(|p| glob_matches(p, tag));
    for tag in RELEASE_TAGS {
        assert!(matched(tag), "{provider}: no tag pattern matches {tag}");
    }
    for tag in NOT_RELEASE_TAGS {
        assert!(!matched(tag), "{provider}: {tag} triggers a publish");
    }
    assert_eq!(push["branches"][0].as_str(), Some("main"));
    let workflow = parse_workflow(root, provider);
    assert_eq!(workflow.publish.condition, "github.ref_type == 'tag'");
    assert_eq!(workflow.check.condition, "github.ref_type == 'branch'");
}

/// Runs GitLab's `=~ /regex/` with Python's `re`, which reads this regex as RE2 does.
fn check_gitlab_triggers(root: &Path) {
    let workflow = parse_workflow(root, "gitlab");
    assert_eq!(workflow.check.condition, "$CI_COMMIT_BRANCH == \"main\"");
    let (variable, regex) = workflow
        .publish
        .condition
        .split_once(" =~ ")
        .expect("a regex rule");
    assert_eq!(variable, "$CI_COMMIT_TAG");
    let body = regex
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .expect("/regex/");
    if !require_peer("python3") {
        return;
    }
    let script = "import re, sys\n\
                  pattern = re.compile(sys.argv[1])\n\
                  for tag in sys.argv[2:]:\n    print('1' if pattern.search(tag) else '0')\n";
    let mut tags: Vec<&str> = RELEASE_TAGS.to_vec();
    tags.extend(NOT_RELEASE_TAGS);
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(body)
        .args(&tags)
        .output()
        .unwrap();
    assert_success(&out);
    let results: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    for (tag, result) in tags.iter().zip(&results) {
        let expected = if RELEASE_TAGS.contains(tag) { "1" } else { "0" };
        assert_eq!(result, expected, "gitlab rule {regex} on {tag}");
    }
}

// ---------------------------------------------------------------------------------------------
// Checked, not just written.

/// Every command the workflow runs parses with the CLI's own command tree, with the flags it
/// is given; the install line is the one asked for; secrets only reach the tool on stdin.
fn check_commands(root: &Path, provider: &str) {
    let workflow = parse_workflow(root, provider);
    let vars = test_vars(&workflow);
    let mut seen = Vec::new();
    for (job, expect) in [
        (&workflow.check, "--dry-run"),
        (&workflow.publish, "--from-tag"),
    ] {
        let scripts: String = job
            .steps
            .iter()
            .map(|s| format!("{}\n", s.script))
            .collect();
        assert!(
            scripts.contains(&format!(
                "cargo install --locked --git {INSTALL_FROM} --tag v{} provisioning",
                env!("CARGO_PKG_VERSION")
            )),
            "{provider}: the install line:\n{scripts}"
        );
        let commands = provisioning_commands(&scripts, false);
        assert!(
            commands.iter().any(|c| c.contains("oci login")),
            "{provider}: a login: {commands:?}"
        );
        assert!(
            commands
                .iter()
                .any(|c| c.contains("oci publish") && c.contains(expect)),
            "{provider}: a publish with {expect}: {commands:?}"
        );
        for command in &commands {
            let words = shell_words(command, &vars);
            if let Err(e) = parse_cli(&words) {
                panic!("{provider}: `{command}` does not parse:\n{e}");
            }
            seen.push(words);
        }
        for line in scripts.lines() {
            if line.contains("PASSWORD") && !line.trim_start().starts_with(": \"${") {
                assert!(
                    line.contains("| provisioning oci login") && line.ends_with("--password-stdin"),
                    "{provider}: a secret outside the login's stdin: {line}"
                );
            }
        }
        assert!(
            !scripts.contains("secrets."),
            "{provider}: a secret in a script"
        );
    }
    // The arguments mean what the workflow intends.
    let login = seen.iter().find(|w| w[2] == "login").unwrap();
    let cli = provisioning::cli::Cli::try_parse_from(login).unwrap();
    assert!(
        format!("{cli:?}").contains("password_stdin: true"),
        "{cli:?}"
    );
    let publish = seen
        .iter()
        .find(|w| w.iter().any(|a| a == "--from-tag"))
        .unwrap();
    assert_eq!(publish.last().map(String::as_str), Some("--from-tag"));
    assert!(publish.contains(&"--registry".to_string()));

    // The signing step is commented out in the generated file (it needs a secret), but
    // `oci publish --sign --key` exists: the line must parse against the CLI as written.
    let text = std::fs::read_to_string(root.join(workflow_path(provider))).unwrap();
    let signing = provisioning_commands(&text, true);
    assert_eq!(
        signing.len(),
        1,
        "{provider}: one commented signing command"
    );
    assert!(
        signing[0].contains("--sign --key \"$key\""),
        "{}",
        signing[0]
    );
    let app = provisioning::cli::Cli::command();
    let publish_cmd = app
        .find_subcommand("oci")
        .and_then(|c| c.find_subcommand("publish"))
        .expect("oci publish");
    assert!(
        publish_cmd
            .get_arguments()
            .any(|a| a.get_long() == Some("sign")),
        "oci publish has --sign"
    );
    parse_cli(&shell_words(&signing[0], &vars))
        .unwrap_or_else(|e| panic!("{provider}: the signing line does not parse: {e}"));
}

#[test]
fn github_workflow_is_well_formed_and_its_commands_exist() {
    let cli = Cli::new();
    let root = monorepo(&cli);
    let out = generate(&cli, &root, "github", &["--install-from", INSTALL_FROM]);
    assert_success(&out);
    assert!(
        text(&out.stdout).contains(workflow_path("github")),
        "{}",
        text(&out.stdout)
    );
    check_actions_triggers(&root, "github");
    check_commands(&root, "github");
}

#[test]
fn gitea_workflow_is_well_formed_and_its_commands_exist() {
    let cli = Cli::new();
    let root = monorepo(&cli);
    assert_success(&generate(
        &cli,
        &root,
        "gitea",
        &["--install-from", INSTALL_FROM],
    ));
    check_actions_triggers(&root, "gitea");
    check_commands(&root, "gitea");
    let text = std::fs::read_to_string(root.join(workflow_path("gitea"))).unwrap();
    assert!(text.contains("Gitea Actions"), "{text}");
}

#[test]
fn gitlab_pipeline_is_well_formed_and_its_commands_exist() {
    let cli = Cli::new();
    let root = monorepo(&cli);
    assert_success(&generate(
        &cli,
        &root,
        "gitlab",
        &["--install-from", INSTALL_FROM],
    ));
    check_gitlab_triggers(&root);
    check_commands(&root, "gitlab");
}

#[test]
fn actionlint_accepts_the_actions_workflows() {
    if !require_peer("actionlint") {
        return;
    }
    let cli = Cli::new();
    let root = monorepo(&cli);
    for provider in ["github", "gitea"] {
        assert_success(&generate(
            &cli,
            &root,
            provider,
            &["--registry", "harbor.example.com"],
        ));
        let mut command = Command::new("actionlint");
        command.current_dir(&root).arg("-no-color");
        if provider == "gitea" {
            // Gitea's act_runner keeps checkout@v4 (node20), which actionlint flags for GitHub.
            command.args(["-ignore", "node20"]);
        }
        let out = command.arg(workflow_path(provider)).output().unwrap();
        assert_success(&out);
    }
}

#[test]
fn gitlab_schema_accepts_the_pipeline() {
    if !require_peer("check-jsonschema") {
        return;
    }
    let cli = Cli::new();
    let root = monorepo(&cli);
    assert_success(&generate(
        &cli,
        &root,
        "gitlab",
        &["--registry", "harbor.example.com"],
    ));
    let out = Command::new("check-jsonschema")
        .current_dir(&root)
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .args([workflow_path("gitlab"), ".gitlab-ci.yml"])
        .output()
        .unwrap();
    assert_success(&out);
}

#[test]
fn existing_workflows_are_never_overwritten() {
    let cli = Cli::new();
    let root = monorepo(&cli);
    for provider in ["github", "gitea", "gitlab"] {
        assert_success(&generate(&cli, &root, provider, &[]));
        let path = root.join(workflow_path(provider));
        std::fs::write(&path, "# mine\n").unwrap();
        let out = generate(&cli, &root, provider, &["--install-from", INSTALL_FROM]);
        assert_failure(&out, common::exit::CONFLICT, "already exists");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    }
    // A .gitlab-ci.yml of the team's own is kept; the include to add is printed.
    let cli = Cli::new();
    let root = monorepo(&cli);
    std::fs::write(root.join(".gitlab-ci.yml"), "build:\n  script: [make]\n").unwrap();
    let out = generate(&cli, &root, "gitlab", &[]);
    assert_success(&out);
    assert!(
        text(&out.stderr).contains("- local: .gitlab/ci/provisioning.yml"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(root.join(".gitlab-ci.yml")).unwrap(),
        "build:\n  script: [make]\n"
    );
    assert!(root.join(workflow_path("gitlab")).is_file());
}

#[test]
fn placeholders_are_marked_and_values_that_would_break_the_file_refused() {
    let cli = Cli::new();
    let root = monorepo(&cli);
    let out = generate(&cli, &root, "github", &[]);
    assert_success(&out);
    assert!(
        text(&out.stderr).contains("--install-from URL"),
        "{}",
        text(&out.stderr)
    );
    let text_of = std::fs::read_to_string(root.join(workflow_path("github"))).unwrap();
    assert!(text_of.contains("# PLACEHOLDER: the git URL"), "{text_of}");
    assert!(text_of.contains("--git https://placeholder.invalid/provisioning.git"));
    assert!(text_of.contains("PROVISIONING_REGISTRY: \"registry.placeholder.invalid\""));

    for (flag, value, says) in [
        (
            "--registry",
            "https://harbor.example.com",
            "host[:port] only",
        ),
        (
            "--install-from",
            "https://bot:hunter2@git.example.com/p.git",
            "credentials",
        ),
        ("--namespace", "a b", "YAML or the shell"),
        ("--branch", "main'x", "YAML or the shell"),
    ] {
        let cli = Cli::new();
        let root = monorepo(&cli);
        let out = generate(&cli, &root, "gitlab", &[flag, value]);
        assert_failure(&out, common::exit::USAGE, says);
        assert!(!root.join(workflow_path("gitlab")).exists());
        assert!(
            !text(&out.stderr).contains("hunter2"),
            "{}",
            text(&out.stderr)
        );
    }
    let out = cli.run_sync(&["generate", "ci", "jenkins"]);
    assert_failure(&out, common::exit::USAGE, "github, gitea or gitlab");
}

// ---------------------------------------------------------------------------------------------
// The steps themselves, run by bash against the embedded registry.

struct Secured {
    registry: TestRegistry,
    pki: TestPki,
    _dir: tempfile::TempDir,
}

/// The embedded registry over HTTPS (a test CA) with Basic authentication.
async fn secured_registry() -> Secured {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let htpasswd = write_htpasswd(dir.path());
    let tls = pki.tls_files();
    let registry = TestRegistry::start_with(move |config| {
        config.htpasswd = Some(htpasswd);
        config.tls = Some(tls);
    })
    .await;
    Secured {
        registry,
        pki,
        _dir: dir,
    }
}

/// `bash` as an Actions runner starts it for a `run:` step, its output captured.
fn bash(script: &str, root: &Path) -> Command {
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// Runs a job's steps in order with bash as the runner does (`-eo pipefail`), skipping the
/// install step (the binary under test is on PATH instead), each step with the workflow's
/// variables, its own env (secrets mapped in) and `ci_env`; stops at the first failure.
async fn run_job(
    cli: &Cli,
    root: &Path,
    workflow: &Workflow,
    job: &Job,
    ci_env: &[(&str, &str)],
    ca: &Path,
) -> Output {
    run_job_with_secrets(cli, root, workflow, job, ci_env, ca, true).await
}

/// [`run_job`]; without `secrets` they are empty, as a CI gives a secret nobody added.
async fn run_job_with_secrets(
    cli: &Cli,
    root: &Path,
    workflow: &Workflow,
    job: &Job,
    ci_env: &[(&str, &str)],
    ca: &Path,
    secrets: bool,
) -> Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_provisioning"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let values = test_vars(workflow);
    let mut last = None;
    for step in &job.steps {
        if step.script.contains("cargo install") {
            continue;
        }
        let mut command = bash(&step.script, root);
        command
            .envs(&workflow.env)
            .env("PATH", &path)
            .env("PROVISIONING_CACHE_DIR", cli.path("cache"))
            .env("DOCKER_CONFIG", cli.path("docker"))
            .env("PROVISIONING_DATA_DIR", cli.path("data"))
            .env("REGISTRY_AUTH_FILE", cli.path("missing-auth.json"))
            // The runner trusts the registry's CA, as a CA bundle in the image would.
            .env("SSL_CERT_FILE", ca)
            .envs(ci_env.iter().copied());
        for (key, value) in &step.env {
            let secret = value
                .strip_prefix("${{ secrets.")
                .and_then(|v| v.strip_suffix(" }}"))
                .unwrap_or_else(|| panic!("step env {key}: {value}"));
            command.env(key, if secrets { &values[secret] } else { "" });
        }
        if job.steps.iter().all(|s| s.env.is_empty()) {
            // GitLab: CI/CD variables are in every job's environment.
            command
                .env(
                    "PROVISIONING_REGISTRY_USERNAME",
                    if secrets { USER } else { "" },
                )
                .env(
                    "PROVISIONING_REGISTRY_PASSWORD",
                    if secrets { PASSWORD } else { "" },
                );
        }
        let out = cli.run_command(command, &step.script, None).await;
        let failed = !out.status.success();
        last = Some(out);
        if failed {
            break;
        }
    }
    last.expect("a step ran")
}

/// The tags of `name` in the registry, read with the tool (logged in by the job).
async fn tags(cli: &Cli, host: &str, ca: &Path, name: &str) -> Vec<String> {
    let out = cli
        .run(&[
            "oci",
            "--registry",
            host,
            "--namespace",
            NAMESPACE,
            "--ca-file",
            ca.to_str().unwrap(),
            "tags",
            name,
            "--output",
            "json",
        ])
        .await;
    if out.status.code() == Some(common::exit::NOT_FOUND) {
        return Vec::new();
    }
    assert_success(&out);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tags: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect();
    tags.sort();
    tags
}

/// The variables a CI sets on a tag or branch build, the other CI's set empty so whatever the
/// test machine's own environment says cannot stand in for them.
fn ci_env(provider: &str, tag: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GITHUB_REF_TYPE", String::new()),
        ("GITHUB_REF_NAME", String::new()),
        ("CI_COMMIT_TAG", String::new()),
        ("CI_COMMIT_BRANCH", String::new()),
    ];
    let mut set = |key: &str, value: &str| {
        env.iter_mut().find(|(k, _)| *k == key).unwrap().1 = value.to_string();
    };
    match (provider, tag) {
        ("gitlab", Some(tag)) => set("CI_COMMIT_TAG", tag),
        ("gitlab", None) => set("CI_COMMIT_BRANCH", "main"),
        (_, Some(tag)) => {
            set("GITHUB_REF_TYPE", "tag");
            set("GITHUB_REF_NAME", tag);
        }
        (_, None) => {
            set("GITHUB_REF_TYPE", "branch");
            set("GITHUB_REF_NAME", "main");
        }
    }
    env
}

async fn run_pipeline(provider: &str) {
    let secured = secured_registry().await;
    let host = secured.registry.host();
    let ca = secured.pki.ca.clone();
    let cli = Cli::new();
    let root = monorepo(&cli);
    let out = generate(
        &cli,
        &root,
        provider,
        &[
            "--install-from",
            INSTALL_FROM,
            "--registry",
            &host,
            "--namespace",
            NAMESPACE,
        ],
    );
    assert_success(&out);
    let workflow = parse_workflow(&root, provider);
    let env = |tag: Option<&str>| ci_env(provider, tag);

    // A push to main: every extension validated and compared, nothing pushed.
    let branch = env(None);
    let branch_refs: Vec<(&str, &str)> = branch.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_job(&cli, &root, &workflow, &workflow.check, &branch_refs, &ca).await;
    assert_success(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("kubernetes") && stdout.contains("aws"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("would publish"), "{stdout}");
    assert!(tags(&cli, &host, &ca, "kubernetes").await.is_empty());

    // The tag: that one extension published, the other left alone.
    let tagged = env(Some(TAG));
    let tag_refs: Vec<(&str, &str)> = tagged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_job(&cli, &root, &workflow, &workflow.publish, &tag_refs, &ca).await;
    assert_success(&out);
    assert!(
        text(&out.stdout).contains("published"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(tags(&cli, &host, &ca, "kubernetes").await, ["1.28.0"]);
    assert!(tags(&cli, &host, &ca, "aws").await.is_empty());

    // Main again: kubernetes is unchanged in the registry.
    let out = run_job(&cli, &root, &workflow, &workflow.check, &branch_refs, &ca).await;
    assert_success(&out);
    assert!(
        text(&out.stdout).contains("unchanged"),
        "{}",
        text(&out.stdout)
    );

    // The same tag pointing at other content: refused as a conflict.
    let manifest = root.join("taskservs/kubernetes/docs/README.md");
    std::fs::write(&manifest, "changed without a version bump\n").unwrap();
    let out = run_job(&cli, &root, &workflow, &workflow.publish, &tag_refs, &ca).await;
    assert_failure(&out, common::exit::CONFLICT, "could not be published");
    let out = run_job(&cli, &root, &workflow, &workflow.check, &branch_refs, &ca).await;
    assert_failure(&out, common::exit::CONFLICT, "could not be published");

    // The publish step on a branch build never takes the branch for a tag.
    let out = run_job(&cli, &root, &workflow, &workflow.publish, &branch_refs, &ca).await;
    assert_failure(&out, common::exit::USAGE, "there is none");

    // Without the secrets (unset in GitLab, empty in Actions) the login step says which to add.
    let fresh = Cli::new();
    let out = run_job_with_secrets(
        &fresh,
        &root,
        &workflow,
        &workflow.publish,
        &tag_refs,
        &ca,
        false,
    )
    .await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("add the") && stderr.contains("PROVISIONING_REGISTRY_USERNAME"),
        "{stderr}"
    );
    secured.registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_steps_publish_to_the_embedded_registry() {
    run_pipeline("github").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_steps_publish_to_the_embedded_registry() {
    run_pipeline("gitea").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_steps_publish_to_the_embedded_registry() {
    run_pipeline("gitlab").await;
}

// ---------------------------------------------------------------------------------------------
// `oci publish --from-tag` without a value.

async fn publish_from_env(cli: &Cli, host: &str, root: &Path, env: &[(&str, &str)]) -> Output {
    let root = root.to_str().unwrap();
    cli.oci_with_env(host, &["publish", root, "--from-tag"], env)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_tag_reads_github_ref_name_only_on_tag_builds() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = monorepo(&cli);
    // A branch whose name looks like a tag is still a branch.
    let out = publish_from_env(
        &cli,
        &host,
        &root,
        &[
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_REF_NAME", TAG),
            ("CI_COMMIT_TAG", ""),
        ],
    )
    .await;
    assert_failure(&out, common::exit::USAGE, "this is a build of branch");
    assert!(cli.oci(&host, &["tags", "kubernetes"]).await.status.code() == Some(4));

    let out = publish_from_env(
        &cli,
        &host,
        &root,
        &[
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_REF_NAME", TAG),
            ("CI_COMMIT_TAG", ""),
        ],
    )
    .await;
    assert_success(&out);
    let listed = cli.oci_ok(&host, &["tags", "kubernetes"]).await;
    assert!(listed.contains("1.28.0"), "{listed}");
    let listed = cli.oci(&host, &["tags", "aws"]).await;
    assert_eq!(listed.status.code(), Some(common::exit::NOT_FOUND));
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_tag_reads_ci_commit_tag_on_gitlab() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = monorepo(&cli);
    let out = publish_from_env(
        &cli,
        &host,
        &root,
        &[
            ("GITHUB_REF_TYPE", ""),
            ("GITHUB_REF_NAME", ""),
            ("CI_COMMIT_TAG", "providers/aws/v0.3.0"),
        ],
    )
    .await;
    assert_success(&out);
    let listed = cli.oci_ok(&host, &["tags", "aws"]).await;
    assert!(listed.contains("0.3.0"), "{listed}");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_tag_without_a_tag_or_off_the_pattern_exits_2() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = monorepo(&cli);
    let none = [
        ("GITHUB_REF_TYPE", ""),
        ("GITHUB_REF_NAME", ""),
        ("CI_COMMIT_TAG", ""),
    ];
    let out = publish_from_env(&cli, &host, &root, &none).await;
    assert_failure(&out, common::exit::USAGE, "CI_COMMIT_TAG is not set");
    let out = publish_from_env(
        &cli,
        &host,
        &root,
        &[
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_REF_NAME", "v1.28.0"),
            ("CI_COMMIT_TAG", ""),
        ],
    )
    .await;
    assert_failure(&out, common::exit::USAGE, "GITHUB_REF_NAME: `v1.28.0`");
    // A tag that names an extension the manifest does not agree with.
    let out = publish_from_env(
        &cli,
        &host,
        &root,
        &[
            ("GITHUB_REF_TYPE", ""),
            ("GITHUB_REF_NAME", ""),
            ("CI_COMMIT_TAG", "taskservs/kubernetes/v1.29.0"),
        ],
    )
    .await;
    assert_failure(&out, common::exit::FAILURE, "1.29.0");
    // An explicit value still wins over the environment.
    let out = cli
        .oci_with_env(
            &host,
            &[
                "publish",
                root.to_str().unwrap(),
                "--from-tag",
                "providers/aws/v0.3.0",
            ],
            &[("GITHUB_REF_TYPE", "tag"), ("GITHUB_REF_NAME", TAG)],
        )
        .await;
    assert_success(&out);
    assert!(text(&out.stdout).contains("aws"), "{}", text(&out.stdout));
    assert!(
        !text(&out.stdout).contains("kubernetes"),
        "{}",
        text(&out.stdout)
    );
    registry.stop().await;
}

/// The README's "Publishing from CI" example prints what the README shows.
#[test]
fn readme_example_prints_what_the_readme_shows() {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Publishing from CI"))
        .expect("a README section \"Publishing from CI\"");
    let block = section
        .split("```console\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a console block");
    let mut lines = block.lines();
    let command = lines.next().unwrap().strip_prefix("$ ").unwrap();
    let expected: Vec<&str> = lines.take_while(|l| !l.starts_with("$ ")).collect();
    let args: Vec<&str> = command.split(' ').collect();
    assert_eq!(&args[..3], ["provisioning", "generate", "ci"]);
    let cli = Cli::new();
    let root = monorepo(&cli);
    let mut run = cli.command(&args[1..]);
    run.current_dir(&root);
    let out = run.output().unwrap();
    assert_success(&out);
    assert_eq!(text(&out.stdout).lines().collect::<Vec<_>>(), expected);
    assert!(root.join(workflow_path("github")).is_file());
}

/// `--plain-http` reaches every `oci` command of the workflow, and they still parse.
#[test]
fn plain_http_reaches_every_oci_command() {
    let cli = Cli::new();
    let root = monorepo(&cli);
    for provider in ["github", "gitea", "gitlab"] {
        let out = generate(
            &cli,
            &root,
            provider,
            &["--plain-http", "--registry", "registry.ci.internal:5000"],
        );
        assert_success(&out);
        let workflow = parse_workflow(&root, provider);
        let vars = test_vars(&workflow);
        assert_eq!(
            workflow.env["PROVISIONING_REGISTRY"],
            "registry.ci.internal:5000"
        );
        let scripts: String = [&workflow.check, &workflow.publish]
            .iter()
            .flat_map(|job| job.steps.iter().map(|s| format!("{}\n", s.script)))
            .collect();
        let commands = provisioning_commands(&scripts, false);
        assert!(commands.len() >= 4, "{provider}: {commands:?}");
        for command in commands {
            assert!(command.contains(" --plain-http"), "{provider}: {command}");
            let words = shell_words(&command, &vars);
            if let Err(e) = parse_cli(&words) {
                panic!("{provider}: `{command}` does not parse:\n{e}");
            }
        }
    }
}
