//! What the guest's init does for the host while the daemon runs, on threads of its own started
//! after the daemon's `fork` (the main thread stays in `sigwait`; every thread inherits its
//! mask, with every signal blocked):
//!
//! - the report ([`Relay`]): one vsock stream to the host (CID 2, [`REPORT_PORT`]) carrying
//!   `HELLO`, then each sd_notify datagram the daemon sends to [`NOTIFY_SOCKET`], then, when the
//!   daemon has ended, its exit status (see `platform::pepita::report`). Init's main thread asks
//!   for the end with [`Relay::finish`] and waits for it a bounded time before the power-off;
//! - the control channel ([`serve_control`]): a vsock listener on [`CONTROL_PORT`], each
//!   connection passed through, byte for byte in both directions, to the daemon's control
//!   socket, at most [`MAX_CONTROL_CONNECTIONS`] at once. The host's requests are read line by
//!   line on the way ([`Requests`]): before a `reload` line goes on, init fetches the host's
//!   configuration file into the guest (`super::fetch`), so the daemon reloads what the host
//!   has. When that fails the line is not passed on: the daemon answers what came before it,
//!   then the host gets a refusal (`reload-rejected` when the host cannot hand its file over,
//!   `unavailable` when it cannot be asked) and the connection ends.
//!
//! Without vsock (no device, no modules, no host listening) the daemon runs the same: init says
//! so in one line on the console, where the exit status is reported in any case, and the
//! datagrams are read and dropped so that no send of the daemon's waits on a full queue.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use super::fetch::{self, FetchFailure};
use super::guest::say;
use super::vsock::{self, HOST_CID};
use crate::control::protocol::{self, ErrorCode, ErrorReply, Response};
use crate::platform::pepita::{CONTROL_PORT, NOTIFY_SOCKET, REPORT_PORT, report};

/// Control connections passed through at once; more are refused with `busy`.
pub(super) const MAX_CONTROL_CONNECTIONS: usize = 8;

/// How long the main thread waits for the report to end (its last datagrams, `EXIT`, the host's
/// acknowledgement) before it powers the VM off anyway.
const FINISH_WAIT: Duration = Duration::from_secs(5);

/// How long the report waits for the host's acknowledgement of `EXIT`.
const ACK_WAIT: Duration = Duration::from_secs(2);

/// Attempts to reach the host's report listener, [`RETRY_PAUSE`] apart, while it refuses.
const CONNECT_ATTEMPTS: u32 = 10;
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The largest datagram relayed whole (sd_notify messages are a few hundred bytes).
const MAX_DATAGRAM: usize = 8192;

/// Binds [`NOTIFY_SOCKET`] (before the daemon starts, so its first datagram finds it).
pub(super) fn bind_notify() -> io::Result<UnixDatagram> {
    let path = Path::new(NOTIFY_SOCKET);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    UnixDatagram::bind(path)
}

/// The running report: how the main thread ends it.
pub(super) struct Relay {
    /// One byte, the daemon's exit status, ends the report.
    wake: io::PipeWriter,
    /// Sent once the report has ended.
    done: Mutex<Receiver<()>>,
}

impl Relay {
    /// Starts relaying the datagrams that reach `notify` to the host, for the daemon `name`.
    pub(super) fn start(name: &'static str, notify: UnixDatagram) -> io::Result<Relay> {
        let (wake_rx, wake) = io::pipe()?;
        let (done_tx, done) = mpsc::channel();
        thread::Builder::new().name("report".into()).spawn(move || relay(name, &notify, wake_rx, &done_tx))?;
        Ok(Relay { wake, done: Mutex::new(done) })
    }

    /// Reports the daemon's exit status `code` after its last datagrams, and waits (at most
    /// [`FINISH_WAIT`]) until the host has it.
    pub(super) fn finish(&self, code: u8) {
        let _ = (&self.wake).write_all(&[code]);
        let done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        if done.recv_timeout(FINISH_WAIT).is_err() {
            say(&format!("vsock: the report to the host did not end within {}s; powering off", FINISH_WAIT.as_secs()));
        }
    }
}

