//! The OCI client's authentication and TLS against Debian's distribution registry: credentials
//! from a Docker config, refused anonymous and wrong-password access, a test CA, `--insecure`.

mod common;
use common::oci_fixtures;

use std::path::Path;

use common::distribution::{Distribution, DistributionOptions};
use common::faults::{Fault, FaultKind, FaultProxy};
use common::make_pki;
use oci_fixtures::*;
use provisioning::oci::client::{ClientOptions, OciError};
use provisioning::oci::progress::Progress;
use provisioning::oci::{Reference, ReferenceDefaults, pull};

fn reference(text: &str) -> Reference {
    Reference::parse(text, &ReferenceDefaults::default())
        .unwrap_or_else(|e| panic!("reference {text}: {e}"))
}

/// A distribution registry that wants the test user's password.
fn distribution_with_auth(dir: &Path) -> Option<Distribution> {
    let htpasswd = write_htpasswd(dir);
    Distribution::start(DistributionOptions {
        htpasswd: Some(htpasswd),
        tls: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_a_docker_config_reach_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let Some(distribution) = distribution_with_auth(dir.path()) else {
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
    client.ping().await.unwrap();
    let artifact = Artifact::extension("private", "1.0.0", "behind a password");
    let digest = artifact
        .push(&client, "private/app", "1.0.0", &bench.scratch())
        .await;
    assert_eq!(client.tags("private/app").await.unwrap(), ["1.0.0"]);
    let out = bench.path("out");
    let report = pull::pull(
        &bench.registries,
        &bench.cache,
        &reference(&format!("{}/private/app:1.0.0", distribution.host)),
        &out,
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, digest);
    assert_eq!(files_under(&out), ["manifest.yaml", "scripts/install.sh"]);

    // Without credentials.
    let anonymous = Workbench::new();
    let result = anonymous
        .client(&distribution.host)
        .tags("private/app")
        .await;
    assert!(
        matches!(result, Err(OciError::Unauthorized { .. })),
        "{result:?}"
    );
    // With a wrong password.
    let wrong = Workbench::new();
    write_docker_config(
        &wrong.path("config.json"),
        &distribution.host,
        USER,
        "not the password",
    );
    let result = wrong.client(&distribution.host).tags("private/app").await;
    match result {
        Err(e @ OciError::Unauthorized { .. }) => {
            assert!(!e.to_string().contains("not the password"), "{e}");
        }
        other => panic!("wrong password: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let Some(distribution) = Distribution::start(DistributionOptions {
        htpasswd: None,
        tls: Some((pki.cert.clone(), pki.key.clone())),
    }) else {
        return;
    };
    let host = distribution.host.clone();

    let trusting = Workbench::with_options(ClientOptions {
        ca_file: Some(pki.ca.clone()),
        ..ClientOptions::default()
    });
    let client = trusting.client(&host);
    assert!(client.base_url().starts_with("https://"));
    client.ping().await.unwrap();
    let artifact = Artifact::extension("tls", "1.0.0", "over HTTPS");
    artifact
        .push(&client, "secure/app", "1.0.0", &trusting.scratch())
        .await;
    assert_eq!(
        client.manifest("secure/app", "1.0.0").await.unwrap().bytes,
        artifact.manifest_bytes()
    );

    let untrusting = Workbench::with_options(ClientOptions::default());
    let error = untrusting
        .client(&host)
        .tags("secure/app")
        .await
        .expect_err("an unknown CA must be refused");
    assert!(matches!(error, OciError::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().contains("--ca-file"), "{error}");

    let insecure = Workbench::with_options(ClientOptions {
        insecure: true,
        ..ClientOptions::default()
    });
    assert_eq!(
        insecure.client(&host).tags("secure/app").await.unwrap(),
        ["1.0.0"]
    );
}

/// Our registry wanting the test user's password.
async fn registry_with_password(dir: &Path) -> common::TestRegistry {
    let htpasswd = write_htpasswd(dir);
    common::TestRegistry::start_with(|config| config.htpasswd = Some(htpasswd)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_follow_a_location_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with_password(dir.path()).await;
    // The same registry under another name: a host the credentials were not given for.
    let elsewhere = FaultProxy::start(&registry.url).await;
    let front = FaultProxy::start(&registry.url).await;
    front.inject(Fault {
        method: Some("POST"),
        path_contains: "/blobs/uploads/".into(),
        times: 100,
        kind: FaultKind::Location(format!("http://{}{{path}}", elsewhere.host)),
    });
    let bench = Workbench::new();
    write_docker_config(&bench.path("config.json"), &front.host, USER, PASSWORD);
    let client = bench.client(&front.host);
    client.ping().await.unwrap();
    let blob = blob(TEXT_LAYER, b"kept at home", &[]);
    std::fs::create_dir_all(bench.scratch()).unwrap();
    let file = bench.scratch().join("blob");
    std::fs::write(&file, &blob.bytes).unwrap();
    let error = client
        .upload_blob("team/app", &blob.descriptor, &file, &Progress::silent())
        .await
        .expect_err("the other host wants credentials it must not get");
    assert!(matches!(error, OciError::Unauthorized { .. }), "{error}");
    let seen = elsewhere.seen();
    assert!(!seen.is_empty(), "the upload never went to the other host");
    assert!(
        seen.iter().all(|r| r.authorization.is_none()),
        "credentials went to another host: {seen:?}"
    );
    assert!(
        front
            .seen()
            .iter()
            .any(|r| r.authorization.as_deref() == Some("Basic")),
        "the registry's own host gets them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_stay_out_of_errors() {
    let registry = common::TestRegistry::start().await;
    let proxy = FaultProxy::start(&registry.url).await;
    let closed = common::free_port();
    // A pre-signed upload URL on storage that is not there.
    proxy.inject(Fault {
        method: Some("POST"),
        path_contains: "/blobs/uploads/".into(),
        times: 100,
        kind: FaultKind::Location(format!(
            "http://127.0.0.1:{closed}{{path}}?X-Amz-Signature=sig-0123456789abcdef"
        )),
    });
    let bench = Workbench::new();
    let client = bench.client(&proxy.host);
    let blob = blob(TEXT_LAYER, b"pre-signed", &[]);
    std::fs::create_dir_all(bench.scratch()).unwrap();
    let file = bench.scratch().join("blob");
    std::fs::write(&file, &blob.bytes).unwrap();
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let progress = Progress::new(sender);
    let error = client
        .upload_blob("team/app", &blob.descriptor, &file, &progress)
        .await
        .expect_err("nothing listens there");
    drop(progress);
    let mut shown = format!("{error} {error:?}");
    while let Ok(event) = events.try_recv() {
        shown.push_str(&format!(" {event:?}"));
    }
    assert!(shown.contains(&format!("127.0.0.1:{closed}")), "{shown}");
    assert!(!shown.contains("sig-0123456789abcdef"), "{shown}");
    assert!(!shown.contains("X-Amz-Signature"), "{shown}");
}

#[test]
fn credential_helpers_run_off_the_runtime() {
    // One runtime thread: a helper run on it would stop the task it waits for.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry_with_password(dir.path()).await;
        let helpers = dir.path().join("helpers");
        std::fs::create_dir_all(&helpers).unwrap();
        let unlocked = dir.path().join("unlocked");
        // Answers once the keychain is unlocked (the file exists); gives up after 10 s.
        let script = format!(
            "#!/bin/sh\ncat >/dev/null\ni=0\nwhile [ ! -e '{}' ]; do i=$((i+1)); [ $i -gt 200 ] && {{ echo 'credentials not found in native keychain'; exit 1; }}; sleep 0.05; done\necho '{{\"ServerURL\":\"x\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            unlocked.display()
        );
        let helper = helpers.join("docker-credential-keychain");
        std::fs::write(&helper, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"credsStore":"keychain"}"#).unwrap();
        let store = provisioning::oci::credentials::CredentialStore::new(
            dir.path().join("config.json"),
            None,
            None,
        )
        .with_helper_dir(&helpers);
        let registries =
            provisioning::oci::client::Registries::new(plain_options(), store).unwrap();
        let client = registries.client(&registry.host());
        let unlock = async {
            tokio::task::yield_now().await;
            tokio::fs::write(&unlocked, b"").await.unwrap();
        };
        let (answer, ()) = tokio::join!(client.ping(), unlock);
        answer.expect("the helper answered while the runtime kept running");
        registry.stop().await;
    });
}
