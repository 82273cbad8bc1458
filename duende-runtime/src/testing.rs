//! A test kit for daemon authors: run a daemon in-process, on a paused clock, and drive it the
//! way the world would: signals, a new configuration, time passing. Then read what the runtime
//! saw: readiness, health, metrics, configuration generation and how the daemon ended.
//!
//! The daemon goes through the same lifecycle as under `#[duende::main]` (init → ready → run →
//! shutdown, health checks on their schedule, reloads validated and swapped, the shutdown bounded
//! by `shutdown_timeout`), on a single-threaded tokio runtime whose clock only moves when the test
//! says so, or when everything is idle and waiting for a timer. Nothing touches the process: no
//! signal handlers, sockets, files outside a private temporary directory, or global logger.
//!
//! ```
//! use std::time::Duration;
//! use duende_runtime::testing::{Signal, TestDaemon};
//! use duende_runtime::{Daemon, DaemonContext, Exit, ExitReason, NoConfig, Result};
//!
//! struct Ticker;
//!
//! impl Daemon for Ticker {
//!     type Config = NoConfig;
//!     async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
//!         let mut tick = tokio::time::interval(Duration::from_secs(1));
//!         tick.tick().await;
//!         loop {
//!             tokio::select! {
//!                 () = ctx.shutdown_requested() => return Ok(ExitReason::Graceful),
//!                 _ = tick.tick() => ctx.metrics().record_request(),
//!             }
//!         }
//!     }
//! }
//!
//! let mut daemon = TestDaemon::builder(Ticker).start().unwrap();
//! assert!(daemon.is_ready());
//! daemon.advance(Duration::from_secs(10));
//! assert_eq!(daemon.metrics().requests_total, 10);
//! daemon.signal(Signal::Term);
//! assert_eq!(daemon.wait_exit(), Exit::Success);
//! ```

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinHandle, LocalSet};

use crate::config::Generation;
use crate::config::{self, ConfigError, Sources};
use crate::daemon::Daemon;
use crate::entry::{Reloader, Wiring, lifecycle};
use crate::exit::Exit;
use crate::health::{CheckStatus, Health};
use crate::link::Link;
use crate::live::Live;
use crate::logging::LogControl;
use crate::metrics::{DaemonMetrics, Registry, Summary};
use crate::signals::{self, Forced, Routes};

/// A signal the test sends to the daemon; each is routed exactly as the real one would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// SIGTERM: graceful shutdown; a second one during shutdown forces exit 143.
    Term,
    /// SIGINT: as SIGTERM; a second forces exit 130.
    Int,
    /// SIGQUIT: as SIGTERM; a second forces exit 131.
    Quit,
    /// SIGHUP: re-read every configuration layer.
    Hup,
    /// SIGUSR1, delivered as [`Event::User1`](crate::Event::User1).
    Usr1,
    /// SIGUSR2, delivered as [`Event::User2`](crate::Event::User2).
    Usr2,
    /// SIGCONT, delivered as [`Event::Continued`](crate::Event::Continued).
    Cont,
}

impl Signal {
    fn number(self) -> i32 {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Int => libc::SIGINT,
            Signal::Quit => libc::SIGQUIT,
            Signal::Hup => libc::SIGHUP,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Cont => libc::SIGCONT,
        }
    }
}

/// Configures a [`TestDaemon`] before it starts.
#[derive(Debug)]
pub struct Builder<D> {
    daemon: D,
    name: String,
    config: Option<String>,
    sets: Vec<String>,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl<D: Daemon> Builder<D> {
    /// The service name (default `test-daemon`); selects the `NAME_*` prefix of [`env`](Self::env).
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// The configuration file's TOML text (the `--config` layer).
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_owned());
        self
    }

    /// A `--set key.path=value` flag.
    pub fn set(mut self, assignment: &str) -> Self {
        self.sets.push(assignment.to_owned());
        self
    }

    /// An environment variable the configuration reads (only `NAME_*` ones matter); the process's
    /// own environment is never read.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The daemon's own arguments (what `run -- ARGS` passes).
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Loads and validates the configuration, then starts the daemon and runs it until it is
    /// ready (or has ended, when `init` fails). An invalid configuration is returned as the same
    /// error `my-daemon run` would print before exiting with status 78.
    pub fn start(self) -> Result<TestDaemon<D>, StartError> {
        TestDaemon::start(self)
    }
}

/// Why a [`TestDaemon`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid (a real daemon would exit 78).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The kit could not prepare its runtime or its temporary directory.
    #[error("the test kit could not start: {0}")]
    Io(#[from] std::io::Error),
}

