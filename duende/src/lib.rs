//! duende turns one Rust struct into a production daemon.
//!
//! You implement [`Daemon`] for a struct, put [`#[duende::main]`](main) on `main`, and the binary
//! handles signals, locks its memory, layers its configuration, reports readiness and health to
//! its service manager, serves metrics, and carries its own management command line: the same
//! binary installs itself as a systemd, launchd, container, microVM, Kubernetes or WOS service
//! (`my-daemon install --platform auto`), or supervises itself where there is no manager.
//!
//! This page walks through a daemon from the trait to `install`:
//!
//! 1. [The daemon](#the-daemon): [`Daemon`], `init`, `run`, `shutdown`, `validate`, `[app]`
//! 2. [`#[duende::main]`](#duendemain) and its options
//! 3. [Configuration](#configuration): the layers, `config` and `check`
//! 4. [Signals and reload](#signals-and-reload)
//! 5. [Health checks](#health-checks)
//! 6. [Metrics](#metrics)
//! 7. [Memory locking](#memory-locking)
//! 8. [Testing a daemon](#testing-a-daemon)
//! 9. [The command line](#the-command-line): `install`, `run`, `start`, `stop`, `status`, `logs`,
//!    `uninstall`, and [a page per platform](platforms)
//! 10. [Exit codes](#exit-codes)
//! 11. [Cargo features](#cargo-features)
//!
//! # The daemon
//!
//! A daemon is a value of a type that implements [`Daemon`]. The runtime drives it through three
//! async methods, each given the [`DaemonContext`]: [`init`](Daemon::init) prepares it (the
//! daemon is announced ready when it returns `Ok`), [`run`](Daemon::run) does the work until it
//! is done or a shutdown is requested, and [`shutdown`](Daemon::shutdown) releases what it holds.
//! Only `run` is required. None of the futures need be `Send`: they run on the thread that called
//! `main`, while signal handling, health checks and metrics run beside them.
//!
//! The daemon's own settings are its [`Config`](Daemon::Config) type: the `[app]` section of the
//! configuration, layered like every other section (use [`NoConfig`] when there is none). Serde
//! reads its types; [`validate`](Daemon::validate) checks the rest, and each [`Violation`] is
//! reported with its key, where the value came from and what is allowed, before `init` runs (and
//! again on every reload).
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use duende::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! /// `[app]`: the daemon's own section.
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! pub struct CounterConfig {
//!     pub interval_ms: u64,
//! }
//!
//! impl Default for CounterConfig {
//!     fn default() -> Self {
//!         CounterConfig { interval_ms: 1000 }
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Counter {
//!     n: u64,
//! }
//!
//! impl Daemon for Counter {
//!     type Config = CounterConfig;
//!
//!     fn validate(config: &CounterConfig) -> Result<(), Vec<Violation>> {
//!         if !(10..=60_000).contains(&config.interval_ms) {
//!             return Err(vec![Violation::new("interval_ms", "must be between 10 and 60000")]);
//!         }
//!         Ok(())
//!     }
//!
//!     async fn init(&mut self, ctx: &mut DaemonContext<CounterConfig>) -> Result<()> {
//!         ctx.set_status("counting from 0");
//!         Ok(())
//!     }
//!
//!     async fn run(&mut self, ctx: &mut DaemonContext<CounterConfig>) -> Result<ExitReason> {
//!         let mut tick = duende::tokio::time::interval(Duration::from_millis(ctx.app().interval_ms));
//!         loop {
//!             duende::tokio::select! {
//!                 () = ctx.shutdown_requested() => return Ok(ExitReason::Graceful),
//!                 _ = tick.tick() => {
//!                     self.n += 1;
//!                     ctx.metrics().record_request();
//!                 }
//!             }
//!         }
//!     }
//!
//!     async fn shutdown(&mut self, _ctx: &mut DaemonContext<CounterConfig>) -> Result<()> {
//!         println!("counted to {}", self.n);
//!         Ok(())
//!     }
//! }
//!
//! #[duende::main(name = "counter")]
//! fn main() -> Counter {
//!     Counter::default()
//! }
//! ```
//!
//! `run` returns an [`ExitReason`]: `Graceful` exits 0, `Failed(reason)` exits 70. An error
//! returned by `init`, `run` or `shutdown` (any error converts into [`Error`] with `?`) exits 70
//! too, and so does a panic; `shutdown` is not called when `init` fails. Shutdown is an event
//! that `run` awaits ([`DaemonContext::shutdown_requested`]), never a poll: an idle daemon makes
//! no periodic wake-ups. [`DaemonContext::config`] gives the whole effective [`Settings`],
//! [`DaemonContext::app`] the `[app]` section, [`DaemonContext::args`] the arguments after
//! `run --`.
//!
//! # `#[duende::main]`
//!
//! [`#[duende::main]`](main) goes on `fn main`, whose body builds the daemon value (it may be an
//! `async fn` when that awaits something: the async runtime is started first). The generated
//! `main` is one call into the runtime: it parses the command line, loads the configuration,
//! installs signal handlers and drives the daemon. Its options, all optional string literals
//! checked at compile time:
//!
//! | option | meaning |
//! | --- | --- |
//! | `name = "counter"` | the service name: the unit, label and container name, the configuration file `/etc/NAME/NAME.toml` and the environment prefix `NAME_`; default: the Cargo binary's name |
//! | `mlock = "off" \| "best-effort" \| "required"` | lock all memory before anything else; see [Memory locking](#memory-locking) |
//! | `crate = "path"` | the path of this crate, for a crate that re-exports it |
//!
//! Every misuse (an unknown option, a bad name, the attribute on something else than `fn main`,
//! a `main` with parameters or no return type) is a compile error on the tokens at fault. The
//! attribute's own documentation shows each option with the code it stands for.
//!
//! # Configuration
//!
//! Every daemon reads TOML in layers, lowest to highest precedence:
//!
//! 1. built-in defaults;
//! 2. the system file `/etc/NAME/NAME.toml` (read by root), or the user file
//!    `$XDG_CONFIG_HOME/NAME/NAME.toml` (read by other users when it exists, else the system
//!    file);
//! 3. `--config PATH`;
//! 4. environment variables `NAME_*`, nested keys split on `__` (`COUNTER_SHUTDOWN_TIMEOUT=5s`,
//!    `COUNTER_APP__INTERVAL_MS=100`);
//! 5. `--set key.path=value` flags, in order.
//!
//! The sections are the fields of [`Settings`]: `shutdown_timeout`, `restart` and
//! [`[backoff]`](config::Backoff), [`[resources]`](config::Resources),
//! [`[hardening]`](config::Hardening) (systemd's sandbox), [`[health_check]`](config::HealthCheck),
//! [`[metrics]`](config::settings::MetricsSettings), one [`[platform.X]`](config::PlatformSettings)
//! section per platform (each listed on its [page](platforms)), and `[app]`. Unknown keys, wrong
//! types and out-of-range values are refused before the daemon starts (exit 78), each with its
//! key, its source (file and line, variable or flag) and what is allowed, all at once.
//!
//! ```text
//! my-daemon config     # every effective value, one line each, with where it came from
//! my-daemon check      # validate the configuration and the environment, explain each problem
//! ```
//!
//! `config` lists every key with its default, so it is the reference for what a build accepts.
//!
//! # Signals and reload
//!
//! | signal | effect |
//! | --- | --- |
//! | TERM, INT, QUIT | graceful shutdown: [`DaemonContext::shutdown_requested`] resolves |
//! | a second TERM, INT or QUIT | immediate exit, 128+N |
//! | HUP | reload: every layer is re-read and validated, then swapped in at once; [`Event::Reloaded`] follows. An invalid configuration is refused and logged, the old one stays, and [`Event::ReloadRejected`] says why |
//! | USR1, USR2, CONT | [`Event::User1`], [`Event::User2`], [`Event::Continued`] |
//!
//! Once a shutdown is requested, the rest of `run` plus `shutdown` must finish within
//! `shutdown_timeout` (default 30 s), or the process exits 75. A daemon that wants the other
//! events reads them with [`DaemonContext::next_event`]; a value it took from
//! [`config`](DaemonContext::config) or [`app`](DaemonContext::app) never changes under it,
//! and the next call returns the reloaded one:
//!
//! ```
//! use duende::prelude::*;
//!
//! struct Watcher;
//!
//! impl Daemon for Watcher {
//!     type Config = NoConfig;
//!
//!     async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
//!         let stop = ctx.shutdown_requested();
//!         duende::tokio::pin!(stop);
//!         loop {
//!             duende::tokio::select! {
//!                 () = &mut stop => return Ok(ExitReason::Graceful),
//!                 event = ctx.next_event() => match event {
//!                     Some(Event::Reloaded { generation }) => ctx.set_status(&format!("generation {generation}")),
//!                     Some(Event::ReloadRejected { reason }) => ctx.set_status(&format!("kept: {reason}")),
//!                     Some(Event::User1) => ctx.set_status("USR1"),
//!                     Some(_) => {}
//!                     None => return Ok(ExitReason::Graceful),
//!                 },
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! A daemon can stop itself with [`DaemonContext::request_shutdown`], as SIGTERM would. Under
//! systemd the runtime sends `READY=1`, `RELOADING=1`, `STOPPING=1` and `STATUS=`
//! ([`DaemonContext::set_status`]), and feeds the watchdog while the daemon is not unhealthy.
//!
//! # Health checks
//!
//! A daemon declares named checks, usually in `init`, with [`DaemonContext::add_health_check`].
//! With `[health_check] enabled = true` the runtime runs them every `interval` on the async
//! runtime's workers, each bounded by `timeout`; `retries` failures in a row make the daemon
//! unhealthy. A check returns a [`Health`] (or anything [`IntoHealth`], such as a `Result`), and
//! the daemon can report its own state with [`DaemonContext::report_health`].
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//!
//! use duende::prelude::*;
//!
//! struct Store {
//!     disk_ok: Arc<AtomicBool>,
//! }
//!
//! impl Daemon for Store {
//!     type Config = NoConfig;
//!
//!     async fn init(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<()> {
//!         let disk_ok = Arc::clone(&self.disk_ok);
//!         ctx.add_health_check("disk", move || {
//!             let ok = disk_ok.load(Ordering::Relaxed);
//!             async move { if ok { Health::healthy() } else { Health::unhealthy("disk is read-only") } }
//!         });
//!         Ok(())
//!     }
//!
//!     async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
//!         ctx.shutdown_requested().await;
//!         Ok(ExitReason::Graceful)
//!     }
//! }
//! ```
//!
//! The daemon's health is the worst of its checks and of what it reported. Changes are logged
//! and sent as `STATUS=`; while it is unhealthy the systemd watchdog is not fed, and `install`
//! renders `WatchdogSec=` when checks are enabled, so systemd restarts a daemon that stays
//! unhealthy. Container health checks and Kubernetes probes ask the same state.
//!
//! # Metrics
//!
//! [`DaemonContext::metrics`] records the daemon's work ([`DaemonMetrics`]):
//! [`record_request`](DaemonMetrics::record_request), [`record_error`](DaemonMetrics::record_error)
//! and [`time`](DaemonMetrics::time), which records a request, its duration, and an error when
//! the future returns `Err`:
//!
//! ```
//! # use duende::prelude::*;
//! async fn serve_one(ctx: &DaemonContext<NoConfig>) -> Result<()> {
//!     ctx.metrics().time(async { std::fs::read("/etc/hostname").map(drop) }).await?;
//!     Ok(())
//! }
//! ```
//!
//! With `[metrics] enabled = true` the runtime serves `GET /metrics` in the Prometheus text format
//! on `listen` (loopback, `127.0.0.1:9464`, unless `allow_remote = true`), with the lifecycle
//! metrics (`duende_uptime_seconds`, `duende_restarts_total`, `duende_reloads_total`,
//! `duende_health_state`, `duende_locked_memory_bytes`, ...) and every `metrics::counter!`,
//! `gauge!` and `histogram!` the daemon records itself. The same listener answers
//! `GET /healthz`. With metrics off there is no listener, thread or timer; `status` still shows
//! the request and error totals.
//!
//! # Memory locking
//!
//! `#[duende::main(mlock = "required")]` locks all memory (`mlockall(MCL_CURRENT | MCL_FUTURE)`)
//! before anything else, so the async runtime's own allocations are locked too; `"best-effort"`
//! logs a failure and goes on ([`MlockMode`]). `resources.lock_memory` and
//! `resources.lock_memory_required` ask for the same from the configuration. Before locking the
//! runtime reads `RLIMIT_MEMLOCK` and `CAP_IPC_LOCK` and says what will happen; a failure names
//! the fix (`CAP_IPC_LOCK`, `LimitMEMLOCK=infinity`, `--cap-add IPC_LOCK --ulimit
//! memlock=-1:-1`), and a required lock that fails exits 71 before `init`. `install` grants what
//! locking needs on each platform (its page says how). The async workers
//! (`resources.worker_threads`) and their stacks (`resources.thread_stack_bytes`) are most of
//! what locking costs beyond the binary.
//!
//! # Testing a daemon
//!
//! [`duende::testing`][testing-kit] (feature `testing`: `duende = { version = "0.1", features = ["testing"] }` in
//! `[dev-dependencies]`) runs a daemon in-process through the same lifecycle, on a paused clock:
//! send it signals, feed it a new configuration, let virtual time pass, and read its readiness,
//! health, metrics and exit. Nothing touches the process, so such tests run in parallel and take
//! milliseconds.
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use std::time::Duration;
//!
//! use duende::Exit;
//! use duende::prelude::*;
//! use duende::testing::{Signal, TestDaemon};
//!
//! struct Ticker;
//!
//! impl Daemon for Ticker {
//!     type Config = NoConfig;
//!     async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
//!         let mut tick = duende::tokio::time::interval(Duration::from_secs(1));
//!         loop {
//!             duende::tokio::select! {
//!                 () = ctx.shutdown_requested() => return Ok(ExitReason::Graceful),
//!                 _ = tick.tick() => ctx.metrics().record_request(),
//!             }
//!         }
//!     }
//! }
//!
//! let mut daemon = TestDaemon::builder(Ticker).set("shutdown_timeout=5s").start().unwrap();
//! assert!(daemon.is_ready());
//! daemon.advance(Duration::from_secs(60)); // a minute, instantly
//! assert_eq!(daemon.metrics().requests_total, 61); // the first tick is immediate
//! assert_eq!(daemon.reload_with("log_level = \"debug\""), Ok(2));
//! daemon.signal(Signal::Term);
//! assert_eq!(daemon.wait_exit(), Exit::Success);
//! # }
//! ```
//!
//! (This example runs under `cargo test --doc -p duende --features testing`.)
//!
//! # The command line
//!
//! Every daemon built with `#[duende::main]` carries the same command line:
//!
//! ```text
//! my-daemon [run] [-- ARGS]   run in the foreground (the default)
//! my-daemon install           [--platform auto|systemd|launchd|container|pepita|wos|native|kubernetes|swarm]
//!                             [--user|--system] [--dry-run] [--now] [--force] [--in-place] [--json]
//! my-daemon start | stop | restart | reload | status [--json] | logs [-f] [-n N] | uninstall
//! my-daemon config [--json] | check [--json] | --help | --version
//! common flags:               --config PATH   --set key.path=value (repeatable)   --platform P   --quiet
//! ```
//!
//! - `run` runs the daemon in the foreground: what a service manager starts, and what you run
//!   while developing (`cargo run -- run`, or no subcommand at all). Ctrl+C stops it gracefully.
//! - `install` registers the binary with the platform's manager: `--platform auto` (the default)
//!   uses the detected platform (`check` shows which, and why). It places the binary at a stable
//!   path (`--in-place` keeps it where it is), installs the `--config` file where the service
//!   reads it and keeps `--set` flags, so the service runs with exactly the configuration that
//!   was validated. `--dry-run` prints every file and command and changes nothing; `--now` also
//!   starts the service and waits until it is ready; installing the same thing again changes
//!   nothing; a failure puts back what was there; a definition duende did not write is replaced
//!   only with `--force`. As root the service is a system one, otherwise a user's (`--user`,
//!   `--system` choose).
//! - `start`, `stop`, `restart` and `reload` act through the manager and wait for the outcome.
//!   Where the platform hands back the daemon's verdict on a reload (every one but systemd and
//!   launchd, whose daemon logs it), a refused configuration exits 78.
//! - `status [--json]` says what the manager observed: state, pid, since, restarts, readiness,
//!   health, and `drift` when the installed files are not what this binary would install. Like
//!   `systemctl is-active`, it exits 0 only for a running service.
//! - `logs [-f] [-n N]` shows the service's log, wherever its platform keeps it.
//! - `uninstall` removes exactly what `install` created, and nothing else.
//!
//! `--json` makes `status`, `check`, `config` and `install` print one JSON document naming its
//! versioned schema (`duende.status.v1`, `duende.live.v1`, `duende.check.v1`,
//! `duende.config.v1`, `duende.changes.v1`); the JSON Schema files ship in the runtime crate
//! (`duende_runtime::schema`). Long steps (building an image or a VM bundle, waiting for
//! readiness) show progress on standard error, live on a terminal and as plain lines elsewhere;
//! `--quiet` hides it. A failed command prints one line, then a `fix:` line when the fix is known.
//!
//! A daemon run by hand, with nothing installed, still answers `status`, `reload` and `stop`
//! through its control socket (`control.sock` in its runtime directory). What each verb does on
//! each platform, and which configuration keys apply there, is on the platform's page:
//! [`platforms::systemd`], [`platforms::launchd`], [`platforms::native`],
//! [`platforms::container`], [`platforms::pepita`], [`platforms::kubernetes`],
//! [`platforms::wos`], [`platforms::swarm`].
//!
//! # Exit codes
//!
//! The numbers follow `sysexits.h` ([`Exit`]), so a manager or an operator can tell a
//! configuration mistake from a crash without reading logs:
//!
//! | code | [`Exit`] | meaning |
//! | --- | --- | --- |
//! | 0 | [`Success`](Exit::Success) | graceful stop, or a command succeeded |
//! | 1 | [`Unhealthy`](Exit::Unhealthy) | a container health check found the daemon not ready or unhealthy |
//! | 64 | [`Usage`](Exit::Usage) | the command line was wrong |
//! | 69 | [`Unavailable`](Exit::Unavailable) | the platform or service manager is not available here |
//! | 70 | [`Software`](Exit::Software) | the daemon's own code failed (`init`, `run` or `shutdown` returned an error, or panicked) |
//! | 71 | [`OsError`](Exit::OsError) | the operating system refused something required, such as a required memory lock |
//! | 75 | [`ShutdownTimeout`](Exit::ShutdownTimeout) | shutdown did not finish within `shutdown_timeout` |
//! | 78 | [`Config`](Exit::Config) | invalid configuration (at start, or a refused `reload`) |
//! | 128+N | [`Signal`](Exit::Signal) | a second terminating signal N forced an immediate exit |
//!
//! systemd and the native supervisor do not restart a daemon that exited 64 or 78: those do not
//! fix themselves.
//!
//! # Cargo features
//!
//! Every management backend and the Prometheus exporter is a feature, all on by default. A
//! daemon that leaves some out keeps everything that is not a backend (`run`, signals,
//! configuration, memory locking, health checks, the control channel, `config` and `check`); a
//! platform left out exits 69 naming the feature to enable.
//!
//! | feature | brings |
//! | --- | --- |
//! | `prometheus` | the metrics registry and scrape endpoint (`[metrics]`); without it `metrics.enabled = true` is refused (exit 78) naming the feature |
//! | `systemd` | `--platform systemd` |
//! | `native` | `--platform native`, duende's own supervisor |
//! | `launchd` | `--platform launchd` |
//! | `container` | `--platform container` (docker, podman, nerdctl) |
//! | `kubernetes` | `--platform kubernetes`; turns on `container`, which builds the image |
//! | `pepita` | `--platform pepita`; turns on `systemd` and `native`, which run the VM runner |
//! | `wos` | `--platform wos`; turns on `systemd` and `native`, which run the WOS runner |
//! | `testing` (off by default) | [`duende::testing`][testing-kit]; turns on `prometheus` |
//!
//! ```toml
//! [dependencies]
//! duende = { version = "0.1", default-features = false, features = ["systemd"] }
//! ```
// The test kit is only there with its feature (docs.rs builds with every feature); without it
// the link points at the section that says how to turn it on.
#![cfg_attr(all(feature = "testing", unix), doc = "\n[testing-kit]: testing")]
#![cfg_attr(not(all(feature = "testing", unix)), doc = "\n[testing-kit]: #testing-a-daemon")]
#![warn(missing_docs)]

pub mod platforms;

/// Every example below is compiled as a test of this crate.
///
/// ```no_run
/// use duende::prelude::*;
///
/// #[derive(Default)]
/// struct Counter;
///
/// impl Daemon for Counter {
///     type Config = NoConfig;
///     async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
///         ctx.shutdown_requested().await;
///         Ok(ExitReason::Graceful)
///     }
/// }
///
/// #[duende::main(name = "counter", mlock = "best-effort", crate = "duende")]
/// async fn main() -> Counter {
///     duende::tokio::task::yield_now().await;
///     Counter::default()
/// }
/// ```
///
/// The same program without the macro (`__private` is not public API; this only shows how
/// little the macro does):
///
/// ```no_run
/// # use duende::prelude::*;
/// # #[derive(Default)]
/// # struct Counter;
/// # impl Daemon for Counter {
/// #     type Config = NoConfig;
/// #     async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
/// #         ctx.shutdown_requested().await;
/// #         Ok(ExitReason::Graceful)
/// #     }
/// # }
/// async fn __duende_main() -> Counter {
///     duende::tokio::task::yield_now().await;
///     Counter::default()
/// }
///
/// fn main() -> std::process::ExitCode {
///     duende::__private::run_async::<Counter, _>(
///         duende::__private::MainOptions {
///             name: "counter",
///             version: env!("CARGO_PKG_VERSION"),
///             description: env!("CARGO_PKG_DESCRIPTION"),
///             mlock: duende::__private::MlockMode::BestEffort,
///         },
///         __duende_main,
///     )
/// }
/// ```
pub use duende_macros::main;
pub use duende_runtime::config;
pub use duende_runtime::{
    AppConfig, CheckStatus, Daemon, DaemonContext, DaemonMetrics, Error, Event, Exit, ExitReason, Health, IntoHealth,
    MlockMode, NoConfig, Platform, Result, Settings, Violation,
};
pub use tokio;

/// The test kit: run a daemon in-process on a paused clock, send it signals and new
/// configurations, read its health, metrics and exit (needs the `testing` feature).
#[cfg(all(feature = "testing", unix))]
pub use duende_runtime::testing;

/// Everything a daemon's source usually needs.
pub mod prelude {
    pub use crate::{Daemon, DaemonContext, Event, ExitReason, Health, NoConfig, Result, Violation};
    pub use anyhow::Context as _;
}

/// Not public API: what `#[duende::main]` expands to. May change in any release.
#[doc(hidden)]
pub mod __private {
    pub use duende_runtime::Daemon;
    pub use duende_runtime::entry::{MainOptions, run_async, run_sync};
    pub use duende_runtime::mlock::MlockMode;
}

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
