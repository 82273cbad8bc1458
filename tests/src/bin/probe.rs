//! A daemon whose behaviour the integration tests steer through its `[app]` section. It prints
//! one line per lifecycle step and event on stdout, flushed, so tests can follow it.

use std::io::Write;
use std::time::Duration;

use duende::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ProbeConfig {
    /// `init` returns an error.
    fail_init: bool,
    /// `run` returns an error right away.
    fail_run: bool,
    /// `run` panics right away.
    panic_run: bool,
    /// `init` takes this long.
    init_delay_ms: u64,
    /// `run` occupies every async worker thread with blocking work that never yields.
    block_workers: bool,
    /// After this many milliseconds of `run`, report itself unhealthy (0: never).
    unhealthy_after_ms: u64,
    /// `run` reads no events for this long first.
    deaf_ms: u64,
    /// `shutdown` takes this long.
    shutdown_delay_ms: u64,
    /// `shutdown` blocks the daemon's own thread for good (so only the timeout ends it).
    block_shutdown: bool,
    /// `run` ignores the shutdown request (so only the timeout or a second signal ends it).
    ignore_shutdown: bool,
    /// A label echoed on reload, to see which configuration is in effect.
    label: String,
    /// Must not be negative (exercises the daemon's own validation).
    level: i64,
    /// Declare a health check `stuck` that blocks its thread and never returns.
    stuck_check: bool,
    /// `run` returns an error (a crash, a non-zero exit) when a reload brings this in; a start
    /// with it set runs as usual.
    crash_on_reload: bool,
    /// Meanwhile `run` does work of its own: this many requests every millisecond, each hashed,
    /// kept in a bounded log of the latest ones and recorded in the daemon's metrics (0: none).
    /// The count done is printed when `run` returns.
    work_per_ms: u32,
}

struct Probe;

/// The daemon's own work, on a task beside `run`'s event loop.
struct Work {
    task: duende::tokio::task::JoinHandle<()>,
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Work {
    fn start(metrics: duende::DaemonMetrics, per_ms: u32) -> Work {
        use std::sync::atomic::Ordering::Relaxed;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = std::sync::Arc::clone(&done);
        let task = duende::tokio::spawn(async move {
            let mut latest = std::collections::VecDeque::with_capacity(256);
            let mut tick = duende::tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(duende::tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                for _ in 0..per_ms {
                    n += 1;
                    let hash = (0..256).fold(n, |h, _| h.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                    if latest.len() == 256 {
                        latest.pop_front();
                    }
                    latest.push_back(format!("request {n} {hash:016x}"));
                    metrics.record_request();
                    counted.store(n, Relaxed);
                }
            }
        });
        Work { task, done }
    }

    /// Stops the work; how many requests it did.
    async fn stop(self) -> u64 {
        self.task.abort();
        let _ = self.task.await;
        self.done.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

impl Daemon for Probe {
    type Config = ProbeConfig;

    fn validate(config: &ProbeConfig) -> Result<(), Vec<Violation>> {
        if config.level < 0 {
            return Err(vec![Violation::new("level", "must be 0 or more")]);
        }
        Ok(())
    }

    async fn init(&mut self, ctx: &mut DaemonContext<ProbeConfig>) -> Result<()> {
        say(&format!("init label={}", ctx.app().label));
        say(&format!("args={:?}", ctx.args()));
        let mut echo: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("ECHO_")).collect();
        echo.sort();
        for (key, value) in echo {
            say(&format!("env {key}={value:?}"));
        }
        if ctx.app().stuck_check {
            ctx.add_health_check("stuck", || async {
                std::thread::sleep(Duration::from_secs(3600));
                Health::healthy()
            });
        }
        duende::tokio::time::sleep(Duration::from_millis(ctx.app().init_delay_ms)).await;
        say("init done");
        if ctx.app().fail_init {
            anyhow::bail!("told to fail in init");
        }
        Ok(())
    }

    async fn run(&mut self, ctx: &mut DaemonContext<ProbeConfig>) -> Result<ExitReason> {
        say("run");
        // A metric of the daemon's own, through the `metrics` facade (exported when metrics are on).
        metrics::counter!("probe_runs_total").increment(1);
        if ctx.app().deaf_ms > 0 {
            say("deaf");
            duende::tokio::time::sleep(Duration::from_millis(ctx.app().deaf_ms)).await;
            say("listening");
        }
        if ctx.app().fail_run {
            anyhow::bail!("told to fail in run");
        }
        assert!(!ctx.app().panic_run, "told to panic in run");
        if ctx.app().block_workers {
            let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            for _ in 0..workers {
                duende::tokio::spawn(async {
                    loop {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                });
            }
            say("workers blocked");
        }
        let work = (ctx.app().work_per_ms > 0).then(|| Work::start(ctx.metrics().clone(), ctx.app().work_per_ms));
        let unhealthy_after = ctx.app().unhealthy_after_ms;
        let turn_unhealthy = duende::tokio::time::sleep(Duration::from_millis(unhealthy_after));
        duende::tokio::pin!(turn_unhealthy);
        let mut healthy = true;
        loop {
            duende::tokio::select! {
                () = &mut turn_unhealthy, if healthy && unhealthy_after > 0 => {
                    healthy = false;
                    ctx.report_health(Health::unhealthy("told to turn unhealthy"));
                    say("unhealthy");
                }
                _ = ctx.shutdown_requested(), if !ctx.app().ignore_shutdown => {
                    say("shutdown requested");
                    if let Some(work) = work {
                        say(&format!("work done requests={}", work.stop().await));
                    }
                    return Ok(ExitReason::Graceful);
                }
                event = ctx.next_event() => match event {
                    Some(Event::Reloaded { generation }) => {
                        say(&format!("reloaded generation={generation} label={}", ctx.app().label));
                        if ctx.app().crash_on_reload {
                            say("crashing on reload");
                            anyhow::bail!("told to crash on reload");
                        }
                    }
                    Some(Event::ReloadRejected { reason }) => say(&format!("reload rejected label={} reason={}", ctx.app().label, reason.replace('\n', " | "))),
                    Some(other) => say(&format!("event {other:?}")),
                    None => return Ok(ExitReason::Graceful),
                },
            }
        }
    }

    async fn shutdown(&mut self, ctx: &mut DaemonContext<ProbeConfig>) -> Result<()> {
        say("shutdown begin");
        while ctx.app().block_shutdown {
            std::thread::sleep(Duration::from_secs(3600));
        }
        duende::tokio::time::sleep(Duration::from_millis(ctx.app().shutdown_delay_ms)).await;
        say("shutdown end");
        Ok(())
    }
}

#[duende::main(name = "probe")]
fn main() -> Probe {
    say("main body");
    Probe
}
