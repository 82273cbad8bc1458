//! The control protocol from outside, both ways.
//!
//! - [`control_server`]: arbitrary bytes as what a client sends, through the server's framing,
//!   parsing and dispatch on one connection (a socket pair in this process). Every reply must be
//!   one protocol line, and the replies must be what the lines ask for, in order: the reply to
//!   each complete line (a `status`, `reload` or `stop` result, or the parser's error code), up
//!   to `too-large`, a code that closes the connection, or `stop`, after which nothing more is
//!   answered.
//! - [`control_client`]: arbitrary bytes as what a hostile daemon answers, through the client's
//!   reply reading and decoding and `status`'s printing of the live state. The client must end
//!   (the reply is bounded) with a result or an error, and what it prints must hold no control
//!   character and no line of its own making.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::input::flags;
use crate::control::client::Connection;
use crate::control::protocol::{
    ErrorCode, MAX_REQUEST_BYTES, Op, ReloadResult, Response, StatusResult, StopResult, parse_request,
};
use crate::control::report::print_live;
use crate::control::server::{Limits, serve_connection};
use crate::link::Link;
use crate::live::Live;
use crate::metrics::DaemonMetrics;
use crate::shutdown::Shutdown;

/// Far beyond anything these exchanges take: a hang, not a slow case.
const HANG: Duration = Duration::from_secs(20);

fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    }
    // libFuzzer's process never ran Rust's `main`, which ignores SIGPIPE: a write to a closed
    // connection must fail with EPIPE here too, as it does in a daemon.
    static SIGPIPE: OnceLock<()> = OnceLock::new();
    SIGPIPE.get_or_init(|| {
        signal_hook::flag::register(libc::SIGPIPE, Arc::new(AtomicBool::new(false))).expect("catch SIGPIPE");
    });
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// What the server should answer to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Result(Op),
    Error(ErrorCode),
}

/// The replies `data` asks for, in order, as the protocol documents them.
fn expected(data: &[u8], max: usize) -> Vec<Expected> {
    let mut replies = Vec::new();
    let mut rest = data;
    loop {
        let line = match rest.iter().position(|&b| b == b'\n') {
            Some(end) if end > max => None,
            Some(end) => {
                let line = &rest[..end];
                rest = &rest[end + 1..];
                Some(line)
            }
            None if rest.is_empty() => return replies,
            None if rest.len() > max => None,
            None => Some(std::mem::take(&mut rest)),
        };
        let Some(line) = line else {
            replies.push(Expected::Error(ErrorCode::TooLarge));
            return replies;
        };
        match parse_request(line) {
            Ok(request) => {
                replies.push(Expected::Result(request.op));
                if request.op == Op::Stop {
                    return replies;
                }
            }
            Err(error) => {
                replies.push(Expected::Error(error.code));
                if error.code.closes_connection() {
                    return replies;
                }
            }
        }
    }
}

/// A daemon's live state whose reloads are carried out at once: accepted, or rejected when
/// `reject` says so.
fn live(ready: bool, reject: bool) -> Arc<Live> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let live = Live::new("demo", "1.2.3", Shutdown::new(), Arc::new(Link::Silent), tx, DaemonMetrics::new());
    if ready {
        live.mark_ready();
    }
    let weak: Weak<Live> = Arc::downgrade(&live);
    let queue = std::sync::Mutex::new(rx);
    let generation = AtomicU64::new(1);
    live.on_reload_queued(move || {
        let _ = queue.lock().map(|mut rx| rx.try_recv());
        if let Some(live) = weak.upgrade() {
            live.reload_starting();
            let number = if reject {
                generation.load(Ordering::Relaxed)
            } else {
                generation.fetch_add(1, Ordering::Relaxed) + 1
            };
            live.record_reload(number, reject.then(|| "the new configuration is refused:\nline two".to_owned()));
        }
    });
    live
}

