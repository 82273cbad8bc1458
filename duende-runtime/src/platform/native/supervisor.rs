//! The supervisor: the process `start` leaves behind (`NAME __supervise`, in a session of its
//! own, started before any async runtime exists). It holds the pid file, runs the daemon as its
//! child in a process group of its own, listens to its sd_notify datagrams, writes its output to
//! the rotating log, restarts it by the [`policy`] rules, and answers `status`, `stop` and
//! `reload` on its socket.
//!
//! It never polls: one `poll(2)` waits on the signal pipe (SIGCHLD, SIGTERM, SIGINT, SIGHUP), the
//! notify socket, its own socket and connections, and the daemon's output pipes, with the next
//! timer (a restart delay, a stop deadline) as the timeout, or none. An idle supervisor does not
//! wake.
//!
//! The daemon gets `NOTIFY_SOCKET` (the supervisor's channel: the same protocol systemd speaks)
//! and `RUNTIME_DIRECTORY` (so its control socket sits beside the supervisor's), and on Linux a
//! parent-death signal: a supervisor killed with SIGKILL takes its daemon down with SIGTERM
//! instead of leaving an orphan nobody supervises.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::logfile::RotatingLog;
use super::pidfile::{PidFile, PidFileError};
use super::policy::{self, Decision, Ended, Restarts, Rules};
use super::protocol::{LastExit, Launch, NOTIFY_SOCKET, PID_FILE, Reply, Report, Request, SOCKET, State};
use crate::config::Settings;
use crate::exit::Exit;

pub use crate::platform::plan::MANAGER_STOP_MARGIN as STOP_MARGIN;

/// How many lines of the log a failed start shows.
const TAIL: usize = 20;

/// Everything the supervisor needs: what to launch, and the rules from the configuration.
#[derive(Debug, Clone)]
pub struct Spec {
    /// What to run, and where.
    pub launch: Launch,
    /// When to restart.
    pub rules: Rules,
    /// `platform.native.log_max_bytes`.
    pub log_max_bytes: u64,
    /// `platform.native.log_files`.
    pub log_files: u32,
    /// `shutdown_timeout` + [`STOP_MARGIN`].
    pub stop_timeout: Duration,
}

