//! A container's state, read from the engine's own JSON (`docker inspect`, `podman inspect`):
//! running, restarting, exit code, restart count, health. Parsed by a pure function; nothing
//! here asks the engine.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::platform::Platform;
use crate::platform::backend::Level;
use crate::platform::status::{ServiceState, ServiceStatus};

/// What the engine says of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspected {
    /// `created`, `running`, `restarting`, `exited`, `paused`, `dead`, ...
    pub status: String,
    /// The process runs.
    pub running: bool,
    /// The engine is between two runs.
    pub restarting: bool,
    /// The last exit status.
    pub exit_code: i64,
    /// The process id on the host, 0 when none runs.
    pub pid: u32,
    /// When it last started.
    pub started_at: String,
    /// Why the engine could not start it, if it said.
    pub error: String,
    /// Killed by the kernel for memory.
    pub oom_killed: bool,
    /// `starting`, `healthy`, `unhealthy`; `None` without a health check.
    pub health: Option<String>,
    /// What the last health check printed.
    pub health_output: String,
    /// Automatic restarts.
    pub restart_count: u64,
    /// The restart policy's name (`no`, `on-failure`, ...).
    pub restart_policy: String,
    /// The container's labels.
    pub labels: BTreeMap<String, String>,
    /// The image reference it was created from.
    pub image: String,
}

