//! A reader's view of any manifest (OCI or Docker, image or index): what a client needs to
//! move and show it. The bytes themselves are always kept as served.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::client::Descriptor;
use super::media_type;

/// Annotation oras uses for a file's name.
pub const TITLE: &str = "org.opencontainers.image.title";
/// Annotation oras sets on directories it packed as tar+gzip.
pub const UNPACK: &str = "io.deis.oras.content.unpack";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestView {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub subject: Option<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ManifestView {
    /// Parses manifest bytes; `media_type` is what the registry said, used when the
    /// document has no `mediaType` field.
    pub fn parse(bytes: &[u8], media_type: &str) -> Result<ManifestView, serde_json::Error> {
        let mut view: ManifestView = serde_json::from_slice(bytes)?;
        if view.media_type.is_none() {
            view.media_type = Some(media_type.to_string());
        }
        Ok(view)
    }

    pub fn is_index(&self) -> bool {
        self.media_type.as_deref().is_some_and(media_type::is_index)
            || (!self.manifests.is_empty() && self.config.is_none())
    }

    /// The artifact type: `artifactType`, else the config's media type.
    pub fn artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .or(self.config.as_ref().map(|c| c.media_type.as_str()))
    }

    /// Config and layers: every blob an image manifest needs.
    pub fn blobs(&self) -> Vec<&Descriptor> {
        self.config.iter().chain(self.layers.iter()).collect()
    }
}