impl Spec {
    /// The spec for `launch` under the validated `settings`.
    pub fn new<A>(launch: Launch, settings: &Settings<A>) -> Spec {
        let native = &settings.platform.native;
        let (budget, window) = native.budget().unwrap_or((5, Duration::from_secs(60)));
        Spec {
            launch,
            rules: Rules {
                policy: settings.restart,
                initial: settings.backoff.initial,
                max: settings.backoff.max,
                multiplier: settings.backoff.multiplier,
                jitter: settings.backoff.jitter,
                budget,
                window,
                min_uptime: native.min_uptime,
            },
            log_max_bytes: native.log_max_bytes,
            log_files: native.log_files,
            stop_timeout: settings.shutdown_timeout.saturating_add(STOP_MARGIN),
        }
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The readiness channel back to `start`: one line, then nothing.
#[derive(Debug)]
struct Announce(Option<File>);

impl Announce {
    fn say(&mut self, line: &str) {
        if let Some(mut out) = self.0.take() {
            let _ = out.write_all(format!("{line}\n").as_bytes());
            let _ = out.flush();
        }
        silence_stdout();
    }

    fn pending(&self) -> bool {
        self.0.is_some()
    }
}

/// Points standard output at `/dev/null`: once `start` has its answer it stops reading, and a
/// write to a closed pipe must never hurt the supervisor.
fn silence_stdout() {
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        // SAFETY: dup2 onto descriptor 1 with a valid descriptor we own; nothing else holds a
        // pointer into the descriptor table.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}

/// Sets `fd` non-blocking.
fn nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with plain integer flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to `pid` (a negative pid: its process group).
fn send(pid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) };
}

/// One of the daemon's output pipes, with the part of a line not yet complete.
#[derive(Debug)]
struct Pipe {
    fd: OwnedFd,
    partial: Vec<u8>,
}

/// The running daemon.
#[derive(Debug)]
struct Daemon {
    child: Child,
    pid: u32,
    started: Instant,
    pipes: Vec<Pipe>,
}

/// A client connection: one request, then one reply.
#[derive(Debug)]
struct Conn {
    stream: UnixStream,
    buffer: Vec<u8>,
}

/// What woke the supervisor, from its signal handlers.
#[derive(Debug, Default)]
struct Flags {
    child: Arc<AtomicBool>,
    terminate: Arc<AtomicBool>,
    hangup: Arc<AtomicBool>,
}

/// The supervisor's state.
#[derive(Debug)]
struct Supervisor {
    spec: Spec,
    log: RotatingLog,
    announce: Announce,
    restarts: Restarts,
    rng: u64,
    daemon: Option<Daemon>,
    state: State,
    ready: bool,
    since_ms: Option<u64>,
    restart_count: u32,
    last_exit: Option<LastExit>,
    restart_at: Option<Instant>,
    kill_at: Option<Instant>,
    killed: bool,
    status_text: String,
    reason: Option<String>,
    stopping: bool,
    reloading: bool,
    reload_verdict: Option<bool>,
    stop_waiters: Vec<UnixStream>,
    reload_waiters: Vec<UnixStream>,
    conns: Vec<Conn>,
    done: bool,
    notify: UnixDatagram,
    listener: UnixListener,
    signals: UnixStream,
    flags: Flags,
}

/// Runs the supervisor for `spec` in this process until it is told to stop (or the policy lets
/// the daemon stay down), answering `start` through `announce` (its standard output).
fn run(spec: Spec, mut announce: Announce) -> Exit {
    let dir = spec.launch.runtime_dir.clone();
    if let Err(err) = crate::rundir::prepare(&dir) {
        announce.say(&format!("failed: cannot prepare the runtime directory {}: {err}", dir.display()));
        return Exit::OsError;
    }
    let _pid_file = match PidFile::acquire(&dir.join(PID_FILE)) {
        Ok(file) => file,
        Err(err @ PidFileError::Held { .. }) => {
            announce.say(&format!("failed: {err}"));
            return Exit::Unavailable;
        }
        Err(err) => {
            announce.say(&format!("failed: {err}"));
            return Exit::OsError;
        }
    };
    match Supervisor::new(spec, announce) {
        Ok(mut supervisor) => {
            supervisor.start_daemon();
            supervisor.serve();
            supervisor.finish();
            Exit::Success
        }
        Err((mut announce, err)) => {
            announce.say(&format!("failed: {err}"));
            let _ = std::fs::remove_file(dir.join(NOTIFY_SOCKET));
            let _ = std::fs::remove_file(dir.join(SOCKET));
            Exit::OsError
        }
    }
}

/// A socket path with a stale socket (from a supervisor that was killed) removed first.
fn fresh(path: &Path) -> io::Result<&Path> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(path),
    }
}

