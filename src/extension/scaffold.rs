//! `generate extension`: a new extension directory in the seed's layout, rendered from the
//! templates under `assets/templates/extension/`, which are embedded so the binary works anywhere.
//!
//! Templates use `{{key}}` placeholders, written without spaces. Anything else between braces —
//! such as Jinja's `{{ settings.port }}` in the `.j2` config templates — is copied unchanged, so
//! the extension's own templates need no escaping. A line holding nothing but a placeholder
//! whose value is empty is dropped, and the lines of a multi-line value keep the indentation of
//! the placeholder's line.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use semver::Version;

use crate::extension::manifest::ExtensionType;
use crate::extension::range::VersionRange;

/// What to generate.
#[derive(Debug, Clone)]
pub struct ScaffoldSpec {
    pub kind: ExtensionType,
    pub name: String,
    pub version: Version,
    /// One line (line breaks become spaces); `<name> <type>` when not given or blank.
    pub description: Option<String>,
    /// Extension name and version range, in the order they are written.
    pub dependencies: Vec<(String, String)>,
    pub min_provisioning_version: Option<Version>,
    pub tags: Vec<String>,
    /// Upstream project page; the extension's repository when not given.
    pub homepage: Option<String>,
}

impl ScaffoldSpec {
    /// A `kind` extension called `name` at version 0.1.0, without dependencies, tagged with its type.
    pub fn new(kind: ExtensionType, name: impl Into<String>) -> ScaffoldSpec {
        let tags = vec![kind.to_string()];
        ScaffoldSpec {
            kind,
            name: name.into(),
            version: Version::new(0, 1, 0),
            description: None,
            dependencies: Vec::new(),
            min_provisioning_version: None,
            tags,
            homepage: None,
        }
    }
}

/// Why an extension was not generated. Nothing has been written when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{name}` cannot be an extension name: {reason}; use lowercase letters and digits separated by `.`, `_` or `-`, e.g. `redis` or `rook-ceph`"
    )]
    InvalidName { name: String, reason: String },
    #[error("dependency `{name}` cannot be written: {reason}")]
    InvalidDependency { name: String, reason: String },
    #[error("{} already exists and is not empty; remove it or choose another --dir", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One file of a generated extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldFile {
    /// Relative to the extension root.
    pub path: PathBuf,
    pub contents: String,
    /// Unix permission bits: 0o755 for scripts, 0o644 for everything else.
    pub mode: u32,
}

struct Template {
    dest: &'static str,
    source: &'static str,
    executable: bool,
}

macro_rules! template {
    ($dest:literal, $src:literal) => {
        template!($dest, $src, false)
    };
    ($dest:literal, $src:literal, $exec:literal) => {
        Template {
            dest: $dest,
            source: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/templates/extension/",
                $src
            )),
            executable: $exec,
        }
    };
}

const COMMON: &[Template] = &[
    template!("manifest.yaml", "common/manifest.yaml"),
    template!("schemas/manifest.toml", "common/schemas/manifest.toml"),
    template!("schemas/version.ncl", "common/schemas/version.ncl"),
    template!(
        "schemas/dependencies.ncl",
        "common/schemas/dependencies.ncl"
    ),
    template!("tests/check_test.nu", "common/tests/check_test.nu"),
];

const PROVIDER: &[Template] = &[
    template!("schemas/{{name}}.ncl", "provider/schemas/settings.ncl"),
    template!("scripts/install.nu", "provider/scripts/install.nu", true),
    template!("scripts/check.nu", "provider/scripts/check.nu", true),
    template!(
        "scripts/uninstall.nu",
        "provider/scripts/uninstall.nu",
        true
    ),
    template!(
        "templates/servers.yaml.j2",
        "provider/templates/servers.yaml.j2"
    ),
    template!("docs/README.md", "provider/docs/README.md"),
];

