//! Faults during `install` (issue 15, item 5) on the platforms whose service is a runner under
//! a manager: WOS (the reload example's own wasm32-wasip1 module under the real wasmtime engine,
//! the PyPI wheel behind a `wasmtime` shim) and pepita (the probe booted as PID 1 of a QEMU
//! microVM under TCG), each run by duende's native supervisor (this machine's PID 1 is not
//! systemd), installed `--user` as `nobody` under a temporary home. The installer is killed
//! before each step of an OLD → NEW install (the copied binary, the configuration, the module or
//! the VM bundle, the supervisor's definition, the restart, the install standing), with the
//! rounds of `faults/mod.rs`; the binary check reads the runner's `/proc/PID/exe` (the runner is
//! the installed binary).
//!
//! Needs `DUENDE_TEST_WASI_PYTHON`, `DUENDE_TEST_WASM_DIR`, `DUENDE_TEST_PEPITA_KERNEL` and
//! `DUENDE_TEST_VHOST_VSOCK` (set by `scripts/test`); a missing one fails.
#![cfg(feature = "root-tests")]

mod faults;

use std::path::{Path, PathBuf};

use duende_tests::nobody::{NOBODY, Nobody};
use faults::{PROBE, Rig, host_exe, list, old_binary_of, rounds};

const GREETER: &str = env!("CARGO_BIN_EXE_example-reload");

fn env_path(var: &str, how: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(value) => PathBuf::from(value),
        None => panic!("{var} is not set: {how}"),
    }
}

fn write(nobody: &Nobody, relative: &str, text: &str) {
    let path = nobody.path(relative);
    std::fs::write(&path, text).expect("write a file");
    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).expect("chown");
}

/// The rounds for `binary` installed on `platform` by `nobody`, with the OLD and NEW
/// configurations `configs`; `path` is the `PATH` it runs with.
fn runner_rounds(nobody: &Nobody, platform: &str, binary: &str, configs: [String; 2], path: &str) -> Vec<String> {
    let old_probe = nobody.path("binary-old");
    let old_bytes = old_binary_of(binary, &old_probe);
    write(nobody, "old.toml", &configs[0]);
    write(nobody, "new.toml", &configs[1]);
    let (old_config, new_config) = (nobody.path("old.toml"), nobody.path("new.toml"));
    let (old_config, new_config) = (old_config.to_string_lossy(), new_config.to_string_lossy());
    let probe = |binary: &str, args: &[&str], kill_at: Option<usize>| {
        let mut command = nobody.command(binary);
        command.args(args).args(["--platform", platform]).env("PATH", path).env("RUST_LOG", "info");
        command.current_dir(nobody.base());
        if let Some(step) = kill_at {
            command.env("DUENDE_TEST_KILL_AT", step.to_string());
        }
        command.output().expect("run the binary")
    };
    let home = nobody.path("home");
    // What the supervisor writes while the service runs (its logs) is not the install's; the
    // engine's compilation cache neither.
    let listing = || list(&[&home], &|path| path.ends_with(".log") || path.contains("/.cache"));
    let old_binary = old_probe.to_string_lossy();
    let rig = Rig {
        what: platform,
        probe: &probe,
        listing: &listing,
        alive: &|pid| Path::new(&format!("/proc/{pid}")).exists(),
        exe: &host_exe,
        identity: &String::new,
        bookkeeping: &|_| false,
        new_binary: binary,
        old_binary: &old_binary,
        old_bytes,
        old_args: &["--now", "--config", &old_config, "--set", "shutdown_timeout=9s"],
        new_args: &["--now", "--config", &new_config, "--set", "shutdown_timeout=10s"],
        checks_exe: true,
        status: true,
    };
    rounds(&rig, "--user")
}

#[test]
fn wos_installs_killed_at_each_step_leave_old_or_new_and_are_repaired() {
    let python = env_path("DUENDE_TEST_WASI_PYTHON", "point it at a Python with the `wasmtime` package");
    let modules = env_path(
        "DUENDE_TEST_WASM_DIR",
        "point it at the modules `cargo build --target wasm32-wasip1 --examples` made",
    );
    let module = modules.join("03_reload.wasm");
    assert!(module.is_file(), "{} is missing: `cargo build --target wasm32-wasip1 --examples`", module.display());
    let front = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/wasi-run.py"))
        .expect("scripts/wasi-run.py");
    let nobody = Nobody::new("greeter");
    std::fs::create_dir(nobody.path("bin")).expect("mkdir bin");
    let shim = nobody.path("bin/wasmtime");
    std::fs::write(&shim, format!("#!/bin/sh\nexec {} {} \"$@\"\n", python.display(), front.display()))
        .expect("write the shim");
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", nobody.path("bin").display());
    // The OLD module: the same with an empty custom section named `old` appended (id 0, size 4,
    // name length 3), so installing the NEW one writes the module too.
    let mut old_module = std::fs::read(&module).expect("read the module");
    old_module.extend_from_slice(&[0, 4, 3, b'o', b'l', b'd']);
    let old_path = nobody.path("old.wasm");
    std::fs::write(&old_path, old_module).expect("write the old module");
    let config = |module: &Path, greeting: &str| {
        format!(
            "[backoff]\ninitial = \"200ms\"\n[resources]\nmemory_bytes = 268435456\n[platform.wos]\nmodule = \"{}\"\n\
             priority = 6\n[app]\ngreeting = \"{greeting}\"\n",
            module.display()
        )
    };
    let configs = [config(&old_path, "old"), config(&module, "new")];
    let outcomes = runner_rounds(&nobody, "wos", GREETER, configs, &path);
    assert!(outcomes.iter().any(|o| o.contains("wos/greeter.wasm")), "a kill before the module's write: {outcomes:#?}");
}

#[test]
fn pepita_installs_killed_at_each_step_leave_old_or_new_and_are_repaired() {
    let kernel = env_path("DUENDE_TEST_PEPITA_KERNEL", "run `scripts/pepita-kernel` and export the path it prints");
    let vsock = env_path("DUENDE_TEST_VHOST_VSOCK", "`cargo install --locked vhost-device-vsock`, export its path");
    let tools = vsock.parent().map(Path::to_path_buf).unwrap_or_default();
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", tools.display());
    let nobody = Nobody::new("probe");
    let config = |label: &str| {
        format!(
            "[backoff]\ninitial = \"200ms\"\n[platform.pepita]\nkernel = \"{}\"\nmemory_mb = 512\naccel = \"tcg\"\n\
             [app]\nlabel = \"{label}\"\n",
            kernel.display()
        )
    };
    let outcomes = runner_rounds(&nobody, "pepita", PROBE, [config("old"), config("new")], &path);
    assert!(outcomes.iter().any(|o| o.contains("pepita/")), "a kill before the bundle's write: {outcomes:#?}");
}
