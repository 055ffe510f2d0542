//! Publishing from CI: `generate ci` writes the workflow files that publish an extensions
//! monorepo on tags `<type>s/<name>/v<version>` (and dry-run it on the main branch), and
//! [`release_tag_from_env`] reads such a tag from the variables the CI sets.
//!
//! The workflows are rendered from the templates under `assets/templates/ci/`, embedded in
//! the binary. Templates use `{{key}}` placeholders without spaces; anything else between
//! braces (the CI's own `${{ secrets.X }}` expressions) is copied unchanged. The lines of a
//! multi-line value keep the indentation of the placeholder's line.
//!
//! Everything a user passes in ends up in YAML and in shell commands, so it is checked first:
//! no quotes, spaces, `$`, backticks or control characters, and no credentials in a URL.
//! Credentials never appear in the generated files: they come from the CI's secret store and
//! reach the tool on stdin.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::extension::publish::parse_release_tag;

const ACTIONS_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/templates/ci/actions.yml"
));
const GITLAB_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/templates/ci/gitlab.yml"
));

/// Where the GitLab jobs go; `.gitlab-ci.yml` includes this file.
pub const GITLAB_JOBS_FILE: &str = ".gitlab/ci/provisioning.yml";
/// GitLab's pipeline file.
pub const GITLAB_CI_FILE: &str = ".gitlab-ci.yml";
/// The registry written when none is given; it can never resolve, so a workflow left with it
/// fails at login with that name in the error.
pub const PLACEHOLDER_REGISTRY: &str = "registry.placeholder.invalid";
/// The git URL written when `--install-from` is not given, for the same reason.
pub const PLACEHOLDER_GIT_URL: &str = "https://placeholder.invalid/provisioning.git";

/// A CI system `generate ci` writes workflows for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiProvider {
    /// GitHub Actions: `.github/workflows/`.
    Github,
    /// Gitea Actions: `.gitea/workflows/`, the same workflow syntax.
    Gitea,
    /// GitLab CI: `.gitlab-ci.yml`.
    Gitlab,
}

impl CiProvider {
    pub const ALL: [CiProvider; 3] = [CiProvider::Github, CiProvider::Gitea, CiProvider::Gitlab];

    pub fn as_str(&self) -> &'static str {
        match self {
            CiProvider::Github => "github",
            CiProvider::Gitea => "gitea",
            CiProvider::Gitlab => "gitlab",
        }
    }

    /// The workflow file holding the jobs, relative to the repository root.
    pub fn workflow_path(&self) -> &'static str {
        match self {
            CiProvider::Github => ".github/workflows/provisioning-publish.yml",
            CiProvider::Gitea => ".gitea/workflows/provisioning-publish.yml",
            CiProvider::Gitlab => GITLAB_JOBS_FILE,
        }
    }
}

impl fmt::Display for CiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CiProvider {
    type Err = String;

