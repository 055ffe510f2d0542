//! Following `Link: <…>; rel="next"` pages of the catalog and tag lists, with a guard against
//! registries whose links lead back to a page already read (or never end).

use std::collections::HashSet;

use reqwest::header::{self, HeaderMap};

use super::{OciError, Result};

/// Pages read before a listing is given up as endless.
pub const MAX_PAGES: usize = 10_000;

/// The pages of one listing: hands out the next path to request and refuses to go in circles.
#[derive(Debug)]
pub struct Pages {
    registry: String,
    what: &'static str,
    next: Option<String>,
    seen: HashSet<String>,
    limit: usize,
}

impl Pages {
    /// A listing (`what`, as errors name it) that starts at `first`.
    pub fn new(registry: &str, what: &'static str, first: String) -> Pages {
        Pages::with_limit(registry, what, first, MAX_PAGES)
    }

    fn with_limit(registry: &str, what: &'static str, first: String, limit: usize) -> Pages {
        Pages {
            registry: registry.to_string(),
            what,
            next: Some(first),
            seen: HashSet::new(),
            limit,
        }
    }

    /// The next path to request, or `None` when the listing is complete. Errors when the path
    /// was requested before (the registry links in a circle) or the page limit is reached.
    pub fn next_path(&mut self) -> Result<Option<String>> {
        let Some(path) = self.next.take() else {
            return Ok(None);
        };
        let protocol = |message: String| OciError::Protocol {
            registry: self.registry.clone(),
            message,
        };
        if self.seen.contains(&path) {
            return Err(protocol(format!(
                "the {} pages link back to {path}, a page already read; stopped instead of \
                 going in circles",
                self.what
            )));
        }
        if self.seen.len() >= self.limit {
            return Err(protocol(format!(
                "the {} has more than {} pages; stopped instead of reading on",
                self.what, self.limit
            )));
        }
        self.seen.insert(path.clone());
        Ok(Some(path))
    }

    /// Records the page just read: its `Link` header names the next one, and an empty page
    /// ends the listing whatever it links to.
    pub fn read(&mut self, headers: &HeaderMap, empty: bool) {
        self.next = if empty { None } else { next_link(headers) };
    }
}

/// The path and query of a `Link: <…>; rel="next"` header.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::LINK)?.to_str().ok()?;
    let start = value.find('<')? + 1;
    let end = value[start..].find('>')? + start;
    value[end..]
        .contains("next")
        .then(|| value[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn link(target: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_str(&format!("<{target}>; rel=\"next\"")).unwrap(),
        );
        headers
    }

    #[test]
    fn links() {
        assert_eq!(
            next_link(&link("/v2/_catalog?n=2&last=b")).as_deref(),
            Some("/v2/_catalog?n=2&last=b")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn pages_follow_links_until_none_or_empty() {
        let mut pages = Pages::new("r", "catalog", "/a".into());
        assert_eq!(pages.next_path().unwrap().as_deref(), Some("/a"));
        pages.read(&link("/b"), false);
        assert_eq!(pages.next_path().unwrap().as_deref(), Some("/b"));
        pages.read(&HeaderMap::new(), false);
        assert_eq!(pages.next_path().unwrap(), None);

        let mut pages = Pages::new("r", "catalog", "/a".into());
        pages.next_path().unwrap();
        pages.read(&link("/b"), true);
        assert_eq!(pages.next_path().unwrap(), None);
    }

    #[test]
    fn a_link_back_to_a_read_page_is_refused() {
        let mut pages = Pages::new("r", "tag list", "/a".into());
        pages.next_path().unwrap();
        pages.read(&link("/b"), false);
        pages.next_path().unwrap();
        pages.read(&link("/a"), false);
        let error = pages.next_path().unwrap_err();
        assert!(
            matches!(&error, OciError::Protocol { message, .. }
                if message.contains("tag list pages link back to /a")),
            "{error}"
        );
    }

    #[test]
    fn endless_pages_stop_at_the_limit() {
        let mut pages = Pages::with_limit("r", "catalog", "/0".into(), 3);
        for n in 1..=3 {
            pages.next_path().unwrap().unwrap();
            pages.read(&link(&format!("/{n}")), false);
        }
        let error = pages.next_path().unwrap_err();
        assert!(error.to_string().contains("more than 3 pages"), "{error}");
    }
}
