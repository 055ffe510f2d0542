//! Finding and looking at artifacts: repositories of a namespace, search, tags newest-first,
//! and inspection of one manifest with its config and referrers.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde::Serialize;

use super::client::{Descriptor, OciError, RegistryClient, Result};
use super::manifest::ManifestView;
use super::reference::tag_to_version;
use super::{Digest, Reference};

/// Config blobs up to this size are read and shown.
const CONFIG_LIMIT: u64 = 1 << 20;

/// A repository in a listing.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RepositoryEntry {
    pub repository: String,
    pub name: String,
}

/// Repositories under `namespace` (all of them when it is empty).
pub async fn list(client: &RegistryClient, namespace: &str) -> Result<Vec<RepositoryEntry>> {
    let prefix = format!("{}/", namespace.trim_end_matches('/'));
    Ok(client
        .catalog(1000)
        .await?
        .into_iter()
        .filter(|r| namespace.is_empty() || r.starts_with(&prefix))
        .map(|repository| RepositoryEntry {
            name: if namespace.is_empty() {
                repository.clone()
            } else {
                repository[prefix.len()..].to_string()
            },
            repository,
        })
        .collect())
}

/// A tag with its version, when it is one.
#[derive(Clone, Debug, Serialize)]
pub struct TagEntry {
    pub artifact: String,
    pub tag: String,
    pub version: Option<String>,
    pub reference: String,
}

/// Sorts tags newest semver first; tags that are not versions follow, in lexical order.
pub fn sort_tags(tags: &mut [String]) {
    tags.sort_by(|a, b| match (tag_to_version(a), tag_to_version(b)) {
        (Some(x), Some(y)) => y.cmp(&x).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    });
}

/// The tags of `reference`'s repository, newest first.
pub async fn tags(client: &RegistryClient, reference: &Reference) -> Result<Vec<TagEntry>> {
    let mut tags = client.tags(&reference.repository).await?;
    sort_tags(&mut tags);
    Ok(tags
        .into_iter()
        .map(|tag| TagEntry {
            artifact: reference.name().to_string(),
            version: tag_to_version(&tag).map(|v| v.to_string()),
            reference: reference.with_tag(&tag).to_string(),
            tag,
        })
        .collect())
}

/// A search hit.
#[derive(Clone, Debug, Serialize)]
pub struct SearchHit {
    pub repository: String,
    pub name: String,
    pub latest: Option<String>,
    pub description: Option<String>,
    pub score: u32,
}

/// Finds repositories under `namespace` whose name or description matches `query`, best first.
/// Descriptions come from the newest tag's annotations (or an extension config's
/// `description`), fetched `concurrency` at a time.
pub async fn search(
    client: &RegistryClient,
    namespace: &str,
    query: &str,
    concurrency: usize,
) -> Result<Vec<SearchHit>> {
    let query = query.to_lowercase();
    let repositories = list(client, namespace).await?;
    let mut hits: Vec<SearchHit> =
        futures_util::stream::iter(repositories.into_iter().map(|entry| {
            let query = query.clone();
            async move {
                let (latest, description) = describe(client, &entry.repository).await;
                let name = entry.name.to_lowercase();
                let name_score = if name == query {
                    100
                } else if name.starts_with(&query) {
                    80
                } else if name.contains(&query) {
                    60
                } else {
                    0
                };
                let description_score = match &description {
                    Some(d) if d.to_lowercase().contains(&query) => 30,
                    _ => 0,
                };
                SearchHit {
                    repository: entry.repository,
                    name: entry.name,
                    latest,
                    description,
                    score: name_score.max(description_score),
                }
            }
        }))
        .buffer_unordered(concurrency.max(1))
        .filter(|hit| std::future::ready(hit.score > 0))
        .collect()
        .await;
    hits.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
    Ok(hits)
}

/// The newest tag of a repository and a description for it, when one can be found.
async fn describe(client: &RegistryClient, repository: &str) -> (Option<String>, Option<String>) {
    let Ok(mut tags) = client.tags(repository).await else {
        return (None, None);
    };
    sort_tags(&mut tags);
    let Some(latest) = tags.into_iter().next() else {
        return (None, None);
    };
    let Ok(manifest) = client.manifest(repository, &latest).await else {
        return (Some(latest), None);
    };
    let Ok(view) = ManifestView::parse(&manifest.bytes, &manifest.media_type) else {
        return (Some(latest), None);
    };
    if let Some(d) = view.annotations.get("org.opencontainers.image.description") {
        return (Some(latest), Some(d.clone()));
    }
    let from_config = match &view.config {
        Some(config) if config.media_type.ends_with("+json") && config.size <= CONFIG_LIMIT => {
            client
                .blob_bytes(repository, &config.digest, CONFIG_LIMIT)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["description"].as_str().map(str::to_string))
        }
        _ => None,
    };
    (Some(latest), from_config)
}

