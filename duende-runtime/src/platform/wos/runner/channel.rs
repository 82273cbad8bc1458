//! The module's control channel, seen from the runner: its standard output split at the RS byte
//! ([`split`]: the daemon's own output passes on, each channel line is a notice or a reply), the
//! notices told to the runner's manager ([`relay`]), and its standard input shared by everyone
//! who asks the module something ([`Channel::ask`]: one request at a time, each answered by the
//! next reply), which is how the control socket on the host ([`serve`]) reaches the module.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ChildStdin;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use crate::control::protocol::{
    self, ErrorCode, ErrorReply, MAX_REQUEST_BYTES, Notice, NoticeEvent, Op, Response, parse_request,
};
use crate::control::stdio::RECORD_SEPARATOR;
use crate::notify::Notifier;

/// The longest channel line kept; the rest of a longer one is dropped (said on standard error).
const MAX_RECORD: usize = 1 << 20;
/// How long a request line from a socket client may take to arrive (as on the daemon's socket).
const READ_DEADLINE: Duration = Duration::from_secs(5);
/// How long the module may take to answer `reload` (its own wait is 15 s).
pub(super) const RELOAD_PATIENCE: Duration = Duration::from_secs(20);
/// How long the module may take to answer anything else (it looks at its input every 50 ms, but
/// may still be compiling or starting).
pub(super) const PATIENCE: Duration = Duration::from_secs(10);
/// Socket clients served at once; more are refused with `busy`.
const MAX_CONNECTIONS: usize = 16;

/// Copies `from` (the module's standard output) to `out`, except each line that starts with the
/// RS byte, which goes to `record` without the RS and the newline. A channel line that begins
/// after output the daemon left unfinished ends that output with a newline first.
pub(super) fn split(from: impl Read, mut out: impl Write, mut record: impl FnMut(&[u8])) {
    let mut reader = BufReader::new(from);
    let mut in_record: Option<Vec<u8>> = None;
    let mut at_line_start = true;
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let mut used = 0;
        while used < chunk.len() {
            let rest = &chunk[used..];
            match &mut in_record {
                Some(line) => match rest.iter().position(|b| *b == b'\n') {
                    Some(end) => {
                        keep(line, &rest[..end]);
                        record(line);
                        in_record = None;
                        used += end + 1;
                    }
                    None => {
                        keep(line, rest);
                        used = chunk.len();
                    }
                },
                None => {
                    let end = rest.iter().position(|b| *b == RECORD_SEPARATOR).unwrap_or(rest.len());
                    if end > 0 {
                        let _ = out.write_all(&rest[..end]);
                        at_line_start = rest[end - 1] == b'\n';
                    }
                    if end < rest.len() {
                        if !at_line_start {
                            let _ = out.write_all(b"\n");
                            at_line_start = true;
                        }
                        let _ = out.flush();
                        in_record = Some(Vec::new());
                        used += end + 1;
                    } else {
                        let _ = out.flush();
                        used = chunk.len();
                    }
                }
            }
        }
        let consumed = chunk.len();
        reader.consume(consumed);
    }
    if let Some(line) = in_record.filter(|line| !line.is_empty()) {
        record(&line);
    }
    let _ = out.flush();
}

fn keep(line: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_RECORD.saturating_sub(line.len());
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// What a channel line is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Record {
    /// A notice, unasked.
    Notice(Notice),
    /// A reply, as it came (newline added).
    Reply(Vec<u8>),
}

/// Reads a channel line: a notice (it has `event`), or a reply (anything else that is JSON).
pub(super) fn classify(line: &[u8]) -> Result<Record, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|err| format!("a channel line that is not JSON ({err})"))?;
    if value.get("event").is_some() {
        return serde_json::from_value(value).map(Record::Notice).map_err(|err| format!("an unknown notice ({err})"));
    }
    let mut reply = line.to_vec();
    reply.push(b'\n');
    Ok(Record::Reply(reply))
}

/// Tells the runner's manager what `notice` says, as the daemon would over sd_notify; the
/// runner's own log gets a line for the events that change its state.
pub(super) fn relay(notifier: &Notifier, notice: &Notice) {
    let status = notice.status.as_deref().unwrap_or_default();
    match notice.event {
        NoticeEvent::Ready => notifier.ready(status),
        NoticeEvent::Reloading => notifier.reloading(),
        NoticeEvent::Reloaded => notifier.reloaded(status, notice.accepted.unwrap_or(true)),
        NoticeEvent::Stopping => notifier.stopping(status),
        NoticeEvent::Status => notifier.status(status),
        NoticeEvent::Watchdog => notifier.watchdog(),
    }
}

