//! What a launchd job says, as plain data: [`JobSpec`], built from the settings and the facts of
//! one install by [`JobSpec::new`], and turned into a plist by [`render`](super::render::render).
//! Every rule that derives a number or a mapping is stated once, here.
//!
//! - **Label**: `[platform.launchd] label`, or `label_prefix` + `.` + the name
//!   (`local.duende.NAME` by default). The plist is `LABEL.plist`.
//! - **KeepAlive** ([`KeepAlive::of`]), read against launchd.plist(5), where the conditions of
//!   a `KeepAlive` dictionary are alternatives (any one true keeps the job alive):
//!   - `never` → `false`: launchd starts the job at load and never again by itself.
//!   - `on-failure` → `{SuccessfulExit = false}`: restarted after any exit status other than 0,
//!     *and after a death by any signal* (launchd counts a signal death as not successful).
//!     A duende daemon handles SIGTERM and exits 0, so `kill -TERM` ends it for good, as under
//!     systemd; but a SIGKILL from anyone, or a crash, brings it back. `Crashed = true` would add
//!     nothing (crash signals already restart it). launchd has no `RestartPreventExitStatus=`:
//!     a daemon that exits 78 (bad configuration) or 64 (usage) is restarted every
//!     `ThrottleInterval` until the configuration is fixed, where systemd would give up.
//!   - `always` → `true`: restarted after every exit, 0 included. An operator's `stop` unloads
//!     the job (`launchctl bootout`), so launchd does not bring it back until the next load
//!     (boot for a LaunchDaemon, login for a LaunchAgent, or `start`).
//!   - `unless-stopped` → `true`, the same as `always`: the plist cannot say "stay stopped
//!     across reboots after an operator's stop". The closest honest mapping is `always`'s:
//!     `stop` holds until the next boot or login, where `RunAtLoad` starts it again; an operator
//!     who wants it down for good runs `uninstall` (or `launchctl disable`, which duende leaves
//!     to them).
//! - **RunAtLoad** is always true: a loaded job runs, so an installed job starts at boot (a
//!   LaunchDaemon) or login (a LaunchAgent), as an enabled systemd unit does.
//! - **ThrottleInterval** = `backoff.initial` rounded up to whole seconds, at least 1. launchd
//!   waits this long after a spawn before the next one; a job that ran longer is restarted at
//!   once. launchd has no growing delay and no jitter: `backoff.max`, `multiplier` and `jitter`
//!   do not apply.
//! - **ExitTimeOut** = `shutdown_timeout` + [`STOP_MARGIN`], rounded up to whole seconds (the
//!   same margin as systemd's `TimeoutStopSec=` and the native supervisor): the runtime's own
//!   deadline (exit 75) fires before launchd's SIGKILL.
//! - **StandardOutPath** and **StandardErrorPath** are always set, to the same file (launchd
//!   opens it for appending; output without them goes nowhere): `/Library/Logs/NAME.log` for a
//!   LaunchDaemon, `~/Library/Logs/NAME.log` for a LaunchAgent.
//! - **EnvironmentVariables**: `env`, then the installer's `NAME_*` overrides (a later value for
//!   the same name wins, as systemd's last `Environment=` does), then `RUNTIME_DIRECTORY`: the
//!   runtime directory the backend reads the control socket from (`/var/run/NAME`, or
//!   `~/Library/Caches/NAME` for an agent; macOS has no `/run` and no `XDG_RUNTIME_DIR`), which
//!   wins over a configured one so that the two always agree.
//! - **Resource limits**: `open_files_max` → `NumberOfFiles`, `pids_max` → `NumberOfProcesses`,
//!   soft and hard alike; with `lock_memory` (or `lock_memory_required`), `MemoryLock` =
//!   `RLIM_INFINITY` (`9223372036854775807` on macOS) in both, the counterpart of systemd's
//!   `LimitMEMLOCK=infinity`. The other `[resources]` keys have no launchd counterpart (launchd's
//!   `ResidentSetSize` is not enforced by macOS); the plan says so in a note.
//! - `UserName`/`GroupName` only for a LaunchDaemon: launchd runs an agent as its user.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{RestartPolicy, Settings};
use crate::platform::backend::Level;
pub use crate::platform::plan::MANAGER_STOP_MARGIN as STOP_MARGIN;

