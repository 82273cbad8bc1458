//! [`render`]: a [`Workload`] as its ConfigMap and its Deployment or DaemonSet. Pure; the
//! reasoning behind each field is in the [module doc](super).

use std::collections::BTreeMap;
use std::time::Duration;

use super::yaml::{self, Map, Value, s, strings};
use super::{
    DIGEST_ANNOTATION, GRACE_MARGIN, MARKER, Manifest, Manifests, RenderError, STARTUP_BUDGET, STARTUP_PERIOD, Workload,
};
use crate::config::platforms::KubernetesKind;
use crate::config::settings::CAPABILITIES;
use crate::config::{Backoff, RestartPolicy};
use crate::platform::container::image::REPOSITORY_PREFIX;

/// The most a ConfigMap holds.
const CONFIG_MAP_LIMIT: usize = 1024 * 1024;

/// Where the runtime directory's `emptyDir` is mounted; the directory itself is `NAME` in it.
const RUNTIME_MOUNT: &str = "/run/duende";

/// The manifests of `workload`, or why it cannot have any.
pub fn render(workload: &Workload<'_>) -> Result<Manifests, RenderError> {
    check(workload)?;
    let name = workload.name;
    let mut notes = Vec::new();
    let labels = labels(workload, &mut notes);
    let pod = pod_spec(workload, &mut notes)?;

    let config_map = Map::new()
        .with("apiVersion", s("v1"))
        .with("kind", s("ConfigMap"))
        .with("metadata", metadata(workload, &labels, Map::new()))
        .with("data", Map::new().with(&format!("{name}.toml"), s(workload.config_toml)));

    let settings = &workload.settings.platform.kubernetes;
    let (kind, mut spec) = match settings.kind {
        KubernetesKind::Deployment => ("Deployment", Map::new().with("replicas", i64::from(settings.replicas))),
        KubernetesKind::Daemonset => ("DaemonSet", Map::new()),
    };
    spec.set("selector", Map::new().with("matchLabels", Map::new().with("app.kubernetes.io/name", s(name))));
    let template_metadata = Map::new()
        .with("labels", labels.clone())
        .with("annotations", Map::new().with(DIGEST_ANNOTATION, s(workload.digest)));
    spec.set("template", Map::new().with("metadata", template_metadata).with("spec", pod));
    let mut annotations = Map::new();
    let description = workload.settings.description.trim();
    if !description.is_empty() {
        annotations.set("kubernetes.io/description", s(description));
    }
    let object = Map::new()
        .with("apiVersion", s("apps/v1"))
        .with("kind", s(kind))
        .with("metadata", metadata(workload, &labels, annotations))
        .with("spec", spec);

    // The comment lines get their `# ` from the emitter.
    let marker = MARKER.trim_start_matches("# ");
    let mut header = vec![format!(
        "{marker}: `{name} install --platform kubernetes` renders this file; change the configuration, not this file."
    )];
    let config_file = Manifest {
        file_name: format!("{name}.configmap.yaml"),
        kind: "ConfigMap",
        yaml: yaml::document(&header, &config_map),
    };
    if !notes.is_empty() {
        header.push("Not done by Kubernetes as configured:".to_owned());
        header.extend(notes.iter().map(|note| format!("- {note}")));
    }
    let workload_file = Manifest {
        file_name: format!("{name}.{}.yaml", kind.to_ascii_lowercase()),
        kind,
        yaml: yaml::document(&header, &object),
    };
    Ok(Manifests { files: vec![config_file, workload_file], notes })
}

