//! One daemon's metrics: a Prometheus recorder of its own, the lifecycle and process metrics
//! registered in it, and the text a scrape returns. Lifecycle values are read from the running
//! daemon and process values from `/proc` when the text is rendered, so no timer keeps them
//! fresh.
//!
//! | name | type | what |
//! | --- | --- | --- |
//! | `duende_requests_total` | counter | units of work recorded ([`DaemonMetrics`](super::DaemonMetrics)) |
//! | `duende_errors_total` | counter | units of work that failed |
//! | `duende_request_duration_seconds` | histogram | time of the work `DaemonMetrics::time` ran |
//! | `duende_uptime_seconds` | gauge | time since the runtime started |
//! | `duende_start_time_seconds` | gauge | when it started, seconds since the Unix epoch |
//! | `duende_restarts_total` | counter | starts after an instance that did not stop gracefully ([`restarts`](super::restarts)) |
//! | `duende_reloads_total{result}` | counter | configuration reloads, `accepted` or `rejected` |
//! | `duende_health_state{state}` | gauge | 1 for the current state (`healthy`, `degraded`, `unhealthy`), 0 for the others |
//! | `duende_health_score` | gauge | 0..=5 while healthy, 0 while degraded or unhealthy |
//! | `duende_ready_latency_seconds` | gauge | start to ready (after `init`); absent before |
//! | `duende_shutdown_duration_seconds` | gauge | shutdown request to the end of `shutdown`, growing while it runs; absent before a request |
//! | `duende_locked_memory_bytes` | gauge | memory pinned: resident bytes of locked mappings (`Rss` of the mappings of `/proc/self/smaps` flagged `lo`; Linux) |
//! | `duende_locked_address_space_bytes` | gauge | `VmLck`: the locked address space, touched or not, what `RLIMIT_MEMLOCK` is charged for (Linux) |
//! | `duende_resident_memory_bytes` | gauge | `VmRSS` (Linux) |
//! | `duende_open_fds` | gauge | open file descriptors (Linux) |
//! | `duende_threads` | gauge | threads of the process (Linux) |

use std::fmt;
use std::sync::{Arc, OnceLock, Weak};
use std::time::UNIX_EPOCH;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::{ERRORS, REQUEST_DURATION, REQUESTS};
use crate::health::Health;
use crate::live::Live;

/// Bucket bounds of `duende_request_duration_seconds`: 100 µs to 10 s.
const DURATION_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

const UPTIME: &str = "duende_uptime_seconds";
const START_TIME: &str = "duende_start_time_seconds";
const RESTARTS: &str = "duende_restarts_total";
const RELOADS: &str = "duende_reloads_total";
const HEALTH_STATE: &str = "duende_health_state";
const HEALTH_SCORE: &str = "duende_health_score";
const READY_LATENCY: &str = "duende_ready_latency_seconds";
const SHUTDOWN_DURATION: &str = "duende_shutdown_duration_seconds";
const LOCKED: &str = "duende_locked_memory_bytes";
const LOCKED_SPACE: &str = "duende_locked_address_space_bytes";
const RESIDENT: &str = "duende_resident_memory_bytes";
const OPEN_FDS: &str = "duende_open_fds";
const THREADS: &str = "duende_threads";

