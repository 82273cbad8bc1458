//! The sd_notify protocol, spoken directly over `$NOTIFY_SOCKET` (path or abstract `@name`).
//! Nothing is linked: the protocol is one datagram per message.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// How long a send may wait for room in the manager's queue. systemd drains its socket at once;
/// a manager that does not must not hold up the thread that reports readiness, feeds the
/// watchdog or announces a shutdown.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection to the service manager's notification socket, or nothing when there is none.
///
/// Every send is best effort: a manager that went away must not take the daemon with it, so
/// failures are logged at debug level and otherwise ignored. A manager that is there but does not
/// read holds a send for one second at most, and gets a warning naming what it missed.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// A notifier for `NOTIFY_SOCKET`'s value, if set and usable.
    pub fn from_socket_var(value: Option<&str>) -> io::Result<Notifier> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(Notifier { target: None });
        };
        let addr = parse_addr(value)?;
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Notifier { target: Some((socket, addr)) })
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier { target: None }
    }

    /// True when a manager is listening.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends one message made of `KEY=value` lines.
    pub fn send(&self, message: &str) {
        let Some((socket, addr)) = &self.target else { return };
        match socket.send_to_addr(message.as_bytes(), addr) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => tracing::warn!(
                message = message.lines().next().unwrap_or_default(),
                "the service manager left its notification socket full for {}; carrying on without telling it",
                humantime::format_duration(SEND_TIMEOUT)
            ),
            Err(err) => tracing::debug!(%err, message, "sd_notify send failed"),
        }
    }

    /// `READY=1`, with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// `READY=1` after a reload, with a status line and `X_DUENDE_RELOAD=accepted|rejected`.
    pub fn reloaded(&self, status: &str, accepted: bool) {
        let verdict = if accepted { "accepted" } else { "rejected" };
        self.send(&format!("READY=1\nSTATUS={}\nX_DUENDE_RELOAD={verdict}", one_line(status)));
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (required by `Type=notify-reload`).
    pub fn reloading(&self) {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    /// `STOPPING=1`, with a status line.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// `WATCHDOG=1`: the daemon is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// `STATUS=` free text (newlines are folded: the protocol is line based).
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn parse_addr(value: &str) -> io::Result<SocketAddr> {
    if let Some(name) = value.strip_prefix('@') {
        abstract_addr(name.as_bytes())
    } else if value.starts_with('/') {
        SocketAddr::from_pathname(value)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET `{value}` is neither an absolute path nor an abstract `@name`"),
        ))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract unix sockets exist only on Linux"))
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when the manager armed a watchdog
/// for this process (`WATCHDOG_PID` unset or equal to `pid`). `None` when there is no watchdog or
/// the variables are malformed.
pub fn watchdog_interval(usec: Option<&str>, watchdog_pid: Option<&str>, pid: u32) -> Option<std::time::Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|usec| *usec > 0)?;
    if let Some(target) = watchdog_pid
        && target.trim().parse::<u32>().ok()? != pid
    {
        return None;
    }
    Some(std::time::Duration::from_micros(usec / 2))
}

/// CLOCK_MONOTONIC in microseconds, as systemd compares it.
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always supported.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs * 1_000_000 + nanos / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_ready_and_status_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::from_socket_var(path.to_str()).unwrap();
        assert!(notifier.is_enabled());
        notifier.ready("serving\nnow");
        assert_eq!(recv(&listener), "READY=1\nSTATUS=serving now");
        notifier.stopping("bye");
        assert_eq!(recv(&listener), "STOPPING=1\nSTATUS=bye");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("duende-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = Notifier::from_socket_var(Some(&format!("@{name}"))).unwrap();
        notifier.reloading();
        let got = recv(&listener);
        let usec: u64 = got.strip_prefix("RELOADING=1\nMONOTONIC_USEC=").unwrap().parse().unwrap();
        assert!(usec > 0 && usec <= monotonic_usec());
    }

    #[test]
    fn a_manager_that_does_not_read_holds_each_send_for_the_timeout_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let _never_read = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::from_socket_var(path.to_str()).unwrap();
        // Fill the queue (net.unix.max_dgram_qlen, 10 by default, or the send buffer) until a
        // send has to wait, then send once more; on a thread, so a send that blocks for good
        // fails the test instead of hanging it.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let filled = (0..100_000).any(|n| {
                let before = std::time::Instant::now();
                notifier.status(&format!("message {n}"));
                before.elapsed() >= SEND_TIMEOUT / 2
            });
            notifier.stopping("bye");
            let _ = done.send(filled);
        });
        let filled = finished.recv_timeout(SEND_TIMEOUT * 30).expect("a send to a full queue blocked for good");
        assert!(filled, "the queue never filled, so nothing was shown");
    }

    #[test]
    fn watchdog_interval_is_half_and_only_for_this_pid() {
        use std::time::Duration;
        assert_eq!(watchdog_interval(Some("2000000"), None, 7), Some(Duration::from_secs(1)));
        assert_eq!(watchdog_interval(Some("2000000"), Some("7"), 7), Some(Duration::from_secs(1)));
        assert_eq!(watchdog_interval(Some("2000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, Some("7"), 7), None);
        assert_eq!(watchdog_interval(Some("2000000"), Some("x"), 7), None);
    }

    #[test]
    fn relative_path_is_refused_and_unset_is_disabled() {
        assert!(Notifier::from_socket_var(Some("relative/sock")).is_err());
        assert!(!Notifier::from_socket_var(None).unwrap().is_enabled());
        assert!(!Notifier::from_socket_var(Some("")).unwrap().is_enabled());
    }
}
