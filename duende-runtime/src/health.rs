//! The daemon's health: what it reports itself and what its named checks find when the runtime
//! runs them on the `[health_check]` schedule. It gates the systemd watchdog: while the daemon is
//! unhealthy no `WATCHDOG=1` is sent, so the service manager restarts it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, watch};

use crate::config::Generation;
use crate::config::HealthCheck;
use crate::link::Link;

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

impl Health {
    /// `healthy`, `degraded` or `unhealthy`.
    pub fn state(&self) -> &'static str {
        match self {
            Health::Healthy { .. } => "healthy",
            Health::Degraded { .. } => "degraded",
            Health::Unhealthy { .. } => "unhealthy",
        }
    }

    /// The score 0..=5: the healthy score, 0 otherwise.
    pub fn score(&self) -> u8 {
        match self {
            Health::Healthy { score } => (*score).min(5),
            Health::Degraded { .. } | Health::Unhealthy { .. } => 0,
        }
    }

    /// The reason given, for degraded and unhealthy.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Healthy { .. } => None,
            Health::Degraded { reason } | Health::Unhealthy { reason } => Some(reason),
        }
    }

    /// How bad it is: higher is worse (unhealthy > degraded > healthy with a lower score).
    fn badness(&self) -> u8 {
        match self {
            Health::Healthy { score } => 5 - (*score).min(5),
            Health::Degraded { .. } => 10,
            Health::Unhealthy { .. } => 20,
        }
    }

    /// The worse of two; `self` on a tie.
    #[must_use]
    pub fn worse(self, other: Health) -> Health {
        if other.badness() > self.badness() { other } else { self }
    }
}

/// What a health check returns: a [`Health`], or a `Result` whose error means unhealthy.
pub trait IntoHealth {
    /// The health this outcome stands for.
    fn into_health(self) -> Health;
}

impl IntoHealth for Health {
    fn into_health(self) -> Health {
        self
    }
}

impl<E: Into<anyhow::Error>> IntoHealth for Result<Health, E> {
    fn into_health(self) -> Health {
        self.unwrap_or_else(|err| Health::unhealthy(format!("{:#}", err.into())))
    }
}

/// Shared health state: what the daemon reported and what its checks found; the worse of the
/// two is the daemon's health, which the watchdog, `status` and the metrics read.
#[derive(Debug, Clone)]
pub(crate) struct HealthState {
    tx: Arc<watch::Sender<Health>>,
    parts: Arc<Mutex<Parts>>,
}

#[derive(Debug)]
struct Parts {
    reported: Health,
    checked: Health,
    checks: Vec<CheckStatus>,
}

/// The latest outcome of one named check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStatus {
    /// The check's name.
    pub name: String,
    /// Its health as it counts now (failures below `retries` count as degraded), its reason
    /// without the check's name.
    pub health: Health,
    /// Failures in a row (a check that hangs past its timeout or panics has failed).
    pub failures: u32,
}

impl HealthState {
    pub(crate) fn new() -> HealthState {
        HealthState {
            tx: Arc::new(watch::Sender::new(Health::healthy())),
            parts: Arc::new(Mutex::new(Parts {
                reported: Health::healthy(),
                checked: Health::healthy(),
                checks: Vec::new(),
            })),
        }
    }

    /// Sets what the daemon itself reports; returns the previous health when the daemon's health
    /// changed.
    pub(crate) fn set(&self, health: Health) -> Option<Health> {
        self.update(|parts| parts.reported = health)
    }

    /// Sets what the checks found; returns the previous health when the daemon's health changed.
    pub(crate) fn set_checked(&self, checked: Health, checks: Vec<CheckStatus>) -> Option<Health> {
        self.update(|parts| {
            parts.checked = checked;
            parts.checks = checks;
        })
    }

    fn update(&self, change: impl FnOnce(&mut Parts)) -> Option<Health> {
        let mut parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut parts);
        let health = parts.reported.clone().worse(parts.checked.clone());
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

    /// The daemon's health.
    pub(crate) fn get(&self) -> Health {
        self.tx.borrow().clone()
    }

    /// The latest outcome of every check, in the order they were declared.
    pub(crate) fn checks(&self) -> Vec<CheckStatus> {
        self.parts.lock().unwrap_or_else(PoisonError::into_inner).checks.clone()
    }
}

