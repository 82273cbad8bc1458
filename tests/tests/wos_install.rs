//! `install --platform wos` end to end: the reload example's host build installs its own
//! wasm32-wasip1 module (`03_reload.wasm`) with `--now`, and duende's native supervisor (this
//! machine's PID 1 is not systemd) runs the WOS runner (`greeter __wos-run --manifest FILE`),
//! which runs the module under the wasmtime engine with its standard input held: ready relayed,
//! `status --json` showing the module's own report through the runner's control socket, `reload`
//! good (the preopened configuration's new value reaches the module) and bad (78 naming the key
//! and its source), a killed engine restarted by policy, a graceful `stop` (the module's exit
//! status 0, no engine left), a second identical install that changes nothing, and an
//! `uninstall` that leaves nothing behind.
//!
//! The engine is the real wasmtime (the PyPI wheel); its command-line front is
//! `scripts/wasi-run.py run`, which takes the subset of `wasmtime run` the runner uses, behind a
//! `wasmtime` shim on `PATH` (the wasmtime CLI takes 12 minutes to build here). The tests run as
//! root but run the daemon as `nobody` with a temporary home and `XDG_RUNTIME_DIR` (`--user`).
//!
//! Needs `DUENDE_TEST_WASI_PYTHON` and `DUENDE_TEST_WASM_DIR` (set by `scripts/test`, as for
//! `wasi.rs`); a missing one fails.
#![cfg(feature = "root-tests")]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use duende_tests::sandbox::show_output;
use serde_json::Value;

const GREETER: &str = env!("CARGO_BIN_EXE_example-reload");

/// The user the daemon runs as: `nobody`.
const NOBODY: u32 = 65534;

/// How long the first start may take: the engine compiles the debug module (70 MB) once.
const FIRST_START: Duration = Duration::from_secs(120);

fn env_path(var: &str, how: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(value) => PathBuf::from(value),
        None => panic!("{var} is not set: {how}"),
    }
}

struct Home {
    base: tempfile::TempDir,
    path: String,
}

