//! A swarm service and its tasks, read from the engine's own JSON (`docker service inspect`,
//! `docker inspect` of its tasks and their containers) by pure functions, and what that means
//! as a [`ServiceStatus`]: nothing here asks the engine.

use std::collections::BTreeMap;

use serde_json::Value;

use super::render::Installed;
use crate::config::platforms::SwarmMode;
use crate::platform::Platform;
use crate::platform::backend::Level;
use crate::platform::container::spec::{HASH_LABEL, SERVICE_LABEL};
use crate::platform::status::{ServiceState, ServiceStatus};

/// What the engine says of the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swarmed {
    /// The service's id.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Replicas wanted (`None`: a global service).
    pub replicas: Option<u64>,
    /// The image its tasks run.
    pub image: String,
    /// What an update must replace.
    pub installed: Installed,
    /// The rolling update's state (`updating`, `completed`, `paused`, `rollback_started`,
    /// `rollback_completed`, `rollback_paused`), empty before the first update.
    pub update_state: String,
    /// The engine's words on it.
    pub update_message: String,
}

impl Swarmed {
    /// Created by duende for the daemon `name`.
    pub fn is_ours(&self, name: &str) -> bool {
        self.labels.get(SERVICE_LABEL).map(String::as_str) == Some(name)
    }

    /// The hash of what it was created or last updated with.
    pub fn hash(&self) -> Option<&str> {
        self.labels.get(HASH_LABEL).map(String::as_str)
    }

    /// Its mode.
    pub fn mode(&self) -> SwarmMode {
        if self.replicas.is_some() { SwarmMode::Replicated } else { SwarmMode::Global }
    }
}

/// One task of the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Task {
    /// The task's id.
    pub id: String,
    /// Its slot (replicated) or 0 (global).
    pub slot: u64,
    /// The node it is on.
    pub node: String,
    /// `running` when it should run, `shutdown` when it is being replaced or stopped.
    pub desired: String,
    /// `new`, `pending`, `assigned`, `preparing`, `starting`, `running`, `complete`, `failed`,
    /// `shutdown`, `rejected`, ...
    pub state: String,
    /// The engine's message or error.
    pub message: String,
    /// Its container (empty before there is one).
    pub container: String,
    /// The image it runs.
    pub image: String,
}

/// Why the engine's JSON could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the engine's description of the service: {0}")]
pub struct Unreadable(String);

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn texts(value: &Value, field: Option<&str>) -> Vec<String> {
    value
        .as_array()
        .map(|items| items.iter().map(|item| text(field.map_or(item, |f| &item[f]))).collect())
        .unwrap_or_default()
}

