//! A deterministic generator of bad control requests for the fuzz tests: random bytes, truncated
//! and corrupted requests, oversized lines, wrong types, unknown ops and versions, deep nesting,
//! invalid UTF-8, several of these on one connection. None of its lines is a valid request (the
//! in-process fuzz test checks that for every case it makes), so a daemon under test is never
//! actually stopped or reloaded by one.
//!
//! Self-contained (no crate paths) so the integration tests include the same file.

/// Requests that are valid, the material for truncation and corruption. Compact: changing any
/// one byte of these cannot give another valid request.
const VALID: [&str; 4] =
    [r#"{"v":1,"op":"status"}"#, r#"{"v":1,"op":"reload"}"#, r#"{"v":1,"op":"stop"}"#, r#"{"op":"stop","v":1}"#];

/// Well-formed JSON that is not a valid request.
const WRONG: [&str; 30] = [
    r#"{}"#,
    r#"[]"#,
    r#"null"#,
    r#"true"#,
    r#"42"#,
    r#""status""#,
    r#"[{"v":1,"op":"status"}]"#,
    r#"{"v":1}"#,
    r#"{"op":"status"}"#,
    r#"{"v":"1","op":"status"}"#,
    r#"{"v":1.0,"op":"status"}"#,
    r#"{"v":1.5,"op":"stop"}"#,
    r#"{"v":0,"op":"status"}"#,
    r#"{"v":2,"op":"status"}"#,
    r#"{"v":-1,"op":"stop"}"#,
    r#"{"v":18446744073709551615,"op":"stop"}"#,
    r#"{"v":4294967297,"op":"status"}"#,
    r#"{"v":null,"op":"status"}"#,
    r#"{"v":1,"op":null}"#,
    r#"{"v":1,"op":7}"#,
    r#"{"v":1,"op":["stop"]}"#,
    r#"{"v":1,"op":{"name":"stop"}}"#,
    r#"{"v":1,"op":"STOP"}"#,
    r#"{"v":1,"op":"stop "}"#,
    r#"{"v":1,"op":"shutdown"}"#,
    r#"{"v":1,"op":""}"#,
    r#"{"v":1,"op":"status","extra":true}"#,
    r#"{"v":1,"op":"stop","v2":1}"#,
    r#"{"v":1,"v":2,"op":"status"}"#,
    r#"{"v":1,"op":"st\u0000op"}"#,
];

/// xorshift64* over a fixed seed: the same cases on every run and every machine.
#[derive(Debug, Clone)]
pub struct Garbage {
    state: u64,
    limit: usize,
}

impl Garbage {
    /// A generator for a server whose request limit is `limit` bytes.
    pub fn new(seed: u64, limit: usize) -> Garbage {
        Garbage { state: seed | 1, limit }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn byte(&mut self) -> u8 {
        // Mostly the bytes JSON is made of, so the parser gets past its first character.
        const SYNTAX: &[u8] = b"{}[]\":,\\ \n\t0123456789.-+eEvopstatuslnr";
        if self.below(3) == 0 { (self.next() >> 32) as u8 } else { SYNTAX[self.below(SYNTAX.len())] }
    }

    fn random_bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }

    /// One line that is not a request (without a newline; it may contain newlines of its own
    /// only when made of random bytes).
    fn bad_line(&mut self) -> Vec<u8> {
        match self.below(9) {
            0 => {
                let len = self.below(120);
                self.random_bytes(len)
            }
            1 => {
                let valid = self.pick(&VALID).as_bytes();
                valid[..self.below(valid.len())].to_vec()
            }
            2 => {
                let mut line = self.pick(&VALID).as_bytes().to_vec();
                let at = self.below(line.len());
                let mut replacement = self.byte();
                while replacement == line[at] || replacement.is_ascii_whitespace() {
                    replacement = self.byte();
                }
                line[at] = replacement;
                line
            }
            3 => {
                let mut line = self.pick(&VALID).as_bytes().to_vec();
                let at = self.below(line.len() + 1);
                let count = 1 + self.below(8);
                let inserted = self.random_bytes(count);
                line.splice(at..at, inserted.into_iter().filter(|b| !b.is_ascii_whitespace()));
                if VALID.iter().any(|v| v.as_bytes() == line.as_slice()) {
                    line.push(b'}');
                }
                line
            }
            4 => self.pick(&WRONG).as_bytes().to_vec(),
            5 => {
                let depth = 100 + self.below(400);
                let mut line = "[".repeat(depth).into_bytes();
                line.extend("]".repeat(self.below(depth + 1)).into_bytes());
                line
            }
            6 => {
                let mut line = br#"{"v":1,"op":"st"#.to_vec();
                line.push(0x80 + self.below(0x40) as u8);
                line.extend_from_slice(br#"tus"}"#);
                line
            }
            7 => {
                let name: String = (0..1 + self.below(30)).map(|_| char::from(b'a' + self.below(26) as u8)).collect();
                format!(r#"{{"v":1,"op":"{name}x"}}"#).into_bytes()
            }
            _ => format!(r#"{{"v":{},"op":"{}"}}"#, 2 + self.below(1000), self.pick(&["status", "reload", "stop"]))
                .into_bytes(),
        }
    }

    /// One connection's worth of bytes.
    pub fn case(&mut self) -> Vec<u8> {
        match self.below(10) {
            // Several bad lines on one connection, the last one with or without its newline.
            0 | 1 => {
                let mut bytes = Vec::new();
                for _ in 0..2 + self.below(4) {
                    bytes.extend(self.bad_line());
                    bytes.push(b'\n');
                }
                if self.below(2) == 0 {
                    bytes.pop();
                }
                bytes
            }
            // Longer than the limit: one unbroken line, or a huge JSON string.
            2 => {
                let len = self.limit + 1 + self.below(4 * self.limit);
                if self.below(2) == 0 {
                    self.random_bytes(len).into_iter().map(|b| if b == b'\n' { b'x' } else { b }).collect()
                } else {
                    let mut line = br#"{"v":1,"op":""#.to_vec();
                    line.extend(std::iter::repeat_n(b'a', len));
                    line.extend_from_slice(b"\"}\n");
                    line
                }
            }
            // Exactly at the limit (still read, and refused for what it says).
            3 => {
                let mut line = br#"{"v":1,"op":"nope"}"#.to_vec();
                line.resize(self.limit, b' ');
                line.push(b'\n');
                line
            }
            // Empty and blank lines.
            4 => [&b"\n"[..], b"   \n", b"\r\n", b"\t"][self.below(4)].to_vec(),
            _ => {
                let mut line = self.bad_line();
                if self.below(3) != 0 {
                    line.push(b'\n');
                }
                line
            }
        }
    }
}
