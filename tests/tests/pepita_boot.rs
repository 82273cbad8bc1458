//! Daemons booted as PID 1 of a real microVM: a bundle built through the library (the daemon's
//! binary and the libraries it links, its configuration, the guest kernel's vsock modules), booted
//! by QEMU's `microvm` machine under TCG (software emulation: KVM is not assumed), with the serial
//! console on QEMU's standard output. One VM per test, and the tests take turns (a lock): under
//! TCG each boot keeps a CPU busy.
//!
//! Some VMs have a vsock device (`vhost-user-vsock-device`) served by `vhost-device-vsock`, and the
//! host talks to the guest as `install --platform pepita` will: it reads the guest's report
//! (`HELLO`, the daemon's sd_notify datagrams, `EXIT`) on the hybrid vsock listener, and sends
//! control requests through `CONNECT` to the guest's control port with the control protocol's
//! own client. The others have none, and the console is their only way out.
//!
//! The guest kernel is Debian's cloud kernel, which `scripts/pepita-kernel` fetches and
//! `scripts/test` names in `DUENDE_TEST_PEPITA_KERNEL`; `scripts/test` also installs
//! `vhost-device-vsock` and names it in `DUENDE_TEST_VHOST_VSOCK`; without them these tests fail.
//! Every wait is bounded, and QEMU and the vsock backend are killed by PID when a test's handle
//! drops.
#![cfg(feature = "root-tests")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use duende_runtime::config::platforms::{Accel, PepitaSettings};
use duende_runtime::control::client::Connection;
use duende_runtime::control::protocol::{DaemonState, HealthLevel, Op, ReloadResult, StatusResult, StopResult};
use duende_runtime::platform::Host;
use duende_runtime::platform::pepita::qemu;
use duende_runtime::platform::pepita::report::{self, Notification, Report};
use duende_runtime::platform::pepita::{self, Bundle, Request, bundle, hybrid};
use serde::de::DeserializeOwned;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const SWAPD: &str = env!("CARGO_BIN_EXE_example-mlock");
const SPOOL: &str = env!("CARGO_BIN_EXE_example-health");

/// How long a boot may take to reach a line, or to power off: TCG boots a kernel in 2-3 s, and
/// the kernel unpacks a ~90 MB initramfs (a debug build) before that; a hung boot fails here.
const BOOT_PATIENCE: Duration = Duration::from_secs(120);

/// Guest memory: the kernel holds the initramfs twice while it unpacks it (the archive and the
/// files). With the ~95 MB debug binaries, 320 MiB failed to unpack and 336 MiB booted (Debian 12's
/// cloud kernel); 512 leaves room for bigger debug builds and for what swapd locks.
const MEMORY_MB: u64 = 512;

/// One VM at a time.
static ONE_VM: Mutex<()> = Mutex::new(());

fn kernel() -> PathBuf {
    let Some(kernel) = std::env::var_os("DUENDE_TEST_PEPITA_KERNEL") else {
        panic!("DUENDE_TEST_PEPITA_KERNEL is not set: run `scripts/pepita-kernel` and export the path it prints");
    };
    PathBuf::from(kernel)
}

/// The bundle of `binary` (named `name`), run with `sets` and its own `args`, with `config` as
/// its configuration file.
fn bundle_of(name: &str, binary: &str, config: Option<&Path>, sets: &[&str], args: &[&str]) -> Bundle {
    with_request(name, binary, config, sets, args, |request| {
        pepita::build(&Host::from_process(), request).unwrap_or_else(|err| panic!("cannot build the bundle: {err}"))
    })
}

