//! The probe as a `Type=notify` system service under a real systemd (booted in a throwaway
//! container by [`duende_tests::sandbox::Systemd`]): readiness, reload, journal priorities,
//! graceful stop, restart after SIGKILL, and an init failure's exit code. Unit files are written
//! by hand here, so these tests check the runtime against systemd, not against a renderer.
#![cfg(feature = "root-tests")]

use std::time::{Duration, Instant};

use duende_tests::sandbox::{JournalEntry, STOP_POST, Systemd, outcome, parse_journal_json, show_output, wait_until};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const PATIENCE: Duration = Duration::from_secs(15);

fn boot(name: &str) -> Systemd {
    let sandbox = Systemd::boot(name).unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("[{name}] booted in {:?}", sandbox.boot_time());
    sandbox
}

/// A `Type=notify` unit running the probe with `--set` options.
fn probe_unit(sets: &[&str], service_extra: &str) -> String {
    let sets: String = sets.iter().map(|s| format!(" --set {s}")).collect();
    format!(
        "[Unit]\nDescription=duende probe\n\n[Service]\nType=notify\nExecStart={PROBE}{sets}\n\
         ExecReload=/bin/kill -HUP $MAINPID\nExecStopPost={STOP_POST}\nTimeoutStartSec=15\nTimeoutStopSec=15\n\
         LimitCORE=0\n{service_extra}\n\
         [Install]\nWantedBy=multi-user.target\n"
    )
}

fn journal_text(sb: &Systemd, unit: &str) -> String {
    String::from_utf8_lossy(&sb.exec(&["journalctl", "--no-pager", "-o", "cat", "-u", unit]).stdout).into_owned()
}

/// The entries the service itself wrote (not the manager's lines about it), once there is one
/// starting with each of `expected` (stdout and stderr reach journald as separate streams, so
/// their lines may land in any order).
fn own_entries(sb: &Systemd, unit: &str, expected: &[&str]) -> Vec<JournalEntry> {
    let read = || {
        let out = sb.run(&["journalctl", "--no-pager", "-o", "json", &format!("_SYSTEMD_UNIT={unit}")]);
        parse_journal_json(&out)
    };
    let complete = |entries: &[JournalEntry]| {
        expected.iter().all(|start| entries.iter().any(|e| e.get("MESSAGE").is_some_and(|m| m.starts_with(start))))
    };
    wait_until(
        &format!("{expected:?} from {unit} in the journal"),
        PATIENCE,
        || complete(&read()),
        || format!("{:#?}", read()),
    );
    read()
}

fn priority_of(entries: &[JournalEntry], message_start: &str) -> Option<String> {
    entries
        .iter()
        .find(|e| e.get("MESSAGE").is_some_and(|m| m.starts_with(message_start)))
        .and_then(|e| e.get("PRIORITY").cloned())
}

fn wait_journal(sb: &Systemd, unit: &str, needle: &str) {
    wait_until(
        &format!("{needle:?} in the journal of {unit}"),
        PATIENCE,
        || journal_text(sb, unit).contains(needle),
        || journal_text(sb, unit),
    );
}

