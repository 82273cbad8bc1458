//! The request parser (every error code it gives, version handling) and the types against the
//! protocol's documentation.

use serde_json::Value;

use crate::control::client::{self, ClientError};
use crate::control::protocol::*;

fn refused(line: &str) -> ErrorReply {
    match parse_request(line.as_bytes()) {
        Ok(request) => panic!("{line:?} was taken as {request:?}"),
        Err(error) => error,
    }
}

/// Every error code of the protocol.
const EVERY_CODE: [ErrorCode; 10] = [
    ErrorCode::Malformed,
    ErrorCode::InvalidRequest,
    ErrorCode::UnsupportedVersion,
    ErrorCode::UnknownOp,
    ErrorCode::TooLarge,
    ErrorCode::Timeout,
    ErrorCode::Busy,
    ErrorCode::PermissionDenied,
    ErrorCode::Unavailable,
    ErrorCode::ReloadRejected,
];

#[test]
fn valid_requests_parse_whatever_the_order_and_spacing() {
    for (line, op) in [
        (r#"{"v":1,"op":"status"}"#, Op::Status),
        (r#"{"op":"reload","v":1}"#, Op::Reload),
        ("  {\t\"v\" : 1 , \"op\" : \"stop\" }\r", Op::Stop),
    ] {
        assert_eq!(parse_request(line.as_bytes()), Ok(Request { v: 1, op }), "{line}");
    }
}

#[test]
fn op_names_are_the_wire_names() {
    for op in Op::ALL {
        assert_eq!(serde_json::to_value(op).unwrap(), Value::String(op.name().to_owned()));
        // Every variant is in ALL (this match breaks the build when one is added).
        match op {
            Op::Status | Op::Reload | Op::Stop => {}
        }
    }
    assert_eq!(Op::ALL.len(), 3);
    for state in [DaemonState::Starting, DaemonState::Running, DaemonState::Stopping] {
        assert_eq!(serde_json::to_value(state).unwrap(), Value::String(state.name().to_owned()));
    }
}

#[test]
fn lines_that_are_not_json_are_malformed() {
    for line in ["", "   ", "\r", "status", "{", r#"{"v":1,"op":"status""#, "{\"v\":1,\"op\":\"st\u{0}", "[[[[", "nul"]
    {
        let error = refused(line);
        assert_eq!(error.code, ErrorCode::Malformed, "{line:?}: {error:?}");
        assert!(error.message.contains(r#"{"v":1,"op":"status"}"#), "shows what to send: {}", error.message);
    }
    let error = parse_request(b"{\"v\":1,\"op\":\"st\xffus\"}").unwrap_err();
    assert_eq!(error.code, ErrorCode::Malformed, "invalid UTF-8");
    let deep = "[".repeat(10_000);
    assert_eq!(refused(&deep).code, ErrorCode::Malformed, "nesting is bounded, not a stack overflow");
    assert!(refused("").message.starts_with("empty request"));
}

#[test]
fn json_that_is_not_a_request_is_invalid_and_says_what_is_wrong() {
    for (line, says) in [
        ("[]", "not an array"),
        ("null", "not null"),
        ("42", "not the number 42"),
        (r#""status""#, "not a string"),
        (r#"{"op":"status"}"#, "no `v`"),
        (r#"{"v":"1","op":"status"}"#, "`v` must be a whole number"),
        (r#"{"v":1.5,"op":"status"}"#, "not the number 1.5"),
        (r#"{"v":null,"op":"status"}"#, "not null"),
        (r#"{"v":1}"#, "no `op`; expected one of `status`, `reload`, `stop`"),
        (r#"{"v":1,"op":7}"#, "`op` must be a string"),
        (r#"{"v":1,"op":["stop"]}"#, "not an array"),
        (r#"{"v":1,"op":"status","id":3}"#, "unknown field `id`; a version 1 request has only `v` and `op`"),
    ] {
        let error = refused(line);
        assert_eq!(error.code, ErrorCode::InvalidRequest, "{line}: {error:?}");
        assert!(error.message.contains(says), "{line}: {:?} lacks {says:?}", error.message);
    }
}

#[test]
fn an_unknown_op_is_named_with_the_valid_ones() {
    let error = refused(r#"{"v":1,"op":"shutdown"}"#);
    assert_eq!(error.code, ErrorCode::UnknownOp);
    assert_eq!(error.message, "unknown op `shutdown`; expected one of `status`, `reload`, `stop`");
    let long = format!(r#"{{"v":1,"op":"{}"}}"#, "x".repeat(3000));
    assert!(refused(&long).message.len() < 200, "a long op is not echoed whole");
    assert_eq!(refused(r#"{"v":1,"op":"Status"}"#).code, ErrorCode::UnknownOp, "names are case-sensitive");
}

#[test]
fn other_versions_are_refused_naming_the_supported_ones() {
    for v in ["0", "2", "-1", "4294967297", "18446744073709551615"] {
        let error = refused(&format!(r#"{{"v":{v},"op":"status"}}"#));
        assert_eq!(error.code, ErrorCode::UnsupportedVersion, "v={v}");
        assert_eq!(error.supported_versions, Some(vec![1]));
        assert_eq!(error.message, format!("protocol version {v} is not supported; this daemon speaks version 1"));
    }
    // The version is checked first: a newer request's other fields do not matter.
    let error = refused(r#"{"v":2,"op":"frobnicate","token":"x"}"#);
    assert_eq!(error.code, ErrorCode::UnsupportedVersion);
    let json = String::from_utf8(encode(&Response::<()>::failure(error))).unwrap();
    assert!(json.contains(r#""supported_versions":[1]"#) && json.ends_with('\n'), "{json}");
}

#[test]
fn codes_that_close_the_connection_are_exactly_the_documented_ones() {
    let closing: Vec<ErrorCode> = EVERY_CODE.into_iter().filter(|code| code.closes_connection()).collect();
    assert_eq!(closing, [ErrorCode::TooLarge, ErrorCode::Timeout, ErrorCode::Busy, ErrorCode::PermissionDenied]);
}

#[test]
fn replies_decode_into_results_and_distinct_client_errors() {
    let path = std::path::Path::new("/run/svc/control.sock");
    let ok = br#"{"v":1,"ok":true,"result":{"generation":3},"later":"ignored"}"#;
    assert_eq!(client::decode::<ReloadResult>(path, ok).unwrap(), ReloadResult { generation: 3 });
    let rejected = br#"{"v":1,"ok":false,"error":{"code":"reload-rejected","message":"bad","generation":2}}"#;
    match client::decode::<ReloadResult>(path, rejected) {
        Err(ClientError::Refused { error, .. }) => {
            assert_eq!((error.code, error.generation), (ErrorCode::ReloadRejected, Some(2)));
        }
        other => panic!("{other:?}"),
    }
    let denied = br#"{"v":1,"ok":false,"error":{"code":"permission-denied","message":"uid 7 may not"}}"#;
    let err = client::decode::<StatusResult>(path, denied).unwrap_err();
    assert!(matches!(&err, ClientError::PermissionDenied { detail, .. } if detail == "uid 7 may not"), "{err:?}");
    assert_eq!(err.exit(), crate::exit::Exit::OsError, "a refused user is an OS error, not a usage error");
    let newer = br#"{"v":1,"ok":false,"error":{"code":"quota-exceeded","message":"later"}}"#;
    match client::decode::<StatusResult>(path, newer) {
        Err(ClientError::Refused { error, .. }) => assert_eq!(error.code, ErrorCode::Unknown),
        other => panic!("{other:?}"),
    }
    for (line, says) in [
        (&br#"{"v":2,"ok":true,"result":{"generation":3}}"#[..], "replied in version 2"),
        (br#"{"v":1,"ok":true}"#, "without a `result`"),
        (br#"{"v":1,"ok":false}"#, "without an `error`"),
        (b"HTTP/1.1 400 Bad Request", "unreadable reply"),
    ] {
        let err = client::decode::<ReloadResult>(path, line).unwrap_err();
        assert!(matches!(err, ClientError::Protocol { .. }) && err.to_string().contains(says), "{err}");
        assert_eq!(err.exit(), crate::exit::Exit::OsError);
    }
}

/// The fenced examples of `docs/control-protocol.md`, by the word after `json` in the fence.
fn doc_examples() -> Vec<(String, String)> {
    let doc = include_str!("../../../../docs/control-protocol.md");
    let mut examples = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if let Some(kind) = line.strip_prefix("```json ") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
            examples.push((kind.trim().to_owned(), body.join("\n")));
        }
    }
    examples
}

/// Parses `json` as `T` and checks that `T` writes it back the same: a field the type lacks (or
/// misspelt in the document) fails here.
fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(json: &str) -> T {
    let typed: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let original: Value = serde_json::from_str(json).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), original, "the types do not write back {json}");
    typed
}

#[test]
fn every_example_in_the_protocol_document_is_the_types() {
    let examples = doc_examples();
    let kinds: Vec<&str> = examples.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "request",
            "status-response",
            "reload-response",
            "stop-response",
            "error-response",
            "error-response",
            "notice",
            "notice"
        ]
    );
    for (kind, json) in &examples {
        match kind.as_str() {
            "request" => assert_eq!(parse_request(json.as_bytes()), Ok(round_trip::<Request>(json))),
            "status-response" => {
                let status = round_trip::<Response<StatusResult>>(json).result.unwrap();
                assert_eq!((status.state, status.config_generation), (DaemonState::Running, 2));
            }
            "reload-response" => assert!(round_trip::<Response<ReloadResult>>(json).ok),
            "stop-response" => assert!(round_trip::<Response<StopResult>>(json).ok),
            "error-response" => assert!(round_trip::<Response<()>>(json).error.is_some()),
            "notice" => {
                let notice = round_trip::<Notice>(json);
                assert_eq!(encode_notice(&notice), format!("{json}\n").into_bytes());
            }
            other => panic!("unknown example kind {other}"),
        }
    }
}

#[test]
fn the_document_lists_every_error_code_and_op_and_the_limits() {
    let doc = include_str!("../../../../docs/control-protocol.md");
    for code in EVERY_CODE {
        let name = serde_json::to_value(code).unwrap();
        let row = format!("| `{}` |", name.as_str().unwrap());
        assert!(doc.contains(&row), "the document has no row for {row}");
    }
    for op in Op::ALL {
        assert!(doc.contains(&format!("| `{}` |", op.name())), "the document has no row for op {}", op.name());
    }
    use NoticeEvent::{Ready, Reloaded, Reloading, Status, Stopping, Watchdog};
    for event in [Ready, Reloading, Reloaded, Stopping, Status, Watchdog] {
        let name = serde_json::to_value(event).unwrap();
        assert!(doc.contains(&format!("| `{}` |", name.as_str().unwrap())), "the document has no row for {name}");
    }
    let limits = crate::control::server::Limits::default();
    assert!(doc.contains(&format!("| request line | {MAX_REQUEST_BYTES} bytes")));
    assert!(doc.contains(&format!("| read deadline | {} s", limits.read_deadline.as_secs())));
    assert!(doc.contains(&format!("| connections at once | {} |", limits.max_connections)));
    assert!(doc.contains(&format!("| reply wait for `reload` | {} s", limits.reload_wait.as_secs())));
}