/// Calls `then` with the request for the bundle of `binary`.
fn with_request<T>(
    name: &str,
    binary: &str,
    config: Option<&Path>,
    sets: &[&str],
    args: &[&str],
    then: impl FnOnce(&Request<'_>) -> T,
) -> T {
    let settings =
        PepitaSettings { kernel: Some(kernel()), memory_mb: MEMORY_MB, accel: Accel::Tcg, ..PepitaSettings::default() };
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env = BTreeMap::from([
        ("RUST_LOG".to_owned(), "info".to_owned()),
        ("ECHO_GREETING".to_owned(), "hello, guest".to_owned()),
    ]);
    let request =
        Request { name, binary: Path::new(binary), config, sets: &sets, args: &args, env: &env, settings: &settings };
    then(&request)
}

/// A VM booting, its console read line by line.
struct Vm {
    qemu: Child,
    lines: Receiver<String>,
    console: Vec<String>,
    booted: Instant,
    /// The guest's vsock, when it has one (dropped after QEMU is killed).
    vsock: Option<Vsock>,
    _dir: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Vm {
    /// Boots `bundle` with no vsock device: the console is the guest's only way out.
    fn boot(bundle: &Bundle) -> Vm {
        Vm::start(bundle, false)
    }

    /// Boots `bundle` with a vsock device, its backend `vhost-device-vsock` running, and the
    /// host listening for the guest's report before QEMU starts.
    fn boot_with_vsock(bundle: &Bundle) -> Vm {
        Vm::start(bundle, true)
    }

    fn start(bundle: &Bundle, with_vsock: bool) -> Vm {
        let turn = ONE_VM.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let initramfs = dir.path().join("initramfs.cpio");
        std::fs::write(&initramfs, &bundle.initramfs).expect("write the initramfs");
        let vsock = with_vsock.then(|| Vsock::start(dir.path(), bundle.vsock_cid));
        let command = qemu::command(bundle, &initramfs, vsock.as_ref().map(|v| v.vhost.as_path()));
        eprintln!("booting: {command}");
        let booted = Instant::now();
        let mut qemu = Command::new(&command.program)
            .args(&command.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err} (apt-get install qemu-system-x86)", command.program));
        let (tx, lines) = mpsc::channel();
        pump(qemu.stdout.take().expect("stdout piped"), tx.clone());
        pump(qemu.stderr.take().expect("stderr piped"), tx);
        Vm { qemu, lines, console: Vec::new(), booted, vsock, _dir: dir, _turn: turn }
    }

    /// Waits for a console line containing `needle` (colours stripped); returns it and how long
    /// after QEMU started it came.
    fn expect(&mut self, needle: &str) -> (String, Duration) {
        if let Some(line) = self.console.iter().find(|l| l.contains(needle)) {
            return (line.clone(), self.booted.elapsed());
        }
        let deadline = self.booted + BOOT_PATIENCE;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let line = plain(&line);
                    self.console.push(line.clone());
                    if line.contains(needle) {
                        return (line, self.booted.elapsed());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no console line with {needle:?} within {BOOT_PATIENCE:?}:\n{}", self.console())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("QEMU ended before a console line with {needle:?}:\n{}", self.console())
                }
            }
        }
    }

    /// Waits for QEMU to exit by itself; returns its exit code and when it exited.
    fn expect_exit(&mut self) -> (Option<i32>, Duration) {
        let deadline = self.booted + BOOT_PATIENCE;
        loop {
            if let Some(status) = self.qemu.try_wait().expect("try_wait") {
                let at = self.booted.elapsed();
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.console.push(plain(&line));
                }
                return (status.code(), at);
            }
            assert!(Instant::now() < deadline, "QEMU did not exit within {BOOT_PATIENCE:?}:\n{}", self.console());
            while let Ok(line) = self.lines.try_recv() {
                self.console.push(plain(&line));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn console(&self) -> String {
        self.console.join("\n")
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        eprintln!("console:\n{}", self.console());
        if matches!(self.qemu.try_wait(), Ok(None)) {
            // Child::kill sends SIGKILL to this child's PID.
            let _ = self.qemu.kill();
            let _ = self.qemu.wait();
        }
    }
}

fn pump(stream: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).split(b'\n') {
            let Ok(line) = line else { break };
            if tx.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                break;
            }
        }
    });
}

