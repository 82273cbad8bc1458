//! Log output as a service manager and an operator see it.

use duende_tests::Spawn;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

#[test]
fn under_journald_lines_carry_priorities_and_no_timestamps() {
    let mut d = Spawn::new(PROBE).env("JOURNAL_STREAM", "8:12345").start();
    let ready = d.expect_line("ready pid=");
    assert!(ready.starts_with("<6>ready pid="), "{ready:?}");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
    let (code, out) = Spawn::new(PROBE).env("JOURNAL_STREAM", "8:12345").args(["--set", "app.fail_init=true"]).run();
    assert_eq!(code, 70);
    let line = out.lines().find(|l| l.contains("init failed")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.starts_with("<3>init failed: told to fail in init"), "{line:?}");
}

#[test]
fn outside_journald_lines_are_timestamped() {
    let mut d = Spawn::new(PROBE).start();
    let ready = d.expect_line("ready pid=");
    // 2026-11-21T22:58:27.204506Z  INFO ready pid=...
    let stamp = ready.split_whitespace().next().unwrap_or_default();
    assert!(stamp.len() >= 20 && stamp.ends_with('Z') && stamp.contains('T'), "{ready:?}");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn level_comes_from_rust_log_over_configuration() {
    let quiet = |spawn: Spawn| {
        let mut d = spawn.start();
        d.expect_line("run");
        d.signal(libc::SIGTERM);
        assert_eq!(d.wait_exit(), 0);
        d.output()
    };
    let out = quiet(Spawn::new(PROBE).args(["--set", "log_level=warn"]));
    assert!(!out.contains("ready pid="), "log_level=warn still logged info:\n{out}");
    let out = quiet(Spawn::new(PROBE).args(["--set", "log_level=warn"]).env("RUST_LOG", "info"));
    assert!(out.contains("ready pid="), "RUST_LOG=info did not win over log_level=warn:\n{out}");
    let out = quiet(Spawn::new(PROBE).env("RUST_LOG", "error"));
    assert!(!out.contains("ready pid="), "{out}");
}

#[test]
fn a_reload_applies_a_changed_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.toml");
    duende_tests::write_atomic(&file, "log_level = \"info\"\n");
    let mut d = Spawn::new(PROBE).args(["--config", file.to_str().unwrap()]).start();
    d.expect_line("run");
    duende_tests::write_atomic(&file, "log_level = \"warn\"\n");
    d.signal(libc::SIGHUP);
    d.expect_line("reloaded generation=2");
    d.signal(libc::SIGHUP);
    d.expect_line("reloaded generation=3");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
    let out = d.output();
    // The first SIGHUP is logged at info (the level was still info); after it, nothing at info.
    assert_eq!(out.matches("reloading configuration, requested by SIGHUP").count(), 1, "{out}");
    assert!(!out.contains("INFO stopped"), "{out}");
}
