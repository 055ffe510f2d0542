//! A small HTTP proxy on loopback for the tests: it answers `CONNECT host:port` with a tunnel
//! and forwards plain-HTTP requests (absolute-form), and records every byte the client sent
//! it, so a test can say what a proxy could read.
//!
//! Whatever host a request names, the proxy connects to `127.0.0.1` on the port it names: a
//! test names its registry `registry.test:PORT` (a name the client does not take for
//! loopback, so it uses the proxy, and that resolves nowhere, so only the proxy can reach it)
//! and serves it on `127.0.0.1:PORT`. Nothing leaves loopback.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy, stopped on drop.
pub struct RecordingProxy {
    pub url: String,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    pub async fn start() -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let index = {
                        let mut all = record.lock().unwrap();
                        all.push(Vec::new());
                        all.len() - 1
                    };
                    let _ = serve(client, &record, index).await;
                });
            }
        });
        RecordingProxy { url, seen, task }
    }

    /// Everything clients sent, connection by connection, as text (lossy).
    pub fn seen(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|b| String::from_utf8_lossy(b).to_string())
            .collect()
    }

    /// The first line of each connection: `CONNECT host:port HTTP/1.1`, `GET http://… HTTP/1.1`.
    pub fn first_lines(&self) -> Vec<String> {
        self.seen()
            .iter()
            .filter_map(|c| c.lines().next().map(str::to_string))
            .collect()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn append(record: &Mutex<Vec<Vec<u8>>>, index: usize, bytes: &[u8]) {
    record.lock().unwrap()[index].extend_from_slice(bytes);
}

/// `127.0.0.1` on the port of `authority` (`host:port`, `[v6]:port`, or `default`).
fn on_loopback(authority: &str, default: u16) -> (std::net::Ipv4Addr, u16) {
    let port = authority
        .rsplit_once(':')
        .filter(|(_, port)| !port.ends_with(']'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(default);
    (std::net::Ipv4Addr::LOCALHOST, port)
}

async fn serve(
    mut client: TcpStream,
    record: &Mutex<Vec<Vec<u8>>>,
    index: usize,
) -> std::io::Result<()> {
    // The request head: up to the blank line.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    append(record, index, &head);
    let text = String::from_utf8_lossy(&head).to_string();
    let mut parts = text.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("").to_string();
    let mut upstream;
    if method == "CONNECT" {
        upstream = TcpStream::connect(on_loopback(&target, 443)).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
    } else {
        let authority = target
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        upstream = TcpStream::connect(on_loopback(authority, 80)).await?;
        upstream.write_all(&head).await?;
    }
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = client_read.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        append(record, index, &buf[..n]);
        upstream_write.write_all(&buf[..n]).await?;
    }
    let _ = upstream_write.shutdown().await;
    let _ = down.await;
    Ok(())
}