/// The checks Kubernetes would make later, made now with the key to blame.
fn check(w: &Workload<'_>) -> Result<(), RenderError> {
    let name_ok = w.name.starts_with(|c: char| c.is_ascii_lowercase()) && dns_label(w.name);
    if !name_ok {
        return Err(RenderError::Name(w.name.to_owned()));
    }
    let namespace = &w.settings.platform.kubernetes.namespace;
    if !dns_label(namespace) {
        return Err(RenderError::Namespace(namespace.clone()));
    }
    if w.image.is_empty() || w.image.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(RenderError::Image(w.image.to_owned()));
    }
    if w.config_toml.len() > CONFIG_MAP_LIMIT {
        return Err(RenderError::ConfigTooLarge(w.config_toml.len()));
    }
    if w.digest.trim().is_empty() {
        return Err(RenderError::NoDigest);
    }
    let replicas = w.settings.platform.kubernetes.replicas;
    if replicas > 10_000 {
        let allowed = "an integer between 0 and 10000";
        return Err(RenderError::OutOfRange {
            key: "platform.kubernetes.replicas",
            value: replicas.to_string(),
            allowed,
        });
    }
    Ok(())
}

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
fn dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// A label value: at most 63 characters of letters, digits, `-`, `_`, `.`, starting and ending
/// with a letter or digit.
fn label_value(text: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.len() <= 63
        && edge(text.chars().next())
        && edge(text.chars().last())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn labels(w: &Workload<'_>, notes: &mut Vec<String>) -> Map {
    let mut labels =
        Map::new().with("app.kubernetes.io/name", s(w.name)).with("app.kubernetes.io/managed-by", s("duende"));
    let version = &w.settings.version;
    if label_value(version) {
        labels.set("app.kubernetes.io/version", s(version));
    } else if !version.is_empty() {
        notes.push(format!(
            "the version {version:?} is not a valid label value (letters, digits, `-`, `_`, `.`, at most 63), so the \
             objects have no `app.kubernetes.io/version` label"
        ));
    }
    labels
}

fn metadata(w: &Workload<'_>, labels: &Map, mut annotations: Map) -> Map {
    annotations.set(DIGEST_ANNOTATION, s(w.digest));
    Map::new()
        .with("name", s(w.name))
        .with("namespace", s(&w.settings.platform.kubernetes.namespace))
        .with("labels", labels.clone())
        .with("annotations", annotations)
}

fn pod_spec(w: &Workload<'_>, notes: &mut Vec<String>) -> Result<Map, RenderError> {
    let settings = w.settings;
    let name = w.name;
    let restart = restart_comment(settings.restart, &settings.backoff, notes);
    let timeout = settings.shutdown_timeout;
    let grace = whole_seconds(timeout).saturating_add(GRACE_MARGIN.as_secs());
    let grace_comment = format!(
        "shutdown_timeout ({}) + {} s, counted from SIGTERM (no preStop hook): the daemon's own deadline fires first",
        humantime::format_duration(timeout),
        GRACE_MARGIN.as_secs()
    );
    let volumes = vec![
        Value::Map(Map::new().with("name", s("config")).with(
            "configMap",
            Map::new().with("name", s(name)).with(
                "items",
                vec![Value::Map(
                    Map::new().with("key", s(format!("{name}.toml"))).with("path", s(format!("{name}.toml"))),
                )],
            ),
        )),
        Value::Map(Map::new().with("name", s("runtime")).with("emptyDir", Map::new().with("medium", s("Memory")))),
    ];
    let service_links = [
        "no Service variables: a Service named like the daemon would give it NAME_PORT...,".to_owned(),
        "which it would read as configuration".to_owned(),
    ];
    Ok(Map::new()
        .commented(&service_links, "enableServiceLinks", false)
        .commented(&restart, "restartPolicy", s("Always"))
        .commented(&[grace_comment], "terminationGracePeriodSeconds", i64::try_from(grace).unwrap_or(i64::MAX))
        .with("containers", vec![Value::Map(container(w, notes)?)])
        .with("volumes", volumes))
}

/// Comment lines for `restartPolicy: Always`; a note when the policy or the backoff cannot be
/// honoured.
fn restart_comment(policy: RestartPolicy, backoff: &Backoff, notes: &mut Vec<String>) -> Vec<String> {
    let mut lines = vec!["the only policy of a Deployment's or DaemonSet's pods; the kubelet waits 10 s".to_owned()];
    lines.push("doubling to 5 min between restarts of a container that keeps exiting".to_owned());
    if let RestartPolicy::Never | RestartPolicy::OnFailure = policy {
        let value = if policy == RestartPolicy::Never { "never" } else { "on-failure" };
        lines.insert(0, format!("restart = \"{value}\" cannot be honoured here:"));
        notes.push(format!(
            "`restart = \"{value}\"`: Kubernetes restarts the container of a Deployment or DaemonSet whenever it exits \
             (`restartPolicy: Always`, the only policy these allow); only a Job would not, and a Job is not a daemon"
        ));
    }
    if *backoff != Backoff::default() {
        notes.push(
            "`[backoff]`: the kubelet's own delay between restarts applies (10 s doubling to 5 min), not the configured \
             one"
                .to_owned(),
        );
    }
    lines
}

fn container(w: &Workload<'_>, notes: &mut Vec<String>) -> Result<Map, RenderError> {
    let settings = w.settings;
    let name = w.name;
    let binary = format!("/usr/local/bin/{name}");
    let mut args = vec!["run".to_owned(), "--config".to_owned(), format!("/etc/{name}/{name}.toml")];
    args.extend(w.args.iter().cloned());
    if !settings.args.is_empty() {
        args.push("--".to_owned());
        args.extend(settings.args.iter().cloned());
    }
    let dollars = ["every `$` is written `$$`: the kubelet expands `$(VAR)` and reads `$$` as `$`".to_owned()];
    let (policy, pull) = if w.image.starts_with(REPOSITORY_PREFIX) {
        let why = "the image duende built is in no registry: it runs from the copy loaded onto the node".to_owned();
        ("Never", vec![why])
    } else {
        ("IfNotPresent", Vec::new())
    };
    let mut container = Map::new()
        .with("name", s(name))
        .with("image", s(w.image))
        .commented(&pull, "imagePullPolicy", s(policy))
        .with("command", strings([literal(&binary)]))
        .commented(&dollars, "args", strings(args.iter().map(|arg| literal(arg))));
    if let Some(dir) = &settings.working_dir {
        let text = dir.to_str().filter(|_| dir.is_absolute()).ok_or_else(|| RenderError::WorkingDir(dir.clone()))?;
        container.set("workingDir", s(text));
    }
    container.set("env", env(w)?);
    let probe = Probe::for_settings(w, notes);
    if let Some(port) = probe.port {
        let port =
            Map::new().with("name", s("metrics")).with("containerPort", i64::from(port)).with("protocol", s("TCP"));
        container.set("ports", vec![Value::Map(port)]);
    }
    resources(settings, &mut container, notes)?;
    let (comment, security) = security_context(settings, notes)?;
    if !security.is_empty() {
        container.set_commented(&comment, "securityContext", security);
    }
    let check = &settings.health_check;
    let (period, timeout) = (seconds(check.interval), seconds(check.timeout));
    let retries = i64::from(check.retries.max(1));
    let startup_period = seconds(STARTUP_PERIOD);
    let startup_tries = i64::try_from(STARTUP_BUDGET.as_secs() / STARTUP_PERIOD.as_secs().max(1)).unwrap_or(1);
    container = container
        .commented(&probe.comment, "startupProbe", probe.spec(startup_period, timeout, startup_tries))
        .with("readinessProbe", probe.spec(period, timeout, retries))
        .with("livenessProbe", probe.spec(period, timeout, retries));
    let mounts = vec![
        Value::Map(
            Map::new().with("name", s("config")).with("mountPath", s(format!("/etc/{name}"))).with("readOnly", true),
        ),
        Value::Map(Map::new().with("name", s("runtime")).with("mountPath", s(RUNTIME_MOUNT))),
    ];
    Ok(container.with("volumeMounts", mounts))
}

/// `text` with every `$` doubled, so the kubelet's `$(VAR)` expansion gives `text` back.
pub(super) fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// `RUNTIME_DIRECTORY`, then `settings.env`, then the workload's: later ones win, sorted by name.
fn env(w: &Workload<'_>) -> Result<Value, RenderError> {
    let mut vars = BTreeMap::new();
    vars.insert("RUNTIME_DIRECTORY".to_owned(), format!("{RUNTIME_MOUNT}/{}", w.name));
    vars.extend(w.settings.env.iter().map(|(name, value)| (name.clone(), value.clone())));
    vars.extend(w.env.iter().cloned());
    let mut list = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        if !env_name(&name) {
            return Err(RenderError::EnvName(name));
        }
        list.push(Value::Map(Map::new().with("name", s(name)).with("value", s(literal(&value)))));
    }
    Ok(Value::List(list))
}