const TASKSERV: &[Template] = &[
    template!("schemas/{{name}}.ncl", "taskserv/schemas/settings.ncl"),
    template!("scripts/install.nu", "taskserv/scripts/install.nu", true),
    template!("scripts/check.nu", "taskserv/scripts/check.nu", true),
    template!(
        "scripts/uninstall.nu",
        "taskserv/scripts/uninstall.nu",
        true
    ),
    template!(
        "templates/{{name}}.yaml.j2",
        "taskserv/templates/config.yaml.j2"
    ),
    template!(
        "templates/{{name}}.service.j2",
        "taskserv/templates/service.j2"
    ),
    template!("docs/README.md", "taskserv/docs/README.md"),
];

const CLUSTER: &[Template] = &[
    template!("schemas/{{name}}.ncl", "cluster/schemas/settings.ncl"),
    template!("scripts/install.nu", "cluster/scripts/install.nu", true),
    template!("scripts/check.nu", "cluster/scripts/check.nu", true),
    template!("scripts/uninstall.nu", "cluster/scripts/uninstall.nu", true),
    template!(
        "templates/cluster.yaml.j2",
        "cluster/templates/cluster.yaml.j2"
    ),
    template!("docs/README.md", "cluster/docs/README.md"),
];

const AUTHOR: &str = "Provisioning Team";
const LICENSE: &str = "MIT";
const REPOSITORY_BASE: &str = "https://gitea.example.com/provisioning-extensions";
const TYPE_DIRS: [&str; 3] = ["providers", "taskservs", "clusters"];

/// Where `generate` puts a new extension: `<dir>/<type plural>/<name>` when `dir` is an
/// extensions monorepo root (it has `providers/`, `taskservs/` or `clusters/`), else `<dir>/<name>`.
pub fn default_target(spec: &ScaffoldSpec, dir: &Path) -> PathBuf {
    if TYPE_DIRS.iter().any(|d| dir.join(d).is_dir()) {
        dir.join(spec.kind.plural()).join(&spec.name)
    } else {
        dir.join(&spec.name)
    }
}

/// Writes the extension into [`default_target`]`(spec, dir)` and returns the files written,
/// relative to the extension root, sorted.
pub fn generate(spec: &ScaffoldSpec, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    generate_into(spec, &default_target(spec, dir))
}

/// Writes the extension into exactly `target`, which must not exist or be an empty directory.
/// Files are written to a temporary sibling directory renamed into place, so a failure leaves
/// nothing behind.
pub fn generate_into(spec: &ScaffoldSpec, target: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let files = render(spec)?;
    check_target(target)?;
    write_atomically(target, &files)?;
    Ok(files.into_iter().map(|f| f.path).collect())
}

