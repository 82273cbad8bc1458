//! How `status` shows the live state.

use serde_json::{Value, json};

use crate::control::protocol::{
    CheckReport, DaemonState, HealthLevel, HealthReport, LastReload, LockedMemory, ReloadOutcome, StatusResult,
};
use crate::control::report::{print_live, status_json};
use crate::platform::Platform;
use crate::platform::{Level, ServiceState, ServiceStatus};

fn sample() -> StatusResult {
    StatusResult {
        name: "svc".to_owned(),
        version: "1.0.0".to_owned(),
        pid: 42,
        state: DaemonState::Running,
        ready: true,
        ready_after_seconds: Some(0.0021),
        uptime_seconds: 3725.9,
        started_at: 1_767_225_600,
        health: HealthReport {
            state: HealthLevel::Degraded,
            score: 0,
            reason: Some("disk 91% full".to_owned()),
            checks: vec![CheckReport {
                name: "disk".to_owned(),
                state: HealthLevel::Degraded,
                score: 0,
                reason: Some("91% full".to_owned()),
                failures: 2,
            }],
        },
        config_generation: 3,
        last_reload: Some(LastReload {
            outcome: ReloadOutcome::Rejected,
            generation: 3,
            reason: Some("app.greeting: must not be empty\n  (from --set)".to_owned()),
            attempts: 3,
            accepted: 2,
        }),
        metrics: serde_json::from_value(json!({"requests_total": 12, "errors_total": 1})).unwrap(),
        locked_memory: None,
    }
}

#[test]
fn text_shows_locked_memory_as_pinned_beside_vmlck() {
    let mut out = Vec::new();
    let locked = LockedMemory { pinned_bytes: 31_572 << 10, vm_lck_bytes: 31_596 << 10 };
    print_live(&StatusResult { locked_memory: Some(locked), ..sample() }, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\n  locked memory: 31572 KiB pinned (VmLck 31596 KiB)\n"), "{text}");
    let mut out = Vec::new();
    print_live(&sample(), &mut out);
    assert!(!String::from_utf8(out).unwrap().contains("locked memory"), "nothing locked, nothing said");
}

#[test]
fn text_shows_health_checks_uptime_generation_and_metrics() {
    let mut out = Vec::new();
    print_live(&sample(), &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "  health: degraded: disk 91% full\n\
         \x20   check disk: degraded: 91% full (2 failures in a row)\n\
         \x20 uptime: 1h 2m 5s (ready after 2.1 ms)\n\
         \x20 configuration: generation 3; last reload rejected: app.greeting: must not be empty (from --set)\n\
         \x20 metrics: errors_total=1 requests_total=12\n"
    );
}

/// Found by the fuzzing harness (fuzz/artifacts/control_client): a daemon's text reached the
/// terminal raw, so a reason could start lines of its own or send escape sequences.
#[test]
fn text_from_the_daemon_cannot_start_lines_or_drive_the_terminal() {
    let mut status = sample();
    status.health.reason = Some("disk\u{1b}[2J\nforged: line".to_owned());
    status.health.checks[0].name = "db\r\n  check x".to_owned();
    status.metrics = serde_json::from_value(json!({"a\nb": 1})).unwrap();
    let mut out = Vec::new();
    print_live(&status, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("  health: degraded: disk\\u{1b}[2J\\nforged: line\n"), "{text}");
    assert!(text.contains("    check db\\r\\n  check x: degraded"), "{text}");
    assert!(text.contains("  metrics: a\\nb=1\n"), "{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
}

#[test]
fn json_under_a_service_manager_keeps_its_fields_and_adds_live() {
    let status = ServiceStatus::new(Platform::Systemd, Level::System, ServiceState::Running);
    let without: Value = serde_json::from_str(&status_json(&status, None)).unwrap();
    let plain = serde_json::to_value(&status).unwrap();
    let mut expected = plain.as_object().unwrap().clone();
    expected.insert("live".to_owned(), Value::Null);
    expected.insert("schema".to_owned(), Value::from("duende.status.v1"));
    assert_eq!(
        without,
        Value::Object(expected.clone()),
        "every field of the manager's status, plus `schema` and `live`"
    );
    let with: Value = serde_json::from_str(&status_json(&status, Some(&sample()))).unwrap();
    assert_eq!(with["live"], serde_json::to_value(sample()).unwrap());
    assert_eq!(with["state"], "running");
}
