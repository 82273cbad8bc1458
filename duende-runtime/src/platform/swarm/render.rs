//! What the swarm engine is told, rendered by pure functions from the validated configuration:
//! the [`Spec`] of the service, the `docker service create` words of a fresh one
//! ([`create_args`]), the `docker service update` words that bring an installed one to the same
//! spec ([`update_args`], a rolling update), and the name of the configuration's config object
//! ([`config_object`]). Every value is one argv word: nothing in the configuration can become an
//! engine flag.
//!
//! Why each part is what it is:
//! - **Image**: the container backend's, built from the binary, with the configuration *not* in
//!   it: the configuration is a swarm config object mounted where the image's command reads it
//!   (`/etc/NAME/NAME.toml`, mode 0444). Config objects cannot change, so one is named after its
//!   content's digest (`NAME-<12 hex>`); a changed configuration is a new object and a rolling
//!   update that swaps it (`--config-rm` the old, `--config-add` the new).
//! - **Scheduling**: `replicas` copies (`mode = "replicated"`), or one per node
//!   (`mode = "global"`). A replicated service installed without `--now` is created with 0
//!   replicas; `start` scales it to `replicas`, `stop` to 0.
//! - **Restarts**: `restart` as the engine's condition (`never` → `none`, `on-failure` →
//!   `on-failure`, `always` and `unless-stopped` → `any`: a swarm has no operator's stop of a
//!   task to tell apart), `backoff.initial` as the delay, `platform.swarm.restart_max_attempts`
//!   (0: no limit).
//! - **Stopping**: `--stop-grace-period` is `shutdown_timeout` plus the managers' margin, the
//!   container backend's stop timeout.
//! - **Resources**: memory, CPU and process limits; memory and CPU reservations from
//!   `[platform.swarm]`; open files and memory locking (`IPC_LOCK`, memlock) as for a container.
//! - **Health**: the image's `HEALTHCHECK` (exec form: the image has no shell, and the engine's
//!   `--health-cmd` is a shell line). A swarm task is running only once its check passed, so
//!   "running" here means healthy.
//! - **Rolling updates gated by health**: one task at a time (`--update-parallelism 1`), the old
//!   task stopped before its replacement starts (`stop-first`: no two tasks of one slot), each
//!   new task watched for the health window ([`monitor`]: the time a check needs to say
//!   unhealthy) and any failure rolls the whole service back (`--update-failure-action
//!   rollback`, failure ratio 0); a rollback goes the same way and pauses if it fails too.
//! - **Marks**: the service and its containers carry `io.duende.service=NAME`; the service
//!   carries `io.duende.hash`, the digest of every other word, so an install that would change
//!   nothing runs nothing.
//! - **Network**: `platform.container.network = "host"` is the host's network; otherwise the
//!   tasks get none of their own (a swarm has no `none` network, and its overlay networks need
//!   the engine's bridge and iptables).

use std::time::Duration;

use crate::config::platforms::{ContainerNetwork, SwarmMode};
use crate::config::{RestartPolicy, Settings};
use crate::platform::container::image::{self, Account};
use crate::platform::container::spec::{HASH_LABEL, SERVICE_LABEL, stop_timeout};

/// The shortest health window an update watches each new task for.
pub const MIN_MONITOR: Duration = Duration::from_secs(5);

/// A configuration file shipped as a swarm config object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMount {
    /// The config object's name.
    pub object: String,
    /// Where the daemon reads it in the container.
    pub target: String,
    /// Its owner in the container (the daemon's user).
    pub uid: u32,
    /// Its group.
    pub gid: u32,
}

impl ConfigMount {
    /// The `--config` / `--config-add` value.
    fn value(&self) -> String {
        format!("source={},target={},uid={},gid={},mode=0444", self.object, self.target, self.uid, self.gid)
    }
}

/// Everything the service is made of, before it is put into words.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The service's name (the daemon's).
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Replicated or global.
    pub mode: SwarmMode,
    /// Copies of a replicated service when it runs.
    pub replicas: u32,
    /// The configuration, when there is one.
    pub config: Option<ConfigMount>,
    /// Flags whose value sets a field of the spec, the same for `create` and `update`.
    settings: Vec<(&'static str, String)>,
    /// `--ulimit` values.
    ulimits: Vec<String>,
    /// Capabilities added.
    caps: Vec<String>,
    /// `host`, or no network of its own.
    host_network: bool,
    /// Settings the engine cannot apply, in words.
    pub notes: Vec<String>,
    /// The digest of everything above (the `io.duende.hash` label).
    pub hash: String,
}

/// The name of the config object holding `contents` for the daemon `name`.
pub fn config_object(name: &str, contents: &[u8]) -> String {
    format!("{name}-{}", &image::sha256(contents)[..12])
}

