//! Cosign-compatible signatures: `oci keygen`, `oci sign`, `oci verify`, `oci inspect --key`,
//! the signature layout cosign writes, cosign-made test material from the sigstore project,
//! the workspace policy that refuses unsigned extensions, and an independent check in Python.

mod common;
use common::oci_fixtures;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::TestRegistry;
use common::cli::Cli;
use common::distribution::{Distribution, DistributionOptions};
use common::{assert_failure, assert_success, text};
use oci_fixtures::*;
use provisioning::oci::Digest;
use provisioning::oci::client::RegistryClient;
use provisioning::oci::sign::{self, Signer, SimpleSigning, Verifier};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign");

/// `oci keygen` into the CLI's home as `NAME.key` / `NAME.pub`.
async fn keygen(cli: &Cli, host: &str, name: &str) -> (String, String) {
    let key = cli.path(&format!("{name}.key")).display().to_string();
    let public = cli.path(&format!("{name}.pub")).display().to_string();
    let output = cli
        .oci_with_env(
            host,
            &["keygen", "--output-key", &key, "--output-pub", &public],
            &[("PROVISIONING_SIGNING_PASSWORD", PASSWORD)],
        )
        .await;
    assert_success(&output);
    (key, public)
}

async fn sign_cli(cli: &Cli, host: &str, reference: &str, key: &str) -> std::process::Output {
    cli.oci_with_env(
        host,
        &["sign", reference, "--key", key],
        &[("PROVISIONING_SIGNING_PASSWORD", PASSWORD)],
    )
    .await
}

/// The signature manifest under `sha256-<hex>.sig` and its parsed JSON.
async fn signature_manifest(client: &RegistryClient, repo: &str, digest: &Digest) -> Value {
    let found = client
        .manifest(repo, &sign::signature_tag(digest))
        .await
        .unwrap();
    serde_json::from_slice(&found.bytes).unwrap()
}

