//! Kill loops under a real manager (issue 15, item 4): the probe installed and started, then its
//! main process (the pid the manager reports) killed with SIGKILL 100 times in a row. After each
//! kill the manager must start a new process that becomes ready (a new pid in `status --json`,
//! `ready`, and the daemon itself answering on its control socket with that pid), and the
//! restart count `status --json` reports must be exactly the number of kills so far.
//!
//! - systemd (a throwaway systemd in systemd-nspawn): `RestartSec=` is `backoff.initial`, set to
//!   50ms; the unit has `StartLimitIntervalSec=0`, so no start rate limit ends the loop.
//!   `restarts` is systemd's `NRestarts`, checked against `systemctl show` as well.
//! - native (duende's own supervisor, as `nobody` under a temporary home): the defaults would end
//!   the loop after 5 restarts (`restart_budget = "5 in 1m"`) and back off up to 60s; the
//!   install sets `platform.native.restart_budget = "200 in 1m"`, `backoff.initial = 20ms`,
//!   `backoff.max = 50ms` and `backoff.jitter = 0`, so 100 kills in a row are within the budget
//!   and each restart waits at most 50ms. `restarts` is the supervisor's own count.
//!
//! Printed: kills, restarts seen, and the median and slowest time from the kill to the new
//! process observed ready (observed by polling `status --json`, so it includes one poll).
#![cfg(feature = "root-tests")]

use std::time::{Duration, Instant};

use duende_tests::nobody::Nobody;
use duende_tests::sandbox::{Systemd, json_of, show_output};
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const KILLS: u64 = 100;
/// How long one restart may take before the test gives up on it (patience, not a threshold).
const PATIENCE: Duration = Duration::from_secs(30);

fn alive(pid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state != "Z")
}

/// The daemon is up and ready as `status --json` tells it, and answers itself with that pid.
fn ready_pid(json: &Value) -> Option<u64> {
    let pid = json["pid"].as_u64()?;
    let up = json["state"] == "running" && json["ready"] == true && json["live"]["pid"].as_u64() == Some(pid);
    up.then_some(pid)
}

