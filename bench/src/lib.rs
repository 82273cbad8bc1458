//! What the benchmark binaries share: starting a daemon quietly with a NOTIFY_SOCKET, waiting for
//! its READY=1, stopping it, reading its wake-ups and memory from /proc, and medians.

pub mod probe;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A scratch directory for sockets and runtime directories, on tmpfs when there is one: a
/// daemon's runtime directory (its control socket and instance lock) is on tmpfs on real systems
/// (`/run`, `$XDG_RUNTIME_DIR`), not on a disk.
pub fn scratch_dir() -> PathBuf {
    [Path::new("/dev/shm"), Path::new("/run/user")]
        .into_iter()
        .find(|dir| dir.is_dir() && tmpfs(dir))
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
}

/// True when `dir` is on a tmpfs (its mount in /proc/self/mounts, longest prefix wins).
fn tmpfs(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            dir.starts_with(point).then(|| (point.len(), kind == "tmpfs"))
        })
        .max()
        .is_some_and(|(_, is_tmpfs)| is_tmpfs)
}

/// Starts `command` with `NOTIFY_SOCKET` set to `socket`, no inherited `RUST_LOG` or
/// `JOURNAL_STREAM`, and no terminal I/O.
pub fn spawn_quiet(mut command: Command, socket: &Path) -> Result<Child, String> {
    let program = PathBuf::from(command.get_program());
    command
        .env("NOTIFY_SOCKET", socket)
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))
}

/// Waits on `socket` for the `READY=1` of `child`.
pub fn wait_ready(socket: &UnixDatagram, child: &Child) -> Result<(), String> {
    let mut buf = [0u8; 512];
    loop {
        let n = socket.recv(&mut buf).map_err(|e| format!("no READY=1 from pid {}: {e}", child.id()))?;
        if buf[..n].starts_with(b"READY=1") {
            return Ok(());
        }
    }
}

/// Reads whatever is queued on `socket` (STOPPING=1, STATUS=...) without waiting, as a service
/// manager would: a full queue makes a daemon's next notification wait.
pub fn drain(socket: &UnixDatagram) -> Result<(), String> {
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 512];
    while socket.recv(&mut buf).is_ok() {}
    socket.set_nonblocking(false).map_err(|e| e.to_string())
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
}

/// The number after `field` (such as `VmRSS:`) in /proc/PID/status; 0 when absent.
pub fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Voluntary plus involuntary context switches summed over every thread: each is a wake-up.
pub fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// The median of `values` (the upper one of an even count); the default when there are none.
pub fn median<T: Ord + Copy + Default>(values: impl IntoIterator<Item = T>) -> T {
    let mut values: Vec<T> = values.into_iter().collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// Runs `command` to its end.
pub fn run(command: &mut Command) -> Result<std::process::Output, String> {
    command.output().map_err(|e| format!("cannot run {command:?}: {e}"))
}

/// Runs `command` to its end and returns its standard output; its whole output is the error when
/// it fails.
pub fn ok(command: &mut Command) -> Result<String, String> {
    let out = run(command)?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `d` in milliseconds.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
