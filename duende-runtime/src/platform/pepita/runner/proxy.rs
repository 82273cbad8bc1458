//! The runner's control socket on the host, each connection passed through to the guest's
//! control port, and the requests the runner makes itself (`stop` on SIGTERM, `reload` on SIGHUP).

use std::io::{self, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::Ask;
use crate::control::client::{ClientError, Connection};
use crate::control::protocol::{self, ErrorCode, ErrorReply, Op, ReloadResult, Response, StopResult};
use crate::platform::pepita::{CONTROL_PORT, hybrid};

/// Connections passed through at once; more are refused with `busy`.
const MAX_CONNECTIONS: usize = 16;
/// How long the `CONNECT` handshake with the vsock backend may take.
const HANDSHAKE: Duration = Duration::from_secs(5);
/// Between two attempts to reach the guest's control port.
const RETRY: Duration = Duration::from_millis(200);

/// Accepts connections on `listener` for good, each passed through to the guest's control port
/// through the hybrid vsock socket `uds` on a thread of its own.
pub(super) fn serve(listener: &UnixListener, uds: &Path) {
    let active = Arc::new(AtomicUsize::new(0));
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        if !crate::platform::native::supervisor::allowed(&client) {
            refuse(&client, ErrorCode::PermissionDenied, "only the daemon's user and root may use its control socket");
            continue;
        }
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            refuse(
                &client,
                ErrorCode::Busy,
                "the VM's runner already passes 16 connections through; try again shortly",
            );
            continue;
        }
        let (uds, done) = (uds.to_path_buf(), Arc::clone(&active));
        let spawned = thread::Builder::new().name("control-conn".into()).spawn(move || {
            pass_through(client, &uds);
            done.fetch_sub(1, Ordering::AcqRel);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One connection, passed through to the guest; refused as the daemon would when the guest's
/// control port does not answer.
fn pass_through(client: UnixStream, uds: &Path) {
    let guest = match hybrid::connect(uds, CONTROL_PORT, HANDSHAKE) {
        Ok(guest) => guest,
        Err(err) => {
            let message = format!("the VM's control port does not answer ({err}): the guest is booting or has stopped");
            refuse(&client, ErrorCode::Unavailable, &message);
            return;
        }
    };
    splice(client, guest);
}

/// Copies bytes both ways. The end of the client's stream is passed on to the guest, which still
/// answers; the end of the guest's ends the connection.
fn splice(client: UnixStream, guest: UnixStream) {
    let (Ok(mut client_in), Ok(mut guest_out)) = (client.try_clone(), guest.try_clone()) else { return };
    let upstream = thread::Builder::new().name("control-up".into()).spawn(move || {
        let _ = io::copy(&mut client_in, &mut guest_out);
        let _ = guest_out.shutdown(Shutdown::Write);
    });
    let (mut guest_in, mut client_out) = (guest, client);
    let _ = io::copy(&mut guest_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Both);
    let _ = guest_in.shutdown(Shutdown::Both);
    if let Ok(upstream) = upstream {
        let _ = upstream.join();
    }
}

/// Answers with a control-protocol error and closes.
fn refuse(mut stream: &UnixStream, code: ErrorCode, message: &str) {
    let reply: Response<()> = Response::failure(ErrorReply::new(code, message));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&protocol::encode(&reply));
    let _ = stream.shutdown(Shutdown::Both);
}

/// Asks the guest's daemon for `what`, retrying while its control port does not answer, for
/// `patience` at most; says how it went on standard error.
pub(super) fn ask(name: &str, uds: &Path, what: Ask, patience: Duration) {
    let deadline = Instant::now() + patience;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{name}: cannot ask the guest's daemon to {}: {err}", what.name());
            return;
        }
    };
    let mut last = String::new();
    while Instant::now() < deadline {
        let stream = match hybrid::connect(uds, CONTROL_PORT, HANDSHAKE) {
            Ok(stream) => stream,
            Err(err) => {
                last = err.to_string();
                thread::sleep(RETRY);
                continue;
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let label = Path::new("vsock:1025");
        let outcome = runtime.block_on(async {
            let exchange = async {
                let mut connection = Connection::over(stream, label)?;
                match what {
                    Ask::Stop => {
                        let stopped: StopResult = connection.call(Op::Stop).await?;
                        Ok(format!("the guest's daemon (pid {} in the guest) is stopping", stopped.pid))
                    }
                    Ask::Reload => {
                        let reloaded: ReloadResult = connection.call(Op::Reload).await?;
                        Ok(format!("the guest's daemon reloaded: configuration generation {}", reloaded.generation))
                    }
                }
            };
            match tokio::time::timeout(left, exchange).await {
                Ok(result) => result,
                Err(_) => Err(ClientError::Timeout { path: label.to_path_buf(), what: format!("within {left:?}") }),
            }
        });
        match outcome {
            Ok(said) => {
                eprintln!("{name}: {said}");
                return;
            }
            // Not ready yet (its control socket not open): try again.
            Err(err @ ClientError::Refused { error: ErrorReply { code: ErrorCode::Unavailable, .. }, .. }) => {
                last = err.to_string();
                thread::sleep(RETRY);
            }
            Err(err) => {
                eprintln!("{name}: the guest's daemon did not {}: {err}", what.name());
                return;
            }
        }
    }
    eprintln!("{name}: could not ask the guest's daemon to {} within {patience:?}: {last}", what.name());
}
