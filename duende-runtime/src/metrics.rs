//! The daemon's own RED metrics (rate, errors, duration) through the `metrics` facade.
//! Handles are resolved once, so recording is one atomic operation when an exporter is installed
//! and nothing at all when none is.

use std::future::Future;
use std::time::Instant;

use metrics::{Counter, Histogram, counter, histogram};

/// Records the daemon's work; cheap to clone.
#[derive(Debug, Clone)]
pub struct DaemonMetrics {
    requests: Counter,
    errors: Counter,
    duration: Histogram,
}

impl Default for DaemonMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl DaemonMetrics {
    /// Handles registered with the current global recorder (a no-op recorder when none).
    pub fn new() -> DaemonMetrics {
        DaemonMetrics {
            requests: counter!("duende_requests_total"),
            errors: counter!("duende_errors_total"),
            duration: histogram!("duende_request_duration_seconds"),
        }
    }

    /// One unit of work done.
    pub fn record_request(&self) {
        self.requests.increment(1);
    }

    /// One unit of work failed.
    pub fn record_error(&self) {
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
        self.requests.increment(1);
        if result.is_err() {
            self.errors.increment(1);
        }
        result
    }
}