/// Reads `docker service inspect NAME` (an array of one service).
pub fn parse_service(json: &str) -> Result<Swarmed, Unreadable> {
    let all: Value = serde_json::from_str(json).map_err(|err| Unreadable(err.to_string()))?;
    let one = all.get(0).ok_or_else(|| Unreadable("the engine returned no service".to_owned()))?;
    let spec = &one["Spec"];
    let labels = spec["Labels"]
        .as_object()
        .map(|labels| labels.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default();
    let replicas = match &spec["Mode"]["Replicated"] {
        Value::Null => None,
        replicated => Some(replicated["Replicas"].as_u64().unwrap_or(0)),
    };
    let container = &spec["TaskTemplate"]["ContainerSpec"];
    let networks = texts(&spec["TaskTemplate"]["Networks"], Some("Target"));
    let installed = Installed {
        configs: texts(&container["Configs"], Some("ConfigName")),
        ulimits: texts(&container["Ulimits"], Some("Name")),
        caps: texts(&container["CapabilityAdd"], None),
        host_network: networks.iter().any(|n| n == "host"),
        running: replicas.is_some_and(|r| r > 0),
    };
    // The image as given, without the digest the engine may have pinned.
    let image = text(&container["Image"]).split('@').next().unwrap_or_default().to_owned();
    Ok(Swarmed {
        id: text(&one["ID"]),
        labels,
        replicas,
        image,
        installed,
        update_state: text(&one["UpdateStatus"]["State"]),
        update_message: text(&one["UpdateStatus"]["Message"]),
    })
}

/// Reads `docker inspect --type task ID...`.
pub fn parse_tasks(json: &str) -> Result<Vec<Task>, Unreadable> {
    let all: Value = serde_json::from_str(json).map_err(|err| Unreadable(err.to_string()))?;
    let items = all.as_array().ok_or_else(|| Unreadable("the engine returned no list of tasks".to_owned()))?;
    let mut tasks: Vec<Task> = items
        .iter()
        .map(|task| {
            let status = &task["Status"];
            let error = text(&status["Err"]);
            Task {
                id: text(&task["ID"]),
                slot: task["Slot"].as_u64().unwrap_or(0),
                node: text(&task["NodeID"]),
                desired: text(&task["DesiredState"]),
                state: text(&status["State"]),
                message: if error.is_empty() { text(&status["Message"]) } else { error },
                container: text(&status["ContainerStatus"]["ContainerID"]),
                image: text(&task["Spec"]["ContainerSpec"]["Image"]).split('@').next().unwrap_or_default().to_owned(),
            }
        })
        .collect();
    tasks.sort_by(|a, b| (a.slot, &a.node, &a.id).cmp(&(b.slot, &b.node, &b.id)));
    Ok(tasks)
}

/// What `docker container inspect` says of each container: id → health (`healthy`,
/// `unhealthy`, `starting`; `none` without a check) and the process id.
pub fn parse_health(json: &str) -> BTreeMap<String, (String, u32)> {
    let all: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    all.as_array()
        .map(|items| {
            items
                .iter()
                .map(|c| {
                    let health = c["State"]["Health"]["Status"].as_str().unwrap_or("none").to_owned();
                    let pid = c["State"]["Pid"].as_u64().and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
                    (text(&c["Id"]), (health, pid))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// How many of `tasks` should run and how many do (a swarm task runs only once healthy).
pub fn counts(service: &Swarmed, tasks: &[Task]) -> (u64, u64) {
    let wanted: Vec<&Task> = tasks.iter().filter(|t| t.desired == "running").collect();
    let desired = service.replicas.unwrap_or(wanted.len() as u64);
    let running = wanted.iter().filter(|t| t.state == "running").count() as u64;
    (desired, running)
}

/// The status the service and its tasks amount to, and whether it is settled (will not become
/// ready by itself): every wanted task running is ready; none wanted is stopped; a paused
/// update or rollback is failed.
pub fn status(level: Level, service: &Swarmed, tasks: &[Task]) -> (ServiceStatus, bool) {
    let (desired, running) = counts(service, tasks);
    let paused = matches!(service.update_state.as_str(), "paused" | "rollback_paused");
    let (state, settled) = if paused {
        (ServiceState::Failed, true)
    } else if desired == 0 {
        (ServiceState::Stopped, true)
    } else if running >= desired {
        (ServiceState::Running, false)
    } else {
        (ServiceState::Starting, false)
    };
    let mut status = ServiceStatus::new(Platform::Swarm, level, state);
    status.ready = state == ServiceState::Running;
    status.manager.insert("Service".into(), service.id.clone());
    status.manager.insert("Replicas".into(), format!("{running}/{desired}"));
    status.manager.insert("Image".into(), service.image.clone());
    if !service.update_state.is_empty() {
        let message =
            if service.update_message.is_empty() { String::new() } else { format!(": {}", service.update_message) };
        status.manager.insert("UpdateStatus".into(), format!("{}{message}", service.update_state));
    }
    let failing: Vec<String> = tasks
        .iter()
        .filter(|t| t.desired == "running" && t.state != "running" && !t.message.is_empty())
        .map(|t| format!("task {}: {} ({})", t.id, t.state, t.message))
        .collect();
    status.detail = if paused {
        format!("the engine paused the service's update: {}", service.update_message)
    } else if failing.is_empty() {
        format!("{running} of {desired} tasks running and healthy")
    } else {
        format!("{running} of {desired} tasks running and healthy; {}", failing.join("; "))
    };
    (status, settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = r#"[{"ID":"svc1","Spec":{"Name":"demo","Labels":{"io.duende.service":"demo","io.duende.hash":"abc"},
      "Mode":{"Replicated":{"Replicas":3}},"TaskTemplate":{"ContainerSpec":{"Image":"localhost/demo:1@sha256:ff",
      "Configs":[{"ConfigName":"demo-111"}],"Ulimits":[{"Name":"nofile","Soft":1,"Hard":1}],"CapabilityAdd":["CAP_IPC_LOCK"]},
      "Networks":[{"Target":"host"}]}},"UpdateStatus":{"State":"rollback_completed","Message":"rollback completed"}}]"#;

    const TASKS: &str = r#"[
      {"ID":"t2","Slot":2,"NodeID":"n1","DesiredState":"running","Status":{"State":"running","Message":"started",
       "ContainerStatus":{"ContainerID":"c2"}},"Spec":{"ContainerSpec":{"Image":"localhost/demo:1"}}},
      {"ID":"t1","Slot":1,"NodeID":"n1","DesiredState":"running","Status":{"State":"running","Message":"started",
       "ContainerStatus":{"ContainerID":"c1"}},"Spec":{"ContainerSpec":{"Image":"localhost/demo:1"}}},
      {"ID":"t3","Slot":3,"NodeID":"n1","DesiredState":"running","Status":{"State":"starting","Err":"",
       "Message":"starting"},"Spec":{"ContainerSpec":{"Image":"localhost/demo:1"}}},
      {"ID":"t0","Slot":1,"NodeID":"n1","DesiredState":"shutdown","Status":{"State":"failed","Err":"task: non-zero exit (1)"},
       "Spec":{"ContainerSpec":{"Image":"localhost/demo:2"}}}]"#;

    #[test]
    fn a_service_is_read_with_what_an_update_replaces() {
        let service = parse_service(SERVICE).unwrap_or_default();
        assert!(service.is_ours("demo") && !service.is_ours("other"));
        assert_eq!(service.hash(), Some("abc"));
        assert_eq!(service.replicas, Some(3));
        assert_eq!(service.image, "localhost/demo:1");
        assert_eq!(
            service.installed,
            Installed {
                configs: vec!["demo-111".into()],
                ulimits: vec!["nofile".into()],
                caps: vec!["CAP_IPC_LOCK".into()],
                host_network: true,
                running: true
            }
        );
        assert_eq!(service.update_state, "rollback_completed");
        assert!(parse_service("[]").is_err());
        assert!(parse_service("no json").is_err());
    }

    #[test]
    fn tasks_amount_to_a_status() {
        let service = parse_service(SERVICE).unwrap_or_default();
        let tasks = parse_tasks(TASKS).unwrap_or_default();
        assert_eq!(tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["t0", "t1", "t2", "t3"]);
        assert_eq!(counts(&service, &tasks), (3, 2));
        let (status, settled) = status(Level::System, &service, &tasks);
        assert_eq!((status.state, status.ready, settled), (ServiceState::Starting, false, false));
        assert_eq!(status.manager["Replicas"], "2/3");
        assert_eq!(status.manager["UpdateStatus"], "rollback_completed: rollback completed");
        let mut all = tasks.clone();
        all[3].state = "running".into();
        assert_eq!(super::status(Level::System, &service, &all).0.state, ServiceState::Running);
        let stopped = Swarmed { replicas: Some(0), ..service.clone() };
        assert_eq!(super::status(Level::System, &stopped, &[]).0.state, ServiceState::Stopped);
        let paused = Swarmed { update_state: "paused".into(), ..service };
        let (status, settled) = super::status(Level::System, &paused, &all);
        assert_eq!((status.state, settled), (ServiceState::Failed, true));
    }

    #[test]
    fn health_is_read_per_container() {
        let json = r#"[{"Id":"c1","State":{"Pid":42,"Health":{"Status":"healthy"}}},{"Id":"c2","State":{"Pid":0}}]"#;
        let health = parse_health(json);
        assert_eq!(health["c1"], ("healthy".to_owned(), 42));
        assert_eq!(health["c2"], ("none".to_owned(), 0));
        assert!(parse_health("garbage").is_empty());
    }
}
