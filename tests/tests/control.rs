//! The control channel of real daemons, driven through their own management commands
//! (`status`, `reload`, `stop` on a platform without a service manager) and through raw bytes:
//! live status, reload with a changed and a broken file, stop, the socket's mode, one instance
//! per runtime directory, stale sockets, and garbage that must change nothing.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use duende_runtime::control::protocol::{MAX_REQUEST_BYTES, Response};
use duende_tests::{Running, Spawn};
use serde_json::Value;

#[path = "../../duende-runtime/src/control/tests/garbage.rs"]
mod garbage;
#[path = "../../duende-runtime/src/control/tests/oracle.rs"]
mod oracle;

const COUNTER: &str = env!("CARGO_BIN_EXE_example-counter");
const GREETER: &str = env!("CARGO_BIN_EXE_example-reload");
const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// Runs `program ARGS --platform native` against the daemon whose runtime directory is `dir`.
fn manage(program: &str, dir: &Path, args: &[&str]) -> (i32, String) {
    Spawn::new(program).runtime_dir(dir).args(args).args(["--platform", "native"]).run()
}

/// The JSON line of a `status --json` output (nothing installed: the daemon's own account).
fn json_of(out: &str) -> Value {
    let line = out.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON line in:\n{out}"));
    duende_tests::schema::check("duende.live.v1", line)
}

fn live_status(program: &str, d: &Running) -> Value {
    let (code, out) = manage(program, d.runtime_dir(), &["status", "--json"]);
    assert_eq!(code, 0, "{out}");
    json_of(&out)["live"].clone()
}

