//! The bad input table (issue 15, item 2): malformed configuration, command lines and control
//! requests given to the real `probe`, each with the exit code (DESIGN.md section 7) or reply
//! code it must get and the words it must say. The cases are data, in `tests/bad_input/`:
//! - `config.rs`: exit 78, the problem's line (key, value, source, what is allowed), and the
//!   daemon never started (`main` and `init` never ran);
//! - `cli.rs`: exit 64, clap's words (the valid values, the usage line);
//! - `control.rs`: the reply's error code and message from a running probe, which then still
//!   answers `status`. Every `--config` case of `config.rs` is also given to that probe as a
//!   reload, which must be rejected with the same words, the configuration in effect kept.
//!
//! Hermetic: every run has its own runtime directory, `HOME`, `XDG_CONFIG_HOME` (with an empty
//! user file, so no system file is read) and an empty `PATH`; nothing outside its temporary
//! directory is read or changed. No case may panic.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use duende_tests::{PATIENCE, Spawn};
use serde_json::Value;

#[path = "../bad_input/cli.rs"]
mod cli_cases;
#[path = "../bad_input/config.rs"]
mod config_cases;
#[path = "../bad_input/control.rs"]
mod control_cases;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
/// Runs of `probe` at once for the configuration and command-line cases.
const WORKERS: usize = 4;
const STATUS: &str = r#"{"v":1,"op":"status"}"#;

/// One bad input given to a fresh `probe`.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    input: Input,
    /// The subcommand and its flags, after the input's own flags.
    command: &'static [&'static str],
    exit: i32,
    /// Each must be found on a line of the output; `{file}` stands for the file's path.
    says: &'static [&'static str],
}

/// Where the bad input goes.
#[derive(Clone, Copy)]
pub enum Input {
    /// A file given with `--config`.
    File(&'static [u8]),
    /// `--config` naming a file that does not exist.
    Missing,
    /// One `--set` flag.
    Set(&'static str),
    /// One `PROBE_*` variable.
    Env(&'static str, &'static str),
    /// The whole command line.
    Args(&'static [&'static str]),
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::File(text) => write!(f, "File({:?})", String::from_utf8_lossy(text)),
            Input::Missing => f.write_str("Missing"),
            Input::Set(flag) => write!(f, "Set({flag:?})"),
            Input::Env(var, value) => write!(f, "Env({var:?}, {value:?})"),
            Input::Args(args) => write!(f, "Args({args:?})"),
        }
    }
}

/// A `--config` file with this text: exit 78.
pub const fn file(text: &'static [u8], says: &'static [&'static str]) -> Case {
    Case { input: Input::File(text), command: &[], exit: 78, says }
}

/// `--set flag`: exit 78.
pub const fn set(flag: &'static str, says: &'static [&'static str]) -> Case {
    Case { input: Input::Set(flag), command: &[], exit: 78, says }
}

/// The variable `var=value`: exit 78.
pub const fn env(var: &'static str, value: &'static str, says: &'static [&'static str]) -> Case {
    Case { input: Input::Env(var, value), command: &[], exit: 78, says }
}

/// The command line `args`: exit 64.
pub const fn cli(args: &'static [&'static str], says: &'static [&'static str]) -> Case {
    Case { input: Input::Args(args), command: &[], exit: 64, says }
}

impl Case {
    /// The same input given to `command` (`config`, `check`, `install ...`) instead of `run`.
    pub const fn on(self, command: &'static [&'static str]) -> Case {
        Case { command, ..self }
    }

    /// `--config` naming a file that is not there.
    pub const fn missing(self) -> Case {
        Case { input: Input::Missing, ..self }
    }
}

/// Bytes for a running probe's control socket, and the replies they must get.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    send: Send,
    /// Replies before the last one, in order: (code, words of the message).
    replies: &'static [(&'static str, &'static str)],
    /// The last reply's code and words.
    code: &'static str,
    says: &'static str,
}

