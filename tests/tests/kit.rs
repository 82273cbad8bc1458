//! The test kit (`duende::testing`) drives daemons in-process on a paused clock: the lifecycle,
//! signals, reloads and the scheduled health checks, observed through what the kit reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use duende::prelude::*;
use duende::testing::{Signal, TestDaemon};
use duende::tokio;
use duende::{Exit, Health};
use serde::{Deserialize, Serialize};

/// A health check as the tests hand it to [`Worker`].
type Check = Arc<dyn Fn() -> Health + Send + Sync>;

/// Counts once a second; its checks are whatever the test hands it.
#[derive(Default)]
struct Worker {
    checks: Vec<(&'static str, Check)>,
    ran: Arc<AtomicBool>,
    fail_init: bool,
    linger: Option<Duration>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct WorkerConfig {
    label: String,
}

impl Daemon for Worker {
    type Config = WorkerConfig;

    fn validate(config: &WorkerConfig) -> std::result::Result<(), Vec<Violation>> {
        if config.label == "bad" {
            return Err(vec![Violation::new("label", "must not be \"bad\"")]);
        }
        Ok(())
    }

    async fn init(&mut self, ctx: &mut DaemonContext<WorkerConfig>) -> Result<()> {
        anyhow::ensure!(!self.fail_init, "the disk is missing");
        for (name, check) in &self.checks {
            let check = Arc::clone(check);
            ctx.add_health_check(*name, move || {
                let check = Arc::clone(&check);
                async move { check() }
            });
        }
        Ok(())
    }

    async fn run(&mut self, ctx: &mut DaemonContext<WorkerConfig>) -> Result<ExitReason> {
        self.ran.store(true, Ordering::SeqCst);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tokio::select! {
                () = ctx.shutdown_requested() => break,
                _ = tick.tick() => ctx.metrics().record_request(),
                Some(event) = ctx.next_event() => {
                    if event == Event::User1 {
                        ctx.report_health(Health::degraded("asked to by USR1"));
                    }
                }
            }
        }
        if let Some(linger) = self.linger {
            tokio::time::sleep(linger).await;
        }
        Ok(ExitReason::Graceful)
    }
}

fn checks_on(interval: &str, timeout: &str, retries: u32) -> String {
    format!("[health_check]\nenabled = true\ninterval = \"{interval}\"\ntimeout = \"{timeout}\"\nretries = {retries}\n")
}

#[test]
fn time_moves_only_when_the_test_says_so() {
    let mut daemon = TestDaemon::builder(Worker::default()).start().unwrap();
    assert!(daemon.is_ready());
    assert_eq!(daemon.metrics().requests_total, 0);
    daemon.advance(Duration::from_secs(10));
    assert_eq!(daemon.metrics().requests_total, 10);
    daemon.advance(Duration::from_millis(2500));
    assert_eq!(daemon.metrics().requests_total, 12);
    assert_eq!(daemon.stop(), Exit::Success);
}

#[test]
fn a_failing_check_degrades_then_after_retries_makes_the_daemon_unhealthy_and_recovery_heals() {
    let failing = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&failing);
    let worker = Worker {
        checks: vec![(
            "disk",
            Arc::new(move || {
                if flag.load(Ordering::SeqCst) { Health::unhealthy("read-only") } else { Health::Healthy { score: 4 } }
            }),
        )],
        ..Worker::default()
    };
    let mut daemon = TestDaemon::builder(worker).config(&checks_on("10s", "1s", 3)).start().unwrap();
    assert_eq!(daemon.health(), Health::Healthy { score: 4 }, "the first round runs at readiness");
    failing.store(true, Ordering::SeqCst);
    daemon.advance(Duration::from_secs(10));
    assert_eq!(daemon.health(), Health::degraded("disk: failing (1 of 3): read-only"));
    daemon.advance(Duration::from_secs(10));
    assert_eq!(daemon.health(), Health::degraded("disk: failing (2 of 3): read-only"));
    daemon.advance(Duration::from_secs(10));
    assert_eq!(daemon.health(), Health::unhealthy("disk: read-only"));
    assert_eq!(daemon.health_checks()[0].failures, 3);
    failing.store(false, Ordering::SeqCst);
    daemon.advance(Duration::from_secs(10));
    assert_eq!(daemon.health(), Health::Healthy { score: 4 });
    assert_eq!(daemon.health_checks()[0].failures, 0);
    assert_eq!(daemon.stop(), Exit::Success);
}