/// The first byte: bit 0 the daemon is ready, bit 1 its reloads are rejected, bit 2 the request
/// limit is 64 bytes instead of the real one; the rest is what the client sends.
pub fn control_server(data: &[u8]) {
    let (bits, data) = flags(data);
    let limits = Limits {
        max_request: if bits & 4 != 0 { 64 } else { MAX_REQUEST_BYTES },
        read_deadline: HANG,
        write_deadline: HANG,
        max_connections: 1,
        reload_wait: Duration::from_secs(5),
    };
    let live = live(bits & 1 != 0, bits & 2 != 0);
    let reply = block_on(async {
        let (client, server) = UnixStream::pair().expect("a socket pair");
        let serving = serve_connection(server, Arc::clone(&live), limits, Box::new(|| Duration::from_secs(7)));
        let talking = async move {
            let (mut reader, mut writer) = client.into_split();
            let sending = async {
                // The server may close first (after `too-large`): the rest is not sent.
                let _ = writer.write_all(data).await;
                let _ = writer.shutdown().await;
            };
            let mut reply = Vec::new();
            let receiving = reader.read_to_end(&mut reply);
            let ((), received) = tokio::join!(sending, receiving);
            received.expect("read the replies");
            reply
        };
        let exchange = async { tokio::join!(serving, talking).1 };
        tokio::time::timeout(HANG, exchange).await.expect("the server neither answered nor closed")
    });

    let expected = expected(data, limits.max_request);
    assert!(
        reply.is_empty() || reply.ends_with(b"\n"),
        "an unfinished reply line: {:?}",
        String::from_utf8_lossy(&reply)
    );
    let lines: Vec<&[u8]> = reply.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), expected.len(), "replies {:?}, expected {expected:?}", String::from_utf8_lossy(&reply));
    for (line, expected) in lines.iter().zip(&expected) {
        check_reply(line, *expected);
    }
    let stopped = expected.last() == Some(&Expected::Result(Op::Stop));
    assert_eq!(live.shutdown().is_triggered(), stopped, "a stop that was not asked for, or the reverse");
}

fn check_reply(line: &[u8], expected: Expected) {
    let text = String::from_utf8_lossy(line);
    let response: Response<serde_json::Value> =
        serde_json::from_slice(line).unwrap_or_else(|err| panic!("not a reply line ({err}): {text}"));
    assert_eq!(response.v, 1, "{text}");
    match (response.ok, response.result, response.error) {
        (true, Some(result), None) => {
            let parsed = match expected {
                Expected::Result(Op::Status) => serde_json::from_value::<StatusResult>(result).map(drop),
                Expected::Result(Op::Reload) => serde_json::from_value::<ReloadResult>(result).map(drop),
                Expected::Result(Op::Stop) => serde_json::from_value::<StopResult>(result).map(drop),
                Expected::Error(code) => panic!("a result where {code:?} was due: {text}"),
            };
            parsed.unwrap_or_else(|err| panic!("the result is not {expected:?}'s ({err}): {text}"));
        }
        (false, None, Some(error)) => {
            assert!(!error.message.is_empty(), "an error without a message: {text}");
            let due = match expected {
                Expected::Error(code) => code,
                Expected::Result(Op::Reload) => ErrorCode::ReloadRejected,
                Expected::Result(op) => panic!("an error where {op:?}'s result was due: {text}"),
            };
            assert_eq!(error.code, due, "{text}");
        }
        _ => panic!("`ok` disagrees with `result` and `error`: {text}"),
    }
}

/// The first byte picks the op the client sends (status, reload, stop); the rest is everything
/// the daemon answers before it closes the connection.
pub fn control_client(data: &[u8]) {
    let (bits, data) = flags(data);
    let op = Op::ALL[usize::from(bits) % Op::ALL.len()];
    let printed = block_on(async {
        let (client, server) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
        let server = async move {
            server.set_nonblocking(true).expect("a non-blocking socket");
            let (mut reader, mut writer) = UnixStream::from_std(server).expect("adopt the socket").into_split();
            let answering = async {
                let _ = writer.write_all(data).await;
                let _ = writer.shutdown().await;
            };
            let mut request = Vec::new();
            let ((), _) = tokio::join!(answering, reader.read_to_end(&mut request));
            drop(writer);
        };
        let client = async move {
            let mut connection = Connection::over(client, std::path::Path::new("hostile.sock")).expect("a connection");
            let mut printed = Vec::new();
            let outcome = match op {
                Op::Status => connection.call::<StatusResult>(op).await.map(|status| print_live(&status, &mut printed)),
                Op::Reload => connection.call::<ReloadResult>(op).await.map(drop),
                Op::Stop => match connection.call::<StopResult>(op).await {
                    Ok(_) => connection.closed().await,
                    Err(err) => Err(err),
                },
            };
            if let Err(err) = &outcome {
                assert!(!err.to_string().is_empty());
                let _ = err.exit();
            }
            printed
        };
        let exchange = async { tokio::join!(server, client).1 };
        tokio::time::timeout(HANG, exchange).await.expect("the client did not end")
    });
    let text = String::from_utf8(printed).expect("`status` prints UTF-8");
    for line in text.lines() {
        assert!(line.starts_with("  "), "a line of the daemon's making: {line:?}\n{text}");
        assert!(!line.chars().any(char::is_control), "a control character from the daemon: {line:?}");
    }
}
