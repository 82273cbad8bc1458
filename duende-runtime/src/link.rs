//! How the running daemon reaches its manager: one seam, whatever the platform.
//!
//! The lifecycle, the health scheduler and the reloader say what happens (ready, reloading,
//! stopping, a status line, a watchdog ping) to a [`Link`]; the link knows who listens and how:
//!
//! - [`Link::Notify`]: the sd_notify datagrams on `$NOTIFY_SOCKET` ([`Notifier`]). systemd
//!   listens there, and so does the native supervisor, which hands its daemon a socket of its
//!   own: one protocol for both, so a daemon behaves the same under either.
//! - [`Link::Silent`]: nobody listens (a terminal, a manager that does not care).
//!
//! In a pepita microVM the link is [`Link::Notify`] too: the guest's init owns `$NOTIFY_SOCKET`
//! and relays each datagram to the host over vsock (`pid1`, `platform::pepita::report`), so the
//! daemon needs no variant of its own there.
//!
//! - [`Link::Stdio`]: a WASI module (WOS) has neither `$NOTIFY_SOCKET` nor signals; its host holds
//!   its standard input and output, and hears the same messages as control-protocol notices there
//!   ([`crate::control::stdio`]): `{"v":1,"event":"ready","status":"running"}`.

use crate::control::protocol::NoticeEvent;
use crate::control::stdio::Output;
#[cfg(unix)]
use crate::notify::Notifier;
use crate::platform::EnvView;

/// The daemon's channel to its manager.
#[derive(Debug)]
pub enum Link {
    /// Nobody listens.
    Silent,
    /// sd_notify on `$NOTIFY_SOCKET` (systemd, the native supervisor).
    #[cfg(unix)]
    Notify(Notifier),
    /// Notices on standard output, beside the control channel's replies (WASI).
    Stdio(Output),
}

impl Link {
    /// The link the environment names: `$NOTIFY_SOCKET` when set, otherwise silent. An unusable
    /// `$NOTIFY_SOCKET` is logged and leaves the daemon silent: it still runs, and says why its
    /// manager will not hear from it.
    #[cfg(unix)]
    pub fn from_env(env: &dyn EnvView) -> Link {
        match Notifier::from_socket_var(env.var("NOTIFY_SOCKET").as_deref()) {
            Ok(notifier) if notifier.is_enabled() => Link::Notify(notifier),
            Ok(_) => Link::Silent,
            Err(err) => {
                tracing::warn!(%err, "NOTIFY_SOCKET is unusable; the service manager will not hear readiness");
                Link::Silent
            }
        }
    }

    /// A WASI module's link: notices on standard output, whatever the environment says (there
    /// is no socket to notify).
    #[cfg(not(unix))]
    pub fn from_env(_env: &dyn EnvView) -> Link {
        Link::Stdio(Output::stdout())
    }

    /// True when a manager listens.
    pub fn is_listening(&self) -> bool {
        !matches!(self, Link::Silent)
    }

    /// The daemon is ready, with a status line.
    pub fn ready(&self, status: &str) {
        match self {
            Link::Silent => {}
            #[cfg(unix)]
            Link::Notify(notifier) => notifier.ready(status),
            Link::Stdio(output) => output.notice(NoticeEvent::Ready, Some(status), None),
        }
    }

    /// A reload is over: ready again, with a status line and whether the new configuration was
    /// taken (`X_DUENDE_RELOAD=accepted|rejected`, a variable of our own as sd_notify(3) allows:
    /// systemd ignores it, the native supervisor reports it).
    pub fn reloaded(&self, status: &str, accepted: bool) {
        match self {
            Link::Silent => {}
            #[cfg(unix)]
            Link::Notify(notifier) => notifier.reloaded(status, accepted),
            Link::Stdio(output) => output.notice(NoticeEvent::Reloaded, Some(status), Some(accepted)),
        }
    }

    /// The daemon is reloading its configuration.
    pub fn reloading(&self) {
        match self {
            Link::Silent => {}
            #[cfg(unix)]
            Link::Notify(notifier) => notifier.reloading(),
            Link::Stdio(output) => output.notice(NoticeEvent::Reloading, None, None),
        }
    }

    /// The daemon is shutting down, with a status line.
    pub fn stopping(&self, status: &str) {
        match self {
            Link::Silent => {}
            #[cfg(unix)]
            Link::Notify(notifier) => notifier.stopping(status),
            Link::Stdio(output) => output.notice(NoticeEvent::Stopping, Some(status), None),
        }
    }

    /// A status line (the daemon's health, why init failed).
    pub fn status(&self, status: &str) {
        match self {
            Link::Silent => {}
            #[cfg(unix)]
            Link::Notify(notifier) => notifier.status(status),
            Link::Stdio(output) => output.notice(NoticeEvent::Status, Some(status), None),
        }
    }

    /// The daemon is alive (a watchdog ping).
    pub fn watchdog(&self) {
        match self {
            Link::Silent => {}
            #[cfg(unix)]
            Link::Notify(notifier) => notifier.watchdog(),
            Link::Stdio(output) => output.notice(NoticeEvent::Watchdog, None, None),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::net::UnixDatagram;

    use super::*;
    use crate::platform::FakeEnv;

    #[test]
    fn notify_socket_makes_a_listening_link_and_nothing_else_does() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path)?;
        let link = Link::from_env(&FakeEnv::new().with_var("NOTIFY_SOCKET", &path.to_string_lossy()));
        assert!(link.is_listening());
        link.ready("serving");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf)?;
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
        assert!(!Link::from_env(&FakeEnv::new()).is_listening());
        assert!(!Link::from_env(&FakeEnv::new().with_var("NOTIFY_SOCKET", "relative")).is_listening());
        Ok(())
    }
}
