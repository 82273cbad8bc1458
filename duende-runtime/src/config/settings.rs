//! The typed configuration every duende daemon has, plus the daemon's own `[app]` section.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
pub use super::platforms::PlatformSettings;

/// The effective configuration of a daemon: built-in defaults, then the system or user file,
/// `--config`, `NAME_*` environment variables and `--set` flags, in rising precedence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings<A> {
    /// Service name; the unit, label and container name. Defaults to the macro's `name`.
    pub name: String,
    /// Version of the daemon; defaults to the crate version.
    pub version: String,
    /// One-line description used by service managers.
    pub description: String,
    /// Where the installed binary lives; defaults to where this binary is.
    pub binary_path: Option<PathBuf>,
    /// Extra arguments passed to the daemon by the service manager.
    pub args: Vec<String>,
    /// Environment given to the daemon by the service manager.
    pub env: BTreeMap<String, String>,
    /// User to run as (service managers only).
    pub user: Option<String>,
    /// Group to run as (service managers only).
    pub group: Option<String>,
    /// Working directory (service managers only).
    pub working_dir: Option<PathBuf>,
    /// Log level or `tracing` directives (`info`, `warn,my_crate=debug`); `RUST_LOG` wins.
    pub log_level: String,
    /// Resource limits and memory locking.
    pub resources: Resources,
    /// Sandboxing the service manager applies (systemd units only).
    pub hardening: Hardening,
    /// Scheduled health checks.
    pub health_check: HealthCheck,
    /// The Prometheus scrape endpoint.
    pub metrics: MetricsSettings,
    /// When the service manager restarts the daemon.
    pub restart: RestartPolicy,
    /// Delay between restarts.
    pub backoff: Backoff,
    /// How long `run`'s return after a shutdown request plus `shutdown` may take.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// Platform-specific settings.
    pub platform: PlatformSettings,
    /// The daemon's own typed section.
    pub app: A,
}

impl<A> Settings<A> {
    /// The same settings without the daemon's own `[app]` section: what service managers need.
    pub fn without_app(&self) -> Settings<()> {
        Settings {
            name: self.name.clone(),
            version: self.version.clone(),
            description: self.description.clone(),
            binary_path: self.binary_path.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            user: self.user.clone(),
            group: self.group.clone(),
            working_dir: self.working_dir.clone(),
            log_level: self.log_level.clone(),
            resources: self.resources.clone(),
            hardening: self.hardening.clone(),
            health_check: self.health_check.clone(),
            metrics: self.metrics.clone(),
            restart: self.restart,
            backoff: self.backoff.clone(),
            shutdown_timeout: self.shutdown_timeout,
            platform: self.platform.clone(),
            app: (),
        }
    }
}

impl<A: Default> Default for Settings<A> {
    fn default() -> Self {
        Settings {
            name: String::new(),
            version: String::new(),
            description: String::new(),
            binary_path: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            user: None,
            group: None,
            working_dir: None,
            log_level: "info".to_owned(),
            resources: Resources::default(),
            hardening: Hardening::default(),
            health_check: HealthCheck::default(),
            metrics: MetricsSettings::default(),
            restart: RestartPolicy::default(),
            backoff: Backoff::default(),
            shutdown_timeout: Duration::from_secs(30),
            platform: PlatformSettings::default(),
            app: A::default(),
        }
    }
}

