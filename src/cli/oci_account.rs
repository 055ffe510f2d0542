//! `oci login`, `oci logout` and `oci config`: credentials and the effective settings (never a
//! credential value).

use std::io::Read;
use std::path::PathBuf;

use color_eyre::eyre::{Result, WrapErr, bail};
use serde::Serialize;

use super::GlobalArgs;
use super::context::OciContext;
use super::exit::{outln, usage};
use super::output::{print_fields, print_structured};
use super::prompt;
use crate::oci::client::{OciError, Transport};
use crate::oci::credentials::Credential;

pub async fn login(
    ctx: &OciContext,
    registry: &str,
    username: Option<String>,
    password_stdin: bool,
    global: &GlobalArgs,
) -> Result<()> {
    let registry = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let username = match username {
        Some(u) => u,
        None if password_stdin => return Err(usage("--password-stdin needs --username")),
        None => prompt::ask("Username: ")?,
    };
    let password = if password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .wrap_err("cannot read the password from stdin")?;
        text.trim_end_matches(['\r', '\n']).to_string()
    } else {
        prompt::ask_secret("Password: ")?
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password must not be empty");
    }
    let credential = Credential::Basic { username, password };
    // Credentials are checked with the registry they are stored for, never with its mirror.
    ctx.registries
        .client_unmirrored(&registry)
        .with_credential(credential.clone())
        .ping()
        .await
        .map_err(|e| {
            // Only an answer that refuses the credentials says so; a registry that could not
            // be reached (a plain-HTTP one without --plain-http) says why it could not.
            let what = if matches!(e, OciError::Unauthorized { .. }) {
                format!("{registry} refused these credentials; nothing was stored")
            } else {
                format!("could not check the credentials with {registry}; nothing was stored")
            };
            color_eyre::Report::new(e).wrap_err(what)
        })?;
    let stored_in = ctx.registries.credentials().store(&registry, &credential)?;
    if !print_structured(
        global.output,
        &serde_json::json!({ "registry": registry, "stored_in": stored_in.to_string() }),
    )? && !global.quiet
    {
        outln!("Login succeeded; credentials stored in {stored_in}");
    }
    Ok(())
}

pub fn logout(ctx: &OciContext, registry: &str, global: &GlobalArgs) -> Result<()> {
    let removed = ctx.registries.credentials().erase(registry)?;
    if !print_structured(
        global.output,
        &serde_json::json!({ "registry": registry, "removed": removed }),
    )? && !global.quiet
    {
        if removed {
            outln!("Removed credentials for {registry}");
        } else {
            outln!("No stored credentials for {registry}");
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct EffectiveConfig {
    client: String,
    workspace: Option<PathBuf>,
    user_config: Option<PathBuf>,
    registry: String,
    namespace: String,
    cache_dir: PathBuf,
    tls: String,
    ca_file: Option<PathBuf>,
    concurrency: usize,
    credentials_from: Vec<String>,
    /// The proxy requests to the registry go through (from HTTPS_PROXY/HTTP_PROXY), if any.
    proxy: Option<String>,
    /// The workspace's `mirrors:`, each with the mirror's own settings.
    mirrors: Vec<MirrorRow>,
}

#[derive(Serialize)]
struct MirrorRow {
    registry: String,
    mirror: String,
    tls: String,
    credentials_from: Vec<String>,
}

impl MirrorRow {
    fn line(&self) -> String {
        let credentials = if self.credentials_from.is_empty() {
            "none stored".to_string()
        } else {
            self.credentials_from.join(", ")
        };
        format!(
            "{} -> {} (tls: {}; credentials: {credentials})",
            self.registry, self.mirror, self.tls
        )
    }
}

/// How `host` is reached, in words.
fn tls_text(ctx: &OciContext, host: &str) -> String {
    match ctx.registries.transport(host) {
        Transport::PlainHttp => "disabled (plain HTTP)".to_string(),
        Transport::TlsThenPlainHttp => {
            "HTTPS, falling back to plain HTTP at once if this loopback registry does not speak TLS"
                .to_string()
        }
        Transport::Tls if ctx.registries.options().insecure => {
            "enabled, certificates NOT verified (--insecure)".to_string()
        }
        Transport::Tls => "enabled, verified".to_string(),
    }
}

/// The proxy the environment sets for `registry`: none for loopback and `NO_PROXY` hosts.
fn proxy_for(ctx: &OciContext, registry: &str) -> Option<String> {
    let env = crate::oci::client::proxy::ProxyEnv::from_env();
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => registry,
    };
    if env.bypasses(host) {
        return None;
    }
    env.describe(ctx.registries.transport(registry) != Transport::PlainHttp)
}

pub fn config(ctx: &OciContext, global: &GlobalArgs) -> Result<()> {
    let registry = &ctx.defaults.registry;
    let options = ctx.registries.options();
    // A mirrored registry is reached at its mirror: its TLS, credentials and proxy are the mirror's.
    let routed = ctx.registries.route(registry);
    let tls = tls_text(ctx, routed);
    let mirrors = options
        .mirrors
        .iter()
        .map(|(from, to)| MirrorRow {
            registry: from.clone(),
            mirror: to.clone(),
            tls: tls_text(ctx, to),
            credentials_from: ctx.registries.credentials().sources(to),
        })
        .collect();
    let effective = EffectiveConfig {
        client: format!("provisioning {} (built-in)", env!("CARGO_PKG_VERSION")),
        workspace: ctx.workspace.as_ref().map(|w| w.root.clone()),
        user_config: ctx.user_config.clone(),
        registry: registry.clone(),
        namespace: ctx.defaults.namespace.clone(),
        cache_dir: ctx.cache.root().to_path_buf(),
        tls,
        ca_file: options.ca_file.clone(),
        concurrency: options.concurrency,
        credentials_from: ctx.registries.credentials().sources(routed),
        proxy: proxy_for(ctx, routed),
        mirrors,
    };
    if print_structured(global.output, &effective)? {
        return Ok(());
    }
    let mut rows = vec![
        ("client", effective.client.clone()),
        (
            "workspace",
            effective
                .workspace
                .as_ref()
                .map(|w| w.display().to_string())
                .unwrap_or_else(|| "none".into()),
        ),
        (
            "user_config",
            effective
                .user_config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| {
                    format!(
                        "none ({} does not exist)",
                        crate::paths::user_config_file().display()
                    )
                }),
        ),
        (
            "registry",
            match ctx.registries.mirror_for(registry) {
                Some(mirror) => format!("{} (reached at its mirror {mirror})", effective.registry),
                None => effective.registry.clone(),
            },
        ),
        ("namespace", effective.namespace.clone()),
        ("cache_dir", effective.cache_dir.display().to_string()),
        ("tls", effective.tls.clone()),
    ];
    if let Some(ca) = &effective.ca_file {
        rows.push(("ca_file", ca.display().to_string()));
    }
    rows.push(("concurrency", effective.concurrency.to_string()));
    if let Some(proxy) = &effective.proxy {
        rows.push(("proxy", proxy.clone()));
    }
    rows.push((
        "credentials",
        if effective.credentials_from.is_empty() {
            "none stored".to_string()
        } else {
            effective.credentials_from.join(", ")
        },
    ));
    for mirror in &effective.mirrors {
        rows.push(("mirror", mirror.line()));
    }
    print_fields(&rows)?;
    Ok(())
}