/// Kubernetes' rule for variable names: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
fn env_name(name: &str) -> bool {
    name.starts_with(|c: char| !c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Whole seconds, rounded up, at least 1, as Kubernetes' 32-bit fields take them.
fn seconds(duration: Duration) -> i64 {
    i64::try_from(whole_seconds(duration).max(1)).unwrap_or(i64::MAX).min(i64::from(i32::MAX))
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0))
}

/// How the kubelet asks whether the daemon serves.
struct Probe {
    /// `Some(port)`: `GET /healthz` on the metrics listener; `None`: the exec health command.
    port: Option<u16>,
    /// The listener's own address when it is a specific one (the kubelet asks the pod's IP
    /// otherwise).
    host: Option<String>,
    command: Vec<String>,
    comment: Vec<String>,
}

impl Probe {
    fn for_settings(w: &Workload<'_>, notes: &mut Vec<String>) -> Probe {
        let metrics = &w.settings.metrics;
        let listen = metrics.listen;
        let command = vec![format!("/usr/local/bin/{}", w.name), "__healthcheck".to_owned()];
        let exec = |why: &str| Probe {
            port: None,
            host: None,
            command: command.clone(),
            comment: vec![
                format!("probes: the health command, which asks the daemon through its control socket; {why}"),
                "(an exec probe starts a process on every run)".to_owned(),
            ],
        };
        if !metrics.enabled {
            return exec("the metrics listener (which answers GET /healthz) is off");
        }
        let ip = listen.ip().to_canonical();
        let unreachable = if ip.is_loopback() {
            Some(format!(
                "metrics listen on loopback ({listen}), which the kubelet cannot reach; listen on 0.0.0.0:{} (with \
                 `metrics.allow_remote = true`) for HTTP probes",
                listen.port()
            ))
        } else if listen.port() == 0 {
            Some("metrics listen on a port picked at start (port 0), which the kubelet cannot know".to_owned())
        } else {
            None
        };
        if let Some(why) = unreachable {
            notes.push(format!("probes run the health command instead of GET /healthz: {why}"));
            return exec(&why);
        }
        Probe {
            port: Some(listen.port()),
            host: (!ip.is_unspecified()).then(|| ip.to_string()),
            command,
            comment: vec![format!(
                "probes: GET /healthz on the metrics listener ({listen}): 200 while the daemon serves"
            )],
        }
    }