/// `line` without terminal escape sequences (the console is a terminal, so logs are coloured)
/// and carriage returns.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The number after `key=` in `line`.
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[test]
fn a_daemon_boots_as_an_ordinary_process_under_duende_as_pid_1() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("probe.toml");
    std::fs::write(&config, "[app]\nlabel = \"from the bundle's file\"\n").expect("write the configuration");
    let bundle = bundle_of("probe", PROBE, Some(&config), &["app.level=3"], &["--flag", "two words", "it's"]);
    let mut vm = Vm::boot(&bundle);
    vm.expect("init label=from the bundle's file");
    vm.expect(r#"args=["--flag", "two words", "it's"]"#);
    vm.expect(r#"env ECHO_GREETING="hello, guest""#);
    let (ready, at) = vm.expect(" ready ");
    let pid = number_after(&ready, "pid=").unwrap_or_else(|| panic!("no pid in {ready:?}"));
    assert!(pid > 1, "the daemon is PID 1 itself: {ready}");
    eprintln!("probe: QEMU start to ready: {at:?} ({ready})");
    let console = vm.console();
    assert!(!console.contains("duende: probe cannot start"), "{console}");
    assert!(!console.contains("Kernel panic"), "{console}");
    // No host to fetch the configuration file from: one line, and the initramfs's copy is used.
    let fallback = "; probe starts with the configuration in the initramfs";
    assert_eq!(console.matches(fallback).count(), 1, "{console}");
}

#[test]
fn a_failing_daemon_powers_the_vm_off_with_its_status() {
    let bundle = bundle_of("probe", PROBE, None, &["app.fail_run=true"], &[]);
    let mut vm = Vm::boot(&bundle);
    let (_, ready) = vm.expect(" ready ");
    vm.expect("told to fail in run");
    let (line, reported) = vm.expect("duende: probe exited with status");
    assert_eq!(line.trim(), "duende: probe exited with status 70");
    let (code, off) = vm.expect_exit();
    let console = vm.console();
    eprintln!("failing probe: ready at {ready:?}, status reported at {reported:?}, QEMU exited at {off:?} ({code:?})");
    assert_eq!(code, Some(0), "QEMU did not end by itself:\n{console}");
    assert!(!console.contains("Kernel panic"), "the guest kernel panicked instead of powering off:\n{console}");
    assert!(console.contains("reboot: Power down") || !console.contains("reboot:"), "{console}");
    // No vsock device: init says so once, and the console carries the report alone.
    let said = console.matches("duende: vsock:").count();
    assert_eq!(said, 1, "{console}");
    assert!(console.contains("duende: vsock: no report to the host (CID 2, port 1024: "), "{console}");
}

#[test]
fn a_guest_that_cannot_start_its_daemon_reports_why_and_powers_off() {
    // A module the kernel refuses: init cannot prepare the guest, so the daemon never starts.
    let bundle = with_request("probe", PROBE, None, &[], &[], |request| {
        let mut spec = pepita::gather(&Host::from_process(), request).unwrap_or_else(|err| panic!("gather: {err}"));
        let (path, bytes) = spec.modules.first_mut().expect("the cloud kernel's vsock is made of modules");
        eprintln!("replacing {path} with something that is not a module");
        *bytes = b"not a kernel module".to_vec();
        bundle::build(&spec).unwrap_or_else(|err| panic!("build: {err}"))
    });
    let mut vm = Vm::boot(&bundle);
    let (why, _) = vm.expect("duende: probe cannot start: loading module /lib/modules/");
    let (line, _) = vm.expect("duende: probe exited with status");
    assert_eq!(line.trim(), "duende: probe exited with status 71", "{why}");
    let (code, off) = vm.expect_exit();
    let console = vm.console();
    eprintln!("unstartable guest: QEMU exited at {off:?} ({code:?}): {why}");
    assert_eq!(code, Some(0), "{console}");
    assert!(!console.contains("Kernel panic"), "{console}");
    assert!(!console.contains("main body"), "the daemon ran:\n{console}");
}

#[test]
fn a_daemon_that_requires_locked_memory_locks_it_in_the_guest() {
    let bundle = bundle_of("swapd", SWAPD, None, &[], &[]);
    let mut vm = Vm::boot(&bundle);
    let (line, at) = vm.expect("VmLck = ");
    let locked = number_after(&line, "VmLck = ").unwrap_or_else(|| panic!("no VmLck in {line:?}"));
    eprintln!("swapd: QEMU start to `{line}`: {at:?}");
    assert!(locked >= 16 * 1024, "the 16 MiB buffer is not locked: {line}\n{}", vm.console());
    vm.expect(" ready ");
}

#[test]
fn the_bundle_is_byte_identical_when_built_twice() {
    let first = bundle_of("probe", PROBE, None, &["app.fail_run=true"], &[]);
    let second = bundle_of("probe", PROBE, None, &["app.fail_run=true"], &[]);
    assert!(first.initramfs == second.initramfs, "the initramfs differs between two builds");
    assert_eq!(first, second);
    let listing = first.listing.join("\n");
    for entry in ["f 0755 /init (", "/lib/modules/", "vmw_vsock_virtio_transport.ko", "f 0644 /pepita/argv"] {
        assert!(listing.contains(entry), "{entry} not in:\n{listing}");
    }
    assert!(first.cmdline.ends_with("PEPITA_VSOCK_CID=3"), "{}", first.cmdline);
}

/// The host's end of a guest's vsock: `vhost-device-vsock` (killed by PID when dropped), and a
/// thread that accepts the guest's report and passes each message on with the time it came.
struct Vsock {
    backend: Child,
    /// QEMU's end of the backend.
    vhost: PathBuf,
    /// The hybrid vsock socket: host → guest connections.
    uds: PathBuf,
    reports: Receiver<(Instant, Report)>,
}

impl Vsock {
    fn start(dir: &Path, cid: u32) -> Vsock {
        let Some(program) = std::env::var_os("DUENDE_TEST_VHOST_VSOCK") else {
            panic!(
                "DUENDE_TEST_VHOST_VSOCK is not set: `cargo install --locked vhost-device-vsock` and export its path"
            );
        };
        let (vhost, uds) = (dir.join("vm.vhost.sock"), dir.join("vm.vsock"));
        let command = hybrid::backend_command(&program.to_string_lossy(), cid, &vhost, &uds);
        eprintln!("vsock backend: {command}");
        let backend = Command::new(&command.program)
            .args(&command.args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", command.program));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !vhost.exists() {
            assert!(Instant::now() < deadline, "{} did not create {} within 10s", command.program, vhost.display());
            thread::sleep(Duration::from_millis(20));
        }
        let listener = hybrid::listen(&uds, pepita::REPORT_PORT).expect("listen for the guest's report");
        let (tx, reports) = mpsc::channel();
        thread::spawn(move || read_reports(&listener, &tx));
        Vsock { backend, vhost, uds, reports }
    }

    /// The next report message, within `BOOT_PATIENCE` of `since`.
    fn next(&self, since: Instant) -> (Duration, Report) {
        let left = (since + BOOT_PATIENCE).saturating_duration_since(Instant::now());
        match self.reports.recv_timeout(left) {
            Ok((at, report)) => (at.saturating_duration_since(since), report),
            Err(err) => panic!("no report from the guest over vsock within {BOOT_PATIENCE:?} ({err})"),
        }
    }

    /// Reads report messages until one is a notification for which `wanted` holds; returns it and
    /// when it came (after `since`), with every message read on the way.
    fn until(&self, since: Instant, what: &str, wanted: impl Fn(&Report) -> bool) -> (Duration, Report, Vec<Report>) {
        let mut seen = Vec::new();
        loop {
            let (at, report) = self.next(since);
            eprintln!("vsock report at {at:?}: {report:?}");
            if wanted(&report) {
                return (at, report, seen);
            }
            assert!(!matches!(report, Report::Exit(_)), "the guest reported its exit before {what}: {seen:?}");
            seen.push(report);
        }
    }
}

impl Drop for Vsock {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to this child's PID.
        let _ = self.backend.kill();
        let _ = self.backend.wait();
    }
}

