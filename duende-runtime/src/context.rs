//! What a running daemon sees of the runtime: its configuration, the shutdown event, the
//! signals meant for it, status reporting and metrics.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, watch};

use crate::config::{Generation, Settings};
use crate::health::{CheckStatus, Checks, Health, IntoHealth};
use crate::live::Live;
use crate::metrics::DaemonMetrics;

/// Something that happened to the daemon, delivered in order by [`DaemonContext::next_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// SIGUSR1 arrived.
    User1,
    /// SIGUSR2 arrived.
    User2,
    /// SIGCONT arrived: the process was stopped and has been resumed.
    Continued,
    /// SIGHUP re-read every configuration layer; the new configuration is in effect.
    Reloaded {
        /// The configuration generation now in effect (1 is the one the daemon started with).
        generation: u64,
    },
    /// SIGHUP re-read the configuration but it was invalid; the previous one stays in effect.
    ReloadRejected {
        /// Every problem found, as logged.
        reason: String,
    },
}

/// Queues an event for the daemon without waiting; a full queue drops it (logged at debug).
pub(crate) fn deliver(events: &mpsc::Sender<Event>, event: Event) {
    if let Err(mpsc::error::TrySendError::Full(event)) = events.try_send(event) {
        tracing::debug!(?event, "event queue full (the daemon is not reading events); dropped");
    }
}

/// Which signal events are queued and not yet read: a signal of a kind already waiting is
/// coalesced into it, as the kernel coalesces pending signals. So a flood of one kind can never
/// crowd another out of the queue.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    user1: AtomicBool,
    user2: AtomicBool,
    continued: AtomicBool,
}

impl Pending {
    fn flag(&self, event: &Event) -> Option<&AtomicBool> {
        match event {
            Event::User1 => Some(&self.user1),
            Event::User2 => Some(&self.user2),
            Event::Continued => Some(&self.continued),
            _ => None,
        }
    }

    /// Marks `event` as queued; false when one of its kind is already waiting.
    #[cfg(unix)]
    pub(crate) fn claim(&self, event: &Event) -> bool {
        self.flag(event).is_none_or(|flag| !flag.swap(true, Ordering::AcqRel))
    }

    /// `event` has left the queue (read, or never queued).
    pub(crate) fn release(&self, event: &Event) {
        if let Some(flag) = self.flag(event) {
            flag.store(false, Ordering::Release);
        }
    }
}

/// The daemon's view of the runtime, passed to `init`, `run` and `shutdown`.
#[derive(Debug)]
pub struct DaemonContext<C> {
    config: watch::Receiver<Generation<C>>,
    live: Arc<Live>,
    events: mpsc::Receiver<Event>,
    pending: Arc<Pending>,
    checks: Checks,
    args: Vec<String>,
}

impl<C> DaemonContext<C> {
    pub(crate) fn new(
        config: watch::Receiver<Generation<C>>,
        live: Arc<Live>,
        events: mpsc::Receiver<Event>,
        pending: Arc<Pending>,
        args: Vec<String>,
    ) -> Self {
        DaemonContext { config, live, events, pending, checks: Checks::default(), args }
    }

    pub(crate) fn checks(&self) -> &Checks {
        &self.checks
    }

    pub(crate) fn config_receiver(&self) -> watch::Receiver<Generation<C>> {
        self.config.clone()
    }

    pub(crate) fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Reports how the daemon is doing. The daemon's health is the worse of this and what its
    /// checks find; while that is [`Health::Unhealthy`] the systemd watchdog is no longer fed, so a
    /// manager with `WatchdogSec=` restarts the daemon. A change of it is logged and published as
    /// `STATUS=`.
    pub fn report_health(&self, health: Health) {
        let state = self.live.health();
        if let Some(previous) = state.set(health) {
            crate::health::announce(&previous, &state.get(), self.live.link());
        }
    }

    /// The daemon's health: the worse of what it reported and what its checks found (healthy
    /// until either says otherwise).
    pub fn health(&self) -> Health {
        self.live.health().get()
    }