/// Kills the daemon `KILLS` times through `kill(pid)` (a host pid) and waits after each for
/// a new, ready process; `status` is `status --json`, `host_pid` maps its pid to a host pid.
/// Returns the times from each kill to the new process observed ready.
fn kill_loop(
    what: &str,
    status: &dyn Fn() -> Value,
    host_pid: &dyn Fn(u64) -> u64,
    context: &dyn Fn() -> String,
) -> Vec<Duration> {
    let mut back = Vec::new();
    let first = status();
    let mut pid = ready_pid(&first).unwrap_or_else(|| panic!("{what}: not ready before the first kill: {first}"));
    assert_eq!(first["restarts"].as_u64(), Some(0), "{what}: {first}");
    for n in 1..=KILLS {
        let victim = host_pid(pid);
        assert!(alive(victim), "{what}: kill {n}: pid {pid} (host {victim}) is not alive");
        // SAFETY: kill has no memory-safety preconditions; the pid is the daemon the manager named.
        let rc = unsafe { libc::kill(i32::try_from(victim).unwrap_or(0), libc::SIGKILL) };
        assert_eq!(rc, 0, "{what}: kill {n}: {}", std::io::Error::last_os_error());
        let killed = Instant::now();
        let json = loop {
            let json = status();
            if ready_pid(&json).is_some_and(|new| new != pid) {
                break json;
            }
            if killed.elapsed() > PATIENCE {
                panic!("{what}: kill {n}: not back to ready within {PATIENCE:?}: {json}\n{}", context());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        back.push(killed.elapsed());
        assert_eq!(json["restarts"].as_u64(), Some(n), "{what}: kill {n}: the restart count: {json}");
        assert!(!alive(victim), "{what}: kill {n}: the killed process {victim} is still there");
        pid = ready_pid(&json).unwrap_or_default();
    }
    back
}

fn report(what: &str, restarts: u64, mut back: Vec<Duration>) {
    back.sort();
    let median = back[back.len() / 2];
    let slowest = back[back.len() - 1];
    eprintln!(
        "[{what}] kills: {KILLS}, restarts seen: {restarts}, back to ready after a kill: median {median:?}, \
         slowest {slowest:?}"
    );
}

#[test]
fn systemd_restarts_the_daemon_after_each_of_100_kills() {
    let sb = Systemd::boot("kill-loop").unwrap_or_else(|e| panic!("{e:#}"));
    let probe = |args: &[&str]| {
        let mut argv = vec![PROBE];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--platform", "systemd"]);
        sb.exec(&argv)
    };
    let install = probe(&["install", "--now", "--set", "backoff.initial=50ms"]);
    assert!(install.status.success(), "{}", show_output(&install));
    assert_eq!(sb.show("probe.service", "RestartUSec"), "50ms");
    assert_eq!(sb.show("probe.service", "StartLimitIntervalUSec"), "0");
    // The container's pids are its own namespace's: `NSpid` in the host's /proc maps them.
    let host_pid =
        |pid: u64| host_pid_of(sb.pid(), pid).unwrap_or_else(|| panic!("no host pid for container pid {pid}"));
    let status = || json_of(&probe(&["status", "--json"]));
    let context = || sb.journal(&["-u", "probe.service", "-n", "30"]);
    let back = kill_loop("systemd", &status, &host_pid, &context);
    let json = status();
    let restarts = json["restarts"].as_u64().unwrap_or(0);
    assert_eq!(restarts, KILLS, "{json}");
    assert_eq!(sb.show("probe.service", "NRestarts"), KILLS.to_string());
    report("systemd", restarts, back);
    let removed = probe(&["uninstall"]);
    assert!(removed.status.success(), "{}", show_output(&removed));
}

/// The host pid of the process whose pid is `pid` in the PID namespace of `leader` (the
/// container's init): the process in that namespace whose `NSpid` ends with `pid`.
fn host_pid_of(leader: i32, pid: u64) -> Option<u64> {
    let ns = std::fs::read_link(format!("/proc/{leader}/ns/pid")).ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(host) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else { continue };
        if std::fs::read_link(format!("/proc/{host}/ns/pid")).ok().as_ref() != Some(&ns) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{host}/status")).unwrap_or_default();
        let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"));
        if nspid.and_then(|ids| ids.split_whitespace().last()).and_then(|p| p.parse::<u64>().ok()) == Some(pid) {
            return Some(host);
        }
    }
    None
}

#[test]
fn the_native_supervisor_restarts_the_daemon_after_each_of_100_kills() {
    let nobody = Nobody::new("probe");
    let probe = |args: &[&str]| {
        let mut argv = args.to_vec();
        argv.extend_from_slice(&["--platform", "native"]);
        nobody.run(PROBE, &argv)
    };
    let sets =
        ["backoff.initial=20ms", "backoff.max=50ms", "backoff.jitter=0", "platform.native.restart_budget=200 in 1m"];
    let mut install = vec!["install", "--user", "--now"];
    install.extend(sets.iter().flat_map(|set| ["--set", set]));
    let out = probe(&install);
    assert!(out.status.success(), "{}", show_output(&out));
    let status = || json_of(&probe(&["status", "--json"]));
    let log = nobody.path("home/.local/state/probe/probe.log");
    let context = || std::fs::read_to_string(&log).unwrap_or_default();
    let back = kill_loop("native", &status, &|pid| pid, &context);
    let json = status();
    let restarts = json["restarts"].as_u64().unwrap_or(0);
    assert_eq!(restarts, KILLS, "{json}");
    assert_eq!(json["last_exit_status"].as_i64(), Some(137), "killed by SIGKILL: {json}");
    let logged = context();
    assert_eq!(
        logged.lines().filter(|l| l.contains("(killed by signal 9) after") && l.contains("; restarting in")).count()
            as u64,
        KILLS,
        "the supervisor logs one restart per kill:\n{logged}"
    );
    report("native", restarts, back);
    for args in [&["stop"][..], &["uninstall"][..]] {
        let out = probe(args);
        assert!(out.status.success(), "{args:?}: {}", show_output(&out));
    }
}