/// Pushes a redis extension as ext/redis:TAG; its digest.
async fn push_artifact(bench: &Workbench, host: &str, version: &str) -> Digest {
    Artifact::extension("redis", version, "key-value store")
        .push(&bench.client(host), "ext/redis", version, &bench.scratch())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_sign_verify_round_trip_in_cosign_layout() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = Workbench::new();
    let digest = push_artifact(&bench, &host, "7.2.0").await;
    let cli = Cli::new();

    let (key, public) = keygen(&cli, &host, "release").await;
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public_text = std::fs::read_to_string(&public).unwrap();
    assert!(public_text.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    // A second keygen onto the same files is refused and leaves them as they were.
    let again = cli
        .oci_with_env(
            &host,
            &["keygen", "--output-key", &key, "--output-pub", &public],
            &[("PROVISIONING_SIGNING_PASSWORD", PASSWORD)],
        )
        .await;
    assert_failure(&again, 5, "refusing to overwrite");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), private);

    // Unsigned: not found (4), saying how to sign.
    let unsigned = cli
        .oci(&host, &["verify", "redis:7.2.0", "--key", &public])
        .await;
    assert_failure(&unsigned, 4, "is not signed");

    assert_success(&sign_cli(&cli, &host, "redis:7.2.0", &key).await);
    let verified = cli
        .oci(&host, &["verify", "redis:7.2.0", "--key", &public])
        .await;
    assert_success(&verified);
    assert!(
        text(&verified.stdout).contains("1 of 1 verify"),
        "{}",
        text(&verified.stdout)
    );

    // The layout, field by field, as cosign writes it.
    let client = bench.client(&host);
    let manifest = signature_manifest(&client, "ext/redis", &digest).await;
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let annotations = layers[0]["annotations"].as_object().unwrap();
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        ["dev.cosignproject.cosign/signature"]
    );
    let layer_digest: Digest = layers[0]["digest"].as_str().unwrap().parse().unwrap();
    let payload = client
        .blob_bytes("ext/redis", &layer_digest, 1 << 16)
        .await
        .unwrap();
    assert_eq!(layers[0]["size"], payload.len());
    assert_eq!(
        text(&payload),
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{host}/ext/redis"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
    );
    let config_digest: Digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let config = client
        .blob_bytes("ext/redis", &config_digest, 1 << 16)
        .await
        .unwrap();
    assert_eq!(
        text(&config),
        format!(
            r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}},"config":{{}}}}"#
        )
    );
    // go-containerregistry writes this config in 233 bytes for one signature.
    assert_eq!(config.len(), 233);
    let signature = annotations["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    Verifier::from_pem(public_text.as_bytes())
        .unwrap()
        .verify(signature, &payload)
        .unwrap();

    // Signing again with the same key changes nothing; another key appends a layer.
    assert_success(&sign_cli(&cli, &host, "redis:7.2.0", &key).await);
    assert_eq!(
        signature_manifest(&client, "ext/redis", &digest).await["layers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (second_key, second_public) = keygen(&cli, &host, "second").await;
    assert_success(&sign_cli(&cli, &host, &format!("redis@{digest}"), &second_key).await);
    let manifest = signature_manifest(&client, "ext/redis", &digest).await;
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        manifest["layers"][0], layers[0],
        "the first signature stays as it was"
    );
    for public in [&public, &second_public] {
        assert_success(
            &cli.oci(&host, &["verify", "redis:7.2.0", "--key", public])
                .await,
        );
    }

    // A key that signed nothing here is refused (1).
    let (_, stranger) = keygen(&cli, &host, "stranger").await;
    let refused = cli
        .oci(&host, &["verify", "redis:7.2.0", "--key", &stranger])
        .await;
    assert_failure(&refused, 1, "none of its 2 signature(s) verifies");

    // inspect: the count, and the check with --key.
    let shown = cli.oci_ok(&host, &["inspect", "redis:7.2.0"]).await;
    assert!(shown.contains("signatures"), "{shown}");
    let shown = cli
        .oci_ok(&host, &["inspect", "redis:7.2.0", "--key", &public])
        .await;
    assert!(
        shown.contains(&format!("verified with {public}")),
        "{shown}"
    );
    let shown = cli
        .oci_ok(&host, &["inspect", "redis:7.2.0", "--key", &stranger])
        .await;
    assert!(
        shown.contains(&format!("NOT verified with {stranger}")),
        "{shown}"
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_payload_and_signature_for_another_digest_are_refused() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = Workbench::new();
    let signed = push_artifact(&bench, &host, "7.2.0").await;
    let other = push_artifact(&bench, &host, "7.3.0").await;
    let cli = Cli::new();
    let (key, public) = keygen(&cli, &host, "release").await;
    assert_success(&sign_cli(&cli, &host, "redis:7.2.0", &key).await);
    let client = bench.client(&host);
    let manifest = signature_manifest(&client, "ext/redis", &signed).await;

    // The valid signature manifest of 7.2.0 copied under 7.3.0's signature tag: it verifies
    // with the key, but names another digest.
    client
        .put_manifest(
            "ext/redis",
            &sign::signature_tag(&other),
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        )
        .await
        .unwrap();
    let refused = cli
        .oci(&host, &["verify", "redis:7.3.0", "--key", &public])
        .await;
    assert_failure(
        &refused,
        1,
        &format!("the signature is for {signed}, not {other}"),
    );

    // A payload changed after signing (7.3.0's digest written in), the signature kept.
    let layer_digest: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let payload = client
        .blob_bytes("ext/redis", &layer_digest, 1 << 16)
        .await
        .unwrap();
    let tampered = text(&payload)
        .replace(&signed.to_string(), &other.to_string())
        .into_bytes();
    let tampered_digest = Digest::sha256_of(&tampered);
    client
        .upload_bytes("ext/redis", &tampered_digest, &tampered)
        .await
        .unwrap();
    let mut forged = manifest.clone();
    forged["layers"][0]["digest"] = json!(tampered_digest.to_string());
    forged["layers"][0]["size"] = json!(tampered.len());
    client
        .put_manifest(
            "ext/redis",
            &sign::signature_tag(&other),
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&forged).unwrap(),
        )
        .await
        .unwrap();
    let refused = cli
        .oci(&host, &["verify", "redis:7.3.0", "--key", &public])
        .await;
    assert_failure(&refused, 1, "the signature does not match this key");
    // The genuine one still verifies.
    assert_success(
        &cli.oci(&host, &["verify", "redis:7.2.0", "--key", &public])
            .await,
    );
    registry.stop().await;
}

/// The cosign-made material of the sigstore project: its signature verifies over the payload
/// we build (so our payload bytes are cosign's), and its cosign-generated encrypted key loads,
/// signs through the CLI and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_made_test_material_loads_and_verifies() {
    let vector: Value = serde_json::from_slice(
        &std::fs::read(format!("{FIXTURES}/cosign_signed_busybox.json")).unwrap(),
    )
    .unwrap();
    let digest: Digest = vector["digest"].as_str().unwrap().parse().unwrap();
    let payload =
        SimpleSigning::new(vector["docker_reference"].as_str().unwrap(), &digest).to_bytes();
    let cosign_key = Verifier::from_pem(vector["public_key"].as_str().unwrap().as_bytes()).unwrap();
    cosign_key
        .verify(vector["signature"].as_str().unwrap(), &payload)
        .expect("cosign's signature verifies over our payload bytes");
    // One byte off, and it does not.
    let mut changed = payload.clone();
    changed[10] ^= 1;
    assert!(
        cosign_key
            .verify(vector["signature"].as_str().unwrap(), &changed)
            .is_err()
    );

    let key_path = format!("{FIXTURES}/cosign_generated_encrypted_empty_private.key");
    let pem = std::fs::read(&key_path).unwrap();
    let signer = Signer::from_encrypted_pem(&pem, b"").expect("cosign's key loads");
    assert!(Signer::from_encrypted_pem(&pem, b"wrong").is_err());

    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = Workbench::new();
    push_artifact(&bench, &host, "7.2.0").await;
    let cli = Cli::new();
    let public = cli.path("cosign.pub");
    std::fs::write(&public, &signer.public_pem).unwrap();
    let public = public.display().to_string();
    let signed = cli
        .oci_with_env(
            &host,
            &["sign", "redis:7.2.0", "--key", &key_path],
            &[("PROVISIONING_SIGNING_PASSWORD", "")],
        )
        .await;
    assert_success(&signed);
    assert_success(
        &cli.oci(&host, &["verify", "redis:7.2.0", "--key", &public])
            .await,
    );
    // The sigstore project's public key did not sign it.
    let busybox_pub = cli.path("busybox.pub");
    std::fs::write(&busybox_pub, vector["public_key"].as_str().unwrap()).unwrap();
    let refused = cli
        .oci(
            &host,
            &[
                "verify",
                "redis:7.2.0",
                "--key",
                busybox_pub.to_str().unwrap(),
            ],
        )
        .await;
    assert_failure(&refused, 1, "does not match this key");
    registry.stop().await;
}

