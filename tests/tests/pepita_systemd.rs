//! `install --platform pepita` under a real systemd (booted in a throwaway container by
//! [`duende_tests::sandbox::Systemd`]): where systemd is the init, the VM runner is a system unit.
//! The probe installed with `--now` boots as PID 1 of a QEMU microVM under TCG; the unit is
//! active once the guest daemon's `READY=1` crossed vsock and the runner relayed it; `systemctl
//! show` names the runner as the main process, with QEMU and the vsock backend its children in
//! the unit's cgroup; `status --json` shows the guest daemon's own report; `reload` reaches the
//! guest; `stop` is graceful (the unit inactive with the guest daemon's exit 0, no QEMU left);
//! `logs` reads the unit's journal; `uninstall` leaves no unit and no bundle.
//!
//! Needs `DUENDE_TEST_PEPITA_KERNEL` and `DUENDE_TEST_VHOST_VSOCK` (set by `scripts/test`, as for
//! `pepita_install`): the vsock backend is given to `install` on `PATH` only, as an operator
//! would; the unit's own `PATH` does not have it.
#![cfg(feature = "root-tests")]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use duende_tests::sandbox::{Systemd, show_output, wait_until};
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const UNIT: &str = "probe.service";
const PATIENCE: Duration = Duration::from_secs(30);

fn env_path(var: &str, how: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(value) => PathBuf::from(value),
        None => panic!("{var} is not set: {how}"),
    }
}

/// The sandbox and how to run the probe's management commands in it.
struct Host {
    sb: Systemd,
    path: String,
}