/// What is sent on a fresh connection.
#[derive(Debug, Clone, Copy)]
pub enum Send {
    /// The text and a newline, then a `status` request on the same connection.
    Line(&'static str),
    /// These bytes exactly, then end-of-file.
    Bytes(&'static [u8]),
    /// A request line of this many bytes (an op of `x`s), then `status` on the same connection.
    Long(usize),
    /// These bytes, then nothing more, the connection held open until the daemon closes it.
    Hold(&'static [u8]),
}

/// The error codes after which the daemon closes the connection.
fn closes(code: &str) -> bool {
    matches!(code, "too-large" | "timeout" | "busy" | "permission-denied")
}

#[test]
fn every_bad_input_gets_its_exact_error_and_nothing_panics() {
    if duende_tests::euid() == 0 {
        // Root reads the system file rather than the (empty) user file each run is given.
        assert!(!Path::new("/etc/probe/probe.toml").exists(), "/etc/probe/probe.toml would be read by every case");
    }
    let cases: Vec<(&str, &Case)> = config_cases::CASES
        .iter()
        .map(|case| ("configuration", case))
        .chain(cli_cases::CASES.iter().map(|case| ("command line", case)))
        .collect();
    let failures = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let reloads = std::thread::scope(|scope| {
        let control = scope.spawn(|| control_group(&failures));
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while let Some((kind, case)) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(why) = run_case(case) {
                        failures.lock().unwrap().push(format!("{kind} case {case:?}:\n{why}"));
                    }
                }
            });
        }
        control.join().expect("the control group panicked")
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of the bad inputs failed:\n\n{}", failures.len(), failures.join("\n\n"));
    println!(
        "bad input: {} configuration, {} command line, {} control requests (and {reloads} configuration files \
         refused on reload): all passed",
        config_cases::CASES.len(),
        cli_cases::CASES.len(),
        control_cases::REQUESTS.len(),
    );
}

/// Panics that the runtime or the probe would print.
fn panicked(out: &str) -> bool {
    out.contains("panicked at") || out.contains("RUST_BACKTRACE")
}

/// The words of `says` with `{file}` replaced.
fn expand(says: &str, file: &Path) -> String {
    says.replace("{file}", &file.display().to_string())
}

/// Runs one case in a directory of its own; what is wrong with the outcome, if anything.
fn run_case(case: &Case) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (home, config_home, bin) = (dir.path().join("home"), dir.path().join("config"), dir.path().join("bin"));
    for made in [&home, &config_home.join("probe"), &bin] {
        std::fs::create_dir_all(made).expect("a directory of the case");
    }
    // An empty user file: the default location is read, and it is this one.
    std::fs::write(config_home.join("probe/probe.toml"), "").expect("the user file");
    let file = dir.path().join("probe.toml");
    let mut spawn = Spawn::new(PROBE).env("HOME", &home).env("XDG_CONFIG_HOME", &config_home).env("PATH", &bin);
    let source = match case.input {
        Input::File(text) => {
            std::fs::write(&file, text).expect("the case's file");
            spawn = spawn.args([std::ffi::OsStr::new("--config"), file.as_os_str()]);
            "{file}"
        }
        Input::Missing => {
            spawn = spawn.args([std::ffi::OsStr::new("--config"), file.as_os_str()]);
            "{file}"
        }
        Input::Set(flag) => {
            spawn = spawn.args(["--set", flag]);
            "--set "
        }
        Input::Env(var, value) => {
            spawn = spawn.env(var, value);
            "environment variable "
        }
        Input::Args(args) => {
            spawn = spawn.args(args);
            ""
        }
    };
    if case.exit == 78 && !case.says.first().is_some_and(|says| says.contains(source)) {
        return Err(format!("the table is wrong: a configuration case's first line must name its source ({source:?})"));
    }
    // A run that does not end (a daemon that started) panics in the harness: a failure of this
    // case, the others still reported.
    let spawn = spawn.args(case.command);
    let Ok((code, out)) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spawn.run())) else {
        return Err(format!("it did not exit within {PATIENCE:?} (the harness's message above has its output)"));
    };
    let mut wrong = Vec::new();
    if code != case.exit {
        wrong.push(format!("exit {code}, expected {}", case.exit));
    }
    for says in case.says {
        let says = expand(says, &file);
        if !out.lines().any(|line| line.contains(&says)) {
            wrong.push(format!("no line says {says:?}"));
        }
    }
    if panicked(&out) {
        wrong.push("it panicked".to_owned());
    }
    if out.lines().any(|line| line == "main body" || line.starts_with("init ")) {
        wrong.push("the daemon started".to_owned());
    }
    if wrong.is_empty() { Ok(()) } else { Err(format!("{}; output:\n{out}", wrong.join("; "))) }
}