/// The restart condition the engine gets for `restart`.
pub fn restart_condition(restart: RestartPolicy) -> &'static str {
    match restart {
        RestartPolicy::Never => "none",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always | RestartPolicy::UnlessStopped => "any",
    }
}

/// How long an update watches each new task: long enough for the health check to call it
/// unhealthy (`retries` failed checks, each up to `timeout`, `interval` apart) and one interval
/// more, at least [`MIN_MONITOR`].
pub fn monitor(settings: &Settings<()>) -> Duration {
    let health = &settings.health_check;
    let retries = health.retries.max(1);
    let window = (health.interval + health.timeout) * retries + health.interval;
    window.max(MIN_MONITOR)
}

/// A duration as the engine's flags take it (`5s`, `1500ms`).
pub fn duration(value: Duration) -> String {
    if value.subsec_millis() == 0 { format!("{}s", value.as_secs()) } else { format!("{}ms", value.as_millis()) }
}

/// The spec of the service `name` running `image`, with the configuration object `config`
/// (owned by `account`) when there is one.
pub fn spec(
    name: &str,
    settings: &Settings<()>,
    image: &str,
    config: Option<&str>,
    account: &Account,
    memlock: Option<u64>,
) -> Spec {
    let mut notes = Vec::new();
    let mut set: Vec<(&'static str, String)> = Vec::new();
    let swarm = &settings.platform.swarm;
    set.push(("--restart-condition", restart_condition(settings.restart).to_owned()));
    set.push(("--restart-delay", duration(settings.backoff.initial)));
    set.push(("--restart-max-attempts", swarm.restart_max_attempts.to_string()));
    set.push(("--stop-grace-period", format!("{}s", stop_timeout(settings))));
    let r = &settings.resources;
    // An update sets each of these, so an unset one is given as 0 (no limit) to clear it.
    set.push(("--limit-memory", r.memory_bytes.unwrap_or(0).to_string()));
    set.push(("--limit-cpu", r.cpu_quota_percent.map_or_else(|| "0".to_owned(), |p| format!("{:.2}", p / 100.0))));
    set.push(("--limit-pids", r.pids_max.unwrap_or(0).to_string()));
    set.push(("--reserve-memory", swarm.reserve_memory_bytes.unwrap_or(0).to_string()));
    set.push((
        "--reserve-cpu",
        swarm.reserve_cpu_percent.map_or_else(|| "0".to_owned(), |p| format!("{:.2}", p / 100.0)),
    ));
    for (key, unset) in [
        ("memory_swap_bytes", r.memory_swap_bytes.is_none()),
        ("cpu_shares", r.cpu_shares.is_none()),
        ("io_read_bps", r.io_read_bps.is_none()),
        ("io_write_bps", r.io_write_bps.is_none()),
    ] {
        if !unset {
            notes.push(format!("resources.{key} is not applied: a swarm service has no such limit"));
        }
    }
    let window = monitor(settings);
    set.push(("--update-parallelism", "1".to_owned()));
    set.push(("--update-delay", "0s".to_owned()));
    set.push(("--update-order", "stop-first".to_owned()));
    set.push(("--update-failure-action", "rollback".to_owned()));
    set.push(("--update-max-failure-ratio", "0".to_owned()));
    set.push(("--update-monitor", duration(window)));
    set.push(("--rollback-parallelism", "1".to_owned()));
    set.push(("--rollback-order", "stop-first".to_owned()));
    set.push(("--rollback-failure-action", "pause".to_owned()));
    set.push(("--rollback-monitor", duration(window)));
    let mut ulimits = Vec::new();
    if let Some(nofile) = r.open_files_max {
        ulimits.push(format!("nofile={nofile}:{nofile}"));
    }
    let mut caps = Vec::new();
    if r.lock_memory {
        caps.push("CAP_IPC_LOCK".to_owned());
        match memlock {
            None => ulimits.push("memlock=-1:-1".to_owned()),
            Some(hard) => {
                ulimits.push(format!("memlock={hard}:{hard}"));
                notes.push(format!(
                    "the tasks' memlock limit stays at this host's {hard} bytes (the engine cannot raise it without \
                     CAP_SYS_RESOURCE); IPC_LOCK still lets a daemon running as root lock all its memory"
                ));
            }
        }
    }
    let host_network = settings.platform.container.network == ContainerNetwork::Host;
    if !settings.platform.container.publish.is_empty() {
        notes.push(
            "platform.container.publish is not applied to a swarm service: its ports need the ingress network; use \
             `platform.container.network = \"host\"`"
                .to_owned(),
        );
    }
    let config = config.map(|object| ConfigMount {
        object: object.to_owned(),
        target: image::config_path(name),
        uid: account.uid,
        gid: account.gid,
    });
    let mut spec = Spec {
        name: name.to_owned(),
        image: image.to_owned(),
        mode: swarm.mode,
        replicas: swarm.replicas,
        config,
        settings: set,
        ulimits,
        caps,
        host_network,
        notes,
        hash: String::new(),
    };
    spec.hash = hash(&create_args(&spec, true));
    spec
}

/// The `service create` words (after the program and its endpoint) of `spec`, with its
/// replicas running when `running` (0 otherwise; a global service always runs). The service
/// is created detached: the engine's wait for ready follows.
pub fn create_args(spec: &Spec, running: bool) -> Vec<String> {
    let mut args: Vec<String> =
        ["service", "create", "--detach", "--quiet", "--no-resolve-image", "--name", &spec.name].map(Into::into).into();
    let mut flag = |flag: &str, value: String| {
        args.push(flag.to_owned());
        args.push(value);
    };
    flag("--label", format!("{SERVICE_LABEL}={}", spec.name));
    flag("--container-label", format!("{SERVICE_LABEL}={}", spec.name));
    match spec.mode {
        SwarmMode::Replicated => {
            flag("--mode", "replicated".to_owned());
            flag("--replicas", if running { spec.replicas } else { 0 }.to_string());
        }
        SwarmMode::Global => flag("--mode", "global".to_owned()),
    }
    for (name, value) in &spec.settings {
        flag(name, value.clone());
    }
    for ulimit in &spec.ulimits {
        flag("--ulimit", ulimit.clone());
    }
    for cap in &spec.caps {
        flag("--cap-add", cap.clone());
    }
    if spec.host_network {
        flag("--network", "host".to_owned());
    }
    if let Some(config) = &spec.config {
        flag("--config", config.value());
    }
    if !spec.hash.is_empty() {
        flag("--label", format!("{HASH_LABEL}={}", spec.hash));
    }
    args.push(spec.image.clone());
    args
}

/// What the installed service has that an update must replace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    /// Its config objects (by name).
    pub configs: Vec<String>,
    /// Its ulimit names.
    pub ulimits: Vec<String>,
    /// Its added capabilities.
    pub caps: Vec<String>,
    /// It is on the host's network.
    pub host_network: bool,
    /// A replicated service with tasks wanted (not scaled to 0).
    pub running: bool,
}

