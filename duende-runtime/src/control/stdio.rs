//! The control channel over standard input and output: the stop path of a daemon that has no
//! signals and no sockets (a WASI module on WOS, `crate::wasi`). The host that holds the
//! module's standard input drives it with the control protocol's requests, one JSON line each
//! (`{"v":1,"op":"stop"}`, `reload`, `status`), and reads the replies, and the daemon's
//! [`Notice`]s (`ready`, `reloading`, `reloaded`, `stopping`, `status`), on standard output.
//!
//! Standard output also carries whatever the daemon itself prints, so every line of the channel
//! starts with the ASCII record separator (0x1E), as in RFC 7464 JSON text sequences: a host
//! splits the stream at that byte and tells the channel's lines from the daemon's own output
//! without guessing, even after a partial line the daemon left unterminated. Requests may carry
//! the separator too; it is ignored.
//!
//! - End-of-file on standard input is a graceful stop: a host that goes away takes its daemon
//!   with it. What came before end-of-file without a newline counts as a last request.
//! - After `stop` the daemon reads nothing more; it exits once `shutdown` returns (or the
//!   shutdown deadline ends it), with its usual exit status.
//! - A line longer than [`MAX_REQUEST_BYTES`] gets
//!   `too-large` and is skipped up to its newline; standard input is never closed by the daemon.
//! - Input is looked at every [`POLL_INTERVAL`] without blocking: WASI preview 1 has one thread,
//!   and a blocking read would stop the daemon's timers and health checks with it. That is the
//!   idle daemon's only periodic wake-up, and the bound on how late a request is seen.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::answer::{Then, answer, failure};
use super::protocol::{self, ErrorCode, ErrorReply, MAX_REQUEST_BYTES, Notice, NoticeEvent};
use crate::live::Live;

/// The byte that starts every line of the channel on standard output (ASCII RS, RFC 7464).
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// How often standard input is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long `reload` waits for its outcome (as on the socket).
#[cfg_attr(
    not(target_os = "wasi"),
    allow(dead_code, reason = "the stop path of WASI modules; unit-tested on every target")
)]
const RELOAD_WAIT: Duration = Duration::from_secs(15);

/// Where the channel's lines go: standard output, shared by the replies and the notices, one
/// whole line per write so the two never interleave.
#[derive(Clone)]
pub struct Output {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Output")
    }
}

impl Output {
    /// The process's standard output.
    pub fn stdout() -> Output {
        Output::to(Box::new(io::stdout()))
    }

    /// Any writer (tests).
    pub fn to(sink: Box<dyn Write + Send>) -> Output {
        Output { sink: Arc::new(Mutex::new(sink)) }
    }

    /// Writes `line` (newline included) after the record separator, and flushes. A host that has
    /// stopped reading is logged at debug level: the daemon carries on.
    pub fn send(&self, line: &[u8]) {
        let mut framed = Vec::with_capacity(line.len() + 1);
        framed.push(RECORD_SEPARATOR);
        framed.extend_from_slice(line);
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = sink.write_all(&framed).and_then(|()| sink.flush()) {
            tracing::debug!(%err, "control channel: cannot write to standard output");
        }
    }

    /// Sends a notice.
    pub fn notice(&self, event: NoticeEvent, status: Option<&str>, accepted: Option<bool>) {
        let notice = Notice { accepted, ..Notice::new(event, status) };
        self.send(&protocol::encode_notice(&notice));
    }
}

/// Standard input, looked at without blocking.
pub trait Input {
    /// What has arrived since the last call: `Ok(None)` when nothing has, `Ok(Some(bytes))`
    /// otherwise, where empty `bytes` mean end-of-file.
    fn take(&mut self) -> io::Result<Option<Vec<u8>>>;
}

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its newline (and without a leading record separator).
    Complete(Vec<u8>),
    /// A line longer than the limit (the rest of it, up to its newline, is skipped).
    TooLong,
}

