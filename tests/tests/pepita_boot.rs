//! Daemons booted as PID 1 of a real microVM: a bundle built through the library (the daemon's
//! binary and the libraries it links, its configuration, the guest kernel's vsock modules), booted
//! by QEMU's `microvm` machine under TCG (software emulation: KVM is not assumed), with the serial
//! console on QEMU's standard output. One VM per test, and the tests take turns (a lock): under
//! TCG each boot keeps a CPU busy.
//!
//! The guest kernel is Debian's cloud kernel, which `scripts/pepita-kernel` fetches and
//! `scripts/test` names in `DUENDE_TEST_PEPITA_KERNEL`; without it these tests fail. Every wait
//! is bounded, and QEMU is killed by PID when a test's handle drops.
#![cfg(feature = "root-tests")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use duende_runtime::config::platforms::{Accel, PepitaSettings};
use duende_runtime::platform::Host;
use duende_runtime::platform::pepita::qemu::{self, Console};
use duende_runtime::platform::pepita::{self, Bundle, Request, bundle};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const SWAPD: &str = env!("CARGO_BIN_EXE_example-mlock");

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
    _dir: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Vm {
    fn boot(bundle: &Bundle) -> Vm {
        let turn = ONE_VM.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let initramfs = dir.path().join("initramfs.cpio");
        std::fs::write(&initramfs, &bundle.initramfs).expect("write the initramfs");
        let command = qemu::command(bundle, &initramfs, &Console::Stdio);
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
        Vm { qemu, lines, console: Vec::new(), booted, _dir: dir, _turn: turn }
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