/// Everything worth knowing about one manifest.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub reference: String,
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// Manifest plus config plus layers, in bytes.
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
    pub config: Option<Descriptor>,
    /// The config's JSON when it is small JSON (for extensions: their manifest.yaml).
    pub config_content: Option<serde_json::Value>,
    pub layers: Vec<Descriptor>,
    /// An index's children.
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub referrers: Vec<Descriptor>,
}

/// Inspects `reference`.
pub async fn inspect(client: &RegistryClient, reference: &Reference) -> Result<Inspection> {
    let manifest = client
        .manifest(&reference.repository, &reference.target())
        .await?;
    let view = ManifestView::parse(&manifest.bytes, &manifest.media_type).map_err(|e| {
        OciError::Protocol {
            registry: reference.registry.clone(),
            message: format!("manifest {} is not valid JSON: {e}", manifest.digest),
        }
    })?;
    let config_content = match &view.config {
        Some(c) if c.media_type.ends_with("json") && c.size <= CONFIG_LIMIT && c.size > 2 => client
            .blob_bytes(&reference.repository, &c.digest, CONFIG_LIMIT)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok()),
        _ => None,
    };
    let referrers = client
        .referrers(&reference.repository, &manifest.digest, None)
        .await
        .unwrap_or_default();
    let size = manifest.bytes.len() as u64
        + view.blobs().iter().map(|d| d.size).sum::<u64>()
        + view.manifests.iter().map(|d| d.size).sum::<u64>();
    Ok(Inspection {
        reference: reference.with_digest(manifest.digest.clone()).to_string(),
        digest: manifest.digest,
        artifact_type: view.artifact_type().map(str::to_string),
        media_type: manifest.media_type,
        size,
        annotations: view.annotations,
        config: view.config,
        config_content,
        layers: view.layers,
        manifests: view.manifests,
        subject: view.subject,
        referrers,
    })
}

/// What a delete would remove.
#[derive(Debug, Serialize)]
pub struct DeletePlan {
    pub reference: String,
    pub digest: Digest,
    /// Every tag pointing at the digest (all go with it).
    pub tags: Vec<String>,
}

/// Resolves what deleting `reference` removes: the manifest's digest and every tag on it.
pub async fn plan_delete(
    client: &RegistryClient,
    reference: &Reference,
    concurrency: usize,
) -> Result<DeletePlan> {
    let digest = match &reference.digest {
        Some(d) => d.clone(),
        None => client
            .manifest_digest(&reference.repository, &reference.target())
            .await?
            .ok_or_else(|| OciError::NotFound {
                registry: reference.registry.clone(),
                what: format!("manifest {reference}"),
            })?,
    };
    let all = client.tags(&reference.repository).await.unwrap_or_default();
    let mut tags: Vec<String> = futures_util::stream::iter(all.into_iter().map(|tag| {
        let digest = digest.clone();
        async move {
            match client.manifest_digest(&reference.repository, &tag).await {
                Ok(Some(d)) if d == digest => Some(tag),
                _ => None,
            }
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .filter_map(std::future::ready)
    .collect()
    .await;
    sort_tags(&mut tags);
    Ok(DeletePlan {
        reference: reference.to_string(),
        digest,
        tags,
    })
}

/// Deletes the manifest a plan names.
pub async fn delete(
    client: &RegistryClient,
    reference: &Reference,
    plan: &DeletePlan,
) -> Result<()> {
    client
        .delete_manifest(&reference.repository, &plan.digest.to_string())
        .await
}

#[cfg(test)]
mod tests {
    use super::sort_tags;

    #[test]
    fn newest_semver_first() {
        let mut tags: Vec<String> = [
            "latest",
            "1.9.0",
            "1.10.0",
            "v2.0.0-rc.1",
            "1.10.0_build.1",
            "edge",
            "2.0.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        sort_tags(&mut tags);
        assert_eq!(
            tags,
            [
                "2.0.0",
                "v2.0.0-rc.1",
                "1.10.0_build.1",
                "1.10.0",
                "1.9.0",
                "edge",
                "latest"
            ]
        );
    }
}
