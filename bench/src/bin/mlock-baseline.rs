//! The bare tokio daemon with locked memory, as one writes it without duende: `mlockall(MCL_CURRENT
//! | MCL_FUTURE)` first, a multi-thread runtime with tokio's defaults, the same 16 MiB buffer as
//! `examples/02_mlock.rs` touched page by page, READY=1, then SIGTERM or SIGINT. Nothing caps
//! malloc's arenas or sizes stacks: this is the naive way `duende-bench-mlock` compares against.

use std::os::unix::net::UnixDatagram;

use tokio::signal::unix::{SignalKind, signal};

const BUFFER: usize = 16 << 20;

fn main() -> std::io::Result<()> {
    // SAFETY: mlockall takes only flags and touches no memory of ours.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    serve()
}

#[tokio::main]
async fn serve() -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let buffer = std::hint::black_box(vec![0xA5u8; BUFFER]);
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        UnixDatagram::unbound()?.send_to(b"READY=1", path)?;
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    drop(std::hint::black_box(buffer));
    Ok(())
}