    fn from_str(s: &str) -> Result<CiProvider, String> {
        match s.to_ascii_lowercase().as_str() {
            "github" => Ok(CiProvider::Github),
            "gitea" => Ok(CiProvider::Gitea),
            "gitlab" => Ok(CiProvider::Gitlab),
            other => Err(format!(
                "`{other}` is not a CI provider; use github, gitea or gitlab"
            )),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct CiSpec {
    pub provider: CiProvider,
    /// The git URL provisioning is installed from (`cargo install --git`); a marked
    /// placeholder when `None`.
    pub install_from: Option<String>,
    /// The git tag of provisioning to install.
    pub install_tag: String,
    /// `host[:port]` extensions are published to; a marked placeholder when `None`.
    pub registry: Option<String>,
    pub namespace: String,
    /// The branch whose pushes run the dry run.
    pub branch: String,
    /// Talk plain HTTP to the registry (one on the runner's own network without TLS).
    pub plain_http: bool,
}

impl CiSpec {
    /// Defaults: provisioning's own version tag, the default namespace, branch `main`.
    pub fn new(provider: CiProvider) -> CiSpec {
        CiSpec {
            provider,
            install_from: None,
            install_tag: format!("v{}", env!("CARGO_PKG_VERSION")),
            registry: None,
            namespace: crate::oci::reference::DEFAULT_NAMESPACE.to_string(),
            branch: "main".into(),
            plain_http: false,
        }
    }

    /// The values still holding a placeholder, as the option that fills each in.
    pub fn placeholders(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.install_from.is_none() {
            out.push("--install-from URL");
        }
        if self.registry.is_none() {
            out.push("--registry HOST[:PORT]");
        }
        out
    }
}

/// Why no workflow was written. Nothing has been written when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    #[error("{option} `{value}` cannot be written into a workflow: {reason}")]
    Invalid {
        option: &'static str,
        value: String,
        reason: String,
    },
    #[error("{} already exists; it was left as it was (remove it to generate it again)", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiFile {
    /// Relative to the repository root.
    pub path: PathBuf,
    pub contents: String,
}

/// What [`generate`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Generated {
    /// Files written, relative to the repository root.
    pub written: Vec<PathBuf>,
    /// What the user still has to do by hand (an `include:` to add, for one).
    pub notes: Vec<String>,
}

/// The files for `spec`, rendered in memory: for GitHub and Gitea the workflow; for GitLab the
/// jobs file and a `.gitlab-ci.yml` that includes it.
pub fn render(spec: &CiSpec) -> Result<Vec<CiFile>, CiError> {
    validate(spec)?;
    let vars = variables(spec);
    let template = match spec.provider {
        CiProvider::Github | CiProvider::Gitea => ACTIONS_TEMPLATE,
        CiProvider::Gitlab => GITLAB_TEMPLATE,
    };
    let mut files = vec![CiFile {
        path: PathBuf::from(spec.provider.workflow_path()),
        contents: render_text(template, &vars),
    }];
    if spec.provider == CiProvider::Gitlab {
        files.push(CiFile {
            path: PathBuf::from(GITLAB_CI_FILE),
            contents: gitlab_root_file(),
        });
    }
    Ok(files)
}

/// The `include:` entry that pulls the generated jobs into a pipeline.
pub fn gitlab_include() -> String {
    format!("include:\n  - local: {GITLAB_JOBS_FILE}\n")
}

fn gitlab_root_file() -> String {
    format!(
        "# Generated by `provisioning generate ci gitlab`: the pipeline's jobs live in\n\
         # {GITLAB_JOBS_FILE} (publish extensions on tags, dry-run them on the main branch).\n\
         # Add your own jobs below; they run beside those.\n\
         {}\n\
         stages:\n  - test\n  - deploy\n",
        gitlab_include()
    )
}

/// Renders the files into the repository at `root`. The workflow file must not exist (exit 5
/// in the CLI). GitLab's `.gitlab-ci.yml` is written only when there is none; otherwise it is
/// left alone and a note says which `include:` to add. Each file is written to a temporary
/// sibling and linked into place, so it appears whole or not at all, and a file created
/// meanwhile is never replaced.
pub fn generate(spec: &CiSpec, root: &Path) -> Result<Generated, CiError> {
    let files = render(spec)?;
    let mut generated = Generated::default();
    let main = root.join(spec.provider.workflow_path());
    if main.symlink_metadata().is_ok() {
        return Err(CiError::Exists(main));
    }
    for file in files {
        let dest = root.join(&file.path);
        if file.path == Path::new(GITLAB_CI_FILE) && dest.symlink_metadata().is_ok() {
            generated.notes.push(format!(
                "{} exists and was left as it was: add this to it (and the stages `test` and `deploy`, if it lists stages):\n{}",
                dest.display(),
                gitlab_include()
            ));
            continue;
        }
        write_new(&dest, &file.contents)?;
        generated.written.push(file.path);
    }
    Ok(generated)
}

fn write_new(dest: &Path, contents: &str) -> Result<(), CiError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CiError::Io { path, source }
    };
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    fs::write(&temp, contents).map_err(io_err(&temp))?;
    // A hard link never replaces an existing file: the check and the write are one step.
    let linked = fs::hard_link(&temp, dest);
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(CiError::Exists(dest.to_path_buf()))
        }
        Err(e) => Err(io_err(dest)(e)),
    }
}

fn validate(spec: &CiSpec) -> Result<(), CiError> {
    let invalid = |option: &'static str, value: &str, reason: &str| CiError::Invalid {
        option,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let plain = |option: &'static str, value: &str| -> Result<(), CiError> {
        if value.is_empty() {
            return Err(invalid(option, value, "it is empty"));
        }
        if let Some(c) = value
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "\"'`$\\{}#;|&<>()*?!".contains(*c))
        {
            return Err(invalid(
                option,
                value,
                &format!(
                    "it contains `{}`, which YAML or the shell would read",
                    c.escape_default()
                ),
            ));
        }
        Ok(())
    };
    if let Some(url) = &spec.install_from {
        plain("--install-from", url)?;
        let rest = ["https://", "http://", "ssh://", "git://", "file://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .ok_or_else(|| {
                invalid(
                    "--install-from",
                    url,
                    "give the git URL with its scheme, like https://git.example.com/team/provisioning.git",
                )
            })?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') && !url.starts_with("ssh://") {
            let host = authority.rsplit('@').next().unwrap_or_default();
            return Err(invalid(
                "--install-from",
                &url.replacen(authority, &format!("***@{host}"), 1),
                "it holds credentials; a workflow file is no place for them (use a public or runner-readable URL)",
            ));
        }
    }
    plain("--install-tag", &spec.install_tag)?;
    if let Some(registry) = &spec.registry {
        plain("--registry", registry)?;
        if registry.contains("://") || registry.contains('/') {
            return Err(invalid(
                "--registry",
                registry,
                "give host[:port] only, like harbor.example.com; the namespace goes in --namespace",
            ));
        }
    }
    plain("--namespace", &spec.namespace)?;
    crate::oci::validate_repository(&spec.namespace)
        .map_err(|e| invalid("--namespace", &spec.namespace, &e.to_string()))?;
    plain("--branch", &spec.branch)?;
    Ok(())
}

