//! duende turns one Rust struct into a production daemon.
//!
//! Implement [`Daemon`], put [`#[duende::main]`](main) on `main`, and the binary handles
//! signals, locks memory, layers its configuration, speaks sd_notify and carries a management
//! command line (`run`, `install`, `status`, `config`, `check`, ...). See the README.

pub use duende_macros::main;
pub use duende_runtime::config;
pub use duende_runtime::{
    AppConfig, Daemon, DaemonContext, DaemonMetrics, Error, Event, Exit, ExitReason, MlockMode, NoConfig, Platform,
    Result, Settings, Violation,
};
pub use tokio;

/// Everything a daemon's source usually needs.
pub mod prelude {
    pub use crate::{Daemon, DaemonContext, Event, ExitReason, NoConfig, Result, Violation};
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
