//! A real server in this process: every op, every limit, the socket file's life.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::{codes, exchange, live, quick, serve, socket};
use crate::control::client::{self, ClientError, Connection};
use crate::control::protocol::*;
use crate::control::server::{self, Limits, StartError};
use crate::health::Health;
use crate::live::Live;

/// Plays the reloader: answers each reload request with the next outcome (`None` accepts).
fn reloader(live: &Arc<Live>, mut requests: tokio::sync::mpsc::Receiver<()>, outcomes: Vec<Option<&'static str>>) {
    let live = Arc::clone(live);
    std::thread::spawn(move || {
        for outcome in outcomes {
            if requests.blocking_recv().is_none() {
                return;
            }
            live.reload_starting();
            let generation = live.generation();
            match outcome {
                None => live.record_reload(generation + 1, None),
                Some(reason) => live.record_reload(generation, Some(reason.to_owned())),
            }
        }
    });
}

async fn status(path: &std::path::Path) -> StatusResult {
    client::call(path, Op::Status, Duration::from_secs(5)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_the_live_state() {
    let (live, _requests) = live();
    let (dir, _guard) = serve(&live, quick()).await;
    let first = status(&socket(&dir)).await;
    assert_eq!((first.name.as_str(), first.version.as_str()), ("svc", "1.2.3"));
    assert_eq!(first.pid, std::process::id());
    assert_eq!((first.state, first.ready, first.ready_after_seconds), (DaemonState::Starting, false, None));
    assert_eq!(first.health, HealthReport { state: HealthLevel::Healthy, score: 5, reason: None, checks: vec![] });
    assert_eq!((first.config_generation, first.last_reload.clone()), (1, None));
    assert_eq!(first.metrics.get("requests_total"), Some(&serde_json::json!(0)));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(first.started_at <= now && first.started_at + 60 > now, "{} vs {now}", first.started_at);

    live.mark_ready();
    live.metrics().record_request();
    live.metrics().record_error();
    live.health().set(Health::degraded("disk 91% full"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let later = status(&socket(&dir)).await;
    assert_eq!((later.state, later.ready), (DaemonState::Running, true));
    assert!(later.ready_after_seconds.is_some_and(|s| s >= 0.0));
    assert!(later.uptime_seconds > first.uptime_seconds);
    assert_eq!(later.health.state, HealthLevel::Degraded);
    assert_eq!((later.health.score, later.health.reason.as_deref()), (0, Some("disk 91% full")));
    assert_eq!(later.metrics.get("requests_total"), Some(&serde_json::json!(1)));
    assert_eq!(later.metrics.get("errors_total"), Some(&serde_json::json!(1)));

    live.request_stop("the test");
    assert_eq!(status(&socket(&dir)).await.state, DaemonState::Stopping, "status still answers while stopping");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_connection_carries_several_requests_and_bad_lines_do_not_end_it() {
    let (live, _requests) = live();
    let (dir, _guard) = serve(&live, quick()).await;
    let reply = exchange(
        &socket(&dir),
        b"{\"v\":1,\"op\":\"status\"}\nnot json\n{\"v\":9,\"op\":\"status\"}\n{\"v\":1,\"op\":\"status\"}",
    )
    .await;
    let lines: Vec<&[u8]> = reply.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{}", String::from_utf8_lossy(&reply));
    for ok in [lines[0], lines[3]] {
        let response: Response<StatusResult> = serde_json::from_slice(ok).unwrap();
        assert!(response.ok && response.result.is_some());
    }
    assert_eq!(codes(&[lines[1], b"\n", lines[2]].concat()), [ErrorCode::Malformed, ErrorCode::UnsupportedVersion]);
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_waits_for_the_outcome_and_reports_a_rejection_with_the_generation_kept() {
    let (live, requests) = live();
    reloader(&live, requests, vec![None, Some("greeting: must not be empty")]);
    let (dir, _guard) = serve(&live, quick()).await;
    let path = socket(&dir);
    let accepted: ReloadResult = client::call(&path, Op::Reload, Duration::from_secs(5)).await.unwrap();
    assert_eq!(accepted, ReloadResult { generation: 2 });
    match client::call::<ReloadResult>(&path, Op::Reload, Duration::from_secs(5)).await {
        Err(ClientError::Refused { error, .. }) => {
            assert_eq!(error.code, ErrorCode::ReloadRejected);
            assert_eq!((error.message.as_str(), error.generation), ("greeting: must not be empty", Some(2)));
        }
        other => panic!("{other:?}"),
    }
    let after = status(&path).await;
    assert_eq!(after.config_generation, 2);
    let last = after.last_reload.unwrap();
    assert_eq!((last.outcome, last.attempts, last.accepted), (ReloadOutcome::Rejected, 2, 1));
    assert_eq!(last.reason.as_deref(), Some("greeting: must not be empty"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_is_unavailable_without_a_reloader_and_times_out_when_it_hangs() {
    let (live, requests) = live();
    let (dir, _guard) = serve(&live, quick()).await;
    let path = socket(&dir);
    // Nobody carries the request out: the bounded wait ends with `timeout`, and the daemon
    // still answers afterwards.
    let started = Instant::now();
    match client::call::<ReloadResult>(&path, Op::Reload, Duration::from_secs(5)).await {
        Err(ClientError::Refused { error, .. }) => {
            assert_eq!(error.code, ErrorCode::Timeout);
            assert!(error.message.contains("did not finish within 500ms"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(500));
    drop(requests);
    match client::call::<ReloadResult>(&path, Op::Reload, Duration::from_secs(5)).await {
        Err(ClientError::Refused { error, .. }) => assert_eq!(error.code, ErrorCode::Unavailable),
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&path).await.config_generation, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_replies_then_stops_and_holds_the_connection_until_the_end() {
    let (live, _requests) = live();
    let (dir, _guard) = serve(&live, quick()).await;
    let mut connection = Connection::connect(&socket(&dir)).await.unwrap();
    let stopping: StopResult = connection.call(Op::Stop).await.unwrap();
    assert_eq!(stopping.pid, std::process::id());
    assert!(!stopping.already_stopping);
    assert_eq!(stopping.shutdown_timeout_seconds, 7.0);
    tokio::time::timeout(Duration::from_secs(5), live.shutdown().wait()).await.unwrap();
    // Held past the read deadline: the end of the connection is the end of the process.
    let held = tokio::time::timeout(quick().read_deadline * 3, connection.closed()).await;
    assert!(held.is_err(), "the connection was closed before the process ended");
    let again: StopResult = client::call(&socket(&dir), Op::Stop, Duration::from_secs(5)).await.unwrap_or_else(|e| {
        panic!("{e}");
    });
    assert!(again.already_stopping);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_up_to_the_limit_is_read_and_one_byte_more_is_too_large_and_closes() {
    let (live, _requests) = live();
    let (dir, _guard) = serve(&live, quick()).await;
    let mut at_limit = br#"{"v":1,"op":"nope"}"#.to_vec();
    at_limit.resize(MAX_REQUEST_BYTES, b' ');
    let mut over = at_limit.clone();
    over.push(b' ');
    let two = [&at_limit[..], b"\n", &at_limit[..], b"\n"].concat();
    assert_eq!(codes(&exchange(&socket(&dir), &two).await), [ErrorCode::UnknownOp, ErrorCode::UnknownOp]);
    // Too large, then a valid request the server must not read: the connection is closed.
    let tail = [&over[..], b"\n{\"v\":1,\"op\":\"status\"}\n"].concat();
    assert_eq!(codes(&exchange(&socket(&dir), &tail).await), [ErrorCode::TooLarge]);
    // Without any newline, and far longer than the limit, sent while the server already closed.
    let flood = vec![b'x'; 64 * MAX_REQUEST_BYTES];
    assert_eq!(codes(&exchange(&socket(&dir), &flood).await), [ErrorCode::TooLarge]);
    assert_eq!(status(&socket(&dir)).await.name, "svc");
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_slow_and_half_finished_clients_get_a_timeout_and_are_closed() {
    let (live, _requests) = live();
    let limits = quick();
    let (dir, _guard) = serve(&live, limits).await;
    for sent in [&b""[..], br#"{"v":1,"op":"#] {
        // Taken before the connection: the server's deadline starts at its accept, after this.
        let started = Instant::now();
        let mut stream = UnixStream::connect(socket(&dir)).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await.unwrap().unwrap();
        assert!(started.elapsed() >= limits.read_deadline, "closed before the deadline");
        assert_eq!(codes(&reply), [ErrorCode::Timeout], "{}", String::from_utf8_lossy(&reply));
    }
    // One byte at a time, never a whole line: the deadline is per line, not per byte.
    let mut stream = UnixStream::connect(socket(&dir)).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    for byte in br#"{"v":1,"op":"status"  "#.iter().cycle().take(100) {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(closed, "a trickling client held its connection for {:?}", started.elapsed());
    assert!(started.elapsed() < limits.read_deadline * 4);
}

/// Sends one request line on `stream` and reads its reply line.
async fn ask(stream: &mut UnixStream, line: &[u8]) -> Vec<u8> {
    stream.write_all(&[line, b"\n"].concat()).await.unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\n") && stream.read(&mut byte).await.unwrap() == 1 {
        reply.push(byte[0]);
    }
    reply
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_is_answered_when_every_slot_is_held_by_a_connection_that_sends_nothing() {
    let (live, _requests) = live();
    // A read deadline that never ends here: only the newcomer can free a slot.
    let limits = Limits { max_connections: 2, read_deadline: Duration::from_secs(3600), ..quick() };
    let (dir, _guard) = serve(&live, limits).await;
    // Two connections that asked once and now send nothing: each holds a slot, waiting.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = UnixStream::connect(socket(&dir)).await.unwrap();
        let reply = ask(&mut stream, br#"{"v":1,"op":"status"}"#).await;
        assert!(String::from_utf8_lossy(&reply).contains(r#""ok":true"#));
        held.push(stream);
    }
    assert_eq!(status(&socket(&dir)).await.name, "svc", "the newcomer is answered, not refused busy");
    // One of the two silent ones gave its slot up: told why, then closed; the other is still served.
    let mut outcomes = Vec::new();
    for stream in &mut held {
        let _ = stream.write_all(b"{\"v\":1,\"op\":\"status\"}\n").await;
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            let mut byte = [0u8; 1];
            while !reply.ends_with(b"\n") && matches!(stream.read(&mut byte).await, Ok(1)) {
                reply.push(byte[0]);
            }
        })
        .await;
        outcomes.push(String::from_utf8_lossy(&reply).into_owned());
    }
    let evicted: Vec<&String> = outcomes.iter().filter(|o| o.contains(r#""code":"busy""#)).collect();
    assert_eq!(evicted.len(), 1, "{outcomes:?}");
    assert!(evicted[0].contains("closed to make room for a new connection"), "{}", evicted[0]);
    assert_eq!(outcomes.iter().filter(|o| o.contains(r#""ok":true"#)).count(), 1, "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_is_refused_busy_when_every_slot_answers_a_request() {
    let (live, mut requests) = live();
    let limits = Limits { max_connections: 1, reload_wait: Duration::from_secs(3600), ..quick() };
    let (dir, _guard) = serve(&live, limits).await;
    let mut reloading = UnixStream::connect(socket(&dir)).await.unwrap();
    reloading.write_all(b"{\"v\":1,\"op\":\"reload\"}\n").await.unwrap();
    // The reload request has reached the (absent) reloader: its connection is answering it.
    requests.recv().await.unwrap();
    assert_eq!(codes(&exchange(&socket(&dir), br#"{"v":1,"op":"status"}"#).await), [ErrorCode::Busy]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_socket_is_private_and_removed_when_the_server_ends_if_still_its_own() {
    let (live, _requests) = live();
    let (dir, guard) = serve(&live, quick()).await;
    let path = socket(&dir);
    assert_eq!(guard.socket(), path);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "only the socket and the lock: {leftovers:?}");
    drop(guard);
    assert!(!path.exists(), "the socket outlived its server");
    assert!(matches!(status_err(&path).await, ClientError::NotRunning { .. }));

    // A server whose path was taken over by another socket leaves that one alone.
    let (dir, guard) = serve(&live, quick()).await;
    let path = socket(&dir);
    std::fs::remove_file(&path).unwrap();
    let _other = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(guard);
    assert!(path.exists(), "removed a socket that was not its own");
}

async fn status_err(path: &std::path::Path) -> ClientError {
    client::call::<StatusResult>(path, Op::Status, Duration::from_secs(5)).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_in_the_same_directory_is_refused_naming_the_first() {
    let (live, _requests) = live();
    let (dir, _guard) = serve(&live, quick()).await;
    let second = server::start(dir.path(), Arc::clone(&live), quick(), Box::new(|| Duration::from_secs(1))).await;
    let err = second.unwrap_err();
    assert!(matches!(err, StartError::AlreadyRunning { pid: Some(pid), .. } if pid == std::process::id()), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("(pid {})", std::process::id())), "{message}");
    assert!(
        message.contains(&socket(&dir).display().to_string()) && message.contains("RUNTIME_DIRECTORY"),
        "{message}"
    );
    assert_eq!(err.exit(), crate::exit::Exit::Unavailable);
    assert_eq!(status(&socket(&dir)).await.pid, std::process::id(), "the first one is untouched");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_socket_is_replaced_and_a_foreign_listener_is_not() {
    let (live, _requests) = live();
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let guard =
        server::start(dir.path(), Arc::clone(&live), quick(), Box::new(|| Duration::from_secs(1))).await.unwrap();
    assert_eq!(status(&path).await.name, "svc");
    drop(guard);

    // Something that answers, but not in this protocol, is not ours to replace.
    let foreign = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for stream in foreign.incoming() {
            use std::io::Write;
            let _ = stream.and_then(|mut s| s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n"));
        }
    });
    let err =
        server::start(dir.path(), Arc::clone(&live), quick(), Box::new(|| Duration::from_secs(1))).await.unwrap_err();
    assert!(matches!(err, StartError::InUse { .. }), "{err:?}");
    assert!(err.to_string().contains("remove it"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_directory_that_cannot_be_used_is_refused() {
    let (live, _requests) = live();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let err = server::start(&file, live, quick(), Box::new(|| Duration::from_secs(1))).await.unwrap_err();
    assert!(matches!(err, StartError::RuntimeDir { .. }), "{err:?}");
    assert!(err.to_string().contains("set RUNTIME_DIRECTORY"), "{err}");
    assert_eq!(err.exit(), crate::exit::Exit::OsError);
}

#[test]
fn only_the_daemons_user_and_root_are_served() {
    assert!(server::allowed(1000, 1000));
    assert!(server::allowed(0, 1000));
    assert!(server::allowed(0, 0));
    assert!(!server::allowed(1001, 1000));
    assert!(!server::allowed(65534, 0));
}

#[test]
fn the_client_tells_not_running_from_not_answering() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("control.sock");
    let err = runtime.block_on(client::call::<StatusResult>(&missing, Op::Status, Duration::from_secs(1))).unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
    assert!(err.to_string().contains("it is not running"), "{err}");
    assert_eq!(err.exit(), crate::exit::Exit::Unavailable);
    // A socket nobody listens on any more is not running either.
    drop(std::os::unix::net::UnixListener::bind(&missing).unwrap());
    let err = runtime.block_on(client::call::<StatusResult>(&missing, Op::Status, Duration::from_secs(1))).unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
    // A listener that never answers is a timeout, not a hang.
    std::fs::remove_file(&missing).unwrap();
    let _mute = std::os::unix::net::UnixListener::bind(&missing).unwrap();
    let err =
        runtime.block_on(client::call::<StatusResult>(&missing, Op::Status, Duration::from_millis(200))).unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }) && err.to_string().contains("within 200ms"), "{err}");
}

#[test]
fn refused_peers_are_logged_in_a_burst_then_one_line_per_interval_with_the_count_left_out() {
    let start = Instant::now();
    let mut budget = server::LogBudget::new(start);
    let logged: Vec<Option<u64>> = (0..25).map(|_| budget.admit(start)).collect();
    assert_eq!(logged.iter().filter(|line| line.is_some()).count(), 10, "a burst of ten: {logged:?}");
    assert!(logged[..10].iter().all(|line| *line == Some(0)));
    assert!(logged[10..].iter().all(Option::is_none));
    assert_eq!(budget.admit(start + Duration::from_secs(5)), None, "nothing earned within the first interval");
    assert_eq!(budget.admit(start + Duration::from_secs(6)), Some(16), "the next line counts those left out");
    assert_eq!(budget.admit(start + Duration::from_secs(7)), None);
    assert_eq!(budget.admit(start + Duration::from_secs(12)), Some(1), "one more line after another interval");
    assert_eq!(budget.admit(start + Duration::from_secs(600)), Some(0), "a quiet hour refills the burst");
    for _ in 0..9 {
        assert_eq!(budget.admit(start + Duration::from_secs(600)), Some(0));
    }
    assert_eq!(budget.admit(start + Duration::from_secs(600)), None);
}

#[test]
fn refusals_left_out_with_none_after_them_are_counted_once_a_line_is_earned() {
    use server::Flush;
    let start = Instant::now();
    let mut budget = server::LogBudget::new(start);
    for _ in 0..10 {
        assert_eq!(budget.admit(start), Some(0));
        assert_eq!(budget.schedule(), None, "nothing left out: no count is due");
    }
    assert_eq!(budget.admit(start), None);
    let due = budget.schedule().expect("a count is due for the refusal left out");
    assert_eq!(due, start + Duration::from_secs(6), "when the next line is earned");
    assert_eq!(budget.admit(start), None);
    assert_eq!(budget.schedule(), None, "one count at a time");
    assert_eq!(budget.flush(due), Flush::Log(2), "both left out, in one line");
    assert_eq!(budget.admit(due), None, "the count took the line earned");
    let due = budget.schedule().unwrap();
    assert_eq!(due, start + Duration::from_secs(12));
    // A refusal logged in the meantime counts those before it: nothing is left to count.
    assert_eq!(budget.admit(due), Some(1));
    assert_eq!(budget.flush(due), Flush::Nothing);
    // Left out again, and the line is taken before the count is due: the count waits for the next.
    assert_eq!(budget.admit(due), None);
    let due = budget.schedule().unwrap();
    assert_eq!(due, start + Duration::from_secs(18));
    assert_eq!(budget.admit(due), Some(1));
    assert_eq!(budget.admit(due), None);
    assert_eq!(budget.flush(due), Flush::Later(start + Duration::from_secs(24)));
    assert_eq!(budget.schedule(), None, "the count already waits");
    assert_eq!(budget.flush(start + Duration::from_secs(24)), Flush::Log(1));
    assert_eq!(budget.schedule(), None);
}
