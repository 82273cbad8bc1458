//! The metrics side of `my-daemon run`, in the order the entry point needs it: prepare before the
//! daemon exists (bind the port, install the recorder, count the restart), start on the async
//! runtime, finish when the daemon has stopped. With `[metrics] enabled = false` every step does
//! nothing: no recorder, no task, no timer, no file.
//!
//! A WASI module cannot listen: there the registry records without an exporter (the startup log
//! says so, `crate::wasi`), and its upkeep is a task of the runtime instead of a thread.
//!
//! Built without the `prometheus` feature there is no registry: configuration validation refuses
//! `metrics.enabled = true`, and every step does nothing.

#[cfg(feature = "prometheus")]
use super::Registry;
#[cfg(feature = "prometheus")]
use super::restarts::RestartLog;
use super::{DaemonMetrics, MetricsError};
#[cfg(all(unix, feature = "prometheus"))]
use super::{Exporter, RunningExporter};
use crate::config::settings::MetricsSettings;
use crate::exit::Exit;

/// Metrics of one run of the daemon.
#[derive(Debug)]
pub(crate) struct Setup {
    #[cfg(feature = "prometheus")]
    registry: Option<Registry>,
    #[cfg(all(unix, feature = "prometheus"))]
    exporter: Option<Exporter>,
    #[cfg(all(unix, feature = "prometheus"))]
    running: Option<RunningExporter>,
    #[cfg(all(not(unix), feature = "prometheus"))]
    upkeep: std::time::Duration,
    #[cfg(feature = "prometheus")]
    restarts: Option<RestartLog>,
}

#[cfg(feature = "prometheus")]
impl Setup {
    /// Binds the scrape endpoint and installs the recorder when `settings` enable metrics. A port
    /// that cannot be bound is an error (the daemon must not start without what it was told to
    /// serve); a recorder installed by someone else is logged.
    pub(crate) fn prepare(settings: &MetricsSettings) -> Result<Setup, MetricsError> {
        let registry = settings.enabled.then(Registry::new);
        #[cfg(unix)]
        let exporter = registry.as_ref().map(|registry| Exporter::bind(settings, registry)).transpose()?;
        if let Some(Err(err)) = registry.as_ref().map(Registry::install_globally) {
            tracing::warn!("{err}");
        }
        Ok(Setup {
            registry,
            #[cfg(unix)]
            exporter,
            #[cfg(unix)]
            running: None,
            #[cfg(not(unix))]
            upkeep: settings.upkeep_interval,
            restarts: None,
        })
    }

    /// Counts this start in the restart record of the runtime directory. Called once this process
    /// holds the runtime directory (the control channel's lock), so a second instance that is
    /// refused never touches the record of the one running.
    pub(crate) fn count_restart(&mut self, name: &str) {
        let Some(registry) = &self.registry else { return };
        let dir = crate::platform::Host::from_process().runtime_dir(name);
        match RestartLog::begin(&dir) {
            Ok(log) => {
                registry.set_restarts(log.count());
                self.restarts = Some(log);
            }
            Err(err) => tracing::warn!(
                "cannot count restarts in {}: {err}; duende_restarts_total is left out of the metrics",
                dir.display()
            ),
        }
    }

    /// The daemon's RED handles: in the registry when there is one, otherwise totals only.
    pub(crate) fn daemon_metrics(&self) -> DaemonMetrics {
        self.registry.as_ref().map_or_else(DaemonMetrics::detached, DaemonMetrics::registered)
    }

    /// Starts serving scrapes and running upkeep on `runtime`.
    #[cfg(unix)]
    pub(crate) fn start(&mut self, runtime: &tokio::runtime::Handle) -> Result<(), MetricsError> {
        if let Some(exporter) = self.exporter.take() {
            let running = exporter.start(runtime)?;
            let address = running.local_addr();
            tracing::info!("serving metrics at http://{address}/metrics");
            self.running = Some(running);
        }
        Ok(())
    }

    /// Runs upkeep on `runtime`, every `metrics.upkeep_interval` (nothing serves scrapes here).
    #[cfg(not(unix))]
    pub(crate) fn start(&mut self, runtime: &tokio::runtime::Handle) -> Result<(), MetricsError> {
        if let Some(registry) = self.registry.clone() {
            let upkeep = self.upkeep;
            runtime.spawn(async move {
                let mut every = tokio::time::interval(upkeep);
                loop {
                    every.tick().await;
                    registry.run_upkeep();
                }
            });
        }
        Ok(())
    }

    /// Closes the scrape endpoint and, when the daemon stopped gracefully, records that the next
    /// start is not a restart.
    pub(crate) fn finish(self, exit: Exit) {
        #[cfg(unix)]
        if let Some(running) = self.running {
            running.stop();
        }
        if let Some(restarts) = self.restarts
            && exit == Exit::Success
            && let Err(err) = restarts.stopped_gracefully()
        {
            tracing::warn!("cannot record the graceful stop for the restart count: {err}");
        }
    }
}

/// Without an exporter every step does nothing: validation has refused `metrics.enabled = true`.
#[cfg(not(feature = "prometheus"))]
impl Setup {
    pub(crate) fn prepare(settings: &MetricsSettings) -> Result<Setup, MetricsError> {
        debug_assert!(!settings.enabled, "validation let metrics.enabled = true through without the exporter");
        Ok(Setup {})
    }

    pub(crate) fn count_restart(&mut self, _name: &str) {}

    pub(crate) fn daemon_metrics(&self) -> DaemonMetrics {
        DaemonMetrics::detached()
    }

    pub(crate) fn start(&mut self, _runtime: &tokio::runtime::Handle) -> Result<(), MetricsError> {
        Ok(())
    }

    pub(crate) fn finish(self, _exit: Exit) {}
}