/// Debian's distribution stores and serves what `oci sign` writes, and `oci verify` reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_and_verify_against_distribution() {
    let Some(distribution) = Distribution::start(DistributionOptions::default()) else {
        return;
    };
    let host = distribution.host.clone();
    let bench = Workbench::new();
    let digest = push_artifact(&bench, &host, "7.2.0").await;
    let cli = Cli::new();
    let (key, public) = keygen(&cli, &host, "release").await;
    let (second, _) = keygen(&cli, &host, "second").await;
    assert_success(&sign_cli(&cli, &host, "redis:7.2.0", &key).await);
    assert_success(&sign_cli(&cli, &host, "redis:7.2.0", &second).await);
    assert_success(
        &cli.oci(&host, &["verify", "redis:7.2.0", "--key", &public])
            .await,
    );
    let manifest = signature_manifest(&bench.client(&host), "ext/redis", &digest).await;
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
}

fn policy_workspace(cli: &Cli, host: &str, module: &str, keys: &[&str]) -> std::path::PathBuf {
    let ws = cli.path("ws");
    std::fs::create_dir_all(ws.join("config")).unwrap();
    let keys = keys
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        ws.join("config/provisioning.yaml"),
        format!(
            "dependencies:\n  extensions:\n    source_type: oci\n    oci:\n      registry: \"{host}\"\n      namespace: provisioning-extensions\n      tls_enabled: false\n    modules:\n      taskservs:\n        - \"oci://{host}/provisioning-extensions/{module}\"\nsignatures:\n  keys: [{keys}]\n  require: true\n"
        ),
    )
    .unwrap();
    ws
}

