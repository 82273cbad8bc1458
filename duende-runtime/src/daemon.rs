//! The trait a user implements to become a daemon.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Violation;
use crate::context::DaemonContext;

/// The error type of a daemon's own code: any error converts into it with `?`.
pub type Error = anyhow::Error;

/// `Result` with the daemon error as its default error type.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

/// How `run` ended, when it returned `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitReason {
    /// The daemon finished its work or honoured a shutdown request: exit status 0.
    Graceful,
    /// The daemon gave up for the reason given: exit status 70.
    Failed(String),
}

/// A daemon: built by the body of `#[duende::main] fn main`, then driven through
/// `init` → `run` → `shutdown` by the runtime.
///
/// The futures need not be `Send`: the runtime drives them on the thread that called `main`.
/// Health checks, metrics upkeep and signal handling run beside them on the async runtime.
///
/// ```
/// use duende_runtime::{Daemon, DaemonContext, ExitReason, NoConfig, Result};
///
/// struct Quiet;
///
/// impl Daemon for Quiet {
///     type Config = NoConfig;
///     async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
///         ctx.shutdown_requested().await;
///         Ok(ExitReason::Graceful)
///     }
/// }
/// ```
///
/// Users reach this trait through the `duende` facade and put `#[duende::main]` on a `main`
/// that returns the daemon value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a duende daemon",
    label = "the body of `#[duende::main] fn main` must build a value whose type implements `duende::Daemon`",
    note = "implement `duende::Daemon` for `{Self}`, or return the daemon value from `main`"
)]
pub trait Daemon: Sized + 'static {
    /// The daemon's own configuration: the `[app]` section, layered like every other section.
    /// Use [`NoConfig`](crate::config::NoConfig) when the daemon has none.
    type Config: DeserializeOwned + Serialize + Default + Send + Sync + 'static;

    /// Checks the daemon's own section after it has been parsed; every problem returned is
    /// reported with its key, where the value came from and what is allowed.
    /// Keys are relative to `[app]`.
    fn validate(config: &Self::Config) -> std::result::Result<(), Vec<Violation>> {
        let _ = config;
        Ok(())
    }

    /// Prepares the daemon. Readiness (`READY=1`) is announced after this returns `Ok`.
    /// An error here exits with status 70 and `run` is never entered.
    fn init(&mut self, ctx: &mut DaemonContext<Self::Config>) -> impl Future<Output = Result<()>> {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Does the daemon's work until it is done or [`DaemonContext::shutdown_requested`] resolves.
    fn run(&mut self, ctx: &mut DaemonContext<Self::Config>) -> impl Future<Output = Result<ExitReason>>;

    /// Releases what the daemon holds. The runtime bounds `run`'s return after a shutdown request
    /// plus this call by `shutdown_timeout`; past it the process exits with status 75.
    fn shutdown(&mut self, ctx: &mut DaemonContext<Self::Config>) -> impl Future<Output = Result<()>> {
        let _ = ctx;
        async { Ok(()) }
    }
}
