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
    // Every datagram is queued by the time the process has exited.
    socket.set_nonblocking(true).unwrap();
    let mut sent = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        sent.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    // The manager is told why (the positive side: the daemon did talk to the socket), and never
    // that the daemon is ready, neither before nor after.
    assert!(
        sent.iter().any(|msg| msg == "STATUS=init failed: told to fail in init"),
        "no init failure status: {sent:?}"
    );
    assert!(!sent.iter().any(|msg| msg.contains("READY=1")), "announced ready despite failing init: {sent:?}");
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
    let bind = |name: &str| {
        let path = dir.path().join(name);
        (UnixDatagram::bind(&path).unwrap(), path)
    };
    let (other_socket, other_path) = bind("other.sock");
    let (none_socket, none_path) = bind("none.sock");
    let (armed_socket, armed_path) = bind("armed.sock");
    // A watchdog armed for another process (pid 1), and no watchdog at all (`Spawn` clears
    // `WATCHDOG_USEC`): neither daemon may ping.
    let mut other = Spawn::new(PROBE)
        .env("NOTIFY_SOCKET", &other_path)
        .env("WATCHDOG_USEC", "100000")
        .env("WATCHDOG_PID", "1")
        .start();
    let mut none = Spawn::new(PROBE).env("NOTIFY_SOCKET", &none_path).start();
    for (socket, which) in [(&other_socket, "WATCHDOG_PID=1"), (&none_socket, "no WATCHDOG_USEC")] {
        let first = recv(socket);
        assert!(first.starts_with("READY=1\n"), "{which}: {first:?} before READY=1");
    }
    // The positive control, started once both are ready: the same watchdog armed for the daemon
    // itself. By its third ping (50 ms apart) the other two have had as long to send theirs.
    let mut armed = Spawn::new(PROBE).env("NOTIFY_SOCKET", &armed_path).env("WATCHDOG_USEC", "100000").start();
    let mut pings = 0;
    while pings < 3 {
        let msg = recv(&armed_socket);
        assert!(msg == "WATCHDOG=1" || msg.starts_with("READY=1\n"), "unexpected notification: {msg}");
        pings += usize::from(msg == "WATCHDOG=1");
    }
    let mut buf = [0u8; 4096];
    for (socket, which) in [(&other_socket, "WATCHDOG_PID=1"), (&none_socket, "no WATCHDOG_USEC")] {
        socket.set_nonblocking(true).unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            panic!("{which}: unexpected notification: {}", String::from_utf8_lossy(&buf[..n]));
        }
    }
    for d in [&mut other, &mut none, &mut armed] {
        d.signal(libc::SIGTERM);
        assert_eq!(d.wait_exit(), 0);
    }
}