/// The `service update` words that bring the installed service (`installed`) to `spec`: a
/// rolling update the command waits for (`--detach=false`), which fails when the engine rolled
/// it back.
pub fn update_args(spec: &Spec, installed: &Installed) -> Vec<String> {
    let mut args: Vec<String> =
        ["service", "update", "--detach=false", "--quiet", "--no-resolve-image"].map(Into::into).into();
    let mut flag = |flag: &str, value: String| {
        args.push(flag.to_owned());
        args.push(value);
    };
    flag("--image", spec.image.clone());
    if spec.mode == SwarmMode::Replicated && installed.running {
        flag("--replicas", spec.replicas.to_string());
    }
    for (name, value) in &spec.settings {
        flag(name, value.clone());
    }
    for ulimit in &installed.ulimits {
        flag("--ulimit-rm", ulimit.clone());
    }
    for ulimit in &spec.ulimits {
        flag("--ulimit-add", ulimit.clone());
    }
    for cap in installed.caps.iter().filter(|cap| !spec.caps.contains(cap)) {
        flag("--cap-drop", cap.clone());
    }
    for cap in spec.caps.iter().filter(|cap| !installed.caps.contains(cap)) {
        flag("--cap-add", cap.clone());
    }
    match (installed.host_network, spec.host_network) {
        (true, false) => flag("--network-rm", "host".to_owned()),
        (false, true) => flag("--network-add", "host".to_owned()),
        _ => {}
    }
    let wanted = spec.config.as_ref().map(|c| c.object.as_str());
    for old in installed.configs.iter().filter(|old| Some(old.as_str()) != wanted) {
        flag("--config-rm", old.clone());
    }
    if let Some(config) = spec.config.as_ref().filter(|c| !installed.configs.contains(&c.object)) {
        flag("--config-add", config.value());
    }
    flag("--label-add", format!("{HASH_LABEL}={}", spec.hash));
    args.push(spec.name.clone());
    args
}

/// The first 16 hex digits of the SHA-256 of `words`, each NUL-terminated.
fn hash(words: &[String]) -> String {
    let mut bytes = Vec::new();
    for word in words {
        bytes.extend_from_slice(word.as_bytes());
        bytes.push(0);
    }
    let mut digest = image::sha256(&bytes);
    digest.truncate(16);
    digest
}
