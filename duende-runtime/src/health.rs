//! The daemon's own account of its health. It gates the systemd watchdog: while the daemon says
//! it is unhealthy, no `WATCHDOG=1` is sent, so the service manager restarts it.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// How the daemon is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Working; `score` 0 (barely) ... 5 (perfectly).
    Healthy {
        /// 0..=5; values above 5 are read as 5.
        score: u8,
    },
    /// Working, with a problem worth knowing about; the watchdog is still fed.
    Degraded {
        /// What is wrong.
        reason: String,
    },
    /// Not working; the watchdog is no longer fed.
    Unhealthy {
        /// What is wrong.
        reason: String,
    },
}

impl Health {
    /// Fully healthy (score 5).
    pub fn healthy() -> Health {
        Health::Healthy { score: 5 }
    }

    /// Degraded for `reason`.
    pub fn degraded(reason: impl Into<String>) -> Health {
        Health::Degraded { reason: reason.into() }
    }

    /// Unhealthy for `reason`.
    pub fn unhealthy(reason: impl Into<String>) -> Health {
        Health::Unhealthy { reason: reason.into() }
    }

    /// False only for [`Health::Unhealthy`].
    pub fn feeds_watchdog(&self) -> bool {
        !matches!(self, Health::Unhealthy { .. })
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy { score } => write!(f, "healthy (score {})", (*score).min(5)),
            Health::Degraded { reason } => write!(f, "degraded: {reason}"),
            Health::Unhealthy { reason } => write!(f, "unhealthy: {reason}"),
        }
    }
}

/// Shared health state: written by the daemon, read by the watchdog.
#[derive(Debug, Clone)]
pub(crate) struct HealthState {
    tx: Arc<watch::Sender<Health>>,
}

impl HealthState {
    pub(crate) fn new() -> HealthState {
        HealthState { tx: Arc::new(watch::Sender::new(Health::healthy())) }
    }

    /// Sets the health; returns the previous value when it changed.
    pub(crate) fn set(&self, health: Health) -> Option<Health> {
        let mut previous = None;
        self.tx.send_if_modified(|current| {
            if *current == health {
                return false;
            }
            previous = Some(std::mem::replace(current, health));
            true
        });
        previous
    }

    pub(crate) fn get(&self) -> Health {
        self.tx.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unhealthy_starves_the_watchdog() {
        assert!(Health::healthy().feeds_watchdog());
        assert!(Health::degraded("slow disk").feeds_watchdog());
        assert!(!Health::unhealthy("no disk").feeds_watchdog());
    }

    #[test]
    fn state_reports_changes_only() {
        let state = HealthState::new();
        assert_eq!(state.set(Health::healthy()), None);
        assert_eq!(state.set(Health::unhealthy("x")), Some(Health::healthy()));
        assert_eq!(state.get(), Health::unhealthy("x"));
        assert_eq!(Health::Healthy { score: 9 }.to_string(), "healthy (score 5)");
    }
}
