//! The control cases: bytes sent to a running daemon's `control.sock`, each with the error code
//! and the words of the reply the protocol (docs/control-protocol.md) gives it. After each, the
//! daemon must still answer `status`: on the same connection when the code keeps it open.

use super::{Request, Send};

const NOT_JSON: &str = "the request is not JSON (";
const NO_V: &str = "the request has no `v` (the protocol version); this daemon speaks version 1";
const TOO_LARGE: &str =
    r#"the request is longer than 4096 bytes; a request is one short JSON line such as {"v":1,"op":"status"}"#;

const fn line(text: &'static str, code: &'static str, says: &'static str) -> Request {
    Request { send: Send::Line(text), replies: &[], code, says }
}

const fn raw(bytes: &'static [u8], code: &'static str, says: &'static str) -> Request {
    Request { send: Send::Bytes(bytes), replies: &[], code, says }
}

pub const REQUESTS: &[Request] = &[
    // Not JSON.
    line("", "malformed", "empty request; send one JSON object per line, such as {\"v\":1,\"op\":\"status\"}"),
    line("   \t ", "malformed", "empty request; send one JSON object per line"),
    line("status", "malformed", "the request is not JSON (expected value at line 1 column 1); send a line such as"),
    line("{", "malformed", "the request is not JSON (EOF while parsing an object at line 1 column 1)"),
    line(r#"{"v":1,"op":"status""#, "malformed", "the request is not JSON (EOF while parsing an object"),
    line("{'v':1,'op':'status'}", "malformed", "the request is not JSON (key must be a string at line 1 column 2)"),
    line(r#"{"v":1,"op":"status",}"#, "malformed", "the request is not JSON (trailing comma at line 1 column 22)"),
    line(r#"{"v":1,"op":"status"}}"#, "malformed", "the request is not JSON (trailing characters at line 1 column 22)"),
    line(r#"{"v":1 "op":"status"}"#, "malformed", "the request is not JSON (expected `,` or `}` at line 1 column 8)"),
    line(r#"{"v":01,"op":"status"}"#, "malformed", NOT_JSON),
    line(r#"{"v":1,"op":"st\qtus"}"#, "malformed", "the request is not JSON (invalid escape at line 1 column 17)"),
    line("v=1 op=status", "malformed", NOT_JSON),
    raw(b"\xff\xfe\n", "malformed", "the request is not JSON (expected value at line 1 column 1)"),
    raw(b"{\"v\":1,\"op\":\"st\xffus\"}\n", "malformed", "the request is not JSON (invalid unicode code point"),
    // A truncated frame: what comes before end-of-file without a newline is a last request.
    raw(br#"{"v":1,"op":"sta"#, "malformed", "the request is not JSON (EOF while parsing a string"),
    raw(br#"{"v":1,"op":"reboot"}"#, "unknown-op", "unknown op `reboot`; expected one of `status`, `reload`, `stop`"),
    raw(br#"{"v":3,"op":"status"}"#, "unsupported-version", "protocol version 3 is not supported"),
    // JSON, but not a request.
    line("[1]", "invalid-request", "a request is a JSON object such as {\"v\":1,\"op\":\"status\"}, not an array"),
    line("null", "invalid-request", "a request is a JSON object such as {\"v\":1,\"op\":\"status\"}, not null"),
    line(
        r#""status""#,
        "invalid-request",
        "a request is a JSON object such as {\"v\":1,\"op\":\"status\"}, not a string",
    ),
    line("42", "invalid-request", "a request is a JSON object such as {\"v\":1,\"op\":\"status\"}, not the number 42"),
    line("true", "invalid-request", "a request is a JSON object such as {\"v\":1,\"op\":\"status\"}, not a boolean"),
    line("{}", "invalid-request", NO_V),
    line(r#"{"op":"status"}"#, "invalid-request", NO_V),
    line(r#"{"V":1,"op":"status"}"#, "invalid-request", NO_V),
    line(
        r#"{"v":"1","op":"status"}"#,
        "invalid-request",
        "`v` must be a whole number (the protocol version, version 1), not a string",
    ),
    line(
        r#"{"v":1.0,"op":"status"}"#,
        "invalid-request",
        "`v` must be a whole number (the protocol version, version 1), not the number 1.0",
    ),
    line(
        r#"{"v":1e0,"op":"status"}"#,
        "invalid-request",
        "`v` must be a whole number (the protocol version, version 1), not the number 1.0",
    ),
    line(
        r#"{"v":null,"op":"status"}"#,
        "invalid-request",
        "`v` must be a whole number (the protocol version, version 1), not null",
    ),
    line(
        r#"{"v":[1],"op":"status"}"#,
        "invalid-request",
        "`v` must be a whole number (the protocol version, version 1), not an array",
    ),
    line(
        r#"{"v":true,"op":"status"}"#,
        "invalid-request",
        "`v` must be a whole number (the protocol version, version 1), not a boolean",
    ),
    // A version this daemon does not speak.
    line(
        r#"{"v":2,"op":"status"}"#,
        "unsupported-version",
        "protocol version 2 is not supported; this daemon speaks version 1",
    ),
    line(
        r#"{"v":0,"op":"status"}"#,
        "unsupported-version",
        "protocol version 0 is not supported; this daemon speaks version 1",
    ),
    line(
        r#"{"v":-1,"op":"status"}"#,
        "unsupported-version",
        "protocol version -1 is not supported; this daemon speaks version 1",
    ),
    line(
        r#"{"v":18446744073709551615,"op":"status"}"#,
        "unsupported-version",
        "protocol version 18446744073709551615 is not supported",
    ),
    line(r#"{"v":2,"op":"nope","x":1}"#, "unsupported-version", "protocol version 2 is not supported"),
    // No op, or one that does not exist.
    line(r#"{"v":1}"#, "invalid-request", "the request has no `op`; expected one of `status`, `reload`, `stop`"),
    line(r#"{"v":1,"op":"restart"}"#, "unknown-op", "unknown op `restart`; expected one of `status`, `reload`, `stop`"),
    line(r#"{"v":1,"op":"STATUS"}"#, "unknown-op", "unknown op `STATUS`; expected one of `status`, `reload`, `stop`"),
    line(r#"{"v":1,"op":" status"}"#, "unknown-op", "unknown op ` status`; expected one of `status`, `reload`, `stop`"),
    line(r#"{"v":1,"op":""}"#, "unknown-op", "unknown op ``; expected one of `status`, `reload`, `stop`"),
    line(
        r#"{"v":1,"op":"sta\ntus"}"#,
        "unknown-op",
        "unknown op `sta\\ntus`; expected one of `status`, `reload`, `stop`",
    ),
    line(r#"{"v":1,"op":"nope","x":1}"#, "unknown-op", "unknown op `nope`"),
    line(
        r#"{"v":1,"op":5}"#,
        "invalid-request",
        "`op` must be a string, one of `status`, `reload`, `stop`, not the number 5",
    ),
    line(
        r#"{"v":1,"op":["status"]}"#,
        "invalid-request",
        "`op` must be a string, one of `status`, `reload`, `stop`, not an array",
    ),
    line(
        r#"{"v":1,"op":{"name":"status"}}"#,
        "invalid-request",
        "`op` must be a string, one of `status`, `reload`, `stop`, not an object",
    ),
    line(
        r#"{"v":1,"op":null}"#,
        "invalid-request",
        "`op` must be a string, one of `status`, `reload`, `stop`, not null",
    ),
    // Extra fields.
    line(
        r#"{"v":1,"op":"status","extra":true}"#,
        "invalid-request",
        "unknown field `extra`; a version 1 request has only `v` and `op`",
    ),
    line(
        r#"{"v":1,"op":"status","id":7}"#,
        "invalid-request",
        "unknown field `id`; a version 1 request has only `v` and `op`",
    ),
    line(
        r#"{"v":1,"op":"stop","force":true}"#,
        "invalid-request",
        "unknown field `force`; a version 1 request has only `v` and `op`",
    ),
    line(r#"{"v":1,"op":"reload","file":"/etc/x.toml"}"#, "invalid-request", "unknown field `file`"),
    // Oversized lines: one byte over the limit is refused and the connection closed; at the limit it is read.
    Request { send: Send::Long(4097), replies: &[], code: "too-large", says: TOO_LARGE },
    Request { send: Send::Long(100_000), replies: &[], code: "too-large", says: TOO_LARGE },
    Request { send: Send::Long(4096), replies: &[], code: "unknown-op", says: "unknown op `xxxxxxxx" },
    // Several lines in one write are answered in order.
    Request {
        send: Send::Line("nonsense\n{\"v\":9,\"op\":\"status\"}\n{\"v\":1,\"op\":\"halt\"}"),
        replies: &[("malformed", NOT_JSON), ("unsupported-version", "protocol version 9 is not supported")],
        code: "unknown-op",
        says: "unknown op `halt`",
    },
    // A line never finished, the connection held open: the read deadline answers.
    Request {
        send: Send::Hold(br#"{"v":1,"op":"stat"#),
        replies: &[],
        code: "timeout",
        says: "the request line was not finished within 5s; end each request with a newline",
    },
    Request { send: Send::Hold(b""), replies: &[], code: "timeout", says: "no request arrived within 5s" },
];