    /// Declares a named health check. While `[health_check] enabled = true` the runtime runs every
    /// declared check each `interval`, on the async runtime's worker threads (so they run while
    /// `run` is busy), each bounded by `timeout`: one that takes longer, panics, returns
    /// [`Health::Unhealthy`] or an `Err` has failed, and `retries` failures in a row make the daemon
    /// unhealthy (fewer count as degraded). The daemon's health is the worst of its checks and of
    /// what it reports with [`report_health`](Self::report_health).
    ///
    /// Declare checks in `init`; a check declared later joins the next round, and declaring a
    /// name again replaces the earlier check. The closure is called once per round and must
    /// capture what it looks at by value (an `Arc`, a channel, a path), since `run` holds the daemon.
    ///
    /// ```
    /// # use duende_runtime::{DaemonContext, Health, NoConfig};
    /// # fn declare(ctx: &mut DaemonContext<NoConfig>) {
    /// let spool = std::path::PathBuf::from("/var/spool/demo");
    /// ctx.add_health_check("spool", move || {
    ///     let spool = spool.clone();
    ///     async move {
    ///         match std::fs::metadata(&spool) {
    ///             Ok(_) => Health::healthy(),
    ///             Err(err) => Health::unhealthy(format!("{}: {err}", spool.display())),
    ///         }
    ///     }
    /// });
    /// # }
    /// ```
    pub fn add_health_check<F, Fut>(&self, name: impl Into<String>, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHealth,
    {
        self.checks.add(name.into(), check);
    }

    /// The latest outcome of each declared check, in the order they were declared (empty until
    /// the first round has run).
    pub fn health_checks(&self) -> Vec<CheckStatus> {
        self.live.health().checks()
    }

    /// The configuration in effect now. A reload swaps it atomically: a value obtained here
    /// never changes under the caller.
    pub fn config(&self) -> Arc<Settings<C>> {
        Arc::clone(&self.config.borrow().settings)
    }

    /// The daemon's own `[app]` section in effect now.
    pub fn app(&self) -> AppConfig<C> {
        AppConfig(self.config())
    }

    /// The configuration generation in effect: 1 at start, +1 per accepted reload.
    pub fn generation(&self) -> u64 {
        self.config.borrow().number
    }

    /// The daemon's own command-line arguments: what follows `--` after `run`
    /// (`my-daemon run -- --port 8080`). Service managers pass the configuration's `args` there.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The service name.
    pub fn name(&self) -> String {
        self.config.borrow().settings.name.clone()
    }

    /// Resolves when shutdown has been requested (SIGTERM, SIGINT, SIGQUIT, or
    /// [`request_shutdown`](Self::request_shutdown)). It borrows nothing, so it fits in
    /// `tokio::select!` beside futures that use the context.
    pub fn shutdown_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        self.live.shutdown().wait()
    }

    /// True once shutdown has been requested: a cheap check for tight loops.
    pub fn is_shutting_down(&self) -> bool {
        self.live.shutdown().is_triggered()
    }

    /// Asks the runtime to stop the daemon, as SIGTERM would.
    pub fn request_shutdown(&self) {
        self.live.request_stop("the daemon");
    }

    /// The next signal or reload outcome for the daemon. Resolves to `None` only when the runtime
    /// is gone. Signals of a kind already waiting to be read coalesce into it, as pending signals
    /// do in the kernel; reload outcomes queue (up to 64 unread; beyond that they are dropped and
    /// a debug line is logged).
    pub async fn next_event(&mut self) -> Option<Event> {
        let event = self.events.recv().await?;
        self.pending.release(&event);
        Some(event)
    }

    /// Publishes a one-line status (`STATUS=` under systemd; logged at debug level everywhere).
    pub fn set_status(&self, status: &str) {
        tracing::debug!(status, "status");
        self.live.link().status(status);
    }

    /// The daemon's RED metrics.
    pub fn metrics(&self) -> &DaemonMetrics {
        self.live.metrics()
    }
}

/// A snapshot of the daemon's `[app]` section; dereferences to it.
#[derive(Debug)]
pub struct AppConfig<C>(Arc<Settings<C>>);

impl<C> std::ops::Deref for AppConfig<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0.app
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_signal_coalesces_the_next_of_its_kind_only() {
        let pending = Pending::default();
        assert!(pending.claim(&Event::User1));
        assert!(!pending.claim(&Event::User1), "a second USR1 joins the waiting one");
        assert!(pending.claim(&Event::User2), "other kinds are not affected");
        assert!(pending.claim(&Event::Reloaded { generation: 2 }), "reload outcomes never coalesce");
        assert!(pending.claim(&Event::Reloaded { generation: 3 }));
        pending.release(&Event::User1);
        assert!(pending.claim(&Event::User1), "after it was read, the next USR1 queues again");
    }
}