impl Host {
    /// `probe ARGS --platform pepita --system`, with the vsock backend's directory on `PATH`.
    fn probe(&self, args: &[&str]) -> Output {
        let mut argv = vec!["env", self.path.as_str(), "RUST_LOG=info", PROBE];
        argv.extend_from_slice(args);
        argv.extend(["--platform", "pepita", "--system"]);
        self.sb.exec(&argv)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.probe(args);
        assert!(out.status.success(), "probe {args:?}: {}\n{}", show_output(&out), self.journal());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> Value {
        let out = self.probe(&["status", "--json"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let json = text.lines().find(|l| l.starts_with('{')).and_then(|l| serde_json::from_str(l).ok());
        json.unwrap_or_else(|| panic!("no JSON from status: {}", show_output(&out)))
    }

    fn show(&self, property: &str) -> String {
        self.sb.show(UNIT, property)
    }

    fn journal(&self) -> String {
        self.sb.journal(&["-u", UNIT])
    }

    /// The command line of every process in the container, by pid (as the container sees it).
    fn processes(&self) -> Vec<(u32, String)> {
        let script = r#"for p in /proc/[0-9]*; do printf '%s ' "${p#/proc/}"; tr '\0' ' ' < "$p/cmdline"; echo; done"#;
        let listing = self.sb.run(&["sh", "-c", script]);
        listing
            .lines()
            .filter_map(|line| {
                let (pid, cmdline) = line.split_once(' ')?;
                Some((pid.parse().ok()?, cmdline.trim().to_owned()))
            })
            .collect()
    }

    fn qemus(&self) -> Vec<(u32, String)> {
        self.processes().into_iter().filter(|(_, cmdline)| cmdline.starts_with(QEMU_PREFIX)).collect()
    }

    /// The parent of `pid` inside the container.
    fn parent(&self, pid: u32) -> u32 {
        let status = self.sb.run(&["cat", &format!("/proc/{pid}/status")]);
        let ppid = status.lines().find_map(|line| line.strip_prefix("PPid:")).map(str::trim);
        ppid.and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no PPid for {pid}:\n{status}"))
    }
}

/// How QEMU's command line starts (the runner finds it on the unit's `PATH`).
const QEMU_PREFIX: &str = "/usr/bin/qemu-system-x86_64 ";

#[test]
fn the_vm_runner_is_a_systemd_unit_where_systemd_runs() {
    let kernel = env_path("DUENDE_TEST_PEPITA_KERNEL", "run `scripts/pepita-kernel` and export the path it prints");
    let vsock = env_path("DUENDE_TEST_VHOST_VSOCK", "`cargo install --locked vhost-device-vsock`, export its path");
    let sb = Systemd::boot("pepita-systemd").unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("[pepita-systemd] booted in {:?}", sb.boot_time());
    // A copy of the vsock backend in the container's own /usr/local (its overlay, gone with it):
    // the checkout may be under /tmp, which the unit's `PrivateTmp=` hides (and install refuses).
    let tools = Path::new("/usr/local/libexec/duende-test");
    let inside = sb.root().join(tools.strip_prefix("/").unwrap_or(tools));
    std::fs::create_dir_all(&inside).expect("a directory for the vsock backend in the container");
    std::fs::copy(&vsock, inside.join("vhost-device-vsock")).expect("copy the vsock backend into the container");
    let host = Host { sb, path: format!("PATH={}:/usr/sbin:/usr/bin:/sbin:/bin", tools.display()) };
    let config = format!(
        "shutdown_timeout = \"10s\"\nrestart = \"on-failure\"\n[platform.pepita]\nkernel = \"{}\"\nmemory_mb = 512\n\
         accel = \"tcg\"\n",
        kernel.display()
    );
    std::fs::write(host.sb.root().join("tmp/pepita.toml"), config).expect("write the configuration");
    assert_eq!(host.sb.exec(&["sh", "-c", "command -v vhost-device-vsock"]).stdout, b"", "not on the unit's PATH");

    let started = Instant::now();
    let installed = host.ok(&["install", "--now", "--config", "/tmp/pepita.toml"]);
    let install_took = started.elapsed();
    eprintln!("[pepita-systemd] install --now took {install_took:?}:\n{installed}");
    let unit = std::fs::read_to_string(host.sb.root().join("etc/systemd/system").join(UNIT)).expect("the unit");
    assert!(unit.contains("\"__pepita-vm\" \"--bundle\" \"/var/lib/probe/pepita\""), "{unit}");
    let description = std::fs::read_to_string(host.sb.root().join("var/lib/probe/pepita/vm.json")).expect("vm.json");
    let backend = tools.join("vhost-device-vsock");
    assert!(description.contains(&format!("\"vsock_backend\": \"{}\"", backend.display())), "{description}");

    // Active means READY=1 arrived: the runner relays it only from the guest's report.
    assert_eq!(host.show("ActiveState"), "active", "{}", host.journal());
    assert_eq!(host.show("SubState"), "running");
    assert_eq!(host.show("Type"), "notify");
    let usec = |property: &str| host.show(property).parse::<u64>().unwrap_or(0);
    let to_ready = Duration::from_micros(
        usec("ActiveEnterTimestampMonotonic").saturating_sub(usec("ExecMainStartTimestampMonotonic")),
    );
    eprintln!("[pepita-systemd] the runner's start to the unit's READY: {to_ready:?}");

    // The runner is the main process; QEMU and the vsock backend are its children, in the unit's
    // cgroup.
    let main: u32 = host.show("MainPID").parse().expect("MainPID");
    let processes = host.processes();
    let cmdline = |pid: u32| processes.iter().find(|(p, _)| *p == pid).map(|(_, c)| c.clone()).unwrap_or_default();
    assert!(cmdline(main).contains("__pepita-vm --bundle /var/lib/probe/pepita"), "MainPID {main}: {}", cmdline(main));
    let cgroup = host.show("ControlGroup");
    let members: Vec<u32> = host
        .sb
        .run(&["cat", &format!("/sys/fs/cgroup{cgroup}/cgroup.procs")])
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let qemus = host.qemus();
    assert_eq!(qemus.len(), 1, "one QEMU: {processes:#?}");
    let (qemu, qemu_cmdline) = &qemus[0];
    assert!(qemu_cmdline.contains("-accel tcg") && qemu_cmdline.contains("/var/lib/probe/pepita/initramfs"));
    assert_eq!(host.parent(*qemu), main, "QEMU is the runner's child");
    let backend_pid = processes.iter().find(|(_, c)| c.starts_with(&backend.display().to_string())).map(|(p, _)| *p);
    let backend = backend_pid.unwrap_or_else(|| panic!("no vsock backend: {processes:#?}"));
    assert_eq!(host.parent(backend), main, "the vsock backend is the runner's child");
    for pid in [main, *qemu, backend] {
        assert!(members.contains(&pid), "{pid} in {cgroup}: {members:?}");
    }
    // The daemon itself runs nowhere in the container: only in the guest.
    assert!(!processes.iter().any(|(_, c)| c.contains(" run") && c.contains("probe")), "{processes:#?}");

    let status = host.status();
    eprintln!("[pepita-systemd] status: {status}");
    assert_eq!(status["platform"], "pepita", "{status}");
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["pid"], main, "the manager's main process is the runner: {status}");
    let live = &status["live"];
    assert_eq!(live["ready"], true, "{status}");
    assert_eq!(live["health"]["state"], "healthy", "{status}");
    assert_eq!(live["config_generation"], 1, "{status}");
    assert_ne!(live["pid"], main, "the live report is the guest daemon's, not the runner's: {status}");

    // `reload` asks the guest through the runner's control socket and reports its verdict.
    let said = host.ok(&["reload"]);
    assert!(said.contains("probe: configuration reloaded; generation 2 is in effect"), "{said}");
    assert_eq!(host.status()["live"]["config_generation"], 2, "{}", host.journal());
    // `systemctl reload` (the unit's ExecReload, SIGHUP to the runner) reaches the guest too.
    host.sb.run(&["systemctl", "reload", UNIT]);
    wait_until(
        "the reload to reach the guest (config_generation 3)",
        PATIENCE,
        || host.status()["live"]["config_generation"] == 3,
        || format!("{}\n{}", host.status(), host.journal()),
    );
    assert_eq!(host.show("MainPID"), main.to_string(), "a reload keeps the VM");

    // A crashed VM is restarted by policy (`restart = "on-failure"`): QEMU killed outright ends
    // the runner with 71, and systemd starts it again.
    host.sb.run(&["kill", "-9", &qemu.to_string()]);
    wait_until(
        "the unit to be restarted and ready again",
        PATIENCE,
        || host.show("NRestarts") == "1" && host.show("ActiveState") == "active" && host.show("SubState") == "running",
        || format!("{}\n{}", host.sb.run(&["systemctl", "status", "--no-pager", UNIT]), host.journal()),
    );
    let restarted: u32 = host.show("MainPID").parse().expect("MainPID");
    assert_ne!(restarted, main, "a new runner");
    let qemus = host.qemus();
    assert!(qemus.len() == 1 && qemus[0].0 != *qemu, "a new QEMU: {qemus:?}");
    let status = host.status();
    assert_eq!(status["live"]["ready"], true, "{status}");
    assert_eq!(status["live"]["config_generation"], 1, "a new guest: {status}");
    let journal = host.journal();
    assert!(journal.contains("without the guest reporting its daemon's exit status"), "{journal}");

    let stopping = Instant::now();
    host.ok(&["stop"]);
    let stop_took = stopping.elapsed();
    eprintln!("[pepita-systemd] stop took {stop_took:?}");
    assert_eq!(host.show("ActiveState"), "inactive", "{}", host.journal());
    assert_eq!(host.show("Result"), "success");
    assert_eq!(host.show("ExecMainStatus"), "0", "the runner exits with the guest daemon's status");
    assert!(host.qemus().is_empty(), "no QEMU after stop: {:#?}", host.processes());
    let journal = host.journal();
    assert!(journal.contains("the guest's daemon exited with status 0; the VM is off"), "{journal}");
    assert!(!journal.contains("killing QEMU"), "{journal}");

    let logs = host.ok(&["logs"]);
    assert!(logs.contains("the guest's daemon is ready"), "`logs` reads the unit's journal:\n{logs}");
    assert!(logs.contains("the guest's daemon exited with status 0"), "{logs}");
    // The guest's console reaches the journal through the runner, from both boots, cleaned of
    // the serial line's carriage returns and the guest log's colours.
    assert_eq!(logs.matches("init done").count(), 2, "the guest's own output in `logs`:\n{logs}");
    assert!(logs.contains("shutdown requested"), "{logs}");
    assert!(!logs.contains('\r') && !logs.contains('\x1b'), "{logs:?}");

    let removed = host.ok(&["uninstall"]);
    eprintln!("[pepita-systemd] uninstall:\n{removed}");
    assert_eq!(host.show("LoadState"), "not-found");
    for gone in [
        "etc/systemd/system/probe.service",
        "etc/systemd/system/multi-user.target.wants/probe.service",
        "var/lib/probe",
        "usr/local/bin/probe",
        "etc/probe",
        "run/probe",
    ] {
        assert!(!host.sb.root().join(gone).exists(), "/{gone} is left after uninstall:\n{removed}");
    }
    eprintln!(
        "[pepita-systemd] figures: install --now {install_took:?} (runner start to READY {to_ready:?}), stop {stop_took:?}"
    );
}
