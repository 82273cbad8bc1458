//! Ten thousand bad requests at a server in this process. Each must get exactly the error
//! replies a model of the protocol predicts (one per line, in order, up to and including a
//! `too-large`, after which the connection is closed), or a clean close when it held no line;
//! the daemon must notice nothing: no stop, no reload, and a valid status request afterwards
//! still works.

use std::time::Duration;

use super::garbage::Garbage;
use super::{codes, exchange, live, serve, socket};
use crate::control::client;
use crate::control::protocol::{ErrorCode, MAX_REQUEST_BYTES, Op, StatusResult, parse_request};
use crate::control::server::Limits;

const CASES: usize = 10_000;
const SEED: u64 = 0x6475_656e_6465_0001;

/// The replies the protocol calls for when `bytes` are sent on one connection and the sending
/// half is then closed.
fn predicted(bytes: &[u8]) -> Vec<ErrorCode> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        // The newline ended the last line; nothing comes after it.
        lines.pop();
    }
    let mut codes = Vec::new();
    for line in lines {
        if line.len() > MAX_REQUEST_BYTES {
            codes.push(ErrorCode::TooLarge);
            break;
        }
        match parse_request(line) {
            Ok(request) => {
                panic!("the generator made a valid request {request:?} from {:?}", String::from_utf8_lossy(line))
            }
            Err(error) => codes.push(error.code),
        }
    }
    codes
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
        let expected = predicted(&bytes);
        let reply = exchange(&path, &bytes).await;
        let got = codes(&reply);
        assert_eq!(got, expected, "case {case}: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)]));
        if got.is_empty() {
            clean_closes += 1;
        }
        for code in got {
            *seen.entry(format!("{code:?}")).or_default() += 1;
        }
    }
    eprintln!("{CASES} cases: {seen:?}, {clean_closes} closed without a line");
    for code in ["Malformed", "InvalidRequest", "UnsupportedVersion", "UnknownOp", "TooLarge"] {
        assert!(seen.get(code).is_some_and(|&n| n >= 50), "the generator rarely reaches {code}: {seen:?}");
    }
    assert!(!live.shutdown().is_triggered(), "a bad request stopped the daemon");
    assert!(requests.try_recv().is_err(), "a bad request asked for a reload");
    let status: StatusResult = client::call(&path, Op::Status, Duration::from_secs(5)).await.unwrap();
    assert_eq!((status.name.as_str(), status.ready, status.config_generation), ("svc", true, 1));
}
