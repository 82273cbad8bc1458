//! The daemon as a WASI module (wasm32-wasip1), the way it runs on WOS: the same lifecycle as
//! everywhere, on what WASI preview 1 offers, and one log line for each thing it does not.
//!
//! - **No signals.** The stop path is the module's standard input and output, carrying the
//!   control protocol ([`crate::control::stdio`], `docs/control-protocol.md`): the host writes
//!   `{"v":1,"op":"stop"}` (or `reload`, `status`) and reads the replies; closing standard input
//!   stops the daemon gracefully too. Readiness, reloads and the stop are announced there as
//!   notices (`{"v":1,"event":"ready","status":"running"}`), where sd_notify would carry them.
//! - **No threads.** One current-thread tokio runtime carries the daemon, its health checks, the
//!   reloader, the control channel and the shutdown deadline, all as tasks. They run whenever
//!   the daemon awaits; a daemon that blocks its thread holds them all up, and a module that
//!   never yields again can only be ended by its host.
//! - **No memory locking** (`mlock = "required"` exits 71 before `init`, saying why), no control
//!   socket, no metrics listener (the registry still records; `status` reports the totals), no
//!   service manager inside the module: `install` and the other management commands belong to
//!   the host build of the same daemon.
//! - **No unwinding.** A panic aborts the module (its host sees a trap), where the native build
//!   catches it and exits 70.
//!
//! Standard input is polled without blocking ([`POLL_INTERVAL`](crate::control::stdio::POLL_INTERVAL)):
//! a blocking read would freeze the module's only thread, timers included. tokio on
//! wasm32-wasip1 parks by sleeping for as long as its next timer allows and cannot park without
//! one, so the channel keeps a timer pending for as long as the module runs.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cli::Command;
use crate::config::{Generation, Settings};
use crate::control::stdio::{self, Input, Output};
use crate::exit::Exit;
use crate::live::Live;
use crate::platform::{Host, Platform, detect};

/// Logs where the daemon runs and, one line each, what WASI takes away. Called once the logger
/// exists, before anything of the daemon's runs.
pub(crate) fn announce<C>(host: &Host, settings: &Settings<C>) {
    let detection = detect(host);
    if detection.platform == Platform::Wos {
        tracing::info!("running as a WASI module on WOS ({})", detection.evidence_line());
    }
    tracing::info!(
        "no signals on WASI: stop, reload and status arrive as control-protocol lines on standard input (closing it \
         stops the daemon); replies and notices such as `ready` leave on standard output, each line after an RS byte \
         (0x1E)"
    );
    tracing::info!(
        "no threads on WASI: the daemon, its health checks, the control channel and the shutdown deadline share one \
         thread; a daemon that blocks it holds them all up, and its host must end a module that never yields"
    );
    if settings.metrics.enabled {
        tracing::warn!(
            "no metrics listener on WASI (preview 1 cannot open sockets): metrics.listen {} is not served; the \
             registry still records, and `status` reports the totals",
            settings.metrics.listen
        );
    }
}

/// A management command run inside the module: there is no service manager to drive from a
/// WASI sandbox, so it is refused (exit 69), naming where it works.
pub(crate) fn unmanaged(name: &str, command: &Command) -> Exit {
    eprintln!(
        "{name}: `{}` is not available inside a WASI module: the service is managed from its host; run `{name} {}` \
         with the host build of this daemon, or talk to the running module through its standard input \
         (`{{\"v\":1,\"op\":\"status\"}}`)",
        command.name(),
        command.name()
    );
    Exit::Unavailable
}

/// Starts the control channel on standard input and output, on `runtime`. The channel's task
/// keeps a timer pending for the life of the module, even after standard input is gone:
/// without one the runtime would park for good, which WASI's single thread cannot do.
pub(crate) fn open_control<C: Send + Sync + 'static>(
    runtime: &tokio::runtime::Runtime,
    live: &Arc<Live>,
    config: &watch::Receiver<Generation<C>>,
) {
    let config = config.clone();
    let shutdown_timeout = move || config.borrow().settings.shutdown_timeout;
    let live = Arc::clone(live);
    runtime.spawn(async move {
        stdio::serve(Stdin, Output::stdout(), live, shutdown_timeout).await;
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

/// The module's standard input, polled without blocking.
struct Stdin;

impl Input for Stdin {
    fn take(&mut self) -> io::Result<Option<Vec<u8>>> {
        if !sys::stdin_ready()? {
            return Ok(None);
        }
        let mut buf = vec![0; 4096];
        let n = sys::read_stdin(&mut buf)?;
        buf.truncate(n);
        Ok(Some(buf))
    }
}

/// The two WASI calls the channel needs, through wasi-libc.
mod sys {
    use std::io;

    /// True when standard input has bytes or has reached end-of-file (a read will not block).
    pub(super) fn stdin_ready() -> io::Result<bool> {
        let mut fd = libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 };
        // SAFETY: `fd` is one valid pollfd, and the count says so; a zero timeout never blocks.
        let ready = unsafe { libc::poll(&raw mut fd, 1, 0) };
        match ready {
            -1 => Err(io::Error::last_os_error()),
            0 => Ok(false),
            _ => Ok(fd.revents != 0),
        }
    }

    /// Reads what standard input holds into `buf`; 0 at end-of-file.
    pub(super) fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }
}
