//! The examples built for wasm32-wasip1, run as WASI daemons (WOS's way) under the real wasmtime
//! engine, the PyPI wheel driven by `scripts/wasi-run.py`: configuration from a preopened file and
//! the environment, readiness as a notice, status, reload and stop through standard input, the
//! exit codes, and `check`.
//!
//! One of the suites `scripts/test` switches on (the `root-tests` feature; these need no root
//! themselves). It needs `DUENDE_TEST_WASI_PYTHON` (a Python with the `wasmtime` package) and
//! `DUENDE_TEST_WASM_DIR` (where `cargo build --target wasm32-wasip1 --examples` put the
//! modules), which `scripts/test` sets; a missing one, or a missing part, fails the test.
#![cfg(feature = "root-tests")]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use duende_runtime::control::protocol::{
    ErrorCode, HealthLevel, Notice, NoticeEvent, ReloadResult, Response, StatusResult, StopResult,
};
use duende_tests::PATIENCE;
use serde_json::Value;

/// The ASCII record separator before each line of the control channel on standard output.
const RS: u8 = 0x1e;

/// Where the modules and the runner are.
struct Wasi {
    python: PathBuf,
    modules: PathBuf,
    runner: PathBuf,
    cache: PathBuf,
}

fn wasi() -> Wasi {
    let python = PathBuf::from(std::env::var_os("DUENDE_TEST_WASI_PYTHON").expect(
        "DUENDE_TEST_WASI_PYTHON is not set: point it at a Python with the `wasmtime` package (scripts/test makes one)",
    ));
    let modules = PathBuf::from(
        std::env::var_os("DUENDE_TEST_WASM_DIR")
            .expect("DUENDE_TEST_WASI_PYTHON is set but DUENDE_TEST_WASM_DIR is not: point it at the built modules"),
    );
    assert!(python.is_file(), "DUENDE_TEST_WASI_PYTHON: no Python at {}", python.display());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runner = root.join("scripts/wasi-run.py");
    assert!(runner.is_file(), "the WASI runner {} is missing", runner.display());
    // Compiled code is cached beside the modules: only the first start of each pays for it.
    let cache = modules.join("wasmtime-cache");
    Wasi { python, modules, runner, cache }
}

impl Wasi {
    fn module(&self, example: &str) -> PathBuf {
        let path = self.modules.join(format!("{example}.wasm"));
        assert!(
            path.is_file(),
            "{} is missing: build it with `cargo build --target wasm32-wasip1 --examples`",
            path.display()
        );
        path
    }

    /// The runner for `example` with the host directory `dir` preopened at `/cfg` and `env`.
    fn command(&self, example: &str, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut command = Command::new(&self.python);
        command.arg(&self.runner).arg("--cache").arg(&self.cache);
        command.arg("--dir").arg(format!("{}::/cfg", dir.display()));
        for (key, value) in env {
            command.arg("--env").arg(format!("{key}={value}"));
        }
        command.arg(self.module(example)).args(args);
        command
    }

    /// Runs to the end with standard input closed: (status, stdout, stderr).
    fn run(&self, example: &str, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
        let out = self
            .command(example, dir, env, args)
            .stdin(Stdio::null())
            .output()
            .expect("the WASI runner could not be started");
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    fn start(&self, example: &str, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Module {
        let started = Instant::now();
        let mut child = self
            .command(example, dir, env, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the WASI runner could not be started");
        let stdin = child.stdin.take();
        let (records_tx, records) = mpsc::channel();
        let (output_tx, output) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        thread::spawn(move || split_stdout(stdout, &records_tx, &output_tx));
        let stderr = child.stderr.take().expect("piped");
        let (log_tx, log) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = log_tx.send(line);
            }
        });
        Module { child, stdin, records, output, log, seen_output: Vec::new(), started }
    }
}

/// Splits standard output into the channel's records (after RS, to the newline) and the daemon's
/// own lines.
fn split_stdout(stdout: impl Read, records: &mpsc::Sender<Value>, output: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        let (own, record) = match line.iter().position(|&b| b == RS) {
            Some(at) => (&line[..at], Some(&line[at + 1..])),
            None => (&line[..], None),
        };
        let own = String::from_utf8_lossy(own).trim_end().to_owned();
        if !own.is_empty() {
            let _ = output.send(own);
        }
        if let Some(record) = record {
            let value = serde_json::from_slice(record).unwrap_or_else(|err| {
                panic!("a channel line is not JSON ({err}): {}", String::from_utf8_lossy(record))
            });
            let _ = records.send(value);
        }
        line.clear();
    }
}