type CheckFuture = Pin<Box<dyn Future<Output = Health> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// The checks a daemon declared (usually in `init`); the scheduler reads them every round.
#[derive(Clone, Default)]
pub(crate) struct Checks {
    inner: Arc<Declared>,
}

/// The declared checks by name, and the wake-up for a scheduler waiting for the first one.
#[derive(Default)]
struct Declared {
    list: Mutex<Vec<(String, CheckFn)>>,
    added: Notify,
}

impl fmt::Debug for Checks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Checks {
    /// Declares `check` as `name`; a check of the same name is replaced (and that is logged).
    pub(crate) fn add<F, Fut>(&self, name: String, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHealth,
    {
        let run: CheckFn = Arc::new(move || {
            let future = check();
            Box::pin(async move { future.await.into_health() })
        });
        let mut list = self.inner.list.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = list.iter_mut().find(|(existing, _)| *existing == name) {
            tracing::warn!(check = %name, "a health check of this name was declared again; the new one replaces it");
            slot.1 = run;
        } else {
            list.push((name, run));
        }
        self.inner.added.notify_one();
    }

    fn is_empty(&self) -> bool {
        self.inner.list.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    fn names(&self) -> Vec<String> {
        self.snapshot().into_iter().map(|(name, _)| name).collect()
    }

    fn snapshot(&self) -> Vec<(String, CheckFn)> {
        self.inner.list.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Resolves once at least one check is declared.
    async fn any(&self) {
        loop {
            let added = self.inner.added.notified();
            if !self.is_empty() {
                return;
            }
            added.await;
        }
    }
}

/// Runs the declared checks every `interval` of `[health_check]`, each bounded by `timeout`, and
/// publishes what they found. Reads the settings anew each round, so a reload applies; while
/// checks are disabled, or none is declared, it waits without a timer.
pub(crate) async fn schedule<C>(
    checks: Checks,
    state: HealthState,
    link: Arc<Link>,
    mut settings: watch::Receiver<Generation<C>>,
) {
    let mut tracker = Tracker::default();
    loop {
        let config = settings.borrow_and_update().settings.health_check.clone();
        if !config.enabled {
            if state.set_checked(Health::healthy(), Vec::new()).is_some() {
                tracing::info!("health checks disabled");
            }
            changed(&mut settings).await;
            continue;
        }
        if checks.is_empty() {
            tokio::select! {
                () = checks.any() => {}
                () = changed(&mut settings) => {}
            }
            continue;
        }
        let started = tokio::time::Instant::now();
        let (health, statuses) = round(&checks, &config, &mut tracker).await;
        if let Some(previous) = state.set_checked(health, statuses) {
            announce(&previous, &state.get(), &link);
        }
        tokio::select! {
            () = tokio::time::sleep_until(started + config.interval) => {}
            () = changed(&mut settings) => {}
        }
    }
}

/// What the scheduler remembers between rounds.
#[derive(Debug, Default)]
struct Tracker {
    /// Failures in a row, per check.
    failures: BTreeMap<String, u32>,
    /// Checks that did not finish by their round's deadline and have not finished since (one that
    /// blocks its thread cannot be cancelled): no second copy is started while one is stuck.
    stuck: BTreeMap<String, (tokio::task::JoinHandle<()>, tokio::time::Instant)>,
}

/// One round: every check at once, the round bounded by the timeout. A check still running at
/// the deadline has failed; it is cancelled, and while it cannot be (it blocks its thread) it
/// is not started again, so a stuck check holds at most one worker thread.
async fn round(checks: &Checks, config: &HealthCheck, tracker: &mut Tracker) -> (Health, Vec<CheckStatus>) {
    let list = checks.snapshot();
    let started = tokio::time::Instant::now();
    let (results, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let mut outcomes: Vec<Option<Health>> = vec![None; list.len()];
    let mut tasks: Vec<Option<tokio::task::JoinHandle<()>>> = Vec::with_capacity(list.len());
    for (index, (name, check)) in list.iter().enumerate() {
        if let Some((task, since)) = tracker.stuck.get(name) {
            if !task.is_finished() {
                let running = humantime::format_duration(round_to_millis(since.elapsed()));
                outcomes[index] =
                    Some(Health::unhealthy(format!("still running after {running}, since an earlier round")));
                tasks.push(None);
                continue;
            }
            tracker.stuck.remove(name);
        }
        let check = Arc::clone(check);
        let results = results.clone();
        // The check is called inside its task, so a panic in the call, not only in the future it
        // returns, is caught there and counts as a failure instead of ending the scheduler.
        tasks.push(Some(tokio::spawn(async move {
            let health = check().await;
            let _ = results.send((index, health));
        })));
    }
    drop(results);
    let deadline = started + config.timeout;
    loop {
        tokio::select! {
            result = arrived.recv() => match result {
                Some((index, health)) => outcomes[index] = Some(health),
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    while let Ok((index, health)) = arrived.try_recv() {
        outcomes[index] = Some(health);
    }
    for (index, task) in tasks.into_iter().enumerate() {
        let Some(task) = task else { continue };
        if outcomes[index].is_some() {
            continue;
        }
        outcomes[index] = Some(if task.is_finished() {
            // Ended without a result: it panicked.
            Health::unhealthy("the check panicked")
        } else {
            task.abort();
            tracker.stuck.insert(list[index].0.clone(), (task, started));
            Health::unhealthy(format!("did not finish within {}", humantime::format_duration(config.timeout)))
        });
    }
    tracker.failures.retain(|name, _| list.iter().any(|(declared, _)| declared == name));
    tracker.stuck.retain(|name, _| list.iter().any(|(declared, _)| declared == name));
    let retries = config.retries.max(1);
    let mut overall = Health::healthy();
    let mut statuses = Vec::with_capacity(list.len());
    for ((name, _), outcome) in list.iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| Health::unhealthy("the check panicked"));
        let count = tracker.failures.entry(name.clone()).or_default();
        // The check's own health says nothing of its name (it is shown beside it); the daemon's
        // says which check it comes from.
        let health = if let Health::Unhealthy { reason } = &outcome {
            *count = count.saturating_add(1);
            if *count >= retries {
                outcome
            } else {
                tracing::warn!(check = %name, failures = *count, retries, "health check failed: {reason}");
                Health::degraded(format!("failing ({} of {retries}): {reason}", *count))
            }
        } else {
            *count = 0;
            outcome
        };
        let named = match &health {
            Health::Degraded { reason } => Health::degraded(format!("{name}: {reason}")),
            Health::Unhealthy { reason } => Health::unhealthy(format!("{name}: {reason}")),
            healthy => healthy.clone(),
        };
        overall = overall.worse(named);
        statuses.push(CheckStatus { name: name.clone(), health, failures: *count });
    }
    (overall, statuses)
}

/// `duration` without its sub-millisecond part, for messages.
fn round_to_millis(duration: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

/// Resolves when a reload changed the configuration; never when no reload can happen any more.
async fn changed<C>(settings: &mut watch::Receiver<Generation<C>>) {
    if settings.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Tells of a change of the daemon's health (`now`, the worse of what it reported and what its
/// checks found): `STATUS=` for the service manager, and a log line at the new state's level; a
/// new reason in the same state is logged at debug level only, so a reason that changes every
/// round (an age, a count) does not flood the log.
pub(crate) fn announce(previous: &Health, now: &Health, link: &Link) {
    link.status(&now.to_string());
    if previous.state() == now.state() {
        tracing::debug!("health: {now} (was {previous})");
        return;
    }
    match now {
        Health::Unhealthy { .. } => tracing::error!("health: {now} (was {previous}); the watchdog is no longer fed"),
        Health::Degraded { .. } => tracing::warn!("health: {now} (was {previous})"),
        Health::Healthy { .. } => tracing::info!("health: {now} (was {previous})"),
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
    fn what_is_announced_is_the_daemons_health_not_the_part_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let link = Link::Notify(crate::notify::Notifier::from_socket_var(Some(path.to_str().unwrap())).unwrap());
        let recv = || {
            let mut buf = [0u8; 256];
            let n = socket.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let state = HealthState::new();
        let previous = state.set_checked(Health::unhealthy("disk: gone"), Vec::new()).unwrap();
        announce(&previous, &state.get(), &link);
        assert_eq!(recv(), "STATUS=unhealthy: disk: gone");
        assert_eq!(state.set(Health::degraded("slow")), None, "the checks are worse: the daemon's health is unchanged");
        let previous = state.set_checked(Health::healthy(), Vec::new()).unwrap();
        announce(&previous, &state.get(), &link);
        assert_eq!(recv(), "STATUS=degraded: slow", "now what the daemon reported is the worse");
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
