//! Figures for WOS: the quick-start daemon (`examples/01_counter.rs`, release builds) as a
//! wasm32-wasip1 module against the same source built for the host, in one run:
//!
//! - sizes: the `.wasm` module against the host binary;
//! - the engine's one-time compilation of the module (the first start with an empty code cache);
//! - started by hand: the host binary with a `NOTIFY_SOCKET` until its `READY=1`, and SIGTERM
//!   until it has exited, against `wasmtime run MODULE run` with its standard input held until
//!   the `ready` notice on its standard output (compiled code cached), and a `stop` line on its
//!   standard input until the engine has exited; median of 5;
//! - installed (`--user`, under a scratch `HOME` and runtime directory, duende's native
//!   supervisor): `start` until ready and `stop` until stopped, for `--platform native` and for
//!   `--platform wos` (the supervisor, the WOS runner, the engine), median of 5.
//!
//! Needs `DUENDE_BENCH_WOS_HOST` (the host binary), `DUENDE_BENCH_WOS_MODULE` (the module) and a
//! `wasmtime` on `PATH` that takes `wasmtime run` (the CLI, or the shim `scripts/bench-wos` makes
//! over the PyPI wheel; it prints which). Everything installed is uninstalled at the end, also
//! after an error.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use duende_bench::{drain, median, ms, ok, run, scratch_dir, spawn_quiet, terminate, wait_ready};

const RUNS: usize = 5;
const PATIENCE: Duration = Duration::from_secs(120);

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

struct Bench {
    host: PathBuf,
    module: PathBuf,
    engine: PathBuf,
    scratch: PathBuf,
}

impl Bench {
    fn duende(&self, platform: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.host);
        command
            .args(args)
            .args(["--platform", platform, "--user", "--config"])
            .arg(self.scratch.join("counter.toml"))
            .env("HOME", self.scratch.join("home"))
            .env("XDG_RUNTIME_DIR", self.scratch.join("run"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_STATE_HOME")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG");
        command
    }

    /// `wasmtime run MODULE run` with a code cache of the bench's own.
    fn engine(&self) -> Command {
        let mut command = Command::new(&self.engine);
        command
            .args(["run"])
            .arg(&self.module)
            .arg("run")
            .env("XDG_CACHE_HOME", self.scratch.join("cache"))
            .env("HOME", self.scratch.join("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command
    }
}

/// The host binary: `run` until READY=1, SIGTERM until exit.
fn native_cycle(bench: &Bench) -> Result<(Duration, Duration), String> {
    let socket_path = bench.scratch.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(PATIENCE)).map_err(|e| e.to_string())?;
    let mut command = Command::new(&bench.host);
    command.arg("run").env("RUNTIME_DIRECTORY", bench.scratch.join("run-native"));
    let start = Instant::now();
    let mut child = spawn_quiet(command, &socket_path)?;
    wait_ready(&socket, &child)?;
    let ready = start.elapsed();
    drain(&socket)?;
    let stop = Instant::now();
    terminate(&child);
    let status = child.wait().map_err(|e| e.to_string())?;
    let stopped = stop.elapsed();
    if !status.success() {
        return Err(format!("the host binary stopped with {status}"));
    }
    Ok((ready, stopped))
}

/// The module under the engine: until the `ready` notice, then a `stop` line until exit.
fn module_cycle(bench: &Bench) -> Result<(Duration, Duration), String> {
    let start = Instant::now();
    let mut child = bench.engine().spawn().map_err(|e| format!("cannot start {}: {e}", bench.engine.display()))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("no pipes to the engine".to_owned());
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let ready = br#""event":"ready""#;
            if line.starts_with(b"\x1e") && line.windows(ready.len()).any(|w| w == ready) {
                let _ = ready_tx.send(Instant::now());
            }
            line.clear();
        }
        let _ = reader.read_to_end(&mut Vec::new());
    });
    let ready_at = ready_rx.recv_timeout(PATIENCE).map_err(|_| "no ready notice from the module".to_owned())?;
    let ready = ready_at.duration_since(start);
    let stop = Instant::now();
    stdin.write_all(b"{\"v\":1,\"op\":\"stop\"}\n").map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let stopped = stop.elapsed();
    drop(stdin);
    let _ = reader.join();
    if !status.success() {
        return Err(format!("the module stopped with {status}"));
    }
    Ok((ready, stopped))
}

/// An installed service: `start` (which returns once it is ready), then `stop`.
fn installed_cycle(bench: &Bench, platform: &str) -> Result<(Duration, Duration), String> {
    let start = Instant::now();
    ok(&mut bench.duende(platform, &["start"]))?;
    let started = start.elapsed();
    let status = ok(&mut bench.duende(platform, &["status", "--json"]))?;
    if !status.contains("\"state\":\"running\"") {
        return Err(format!("{platform}: started but not running: {status}"));
    }
    let stop = Instant::now();
    ok(&mut bench.duende(platform, &["stop"]))?;
    Ok((started, stop.elapsed()))
}

