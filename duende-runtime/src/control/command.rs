//! The management commands on the control channel: `status`, `reload` and `stop` of a daemon no
//! service manager knows (one run in the foreground, in a container, ...), and the `live` part of
//! `status` under a service manager. Each reports only what the daemon answered.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::client::{self, ClientError, Connection};
use super::protocol::{DaemonState, ErrorCode, HealthLevel, Op, ReloadResult, StatusResult, StopResult};
use super::report::print_live;
use crate::cli::Command;
use crate::exit::Exit;
use crate::platform::{Host, Platform};

/// How long `status` waits for the daemon.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `status` under a service manager waits for the live part (the rest is already known).
const LIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `stop` waits for the daemon to acknowledge.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Added to the daemon's shutdown timeout while `stop` waits for it to exit.
const STOP_MARGIN: Duration = Duration::from_secs(5);

/// Carries out `status`, `reload` or `stop` through the control socket of `name` for a platform
/// without a service-manager backend; `None` for commands the control channel cannot do.
pub(crate) fn without_backend(
    name: &str,
    platform: Platform,
    host: &Host,
    command: &Command,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Option<Exit> {
    let socket = super::socket_in(&host.runtime_dir(name));
    Some(match command {
        Command::Status(args) => status(name, platform, &socket, args.json, out, err),
        Command::Reload(_) => reload(name, &socket, out, err),
        Command::Stop(_) => stop(name, &socket, out, err),
        _ => return None,
    })
}

/// `status` from the daemon itself: exit 0 only when it answered and is running.
pub(crate) fn status(
    name: &str,
    platform: Platform,
    socket: &Path,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let answered = block_on(socket, client::call::<StatusResult>(socket, Op::Status, STATUS_TIMEOUT));
    let live = answered.as_ref().ok();
    if json {
        let report = Report { schema: crate::schema::LIVE, platform, socket: socket.display().to_string(), live };
        let _ = writeln!(out, "{}", serde_json::to_string(&report).unwrap_or_default());
    }
    match answered {
        Ok(live) => {
            if !json {
                let _ = writeln!(out, "{name} on {platform}: {} (pid {})", live.state.name(), live.pid);
                print_live(&live, out);
            }
            if live.state == DaemonState::Running { Exit::Success } else { Exit::Unavailable }
        }
        Err(error) => {
            let _ = writeln!(err, "{name}: {error}");
            error.exit()
        }
    }
}

/// `__healthcheck`: exit 0 when the daemon answers, is running (ready and not stopping) and its
/// health is not unhealthy; 1 otherwise, with one line saying why (a container engine keeps it
/// in its health log).
pub(crate) fn healthcheck(name: &str, host: &Host, out: &mut dyn Write) -> Exit {
    let socket = super::socket_in(&host.runtime_dir(name));
    let verdict = match block_on(&socket, client::call::<StatusResult>(&socket, Op::Status, STATUS_TIMEOUT)) {
        Ok(live) if live.state != DaemonState::Running => Err(format!("{name} is {}", live.state.name())),
        Ok(live) if live.health.state == HealthLevel::Unhealthy => {
            Err(format!("{name} is unhealthy: {}", live.health.reason.as_deref().unwrap_or("no reason given")))
        }
        Ok(live) => Ok(format!("{name} is running, {} (score {})", live.health.state.name(), live.health.score)),
        Err(error) => Err(error.to_string()),
    };
    match verdict {
        Ok(line) => {
            let _ = writeln!(out, "{line}");
            Exit::Success
        }
        Err(line) => {
            let _ = writeln!(out, "{line}");
            Exit::Unhealthy
        }
    }
}

/// `status --json` without a service manager: where the daemon was asked and what it said
/// (schema `duende.live.v1`).
#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    platform: Platform,
    socket: String,
    live: Option<&'a StatusResult>,
}

/// `reload`: waits for the outcome; a rejected configuration exits 78 with the daemon's reason.
pub(crate) fn reload(name: &str, socket: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let bound = super::server::Limits::default().reload_wait + STATUS_TIMEOUT;
    match block_on(socket, client::call::<ReloadResult>(socket, Op::Reload, bound)) {
        Ok(reloaded) => {
            let _ = writeln!(out, "{name}: configuration reloaded; generation {} is in effect", reloaded.generation);
            Exit::Success
        }
        Err(ClientError::Refused { error, .. }) if error.code == ErrorCode::ReloadRejected => {
            let kept = error.generation.map(|g| format!("; configuration generation {g} stays")).unwrap_or_default();
            let _ = writeln!(err, "{name}: reload rejected{kept}: {}", error.message);
            Exit::Config
        }
        Err(error) => {
            let _ = writeln!(err, "{name}: `reload` failed: {error}");
            error.exit()
        }
    }
}

/// `stop`: asks for a graceful shutdown and waits until the process has ended (the daemon holds
/// the connection open until then), bounded by its shutdown timeout plus a margin. A daemon
/// that is not running is already stopped: exit 0, saying so.
pub(crate) fn stop(name: &str, socket: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let stopped = block_on(socket, async {
        let asked = async {
            let mut connection = Connection::connect(socket).await?;
            let result: StopResult = connection.call(Op::Stop).await?;
            Ok::<_, ClientError>((connection, result))
        };
        let (mut connection, result) = tokio::time::timeout(STOP_TIMEOUT, asked)
            .await
            .unwrap_or_else(|_| Err(timeout(socket, "`stop`", STOP_TIMEOUT)))?;
        let bound =
            Duration::try_from_secs_f64(result.shutdown_timeout_seconds).unwrap_or(Duration::ZERO) + STOP_MARGIN;
        tokio::time::timeout(bound, connection.closed())
            .await
            .unwrap_or_else(|_| Err(timeout(socket, &format!("by exiting (pid {})", result.pid), bound)))?;
        Ok(result)
    });
    match stopped {
        Ok(result) => {
            let already = if result.already_stopping { " (it was already stopping)" } else { "" };
            let _ = writeln!(out, "{name}: stopped (pid {}){already}", result.pid);
            Exit::Success
        }
        // As `systemctl stop` of a stopped unit: what was asked for holds, so it is a success.
        Err(ClientError::NotRunning { path }) => {
            let _ = writeln!(out, "{name}: not running; nothing to stop (no daemon answers on `{}`)", path.display());
            Exit::Success
        }
        Err(error) => {
            let _ = writeln!(err, "{name}: `stop` failed: {error}");
            error.exit()
        }
    }
}

fn timeout(socket: &Path, what: &str, bound: Duration) -> ClientError {
    ClientError::Timeout {
        path: socket.to_path_buf(),
        what: format!("{what} within {}", humantime::format_duration(bound)),
    }
}

/// The daemon's own account for `status` under a service manager; `None`, with a note on `err`,
/// when it does not answer.
pub(crate) fn live_status(socket: &Path, err: &mut dyn Write) -> Option<StatusResult> {
    match block_on(socket, client::call::<StatusResult>(socket, Op::Status, LIVE_TIMEOUT)) {
        Ok(live) => Some(live),
        Err(error) => {
            let _ = writeln!(err, "note: no live status from the daemon: {error}");
            None
        }
    }
}

/// Runs one client exchange with `socket` on a small runtime of its own (management commands
/// and `check` have none).
pub(crate) fn block_on<T, F>(socket: &Path, future: F) -> Result<T, ClientError>
where
    F: Future<Output = Result<T, ClientError>>,
{
    match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(source) => Err(ClientError::Io { path: socket.to_path_buf(), source }),
    }
}