fn variables(spec: &CiSpec) -> Vec<(&'static str, String)> {
    let provider = spec.provider;
    let registry_comment = if spec.registry.is_some() {
        String::new()
    } else {
        format!(
            "  # PLACEHOLDER: set your registry here (or generate again with `--registry HOST`);\n  # {PLACEHOLDER_REGISTRY} never resolves, so the login step fails until you do."
        )
    };
    let url = spec.install_from.as_deref().unwrap_or(PLACEHOLDER_GIT_URL);
    let cargo_install = format!(
        "cargo install --locked --git {url} --tag {} provisioning",
        spec.install_tag
    );
    let mut install = Vec::new();
    if spec.install_from.is_none() {
        install.push(format!(
            "# PLACEHOLDER: the git URL provisioning is installed from was not given to\n# `generate ci` (--install-from URL); replace {PLACEHOLDER_GIT_URL} below."
        ));
    }
    match provider {
        CiProvider::Github | CiProvider::Gitea => {
            install.push(
                "# One step: build provisioning at a fixed tag (a few minutes). A runner image\n\
                 # without Rust gets a minimal toolchain from rustup first."
                    .to_string(),
            );
            install.push(
                "command -v cargo >/dev/null || { curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal && . \"$HOME/.cargo/env\"; }".to_string(),
            );
            install.push(cargo_install);
            install.push("echo \"$HOME/.cargo/bin\" >> \"$GITHUB_PATH\"".to_string());
        }
        CiProvider::Gitlab => {
            install.push("# One step: build provisioning at a fixed tag (a few minutes).".into());
            install.push(cargo_install);
        }
    }
    let (secrets_place, gitea_env_note) = match provider {
        CiProvider::Gitea => (
            "Settings > Actions > Secrets",
            " (Gitea Actions sets both, as GitHub does)",
        ),
        _ => ("Settings > Secrets and variables > Actions", ""),
    };
    vec![
        ("provider", provider.to_string()),
        ("tool_version", env!("CARGO_PKG_VERSION").to_string()),
        ("branch", spec.branch.clone()),
        ("branch_yaml", yaml_quoted(&spec.branch)),
        ("branch_quoted", yaml_quoted(&spec.branch)),
        ("registry_comment", registry_comment),
        (
            "registry_yaml",
            yaml_quoted(spec.registry.as_deref().unwrap_or(PLACEHOLDER_REGISTRY)),
        ),
        ("namespace_yaml", yaml_quoted(&spec.namespace)),
        ("install", install.join("\n")),
        (
            "oci_flags",
            if spec.plain_http {
                " --plain-http".into()
            } else {
                String::new()
            },
        ),
        ("runs_on", "ubuntu-latest".into()),
        (
            "checkout",
            match provider {
                // Gitea's act_runner has run node20 actions for longest.
                CiProvider::Gitea => "actions/checkout@v4",
                _ => "actions/checkout@v5",
            }
            .into(),
        ),
        ("secrets_place", secrets_place.into()),
        ("gitea_env_note", gitea_env_note.into()),
    ]
}

/// A double-quoted YAML scalar; values were checked to hold no quotes or backslashes.
fn yaml_quoted(value: &str) -> String {
    format!("\"{value}\"")
}

/// Replaces `{{key}}` placeholders. A line holding nothing but a placeholder whose value is
/// empty is dropped; the lines of a multi-line value are indented like the placeholder.
fn render_text(template: &str, vars: &[(&'static str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    for line in template.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(key) = trimmed
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
            && vars.iter().any(|(k, v)| *k == key && v.is_empty())
        {
            continue;
        }
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let mut rendered = line.to_string();
        for (key, value) in vars {
            let placeholder = format!("{{{{{key}}}}}");
            if rendered.contains(&placeholder) {
                let value = value.replace('\n', &format!("\n{indent}"));
                rendered = rendered.replace(&placeholder, &value);
            }
        }
        out.push_str(&rendered);
    }
    out
}

/// Where [`release_tag_from_env`] found the tag, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvTag {
    /// The variable, like `GITHUB_REF_NAME`.
    pub variable: &'static str,
    pub tag: String,
}

