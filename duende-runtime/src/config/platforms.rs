//! `[platform.*]`: one section per platform (DESIGN.md section 4), read only by that platform's
//! backend. Each section lists what its keys allow and checks its own rules, so a wrong value is
//! refused with its key, its source and the valid range like any other.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// `[platform]`: the per-platform sections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformSettings {
    /// `[platform.native]`: the binary supervising itself.
    pub native: NativeSettings,
    /// `[platform.container]`: docker, podman, nerdctl.
    pub container: ContainerSettings,
    /// `[platform.pepita]`: the daemon as PID 1 of a microVM.
    pub pepita: PepitaSettings,
    /// `[platform.wos]`: the WebAssembly OS.
    pub wos: WosSettings,
    /// `[platform.launchd]`: macOS.
    pub launchd: LaunchdSettings,
    /// `[platform.swarm]`: docker swarm services.
    pub swarm: SwarmSettings,
    /// `[platform.kubernetes]`: manifests for a cluster.
    pub kubernetes: KubernetesSettings,
}

/// `[platform.native]`: how the supervisor keeps the daemon's logs and how often it restarts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeSettings {
    /// The log file is rotated (renamed, never copied) when it would grow past this many bytes.
    pub log_max_bytes: u64,
    /// How many log files are kept, the current one included.
    pub log_files: u32,
    /// At most this many automatic restarts within the window (`"5 in 1m"`); past it the
    /// supervisor gives up and `status` says the service failed.
    pub restart_budget: String,
    /// A run at least this long resets the backoff to `backoff.initial`.
    #[serde(with = "duration")]
    pub min_uptime: Duration,
}

impl Default for NativeSettings {
    fn default() -> Self {
        NativeSettings {
            log_max_bytes: 10 * 1024 * 1024,
            log_files: 5,
            restart_budget: "5 in 1m".to_owned(),
            min_uptime: Duration::from_secs(10),
        }
    }
}

impl NativeSettings {
    /// `restart_budget` as a count and a window, or what is wrong with it.
    pub fn budget(&self) -> Result<(u32, Duration), String> {
        parse_budget(&self.restart_budget)
    }
}

/// A restart budget such as `"5 in 1m"`: a count of at least 1, `in`, and a duration.
pub fn parse_budget(text: &str) -> Result<(u32, Duration), String> {
    let form = "a budget such as \"5 in 1m\" (restarts, `in`, a duration greater than 0)";
    let mut words = text.split_whitespace();
    let (Some(count), Some("in"), Some(window), None) = (words.next(), words.next(), words.next(), words.next()) else {
        return Err(form.to_owned());
    };
    let count: u32 = count.parse().ok().filter(|n| *n >= 1).ok_or_else(|| form.to_owned())?;
    let window = humantime::parse_duration(window).ok().filter(|w| !w.is_zero()).ok_or_else(|| form.to_owned())?;
    Ok((count, window))
}

/// Which container engine runs the daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerEngine {
    /// The first of docker, podman and nerdctl that answers.
    #[default]
    Auto,
    /// docker.
    Docker,
    /// podman.
    Podman,
    /// containerd's nerdctl.
    Nerdctl,
}

/// The container's network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerNetwork {
    /// No network but loopback.
    #[default]
    None,
    /// The host's network.
    Host,
    /// The engine's bridge.
    Bridge,
}

/// `[platform.container]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerSettings {
    /// The engine.
    pub engine: ContainerEngine,
    /// The network.
    pub network: ContainerNetwork,
    /// Published ports, `[IP:]HOST:CONTAINER`, such as `"127.0.0.1:9464:9464"`.
    pub publish: Vec<String>,
}

/// The microVM's virtual machine monitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vmm {
    /// The first one found.
    #[default]
    Auto,
    /// QEMU's microvm machine.
    Qemu,
    /// Firecracker.
    Firecracker,
    /// cloud-hypervisor.
    CloudHypervisor,
}

/// How the microVM's CPU is provided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Accel {
    /// KVM when usable, else emulation.
    #[default]
    Auto,
    /// KVM.
    Kvm,
    /// QEMU's software emulation.
    Tcg,
}

/// `[platform.pepita]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PepitaSettings {
    /// The guest kernel.
    pub kernel: Option<PathBuf>,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Guest memory in MiB.
    pub memory_mb: u64,
    /// The guest's vsock context id; 0 picks a free one.
    pub vsock_cid: u32,
    /// The monitor.
    pub vmm: Vmm,
    /// The acceleration.
    pub accel: Accel,
}

