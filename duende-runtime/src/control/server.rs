//! The control socket the running daemon listens on.
//!
//! - One daemon per runtime directory: [`start`] takes the instance lock first; a second
//!   instance is refused naming the first one's pid, a stale socket left by a daemon that died is
//!   replaced.
//! - `control.sock` is bound under a temporary name, set to mode 0600, then renamed into place,
//!   so no peer ever reaches it with a looser mode. Every peer is checked by its credentials
//!   (`SO_PEERCRED`) as well: the daemon's own user or root may talk, anyone else gets a
//!   `permission-denied` reply and a warning in the log with their uid and pid.
//! - Requests are bounded (size, a read deadline, a cap on connections); whatever arrives, the
//!   peer gets an error reply or a clean close, and the daemon carries on. At the cap, a client
//!   waiting for its request line gives its slot up to a new one (`super::slots`), so clients
//!   that send nothing cannot keep out one that sends its request at once.
//! - Refused peers are logged within a budget ([`LogBudget`]); every refusal is in the log, by
//!   a line of its own or a count.
//! - Idle, it waits in `accept` only: timers exist only while a client is connected, or while a
//!   count of refusals left out of the log is due.
//! - The socket is removed when the [`Guard`] drops, if it is still the one bound here.

use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::answer::{Then, answer, failure};
use super::client::{self, ClientError};
use super::lock::{self, InstanceLock, Locked};
use super::protocol::{self, ErrorCode, ErrorReply, MAX_REQUEST_BYTES, Op, Response, StatusResult};
use super::slots::{Granted, Slots};
use crate::config::Generation;
use crate::exit::Exit;
use crate::live::Live;

/// The bounds every connection is held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The longest request line, newline excluded.
    pub max_request: usize,
    /// How long a client may take to send one complete request line.
    pub read_deadline: Duration,
    /// How long a reply may take to be written (a client that does not read is dropped).
    pub write_deadline: Duration,
    /// Connections served at once. Beyond that a new connection takes the slot of the one that
    /// has waited longest for a request line (which is closed with `busy`), or is refused `busy`
    /// when every slot holds a request being answered (`super::slots`).
    pub max_connections: usize,
    /// How long `reload` waits for its outcome.
    pub reload_wait: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request: MAX_REQUEST_BYTES,
            read_deadline: Duration::from_secs(5),
            write_deadline: Duration::from_secs(5),
            max_connections: 16,
            reload_wait: Duration::from_secs(15),
        }
    }
}

/// How long the daemon may take to stop, as its configuration says now.
pub(crate) type ShutdownTimeout = Box<dyn Fn() -> Duration + Send + Sync>;

