//! The sd_notify protocol as a real service manager would see it: a datagram socket the test
//! binds, named by `NOTIFY_SOCKET`.

use duende_tests::Spawn;
use std::os::unix::net::UnixDatagram;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

fn recv(socket: &UnixDatagram) -> String {
    socket.set_read_timeout(Some(duende_tests::PATIENCE)).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a notification");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_reloading_and_stopping_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut d = Spawn::new(PROBE).env("NOTIFY_SOCKET", &path).start();

    let ready = recv(&socket);
    assert!(ready.starts_with("READY=1\n") && ready.contains("STATUS="), "{ready}");
    // init has printed by the time READY arrives (and a failing init never sends it: see below).
    d.expect_line("init label=");

    d.signal(libc::SIGHUP);
    let reloading = recv(&socket);
    let usec: u64 = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected {reloading:?}"));
    assert!(usec > 0);
    let ready_again = recv(&socket);
    assert!(ready_again.starts_with("READY=1\n"), "{ready_again}");

    d.signal(libc::SIGTERM);
    let stopping = recv(&socket);
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    assert_eq!(d.wait_exit(), 0);
}

/// Abstract sockets are Linux's.
#[cfg(target_os = "linux")]
#[test]
fn abstract_notify_socket_works() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let name = format!("duende-notify-test-{}", std::process::id());
    let socket = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    let mut d = Spawn::new(PROBE).env("NOTIFY_SOCKET", format!("@{name}")).start();
    let ready = recv(&socket);
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    d.signal(libc::SIGTERM);
    assert!(recv(&socket).starts_with("STOPPING=1\n"));
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn init_failure_never_announces_ready() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let (code, _) = Spawn::new(PROBE).env("NOTIFY_SOCKET", &path).args(["--set", "app.fail_init=true"]).run();
    assert_eq!(code, 70);
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]);
        assert!(!msg.contains("READY=1"), "announced ready despite failing init: {msg}");
    }
}

#[test]
fn watchdog_is_fed_at_half_the_interval_until_the_daemon_turns_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut d = Spawn::new(PROBE)
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .args(["--set", "app.unhealthy_after_ms=700"])
        .start();
    let started = std::time::Instant::now();
    let mut pings = Vec::new();
    let mut unhealthy_status_at = None;
    socket.set_read_timeout(Some(std::time::Duration::from_millis(100))).unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < std::time::Duration::from_millis(1600) {
        if let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg == "WATCHDOG=1" {
                pings.push(started.elapsed());
            } else if msg.contains("unhealthy: told to turn unhealthy") {
                unhealthy_status_at = Some(started.elapsed());
            }
        }
    }
    let turned = unhealthy_status_at.expect("STATUS= announcing the unhealthy state");
    let before = pings.iter().filter(|t| **t < turned).count();
    let after = pings.iter().filter(|t| **t > turned).count();
    // 100 ms apart for ~700 ms: several pings before; none at all after.
    assert!(before >= 4, "only {before} pings before turning unhealthy: {pings:?}");
    assert_eq!(after, 0, "pings continued after the daemon turned unhealthy: {pings:?} (unhealthy at {turned:?})");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
}

#[test]
fn no_watchdog_pings_for_another_pid_or_without_a_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut d =
        Spawn::new(PROBE).env("NOTIFY_SOCKET", &path).env("WATCHDOG_USEC", "100000").env("WATCHDOG_PID", "1").start();
    assert!(recv(&socket).starts_with("READY=1"));
    socket.set_read_timeout(Some(std::time::Duration::from_millis(400))).unwrap();
    let mut buf = [0u8; 4096];
    if let Ok(n) = socket.recv(&mut buf) {
        panic!("unexpected notification: {}", String::from_utf8_lossy(&buf[..n]));
    }
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0);
}
