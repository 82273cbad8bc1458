//! What `kubectl get KIND,pods --selector ... --output json` says of a workload, as a
//! [`ServiceStatus`]: a pure function, so each state is tested from the JSON the API server
//! gives.
//!
//! "Running" is what `kubectl rollout status` calls a finished rollout: the controller has seen
//! the latest spec (`observedGeneration`), every wanted pod runs the latest template, no pod of
//! an older one is left, and every one of them is available (ready, through the readiness probe
//! that asks the daemon whether it serves). A container that cannot start (crash loop, image
//! missing on the node, bad configuration) or a Deployment past its progress deadline is
//! "failed": waiting longer will not make it ready. A Deployment scaled to 0 is "stopping" while
//! its pods shut down and "stopped" once none is left; a workload the cluster does not have is
//! "stopped" too (its manifests are installed, not applied).

use serde_json::Value;

use crate::platform::Platform;
use crate::platform::backend::Level;
use crate::platform::status::{ServiceState, ServiceStatus};

/// Why a container of a pod that is not ready will not become ready by waiting.
const STUCK: [&str; 8] = [
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// The detail of a workload the cluster does not have.
pub const NOT_APPLIED: &str = "not applied: the cluster has no such object";

/// The workload `kubectl get` was asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked<'a> {
    /// `Deployment` or `DaemonSet`.
    pub kind: &'a str,
    /// Its name (and its container's).
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// User or system install.
    pub level: Level,
}

/// The state read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// What `status` reports.
    pub status: ServiceStatus,
    /// Waiting for ready is pointless.
    pub settled: bool,
    /// One line for messages.
    pub summary: String,
}

/// Why `kubectl`'s output could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read kubectl's JSON: {0}")]
pub struct Unreadable(String);

/// The objects in `kubectl get --output json`'s answer: a `List`'s items, or the one object.
pub fn items(json: &str) -> Result<Vec<Value>, Unreadable> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(json).map_err(|err| Unreadable(err.to_string()))?;
    Ok(match value.get("items").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None if value.is_object() => vec![value],
        None => Vec::new(),
    })
}