/// `RLIM_INFINITY` on macOS: `MemoryLock`'s value for "no limit".
pub const RLIM_INFINITY: i64 = i64::MAX;

/// `KeepAlive`, from the restart policy (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// `<false/>`.
    Never,
    /// `{SuccessfulExit = false}`.
    UnlessSuccessful,
    /// `<true/>`.
    Always,
}

impl KeepAlive {
    /// The mapping of `policy`.
    pub fn of(policy: RestartPolicy) -> KeepAlive {
        match policy {
            RestartPolicy::Never => KeepAlive::Never,
            RestartPolicy::OnFailure => KeepAlive::UnlessSuccessful,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => KeepAlive::Always,
        }
    }
}

/// The facts of one install that the configuration does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFacts {
    /// The absolute path of the installed binary.
    pub binary: PathBuf,
    /// The installed configuration file, passed as `--config PATH`.
    pub config_file: Option<PathBuf>,
    /// LaunchAgent (user) or LaunchDaemon (system).
    pub level: Level,
    /// `--set` flags the configuration was validated with, passed on.
    pub sets: Vec<String>,
    /// The installer's `NAME_*` variables, passed on.
    pub overrides: Vec<(String, String)>,
    /// The log file (standard output and standard error).
    pub log: PathBuf,
    /// The runtime directory the daemon is told to use.
    pub runtime_dir: PathBuf,
}

/// Everything the plist of one daemon says, before escaping. Paths are checked (absolute,
/// UTF-8) when rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The daemon's name, recorded in a comment so that the plist is found whatever its label.
    pub name: String,
    /// `Label`.
    pub label: String,
    /// LaunchAgent or LaunchDaemon.
    pub level: Level,
    /// `ProgramArguments[0]`.
    pub binary: PathBuf,
    /// `--config PATH`.
    pub config_file: Option<PathBuf>,
    /// `--set` flags, after `--config`.
    pub sets: Vec<String>,
    /// The daemon's own arguments, after `run --`.
    pub args: Vec<String>,
    /// `EnvironmentVariables`.
    pub environment: BTreeMap<String, String>,
    /// `WorkingDirectory`.
    pub working_dir: Option<PathBuf>,
    /// `UserName` (LaunchDaemons only).
    pub user: Option<String>,
    /// `GroupName` (LaunchDaemons only).
    pub group: Option<String>,
    /// `KeepAlive`.
    pub keep_alive: KeepAlive,
    /// `ThrottleInterval`, seconds.
    pub throttle_interval: u64,
    /// `ExitTimeOut`, seconds.
    pub exit_timeout: u64,
    /// `ProcessType`.
    pub process_type: String,
    /// `StandardOutPath` and `StandardErrorPath`.
    pub log: PathBuf,
    /// `NumberOfFiles`.
    pub open_files: Option<u64>,
    /// `NumberOfProcesses`.
    pub processes: Option<u64>,
    /// `MemoryLock` = `RLIM_INFINITY`.
    pub memory_lock: bool,
}

impl JobSpec {
    /// The job for `settings` (the `[app]` section is ignored) installed as `facts` says.
    pub fn new<A>(settings: &Settings<A>, facts: &JobFacts) -> JobSpec {
        let mut environment: BTreeMap<String, String> =
            settings.env.iter().map(|(name, value)| (name.clone(), value.clone())).collect();
        environment.extend(facts.overrides.iter().cloned());
        environment.insert("RUNTIME_DIRECTORY".to_owned(), facts.runtime_dir.to_string_lossy().into_owned());
        let r = &settings.resources;
        JobSpec {
            name: settings.name.clone(),
            label: settings.platform.launchd.label_for(&settings.name),
            level: facts.level,
            binary: facts.binary.clone(),
            config_file: facts.config_file.clone(),
            sets: facts.sets.clone(),
            args: settings.args.clone(),
            environment,
            working_dir: settings.working_dir.clone(),
            user: settings.user.clone(),
            group: settings.group.clone(),
            keep_alive: KeepAlive::of(settings.restart),
            throttle_interval: whole_seconds(settings.backoff.initial).max(1),
            exit_timeout: whole_seconds(settings.shutdown_timeout.saturating_add(STOP_MARGIN)),
            process_type: settings.platform.launchd.process_type.clone(),
            log: facts.log.clone(),
            open_files: r.open_files_max,
            processes: r.pids_max,
            memory_lock: r.lock_memory || r.lock_memory_required,
        }
    }

