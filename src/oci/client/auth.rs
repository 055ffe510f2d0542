//! Registry authentication: `WWW-Authenticate` challenges (Basic and Bearer with
//! realm/service/scope), token requests (GET with Basic credentials or anonymously, OAuth2
//! `POST grant_type=refresh_token` for identity tokens), and a per-registry cache of what worked.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use serde::Deserialize;

use super::error::{OciError, Result};
use crate::oci::credentials::{Credential, IDENTITY_TOKEN_USERNAME};

/// The OAuth2 client id sent with refresh-token requests.
const CLIENT_ID: &str = "provisioning";

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses the first challenge we understand from a `WWW-Authenticate` value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let params = parse_params(rest);
            Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            })
        }
        _ => None,
    }
}

/// `key="value", key=value` pairs; commas inside quotes belong to the value.
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// The `Authorization` value for Basic credentials.
pub fn basic_header(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

#[derive(Deserialize)]
pub(super) struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// What a registry accepted, so later requests authenticate up front.
#[derive(Default)]
pub struct AuthCache {
    /// The registry asked for Basic auth.
    basic: bool,
    /// The registry asked for authentication, so a token stored for it may be sent.
    challenged: bool,
    /// Bearer tokens by scope, with their expiry.
    tokens: HashMap<String, (String, Instant)>,
}

impl AuthCache {
    /// The header to send for a request needing `scope`, if one is known to work.
    pub fn header_for(&self, scope: &str, credential: Option<&Credential>) -> Option<String> {
        if let Some((token, expires)) = self.tokens.get(scope)
            && Instant::now() < *expires
        {
            return Some(format!("Bearer {token}"));
        }
        match credential {
            Some(Credential::Basic { username, password }) if self.basic => {
                Some(basic_header(username, password))
            }
            // Never before the host asked: the token is sent to it only once it wants one.
            Some(Credential::Token(token)) if self.challenged => Some(format!("Bearer {token}")),
            _ => None,
        }
    }

    pub fn remember_basic(&mut self) {
        self.basic = true;
    }

    pub fn remember_challenged(&mut self) {
        self.challenged = true;
    }

    /// Whether a token was granted for `scope` (the registry then refusing it means the scope
    /// is not offered, not that the credentials are wrong).
    pub fn has_token(&self, scope: &str) -> bool {
        self.tokens.contains_key(scope)
    }

    pub fn forget_token(&mut self, scope: &str) {
        self.tokens.remove(scope);
    }

    pub fn store_token(&mut self, scope: &str, token: String, ttl: Duration) {
        // Refresh a little early so a token never expires mid-request.
        let ttl = ttl
            .saturating_sub(Duration::from_secs(10))
            .max(Duration::from_secs(5));
        self.tokens
            .insert(scope.to_string(), (token, Instant::now() + ttl));
    }
}

/// Asks a token service for a token covering `scopes`: an identity (refresh) token goes in an
/// OAuth2 POST, as Docker sends it, falling back to GET where the realm refuses POST; a
/// username and password, or nothing, in a GET.
pub async fn fetch_token(
    http: &reqwest::Client,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    scopes: &[&str],
    credential: Option<&Credential>,
) -> Result<(String, Duration)> {
    let scopes: Vec<&str> = scopes.iter().copied().filter(|s| !s.is_empty()).collect();
    // Credentials go to a token service over HTTPS, or plain HTTP on this machine only: over
    // plain HTTP elsewhere every hop (a proxy among them) could read them.
    let cleartext = reqwest::Url::parse(realm)
        .is_ok_and(|u| u.scheme() == "http" && !u.host_str().is_some_and(super::is_loopback));
    let credential = match credential {
        Some(_) if cleartext => {
            return Err(OciError::Unauthorized {
                registry: registry.to_string(),
                detail: Some(format!(
                    "its token service {} is plain HTTP, and credentials are sent over HTTPS only (or plain HTTP to a loopback host)",
                    realm.split('?').next().unwrap_or(realm)
                )),
            });
        }
        other => other,
    };
    if let Some(Credential::Basic { username, password }) = credential
        && username == IDENTITY_TOKEN_USERNAME
    {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", password.clone()),
            ("client_id", CLIENT_ID.into()),
        ];
        if let Some(service) = service {
            form.push(("service", service.into()));
        }
        if !scopes.is_empty() {
            // OAuth2 puts several scopes in one space-separated value.
            form.push(("scope", scopes.join(" ")));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", super::transport::percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = http
            .post(realm)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        let response = send_logged(request, Method::POST, realm)
            .await
            .map_err(|e| token_unreachable(realm, e))?;
        if !matches!(response.status().as_u16(), 404 | 405) {
            return read_token(registry, realm, response, credential).await;
        }
        tracing::debug!(%registry, "token service refused POST; asking with GET");
    }
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = service {
        query.push(("service", service));
    }
    // The token spec repeats `scope` once per scope.
    for scope in &scopes {
        query.push(("scope", scope));
    }
    let mut request = http.get(realm).query(&query);
    if let Some(Credential::Basic { username, password }) = credential {
        request = request.header(
            reqwest::header::AUTHORIZATION,
            basic_header(username, password),
        );
    }
    let response = send_logged(request, Method::GET, realm)
        .await
        .map_err(|e| token_unreachable(realm, e))?;
    read_token(registry, realm, response, credential).await
}

/// Sends a token request, logging it as every registry request is logged (never its query,
/// which names scopes, nor its headers, which carry the credentials).
async fn send_logged(
    request: reqwest::RequestBuilder,
    method: Method,
    realm: &str,
) -> std::result::Result<reqwest::Response, reqwest::Error> {
    let started = std::time::Instant::now();
    let sent = request.send().await;
    if let Ok(url) = reqwest::Url::parse(realm) {
        super::transport::log_request(&method, &url, &sent, started.elapsed());
    }
    sent
}

fn token_unreachable(realm: &str, error: reqwest::Error) -> OciError {
    OciError::Unreachable {
        url: realm.split('?').next().unwrap_or(realm).to_string(),
        reason: error.without_url().to_string(),
        hint: "",
    }
}

/// The token (and its lifetime) from a token service's answer.
async fn read_token(
    registry: &str,
    realm: &str,
    response: reqwest::Response,
    credential: Option<&Credential>,
) -> Result<(String, Duration)> {
    let realm = realm.split('?').next().unwrap_or(realm);
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(OciError::Unauthorized {
            registry: registry.to_string(),
            detail: Some(if credential.is_some() {
                "the token service refused the stored credentials".to_string()
            } else {
                "no credentials are stored for it".to_string()
            }),
        });
    }
    if !status.is_success() {
        return Err(OciError::Protocol {
            registry: registry.to_string(),
            message: format!("token service {realm} answered {status}"),
        });
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| token_unreachable(realm, e))?;
    let body: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| OciError::Protocol {
        registry: registry.to_string(),
        message: format!("token service {realm} sent an unreadable answer: {e}"),
    })?;
    let token = body
        .token
        .filter(|t| !t.is_empty())
        .or(body.access_token)
        .ok_or_else(|| OciError::Protocol {
            registry: registry.to_string(),
            message: format!("token service {realm} sent no token"),
        })?;
    Ok((token, Duration::from_secs(body.expires_in.unwrap_or(60))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(parse_challenge("Basic realm=\"x\""), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",scope=\"repository:a/b:pull,push\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge("bearer realm=https://h/t, service=s"),
            Some(Challenge::Bearer {
                realm: "https://h/t".into(),
                service: Some("s".into()),
                scope: None
            })
        );
        assert_eq!(parse_challenge("Bearer service=\"s\""), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