fn count(value: &Value, path: &str) -> u64 {
    value.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

/// The status of `asked` in `json`: the workload and its pods.
pub fn interpret(asked: &Asked<'_>, json: &str) -> Result<Seen, Unreadable> {
    let objects = items(json)?;
    let workload = objects.iter().find(|o| o["kind"] == asked.kind && o["metadata"]["name"] == asked.name);
    let pods: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Pod").collect();
    let lower = asked.kind.to_ascii_lowercase();
    let what = format!("{lower} {} in namespace {}", asked.name, asked.namespace);
    let mut status = ServiceStatus::new(Platform::Kubernetes, asked.level, ServiceState::Stopped);
    status.manager.insert("Kind".into(), asked.kind.into());
    status.manager.insert("Namespace".into(), asked.namespace.into());
    let Some(workload) = workload else {
        status.detail = NOT_APPLIED.to_owned();
        return Ok(Seen { status, settled: true, summary: format!("the cluster has no {what}") });
    };
    let generation = count(workload, "/metadata/generation");
    let seen_generation = count(workload, "/status/observedGeneration");
    let current = seen_generation >= generation && workload.pointer("/status/observedGeneration").is_some();
    let (wanted, updated, available, total) = if asked.kind == "Deployment" {
        let wanted = workload.pointer("/spec/replicas").and_then(Value::as_u64).unwrap_or(1);
        let total = count(workload, "/status/replicas");
        (wanted, count(workload, "/status/updatedReplicas"), count(workload, "/status/availableReplicas"), total)
    } else {
        let wanted = count(workload, "/status/desiredNumberScheduled");
        (wanted, count(workload, "/status/updatedNumberScheduled"), count(workload, "/status/numberAvailable"), wanted)
    };
    let mut stuck = Vec::new();
    let mut restarts = 0u64;
    let mut last_exit = None;
    let mut names = Vec::new();
    for pod in &pods {
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or("?");
        names.push(pod_name.to_owned());
        let containers = pod.pointer("/status/containerStatuses").and_then(Value::as_array);
        for container in containers.into_iter().flatten().filter(|c| c["name"] == asked.name) {
            restarts += container["restartCount"].as_u64().unwrap_or(0);
            if let Some(code) = container.pointer("/lastState/terminated/exitCode").and_then(Value::as_i64) {
                last_exit = i32::try_from(code).ok();
            }
            let reason = container.pointer("/state/waiting/reason").and_then(Value::as_str).unwrap_or("");
            if STUCK.contains(&reason) {
                let message = container.pointer("/state/waiting/message").and_then(Value::as_str).unwrap_or("");
                let message = if message.is_empty() { String::new() } else { format!(" ({message})") };
                stuck.push(format!("pod {pod_name}: {reason}{message}"));
            }
        }
    }
    let deadline = workload["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|condition| condition["type"] == "Progressing" && condition["reason"] == "ProgressDeadlineExceeded");
    let rolled_out = current && updated >= wanted && total <= updated && available >= updated;
    let (state, settled) = if asked.kind == "Deployment" && wanted == 0 {
        if pods.is_empty() { (ServiceState::Stopped, true) } else { (ServiceState::Stopping, false) }
    } else if !current {
        (ServiceState::Starting, false)
    } else if asked.kind == "DaemonSet" && wanted == 0 {
        (ServiceState::Stopped, true)
    } else if rolled_out {
        (ServiceState::Running, false)
    } else if deadline || !stuck.is_empty() {
        (ServiceState::Failed, true)
    } else {
        (ServiceState::Starting, false)
    };
    status.state = state;
    status.ready = state == ServiceState::Running;
    status.restarts = u32::try_from(restarts).ok();
    status.last_exit_status = last_exit;
    let mut parts = vec![if asked.kind == "DaemonSet" && wanted == 0 {
        "no node runs it (it selects none)".to_owned()
    } else {
        format!("{available}/{wanted} available, {updated} up to date")
    }];
    if deadline {
        parts.push("the rollout exceeded its progress deadline".to_owned());
    }
    parts.extend(stuck);
    status.detail = parts.join("; ");
    status.manager.insert("Pods".into(), names.join(" "));
    status.manager.insert("Generation".into(), format!("{seen_generation}/{generation}"));
    let summary = format!("{what}: {}", status.detail);
    Ok(Seen { status, settled, summary })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DEPLOYMENT: Asked<'static> =
        Asked { kind: "Deployment", name: "demo", namespace: "default", level: Level::System };

    fn list(objects: &[Value]) -> String {
        json!({ "apiVersion": "v1", "kind": "List", "items": objects }).to_string()
    }

    fn deployment(replicas: u64, status: Value) -> Value {
        json!({ "kind": "Deployment", "metadata": { "name": "demo", "generation": 2 },
                "spec": { "replicas": replicas }, "status": status })
    }

    fn pod(name: &str, container: Value) -> Value {
        json!({ "kind": "Pod", "metadata": { "name": name }, "status": { "containerStatuses": [container] } })
    }

    fn seen(asked: &Asked<'_>, objects: &[Value]) -> Seen {
        interpret(asked, &list(objects)).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn a_finished_rollout_is_running_and_ready() {
        let status = json!({ "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                             "availableReplicas": 2 });
        let running = json!({ "name": "demo", "restartCount": 1, "lastState": { "terminated": { "exitCode": 70 } },
                              "state": { "running": {} } });
        let seen = seen(&DEPLOYMENT, &[deployment(2, status), pod("demo-1", running.clone()), pod("demo-2", running)]);
        assert_eq!((seen.status.state, seen.status.ready, seen.settled), (ServiceState::Running, true, false));
        assert_eq!((seen.status.restarts, seen.status.last_exit_status), (Some(2), Some(70)));
        assert_eq!(seen.summary, "deployment demo in namespace default: 2/2 available, 2 up to date");
        assert_eq!(seen.status.manager["Pods"], "demo-1 demo-2");
    }

    #[test]
    fn a_rollout_under_way_is_starting_and_one_that_cannot_finish_failed() {
        let unseen = json!({ "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1 });
        let seen_now = seen(&DEPLOYMENT, &[deployment(1, unseen)]);
        assert_eq!((seen_now.status.state, seen_now.settled), (ServiceState::Starting, false), "a new spec is unseen");
        let old_left = json!({ "observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2 });
        assert_eq!(seen(&DEPLOYMENT, &[deployment(1, old_left)]).status.state, ServiceState::Starting);
        let missing = json!({ "name": "demo", "state": { "waiting": { "reason": "ErrImageNeverPull",
            "message": "Container image \"localhost/demo:abc\" is not present with pull policy of Never" } } });
        let status = json!({ "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 0 });
        let failed = seen(&DEPLOYMENT, &[deployment(1, status), pod("demo-1", missing)]);
        assert_eq!((failed.status.state, failed.settled), (ServiceState::Failed, true));
        assert!(failed.status.detail.contains("pod demo-1: ErrImageNeverPull (Container image"), "{failed:?}");
        let late = json!({ "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 0,
            "conditions": [{ "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded" }] });
        assert_eq!(seen(&DEPLOYMENT, &[deployment(1, late)]).status.state, ServiceState::Failed);
    }

    #[test]
    fn scaled_to_zero_is_stopping_until_the_pods_are_gone_and_an_absent_one_stopped() {
        let status = json!({ "observedGeneration": 2 });
        let leaving = seen(&DEPLOYMENT, &[deployment(0, status.clone()), pod("demo-1", json!({ "name": "demo" }))]);
        assert_eq!((leaving.status.state, leaving.settled), (ServiceState::Stopping, false));
        assert_eq!(seen(&DEPLOYMENT, &[deployment(0, status)]).status.state, ServiceState::Stopped);
        let absent = interpret(&DEPLOYMENT, "").unwrap_or_else(|err| panic!("{err}"));
        assert_eq!((absent.status.state, absent.settled), (ServiceState::Stopped, true));
        assert_eq!(absent.summary, "the cluster has no deployment demo in namespace default");
        assert!(interpret(&DEPLOYMENT, "not json").is_err());
    }

    #[test]
    fn a_daemonset_counts_nodes() {
        let asked = Asked { kind: "DaemonSet", ..DEPLOYMENT };
        let daemonset = |status: Value| {
            json!({ "kind": "DaemonSet", "metadata": { "name": "demo", "generation": 1 },
                                                "status": status })
        };
        let ready = json!({ "observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                            "numberAvailable": 3, "numberReady": 3 });
        assert_eq!(seen(&asked, &[daemonset(ready)]).status.state, ServiceState::Running);
        let partial = json!({ "observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                              "numberAvailable": 2 });
        assert_eq!(seen(&asked, &[daemonset(partial)]).status.state, ServiceState::Starting);
        let nowhere = seen(&asked, &[daemonset(json!({ "observedGeneration": 1, "desiredNumberScheduled": 0 }))]);
        assert_eq!((nowhere.status.state, nowhere.settled), (ServiceState::Stopped, true));
        assert!(nowhere.status.detail.contains("no node runs it"));
        let fresh = seen(&asked, &[daemonset(json!({}))]);
        assert_eq!(fresh.status.state, ServiceState::Starting, "the controller has not looked at it yet");
    }
}
