//! A spool daemon with a health check. Every tick it writes a heartbeat file into its spool
//! directory (a request when that works, an error when it does not); the `spool` check finds the
//! daemon unhealthy when the last heartbeat is older than three ticks, so a spool that vanishes
//! or turns read-only makes the daemon unhealthy. Under systemd (`WatchdogSec=` comes with
//! `[health_check] enabled = true`) the watchdog then starves and the manager restarts it.
//!
//! ```text
//! mkdir -p /tmp/spool
//! cargo run --example 04_health -- --set app.spool=/tmp/spool \
//!     --set health_check.enabled=true --set health_check.interval=2s &
//! cargo run --example 04_health -- status    # health: healthy (score 5)
//! rm -r /tmp/spool                           # a few seconds later: unhealthy
//! ```
//!
//! With `app.blocking = true` each tick blocks the daemon's own thread (as a synchronous storage
//! call would): the checks still run on their own schedule, on the runtime's worker threads.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use duende::prelude::*;
use serde::{Deserialize, Serialize};

/// The `[app]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// The spool directory; empty means `$STATE_DIRECTORY` (which systemd sets for the unit's
    /// `StateDirectory=`).
    pub spool: PathBuf,
    /// Milliseconds between heartbeats, 10..=60000.
    pub interval_ms: u64,
    /// Do each tick's work synchronously, blocking the daemon's thread.
    pub blocking: bool,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig { spool: PathBuf::new(), interval_ms: 1000, blocking: false }
    }
}

/// The spool daemon.
struct Spool {
    dir: PathBuf,
    /// Milliseconds since `epoch` of the last heartbeat that was written.
    last_beat: Arc<AtomicU64>,
    epoch: Instant,
}

impl Spool {
    fn beat(&self, ctx: &DaemonContext<SpoolConfig>, n: u64) {
        match std::fs::write(self.dir.join("heartbeat"), n.to_string()) {
            Ok(()) => {
                let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.last_beat.store(now, Ordering::Release);
                ctx.metrics().record_request();
            }
            Err(err) => {
                ctx.metrics().record_error();
                if n % 10 == 1 {
                    eprintln!("heartbeat {n} failed: {err}");
                }
            }
        }
    }
}

impl Daemon for Spool {
    type Config = SpoolConfig;

    fn validate(config: &SpoolConfig) -> Result<(), Vec<Violation>> {
        if !(10..=60_000).contains(&config.interval_ms) {
            return Err(vec![Violation::new("interval_ms", "must be between 10 and 60000")]);
        }
        Ok(())
    }

    async fn init(&mut self, ctx: &mut DaemonContext<SpoolConfig>) -> Result<()> {
        let app = ctx.app();
        self.dir = if app.spool.as_os_str().is_empty() {
            let state = std::env::var_os("STATE_DIRECTORY")
                .context("app.spool is not set and there is no $STATE_DIRECTORY; set app.spool")?;
            PathBuf::from(state)
        } else {
            app.spool.clone()
        };
        anyhow::ensure!(self.dir.is_dir(), "the spool {} is not a directory", self.dir.display());
        self.beat(ctx, 0);

        let last_beat = Arc::clone(&self.last_beat);
        let epoch = self.epoch;
        let stale_after = Duration::from_millis(app.interval_ms * 3);
        ctx.add_health_check("spool", move || {
            let last = Duration::from_millis(last_beat.load(Ordering::Acquire));
            let age = epoch.elapsed().saturating_sub(last);
            async move {
                if age <= stale_after {
                    Health::healthy()
                } else {
                    Health::unhealthy(format!("no heartbeat written for over {} ms", stale_after.as_millis()))
                }
            }
        });
        println!("spooling to {}", self.dir.display());
        Ok(())
    }

    async fn run(&mut self, ctx: &mut DaemonContext<SpoolConfig>) -> Result<ExitReason> {
        let interval = Duration::from_millis(ctx.app().interval_ms);
        let mut tick = duende::tokio::time::interval(interval);
        let mut n = 0;
        loop {
            if ctx.app().blocking {
                std::thread::sleep(interval);
                if ctx.is_shutting_down() {
                    return Ok(ExitReason::Graceful);
                }
            } else {
                duende::tokio::select! {
                    () = ctx.shutdown_requested() => return Ok(ExitReason::Graceful),
                    _ = tick.tick() => {}
                }
            }
            n += 1;
            self.beat(ctx, n);
        }
    }
}

#[duende::main(name = "spool")]
fn main() -> Spool {
    Spool { dir: PathBuf::new(), last_beat: Arc::default(), epoch: Instant::now() }
}