/// A module running under the runner, its standard input held by the test.
struct Module {
    child: Child,
    stdin: Option<ChildStdin>,
    records: Receiver<Value>,
    output: Receiver<String>,
    log: Receiver<String>,
    seen_output: Vec<String>,
    started: Instant,
}

impl Drop for Module {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Module {
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("standard input is still open");
        stdin.write_all(format!("{line}\n").as_bytes()).expect("the module's standard input is open");
        stdin.flush().expect("flush");
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next record of the channel.
    fn record(&mut self) -> Value {
        match self.records.recv_timeout(PATIENCE) {
            Ok(value) => value,
            Err(_) => panic!("no control-channel line within {PATIENCE:?}; log:\n{}", self.log_text()),
        }
    }

    fn notice(&mut self, event: NoticeEvent) -> Notice {
        let record = self.record();
        let notice: Notice = serde_json::from_value(record.clone()).unwrap_or_else(|err| panic!("{err}: {record}"));
        assert_eq!(notice.event, event, "{record}");
        notice
    }

    /// The next reply; notices that come before it (a health check's `status`) are skipped.
    fn reply<T: serde::de::DeserializeOwned>(&mut self) -> Response<T> {
        let mut record = self.record();
        while record.get("event").is_some() {
            record = self.record();
        }
        serde_json::from_value(record.clone()).unwrap_or_else(|err| panic!("not a reply ({err}): {record}"))
    }

    fn ask<T: serde::de::DeserializeOwned>(&mut self, op: &str) -> Response<T> {
        self.send(&format!(r#"{{"v":1,"op":"{op}"}}"#));
        self.reply()
    }

    /// Waits for a line of the daemon's own output containing `needle`.
    fn expect_output(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.seen_output.iter().find(|line| line.contains(needle)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) => self.seen_output.push(line),
                Err(_) => panic!("no output line contains {needle:?}; output: {:?}", self.seen_output),
            }
        }
    }

    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the module did not exit within {PATIENCE:?}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The log (standard error) so far, once the module has exited or while it runs.
    fn log_text(&self) -> String {
        self.log.try_iter().collect::<Vec<_>>().join("\n")
    }
}

fn config_dir(file: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(file), text).expect("write the configuration");
    dir
}

#[test]
fn counter_layers_a_preopened_file_and_the_environment() {
    let wasi = wasi();
    let dir = config_dir("counter.toml", "shutdown_timeout = \"7s\"\n[app]\ninterval_ms = 500\n");
    let env = [("COUNTER_APP__INTERVAL_MS", "20")];
    let (code, out, err) = wasi.run("01_counter", dir.path(), &env, &["--config", "/cfg/counter.toml", "config"]);
    assert_eq!(code, 0, "{out}{err}");
    let line = |key: &str| out.lines().find(|l| l.trim_start().starts_with(key)).unwrap_or_default().to_owned();
    assert!(line("shutdown_timeout").contains("/cfg/counter.toml"), "{out}");
    let interval = line("app.interval_ms");
    assert!(interval.contains("20") && interval.contains("COUNTER_APP__INTERVAL_MS"), "the environment wins: {out}");
}

#[test]
fn counter_reports_ready_answers_status_and_stops_gracefully_through_standard_input() {
    let wasi = wasi();
    let dir = config_dir("counter.toml", "[app]\ninterval_ms = 20\n");
    let env = [("WOS_VERSION", "0.1-test")];
    let mut module = wasi.start("01_counter", dir.path(), &env, &["--config", "/cfg/counter.toml"]);
    let ready = module.notice(NoticeEvent::Ready);
    assert_eq!(ready.status.as_deref(), Some("running"));
    eprintln!(
        "01_counter: start -> ready notice in {:?} (runner, engine and module included)",
        module.started.elapsed()
    );

    thread::sleep(Duration::from_millis(300));
    let status = module.ask::<StatusResult>("status").result.expect("status succeeds");
    assert_eq!((status.name.as_str(), status.ready, status.config_generation), ("counter", true, 1));
    let counted = status.metrics.get("requests_total").and_then(Value::as_u64).unwrap_or(0);
    assert!(counted >= 5, "20 ms ticks ran beside the channel: {status:?}");

    let stop = module.ask::<StopResult>("stop").result.expect("stop succeeds");
    assert_eq!((stop.already_stopping, stop.shutdown_timeout_seconds), (false, 30.0));
    module.notice(NoticeEvent::Stopping);
    module.expect_output("counted to ");
    assert_eq!(module.wait_exit(), 0, "{}", module.log_text());
    let log = module.log_text();
    for (needle, times) in [
        ("running as a WASI module on WOS (WOS_VERSION=0.1-test; built for wasm32 (wasi))", 1),
        ("no signals on WASI", 1),
        ("no threads on WASI", 1),
        ("shutdown requested by the control channel (standard input)", 1),
    ] {
        assert_eq!(log.matches(needle).count(), times, "{needle:?} in:\n{log}");
    }
}

