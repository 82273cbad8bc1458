//! `install --platform pepita` end to end, as root with a temporary home (`--user`): the probe
//! installed with `--now` boots as PID 1 of a QEMU microVM under TCG, run by the VM runner under
//! duende's native supervisor (this machine's PID 1 is not systemd); `status --json` shows the
//! guest daemon's own report through the runner's control socket, `reload` reaches it, `stop` is
//! graceful and leaves no QEMU, a second identical `install` changes nothing, and `uninstall`
//! leaves nothing behind.
//!
//! Needs `DUENDE_TEST_PEPITA_KERNEL` and `DUENDE_TEST_VHOST_VSOCK` (set by `scripts/test`, as for
//! `pepita_boot`). Where systemd is the init the runner is a systemd unit instead: `pepita_systemd`.
#![cfg(feature = "root-tests")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use duende_tests::sandbox::show_output;
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

fn env_path(var: &str, how: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(value) => PathBuf::from(value),
        None => panic!("{var} is not set: {how}"),
    }
}

/// A temporary home and runtime directory, and the probe's configuration for a TCG guest.
struct Home {
    base: tempfile::TempDir,
    path: String,
}

impl Home {
    fn new() -> Home {
        let kernel = env_path("DUENDE_TEST_PEPITA_KERNEL", "run `scripts/pepita-kernel` and export the path it prints");
        let vsock = env_path("DUENDE_TEST_VHOST_VSOCK", "`cargo install --locked vhost-device-vsock`, export its path");
        let base = tempfile::Builder::new().prefix("duende-pepita-install-").tempdir().expect("a temporary directory");
        for dir in ["home", "run"] {
            std::fs::create_dir(base.path().join(dir)).expect("mkdir");
        }
        let config = format!(
            "shutdown_timeout = \"10s\"\n[platform.pepita]\nkernel = \"{}\"\nmemory_mb = 512\naccel = \"tcg\"\n",
            kernel.display()
        );
        std::fs::write(base.path().join("probe.toml"), config).expect("write the configuration");
        let tools = vsock.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", tools.display());
        Home { base, path }
    }

    fn at(&self, relative: &str) -> PathBuf {
        self.base.path().join(relative)
    }

    fn probe(&self, args: &[&str]) -> Output {
        let config = self.at("probe.toml");
        let mut command = Command::new(PROBE);
        command
            .args(args)
            .args(["--platform", "pepita", "--user", "--config"])
            .arg(&config)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.at("home"))
            .env("XDG_RUNTIME_DIR", self.at("run"))
            .env("RUST_LOG", "info");
        command.output().expect("run the probe")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.probe(args);
        assert!(out.status.success(), "probe {args:?}: {}", show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> Value {
        let out = self.probe(&["status", "--json"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let json = text.lines().find(|l| l.starts_with('{')).and_then(|l| serde_json::from_str(l).ok());
        json.unwrap_or_else(|| panic!("no JSON from status: {}", show_output(&out)))
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
}

impl Drop for Home {
    fn drop(&mut self) {
        // Whatever a failed test left running goes with it.
        let _ = self.probe(&["uninstall"]);
    }
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

#[test]
fn install_now_status_reload_stop_reinstall_and_uninstall() {
    let home = Home::new();
    let before = home.listing();

    let shown = home.ok(&["install", "--dry-run"]);
    assert!(shown.contains("vmm: qemu-system-x86_64"), "the dry run shows the VMM's command line:\n{shown}");
    assert!(shown.contains("initramfs: "), "and the bundle's contents:\n{shown}");
    assert_eq!(home.listing(), before, "a dry run changes nothing");

    let started = Instant::now();
    let installed = home.ok(&["install", "--now"]);
    eprintln!("install --now ({:?}):\n{installed}", started.elapsed());
    let bundle = home.at("home/.local/state/probe/pepita");
    for file in ["initramfs", "vmlinuz", "vm.json"] {
        assert!(bundle.join(file).is_file(), "{file} in the bundle directory");
    }
    assert_eq!(qemus(&bundle).len(), 1, "one QEMU runs the bundle");

    let status = home.status();
    eprintln!("status: {status}");
    assert_eq!(status["platform"], "pepita", "{status}");
    assert_eq!(status["state"], "running", "{status}");
    let live = &status["live"];
    assert_eq!(live["config_generation"], 1, "the guest daemon's own report: {status}");
    assert_eq!(live["ready"], true, "{status}");
    assert_eq!(live["health"]["state"], "healthy", "{status}");

    let reloaded = home.ok(&["reload"]);
    eprintln!("reload: {reloaded}");
    let status = home.status();
    assert_eq!(status["live"]["config_generation"], 2, "the reload reached the guest: {status}");

    let again = home.ok(&["install"]);
    assert!(again.contains("nothing to change"), "a second identical install changes nothing:\n{again}");

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
}
