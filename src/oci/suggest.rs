//! References as people type them: a bare name means the newest version, and a reference that
//! is not found gets the near repository names and the versions that exist.

use crate::oci::browse::sort_tags;
use crate::oci::client::RegistryClient;
use crate::oci::reference::tag_to_version;
use crate::oci::{Reference, client};

/// How many versions a hint lists.
const VERSIONS_SHOWN: usize = 8;

/// The newest semver tag of `tags` (a release before a pre-release), if any is a version.
pub fn newest_version(tags: &[String]) -> Option<String> {
    let mut sorted = tags.to_vec();
    sort_tags(&mut sorted);
    let versions: Vec<(&String, semver::Version)> = sorted
        .iter()
        .filter_map(|t| tag_to_version(t).map(|v| (t, v)))
        .collect();
    versions
        .iter()
        .find(|(_, v)| v.pre.is_empty())
        .or_else(|| versions.first())
        .map(|(t, _)| (*t).clone())
}

/// For a reference with neither tag nor digest: the same reference at its repository's newest
/// version, and that tag; `None` when it has no version tag (or its tags cannot be listed), so
/// `latest` is asked for as before.
pub async fn resolve_bare(
    client: &RegistryClient,
    reference: &Reference,
) -> Option<(Reference, String)> {
    if reference.tag.is_some() || reference.digest.is_some() {
        return None;
    }
    let tags = client.tags(&reference.repository).await.ok()?;
    let tag = newest_version(&tags)?;
    Some((reference.with_tag(&tag), tag))
}

/// Levenshtein distance between two strings, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Names of `candidates` near `wanted` (by edit distance, or one containing the other),
/// nearest first.
pub fn near_names<'a>(wanted: &str, candidates: &'a [String]) -> Vec<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    let limit = (wanted.chars().count() / 3).max(2);
    let mut near: Vec<(usize, &str)> = candidates
        .iter()
        .filter_map(|c| {
            let lower = c.to_ascii_lowercase();
            let distance = edit_distance(&wanted, &lower);
            let contains =
                wanted.len() >= 3 && (lower.contains(&wanted) || wanted.contains(&lower));
            (distance <= limit || contains).then_some((distance, c.as_str()))
        })
        .collect();
    near.sort();
    near.into_iter().map(|(_, c)| c).take(5).collect()
}

/// Tags of `tags` that the mistyped `wanted` may have meant: the same version with or without
/// a `v`, or the versions a partial one (`1.31`) starts.
pub fn near_tags<'a>(wanted: &str, tags: &'a [String]) -> Vec<&'a str> {
    let same = tag_to_version(wanted);
    let prefix = format!("{}.", wanted.strip_prefix('v').unwrap_or(wanted));
    tags.iter()
        .filter(|t| {
            (same.is_some() && tag_to_version(t) == same)
                || t.strip_prefix('v').unwrap_or(t).starts_with(&prefix)
        })
        .map(String::as_str)
        .take(VERSIONS_SHOWN)
        .collect()
}

/// What to say after "not found" for `reference`: the tags it may have meant and those that
/// exist, or the repositories near its name (under the same namespace) and their versions.
/// `None` when the registry cannot tell more.
pub async fn not_found_hint(client: &RegistryClient, reference: &Reference) -> Option<String> {
    let name = reference.name().to_string();
    let namespace = reference
        .repository
        .strip_suffix(&name)
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    match client.tags(&reference.repository).await {
        Ok(mut tags) => {
            sort_tags(&mut tags);
            let mut hint = Vec::new();
            if let Some(wanted) = &reference.tag {
                let near = near_tags(wanted, &tags);
                if !near.is_empty() {
                    hint.push(format!(
                        "did you mean {}?",
                        near.iter()
                            .map(|t| format!("{name}:{t}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            hint.push(versions_line(&name, &tags));
            Some(hint.join("; "))
        }
        Err(client::OciError::NotFound { .. }) => {
            let catalog = client.catalog(1000).await.ok()?;
            let prefix = if namespace.is_empty() {
                String::new()
            } else {
                format!("{namespace}/")
            };
            let names: Vec<String> = catalog
                .iter()
                .filter_map(|r| r.strip_prefix(&prefix))
                .filter(|r| !r.contains('/'))
                .map(str::to_string)
                .collect();
            let near = near_names(&name, &names);
            if near.is_empty() {
                return Some(format!(
                    "no repository named {name}{}",
                    if namespace.is_empty() {
                        String::new()
                    } else {
                        format!(" under {namespace}")
                    }
                ));
            }
            let mut lines = vec![format!("did you mean {}?", near.join(", "))];
            for candidate in near.iter().take(3) {
                if let Ok(mut tags) = client.tags(&format!("{prefix}{candidate}")).await {
                    sort_tags(&mut tags);
                    lines.push(versions_line(candidate, &tags));
                }
            }
            Some(lines.join("; "))
        }
        Err(_) => None,
    }
}

fn versions_line(name: &str, tags: &[String]) -> String {
    if tags.is_empty() {
        return format!("{name} has no tags");
    }
    let shown: Vec<&str> = tags
        .iter()
        .take(VERSIONS_SHOWN)
        .map(String::as_str)
        .collect();
    let more = tags.len().saturating_sub(VERSIONS_SHOWN);
    format!(
        "versions of {name}: {}{}",
        shown.join(", "),
        if more > 0 {
            format!(" (and {more} more: provisioning oci tags {name})")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn newest_version_prefers_releases() {
        let tags = strings(&["latest", "1.9.0", "1.31.1", "1.30.2", "2.0.0-rc.1"]);
        assert_eq!(newest_version(&tags).as_deref(), Some("1.31.1"));
        assert_eq!(
            newest_version(&strings(&["2.0.0-rc.1", "latest"])).as_deref(),
            Some("2.0.0-rc.1")
        );
        assert_eq!(newest_version(&strings(&["latest", "main"])), None);
    }

    #[test]
    fn distances_and_near_names() {
        assert_eq!(edit_distance("kubernets", "kubernetes"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("redis", "redis"), 0);
        let names = strings(&["kubernetes", "redis", "postgres", "kube-proxy"]);
        assert_eq!(near_names("kubernets", &names), ["kubernetes"]);
        assert_eq!(near_names("redsi", &names), ["redis"]);
        assert!(near_names("nginx", &names).is_empty());
    }

    #[test]
    fn near_tags_for_v_prefixes_and_partial_versions() {
        let tags = strings(&["1.31.1", "1.31.0", "1.30.2", "latest"]);
        assert_eq!(near_tags("v1.31.1", &tags), ["1.31.1"]);
        assert_eq!(near_tags("1.31", &tags), ["1.31.1", "1.31.0"]);
        assert!(near_tags("2.0.0", &tags).is_empty());
    }
}
