//! How the daemon's live state is shown by `status`: indented text lines under the status line,
//! and the `live` member of `status --json` beside what a service manager reports.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::protocol::{HealthLevel, HealthReport, StatusResult};
use crate::platform::status::ServiceStatus;

/// `status --json` under a service manager: what the manager reports, plus `live`.
pub fn status_json(status: &ServiceStatus, live: Option<&StatusResult>) -> String {
    #[derive(Serialize)]
    struct WithLive<'a> {
        schema: &'static str,
        #[serde(flatten)]
        status: &'a ServiceStatus,
        live: Option<&'a StatusResult>,
    }
    serde_json::to_string(&WithLive { schema: crate::schema::STATUS, status, live }).unwrap_or_default()
}

/// The live state as indented lines under a status line.
pub fn print_live(live: &StatusResult, out: &mut dyn Write) {
    let _ = writeln!(out, "  health: {}", describe_health(&live.health));
    for check in &live.health.checks {
        let health =
            HealthReport { state: check.state, score: check.score, reason: check.reason.clone(), checks: Vec::new() };
        let _ = writeln!(
            out,
            "    check {}: {} ({} failures in a row)",
            shown(&check.name),
            describe_health(&health),
            check.failures
        );
    }
    let uptime = humantime::format_duration(Duration::from_secs(live.uptime_seconds as u64));
    let ready = match live.ready_after_seconds {
        Some(after) => format!("ready after {:.1} ms", after * 1e3),
        None => "not ready yet".to_owned(),
    };
    let _ = writeln!(out, "  uptime: {uptime} ({ready})");
    let reload = match &live.last_reload {
        None => String::new(),
        Some(last) => match &last.reason {
            None => format!("; last reload accepted ({} of {} accepted)", last.accepted, last.attempts),
            Some(reason) => {
                let reason = reason.lines().map(str::trim).collect::<Vec<_>>().join(" ");
                format!("; last reload rejected: {}", shown(&reason))
            }
        },
    };
    let _ = writeln!(out, "  configuration: generation {}{reload}", live.config_generation);
    if let Some(locked) = &live.locked_memory {
        let _ = writeln!(
            out,
            "  locked memory: {} pinned (VmLck {})",
            crate::mlock::format_bytes(locked.pinned_bytes),
            crate::mlock::format_bytes(locked.vm_lck_bytes)
        );
    }
    let metrics: Vec<String> = live.metrics.iter().map(|(key, value)| format!("{}={value}", shown(key))).collect();
    if !metrics.is_empty() {
        let _ = writeln!(out, "  metrics: {}", metrics.join(" "));
    }
}

/// Text the daemon sent, fit for a terminal: each control character (a line break, an escape
/// sequence's ESC) shown as its Rust escape, so a daemon can neither start a line of its own in
/// this output nor drive the terminal.
fn shown(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn describe_health(health: &HealthReport) -> String {
    let reason = shown(health.reason.as_deref().unwrap_or("no reason given"));
    match health.state {
        HealthLevel::Healthy => format!("healthy (score {})", health.score),
        HealthLevel::Degraded => format!("degraded: {reason}"),
        HealthLevel::Unhealthy => format!("unhealthy: {reason}"),
    }
}