/// `signatures: {keys, require: true}`: `dep resolve` refuses an unsigned extension, naming
/// it and the way out, and accepts it once a trusted key signed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_refuses_unsigned_and_accepts_signed_extensions() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    common::deps::publish(&host).await;
    let cli = Cli::new();
    let (key, public) = keygen(&cli, &host, "release").await;
    let (stranger_key, _) = keygen(&cli, &host, "stranger").await;
    // A relative key path is read from the workspace directory.
    let ws = policy_workspace(&cli, &host, "crun:1.14.4", &["keys/release.pub"]);
    std::fs::create_dir_all(ws.join("keys")).unwrap();
    std::fs::copy(&public, ws.join("keys/release.pub")).unwrap();
    let resolve_args = common::deps::dep_args(&ws, &["resolve"]);
    let refused = cli.run(&resolve_args).await;
    assert_failure(&refused, 1, "crun");
    // Refused before anything was locked or installed.
    assert!(!ws.join("config/provisioning.lock").exists());
    assert!(!ws.join(".provisioning/extensions/taskservs/crun").exists());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("is not signed"), "{stderr}");
    assert!(stderr.contains("signatures.keys"), "{stderr}");
    assert!(stderr.contains("oci sign"), "{stderr}");

    // Signed by a key the workspace does not trust: still refused.
    let reference = format!("{host}/provisioning-extensions/crun:1.14.4");
    assert_success(&sign_cli(&cli, &host, &reference, &stranger_key).await);
    let refused = cli.run(&resolve_args).await;
    assert_failure(&refused, 1, "none by a trusted key");

    // Signed by the trusted key: resolved.
    assert_success(&sign_cli(&cli, &host, &reference, &key).await);
    let accepted = cli.run(&resolve_args).await;
    assert_success(&accepted);
    assert!(
        text(&accepted.stdout).contains("crun"),
        "{}",
        text(&accepted.stdout)
    );
    assert!(ws.join(".provisioning/extensions/taskservs/crun").is_dir());
    // The signatures were kept in the cache: with the registry gone, an offline resolve still
    // finds and verifies them.
    registry.stop().await;
    let offline_args = common::deps::dep_args(&ws, &["resolve", "--offline"]);
    assert_success(&cli.run(&offline_args).await);
    // And offline, a workspace trusting only a key that signed nothing is refused from the
    // cache.
    let (_, unused) = keygen(&cli, &host, "unused").await;
    policy_workspace(&cli, &host, "crun:1.14.4", &[&unused]);
    let refused = cli.run(&offline_args).await;
    assert_failure(&refused, 1, "none by a trusted key");
    // A trusted key that is not there stops the resolution, saying which and where.
    policy_workspace(&cli, &host, "crun:1.14.4", &["keys/missing.pub"]);
    let refused = cli.run(&offline_args).await;
    assert_failure(&refused, 1, "cannot read the trusted key");
    assert!(text(&refused.stderr).contains("keys/missing.pub"));
}

/// `signatures:` is checked with positions: `require` without keys and a `keys` that is not
/// a list are errors that say what to write.
#[test]
fn signature_policy_is_checked_in_the_workspace_file() {
    let check =
        |text: &str| provisioning::workspace::validate::check(Path::new("provisioning.yaml"), text);
    let (config, _) =
        check("signatures:\n  keys: [keys/a.pub, ~/b.pub]\n  require: true\n").unwrap();
    let policy = config.signatures.unwrap();
    assert!(policy.require);
    assert_eq!(policy.keys[0], Path::new("keys/a.pub"));
    assert_eq!(policy.keys.len(), 2);
    let errors = check("signatures:\n  require: true\n").unwrap_err();
    assert!(
        errors
            .iter()
            .any(|d| d.to_string().contains("no key is listed")),
        "{errors:?}"
    );
    let errors = check("signatures:\n  keys: keys/a.pub\n").unwrap_err();
    assert!(
        errors
            .iter()
            .any(|d| d.to_string().contains("must be a list")),
        "{errors:?}"
    );
    let (config, _) = check("signatures:\n  keys: [a.pub]\n").unwrap();
    assert!(!config.signatures.unwrap().require);
}

