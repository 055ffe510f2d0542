//! Listing: the ping, the catalog and tag lists, each followed through its `Link` pages.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::pages::Pages;
use super::{Body, CATALOG_SCOPE, OciError, RegistryClient, Result, scope_pull, scope_push};

impl RegistryClient {
    /// `GET /v2/`: checks the registry answers and the credentials are accepted.
    pub async fn ping(&self) -> Result<()> {
        let response = self
            .send(Method::GET, "/v2/", HeaderMap::new(), Body::Empty, "")
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.fail("GET /v2/", response).await)
        }
    }

    /// Every repository in the catalog, following `Link` pages (refusing links in circles).
    pub async fn catalog(&self, page_size: usize) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let mut out = Vec::new();
        let first = self.resolve(&format!("/v2/_catalog?n={page_size}"))?;
        let mut pages = Pages::new(&self.registry, "catalog", first);
        while let Some(path) = pages.next_path()? {
            let response = match self
                .send(
                    Method::GET,
                    &path,
                    HeaderMap::new(),
                    Body::Empty,
                    CATALOG_SCOPE,
                )
                .await
            {
                // A token was granted and still refused: the catalog is not offered to anyone
                // (GHCR, Docker Hub), logging in again would not help.
                Err(OciError::Unauthorized { .. })
                    if self.auth.lock().await.has_token(CATALOG_SCOPE) =>
                {
                    return Err(OciError::CatalogUnsupported {
                        registry: self.registry.clone(),
                        status: 401,
                    });
                }
                other => other?,
            };
            let status = response.status();
            if matches!(status.as_u16(), 404 | 403 | 405 | 501) {
                return Err(OciError::CatalogUnsupported {
                    registry: self.registry.clone(),
                    status: status.as_u16(),
                });
            }
            if !status.is_success() {
                return Err(self.fail("GET /v2/_catalog", response).await);
            }
            let headers = response.headers().clone();
            let page: Page = self.json(response, "catalog").await?;
            pages.read(&path, &headers, page.repositories.is_empty());
            out.extend(page.repositories);
        }
        Ok(out)
    }

    /// Whether `repo` exists: one tag asked for, under the push scope a copy into it needs
    /// anyway. `false` only when the registry says 404; it then holds no blob in `repo`.
    pub async fn repository_exists(&self, repo: &str) -> Result<bool> {
        let path = format!("/v2/{repo}/tags/list?n=1");
        let response = self
            .send(
                Method::GET,
                &path,
                HeaderMap::new(),
                Body::Empty,
                &scope_push(repo),
            )
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            _ => Err(self.fail(&format!("GET {path}"), response).await),
        }
    }

    /// Every tag of `repo`, following `Link` pages of up to 1000 tags.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        self.tags_paged(repo, 1000).await
    }

    /// Every tag of `repo`, asking for `page_size` at a time and following `Link` pages
    /// (refusing links in circles).
    pub async fn tags_paged(&self, repo: &str, page_size: usize) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let first = self.resolve(&format!("/v2/{repo}/tags/list?n={page_size}"))?;
        let mut pages = Pages::new(&self.registry, "tag list", first);
        while let Some(path) = pages.next_path()? {
            let response = self
                .get_found(&path, HeaderMap::new(), &scope_pull(repo), || {
                    format!("repository {repo}")
                })
                .await?;
            let headers = response.headers().clone();
            let page: Page = self.json(response, "tag list").await?;
            let tags = page.tags.unwrap_or_default();
            pages.read(&path, &headers, tags.is_empty());
            out.extend(tags);
        }
        Ok(out)
    }
}
