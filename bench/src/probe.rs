//! The daemon the reliability programs (`duende-storm`, `duende-abuse`) drive: the tests' probe
//! (`duende-probe`, built from `tests/src/bin/probe.rs`), started as a service manager starts it,
//! with a configuration file, its own runtime directory and a `NOTIFY_SOCKET` served here. Its
//! standard output (the probe's own lines) and standard error (the runtime's log) are read line by
//! line as it runs; its memory, file descriptors and threads are read from /proc.
//!
//! Everything lives in a scratch directory of its own, removed at the end; a probe still running
//! when its handle drops is killed by its pid and reaped.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::status_field;

/// Lines read from one of the daemon's pipes, and a way to wait for more.
#[derive(Debug, Default)]
pub struct Lines {
    lines: Mutex<Vec<String>>,
    more: Condvar,
}

impl Lines {
    fn push(&self, line: String) {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
        self.more.notify_all();
    }

    /// Every line so far.
    pub fn snapshot(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// How many lines so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until a line at index `from` or later satisfies `found`; its index, or `None` after
    /// `patience`.
    pub fn wait_for(&self, from: usize, patience: Duration, found: impl Fn(&str) -> bool) -> Option<usize> {
        let deadline = Instant::now() + patience;
        let mut lines = self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut scanned = from;
        loop {
            if let Some(at) = lines.iter().skip(scanned).position(|l| found(l)) {
                return Some(scanned + at);
            }
            scanned = scanned.max(lines.len());
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.more.wait_timeout(lines, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
    }

    /// How many lines so far.
    pub fn len(&self) -> usize {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// True before the first line.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How the daemon ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    /// The exit status, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// From the request to stop (or from the call, when none was made) to the end.
    pub after: Duration,
}

/// A running probe.
#[derive(Debug)]
pub struct Probe {
    child: Child,
    /// Its pid.
    pub pid: u32,
    scratch: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its runtime directory (the control socket's).
    pub runtime_dir: PathBuf,
    /// The probe's standard output.
    pub stdout: Arc<Lines>,
    /// The runtime's log (standard error).
    pub log: Arc<Lines>,
    /// `WATCHDOG=1` notifications received.
    pub watchdogs: Arc<AtomicU64>,
}

impl Probe {
    /// Starts `binary` with `config` as its configuration file in a fresh scratch directory under
    /// `base`, with `WATCHDOG_USEC` when `watchdog` is set, and waits for its `READY=1`.
    pub fn start(binary: &Path, base: &Path, config: &str, watchdog: Option<Duration>) -> Result<Probe, String> {
        let scratch = base.join(format!("duende-reliability-{}-{}", std::process::id(), unique()));
        let runtime_dir = scratch.join("run");
        std::fs::create_dir_all(&runtime_dir).map_err(|e| format!("mkdir {}: {e}", runtime_dir.display()))?;
        let config_path = scratch.join("probe.toml");
        write_atomic(&config_path, config)?;
        let notify_path = scratch.join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).map_err(|e| format!("bind {}: {e}", notify_path.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&config_path)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("RUNTIME_DIRECTORY", &runtime_dir)
            .env_remove("RUST_LOG")
            .env_remove("JOURNAL_STREAM")
            .env_remove("WATCHDOG_PID")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(watchdog) = watchdog {
            command.env("WATCHDOG_USEC", watchdog.as_micros().to_string());
        }
        let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = Arc::new(Lines::default());
        let log = Arc::new(Lines::default());
        follow(child.stdout.take(), &stdout);
        follow(child.stderr.take(), &log);
        let watchdogs = Arc::new(AtomicU64::new(0));
        let pid = child.id();
        let probe = Probe {
            child,
            pid,
            scratch,
            config: config_path,
            runtime_dir,
            stdout,
            log,
            watchdogs: Arc::clone(&watchdogs),
        };
        // The manager's side: READY=1 first, then every notification counted as it comes.
        notify.set_read_timeout(Some(Duration::from_secs(20))).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4096];
        loop {
            let n = notify
                .recv(&mut buf)
                .map_err(|e| format!("no READY=1 from pid {pid}: {e}; log: {:?}", probe.log.snapshot()))?;
            if buf[..n].split(|&b| b == b'\n').any(|l| l == b"READY=1") {
                break;
            }
        }
        notify.set_read_timeout(None).map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = notify.recv(&mut buf) {
                if buf[..n].split(|&b| b == b'\n').any(|l| l == b"WATCHDOG=1") {
                    watchdogs.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(probe)
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("control.sock")
    }

    /// Replaces the configuration file atomically (a reload reads one whole version of it).
    pub fn write_config(&self, content: &str) -> Result<(), String> {
        write_atomic(&self.config, content)
    }

    /// Sends `signal` to the daemon (an exited, unreaped daemon is a zombie: the pid stays ours).
    pub fn signal(&self, signal: i32) -> Result<(), String> {
        let pid = i32::try_from(self.pid).map_err(|e| e.to_string())?;
        // SAFETY: kill has no memory-safety preconditions; the pid is our own unreaped child's.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(format!("kill({pid}, {signal}): {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// True while the daemon has not exited.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        status_field(self.pid, "VmRSS:")
    }

    /// Threads.
    pub fn threads(&self) -> u64 {
        status_field(self.pid, "Threads:")
    }

    /// Open file descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, Iterator::count)
    }

    /// One `status` request on a fresh connection, as `my-daemon status --json` makes it: the
    /// reply line and how long it took from connecting to the end of the reply.
    pub fn status(&self, patience: Duration) -> Result<(String, Duration), String> {
        request(&self.socket(), br#"{"v":1,"op":"status"}"#, patience)
    }

    /// Sends SIGTERM and waits up to `patience` for the end; a daemon still running then is
    /// killed (and the result says so: signal 9).
    pub fn terminate(&mut self, patience: Duration) -> Result<Ended, String> {
        let asked = Instant::now();
        self.signal(libc::SIGTERM)?;
        self.wait(asked, patience, |_| {})
    }

    /// Waits up to `patience` for the end, calling `meanwhile` with each round's count (every
    /// millisecond or so) while it has not come; killed after `patience`.
    pub fn wait(
        &mut self,
        since: Instant,
        patience: Duration,
        mut meanwhile: impl FnMut(u64),
    ) -> Result<Ended, String> {
        use std::os::unix::process::ExitStatusExt;
        let mut round = 0;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(Ended { code: status.code(), signal: status.signal(), after: since.elapsed() });
            }
            if since.elapsed() > patience {
                let _ = self.child.kill();
                let status = self.child.wait().map_err(|e| e.to_string())?;
                return Ok(Ended { code: status.code(), signal: status.signal(), after: since.elapsed() });
            }
            meanwhile(round);
            round += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// One request line on a fresh connection to `socket`; the reply line and the time taken.
pub fn request(socket: &Path, line: &[u8], patience: Duration) -> Result<(String, Duration), String> {
    let started = Instant::now();
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(patience)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(patience)).map_err(|e| e.to_string())?;
    stream.write_all(&[line, b"\n"].concat()).map_err(|e| format!("write: {e}"))?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !reply.contains(&b'\n') {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read after {:?}: {e}", started.elapsed())),
        }
    }
    let took = started.elapsed();
    let end = reply.iter().position(|&b| b == b'\n').unwrap_or(reply.len());
    Ok((String::from_utf8_lossy(&reply[..end]).into_owned(), took))
}

/// The number after `"key":` in a JSON line (the first occurrence), when there is one.
pub fn json_number(line: &str, key: &str) -> Option<u64> {
    let needle = format!("\"{key}\":");
    let at = line.find(&needle)? + needle.len();
    line[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

/// Writes `content` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, content: &str) -> Result<(), String> {
    let temporary = path.with_extension("tmp-write");
    std::fs::write(&temporary, content).map_err(|e| format!("write {}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|e| format!("rename to {}: {e}", path.display()))
}

/// The probe binary beside this program, or `DUENDE_PROBE`.
pub fn binary() -> PathBuf {
    std::env::var_os("DUENDE_PROBE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_exe().map(|exe| exe.with_file_name("duende-probe")).unwrap_or_default())
}

/// Samples of one figure over time.
#[derive(Debug, Default, Clone)]
pub struct Samples(pub Vec<u64>);

impl Samples {
    /// The first, the last, the largest, and the mean of the first and of the last quarter.
    pub fn summary(&self) -> (u64, u64, u64, f64, f64) {
        let v = &self.0;
        if v.is_empty() {
            return (0, 0, 0, 0.0, 0.0);
        }
        let quarter = (v.len() / 4).max(1);
        let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len() as f64;
        (v[0], v[v.len() - 1], v.iter().copied().max().unwrap_or(0), mean(&v[..quarter]), mean(&v[v.len() - quarter..]))
    }
}

fn follow(pipe: Option<impl Read + Send + 'static>, into: &Arc<Lines>) {
    let Some(pipe) = pipe else { return };
    let into = Arc::clone(into);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            match line {
                Ok(line) => into.push(line),
                Err(_) => break,
            }
        }
    });
}

fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// This process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Prints `what: PASS`, or each failure (or why it could not run) as `what: FAIL ...` and exits
/// with status 1: the end of `duende-storm` and `duende-abuse`.
pub fn conclude(what: &str, outcome: Result<Vec<String>, String>) {
    match outcome {
        Ok(failures) if failures.is_empty() => println!("{what}: PASS"),
        Ok(failures) => {
            for failure in failures {
                println!("{what}: FAIL {failure}");
            }
            std::process::exit(1);
        }
        Err(err) => {
            println!("{what}: FAIL could not run: {err}");
            std::process::exit(1);
        }
    }
}
