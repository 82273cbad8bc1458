//! `install --platform pepita` end to end: the probe installed with `--now` boots as PID 1 of a
//! QEMU microVM under TCG, run by the VM runner under duende's native supervisor (this machine's
//! PID 1 is not systemd). `status --json` shows the guest daemon's own report through the
//! runner's control socket; the configuration installed on the host is the guest's, at boot and
//! at `reload` (a good edit reaches the guest, a bad one is refused by the guest daemon's own
//! validation); a guest daemon that crashes is restarted by policy in a new VM that boots the
//! host's current file; an `install` whose VM never becomes ready is rolled back to the previous
//! bundle; `stop` is graceful and leaves no QEMU, a second identical `install` changes nothing,
//! and `uninstall` leaves nothing behind.
//!
//! The tests run as root but run the probe as the unprivileged user 65534 (`nobody`), with a
//! temporary home and `XDG_RUNTIME_DIR` it owns (`--user`): root's runtime directory would be
//! the host's own `/run/probe`. QEMU under TCG and `vhost-device-vsock` need no privileges.
//!
//! Needs `DUENDE_TEST_PEPITA_KERNEL` and `DUENDE_TEST_VHOST_VSOCK` (set by `scripts/test`, as for
//! `pepita_boot`). Where systemd is the init the runner is a systemd unit instead: `pepita_systemd`.
#![cfg(feature = "root-tests")]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use duende_tests::sandbox::show_output;
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// The user the probe runs as: `nobody`.
const NOBODY: u32 = 65534;

/// The host's own runtime directory for the probe, which these tests must not touch.
const HOST_RUN: &str = "/run/probe";

fn env_path(var: &str, how: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(value) => PathBuf::from(value),
        None => panic!("{var} is not set: {how}"),
    }
}

/// A temporary home and runtime directory owned by [`NOBODY`], and the probe's configuration for
/// a TCG guest.
struct Home {
    base: tempfile::TempDir,
    path: String,
    /// Whether the host's `/run/probe` existed before the test (another program's then).
    host_run_existed: bool,
}

impl Home {
    fn new() -> Home {
        let kernel = env_path("DUENDE_TEST_PEPITA_KERNEL", "run `scripts/pepita-kernel` and export the path it prints");
        let vsock = env_path("DUENDE_TEST_VHOST_VSOCK", "`cargo install --locked vhost-device-vsock`, export its path");
        let base = tempfile::Builder::new().prefix("duende-pepita-install-").tempdir().expect("a temporary directory");
        let tools = vsock.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", tools.display());
        let home = Home { base, path, host_run_existed: Path::new(HOST_RUN).exists() };
        chown(home.base.path());
        for dir in ["home", "run"] {
            std::fs::create_dir(home.at(dir)).expect("mkdir");
            chown(&home.at(dir));
        }
        let config = format!(
            "shutdown_timeout = \"10s\"\n[backoff]\ninitial = \"200ms\"\n[resources]\nlock_memory = true\n\
             [platform.pepita]\nkernel = \"{}\"\nmemory_mb = 512\naccel = \"tcg\"\n",
            kernel.display()
        );
        home.write("probe.toml", &format!("{config}[app]\nlabel = \"one\"\n"));
        home.write("base.toml", &config);
        home
    }

    fn at(&self, relative: &str) -> PathBuf {
        self.base.path().join(relative)
    }

    /// Writes `text` at `relative` for the probe's user to read.
    fn write(&self, relative: &str, text: &str) {
        std::fs::write(self.at(relative), text).expect("write a file");
        chown(&self.at(relative));
    }

    /// `base.toml` (the platform's settings) with `app` as its `[app]` section.
    fn config_with(&self, app: &str) -> String {
        let base = std::fs::read_to_string(self.at("base.toml")).expect("read base.toml");
        format!("{base}[app]\n{app}")
    }

    /// The configuration file `install` put in place: what the operator edits.
    fn installed_config(&self) -> PathBuf {
        self.at("home/.config/probe/probe.toml")
    }

    /// Replaces the installed configuration file, as an operator's editor would.
    fn edit_installed(&self, text: &str) {
        let path = self.installed_config();
        std::fs::write(&path, text).expect("edit the installed configuration");
        chown(&path);
    }

