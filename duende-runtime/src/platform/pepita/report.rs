//! The guest's report to the host: what the daemon tells its manager, carried over one vsock
//! stream from the guest's init to the host (vsock port [`REPORT_PORT`]).
//!
//! The daemon does not know it runs in a VM: it sends its sd_notify datagrams (`READY=1`,
//! `STATUS=...`, `RELOADING=1`, `STOPPING=1`, `X_DUENDE_RELOAD=...`) to `$NOTIFY_SOCKET` as it
//! does under systemd or the native supervisor. In the guest that socket is init's, and init
//! relays each datagram to the host as one line of this stream, then the daemon's exit status.
//!
//! The stream is text, one message per line, each line ended by `\n`:
//!
//! ```text
//! HELLO 1 NAME          first: the report's version (1) and the daemon's name
//! NOTIFY READY=1\nSTATUS=running
//!                       one sd_notify datagram, as it was sent, escaped onto one line
//! EXIT 0                last: the daemon's exit status (its code, or 128+N for signal N)
//! ```
//!
//! A datagram is made of `KEY=VALUE` lines; to fit on one line, its backslashes become `\\` and
//! its newlines `\n` (two characters); no other byte is changed. After `EXIT` the guest shuts its
//! side of the stream and waits a short, bounded time for the host's [`ACK`] line (or for the
//! host to close) before it powers the VM off, so the report is not lost with the VM. A host that
//! does not acknowledge only delays the power-off by that bound.

use std::io::{self, BufRead};

/// The vsock port the host listens on for the guest's report (a guest connecting to CID 2, port
/// 1024 reaches the host's unix socket `<uds-path>_1024`).
pub const REPORT_PORT: u32 = 1024;

/// The report's version, in its first line.
pub const VERSION: u32 = 1;

/// What the host sends once it has read `EXIT`.
pub const ACK: &[u8] = b"ACK\n";

/// The longest line a reader accepts, newline excluded (a datagram is at most a few KiB).
pub const MAX_LINE: usize = 64 * 1024;

/// One message of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The first line: the report's version and the daemon's name.
    Hello {
        /// The version the guest speaks.
        version: u32,
        /// The daemon's name.
        name: String,
    },
    /// One sd_notify datagram of the daemon's.
    Notify(Notification),
    /// The daemon has ended with this status; the VM powers off next.
    Exit(u8),
}

/// One sd_notify datagram: `KEY=VALUE` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification(pub String);

impl Notification {
    /// The value of the first `KEY=` line, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.lines().find_map(|line| line.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
    }

    /// `READY=1`: the daemon is ready (at start, and again after a reload).
    pub fn is_ready(&self) -> bool {
        self.get("READY") == Some("1")
    }

    /// `STOPPING=1`: the daemon is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.get("STOPPING") == Some("1")
    }

    /// `RELOADING=1`: the daemon is re-reading its configuration.
    pub fn is_reloading(&self) -> bool {
        self.get("RELOADING") == Some("1")
    }

    /// The `STATUS=` text, if any.
    pub fn status(&self) -> Option<&str> {
        self.get("STATUS")
    }
}

/// A line that is not a message of the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a line of the guest's report (`HELLO`, `NOTIFY` or `EXIT`): {0:?}")]
pub struct BadReport(pub String);

/// The `HELLO` line.
pub fn hello(name: &str) -> Vec<u8> {
    format!("HELLO {VERSION} {}\n", name.replace(['\n', ' '], "_")).into_bytes()
}

/// The `NOTIFY` line for one datagram, escaped as the module says.
pub fn notify(datagram: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(datagram.len() + 8);
    line.extend_from_slice(b"NOTIFY ");
    for &byte in datagram {
        match byte {
            b'\\' => line.extend_from_slice(b"\\\\"),
            b'\n' => line.extend_from_slice(b"\\n"),
            other => line.push(other),
        }
    }
    line.push(b'\n');
    line
}

/// The `EXIT` line.
pub fn exit(code: u8) -> Vec<u8> {
    format!("EXIT {code}\n").into_bytes()
}

/// Reads one line (without its newline).
pub fn decode(line: &[u8]) -> Result<Report, BadReport> {
    let bad = || BadReport(String::from_utf8_lossy(line).chars().take(120).collect());
    let (word, rest) = match line.iter().position(|b| *b == b' ') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &b""[..]),
    };
    match word {
        b"NOTIFY" => {
            Ok(Report::Notify(Notification(String::from_utf8_lossy(&unescape(rest).ok_or_else(bad)?).into_owned())))
        }
        b"EXIT" => std::str::from_utf8(rest).ok().and_then(|code| code.parse().ok()).map(Report::Exit).ok_or_else(bad),
        b"HELLO" => {
            let text = std::str::from_utf8(rest).map_err(|_| bad())?;
            let (version, name) = text.split_once(' ').ok_or_else(bad)?;
            Ok(Report::Hello { version: version.parse().map_err(|_| bad())?, name: name.to_owned() })
        }
        _ => Err(bad()),
    }
}