impl Supervisor {
    fn new(spec: Spec, announce: Announce) -> Result<Supervisor, (Announce, String)> {
        let dir = spec.launch.runtime_dir.clone();
        let opened = (|| -> Result<_, String> {
            let log = RotatingLog::open(&spec.launch.log, spec.log_max_bytes, spec.log_files)
                .map_err(|e| format!("cannot open the log {}: {e}", spec.launch.log.display()))?;
            let notify_path = dir.join(NOTIFY_SOCKET);
            let notify = fresh(&notify_path)
                .and_then(UnixDatagram::bind)
                .map_err(|e| format!("cannot listen on {}: {e}", notify_path.display()))?;
            notify.set_nonblocking(true).map_err(|e| e.to_string())?;
            let socket_path = dir.join(SOCKET);
            let listener = fresh(&socket_path)
                .and_then(UnixListener::bind)
                .map_err(|e| format!("cannot listen on {}: {e}", socket_path.display()))?;
            std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot restrict {}: {e}", socket_path.display()))?;
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            let (signals, wake) = UnixStream::pair().map_err(|e| e.to_string())?;
            signals.set_nonblocking(true).map_err(|e| e.to_string())?;
            wake.set_nonblocking(true).map_err(|e| e.to_string())?;
            let flags = Flags::default();
            let register = |signal, flag: &Arc<AtomicBool>| -> io::Result<()> {
                signal_hook::flag::register(signal, Arc::clone(flag))?;
                signal_hook::low_level::pipe::register(signal, wake.try_clone()?)?;
                Ok(())
            };
            register(libc::SIGCHLD, &flags.child)
                .and_then(|()| register(libc::SIGTERM, &flags.terminate))
                .and_then(|()| register(libc::SIGINT, &flags.terminate))
                .and_then(|()| register(libc::SIGHUP, &flags.hangup))
                .map_err(|e| format!("cannot install signal handlers: {e}"))?;
            Ok((log, notify, listener, signals, flags))
        })();
        let (log, notify, listener, signals, flags) = match opened {
            Ok(parts) => parts,
            Err(err) => return Err((announce, err)),
        };
        let seed = now_ms() ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15;
        Ok(Supervisor {
            spec,
            log,
            announce,
            restarts: Restarts::new(),
            rng: seed | 1,
            daemon: None,
            state: State::Starting,
            ready: false,
            since_ms: None,
            restart_count: 0,
            last_exit: None,
            restart_at: None,
            kill_at: None,
            killed: false,
            status_text: String::new(),
            reason: None,
            stopping: false,
            reloading: false,
            reload_verdict: None,
            stop_waiters: Vec::new(),
            reload_waiters: Vec::new(),
            conns: Vec::new(),
            done: false,
            notify,
            listener,
            signals,
            flags,
        })
    }

    /// A uniform draw from `[0, 1)` (xorshift64; jitter needs spread, not secrecy).
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn say(&mut self, line: &str) {
        let _ = self.log.line(format!("supervisor: {line}").as_bytes());
    }

