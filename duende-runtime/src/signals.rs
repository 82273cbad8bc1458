//! Turns process signals into lifecycle events: TERM/INT/QUIT start a graceful shutdown (a second
//! one forces exit with 128+N), HUP reloads configuration, USR1/USR2/CONT reach the daemon.

use std::io;
use std::sync::Arc;

use futures_core::Stream;
use signal_hook::consts::signal::{SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_tokio::{Handle, Signals};
use tokio::sync::mpsc;

use crate::context::Event;
use crate::exit::Exit;
use crate::notify::Notifier;
use crate::shutdown::Shutdown;

/// The signals the runtime handles.
pub const HANDLED: [i32; 7] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT];

/// Where signals go.
#[derive(Debug)]
pub(crate) struct Routes {
    pub(crate) shutdown: Shutdown,
    pub(crate) events: mpsc::Sender<Event>,
    /// Capacity 1: a HUP while a reload is pending coalesces into it.
    pub(crate) reload: mpsc::Sender<()>,
    pub(crate) notifier: Arc<Notifier>,
}

/// Registers handlers for every handled signal and spawns the task that routes them.
/// Returns the handle that unregisters them.
pub(crate) fn install(routes: Routes) -> io::Result<Handle> {
    let signals = Signals::new(HANDLED)?;
    let handle = signals.handle();
    tokio::spawn(route(signals, routes));
    Ok(handle)
}

async fn route(mut signals: Signals, routes: Routes) {
    while let Some(signal) = next(&mut signals).await {
        match signal {
            SIGTERM | SIGINT | SIGQUIT => {
                if routes.shutdown.trigger() {
                    tracing::info!(signal = name(signal), "shutting down");
                    routes.notifier.stopping("shutting down");
                } else {
                    forced_exit(signal);
                }
            }
            SIGHUP if routes.reload.try_send(()).is_err() => {
                tracing::debug!("SIGHUP coalesced into the pending reload");
            }
            SIGUSR1 => deliver(&routes.events, Event::User1),
            SIGUSR2 => deliver(&routes.events, Event::User2),
            SIGCONT => deliver(&routes.events, Event::Continued),
            _ => {}
        }
    }
}

fn forced_exit(signal: i32) -> ! {
    let code = Exit::Signal(signal).code();
    // Written directly: the logger may be the very thing that is stuck.
    eprintln!("second {} during shutdown: exiting now with status {code}", name(signal));
    std::process::exit(i32::from(code));
}

pub(crate) fn deliver(events: &mpsc::Sender<Event>, event: Event) {
    if let Err(mpsc::error::TrySendError::Full(event)) = events.try_send(event) {
        tracing::debug!(?event, "event queue full (the daemon is not reading events); dropped");
    }
}

async fn next(signals: &mut Signals) -> Option<i32> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *signals).poll_next(cx)).await
}

/// The conventional name of a handled signal.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        SIGQUIT => "SIGQUIT",
        SIGHUP => "SIGHUP",
        SIGUSR1 => "SIGUSR1",
        SIGUSR2 => "SIGUSR2",
        SIGCONT => "SIGCONT",
        _ => "signal",
    }
}
