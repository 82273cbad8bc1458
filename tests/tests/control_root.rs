//! The control channel where root is needed: peers of another uid are refused (by the socket's
//! mode, and by their credentials when the mode would let them in) and logged; a daemon running
//! as an unprivileged user is still served to root; and under a real systemd (booted in a
//! throwaway container) `status --json` carries the daemon's own `live` account beside systemd's.
#![cfg(feature = "root-tests")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use duende_tests::sandbox::{Systemd, show_output, wait_until};
use duende_tests::{Running, Spawn};
use serde_json::Value;

const COUNTER: &str = env!("CARGO_BIN_EXE_example-counter");
const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const NOBODY: &str = "65534";

fn as_uid(uid: &str) -> [String; 4] {
    ["setpriv".into(), format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into()]
}

/// `COUNTER ARGS --platform native` as `uid` (root when `None`) against the runtime directory `dir`.
fn counter_cli(uid: Option<&str>, dir: &Path, args: &[&str]) -> (i32, String) {
    let spawn = match uid {
        Some(uid) => {
            let wrapper = as_uid(uid);
            Spawn::wrapped(&wrapper.iter().map(String::as_str).collect::<Vec<_>>(), COUNTER)
        }
        None => Spawn::new(COUNTER),
    };
    spawn.runtime_dir(dir).args(args).args(["--platform", "native"]).run()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn assert_served(d: &mut Running, uid: Option<&str>) {
    let (code, out) = counter_cli(uid, d.runtime_dir(), &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("counter on native: running (pid {})", d.pid())), "{out}");
}

#[test]
fn another_uid_is_refused_by_the_mode_and_by_its_credentials_and_logged() {
    assert_eq!(duende_tests::euid(), 0, "the root suites run as root");
    let mut d = Spawn::new(COUNTER).start();
    d.expect_line("ready");
    // Let others through the directory, so only the socket stands in their way.
    chmod(d.runtime_dir(), 0o755);
    let socket = d.runtime_dir().join("control.sock");

    // Mode 0600: the kernel refuses the connection; the daemon never sees it.
    // An OS error (71), not a usage error: the command line was right.
    let (code, out) = counter_cli(Some(NOBODY), d.runtime_dir(), &["status"]);
    assert_eq!(code, 71, "{out}");
    assert!(
        out.contains("permission denied on") && out.contains("the socket's mode does not let this user in"),
        "{out}"
    );
    assert!(out.contains("run this command as the daemon's user or as root"), "{out}");

    // Were the mode ever looser, the credential check refuses, replies and logs the peer.
    chmod(&socket, 0o666);
    for args in [&["status"][..], &["stop"], &["reload"]] {
        let (code, out) = counter_cli(Some(NOBODY), d.runtime_dir(), args);
        assert_eq!(code, 71, "{args:?}: {out}");
        assert!(out.contains("uid 65534 may not use this daemon's control socket; only uid 0 and root may"), "{out}");
        let logged = d.expect_line("control channel: refused a connection from uid 65534, pid ");
        assert!(logged.contains("WARN"), "{logged}");
    }
    assert_served(&mut d, None);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
    d.expect_line("INFO stopped");
    assert!(!d.output().contains("shutdown requested by the control channel"), "a refused stop stopped it");
}