/// `\\` and `\n` back to a backslash and a newline; `None` for any other escape.
fn unescape(escaped: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            _ => return None,
        }
    }
    Some(out)
}

/// Reads the report line by line from a stream (a host's end of the guest's connection).
#[derive(Debug)]
pub struct Reader<R> {
    input: io::BufReader<R>,
}

impl<R: io::Read> Reader<R> {
    /// A reader of `input`.
    pub fn new(input: R) -> Reader<R> {
        Reader { input: io::BufReader::new(input) }
    }

    /// The next message; `None` at the end of the stream. A line longer than [`MAX_LINE`] or not
    /// of the report is an `InvalidData` error. A read timeout set on the stream comes back as
    /// its `WouldBlock`/`TimedOut` error, and a line cut short by it is lost.
    pub fn next_report(&mut self) -> io::Result<Option<Report>> {
        let mut line = Vec::new();
        let read = io::Read::take(&mut self.input, MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            let why = if line.len() > MAX_LINE { "a line longer than the limit" } else { "a line cut short" };
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("the guest's report has {why}")));
        }
        line.pop();
        decode(&line).map(Some).map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
    }

    /// The stream itself (to acknowledge `EXIT` on it).
    pub fn get_mut(&mut self) -> &mut R {
        self.input.get_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_datagram_survives_the_trip_on_one_line() {
        for datagram in [
            &b"READY=1\nSTATUS=running"[..],
            b"STATUS=a \\ backslash, a \\n that is not a newline\n",
            b"",
            b"\n\n\\\\",
            b"X_DUENDE_RELOAD=accepted\r\n\xff\xfe",
        ] {
            let line = notify(datagram);
            assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "{line:?}");
            let Ok(Report::Notify(Notification(text))) = decode(&line[..line.len() - 1]) else {
                panic!("{line:?} does not decode")
            };
            assert_eq!(text, String::from_utf8_lossy(datagram), "{line:?}");
        }
    }

    #[test]
    fn hello_and_exit_read_back_and_anything_else_is_refused() {
        let hello = hello("spool");
        assert_eq!(hello, b"HELLO 1 spool\n");
        assert_eq!(decode(&hello[..hello.len() - 1]), Ok(Report::Hello { version: 1, name: "spool".into() }));
        assert_eq!(exit(143), b"EXIT 143\n");
        assert_eq!(decode(b"EXIT 143"), Ok(Report::Exit(143)));
        for bad in [
            &b"EXIT 256"[..],
            b"EXIT",
            b"EXIT -1",
            b"READY=1",
            b"",
            b"NOTIFY a\\tb",
            b"NOTIFY trailing\\",
            b"HELLO x y",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_notification_answers_for_its_keys() {
        let ready =
            Notification("READY=1\nSTATUS=running (configuration generation 2)\nX_DUENDE_RELOAD=accepted".into());
        assert!(ready.is_ready() && !ready.is_stopping() && !ready.is_reloading());
        assert_eq!(ready.status(), Some("running (configuration generation 2)"));
        assert_eq!(ready.get("X_DUENDE_RELOAD"), Some("accepted"));
        let stopping = Notification("STOPPING=1\nSTATUS=shutting down".into());
        assert!(stopping.is_stopping() && !stopping.is_ready());
        assert!(!Notification("READY=0".into()).is_ready());
    }

    #[test]
    fn a_reader_reads_a_stream_and_refuses_what_is_not_the_report() {
        let mut stream = hello("demo");
        stream.extend(notify(b"READY=1\nSTATUS=up"));
        stream.extend(exit(0));
        let mut reader = Reader::new(&stream[..]);
        assert!(matches!(reader.next_report().unwrap(), Some(Report::Hello { .. })));
        let Some(Report::Notify(n)) = reader.next_report().unwrap() else { panic!("not a notification") };
        assert_eq!(n.status(), Some("up"));
        assert_eq!(reader.next_report().unwrap(), Some(Report::Exit(0)));
        assert_eq!(reader.next_report().unwrap(), None);

        let cut = b"EXIT 0".to_vec();
        assert_eq!(Reader::new(&cut[..]).next_report().unwrap_err().kind(), io::ErrorKind::InvalidData);
        let long = vec![b'x'; MAX_LINE + 10];
        let err = Reader::new(&long[..]).next_report().unwrap_err();
        assert!(err.to_string().contains("longer than the limit"), "{err}");
        let junk = b"GET / HTTP/1.1\n".to_vec();
        assert_eq!(Reader::new(&junk[..]).next_report().unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
