//! The runtime behind `#[duende::main]`. Users name the `duende` facade, not this crate.
//!
//! One concern per module: [`entry`] drives the lifecycle, [`signals`] routes signals,
//! [`config`] layers configuration, [`mlock`] locks memory, [`platform`] detects where the daemon
//! runs and holds the seam for service-manager backends, [`link`] is how the running daemon
//! reaches its manager ([`notify`] speaks sd_notify for it),
//! [`logging`] sets up `tracing`, [`cli`] parses the command line ([`docs`] renders its
//! completions and man page), [`control`] is the running
//! daemon's local control socket, [`metrics`] records metrics and serves them to Prometheus,
//! `pid1` stands in as init beside a daemon that is PID 1 (a container's entrypoint, or a pepita
//! microVM's `/init`).
//!
//! The same lifecycle builds for wasm32-wasip1 (WOS): `wasi` (compiled for that target only)
//! says what the module lacks, one log line each, and serves its stop path, the control protocol
//! on standard input and output ([`control::stdio`]); the signal, socket, service-manager and
//! PID 1 modules are Unix only.
//!
//! # Threads
//!
//! Beside the main thread (which drives the daemon's own futures, as `#[tokio::main]`'s does) and
//! the async runtime's workers, an idle daemon has one thread of duende's: `duende-signals`
//! ([`signals`]), blocked until a signal comes, because a task of the runtime would not see one
//! while the daemon keeps every worker busy. It keeps the shutdown deadline too, on the kernel's
//! interval timer (SIGALRM). The others exist only while they have work: `duende-reload` while
//! reload requests are queued (loading is blocking I/O and the daemon's own `validate`, which may
//! neither wait for a worker nor hold one; while memory is locked it stays once started, see
//! [`mlock`]), and `duende-metrics` when metrics are on
//! ([`metrics`]: upkeep, one wake-up per interval). The README's "Threads" table says the same
//! with the figures.
#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod check;
pub mod cli;
pub mod config;
pub mod context;
pub mod control;
pub mod daemon;
pub mod docs;
pub mod entry;
pub mod exit;
// The fuzzing harness: not public API (see the module documentation).
#[cfg(all(feature = "fuzzing", unix))]
#[doc(hidden)]
pub mod fuzzing;
/// Golden files for the tests.
// Used by the golden tests of the renderers, which come with their backends, and of the command
// line's texts (`docs`).
#[cfg(all(
    test,
    any(
        feature = "systemd",
        feature = "launchd",
        feature = "kubernetes",
        feature = "swarm",
        feature = "wos",
        feature = "completions"
    )
))]
mod golden;
pub mod health;
pub mod invocation;
pub mod link;
pub(crate) mod live;
pub mod logging;
#[cfg(unix)]
pub mod manage;
pub mod metrics;
pub mod mlock;
pub mod name;
#[cfg(unix)]
pub mod notify;
#[cfg(unix)]
mod pid1;
pub mod platform;
pub mod progress;
pub mod rundir;
pub mod schema;
pub mod shutdown;
#[cfg(unix)]
pub mod signals;
// The test kit drives a daemon with signals: it runs where they exist (the host, not WASI).
#[cfg(all(feature = "testing", unix))]
pub mod testing;
pub mod trim;
#[cfg(target_os = "wasi")]
pub mod wasi;

pub use config::{NoConfig, Settings, Violation};
pub use context::{AppConfig, DaemonContext, Event};
pub use daemon::{Daemon, Error, ExitReason, Result};
pub use exit::Exit;
pub use health::{CheckStatus, Health, IntoHealth};
pub use metrics::DaemonMetrics;
pub use mlock::MlockMode;
pub use platform::Platform;