    /// The plist's file name, `LABEL.plist`.
    pub fn file_name(&self) -> String {
        format!("{}.plist", self.label)
    }
}

/// `duration` in whole seconds, rounded up.
pub fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0))
}

/// The `[resources]` keys set in `settings` that launchd cannot enforce, for the plan's note.
pub fn unenforced<A>(settings: &Settings<A>) -> Vec<&'static str> {
    let r = &settings.resources;
    [
        ("resources.memory_bytes", r.memory_bytes.is_some()),
        ("resources.memory_swap_bytes", r.memory_swap_bytes.is_some()),
        ("resources.cpu_quota_percent", r.cpu_quota_percent.is_some()),
        ("resources.cpu_shares", r.cpu_shares.is_some()),
        ("resources.io_read_bps", r.io_read_bps.is_some()),
        ("resources.io_write_bps", r.io_write_bps.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NoConfig;

    fn facts() -> JobFacts {
        JobFacts {
            binary: "/usr/local/bin/demo".into(),
            config_file: None,
            level: Level::System,
            sets: Vec::new(),
            overrides: vec![("DEMO_LOG_LEVEL".into(), "debug".into()), ("SHARED".into(), "override".into())],
            log: "/Library/Logs/demo.log".into(),
            runtime_dir: "/var/run/demo".into(),
        }
    }

    #[test]
    fn restart_policies_map_to_keep_alive() {
        assert_eq!(KeepAlive::of(RestartPolicy::Never), KeepAlive::Never);
        assert_eq!(KeepAlive::of(RestartPolicy::OnFailure), KeepAlive::UnlessSuccessful);
        assert_eq!(KeepAlive::of(RestartPolicy::Always), KeepAlive::Always);
        assert_eq!(KeepAlive::of(RestartPolicy::UnlessStopped), KeepAlive::Always);
    }

    #[test]
    fn timeouts_round_up_and_keep_the_stop_margin() {
        let mut settings = Settings::<NoConfig> { name: "demo".into(), ..Settings::default() };
        settings.shutdown_timeout = Duration::from_millis(2500);
        settings.backoff.initial = Duration::from_millis(200);
        let spec = JobSpec::new(&settings, &facts());
        assert_eq!((spec.exit_timeout, spec.throttle_interval), (8, 1));
        settings.backoff.initial = Duration::from_secs(12);
        settings.shutdown_timeout = Duration::from_secs(30);
        let spec = JobSpec::new(&settings, &facts());
        assert_eq!((spec.exit_timeout, spec.throttle_interval), (35, 12));
        assert_eq!(whole_seconds(Duration::from_nanos(1)), 1);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }

    #[test]
    fn the_environment_layers_and_the_runtime_directory_wins() {
        let mut settings = Settings::<NoConfig> { name: "demo".into(), ..Settings::default() };
        settings.env.insert("SHARED".into(), "configured".into());
        settings.env.insert("RUNTIME_DIRECTORY".into(), "/elsewhere".into());
        let spec = JobSpec::new(&settings, &facts());
        let env: Vec<(&str, &str)> = spec.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("DEMO_LOG_LEVEL", "debug"), ("RUNTIME_DIRECTORY", "/var/run/demo"), ("SHARED", "override")]);
    }

    #[test]
    fn the_label_comes_from_the_name_unless_configured() {
        let mut settings = Settings::<NoConfig> { name: "demo".into(), ..Settings::default() };
        assert_eq!(JobSpec::new(&settings, &facts()).label, "local.duende.demo");
        settings.platform.launchd.label_prefix = "com.example".into();
        assert_eq!(JobSpec::new(&settings, &facts()).file_name(), "com.example.demo.plist");
        settings.platform.launchd.label = "org.acme.counter".into();
        assert_eq!(JobSpec::new(&settings, &facts()).label, "org.acme.counter");
    }

    #[test]
    fn limits_launchd_lacks_are_named() {
        let mut settings = Settings::<NoConfig>::default();
        assert!(unenforced(&settings).is_empty());
        settings.resources.memory_bytes = Some(1 << 20);
        settings.resources.cpu_shares = Some(10);
        settings.resources.open_files_max = Some(10);
        assert_eq!(unenforced(&settings), ["resources.memory_bytes", "resources.cpu_shares"]);
    }
}
