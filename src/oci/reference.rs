//! Artifact references: `oci://host[:port]/ns/name:tag`, `host[:port]/ns/name@sha256:…`, and
//! short forms (`name:version`, `name`, `ns/name`) expanded with a default registry and
//! namespace. A `+` in a semver version is written `_` in the tag (Helm's convention).

use std::fmt;

use super::digest::Digest;
use super::name::{validate_repository, validate_tag};

/// Registry used when none is configured.
pub const DEFAULT_REGISTRY: &str = "localhost:5000";
/// Namespace used for short names when none is configured.
pub const DEFAULT_NAMESPACE: &str = "provisioning-extensions";

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API answers.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Whether `host` is one of Docker Hub's names.
pub fn docker_hub_alias(host: &str) -> bool {
    ["docker.io", "index.docker.io", "registry-1.docker.io"]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
}

/// A parsed, fully qualified reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// `ns/name`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// How short references are completed.
#[derive(Clone, Debug)]
pub struct ReferenceDefaults {
    pub registry: String,
    pub namespace: String,
}

impl Default for ReferenceDefaults {
    fn default() -> Self {
        ReferenceDefaults {
            registry: DEFAULT_REGISTRY.to_string(),
            namespace: DEFAULT_NAMESPACE.to_string(),
        }
    }
}

/// A reference that does not parse, with the span of the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference `{input}`: {message}\n  {input}\n  {marker}", marker = self.marker())]
pub struct ReferenceError {
    pub input: String,
    /// Byte offset and length of the offending part within `input`.
    pub span: (usize, usize),
    pub message: String,
}

impl ReferenceError {
    fn new(input: &str, start: usize, len: usize, message: impl Into<String>) -> Self {
        ReferenceError {
            input: input.to_string(),
            span: (start, len.max(1)),
            message: message.into(),
        }
    }

    fn marker(&self) -> String {
        let (start, len) = self.span;
        let pad = self
            .input
            .get(..start)
            .map(|s| s.chars().count())
            .unwrap_or(start);
        format!("{}{}", " ".repeat(pad), "^".repeat(len))
    }
}