/// How long a starting daemon waits for an existing socket's daemon to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// After a failed `accept` (out of file descriptors, say), wait this long before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the control channel could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another instance of the daemon runs with this runtime directory.
    #[error(
        "another instance of `{name}` is already running{} with its control socket at `{}`; stop it \
         first, or give this one a runtime directory of its own (RUNTIME_DIRECTORY)",
        .pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
        .socket.display()
    )]
    AlreadyRunning {
        /// The service name.
        name: String,
        /// The socket.
        socket: PathBuf,
        /// The other instance's pid, when it could be learnt.
        pid: Option<u32>,
    },
    /// Something else occupies the socket's path.
    #[error("`{}` is in use by something that is not this daemon ({detail}); remove it and start again", .socket.display())]
    InUse {
        /// The socket.
        socket: PathBuf,
        /// What was found there.
        detail: String,
    },
    /// The runtime directory cannot be used.
    #[error(
        "cannot use the runtime directory `{}`: {source}; set RUNTIME_DIRECTORY to a directory this user owns",
        .dir.display()
    )]
    RuntimeDir {
        /// The directory.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The socket cannot be created.
    #[error("cannot create the control socket `{}`: {source}", .socket.display())]
    Socket {
        /// The socket.
        socket: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl StartError {
    /// The exit status the daemon ends with when its control channel cannot start.
    pub fn exit(&self) -> Exit {
        match self {
            StartError::AlreadyRunning { .. } | StartError::InUse { .. } => Exit::Unavailable,
            StartError::RuntimeDir { .. } | StartError::Socket { .. } => Exit::OsError,
        }
    }
}

/// The running control channel. Dropping it stops accepting connections and removes the
/// socket if it is still the one bound here; the instance lock goes with it.
#[derive(Debug)]
pub(crate) struct Guard {
    socket: PathBuf,
    identity: (u64, u64),
    accept: AbortHandle,
    _lock: InstanceLock,
}

impl Guard {
    /// The socket's path.
    #[cfg(test)]
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.accept.abort();
        if let Ok(meta) = std::fs::symlink_metadata(&self.socket)
            && (meta.dev(), meta.ino()) == self.identity
        {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

/// Starts the running daemon's control channel in its runtime directory on `runtime`, before
/// `init`: a second instance is refused before it does anything. The shutdown timeout `stop`
/// reports is read from the configuration in effect when asked.
pub(crate) fn open<C: Send + Sync + 'static>(
    runtime: &tokio::runtime::Runtime,
    live: &Arc<Live>,
    config: &watch::Receiver<Generation<C>>,
) -> Result<Guard, StartError> {
    let dir = crate::platform::Host::from_process().runtime_dir(live.name());
    let config = config.clone();
    let shutdown_timeout: ShutdownTimeout = Box::new(move || config.borrow().settings.shutdown_timeout);
    runtime.block_on(start(&dir, Arc::clone(live), Limits::default(), shutdown_timeout))
}

/// Starts the control channel of `live` in the runtime directory `dir` on the current tokio
/// runtime, or says why it cannot.
pub(crate) async fn start(
    dir: &Path,
    live: Arc<Live>,
    limits: Limits,
    shutdown_timeout: ShutdownTimeout,
) -> Result<Guard, StartError> {
    let socket = super::socket_in(dir);
    crate::rundir::prepare(dir).map_err(|source| StartError::RuntimeDir { dir: dir.to_path_buf(), source })?;
    let lock = match lock::acquire(&dir.join(super::LOCK_NAME)) {
        Ok(Locked::Acquired(lock)) => lock,
        Ok(Locked::HeldBy(pid)) => {
            let answered = client::call::<StatusResult>(&socket, Op::Status, PROBE_TIMEOUT).await.ok();
            let pid = answered.map(|status| status.pid).or(pid);
            return Err(StartError::AlreadyRunning { name: live.name().to_owned(), socket, pid });
        }
        Err(source) => return Err(StartError::RuntimeDir { dir: dir.to_path_buf(), source }),
    };
    // With the lock held no daemon of this kind can own what is at the path, but one built
    // without the lock might: ask before replacing it.
    if std::fs::symlink_metadata(&socket).is_ok() {
        match client::call::<StatusResult>(&socket, Op::Status, PROBE_TIMEOUT).await {
            Ok(status) => {
                return Err(StartError::AlreadyRunning { name: live.name().to_owned(), socket, pid: Some(status.pid) });
            }
            Err(ClientError::NotRunning { .. }) => {
                tracing::info!(socket = %socket.display(), "replacing a stale control socket (its daemon is gone)");
            }
            Err(other) => return Err(StartError::InUse { socket, detail: other.to_string() }),
        }
    }
    let listener =
        bind_private(dir, &socket).map_err(|source| StartError::Socket { socket: socket.clone(), source })?;
    let identity = std::fs::symlink_metadata(&socket)
        .map(|meta| (meta.dev(), meta.ino()))
        .map_err(|source| StartError::Socket { socket: socket.clone(), source })?;
    let shared = Arc::new(Shared {
        live,
        limits,
        uid: crate::platform::env::effective_uid().unwrap_or(0),
        shutdown_timeout,
        slots: std::sync::Mutex::new(Slots::new(limits.max_connections)),
        refusals: std::sync::Mutex::new(LogBudget::new(Instant::now())),
    });
    let accept = tokio::spawn(serve(listener, shared)).abort_handle();
    tracing::debug!(socket = %socket.display(), "control channel listening");
    Ok(Guard { socket, identity, accept, _lock: lock })
}

/// Binds a socket under a temporary name in `dir`, makes it 0600, and renames it to `socket`
/// (atomically replacing a stale one).
fn bind_private(dir: &Path, socket: &Path) -> io::Result<UnixListener> {
    let temporary = dir.join(format!(".{}.{}", super::SOCKET_NAME, std::process::id()));
    match std::fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let listener = std::os::unix::net::UnixListener::bind(&temporary)?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&temporary, socket));
    if let Err(err) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(err);
    }
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

/// What every connection shares.
struct Shared {
    live: Arc<Live>,
    limits: Limits,
    uid: u32,
    shutdown_timeout: ShutdownTimeout,
    slots: std::sync::Mutex<Slots>,
    refusals: std::sync::Mutex<LogBudget>,
}

impl Shared {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connection's slot, given back when the connection ends.
struct Slot {
    id: u64,
    shared: Arc<Shared>,
}

impl Slot {
    /// The connection waits for a request line (`true`), or has one to answer.
    fn waiting(&self, waiting: bool) {
        self.shared.slots().waiting(self.id, waiting);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.slots().release(self.id);
    }
}

/// How many refused peers are logged: a burst, then one line per interval, each saying how many
/// went unlogged since; so a local user who hammers the socket cannot flood the log. Refusals left
/// out with no refusal after them are logged as a count once the next line is earned
/// ([`LogBudget::schedule`], [`LogBudget::flush`]): every refusal is in the log, by a line or a count.
#[derive(Debug)]
pub(crate) struct LogBudget {
    tokens: u32,
    refilled: Instant,
    suppressed: u64,
    /// A count of the refusals left out is due (a timer runs for it).
    flush_due: bool,
}

/// What a due count of refusals left out comes to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Log this many, left out since the last line.
    Log(u64),
    /// None are left out any more (a refusal logged since counted them).
    Nothing,
    /// No line may be logged yet: try again then.
    Later(Instant),
}

impl LogBudget {
    /// Lines logged at once before the budget applies.
    const BURST: u32 = 10;
    /// One more line may be logged per this interval.
    const REFILL: Duration = Duration::from_secs(6);

    pub(crate) fn new(now: Instant) -> LogBudget {
        LogBudget { tokens: Self::BURST, refilled: now, suppressed: 0, flush_due: false }
    }

    /// After a refusal left out: when to log the count of those left out, unless a count is
    /// already due (then `None`; one timer at a time).
    pub(crate) fn schedule(&mut self) -> Option<Instant> {
        if self.suppressed == 0 || self.flush_due {
            return None;
        }
        self.flush_due = true;
        Some(self.refilled + Self::REFILL)
    }

    /// The count of refusals left out, now that it is due; a line of the budget.
    pub(crate) fn flush(&mut self, now: Instant) -> Flush {
        self.earn(now);
        if self.suppressed == 0 {
            self.flush_due = false;
            return Flush::Nothing;
        }
        if self.tokens == 0 {
            return Flush::Later(self.refilled + Self::REFILL);
        }
        self.tokens -= 1;
        self.flush_due = false;
        Flush::Log(std::mem::take(&mut self.suppressed))
    }

    fn earn(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.refilled).as_secs() / Self::REFILL.as_secs();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(Self::BURST);
            self.refilled += Self::REFILL.saturating_mul(earned);
        }
    }

    /// Whether to log one more refusal now; when so, how many went unlogged before it.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        self.earn(now);
        if self.tokens == 0 {
            self.suppressed += 1;
            return None;
        }
        self.tokens -= 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Who is on the other end.