/// Accepts the guest's report connection (within `BOOT_PATIENCE`), passes on every message, and
/// acknowledges `EXIT`.
fn read_reports(listener: &UnixListener, tx: &mpsc::Sender<(Instant, Report)>) {
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let deadline = Instant::now() + BOOT_PATIENCE;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return,
        }
    };
    stream.set_nonblocking(false).expect("a blocking stream");
    stream.set_read_timeout(Some(BOOT_PATIENCE)).expect("a read timeout");
    let mut reader = report::Reader::new(stream);
    while let Ok(Some(message)) = reader.next_report() {
        let exit = matches!(message, Report::Exit(_));
        if tx.send((Instant::now(), message)).is_err() {
            return;
        }
        if exit {
            let _ = reader.get_mut().write_all(report::ACK);
        }
    }
}

/// One control request over the guest's vsock, through the control protocol's own client:
/// `CONNECT` to the control port (retried while nothing listens there yet), then the request.
/// With `until_closed`, waits for the guest to end the connection too (after `stop`: when the
/// daemon has exited).
fn control<T: DeserializeOwned>(uds: &Path, op: Op, until_closed: bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        match hybrid::connect(uds, pepita::CONTROL_PORT, Duration::from_secs(5)) {
            Ok(stream) => break stream,
            Err(err) if Instant::now() < deadline => {
                eprintln!("control port not there yet: {err}");
                thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("cannot reach the guest's control port: {err}"),
        }
    };
    let runtime = duende::tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let label = Path::new("vsock:1025");
    runtime.block_on(async {
        let bound = Duration::from_secs(30);
        let exchange = async {
            let mut connection = Connection::over(stream, label).unwrap_or_else(|err| panic!("{err}"));
            let result: T = connection.call(op).await.unwrap_or_else(|err| panic!("`{}` over vsock: {err}", op.name()));
            if until_closed {
                connection.closed().await.unwrap_or_else(|err| panic!("waiting for the end: {err}"));
            }
            result
        };
        duende::tokio::time::timeout(bound, exchange)
            .await
            .unwrap_or_else(|_| panic!("`{}` over vsock did not finish within {bound:?}", op.name()))
    })
}