    /// The probe run as [`NOBODY`] with `args`; `config` is the `--config` it gets, if any.
    fn run(&self, args: &[&str], config: Option<&Path>) -> Output {
        let mut command = Command::new(PROBE);
        command.args(args).args(["--platform", "pepita", "--user"]);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.at("home"))
            .env("XDG_RUNTIME_DIR", self.at("run"))
            .env("RUST_LOG", "info")
            .current_dir(self.base.path())
            .uid(NOBODY)
            .gid(NOBODY);
        command.output().expect("run the probe")
    }

    /// The probe with `--config probe.toml`, the file `install` copies.
    fn probe(&self, args: &[&str]) -> Output {
        self.run(args, Some(&self.at("probe.toml")))
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.probe(args);
        assert!(out.status.success(), "probe {args:?}: {}", show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> Value {
        let out = self.run(&["status", "--json"], None);
        let text = String::from_utf8_lossy(&out.stdout);
        let json = text.lines().find(|l| l.starts_with('{')).map(duende_tests::schema::status);
        json.unwrap_or_else(|| panic!("no JSON from status: {}", show_output(&out)))
    }

    /// What `logs` shows: the guest's output among it.
    fn logs(&self) -> String {
        let out = self.run(&["logs", "-n", "10000"], None);
        assert!(out.status.success(), "probe logs: {}", show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The label of the guest daemon's last `init`, from its logs.
    fn booted_label(&self) -> Option<String> {
        let logs = self.logs();
        let line = logs.lines().rev().find_map(|line| line.split_once("init label=").map(|(_, label)| label))?;
        Some(line.trim().to_owned())
    }

    /// The runtime directory the runner and its supervisor use: in the temporary directory.
    fn runtime_dir(&self) -> PathBuf {
        self.at("run/probe")
    }

    /// A control-protocol request to the runner's socket, as root (which the socket lets in), and
    /// the one reply line.
    fn control(&self, request: &str) -> Value {
        let mut stream =
            UnixStream::connect(self.runtime_dir().join("control.sock")).expect("the runner's control socket");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("a read timeout");
        stream.write_all(format!("{request}\n").as_bytes()).expect("send the request");
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).expect("read the reply");
        serde_json::from_str(&reply).unwrap_or_else(|err| panic!("reply {reply:?} is not JSON: {err}"))
    }

    /// Waits until `status --json` says the guest daemon is ready and running; returns it.
    fn wait_ready(&self, what: &str, patience: Duration) -> Value {
        let mut last = Value::Null;
        wait_until(what, patience, || {
            last = self.status();
            last["state"] == "running" && last["ready"] == true && last["live"]["ready"] == true
        });
        last
    }

    /// Every path under the temporary home and runtime directory.
    fn listing(&self) -> Vec<String> {
        let mut paths = Vec::new();
        for dir in ["home", "run"] {
            walk(&self.at(dir), self.base.path(), &mut paths);
        }
        paths.sort();
        paths
    }

    /// Nothing of the test's appeared in the host's `/run/probe`.
    fn assert_host_run_untouched(&self) {
        if !self.host_run_existed {
            assert!(!Path::new(HOST_RUN).exists(), "{HOST_RUN} appeared: the runtime directory is the temporary one");
        }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // Whatever a failed test left running goes with it.
        let _ = self.probe(&["uninstall"]);
    }
}

fn chown(path: &Path) {
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
}

fn walk(dir: &Path, base: &Path, into: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        into.push(path.strip_prefix(base).unwrap_or(&path).display().to_string());
        if path.is_dir() {
            walk(&path, base, into);
        }
    }
}

/// The QEMU processes whose command line names `needle`.
fn qemus(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("qemu-system") && cmdline.contains(&needle) {
            found.push(pid);
        }
    }
    found
}

