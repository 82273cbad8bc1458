//! `probe install --now --platform systemd` and the other management commands against a real
//! systemd (booted in a throwaway container by [`duende_tests::sandbox::Systemd`]): the unit is
//! written, enabled, started and observed ready; a second install changes nothing; SIGKILL is
//! followed by a restart; `stop` is graceful; `uninstall` leaves the unit directory and
//! `/usr/local/bin` as they were. The whole cycle runs three times in one container.
#![cfg(feature = "root-tests")]

use std::process::Output;
use std::time::{Duration, Instant};

use duende_tests::sandbox::{Systemd, show_output, wait_until};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const PATIENCE: Duration = Duration::from_secs(15);

fn probe(sb: &Systemd, args: &[&str]) -> Output {
    let mut argv = vec![PROBE];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--platform", "systemd"]);
    sb.exec(&argv)
}

fn probe_ok(sb: &Systemd, args: &[&str]) -> String {
    let out = probe(sb, args);
    assert!(out.status.success(), "probe {args:?} failed ({}):\n{}", out.status, show_output(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the install may touch, listed from inside the container.
fn listing(sb: &Systemd) -> String {
    sb.run(&[
        "sh",
        "-c",
        "find /etc/systemd/system /usr/local/bin /usr/local/share /etc/probe /var/lib/probe 2>/dev/null | sort",
    ])
}

/// Where a system install puts the completions and the man page, and the subcommand that prints
/// each.
const DOCS: [(&str, &[&str]); 4] = [
    ("/usr/local/share/bash-completion/completions/probe", &["completions", "bash"]),
    ("/usr/local/share/zsh/site-functions/_probe", &["completions", "zsh"]),
    ("/usr/local/share/fish/vendor_completions.d/probe.fish", &["completions", "fish"]),
    ("/usr/local/share/man/man1/probe.1", &["man"]),
];

#[test]
fn install_run_restart_stop_uninstall_three_times() {
    let sb = Systemd::boot("install").unwrap_or_else(|e| panic!("{e:#}"));
    let before = listing(&sb);
    let dry = probe_ok(&sb, &["install", "--now", "--dry-run"]);
    for (path, _) in DOCS {
        assert!(dry.contains(&format!("would write {path}:\n")), "--dry-run does not show {path}:\n{dry}");
    }
    assert_eq!(listing(&sb), before, "a dry run changes nothing");
    for cycle in 1..=3 {
        let started = Instant::now();
        let out = probe_ok(&sb, &["install", "--now"]);
        eprintln!("[cycle {cycle}] install --now returned ready after {:?}", started.elapsed());
        assert!(out.contains("wrote /etc/systemd/system/probe.service"), "{out}");
        assert!(out.contains("ran systemctl start probe.service"), "{out}");
        assert_eq!(sb.show("probe.service", "ActiveState"), "active");
        assert_eq!(sb.show("probe.service", "SubState"), "running");
        assert_eq!(sb.show("probe.service", "UnitFileState"), "enabled");
        // The completions and the man page are what the binary prints, where shells and man look.
        for (path, command) in DOCS {
            assert!(out.contains(&format!("wrote {path}\n")), "{out}");
            assert_eq!(sb.run(&["cat", path]), probe_ok(&sb, command), "{path}");
        }
        let loaded = sb.run(&["bash", "--norc", "-c", &format!("source {} && complete -p probe", DOCS[0].0)]);
        assert!(loaded.trim_end().ends_with("-F _probe probe"), "{loaded}");
        // `man` finds the page by itself (Debian links `/usr/local/man` to `share/man`), and shows it.
        assert_eq!(sb.run(&["sh", "-c", "readlink -f \"$(man -w probe)\""]).trim(), DOCS[3].0);
        let page = sb.run(&["sh", "-c", "MANPAGER=cat MANWIDTH=100 man probe 2>&1 | head -3"]);
        assert!(page.starts_with("probe(1)") && page.contains("NAME"), "`man probe` shows no page:\n{page}");
        let status = probe_ok(&sb, &["status", "--json"]);
        duende_tests::schema::check("duende.status.v1", &status);
        assert!(status.contains(r#""state":"running""#) && status.contains(r#""ready":true"#), "{status}");
        assert!(status.contains(r#""FragmentPath":"/etc/systemd/system/probe.service""#), "{status}");
        assert!(status.contains(r#""drift":[]"#), "{status}");
        // A setting that changes the unit: this binary would now install something else.
        let drifted = probe(&sb, &["status", "--json", "--set", "shutdown_timeout=9s"]);
        let drifted = String::from_utf8_lossy(&drifted.stdout).into_owned();
        assert!(drifted.contains(r#""drift":["definition"]"#), "{drifted}");

        let pid = sb.show("probe.service", "MainPID");
        // Installing the same thing a second and a third time changes nothing and says so.
        for _ in 0..2 {
            let again = probe_ok(&sb, &["install", "--now"]);
            assert!(again.starts_with("nothing to change"), "{again}");
        }
        assert_eq!(sb.show("probe.service", "MainPID"), pid, "an unchanged install must not restart the service");

        sb.run(&["systemctl", "kill", "-s", "KILL", "probe.service"]);
        wait_until(
            "a restart after SIGKILL",
            PATIENCE,
            || {
                sb.show("probe.service", "NRestarts") == "1"
                    && sb.show("probe.service", "SubState") == "running"
                    && sb.show("probe.service", "MainPID") != pid
            },
            || sb.journal(&["-u", "probe.service"]),
        );

        let stopped = probe_ok(&sb, &["stop"]);
        assert!(stopped.contains("probe on systemd: stopped"), "{stopped}");
        assert_eq!(sb.show("probe.service", "Result"), "success", "a graceful stop");
        assert_eq!(sb.show("probe.service", "ExecMainStatus"), "0");

        let removed = probe_ok(&sb, &["uninstall"]);
        assert!(removed.contains("removed /etc/systemd/system/probe.service"), "{removed}");
        assert!(removed.contains("removed /usr/local/bin/probe"), "{removed}");
        for (path, _) in DOCS {
            assert!(removed.contains(&format!("removed {path}\n")), "{removed}");
        }
        assert_eq!(listing(&sb), before, "cycle {cycle}: uninstall left the directories as they were");
        assert_eq!(sb.show("probe.service", "LoadState"), "not-found");
        let nothing = probe_ok(&sb, &["uninstall"]);
        assert!(nothing.contains("not installed"), "{nothing}");
    }
}

#[test]
fn a_daemon_that_fails_to_start_is_rolled_back() {
    let sb = Systemd::boot("install-fail").unwrap_or_else(|e| panic!("{e:#}"));
    let before = listing(&sb);
    let config = sb.root().join("tmp/fail.toml");
    std::fs::write(&config, "[app]\nfail_init = true\n")
        .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
    let out = probe(&sb, &["install", "--now", "--config", "/tmp/fail.toml"]);
    let text = show_output(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("told to fail in init"), "the last log lines are shown:\n{text}");
    assert_eq!(listing(&sb), before, "nothing is left behind:\n{text}");
    assert_eq!(sb.show("probe.service", "LoadState"), "not-found");
}

/// What a user install may touch in the user's home, listed from inside the container.
fn home_listing(sb: &Systemd, user: &str) -> String {
    sb.run(&["sh", "-c", &format!("find /home/{user} | sort")])
}

#[test]
fn a_user_service_installs_under_home_and_uses_the_user_manager() {
    const USER: &str = "tester";
    let sb = Systemd::boot("install-user").unwrap_or_else(|e| panic!("{e:#}"));
    let uid = sb.user(USER).unwrap_or_else(|e| panic!("{e:#}"));
    let as_user = |args: &[&str]| {
        let mut argv = vec![PROBE];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--user", "--platform", "systemd"]);
        let out = sb.as_user(USER, uid, &argv);
        assert!(out.status.success(), "probe {args:?} as {USER} failed ({}):\n{}", out.status, show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = home_listing(&sb, USER);
    let started = Instant::now();
    let out = as_user(&["install", "--now"]);
    eprintln!("[user] install --now returned ready after {:?}", started.elapsed());
    assert!(out.contains("wrote /home/tester/.config/systemd/user/probe.service"), "{out}");
    assert!(out.contains("wrote /home/tester/.local/bin/probe"), "{out}");
    assert!(out.contains("loginctl enable-linger tester"), "warns that the service stops at logout:\n{out}");
    let state =
        sb.as_user(USER, uid, &["systemctl", "--user", "show", "-p", "ActiveState", "--value", "probe.service"]);
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "active");
    let status = as_user(&["status", "--json"]);
    assert!(status.contains(r#""level":"user""#) && status.contains(r#""ready":true"#), "{status}");
    let again = as_user(&["install", "--now"]);
    assert!(again.contains("nothing to change"), "{again}");
    let removed = as_user(&["uninstall"]);
    assert!(removed.contains("ran systemctl --user daemon-reload"), "{removed}");
    assert_eq!(home_listing(&sb, USER), before, "uninstall left the home directory as it was");

    // A user whose manager is not running is told how to get one.
    sb.run(&["useradd", "-m", "ghost"]);
    let out = sb.exec(&["runuser", "-u", "ghost", "--", PROBE, "status", "--user", "--platform", "systemd"]);
    let text = show_output(&out);
    assert_eq!(out.status.code(), Some(69), "{text}");
    assert!(text.contains("cannot reach the systemd user manager of ghost"), "{text}");
    assert!(text.contains("`loginctl enable-linger ghost`"), "{text}");
}

#[test]
fn an_update_restarts_and_a_failed_update_restores_the_running_version() {
    let sb = Systemd::boot("install-update").unwrap_or_else(|e| panic!("{e:#}"));
    let write = |name: &str, text: &str| {
        let path = sb.root().join("tmp").join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    };
    write("one.toml", "[app]\nlabel = \"one\"\n");
    write("two.toml", "[app]\nlabel = \"two\"\n");
    write("bad.toml", "[app]\nlabel = \"bad\"\nfail_init = true\n");

    let dry = probe_ok(&sb, &["install", "--dry-run", "--now", "--config", "/tmp/one.toml"]);
    assert!(dry.contains("would write /etc/systemd/system/probe.service:\n# Written by duende;"), "{dry}");
    assert!(dry.contains("would write /etc/probe/probe.toml:\n[app]\nlabel = \"one\""), "{dry}");
    assert!(dry.contains("would run systemctl start probe.service"), "{dry}");
    assert_eq!(sb.show("probe.service", "LoadState"), "not-found", "a dry run changes nothing");

    probe_ok(&sb, &["install", "--now", "--config", "/tmp/one.toml"]);
    let first = sb.show("probe.service", "MainPID");
    let out = probe_ok(&sb, &["install", "--config", "/tmp/two.toml"]);
    assert!(
        out.contains("wrote /etc/probe/probe.toml") && out.contains("ran systemctl restart probe.service"),
        "{out}"
    );
    let second = sb.show("probe.service", "MainPID");
    assert_ne!(first, second, "a changed configuration restarts the service");
    assert!(sb.run(&["cat", "/etc/probe/probe.toml"]).contains("two"));
    let reloaded = probe_ok(&sb, &["reload"]);
    assert!(reloaded.contains("probe on systemd: running"), "{reloaded}");
    wait_until(
        "the new configuration's lines in `logs`",
        PATIENCE,
        || probe_ok(&sb, &["logs", "-n", "50"]).contains("init label=two"),
        || probe_ok(&sb, &["logs"]),
    );

    let installed = sb.run(&["cat", "/etc/systemd/system/probe.service", "/etc/probe/probe.toml"]);
    let out = probe(&sb, &["install", "--config", "/tmp/bad.toml"]);
    let text = show_output(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("told to fail in init"), "{text}");
    let after = sb.run(&["cat", "/etc/systemd/system/probe.service", "/etc/probe/probe.toml"]);
    assert_eq!(after, installed, "the previous unit and configuration are back");
    assert_eq!(sb.show("probe.service", "ActiveState"), "active", "the previous version runs again");
    assert_eq!(sb.show("probe.service", "UnitFileState"), "enabled");
    probe_ok(&sb, &["uninstall"]);
}
