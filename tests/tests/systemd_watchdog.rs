//! The systemd watchdog against the real manager: a healthy probe keeps feeding it (`WATCHDOG=1`
//! at half of `WATCHDOG_USEC`) and lives on; a probe that reports itself unhealthy stops feeding
//! it, and systemd declares a watchdog timeout, aborts it with SIGABRT and restarts it.
#![cfg(feature = "root-tests")]

use std::time::{Duration, Instant};

use duende_tests::sandbox::{Systemd, wait_until};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const PATIENCE: Duration = Duration::from_secs(15);

/// A unit running the probe; each gets a runtime directory of its own (`/run/UNIT`), since two
/// instances of one daemon never share one.
fn unit(watchdog_sec: u32, sets: &str) -> String {
    format!(
        "[Unit]\nDescription=duende probe (watchdog)\n\n[Service]\nType=notify\nExecStart={PROBE}{sets}\n\
         WatchdogSec={watchdog_sec}\nRestart=on-failure\nRestartSec=100ms\nTimeoutStartSec=15\nTimeoutStopSec=15\n\
         LimitCORE=0\nRuntimeDirectory=%N\n"
    )
}

fn journal(sb: &Systemd, unit: &str) -> String {
    String::from_utf8_lossy(&sb.exec(&["journalctl", "--no-pager", "-o", "cat", "-u", unit]).stdout).into_owned()
}

#[test]
fn healthy_daemon_feeds_the_watchdog_and_unhealthy_one_is_aborted_and_restarted() {
    let sb = Systemd::boot("watchdog").unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("[watchdog] booted in {:?}", sb.boot_time());
    sb.install_unit("healthy.service", &unit(1, ""));
    sb.install_unit("sick.service", &unit(2, " --set app.unhealthy_after_ms=500"));

    let started = Instant::now();
    sb.run(&["systemctl", "start", "healthy.service", "sick.service"]);
    assert_eq!(sb.show("healthy.service", "WatchdogUSec"), "1s");
    assert_eq!(sb.show("sick.service", "WatchdogUSec"), "2s");

    // The sick one: unhealthy after 0.5 s, so no ping after that; 2 s later the manager aborts
    // it and Restart=on-failure brings it back.
    wait_until(
        "the watchdog to abort and restart sick.service",
        PATIENCE,
        || sb.show("sick.service", "NRestarts").parse::<u32>().unwrap_or(0) >= 1,
        || {
            format!(
                "{}\n{}",
                sb.run(&["systemctl", "status", "--no-pager", "sick.service"]),
                journal(&sb, "sick.service")
            )
        },
    );
    let aborted_after = started.elapsed();
    let log = journal(&sb, "sick.service");
    assert!(log.contains("unhealthy"), "the probe never turned unhealthy:\n{log}");
    assert!(log.contains("Watchdog timeout"), "{log}");
    assert!(log.contains("SIGABRT"), "{log}");
    assert!(log.contains("Failed with result 'watchdog'"), "{log}");
    // After the daemon turned unhealthy, and not before a full watchdog period since the last
    // ping (which came at or after READY).
    assert!(log.find("unhealthy") < log.find("Watchdog timeout"), "{log}");
    assert!(aborted_after >= Duration::from_secs(2), "aborted after only {aborted_after:?}:\n{log}");

    // The healthy one, with a tighter 1 s watchdog, has been fed all along: the manager's
    // last-ping timestamp keeps moving and it was never restarted.
    let ping = || sb.show("healthy.service", "WatchdogTimestampMonotonic");
    let first_ping = ping();
    wait_until(
        "another watchdog ping from healthy.service",
        Duration::from_secs(3),
        || ping() != first_ping,
        || journal(&sb, "healthy.service"),
    );
    assert!(started.elapsed() >= Duration::from_secs(2), "healthy.service ran for less than two watchdog periods");
    assert_eq!(sb.show("healthy.service", "NRestarts"), "0", "{}", journal(&sb, "healthy.service"));
    assert_eq!(sb.show("healthy.service", "ActiveState"), "active");
    assert!(!journal(&sb, "healthy.service").contains("Watchdog timeout"));
}
