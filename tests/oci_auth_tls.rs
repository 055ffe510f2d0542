//! The OCI client's authentication and TLS against Debian's distribution registry: credentials
//! from a Docker config, refused anonymous and wrong-password access, a test CA, `--insecure`.

mod common;
use common::oci_fixtures;

use std::path::Path;

use common::distribution::{Distribution, DistributionOptions};
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
