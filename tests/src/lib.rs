//! A small harness for driving real daemon binaries: spawn with a controlled environment,
//! follow stdout and stderr line by line, send real signals, wait for exit. Every process a
//! test starts is killed by PID when its handle drops.
//!
//! Every spawned process gets a fresh `RUNTIME_DIRECTORY` of its own (where a daemon puts its
//! control socket) unless the test sets one, so tests running at the same time never meet in
//! `/run/NAME`. [`Running::runtime_dir`] names it, for management commands aimed at that daemon.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for anything a test waits for; a hang fails the test instead of blocking CI.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running daemon under test.
#[derive(Debug)]
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    /// Lines before this index have been consumed by [`Running::expect_line`].
    cursor: usize,
    status: Option<i32>,
    runtime_dir: Option<PathBuf>,
    /// The fresh runtime directory, removed when the handle drops.
    _fresh: Option<tempfile::TempDir>,
}

/// How to start a daemon.
#[derive(Debug)]
pub struct Spawn {
    command: Command,
}

impl Spawn {
    /// `program` with a clean duende-related environment: no `NOTIFY_SOCKET`, `RUST_LOG`,
    /// `JOURNAL_STREAM`, `INVOCATION_ID` inherited from the test runner.
    pub fn new(program: impl AsRef<Path>) -> Spawn {
        let mut command = Command::new(program.as_ref());
        for var in ["NOTIFY_SOCKET", "RUST_LOG", "JOURNAL_STREAM", "INVOCATION_ID", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            command.env_remove(var);
        }
        for (key, _) in std::env::vars() {
            if ["PROBE_", "COUNTER_", "GREETER_", "SWAPD_", "SPOOL_"].iter().any(|p| key.starts_with(p)) {
                command.env_remove(key);
            }
        }
        Spawn { command }
    }

    /// The same program run through a wrapper (`prlimit`, `setpriv`, ...): `wrapper... program`.
    pub fn wrapped(wrapper: &[&str], program: impl AsRef<Path>) -> Spawn {
        let mut spawn = Spawn::new(wrapper[0]);
        spawn.command.args(&wrapper[1..]).arg(program.as_ref());
        spawn
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Spawn
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Spawn {
        self.command.env(key, value);
        self
    }

    /// Uses `dir` as the runtime directory (`RUNTIME_DIRECTORY`), for instance a running
    /// daemon's [`Running::runtime_dir`] to reach it with a management command.
    pub fn runtime_dir(self, dir: &Path) -> Spawn {
        self.env("RUNTIME_DIRECTORY", dir)
    }

    /// Starts the process with stdout and stderr piped into one line stream.
    pub fn start(mut self) -> Running {
        let chosen =
            self.command.get_envs().find(|(key, _)| *key == "RUNTIME_DIRECTORY").map(|(_, v)| v.map(PathBuf::from));
        let (runtime_dir, fresh) = match chosen {
            Some(dir) => (dir, None),
            None => {
                let fresh =
                    tempfile::Builder::new().prefix("duende-run-").tempdir().expect("a fresh runtime directory");
                self.command.env("RUNTIME_DIRECTORY", fresh.path());
                (Some(fresh.path().to_path_buf()), Some(fresh))
            }
        };
        self.command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.command.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", self.command));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout piped");
        let err = child.stderr.take().expect("stderr piped");
        pump(out, tx.clone());
        pump(err, tx);
        Running { child, lines, seen: Vec::new(), cursor: 0, status: None, runtime_dir, _fresh: fresh }
    }

    /// Runs to completion and returns (exit code, all output).
    pub fn run(self) -> (i32, String) {
        let mut running = self.start();
        let code = running.wait_exit();
        (code, running.output())
    }
}

fn pump(stream: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// The process's runtime directory (`RUNTIME_DIRECTORY`): where a daemon's control socket is.
    pub fn runtime_dir(&self) -> &Path {
        self.runtime_dir.as_deref().expect("this test removed RUNTIME_DIRECTORY, so the process has none of ours")
    }

    /// Waits for a line containing `needle` after the last line an earlier call matched, and
    /// consumes up to it; panics with everything seen so far if it does not come.
    pub fn expect_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        if let Some(offset) = self.seen[self.cursor..].iter().position(|l| l.contains(needle)) {
            self.cursor += offset + 1;
            return self.seen[self.cursor - 1].clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        self.cursor = self.seen.len();
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line containing {needle:?}; output so far:\n{}", self.output())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("process ended before a line containing {needle:?}; output:\n{}", self.output())
                }
            }
        }
    }

    /// Waits until every needle has appeared on some line, in any order (for events that race),
    /// and consumes up to the last of them; panics with everything seen so far if one never comes.
    pub fn expect_all(&mut self, needles: &[&str]) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found: Option<Vec<usize>> =
                needles.iter().map(|needle| self.seen[self.cursor..].iter().position(|l| l.contains(needle))).collect();
            if let Some(offsets) = found {
                self.cursor += offsets.into_iter().max().map_or(0, |last| last + 1);
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("not all of {needles:?} came; output so far:\n{}", self.output())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("process ended before all of {needles:?}; output:\n{}", self.output())
                }
            }
        }
    }

    /// Sends a signal to the daemon by PID.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed: {}", self.pid(), std::io::Error::last_os_error());
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for exit (bounded by [`PATIENCE`]) and returns the exit code, or 128+N when killed by signal N.
    pub fn wait_exit(&mut self) -> i32 {
        if let Some(code) = self.status {
            return code;
        }
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("process did not exit within {PATIENCE:?}; output:\n{}", self.output());
            }
            thread::sleep(Duration::from_millis(5));
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        self.status = Some(code);
        code
    }

    /// Everything printed so far (stdout and stderr interleaved as read), after draining.
    pub fn output(&mut self) -> String {
        // Give the pump threads a moment to deliver what the process wrote before it exited.
        while let Ok(line) =
            self.lines.recv_timeout(Duration::from_millis(if self.status.is_some() { 200 } else { 20 }))
        {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Replaces `path`'s content atomically (write a sibling, then rename), as a careful operator or
/// configuration tool would: a daemon reloading at that moment sees the old file or the new one,
/// never a torn one.
pub fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, content).expect("write the new file");
    std::fs::rename(&tmp, path).expect("rename it into place");
}

/// The effective user id of the test process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// A real systemd in a throwaway container, for the root suites.
#[cfg(feature = "root-tests")]
pub mod sandbox;

/// An unprivileged user with a temporary home, for the native suites.
#[cfg(feature = "root-tests")]
pub mod nobody;

/// `--json` output checked against the schemas the runtime ships.
pub mod schema;
