//! The Bearer-token flow every public registry uses, against Debian's distribution configured
//! with `auth: token` and a token service written for the tests (`common::token_server`):
//! pull and push, cross-repository mounts asking for two scopes, a mount refused, a token that
//! expired mid-transfer, identity (refresh) tokens over OAuth2, an anonymous-token registry
//! (GHCR style), and the workspace token sent only to its own host, only when asked.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::distribution::Distribution;
use common::faults::{Fault, FaultKind, FaultProxy};
use common::oci_fixtures::*;
use common::token_server::{Policy, TokenServer, scopes_asked};
use provisioning::oci::client::{OciError, Registries};
use provisioning::oci::credentials::CredentialStore;
use provisioning::oci::progress::Progress;
use provisioning::oci::{Reference, ReferenceDefaults, copy, pull};

fn reference(text: &str) -> Reference {
    Reference::parse(text, &ReferenceDefaults::default())
        .unwrap_or_else(|e| panic!("reference {text}: {e}"))
}

fn users() -> Policy {
    Policy {
        users: HashMap::from([(USER.to_string(), PASSWORD.to_string())]),
        ..Policy::default()
    }
}

/// A token service with `policy` and a distribution that trusts it; `None` without the peer.
async fn token_registry(policy: Policy) -> Option<(TokenServer, Distribution)> {
    let tokens = TokenServer::start(policy).await;
    let distribution = Distribution::start_with_token(tokens.auth())?;
    Some((tokens, distribution))
}

