//! What the control server must answer a connection's bytes, worked out without the server's
//! code: a small JSON reader of its own and the rules of `docs/control-protocol.md`. The fuzz
//! tests check the server's replies against it, so a parser that misjudges a line is caught
//! instead of agreeing with itself.
//!
//! The rules, in the order they are applied to one line (the protocol lists the codes; where a
//! line has several problems, the server names the first it finds, checking `v`, then `op`, then
//! the other fields):
//! - empty, blank, not JSON (including invalid UTF-8 in a string, a number out of the range of
//!   a double, and nesting deeper than 127 levels, where the JSON reader gives up): `malformed`;
//! - JSON but not an object: `invalid-request`;
//! - no `v`: `invalid-request`; `v` a whole number other than 1: `unsupported-version`; `v`
//!   anything else (a fraction or exponent, `-0`, a whole number beyond 64 bits, which JSON
//!   readers hold as doubles, a string, ...): `invalid-request`;
//! - no `op`: `invalid-request`; `op` a string naming no op: `unknown-op`; `op` not a string:
//!   `invalid-request`;
//! - any other field: `invalid-request`.
//!
//! A key given twice counts with its last value, as a JSON reader building a map keeps it.
//!
//! Self-contained (no crate paths) so the integration tests include the same file.

/// The ops of protocol version 1.
const OPS: [&str; 3] = ["status", "reload", "stop"];

/// The deepest nesting the server's JSON reader accepts (`serde_json`'s recursion limit).
const MAX_DEPTH: usize = 127;

/// The error codes, by their names on the wire, for every line of `bytes` sent on one connection
/// whose sending half is then closed: one per line, in order, the last line needing no newline,
/// and nothing after a line longer than `limit` (answered `too-large`, then closed). Panics on a
/// line that is a valid request, which a fuzz case must not contain.
pub fn expected_codes(bytes: &[u8], limit: usize) -> Vec<&'static str> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        // The newline ended the last line; nothing comes after it.
        lines.pop();
    }
    let mut codes = Vec::new();
    for line in lines {
        if line.len() > limit {
            codes.push("too-large");
            break;
        }
        match refusal(line) {
            Some(code) => codes.push(code),
            None => panic!("a fuzz case holds a valid request: {:?}", String::from_utf8_lossy(line)),
        }
    }
    codes
}

/// The code a request line is refused with, or `None` for a valid request.
pub fn refusal(line: &[u8]) -> Option<&'static str> {
    let mut reader = Reader { bytes: line, at: 0, depth: 0 };
    let value = reader.value();
    reader.whitespace();
    let Some(value) = value.filter(|_| reader.at == line.len()) else { return Some("malformed") };
    let Json::Object(fields) = value else { return Some("invalid-request") };
    // The last value of each key.
    let field = |name: &str| fields.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value);
    match field("v") {
        Some(Json::Unsigned(1)) => {}
        Some(Json::Unsigned(_) | Json::Signed) => return Some("unsupported-version"),
        _ => return Some("invalid-request"),
    }
    match field("op") {
        Some(Json::String(op)) if OPS.contains(&op.as_str()) => {}
        Some(Json::String(_)) => return Some("unknown-op"),
        _ => return Some("invalid-request"),
    }
    if fields.iter().any(|(key, _)| key != "v" && key != "op") {
        return Some("invalid-request");
    }
    None
}

/// A JSON value, as far as the rules need it.
enum Json {
    /// `null`, `true`, `false`, an array: none of them is a request or a field a request has.
    Other,
    /// A whole number in 0..=u64::MAX.
    Unsigned(u64),
    /// A negative whole number down to i64::MIN (never a version this daemon speaks).
    Signed,
    /// A number with a fraction or exponent, `-0`, or a whole number beyond 64 bits.
    Float,
    String(String),
    /// The members in the order written, repeated keys included.
    Object(Vec<(String, Json)>),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<Json> {
        self.whitespace();
        match self.peek()? {
            b'{' | b'[' => self.container(),
            b'"' => self.string().map(Json::String),
            b'-' | b'0'..=b'9' => self.number(),
            _ => {
                for word in [&b"true"[..], b"false", b"null"] {
                    if self.bytes[self.at..].starts_with(word) {
                        self.at += word.len();
                        return Some(Json::Other);
                    }
                }
                None
            }
        }
    }

    /// An object or an array, at most [`MAX_DEPTH`] deep.
    fn container(&mut self) -> Option<Json> {
        let object = self.peek() == Some(b'{');
        let close = if object { b'}' } else { b']' };
        self.at += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let mut fields = Vec::new();
        self.whitespace();
        if !self.eat(close) {
            loop {
                if object {
                    self.whitespace();
                    let key = self.string()?;
                    self.whitespace();
                    self.expect(b':')?;
                    fields.push((key, self.value()?));
                } else {
                    self.value()?;
                }
                self.whitespace();
                if self.eat(b',') {
                    continue;
                }
                self.expect(close)?;
                break;
            }
        }
        self.depth -= 1;
        Some(if object { Json::Object(fields) } else { Json::Other })
    }