    fn spec(&self, period: i64, timeout: i64, failures: i64) -> Map {
        let handler = match self.port {
            Some(port) => {
                let mut get = Map::new().with("path", s("/healthz")).with("port", i64::from(port));
                if let Some(host) = &self.host {
                    get.set("host", s(host));
                }
                Map::new().with("httpGet", get.with("scheme", s("HTTP")))
            }
            None => Map::new().with("exec", Map::new().with("command", strings(self.command.iter().cloned()))),
        };
        handler.with("periodSeconds", period).with("timeoutSeconds", timeout).with("failureThreshold", failures)
    }
}

/// `limits` from `[resources]`, and a note for each limit Kubernetes has no field for.
fn resources(
    settings: &crate::config::Settings<()>,
    container: &mut Map,
    notes: &mut Vec<String>,
) -> Result<(), RenderError> {
    let r = &settings.resources;
    let mut limits = Map::new();
    if let Some(bytes) = r.memory_bytes {
        limits.set("memory", s(bytes_quantity(bytes)));
    }
    if let Some(percent) = r.cpu_quota_percent {
        if !(percent.is_finite() && percent > 0.0 && percent <= 102_400.0) {
            let allowed = "a finite number greater than 0 and at most 102400 (percent of one CPU)";
            return Err(RenderError::OutOfRange {
                key: "resources.cpu_quota_percent",
                value: percent.to_string(),
                allowed,
            });
        }
        // At most 1024000 after the check above, so the conversion is exact.
        let millicores = (percent * 10.0).round().max(1.0) as u64;
        limits.set("cpu", s(format!("{millicores}m")));
    }
    let unenforced = [
        (
            "cpu_shares",
            r.cpu_shares,
            "it is a relative weight, and Kubernetes derives a pod's weight from `requests.cpu`, an absolute amount the scheduler must find on a node",
        ),
        ("memory_swap_bytes", r.memory_swap_bytes, "swap is the node's setting, with no per-pod limit"),
        ("io_read_bps", r.io_read_bps, "Kubernetes has no per-pod I/O bandwidth limit"),
        ("io_write_bps", r.io_write_bps, "Kubernetes has no per-pod I/O bandwidth limit"),
        ("pids_max", r.pids_max, "the kubelet's node-wide `podPidsLimit` bounds the processes of every pod instead"),
        (
            "open_files_max",
            r.open_files_max,
            "the open-file limit is the container runtime's (`RLIMIT_NOFILE`), with no pod field",
        ),
    ];
    for (key, value, why) in unenforced {
        if let Some(value) = value {
            notes.push(format!("`resources.{key}` = {value} is not enforced: {why}"));
        }
    }
    if !limits.is_empty() {
        let comment = ["from [resources]; Kubernetes requests what it limits when no request is given".to_owned()];
        container.set_commented(&comment, "resources", Map::new().with("limits", limits));
    }
    Ok(())
}

