//! Metrics through the `metrics` facade: the daemon's RED metrics (rate, errors, duration),
//! recorded through [`DaemonMetrics`], and the runtime's lifecycle and process metrics, kept in a
//! per-daemon [`Registry`] that renders the Prometheus text format.
//!
//! With `[metrics] enabled = true` the registry's recorder is also installed as the global one (so
//! the daemon's own `metrics::counter!` calls are exported too) and [`Exporter`] serves it over
//! HTTP (on Unix; a WASI module has no listener, see `crate::wasi`). With metrics off there is no recorder, no task and no timer: recording a request is one
//! atomic add for the totals `status` shows.
//!
//! Every name follows the Prometheus conventions: a `duende_` prefix, base units (`_seconds`,
//! `_bytes`), `_total` for counters. See [`Registry`] for the list.

mod error;
#[cfg(all(unix, feature = "prometheus"))]
mod exporter;
#[cfg(all(unix, feature = "prometheus"))]
mod http;
#[cfg(feature = "prometheus")]
mod registry;
pub mod restarts;
mod setup;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use metrics::{Counter, Histogram, counter, histogram};
use serde::Serialize;

pub use error::MetricsError;
#[cfg(all(unix, feature = "prometheus"))]
pub use exporter::{Exporter, RunningExporter};
#[cfg(feature = "prometheus")]
pub use registry::Registry;
pub(crate) use setup::Setup;

/// `duende_requests_total`.
pub const REQUESTS: &str = "duende_requests_total";
/// `duende_errors_total`.
pub const ERRORS: &str = "duende_errors_total";
/// `duende_request_duration_seconds`.
pub const REQUEST_DURATION: &str = "duende_request_duration_seconds";

/// Records the daemon's work; cheap to clone.
#[derive(Debug, Clone)]
pub struct DaemonMetrics {
    requests: Counter,
    errors: Counter,
    duration: Histogram,
    totals: Arc<Totals>,
    #[cfg(feature = "prometheus")]
    registry: Option<Registry>,
}

/// Running totals kept whether or not an exporter is on, for `status`.
#[derive(Debug, Default)]
struct Totals {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// The totals `status` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Units of work recorded.
    pub requests_total: u64,
    /// Units of work that failed.
    pub errors_total: u64,
}

impl Default for DaemonMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl DaemonMetrics {
    /// Handles registered with the current global recorder (a no-op recorder when none).
    pub fn new() -> DaemonMetrics {
        DaemonMetrics::with_handles(counter!(REQUESTS), counter!(ERRORS), histogram!(REQUEST_DURATION))
    }

    /// Totals only, for `status`: no recorder at all (what the runtime uses with metrics off).
    pub fn detached() -> DaemonMetrics {
        DaemonMetrics::with_handles(Counter::noop(), Counter::noop(), Histogram::noop())
    }

    /// Handles registered in `registry`, whose [`Registry::render`] then shows them (what the
    /// runtime uses with metrics on, and what a test uses to read one daemon's metrics).
    #[cfg(feature = "prometheus")]
    pub fn registered(registry: &Registry) -> DaemonMetrics {
        let (requests, errors, duration) = registry.red_handles();
        DaemonMetrics { registry: Some(registry.clone()), ..DaemonMetrics::with_handles(requests, errors, duration) }
    }

    fn with_handles(requests: Counter, errors: Counter, duration: Histogram) -> Self {
        DaemonMetrics {
            requests,
            errors,
            duration,
            totals: Arc::default(),
            #[cfg(feature = "prometheus")]
            registry: None,
        }
    }

    /// The registry these handles belong to, when they belong to one.
    #[cfg(feature = "prometheus")]
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }

    /// The totals so far.
    pub fn summary(&self) -> Summary {
        Summary {
            requests_total: self.totals.requests.load(Ordering::Relaxed),
            errors_total: self.totals.errors.load(Ordering::Relaxed),
        }
    }

    /// One unit of work done.
    pub fn record_request(&self) {
        self.totals.requests.fetch_add(1, Ordering::Relaxed);
        self.requests.increment(1);
    }

    /// One unit of work failed.
    pub fn record_error(&self) {
        self.totals.errors.fetch_add(1, Ordering::Relaxed);
        self.errors.increment(1);
    }

    /// Runs `work`, recording a request, its duration, and an error when it returns `Err`.
    pub async fn time<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let start = Instant::now();
        let result = work.await;
        self.duration.record(start.elapsed().as_secs_f64());
        self.record_request();
        if result.is_err() {
            self.record_error();
        }
        result
    }
}

// The registry and exporter are what these test.
#[cfg(all(test, feature = "prometheus"))]
mod tests;