impl Reference {
    /// Parses `input`, completing short forms with `defaults`.
    pub fn parse(input: &str, defaults: &ReferenceDefaults) -> Result<Reference, ReferenceError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ReferenceError::new(input, 0, 1, "it is empty"));
        }
        let offset = input.find(trimmed).unwrap_or(0);
        let (body, mut base) = match trimmed.strip_prefix("oci://") {
            Some(rest) => (rest, offset + 6),
            None => (trimmed, offset),
        };
        if let Some(pos) = body.find("://") {
            return Err(ReferenceError::new(
                input,
                offset,
                pos + 3,
                "only the oci:// scheme is understood; write host/namespace/name:tag",
            ));
        }

        // Digest first: everything after `@`.
        let (rest, digest) = match body.split_once('@') {
            Some((rest, digest_text)) => {
                let start = base + rest.len() + 1;
                let digest = digest_text.parse::<Digest>().map_err(|e| {
                    ReferenceError::new(input, start, digest_text.len(), e.to_string())
                })?;
                (rest, Some(digest))
            }
            None => (body, None),
        };

        // Registry: the first component when it looks like a host.
        let (registry, path, explicit_registry) = match rest.split_once('/') {
            Some((first, path)) if looks_like_host(first) => {
                base += first.len() + 1;
                (first.to_string(), path, true)
            }
            _ => (defaults.registry.clone(), rest, false),
        };
        if explicit_registry && !valid_host(&registry) {
            return Err(ReferenceError::new(
                input,
                base - registry.len() - 1,
                registry.len(),
                "not a registry host: expected `host[:port]` like `registry.example.com:5000`",
            ));
        }

        // Tag: after the last `:` of the last path component.
        let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match path[last_slash..].rfind(':') {
            Some(i) => (&path[..last_slash + i], Some(&path[last_slash + i + 1..])),
            None => (path, None),
        };
        // Docker Hub answers to several names and keeps official images under `library/`.
        let registry = match docker_hub_alias(&registry) {
            true => DOCKER_HUB.to_string(),
            false => registry,
        };
        // A bare name lives in the default namespace; anything with a path is taken as written.
        let repository = if registry == DOCKER_HUB && !name.contains('/') {
            format!("library/{name}")
        } else if explicit_registry || name.contains('/') || defaults.namespace.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", defaults.namespace)
        };
        if let Err(e) = validate_repository(&repository) {
            return Err(ReferenceError::new(input, base, name.len(), e.to_string()));
        }
        let tag = match tag {
            Some(tag) => {
                let tag = version_to_tag(tag);
                let start = base + name.len() + 1;
                validate_tag(&tag)
                    .map_err(|e| ReferenceError::new(input, start, tag.len(), e.to_string()))?;
                Some(tag)
            }
            None => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest when known, else the tag, else `latest`.
    pub fn target(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to a digest (the tag kept for display).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The last path component: the artifact's name.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Docker's rule: a first component with a `.` or `:`, or `localhost`, is a registry host.
fn looks_like_host(component: &str) -> bool {
    component == "localhost" || component.contains('.') || component.contains(':')
}

/// `name[:port]` with DNS-style labels, an IPv4 address, or `[ipv6]:port`.
fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || name.starts_with('[') => {
            if name.contains(':') && !name.starts_with('[') {
                return false;
            }
            (name, Some(port))
        }
        _ => (host, None),
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Tags cannot hold `+`; semver build metadata is written with `_` instead.
pub fn version_to_tag(version: &str) -> String {
    version.replace('+', "_")
}

/// Reads a tag back as a semver version (`1.0.0_build.1` → `1.0.0+build.1`, a leading `v`
/// allowed); `None` for tags that are not versions.
pub fn tag_to_version(tag: &str) -> Option<semver::Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag).replace('_', "+");
    semver::Version::parse(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s, &ReferenceDefaults::default())
    }

    #[test]
    fn full_forms() {
        let r = parse("oci://harbor.example.com:8443/provisioning-extensions/kubernetes:1.28.0")
            .unwrap();
        assert_eq!(r.registry, "harbor.example.com:8443");
        assert_eq!(r.repository, "provisioning-extensions/kubernetes");
        assert_eq!(r.tag.as_deref(), Some("1.28.0"));
        assert_eq!(r.name(), "kubernetes");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("localhost:5000/ns/name@{d}")).unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "ns/name");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.unwrap().to_string(), d);
        let r = parse(&format!("127.0.0.1:5000/a/b/c:v1@{d}")).unwrap();
        assert_eq!(r.repository, "a/b/c");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/a/b/c:v1@{d}"));
    }

    #[test]
    fn short_forms_are_expanded() {
        let r = parse("kubernetes:1.28.0").unwrap();
        assert_eq!(
            r.to_string(),
            "localhost:5000/provisioning-extensions/kubernetes:1.28.0"
        );
        let r = parse("redis").unwrap();
        assert_eq!(
            r.to_string(),
            "localhost:5000/provisioning-extensions/redis"
        );
        assert_eq!(r.target(), "latest");
        let r = parse("team/redis:7").unwrap();
        assert_eq!(r.to_string(), "localhost:5000/team/redis:7");
        let defaults = ReferenceDefaults {
            registry: "reg.example.com".into(),
            namespace: "ext".into(),
        };
        let r = Reference::parse("aws:2.0.0", &defaults).unwrap();
        assert_eq!(r.to_string(), "reg.example.com/ext/aws:2.0.0");
    }

    #[test]
    fn docker_hub_names_and_library() {
        for text in [
            "docker.io/alpine:3",
            "index.docker.io/alpine:3",
            "registry-1.docker.io/library/alpine:3",
        ] {
            let r = parse(text).unwrap();
            assert_eq!(r.registry, "docker.io", "{text}");
            assert_eq!(r.repository, "library/alpine", "{text}");
        }
        let r = parse("docker.io/bitnami/redis:7").unwrap();
        assert_eq!(r.repository, "bitnami/redis");
    }

    #[test]
    fn build_metadata_becomes_underscore() {
        let r = parse("app:1.0.0+build.5").unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.0.0_build.5"));
        assert_eq!(
            tag_to_version("1.0.0_build.5").unwrap().to_string(),
            "1.0.0+build.5"
        );
        assert_eq!(tag_to_version("v3.5.0").unwrap().to_string(), "3.5.0");
        assert!(tag_to_version("latest").is_none());
    }

    #[test]
    fn errors_point_at_the_bad_part() {
        let e = parse("localhost:5000/Foo/bar:1.0").unwrap_err();
        assert_eq!(e.span, (15, 7));
        assert!(e.to_string().contains("uppercase"), "{e}");
        assert!(e.to_string().contains("               ^^^^^^^"), "{e}");
        let e = parse("localhost:5000/foo/bar:bad/tag").unwrap_err();
        assert!(
            e.message.contains("repository") || e.message.contains("tag"),
            "{e}"
        );
        let e = parse("foo@sha256:abc").unwrap_err();
        assert_eq!(e.span, (4, 10));
        let e = parse("https://host/x").unwrap_err();
        assert!(e.message.contains("oci://"));
        assert!(parse("").is_err());
        assert!(parse("foo:").is_err());
        let e = parse("../etc:1").unwrap_err();
        assert_eq!(e.span, (0, 2));
        assert!(parse("[::1]:5000/a/b:1").is_ok());
        assert!(parse("bad_host.com/a:1").is_err());
    }
}