fn notification(report: &Report) -> Option<&Notification> {
    match report {
        Report::Notify(notification) => Some(notification),
        _ => None,
    }
}

#[test]
fn readiness_status_and_control_cross_vsock_and_the_exit_status_comes_last() {
    let sets = ["app.spool=/tmp", "app.interval_ms=200", "health_check.enabled=true", "health_check.interval=1s"];
    let bundle = bundle_of("spool", SPOOL, None, &sets, &[]);
    let mut vm = Vm::boot_with_vsock(&bundle);
    let booted = vm.booted;
    let vsock = vm.vsock.take().expect("the VM has a vsock");

    // 1. The guest's init says hello, then relays the daemon's READY=1 with its status.
    let (_, hello) = vsock.next(booted);
    assert_eq!(hello, Report::Hello { version: report::VERSION, name: "spool".into() });
    let (ready_at, ready, _) = vsock.until(booted, "READY=1", |r| notification(r).is_some_and(Notification::is_ready));
    let ready = notification(&ready).expect("a notification");
    assert_eq!(ready.status(), Some("running"), "{ready:?}");
    eprintln!("spool: QEMU start to READY=1 over vsock: {ready_at:?}");

    // A port nothing listens on in the guest: the backend closes the connection, no `OK`.
    match hybrid::connect(&vsock.uds, 4444, Duration::from_secs(10)) {
        Err(hybrid::ConnectError::Refused { port: 4444 }) => {}
        Err(err) => panic!("CONNECT to a closed port: {err}"),
        Ok(_) => panic!("CONNECT to a port nothing listens on was answered"),
    }

    // 2. `status` through the guest's control port: the live daemon, as its runtime sees it.
    let status: StatusResult = control(&vsock.uds, Op::Status, false);
    eprintln!("status over vsock: {status:?}");
    assert_eq!((status.name.as_str(), status.state, status.ready), ("spool", DaemonState::Running, true));
    assert!(status.pid > 1, "the daemon is PID 1 itself: {status:?}");
    assert_eq!(status.config_generation, 1);
    assert_eq!(status.health.state, HealthLevel::Healthy, "{status:?}");
    assert!(status.health.checks.iter().any(|check| check.name == "spool"), "{status:?}");
    let (console_ready, _) = vm.expect(" ready ");
    assert!(console_ready.contains(&format!("pid={}", status.pid)), "{console_ready}");

    // 3. `reload` crosses too, and the daemon's reload notifications follow it.
    let reloaded: ReloadResult = control(&vsock.uds, Op::Reload, false);
    assert_eq!(reloaded.generation, 2);
    let (_, again, on_the_way) =
        vsock.until(booted, "READY=1 after the reload", |r| notification(r).is_some_and(Notification::is_ready));
    assert!(on_the_way.iter().filter_map(notification).any(Notification::is_reloading), "{on_the_way:?}");
    assert_eq!(notification(&again).and_then(|n| n.get("X_DUENDE_RELOAD")), Some("accepted"), "{again:?}");

    // 4. `stop`: the connection lasts until the daemon has exited; STOPPING=1, then EXIT 0, then
    //    the VM powers itself off.
    let stopped: StopResult = control(&vsock.uds, Op::Stop, true);
    assert_eq!((stopped.pid, stopped.already_stopping), (status.pid, false));
    let (stopping_at, _, _) =
        vsock.until(booted, "STOPPING=1", |r| notification(r).is_some_and(Notification::is_stopping));
    let (exit_at, exit, after_stopping) = vsock.until(booted, "EXIT", |r| matches!(r, Report::Exit(_)));
    assert_eq!(exit, Report::Exit(0), "after {after_stopping:?}");
    let (code, off) = vm.expect_exit();
    let console = vm.console();
    eprintln!(
        "spool over vsock: READY=1 at {ready_at:?}, STOPPING=1 at {stopping_at:?}, EXIT 0 at {exit_at:?}, QEMU exited at {off:?} ({code:?})"
    );
    assert_eq!(code, Some(0), "QEMU did not end by itself:\n{console}");
    assert!(console.contains("duende: spool exited with status 0"), "{console}");
    assert!(!console.contains("Kernel panic"), "{console}");
    assert!(!console.contains("duende: vsock:"), "init had trouble with vsock:\n{console}");
}