fn main() -> Result<(), String> {
    let var = |name: &str, what: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .ok_or_else(|| format!("{name} is not set: {what}; run scripts/bench-wos"))
    };
    let host = var("DUENDE_BENCH_WOS_HOST", "the host build of examples/01_counter.rs")?;
    let module = var("DUENDE_BENCH_WOS_MODULE", "its wasm32-wasip1 build")?;
    let engine = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("wasmtime"))
        .find(|path| path.is_file())
        .ok_or("no `wasmtime` in PATH: install the wasmtime CLI, or run scripts/bench-wos, which makes a shim")?;
    let scratch = scratch_dir().join("duende-bench-wos");
    let _ = std::fs::remove_dir_all(&scratch);
    for dir in ["home", "run", "cache"] {
        std::fs::create_dir_all(scratch.join(dir)).map_err(|e| e.to_string())?;
    }
    let config = format!(
        "[platform.wos]\nmodule = \"{}\"\n",
        std::path::absolute(&module).map_err(|e| e.to_string())?.display()
    );
    std::fs::write(scratch.join("counter.toml"), config).map_err(|e| e.to_string())?;
    let bench = Bench { host, module, engine, scratch };
    let result = measure(&bench);
    for platform in ["wos", "native"] {
        let _ = run(&mut bench.duende(platform, &["uninstall"]));
    }
    let _ = std::fs::remove_dir_all(&bench.scratch);
    result
}

fn measure(bench: &Bench) -> Result<(), String> {
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).map_err(|e| format!("{}: {e}", path.display()));
    let (module_len, host_len) = (size(&bench.module)?, size(&bench.host)?);
    let front = std::fs::read_to_string(&bench.engine).is_ok_and(|text| text.contains("wasi-run.py"));
    println!(
        "WOS: examples/01_counter.rs (release), the wasm32-wasip1 module under {} ({}), against the host build; {RUNS} runs each:",
        bench.engine.display(),
        if front {
            "the PyPI wasmtime engine behind scripts/wasi-run.py's `wasmtime run` front"
        } else {
            "the wasmtime CLI"
        }
    );
    println!(
        "  size: module {:.2} MiB, host binary {:.2} MiB ({:.2}x)",
        mib(module_len),
        mib(host_len),
        module_len as f64 / host_len as f64
    );
    let (cold, _) = module_cycle(bench)?;
    println!("  first start with an empty code cache (the engine compiles the module): {:.0} ms to ready", ms(cold));

    let (mut native, mut wasi) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for _ in 0..RUNS {
        let (ready, stop) = native_cycle(bench)?;
        native.0.push(ready);
        native.1.push(stop);
        let (ready, stop) = module_cycle(bench)?;
        wasi.0.push(ready);
        wasi.1.push(stop);
    }
    let (n_ready, n_stop, w_ready, w_stop) = (median(native.0), median(native.1), median(wasi.0), median(wasi.1));
    println!(
        "  by hand, start -> ready: module {:.1} ms (to its `ready` notice), native {:.1} ms (to READY=1) ({:.1}x)",
        ms(w_ready),
        ms(n_ready),
        ms(w_ready) / ms(n_ready)
    );
    println!(
        "  by hand, stop -> exited: module {:.1} ms (a `stop` line on standard input), native {:.1} ms (SIGTERM) ({:.1}x)",
        ms(w_stop),
        ms(n_stop),
        ms(w_stop) / ms(n_stop)
    );

    ok(&mut bench.duende("native", &["install"]))?;
    ok(&mut bench.duende("wos", &["install"]))?;
    let (mut native, mut wos) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for _ in 0..RUNS {
        let (ready, stop) = installed_cycle(bench, "native")?;
        native.0.push(ready);
        native.1.push(stop);
        let (ready, stop) = installed_cycle(bench, "wos")?;
        wos.0.push(ready);
        wos.1.push(stop);
    }
    let (n_ready, n_stop, w_ready, w_stop) = (median(native.0), median(native.1), median(wos.0), median(wos.1));
    println!(
        "  installed (--user, native supervisor), `start` until ready: wos {:.0} ms (supervisor, runner, engine), native {:.0} ms ({:.1}x)",
        ms(w_ready),
        ms(n_ready),
        ms(w_ready) / ms(n_ready)
    );
    println!(
        "  installed, `stop` until stopped: wos {:.0} ms, native {:.0} ms ({:.1}x)",
        ms(w_stop),
        ms(n_stop),
        ms(w_stop) / ms(n_stop)
    );
    Ok(())
}
