//! What the engine is told, rendered by pure functions: the daemon's command line baked into the
//! image ([`daemon_command`]), and the `create` arguments of its container ([`create_args`]).
//! Every value is one argv word: nothing in the configuration can become an engine flag, and no
//! shell ever sees it.

use std::time::Duration;

use super::image;
use crate::config::platforms::ContainerNetwork;
use crate::config::{RestartPolicy, Settings};

pub use crate::platform::plan::MANAGER_STOP_MARGIN as STOP_MARGIN;

/// The label every container duende creates carries, with the daemon's name.
pub const SERVICE_LABEL: &str = "io.duende.service";

/// The label holding the hash of everything the container was created with.
pub const HASH_LABEL: &str = "io.duende.hash";

/// Which engine's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// docker.
    Docker,
    /// podman.
    Podman,
    /// containerd's nerdctl (docker's dialect).
    Nerdctl,
}

impl Kind {
    /// The program and the engine's name.
    pub fn program(self) -> &'static str {
        match self {
            Kind::Docker => "docker",
            Kind::Podman => "podman",
            Kind::Nerdctl => "nerdctl",
        }
    }

    /// The engine named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Docker, Kind::Podman, Kind::Nerdctl].into_iter().find(|kind| kind.program() == name)
    }
}

/// Limits of the installing host that decide which `--ulimit` values the engine can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimits {
    /// The engine can raise limits past its own hard ones (the installer has `CAP_SYS_RESOURCE`).
    pub can_raise: bool,
    /// The hard `RLIMIT_MEMLOCK` (`None`: unlimited).
    pub memlock: Option<u64>,
    /// The hard `RLIMIT_NOFILE`.
    pub nofile: u64,
    /// The hard `RLIMIT_NPROC` (`None`: unlimited).
    pub nproc: Option<u64>,
}

/// podman lowers its own `RLIMIT_NPROC` hard limit to this before it starts a container.
const PODMAN_NPROC_CEILING: u64 = 32768;

/// The daemon's command line after the binary: configuration flags, `run`, and its own
/// arguments after `--`.
pub fn daemon_command(name: &str, has_config: bool, sets: &[String], args: &[String]) -> Vec<String> {
    let mut words = Vec::new();
    if has_config {
        words.extend(["--config".to_owned(), image::config_path(name)]);
    }
    for set in sets {
        words.extend(["--set".to_owned(), set.clone()]);
    }
    words.push("run".to_owned());
    if !args.is_empty() {
        words.push("--".to_owned());
        words.extend(args.iter().cloned());
    }
    words
}

/// The health command the image and the engine run in the container.
pub fn health_command(name: &str) -> Vec<String> {
    vec![image::binary_path(name), "__healthcheck".to_owned()]
}

/// The engine's restart policy for `restart`. podman treats `unless-stopped` as `always`.
pub fn restart_policy(restart: RestartPolicy) -> &'static str {
    match restart {
        RestartPolicy::Never => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always => "always",
        RestartPolicy::UnlessStopped => "unless-stopped",
    }
}

/// The engine's stop timeout in whole seconds: `shutdown_timeout` plus [`STOP_MARGIN`], rounded
/// up.
pub fn stop_timeout(settings: &Settings<()>) -> u64 {
    let total = settings.shutdown_timeout + STOP_MARGIN;
    total.as_secs() + u64::from(total.subsec_nanos() > 0)
}

fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// What `create` gets, and what could not be expressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    /// The arguments after the program, `create` first, the image last.
    pub args: Vec<String>,
    /// The hash the container is labelled with (of everything else in `args`).
    pub hash: String,
    /// Settings the engine cannot apply, in words.
    pub notes: Vec<String>,
}

