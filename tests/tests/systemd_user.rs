//! The probe as a per-user `Type=notify` service under a real `systemd --user` (the
//! `user@UID.service` of a user created inside a throwaway container): `enable --now`, reload,
//! journal, graceful stop, and an init failure's exit code.
#![cfg(feature = "root-tests")]

use std::fs;
use std::process::Output;
use std::time::{Duration, Instant};

use duende_tests::sandbox::{JournalEntry, STOP_POST, Systemd, outcome, parse_journal_json, show_output, wait_until};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const PATIENCE: Duration = Duration::from_secs(15);
const USER: &str = "duende";

struct UserManager {
    sb: Systemd,
    uid: u32,
}

impl UserManager {
    fn new(name: &str) -> UserManager {
        let sb = Systemd::boot(name).unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!("[{name}] booted in {:?}", sb.boot_time());
        let t = Instant::now();
        let uid = sb.user(USER).unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!("[{name}] user manager of uid {uid} up in {:?}", t.elapsed());
        UserManager { sb, uid }
    }

    fn exec(&self, argv: &[&str]) -> Output {
        self.sb.as_user(USER, self.uid, argv)
    }

    fn run(&self, argv: &[&str]) -> String {
        let out = self.exec(argv);
        assert!(out.status.success(), "{argv:?} as {USER} failed ({}):\n{}", out.status, show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn systemctl(&self, args: &[&str]) -> String {
        let mut argv = vec!["systemctl", "--user"];
        argv.extend_from_slice(args);
        self.run(&argv)
    }

    fn show(&self, unit: &str, property: &str) -> String {
        self.systemctl(&["show", "-p", property, "--value", unit]).trim().to_owned()
    }

    /// The user's own view of the unit's journal (root's `journalctl --user-unit` would also
    /// match `_UID=0` and find nothing).
    fn journal(&self, unit: &str) -> String {
        let out = self.exec(&["journalctl", "--user", "--no-pager", "-o", "cat", "-u", unit]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_journal(&self, unit: &str, needle: &str) {
        wait_until(
            &format!("{needle:?} in the user journal of {unit}"),
            PATIENCE,
            || self.journal(unit).contains(needle),
            || self.journal(unit),
        );
    }

    /// Writes `~/.config/systemd/user/NAME`, owned by the user, and reloads their manager.
    fn install_unit(&self, name: &str, content: &str) {
        let dir = self.sb.root().join(format!("home/{USER}/.config/systemd/user"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), content).unwrap();
        self.sb.run(&["chown", "-R", &format!("{USER}:"), &format!("/home/{USER}/.config")]);
        self.systemctl(&["daemon-reload"]);
    }
}

fn probe_unit(sets: &[&str]) -> String {
    let sets: String = sets.iter().map(|s| format!(" --set {s}")).collect();
    format!(
        "[Unit]\nDescription=duende probe (user)\n\n[Service]\nType=notify\nExecStart={PROBE}{sets}\n\
         ExecReload=/bin/kill -HUP $MAINPID\nExecStopPost={STOP_POST}\nTimeoutStartSec=15\nTimeoutStopSec=15\n\
         LimitCORE=0\n\n[Install]\nWantedBy=default.target\n"
    )
}

#[test]
fn user_unit_enable_now_reload_journal_stop_and_init_failure() {
    let um = UserManager::new("user");
    um.install_unit("probe.service", &probe_unit(&["app.init_delay_ms=300", "app.label=mine"]));

    um.systemctl(&["enable", "--now", "probe.service"]);
    assert_eq!(um.systemctl(&["is-enabled", "probe.service"]).trim(), "enabled");
    // `--now` waited for READY=1: the unit is up, with the status text sent with it.
    assert_eq!(um.show("probe.service", "ActiveState"), "active");
    assert_eq!(um.show("probe.service", "SubState"), "running");
    assert_eq!(um.show("probe.service", "StatusText"), "running");
    let main_pid = um.show("probe.service", "MainPID");
    assert_ne!(main_pid, "0");
    // It runs as the user, not as root.
    let owner = um.sb.run(&["ps", "-o", "uid=", "-p", &main_pid]);
    assert_eq!(owner.trim(), um.uid.to_string());
    um.wait_journal("probe.service", "init done");

    um.systemctl(&["reload", "probe.service"]);
    um.wait_journal("probe.service", "reloaded generation=2 label=mine");
    um.systemctl(&["kill", "-s", "HUP", "probe.service"]);
    um.wait_journal("probe.service", "reloaded generation=3 label=mine");
    assert_eq!(um.show("probe.service", "MainPID"), main_pid, "reload must not restart the process");

    // Priorities, as root through the journal fields of the user unit (polled: stdout and stderr
    // are separate streams to journald).
    let read = || {
        parse_journal_json(&um.sb.run(&["journalctl", "--no-pager", "-o", "json", "_SYSTEMD_USER_UNIT=probe.service"]))
    };
    let priority = |entries: &[JournalEntry], start: &str| {
        entries
            .iter()
            .find(|e| e.get("MESSAGE").is_some_and(|m| m.starts_with(start)))
            .and_then(|e| e.get("PRIORITY").cloned())
    };
    wait_until(
        "the ready and reload lines as journal entries",
        PATIENCE,
        || {
            let entries = read();
            priority(&entries, "ready").is_some() && priority(&entries, "configuration reloaded").is_some()
        },
        || format!("{:#?}", read()),
    );
    let entries = read();
    assert_eq!(priority(&entries, "ready"), Some("6".into()), "{entries:#?}");
    assert_eq!(priority(&entries, "configuration reloaded"), Some("6".into()), "{entries:#?}");
    assert_eq!(priority(&entries, "reloaded generation=2"), Some("6".into()), "{entries:#?}");

    um.systemctl(&["stop", "probe.service"]);
    // journald may still be reading the last lines when `stop` returns: poll.
    um.wait_journal("probe.service", "shutdown end");
    let runtime_dir = um.sb.root().join(format!("run/user/{}", um.uid));
    assert_eq!(outcome(&runtime_dir, "probe"), "result=success code=exited status=0");
    assert_eq!(um.show("probe.service", "ActiveState"), "inactive");

    // An init failure: `start` fails and the manager records exit status 70.
    um.install_unit("probe-fail.service", &probe_unit(&["app.fail_init=true"]));
    let start = um.exec(&["systemctl", "--user", "start", "probe-fail.service"]);
    assert!(!start.status.success(), "start of a daemon whose init fails succeeded:\n{}", show_output(&start));
    assert_eq!(um.show("probe-fail.service", "ActiveState"), "failed");
    assert_eq!(um.show("probe-fail.service", "Result"), "exit-code");
    assert_eq!(um.show("probe-fail.service", "ExecMainStatus"), "70");
    assert_eq!(outcome(&runtime_dir, "probe-fail"), "result=exit-code code=exited status=70");
    // The error line, at priority 3. Matched by uid and identifier, not by unit: journald only
    // learns the unit of a user service's line from its cgroup, which a process that exits right
    // after writing may already have left.
    let uid = format!("_UID={}", um.uid);
    wait_until(
        "the init error in the journal",
        PATIENCE,
        || {
            let out = um.sb.run(&["journalctl", "--no-pager", "-o", "json", &uid, "SYSLOG_IDENTIFIER=probe"]);
            parse_journal_json(&out).iter().any(|e| {
                e.get("MESSAGE").is_some_and(|m| m == "init failed: told to fail in init")
                    && e.get("PRIORITY").is_some_and(|p| p == "3")
            })
        },
        || um.sb.run(&["journalctl", "--no-pager", "-o", "verbose", &uid, "SYSLOG_IDENTIFIER=probe"]),
    );
}
