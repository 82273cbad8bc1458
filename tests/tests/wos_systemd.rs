//! `install --platform wos` where systemd is the init, against a real systemd (PID 1 of a
//! throwaway systemd-nspawn container, `duende_tests::sandbox`): the reload example's host build
//! installs its wasm32-wasip1 module as a system service with `--now`, and the unit runs the WOS
//! runner (`greeter __wos-run --manifest FILE`), which runs the module under the wasmtime engine
//! with its standard input held. The unit is active once the module's ready notice became the
//! runner's `READY=1`; `systemctl show` names the runner as the main process, with the engine its
//! child in the unit's cgroup at the manifest's priority (`Nice=`); `status --json` shows the
//! module's own report; `reload` reaches it; a killed engine is restarted by policy; `stop` is
//! graceful; `logs` reads the journal; `uninstall` leaves no unit, module or manifest.
//!
//! The engine is the real wasmtime (the PyPI wheel, `DUENDE_TEST_WASI_PYTHON`) behind a
//! `wasmtime` shim that gives it `wasmtime run`'s syntax (`scripts/wasi-run.py`), as in
//! `wos_install`. The wheel lives in the cargo target directory, which may be under `/tmp` (a CI
//! checkout): the test's configuration turns `hardening.private_tmp` off so the unit sees it, and
//! says so.
#![cfg(feature = "root-tests")]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use duende_tests::sandbox::{Systemd, show_output, wait_until};
use serde_json::Value;

const GREETER: &str = env!("CARGO_BIN_EXE_example-reload");
const UNIT: &str = "greeter.service";
/// The first start compiles the debug module (about 70 MB) in the engine.
const PATIENCE: Duration = Duration::from_secs(120);
/// Where the shim and the front go in the container (its own overlay, gone with it).
const TOOLS: &str = "/usr/local/libexec/duende-test";

fn env_path(var: &str, how: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(value) => PathBuf::from(value),
        None => panic!("{var} is not set: {how}"),
    }
}

struct Host {
    sb: Systemd,
}

