//! The management side of native supervision: [`spawn`] launches a supervisor and waits for its
//! answer; [`status`], [`stop`] and [`reload`] ask a running one over its socket.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::pidfile::{self, Holder};
use super::protocol::{Launch, PID_FILE, Reply, Report, Request, SOCKET};

/// How long a request waits for the supervisor to answer (`stop` and `reload` wait longer).
const ANSWER: Duration = Duration::from_secs(5);

/// Why a request to a supervisor failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No supervisor runs.
    #[error("no supervisor runs")]
    NotRunning,
    /// A supervisor ran and died without cleaning up (killed, or crashed): its pid file is there,
    /// and nobody holds it.
    #[error("the supervisor{} is gone: it was killed or crashed", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Gone {
        /// The pid it wrote, when readable.
        pid: Option<u32>,
    },
    /// The supervisor could not start the daemon, or the daemon failed before it was ready.
    #[error("{message}")]
    Failed {
        /// What the supervisor said, with the last log lines.
        message: String,
    },
    /// The daemon refused a reload.
    #[error("{message}")]
    Rejected {
        /// What it said.
        message: String,
    },
    /// The supervisor refused the request.
    #[error("the supervisor refused: {message}")]
    Refused {
        /// Why.
        message: String,
    },
    /// No answer in time.
    #[error("the supervisor did not answer within {}", humantime::format_duration(*.waited))]
    Timeout {
        /// How long was waited.
        waited: Duration,
    },
    /// Talking to it failed.
    #[error("cannot talk to the supervisor at {}: {source}", .path.display())]
    Io {
        /// Its socket or program.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// A supervisor that answered `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The supervisor's pid.
    pub supervisor_pid: u32,
    /// The daemon's pid.
    pub pid: u32,
}

/// Launches `program FLAGS __supervise` in a session of its own, hands it `launch`, and waits
/// (at most `patience`) until it answers: the daemon is ready, or why not.
pub fn spawn(program: &Path, flags: &[String], launch: &Launch, patience: Duration) -> Result<Started, ClientError> {
    let io = |source| ClientError::Io { path: program.to_path_buf(), source };
    let text = serde_json::to_string(launch).map_err(|e| io(io::Error::other(e)))?;
    let mut command = Command::new(program);
    command.args(flags).arg("__supervise").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and has no memory-safety preconditions.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(io)?;
    let supervisor_pid = child.id();
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).map_err(io)?;
    }
    let Some(stdout) = child.stdout.take() else { return Err(io(io::Error::other("no pipe from the supervisor"))) };
    // The answer is read on a thread, so waiting is bounded.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let mut rest = String::new();
        if first.starts_with("failed:") {
            let _ = reader.read_to_string(&mut rest);
        }
        let _ = tx.send(first + &rest);
    });
    let answer = rx.recv_timeout(patience);
    // Reap the supervisor only if it already ended (it exits at once when it cannot start).
    let _ = child.try_wait();
    let answer = answer.map_err(|_| ClientError::Timeout { waited: patience })?;
    if let Some(pid) = answer.trim().strip_prefix("ready ").and_then(|pid| pid.parse().ok()) {
        return Ok(Started { supervisor_pid, pid });
    }
    let message = answer.trim().strip_prefix("failed: ").unwrap_or(answer.trim()).to_owned();
    if message.is_empty() {
        let _ = child.wait();
        return Err(ClientError::Failed { message: "the supervisor ended without an answer".to_owned() });
    }
    Err(ClientError::Failed { message })
}

/// One request to the supervisor whose runtime directory is `dir`, waiting `wait` for the reply.
fn ask(dir: &Path, request: Request, wait: Duration) -> Result<Reply, ClientError> {
    let socket = dir.join(SOCKET);
    let mut stream = match UnixStream::connect(&socket) {
        Ok(stream) => stream,
        Err(err) if matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused) => {
            return Err(match pidfile::holder(&dir.join(PID_FILE)) {
                Ok(Holder::Stale(pid)) => ClientError::Gone { pid },
                _ => ClientError::NotRunning,
            });
        }
        Err(source) => return Err(ClientError::Io { path: socket, source }),
    };
    let io = |source| ClientError::Io { path: socket.clone(), source };
    stream.set_read_timeout(Some(wait)).map_err(io)?;
    stream.set_write_timeout(Some(ANSWER)).map_err(io)?;
    let mut line = serde_json::to_string(&request).map_err(|e| io(io::Error::other(e)))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let mut reply = String::new();
    let started = Instant::now();
    match BufReader::new(&stream).read_line(&mut reply) {
        Ok(0) => return Err(io(io::Error::other("the supervisor closed the connection without an answer"))),
        Ok(_) => {}
        Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            return Err(ClientError::Timeout { waited: started.elapsed() });
        }
        Err(err) => return Err(io(err)),
    }
    match serde_json::from_str(reply.trim()) {
        Ok(Reply::Error { message }) => Err(ClientError::Refused { message }),
        Ok(reply) => Ok(reply),
        Err(err) => Err(io(io::Error::other(format!("an answer that is not the protocol's: {err}")))),
    }
}

/// How things stand.
pub fn status(dir: &Path) -> Result<Report, ClientError> {
    match ask(dir, Request::Status, ANSWER)? {
        Reply::Status(report) => Ok(report),
        other => Err(unexpected(dir, &other)),
    }
}

/// What `stop` saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// The daemon's pid, when one ran.
    pub pid: Option<u32>,
    /// How it ended.
    pub ended: Option<String>,
    /// It was killed after the timeout.
    pub killed: bool,
}

impl Stopped {
    /// " (pid 42, exit status 0)" and the like, for messages.
    pub fn describe(&self) -> String {
        match (&self.pid, &self.ended) {
            (Some(pid), Some(ended)) => {
                let killed = if self.killed { ", killed after the stop timeout" } else { "" };
                format!(" (pid {pid}: {ended}{killed})")
            }
            _ => " (no daemon was running)".to_owned(),
        }
    }
}

/// Stops the daemon and its supervisor; waits at most `bound` for the daemon, then until the
/// supervisor has released its pid file.
pub fn stop(dir: &Path, bound: Duration) -> Result<Stopped, ClientError> {
    let stopped = match ask(dir, Request::Stop, bound)? {
        Reply::Stopped { pid, ended, killed } => Stopped { pid, ended, killed },
        other => return Err(unexpected(dir, &other)),
    };
    let deadline = Instant::now() + ANSWER;
    while matches!(pidfile::holder(&dir.join(PID_FILE)), Ok(Holder::Live(_))) {
        if Instant::now() >= deadline {
            return Err(ClientError::Timeout { waited: ANSWER });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(stopped)
}

/// What a reload came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// What the daemon said.
    pub status_text: String,
}

/// Delivers a reload and waits (at most `bound`) for the daemon's verdict; a refused one is
/// [`ClientError::Rejected`].
pub fn reload(dir: &Path, bound: Duration) -> Result<Reloaded, ClientError> {
    match ask(dir, Request::Reload, bound)? {
        Reply::Reloaded { accepted: true, status_text } => Ok(Reloaded { status_text }),
        Reply::Reloaded { accepted: false, status_text } => {
            Err(ClientError::Rejected { message: format!("the daemon rejected the reload: {status_text}") })
        }
        other => Err(unexpected(dir, &other)),
    }
}

fn unexpected(dir: &Path, reply: &Reply) -> ClientError {
    ClientError::Io {
        path: dir.join(SOCKET),
        source: io::Error::other(format!("an answer to another question: {reply:?}")),
    }
}
