//! The runtime behind `#[duende::main]`. Users name the `duende` facade, not this crate.
//!
//! One concern per module: [`entry`] drives the lifecycle, [`signals`] routes signals,
//! [`config`] layers configuration, [`mlock`] locks memory, [`platform`] detects where the daemon
//! runs and holds the seam for service-manager backends, [`link`] is how the running daemon
//! reaches its manager ([`notify`] speaks sd_notify for it),
//! [`logging`] sets up `tracing`, [`cli`] parses the command line, [`control`] is the running
//! daemon's local control socket, [`metrics`] records metrics and serves them to Prometheus,
//! `pid1` stands in as init beside a daemon that is PID 1 (a container's entrypoint, or a pepita
//! microVM's `/init`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod check;
pub mod cli;
pub mod config;
pub mod context;
pub mod control;
pub mod daemon;
pub mod entry;
pub mod exit;
pub mod health;
pub mod invocation;
pub mod link;
pub(crate) mod live;
pub mod logging;
pub mod manage;
pub mod metrics;
pub mod mlock;
pub mod name;
pub mod notify;
mod pid1;
pub mod platform;
pub mod rundir;
pub mod shutdown;
pub mod signals;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{NoConfig, Settings, Violation};
pub use context::{AppConfig, DaemonContext, Event};
pub use daemon::{Daemon, Error, ExitReason, Result};
pub use exit::Exit;
pub use health::{CheckStatus, Health, IntoHealth};
pub use metrics::DaemonMetrics;
pub use mlock::MlockMode;
pub use platform::Platform;