/// The files of the extension, rendered in memory, sorted by path.
pub fn render(spec: &ScaffoldSpec) -> Result<Vec<ScaffoldFile>, ScaffoldError> {
    validate(spec)?;
    let vars = variables(spec);
    let specific = match spec.kind {
        ExtensionType::Provider => PROVIDER,
        ExtensionType::Taskserv => TASKSERV,
        ExtensionType::Cluster => CLUSTER,
    };
    let mut files: Vec<ScaffoldFile> = COMMON
        .iter()
        .chain(specific)
        .map(|t| ScaffoldFile {
            path: PathBuf::from(render_text(t.dest, &vars)),
            contents: render_text(t.source, &vars),
            mode: if t.executable { 0o755 } else { 0o644 },
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn validate(spec: &ScaffoldSpec) -> Result<(), ScaffoldError> {
    check_name(&spec.name).map_err(|reason| ScaffoldError::InvalidName {
        name: spec.name.clone(),
        reason,
    })?;
    let mut seen = Vec::new();
    for (name, range) in &spec.dependencies {
        let refuse = |reason: String| ScaffoldError::InvalidDependency {
            name: name.clone(),
            reason,
        };
        check_name(name).map_err(refuse)?;
        if *name == spec.name {
            return Err(refuse("an extension cannot depend on itself".into()));
        }
        if seen.contains(&name) {
            return Err(refuse("it is listed twice".into()));
        }
        seen.push(name);
        range
            .parse::<VersionRange>()
            .map_err(|e| refuse(e.to_string()))?;
        if range.contains(['"', '\\']) || range.chars().any(char::is_control) {
            return Err(refuse(format!(
                "range `{range}` contains quotes, backslashes or control characters"
            )));
        }
    }
    Ok(())
}

/// An extension name is one repository path component: it becomes the artifact name, a
/// directory and a file name.
fn check_name(name: &str) -> Result<(), String> {
    if name.contains('/') {
        return Err("it contains `/`; give the name alone, without a namespace".into());
    }
    let limit = crate::extension::manifest::MAX_NAME_LEN;
    if name.len() > limit {
        return Err(format!(
            "it is {} bytes long and the limit is {limit} (it becomes file names, which file systems limit to 255 bytes)",
            name.len()
        ));
    }
    crate::oci::validate_repository(name).map_err(|e| match e {
        crate::oci::NameError::Repository { why, .. } => why.to_string(),
        other => other.to_string(),
    })
}

fn variables(spec: &ScaffoldSpec) -> Vec<(&'static str, String)> {
    let name = spec.name.as_str();
    let kind = spec.kind.to_string();
    let description = spec
        .description
        .as_deref()
        .map(one_line)
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("{name} {kind}"));
    let repository = format!("{REPOSITORY_BASE}/{name}");
    let homepage = spec
        .homepage
        .as_deref()
        .map(one_line)
        .unwrap_or_else(|| repository.clone());
    let deps = &spec.dependencies;
    let min = spec.min_provisioning_version.as_ref();
    let names_nu = format!(
        "[{}]",
        deps.iter()
            .map(|(n, _)| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let lines = |f: &dyn Fn(&str, &str) -> String| {
        deps.iter()
            .map(|(n, r)| f(n, r))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let tags = spec
        .tags
        .iter()
        .map(|t| one_line(t))
        .filter(|t| !t.is_empty())
        .map(|t| format!("  - {}", yaml_scalar(&t)))
        .collect::<Vec<_>>();

    vec![
        ("name", name.to_string()),
        ("type", kind.clone()),
        ("version", spec.version.to_string()),
        ("version_yaml", yaml_scalar(&spec.version.to_string())),
        ("version_major", spec.version.major.to_string()),
        ("version_minor", spec.version.minor.to_string()),
        ("version_patch", spec.version.patch.to_string()),
        ("env_prefix", name.to_uppercase().replace(['-', '.'], "_")),
        ("description_sentence", sentence(&description)),
        ("description_yaml", yaml_scalar(&description)),
        ("description_toml", quoted(&description)),
        ("author_yaml", yaml_scalar(AUTHOR)),
        ("author_toml", quoted(AUTHOR)),
        ("license_yaml", yaml_scalar(LICENSE)),
        ("license_toml", quoted(LICENSE)),
        ("homepage_yaml", yaml_scalar(&homepage)),
        ("repository_yaml", yaml_scalar(&repository)),
        (
            "dependencies_yaml",
            if deps.is_empty() {
                "dependencies: {}".into()
            } else {
                format!(
                    "dependencies:\n{}",
                    lines(&|n, r| format!("  {n}: \"{r}\""))
                )
            },
        ),
        ("dependencies_toml", lines(&|n, r| format!("{n} = \"{r}\""))),
        (
            "dependencies_ncl",
            block("{", "}", lines(&|n, r| format!("  \"{n}\" = \"{r}\","))),
        ),
        (
            "dependencies_md",
            if deps.is_empty() {
                "None.".into()
            } else {
                lines(&|n, r| format!("- `{n}` `{r}`"))
            },
        ),
        ("dependency_names_nu", names_nu.clone()),
        ("taskserv_names_nu", names_nu),
        (
            "taskservs_ncl",
            block(
                "[",
                "]",
                lines(&|n, r| format!("  {{ name = \"{n}\", version = \"{r}\" }},")),
            ),
        ),
        (
            "tags_yaml",
            if tags.is_empty() {
                "tags: []".into()
            } else {
                format!("tags:\n{}", tags.join("\n"))
            },
        ),
        (
            "min_provisioning_version_yaml",
            min.map(|v| format!("min_provisioning_version: \"{v}\""))
                .unwrap_or_default(),
        ),
        (
            "min_provisioning_version_toml",
            min.map(|v| format!("min_provisioning_version = \"{v}\""))
                .unwrap_or_default(),
        ),
        (
            "min_provisioning_version_ncl",
            min.map(|v| format!("\"{v}\""))
                .unwrap_or_else(|| "null".into()),
        ),
        (
            "min_provisioning_version_md",
            min.map(|v| format!("{v} or newer"))
                .unwrap_or_else(|| "of any version".into()),
        ),
    ]
}

/// A Nickel record or array: `{}` when empty, else one element a line.
fn block(open: &str, close: &str, lines: String) -> String {
    if lines.is_empty() {
        format!("{open}{close}")
    } else {
        format!("{open}\n{lines}\n{close}")
    }
}

/// `text` ending with a full stop, for prose.
fn sentence(text: &str) -> String {
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// Control characters and runs of whitespace become single spaces.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A double-quoted string, the same in YAML and TOML for one-line text: `\` and `"` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as a YAML scalar: plain when it reads back as the same string, as the seed writes
/// manifests; double-quoted otherwise.
fn yaml_scalar(text: &str) -> String {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(serde_yaml::Value::String(s)) if s == text && !text.contains(['"', '\'', '#']) => {
            text.to_string()
        }
        _ => quoted(text),
    }
}

/// Substitutes the `{{key}}` placeholders of `template` with `vars`; see the module docs.
fn render_text(template: &str, vars: &[(&str, String)]) -> String {
    let lookup = |key: &str| {
        vars.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut out = String::with_capacity(template.len() * 2);
    for line in template.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let only = body.trim();
        if let Some(key) = only
            .strip_prefix("{{")
            .and_then(|rest| rest.strip_suffix("}}"))
            && lookup(key) == Some("")
        {
            continue;
        }
        let indent = &body[..body.len() - body.trim_start().len()];
        let mut rest = body;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let value = after.find("}}").and_then(|end| {
                let key = &after[..end];
                let is_key = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                is_key.then(|| lookup(key)).flatten().map(|v| (v, end + 2))
            });
            match value {
                Some((value, consumed)) => {
                    out.push_str(&value.replace('\n', &format!("\n{indent}")));
                    rest = &after[consumed..];
                }
                None => {
                    out.push_str("{{");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out.push_str(eol);
    }
    out
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ScaffoldError + '_ {
    move |source| ScaffoldError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses a target that exists, unless it is an empty directory.
fn check_target(target: &Path) -> Result<(), ScaffoldError> {
    let exists = || ScaffoldError::Exists {
        path: target.to_path_buf(),
    };
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(target)(e)),
        Ok(meta) if meta.is_dir() => {
            let mut entries = fs::read_dir(target).map_err(io_error(target))?;
            if entries.next().is_some() {
                Err(exists())
            } else {
                Ok(())
            }
        }
        Ok(_) => Err(exists()),
    }
}

fn write_atomically(target: &Path, files: &[ScaffoldFile]) -> Result<(), ScaffoldError> {
    // An existing (empty) target such as `.` is resolved so it has a parent and a file name.
    let target = if target.exists() {
        target.canonicalize().map_err(io_error(target))?
    } else {
        target.to_path_buf()
    };
    let Some(file_name) = target.file_name() else {
        return Err(io_error(&target)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the target directory has no name",
        )));
    };
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };

    // Parents created here are removed again if anything fails.
    let first_missing = parent.ancestors().take_while(|a| !a.exists()).last();
    let first_missing = first_missing.map(Path::to_path_buf);
    fs::create_dir_all(&parent).map_err(io_error(&parent))?;

    let temp = parent.join(format!(
        ".{}.scaffold-{}",
        file_name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = write_tree(&temp, files).and_then(|()| {
        if target.is_dir() {
            fs::remove_dir(&target).map_err(io_error(&target))?;
        }
        fs::rename(&temp, &target).map_err(io_error(&target))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&temp);
        if let Some(top) = first_missing {
            for dir in parent.ancestors() {
                let _ = fs::remove_dir(dir);
                if dir == top {
                    break;
                }
            }
        }
    }
    result
}

fn write_tree(root: &Path, files: &[ScaffoldFile]) -> Result<(), ScaffoldError> {
    fs::create_dir(root).map_err(io_error(root))?;
    set_mode(root, 0o755)?;
    for file in files {
        let path = root.join(&file.path);
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
            let mut d = dir;
            while d != root {
                set_mode(d, 0o755)?;
                match d.parent() {
                    Some(p) => d = p,
                    None => break,
                }
            }
        }
        fs::write(&path, &file.contents).map_err(io_error(&path))?;
        set_mode(&path, file.mode)?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), ScaffoldError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), ScaffoldError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(&'static str, String)> {
        vec![
            ("name", "redis".into()),
            ("empty", String::new()),
            ("block", "a: 1\nb: 2".into()),
        ]
    }

    #[test]
    fn placeholders_are_replaced_and_jinja_is_left_alone() {
        let out = render_text(
            "name: {{name}}\nport: {{ settings.port }}\n{{unknown}} {{",
            &vars(),
        );
        assert_eq!(
            out,
            "name: redis\nport: {{ settings.port }}\n{{unknown}} {{"
        );
    }

    #[test]
    fn empty_placeholder_lines_are_dropped_and_blocks_indented() {
        let out = render_text("a\n  {{empty}}\n  {{block}}\nz {{empty}}\n", &vars());
        assert_eq!(out, "a\n  a: 1\n  b: 2\nz \n");
    }

    #[test]
    fn yaml_scalars_are_plain_only_when_they_read_back() {
        assert_eq!(
            yaml_scalar("Redis in-memory store"),
            "Redis in-memory store"
        );
        assert_eq!(yaml_scalar("1.28.0"), "1.28.0");
        assert_eq!(yaml_scalar("true"), "\"true\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(one_line(" two\n lines\t"), "two lines");
    }

    fn spec() -> ScaffoldSpec {
        let mut spec = ScaffoldSpec::new(ExtensionType::Taskserv, "redis");
        spec.dependencies = vec![("os".into(), ">=1.0.0".into())];
        spec.description = Some("Redis: an in-memory \"data\" store #1".into());
        spec
    }

    #[test]
    fn every_template_renders_completely() {
        for kind in [
            ExtensionType::Provider,
            ExtensionType::Taskserv,
            ExtensionType::Cluster,
        ] {
            let mut spec = spec();
            spec.kind = kind;
            spec.min_provisioning_version = Some(Version::new(3, 0, 0));
            for file in render(&spec).unwrap() {
                let text = &file.contents;
                let mut rest = text.as_str();
                while let Some(i) = rest.find("{{") {
                    let after = &rest[i + 2..];
                    assert!(
                        after.starts_with(' ') || after.starts_with('%'),
                        "{}: unrendered placeholder near {:?}",
                        file.path.display(),
                        &after[..after.len().min(30)]
                    );
                    rest = after;
                }
                assert!(!text.trim().is_empty(), "{} is empty", file.path.display());
            }
        }
    }

    #[test]
    fn manifest_reads_back() {
        let files = render(&spec()).unwrap();
        let manifest = files
            .iter()
            .find(|f| f.path == Path::new("manifest.yaml"))
            .unwrap();
        let value: serde_yaml::Value = serde_yaml::from_str(&manifest.contents).unwrap();
        assert_eq!(value["name"].as_str(), Some("redis"));
        assert_eq!(value["type"].as_str(), Some("taskserv"));
        assert_eq!(value["version"].as_str(), Some("0.1.0"));
        assert_eq!(
            value["description"].as_str(),
            Some("Redis: an in-memory \"data\" store #1")
        );
        assert_eq!(value["dependencies"]["os"].as_str(), Some(">=1.0.0"));
        assert!(value.get("min_provisioning_version").is_none());
        let names: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
        assert!(names.contains(&PathBuf::from("schemas/redis.ncl")));
        assert!(names.contains(&PathBuf::from("templates/redis.service.j2")));
        let install = files
            .iter()
            .find(|f| f.path == Path::new("scripts/install.nu"))
            .unwrap();
        assert_eq!(install.mode, 0o755);
    }

    #[test]
    fn bad_names_and_dependencies_are_refused() {
        for bad in ["Bad_Name", "a/b", "..", "", "-x", "x y"] {
            let spec = ScaffoldSpec::new(ExtensionType::Provider, bad);
            assert!(
                matches!(render(&spec), Err(ScaffoldError::InvalidName { .. })),
                "{bad:?} accepted"
            );
        }
        for deps in [
            vec![("Os", ">=1.0.0")],
            vec![("os", "not a range")],
            vec![("os", ">=1.0.0"), ("os", "^1")],
            vec![("redis", "*")],
        ] {
            let mut spec = spec();
            spec.dependencies = deps
                .into_iter()
                .map(|(n, r)| (n.to_string(), r.to_string()))
                .collect();
            assert!(
                matches!(render(&spec), Err(ScaffoldError::InvalidDependency { .. })),
                "{:?} accepted",
                spec.dependencies
            );
        }
    }

    #[test]
    fn refuses_non_empty_target_and_fills_empty_one() {
        let tmp = tempfile::tempdir().unwrap();
        let taken = tmp.path().join("taken");
        fs::create_dir(&taken).unwrap();
        fs::write(taken.join("keep"), "x").unwrap();
        assert!(matches!(
            generate_into(&spec(), &taken),
            Err(ScaffoldError::Exists { .. })
        ));
        assert_eq!(fs::read_dir(&taken).unwrap().count(), 1);

        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let written = generate_into(&spec(), &empty).unwrap();
        assert!(written.contains(&PathBuf::from("manifest.yaml")));
        assert!(empty.join("scripts/check.nu").is_file());
    }

    #[test]
    fn monorepo_roots_get_the_type_directory() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            default_target(&spec(), tmp.path()),
            tmp.path().join("redis")
        );
        fs::create_dir(tmp.path().join("providers")).unwrap();
        assert_eq!(
            default_target(&spec(), tmp.path()),
            tmp.path().join("taskservs/redis")
        );
        let written = generate(&spec(), tmp.path()).unwrap();
        assert!(
            written
                .iter()
                .all(|p| tmp.path().join("taskservs/redis").join(p).is_file())
        );
        let leftovers: Vec<_> = fs::read_dir(tmp.path().join("taskservs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("redis")]);
    }

    #[test]
    fn failure_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let file = |path: &str| ScaffoldFile {
            path: PathBuf::from(path),
            contents: "x".into(),
            mode: 0o644,
        };
        // `a` is written as a file, so `a/b` cannot be: the failure comes mid-way.
        let target = tmp.path().join("new/deeper/redis");
        let result = write_atomically(&target, &[file("a"), file("a/b")]);
        assert!(matches!(result, Err(ScaffoldError::Io { .. })));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