/// One probe for every control request and every reload of a bad file; the number of reloads.
fn control_group(failures: &Mutex<Vec<String>>) -> usize {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (home, config_home, bin) = (dir.path().join("home"), dir.path().join("config"), dir.path().join("bin"));
    for made in [&home, &config_home.join("probe"), &bin] {
        std::fs::create_dir_all(made).expect("a directory of the group");
    }
    std::fs::write(config_home.join("probe/probe.toml"), "").expect("the user file");
    let file = dir.path().join("probe.toml");
    duende_tests::write_atomic(&file, "[app]\nlabel = \"kept\"\n");
    let mut probe = Spawn::new(PROBE)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &config_home)
        .env("PATH", &bin)
        .args([std::ffi::OsStr::new("--config"), file.as_os_str()])
        .start();
    probe.expect_all(&["init label=kept", "INFO ready"]);
    let socket = probe.runtime_dir().join("control.sock");
    let socket = socket.as_path();
    let fail = |what: String| failures.lock().unwrap().push(what);

    std::thread::scope(|scope| {
        for request in control_cases::REQUESTS {
            let check = move || {
                let wrong = exchange(socket, request);
                if !wrong.is_empty() {
                    fail(format!("control request {request:?}:\n{}", wrong.join("\n")));
                }
            };
            // The read deadline takes its time: those wait beside the rest.
            if matches!(request.send, Send::Hold(_)) {
                scope.spawn(check);
            } else {
                check();
            }
        }
    });

    let mut reloads = 0;
    for case in config_cases::CASES.iter().filter(|case| case.command.is_empty()) {
        let Input::File(text) = case.input else { continue };
        reloads += 1;
        std::fs::write(file.with_extension("tmp-write"), text).expect("the new file");
        std::fs::rename(file.with_extension("tmp-write"), &file).expect("the new file in place");
        let replies = replies_to(socket, b"{\"v\":1,\"op\":\"reload\"}\n");
        let says: Vec<String> = case.says.iter().map(|says| expand(says, &file)).collect();
        let ok = matches!(replies.as_slice(), [reply]
        if reply["error"]["code"] == "reload-rejected"
            && reply["error"]["generation"] == 1
            && reply["error"]["message"].as_str().is_some_and(|message| {
                says.iter().all(|says| message.lines().any(|line| line.contains(says.as_str())))
            }));
        if !ok {
            fail(format!("reload of the file of {case:?}: expected reload-rejected saying {says:?}, got {replies:?}"));
        }
    }

    let status = replies_to(socket, format!("{STATUS}\n").as_bytes());
    let live = status.first().map(|reply| &reply["result"]);
    let expected = (Some(1), Some(reloads as u64), Some(0));
    match live {
        Some(live)
            if (
                live["config_generation"].as_u64(),
                live["last_reload"]["attempts"].as_u64(),
                live["last_reload"]["accepted"].as_u64(),
            ) == expected
                && live["state"] == "running" => {}
        _ => fail(format!("after the control cases, status is {status:?}; expected generation 1, {reloads} rejected")),
    }
    probe.signal(libc::SIGTERM);
    let code = probe.wait_exit();
    let out = probe.output();
    if code != 0 || panicked(&out) || !out.contains("init label=kept") || out.contains("reloaded generation") {
        fail(format!("the control group's probe: exit {code}, output:\n{out}"));
    }
    reloads
}