/// Reports `code` for a daemon that never ran (init failed before it): `HELLO`, `EXIT`.
pub(super) fn report_alone(name: &str, code: u8) {
    if let Some(mut host) = Host::connect(name) {
        host.exit(code);
    }
}

/// The report thread: relays datagrams until woken with the exit status.
fn relay(name: &str, notify: &UnixDatagram, wake: io::PipeReader, done: &Sender<()>) {
    let mut host = Host::connect(name);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let ready = match vsock::poll(&[notify.as_fd(), wake.as_fd()], None) {
            Ok(ready) => ready,
            Err(err) => {
                say(&format!("vsock: the report stops: cannot wait for datagrams: {err}"));
                return;
            }
        };
        if ready.first() == Some(&true) {
            forward(notify.as_fd(), &mut buf, &mut host);
        }
        if ready.get(1) == Some(&true) {
            let mut code = [crate::exit::Exit::OsError.code()];
            let _ = (&wake).read_exact(&mut code);
            // The daemon has ended: what it sent is all queued already, and goes before `EXIT`.
            forward(notify.as_fd(), &mut buf, &mut host);
            if let Some(host) = &mut host {
                host.exit(code[0]);
            }
            let _ = done.send(());
            return;
        }
    }
}

/// Relays every datagram waiting on `notify` (or drops them, without a host).
fn forward(notify: BorrowedFd<'_>, buf: &mut [u8], host: &mut Option<Host>) {
    while let Ok(n) = vsock::recv(notify, buf, false) {
        if let Some(link) = host
            && let Err(err) = link.send(&report::notify(&buf[..n]))
        {
            say(&format!("vsock: lost the report's connection to the host ({err}); the console goes on"));
            *host = None;
        }
    }
}

/// The report's connection to the host.
struct Host(OwnedFd);

impl Host {
    /// Connects to the host's report listener and says `HELLO`; `None` (said in one line on the
    /// console) when the host cannot be reached.
    fn connect(name: &str) -> Option<Host> {
        let mut attempt = 1;
        let connected = loop {
            match vsock::connect(HOST_CID, REPORT_PORT) {
                Err(err)
                    if attempt < CONNECT_ATTEMPTS
                        && matches!(err.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused) =>
                {
                    attempt += 1;
                    thread::sleep(RETRY_PAUSE);
                }
                other => break other,
            }
        };
        let host = connected.map(Host).and_then(|host| host.send(&report::hello(name)).map(|()| host));
        match host {
            Ok(host) => Some(host),
            Err(err) => {
                say(&format!(
                    "vsock: no report to the host (CID {HOST_CID}, port {REPORT_PORT}: {err}); readiness and the exit status go to the console only"
                ));
                None
            }
        }
    }

    fn send(&self, line: &[u8]) -> io::Result<()> {
        vsock::send_all(self.0.as_fd(), line)
    }

    /// `EXIT code`, the end of the stream, then the host's acknowledgement (or its end), for
    /// [`ACK_WAIT`] at most.
    fn exit(&mut self, code: u8) {
        if let Err(err) = self.send(&report::exit(code)) {
            say(&format!("vsock: the exit status did not reach the host: {err}"));
            return;
        }
        vsock::shutdown_write(self.0.as_fd());
        let acknowledged = vsock::poll(&[self.0.as_fd()], Some(ACK_WAIT)).is_ok_and(|ready| ready == [true]);
        if acknowledged {
            let mut ack = [0u8; 16];
            let _ = vsock::recv(self.0.as_fd(), &mut ack, false);
        } else {
            say(&format!("vsock: the host did not acknowledge the exit status within {}s", ACK_WAIT.as_secs()));
        }
    }
}