/// A config.json holding `entry` for `host`, private as Docker writes it.
fn write_config_entry(dir: &Path, host: &str, entry: serde_json::Value) {
    let path = dir.join("config.json");
    let config = serde_json::json!({ "auths": { host: entry } });
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_pull_with_bearer_tokens() {
    let Some((tokens, distribution)) = token_registry(users()).await else {
        return;
    };
    let bench = Workbench::new();
    write_docker_config(
        &bench.path("config.json"),
        &distribution.host,
        USER,
        PASSWORD,
    );
    let client = bench.client(&distribution.host);
    let artifact = Artifact::extension("tokened", "1.0.0", "behind tokens");
    let digest = artifact
        .push(&client, "team/app", "1.0.0", &bench.scratch())
        .await;
    assert_eq!(client.tags("team/app").await.unwrap(), ["1.0.0"]);
    let report = pull::pull(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/team/app:1.0.0", distribution.host)),
        &bench.path("out"),
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, digest);
    let log = tokens.log();
    assert!(
        log.iter()
            .all(|r| r.method == "GET" && r.user.as_deref() == Some(USER)),
        "{log:?}"
    );
    assert!(
        scopes_asked(&log).contains("repository:team/app:pull,push"),
        "{log:?}"
    );

    // Anonymous clients are refused by this service, and say how to log in.
    let anonymous = Workbench::new();
    let error = anonymous
        .client(&distribution.host)
        .tags("team/app")
        .await
        .unwrap_err();
    assert!(matches!(error, OciError::Unauthorized { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_repository_mount_asks_for_each_scope_on_its_own() {
    let Some((tokens, distribution)) = token_registry(users()).await else {
        return;
    };
    let bench = Workbench::new();
    write_docker_config(
        &bench.path("config.json"),
        &distribution.host,
        USER,
        PASSWORD,
    );
    let client = bench.client(&distribution.host);
    let artifact = Artifact::extension("mounted", "1.0.0", "mounted across repositories");
    artifact
        .push(&client, "src/app", "1.0.0", &bench.scratch())
        .await;

    let report = copy::copy(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/src/app:1.0.0", distribution.host)),
        &reference(&format!("{}/dst/app:1.0.0", distribution.host)),
        false,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.blobs_mounted, artifact.blobs().len(), "{report:?}");
    assert_eq!(report.blobs_transferred, 0, "{report:?}");
    // The mount's token request carries both scopes, each as a `scope` parameter of its own.
    let log = tokens.log();
    assert!(
        log.iter().any(|r| {
            r.scopes
                .contains(&"repository:dst/app:pull,push".to_string())
                && r.scopes.contains(&"repository:src/app:pull".to_string())
        }),
        "{log:?}"
    );
    assert!(
        log.iter()
            .all(|r| r.scopes.iter().all(|s| !s.contains(' '))),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mount_uploads_instead() {
    let Some((_tokens, distribution)) = token_registry(users()).await else {
        return;
    };
    let proxy = FaultProxy::start(&distribution.url).await;
    let bench = Workbench::new();
    write_docker_config(&bench.path("config.json"), &proxy.host, USER, PASSWORD);
    let client = bench.client(&proxy.host);
    let artifact = Artifact::extension("refused", "1.0.0", "mount refused");
    artifact
        .push(&client, "src/app", "1.0.0", &bench.scratch())
        .await;
    for (status, repo) in [
        (401, "dst401/app"),
        (403, "dst403/app"),
        (500, "dst500/app"),
    ] {
        proxy.inject(Fault {
            method: Some("POST"),
            path_contains: "mount=".into(),
            times: 100,
            kind: FaultKind::Status(status),
        });
        let report = copy::copy(
            &bench.registries,
            &bench.cache,
            &reference(&format!("{}/src/app:1.0.0", proxy.host)),
            &reference(&format!("{}/{repo}:1.0.0", proxy.host)),
            false,
            &Progress::silent(),
        )
        .await
        .unwrap_or_else(|e| panic!("a mount refused with {status} failed the copy: {e}"));
        assert_eq!(report.blobs_mounted, 0, "{report:?}");
        assert_eq!(
            report.blobs_transferred,
            artifact.blobs().len(),
            "{report:?}"
        );
        assert_eq!(
            client.manifest(repo, "1.0.0").await.unwrap().digest,
            artifact.digest()
        );
        proxy.inject(Fault {
            method: Some("POST"),
            path_contains: "mount=".into(),
            times: 0,
            kind: FaultKind::Status(status),
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_expired_mid_transfer_is_fetched_again() {
    let Some((tokens, distribution)) = token_registry(users()).await else {
        return;
    };
    // distribution allows 60 s of leeway on `exp`: this one expired well before that.
    let expired = tokens.sign(&[("team/app", &["pull", "push"])], -600);
    let fresh = tokens.sign(&[("team/app", &["pull", "push"])], 300);
    let http = common::http_client();
    let tags = format!("{}/v2/team/app/tags/list", distribution.url);
    let with = |token: &str| http.get(&tags).bearer_auth(token).send();
    assert_eq!(with(&expired).await.unwrap().status(), 401);
    assert_ne!(with(&fresh).await.unwrap().status(), 401);

    let proxy = FaultProxy::start(&distribution.url).await;
    let bench = Workbench::new();
    write_docker_config(&bench.path("config.json"), &proxy.host, USER, PASSWORD);
    let client = bench.client(&proxy.host);
    let first = Artifact::extension("expiring", "1.0.0", "first");
    first
        .push(&client, "team/app", "1.0.0", &bench.scratch())
        .await;
    let asked_before = tokens.log().len();
    // The client's cached token expires in the middle of the next push: every kind of request
    // presents it once.
    for (method, path) in [
        ("HEAD", "/blobs/"),
        ("POST", "/blobs/uploads/"),
        ("PUT", "/blobs/uploads/"),
        ("PUT", "/manifests/"),
    ] {
        proxy.inject(Fault {
            method: Some(method),
            path_contains: path.into(),
            times: 1,
            kind: FaultKind::ReplaceAuthorization(format!("Bearer {expired}")),
        });
    }
    let second = Artifact::extension("expiring", "2.0.0", "second, other bytes");
    let digest = second
        .push(&client, "team/app", "2.0.0", &bench.scratch())
        .await;
    assert_eq!(
        client.manifest("team/app", "2.0.0").await.unwrap().digest,
        digest
    );
    assert!(
        tokens.log().len() > asked_before,
        "no new token was fetched: {:?}",
        tokens.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_tokens_use_the_oauth2_refresh_flow() {
    let mut policy = users();
    policy
        .refresh_tokens
        .insert("refresh-4711".to_string(), USER.to_string());
    let Some((tokens, distribution)) = token_registry(policy).await else {
        return;
    };
    let pusher = Workbench::new();
    write_docker_config(
        &pusher.path("config.json"),
        &distribution.host,
        USER,
        PASSWORD,
    );
    let artifact = Artifact::extension("refreshed", "1.0.0", "via a refresh token");
    artifact
        .push(
            &pusher.client(&distribution.host),
            "team/app",
            "1.0.0",
            &pusher.scratch(),
        )
        .await;

    // `docker login` against an OAuth registry leaves an identity token in config.json.
    let bench = Workbench::new();
    write_config_entry(
        bench.dir.path(),
        &distribution.host,
        serde_json::json!({"identitytoken": "refresh-4711"}),
    );
    let before = tokens.log().len();
    let tags = bench.client(&distribution.host).tags("team/app").await;
    assert_eq!(tags.unwrap(), ["1.0.0"]);
    let asked = tokens.log()[before..].to_vec();
    assert!(!asked.is_empty());
    for request in &asked {
        assert_eq!(request.method, "POST", "{asked:?}");
        assert_eq!(
            request.grant_type.as_deref(),
            Some("refresh_token"),
            "{asked:?}"
        );
        assert_eq!(request.user.as_deref(), Some(USER), "{asked:?}");
    }

    // A credential helper answering `<token>` is an identity token too.
    let helpers = tempfile::tempdir().unwrap();
    let helper = helpers.path().join("docker-credential-oauth");
    std::fs::write(
        &helper,
        "#!/bin/sh\ncat >/dev/null\necho '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"refresh-4711\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o700)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"credsStore": "oauth"}"#).unwrap();
    let store = CredentialStore::new(dir.path().join("config.json"), None, None)
        .with_helper_dir(helpers.path());
    let registries = Registries::new(plain_options(), store).unwrap();
    let before = tokens.log().len();
    let manifest = registries
        .client(&distribution.host)
        .manifest("team/app", "1.0.0")
        .await
        .unwrap();
    assert_eq!(manifest.digest, artifact.digest());
    let asked = tokens.log()[before..].to_vec();
    assert!(
        asked
            .iter()
            .all(|r| r.method == "POST" && r.grant_type.as_deref() == Some("refresh_token")),
        "{asked:?}"
    );

    // A token service that refuses POST is asked with GET instead.
    tokens.refuse_post();
    let fallback = Workbench::new();
    write_config_entry(
        fallback.dir.path(),
        &distribution.host,
        serde_json::json!({"identitytoken": "refresh-4711"}),
    );
    let before = tokens.log().len();
    let tags = fallback.client(&distribution.host).tags("team/app").await;
    assert_eq!(tags.unwrap(), ["1.0.0"]);
    let asked = tokens.log()[before..].to_vec();
    assert_eq!(asked[0].method, "POST", "{asked:?}");
    assert_eq!(asked[0].status, 405, "{asked:?}");
    assert!(
        asked.iter().any(|r| r.method == "GET" && r.status == 200),
        "{asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_token_registry_serves_pulls_and_offers_no_catalog() {
    let mut policy = users();
    policy.anonymous_pull = true;
    let Some((tokens, distribution)) = token_registry(policy).await else {
        return;
    };
    let pusher = Workbench::new();
    write_docker_config(
        &pusher.path("config.json"),
        &distribution.host,
        USER,
        PASSWORD,
    );
    let artifact = Artifact::extension("public", "1.0.0", "anyone may pull");
    let digest = artifact
        .push(
            &pusher.client(&distribution.host),
            "org/public",
            "1.0.0",
            &pusher.scratch(),
        )
        .await;

    // No credentials at all: an anonymous token, as GHCR hands out for public images.
    let bench = Workbench::new();
    let before = tokens.log().len();
    let report = pull::pull(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/org/public:1.0.0", distribution.host)),
        &bench.path("out"),
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, digest);
    assert!(
        tokens.log()[before..].iter().all(|r| r.user.is_none()),
        "{:?}",
        tokens.log()
    );
    // The catalog: a token is granted, without the catalog in it; the registry then still
    // says 401. That is "not offered", not "log in".
    let error = bench
        .client(&distribution.host)
        .catalog(100)
        .await
        .unwrap_err();
    assert!(
        matches!(error, OciError::CatalogUnsupported { status: 401, .. }),
        "{error}"
    );
    // Pushing anonymously is refused and asks for a login.
    let error = bench
        .client(&distribution.host)
        .upload_bytes(
            "org/public",
            &provisioning::oci::Digest::sha256_of(b"x"),
            b"x",
        )
        .await
        .unwrap_err();
    assert!(matches!(error, OciError::Unauthorized { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_token_goes_to_its_registry_only_and_only_when_asked() {
    let Some((tokens, distribution)) = token_registry(users()).await else {
        return;
    };
    let workspace_registry = FaultProxy::start(&distribution.url).await;
    let elsewhere = common::TestRegistry::start().await;
    let other_registry = FaultProxy::start(&elsewhere.url).await;

    let cli = common::cli::Cli::new();
    let ws = cli.path("ws");
    std::fs::create_dir_all(ws.join("config")).unwrap();
    let token_path = cli.path("ws-token");
    let token = tokens.sign(&[("provisioning-extensions/demo", &["pull", "push"])], 3600);
    std::fs::write(&token_path, &token).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        ws.join("config/provisioning.yaml"),
        format!(
            "dependencies:\n  extensions:\n    source_type: oci\n    oci:\n      registry: \"{}\"\n      namespace: provisioning-extensions\n      tls_enabled: false\n      auth_token_path: \"{}\"\n",
            workspace_registry.host,
            token_path.display()
        ),
    )
    .unwrap();
    let ws_arg = ws.to_str().unwrap().to_string();

    // Another registry, reached over plain HTTP: never the workspace's token.
    let other_ref = format!("{}/other/app", other_registry.host);
    let output = cli
        .run(&[
            "oci",
            "--workspace",
            &ws_arg,
            "--plain-http",
            "tags",
            &other_ref,
        ])
        .await;
    let seen = other_registry.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|r| r.authorization.is_none()),
        "the workspace token went to another registry: {seen:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Its own registry: the first request goes without it, the token follows the challenge.
    let output = cli
        .run(&["oci", "--workspace", &ws_arg, "tags", "demo"])
        .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The repository does not exist yet; what matters is that the token was accepted.
    assert!(!stderr.contains("authentication required"), "{stderr}");
    let seen = workspace_registry.seen();
    assert_eq!(seen[0].authorization, None, "{seen:?}");
    assert!(
        seen.iter()
            .any(|r| r.authorization.as_deref() == Some("Bearer")),
        "{seen:?}"
    );
    assert!(!stderr.contains(&token), "the token was printed");
}
