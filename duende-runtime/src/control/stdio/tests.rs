use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::control::protocol::{ErrorCode, Response, StatusResult, StopResult};
use crate::link::Link;
use crate::live::Live;
use crate::metrics::DaemonMetrics;
use crate::shutdown::Shutdown;

/// Standard input as a script: each call takes the next step; past the end nothing arrives.
struct Script(VecDeque<io::Result<Option<Vec<u8>>>>);

impl Script {
    fn of(steps: Vec<io::Result<Option<&str>>>) -> Script {
        Script(steps.into_iter().map(|step| step.map(|bytes| bytes.map(|b| b.as_bytes().to_vec()))).collect())
    }
}

impl Input for Script {
    fn take(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.0.pop_front().unwrap_or(Ok(None))
    }
}

/// Standard output, kept.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The channel's records (the lines after an RS), and everything else.
    fn records(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.split(char::from(RECORD_SEPARATOR)).skip(1).map(|record| record.trim_end().to_owned()).collect()
    }
}

fn live() -> (Arc<Live>, tokio::sync::mpsc::Receiver<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let live = Live::new("svc", "1.2.3", Shutdown::new(), Arc::new(Link::Silent), tx, DaemonMetrics::new());
    (live, rx)
}

async fn serve_script(script: Script, live: &Arc<Live>) -> Captured {
    let captured = Captured::default();
    let output = Output::to(Box::new(captured.clone()));
    tokio::time::timeout(Duration::from_secs(3600), serve(script, output, Arc::clone(live), || Duration::from_secs(9)))
        .await
        .expect("the channel ends after stop, end-of-file or a read error");
    captured
}

#[test]
fn lines_are_split_bounded_and_cleaned() {
    let mut lines = Lines::new(8);
    assert_eq!(lines.push(b"{\"a\"}\r\n\x1e{\"b\""), vec![Line::Complete(b"{\"a\"}".to_vec())]);
    assert_eq!(lines.push(b"}\n"), vec![Line::Complete(b"{\"b\"}".to_vec())], "a leading RS is dropped");
    assert_eq!(lines.push(b"0123456789"), vec![Line::TooLong], "reported once, as soon as it is too long");
    assert_eq!(lines.push(b"abcdef\nok\n"), vec![Line::Complete(b"ok".to_vec())], "the rest is skipped");
    assert_eq!(lines.push(b"last"), vec![]);
    assert_eq!(lines.finish(), Some(Line::Complete(b"last".to_vec())));
    assert_eq!(lines.finish(), None);
    lines.push(b"  ");
    assert_eq!(lines.finish(), None, "blank leftovers are no request");
}

#[test]
fn notices_are_framed_json_lines() {
    let captured = Captured::default();
    let output = Output::to(Box::new(captured.clone()));
    output.notice(NoticeEvent::Ready, Some("running"), None);
    output.notice(NoticeEvent::Reloaded, Some("running (configuration generation 2)"), Some(false));
    output.notice(NoticeEvent::Reloading, None, None);
    let bytes = captured.0.lock().unwrap().clone();
    assert_eq!(bytes[0], RECORD_SEPARATOR);
    assert_eq!(
        captured.records(),
        [
            r#"{"v":1,"event":"ready","status":"running"}"#,
            r#"{"v":1,"event":"reloaded","status":"running (configuration generation 2)","accepted":false}"#,
            r#"{"v":1,"event":"reloading"}"#,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn status_then_stop_is_answered_and_stops_reading() {
    let (live, _requests) = live();
    live.mark_ready();
    let script = Script::of(vec![
        Ok(Some("{\"v\":1,\"op\":\"status\"}\n{\"v\":1,")),
        Ok(None),
        Ok(Some("\"op\":\"stop\"}\n{\"v\":1,\"op\":\"status\"}\n")),
        Ok(Some("")),
    ]);
    let captured = serve_script(script, &live).await;
    let records = captured.records();
    assert_eq!(records.len(), 2, "nothing is read after stop: {records:?}");
    let status: Response<StatusResult> = serde_json::from_str(&records[0]).unwrap();
    let status = status.result.unwrap();
    assert_eq!((status.name.as_str(), status.ready, status.pid), ("svc", true, crate::platform::env::process_id()));
    let stop: Response<StopResult> = serde_json::from_str(&records[1]).unwrap();
    assert_eq!(stop.result.map(|r| (r.already_stopping, r.shutdown_timeout_seconds)), Some((false, 9.0)));
    assert!(live.shutdown().is_triggered());
}

#[tokio::test(start_paused = true)]
async fn end_of_file_is_a_graceful_stop_after_a_last_unterminated_request() {
    let (live, _requests) = live();
    let captured = serve_script(Script::of(vec![Ok(Some("{\"v\":1,\"op\":\"status\"}")), Ok(Some(""))]), &live).await;
    assert_eq!(captured.records().len(), 1, "the unterminated line is answered");
    assert!(live.shutdown().is_triggered(), "end-of-file stops the daemon");
}

#[tokio::test(start_paused = true)]
async fn bad_lines_get_error_replies_and_the_channel_carries_on() {
    let (live, _requests) = live();
    let long = format!("{}\n", "x".repeat(MAX_REQUEST_BYTES + 1));
    let script = Script::of(vec![
        Ok(Some("not json\n")),
        Ok(Some(&long)),
        Ok(Some("{\"v\":1,\"op\":\"dance\"}\n{\"v\":1,\"op\":\"status\"}\n")),
        Ok(Some("")),
    ]);
    let records = serve_script(script, &live).await.records();
    let codes: Vec<Option<ErrorCode>> = records
        .iter()
        .map(|record| serde_json::from_str::<Response<serde_json::Value>>(record).unwrap().error.map(|e| e.code))
        .collect();
    assert_eq!(codes, [Some(ErrorCode::Malformed), Some(ErrorCode::TooLarge), Some(ErrorCode::UnknownOp), None]);
}

#[tokio::test(start_paused = true)]
async fn reload_waits_for_the_reloader_and_reports_its_outcome() {
    let (live, mut requests) = live();
    let reloader = {
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            while requests.recv().await.is_some() {
                live.reload_starting();
                live.record_reload(live.generation() + 1, None);
            }
        })
    };
    let script = Script::of(vec![Ok(Some("{\"v\":1,\"op\":\"reload\"}\n")), Ok(Some(""))]);
    let records = serve_script(script, &live).await.records();
    assert_eq!(records, [r#"{"v":1,"ok":true,"result":{"generation":2}}"#]);
    reloader.abort();
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_standard_input_ends_the_channel_without_stopping_the_daemon() {
    let (live, _requests) = live();
    let script = Script(VecDeque::from([Ok(None), Err(io::Error::from(io::ErrorKind::BrokenPipe))]));
    assert!(serve_script(script, &live).await.records().is_empty());
    assert!(!live.shutdown().is_triggered(), "the daemon runs on; its host must end it");
}

#[tokio::test(start_paused = true)]
async fn input_is_looked_at_every_poll_interval_and_not_in_between() {
    let (live, _requests) = live();
    let started = tokio::time::Instant::now();
    let script = Script::of((0..4).map(|_| Ok(None)).chain([Ok(Some(""))]).collect());
    serve_script(script, &live).await;
    assert_eq!(started.elapsed(), POLL_INTERVAL * 4, "four empty looks, then end-of-file at once");
}
