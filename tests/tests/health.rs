//! Scheduled health checks in a real process (examples/04_health.rs): they run on their own
//! schedule while `run` blocks the daemon's thread, turn the daemon unhealthy after `retries`
//! failures, tell the service manager (`STATUS=`), and recover.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use duende_tests::{PATIENCE, Spawn};

const SPOOL: &str = env!("CARGO_BIN_EXE_example-health");
const PROBE: &str = env!("CARGO_BIN_EXE_probe");

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
    // `status` names the check once: the daemon's health says which check, the check's line
    // says only what it found.
    let (code, out) = Spawn::new(SPOOL).runtime_dir(d.runtime_dir()).args(["status", "--platform", "native"]).run();
    assert_eq!(code, 0, "running, though unhealthy: {out}");
    assert!(out.contains("\n  health: unhealthy: spool: no heartbeat written for over 150 ms\n"), "{out}");
    assert!(out.contains("\n    check spool: unhealthy: no heartbeat written for over 150 ms ("), "{out}");
    assert_eq!(out.matches("spool:").count(), 2, "{out}");

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

    // Two daemons alike but for `health_check.enabled`, both with checks due every 100 ms that
    // give up after one failure. The enabled one is the positive control: once it has logged
    // `health: unhealthy`, the disabled one (whose spool went first) has had at least as many
    // rounds to do the same, so its silence means its checks did not run, not that none was due.
    let start = |name: &str, enabled: bool| {
        let spool = dir.path().join(format!("spool-{name}"));
        std::fs::create_dir(&spool).unwrap();
        let notify = dir.path().join(format!("notify-{name}.sock"));
        let socket = UnixDatagram::bind(&notify).unwrap();
        let d = Spawn::new(SPOOL)
            .env("NOTIFY_SOCKET", &notify)
            .args(["--set", &format!("app.spool={}", spool.display()), "--set", "app.interval_ms=20"])
            .args(["--set", "health_check.interval=100ms", "--set", "health_check.retries=1"])
            .args(["--set", &format!("health_check.enabled={enabled}")])
            .start();
        statuses_until(&socket, "running");
        (d, spool, socket)
    };
    let (mut off, off_spool, off_socket) = start("off", false);
    let (mut on, on_spool, on_socket) = start("on", true);
    std::fs::remove_dir_all(&off_spool).unwrap();
    std::fs::remove_dir_all(&on_spool).unwrap();
    on.expect_line("health: unhealthy: spool: no heartbeat written for over 60 ms");
    statuses_until(&on_socket, "unhealthy: spool:");

    off.signal(libc::SIGTERM);
    assert_eq!(off.wait_exit(), 0);
    assert!(!off.output().contains("health:"), "a check ran although [health_check] is off:\n{}", off.output());
    // Nor did it tell the service manager of any health.
    off_socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = off_socket.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !msg.contains("healthy") && !msg.contains("degraded"),
            "a check ran although [health_check] is off: {msg}"
        );
    }
    on.signal(libc::SIGTERM);
    assert_eq!(on.wait_exit(), 0);
}

/// A check that blocks its thread cannot be cancelled: it fails at the deadline, is not started
/// again while it is stuck (so it holds one worker, not all of them), and the daemon stays
/// responsive: its control channel answers and it stops on TERM.
#[test]
fn a_check_that_blocks_its_thread_fails_once_per_round_and_is_not_started_twice() {
    let mut d = Spawn::new(PROBE)
        .args(["--set", "app.stuck_check=true", "--set", "health_check.enabled=true"])
        .args(["--set", "health_check.interval=100ms", "--set", "health_check.timeout=100ms"])
        .args(["--set", "health_check.retries=1", "--set", "log_level=debug"])
        .start();
    d.expect_line("health: unhealthy: stuck: did not finish within 100ms");
    d.expect_line("still running after");
    let threads = |pid: i32| -> u32 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
    };
    let before = threads(d.pid());
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(threads(d.pid()), before, "rounds started new threads for the stuck check");
    let status = Spawn::new(PROBE).runtime_dir(d.runtime_dir()).args(["status", "--json"]).run();
    assert_eq!(status.0, 0, "it runs (unhealthy, but running): {}", status.1);
    let json: serde_json::Value = serde_json::from_str(status.1.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", status.1));
    let live = &json["live"];
    assert_eq!(live["health"]["state"], "unhealthy", "{live:#}");
    let reason = live["health"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("stuck: still running after"), "{live:#}");
    assert!(live["health"]["checks"][0]["failures"].as_u64() >= Some(5), "one failure per round: {live:#}");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
}
