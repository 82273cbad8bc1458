//! The metrics side of `my-daemon run`, in the order the entry point needs it: prepare before the
//! daemon exists (bind the port, install the recorder, count the restart), start on the async
//! runtime, finish when the daemon has stopped. With `[metrics] enabled = false` every step does
//! nothing: no recorder, no task, no timer, no file.

use super::restarts::RestartLog;
use super::{DaemonMetrics, Exporter, MetricsError, Registry, RunningExporter};
use crate::config::settings::MetricsSettings;
use crate::exit::Exit;

/// Metrics of one run of the daemon.
#[derive(Debug)]
pub(crate) struct Setup {
    registry: Option<Registry>,
    exporter: Option<Exporter>,
    running: Option<RunningExporter>,
    restarts: Option<RestartLog>,
}

impl Setup {
    /// Binds the scrape endpoint and installs the recorder when `settings` enable metrics. A port
    /// that cannot be bound is an error (the daemon must not start without what it was told to
    /// serve); a recorder installed by someone else is logged.
    pub(crate) fn prepare(settings: &MetricsSettings) -> Result<Setup, MetricsError> {
        if !settings.enabled {
            return Ok(Setup { registry: None, exporter: None, running: None, restarts: None });
        }
        let registry = Registry::new();
        let exporter = Exporter::bind(settings, &registry)?;
        if let Err(err) = registry.install_globally() {
            tracing::warn!("{err}");
        }
        Ok(Setup { registry: Some(registry), exporter: Some(exporter), running: None, restarts: None })
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
    pub(crate) fn start(&mut self, runtime: &tokio::runtime::Handle) -> Result<(), MetricsError> {
        if let Some(exporter) = self.exporter.take() {
            let running = exporter.start(runtime)?;
            let address = running.local_addr();
            tracing::info!("serving metrics at http://{address}/metrics");
            self.running = Some(running);
        }
        Ok(())
    }

    /// Closes the scrape endpoint and, when the daemon stopped gracefully, records that the next
    /// start is not a restart.
    pub(crate) fn finish(self, exit: Exit) {
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