#[test]
fn a_daemon_of_an_unprivileged_user_serves_that_user_and_root_and_no_one_else() {
    let base = tempfile::tempdir().unwrap();
    chmod(base.path(), 0o755);
    let dir = base.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let wrapper = as_uid(NOBODY);
    let mut d =
        Spawn::wrapped(&wrapper.iter().map(String::as_str).collect::<Vec<_>>(), COUNTER).runtime_dir(&dir).start();
    d.expect_line("ready");
    assert_served(&mut d, Some(NOBODY));
    assert_served(&mut d, None);
    chmod(&dir, 0o755);
    chmod(&dir.join("control.sock"), 0o666);
    let (code, out) = counter_cli(Some("65533"), &dir, &["stop"]);
    assert_eq!(code, 71, "{out}");
    assert!(out.contains("uid 65533 may not use this daemon's control socket; only uid 65534 and root may"), "{out}");
    d.expect_line("refused a connection from uid 65533");
    let (code, out) = counter_cli(None, &dir, &["stop"]);
    assert_eq!(code, 0, "root stops it: {out}");
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

/// As the README says: a user without `XDG_RUNTIME_DIR` gets its runtime directory in the
/// temporary directory, `$TMPDIR/duende-UID/NAME` (`TMPDIR` pointed here so that the host's `/tmp`
/// is left alone), and its management commands find the daemon there.
#[test]
fn a_user_without_xdg_runtime_dir_gets_a_runtime_directory_of_its_own_in_tmp() {
    let base = tempfile::tempdir().unwrap();
    chmod(base.path(), 0o755);
    let tmp = base.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    chmod(&tmp, 0o1777);
    let as_nobody = || {
        let mut wrapper = vec!["env", "-u", "RUNTIME_DIRECTORY", "-u", "XDG_RUNTIME_DIR"];
        let setpriv = as_uid(NOBODY);
        wrapper.extend(setpriv.iter().map(String::as_str));
        Spawn::wrapped(&wrapper, COUNTER).env("TMPDIR", &tmp).env("HOME", base.path())
    };
    let mut d = as_nobody().start();
    d.expect_line("ready");
    let dir = tmp.join(format!("duende-{NOBODY}/counter"));
    assert!(dir.join("control.sock").exists(), "no socket in {}:\n{}", dir.display(), d.output());
    let (code, out) = as_nobody().args(["status", "--platform", "native"]).run();
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("counter on native: running (pid {})", d.pid())), "{out}");
    let (code, out) = as_nobody().args(["stop", "--platform", "native"]).run();
    assert_eq!((code, out.trim()), (0, format!("counter: stopped (pid {})", d.pid()).as_str()), "{out}");
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

fn probe(sb: &Systemd, args: &[&str]) -> std::process::Output {
    let mut argv = vec![PROBE];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--platform", "systemd"]);
    sb.exec(&argv)
}

fn status_json(sb: &Systemd) -> (std::process::Output, Value) {
    let out = probe(sb, &["status", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", show_output(&out)));
    (out, json)
}

#[test]
fn under_systemd_status_json_carries_the_live_account() {
    let sb = Systemd::boot("control").unwrap_or_else(|e| panic!("{e:#}"));
    let installed = probe(&sb, &["install", "--now"]);
    assert!(installed.status.success(), "{}", show_output(&installed));
    let main_pid: u64 = sb.show("probe.service", "MainPID").parse().unwrap();

    let (out, json) = status_json(&sb);
    assert!(out.status.success(), "{}", show_output(&out));
    assert_eq!((json["state"].as_str(), json["ready"].as_bool()), (Some("running"), Some(true)), "{json}");
    let live = &json["live"];
    assert_eq!(live["name"], "probe", "{json}");
    assert_eq!(live["pid"].as_u64(), Some(main_pid), "{json}");
    assert_eq!((live["state"].as_str(), live["ready"].as_bool()), (Some("running"), Some(true)), "{json}");
    assert_eq!(live["health"]["state"], "healthy");
    assert_eq!(live["config_generation"], 1);
    assert!(
        sb.exec(&["test", "-S", "/run/probe/control.sock"]).status.success(),
        "the socket is in the unit's RuntimeDirectory"
    );

    // A reload through systemd shows in the daemon's own account.
    sb.run(&["systemctl", "reload", "probe.service"]);
    wait_until(
        "configuration generation 2 in the live status",
        Duration::from_secs(15),
        || status_json(&sb).1["live"]["config_generation"] == 2,
        || format!("{}", status_json(&sb).1),
    );
    let text = probe(&sb, &["status"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.starts_with("probe on systemd: running"), "{text}");
    for needle in ["health: healthy (score 5)", "uptime: ", "configuration: generation 2; last reload accepted"] {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }

    let stopped = probe(&sb, &["stop"]);
    assert!(stopped.status.success(), "{}", show_output(&stopped));
    let (out, json) = status_json(&sb);
    assert_eq!(out.status.code(), Some(69), "{}", show_output(&out));
    assert_eq!(json["live"], Value::Null, "{json}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("note: no live status from the daemon"), "{stderr}");
    let removed = probe(&sb, &["uninstall"]);
    assert!(removed.status.success(), "{}", show_output(&removed));
}