/// Declares the checks it is built with as `async` closures of their own.
struct Custom<F: Fn(&mut DaemonContext<NoConfig>) + 'static>(F);

impl<F: Fn(&mut DaemonContext<NoConfig>) + 'static> Daemon for Custom<F> {
    type Config = NoConfig;
    async fn init(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<()> {
        (self.0)(ctx);
        Ok(())
    }
    async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
        ctx.shutdown_requested().await;
        Ok(ExitReason::Graceful)
    }
}

#[test]
fn a_check_that_hangs_past_its_timeout_has_failed() {
    let daemon = Custom(|ctx| {
        ctx.add_health_check("network", || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Health::healthy()
        });
    });
    let mut daemon = TestDaemon::builder(daemon).config(&checks_on("5s", "2s", 1)).start().unwrap();
    assert_eq!(daemon.health(), Health::healthy(), "the first round is still waiting on the check");
    daemon.advance(Duration::from_millis(1999));
    assert_eq!(daemon.health(), Health::healthy());
    daemon.advance(Duration::from_millis(1));
    assert_eq!(daemon.health(), Health::unhealthy("network: did not finish within 2s"));
    assert_eq!(daemon.stop(), Exit::Success);
}

#[test]
fn a_check_that_errs_or_panics_has_failed_and_the_others_keep_running() {
    let daemon = Custom(|ctx| {
        ctx.add_health_check("config", || async { anyhow::bail!("cannot read /etc/demo: denied") });
        ctx.add_health_check("cache", || async {
            if std::hint::black_box(true) {
                panic!("cache check bug");
            }
            Health::healthy()
        });
        ctx.add_health_check("queue", || async { Health::degraded("backlog of 900") });
        ctx.add_health_check("eager", || -> std::future::Ready<Health> {
            if std::hint::black_box(true) {
                panic!("panics before it returns a future");
            }
            std::future::ready(Health::healthy())
        });
    });
    let mut daemon = TestDaemon::builder(daemon).config(&checks_on("5s", "1s", 2)).start().unwrap();
    let checks = daemon.health_checks();
    let names: Vec<&str> = checks.iter().map(|check| check.name.as_str()).collect();
    assert_eq!(names, ["config", "cache", "queue", "eager"], "in the order declared");
    assert_eq!(checks[0].health, Health::degraded("failing (1 of 2): cannot read /etc/demo: denied"));
    assert_eq!(checks[1].health, Health::degraded("failing (1 of 2): the check panicked"));
    assert_eq!(checks[2].health, Health::degraded("backlog of 900"));
    assert_eq!(checks[3].health, Health::degraded("failing (1 of 2): the check panicked"));
    daemon.advance(Duration::from_secs(5));
    assert_eq!(daemon.health(), Health::unhealthy("config: cannot read /etc/demo: denied"), "the first worst wins");
    assert_eq!(daemon.health_checks()[1].health, Health::unhealthy("the check panicked"));
    assert_eq!(daemon.health_checks()[3].failures, 2, "the scheduler survived a check that panics when called");
    assert_eq!(daemon.stop(), Exit::Success, "a panicking check does not take the daemon down");
}

#[test]
fn checks_run_only_while_enabled_and_a_reload_can_turn_them_on() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let daemon = Custom(move |ctx| {
        let counter = Arc::clone(&counter);
        ctx.add_health_check("count", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Health::healthy() }
        });
    });
    let mut daemon = TestDaemon::builder(daemon).start().unwrap();
    daemon.advance(Duration::from_secs(600));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "[health_check] is off by default");
    assert_eq!(daemon.reload_with(&checks_on("1m", "5s", 3)), Ok(2));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "turned on by the reload: a round at once");
    daemon.advance(Duration::from_secs(300));
    assert_eq!(calls.load(Ordering::SeqCst), 6, "then one per interval");
    assert_eq!(daemon.reload_with("[health_check]\nenabled = false\n"), Ok(3));
    daemon.advance(Duration::from_secs(600));
    assert_eq!(calls.load(Ordering::SeqCst), 6, "turned off again");
    assert_eq!(daemon.stop(), Exit::Success);
}