/// The `create` arguments of the container `name` running `image` (the reference).
pub fn create_args(kind: Kind, name: &str, settings: &Settings<()>, image: &str, limits: &HostLimits) -> Create {
    let mut notes = Vec::new();
    let mut args: Vec<String> = vec!["create".into(), "--name".into(), name.into()];
    let mut flag = |flag: &str, value: String| {
        args.push(flag.to_owned());
        args.push(value);
    };
    flag("--label", format!("{SERVICE_LABEL}={name}"));
    flag("--restart", restart_policy(settings.restart).to_owned());
    flag("--stop-timeout", stop_timeout(settings).to_string());
    let network = match settings.platform.container.network {
        ContainerNetwork::None => "none",
        ContainerNetwork::Host => "host",
        ContainerNetwork::Bridge => "bridge",
    };
    flag("--network", network.to_owned());
    for port in &settings.platform.container.publish {
        flag("--publish", port.clone());
    }
    let r = &settings.resources;
    if let Some(memory) = r.memory_bytes {
        flag("--memory", memory.to_string());
        // The engines' `--memory-swap` is memory plus swap.
        if let Some(swap) = r.memory_swap_bytes {
            flag("--memory-swap", memory.saturating_add(swap).to_string());
        }
    } else if r.memory_swap_bytes.is_some() {
        notes.push(
            "resources.memory_swap_bytes is not applied: the engine limits swap only with a memory limit \
                    (set resources.memory_bytes)"
                .to_owned(),
        );
    }
    if let Some(percent) = r.cpu_quota_percent {
        flag("--cpus", format!("{:.2}", percent / 100.0));
    }
    if let Some(shares) = r.cpu_shares {
        flag("--cpu-shares", shares.to_string());
    }
    if let Some(pids) = r.pids_max {
        flag("--pids-limit", pids.to_string());
    }
    for (key, set) in [("io_read_bps", r.io_read_bps.is_some()), ("io_write_bps", r.io_write_bps.is_some())] {
        if set {
            notes.push(format!(
                "resources.{key} is not applied: container engines limit I/O per block device \
                 (`--device-read-bps DEVICE:RATE`), and the configuration names none"
            ));
        }
    }
    // podman applies its own large defaults for open files and processes, which fail where the
    // engine cannot raise its limits; duende passes what the host allows instead.
    let nofile = r.open_files_max.or((kind == Kind::Podman && !limits.can_raise).then_some(limits.nofile));
    if let Some(nofile) = nofile {
        flag("--ulimit", format!("nofile={nofile}:{nofile}"));
    }
    if kind == Kind::Podman && !limits.can_raise {
        let nproc = limits.nproc.unwrap_or(PODMAN_NPROC_CEILING).min(PODMAN_NPROC_CEILING);
        flag("--ulimit", format!("nproc={nproc}:{nproc}"));
    }
    if r.lock_memory {
        flag("--cap-add", "IPC_LOCK".to_owned());
        match limits.memlock.filter(|_| !limits.can_raise) {
            None => flag("--ulimit", "memlock=-1:-1".to_owned()),
            Some(hard) => {
                flag("--ulimit", format!("memlock={hard}:{hard}"));
                notes.push(format!(
                    "the container's memlock limit stays at this host's {hard} bytes (the engine cannot raise it \
                     without CAP_SYS_RESOURCE); IPC_LOCK still lets a daemon running as root lock all its memory"
                ));
            }
        }
    }
    if settings.hardening.enabled && settings.hardening.no_new_privileges {
        flag("--security-opt", "no-new-privileges".to_owned());
    }
    if kind == Kind::Podman {
        // podman keeps no HEALTHCHECK of an OCI image, so the check goes on the container.
        let health = &settings.health_check;
        flag("--health-cmd", serde_json::to_string(&health_command(name)).unwrap_or_default());
        flag("--health-interval", seconds(health.interval));
        flag("--health-timeout", seconds(health.timeout));
        flag("--health-retries", health.retries.max(1).to_string());
    }
    flag("--pull", "never".to_owned());
    let hash = hash(&args, image);
    // The hash label goes in front of the image, over everything else.
    args.push("--label".to_owned());
    args.push(format!("{HASH_LABEL}={hash}"));
    args.push(image.to_owned());
    Create { args, hash, notes }
}

