//! The bare tokio daemon both baseline binaries run: builds a multi-thread runtime, sends READY=1,
//! waits for SIGTERM or SIGINT, nothing else.

use std::os::unix::net::UnixDatagram;

use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
pub async fn run() -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        UnixDatagram::unbound()?.send_to(b"READY=1", path)?;
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