/// `oci publish --sign --key` signs what it publishes; a wrong password stops it before any
/// push; `--sign` without `--key` is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_signs_what_it_publishes() {
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let cli = Cli::new();
    let root = cli.path("mono");
    std::fs::create_dir_all(&root).unwrap();
    cli.scaffold("taskserv", "demo", &root);
    let root_text = root.to_str().unwrap();
    let (key, public) = keygen(&cli, &host, "release").await;

    let usage = cli.oci(&host, &["publish", root_text, "--sign"]).await;
    assert_failure(&usage, 2, "--key");
    let wrong = cli
        .oci_with_env(
            &host,
            &["publish", root_text, "--sign", "--key", &key],
            &[("PROVISIONING_SIGNING_PASSWORD", "not the password")],
        )
        .await;
    assert_failure(&wrong, 1, "cannot open the private key");
    assert_failure(&cli.oci(&host, &["tags", "demo"]).await, 4, "");

    let published = cli
        .oci_with_env(
            &host,
            &[
                "publish", root_text, "--sign", "--key", &key, "--output", "json",
            ],
            &[("PROVISIONING_SIGNING_PASSWORD", PASSWORD)],
        )
        .await;
    assert_success(&published);
    let entries: Value = serde_json::from_slice(&published.stdout).unwrap();
    let entry = &entries.as_array().unwrap()[0];
    assert_eq!(entry["status"], "published", "{entry}");
    let reference = entry["reference"].as_str().unwrap();
    let verified = cli
        .oci(&host, &["verify", reference, "--key", &public])
        .await;
    assert_success(&verified);
    registry.stop().await;
}

/// An independent check with code we did not write: Python's `cryptography` and `PyNaCl`
/// decrypt our private key file (scrypt + NaCl secretbox in cosign's JSON envelope) and verify
/// our signature over the exact payload bytes pulled from the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_decrypts_our_key_and_verifies_our_signature() {
    if !python_peer() {
        return;
    }
    let registry = TestRegistry::start().await;
    let host = registry.host();
    let bench = Workbench::new();
    let digest = push_artifact(&bench, &host, "7.2.0").await;
    let cli = Cli::new();
    let (key, _) = keygen(&cli, &host, "release").await;
    assert_success(&sign_cli(&cli, &host, "redis:7.2.0", &key).await);
    let client = bench.client(&host);
    let manifest = signature_manifest(&client, "ext/redis", &digest).await;
    let layer_digest: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let payload = client
        .blob_bytes("ext/redis", &layer_digest, 1 << 16)
        .await
        .unwrap();
    let payload_path = cli.path("payload.json");
    std::fs::write(&payload_path, &payload).unwrap();
    let signature = manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap()
        .to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/cosign_check.py");
    let run = |signature: String, payload: std::path::PathBuf| {
        let key = key.clone();
        std::process::Command::new("python3")
            .arg(script)
            .arg(&key)
            .arg(&payload)
            .arg(signature)
            .env("PROVISIONING_SIGNING_PASSWORD", PASSWORD)
            .output()
            .unwrap()
    };
    let checked = run(signature.clone(), payload_path.clone());
    assert_success(&checked);
    assert!(
        text(&checked.stdout).contains("verified"),
        "{}",
        text(&checked.stdout)
    );
    // The same script refuses a changed payload: it does check.
    let changed = cli.path("changed.json");
    std::fs::write(&changed, text(&payload).replace("ext/redis", "ext/other")).unwrap();
    let refused = run(signature, changed);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    registry.stop().await;
}

/// Whether python3 with `cryptography` and `PyNaCl` is there; gated like the other peers.
fn python_peer() -> bool {
    let present = std::process::Command::new("python3")
        .args(["-c", "import cryptography, nacl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return true;
    }
    if std::env::var("PROVISIONING_TEST_PEERS").as_deref() == Ok("1") {
        panic!("python3 cryptography not installed, and PROVISIONING_TEST_PEERS=1 requires it");
    }
    eprintln!("skipped: python3 cryptography not installed");
    false
}
