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
//! daemon needs no variant of its own there. WOS's stop path is a further variant of this type.

use crate::notify::Notifier;
use crate::platform::EnvView;

/// The daemon's channel to its manager.
#[derive(Debug)]
pub enum Link {
    /// Nobody listens.
    Silent,
    /// sd_notify on `$NOTIFY_SOCKET` (systemd, the native supervisor).
    Notify(Notifier),
}

impl Link {
    /// The link the environment names: `$NOTIFY_SOCKET` when set, otherwise silent. An unusable
    /// `$NOTIFY_SOCKET` is logged and leaves the daemon silent: it still runs, and says why its
    /// manager will not hear from it.
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

    /// True when a manager listens.
    pub fn is_listening(&self) -> bool {
        matches!(self, Link::Notify(_))
    }

    /// The daemon is ready, with a status line.
    pub fn ready(&self, status: &str) {
        if let Link::Notify(notifier) = self {
            notifier.ready(status);
        }
    }

    /// A reload is over: ready again, with a status line and whether the new configuration was
    /// taken (`X_DUENDE_RELOAD=accepted|rejected`, a variable of our own as sd_notify(3) allows:
    /// systemd ignores it, the native supervisor reports it).
    pub fn reloaded(&self, status: &str, accepted: bool) {
        if let Link::Notify(notifier) = self {
            notifier.reloaded(status, accepted);
        }
    }

    /// The daemon is reloading its configuration.
    pub fn reloading(&self) {
        if let Link::Notify(notifier) = self {
            notifier.reloading();
        }
    }

    /// The daemon is shutting down, with a status line.
    pub fn stopping(&self, status: &str) {
        if let Link::Notify(notifier) = self {
            notifier.stopping(status);
        }
    }

    /// A status line (the daemon's health, why init failed).
    pub fn status(&self, status: &str) {
        if let Link::Notify(notifier) = self {
            notifier.status(status);
        }
    }

    /// The daemon is alive (a watchdog ping).
    pub fn watchdog(&self) {
        if let Link::Notify(notifier) = self {
            notifier.watchdog();
        }
    }
}

#[cfg(test)]
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
