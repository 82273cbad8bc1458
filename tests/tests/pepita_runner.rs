//! The VM runner, `NAME __pepita-vm --bundle DIR`, driven as a host's manager drives it: the test
//! writes a bundle directory with the library, starts the probe's binary as the runner with
//! `NOTIFY_SOCKET` at a datagram socket of its own and `RUNTIME_DIRECTORY` at a temporary
//! directory, and then sees the guest daemon's readiness arrive there, talks to it with the
//! binary's own `status`, `reload` and `stop`-by-signal, and reads the runner's exit status.
//!
//! QEMU runs under TCG with `vhost-device-vsock` as the guest's vsock backend (the same
//! requirements as `pepita_boot`: `DUENDE_TEST_PEPITA_KERNEL`, `DUENDE_TEST_VHOST_VSOCK`, set by
//! `scripts/test`). The runner is killed by PID when a test's handle drops, and takes QEMU and
//! the backend with it (their parent-death signal); every wait is bounded. One VM at a time.
#![cfg(feature = "root-tests")]

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use duende_runtime::config::platforms::{Accel, PepitaSettings};
use duende_runtime::platform::Host;
use duende_runtime::platform::pepita::runner::{self, Description};
use duende_runtime::platform::pepita::{self, Request};
use duende_tests::{Running, Spawn};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// How long a boot may take to reach readiness (see `pepita_boot`).
const BOOT_PATIENCE: Duration = Duration::from_secs(120);

/// Guest memory for the debug build's initramfs (see `pepita_boot`).
const MEMORY_MB: u64 = 512;

/// The probe's `shutdown_timeout` in the description: the runner kills QEMU 5 s after it.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

static ONE_VM: Mutex<()> = Mutex::new(());

fn env_path(var: &str, how: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(value) => PathBuf::from(value),
        None => panic!("{var} is not set: {how}"),
    }
}

/// Writes the bundle directory of the probe run with `sets` into `dir`.
fn write_bundle(dir: &Path, sets: &[&str]) {
    let kernel = env_path("DUENDE_TEST_PEPITA_KERNEL", "run `scripts/pepita-kernel` and export the path it prints");
    let backend =
        env_path("DUENDE_TEST_VHOST_VSOCK", "`cargo install --locked vhost-device-vsock` and export its path");
    let settings =
        PepitaSettings { kernel: Some(kernel), memory_mb: MEMORY_MB, accel: Accel::Tcg, ..PepitaSettings::default() };
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let env = BTreeMap::from([("RUST_LOG".to_owned(), "info".to_owned())]);
    let request = Request {
        name: "probe",
        binary: Path::new(PROBE),
        config: None,
        sets: &sets,
        args: &[],
        env: &env,
        settings: &settings,
    };
    let bundle =
        pepita::build(&Host::from_process(), &request).unwrap_or_else(|err| panic!("cannot build the bundle: {err}"));
    let description = Description::of(&bundle, SHUTDOWN_TIMEOUT, Some(backend));
    runner::write(dir, &bundle, &description).expect("write the bundle directory");
}

/// The test's end of the runner's `$NOTIFY_SOCKET`: every datagram, with when it came.
struct Notify {
    path: PathBuf,
    datagrams: Receiver<(Instant, String)>,
    seen: Vec<String>,
}

impl Notify {
    fn bind(dir: &Path) -> Notify {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        let (tx, datagrams) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = socket.recv(&mut buf) {
                if tx.send((Instant::now(), String::from_utf8_lossy(&buf[..n]).into_owned())).is_err() {
                    return;
                }
            }
        });
        Notify { path, datagrams, seen: Vec::new() }
    }

    /// Takes in what has arrived (the receiving thread may trail the sender by a moment).
    fn drain(&mut self) -> &[String] {
        while let Ok((_, datagram)) = self.datagrams.recv_timeout(Duration::from_millis(200)) {
            eprintln!("notify: {datagram:?}");
            self.seen.push(datagram);
        }
        &self.seen
    }

    /// Waits (within `patience`) for a datagram with the line `line`; returns when it came and
    /// the datagram. Panics with the runner's output if it does not come.
    fn until(&mut self, line: &str, patience: Duration, runner: &mut Running) -> (Instant, String) {
        let deadline = Instant::now() + patience;
        loop {
            match self.datagrams.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((at, datagram)) => {
                    eprintln!("notify: {datagram:?}");
                    self.seen.push(datagram.clone());
                    if datagram.lines().any(|l| l == line) {
                        return (at, datagram);
                    }
                }
                Err(_) => panic!(
                    "no {line:?} at the notify socket within {patience:?} (seen {:?}); runner output:\n{}",
                    self.seen,
                    runner.output()
                ),
            }
        }
    }
}