impl Host {
    fn greeter(&self, args: &[&str]) -> Output {
        let path = format!("PATH={TOOLS}:/usr/sbin:/usr/bin:/sbin:/bin");
        let mut argv = vec!["env", path.as_str(), "RUST_LOG=info", GREETER];
        argv.extend_from_slice(args);
        argv.extend(["--platform", "wos", "--system"]);
        self.sb.exec(&argv)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.greeter(args);
        assert!(out.status.success(), "greeter {args:?}: {}\n{}", show_output(&out), self.journal());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> Value {
        let out = self.greeter(&["status", "--json"]);
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

    /// The container's processes whose command line runs the wasm module (the engine).
    fn engines(&self) -> Vec<u32> {
        let script = r#"for p in /proc/[0-9]*; do printf '%s ' "${p#/proc/}"; tr '\0' ' ' < "$p/cmdline"; echo; done"#;
        let listing = self.sb.run(&["sh", "-c", script]);
        listing
            .lines()
            .filter(|line| line.contains("wasi-run.py") && line.contains("greeter.wasm"))
            .filter_map(|line| line.split_once(' ')?.0.parse().ok())
            .collect()
    }

    fn field(&self, pid: u32, field: &str) -> String {
        let stat = self.sb.run(&["cat", &format!("/proc/{pid}/{field}")]);
        stat.trim().to_owned()
    }
}

#[test]
fn the_wos_runner_is_a_systemd_unit_where_systemd_runs() {
    let python = env_path("DUENDE_TEST_WASI_PYTHON", "point it at a Python with the `wasmtime` package");
    let modules = env_path("DUENDE_TEST_WASM_DIR", "point it at the modules of `cargo build --target wasm32-wasip1`");
    let module = modules.join("03_reload.wasm");
    assert!(module.is_file(), "{} is missing: `cargo build --target wasm32-wasip1 --examples`", module.display());
    let sb = Systemd::boot("wos-systemd").unwrap_or_else(|e| panic!("{e:#}"));
    let host = Host { sb };

    // The front and the shim, in the container's own /usr/local: the checkout may be under /tmp,
    // which is the container's own.
    let tools = host.sb.root().join(TOOLS.trim_start_matches('/'));
    std::fs::create_dir_all(&tools).expect("a directory for the engine's front");
    let front = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/wasi-run.py");
    std::fs::copy(&front, tools.join("wasi-run.py")).expect("copy the engine's front");
    let shim = format!("#!/bin/sh\nexec {} {TOOLS}/wasi-run.py \"$@\"\n", python.display());
    std::fs::write(tools.join("wasmtime"), shim).expect("write the shim");
    std::fs::set_permissions(tools.join("wasmtime"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod the shim");
    // `private_tmp = false`: the wheel is in the cargo target directory, maybe under /tmp.
    let config = format!(
        "shutdown_timeout = \"10s\"\nrestart = \"on-failure\"\n[hardening]\nprivate_tmp = false\n\
         [platform.wos]\nmodule = \"{}\"\npriority = 1\n[app]\ngreeting = \"hello\"\n",
        module.display()
    );
    std::fs::write(host.sb.root().join("etc/greeter-test.toml"), config).expect("write the configuration");

    let installed = host.ok(&["install", "--now", "--config", "/etc/greeter-test.toml"]);
    eprintln!("[wos-systemd] install --now:\n{installed}");
    let unit = std::fs::read_to_string(host.sb.root().join("etc/systemd/system").join(UNIT)).expect("the unit");
    assert!(unit.contains("\"__wos-run\" \"--manifest\" \"/var/lib/greeter/wos/greeter.wos.toml\""), "{unit}");

    // Active means READY=1 arrived: the runner sends it only for the module's ready notice.
    assert_eq!(host.show("ActiveState"), "active", "{}", host.journal());
    assert_eq!(host.show("Type"), "notify");
    let main: u32 = host.show("MainPID").parse().expect("MainPID");
    let engine = match host.engines()[..] {
        [pid] => pid,
        ref other => panic!("one engine, not {other:?}:\n{}", host.journal()),
    };
    let ppid = host.field(engine, "status");
    let parent = ppid.lines().find_map(|l| l.strip_prefix("PPid:")).map(str::trim).unwrap_or_default();
    assert_eq!(parent, main.to_string(), "the engine is the runner's child");
    let cgroup = host.show("ControlGroup");
    let members = host.sb.run(&["cat", &format!("/sys/fs/cgroup{cgroup}/cgroup.procs")]);
    assert!(members.lines().any(|l| l.trim() == engine.to_string()), "{engine} in {cgroup}: {members}");
    // Priority 1: a negative nice the system unit applies (`Nice=`), which the engine inherits.
    assert!(unit.contains("Nice=-"), "{unit}");
    let stat = host.field(engine, "stat");
    let nice: i64 =
        stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(16)?.parse().ok()).expect("nice");
    assert!(nice < 0, "the engine runs at the manifest's priority: nice {nice}");

    let status = host.status();
    eprintln!("[wos-systemd] status: {status}");
    assert_eq!(status["platform"], "wos", "{status}");
    assert_eq!(status["live"]["ready"], true, "the module's own report: {status}");
    assert_eq!(status["live"]["config_generation"], 1, "{status}");

    // `reload` asks the module through the runner's control socket and reports its verdict.
    let said = host.ok(&["reload"]);
    assert!(said.contains("generation 2"), "{said}");
    assert_eq!(host.status()["live"]["config_generation"], 2);

    // A killed engine ends the runner with a failure: restarted by policy (`on-failure`).
    host.sb.run(&["kill", "-KILL", &engine.to_string()]);
    wait_until(
        "a restart after the engine was killed",
        PATIENCE,
        || host.show("NRestarts") == "1" && host.show("ActiveState") == "active",
        || format!("{}\n{}", host.show("ActiveState"), host.journal()),
    );
    assert!(matches!(host.engines()[..], [pid] if pid != engine), "a new engine");
    assert_eq!(host.status()["live"]["ready"], true);

    host.ok(&["stop"]);
    assert_eq!(host.show("ActiveState"), "inactive", "{}", host.journal());
    assert_eq!(host.show("Result"), "success", "{}", host.journal());
    assert_eq!(host.show("ExecMainStatus"), "0", "the runner exits with the module's status");
    assert!(host.engines().is_empty(), "no engine after stop");

    let logs = host.ok(&["logs"]);
    assert!(logs.contains("greeting is hello"), "the module's own output in the journal:\n{logs}");

    let removed = host.ok(&["uninstall"]);
    eprintln!("[wos-systemd] uninstall:\n{removed}");
    assert_eq!(host.show("LoadState"), "not-found");
    for gone in ["etc/systemd/system/greeter.service", "var/lib/greeter", "usr/local/bin/greeter", "etc/greeter"] {
        assert!(!host.sb.root().join(gone).exists(), "/{gone} is left after uninstall:\n{removed}");
    }
}