/// `[resources]`: limits the service manager enforces, and memory locking the runtime does.
/// An absent limit means "no limit" (never a silent built-in cap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory_bytes: Option<u64>,
    /// Swap limit in bytes.
    pub memory_swap_bytes: Option<u64>,
    /// CPU quota in percent of one CPU (200 = two CPUs).
    pub cpu_quota_percent: Option<f64>,
    /// Relative CPU weight, 1..=10000.
    pub cpu_shares: Option<u64>,
    /// Read bandwidth limit in bytes per second.
    pub io_read_bps: Option<u64>,
    /// Write bandwidth limit in bytes per second.
    pub io_write_bps: Option<u64>,
    /// Maximum number of tasks (processes and threads).
    pub pids_max: Option<u64>,
    /// Maximum number of open files.
    pub open_files_max: Option<u64>,
    /// Lock all memory (`mlockall`) before the async runtime starts.
    pub lock_memory: bool,
    /// Exit with status 71 when memory cannot be locked.
    pub lock_memory_required: bool,
    /// Once ready, hand back to the kernel the pages of the binary's code and constant data that
    /// only starting up used (see `duende_runtime::trim`); they come back from the page cache,
    /// without I/O, when that code runs again. Nothing is trimmed while memory is locked.
    pub trim_after_ready: bool,
    /// Worker threads of the async runtime (default: one per CPU the daemon may use).
    pub worker_threads: Option<u64>,
    /// Stack size of every thread duende starts: the async runtime's workers and blocking threads
    /// (default 2 MiB, tokio's) and duende's own service threads (default 512 KiB). Under
    /// `lock_memory` every stack is pinned whole, so this and `worker_threads` set most of what
    /// locking costs beyond the binary itself.
    pub thread_stack_bytes: Option<u64>,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            memory_bytes: None,
            memory_swap_bytes: None,
            cpu_quota_percent: None,
            cpu_shares: None,
            io_read_bps: None,
            io_write_bps: None,
            pids_max: None,
            open_files_max: None,
            lock_memory: false,
            lock_memory_required: false,
            trim_after_ready: true,
            worker_threads: None,
            thread_stack_bytes: None,
        }
    }
}

/// `[hardening]`: the sandbox a systemd unit puts the daemon in. Everything is on by default
/// (the default system unit scores below 3.0 in `systemd-analyze security`); each key opts out of
/// one part, and `enabled = false` opts out of all of it.
///
/// The file-system keys (`protect_system`, `protect_home`, `private_tmp`, `private_devices`,
/// `read_write_paths`) apply to system units only: in a user unit they would need a private user
/// namespace, which some distributions forbid (the service would then fail to start), so user
/// units get the sandboxing that works without one (`no_new_privileges`, system-call and
/// address-family filters, `memory_deny_write_execute`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hardening {
    /// Master switch: `false` renders no sandboxing at all (capabilities the daemon needs, such
    /// as `CAP_IPC_LOCK` for `resources.lock_memory`, are still granted).
    pub enabled: bool,
    /// `NoNewPrivileges=`: the daemon and its children never gain privileges through set-user-id
    /// binaries or file capabilities.
    pub no_new_privileges: bool,
    /// `ProtectSystem=`: `strict` makes the whole file system read-only except the daemon's state
    /// and runtime directories and `read_write_paths`; `full` only `/usr`, `/boot` and `/etc`;
    /// `yes` only `/usr` and `/boot`; `no` nothing.
    pub protect_system: ProtectSystem,
    /// `ProtectHome=`: `yes` hides `/home`, `/root` and `/run/user`; `read-only` shows them
    /// read-only; `tmpfs` shows empty directories; `no` leaves them alone. A binary or `--config`
    /// file installed under a hidden directory is refused at install time.
    pub protect_home: ProtectHome,
    /// `PrivateTmp=`: a private `/tmp` and `/var/tmp`, emptied when the daemon stops.
    pub private_tmp: bool,
    /// `PrivateDevices=`: only pseudo devices (`/dev/null`, `/dev/urandom`, ...) in `/dev`.
    pub private_devices: bool,
    /// `MemoryDenyWriteExecute=`: no memory that is both writable and executable; turn off for
    /// daemons that compile code at run time (JIT).
    pub memory_deny_write_execute: bool,
    /// Capabilities the daemon keeps and receives, such as `CAP_NET_BIND_SERVICE` for a port
    /// below 1024 (system units only; `CAP_IPC_LOCK` is added for `resources.lock_memory`).
    pub capabilities: Vec<String>,
    /// Absolute paths the daemon may write to even though `protect_system = "strict"` makes the
    /// file system read-only (its state and runtime directories are always writable). Each must
    /// exist when the daemon starts, or systemd refuses to start it.
    pub read_write_paths: Vec<PathBuf>,
}