/// A daemon running in-process under test. Dropping it ends the daemon without a shutdown.
pub struct TestDaemon<D: Daemon> {
    // Declared before the runtime so the daemon's tasks are dropped while the runtime still exists.
    local: LocalSet,
    task: Option<JoinHandle<Exit>>,
    runtime: tokio::runtime::Runtime,
    exit: Option<Exit>,
    live: Arc<Live>,
    routes: Routes,
    reload_requests: tokio::sync::mpsc::Receiver<()>,
    reloader: Reloader<D>,
    config: watch::Receiver<Generation<D::Config>>,
    registry: Registry,
    dir: TempDir,
}

/// How many times the kit lets every ready task run after time moved or a signal arrived, so
/// that whatever those woke (a chain of tasks handing work to each other) has happened.
const SETTLE_ROUNDS: usize = 64;

/// How long [`TestDaemon::wait_exit`] lets virtual time run before it gives up.
const WAIT_EXIT_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);

impl<D: Daemon> TestDaemon<D> {
    /// Starts configuring a test run of `daemon`.
    pub fn builder(daemon: D) -> Builder<D> {
        Builder {
            daemon,
            name: "test-daemon".to_owned(),
            config: None,
            sets: Vec::new(),
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    fn start(builder: Builder<D>) -> Result<TestDaemon<D>, StartError> {
        let dir = TempDir::new()?;
        let config_file = dir.path.join("config.toml");
        if let Some(text) = &builder.config {
            std::fs::write(&config_file, text)?;
        }
        let sources = Sources {
            name: builder.name.clone(),
            version: "0.0.0-test".to_owned(),
            config_file: builder.config.is_some().then_some(config_file),
            sets: builder.sets,
            env: builder.env,
            // Root reads the system file, which would live in the kit's own empty directory.
            euid: 0,
            home: None,
            xdg_config_home: None,
            system_dir: Some(dir.path.join("etc")),
        };
        let settings = config::load_settings::<D::Config>(&sources, D::validate)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()?;

        // A registry of this daemon's own: nothing is installed globally, so tests run in parallel.
        let registry = Registry::new();
        let Wiring { live, routes, reloader, reload_requests, config, ctx } = Wiring::<D>::new(
            &builder.name,
            settings,
            sources,
            Arc::new(Link::Silent),
            DaemonMetrics::registered(&registry),
            LogControl::inert(),
            builder.args,
        );
        let local = LocalSet::new();
        let daemon = builder.daemon;
        let task = local.spawn_local(lifecycle::<D, _, _>(ctx, move || std::future::ready(daemon), false));
        let mut test = TestDaemon {
            local,
            task: Some(task),
            runtime,
            exit: None,
            live,
            routes,
            reload_requests,
            reloader,
            config,
            registry,
            dir,
        };
        let live = Arc::clone(&test.live);
        test.run_until(|| async move { live.wait_ready().await });
        Ok(test)
    }

    /// Runs the daemon until `until` resolves or the daemon ends, then lets it settle.
    /// `until` is called inside the runtime, so it may create timers.
    fn run_until<F: Future<Output = ()>>(&mut self, until: impl FnOnce() -> F) {
        let exit = match self.task.as_mut() {
            None => None,
            Some(task) => self.local.block_on(&self.runtime, async {
                let until = until();
                let exit = tokio::select! {
                    joined = task => Some(joined.unwrap_or(Exit::Software)),
                    () = until => None,
                };
                for _ in 0..SETTLE_ROUNDS {
                    tokio::task::yield_now().await;
                }
                exit
            }),
        };
        if let Some(exit) = exit {
            self.finish(exit);
        }
    }

    fn finish(&mut self, exit: Exit) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.exit.get_or_insert(exit);
    }

    /// Lets `duration` of virtual time pass: every timer due in it fires at its time, and the
    /// daemon runs as far as that lets it.
    pub fn advance(&mut self, duration: Duration) {
        self.run_until(|| tokio::time::sleep(duration));
    }

    /// Sends `signal`, routed exactly as the runtime routes the real one: TERM/INT/QUIT start a
    /// graceful shutdown (a second one during shutdown ends the daemon with 128+N), HUP reloads
    /// the configuration (all layers re-read and validated), USR1/USR2/CONT become events.
    pub fn signal(&mut self, signal: Signal) {
        if self.exit.is_some() {
            return;
        }
        if let Some(Forced(number)) = signals::route(signal.number(), &self.routes) {
            self.finish(Exit::Signal(number));
            return;
        }
        while self.reload_requests.try_recv().is_ok() {
            self.reloader.reload();
        }
        self.run_until(|| std::future::ready(()));
    }

    /// Replaces the configuration file (the `--config` layer) with `toml` and sends SIGHUP.
    /// Returns the generation now in effect, or why the new configuration was rejected (the
    /// daemon then keeps the previous one).
    pub fn reload_with(&mut self, toml: &str) -> Result<u64, String> {
        let file = self.dir.path.join("config.toml");
        if let Err(err) = std::fs::write(&file, toml) {
            return Err(format!("the test kit could not write {}: {err}", file.display()));
        }
        self.reloader.sources.config_file = Some(file);
        let before = self.live.last_reload().attempts;
        self.signal(Signal::Hup);
        let record = self.live.last_reload();
        if record.attempts == before {
            return Err("the daemon has ended; nothing was reloaded".to_owned());
        }
        record.rejected.map_or(Ok(record.generation), Err)
    }

    /// Sends SIGTERM and waits for the daemon to end (bounded by its `shutdown_timeout`).
    pub fn stop(&mut self) -> Exit {
        self.signal(Signal::Term);
        self.wait_exit()
    }

    /// Runs the daemon until it ends, and says how: the [`Exit`] a real process would have.
    /// Once shutdown has been requested the end is bounded by `shutdown_timeout` (exceeding it
    /// gives [`Exit::ShutdownTimeout`], as in a real run).
    ///
    /// # Panics
    /// When the daemon has not ended after a day of virtual time: request a shutdown first, or
    /// use [`wait_exit_within`](Self::wait_exit_within).
    #[allow(clippy::panic, reason = "a test kit fails the test that misuses it")]
    pub fn wait_exit(&mut self) -> Exit {
        match self.wait_exit_within(WAIT_EXIT_LIMIT) {
            Some(exit) => exit,
            None => panic!(
                "the daemon did not end within a day of virtual time; send Signal::Term first \
                 or use wait_exit_within"
            ),
        }
    }

    /// Runs the daemon for up to `limit` of virtual time; its exit, if it ended by then.
    pub fn wait_exit_within(&mut self, limit: Duration) -> Option<Exit> {
        if self.exit.is_none() {
            let shutdown = self.live.shutdown().clone();
            let timeout = self.config.borrow().settings.shutdown_timeout;
            let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = Arc::clone(&timed_out);
            self.run_until(|| async move {
                let bounded = async {
                    shutdown.wait().await;
                    tokio::time::sleep(timeout).await;
                    flag.store(true, Ordering::SeqCst);
                };
                tokio::select! {
                    () = bounded => {}
                    () = tokio::time::sleep(limit) => {}
                }
            });
            if timed_out.load(Ordering::SeqCst) && self.exit.is_none() {
                self.finish(Exit::ShutdownTimeout);
            }
        }
        self.exit
    }

    /// How the daemon ended, if it has.
    pub fn exit(&self) -> Option<Exit> {
        self.exit
    }

    /// True once `init` succeeded and readiness was announced.
    pub fn is_ready(&self) -> bool {
        self.live.is_ready()
    }

    /// The daemon's health: the worse of what it reported and what its checks found.
    pub fn health(&self) -> Health {
        self.live.health().get()
    }

    /// The latest outcome of each declared health check.
    pub fn health_checks(&self) -> Vec<CheckStatus> {
        self.live.health().checks()
    }

    /// The totals of the daemon's work metrics.
    pub fn metrics(&self) -> Summary {
        self.live.metrics().summary()
    }

    /// Every metric of this daemon in the Prometheus text format, as a scrape would return it
    /// (lifecycle metrics included; uptime is wall-clock time, not the paused clock). Metrics the
    /// daemon records through the global `metrics` macros are not in it: the kit installs no
    /// global recorder.
    pub fn metrics_text(&self) -> String {
        self.registry.render()
    }

    /// The value of the sample `name` (with its labels exactly as rendered, such as
    /// `duende_reloads_total{result="accepted"}`) in [`metrics_text`](Self::metrics_text).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics_text()
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// The configuration generation in effect: 1 at start, +1 per accepted reload.
    pub fn generation(&self) -> u64 {
        self.live.generation()
    }

    /// The configuration in effect.
    pub fn config(&self) -> Arc<crate::Settings<D::Config>> {
        Arc::clone(&self.config.borrow().settings)
    }

    /// True once a shutdown has been requested (by a signal or by the daemon itself).
    pub fn is_shutting_down(&self) -> bool {
        self.live.shutdown().is_triggered()
    }
}

impl<D: Daemon> std::fmt::Debug for TestDaemon<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDaemon")
            .field("name", &self.live.name())
            .field("ready", &self.is_ready())
            .field("health", &self.health())
            .field("generation", &self.generation())
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}

impl<D: Daemon> Drop for TestDaemon<D> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A private temporary directory, removed on drop.
#[derive(Debug)]
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "duende-testing-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path)?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
