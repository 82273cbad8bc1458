//! What the runtime knows about the running daemon, shared by everything that reports on it or
//! acts on it from outside: the control channel, the metrics, the test kit. One `Arc<Live>` per
//! daemon; every field is read without blocking the daemon.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::watch;

#[cfg(all(unix, feature = "prometheus"))]
use crate::health::Health;
use crate::health::HealthState;
use crate::link::Link;
use crate::metrics::DaemonMetrics;
use crate::shutdown::Shutdown;

/// The outcome of the latest configuration reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadRecord {
    /// Reloads attempted so far (accepted or rejected).
    pub attempts: u64,
    /// Reloads accepted so far.
    pub accepted: u64,
    /// The configuration generation in effect after the latest attempt (1 before any).
    pub generation: u64,
    /// Why the latest attempt was rejected; `None` when it was accepted (or none was made).
    pub rejected: Option<String>,
}

/// Why a reload could not be requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadRefused {
    /// The reloader has stopped (the daemon is exiting).
    Stopped,
}

/// The running daemon, as the runtime sees it.
#[derive(Debug)]
pub struct Live {
    name: String,
    version: String,
    started: Instant,
    started_at: SystemTime,
    ready_after: OnceLock<Duration>,
    stopped_after: OnceLock<Duration>,
    ready: watch::Sender<bool>,
    health: HealthState,
    shutdown: Shutdown,
    link: Arc<Link>,
    generation: AtomicU64,
    reloads: watch::Sender<ReloadRecord>,
    reloads_started: AtomicU64,
    reload: Sender<()>,
    /// Who asked for each request sent on `reload` and not yet taken by the reloader, oldest
    /// first (for the reloader's log line).
    reload_askers: std::sync::Mutex<std::collections::VecDeque<String>>,
    /// Told of every request queued (or joined): starts a reload thread when none runs.
    reload_queued: OnceLock<QueuedHook>,
    metrics: DaemonMetrics,
}

/// What [`Live::queue_reload`] calls after queuing.
struct QueuedHook(Box<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for QueuedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueuedHook")
    }
}

