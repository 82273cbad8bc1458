//! Tests of the control channel: the protocol's parser and types against their documentation,
//! and a real server in this process on a socket in a temporary directory.

mod fuzz;
mod garbage;
mod oracle;
mod protocol;
mod report;
mod serving;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::protocol::{ErrorCode, Response};
use super::server::{self, Guard, Limits};
use crate::link::Link;
use crate::live::Live;
use crate::metrics::DaemonMetrics;
use crate::shutdown::Shutdown;

/// A daemon's live state without a daemon, and the reload requests it makes.
fn live() -> (Arc<Live>, Receiver<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let live = Live::new("svc", "1.2.3", Shutdown::new(), Arc::new(Link::Silent), tx, DaemonMetrics::new());
    (live, rx)
}

/// Limits short enough for tests.
fn quick() -> Limits {
    Limits { read_deadline: Duration::from_millis(300), reload_wait: Duration::from_millis(500), ..Limits::default() }
}

/// A server for `live` in a fresh runtime directory.
async fn serve(live: &Arc<Live>, limits: Limits) -> (tempfile::TempDir, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let guard = server::start(dir.path(), Arc::clone(live), limits, Box::new(|| Duration::from_secs(7))).await.unwrap();
    (dir, guard)
}

fn socket(dir: &tempfile::TempDir) -> PathBuf {
    super::socket_in(dir.path())
}

/// Sends `bytes`, closes the sending half, and returns everything the server wrote before it
/// closed the connection (a write the server refused by closing first is not an error here).
async fn exchange(path: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&chunk[..n]),
            }
        }
    });
    read.await
        .unwrap_or_else(|_| panic!("the server neither replied nor closed for {:?}", String::from_utf8_lossy(bytes)));
    reply
}

/// The error codes of the reply lines in `reply` (each must be a failed version-1 reply).
fn codes(reply: &[u8]) -> Vec<ErrorCode> {
    reply
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let response: Response<serde_json::Value> = serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("not a reply ({e}): {}", String::from_utf8_lossy(line)));
            assert_eq!(response.v, 1);
            assert!(!response.ok && response.result.is_none(), "{}", String::from_utf8_lossy(line));
            let error = response.error.unwrap_or_else(|| panic!("no error in {}", String::from_utf8_lossy(line)));
            assert!(!error.message.is_empty());
            error.code
        })
        .collect()
}