/// Splits input into lines of at most `max` bytes.
#[derive(Debug)]
pub struct Lines {
    pending: Vec<u8>,
    max: usize,
    skipping: bool,
}

impl Lines {
    /// A splitter for lines of at most `max` bytes (newline excluded).
    pub fn new(max: usize) -> Lines {
        Lines { pending: Vec::new(), max, skipping: false }
    }

    /// The lines `bytes` complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Line> {
        let mut lines = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                if !std::mem::take(&mut self.skipping) {
                    lines.push(Line::Complete(strip(std::mem::take(&mut self.pending))));
                }
            } else if !self.skipping {
                self.pending.push(byte);
                if self.pending.len() > self.max {
                    self.pending.clear();
                    self.skipping = true;
                    lines.push(Line::TooLong);
                }
            }
        }
        lines
    }

    /// At end-of-file: what came after the last newline, as a last line.
    pub fn finish(&mut self) -> Option<Line> {
        let rest = strip(std::mem::take(&mut self.pending));
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(Line::Complete(rest))
    }
}

/// Drops a leading record separator (a host may frame its requests as it reads replies) and a
/// trailing carriage return.
fn strip(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.first() == Some(&RECORD_SEPARATOR) {
        line.remove(0);
    }
    line
}

/// Who asks, for the log.
#[cfg_attr(
    not(target_os = "wasi"),
    allow(dead_code, reason = "the stop path of WASI modules; unit-tested on every target")
)]
const PEER: &str = "standard input";

/// Serves the channel: looks at `input` every [`POLL_INTERVAL`], answers each request on
/// `output`, and ends after `stop` or at end-of-file (both a graceful stop), or when standard
/// input cannot be read (logged; the daemon then runs until its host ends it).
#[cfg_attr(
    not(target_os = "wasi"),
    allow(dead_code, reason = "the stop path of WASI modules; unit-tested on every target")
)]
pub(crate) async fn serve(
    mut input: impl Input,
    output: Output,
    live: Arc<Live>,
    shutdown_timeout: impl Fn() -> Duration + Sync,
) {
    let mut lines = Lines::new(MAX_REQUEST_BYTES);
    loop {
        let (received, end) = match input.take() {
            Ok(None) => (Vec::new(), false),
            Ok(Some(bytes)) if bytes.is_empty() => (lines.finish().into_iter().collect(), true),
            Ok(Some(bytes)) => (lines.push(&bytes), false),
            Err(err) => {
                tracing::error!(
                    %err,
                    "cannot read standard input, the control channel: stop, reload and status no longer reach the \
                     daemon; its host must end the module"
                );
                return;
            }
        };
        for line in received {
            if handle(line, &output, &live, &shutdown_timeout).await {
                return;
            }
        }
        if end {
            live.request_stop("the end of standard input (its host closed it)");
            return;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Answers one line; true when it asked for the stop.
#[cfg_attr(
    not(target_os = "wasi"),
    allow(dead_code, reason = "the stop path of WASI modules; unit-tested on every target")
)]
async fn handle(line: Line, output: &Output, live: &Live, shutdown_timeout: &(dyn Fn() -> Duration + Sync)) -> bool {
    let line = match line {
        Line::Complete(line) => line,
        Line::TooLong => {
            let message = format!(
                "the request is longer than {MAX_REQUEST_BYTES} bytes and was skipped; a request is one short JSON \
                 line such as {}",
                r#"{"v":1,"op":"status"}"#
            );
            output.send(&failure(ErrorReply::new(ErrorCode::TooLarge, message)));
            return false;
        }
    };
    let (reply, then) = answer(&line, &PEER, live, RELOAD_WAIT, shutdown_timeout).await;
    output.send(&reply);
    if let Then::StopAndHold = then {
        live.request_stop(&format!("the control channel ({PEER})"));
        return true;
    }
    false
}

#[cfg(test)]
mod tests;