/// Serves the daemon's control channel on vsock port [`CONTROL_PORT`], passing each connection
/// through to the control socket at `socket`, with the daemon's configuration file `config`
/// fetched from the host before each reload.
pub(super) fn serve_control(socket: PathBuf, config: Option<PathBuf>) {
    let spawned = thread::Builder::new().name("control".into()).spawn(move || {
        let listener = match vsock::listen(CONTROL_PORT, MAX_CONTROL_CONNECTIONS as i32) {
            Ok(listener) => listener,
            Err(err) => {
                say(&format!("vsock: the control channel is not served on port {CONTROL_PORT}: {err}"));
                return;
            }
        };
        let (socket, config) = (Arc::new(socket), Arc::new(config));
        let active = Arc::new(AtomicUsize::new(0));
        loop {
            let guest = match vsock::accept(listener.as_fd()) {
                Ok(guest) => guest,
                Err(_) => {
                    // Out of descriptors or memory: the next connection may fare better.
                    thread::sleep(RETRY_PAUSE);
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONTROL_CONNECTIONS {
                active.fetch_sub(1, Ordering::AcqRel);
                refuse(guest.as_fd(), ErrorCode::Busy, format!(
                    "the guest already passes {MAX_CONTROL_CONNECTIONS} control connections through; try again shortly"
                ));
                continue;
            }
            let (socket, config, done) = (Arc::clone(&socket), Arc::clone(&config), Arc::clone(&active));
            let served = thread::Builder::new().name("control-conn".into()).spawn(move || {
                pass_through(&guest, &socket, &|| fetch_for_reload(config.as_deref()));
                done.fetch_sub(1, Ordering::AcqRel);
            });
            if served.is_err() {
                active.fetch_sub(1, Ordering::AcqRel);
            }
        }
    });
    if let Err(err) = spawned {
        say(&format!("vsock: the control channel is not served: {err}"));
    }
}

/// Before a reload: the host's configuration file into the guest's `config`; a refusal for the
/// host when that fails. Nothing to fetch without a file.
fn fetch_for_reload(config: Option<&Path>) -> Result<(), Refusal> {
    let Some(path) = config else { return Ok(()) };
    fetch::fetch(path).map(drop).map_err(|failure| {
        say(&format!("reload not passed on: {failure}"));
        match failure {
            FetchFailure::Host(why) => {
                Refusal(ErrorCode::ReloadRejected, format!("the reload did not reach the daemon: {why}"))
            }
            FetchFailure::Unreachable(_) => {
                Refusal(ErrorCode::Unavailable, format!("{failure}; the daemon did not reload, try again"))
            }
        }
    })
}

/// The error reply a connection ends with instead of passing a request on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal(ErrorCode, String);

/// One control connection from the host, passed through to the daemon's control socket, with
/// `before_reload` run before each `reload` line goes on.
fn pass_through(guest: &OwnedFd, socket: &Path, before_reload: &dyn Fn() -> Result<(), Refusal>) {
    match UnixStream::connect(socket) {
        Ok(daemon) => splice(guest.as_fd(), daemon.as_fd(), before_reload),
        Err(err) => refuse(
            guest.as_fd(),
            ErrorCode::Unavailable,
            format!(
                "the daemon's control socket {} does not answer ({err}): the daemon is starting or has stopped",
                socket.display()
            ),
        ),
    }
}

/// Answers a connection with a control-protocol error, as the daemon would, and ends it.
fn refuse(fd: BorrowedFd<'_>, code: ErrorCode, message: String) {
    let reply: Response<()> = Response::failure(ErrorReply::new(code, message));
    let _ = vsock::send_all(fd, &protocol::encode(&reply));
    vsock::shutdown_write(fd);
}

/// Copies bytes both ways between the host's connection `host` and the daemon's `daemon`. The
/// end of the host's stream is passed on to the daemon, which still answers; the end of the
/// daemon's ends the connection (the control server has closed it: after a reply that closes,
/// an idle client's deadline, or, for `stop`, when the daemon exits, which the host then sees).
/// The host's bytes go on a request line at a time; `before_reload` runs before a `reload`, and
/// when it refuses, nothing more goes to the daemon and the refusal is the connection's last
/// reply, after the daemon's answers to what came before.
fn splice(host: BorrowedFd<'_>, daemon: BorrowedFd<'_>, before_reload: &dyn Fn() -> Result<(), Refusal>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut host_open = true;
    let mut requests = Requests::default();
    let mut refused: Option<Refusal> = None;
    loop {
        let fds: &[BorrowedFd<'_>] = if host_open { &[daemon, host] } else { &[daemon] };
        let Ok(ready) = vsock::poll(fds, None) else { return };
        if ready.first() == Some(&true) {
            match vsock::recv(daemon, &mut buf, false) {
                Ok(0) => {
                    if let Some(Refusal(code, message)) = refused {
                        refuse(host, code, message);
                    }
                    vsock::shutdown_write(host);
                    return;
                }
                Ok(n) if vsock::send_all(host, &buf[..n]).is_ok() => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Ok(_) | Err(_) => return,
            }
        }
        if ready.get(1) == Some(&true) {
            let pieces = match vsock::recv(host, &mut buf, false) {
                Ok(0) => {
                    host_open = false;
                    requests.finish()
                }
                Ok(n) => requests.feed(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => Vec::new(),
                Err(_) => return,
            };
            for piece in pieces {
                let (bytes, reload) = match piece {
                    Piece::Pass(bytes) => (bytes, false),
                    Piece::Reload(bytes) => (bytes, true),
                };
                if reload && let Err(refusal) = before_reload() {
                    refused = Some(refusal);
                    host_open = false;
                    break;
                }
                if vsock::send_all(daemon, &bytes).is_err() {
                    return;
                }
            }
            if !host_open {
                vsock::shutdown_write(daemon);
            }
        }
    }
}

/// What the host sends, in the pieces it is passed on in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Bytes to pass on as they are: a request line other than `reload`, a line that is not a
    /// request (the daemon answers it), or part of a line too long to be one.
    Pass(Vec<u8>),
    /// A `reload` request line of this protocol version, newline included when it had one.
    Reload(Vec<u8>),
}

/// The host's side of a control connection, cut into request lines as the control protocol
/// frames them: a line ends with `\n`, what comes before the end of the stream counts as a last
/// line, and a line longer than [`protocol::MAX_REQUEST_BYTES`] is passed on as it comes (the
/// daemon refuses it and closes).
#[derive(Debug, Default)]
struct Requests {
    /// The line so far.
    line: Vec<u8>,
    /// Inside a line too long to be a request.
    overlong: bool,
}

impl Requests {
    /// The pieces `bytes` completes, in order.
    fn feed(&mut self, mut bytes: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        while !bytes.is_empty() {
            let end = bytes.iter().position(|b| *b == b'\n').map_or(bytes.len(), |at| at + 1);
            let (segment, rest) = bytes.split_at(end);
            bytes = rest;
            let complete = segment.last() == Some(&b'\n');
            if self.overlong {
                pieces.push(Piece::Pass(segment.to_vec()));
                self.overlong = !complete;
                continue;
            }
            self.line.extend_from_slice(segment);
            if complete {
                pieces.push(classify(std::mem::take(&mut self.line)));
            } else if self.line.len() > protocol::MAX_REQUEST_BYTES {
                pieces.push(Piece::Pass(std::mem::take(&mut self.line)));
                self.overlong = true;
            }
        }
        pieces
    }

    /// The end of the host's stream: the line it cut short, which counts as a last request.
    fn finish(&mut self) -> Vec<Piece> {
        if self.line.is_empty() { Vec::new() } else { vec![classify(std::mem::take(&mut self.line))] }
    }
}

/// A `reload` line of this protocol version, or bytes to pass on.
fn classify(line: Vec<u8>) -> Piece {
    let text = line.strip_suffix(b"\n").unwrap_or(&line);
    match serde_json::from_slice::<protocol::Request>(text) {
        Ok(request) if request.op == protocol::Op::Reload && request.v == protocol::VERSION => Piece::Reload(line),
        _ => Piece::Pass(line),
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::time::Instant;

    use super::*;
    use crate::control::client::{self, ClientError};
    use crate::platform::pepita::report::{Notification, Reader, Report};

    /// `splice` on a thread between the host's connection and the daemon's; returns the test's
    /// ends of both and the thread.
    fn spliced() -> (UnixStream, UnixStream, thread::JoinHandle<()>) {
        spliced_with(|| Ok(()))
    }

    /// `spliced`, with `before_reload` run before each reload line.
    fn spliced_with(
        before_reload: impl Fn() -> Result<(), Refusal> + Send + 'static,
    ) -> (UnixStream, UnixStream, thread::JoinHandle<()>) {
        let (host, host_proxy) = UnixStream::pair().unwrap();
        let (daemon_proxy, daemon) = UnixStream::pair().unwrap();
        let thread = thread::spawn(move || splice(host_proxy.as_fd(), daemon_proxy.as_fd(), &before_reload));
        for end in [&host, &daemon] {
            end.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        (host, daemon, thread)
    }

    fn line(stream: &UnixStream) -> String {
        let mut line = String::new();
        io::BufReader::new(stream).read_line(&mut line).unwrap();
        line
    }

    #[test]
    fn bytes_pass_both_ways_and_the_host_s_end_reaches_the_daemon_which_still_answers() {
        let (mut host, mut daemon, thread) = spliced();
        host.write_all(b"{\"v\":1,\"op\":\"status\"}\n").unwrap();
        assert_eq!(line(&daemon), "{\"v\":1,\"op\":\"status\"}\n");
        daemon.write_all(b"reply\n").unwrap();
        assert_eq!(line(&host), "reply\n");
        host.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        daemon.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        daemon.write_all(b"late\n").unwrap();
        drop(daemon);
        let mut tail = String::new();
        host.read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "late\n");
        thread.join().unwrap();
    }

    #[test]
    fn the_daemon_s_end_ends_the_connection_though_the_host_keeps_it_open() {
        let (mut host, daemon, thread) = spliced();
        drop(daemon);
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        thread.join().unwrap();
    }

    const RELOAD: &[u8] = b"{\"v\":1,\"op\":\"reload\"}\n";
    const STATUS: &[u8] = b"{\"v\":1,\"op\":\"status\"}\n";

    #[test]
    fn request_lines_are_cut_as_the_protocol_frames_them_and_reloads_told_apart() {
        let mut requests = Requests::default();
        // A reload cut across reads, a status, then a reload without a newline at the end.
        let mut pieces = requests.feed(&RELOAD[..7]);
        assert!(pieces.is_empty(), "{pieces:?}");
        pieces.extend(requests.feed(&[&RELOAD[7..], STATUS, b" {\"op\" : \"reload\", \"v\":1}"].concat()));
        pieces.extend(requests.finish());
        assert_eq!(
            pieces,
            [
                Piece::Reload(RELOAD.to_vec()),
                Piece::Pass(STATUS.to_vec()),
                Piece::Reload(b" {\"op\" : \"reload\", \"v\":1}".to_vec())
            ]
        );
        assert!(requests.finish().is_empty());
    }

    #[test]
    fn lines_that_are_not_reloads_of_this_version_pass_as_they_are() {
        for line in [
            &b"{\"v\":2,\"op\":\"reload\"}\n"[..],
            b"{\"v\":1,\"op\":\"reload\",\"x\":1}\n",
            b"reload\n",
            b"\n",
            b"{\"v\":1,\"op\":\"stop\"}\r\n",
        ] {
            assert_eq!(
                Requests::default().feed(line),
                [Piece::Pass(line.to_vec())],
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn a_line_too_long_to_be_a_request_passes_on_as_it_comes_and_the_next_line_is_read_again() {
        let mut requests = Requests::default();
        let long = vec![b'x'; protocol::MAX_REQUEST_BYTES + 1];
        let pieces = requests.feed(&long);
        assert_eq!(pieces, [Piece::Pass(long.clone())]);
        assert_eq!(requests.feed(b"yy"), [Piece::Pass(b"yy".to_vec())]);
        assert_eq!(
            requests.feed(&[b"z\n", RELOAD].concat()),
            [Piece::Pass(b"z\n".to_vec()), Piece::Reload(RELOAD.to_vec())]
        );
        // Exactly the limit, newline excluded, is still a request.
        let mut padded = vec![b' '; protocol::MAX_REQUEST_BYTES - (RELOAD.len() - 1)];
        padded.extend_from_slice(RELOAD);
        assert_eq!(Requests::default().feed(&padded), [Piece::Reload(padded.clone())]);
    }

    #[test]
    fn a_reload_goes_on_only_after_the_fetch_and_other_requests_fetch_nothing() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&fetched);
        let (mut host, daemon, thread) = spliced_with(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        host.write_all(STATUS).unwrap();
        assert_eq!(line(&daemon).as_bytes(), STATUS);
        assert_eq!(fetched.load(Ordering::SeqCst), 0);
        host.write_all(RELOAD).unwrap();
        assert_eq!(line(&daemon).as_bytes(), RELOAD);
        assert_eq!(fetched.load(Ordering::SeqCst), 1, "the fetch ran before the line reached the daemon");
        drop((host, daemon));
        thread.join().unwrap();
    }

    #[test]
    fn a_failed_fetch_keeps_the_reload_from_the_daemon_and_ends_with_the_refusal_after_earlier_replies() {
        let refusal = Refusal(ErrorCode::ReloadRejected, "cannot read the configuration file on the host".into());
        let (mut host, mut daemon, thread) = spliced_with(move || Err(refusal.clone()));
        host.write_all(&[STATUS, RELOAD, STATUS].concat()).unwrap();
        let mut got = Vec::new();
        daemon.read_to_end(&mut got).unwrap();
        assert_eq!(got, STATUS, "the daemon gets what came before the reload, then the end of the stream");
        daemon.write_all(b"status reply\n").unwrap();
        drop(daemon);
        let mut replies = String::new();
        host.read_to_string(&mut replies).unwrap();
        let (first, refused) = replies.split_once('\n').unwrap();
        assert_eq!(first, "status reply");
        let err = client::decode::<()>(Path::new("vsock"), refused.trim_end().as_bytes()).unwrap_err();
        assert!(
            matches!(&err, ClientError::Refused { error, .. } if error.code == ErrorCode::ReloadRejected
                && error.message.contains("cannot read the configuration file")),
            "{err}"
        );
        thread.join().unwrap();
    }

    #[test]
    fn a_refusal_is_a_control_protocol_error_the_client_reads() {
        let (mut host, guest) = UnixStream::pair().unwrap();
        refuse(guest.as_fd(), ErrorCode::Busy, "try again shortly".into());
        let mut reply = String::new();
        host.read_to_string(&mut reply).unwrap();
        let err = client::decode::<()>(Path::new("vsock"), reply.trim_end().as_bytes()).unwrap_err();
        assert!(matches!(&err, ClientError::Refused { error, .. } if error.code == ErrorCode::Busy), "{err}");
    }

    #[test]
    fn datagrams_go_to_the_host_in_order_then_the_exit_status_which_the_host_acknowledges() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (notify, daemon) = UnixDatagram::pair().unwrap();
        let host_side = thread::spawn(move || {
            let mut reader = Reader::new(theirs);
            let mut got = Vec::new();
            while let Some(report) = reader.next_report().unwrap() {
                let exit = matches!(report, Report::Exit(_));
                got.push(report);
                if exit {
                    reader.get_mut().write_all(report::ACK).unwrap();
                }
            }
            got
        });
        let mut host = Some(Host(OwnedFd::from(ours)));
        daemon.send(b"READY=1\nSTATUS=running").unwrap();
        daemon.send(b"STOPPING=1\nSTATUS=shutting down").unwrap();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        forward(notify.as_fd(), &mut buf, &mut host);
        let started = Instant::now();
        host.as_mut().unwrap().exit(143);
        assert!(started.elapsed() < ACK_WAIT, "the acknowledgement was not taken as the end");
        let notified = |text: &str| Report::Notify(Notification(text.into()));
        assert_eq!(
            host_side.join().unwrap(),
            [notified("READY=1\nSTATUS=running"), notified("STOPPING=1\nSTATUS=shutting down"), Report::Exit(143)]
        );
    }

    #[test]
    fn without_a_host_the_datagrams_are_read_and_dropped() {
        let (notify, daemon) = UnixDatagram::pair().unwrap();
        for n in 0..5 {
            daemon.send(format!("STATUS={n}").as_bytes()).unwrap();
        }
        let mut buf = vec![0u8; MAX_DATAGRAM];
        forward(notify.as_fd(), &mut buf, &mut None);
        let err = vsock::recv(notify.as_fd(), &mut buf, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