static ACCEPTED: [Label; 1] = [Label::from_static_parts("result", "accepted")];
static REJECTED: [Label; 1] = [Label::from_static_parts("result", "rejected")];
static HEALTHY: [Label; 1] = [Label::from_static_parts("state", "healthy")];
static DEGRADED: [Label; 1] = [Label::from_static_parts("state", "degraded")];
static UNHEALTHY: [Label; 1] = [Label::from_static_parts("state", "unhealthy")];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Every metric the runtime keeps, with its unit and `# HELP` text.
const DESCRIPTIONS: &[(Kind, &str, Option<Unit>, &str)] = &[
    (Kind::Counter, REQUESTS, Some(Unit::Count), "Units of work the daemon recorded."),
    (Kind::Counter, ERRORS, Some(Unit::Count), "Units of work that failed."),
    (Kind::Histogram, REQUEST_DURATION, Some(Unit::Seconds), "Time of the daemon's timed units of work."),
    (Kind::Gauge, UPTIME, Some(Unit::Seconds), "Time since the runtime started."),
    (Kind::Gauge, START_TIME, Some(Unit::Seconds), "When the runtime started, in seconds since the Unix epoch."),
    (
        Kind::Counter,
        RESTARTS,
        Some(Unit::Count),
        "Starts in this runtime directory that followed an instance which did not stop gracefully.",
    ),
    (Kind::Counter, RELOADS, Some(Unit::Count), "Configuration reloads, by result (accepted or rejected)."),
    (Kind::Gauge, HEALTH_STATE, None, "1 for the daemon's current health state, 0 for the others."),
    (Kind::Gauge, HEALTH_SCORE, None, "Health score, 0 to 5 while healthy; 0 while degraded or unhealthy."),
    (Kind::Gauge, READY_LATENCY, Some(Unit::Seconds), "Time from the runtime's start to readiness (after init)."),
    (
        Kind::Gauge,
        SHUTDOWN_DURATION,
        Some(Unit::Seconds),
        "Time from the shutdown request to the end of shutdown (growing while it runs).",
    ),
    (Kind::Gauge, LOCKED, Some(Unit::Bytes), "Memory pinned: resident bytes of the locked mappings."),
    (
        Kind::Gauge,
        LOCKED_SPACE,
        Some(Unit::Bytes),
        "Locked address space (VmLck), touched or not; what RLIMIT_MEMLOCK is charged for.",
    ),
    (Kind::Gauge, RESIDENT, Some(Unit::Bytes), "Resident memory (VmRSS)."),
    (Kind::Gauge, OPEN_FDS, Some(Unit::Count), "Open file descriptors."),
    (Kind::Gauge, THREADS, Some(Unit::Count), "Threads of the process."),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One daemon's metrics, renderable as Prometheus text with or without an HTTP listener; cheap
/// to clone (clones share everything).
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// The daemon whose lifecycle is shown, and the handles that show it (registered on attach,
    /// so a registry without a daemon shows no lifecycle metrics rather than zeros).
    attached: OnceLock<(Weak<Live>, Lifecycle)>,
}