/// `bytes` as a Kubernetes quantity: in the largest binary unit that divides it exactly.
pub(super) fn bytes_quantity(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)];
    UNITS
        .iter()
        .find(|(_, size)| bytes >= *size && bytes.is_multiple_of(*size))
        .map_or_else(|| bytes.to_string(), |(unit, size)| format!("{}{unit}", bytes / size))
}

/// The container's `securityContext` and the comment above it.
fn security_context(
    settings: &crate::config::Settings<()>,
    notes: &mut Vec<String>,
) -> Result<(Vec<String>, Map), RenderError> {
    let mut context = Map::new();
    let mut comment = Vec::new();
    let user = settings.user.as_deref().map(|user| (user, numeric_id(user)));
    match user {
        None => {}
        Some((_, Some(0))) => context.set("runAsUser", 0),
        Some((_, Some(uid))) => {
            context.set("runAsUser", uid);
            context.set("runAsNonRoot", true);
        }
        Some((name, None)) => notes.push(format!(
            "`user = {name:?}` is a name, which `runAsUser` cannot take nor `runAsNonRoot` verify: the pod runs as the \
             image's user (built as {name:?}); configure a numeric uid to have Kubernetes set and check it"
        )),
    }
    match settings.group.as_deref().map(|group| (group, numeric_id(group))) {
        None => {}
        Some((_, Some(gid))) => context.set("runAsGroup", gid),
        Some((name, None)) => notes.push(format!(
            "`group = {name:?}` is a name, which `runAsGroup` cannot take: the pod runs with the image's group"
        )),
    }

    let hardening = &settings.hardening;
    let mut caps: Vec<String> = Vec::new();
    for cap in &hardening.capabilities {
        if !CAPABILITIES.contains(&cap.as_str()) {
            let allowed = "a capability name such as `CAP_NET_BIND_SERVICE`";
            return Err(RenderError::OutOfRange { key: "hardening.capabilities", value: format!("{cap:?}"), allowed });
        }
        caps.push(cap.trim_start_matches("CAP_").to_owned());
    }
    let r = &settings.resources;
    if r.lock_memory || r.lock_memory_required {
        caps.push("IPC_LOCK".to_owned());
        comment.push("IPC_LOCK for resources.lock_memory; there is no per-pod RLIMIT_MEMLOCK (kubernetes".to_owned());
        comment.push("issue 3595): the capability lifts it for a root daemon only".to_owned());
        let mut note = "memory locking: Kubernetes has no per-pod memlock limit (kubernetes issue 3595); `IPC_LOCK` \
                        lets a root daemon lock past the limit"
            .to_owned();
        if !matches!(user, None | Some((_, Some(0)))) {
            note.push_str(
                ", but this daemon's user is not root, so it can lock only what the node's container runtime allows: \
                 run the runtime with `LimitMEMLOCK=infinity`",
            );
        } else {
            note.push_str("; a non-root user would need the node's container runtime run with `LimitMEMLOCK=infinity`");
        }
        notes.push(note);
    }
    caps.sort_unstable();
    caps.dedup();

    if hardening.enabled {
        if hardening.no_new_privileges && !caps.iter().any(|cap| cap == "SYS_ADMIN") {
            context.set("allowPrivilegeEscalation", false);
        } else if hardening.no_new_privileges {
            notes.push(
                "`hardening.no_new_privileges`: Kubernetes refuses `allowPrivilegeEscalation: false` with \
                 `CAP_SYS_ADMIN`, so it is left out"
                    .to_owned(),
            );
        }
        let mut capabilities = Map::new().with("drop", strings(["ALL"]));
        if !caps.is_empty() {
            capabilities.set("add", strings(caps));
        }
        context.set("capabilities", capabilities);
        context.set("seccompProfile", Map::new().with("type", s("RuntimeDefault")));
    } else if !caps.is_empty() {
        context.set("capabilities", Map::new().with("add", strings(caps)));
    }
    Ok((comment, context))
}

/// `root` or a number: the id Kubernetes can take.
fn numeric_id(text: &str) -> Option<i64> {
    if text == "root" {
        return Some(0);
    }
    text.parse::<u32>().ok().map(i64::from)
}