#[test]
fn notify_start_reload_journal_and_graceful_stop() {
    let sb = boot("sys-lifecycle");
    // init takes a while, so an early READY (or none at all) would show.
    sb.install_unit("probe.service", &probe_unit(&["app.init_delay_ms=600", "app.label=first"], ""));

    let t = Instant::now();
    let start = sb.exec(&["systemctl", "start", "probe.service"]);
    let took = t.elapsed();
    assert!(start.status.success(), "systemctl start failed:\n{}\n{}", show_output(&start), journal_text(&sb, "probe"));
    assert!(took >= Duration::from_millis(600), "start returned after {took:?}, before init could have finished");
    // `start` of a Type=notify unit returns once READY=1 arrived: by then init is over and the
    // manager holds the status text sent with it.
    wait_journal(&sb, "probe.service", "init done");
    let props = sb.run(&[
        "systemctl",
        "show",
        "-p",
        "ActiveState",
        "-p",
        "SubState",
        "-p",
        "StatusText",
        "-p",
        "MainPID",
        "probe.service",
    ]);
    for expected in ["ActiveState=active", "SubState=running", "StatusText=running"] {
        assert!(props.lines().any(|l| l == expected), "expected {expected} in:\n{props}");
    }
    let main_pid = sb.show("probe.service", "MainPID");
    assert_ne!(main_pid, "0", "{props}");

    // Reload through ExecReload= (kill -HUP $MAINPID): a new configuration generation.
    sb.run(&["systemctl", "reload", "probe.service"]);
    wait_journal(&sb, "probe.service", "reloaded generation=2 label=first");
    assert_eq!(sb.show("probe.service", "MainPID"), main_pid, "reload must not restart the process");
    assert_eq!(sb.show("probe.service", "ActiveState"), "active");
    // And once more through the manager's own signal path.
    sb.run(&["systemctl", "kill", "-s", "HUP", "probe.service"]);
    wait_journal(&sb, "probe.service", "reloaded generation=3");

    // Priorities: the runtime's `<6>`/`<3>` prefixes are parsed by journald (and stripped);
    // the probe's plain stdout lines are info.
    let entries = own_entries(&sb, "probe.service", &["ready", "configuration reloaded", "init done"]);
    assert_eq!(priority_of(&entries, "ready"), Some("6".into()), "{entries:#?}");
    assert_eq!(priority_of(&entries, "configuration reloaded"), Some("6".into()), "{entries:#?}");
    assert_eq!(priority_of(&entries, "init done"), Some("6".into()), "{entries:#?}");
    assert!(
        entries.iter().all(|e| !e.get("MESSAGE").is_some_and(|m| m.starts_with('<'))),
        "a priority prefix reached the journal verbatim: {entries:#?}"
    );

    let t = Instant::now();
    sb.run(&["systemctl", "stop", "probe.service"]);
    eprintln!("[sys-lifecycle] systemctl stop took {:?}", t.elapsed());
    // journald may still be reading the last lines when `stop` returns: poll.
    wait_journal(&sb, "probe.service", "shutdown end");
    assert_eq!(outcome(&sb.root().join("run"), "probe"), "result=success code=exited status=0");
    let journal = journal_text(&sb, "probe.service");
    assert!(journal.contains("shutdown begin") && journal.contains("stopped"), "{journal}");
    // The unit may already be unloaded (garbage-collected) after a clean stop, in which case
    // `show` reports defaults; the ExecStopPost record above is authoritative.
    assert_eq!(sb.show("probe.service", "ActiveState"), "inactive");
    assert_eq!(sb.show("probe.service", "Result"), "success");
    assert_eq!(sb.show("probe.service", "ExecMainStatus"), "0");
    assert!(!journal.contains("Failed with result"), "{journal}");

    let halt = sb.halt();
    eprintln!("[sys-lifecycle] halted in {halt:?}");
}

#[test]
fn sigkill_is_restarted_on_failure() {
    let sb = boot("sys-restart");
    sb.install_unit("probe.service", &probe_unit(&[], "Restart=on-failure\nRestartSec=100ms\n"));
    sb.run(&["systemctl", "start", "probe.service"]);
    let first = sb.show("probe.service", "MainPID");
    assert_ne!(first, "0");
    assert_eq!(sb.show("probe.service", "NRestarts"), "0");

    sb.run(&["kill", "-9", &first]);
    wait_until(
        "the probe to be restarted and ready again",
        PATIENCE,
        || {
            sb.show("probe.service", "NRestarts") == "1"
                && sb.show("probe.service", "ActiveState") == "active"
                && sb.show("probe.service", "SubState") == "running"
        },
        || {
            format!(
                "{}\n{}",
                sb.run(&["systemctl", "status", "--no-pager", "probe.service"]),
                journal_text(&sb, "probe")
            )
        },
    );
    let second = sb.show("probe.service", "MainPID");
    assert_ne!(second, "0");
    assert_ne!(second, first, "a restart must run a new process");
    assert_eq!(sb.show("probe.service", "StatusText"), "running");
    wait_journal(&sb, "probe.service", "status=9/KILL");
}

#[test]
fn init_failure_fails_the_start_with_exit_70() {
    let sb = boot("sys-initfail");
    sb.install_unit("probe.service", &probe_unit(&["app.fail_init=true"], ""));
    let start = sb.exec(&["systemctl", "start", "probe.service"]);
    assert!(!start.status.success(), "start of a daemon whose init fails succeeded:\n{}", show_output(&start));
    assert_eq!(sb.show("probe.service", "ActiveState"), "failed");
    assert_eq!(sb.show("probe.service", "Result"), "exit-code");
    assert_eq!(sb.show("probe.service", "ExecMainStatus"), "70");
    wait_journal(&sb, "probe.service", "init failed: told to fail in init");
    assert_eq!(outcome(&sb.root().join("run"), "probe"), "result=exit-code code=exited status=70");
    let entries = own_entries(&sb, "probe.service", &["init failed", "init done"]);
    assert_eq!(priority_of(&entries, "init failed: told to fail in init"), Some("3".into()), "{entries:#?}");
    assert_eq!(priority_of(&entries, "init done"), Some("6".into()), "{entries:#?}");
    assert!(
        !entries.iter().any(|e| e.get("MESSAGE").is_some_and(|m| m.starts_with("ready"))),
        "announced ready despite failing init: {entries:#?}"
    );
}