/// Handles of the metrics refreshed at render time.
struct Lifecycle {
    uptime: Gauge,
    start_time: Gauge,
    reloads_accepted: Counter,
    reloads_rejected: Counter,
    health: [Gauge; 3],
    health_score: Gauge,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("attached", &self.live().is_some()).finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with the runtime's metrics described and registered, attached to no daemon yet.
    pub fn new() -> Registry {
        let builder = PrometheusBuilder::new();
        // Only fails for an empty bucket list, which this is not.
        let builder = builder
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), &DURATION_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        for &(kind, name, unit, help) in DESCRIPTIONS {
            let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
            match kind {
                Kind::Counter => recorder.describe_counter(name, unit, help),
                Kind::Gauge => recorder.describe_gauge(name, unit, help),
                Kind::Histogram => recorder.describe_histogram(name, unit, help),
            }
        }
        let handle = recorder.handle();
        Registry { inner: Arc::new(Inner { recorder: Arc::new(recorder), handle, attached: OnceLock::new() }) }
    }

    /// The recorder behind this registry, for `metrics::with_local_recorder` (the daemon's own
    /// metrics in a test, without installing anything globally).
    pub fn recorder(&self) -> &(dyn Recorder + Send + Sync) {
        &*self.inner.recorder
    }

    /// Makes this registry the global recorder, so every `metrics::counter!` (and gauge and
    /// histogram) in the process is recorded here. Fails when a global recorder is already set.
    pub fn install_globally(&self) -> Result<(), super::MetricsError> {
        metrics::set_global_recorder(Arc::clone(&self.inner.recorder)).map_err(|_| super::MetricsError::RecorderTaken)
    }

    /// Refreshes the lifecycle and process metrics, then renders every metric in the Prometheus
    /// text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        self.refresh();
        self.inner.handle.render()
    }

    /// Folds recorded histogram samples into their buckets, so that memory stays bounded between
    /// scrapes; the exporter runs it every `metrics.upkeep_interval`.
    pub fn run_upkeep(&self) {
        self.inner.handle.run_upkeep();
    }

    /// Sets `duende_restarts_total`; until called the metric is absent (the count is unknown).
    pub fn set_restarts(&self, restarts: u64) {
        let restarts_total = self.inner.recorder.register_counter(&Key::from_static_name(RESTARTS), &METADATA);
        restarts_total.absolute(restarts);
    }

    /// The RED handles for [`DaemonMetrics`](super::DaemonMetrics).
    pub(super) fn red_handles(&self) -> (Counter, Counter, Histogram) {
        let recorder = &self.inner.recorder;
        (
            recorder.register_counter(&Key::from_static_name(REQUESTS), &METADATA),
            recorder.register_counter(&Key::from_static_name(ERRORS), &METADATA),
            recorder.register_histogram(&Key::from_static_name(REQUEST_DURATION), &METADATA),
        )
    }

    /// Reads lifecycle values from `live` from now on (the first daemon attached stays).
    pub(crate) fn attach(&self, live: Weak<Live>) {
        self.inner.attached.get_or_init(|| {
            let counter =
                |labels| self.inner.recorder.register_counter(&Key::from_static_parts(RELOADS, labels), &METADATA);
            let state =
                |labels| self.inner.recorder.register_gauge(&Key::from_static_parts(HEALTH_STATE, labels), &METADATA);
            let lifecycle = Lifecycle {
                uptime: self.gauge(UPTIME),
                start_time: self.gauge(START_TIME),
                reloads_accepted: counter(&ACCEPTED),
                reloads_rejected: counter(&REJECTED),
                health: [state(&HEALTHY), state(&DEGRADED), state(&UNHEALTHY)],
                health_score: self.gauge(HEALTH_SCORE),
            };
            (live, lifecycle)
        });
    }

    /// What `GET /healthz` answers: whether the attached daemon serves ([`Live::serving`]); a
    /// registry with no daemon attached has nothing that serves.
    #[cfg(unix)]
    pub(crate) fn serving(&self) -> Result<(), String> {
        self.live().map_or_else(|| Err("no daemon is attached to these metrics".to_owned()), |live| live.serving())
    }

    fn live(&self) -> Option<Arc<Live>> {
        self.inner.attached.get().and_then(|(live, _)| live.upgrade())
    }

    fn refresh(&self) {
        if let Some((live, lifecycle)) =
            self.inner.attached.get().and_then(|(live, lifecycle)| Some((live.upgrade()?, lifecycle)))
        {
            lifecycle.uptime.set(live.uptime().as_secs_f64());
            let started = live.started_at().duration_since(UNIX_EPOCH).unwrap_or_default();
            lifecycle.start_time.set(started.as_secs_f64());
            let reloads = live.last_reload();
            lifecycle.reloads_accepted.absolute(reloads.accepted);
            lifecycle.reloads_rejected.absolute(reloads.attempts.saturating_sub(reloads.accepted));
            let (state, score) = match live.health().get() {
                Health::Healthy { score } => (0, f64::from(score.min(5))),
                Health::Degraded { .. } => (1, 0.0),
                Health::Unhealthy { .. } => (2, 0.0),
            };
            for (index, gauge) in lifecycle.health.iter().enumerate() {
                gauge.set(if index == state { 1.0 } else { 0.0 });
            }
            lifecycle.health_score.set(score);
            if let Some(latency) = live.ready_after() {
                self.gauge(READY_LATENCY).set(latency.as_secs_f64());
            }
            if let Some(duration) = live.shutdown_duration() {
                self.gauge(SHUTDOWN_DURATION).set(duration.as_secs_f64());
            }
        }
        // Registered when first known, so that a target without `/proc` shows no process metrics
        // rather than zeros.
        let sample = process::sample();
        let values = [
            (LOCKED, sample.pinned_bytes),
            (LOCKED_SPACE, sample.vm_lck_bytes),
            (RESIDENT, sample.resident_bytes),
            (THREADS, sample.threads),
            (OPEN_FDS, sample.open_fds),
        ];
        for (name, value) in values {
            if let Some(value) = value {
                self.gauge(name).set(value as f64); // exact below 2^53
            }
        }
    }

    fn gauge(&self, name: &'static str) -> Gauge {
        self.inner.recorder.register_gauge(&Key::from_static_name(name), &METADATA)
    }
}

/// What the kernel says about this process.
mod process {
    /// One reading; a value the kernel did not give is `None`.
    #[derive(Debug, Clone, Copy, Default)]
    pub(super) struct Sample {
        pub(super) pinned_bytes: Option<u64>,
        pub(super) vm_lck_bytes: Option<u64>,
        pub(super) resident_bytes: Option<u64>,
        pub(super) threads: Option<u64>,
        pub(super) open_fds: Option<u64>,
    }

    /// `/proc/self/status`, `/proc/self/fd` and, while memory is locked, `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    pub(super) fn sample() -> Sample {
        let status = std::fs::read_to_string("/proc/self/status").ok().map(|text| crate::mlock::parse_status(&text));
        // The directory handle that lists the descriptors is one of them: not counted.
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| u64::try_from(entries.count()).unwrap_or(u64::MAX).saturating_sub(1));
        let status = status.unwrap_or_default();
        // Nothing locked, nothing pinned: smaps (a walk of every mapping) is read only when needed.
        let pinned_bytes = match status.vm_lck {
            Some(0) => Some(0),
            Some(_) => crate::mlock::pinned_bytes(),
            None => None,
        };
        Sample {
            pinned_bytes,
            vm_lck_bytes: status.vm_lck,
            resident_bytes: status.vm_rss,
            threads: status.threads,
            open_fds,
        }
    }

    /// Other targets have no `/proc`: the process metrics are absent rather than wrong.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn sample() -> Sample {
        Sample::default()
    }
}