impl Default for Hardening {
    fn default() -> Self {
        Hardening {
            enabled: true,
            no_new_privileges: true,
            protect_system: ProtectSystem::Strict,
            protect_home: ProtectHome::Yes,
            private_tmp: true,
            private_devices: true,
            memory_deny_write_execute: true,
            capabilities: Vec::new(),
            read_write_paths: Vec::new(),
        }
    }
}

/// Every Linux capability name `[hardening] capabilities` accepts (capabilities(7)).
pub const CAPABILITIES: &[&str] = &[
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
];

/// How much of the file system `[hardening] protect_system` makes read-only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtectSystem {
    /// Everything but the daemon's own directories and `read_write_paths`.
    #[default]
    Strict,
    /// `/usr`, `/boot` and `/etc`.
    Full,
    /// `/usr` and `/boot`.
    Yes,
    /// Nothing.
    No,
}

/// What `[hardening] protect_home` does to `/home`, `/root` and `/run/user`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtectHome {
    /// Hidden.
    #[default]
    Yes,
    /// Visible, read-only.
    ReadOnly,
    /// Replaced by empty directories.
    Tmpfs,
    /// Left alone.
    No,
}

/// `[health_check]`: how often the daemon's checks run and when it counts as unhealthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheck {
    /// Run health checks.
    pub enabled: bool,
    /// Time between checks.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// A check running longer than this has failed.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Consecutive failures before the daemon is unhealthy.
    pub retries: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck { enabled: false, interval: Duration::from_secs(30), timeout: Duration::from_secs(10), retries: 3 }
    }
}

/// `[metrics]`: the Prometheus scrape endpoint (`GET /metrics`, text exposition format). Off by
/// default; when on it exports the daemon's lifecycle and RED metrics plus every
/// `metrics::counter!`/`gauge!`/`histogram!` the daemon records itself, and it listens on loopback
/// unless `allow_remote` says otherwise. Read at start: a reload does not move the listener or
/// change the upkeep interval (restart the daemon for that).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve the metrics.
    pub enabled: bool,
    /// IP address and port to listen on; port 0 picks a free port (the log says which). A
    /// loopback address unless `allow_remote = true`.
    pub listen: SocketAddr,
    /// Allow `listen` to be an address other than loopback: anyone who can reach it can read the
    /// metrics.
    pub allow_remote: bool,
    /// How often histogram samples are folded into their buckets, so that their memory stays
    /// bounded when nobody scrapes. Each is one wake-up of an otherwise idle daemon.
    #[serde(with = "duration")]
    pub upkeep_interval: Duration,
}

/// The port the exporter listens on by default (`9464`, the one OpenTelemetry's Prometheus
/// exporter uses).
pub const DEFAULT_METRICS_PORT: u16 = 9464;

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: false,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_METRICS_PORT)),
            allow_remote: false,
            upkeep_interval: Duration::from_secs(5),
        }
    }
}

/// When the service manager (or the native supervisor) restarts the daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never restart.
    Never,
    /// Restart after a non-zero exit or a crash.
    #[default]
    OnFailure,
    /// Restart whenever the daemon stops, unless an operator stopped it.
    Always,
    /// Like `always`, but an operator's stop survives reboots.
    UnlessStopped,
}

/// `[backoff]`: the delay between restarts, growing exponentially with jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    /// First delay.
    #[serde(with = "duration")]
    pub initial: Duration,
    /// Largest delay.
    #[serde(with = "duration")]
    pub max: Duration,
    /// Growth factor per consecutive failure, 1.0..=10.0.
    pub multiplier: f64,
    /// Random spread as a fraction of the delay, 0.0..=1.0.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60), multiplier: 2.0, jitter: 0.1 }
    }
}