#[test]
fn closing_standard_input_is_a_graceful_stop() {
    let wasi = wasi();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut module = wasi.start("01_counter", dir.path(), &[], &["--set", "app.interval_ms=10"]);
    module.notice(NoticeEvent::Ready);
    let closed = Instant::now();
    module.close_stdin();
    module.notice(NoticeEvent::Stopping);
    module.expect_output("counted to ");
    assert_eq!(module.wait_exit(), 0, "{}", module.log_text());
    eprintln!("01_counter: stdin closed -> exit in {:?}", closed.elapsed());
    assert!(module.log_text().contains("shutdown requested by the end of standard input"));
}

#[test]
fn reload_through_standard_input_takes_a_valid_file_and_refuses_an_invalid_one() {
    let wasi = wasi();
    let dir = config_dir("greeter.toml", "[app]\ngreeting = \"hello\"\n");
    let file = dir.path().join("greeter.toml");
    let mut module = wasi.start("03_reload", dir.path(), &[], &["--config", "/cfg/greeter.toml"]);
    module.expect_output("greeting is hello");
    module.notice(NoticeEvent::Ready);

    std::fs::write(&file, "[app]\ngreeting = \"bonjour\"\nrepeat = 2\n").expect("write");
    module.send(r#"{"v":1,"op":"reload"}"#);
    module.notice(NoticeEvent::Reloading);
    let reloaded = module.notice(NoticeEvent::Reloaded);
    assert_eq!(reloaded.accepted, Some(true));
    let reply: Response<ReloadResult> = module.reply();
    assert_eq!(reply.result, Some(ReloadResult { generation: 2 }));
    module.expect_output("generation 2: greeting is now bonjourbonjour");

    std::fs::write(&file, "[app]\ngreeting = \"\"\n").expect("write");
    module.send(r#"{"v":1,"op":"reload"}"#);
    module.notice(NoticeEvent::Reloading);
    assert_eq!(module.notice(NoticeEvent::Reloaded).accepted, Some(false));
    let refused = module.reply::<ReloadResult>().error.expect("the reload is refused");
    assert_eq!((refused.code, refused.generation), (ErrorCode::ReloadRejected, Some(2)));
    assert!(refused.message.contains("app.greeting") && refused.message.contains("/cfg/greeter.toml:2"), "{refused:?}");
    module.expect_output("reload refused, greeting stays bonjour");

    let status = module.ask::<StatusResult>("status").result.expect("status");
    assert_eq!(status.config_generation, 2);
    module.send(r#"{"v":1,"op":"stop"}"#);
    assert!(module.reply::<StopResult>().ok);
    assert_eq!(module.wait_exit(), 0, "{}", module.log_text());
}

#[test]
fn a_bad_configuration_exits_78_naming_the_key_and_its_source() {
    let wasi = wasi();
    let dir = config_dir("greeter.toml", "[app]\ngreeting = \"hi\"\nrepeat = 11\n");
    let (code, out, err) = wasi.run("03_reload", dir.path(), &[], &["--config", "/cfg/greeter.toml"]);
    assert_eq!(code, 78, "{out}{err}");
    assert!(err.contains("app.repeat = 11 (from /cfg/greeter.toml:3): must be between 1 and 10"), "{err}");

    let env = [("GREETER_APP__GREETING", " ")];
    let (code, out, err) = wasi.run("03_reload", dir.path(), &env, &["--set", "app.repeat=2"]);
    assert_eq!(code, 78, "{out}{err}");
    assert!(err.contains("app.greeting") && err.contains("environment variable GREETER_APP__GREETING"), "{err}");
    assert!(!out.contains('\u{1e}'), "nothing reached the channel: {out}");
}

#[test]
fn required_memory_locking_exits_71_with_one_line_saying_why() {
    let wasi = wasi();
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = wasi.run("02_mlock", dir.path(), &[], &[]);
    assert_eq!(code, 71, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("memory locking is required and failed: memory locking is impossible in a WASI module"),
        "{err}"
    );
    assert!(out.is_empty(), "init never ran: {out}");
}

#[test]
fn health_checks_run_on_their_schedule_beside_the_daemon() {
    let wasi = wasi();
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).expect("mkdir");
    let args = [
        "--set",
        "app.spool=/cfg/spool",
        "--set",
        "app.interval_ms=50",
        "--set",
        "health_check.enabled=true",
        "--set",
        "health_check.interval=100ms",
    ];
    let mut module = wasi.start("04_health", dir.path(), &[], &args);
    module.notice(NoticeEvent::Ready);
    // The spool check runs every 100 ms beside the daemon's 50 ms ticks on the module's one
    // thread; a slow host may make one look stale, so wait for it to be seen healthy.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let health = module.ask::<StatusResult>("status").result.expect("status").health;
        let spool_check = health.checks.iter().find(|check| check.name == "spool");
        if health.state == HealthLevel::Healthy && spool_check.is_some_and(|check| check.state == HealthLevel::Healthy)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the spool check was never seen healthy: {health:?}");
        thread::sleep(Duration::from_millis(100));
    }

    std::fs::remove_dir_all(&spool).expect("rm");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let health = module.ask::<StatusResult>("status").result.expect("status").health;
        if health.state == HealthLevel::Unhealthy {
            assert!(health.reason.unwrap_or_default().contains("no heartbeat"));
            break;
        }
        assert!(Instant::now() < deadline, "the check never noticed the spool was gone: {health:?}");
        thread::sleep(Duration::from_millis(100));
    }
    module.close_stdin();
    assert_eq!(module.wait_exit(), 0, "{}", module.log_text());
}

