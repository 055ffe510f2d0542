//! Manifests: fetched (verified, at most [`MAX_MANIFEST_BYTES`]), checked, pushed and deleted;
//! and referrers, from the referrers API or, where a registry lacks it, the `sha256-<hex>` tag
//! that holds an index of them (the spec's fallback).

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::transport::{percent_encode, read_capped};
use super::{
    Body, Descriptor, FetchedManifest, MAX_MANIFEST_BYTES, OciError, RegistryClient, Result,
    manifest_accept, scope_delete, scope_pull, scope_push,
};
use crate::oci::{Digest, media_type};

/// What a registry said to a manifest push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedManifest {
    pub digest: Digest,
    /// It answered with `OCI-Subject`: it keeps the referrers index itself.
    pub subject_indexed: bool,
}

/// The tag the referrers fallback keeps the index of `digest`'s referrers under.
pub fn referrers_tag(digest: &Digest) -> String {
    digest.to_string().replacen(':', "-", 1)
}

impl RegistryClient {
    /// Fetches a manifest by tag or digest, verifying its digest.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<FetchedManifest> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(&manifest_accept()).expect("static"),
        );
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self
            .get_found(&path, headers, &scope_pull(repo), || {
                format!("manifest {repo}:{reference}")
            })
            .await?;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
        let header_digest = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let bytes = read_capped(
            self,
            response,
            MAX_MANIFEST_BYTES,
            &format!("manifest {repo}:{reference}"),
        )
        .await?;
        let expected = reference.parse::<Digest>().ok().or(header_digest);
        let algorithm = expected
            .as_ref()
            .map(|d| d.algorithm())
            .unwrap_or(crate::oci::DigestAlgorithm::Sha256);
        let mut hasher = algorithm.hasher();
        hasher.update(&bytes);
        let digest = hasher.finish();
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(OciError::DigestMismatch {
                registry: self.registry.clone(),
                what: format!("manifest {repo}:{reference}"),
                expected,
                actual: digest,
            });
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .or(content_type)
            .unwrap_or_else(|| media_type::OCI_MANIFEST.to_string());
        Ok(FetchedManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// `HEAD` a manifest: its digest if it exists.
    pub async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<Digest>> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(&manifest_accept()).expect("static"),
        );
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self
            .send(Method::HEAD, &path, headers, Body::Empty, &scope_pull(repo))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let digest = response
                    .headers()
                    .get("Docker-Content-Digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                match digest {
                    Some(d) => Ok(Some(d)),
                    // Without the header, only the body tells.
                    None => Ok(Some(self.manifest(repo, reference).await?.digest)),
                }
            }
            _ => Err(self.fail(&format!("HEAD {path}"), response).await),
        }
    }

    /// Pushes manifest bytes under a tag or digest; returns the digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        Ok(self
            .push_manifest(repo, reference, media_type, bytes)
            .await?
            .digest)
    }

    /// Pushes manifest bytes under a tag or digest; says whether the registry indexed its
    /// subject (`OCI-Subject`), which a registry without the referrers API does not.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<PushedManifest> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|_| OciError::Protocol {
                registry: self.registry.clone(),
                message: format!("media type `{media_type}` is not a valid header value"),
            })?,
        );
        let path = format!("/v2/{repo}/manifests/{reference}");
        let body = Body::Bytes(bytes::Bytes::copy_from_slice(bytes));
        let response = self
            .send(Method::PUT, &path, headers, body, &scope_push(repo))
            .await?;
        if !response.status().is_success() {
            return Err(self.fail(&format!("PUT {path}"), response).await);
        }
        Ok(PushedManifest {
            digest: Digest::sha256_of(bytes),
            subject_indexed: response.headers().contains_key("OCI-Subject"),
        })
    }

    /// Lists `referrer` in the `sha256-<hex>` index of `subject`, for registries without the
    /// referrers API; entries already there are kept as they are.
    pub async fn add_to_referrers_tag(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Descriptor,
    ) -> Result<()> {
        let tag = referrers_tag(subject);
        let mut manifests: Vec<serde_json::Value> = match self.manifest(repo, &tag).await {
            Ok(index) => serde_json::from_slice::<serde_json::Value>(&index.bytes)
                .ok()
                .and_then(|v| v.get("manifests")?.as_array().cloned())
                .unwrap_or_default(),
            Err(OciError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let listed = referrer.digest.to_string();
        if manifests
            .iter()
            .any(|m| m.get("digest").and_then(|d| d.as_str()) == Some(listed.as_str()))
        {
            return Ok(());
        }
        manifests.push(
            serde_json::to_value(referrer).map_err(|e| OciError::Protocol {
                registry: self.registry.clone(),
                message: format!("cannot describe referrer {listed}: {e}"),
            })?,
        );
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": manifests,
        });
        let bytes = serde_json::to_vec(&index).expect("JSON values serialize");
        self.put_manifest(repo, &tag, media_type::OCI_INDEX, &bytes)
            .await?;
        Ok(())
    }

    /// Deletes a manifest by digest (or a tag, where the registry allows it).
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<()> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self
            .send(
                Method::DELETE,
                &path,
                HeaderMap::new(),
                Body::Empty,
                &scope_delete(repo),
            )
            .await?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(OciError::NotFound {
                registry: self.registry.clone(),
                what: format!("manifest {repo}@{reference}"),
            }),
            StatusCode::METHOD_NOT_ALLOWED => Err(OciError::Protocol {
                registry: self.registry.clone(),
                message: "this registry does not allow deleting manifests (distribution needs `storage.delete.enabled: true`)".into(),
            }),
            _ => Err(self.fail(&format!("DELETE {path}"), response).await),
        }
    }

    /// Manifests whose subject is `digest` (the referrers API); an empty list where the
    /// registry does not offer it.
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let mut path = format!("/v2/{repo}/referrers/{digest}");
        if let Some(t) = artifact_type {
            path.push_str(&format!("?artifactType={}", percent_encode(t)));
        }
        let response = self
            .send(
                Method::GET,
                &path,
                HeaderMap::new(),
                Body::Empty,
                &scope_pull(repo),
            )
            .await?;
        match response.status() {
            s if s.is_success() => {
                let filtered = response.headers().contains_key("OCI-Filters-Applied");
                let index: Index = self.json(response, "referrers").await?;
                let mut manifests = index.manifests;
                if let (Some(t), false) = (artifact_type, filtered) {
                    manifests.retain(|d| d.artifact_type.as_deref() == Some(t));
                }
                Ok(manifests)
            }
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST => {
                self.referrers_from_tag(repo, digest, artifact_type).await
            }
            _ => Err(self.fail(&format!("GET {path}"), response).await),
        }
    }

    /// Referrers listed under the `sha256-<hex>` tag; none where that tag does not exist.
    async fn referrers_from_tag(
        &self,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let index = match self.manifest(repo, &referrers_tag(digest)).await {
            Ok(index) => index,
            Err(OciError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let Ok(Index { mut manifests }) = serde_json::from_slice::<Index>(&index.bytes) else {
            // A tag of that shape that is no index of referrers lists none.
            return Ok(Vec::new());
        };
        if let Some(t) = artifact_type {
            manifests.retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(manifests)
    }
}
