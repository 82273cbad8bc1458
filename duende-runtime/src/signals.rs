//! Turns process signals into lifecycle events: TERM/INT/QUIT start a graceful shutdown (a second
//! one forces exit with 128+N), HUP asks for a configuration reload, USR1/USR2/CONT reach the daemon.
//!
//! Signals are routed by a thread of their own, blocked in `poll` until one arrives (no periodic
//! wake-ups). It does not depend on the async runtime, so a daemon that keeps every worker busy,
//! or a reload stuck on a slow file system, can never delay a shutdown or the forced exit.

use std::io;
use std::sync::Arc;

use signal_hook::consts::signal::{SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;
use tokio::sync::mpsc;

use crate::context::{Event, Pending};
use crate::exit::Exit;
use crate::live::{Live, ReloadRefused};

/// The signals the runtime handles.
pub const HANDLED: [i32; 7] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT];

/// Stack of the runtime's own threads (signal routing, reloading): they run no user code.
pub(crate) const SERVICE_THREAD_STACK: usize = 512 << 10;

/// Where signals go.
#[derive(Debug)]
pub(crate) struct Routes {
    /// Shutdown and reload requests go to the daemon's live state (a HUP while a reload is
    /// pending coalesces into it).
    pub(crate) live: Arc<Live>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) pending: Arc<Pending>,
}

/// Registers handlers for every handled signal, then starts the thread that routes them.
pub(crate) fn install(routes: Routes) -> io::Result<()> {
    let mut signals = Signals::new(HANDLED)?;
    std::thread::Builder::new().name("duende-signals".to_owned()).stack_size(SERVICE_THREAD_STACK).spawn(
        move || {
            for signal in signals.forever() {
                if let Some(Forced(signal)) = route(signal, &routes) {
                    forced_exit(signal);
                }
            }
        },
    )?;
    Ok(())
}

/// A second terminating signal during shutdown: the process must end now with 128+N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forced(pub(crate) i32);

/// Carries `signal` to where it goes; a second terminating signal is returned as [`Forced`] for
/// the caller to act on (the signal thread exits the process; the test kit ends the daemon).
pub(crate) fn route(signal: i32, routes: &Routes) -> Option<Forced> {
    match signal {
        SIGTERM | SIGINT | SIGQUIT => {
            let first = routes.live.begin_shutdown(|| tracing::info!(signal = name(signal), "shutting down"));
            return (!first).then_some(Forced(signal));
        }
        SIGHUP => match routes.live.queue_reload() {
            Ok(true) => {}
            Ok(false) => tracing::debug!("SIGHUP coalesced into the pending reload"),
            Err(ReloadRefused::Stopped) => tracing::warn!("SIGHUP ignored: the reloader has stopped"),
        },
        SIGUSR1 => deliver_signal(routes, Event::User1),
        SIGUSR2 => deliver_signal(routes, Event::User2),
        SIGCONT => deliver_signal(routes, Event::Continued),
        _ => {}
    }
    None
}

fn forced_exit(signal: i32) -> ! {
    let code = Exit::Signal(signal).code();
    // Written directly: the logger may be the very thing that is stuck.
    eprintln!("second {} during shutdown: exiting now with status {code}", name(signal));
    std::process::exit(i32::from(code));
}

/// Queues a signal event unless one of its kind is already waiting to be read.
fn deliver_signal(routes: &Routes, event: Event) {
    if !routes.pending.claim(&event) {
        return;
    }
    if let Err(mpsc::error::TrySendError::Full(event) | mpsc::error::TrySendError::Closed(event)) =
        routes.events.try_send(event)
    {
        routes.pending.release(&event);
        tracing::debug!(?event, "event queue full (the daemon is not reading events); dropped");
    }
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