impl Default for PepitaSettings {
    fn default() -> Self {
        PepitaSettings { kernel: None, vcpus: 1, memory_mb: 256, vsock_cid: 0, vmm: Vmm::Auto, accel: Accel::Auto }
    }
}

/// What runs the daemon's WebAssembly module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WasiRuntime {
    /// WOS's own `wos-ctl` when present, else wasmtime.
    #[default]
    Auto,
    /// WOS.
    WosCtl,
    /// wasmtime.
    Wasmtime,
}

/// `[platform.wos]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WosSettings {
    /// The daemon built for wasm32-wasip1.
    pub module: Option<PathBuf>,
    /// Scheduling priority: 0 critical ... 7 idle.
    pub priority: u8,
    /// What the module may reach, such as `"fs:read:/data"`, `"net:listen:127.0.0.1:8080"`.
    pub capabilities: Vec<String>,
    /// The runtime.
    pub runtime: WasiRuntime,
}

impl Default for WosSettings {
    fn default() -> Self {
        WosSettings { module: None, priority: 4, capabilities: Vec::new(), runtime: WasiRuntime::Auto }
    }
}

/// `[platform.launchd]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LaunchdSettings {
    /// The job's label; empty: `label_prefix` + `.` + the name.
    pub label: String,
    /// The reverse-DNS prefix of the label made from the name when `label` is empty, such as
    /// `"com.example"` (the label is then `com.example.NAME`).
    pub label_prefix: String,
    /// `ProcessType`: `Background`, `Standard`, `Adaptive` or `Interactive`.
    pub process_type: String,
}

/// The prefix of a launchd label made from the daemon's name when none is configured.
pub const DEFAULT_LABEL_PREFIX: &str = "local.duende";

impl Default for LaunchdSettings {
    fn default() -> Self {
        LaunchdSettings {
            label: String::new(),
            label_prefix: DEFAULT_LABEL_PREFIX.to_owned(),
            process_type: "Standard".to_owned(),
        }
    }
}

impl LaunchdSettings {
    /// The job's label for the daemon `name`: `label`, or `label_prefix.NAME` when it is empty.
    pub fn label_for(&self, name: &str) -> String {
        if self.label.is_empty() { format!("{}.{name}", self.label_prefix) } else { self.label.clone() }
    }
}

/// A reverse-DNS label such as `com.example.demo`: at least `min_parts` dot-separated parts, each
/// of ASCII letters, digits, `-` and `_`; at most 200 characters (it also names the plist file).
pub fn is_reverse_dns(text: &str, min_parts: usize) -> bool {
    text.len() <= 200
        && text.split('.').count() >= min_parts
        && text
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

/// How a swarm service is scheduled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmMode {
    /// `replicas` copies.
    #[default]
    Replicated,
    /// One copy per node.
    Global,
}

/// `[platform.swarm]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmSettings {
    /// Replicated or global.
    pub mode: SwarmMode,
    /// Copies of a replicated service.
    pub replicas: u32,
    /// Restarts of a task the engine makes before it gives up on it (`--restart-max-attempts`);
    /// 0: no limit. The delay between them is `backoff.initial`.
    pub restart_max_attempts: u32,
    /// Memory the scheduler reserves for each task on its node (`--reserve-memory`), in bytes.
    pub reserve_memory_bytes: Option<u64>,
    /// CPU the scheduler reserves for each task, in percent of one CPU (`--reserve-cpu`).
    pub reserve_cpu_percent: Option<f64>,
}

impl Default for SwarmSettings {
    fn default() -> Self {
        SwarmSettings {
            mode: SwarmMode::Replicated,
            replicas: 1,
            restart_max_attempts: 0,
            reserve_memory_bytes: None,
            reserve_cpu_percent: None,
        }
    }
}

/// The Kubernetes workload kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KubernetesKind {
    /// A Deployment: scale-out services.
    #[default]
    Deployment,
    /// A DaemonSet: one per node.
    Daemonset,
}

/// `[platform.kubernetes]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSettings {
    /// Deployment or DaemonSet.
    pub kind: KubernetesKind,
    /// The namespace.
    pub namespace: String,
    /// Replicas of a Deployment.
    pub replicas: u32,
    /// The image; empty: the one `--platform container` builds.
    pub image: String,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            kind: KubernetesKind::Deployment,
            namespace: "default".to_owned(),
            replicas: 1,
            image: String::new(),
        }
    }
}

