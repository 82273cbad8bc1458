//! Ten thousand bad requests at a server in this process. Each must get exactly the error
//! replies the oracle (`oracle.rs`, which shares no code with the server's parser) predicts (one
//! per line, in order, up to and including a `too-large`, after which the connection is closed),
//! or a clean close when it held no line; the daemon must notice nothing: no stop, no reload,
//! and a valid status request afterwards still works.

use std::time::Duration;

use super::garbage::Garbage;
use super::oracle;
use super::{codes, exchange, live, serve, socket};
use crate::control::client;
use crate::control::protocol::{ErrorCode, MAX_REQUEST_BYTES, Op, StatusResult, parse_request};
use crate::control::server::Limits;

const CASES: usize = 10_000;
const SEED: u64 = 0x6475_656e_6465_0001;

/// A code by its name on the wire, as the oracle names it.
fn wire(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The oracle against lines written by hand, then the server against the same lines: each
/// refused line on a connection of its own, and the valid ones through the parser (sent, they
/// would stop the server). Deep nesting sits either side of the JSON reader's limit.
#[tokio::test(flavor = "multi_thread")]
async fn hand_written_lines_get_the_codes_written_beside_them() {
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut table: Vec<(String, Option<&str>)> =
        oracle::TABLE.iter().map(|(line, code)| ((*line).to_owned(), *code)).collect();
    table.push((deep(127), Some("invalid-request")));
    table.push((deep(128), Some("malformed")));
    for (line, code) in &table {
        assert_eq!(oracle::refusal(line.as_bytes()), *code, "the oracle on {line:?}");
    }
    let (live, _requests) = live();
    let (dir, _guard) = serve(&live, Limits::default()).await;
    let path = socket(&dir);
    for (line, code) in &table {
        match code {
            Some(code) => {
                let got: Vec<String> =
                    codes(&exchange(&path, format!("{line}\n").as_bytes()).await).into_iter().map(wire).collect();
                assert_eq!(got, [*code], "the server on {line:?}");
            }
            None => assert!(parse_request(line.as_bytes()).is_ok(), "the parser refused {line:?}"),
        }
    }
    assert!(!live.shutdown().is_triggered());
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_bad_requests_get_error_replies_and_change_nothing() {
    let (live, mut requests) = live();
    live.mark_ready();
    let (dir, _guard) = serve(&live, Limits::default()).await;
    let path = socket(&dir);
    let mut garbage = Garbage::new(SEED, MAX_REQUEST_BYTES);
    let mut seen: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut clean_closes = 0;
    for case in 0..CASES {
        let bytes = garbage.case();
        let expected = oracle::expected_codes(&bytes, MAX_REQUEST_BYTES);
        let reply = exchange(&path, &bytes).await;
        let got: Vec<String> = codes(&reply).into_iter().map(wire).collect();
        assert_eq!(got, expected, "case {case}: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)]));
        if got.is_empty() {
            clean_closes += 1;
        }
        for code in got {
            *seen.entry(code).or_default() += 1;
        }
    }
    eprintln!("{CASES} cases: {seen:?}, {clean_closes} closed without a line");
    for code in ["malformed", "invalid-request", "unsupported-version", "unknown-op", "too-large"] {
        assert!(seen.get(code).is_some_and(|&n| n >= 50), "the generator rarely reaches {code}: {seen:?}");
    }
    assert!(!live.shutdown().is_triggered(), "a bad request stopped the daemon");
    assert!(requests.try_recv().is_err(), "a bad request asked for a reload");
    let status: StatusResult = client::call(&path, Op::Status, Duration::from_secs(5)).await.unwrap();
    assert_eq!((status.name.as_str(), status.ready, status.config_generation), ("svc", true, 1));
}