#[test]
fn a_guest_that_cannot_start_its_daemon_reports_its_status_over_vsock_too() {
    // An empty command line: init loads the modules (vsock among them), then cannot start the daemon.
    let bundle = with_request("probe", PROBE, None, &[], &[], |request| {
        let mut spec = pepita::gather(&Host::from_process(), request).unwrap_or_else(|err| panic!("gather: {err}"));
        spec.argv.clear();
        bundle::build(&spec).unwrap_or_else(|err| panic!("build: {err}"))
    });
    let mut vm = Vm::boot_with_vsock(&bundle);
    let booted = vm.booted;
    let vsock = vm.vsock.take().expect("the VM has a vsock");
    let (_, hello) = vsock.next(booted);
    assert_eq!(hello, Report::Hello { version: report::VERSION, name: "probe".into() });
    let (exit_at, exit) = vsock.next(booted);
    assert_eq!(exit, Report::Exit(71));
    let (code, off) = vm.expect_exit();
    let console = vm.console();
    eprintln!("unstartable guest over vsock: EXIT 71 at {exit_at:?}, QEMU exited at {off:?} ({code:?})");
    assert_eq!(code, Some(0), "{console}");
    assert!(console.contains("duende: probe cannot start: /pepita/argv holds no command line"), "{console}");
    assert!(console.contains("duende: probe exited with status 71"), "{console}");
    assert!(!console.contains("Kernel panic"), "{console}");
}