#[derive(Debug, Clone, Copy)]
struct Peer {
    uid: u32,
    pid: Option<i32>,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "uid {}, pid {pid}", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// The accept loop. It owns no timer: idle, it sleeps in `accept`.
async fn serve(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if admit(stream, &shared) == Admitted::InPlaceOfAnother {
                    // The connection that gave its slot up ends (and closes) before the next
                    // accept: under a flood of new connections, open sockets stay near the cap.
                    tokio::task::yield_now().await;
                }
            }
            Err(err) => {
                tracing::warn!(%err, "control channel: accept failed; trying again shortly");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// How a new connection was dealt with.
#[derive(Debug, PartialEq, Eq)]
enum Admitted {
    /// Served, in a free slot.
    Yes,
    /// Served, in the slot of a connection that was waiting for a request (told to end).
    InPlaceOfAnother,
    /// Refused (or dropped).
    No,
}

/// Checks the peer and takes a connection slot, or refuses at once without waiting for anyone.
fn admit(stream: UnixStream, shared: &Arc<Shared>) -> Admitted {
    let peer = match stream.peer_cred() {
        Ok(cred) => Peer { uid: cred.uid(), pid: cred.pid() },
        Err(err) => {
            tracing::warn!(%err, "control channel: cannot read a peer's credentials; connection dropped");
            return Admitted::No;
        }
    };
    if !allowed(peer.uid, shared.uid) {
        let (logged, flush_at) = {
            let mut budget = shared.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let logged = budget.admit(Instant::now());
            (logged, budget.schedule())
        };
        if let Some(at) = flush_at {
            tokio::spawn(log_left_out(Arc::clone(shared), at));
        }
        if let Some(suppressed) = logged {
            let also = if suppressed > 0 {
                format!(" ({suppressed} more refused and not logged before it)")
            } else {
                String::new()
            };
            tracing::warn!(
                uid = peer.uid,
                pid = peer.pid,
                "control channel: refused a connection from {peer}: only uid {} (the daemon's user) and root may use it{also}",
                shared.uid
            );
        }
        let message =
            format!("uid {} may not use this daemon's control socket; only uid {} and root may", peer.uid, shared.uid);
        refuse(stream, ErrorReply::new(ErrorCode::PermissionDenied, message));
        return Admitted::No;
    }
    let granted = shared.slots().take();
    let Some(Granted { id, evicted, in_place_of_another }) = granted else {
        let message = format!(
            "the daemon is answering {} control requests, its limit of connections; try again shortly",
            shared.limits.max_connections
        );
        refuse(stream, ErrorReply::new(ErrorCode::Busy, message));
        return Admitted::No;
    };
    let slot = Slot { id, shared: Arc::clone(shared) };
    tokio::spawn(connection(stream, peer, slot, evicted));
    if in_place_of_another { Admitted::InPlaceOfAnother } else { Admitted::Yes }
}

/// Logs, once it may, how many refusals were left out of the log with none logged after them.
async fn log_left_out(shared: Arc<Shared>, mut at: Instant) {
    loop {
        tokio::time::sleep_until(at.into()).await;
        let flush = shared.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner).flush(Instant::now());
        match flush {
            Flush::Log(left_out) => {
                tracing::warn!(
                    "control channel: {left_out} more refused connections (not uid {} nor root) were not logged",
                    shared.uid
                );
                return;
            }
            Flush::Nothing => return,
            Flush::Later(next) => at = next,
        }
    }
}

/// Serves one connection already accepted on `stream` as the accept loop would, its peer taken
/// for the daemon's own user: the fuzzing harness's way in, without a socket file.
#[cfg(feature = "fuzzing")]
pub(crate) async fn serve_connection(
    stream: UnixStream,
    live: Arc<Live>,
    limits: Limits,
    shutdown_timeout: ShutdownTimeout,
) {
    let shared = Arc::new(Shared {
        live,
        limits,
        uid: 0,
        shutdown_timeout,
        slots: std::sync::Mutex::new(Slots::new(1)),
        refusals: std::sync::Mutex::new(LogBudget::new(Instant::now())),
    });
    let Some(Granted { id, evicted, .. }) = shared.slots().take() else { return };
    let slot = Slot { id, shared: Arc::clone(&shared) };
    connection(stream, Peer { uid: 0, pid: None }, slot, evicted).await;
}

/// Whether a peer running as `peer_uid` may use the control socket of a daemon running as
/// `daemon_uid`: its own user and root may.
pub(crate) fn allowed(peer_uid: u32, daemon_uid: u32) -> bool {
    peer_uid == daemon_uid || peer_uid == 0
}

/// Writes one error reply without waiting (a fresh socket's buffer holds it), then closes.
fn refuse(stream: UnixStream, error: ErrorReply) {
    let line = protocol::encode(&Response::<()>::failure(error));
    if let Ok(stream) = stream.into_std() {
        let _ = (&stream).write(&line);
    }
}

async fn connection(mut stream: UnixStream, peer: Peer, slot: Slot, evicted: Arc<tokio::sync::Notify>) {
    let shared = Arc::clone(&slot.shared);
    let limits = shared.limits;
    let mut pending = Vec::new();
    loop {
        slot.waiting(true);
        let read = tokio::time::timeout(limits.read_deadline, read_line(&mut stream, &mut pending, limits.max_request));
        let read = tokio::select! {
            read = read => read,
            () = evicted.notified() => {
                let message = format!(
                    "closed to make room for a new connection: the daemon serves {} control connections at once, and \
                     this one had waited longest for a request; send each request as soon as the connection is open",
                    limits.max_connections
                );
                refuse(stream, ErrorReply::new(ErrorCode::Busy, message));
                return;
            }
        };
        slot.waiting(false);
        let (reply, then) = match read {
            Ok(Ok(Line::Complete(line))) => {
                let shutdown_timeout = &*shared.shutdown_timeout;
                answer(&line, &peer, &shared.live, limits.reload_wait, shutdown_timeout).await
            }
            Ok(Ok(Line::End)) | Ok(Err(_)) => return,
            Ok(Ok(Line::TooLong)) => {
                let message = format!(
                    "the request is longer than {} bytes; a request is one short JSON line such as {}",
                    limits.max_request, r#"{"v":1,"op":"status"}"#
                );
                (failure(ErrorReply::new(ErrorCode::TooLarge, message)), Then::Close)
            }
            Err(_elapsed) => {
                let what = if pending.is_empty() { "no request arrived" } else { "the request line was not finished" };
                let message = format!(
                    "{what} within {}; end each request with a newline",
                    humantime::format_duration(limits.read_deadline)
                );
                (failure(ErrorReply::new(ErrorCode::Timeout, message)), Then::Close)
            }
        };
        let written = tokio::time::timeout(limits.write_deadline, stream.write_all(&reply)).await;
        if let Then::StopAndHold = then {
            // Asked for, so done even when the asker is gone. One line says so (written before
            // the shutdown begins: once it has, the process may end before another is written).
            if !shared.live.request_stop(&format!("the control channel ({peer})")) {
                tracing::debug!("stop requested through the control channel ({peer}) while already stopping");
            }
            let mut sink = [0u8; 256];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            return;
        }
        if !matches!(written, Ok(Ok(()))) || matches!(then, Then::Close) {
            return;
        }
    }
}

/// One request line read, or why there is none.
enum Line {
    /// A complete line, without its newline (or what came before end-of-file).
    Complete(Vec<u8>),
    /// The peer closed the connection with nothing pending.
    End,
    /// The line is longer than the limit.
    TooLong,
}

/// Reads up to the next newline, keeping whatever follows it in `pending` for the next call.
async fn read_line(stream: &mut UnixStream, pending: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    let mut scanned = 0;
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = pending[scanned..].iter().position(|&b| b == b'\n').map(|at| at + scanned) {
            if end > max {
                return Ok(Line::TooLong);
            }
            let mut line: Vec<u8> = pending.drain(..=end).collect();
            line.pop();
            return Ok(Line::Complete(line));
        }
        if pending.len() > max {
            return Ok(Line::TooLong);
        }
        scanned = pending.len();
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(if pending.is_empty() { Line::End } else { Line::Complete(std::mem::take(pending)) });
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}
