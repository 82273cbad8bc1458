//! What the daemon answers to one control request, whatever carried it: the Unix socket
//! (`server`) or standard input ([`stdio`](super::stdio), a WASI module's stop path). The transports frame,
//! bound and authenticate; this module only turns a request line into a reply line.

use std::fmt::Display;
use std::time::{Duration, UNIX_EPOCH};

use super::protocol::{
    self, CheckReport, DaemonState, ErrorCode, ErrorReply, HealthLevel, HealthReport, LastReload, LockedMemory, Op,
    ReloadOutcome, ReloadResult, Response, StatusResult, StopResult,
};
use crate::health::Health;
use crate::live::{Live, ReloadRefused};

/// What happens to a connection after a reply.
pub(crate) enum Then {
    /// Read the next request.
    Next,
    /// Close it.
    Close,
    /// Request the shutdown (only now that the reply is on its way: the runtime may end this
    /// task any moment after), then keep the connection open, reading nothing more, until the
    /// process ends.
    StopAndHold,
}

/// A failure reply line.
pub(crate) fn failure(error: ErrorReply) -> Vec<u8> {
    protocol::encode(&Response::<()>::failure(error))
}

fn success<T: serde::Serialize>(result: T) -> Vec<u8> {
    protocol::encode(&Response::success(result))
}

/// Carries out one request line from `peer` (named in the log); the reply, and what to do with
/// the channel after it. A reload waits `reload_wait` at most for its outcome; `stop` reports
/// the `shutdown_timeout` in effect.
pub(crate) async fn answer(
    line: &[u8],
    peer: &(dyn Display + Sync),
    live: &Live,
    reload_wait: Duration,
    shutdown_timeout: &(dyn Fn() -> Duration + Sync),
) -> (Vec<u8>, Then) {
    let request = match protocol::parse_request(line) {
        Ok(request) => request,
        Err(error) => {
            tracing::debug!(%peer, code = ?error.code, "control channel: bad request");
            let then = if error.code.closes_connection() { Then::Close } else { Then::Next };
            return (failure(error), then);
        }
    };
    tracing::debug!(%peer, op = request.op.name(), "control request");
    match request.op {
        Op::Status => (success(status_of(live)), Then::Next),
        Op::Reload => (reload(live, peer, reload_wait).await, Then::Next),
        Op::Stop => {
            let result = StopResult {
                pid: crate::platform::env::process_id(),
                already_stopping: live.shutdown().is_triggered(),
                shutdown_timeout_seconds: shutdown_timeout().as_secs_f64(),
            };
            (success(result), Then::StopAndHold)
        }
    }
}

async fn reload(live: &Live, peer: &(dyn Display + Sync), wait: Duration) -> Vec<u8> {
    // The reloader logs the reload with who asked for it.
    let ticket = match live.request_reload(&format!("the control channel ({peer})")) {
        Ok(ticket) => ticket,
        Err(ReloadRefused::Stopped) => {
            return failure(ErrorReply::new(ErrorCode::Unavailable, "the daemon is stopping; it reloads no more"));
        }
    };
    match tokio::time::timeout(wait, ticket.outcome()).await {
        Ok(Some(record)) => match record.rejected {
            None => success(ReloadResult { generation: record.generation }),
            Some(reason) => failure(ErrorReply {
                generation: Some(record.generation),
                ..ErrorReply::new(ErrorCode::ReloadRejected, reason)
            }),
        },
        Ok(None) => failure(ErrorReply::new(ErrorCode::Unavailable, "the daemon stopped before it reloaded")),
        Err(_elapsed) => failure(ErrorReply::new(
            ErrorCode::Timeout,
            format!(
                "the reload did not finish within {}; it may still finish: see `status` for the generation in effect",
                humantime::format_duration(wait)
            ),
        )),
    }
}

/// The live state `status` reports.
pub(crate) fn status_of(live: &Live) -> StatusResult {
    let state = if live.shutdown().is_triggered() {
        DaemonState::Stopping
    } else if live.is_ready() {
        DaemonState::Running
    } else {
        DaemonState::Starting
    };
    let health = live.health().get();
    let checks = live
        .health()
        .checks()
        .into_iter()
        .map(|check| CheckReport {
            state: level(&check.health),
            score: check.health.score(),
            reason: check.health.reason().map(str::to_owned),
            name: check.name,
            failures: check.failures,
        })
        .collect();
    let record = live.last_reload();
    let last_reload = (record.attempts > 0).then(|| LastReload {
        outcome: if record.rejected.is_none() { ReloadOutcome::Accepted } else { ReloadOutcome::Rejected },
        generation: record.generation,
        reason: record.rejected.clone(),
        attempts: record.attempts,
        accepted: record.accepted,
    });
    let metrics = match serde_json::to_value(live.metrics().summary()) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    StatusResult {
        name: live.name().to_owned(),
        version: live.version().to_owned(),
        pid: crate::platform::env::process_id(),
        state,
        ready: live.is_ready(),
        ready_after_seconds: live.ready_after().map(|after| after.as_secs_f64()),
        uptime_seconds: live.uptime().as_secs_f64(),
        started_at: live.started_at().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs()),
        health: HealthReport {
            state: level(&health),
            score: health.score(),
            reason: health.reason().map(str::to_owned),
            checks,
        },
        config_generation: live.generation(),
        last_reload,
        metrics,
        locked_memory: locked_memory(),
    }
}

/// Pinned bytes and `VmLck` while memory is locked; smaps is read only then.
fn locked_memory() -> Option<LockedMemory> {
    let status = std::fs::read_to_string("/proc/self/status").ok().map(|text| crate::mlock::parse_status(&text))?;
    let vm_lck_bytes = status.vm_lck.filter(|&bytes| bytes > 0)?;
    Some(LockedMemory { pinned_bytes: crate::mlock::pinned_bytes()?, vm_lck_bytes })
}

fn level(health: &Health) -> HealthLevel {
    match health {
        Health::Healthy { .. } => HealthLevel::Healthy,
        Health::Degraded { .. } => HealthLevel::Degraded,
        Health::Unhealthy { .. } => HealthLevel::Unhealthy,
    }
}
