//! What the Registry table shows beside a repository's name: its newest version, type and
//! description, from that version's config blob. Only the manifest and the config are read,
//! never the content layer, and the config goes through the blob cache, so describing the same
//! version again costs one manifest request.

use super::{Context, Response};
use crate::oci::Reference;
use crate::oci::browse::sort_tags;
use crate::oci::client::RegistryClient;
use crate::oci::manifest::ManifestView;
use crate::oci::progress::Progress;
use crate::oci::reference::tag_to_version;

/// A config blob larger than this is not read: an extension's config is a few hundred bytes.
const CONFIG_LIMIT: u64 = 1 << 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description {
    /// The newest tag that is a version (the tag asked about, when the request named one).
    pub version: Option<String>,
    /// `provider`, `taskserv` or `cluster`, from the config blob.
    pub kind: Option<String>,
    /// The extension's one-line description, from the config blob.
    pub description: Option<String>,
    /// The manifest's digest.
    pub digest: Option<String>,
    /// Manifest plus config plus layers, in bytes.
    pub size: Option<u64>,
}

/// Describes `reference`: a repository (no tag) is described by its newest version; a tagged
/// reference by that tag.
pub(super) async fn run(ctx: &Context, reference: Reference) -> Response {
    let result = describe(ctx, &reference).await;
    Response::Described { reference, result }
}

async fn describe(ctx: &Context, reference: &Reference) -> Result<Description, String> {
    let client = ctx.registries.client(&reference.registry);
    let repository = &reference.repository;
    let tag = match &reference.tag {
        Some(tag) => tag.clone(),
        None => {
            let mut tags = client.tags(repository).await.map_err(|e| e.to_string())?;
            sort_tags(&mut tags);
            match tags.into_iter().find(|t| tag_to_version(t).is_some()) {
                Some(tag) => tag,
                None => return Ok(Description::default()),
            }
        }
    };
    let manifest = client
        .manifest(repository, &tag)
        .await
        .map_err(|e| e.to_string())?;
    let view = ManifestView::parse(&manifest.bytes, &manifest.media_type)
        .map_err(|e| format!("manifest {} is not valid JSON: {e}", manifest.digest))?;
    let size = manifest.bytes.len() as u64
        + view.config.as_ref().map_or(0, |c| c.size)
        + view.layers.iter().map(|l| l.size).sum::<u64>();
    let mut found = Description {
        version: tag_to_version(&tag).map(|_| tag.clone()),
        digest: Some(manifest.digest.to_string()),
        size: Some(size),
        ..Description::default()
    };
    if let Some(config) = config_json(ctx, &client, repository, &view).await {
        let field = |name: &str| {
            config
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        found.kind = field("type");
        found.description = field("description");
    }
    Ok(found)
}

/// The config blob as JSON, from the cache or fetched into it; `None` when it is not small
/// JSON.
async fn config_json(
    ctx: &Context,
    client: &RegistryClient,
    repository: &str,
    view: &ManifestView,
) -> Option<serde_json::Value> {
    let config = view.config.as_ref()?;
    if !config.media_type.ends_with("json") || config.size > CONFIG_LIMIT {
        return None;
    }
    let bytes = match ctx.cache.read(&config.digest) {
        Some(bytes) => bytes,
        None => {
            let path = ctx
                .cache
                .fetch(client, repository, config, &Progress::silent())
                .await
                .ok()?;
            std::fs::read(path).ok()?
        }
    };
    serde_json::from_slice(&bytes).ok()
}
