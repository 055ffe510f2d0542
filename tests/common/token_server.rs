//! A token service for distribution's `auth: token`, written for the tests: it signs ES256
//! JWTs the way distribution checks them (an `x5c` header holding the certificate that is also
//! the `rootcertbundle`, `iss`, `aud` = service, `exp`/`nbf`, `access`), answers the token
//! spec's GET (Basic or anonymous, one `scope` parameter per scope) and OAuth2's POST
//! (`grant_type=refresh_token` or `password`), and records every request it answered. Secrets
//! are never recorded, only which user asked.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::SigningKey as _;

use super::distribution::TokenAuth;

/// The `service` distribution names in its challenges and the token's audience.
pub const SERVICE: &str = "provisioning-test-registry";
/// The issuer distribution trusts.
pub const ISSUER: &str = "provisioning-test-issuer";

/// One request the token service answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// `grant_type` of a POST.
    pub grant_type: Option<String>,
    /// Each scope asked for, as the request carried it (one entry per `scope` parameter on a
    /// GET; split on spaces on a POST, as OAuth2 writes them).
    pub scopes: Vec<String>,
    /// Who was authenticated (`None`: anonymous).
    pub user: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// What the service grants.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// `user -> password`.
    pub users: HashMap<String, String>,
    /// `refresh token -> user`.
    pub refresh_tokens: HashMap<String, String>,
    /// Anonymous requests get `pull` on every repository (GHCR's public images); otherwise
    /// they are refused.
    pub anonymous_pull: bool,
    /// Repositories no one may pull (a mount from there is refused).
    pub no_pull: Vec<String>,
    /// Grant `registry:catalog:*` to users.
    pub catalog: bool,
}

struct ServiceState {
    key: rcgen::KeyPair,
    cert_der: Vec<u8>,
    policy: Mutex<Policy>,
    refuse_post: AtomicBool,
    log: Mutex<Vec<TokenRequest>>,
    serial: AtomicU64,
}

/// A running token service, stopped on drop.
pub struct TokenServer {
    state: Arc<ServiceState>,
    pub url: String,
    pub cert_path: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl TokenServer {
    pub async fn start(policy: Policy) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["token-issuer".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "provisioning test token issuer");
        let cert = params.self_signed(&key).unwrap();
        let cert_path = dir.path().join("token-issuer.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        let state = Arc::new(ServiceState {
            key,
            cert_der: cert.der().to_vec(),
            policy: Mutex::new(policy),
            refuse_post: AtomicBool::new(false),
            log: Mutex::default(),
            serial: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/token", axum::routing::get(answer).post(answer))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TokenServer {
            state,
            url,
            cert_path,
            _dir: dir,
            task,
        }
    }

    /// The settings distribution needs to trust this service.
    pub fn auth(&self) -> TokenAuth {
        TokenAuth {
            realm: format!("{}/token", self.url),
            service: SERVICE.to_string(),
            issuer: ISSUER.to_string(),
            root_cert_bundle: self.cert_path.clone(),
        }
    }

    /// Answer OAuth2 POSTs with 405, as token services that only speak the GET flow do.
    pub fn refuse_post(&self) {
        self.state.refuse_post.store(true, Ordering::SeqCst);
    }

    pub fn set_policy(&self, update: impl FnOnce(&mut Policy)) {
        update(&mut self.state.policy.lock().unwrap());
    }