/// A runner started on a bundle, with its directories.
struct Vm {
    runner: Running,
    notify: Notify,
    started: Instant,
    runtime: tempfile::TempDir,
    _bundle: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Vm {
    fn start(sets: &[&str]) -> Vm {
        let turn = ONE_VM.lock().unwrap_or_else(PoisonError::into_inner);
        let bundle = tempfile::tempdir().expect("a bundle directory");
        write_bundle(bundle.path(), sets);
        let runtime = tempfile::tempdir().expect("a runtime directory");
        let notify = Notify::bind(bundle.path());
        let started = Instant::now();
        let runner = Spawn::new(PROBE)
            .args(["__pepita-vm", "--bundle"])
            .args([bundle.path()])
            .runtime_dir(runtime.path())
            .env("NOTIFY_SOCKET", &notify.path)
            .start();
        Vm { runner, notify, started, runtime, _bundle: bundle, _turn: turn }
    }

    /// Waits for `READY=1` at the notify socket; returns how long after the runner started.
    fn ready(&mut self) -> Duration {
        let (at, _) = self.notify.until("READY=1", BOOT_PATIENCE, &mut self.runner);
        at.duration_since(self.started)
    }

    /// The PIDs of QEMU and the vsock backend, from the runner's first line.
    fn children(&mut self) -> [i32; 2] {
        let line = self.runner.expect_line("VM started (QEMU pid ");
        let number = |key: &str| -> i32 {
            let rest = &line[line.find(key).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len()..];
            rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).expect("a pid")
        };
        [number("QEMU pid "), number("vsock backend pid ")]
    }

    /// `probe ARGS --platform native` with the runner's runtime directory.
    fn manage(&self, args: &[&str]) -> (i32, String) {
        Spawn::new(PROBE).runtime_dir(self.runtime.path()).args(args).args(["--platform", "native"]).run()
    }

    /// Sends SIGTERM to the runner and waits for its exit; returns its status and how long it took.
    fn terminate(&mut self) -> (i32, Duration) {
        let asked = Instant::now();
        self.runner.signal(libc::SIGTERM);
        let code = self.runner.wait_exit();
        (code, asked.elapsed())
    }
}