/// Every key a `[platform.*]` section accepts, dotted from the top (`platform.native.log_files`),
/// with what it allows (the words that follow "must be" when a value is refused). The sections
/// themselves (`platform.native`) are left out. The facade's per-platform pages
/// (`duende::platforms`) are checked against this list.
pub fn keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    ALLOWED.iter().filter(|(key, _)| key.split('.').count() == 3).copied()
}

/// What each `[platform.*]` key allows, completing "must be ...".
pub(super) const ALLOWED: &[(&str, &str)] = &[
    ("platform", "a table of per-platform sections"),
    ("platform.native", "a table"),
    ("platform.native.log_max_bytes", "a number of bytes of at least 4096"),
    ("platform.native.log_files", "an integer between 1 and 100"),
    ("platform.native.restart_budget", "a budget such as \"5 in 1m\" (restarts, `in`, a duration greater than 0)"),
    ("platform.native.min_uptime", "a duration greater than 0, such as \"10s\""),
    ("platform.container", "a table"),
    ("platform.container.engine", "one of `auto`, `docker`, `podman`, `nerdctl`"),
    ("platform.container.network", "one of `none`, `host`, `bridge`"),
    ("platform.container.publish", "an array of ports such as \"127.0.0.1:9464:9464\" ([IP:]HOST:CONTAINER)"),
    ("platform.pepita", "a table"),
    ("platform.pepita.kernel", "an absolute path"),
    ("platform.pepita.vcpus", "an integer between 1 and 64"),
    ("platform.pepita.memory_mb", "an integer between 16 and 1048576"),
    ("platform.pepita.vsock_cid", "0 (pick one) or an integer between 3 and 4294967294"),
    ("platform.pepita.vmm", "one of `auto`, `qemu`, `firecracker`, `cloud-hypervisor`"),
    ("platform.pepita.accel", "one of `auto`, `kvm`, `tcg`"),
    ("platform.wos", "a table"),
    ("platform.wos.module", "an absolute path"),
    ("platform.wos.priority", "an integer between 0 (critical) and 7 (idle)"),
    (
        "platform.wos.capabilities",
        "an array of capabilities, each `fs:read:/PATH` or `fs:write:/PATH` (an absolute path without `..`, `::` or \
         control characters) or `net:listen:IP:PORT` or `net:connect:IP:PORT`, such as [\"fs:read:/data\", \
         \"net:listen:127.0.0.1:8080\"]",
    ),
    ("platform.wos.runtime", "one of `auto`, `wos-ctl`, `wasmtime`"),
    ("platform.launchd", "a table"),
    ("platform.launchd.label", "empty or a reverse-DNS label such as \"com.example.demo\""),
    (
        "platform.launchd.label_prefix",
        "a reverse-DNS prefix such as \"com.example\" (letters, digits, `-` and `_` between dots)",
    ),
    ("platform.launchd.process_type", "one of `Background`, `Standard`, `Adaptive`, `Interactive`"),
    ("platform.swarm", "a table"),
    ("platform.swarm.mode", "one of `replicated`, `global`"),
    ("platform.swarm.replicas", "an integer between 0 and 10000"),
    ("platform.swarm.restart_max_attempts", "an integer between 0 (no limit) and 10000"),
    ("platform.swarm.reserve_memory_bytes", "a number of bytes of at least 4194304 (4 MiB)"),
    ("platform.swarm.reserve_cpu_percent", "a number above 0 and at most 100000"),
    ("platform.kubernetes", "a table"),
    ("platform.kubernetes.kind", "one of `deployment`, `daemonset`"),
    ("platform.kubernetes.namespace", "a DNS label: lowercase letters, digits and `-`, at most 63 characters"),
    ("platform.kubernetes.replicas", "an integer between 0 and 10000"),
    ("platform.kubernetes.image", "empty or an image reference without spaces"),
];

