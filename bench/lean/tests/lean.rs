//! `01_counter` built without duende's default features (`cargo test -p duende-bench-lean`, on its
//! own so that no other member's features are unified in): it runs, answers its control channel
//! and stops gracefully; what it left out is refused by name.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const LEAN: &str = env!("CARGO_BIN_EXE_duende-counter-lean");

/// Fails, saying how to build it, when the binary has management backends: a build of the whole
/// workspace (`cargo test --workspace`) unifies the features other members enable into it.
fn assert_lean() {
    let (code, said) = run(&["install", "--platform", "native", "--dry-run"], std::path::Path::new("/nonexistent"));
    assert!(
        code == Some(69) && said.contains("built without"),
        "{LEAN} was built with duende's default features, unified in by another member of the workspace; test \
         it on its own: cargo test -p duende-bench-lean"
    );
}

fn run(args: &[&str], runtime: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(LEAN).args(args).env("RUNTIME_DIRECTORY", runtime).output().expect("run the lean counter");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
}

#[test]
fn every_management_backend_is_refused_naming_its_feature() {
    assert_lean();
    let dir = tempfile::tempdir().unwrap();
    for platform in ["systemd", "native", "launchd", "container", "kubernetes", "swarm", "pepita", "wos"] {
        let (code, said) = run(&["install", "--platform", platform, "--dry-run"], dir.path());
        assert_eq!(code, Some(69), "{platform}: {said}");
        assert!(said.contains(&format!("built without duende's `{platform}` feature")), "{platform}: {said}");
        assert!(said.contains(&format!("features = [\"{platform}\"]")), "{platform}: {said}");
    }
}

#[test]
fn metrics_are_refused_before_the_daemon_starts() {
    assert_lean();
    let dir = tempfile::tempdir().unwrap();
    let (code, said) = run(&["--set", "metrics.enabled=true"], dir.path());
    assert_eq!(code, Some(78), "{said}");
    assert!(said.contains("`prometheus` feature"), "{said}");
    assert!(!said.contains("ready"), "nothing started: {said}");
}

#[test]
fn it_runs_answers_status_and_stops_gracefully() {
    assert_lean();
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Command::new(LEAN)
        .args(["--set", "app.interval_ms=60000"])
        .env("RUNTIME_DIRECTORY", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the lean counter");
    let mut lines = BufReader::new(daemon.stderr.take().unwrap()).lines();
    let ready = lines.by_ref().map_while(Result::ok).find(|line| line.contains("ready"));
    assert!(ready.is_some(), "the daemon never said it was ready");

    let (code, said) = run(&["status"], dir.path());
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("running"), "{said}");

    // SAFETY: kill sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = daemon.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a graceful stop");
}