/// The release tag of a CI tag build, from the variables the CI sets: `GITHUB_REF_NAME` only
/// when `GITHUB_REF_TYPE=tag` (GitHub and Gitea Actions), else `CI_COMMIT_TAG` (GitLab). A
/// branch build never yields its branch name. The tag must be `<type>s/<name>/v<version>`.
/// `get` reads a variable; empty values count as unset.
pub fn release_tag_from_env(get: impl Fn(&str) -> Option<String>) -> Result<EnvTag, String> {
    let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let found = if get("GITHUB_REF_TYPE").as_deref() == Some("tag") {
        get("GITHUB_REF_NAME").map(|tag| EnvTag {
            variable: "GITHUB_REF_NAME",
            tag,
        })
    } else {
        None
    };
    let found = found.or_else(|| {
        get("CI_COMMIT_TAG").map(|tag| EnvTag {
            variable: "CI_COMMIT_TAG",
            tag,
        })
    });
    let Some(found) = found else {
        let branch = match get("GITHUB_REF_TYPE").as_deref() {
            Some("branch") => get("GITHUB_REF_NAME")
                .map(|b| format!(" (this is a build of branch `{b}`)"))
                .unwrap_or_default(),
            _ => get("CI_COMMIT_BRANCH")
                .map(|b| format!(" (this is a build of branch `{b}`)"))
                .unwrap_or_default(),
        };
        return Err(format!(
            "--from-tag without a value reads the tag of a CI tag build, and there is none{branch}: \
             GITHUB_REF_TYPE is not `tag` and CI_COMMIT_TAG is not set; \
             give the tag (`--from-tag taskservs/kubernetes/v1.28.0`) or run it on a tag build"
        ));
    };
    parse_release_tag(&found.tag).map_err(|e| format!("{}: {e}", found.variable))?;
    Ok(found)
}

/// [`release_tag_from_env`] over this process's environment.
pub fn release_tag_from_process_env() -> Result<EnvTag, String> {
    release_tag_from_env(|name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn github_tag_build_reads_ref_name() {
        let tag = release_tag_from_env(env(&[
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_REF_NAME", "taskservs/kubernetes/v1.28.0"),
        ]))
        .unwrap();
        assert_eq!(tag.variable, "GITHUB_REF_NAME");
        assert_eq!(tag.tag, "taskservs/kubernetes/v1.28.0");
    }

    #[test]
    fn branch_build_never_reads_the_branch_name() {
        let err = release_tag_from_env(env(&[
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_REF_NAME", "taskservs/kubernetes/v1.28.0"),
        ]))
        .unwrap_err();
        assert!(
            err.contains("branch `taskservs/kubernetes/v1.28.0`"),
            "{err}"
        );
        assert!(err.contains("there is none"), "{err}");
    }

    #[test]
    fn gitlab_tag_build_reads_commit_tag() {
        let tag =
            release_tag_from_env(env(&[("CI_COMMIT_TAG", "clusters/buildkit/v0.12.0")])).unwrap();
        assert_eq!(tag.variable, "CI_COMMIT_TAG");
    }

    #[test]
    fn a_tag_off_the_pattern_names_its_variable() {
        let err = release_tag_from_env(env(&[("CI_COMMIT_TAG", "v1.28.0")])).unwrap_err();
        assert!(err.starts_with("CI_COMMIT_TAG: "), "{err}");
        assert!(err.contains("taskservs/kubernetes/v1.28.0"), "{err}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let err = release_tag_from_env(env(&[
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_REF_NAME", ""),
            ("CI_COMMIT_TAG", " "),
        ]))
        .unwrap_err();
        assert!(err.contains("there is none"), "{err}");
    }

    #[test]
    fn hostile_values_are_refused() {
        for (field, value) in [
            ("registry", "harbor.example.com\n  evil: 1"),
            ("registry", "https://harbor.example.com"),
            ("url", "https://user:token@git.example.com/p.git"),
            ("url", "https://git.example.com/$(id).git"),
            ("namespace", "Team"),
            ("branch", "main\"; rm -rf /"),
        ] {
            let mut spec = CiSpec::new(CiProvider::Github);
            match field {
                "registry" => spec.registry = Some(value.into()),
                "url" => spec.install_from = Some(value.into()),
                "namespace" => spec.namespace = value.into(),
                _ => spec.branch = value.into(),
            }
            assert!(
                matches!(render(&spec), Err(CiError::Invalid { .. })),
                "{field} {value:?} was accepted"
            );
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for provider in CiProvider::ALL {
            for file in render(&CiSpec::new(provider)).unwrap() {
                let leftover = file
                    .contents
                    .match_indices("{{")
                    .map(|(i, _)| &file.contents[i..])
                    .find(|rest| !rest.starts_with("{{ "));
                assert!(
                    leftover.is_none(),
                    "{}: {:?}",
                    file.path.display(),
                    leftover
                );
            }
        }
    }
}
