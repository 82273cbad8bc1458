//! A daemon as PID 1 of a fresh PID namespace, as a container's entrypoint is: run with
//! `unshare --pid --fork --mount-proc`, it splits into init (PID 1) and the daemon (PID 2). Init
//! reaps an orphan reparented to it, passes HUP, USR1 and TERM on to the daemon, and exits with
//! the daemon's status. Everything is observed from this host: `/proc` for the processes, the
//! daemon's output and exit status, its control socket.
//!
//! `unshare --kill-child` takes the whole namespace down with SIGKILL when `unshare` ends, and a
//! handle that drops (a failing test) kills `unshare` by PID: nothing a test starts outlives it.
//! This machine's own PID 1 may leave zombies of its own; only processes inside the test's
//! namespace are looked at.
#![cfg(feature = "root-tests")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use duende_tests::{PATIENCE, Running, Spawn, euid, write_atomic};
use serde_json::Value;

const COUNTER: &str = env!("CARGO_BIN_EXE_example-counter");
const GREETER: &str = env!("CARGO_BIN_EXE_example-reload");

/// A daemon started as PID 1 of a namespace of its own, with both of its processes' PIDs as this
/// host sees them.
struct Pid1 {
    running: Running,
    /// PID 1 of the namespace: init.
    init: i32,
    /// PID 2 of the namespace: the daemon, init's child.
    daemon: i32,
}

impl Pid1 {
    /// `program ARGS` as PID 1 of a new PID namespace (with its own `/proc`), once it is ready.
    fn start(program: &str, args: &[&str]) -> Pid1 {
        assert_eq!(euid(), 0, "the root-tests feature needs root");
        let mut running =
            Spawn::wrapped(&["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"], program).args(args).start();
        let ready = running.expect_line("ready pid=");
        assert!(ready.contains("ready pid=2 "), "the daemon is not PID 2 of its namespace: {ready}");
        let init = only_child(running.pid());
        let daemon = only_child(init);
        assert_eq!(namespace_pid(init), Some(1), "unshare's child is not PID 1 of the namespace");
        assert_eq!(namespace_pid(daemon), Some(2), "init's child is not PID 2 of the namespace");
        Pid1 { running, init, daemon }
    }

    /// Every process of the namespace: those whose PID namespace is init's.
    fn members(&self) -> Vec<i32> {
        let ours = std::fs::read_link(format!("/proc/{}/ns/pid", self.init)).expect("init's PID namespace");
        let pids = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok());
        pids.filter(|pid: &i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|ns| ns == ours)).collect()
    }
}

/// The children of `pid` (`/proc/PID/task/PID/children`; each of these processes has one thread).
fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|text| text.split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

/// The one child of `pid`, waited for.
fn only_child(pid: i32) -> i32 {
    wait_for(&format!("exactly one child of {pid}"), || match children(pid)[..] {
        [child] => Some(child),
        _ => None,
    })
}

/// A field of `/proc/PID/status`, `None` once the process is gone (reaped).
fn status_field(pid: i32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let prefix = format!("{field}:");
    text.lines().find_map(|line| line.strip_prefix(&prefix)).map(|value| value.trim().to_owned())
}

/// `pid`'s PID in the innermost namespace it is in (the last number of `NSpid`).
fn namespace_pid(pid: i32) -> Option<i32> {
    status_field(pid, "NSpid")?.split_whitespace().last()?.parse().ok()
}

/// Polls `probe` until it answers, for at most [`PATIENCE`].
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "not within {PATIENCE:?}: {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn signal(pid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions; the pid is of a process this test started.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}): {}", std::io::Error::last_os_error());
}