/// The reply lines to `bytes` sent on a fresh connection, read to its end.
fn replies_to(socket: &Path, bytes: &[u8]) -> Vec<Value> {
    let mut stream = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    // A daemon that refuses a long line closes the connection before reading it all.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    read_replies(&mut stream)
}

fn read_replies(stream: &mut UnixStream) -> Vec<Value> {
    let mut text = Vec::new();
    // A daemon that closes a connection with bytes of ours still unread resets it: an end too.
    if let Err(err) = stream.read_to_end(&mut text).or_else(|err| match err.kind() {
        std::io::ErrorKind::ConnectionReset => Ok(0),
        _ => Err(err),
    }) {
        panic!("no end of the replies within {PATIENCE:?}: {err}; so far: {}", String::from_utf8_lossy(&text));
    }
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line))))
        .collect()
}

/// Sends one control case and checks its replies, then that `status` still works; what is wrong.
fn exchange(socket: &Path, request: &Request) -> Vec<String> {
    let mut bytes = match request.send {
        Send::Line(text) => format!("{text}\n").into_bytes(),
        Send::Bytes(bytes) | Send::Hold(bytes) => bytes.to_vec(),
        Send::Long(n) => {
            let head = r#"{"v":1,"op":""#;
            format!("{head}{}\"}}\n", "x".repeat(n - head.len() - 2)).into_bytes()
        }
    };
    let same_connection = matches!(request.send, Send::Line(_) | Send::Long(_)) && !closes(request.code);
    if same_connection {
        bytes.extend_from_slice(format!("{STATUS}\n").as_bytes());
    }
    let replies = if let Send::Hold(_) = request.send {
        let mut stream = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
        stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        stream.write_all(&bytes).expect("the bytes sent");
        read_replies(&mut stream)
    } else {
        replies_to(socket, &bytes)
    };
    let mut wrong = Vec::new();
    let mut expected: Vec<(&str, &str)> = request.replies.to_vec();
    expected.push((request.code, request.says));
    for (at, (code, says)) in expected.iter().enumerate() {
        let Some(reply) = replies.get(at) else {
            wrong.push(format!("reply {at} missing: expected {code} saying {says:?}"));
            continue;
        };
        let error = &reply["error"];
        let fits = reply["v"] == 1
            && reply["ok"] == false
            && error["code"] == *code
            && error["message"].as_str().is_some_and(|message| message.contains(says));
        let versions = *code != "unsupported-version" || error["supported_versions"] == serde_json::json!([1]);
        if !fits || !versions {
            wrong.push(format!("reply {at}: expected {code} saying {says:?}, got {reply}"));
        }
    }
    let status_here = replies.get(expected.len());
    if same_connection {
        if !status_here.is_some_and(|reply| reply["ok"] == true && reply["result"]["name"] == "probe") {
            wrong.push(format!("no status reply after it on the same connection: {status_here:?}"));
        }
    } else if let Some(extra) = status_here {
        wrong.push(format!("a reply after a closing one: {extra}"));
    }
    if replies.len() > expected.len() + usize::from(same_connection) {
        wrong.push(format!("more replies than expected: {replies:?}"));
    }
    let status = replies_to(socket, format!("{STATUS}\n").as_bytes());
    if !matches!(status.as_slice(), [reply] if reply["ok"] == true && reply["result"]["state"] == "running") {
        wrong.push(format!("status on a fresh connection afterwards: {status:?}"));
    }
    wrong
}