#[test]
fn status_reports_the_running_daemon_as_json_and_as_text() {
    let mut d = Spawn::new(COUNTER).args(["--set", "app.interval_ms=10"]).start();
    d.expect_line("ready");
    std::thread::sleep(Duration::from_millis(200));
    let (code, out) = manage(COUNTER, d.runtime_dir(), &["status", "--json"]);
    assert_eq!(code, 0, "{out}");
    let json = json_of(&out);
    assert_eq!(json["platform"], "native");
    assert_eq!(json["socket"], d.runtime_dir().join("control.sock").display().to_string());
    let live = &json["live"];
    assert_eq!(live["name"], "counter");
    assert_eq!(live["pid"], d.pid());
    assert_eq!((live["state"].as_str(), live["ready"].as_bool()), (Some("running"), Some(true)), "{live}");
    assert_eq!(live["health"]["state"], "healthy");
    assert_eq!(live["health"]["score"], 5);
    assert!(live["uptime_seconds"].as_f64().is_some_and(|s| s >= 0.2), "{live}");
    assert!(live["ready_after_seconds"].as_f64().is_some_and(|s| s > 0.0 && s < 10.0), "{live}");
    assert_eq!(live["config_generation"], 1);
    assert_eq!(live["last_reload"], Value::Null);
    assert!(live["metrics"]["requests_total"].as_u64().is_some_and(|n| n >= 5), "the counter counts: {live}");
    assert_eq!(live["metrics"]["errors_total"], 0);

    let (code, out) = manage(COUNTER, d.runtime_dir(), &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("counter on native: running (pid {})", d.pid())), "{out}");
    for needle in
        ["health: healthy (score 5)", "uptime: ", "ready after ", "configuration: generation 1", "requests_total="]
    {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn status_while_init_runs_says_starting_and_is_not_yet_a_success() {
    let mut d = Spawn::new(PROBE).args(["--set", "app.init_delay_ms=3000"]).start();
    d.expect_line("init label=");
    let (code, out) = manage(PROBE, d.runtime_dir(), &["status", "--json"]);
    assert_eq!(code, 69, "{out}");
    let live = &json_of(&out)["live"];
    assert_eq!((live["state"].as_str(), live["ready"].as_bool()), (Some("starting"), Some(false)), "{live}");
    assert_eq!(live["ready_after_seconds"], Value::Null);
    d.expect_all(&["init done", "INFO ready"]);
    assert_eq!(live_status(PROBE, &d)["state"], "running");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn reload_through_the_cli_takes_a_changed_file_and_reports_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("greeter.toml");
    duende_tests::write_atomic(&file, "[app]\ngreeting = \"hello\"\n");
    let mut d = Spawn::new(GREETER).args(["--config", file.to_str().unwrap()]).start();
    d.expect_all(&["greeting is hello", "INFO ready"]);

    duende_tests::write_atomic(&file, "[app]\ngreeting = \"bonjour\"\n");
    let (code, out) = manage(GREETER, d.runtime_dir(), &["reload"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), "greeter: configuration reloaded; generation 2 is in effect");
    d.expect_all(&[
        "generation 2: greeting is now bonjour",
        "INFO reloading configuration, requested by the control channel (uid ",
        "configuration reloaded generation=2",
    ]);
    // Logged once, as what asked for it: no signal was involved.
    let out = d.output();
    let asked: Vec<&str> = out.lines().filter(|line| line.contains("reload")).collect();
    assert_eq!(asked.len(), 2, "{out}");
    assert!(asked[0].contains("INFO reloading configuration, requested by the control channel (uid "), "{out}");
    assert!(!out.contains("SIGHUP"), "{out}");
    let live = live_status(GREETER, &d);
    assert_eq!(live["config_generation"], 2);
    assert_eq!(live["last_reload"]["outcome"], "accepted");

    duende_tests::write_atomic(&file, "[app]\ngreeting = \"\"\n");
    let (code, out) = manage(GREETER, d.runtime_dir(), &["reload"]);
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("greeter: reload rejected; configuration generation 2 stays: "), "{out}");
    assert!(out.contains("app.greeting") && out.contains("must not be empty"), "{out}");
    d.expect_line("reload refused, greeting stays bonjour");
    assert!(d.is_alive(), "a rejected reload ended the daemon:\n{}", d.output());
    let live = live_status(GREETER, &d);
    assert_eq!(live["config_generation"], 2);
    assert_eq!(live["last_reload"]["outcome"], "rejected");
    assert!(live["last_reload"]["reason"].as_str().is_some_and(|r| r.contains("app.greeting")), "{live}");
    assert_eq!(
        (live["last_reload"]["attempts"].as_u64(), live["last_reload"]["accepted"].as_u64()),
        (Some(2), Some(1))
    );

    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn stop_through_the_cli_returns_once_the_daemon_exited_gracefully() {
    let mut d = Spawn::new(COUNTER).args(["--set", "app.interval_ms=10"]).start();
    d.expect_line("ready");
    let socket = d.runtime_dir().join("control.sock");
    let (code, out) = manage(COUNTER, d.runtime_dir(), &["stop"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), format!("counter: stopped (pid {})", d.pid()));
    // `stop` returned after the process closed its end: it is gone or going, and graceful.
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
    // stdout and stderr arrive interleaved in any order.
    d.expect_all(&["shutdown requested by the control channel (uid ", "counted to "]);
    assert_eq!(d.output().matches("requested").count(), 1, "one stop, one line:\n{}", d.output());
    assert!(!socket.exists(), "the socket outlived the daemon");

    let (code, out) = manage(COUNTER, d.runtime_dir(), &["status"]);
    assert_eq!(code, 69, "{out}");
    assert!(out.contains("no daemon answers on") && out.contains("it is not running"), "{out}");
}

#[test]
fn without_a_daemon_status_and_reload_exit_69_and_stop_exits_0_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = manage(COUNTER, dir.path(), &["status", "--json"]);
    assert_eq!(code, 69, "{out}");
    assert_eq!(json_of(&out)["live"], Value::Null);
    assert!(out.contains("it is not running"), "{out}");
    let (code, out) = manage(COUNTER, dir.path(), &["reload"]);
    assert_eq!(code, 69, "{out}");
    assert!(out.contains("`reload` failed: no daemon answers on"), "{out}");
    // As `systemctl stop` of a stopped unit: what was asked for already holds.
    let (code, out) = manage(COUNTER, dir.path(), &["stop"]);
    assert_eq!(code, 0, "{out}");
    let socket = dir.path().join("control.sock");
    assert_eq!(
        out.trim(),
        format!("counter: not running; nothing to stop (no daemon answers on `{}`)", socket.display())
    );
    // What the control channel cannot do goes to the native backend, which needs an install.
    let (code, out) = manage(COUNTER, dir.path(), &["start"]);
    assert_eq!(code, 69, "{out}");
    assert!(
        out.contains("`start` failed: `counter` is not installed as a") && out.contains("`counter install`"),
        "{out}"
    );
}

