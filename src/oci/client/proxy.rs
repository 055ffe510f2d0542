//! Proxies from the environment: `HTTPS_PROXY` for HTTPS, `HTTP_PROXY` for plain HTTP
//! (`ALL_PROXY` for either when its own is unset; lowercase names first, as curl reads them),
//! and `NO_PROXY` for hosts reached directly. A loopback registry (`localhost`, `127.0.0.0/8`,
//! `::1`) is never proxied.
//!
//! Registry credentials never reach a proxy: HTTPS goes through a `CONNECT` tunnel, so the
//! proxy sees the host and port and nothing of what is said inside; plain HTTP is the only
//! traffic a proxy reads, and credentials go over plain HTTP to loopback hosts only, which are
//! never proxied (see `transport`). A proxy's own credentials (`http://user:pass@proxy:3128`)
//! go to the proxy, as they are meant to.

use reqwest::{ClientBuilder, NoProxy, Proxy, Url};

use super::{OciError, Result};

/// Hosts never proxied, whatever `NO_PROXY` says.
const LOOPBACK: &str = "localhost,127.0.0.0/8,::1";

/// The proxy settings of the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    pub https: Option<String>,
    pub http: Option<String>,
    pub no_proxy: Option<String>,
}

fn first_var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

impl ProxyEnv {
    pub fn from_env() -> ProxyEnv {
        let all = first_var(&["all_proxy", "ALL_PROXY"]);
        ProxyEnv {
            https: first_var(&["https_proxy", "HTTPS_PROXY"]).or_else(|| all.clone()),
            http: first_var(&["http_proxy", "HTTP_PROXY"]).or(all),
            no_proxy: first_var(&["no_proxy", "NO_PROXY"]),
        }
    }

    /// `NO_PROXY` with the loopback hosts added.
    pub fn no_proxy_list(&self) -> String {
        match &self.no_proxy {
            Some(list) => format!("{list},{LOOPBACK}"),
            None => LOOPBACK.to_string(),
        }
    }

    /// The proxy `url` goes through, without its user info; `None` when reached directly.
    /// For `oci config` and logs.
    pub fn describe(&self, scheme_is_https: bool) -> Option<String> {
        let proxy = if scheme_is_https {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        Some(match parse_proxy(proxy) {
            Ok(mut url) => {
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.to_string()
            }
            Err(_) => proxy.clone(),
        })
    }

    /// Whether a request to `host` (no port) skips the proxy: loopback, `*`, or a `NO_PROXY`
    /// name or domain (a CIDR entry is honoured by the client; this, for `oci config`, shows
    /// names and addresses only).
    pub fn bypasses(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if super::is_loopback(host) {
            return true;
        }
        let host = host.to_ascii_lowercase();
        self.no_proxy
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .any(|e| e == "*" || e == host || host.ends_with(&format!(".{e}")))
    }

    /// Sets the client's proxies (none at all when the environment names none).
    pub fn apply(&self, builder: ClientBuilder) -> Result<ClientBuilder> {
        if self.https.is_none() && self.http.is_none() {
            return Ok(builder.no_proxy());
        }
        let mut builder = builder;
        let no_proxy = || NoProxy::from_string(&self.no_proxy_list());
        if let Some(text) = &self.https {
            let proxy = Proxy::https(parse_proxy(text).map_err(|e| bad("HTTPS_PROXY", e))?)
                .map_err(|e| bad("HTTPS_PROXY", e.to_string()))?
                .no_proxy(no_proxy());
            builder = builder.proxy(proxy);
        }
        if let Some(text) = &self.http {
            let proxy = Proxy::http(parse_proxy(text).map_err(|e| bad("HTTP_PROXY", e))?)
                .map_err(|e| bad("HTTP_PROXY", e.to_string()))?
                .no_proxy(no_proxy());
            builder = builder.proxy(proxy);
        }
        Ok(builder)
    }
}

/// `proxy:3128` means `http://proxy:3128`, as curl reads it.
fn parse_proxy(text: &str) -> std::result::Result<Url, String> {
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    Url::parse(&with_scheme).map_err(|e| e.to_string())
}

fn bad(variable: &str, reason: String) -> OciError {
    OciError::Config(format!(
        "{variable} is not a proxy URL ({reason}); write it as http://HOST:PORT, or unset it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_never_proxied_and_no_proxy_is_kept() {
        let env = ProxyEnv {
            https: Some("proxy.example:3128".into()),
            http: None,
            no_proxy: Some("internal.example, 10.0.0.0/8".into()),
        };
        assert!(env.no_proxy_list().contains("127.0.0.0/8"));
        assert!(env.bypasses("localhost") && env.bypasses("127.0.0.1") && env.bypasses("[::1]"));
        assert!(env.bypasses("registry.internal.example"));
        assert!(!env.bypasses("ghcr.io"));
        assert_eq!(
            env.describe(true).as_deref(),
            Some("http://proxy.example:3128/")
        );
        assert_eq!(env.describe(false), None);
        assert!(env.apply(reqwest::Client::builder()).is_ok());
    }

    #[test]
    fn a_proxy_that_is_no_url_is_refused_with_the_variable_named() {
        let env = ProxyEnv {
            https: Some("http://[not a host".into()),
            ..ProxyEnv::default()
        };
        let error = env.apply(reqwest::Client::builder()).err().unwrap();
        assert!(error.to_string().contains("HTTPS_PROXY"), "{error}");
    }

    #[test]
    fn proxy_user_info_is_not_shown() {
        let env = ProxyEnv {
            https: Some("http://me:secret@proxy.example:3128".into()),
            ..ProxyEnv::default()
        };
        let shown = env.describe(true).unwrap();
        assert!(
            !shown.contains("secret") && !shown.contains("me@"),
            "{shown}"
        );
    }
}