/// Why the engine's JSON could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the engine's description of the container: {0}")]
pub struct Unreadable(String);

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// Reads the output of `inspect` (an array of one container).
pub fn parse(json: &str) -> Result<Inspected, Unreadable> {
    let all: Value = serde_json::from_str(json).map_err(|err| Unreadable(err.to_string()))?;
    let one = all.get(0).ok_or_else(|| Unreadable("the engine returned no container".to_owned()))?;
    let state = &one["State"];
    // docker says `Health`; podman 4 says `Healthcheck`.
    let health = [&state["Health"], &state["Healthcheck"]].into_iter().find(|h| h.is_object());
    let labels = one["Config"]["Labels"]
        .as_object()
        .map(|map| map.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default();
    Ok(Inspected {
        status: text(&state["Status"]),
        running: state["Running"].as_bool().unwrap_or(false),
        restarting: state["Restarting"].as_bool().unwrap_or(false),
        exit_code: state["ExitCode"].as_i64().unwrap_or(0),
        pid: state["Pid"].as_u64().and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
        started_at: text(&state["StartedAt"]),
        error: text(&state["Error"]),
        oom_killed: state["OOMKilled"].as_bool().unwrap_or(false),
        health: health.map(|h| text(&h["Status"])).filter(|s| !s.is_empty()),
        health_output: health
            .and_then(|h| h["Log"].as_array())
            .and_then(|log| log.last())
            .map(|last| text(&last["Output"]).trim().to_owned())
            .unwrap_or_default(),
        restart_count: one["RestartCount"].as_u64().unwrap_or(0),
        restart_policy: text(&one["HostConfig"]["RestartPolicy"]["Name"]),
        labels,
        image: [&one["ImageName"], &one["Config"]["Image"]]
            .into_iter()
            .map(text)
            .find(|s| !s.is_empty())
            .unwrap_or_default(),
    })
}

impl Inspected {
    /// Whether duende created the container for the daemon `name` (its service label says so).
    pub fn is_ours(&self, name: &str) -> bool {
        self.labels.get(super::spec::SERVICE_LABEL).map(String::as_str) == Some(name)
    }

    /// The state as `status` reports it; `checked` is the outcome of running the health command
    /// in the container while the engine's own first check is still due (`None`: not run).
    pub fn status(&self, level: Level, checked: Option<bool>) -> ServiceStatus {
        let healthy = match self.health.as_deref() {
            None => true,
            Some("healthy") => true,
            Some("starting") | Some("") => checked == Some(true),
            Some(_) => false,
        };
        let state = if self.restarting {
            ServiceState::Starting
        } else if self.running && healthy {
            ServiceState::Running
        } else if self.running && self.health.as_deref() == Some("unhealthy") {
            ServiceState::Failed
        } else if self.running {
            ServiceState::Starting
        } else if self.status == "created" || self.exit_code == 0 && !self.oom_killed {
            ServiceState::Stopped
        } else {
            ServiceState::Failed
        };
        let mut status = ServiceStatus::new(Platform::Container, level, state);
        status.ready = state == ServiceState::Running;
        status.pid = (self.running && self.pid > 0).then_some(self.pid);
        status.since =
            (!self.started_at.is_empty() && !self.started_at.starts_with("0001")).then(|| self.started_at.clone());
        status.restarts = u32::try_from(self.restart_count).ok();
        status.last_exit_status =
            (!self.running && self.status != "created").then(|| i32::try_from(self.exit_code).unwrap_or(i32::MAX));
        status.detail = self.detail(checked);
        let m = &mut status.manager;
        m.insert("Status".into(), self.status.clone());
        m.insert("ExitCode".into(), self.exit_code.to_string());
        m.insert("RestartCount".into(), self.restart_count.to_string());
        m.insert("RestartPolicy".into(), self.restart_policy.clone());
        m.insert("Image".into(), self.image.clone());
        if let Some(health) = &self.health {
            m.insert("Health".into(), health.clone());
        }
        if self.oom_killed {
            m.insert("OOMKilled".into(), "true".into());
        }
        status
    }

    /// Whether the container is unhealthy or stopped for good, so that waiting for ready is
    /// pointless.
    pub fn settled(&self) -> bool {
        self.restarting || self.health.as_deref() == Some("unhealthy") || !self.running
    }

    fn detail(&self, checked: Option<bool>) -> String {
        let mut parts = Vec::new();
        match (self.health.as_deref(), checked) {
            _ if !self.running => {}
            (Some("unhealthy"), _) => parts.push(format!("running but unhealthy: {}", self.health_output)),
            (Some("starting"), Some(true)) => {
                parts.push("ready (its health command passed; the engine's first scheduled check is due)".to_owned())
            }
            (Some("starting"), _) => parts.push("health check starting".to_owned()),
            _ => {}
        }
        if self.restarting {
            parts.push(format!("restarting after exit status {}", self.exit_code));
        } else if !self.running && self.status != "created" {
            parts.push(format!("exited with status {}", self.exit_code));
        }
        if self.oom_killed {
            parts.push("killed for exceeding its memory limit".to_owned());
        }
        if !self.error.is_empty() {
            parts.push(self.error.clone());
        }
        parts.join("; ")
    }

    /// The line `install` and errors show.
    pub fn summary(&self) -> String {
        let health = self.health.as_deref().map(|h| format!(", health {h}")).unwrap_or_default();
        let detail = self.detail(None);
        let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
        format!(
            "container {} (exit code {}, {} restarts{health}){detail}",
            self.status, self.exit_code, self.restart_count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = r#"[{"Id":"c3bc","State":{"Status":"running","Running":true,"Restarting":false,
      "OOMKilled":false,"Pid":4242,"ExitCode":0,"Error":"","StartedAt":"2026-12-04T13:29:43.1Z",
      "Health":{"Status":"healthy","FailingStreak":0,"Log":[{"ExitCode":0,"Output":"demo is running, healthy (score 5)\n"}]}},
      "RestartCount":2,"HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":0}},
      "Config":{"Image":"localhost/demo:abc","Labels":{"io.duende.service":"demo","io.duende.hash":"h"}}}]"#;

    #[test]
    fn a_healthy_docker_container_is_running_and_ready() {
        let inspected = parse(DOCKER).unwrap();
        assert_eq!(inspected.labels["io.duende.service"], "demo");
        let status = inspected.status(Level::System, None);
        assert_eq!(status.state, ServiceState::Running);
        assert!(status.ready);
        assert_eq!(status.pid, Some(4242));
        assert_eq!(status.restarts, Some(2));
        assert_eq!(status.manager["Health"], "healthy");
        assert_eq!(status.last_exit_status, None);
    }

    #[test]
    fn health_decides_readiness() {
        let starting = DOCKER.replace(r#""Status":"healthy""#, r#""Status":"starting""#);
        let inspected = parse(&starting).unwrap();
        assert_eq!(inspected.status(Level::System, None).state, ServiceState::Starting);
        assert_eq!(inspected.status(Level::System, Some(false)).state, ServiceState::Starting);
        let checked = inspected.status(Level::System, Some(true));
        assert_eq!(checked.state, ServiceState::Running);
        assert!(checked.detail.contains("health command passed"));
        let unhealthy = parse(&DOCKER.replace(r#""Status":"healthy""#, r#""Status":"unhealthy""#)).unwrap();
        assert_eq!(unhealthy.status(Level::System, None).state, ServiceState::Failed);
        assert_eq!(unhealthy.status(Level::System, None).pid, Some(4242));
        assert!(unhealthy.settled());
        assert!(unhealthy.summary().contains("running but unhealthy: demo is running"));
    }

    #[test]
    fn podman_health_and_exits_are_read() {
        let podman = r#"[{"State":{"Status":"exited","Running":false,"ExitCode":78,"Pid":0,
          "Healthcheck":{"Status":"unhealthy","Log":[]}},"RestartCount":0,"ImageName":"localhost/demo:abc",
          "HostConfig":{"RestartPolicy":{"Name":"no"}},"Config":{"Labels":null}}]"#;
        let inspected = parse(podman).unwrap();
        assert_eq!(inspected.health.as_deref(), Some("unhealthy"));
        assert_eq!(inspected.image, "localhost/demo:abc");
        let status = inspected.status(Level::System, None);
        assert_eq!(status.state, ServiceState::Failed);
        assert_eq!(status.last_exit_status, Some(78));
        let stopped = parse(&podman.replace("78", "0")).unwrap().status(Level::System, None);
        assert_eq!(stopped.state, ServiceState::Stopped);
        assert!(parse("[]").is_err());
        assert!(parse("not json").is_err());
    }
}