/// The module's standard input and the replies that come back, shared by the control socket's
/// clients and the runner's own requests.
pub(super) struct Channel {
    input: Mutex<Option<ChildStdin>>,
    /// Held for a whole request: the replies come in order, so the next one is the answer. It
    /// counts the replies still owed to requests that gave up waiting, dropped as they come.
    turn: Mutex<(Receiver<Vec<u8>>, usize)>,
}

impl Channel {
    pub(super) fn new(input: ChildStdin, replies: Receiver<Vec<u8>>) -> Channel {
        Channel { input: Mutex::new(Some(input)), turn: Mutex::new((replies, 0)) }
    }

    /// Sends `line` (a request, newline excluded) and returns the module's reply, or the error
    /// reply a client should get when it cannot be had within `patience`.
    pub(super) fn ask(&self, line: &[u8], patience: Duration) -> Vec<u8> {
        let mut turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        let (replies, owed) = &mut *turn;
        let written = {
            let mut input = self.input.lock().unwrap_or_else(PoisonError::into_inner);
            match input.as_mut() {
                Some(stdin) => stdin.write_all(line).and_then(|()| stdin.write_all(b"\n")).and_then(|()| stdin.flush()),
                None => Err(io::ErrorKind::BrokenPipe.into()),
            }
        };
        if let Err(err) = written {
            return refusal(ErrorCode::Unavailable, &format!("the module is not running ({err})"));
        }
        let deadline = std::time::Instant::now() + patience;
        loop {
            match replies.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(_) if *owed > 0 => *owed -= 1,
                Ok(reply) => return reply,
                Err(RecvTimeoutError::Timeout) => {
                    *owed += 1;
                    return refusal(
                        ErrorCode::Timeout,
                        &format!("the module did not answer within {patience:?} (it may still be starting)"),
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return refusal(ErrorCode::Unavailable, "the module exited before it answered");
                }
            }
        }
    }

    /// Closes the module's standard input: a graceful stop for a duende module.
    pub(super) fn close(&self) {
        self.input.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

fn refusal(code: ErrorCode, message: &str) -> Vec<u8> {
    protocol::encode(&Response::<()>::failure(ErrorReply::new(code, message)))
}

/// Accepts connections on `listener` for good, each served on a thread of its own through
/// `channel`.
pub(super) fn serve(listener: &UnixListener, channel: &Arc<Channel>) {
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for client in listener.incoming() {
        use std::sync::atomic::Ordering;
        let Ok(client) = client else { continue };
        if !crate::platform::native::supervisor::allowed(&client) {
            refuse(&client, ErrorCode::PermissionDenied, "only the daemon's user and root may use its control socket");
            continue;
        }
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            refuse(&client, ErrorCode::Busy, "the WOS runner already serves 16 connections; try again shortly");
            continue;
        }
        let (channel, done) = (Arc::clone(channel), Arc::clone(&active));
        let spawned = thread::Builder::new().name("control-conn".into()).spawn(move || {
            connection(&client, &channel);
            done.fetch_sub(1, Ordering::AcqRel);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One client: each request line passed to the module, its reply passed back. Lines the module
/// would refuse without reading them (too long, too slow) are refused here as the daemon's own
/// socket refuses them; after a `stop` the connection stays open, unread, until the runner exits.
fn connection(client: &UnixStream, channel: &Channel) {
    let _ = client.set_read_timeout(Some(READ_DEADLINE));
    let Ok(reader) = client.try_clone() else { return };
    let mut reader = BufReader::new(reader);
    let mut writer = client;
    loop {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_REQUEST_BYTES).unwrap_or(u64::MAX) + 1;
        match reader.by_ref().take(limit).read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                let message = format!("no complete request line within {READ_DEADLINE:?}; send one line of JSON");
                refuse(client, ErrorCode::Timeout, &message);
                return;
            }
            Err(_) => return,
        }
        let ended = line.last() == Some(&b'\n');
        if ended {
            line.pop();
        }
        if line.len() > MAX_REQUEST_BYTES {
            let message = format!("a request line is at most {MAX_REQUEST_BYTES} bytes");
            refuse(client, ErrorCode::TooLarge, &message);
            return;
        }
        let is_stop = parse_request(&line).is_ok_and(|request| request.op == Op::Stop);
        let patience =
            if parse_request(&line).is_ok_and(|request| request.op == Op::Reload) { RELOAD_PATIENCE } else { PATIENCE };
        let reply = channel.ask(&line, patience);
        if writer.write_all(&reply).is_err() {
            return;
        }
        if is_stop {
            // The daemon reads nothing more; reading to end-of-file is how a client waits for
            // the end, which comes when the runner exits.
            let _ = client.set_read_timeout(None);
            let _ = io::copy(&mut reader, &mut io::sink());
            return;
        }
        if !ended {
            return;
        }
    }
}

/// Answers with a control-protocol error and closes.
fn refuse(mut stream: &UnixStream, code: ErrorCode, message: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&refusal(code, message));
    let _ = stream.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests;