/// The first 16 hex digits of the SHA-256 of `args` and `image`, each word NUL-terminated.
fn hash(args: &[String], image: &str) -> String {
    let mut words = Vec::new();
    for word in args.iter().map(String::as_str).chain([image]) {
        words.extend_from_slice(word.as_bytes());
        words.push(0);
    }
    let mut digest = image::sha256(&words);
    digest.truncate(16);
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HostLimits =
        HostLimits { can_raise: false, memlock: Some(8 << 20), nofile: 20000, nproc: Some(96369) };

    #[test]
    fn docker_gets_policy_timeouts_and_labels_and_never_pulls() {
        let settings = Settings::<()>::default();
        let create = create_args(Kind::Docker, "demo", &settings, "localhost/demo:abc", &LIMITS);
        assert_eq!(
            create.args.join(" "),
            format!(
                "create --name demo --label io.duende.service=demo --restart on-failure --stop-timeout 35 \
                 --network none --security-opt no-new-privileges --pull never --label io.duende.hash={} \
                 localhost/demo:abc",
                create.hash
            )
        );
        assert!(create.notes.is_empty());
    }

    #[test]
    fn resources_and_memory_locking_become_engine_flags() {
        let mut settings = Settings::<()>::default();
        settings.resources.memory_bytes = Some(64 << 20);
        settings.resources.memory_swap_bytes = Some(0);
        settings.resources.cpu_quota_percent = Some(50.0);
        settings.resources.cpu_shares = Some(512);
        settings.resources.pids_max = Some(64);
        settings.resources.open_files_max = Some(1024);
        settings.resources.io_read_bps = Some(1);
        settings.resources.lock_memory = true;
        settings.restart = RestartPolicy::Always;
        settings.platform.container.network = ContainerNetwork::Host;
        settings.platform.container.publish = vec!["127.0.0.1:9464:9464".into()];
        let create = create_args(Kind::Docker, "demo", &settings, "img", &LIMITS);
        let text = create.args.join(" ");
        for part in [
            "--restart always",
            "--network host --publish 127.0.0.1:9464:9464",
            "--memory 67108864 --memory-swap 67108864",
            "--cpus 0.50",
            "--cpu-shares 512",
            "--pids-limit 64",
            "--ulimit nofile=1024:1024",
            "--cap-add IPC_LOCK --ulimit memlock=8388608:8388608",
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
        assert!(create.notes.iter().any(|n| n.contains("io_read_bps")));
        assert!(create.notes.iter().any(|n| n.contains("memlock limit stays")));
        let raise = HostLimits { can_raise: true, ..LIMITS };
        assert!(create_args(Kind::Docker, "demo", &settings, "img", &raise).args.join(" ").contains("memlock=-1:-1"));
    }

    #[test]
    fn podman_gets_the_health_check_and_limits_it_can_apply() {
        let settings = Settings::<()>::default();
        let text = create_args(Kind::Podman, "demo", &settings, "img", &LIMITS).args.join(" ");
        for part in [
            "--ulimit nofile=20000:20000",
            "--ulimit nproc=32768:32768",
            r#"--health-cmd ["/usr/local/bin/demo","__healthcheck"]"#,
            "--health-interval 30s --health-timeout 10s --health-retries 3",
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
    }

    #[test]
    fn the_hash_follows_every_word() {
        let settings = Settings::<()>::default();
        let a = create_args(Kind::Docker, "demo", &settings, "img:1", &LIMITS);
        let b = create_args(Kind::Docker, "demo", &settings, "img:2", &LIMITS);
        assert_ne!(a.hash, b.hash);
        assert_eq!(a, create_args(Kind::Docker, "demo", &settings, "img:1", &LIMITS));
    }

    #[test]
    fn the_daemon_command_keeps_each_value_one_word() {
        let words = daemon_command("demo", true, &["app.greeting=--privileged $(id)".into()], &["a b".into()]);
        assert_eq!(
            words,
            ["--config", "/etc/demo/demo.toml", "--set", "app.greeting=--privileged $(id)", "run", "--", "a b"]
        );
        assert_eq!(daemon_command("demo", false, &[], &[]), ["run"]);
    }
}