/// Checks every `[platform.*]` rule; `rule(key, ok)` records a broken one.
pub(super) fn check(p: &PlatformSettings, rule: &mut dyn FnMut(&str, bool)) {
    let n = &p.native;
    rule("platform.native.log_max_bytes", n.log_max_bytes >= 4096);
    rule("platform.native.log_files", (1..=100).contains(&n.log_files));
    rule("platform.native.restart_budget", n.budget().is_ok());
    rule("platform.native.min_uptime", !n.min_uptime.is_zero());

    rule("platform.container.publish", p.container.publish.iter().all(|port| is_publish(port)));

    let v = &p.pepita;
    rule("platform.pepita.kernel", v.kernel.as_deref().is_none_or(std::path::Path::is_absolute));
    rule("platform.pepita.vcpus", (1..=64).contains(&v.vcpus));
    rule("platform.pepita.memory_mb", (16..=1_048_576).contains(&v.memory_mb));
    rule("platform.pepita.vsock_cid", v.vsock_cid == 0 || (3..=4_294_967_294).contains(&v.vsock_cid));

    let w = &p.wos;
    rule("platform.wos.module", w.module.as_deref().is_none_or(std::path::Path::is_absolute));
    rule("platform.wos.priority", w.priority <= 7);
    let capability = |c: &String| crate::platform::wos::capability::Capability::parse(c).is_ok();
    rule("platform.wos.capabilities", w.capabilities.iter().all(capability));

    let l = &p.launchd;
    rule("platform.launchd.label", l.label.is_empty() || is_reverse_dns(&l.label, 2));
    rule("platform.launchd.label_prefix", is_reverse_dns(&l.label_prefix, 1));
    let types = ["Background", "Standard", "Adaptive", "Interactive"];
    rule("platform.launchd.process_type", types.contains(&l.process_type.as_str()));

    rule("platform.swarm.replicas", p.swarm.replicas <= 10_000);
    rule("platform.swarm.restart_max_attempts", p.swarm.restart_max_attempts <= 10_000);
    rule("platform.swarm.reserve_memory_bytes", p.swarm.reserve_memory_bytes.is_none_or(|b| b >= 4 << 20));
    rule("platform.swarm.reserve_cpu_percent", p.swarm.reserve_cpu_percent.is_none_or(|c| c > 0.0 && c <= 100_000.0));

    let k = &p.kubernetes;
    let dns_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    rule("platform.kubernetes.namespace", dns_label(&k.namespace));
    rule("platform.kubernetes.replicas", k.replicas <= 10_000);
    rule("platform.kubernetes.image", !k.image.contains(char::is_whitespace));
}

/// `[IP:]HOST:CONTAINER` with ports 1..=65535 (the IP may be IPv6 in brackets).
fn is_publish(text: &str) -> bool {
    let port = |p: &str| p.parse::<u16>().is_ok_and(|p| p > 0);
    let Some((rest, container)) = text.rsplit_once(':') else { return false };
    if !port(container) {
        return false;
    }
    match rest.rsplit_once(':') {
        None => port(rest),
        Some((ip, host)) => {
            let ip = ip.strip_prefix('[').and_then(|ip| ip.strip_suffix(']')).unwrap_or(ip);
            port(host) && ip.parse::<std::net::IpAddr>().is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_and_say_the_form() {
        assert_eq!(parse_budget("5 in 1m"), Ok((5, Duration::from_secs(60))));
        assert_eq!(parse_budget(" 10  in 30s "), Ok((10, Duration::from_secs(30))));
        for bad in ["", "5", "5 per 1m", "0 in 1m", "5 in 0s", "5 in soon", "5 in 1m extra"] {
            assert!(parse_budget(bad).is_err_and(|e| e.contains("\"5 in 1m\"")), "{bad:?}");
        }
    }

    #[test]
    fn published_ports_are_checked() {
        for good in ["9464:9464", "127.0.0.1:9464:9464", "[::1]:80:8080"] {
            assert!(is_publish(good), "{good}");
        }
        for bad in ["9464", "0:1", "127.0.0.1:9464", "nowhere:1:2", "1:2:3:4"] {
            assert!(!is_publish(bad), "{bad}");
        }
    }

    /// The dotted paths of every leaf of `value` (a serialized section), under `prefix`.
    fn leaves(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, inner) in fields {
                    leaves(inner, &format!("{prefix}.{key}"), out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }

    #[test]
    fn every_accepted_key_says_what_it_allows_and_nothing_else_does() {
        let settings = serde_json::to_value(PlatformSettings::default()).expect("the defaults serialize");
        let mut accepted = Vec::new();
        leaves(&settings, "platform", &mut accepted);
        let mut listed: Vec<String> = keys().map(|(key, _)| key.to_owned()).collect();
        accepted.sort();
        listed.sort();
        assert_eq!(accepted, listed, "`[platform.*]` keys of `PlatformSettings` against `ALLOWED`");
        for (key, allowed) in keys() {
            assert!(!allowed.is_empty(), "{key}");
        }
    }

    #[test]
    fn the_defaults_follow_every_rule() {
        let mut broken = Vec::new();
        check(&PlatformSettings::default(), &mut |key, ok| {
            if !ok {
                broken.push(key.to_owned());
            }
        });
        assert!(broken.is_empty(), "{broken:?}");
    }
}
