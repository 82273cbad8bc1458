//! Issue 4 end to end under a real systemd (booted in a throwaway container): the spool daemon
//! (examples/04_health.rs) installed with health checks and the metrics exporter on. A scrape
//! shows its request counter rising; then its spool disappears, its check fails, the daemon turns
//! unhealthy, stops feeding the watchdog, and systemd aborts and restarts it; `status --json`
//! shows the restart and the new process healthy and ready.
#![cfg(feature = "root-tests")]

use std::process::Output;
use std::time::{Duration, Instant};

use duende_tests::sandbox::{Systemd, show_output, wait_until};

const SPOOL: &str = env!("CARGO_BIN_EXE_example-health");
const PATIENCE: Duration = Duration::from_secs(20);
const SCRAPE: &str = "http://127.0.0.1:9464/metrics";

fn spool(sb: &Systemd, args: &[&str]) -> Output {
    let mut argv = vec![SPOOL];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--platform", "systemd"]);
    sb.exec(&argv)
}

fn spool_ok(sb: &Systemd, args: &[&str]) -> String {
    let out = spool(sb, args);
    assert!(out.status.success(), "spool {args:?} failed ({}):\n{}", out.status, show_output(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(sb: &Systemd) -> serde_json::Value {
    let out = spool(sb, &["status", "--json"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{}", show_output(&out)))
}

/// The value of the sample `name` (without labels) in a Prometheus text scrape from inside the
/// container (its network is private).
fn scrape(sb: &Systemd, name: &str) -> f64 {
    let body = sb.run(&["curl", "-fsS", "--max-time", "5", SCRAPE]);
    body.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in the scrape:\n{body}"))
}

#[test]
fn an_unhealthy_daemon_starves_the_watchdog_is_restarted_and_status_shows_it() {
    let sb = Systemd::boot("health").unwrap_or_else(|e| panic!("{e:#}"));
    let install = [
        "install",
        "--now",
        "--set",
        "app.interval_ms=100",
        "--set",
        "health_check.enabled=true",
        "--set",
        "health_check.interval=500ms",
        "--set",
        "health_check.timeout=200ms",
        "--set",
        "health_check.retries=2",
        "--set",
        "metrics.enabled=true",
        "--set",
        "metrics.listen=127.0.0.1:9464",
    ];
    let out = spool_ok(&sb, &install);
    assert!(out.contains("wrote /etc/systemd/system/spool.service"), "{out}");
    let unit = sb.run(&["cat", "/etc/systemd/system/spool.service"]);
    // (500 ms + 200 ms) x (2 + 1): a daemon that misses every check of `retries` rounds is caught.
    assert!(unit.contains("WatchdogSec=2100ms"), "{unit}");
    assert_eq!(sb.show("spool.service", "NRestarts"), "0");

    let first = status(&sb);
    assert_eq!(first["state"], "running", "{first:#}");
    assert_eq!(first["live"]["ready"], true, "{first:#}");
    assert_eq!(first["live"]["health"]["state"], "healthy", "{first:#}");
    let first_pid = first["pid"].clone();

    // The request counter rises between two scrapes during the run.
    let before = scrape(&sb, "duende_requests_total");
    std::thread::sleep(Duration::from_millis(700));
    let after = scrape(&sb, "duende_requests_total");
    assert!(after >= before + 3.0, "duende_requests_total went from {before} to {after} in 700 ms at 10/s");
    assert_eq!(scrape(&sb, "duende_health_score"), 5.0);

    // The spool disappears: heartbeats fail, the check finds them stale.
    let broke = Instant::now();
    sb.run(&["rm", "-rf", "/var/lib/spool"]);
    wait_until(
        "the watchdog to abort and restart spool.service",
        PATIENCE,
        || sb.show("spool.service", "NRestarts").parse::<u32>().unwrap_or(0) >= 1,
        || sb.journal(&["-u", "spool.service"]),
    );
    eprintln!("[health] broken spool -> restarted after {:?}", broke.elapsed());
    let journal = sb.journal(&["-u", "spool.service"]);
    let unhealthy = journal.find("health: unhealthy: spool: no heartbeat written for over 300 ms");
    let timeout = journal.find("Watchdog timeout");
    assert!(unhealthy.is_some() && timeout.is_some() && unhealthy < timeout, "{journal}");
    assert!(journal.contains("Failed with result 'watchdog'"), "{journal}");

    // systemd recreated the StateDirectory for the new process: healthy and ready again.
    wait_until(
        "the restarted daemon to be ready and healthy",
        PATIENCE,
        || {
            let now = status(&sb);
            now["live"]["ready"] == true && now["live"]["health"]["state"] == "healthy" && now["pid"] != first_pid
        },
        || format!("{:#}\n{}", status(&sb), sb.journal(&["-u", "spool.service"])),
    );
    // The new process counts the unclean end of the one before (its runtime directory survived).
    assert_eq!(scrape(&sb, "duende_restarts_total"), 1.0);
    let restarted = status(&sb);
    assert!(restarted["restarts"].as_u64() >= Some(1), "{restarted:#}");
    // The process answering now started after the spool broke, so it is younger than the time
    // since (`None < Some(_)` would pass a status without an uptime: it must have one).
    let uptime = restarted["live"]["uptime_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no live.uptime_seconds in the status: {restarted:#}"));
    let since_broke = broke.elapsed();
    assert!(
        uptime < since_broke.as_secs_f64(),
        "up {uptime} s, but the spool broke {since_broke:?} ago: {restarted:#}"
    );

    let out = spool_ok(&sb, &["uninstall"]);
    assert!(out.contains("removed /etc/systemd/system/spool.service"), "{out}");
}