fn wait_until(what: &str, patience: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {patience:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The one QEMU that runs `bundle`.
fn the_qemu(bundle: &Path) -> u32 {
    match qemus(bundle)[..] {
        [pid] => pid,
        ref pids => panic!("one QEMU runs {}, not {pids:?}", bundle.display()),
    }
}

/// The bundle directory of a `--user` install in `home`.
fn bundle_of(home: &Home) -> PathBuf {
    home.at("home/.local/state/probe/pepita")
}

#[test]
fn install_now_status_reload_across_the_boundary_stop_reinstall_and_uninstall() {
    let home = Home::new();
    let before = home.listing();

    let shown = home.ok(&["install", "--dry-run"]);
    assert!(shown.contains("vmm: qemu-system-x86_64"), "the dry run shows the VMM's command line:\n{shown}");
    assert!(shown.contains("initramfs: "), "and the bundle's contents:\n{shown}");
    assert_eq!(home.listing(), before, "a dry run changes nothing");

    let started = Instant::now();
    let installed = home.ok(&["install", "--now"]);
    eprintln!("install --now ({:?}):\n{installed}", started.elapsed());
    let bundle = bundle_of(&home);
    for file in ["initramfs", "vmlinuz", "vm.json"] {
        assert!(bundle.join(file).is_file(), "{file} in the bundle directory");
    }
    let qemu = the_qemu(&bundle);
    assert!(
        home.runtime_dir().join("control.sock").exists(),
        "the runner's socket is in the temporary runtime directory"
    );
    home.assert_host_run_untouched();

    let status = home.status();
    eprintln!("status: {status}");
    assert_eq!(status["platform"], "pepita", "{status}");
    assert_eq!(status["state"], "running", "{status}");
    let live = &status["live"];
    assert_eq!(live["config_generation"], 1, "the guest daemon's own report: {status}");
    assert_eq!(live["ready"], true, "{status}");
    assert_eq!(live["health"]["state"], "healthy", "{status}");
    // `resources.lock_memory`: the guest daemon locks its memory in the guest (as root there),
    // whatever the host user's RLIMIT_MEMLOCK; its own report says how much is pinned.
    let pinned = live["locked_memory"]["pinned_bytes"].as_u64().unwrap_or_else(|| panic!("no locked memory: {status}"));
    assert!(pinned >= 16 << 20, "the guest daemon's binary alone is more than 16 MiB, all pinned: {status}");
    let logs = home.logs();
    assert!(logs.contains("memory locked: "), "the guest's own log line:\n{logs}");
    assert_eq!(home.booted_label().as_deref(), Some("one"), "{}", home.logs());

    let again = home.ok(&["install"]);
    assert!(again.contains("nothing to change"), "a second identical install changes nothing:\n{again}");

    // A good edit of the installed file reaches the guest at `reload` (through the runner's
    // control socket, which answers with the guest daemon's verdict).
    home.edit_installed(&home.config_with("label = \"two\"\n"));
    let asked = Instant::now();
    let out = home.run(&["reload"], None);
    let took = asked.elapsed();
    assert!(out.status.success(), "reload: {}", show_output(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("probe: configuration reloaded; generation 2 is in effect"), "{said}");
    eprintln!("reload across the VM boundary took {took:?}: {}", String::from_utf8_lossy(&out.stdout).trim());
    let status = home.status();
    assert_eq!(status["live"]["config_generation"], 2, "the reload reached the guest: {status}");
    assert_eq!(
        status["drift"],
        serde_json::json!(["bundle"]),
        "the guest runs the edited file; only the initramfs's fallback copy of it is stale: {status}"
    );
    let logs = home.logs();
    assert!(logs.contains("reloaded generation=2 label=two"), "the guest daemon has the host's new file:\n{logs}");

    // A bad edit: `reload` refuses it naming the violation, as on a host, and the guest daemon's
    // own validation refuses it too when the request reaches it directly.
    home.edit_installed(&home.config_with("label = \"bad\"\nlevel = -1\n"));
    let out = home.run(&["reload"], None);
    assert_eq!(out.status.code(), Some(78), "a bad configuration is a configuration error: {}", show_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("app.level"),
        "the violation is named: {}",
        show_output(&out)
    );
    let asked = Instant::now();
    let reply = home.control(r#"{"v":1,"op":"reload"}"#);
    eprintln!("a reload refused by the guest daemon ({:?}): {reply}", asked.elapsed());
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "reload-rejected", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("app.level"), "the guest daemon names the violation: {reply}");
    let status = home.status();
    assert_eq!(status["live"]["config_generation"], 2, "generation 2 stays: {status}");
    assert_eq!(status["live"]["ready"], true, "{status}");
    assert_eq!(status["live"]["last_reload"]["outcome"], "rejected", "{status}");
    assert!(home.logs().contains("reload rejected label=two"), "the guest daemon runs on with its configuration");
    assert_eq!(the_qemu(&bundle), qemu, "the same VM runs on");

    // A file the runner cannot read: a reload is refused before it reaches the guest daemon,
    // whether asked over the control socket (the guest's init fetches first) or by SIGHUP to the
    // runner (which tells its supervisor the reload was rejected).
    let installed = home.installed_config();
    std::os::unix::fs::chown(&installed, Some(0), Some(0)).expect("chown to root");
    std::fs::set_permissions(&installed, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let reply = home.control(r#"{"v":1,"op":"reload"}"#);
    assert_eq!(reply["error"]["code"], "reload-rejected", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot read the configuration file") && message.contains("probe.toml"), "{reply}");
    let runner = i32::try_from(home.status()["pid"].as_u64().expect("the runner's pid")).expect("a pid");
    // SAFETY: kill has no memory-safety preconditions; the pid is the runner's, which runs.
    assert_eq!(unsafe { libc::kill(runner, libc::SIGHUP) }, 0);
    wait_until("the supervisor hears of the rejected reload", Duration::from_secs(10), || {
        home.status()["detail"].as_str().is_some_and(|detail| detail.contains("reload rejected: cannot read"))
    });
    let status = home.status();
    assert_eq!(status["live"]["config_generation"], 2, "the guest daemon did not reload: {status}");
    assert_eq!(status["live"]["ready"], true, "{status}");
    chown(&installed);

    let stopped = Instant::now();
    let out = home.ok(&["stop"]);
    eprintln!("stop ({:?}): {out}", stopped.elapsed());
    wait_until("no QEMU left after stop", Duration::from_secs(5), || qemus(&bundle).is_empty());
    let status = home.status();
    assert_eq!(status["state"], "stopped", "{status}");

    let out = home.ok(&["uninstall"]);
    eprintln!("uninstall: {out}");
    assert!(qemus(&bundle).is_empty());
    assert_eq!(home.listing(), before, "uninstall leaves nothing");
    home.assert_host_run_untouched();
}

#[test]
fn a_guest_daemon_that_crashes_is_restarted_by_policy_in_a_vm_that_boots_the_host_s_configuration() {
    let home = Home::new();
    home.ok(&["install", "--now"]);
    let bundle = bundle_of(&home);
    let first = the_qemu(&bundle);
    assert_eq!(home.booted_label().as_deref(), Some("one"));

    // The reload brings `crash_on_reload` in: the guest daemon's `run` fails, the VM powers off
    // with its status, the runner exits with it, and the supervisor starts it again.
    home.edit_installed(&home.config_with("label = \"crashy\"\ncrash_on_reload = true\n"));
    let crashed = Instant::now();
    let out = home.run(&["reload"], None);
    eprintln!("reload that crashes the guest daemon: {}", show_output(&out));
    let patience = Duration::from_secs(90);
    let status = loop {
        let status = home.status();
        let running = qemus(&bundle);
        if status["restarts"].as_u64().unwrap_or(0) >= 1
            && status["state"] == "running"
            && status["ready"] == true
            && status["live"]["ready"] == true
            && running.first().is_some_and(|pid| *pid != first)
        {
            break status;
        }
        assert!(
            crashed.elapsed() < patience,
            "no new VM, ready, within {patience:?} of the crash (first QEMU {first}, now {running:?}); status: \
             {status}\nlogs:\n{}",
            home.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("crash → ready again in a new VM: {:?}; status: {status}", crashed.elapsed());
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["live"]["config_generation"], 1, "a fresh guest daemon: {status}");
    assert_ne!(the_qemu(&bundle), first, "a new QEMU");
    assert!(status["last_exit_status"].as_u64().is_some_and(|code| code != 0), "the VM ended with the crash: {status}");
    let logs = home.logs();
    assert_eq!(
        home.booted_label().as_deref(),
        Some("crashy"),
        "the new VM booted the host's current file, not the initramfs's (label one):\n{logs}"
    );
    // `logs` holds both boots, in order: the guest's console is the runner's output, kept by
    // the supervisor across restarts.
    let at = |needle: &str| logs.find(needle).unwrap_or_else(|| panic!("no {needle:?} in the logs:\n{logs}"));
    assert!(at("init label=one") < at("crashing on reload"), "{logs}");
    assert!(at("crashing on reload") < at("init label=crashy"), "{logs}");
    home.ok(&["uninstall"]);
    assert!(qemus(&bundle).is_empty(), "no QEMU left");
    home.assert_host_run_untouched();
}

#[test]
fn an_install_whose_vm_never_becomes_ready_is_rolled_back_to_the_previous_bundle() {
    let home = Home::new();
    home.ok(&["install", "--now"]);
    let bundle = bundle_of(&home);
    let first = the_qemu(&bundle);
    let initramfs = std::fs::read(bundle.join("initramfs")).expect("the initramfs");
    let config = std::fs::read(home.installed_config()).expect("the installed configuration");

    home.write("broken.toml", &home.config_with("label = \"broken\"\nfail_init = true\n"));
    let asked = Instant::now();
    let out = home.run(&["install", "--now"], Some(&home.at("broken.toml")));
    eprintln!("install of a guest that fails ({:?}): {}", asked.elapsed(), show_output(&out));
    assert!(!out.status.success(), "the install fails");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("ended before it was ready"), "the message says what went wrong: {said}");

    assert_eq!(std::fs::read(bundle.join("initramfs")).ok(), Some(initramfs), "the previous bundle is back");
    assert_eq!(std::fs::read(home.installed_config()).ok(), Some(config), "the previous configuration is back");
    let status = home.wait_ready("the previous bundle running again", Duration::from_secs(60));
    eprintln!("rolled back, ready after {:?}: {status}", asked.elapsed());
    assert_eq!(home.booted_label().as_deref(), Some("one"), "the previous configuration runs: {}", home.logs());
    let now = the_qemu(&bundle);
    assert_ne!(now, first, "the previous bundle was started again");
    home.ok(&["uninstall"]);
    assert!(qemus(&bundle).is_empty(), "no QEMU left");
    home.assert_host_run_untouched();
}