#[test]
fn the_container_health_command_exits_1_without_a_daemon_and_0_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = Spawn::new(COUNTER).runtime_dir(dir.path()).args(["__healthcheck"]).run();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no daemon answers on"), "{out}");
    let mut d = Spawn::new(COUNTER).runtime_dir(dir.path()).start();
    d.expect_line("ready");
    let (code, out) = Spawn::new(COUNTER).runtime_dir(dir.path()).args(["__healthcheck"]).run();
    assert_eq!((code, out.trim()), (0, "counter is running, healthy (score 5)"), "{out}");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn the_socket_is_the_daemons_alone() {
    let mut d = Spawn::new(COUNTER).start();
    d.expect_line("ready");
    let meta = std::fs::symlink_metadata(d.runtime_dir().join("control.sock")).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode {:o}", meta.permissions().mode());
    assert_eq!(meta.uid(), duende_tests::euid());
    let names: Vec<String> = std::fs::read_dir(d.runtime_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n == "control.sock" || n == "control.lock"), "{names:?}");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn a_second_instance_in_the_same_runtime_dir_exits_69_naming_the_first() {
    let mut first = Spawn::new(COUNTER).start();
    first.expect_line("ready");
    let (code, out) = Spawn::new(COUNTER).runtime_dir(first.runtime_dir()).run();
    assert_eq!(code, 69, "{out}");
    assert!(out.contains(&format!("another instance of `counter` is already running (pid {})", first.pid())), "{out}");
    assert!(out.contains(&first.runtime_dir().join("control.sock").display().to_string()), "{out}");
    assert_eq!(out.lines().count(), 1, "the second one did more than refuse: {out}");
    assert_eq!(live_status(COUNTER, &first)["pid"], first.pid(), "the first one is untouched");
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit(), 0, "{}", first.output());
}

#[test]
fn a_stale_socket_left_by_a_dead_daemon_is_replaced() {
    let mut dead = Spawn::new(COUNTER).start();
    dead.expect_line("ready");
    let dir = dead.runtime_dir().to_path_buf();
    dead.signal(libc::SIGKILL);
    assert_eq!(dead.wait_exit(), 128 + libc::SIGKILL);
    assert!(dir.join("control.sock").exists(), "SIGKILL leaves the socket behind");
    // `dead` still owns the directory (it is removed with the handle).
    let mut d = Spawn::new(COUNTER).runtime_dir(&dir).start();
    d.expect_line("replacing a stale control socket");
    d.expect_line("ready");
    assert_eq!(live_status(COUNTER, &d)["pid"], d.pid());
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
    drop(dead);
}

/// Sends `bytes` on a fresh connection, closes the sending half, returns what came back.
fn exchange(socket: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reply = Vec::new();
    if let Err(err) = stream.read_to_end(&mut reply) {
        assert_ne!(err.kind(), std::io::ErrorKind::WouldBlock, "no reply and no close within 10s");
    }
    reply
}

/// The error code of each reply line, as sent; each must be a failed version-1 reply.
fn reply_codes(reply: &[u8]) -> Vec<String> {
    reply
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let response: Response<Value> = serde_json::from_slice(line).unwrap();
            assert!(!response.ok && response.v == 1, "{}", String::from_utf8_lossy(line));
            let raw: Value = serde_json::from_slice(line).unwrap();
            raw["error"]["code"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn garbage_at_a_real_daemon_gets_error_replies_and_changes_nothing() {
    let mut d = Spawn::new(COUNTER).start();
    d.expect_line("ready");
    let socket = d.runtime_dir().join("control.sock");
    // The lines written by hand with the code each must get, then the generated ones.
    for (line, code) in oracle::TABLE.iter().filter_map(|(line, code)| code.map(|code| (line, code))) {
        assert_eq!(reply_codes(&exchange(&socket, format!("{line}\n").as_bytes())), [code], "{line:?}");
    }
    let mut garbage = garbage::Garbage::new(0x6475_656e_6465_0002, MAX_REQUEST_BYTES);
    for case in 0..3000 {
        let bytes = garbage.case();
        let reply = exchange(&socket, &bytes);
        // Each reply's code as sent, checked against the oracle (which shares no code with the
        // daemon's parser).
        let codes = reply_codes(&reply);
        let expected = oracle::expected_codes(&bytes, MAX_REQUEST_BYTES);
        assert_eq!(codes, expected, "case {case}: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)]));
    }
    assert!(d.is_alive());
    let live = live_status(COUNTER, &d);
    assert_eq!((live["state"].as_str(), live["config_generation"].as_u64()), (Some("running"), Some(1)), "{live}");
    assert_eq!(live["last_reload"], Value::Null);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
    // The last line of a clean stop, so every line before it has been read.
    d.expect_line("INFO stopped");
    let output = d.output();
    assert!(!output.contains("ERROR") && !output.contains("WARN"), "{output}");
}
