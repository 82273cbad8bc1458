//! launchd end to end, on a real Mac: the probe daemon installed as a LaunchAgent of the user
//! running the test (`--user --now`), observed running by `launchctl print` and by the daemon's
//! own control socket, restarted with `kickstart -k` (a new pid), reloaded with SIGHUP (a new
//! configuration generation in its log), stopped (`bootout`: launchd no longer knows the job)
//! and uninstalled (every file gone).
//!
//! Compiled only on macOS, and run there by plain `cargo test` from a user logged in to the
//! desktop (a LaunchAgent lives in the `gui/UID` domain of a login session; CI's macOS runners
//! have one). It touches nothing of the user's own: `HOME` is a temporary directory (the plist,
//! the copied binary, the configuration and the log live under it), and the job's label is made
//! unique with `platform.launchd.label_prefix`. It has never run on the Linux machines this
//! project is developed on; the README says how to run it.
#![cfg(target_os = "macos")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// A temporary home and the unique label of this run's job.
struct Agent {
    home: tempfile::TempDir,
    prefix: String,
}

impl Agent {
    fn new() -> Agent {
        // Under /tmp, not $TMPDIR: the control socket path must fit in 104 bytes.
        let home = tempfile::Builder::new().prefix("duende-ld-").tempdir_in("/tmp").expect("a temporary home");
        std::fs::create_dir_all(home.path().join("Library/Logs")).expect("~/Library/Logs");
        Agent { home, prefix: format!("local.duende.e2e.p{}", std::process::id()) }
    }

    fn label(&self) -> String {
        format!("{}.probe", self.prefix)
    }

    fn target(&self) -> String {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        format!("gui/{uid}/{}", self.label())
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.home.path().join(relative)
    }

    fn plist(&self) -> PathBuf {
        self.path(&format!("Library/LaunchAgents/{}.plist", self.label()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("Library/Logs/probe.log")).unwrap_or_default()
    }

    /// `probe ARGS --platform launchd --user`, with the temporary home and the unique label.
    fn probe(&self, args: &[&str]) -> Output {
        Command::new(PROBE)
            .args(args)
            .args(["--platform", "launchd", "--user"])
            .args(["--set", &format!("platform.launchd.label_prefix=\"{}\"", self.prefix)])
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .expect("run the probe")
    }

    fn probe_ok(&self, args: &[&str]) -> String {
        let out = self.probe(args);
        let text = show(&out);
        assert!(out.status.success(), "probe {args:?} failed:\n{text}\nlog:\n{}", self.log());
        text
    }

    /// `launchctl print` of the job: its exit status and output.
    fn print(&self) -> (i32, String) {
        let out = Command::new("launchctl").args(["print", &self.target()]).output().expect("launchctl print");
        (out.status.code().unwrap_or(-1), show(&out))
    }

    /// The job's pid while `launchctl print` says it runs.
    fn running_pid(&self) -> Option<u32> {
        let (code, text) = self.print();
        let field = |key: &str| {
            text.lines().filter_map(|l| l.strip_prefix('\t')).find_map(|l| l.strip_prefix(key)).map(str::trim)
        };
        (code == 0 && field("state = ") == Some("running")).then(|| field("pid = ")?.parse().ok()).flatten()
    }

    /// `status --json`: its exit status (0 only while running) and its JSON.
    fn status(&self) -> (i32, serde_json::Value) {
        let out = self.probe(&["status", "--json"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let json = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{}", show(&out)));
        (out.status.code().unwrap_or(-1), json)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Whatever happened, leave nothing loaded.
        let _ = Command::new("launchctl").args(["bootout", &self.target()]).output();
    }
}

fn show(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn agent_install_now_kickstart_hup_stop_and_uninstall() {
    let agent = Agent::new();
    assert_eq!(agent.print().0, 113, "the job must not be loaded before the test: {}", agent.print().1);
    std::fs::write(agent.path("probe.toml"), "[app]\nlabel = \"mine\"\n").expect("write the configuration");
    let config = agent.path("probe.toml");
    let config = config.to_str().expect("a UTF-8 path");

    // install --now: the plist, the binary and the configuration in place, the job running and ready.
    let installed = agent.probe_ok(&["install", "--now", "--config", config]);
    assert!(installed.contains("launchctl bootstrap gui/"), "{installed}");
    assert!(agent.plist().is_file() && agent.path(".local/bin/probe").is_file());
    assert!(agent.path(".config/probe/probe.toml").is_file());
    let first = agent.running_pid().unwrap_or_else(|| panic!("launchd does not run the job:\n{}", agent.print().1));
    let (code, status) = agent.status();
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["ready"], true, "{status}");
    assert_eq!(status["pid"], first, "{status}");
    assert_eq!(status["live"]["pid"], first, "the daemon on the control socket is launchd's: {status}");
    wait_until("the daemon's lines in the log", Duration::from_secs(10), || agent.log().contains("init done"));

    // Installing again changes nothing.
    let again = agent.probe_ok(&["install", "--now", "--config", config]);
    assert!(again.contains("nothing to change"), "{again}");
    assert_eq!(agent.running_pid(), Some(first));

    // restart is `kickstart -k` (the job is loaded): a new process under the same job.
    agent.probe_ok(&["restart"]);
    let second = agent.running_pid().unwrap_or_else(|| panic!("not running after kickstart -k:\n{}", agent.print().1));
    assert_ne!(second, first, "kickstart -k starts a new process");

    // reload is SIGHUP through `launchctl kill HUP`: the same process, a new generation.
    agent.probe_ok(&["reload"]);
    wait_until("the reload line in the log", Duration::from_secs(10), || {
        agent.log().contains("reloaded generation=2 label=mine")
    });
    assert_eq!(agent.running_pid(), Some(second), "a reload does not restart the process");

    // stop is `bootout`: launchd no longer knows the job, and does not start it again.
    let stopped = agent.probe_ok(&["stop"]);
    assert!(stopped.contains("stopped"), "{stopped}");
    assert_eq!(agent.print().0, 113, "{}", agent.print().1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(agent.running_pid(), None, "KeepAlive must not bring a stopped job back");
    let (code, status) = agent.status();
    assert_eq!((code, &status["state"]), (69, &serde_json::json!("stopped")), "{status}");
    assert!(agent.log().contains("shutdown end"), "a graceful stop:\n{}", agent.log());

    // uninstall removes exactly what install created.
    agent.probe_ok(&["uninstall"]);
    for gone in [agent.plist(), agent.path(".local/bin/probe"), agent.path(".config/probe/probe.toml")] {
        assert!(!gone.exists(), "{} is still there", gone.display());
    }
    assert!(!Path::new(&agent.path("Library/Logs/probe.log")).exists(), "the log goes with the job");
    assert_eq!(agent.print().0, 113);
}
