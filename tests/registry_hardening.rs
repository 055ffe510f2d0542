//! The embedded registry against hostile and broken clients: requests racing on one upload
//! session, bodies that stall, idle TLS connections, password guessing, session floods and
//! chunks that lie about their length. Each test talks HTTP (or raw TCP) to a registry started
//! in-process on a loopback port.

mod common;

use std::time::Duration;

use common::oci_fixtures::{PASSWORD, USER, write_htpasswd};
use common::{TestRegistry, http_client, make_pki, sha256};
use reqwest::{Client, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client that gives up instead of hanging the suite when the registry stops answering.
fn patient_client() -> Client {
    common::install_crypto();
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Opens an upload session on `repo`; returns its path (`/v2/<repo>/blobs/uploads/<id>`).
async fn open_session(client: &Client, url: &str, repo: &str) -> String {
    let response = client
        .post(format!("{url}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.headers()["location"]
        .to_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

/// A PATCH sent by hand that declares `declared` bytes and sends only `sent`, then waits: the
/// registry holds the session for it until the body completes or times out.
async fn stalled_patch(host: &str, session: &str, declared: usize, sent: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "PATCH {session} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(sent).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// The status line of the answer on a hand-made connection.
async fn read_status(stream: &mut TcpStream) -> String {
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A PATCH queued on a session behind the PUT that finishes it must not reach the blob: it is
/// told the upload is over, and the blob keeps exactly the content its digest names.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_finished_upload_takes_no_more_data() {
    let registry = TestRegistry::start().await;
    let client = patient_client();
    let content = b"first half|second half".to_vec();
    let digest = sha256(&content);
    for round in 0..10 {
        let repo = format!("race/r{round}");
        let session = open_session(&client, &registry.url, &repo).await;
        // Hold the session's lock with a PATCH whose body is not complete yet.
        let mut holder =
            stalled_patch(&registry.host(), &session, content.len(), &content[..10]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Queue the PUT that finishes the upload, then a PATCH with more data, on the same lock.
        let finish = {
            let client = client.clone();
            let url = format!("{}{session}?digest={digest}", registry.url);
            tokio::spawn(async move { client.put(url).send().await.unwrap().status() })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let late = {
            let client = client.clone();
            let url = format!("{}{session}", registry.url);
            tokio::spawn(async move {
                client
                    .patch(url)
                    .header("Content-Type", "application/octet-stream")
                    .body(b"APPENDED AFTER THE END".to_vec())
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        holder.write_all(&content[10..]).await.unwrap();
        assert!(
            read_status(&mut holder).await.contains("202"),
            "the first PATCH"
        );
        assert_eq!(finish.await.unwrap(), StatusCode::CREATED, "round {round}");
        assert_eq!(
            late.await.unwrap(),
            StatusCode::NOT_FOUND,
            "round {round}: a PATCH after the end is refused"
        );
        let served = client
            .get(format!("{}/v2/{repo}/blobs/{digest}", registry.url))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.bytes().await.unwrap().as_ref(), content.as_slice());
        let stored = std::fs::read(
            registry
                .storage_path()
                .join("blobs/sha256")
                .join(&digest["sha256:".len()..]),
        );
        if let Ok(stored) = stored {
            assert_eq!(stored, content, "round {round}: the blob on disk");
        }
    }
    registry.stop().await;
}

/// A PATCH whose body stalls is cut off after the idle timeout; meanwhile the registry keeps
/// accepting connections and expiring sessions, and afterwards the session can be resumed from
/// where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_body_holds_up_nobody() {
    let registry = TestRegistry::start_with(|config| {
        config.upload_ttl = Duration::from_secs(1);
        config.limits.uploads.body_idle_timeout = Duration::from_secs(2);
    })
    .await;
    let client = patient_client();
    let session = open_session(&client, &registry.url, "stall/app").await;
    let mut stalled = stalled_patch(&registry.host(), &session, 1000, b"0123456789").await;

    // Several expiry periods pass while the PATCH holds its session: new connections are served.
    for _ in 0..6 {
        let fresh = patient_client();
        let base = fresh
            .get(format!("{}/v2/", registry.url))
            .send()
            .await
            .expect("the registry answers new connections");
        assert_eq!(base.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let answer = read_status(&mut stalled).await;
    assert!(
        answer.contains("408") || answer.contains("400"),
        "the silent body is refused: {answer}"
    );
    // The session is still there (it was in use, not idle) and says what it kept: nothing.
    let status = client
        .get(format!("{}{session}", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], "0-0");
    registry.stop().await;
}

/// Idle TCP connections that never start their TLS handshake cannot keep a real client out:
/// their handshakes time out and the connection cap frees up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_tls_connections_do_not_lock_out_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let registry = TestRegistry::start_with(|config| {
        config.tls = Some(pki.tls_files());
        config.limits.max_connections = 4;
        config.limits.tls_handshake_timeout = Duration::from_secs(1);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..12 {
        idle.push(TcpStream::connect(registry.host()).await.unwrap());
    }
    let ca = reqwest::Certificate::from_pem(&pki.ca_pem()).unwrap();
    common::install_crypto();
    let client = Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/v2/", registry.url))
        .send()
        .await
        .expect("a real client is served while idle connections wait");
    assert_eq!(response.status(), StatusCode::OK);
    drop(idle);
    registry.stop().await;
}

/// A burst of wrong passwords: an authenticated client keeps being answered, the guessing
/// address is told to back off, and an unknown user gets the same answer as a wrong password.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_guessing_is_throttled_and_starves_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = write_htpasswd(dir.path());
    let registry = TestRegistry::start_with(|config| config.htpasswd = Some(htpasswd)).await;
    let client = patient_client();
    let base = format!("{}/v2/", registry.url);
    let signed_in = client
        .get(&base)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);

    let unknown = client
        .get(&base)
        .basic_auth("nobody", Some("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let wrong = client
        .get(&base)
        .basic_auth(USER, Some("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.headers().get("www-authenticate"),
        wrong.headers().get("www-authenticate")
    );

    let guessers: Vec<_> = (0..32)
        .map(|i| {
            let client = client.clone();
            let base = base.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for round in 0..4 {
                    let response = client
                        .get(&base)
                        .basic_auth(USER, Some(format!("guess-{i}-{round}")))
                        .send()
                        .await
                        .unwrap();
                    statuses.push((
                        response.status(),
                        response.headers().get("retry-after").cloned(),
                    ));
                }
                statuses
            })
        })
        .collect();
    for _ in 0..20 {
        let response = client
            .get(&base)
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .expect("the authenticated client is answered during the burst");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let mut throttled = 0;
    for guesser in guessers {
        for (status, retry_after) in guesser.await.unwrap() {
            match status {
                StatusCode::UNAUTHORIZED => {}
                StatusCode::TOO_MANY_REQUESTS => {
                    throttled += 1;
                    let secs: u64 = retry_after
                        .expect("429 says when to retry")
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!((1..=30).contains(&secs), "Retry-After {secs}");
                }
                other => panic!("a wrong password got {other}"),
            }
        }
    }
    assert!(
        throttled > 0,
        "128 wrong passwords from one address were never throttled"
    );
    registry.stop().await;
}

/// Upload sessions are capped; finishing or cancelling one makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_sessions_are_capped() {
    let registry = TestRegistry::start_with(|config| config.limits.uploads.max_sessions = 3).await;
    let client = http_client();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(open_session(&client, &registry.url, "flood/app").await);
    }
    let refused = client
        .post(format!("{}/v2/flood/app/blobs/uploads/", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS", "{body}");
    let cancelled = client
        .delete(format!("{}{}", registry.url, sessions[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::NO_CONTENT);
    open_session(&client, &registry.url, "flood/app").await;
    registry.stop().await;
}

/// `Content-Range` in RFC 9110's form is understood, and a chunk longer than its declared
/// range is refused without changing the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_match_their_declared_range() {
    let registry = TestRegistry::start().await;
    let client = http_client();
    let session = open_session(&client, &registry.url, "chunks/app").await;
    let url = format!("{}{session}", registry.url);

    let overlong = client
        .patch(&url)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "0-3")
        .body(vec![b'x'; 37])
        .send()
        .await
        .unwrap();
    assert_eq!(overlong.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let status = client.get(&url).send().await.unwrap();
    assert_eq!(status.headers()["range"], "0-0", "nothing was kept");

    let first = client
        .patch(&url)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "bytes 0-4/10")
        .body(b"hello".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(first.headers()["range"], "0-4");
    let digest = sha256(b"hello world");
    let last = client
        .put(format!("{url}?digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "bytes 5-10/11")
        .body(b" world".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(last.status(), StatusCode::CREATED);
    let blob = client
        .get(format!("{}/v2/chunks/app/blobs/{digest}", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(blob.bytes().await.unwrap().as_ref(), b"hello world");
    registry.stop().await;
}