/// Whether the process `pid` is still there (a zombie counts: nobody reaped it).
fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn the_runner_stands_for_the_guest_daemon_readiness_status_reload_and_a_graceful_stop() {
    let mut vm = Vm::start(&[]);
    let children = vm.children();

    // (a) The guest daemon's READY=1 reaches the runner's NOTIFY_SOCKET, status and all.
    let ready = vm.ready();
    let first = vm.notify.seen.last().cloned().unwrap_or_default();
    assert!(first.contains("STATUS=running"), "{first:?}");
    eprintln!("runner start -> READY=1 at the notify socket: {ready:?}");

    // (b) `status --json` through the runner's control socket on the host.
    let (code, out) = vm.manage(&["status", "--json"]);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value =
        serde_json::from_str(out.lines().next().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let live = &json["live"];
    assert_eq!(
        (live["name"].as_str(), live["state"].as_str(), live["ready"].as_bool()),
        (Some("probe"), Some("running"), Some(true)),
        "{out}"
    );
    let pid = live["pid"].as_u64().unwrap_or(0);
    assert!(pid > 1, "the daemon is not an ordinary process of the guest: {out}");
    assert_eq!(live["config_generation"].as_u64(), Some(1), "{out}");
    assert_eq!(
        json["socket"].as_str(),
        Some(vm.runtime.path().join("control.sock").to_str().unwrap_or_default()),
        "{out}"
    );

    // (c) `reload` crosses too, and the reload's notifications reach the notify socket.
    let (code, out) = vm.manage(&["reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("generation 2 is in effect"), "{out}");
    let (_, again) = vm.notify.until("READY=1", Duration::from_secs(30), &mut vm.runner);
    assert!(again.contains("X_DUENDE_RELOAD=accepted"), "{again:?}");
    assert!(vm.notify.seen.iter().any(|d| d.lines().any(|l| l == "RELOADING=1")), "{:?}", vm.notify.seen);

    // SIGHUP to the runner is a reload of the guest's daemon, as it is under a manager.
    vm.runner.signal(libc::SIGHUP);
    let (_, third) = vm.notify.until("READY=1", Duration::from_secs(30), &mut vm.runner);
    assert!(third.contains("configuration generation 3"), "{third:?}");
    vm.runner.expect_line("the guest's daemon reloaded: configuration generation 3");

    // (d) SIGTERM: the guest's daemon stops gracefully, the runner exits 0, nothing is left.
    let (code, took) = vm.terminate();
    let output = vm.runner.output();
    eprintln!("SIGTERM -> runner exit: {took:?} (status {code})\nrunner output:\n{output}");
    assert_eq!(code, 0, "{output}");
    let seen = vm.notify.drain();
    assert!(seen.iter().any(|d| d.lines().any(|l| l == "STOPPING=1")), "{seen:?}");
    assert!(output.contains("the guest's daemon exited with status 0"), "{output}");
    for pid in children {
        assert!(!exists(pid), "process {pid} (QEMU or the vsock backend) is still there");
    }
    let left: Vec<String> = std::fs::read_dir(vm.runtime.path())
        .expect("read the runtime directory")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.ends_with(".sock") || name.contains("vsock"))
        .collect();
    assert!(left.is_empty(), "sockets left behind: {left:?}");
    // The guest's console is the runner's standard output, its lines cleaned of the terminal's
    // carriage returns and colours.
    assert!(output.contains("probe exited with status 0"), "{output}");
    assert!(output.lines().any(|line| line == "shutdown requested"), "{output}");
    assert!(!output.contains('\r') && !output.contains('\x1b'), "{output:?}");
}

#[test]
fn a_failing_guest_daemon_is_the_runner_s_exit_status() {
    let mut vm = Vm::start(&["app.fail_run=true"]);
    let children = vm.children();
    vm.ready();
    let code = vm.runner.wait_exit();
    let output = vm.runner.output();
    assert_eq!(code, 70, "{output}");
    assert!(output.contains("the guest's daemon exited with status 70"), "{output}");
    for pid in children {
        assert!(!exists(pid), "process {pid} (QEMU or the vsock backend) is still there");
    }
}

#[test]
fn start_to_ready_and_sigterm_to_exit_over_five_runs() {
    let mut figures = Vec::new();
    for run in 1..=5 {
        let mut vm = Vm::start(&[]);
        let children = vm.children();
        let ready = vm.ready();
        let (code, stopped) = vm.terminate();
        assert_eq!(code, 0, "run {run}:\n{}", vm.runner.output());
        for pid in children {
            assert!(!exists(pid), "run {run}: process {pid} is still there");
        }
        eprintln!("run {run}: runner start -> READY=1 {ready:?}; SIGTERM -> runner exit {stopped:?}");
        figures.push((ready, stopped));
    }
    let stats = |pick: fn(&(Duration, Duration)) -> Duration| {
        let mut all: Vec<Duration> = figures.iter().map(pick).collect();
        all.sort();
        format!("min {:?}, median {:?}, max {:?}", all[0], all[all.len() / 2], all[all.len() - 1])
    };
    println!("pepita runner, 5 runs (debug probe, TCG): start -> READY=1: {}", stats(|f| f.0));
    println!("pepita runner, 5 runs (debug probe, TCG): SIGTERM -> exit 0: {}", stats(|f| f.1));
}

#[test]
fn a_vm_that_dies_without_reporting_an_exit_status_is_71_and_the_backend_goes_with_it() {
    let mut vm = Vm::start(&[]);
    let [qemu, backend] = vm.children();
    vm.ready();
    // SAFETY: kill has no memory-safety preconditions; `qemu` is the runner's child, not reaped yet.
    assert_eq!(unsafe { libc::kill(qemu, libc::SIGKILL) }, 0);
    let code = vm.runner.wait_exit();
    let output = vm.runner.output();
    assert_eq!(code, 71, "{output}");
    assert!(output.contains("without the guest reporting its daemon's exit status"), "{output}");
    assert!(!exists(qemu) && !exists(backend), "{output}");
}

#[test]
fn sigterm_while_the_guest_boots_stops_the_daemon_once_it_answers() {
    let mut vm = Vm::start(&[]);
    let children = vm.children();
    let (code, took) = vm.terminate();
    let output = vm.runner.output();
    eprintln!("SIGTERM during the boot -> runner exit: {took:?} (status {code})\n{output}");
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("the guest's daemon exited with status 0"), "{output}");
    for pid in children {
        assert!(!exists(pid), "process {pid} (QEMU or the vsock backend) is still there");
    }
}