impl Live {
    /// State for a daemon that starts now. `reload` is the reloader's request queue (capacity 1,
    /// shared with SIGHUP).
    pub(crate) fn new(
        name: &str,
        version: &str,
        shutdown: Shutdown,
        link: Arc<Link>,
        reload: Sender<()>,
        metrics: DaemonMetrics,
    ) -> Arc<Live> {
        #[cfg(feature = "prometheus")]
        let registry = metrics.registry().cloned();
        let live = Arc::new(Live {
            name: name.to_owned(),
            version: version.to_owned(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            ready_after: OnceLock::new(),
            stopped_after: OnceLock::new(),
            ready: watch::Sender::new(false),
            health: HealthState::new(),
            shutdown,
            link,
            generation: AtomicU64::new(1),
            reloads: watch::Sender::new(ReloadRecord { generation: 1, ..ReloadRecord::default() }),
            reloads_started: AtomicU64::new(0),
            reload,
            reload_askers: std::sync::Mutex::new(std::collections::VecDeque::new()),
            reload_queued: OnceLock::new(),
            metrics,
        });
        // The metrics registry (when there is one) reads this daemon's state when it renders.
        #[cfg(feature = "prometheus")]
        if let Some(registry) = registry {
            registry.attach(Arc::downgrade(&live));
        }
        live
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The daemon's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Time since the runtime started (monotonic).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// When the runtime started (wall clock).
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// Records that `init` succeeded and readiness was announced; returns the start-to-ready
    /// latency. Only the first call counts.
    pub(crate) fn mark_ready(&self) -> Duration {
        let latency = *self.ready_after.get_or_init(|| self.started.elapsed());
        self.ready.send_replace(true);
        latency
    }

    /// Resolves once the daemon is ready.
    #[cfg(all(feature = "testing", unix))]
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives in `self`, so the wait can only end by readiness.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Start-to-ready latency, once the daemon is ready.
    pub fn ready_after(&self) -> Option<Duration> {
        self.ready_after.get().copied()
    }

    /// Records that the daemon's `shutdown` has returned (only the first call counts).
    pub(crate) fn mark_stopped(&self) {
        if let Some(requested) = self.shutdown.requested_at() {
            self.stopped_after.get_or_init(|| requested.elapsed());
        }
    }

    /// Time from the shutdown request to the end of the daemon's `shutdown`; while that is still
    /// running, the time since the request. `None` before any request.
    #[cfg(feature = "prometheus")]
    pub fn shutdown_duration(&self) -> Option<Duration> {
        self.stopped_after.get().copied().or_else(|| self.shutdown.requested_at().map(|at| at.elapsed()))
    }

    /// True once `init` succeeded.
    pub fn is_ready(&self) -> bool {
        self.ready_after.get().is_some()
    }

    /// Whether the daemon serves, as a probe asks (`GET /healthz` on the metrics listener): once
    /// `init` succeeded, while no shutdown is under way, and while it is not unhealthy (degraded
    /// still serves); otherwise why not.
    #[cfg(all(unix, feature = "prometheus"))]
    pub fn serving(&self) -> Result<(), String> {
        if self.shutdown.is_triggered() {
            return Err("stopping: a shutdown is under way".to_owned());
        }
        if !self.is_ready() {
            return Err("starting: init has not finished".to_owned());
        }
        match self.health.get() {
            Health::Unhealthy { reason } => Err(format!("unhealthy: {reason}")),
            Health::Healthy { .. } | Health::Degraded { .. } => Ok(()),
        }
    }

    /// The daemon's health (what it reported and what its checks found, the worse of the two).
    pub fn health(&self) -> &HealthState {
        &self.health
    }

    /// The shutdown event.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The sd_notify channel (disabled when there is no service manager listening).
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// The daemon's work metrics.
    pub fn metrics(&self) -> &DaemonMetrics {
        &self.metrics
    }

    /// The configuration generation in effect: 1 at start, +1 per accepted reload.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Starts the graceful shutdown; false when one was already under way. On the first request
    /// `announce` runs and the service manager hears `STOPPING=1` before anything waiting for the
    /// shutdown wakes, so the log says why before it shows the daemon stopping.
    pub(crate) fn begin_shutdown(&self, announce: impl FnOnce()) -> bool {
        self.shutdown.trigger_announced(|| {
            announce();
            self.link.stopping("shutting down");
        })
    }

    /// Requests a graceful shutdown on behalf of `who` (logged); false when one was already
    /// under way.
    pub fn request_stop(&self, who: &str) -> bool {
        self.begin_shutdown(|| tracing::info!("shutdown requested by {who}"))
    }

    /// Queues a reload request from `who` (`SIGHUP`, `the control channel (uid 0, pid 7)`) for
    /// the reloader: true when queued, false when one was already waiting (this one joins it,
    /// and the reload is logged as the first asker's).
    pub(crate) fn queue_reload(&self, who: &str) -> Result<bool, ReloadRefused> {
        let queued = {
            // Held across the send, so the reloader, which takes an asker only after receiving
            // a request, finds this one's there: one asker per request sent, in the same order.
            let mut askers = self.reload_askers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match self.reload.try_send(()) {
                Ok(()) => {
                    askers.push_back(who.to_owned());
                    true
                }
                Err(TrySendError::Full(())) => false,
                Err(TrySendError::Closed(())) => return Err(ReloadRefused::Stopped),
            }
        };
        // Joined requests kick too: a reload thread that could not start is tried again.
        if let Some(QueuedHook(kick)) = self.reload_queued.get() {
            kick();
        }
        Ok(queued)
    }

    /// Sets what every queued reload request calls (the reloader's kick); only the first call
    /// counts.
    #[cfg(unix)]
    pub(crate) fn on_reload_queued(&self, kick: impl Fn() + Send + Sync + 'static) {
        let _ = self.reload_queued.set(QueuedHook(Box::new(kick)));
    }

    /// Requests a configuration reload on behalf of `who`, as SIGHUP does (a request while one
    /// is pending joins it); the ticket resolves to the outcome of the first attempt that starts
    /// after this request.
    pub fn request_reload(&self, who: &str) -> Result<ReloadTicket, ReloadRefused> {
        let mut outcomes = self.reloads.subscribe();
        outcomes.borrow_and_update();
        // The first attempt to start after this point reads the configuration as it is now; one
        // already under way may have read it before, so its outcome does not answer this request.
        let after = self.reloads_started.load(Ordering::Acquire);
        self.queue_reload(who).map(|_| ReloadTicket { after, outcomes })
    }

    /// The latest reload outcome.
    pub fn last_reload(&self) -> ReloadRecord {
        self.reloads.borrow().clone()
    }

    /// Called by the reloader as each attempt begins (once per request received), before it
    /// reads any layer; who asked for it, for its log line.
    pub(crate) fn reload_starting(&self) -> String {
        self.reloads_started.fetch_add(1, Ordering::AcqRel);
        let asker = self.reload_askers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front();
        asker.unwrap_or_else(|| "an earlier request".to_owned())
    }

    /// Called by the reloader after each attempt.
    pub(crate) fn record_reload(&self, generation: u64, rejected: Option<String>) {
        self.generation.store(generation, Ordering::Release);
        self.reloads.send_modify(|record| {
            record.attempts += 1;
            if rejected.is_none() {
                record.accepted += 1;
            }
            record.generation = generation;
            record.rejected = rejected;
        });
    }
}

/// A requested reload, not yet carried out.
#[derive(Debug)]
pub struct ReloadTicket {
    /// Attempts started when the reload was requested: the answer is attempt `after + 1`.
    after: u64,
    outcomes: watch::Receiver<ReloadRecord>,
}

impl ReloadTicket {
    /// The record after the requested reload was attempted; `None` when the daemon stopped first.
    pub async fn outcome(mut self) -> Option<ReloadRecord> {
        let after = self.after;
        self.outcomes.wait_for(|record| record.attempts > after).await.ok().map(|record| record.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> (Arc<Live>, tokio::sync::mpsc::Receiver<()>) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let live = Live::new("svc", "1.0", Shutdown::new(), Arc::new(Link::Silent), tx, DaemonMetrics::new());
        (live, rx)
    }

    #[test]
    fn readiness_is_recorded_once() {
        let (live, _rx) = live();
        assert!(!live.is_ready());
        let first = live.mark_ready();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(live.mark_ready(), first);
        assert_eq!(live.ready_after(), Some(first));
    }

    #[test]
    #[cfg(feature = "prometheus")]
    fn it_serves_once_ready_until_unhealthy_or_stopping() {
        let (live, _rx) = live();
        assert_eq!(live.serving(), Err("starting: init has not finished".to_owned()));
        live.mark_ready();
        assert_eq!(live.serving(), Ok(()));
        live.health().set(Health::degraded("slow"));
        assert_eq!(live.serving(), Ok(()), "degraded still serves");
        live.health().set(Health::unhealthy("disk: gone"));
        assert_eq!(live.serving(), Err("unhealthy: disk: gone".to_owned()));
        live.health().set(Health::healthy());
        live.shutdown().trigger();
        assert_eq!(live.serving(), Err("stopping: a shutdown is under way".to_owned()));
    }

    #[tokio::test]
    async fn a_reload_request_reaches_the_reloader_and_its_outcome_comes_back() {
        let (live, mut rx) = live();
        let outcomes = live.request_reload("SIGHUP").unwrap();
        let again = live.request_reload("test").unwrap();
        rx.try_recv().unwrap();
        assert!(rx.try_recv().is_err(), "a request while one is pending joins it");
        assert_eq!(live.reload_starting(), "SIGHUP", "the reload is the first asker's");
        live.record_reload(2, None);
        let outcome = outcomes.outcome().await.unwrap();
        assert_eq!((outcome.attempts, outcome.accepted, outcome.generation), (1, 1, 2));
        assert_eq!(again.outcome().await.unwrap().generation, 2);
        assert_eq!(live.generation(), 2);
        live.record_reload(2, Some("bad".into()));
        assert_eq!(live.last_reload().rejected.as_deref(), Some("bad"));
        drop(rx);
        assert_eq!(live.request_reload("test").unwrap_err(), ReloadRefused::Stopped);
    }

    #[tokio::test]
    async fn a_reload_already_under_way_does_not_answer_a_later_request() {
        let (live, mut rx) = live();
        live.request_reload("test").unwrap();
        rx.try_recv().unwrap();
        live.reload_starting(); // this attempt read the configuration before the next request
        let ticket = live.request_reload("test").unwrap();
        live.record_reload(2, None);
        let waiting = tokio::spawn(ticket.outcome());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "answered by the attempt that started before the request");
        rx.try_recv().unwrap();
        live.reload_starting();
        live.record_reload(2, Some("now broken".into()));
        let outcome = waiting.await.unwrap().unwrap();
        assert_eq!((outcome.attempts, outcome.rejected.as_deref()), (2, Some("now broken")));
    }

    #[test]
    fn each_reload_is_the_askers_who_sent_its_request_even_when_one_comes_in_between() {
        let (live, mut rx) = live();
        assert_eq!(live.queue_reload("SIGHUP"), Ok(true));
        rx.try_recv().unwrap();
        // The next request arrives after the reloader received the first but before it began.
        assert_eq!(live.queue_reload("the control channel (uid 0, pid 7)"), Ok(true));
        assert_eq!(live.queue_reload("SIGHUP"), Ok(false), "joins the pending one, whose asker stays");
        assert_eq!(live.reload_starting(), "SIGHUP");
        rx.try_recv().unwrap();
        assert_eq!(live.reload_starting(), "the control channel (uid 0, pid 7)");
    }

    #[test]
    fn stop_is_requested_once() {
        let (live, _rx) = live();
        assert!(live.request_stop("test"));
        assert!(!live.request_stop("test"));
        assert!(live.shutdown().is_triggered());
    }
}