#[test]
fn an_orphan_reparented_to_pid_1_is_reaped() {
    let mut ns = Pid1::start(COUNTER, &["run"]);
    // A shell inside the namespace leaves a `sleep` behind: the orphan goes to PID 1.
    let entered = Command::new("nsenter")
        .args(["--target", &ns.init.to_string(), "--pid", "--mount", "--", "sh", "-c", "sleep 1 & exit 0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run nsenter");
    assert!(entered.success(), "nsenter: {entered}");
    let orphan = wait_for("the orphaned sleep among init's children", || {
        children(ns.init).into_iter().find(|&pid| status_field(pid, "Name").as_deref() == Some("sleep"))
    });
    // Once it has ended, init reaps it: it is gone, not left a zombie.
    let deadline = Instant::now() + PATIENCE;
    while let Some(state) = status_field(orphan, "State") {
        assert!(Instant::now() < deadline, "the orphan {orphan} was not reaped; it is {state}");
        thread::sleep(Duration::from_millis(10));
    }
    let zombies: Vec<(i32, String)> = ns
        .members()
        .into_iter()
        .filter_map(|pid| Some((pid, status_field(pid, "State")?)))
        .filter(|(_, state)| state.starts_with('Z'))
        .collect();
    assert!(zombies.is_empty(), "zombies in the namespace: {zombies:?}");
    assert_eq!(children(ns.init), [ns.daemon], "init has children besides the daemon");

    signal(ns.init, libc::SIGTERM);
    assert_eq!(ns.running.wait_exit(), 0, "{}", ns.running.output());
}

#[test]
fn hup_and_usr1_sent_to_pid_1_reach_the_daemon() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("greeter.toml");
    write_atomic(&config, "[app]\ngreeting = \"hello\"\n");
    let mut ns = Pid1::start(GREETER, &["run", "--config", config.to_str().expect("a UTF-8 path")]);
    write_atomic(&config, "[app]\ngreeting = \"bonjour\"\n");
    signal(ns.init, libc::SIGHUP);
    ns.running.expect_line("generation 2: greeting is now bonjour");
    let status = control_status(ns.init, ns.running.runtime_dir());
    assert_eq!(status["live"]["config_generation"], 2, "{status}");
    assert_eq!(status["live"]["pid"], 2, "the control socket is not the daemon's: {status}");
    signal(ns.init, libc::SIGUSR1);
    ns.running.expect_line("bonjour");

    signal(ns.init, libc::SIGTERM);
    assert_eq!(ns.running.wait_exit(), 0, "{}", ns.running.output());
}

/// `GREETER status --json` run inside the namespace of `init`, against the daemon's runtime
/// directory.
fn control_status(init: i32, runtime_dir: &Path) -> Value {
    let out = Command::new("nsenter")
        .args(["--target", &init.to_string(), "--pid", "--mount", "--", GREETER, "status", "--json"])
        .env("RUNTIME_DIRECTORY", runtime_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run nsenter");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "status: {}\n{text}{}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[test]
fn term_sent_to_pid_1_stops_the_daemon_gracefully_with_0() {
    let timeout = Duration::from_secs(5);
    let mut ns = Pid1::start(COUNTER, &["run", "--set", "app.interval_ms=50", "--set", "shutdown_timeout=\"5s\""]);
    let sent = Instant::now();
    signal(ns.init, libc::SIGTERM);
    // `unshare` exits with the status of the namespace's PID 1.
    let code = ns.running.wait_exit();
    let took = sent.elapsed();
    let out = ns.running.output();
    assert_eq!(code, 0, "{out}");
    assert!(took < timeout, "took {took:?}, beyond shutdown_timeout:\n{out}");
    assert!(out.contains("shutting down signal=\"SIGTERM\""), "the daemon did not see a SIGTERM:\n{out}");
    assert!(out.contains("counted to "), "the daemon's shutdown did not run:\n{out}");
    assert!(out.contains("INFO stopped"), "{out}");
}

#[test]
fn a_daemon_killed_by_a_signal_makes_pid_1_exit_128_plus_n() {
    let mut ns = Pid1::start(COUNTER, &["run"]);
    signal(ns.daemon, libc::SIGKILL);
    // The daemon, not PID 1, was killed; PID 1 cannot be killed from inside its namespace and no
    // one outside signals it, so `unshare` reports 137 only because PID 1 exited with it.
    let code = ns.running.wait_exit();
    let out = ns.running.output();
    assert_eq!(code, 137, "{out}");
    assert!(!out.contains("INFO stopped"), "the daemon stopped by itself instead:\n{out}");
}