    fn start_daemon(&mut self) {
        let launch = &self.spec.launch;
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
            .env("NOTIFY_SOCKET", launch.runtime_dir.join(NOTIFY_SOCKET))
            .env("RUNTIME_DIRECTORY", &launch.runtime_dir)
            .current_dir(launch.working_dir.as_deref().unwrap_or(Path::new("/")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        #[cfg(target_os = "linux")]
        {
            let parent = std::process::id();
            // SAFETY: between fork and exec only async-signal-safe calls are made (prctl, getppid).
            unsafe {
                command.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // The supervisor may have died before the signal was armed.
                    if u32::try_from(libc::getppid()).ok() != Some(parent) {
                        return Err(io::Error::other("the supervisor is gone"));
                    }
                    Ok(())
                });
            }
        }
        match command.spawn() {
            Ok(mut child) => {
                let pid = child.id();
                let pipes: Vec<Pipe> = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)]
                    .into_iter()
                    .flatten()
                    .filter(|fd| nonblocking(fd.as_raw_fd()).is_ok())
                    .map(|fd| Pipe { fd, partial: Vec::new() })
                    .collect();
                self.daemon = Some(Daemon { child, pid, started: Instant::now(), pipes });
                self.state = State::Starting;
                self.since_ms = Some(now_ms());
                self.ready = false;
                self.reloading = false;
                self.say(&format!("started pid {pid}: {}", self.spec.launch.program.display()));
            }
            Err(err) => {
                let reason = format!("cannot start {}: {err}", self.spec.launch.program.display());
                self.say(&format!("giving up: {reason}"));
                self.give_up(reason);
            }
        }
    }

    fn give_up(&mut self, reason: String) {
        self.state = State::Failed;
        if self.announce.pending() {
            let tail = self.tail();
            self.announce.say(&format!("failed: {reason}; last log lines:\n{tail}"));
        }
        self.reason = Some(reason);
    }

    fn tail(&self) -> String {
        super::logfile::tail(&self.spec.launch.log, Some(TAIL)).map(|lines| lines.join("\n")).unwrap_or_default()
    }

    /// The loop: wait for anything, handle it, until done.
    fn serve(&mut self) {
        while !self.done {
            let mut fds = vec![
                pollfd(self.signals.as_raw_fd()),
                pollfd(self.notify.as_raw_fd()),
                pollfd(self.listener.as_raw_fd()),
            ];
            fds.extend(self.conns.iter().map(|conn| pollfd(conn.stream.as_raw_fd())));
            let pipes: Vec<RawFd> = self.daemon.iter().flat_map(|d| d.pipes.iter().map(|p| p.fd.as_raw_fd())).collect();
            fds.extend(pipes.iter().map(|fd| pollfd(*fd)));
            let timeout = self.timeout();
            // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd structures.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    self.say(&format!("poll failed: {err}; stopping"));
                    self.begin_stop();
                }
                continue;
            }
            let ready = |i: usize| fds.get(i).is_some_and(|fd| fd.revents != 0);
            if ready(0) {
                let mut sink = [0u8; 64];
                while matches!(self.signals.read(&mut sink), Ok(n) if n > 0) {}
            }
            self.on_signals();
            if ready(1) {
                self.on_notify();
            }
            let conns = self.conns.len();
            let readable: Vec<bool> = (0..conns).map(|i| ready(3 + i)).collect();
            let pipe_ready: Vec<RawFd> =
                pipes.iter().enumerate().filter(|(i, _)| ready(3 + conns + i)).map(|(_, fd)| *fd).collect();
            self.on_pipes(&pipe_ready);
            self.on_conns(&readable);
            if ready(2) {
                self.on_accept();
            }
            self.on_timers();
        }
    }

    /// Milliseconds to the next timer, or -1 (wait forever).
    fn timeout(&self) -> i32 {
        let next = [self.restart_at, self.kill_at].into_iter().flatten().min();
        match next {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Round up: waking a millisecond early would only mean waking twice.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        }
    }

    fn on_signals(&mut self) {
        if self.flags.terminate.swap(false, Ordering::AcqRel) {
            self.say("told to stop by a signal");
            self.begin_stop();
        }
        if self.flags.hangup.swap(false, Ordering::AcqRel) {
            self.forward_reload();
        }
        if self.flags.child.swap(false, Ordering::AcqRel) {
            self.reap();
        }
    }

    fn reap(&mut self) {
        let Some(daemon) = self.daemon.as_mut() else { return };
        let status = match daemon.child.try_wait() {
            Ok(Some(status)) => status,
            _ => return,
        };
        let ended = match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(signal)) => Ended::Signaled(signal),
            (None, None) => Ended::Exited(255),
        };
        let Some(mut daemon) = self.daemon.take() else { return };
        let pipes: Vec<RawFd> = daemon.pipes.iter().map(|p| p.fd.as_raw_fd()).collect();
        self.drain(&mut daemon, &pipes, true);
        // Whatever the daemon left in its process group goes with it.
        send(-i32::try_from(daemon.pid).unwrap_or(i32::MAX), libc::SIGKILL);
        self.on_exit(&daemon, ended);
    }

    fn on_exit(&mut self, daemon: &Daemon, ended: Ended) {
        let ran = daemon.started.elapsed();
        let pid = daemon.pid;
        self.last_exit = Some(LastExit { status: ended.status(), text: policy::describe(ended), at_unix_ms: now_ms() });
        self.ready = false;
        self.since_ms = None;
        if self.stopping {
            self.kill_at = None;
            let how = if self.killed { " (killed after the stop timeout)" } else { "" };
            self.say(&format!("pid {pid} stopped: {}{how}", policy::describe(ended)));
            let reply = Reply::Stopped { pid: Some(pid), ended: Some(policy::describe(ended)), killed: self.killed };
            for waiter in std::mem::take(&mut self.stop_waiters) {
                answer(waiter, &reply);
            }
            self.done = true;
            return;
        }
        for waiter in std::mem::take(&mut self.reload_waiters) {
            answer(
                waiter,
                &Reply::Error { message: format!("the daemon ended during the reload ({})", policy::describe(ended)) },
            );
        }
        let random = self.random();
        let decision = self.restarts.decide(&self.spec.rules, ended, ran, Instant::now(), random);
        let ended_text = format!("pid {pid} ended ({}) after {:.1}s", policy::describe(ended), ran.as_secs_f64());
        match decision {
            Decision::Restart { delay, cap, attempt } => {
                self.say(&format!(
                    "{ended_text}; restarting in {:.3}s (attempt {attempt}, backoff {:.3}s, jitter {})",
                    delay.as_secs_f64(),
                    cap.as_secs_f64(),
                    self.spec.rules.jitter
                ));
                if self.announce.pending() {
                    let tail = self.tail();
                    self.announce.say(&format!(
                        "failed: the daemon ended before it was ready ({}); the supervisor restarts it in {:.3}s; last \
                         log lines:\n{tail}",
                        policy::describe(ended),
                        delay.as_secs_f64()
                    ));
                }
                self.state = State::BackingOff;
                self.restart_at = Some(Instant::now() + delay);
            }
            Decision::Stay { reason } => {
                self.say(&format!("{ended_text}; {reason}; the supervisor exits"));
                if self.announce.pending() {
                    let tail = self.tail();
                    self.announce.say(&format!("failed: {reason}; last log lines:\n{tail}"));
                }
                self.done = true;
            }
            Decision::GiveUp { reason } => {
                self.say(&format!("{ended_text}; giving up: {reason}"));
                self.give_up(reason);
            }
        }
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        if let Some(at) = self.restart_at
            && at <= now
        {
            self.restart_at = None;
            self.restart_count += 1;
            self.start_daemon();
        }
        if let Some(at) = self.kill_at
            && at <= now
        {
            self.kill_at = None;
            if let Some(daemon) = &self.daemon {
                let pid = daemon.pid;
                self.killed = true;
                self.say(&format!(
                    "pid {pid} did not stop within {}; SIGKILL to its process group",
                    humantime::format_duration(self.spec.stop_timeout)
                ));
                send(-i32::try_from(pid).unwrap_or(i32::MAX), libc::SIGKILL);
            }
        }
    }

    fn begin_stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.restart_at = None;
        match &self.daemon {
            Some(daemon) => {
                let pid = daemon.pid;
                self.state = State::Stopping;
                self.kill_at = Some(Instant::now() + self.spec.stop_timeout);
                self.say(&format!(
                    "stopping pid {pid} (SIGTERM; SIGKILL to its process group after {})",
                    humantime::format_duration(self.spec.stop_timeout)
                ));
                send(i32::try_from(pid).unwrap_or(i32::MAX), libc::SIGTERM);
            }
            None => {
                self.say("stopping (no daemon runs)");
                for waiter in std::mem::take(&mut self.stop_waiters) {
                    answer(waiter, &Reply::Stopped { pid: None, ended: None, killed: false });
                }
                self.done = true;
            }
        }
    }

    fn forward_reload(&mut self) -> bool {
        match &self.daemon {
            Some(daemon) if self.ready => {
                let pid = daemon.pid;
                self.say(&format!("reload: SIGHUP to pid {pid}"));
                send(i32::try_from(pid).unwrap_or(i32::MAX), libc::SIGHUP);
                true
            }
            _ => false,
        }
    }

    fn on_notify(&mut self) {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let mut ready = false;
            for line in text.lines() {
                let Some((key, value)) = line.split_once('=') else { continue };
                match key {
                    "READY" if value == "1" => ready = true,
                    "RELOADING" if value == "1" => self.reloading = true,
                    "STOPPING" if value == "1" => self.state = State::Stopping,
                    "STATUS" => value.clone_into(&mut self.status_text),
                    "X_DUENDE_RELOAD" => self.reload_verdict = Some(value != "rejected"),
                    _ => {}
                }
            }
            if ready {
                self.on_ready();
            }
        }
    }

    fn on_ready(&mut self) {
        let Some(daemon) = &self.daemon else { return };
        let pid = daemon.pid;
        if !self.ready {
            self.ready = true;
            self.since_ms = Some(now_ms());
            if self.state == State::Starting {
                self.state = State::Running;
            }
            self.say(&format!("pid {pid} is ready"));
            if self.announce.pending() {
                self.announce.say(&format!("ready {pid}"));
            }
        }
        if self.reloading {
            self.reloading = false;
            let accepted = self.reload_verdict.take().unwrap_or(true);
            let reply = Reply::Reloaded { accepted, status_text: self.status_text.clone() };
            for waiter in std::mem::take(&mut self.reload_waiters) {
                answer(waiter, &reply);
            }
        }
    }

    fn on_pipes(&mut self, ready: &[RawFd]) {
        if ready.is_empty() {
            return;
        }
        if let Some(mut daemon) = self.daemon.take() {
            self.drain(&mut daemon, ready, false);
            self.daemon = Some(daemon);
        }
    }

    /// Reads what the daemon wrote on the pipes in `ready` into the log, line by line, and stops
    /// watching a pipe at its end. With `last` (the daemon is gone), a partial line is written too.
    fn drain(&mut self, daemon: &mut Daemon, ready: &[RawFd], last: bool) {
        let mut buffer = [0u8; 8192];
        let mut closed = Vec::new();
        for pipe in daemon.pipes.iter_mut().filter(|p| ready.contains(&p.fd.as_raw_fd())) {
            loop {
                // SAFETY: reading into a buffer we own, of its length, from a descriptor we own.
                let n = unsafe { libc::read(pipe.fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
                if n == 0 {
                    closed.push(pipe.fd.as_raw_fd());
                }
                if n <= 0 {
                    break;
                }
                pipe.partial.extend_from_slice(&buffer[..usize::try_from(n).unwrap_or(0)]);
                while let Some(end) = pipe.partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pipe.partial.drain(..=end).collect();
                    let _ = self.log.line(&line[..line.len() - 1]);
                }
            }
            if (last || closed.contains(&pipe.fd.as_raw_fd())) && !pipe.partial.is_empty() {
                let line = std::mem::take(&mut pipe.partial);
                let _ = self.log.line(&line);
            }
        }
        daemon.pipes.retain(|p| !closed.contains(&p.fd.as_raw_fd()));
    }

    fn on_accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if !allowed(&stream) {
                self.say("refused a connection from another user");
                continue;
            }
            if stream.set_nonblocking(true).is_ok() && self.conns.len() < 64 {
                self.conns.push(Conn { stream, buffer: Vec::new() });
            }
        }
    }

    fn on_conns(&mut self, readable: &[bool]) {
        let mut keep = Vec::new();
        let conns = std::mem::take(&mut self.conns);
        for (conn, readable) in conns.into_iter().zip(readable.iter().copied().chain(std::iter::repeat(false))) {
            if !readable {
                keep.push(conn);
                continue;
            }
            let mut conn = conn;
            let mut chunk = [0u8; 512];
            let outcome = match conn.stream.read(&mut chunk) {
                Ok(0) => None,
                Ok(n) => {
                    conn.buffer.extend_from_slice(&chunk[..n]);
                    Some(())
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => Some(()),
                Err(_) => None,
            };
            if outcome.is_none() {
                continue;
            }
            let Some(end) = conn.buffer.iter().position(|b| *b == b'\n') else {
                if conn.buffer.len() < 4096 {
                    keep.push(conn);
                }
                continue;
            };
            let request = serde_json::from_slice::<Request>(&conn.buffer[..end]);
            match request {
                Ok(Request::Status) => answer(conn.stream, &Reply::Status(self.report())),
                Ok(Request::Stop) => {
                    self.stop_waiters.push(conn.stream);
                    self.say("told to stop");
                    self.begin_stop();
                }
                Ok(Request::Reload) => {
                    if self.forward_reload() {
                        self.reload_waiters.push(conn.stream);
                    } else {
                        let message = format!("no ready daemon to reload (it is {})", self.state.name());
                        answer(conn.stream, &Reply::Error { message });
                    }
                }
                Err(err) => answer(conn.stream, &Reply::Error { message: format!("not a request: {err}") }),
            }
        }
        self.conns.extend(keep);
    }

    fn report(&self) -> Report {
        Report {
            name: self.spec.launch.name.clone(),
            state: self.state,
            supervisor_pid: std::process::id(),
            pid: self.daemon.as_ref().map(|d| d.pid),
            since_unix_ms: self.since_ms,
            restarts: self.restart_count,
            last_exit: self.last_exit.clone(),
            next_restart_unix_ms: self.restart_at.map(|at| {
                let left = at.saturating_duration_since(Instant::now());
                now_ms() + u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
            }),
            status_text: self.status_text.clone(),
            ready: self.ready,
            reason: self.reason.clone(),
            stop_timeout_ms: u64::try_from(self.spec.stop_timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn finish(&mut self) {
        let dir = &self.spec.launch.runtime_dir;
        let _ = std::fs::remove_file(dir.join(NOTIFY_SOCKET));
        let _ = std::fs::remove_file(dir.join(SOCKET));
        self.say("exited");
    }
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd { fd, events: libc::POLLIN, revents: 0 }
}

/// Writes `reply` as one line and closes the connection (blocking, bounded by a short timeout).
fn answer(stream: UnixStream, reply: &Reply) {
    let Ok(mut text) = serde_json::to_string(reply) else { return };
    text.push('\n');
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let mut stream = stream;
    let _ = stream.write_all(text.as_bytes());
}

/// Only the supervisor's own user and root may talk to it (the socket's mode says the same; the
/// credentials are checked too, where the kernel tells them).
#[cfg(target_os = "linux")]
pub(crate) fn allowed(stream: &UnixStream) -> bool {
    let mut cred = libc::ucred { pid: 0, uid: u32::MAX, gid: u32::MAX };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a valid ucred we own.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    rc == 0 && (cred.uid == me || cred.uid == 0)
}

/// The same check with the BSDs' and macOS's own call for a peer's credentials.
#[cfg(not(target_os = "linux"))]
pub(crate) fn allowed(stream: &UnixStream) -> bool {
    let (mut uid, mut gid) = (u32::MAX, u32::MAX);
    // SAFETY: getpeereid writes the peer's ids into two valid u32s we own.
    let rc = unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    rc == 0 && (uid == me || uid == 0)
}

/// `__supervise`: reads the [`Launch`] from standard input, builds the [`Spec`] from the
/// validated `settings`, and runs the supervisor, answering on standard output.
pub fn main<A>(settings: Result<Settings<A>, String>) -> Exit {
    // SAFETY: dup of descriptor 1, this process's standard output, has no preconditions.
    let copy = unsafe { libc::dup(1) };
    // SAFETY: a descriptor dup just returned (not -1) belongs to nobody else.
    let mut announce = Announce((copy >= 0).then(|| unsafe { File::from_raw_fd(copy) }));
    let mut input = String::new();
    if let Err(err) = io::stdin().read_to_string(&mut input) {
        announce.say(&format!("failed: cannot read what to launch: {err}"));
        return Exit::Usage;
    }
    if let Ok(null) = File::open("/dev/null") {
        // SAFETY: dup2 onto descriptor 0 with a valid descriptor we own.
        unsafe { libc::dup2(null.as_raw_fd(), 0) };
    }
    let launch: Launch = match serde_json::from_str(&input) {
        Ok(launch) => launch,
        Err(err) => {
            announce.say(&format!("failed: what to launch is not valid: {err}"));
            return Exit::Usage;
        }
    };
    let settings = match settings {
        Ok(settings) => settings,
        Err(err) => {
            announce.say(&format!("failed: {err}"));
            return Exit::Config;
        }
    };
    let _ = std::env::set_current_dir("/");
    run(Spec::new(launch, &settings), announce)
}
