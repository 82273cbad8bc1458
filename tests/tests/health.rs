//! Scheduled health checks in a real process (examples/04_health.rs): they run on their own
//! schedule while `run` blocks the daemon's thread, turn the daemon unhealthy after `retries`
//! failures, tell the service manager (`STATUS=`), and recover.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use duende_tests::{PATIENCE, Spawn};

const SPOOL: &str = env!("CARGO_BIN_EXE_example-health");

/// Every `STATUS=` the daemon sends until `until` is among them (or PATIENCE passes).
fn statuses_until(socket: &UnixDatagram, until: &str) -> Vec<String> {
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < PATIENCE {
        if let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            for line in msg.lines() {
                if let Some(status) = line.strip_prefix("STATUS=") {
                    seen.push(status.to_owned());
                }
            }
            if seen.iter().any(|status| status.contains(until)) {
                return seen;
            }
        }
    }
    panic!("no STATUS= containing {until:?} within {PATIENCE:?}; saw {seen:?}");
}

#[test]
fn checks_run_on_schedule_while_run_blocks_its_thread_and_turn_the_daemon_unhealthy_then_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let notify = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&notify).unwrap();
    let mut d = Spawn::new(SPOOL)
        .env("NOTIFY_SOCKET", &notify)
        .args(["--set", &format!("app.spool={}", spool.display()), "--set", "app.blocking=true"])
        .args(["--set", "app.interval_ms=50", "--set", "health_check.enabled=true"])
        .args(["--set", "health_check.interval=100ms", "--set", "health_check.retries=3"])
        .start();
    d.expect_line("spooling to");
    statuses_until(&socket, "running");

    std::fs::remove_dir_all(&spool).unwrap();
    let removed = Instant::now();
    // Stale after 150 ms, then three failing rounds 100 ms apart: degraded twice, then unhealthy.
    let seen = statuses_until(&socket, "unhealthy: spool: no heartbeat written for over 150 ms");
    let unhealthy_after = removed.elapsed();
    assert!(
        seen.iter().any(|status| status == "degraded: spool: failing (1 of 3): no heartbeat written for over 150 ms"),
        "no degraded state before unhealthy: {seen:?}"
    );
    assert!(unhealthy_after >= Duration::from_millis(300), "unhealthy after only {unhealthy_after:?}: {seen:?}");
    d.expect_line("health: unhealthy: spool: no heartbeat written for over 150 ms");

    std::fs::create_dir(&spool).unwrap();
    statuses_until(&socket, "healthy (score 5)");
    d.expect_line("health: healthy (score 5)");

    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn checks_stay_off_unless_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&notify).unwrap();
    let mut d = Spawn::new(SPOOL)
        .env("NOTIFY_SOCKET", &notify)
        .args(["--set", &format!("app.spool={}", dir.path().join("missing-later").display())])
        .args(["--set", "app.interval_ms=20"])
        .start();
    // init refuses a spool that is not a directory: exit 70 naming it.
    assert_eq!(d.wait_exit(), 70);
    assert!(d.output().contains("missing-later is not a directory"), "{}", d.output());
    drop(socket);

    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let socket = UnixDatagram::bind(dir.path().join("notify2.sock")).unwrap();
    let mut d = Spawn::new(SPOOL)
        .env("NOTIFY_SOCKET", dir.path().join("notify2.sock"))
        .args(["--set", &format!("app.spool={}", spool.display()), "--set", "app.interval_ms=20"])
        .start();
    statuses_until(&socket, "running");
    std::fs::remove_dir_all(&spool).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
    assert!(!d.output().contains("health:"), "a check ran although [health_check] is off:\n{}", d.output());
}
