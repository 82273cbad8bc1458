//! duende turns one Rust struct into a production daemon.
//!
//! Implement [`Daemon`], put [`#[duende::main]`](main) on `main`, and the binary handles
//! signals, locks memory, layers its configuration, speaks sd_notify and carries a management
//! command line (`run`, `install`, `status`, `config`, `check`, ...). See the README.

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