#[test]
fn check_says_what_is_degraded_and_management_commands_are_the_hosts() {
    let wasi = wasi();
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("WOS_VERSION", "0.1-test")];
    let (code, out, err) = wasi.run("01_counter", dir.path(), &env, &["check"]);
    assert_eq!(code, 0, "{out}{err}");
    for needle in [
        "wos (detected: WOS_VERSION=0.1-test; built for wasm32 (wasi))",
        "WASI (WOS)",
        "no signals",
        "no threads",
        "control channel: standard input",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    let (code, out, err) = wasi.run("02_mlock", dir.path(), &env, &["check"]);
    assert_eq!(code, 71, "required locking is a problem: {out}{err}");
    assert!(out.contains("memory locking is impossible in a WASI module"), "{out}");

    let (code, out, err) = wasi.run("01_counter", dir.path(), &env, &["status"]);
    assert_eq!(code, 69, "{out}{err}");
    assert!(err.contains("`status` is not available inside a WASI module"), "{err}");
}

#[test]
fn metrics_record_without_a_listener_and_say_so_once() {
    let wasi = wasi();
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("RUNTIME_DIRECTORY", "/cfg")];
    let args =
        ["--set", "metrics.enabled=true", "--set", "metrics.upkeep_interval=100ms", "--set", "app.interval_ms=20"];
    let mut module = wasi.start("01_counter", dir.path(), &env, &args);
    module.notice(NoticeEvent::Ready);
    thread::sleep(Duration::from_millis(300));
    let status = module.ask::<StatusResult>("status").result.expect("status");
    assert!(status.metrics.get("requests_total").and_then(Value::as_u64).unwrap_or(0) >= 5, "{status:?}");
    module.close_stdin();
    assert_eq!(module.wait_exit(), 0, "{}", module.log_text());
    let log = module.log_text();
    assert_eq!(log.matches("no metrics listener on WASI").count(), 1, "{log}");
    assert!(log.contains("metrics.listen 127.0.0.1:9464 is not served"), "{log}");
    assert!(!log.contains("serving metrics at"), "{log}");
    // The restart count lives in the preopened runtime directory, like on the host.
    let restarts = std::fs::read_to_string(dir.path().join("restarts")).expect("the restart record");
    assert_eq!(restarts.trim(), "stopped 0");
}
