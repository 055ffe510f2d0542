//! Following `Link: <…>; rel="next"` pages of the catalog and tag lists, with a guard against
//! registries whose links lead back to a page already read (or never end).

use std::collections::HashSet;

use reqwest::Url;
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
    pub fn new(registry: &str, what: &'static str, first: Url) -> Pages {
        Pages::with_limit(registry, what, first, MAX_PAGES)
    }

    fn with_limit(registry: &str, what: &'static str, first: Url, limit: usize) -> Pages {
        Pages {
            registry: registry.to_string(),
            what,
            next: Some(first.to_string()),
            seen: HashSet::new(),
            limit,
        }
    }

    /// The next URL to request, or `None` when the listing is complete. Errors when the path
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
                "the {} pages link back to {}, a page already read; stopped instead of \
                 going in circles",
                self.what,
                shown(&path)
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

    /// Records the page just read from `page`: its `Link` header names the next one
    /// (relative to `page`), and an empty page ends the listing whatever it links to.
    pub fn read(&mut self, page: &str, headers: &HeaderMap, empty: bool) {
        self.next = if empty {
            None
        } else {
            Url::parse(page)
                .ok()
                .and_then(|page| next_link(headers, &page))
                .map(|url| url.to_string())
        };
    }
}

/// A page as errors name it: its path and query (the host is the registry's).
fn shown(url: &str) -> String {
    match Url::parse(url) {
        Ok(url) => match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        },
        Err(_) => url.to_string(),
    }
}

/// The target of the `rel="next"` entry of the `Link` headers, resolved against `page` (RFC
/// 8288: a header may hold several comma-separated entries, and there may be several headers).
pub fn next_link(headers: &HeaderMap, page: &Url) -> Option<Url> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(link_entries)
        .find(|(_, params)| {
            params.iter().any(|(key, value)| {
                key.eq_ignore_ascii_case("rel")
                    && value
                        .split_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        })
        .and_then(|(target, _)| page.join(&target).ok())
}

/// `<target>; key=value; key="value", <target>; …` as (target, parameters) pairs.
fn link_entries(value: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|i| i + open) else {
            break;
        };
        let target = rest[open + 1..close].trim().to_string();
        rest = &rest[close + 1..];
        // Parameters run to the next entry: a comma outside quotes.
        let mut end = rest.len();
        let mut quoted = false;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let params = rest[..end]
            .split(';')
            .filter_map(|p| {
                let (key, value) = p.split_once('=')?;
                Some((
                    key.trim().to_string(),
                    value.trim().trim_matches('"').to_string(),
                ))
            })
            .collect();
        out.push((target, params));
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const BASE: &str = "http://r.example:5000";

    fn url(path: &str) -> Url {
        Url::parse(&format!("{BASE}{path}")).unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::LINK, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn link(target: &str) -> HeaderMap {
        headers(&[&format!("<{target}>; rel=\"next\"")])
    }

    #[test]
    fn links() {
        let page = url("/v2/_catalog?n=2");
        assert_eq!(
            next_link(&link("/v2/_catalog?n=2&last=b"), &page),
            Some(url("/v2/_catalog?n=2&last=b"))
        );
        assert_eq!(next_link(&HeaderMap::new(), &page), None);
    }

    #[test]
    fn the_next_entry_is_picked_among_several() {
        let page = url("/v2/a/tags/list?n=2");
        let one_header = headers(&[
            "</v2/a/tags/list?n=2>; rel=\"first\", </v2/a/tags/list?n=2&last=b>; rel=\"next\"",
        ]);
        assert_eq!(
            next_link(&one_header, &page),
            Some(url("/v2/a/tags/list?n=2&last=b"))
        );
        let two_headers = headers(&[
            "</v2/a/tags/list?n=2>; rel=\"prev\"",
            "</v2/a/tags/list?n=2&last=d>; title=\"x, y\"; rel=next",
        ]);
        assert_eq!(
            next_link(&two_headers, &page),
            Some(url("/v2/a/tags/list?n=2&last=d"))
        );
        assert_eq!(
            next_link(
                &headers(&["</v2/a/tags/list?last=z>; rel=\"nextish\""]),
                &page
            ),
            None
        );
    }

    #[test]
    fn relative_links_join_against_the_page() {
        let page = url("/v2/team/app/tags/list?n=2");
        assert_eq!(
            next_link(&link("list?n=2&last=b"), &page),
            Some(url("/v2/team/app/tags/list?n=2&last=b"))
        );
        assert_eq!(
            next_link(&link("?n=2&last=c"), &page),
            Some(url("/v2/team/app/tags/list?n=2&last=c"))
        );
        assert_eq!(
            next_link(&link("https://cdn.example/page?sig=x"), &page).map(|u| u.to_string()),
            Some("https://cdn.example/page?sig=x".to_string())
        );
    }

    #[test]
    fn pages_follow_links_until_none_or_empty() {
        let mut pages = Pages::new("r", "catalog", url("/a"));
        let first = pages.next_path().unwrap().unwrap();
        assert_eq!(first, format!("{BASE}/a"));
        pages.read(&first, &link("/b"), false);
        let second = pages.next_path().unwrap().unwrap();
        assert_eq!(second, format!("{BASE}/b"));
        pages.read(&second, &HeaderMap::new(), false);
        assert_eq!(pages.next_path().unwrap(), None);

        let mut pages = Pages::new("r", "catalog", url("/a"));
        let first = pages.next_path().unwrap().unwrap();
        pages.read(&first, &link("/b"), true);
        assert_eq!(pages.next_path().unwrap(), None);
    }

    #[test]
    fn a_link_back_to_a_read_page_is_refused() {
        let mut pages = Pages::new("r", "tag list", url("/a"));
        let a = pages.next_path().unwrap().unwrap();
        pages.read(&a, &link("/b"), false);
        let b = pages.next_path().unwrap().unwrap();
        pages.read(&b, &link("/a"), false);
        let error = pages.next_path().unwrap_err();
        assert!(
            matches!(&error, OciError::Protocol { message, .. }
                if message.contains("tag list pages link back to /a,")),
            "{error}"
        );
    }

    #[test]
    fn endless_pages_stop_at_the_limit() {
        let mut pages = Pages::with_limit("r", "catalog", url("/0"), 3);
        for n in 1..=3 {
            let page = pages.next_path().unwrap().unwrap();
            pages.read(&page, &link(&format!("/{n}")), false);
        }
        let error = pages.next_path().unwrap_err();
        assert!(error.to_string().contains("more than 3 pages"), "{error}");
    }
}