    /// Every request answered so far.
    pub fn log(&self) -> Vec<TokenRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// A token for `access` (`(repository, actions)`) signed now, valid `lifetime_secs` from
    /// now (negative: already expired by that much).
    pub fn sign(&self, access: &[(&str, &[&str])], lifetime_secs: i64) -> String {
        let access: Vec<serde_json::Value> = access
            .iter()
            .map(|(name, actions)| {
                serde_json::json!({"type": "repository", "name": name, "actions": actions})
            })
            .collect();
        sign(&self.state, "test", access, lifetime_secs)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(state): State<Arc<ServiceState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let mut record = TokenRequest {
        method: method.to_string(),
        grant_type: None,
        scopes: Vec::new(),
        user: None,
        status: 200,
    };
    let response = grant(
        &state,
        &method,
        &headers,
        query.as_deref(),
        &body,
        &mut record,
    );
    record.status = response.status().as_u16();
    state.log.lock().unwrap().push(record);
    response
}

fn grant(
    state: &ServiceState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &str,
    record: &mut TokenRequest,
) -> Response {
    let policy = state.policy.lock().unwrap().clone();
    let user = if method == Method::POST {
        if state.refuse_post.load(Ordering::SeqCst) {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        let form = parse_form(body);
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        record.grant_type = field("grant_type");
        record.scopes = form
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect();
        let found = match record.grant_type.as_deref() {
            Some("refresh_token") => {
                field("refresh_token").and_then(|t| policy.refresh_tokens.get(&t).cloned())
            }
            Some("password") => field("username").filter(|u| {
                policy
                    .users
                    .get(u)
                    .is_some_and(|p| Some(p) == field("password").as_ref())
            }),
            _ => return StatusCode::BAD_REQUEST.into_response(),
        };
        found.map(Some).ok_or(())
    } else {
        record.scopes = parse_form(query.unwrap_or(""))
            .into_iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v)
            .collect();
        match basic_user(headers) {
            None => Ok(None),
            Some((user, password)) => {
                let known = policy.users.get(&user).is_some_and(|p| *p == password)
                    // Docker's fallback for identity tokens on GET.
                    || (user == "<token>" && policy.refresh_tokens.contains_key(&password));
                if known { Ok(Some(user)) } else { Err(()) }
            }
        }
    };
    let Ok(user) = user else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if user.is_none() && !policy.anonymous_pull {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    record.user = user.clone();
    let mut access = Vec::new();
    for scope in &record.scopes {
        // `type:name:actions`; the name may hold a port's colon, the actions never do.
        let Some((kind_name, actions)) = scope.rsplit_once(':') else {
            continue;
        };
        let Some((kind, name)) = kind_name.split_once(':') else {
            continue;
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|action| match (kind, user.is_some()) {
                ("repository", _) if *action == "pull" => !policy.no_pull.iter().any(|r| r == name),
                ("repository", true) => true,
                ("registry", true) => policy.catalog,
                _ => false,
            })
            .collect();
        if !granted.is_empty() {
            access.push(serde_json::json!({"type": kind, "name": name, "actions": granted}));
        }
    }
    let subject = user.unwrap_or_default();
    let token = sign(state, &subject, access, 300);
    let body = if method == Method::POST {
        serde_json::json!({"access_token": token, "expires_in": 300, "token_type": "Bearer"})
    } else {
        serde_json::json!({"token": token, "expires_in": 300})
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn sign(
    state: &ServiceState,
    subject: &str,
    access: Vec<serde_json::Value>,
    lifetime_secs: i64,
) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [STANDARD.encode(&state.cert_der)],
    });
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": now + lifetime_secs,
        "nbf": now.min(now + lifetime_secs) - 5,
        "iat": now,
        "jti": format!("t{}", state.serial.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = state.key.sign(signing_input.as_bytes()).unwrap();
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(ecdsa_der_to_raw(&der))
    )
}

/// An ASN.1 `SEQUENCE { r INTEGER, s INTEGER }` as JWS wants it: r and s, 32 bytes each.
fn ecdsa_der_to_raw(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30, "an ECDSA signature is a DER sequence");
    let mut at = if der[1] & 0x80 != 0 {
        2 + (der[1] & 0x7f) as usize
    } else {
        2
    };
    let mut out = Vec::with_capacity(64);
    for _ in 0..2 {
        assert_eq!(der[at], 0x02, "an integer");
        let len = der[at + 1] as usize;
        let value = &der[at + 2..at + 2 + len];
        let value = &value[value.iter().take_while(|b| **b == 0).count()..];
        out.extend(std::iter::repeat_n(0u8, 32 - value.len()));
        out.extend_from_slice(value);
        at += 2 + len;
    }
    out
}

fn basic_user(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// `a=b&c=d` with `+` and `%XX` decoded.
fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Scopes of the recorded requests, for assertions.
pub fn scopes_asked(log: &[TokenRequest]) -> HashSet<String> {
    log.iter().flat_map(|r| r.scopes.iter().cloned()).collect()
}