#[test]
fn what_the_daemon_reports_and_what_its_checks_find_combine_to_the_worse() {
    let worker = Worker { checks: vec![("ok", Arc::new(|| Health::Healthy { score: 3 }))], ..Worker::default() };
    let mut daemon = TestDaemon::builder(worker).config(&checks_on("10s", "1s", 1)).start().unwrap();
    assert_eq!(daemon.health(), Health::Healthy { score: 3 });
    daemon.signal(Signal::Usr1);
    assert_eq!(daemon.health(), Health::degraded("asked to by USR1"));
    assert_eq!(daemon.stop(), Exit::Success);
}

#[test]
fn reloads_swap_a_valid_configuration_and_keep_the_old_one_on_a_bad_one() {
    let mut daemon = TestDaemon::builder(Worker::default()).config("[app]\nlabel = \"one\"\n").start().unwrap();
    assert_eq!(daemon.generation(), 1);
    assert_eq!(daemon.reload_with("[app]\nlabel = \"two\"\n"), Ok(2));
    assert_eq!(daemon.config().app.label, "two");
    let rejected = daemon.reload_with("[app]\nlabel = \"bad\"\n").unwrap_err();
    assert!(rejected.contains("app.label = \"bad\"") && rejected.contains("must not be \"bad\""), "{rejected}");
    assert_eq!((daemon.generation(), daemon.config().app.label.as_str()), (2, "two"));
    assert_eq!(daemon.stop(), Exit::Success);
}

#[test]
fn a_bad_starting_configuration_is_the_error_run_would_print() {
    let err = TestDaemon::builder(Worker::default()).set("app.label=bad").start().unwrap_err();
    assert!(err.to_string().contains("from --set app.label=bad"), "{err}");
    let err =
        TestDaemon::builder(Worker::default()).name("demo").env("DEMO_SHUTDOWN_TIMEOUT", "0s").start().unwrap_err();
    assert!(err.to_string().contains("DEMO_SHUTDOWN_TIMEOUT"), "{err}");
}

#[test]
fn exits_are_the_ones_a_real_process_would_have() {
    let ran = Arc::new(AtomicBool::new(false));
    let worker = Worker { fail_init: true, ran: Arc::clone(&ran), ..Worker::default() };
    let daemon = TestDaemon::builder(worker).start().unwrap();
    assert_eq!(daemon.exit(), Some(Exit::Software), "init failed: 70 without waiting");
    assert!(!daemon.is_ready());
    assert!(!ran.load(Ordering::SeqCst), "run is never entered");

    let lingering = Worker { linger: Some(Duration::from_secs(60)), ..Worker::default() };
    let mut daemon = TestDaemon::builder(lingering).set("shutdown_timeout=\"10s\"").start().unwrap();
    assert_eq!(daemon.stop(), Exit::ShutdownTimeout, "75 once shutdown_timeout passed");

    let lingering = Worker { linger: Some(Duration::from_secs(60)), ..Worker::default() };
    let mut daemon = TestDaemon::builder(lingering).start().unwrap();
    daemon.signal(Signal::Term);
    assert!(daemon.is_shutting_down());
    assert_eq!(daemon.exit(), None);
    daemon.signal(Signal::Int);
    assert_eq!(daemon.exit(), Some(Exit::Signal(2)), "a second signal forces 128+2");
    assert_eq!(daemon.exit().map(Exit::code), Some(130));
}

#[test]
fn the_kit_reads_the_daemons_metrics_as_a_scrape_would_show_them() {
    let worker = Worker { checks: vec![("ok", Arc::new(|| Health::Healthy { score: 4 }))], ..Worker::default() };
    let mut daemon = TestDaemon::builder(worker).config(&checks_on("10s", "1s", 1)).start().unwrap();
    daemon.advance(Duration::from_secs(3));
    assert_eq!(daemon.metric("duende_requests_total"), Some(3.0));
    assert_eq!(daemon.metric("duende_health_score"), Some(4.0));
    assert_eq!(daemon.metric("duende_health_state{state=\"healthy\"}"), Some(1.0));
    assert_eq!(daemon.reload_with("[app]\nlabel = \"bad\"\n").map_err(|_| ()), Err(()));
    assert_eq!(daemon.reload_with("[app]\nlabel = \"good\"\n"), Ok(2));
    assert_eq!(daemon.metric("duende_reloads_total{result=\"accepted\"}"), Some(1.0));
    assert_eq!(daemon.metric("duende_reloads_total{result=\"rejected\"}"), Some(1.0));
    assert!(daemon.metric("duende_ready_latency_seconds").is_some(), "{}", daemon.metrics_text());
    assert_eq!(daemon.stop(), Exit::Success);
}