impl Home {
    fn new() -> Home {
        let python = env_path("DUENDE_TEST_WASI_PYTHON", "point it at a Python with the `wasmtime` package");
        let modules = env_path(
            "DUENDE_TEST_WASM_DIR",
            "point it at the modules `cargo build --target wasm32-wasip1 --examples` made",
        );
        assert!(python.is_file(), "DUENDE_TEST_WASI_PYTHON: no Python at {}", python.display());
        let module = modules.join("03_reload.wasm");
        assert!(module.is_file(), "{} is missing: `cargo build --target wasm32-wasip1 --examples`", module.display());
        let front = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/wasi-run.py");
        let front = std::fs::canonicalize(&front).expect("scripts/wasi-run.py");
        let base = tempfile::Builder::new().prefix("duende-wos-install-").tempdir().expect("a temporary directory");
        let mut home = Home { base, path: String::new() };
        chown(home.base.path());
        for dir in ["home", "run", "bin"] {
            std::fs::create_dir(home.at(dir)).expect("mkdir");
            chown(&home.at(dir));
        }
        // The `wasmtime` on PATH: the real engine (the wheel) behind `wasmtime run`'s syntax.
        let shim = format!("#!/bin/sh\nexec {} {} \"$@\"\n", python.display(), front.display());
        home.write("bin/wasmtime", &shim);
        std::fs::set_permissions(home.at("bin/wasmtime"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod the shim");
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", home.at("bin").display());
        let base_config = format!(
            "shutdown_timeout = \"10s\"\n[backoff]\ninitial = \"200ms\"\n[resources]\nmemory_bytes = 268435456\n\
             [platform.wos]\nmodule = \"{}\"\npriority = 6\n",
            module.display()
        );
        home.write("base.toml", &base_config);
        home.write("greeter.toml", &format!("{base_config}[app]\ngreeting = \"hello\"\n"));
        home.path = path;
        home
    }

    fn at(&self, relative: &str) -> PathBuf {
        self.base.path().join(relative)
    }

    fn write(&self, relative: &str, text: &str) {
        std::fs::write(self.at(relative), text).expect("write a file");
        chown(&self.at(relative));
    }

    fn installed_config(&self) -> PathBuf {
        self.at("home/.config/greeter/greeter.toml")
    }

    fn edit_installed(&self, app: &str) {
        let base = std::fs::read_to_string(self.at("base.toml")).expect("base.toml");
        let path = self.installed_config();
        std::fs::write(&path, format!("{base}[app]\n{app}")).expect("edit the installed configuration");
        chown(&path);
    }

    fn run(&self, args: &[&str], config: bool) -> Output {
        let mut command = Command::new(GREETER);
        command.args(args).args(["--platform", "wos"]);
        if args.first() != Some(&"check") {
            command.arg("--user");
        }
        if config {
            command.arg("--config").arg(self.at("greeter.toml"));
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
        command.output().expect("run the greeter")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, true);
        assert!(out.status.success(), "greeter {args:?}: {}", show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> Value {
        let out = self.run(&["status", "--json"], false);
        let text = String::from_utf8_lossy(&out.stdout);
        let json = text.lines().find(|l| l.starts_with('{')).map(duende_tests::schema::status);
        json.unwrap_or_else(|| panic!("no JSON from status: {}", show_output(&out)))
    }

    fn logs(&self) -> String {
        let out = self.run(&["logs", "-n", "10000"], false);
        assert!(out.status.success(), "greeter logs: {}", show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn listing(&self) -> Vec<String> {
        let mut paths = Vec::new();
        for dir in ["home", "run"] {
            walk(&self.at(dir), self.base.path(), &mut paths);
        }
        paths.retain(|path| !path.contains("/.cache"));
        paths.sort();
        paths
    }

    fn module_dir(&self) -> PathBuf {
        self.at("home/.local/state/greeter/wos")
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = self.run(&["uninstall"], false);
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

/// The engine processes (the shim's Python) running the installed module.
fn engines(module: &Path) -> Vec<u32> {
    let needle = module.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline =
            String::from_utf8_lossy(&std::fs::read(entry.path().join("cmdline")).unwrap_or_default()).into_owned();
        if cmdline.contains("wasi-run.py") && cmdline.contains(&needle) {
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

fn nice_of(pid: u32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the engine's stat");
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    after.split_whitespace().nth(16).and_then(|n| n.parse().ok()).expect("the nice field")
}

#[test]
fn install_now_status_reload_restart_stop_reinstall_and_uninstall() {
    let home = Home::new();
    let before = home.listing();

    let shown = home.ok(&["install", "--dry-run"]);
    assert!(shown.contains("greeter.wos.toml"), "the dry run shows the manifest:\n{shown}");
    assert!(shown.contains("digest = \"sha256:"), "with the module's digest:\n{shown}");
    assert!(shown.contains("__wos-run"), "and the runner the supervisor runs:\n{shown}");
    assert_eq!(home.listing(), before, "a dry run changes nothing");

    let started = Instant::now();
    let installed = home.ok(&["install", "--now"]);
    eprintln!("install --now ({:?}):\n{installed}", started.elapsed());
    let module = home.module_dir().join("greeter.wasm");
    assert!(module.is_file() && home.module_dir().join("greeter.wos.toml").is_file(), "module and manifest installed");
    let manifest = std::fs::read_to_string(home.module_dir().join("greeter.wos.toml")).expect("the manifest");
    assert!(manifest.contains("memory_bytes = 268435456") && manifest.contains("priority = 6"), "{manifest}");
    let engine = match engines(&module)[..] {
        [pid] => pid,
        ref pids => panic!("one engine runs the module, not {pids:?}"),
    };
    assert_eq!(nice_of(engine), 10, "priority 6 is nice 10 for the engine");

    let status = home.status();
    eprintln!("status: {status}");
    assert_eq!(status["platform"], "wos", "{status}");
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["live"]["name"], "greeter", "the module's own report: {status}");
    assert_eq!(status["live"]["pid"], 0, "a WASI module has no pid: {status}");
    assert_eq!(status["live"]["config_generation"], 1, "{status}");
    let logs = home.logs();
    assert!(logs.contains("greeting is hello"), "the module's own output is in the log:\n{logs}");
    assert!(logs.contains("running as a WASI module"), "and its log (standard error):\n{logs}");

    let again = home.ok(&["install"]);
    assert!(again.contains("nothing to change"), "a second identical install changes nothing:\n{again}");

    // A good edit reaches the module (its configuration directory is preopened).
    home.edit_installed("greeting = \"bonjour\"\n");
    let out = home.run(&["reload"], false);
    assert!(out.status.success(), "reload: {}", show_output(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("greeter: configuration reloaded; generation 2 is in effect"), "{said}");
    assert_eq!(home.status()["live"]["config_generation"], 2);
    wait_until("the module's reloaded greeting in the log", Duration::from_secs(10), || {
        home.logs().contains("generation 2: greeting is now bonjour")
    });

    // A bad edit: refused with the key and the file, the module keeps generation 2.
    home.edit_installed("greeting = \"\"\n");
    let out = home.run(&["reload"], false);
    assert_eq!(out.status.code(), Some(78), "{}", show_output(&out));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("app.greeting") && said.contains("greeter.toml"), "the key and the source: {said}");
    assert_eq!(home.status()["live"]["config_generation"], 2, "the running configuration stays");
    home.edit_installed("greeting = \"bonjour\"\n");

    // The engine dies: the supervisor restarts the runner, which starts a new one.
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(engine as i32, libc::SIGKILL) }, 0);
    wait_until("a new engine after the kill", FIRST_START, || matches!(engines(&module)[..], [pid] if pid != engine));
    wait_until("ready again", FIRST_START, || {
        let status = home.status();
        status["state"] == "running" && status["live"]["ready"] == true
    });
    let status = home.status();
    assert!(status["restarts"].as_u64().unwrap_or(0) >= 1, "restarted by policy: {status}");

    // A graceful stop: through the runner, a `stop` request on the module's standard input.
    let out = home.run(&["stop"], false);
    assert!(out.status.success(), "stop: {}", show_output(&out));
    assert!(engines(&module).is_empty(), "no engine is left after stop");
    let logs = home.logs();
    assert!(logs.contains("shutdown requested by the control channel"), "a graceful stop:\n{logs}");
    assert!(logs.contains("greeter: the module exited with status 0"), "exit status 0:\n{logs}");
    assert_eq!(home.status()["state"], "stopped");

    let out = home.run(&["uninstall"], false);
    assert!(out.status.success(), "uninstall: {}", show_output(&out));
    assert_eq!(home.listing(), before, "uninstall leaves nothing behind");
}

#[test]
fn a_missing_engine_and_an_absent_wos_ctl_are_named() {
    let home = Home::new();
    let out = home.run(&["install", "--set", "platform.wos.runtime=\"wos-ctl\""], true);
    assert_eq!(out.status.code(), Some(69), "{}", show_output(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("`wos-ctl` is not in PATH") && said.contains("runtime = \"wasmtime\""), "{said}");

    std::fs::remove_file(home.at("bin/wasmtime")).expect("remove the shim");
    let out = home.run(&["install"], true);
    assert_eq!(out.status.code(), Some(69), "{}", show_output(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("`wasmtime` is not in PATH") && said.contains("cargo install --locked wasmtime-cli"),
        "{said}"
    );
    let out = home.run(&["check"], true);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("`wasmtime` is not in PATH"), "check names the missing engine:\n{said}");
    assert!(said.contains("`fs:read` capabilities are granted read and write alike"), "and what is degraded:\n{said}");
}

#[test]
fn a_module_that_never_becomes_ready_is_rolled_back() {
    let home = Home::new();
    let before = home.listing();
    // Another daemon's module (02_mlock's, `swapd`) refuses the greeter's `[app]` section: it
    // exits 78 before `init`, naming the key and the installed file, and never becomes ready.
    let modules = env_path("DUENDE_TEST_WASM_DIR", "point it at the built modules");
    let module = modules.join("02_mlock.wasm");
    let out = home.run(&["install", "--now", "--set", &format!("platform.wos.module=\"{}\"", module.display())], true);
    assert!(!out.status.success(), "an install whose module never becomes ready fails: {}", show_output(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("exited with status 78") && said.contains("app.greeting") && said.contains("greeter.toml"),
        "the module's own reason, its key and source, is in the log tail: {said}"
    );
    assert!(engines(&home.module_dir().join("greeter.wasm")).is_empty(), "no engine is left");
    // Every file the install wrote is gone, and so is what the native supervisor wrote while it
    // ran (its log, the runtime directory's instance lock) with their directories.
    assert_eq!(
        home.listing(),
        before,
        "the install is rolled back: no binary, configuration, definition, module, manifest, log or lock"
    );
    assert!(!home.module_dir().exists(), "the module's directory is gone");
}
