//! Turns process signals into lifecycle events: TERM/INT/QUIT start a graceful shutdown (a second
//! one forces exit with 128+N), HUP asks for a configuration reload, USR1/USR2/CONT reach the daemon.
//!
//! Signals are routed by a thread of their own, blocked in `poll` until one arrives (no periodic
//! wake-ups). It does not depend on the async runtime, so a daemon that keeps every worker busy,
//! or a reload stuck on a slow file system, can never delay a shutdown or the forced exit.
//!
//! The same thread keeps the shutdown deadline: the first shutdown request arms the process's
//! real-time interval timer (`setitimer(ITIMER_REAL)`) for `shutdown_timeout`, and its SIGALRM
//! ends the process with status 75 from here, however wedged the runtime is. So a daemon should
//! not use `alarm`/`setitimer` itself (a tokio timer does the same without the process-wide
//! timer); a SIGALRM outside a shutdown is ignored.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use signal_hook::consts::signal::{SIGALRM, SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;
use tokio::sync::mpsc;

use crate::context::{Event, Pending};
use crate::exit::Exit;
use crate::live::{Live, ReloadRefused};

/// The signals the runtime handles.
pub const HANDLED: [i32; 7] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT];

/// Default stack of the runtime's own threads (signal routing, reloading, metrics upkeep): they
/// run the daemon's `validate` at most.
pub(crate) const SERVICE_THREAD_STACK: usize = 512 << 10;

/// The stack size of the runtime's own threads: [`SERVICE_THREAD_STACK`] unless
/// `resources.thread_stack_bytes` set it (once, before any of them starts; a reload does not
/// change it).
static SERVICE_STACK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(SERVICE_THREAD_STACK);

/// The stack size each of the runtime's own threads gets.
pub(crate) fn service_stack() -> usize {
    SERVICE_STACK.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets [`service_stack`]; called once at start, before any service thread exists.
pub(crate) fn set_service_stack(bytes: usize) {
    SERVICE_STACK.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// Where signals go.
#[derive(Debug)]
pub(crate) struct Routes {
    /// Shutdown and reload requests go to the daemon's live state (a HUP while a reload is
    /// pending coalesces into it).
    pub(crate) live: Arc<Live>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) pending: Arc<Pending>,
}

/// Registers handlers for every handled signal (and SIGALRM, for `deadline`), then starts the
/// thread that routes them.
pub(crate) fn install(routes: Routes, deadline: Arc<DeadlineTimer>) -> io::Result<()> {
    let mut signals = Signals::new(HANDLED.iter().chain(&[SIGALRM]))?;
    std::thread::Builder::new().name("duende-signals".to_owned()).stack_size(service_stack()).spawn(move || {
        for signal in signals.forever() {
            if signal == SIGALRM {
                deadline.alarm(&routes);
            } else if let Some(Forced(signal)) = route(signal, &routes) {
                forced_exit(signal);
            }
        }
    })?;
    Ok(())
}

/// The shutdown deadline, kept by the kernel's real-time interval timer and served by the signal
/// thread: no thread of its own, no timer of the async runtime.
#[derive(Debug, Default)]
pub(crate) struct DeadlineTimer {
    /// `shutdown_timeout` as it was when the shutdown began; unset before.
    timeout: OnceLock<Duration>,
}

impl DeadlineTimer {
    /// Arms the timer: SIGALRM comes `timeout` from now (the shutdown request).
    pub(crate) fn start(&self, timeout: Duration) -> io::Result<()> {
        let _ = self.timeout.set(timeout);
        set_alarm(timeout)
    }

    /// A SIGALRM: past the deadline, the process ends with status 75; early (a stray SIGALRM, or
    /// one a hair ahead of the monotonic clock) the timer is armed again for what is left, and
    /// outside a shutdown it is ignored.
    fn alarm(&self, routes: &Routes) {
        let (Some(timeout), Some(requested)) = (self.timeout.get(), routes.live.shutdown().requested_at()) else {
            tracing::debug!("SIGALRM ignored: no shutdown under way");
            return;
        };
        let left = timeout.saturating_sub(requested.elapsed());
        if !left.is_zero() {
            if let Err(err) = set_alarm(left) {
                tracing::error!(%err, "cannot re-arm the shutdown deadline after an early SIGALRM");
            }
            return;
        }
        tracing::error!(timeout = %humantime::format_duration(*timeout), "shutdown did not finish within shutdown_timeout");
        std::process::exit(i32::from(Exit::ShutdownTimeout.code()));
    }
}

/// Arms the process's real-time interval timer to send SIGALRM once, `after` from now.
fn set_alarm(after: Duration) -> io::Result<()> {
    // An all-zero value would disarm the timer instead.
    let after = after.max(Duration::from_micros(1));
    let value = libc::timeval {
        tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 1,000,000: fits `suseconds_t` everywhere (i32 on macOS, i64 on Linux).
        tv_usec: after.subsec_micros() as libc::suseconds_t,
    };
    let timer = libc::itimerval { it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 }, it_value: value };
    // SAFETY: `timer` is a valid itimerval for the call's duration; the old value is not asked for.
    if unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
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
        SIGHUP => match routes.live.queue_reload("SIGHUP") {
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