    /// A string: no raw control characters, valid UTF-8, escapes decoded (a `\u` surrogate only
    /// as half of a pair).
    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let mut raw = Vec::new();
        loop {
            let byte = self.peek()?;
            self.at += 1;
            match byte {
                b'"' => return String::from_utf8(raw).ok(),
                0x00..=0x1f => return None,
                b'\\' => {
                    let escaped = self.peek()?;
                    self.at += 1;
                    let decoded = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let first = self.hex4()?;
                            let code = match first {
                                0xd800..=0xdbff => {
                                    self.expect(b'\\')?;
                                    self.expect(b'u')?;
                                    let second = self.hex4()?;
                                    if !(0xdc00..=0xdfff).contains(&second) {
                                        return None;
                                    }
                                    0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                                }
                                0xdc00..=0xdfff => return None,
                                _ => first,
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    raw.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => raw.push(byte),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        self.at += 4;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, classified as the server's JSON reader
    /// holds it.
    fn number(&mut self) -> Option<Json> {
        let start = self.at;
        let negative = self.eat(b'-');
        let digits_from = self.at;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let whole = std::str::from_utf8(&self.bytes[digits_from..self.at]).ok()?;
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            float = true;
            let _ = self.eat(b'+') || self.eat(b'-');
            self.some_digits()?;
        }
        // A double out of range is an error, not infinity.
        let text = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
        if text.parse::<f64>().ok()?.is_infinite() {
            return None;
        }
        if float {
            return Some(Json::Float);
        }
        Some(match (negative, whole.parse::<u64>()) {
            (false, Ok(n)) => Json::Unsigned(n),
            // `-0` is read as the double -0.0.
            (true, Ok(0)) => Json::Float,
            (true, Ok(n)) => i64::try_from(-i128::from(n)).map_or(Json::Float, |_| Json::Signed),
            (_, Err(_)) => Json::Float,
        })
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let before = self.at;
        self.digits();
        (self.at > before).then_some(())
    }
}

/// Lines and the code each must get, written by hand: the oracle's own check, and the cases the
/// rules above single out.
pub const TABLE: &[(&str, Option<&str>)] = &[
    (r#"{"v":1,"op":"status"}"#, None),
    (r#" {"op":"stop","v":1} "#, None),
    (r#"{"v":1,"op":"re\u006coad"}"#, None),
    ("", Some("malformed")),
    ("  \t", Some("malformed")),
    (r#"{"v":1,"op":"status""#, Some("malformed")),
    (r#"{"v":1,"op":"status"}}"#, Some("malformed")),
    (r#"{"v":01,"op":"status"}"#, Some("malformed")),
    (r#"{"v":1e400,"op":"status"}"#, Some("malformed")),
    (r#"{"v":1,"op":"\ud800"}"#, Some("malformed")),
    ("{\"v\":1,\"op\":\"st\tatus\"}", Some("malformed")),
    (r#"{'v':1}"#, Some("malformed")),
    ("[]", Some("invalid-request")),
    ("null", Some("invalid-request")),
    (r#""status""#, Some("invalid-request")),
    (r#"{"op":"status"}"#, Some("invalid-request")),
    (r#"{"v":"1","op":"status"}"#, Some("invalid-request")),
    (r#"{"v":1.0,"op":"status"}"#, Some("invalid-request")),
    (r#"{"v":1e0,"op":"status"}"#, Some("invalid-request")),
    (r#"{"v":-0,"op":"status"}"#, Some("invalid-request")),
    (r#"{"v":18446744073709551616,"op":"status"}"#, Some("invalid-request")),
    (r#"{"v":-9223372036854775809,"op":"status"}"#, Some("invalid-request")),
    (r#"{"v":1}"#, Some("invalid-request")),
    (r#"{"v":1,"op":7}"#, Some("invalid-request")),
    (r#"{"v":1,"op":"status","x":0}"#, Some("invalid-request")),
    (r#"{"v":0,"op":"status"}"#, Some("unsupported-version")),
    (r#"{"v":-9223372036854775808,"op":"status"}"#, Some("unsupported-version")),
    (r#"{"v":18446744073709551615,"op":"nope"}"#, Some("unsupported-version")),
    (r#"{"v":1,"v":2,"op":"status"}"#, Some("unsupported-version")),
    (r#"{"v":2,"v":1,"op":"status"}"#, None),
    (r#"{"v":1,"op":"STOP"}"#, Some("unknown-op")),
    (r#"{"v":1,"op":"st\u0000op","x":1}"#, Some("unknown-op")),
];
