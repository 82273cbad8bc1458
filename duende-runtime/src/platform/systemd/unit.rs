//! What a unit says, as plain data: [`UnitSpec`], built from the settings and the facts of one
//! install by [`UnitSpec::new`], and turned into text by [`render`](super::render::render).
//!
//! The spec is where the numbers are derived, so each rule is stated once here:
//!
//! - **Restart** ([`restart_value`]): `never` → `no`, `on-failure` → `on-failure`, `always` and
//!   `unless-stopped` → `always`. systemd already gives `unless-stopped` its meaning: a service an
//!   operator stopped with `systemctl stop` is not restarted, and a disabled one stays down
//!   across boots, so both policies need the same `Restart=`. The delay is `RestartSec=` =
//!   `backoff.initial`; on systemd ≥ 254 the delay grows to `backoff.max` by `backoff.multiplier`
//!   per restart (`RestartSteps=`, `RestartMaxDelaySec=`); systemd has no jitter.
//! - **Stop timeout**: `TimeoutStopSec=` = `shutdown_timeout` + [`STOP_MARGIN`], so the runtime's
//!   own deadline (exit 75) fires first and systemd's SIGKILL only ever meets a runtime that is
//!   itself stuck.
//! - **Watchdog** ([`watchdog_timeout`]): with health checks on, `WatchdogSec=` =
//!   `(retries + 1) × (interval + timeout)`. A healthy daemon finishes a check at least every
//!   `interval + timeout`; it becomes unhealthy only after `retries` failed checks in a row, so
//!   the watchdog must outlast `retries` such periods plus the one in which the last good check
//!   ran. The runtime pings at half that or more often while healthy.
//! - **Hosted commands** ([`UnitSpec::hosting`]): a unit may run, in the daemon's place, a
//!   command that stands for a daemon running elsewhere (pepita's VM runner, whose daemon is PID 1
//!   of a microVM and whose notifications it relays). Such a unit runs `BINARY [--config PATH]
//!   [--set K=V]... COMMAND...`: the command carries the daemon's arguments and environment
//!   itself, so the unit sets neither. Its reload is always `ExecReload=kill -HUP $MAINPID`:
//!   the relayed `RELOADING=1` carries a `MONOTONIC_USEC` of the other machine's clock, which
//!   `Type=notify-reload` would not match with its own reload. It has no watchdog (the daemon
//!   elsewhere is not given one to ping), and its stop timeout is the daemon's, which the
//!   hosted command's own deadline must fall within (the pepita runner kills its VM at
//!   `shutdown_timeout` + 2 s). The scheduling a hosted command asks for (a WOS module's
//!   priority) is `Nice=` (left out of a user unit when negative: a user's manager cannot raise
//!   a priority) and `CPUWeight=` unless `resources.cpu_shares` sets one.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Hardening, Resources, RestartPolicy, Settings};
use crate::platform::backend::Level;
use crate::platform::plan::Hosted;

pub use crate::platform::plan::MANAGER_STOP_MARGIN as STOP_MARGIN;

/// Most `RestartSteps=` a unit asks for: a multiplier close to 1 would otherwise ask for
/// thousands of steps; past this the delay grows a little faster than configured.
pub const MAX_RESTART_STEPS: u32 = 100;

/// What the service manager supports beyond systemd 252, the oldest version duende renders for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// `Type=notify-reload` (systemd 253): systemd sends SIGHUP and waits for the daemon's
    /// `RELOADING=1` … `READY=1`; without it the unit reloads with `ExecReload=kill -HUP`.
    pub notify_reload: bool,
    /// `RestartSteps=` and `RestartMaxDelaySec=` (systemd 254): a growing restart delay.
    pub restart_steps: bool,
}

impl Features {
    /// What systemd `version` (as `systemctl --version` prints it) supports.
    pub fn of_version(version: u32) -> Features {
        Features { notify_reload: version >= 253, restart_steps: version >= 254 }
    }
}

/// The facts of one install that the configuration does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFacts {
    /// The absolute path of the installed binary.
    pub binary: PathBuf,
    /// The absolute path of the installed configuration file, passed as `--config PATH`.
    pub config_file: Option<PathBuf>,
    /// User or system unit.
    pub level: Level,
    /// What the service manager supports.
    pub features: Features,
    /// `--set` flags the configuration was validated with, passed on in `ExecStart=` so the
    /// service layers exactly what the installer saw.
    pub sets: Vec<String>,
    /// The daemon's own `NAME_*` variables from the installer's environment, passed on in
    /// `Environment=` for the same reason.
    pub overrides: Vec<(String, String)>,
}

/// How `systemctl reload` reaches the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// `Type=notify-reload`: systemd sends SIGHUP and waits for the reload to finish.
    NotifyReload,
    /// `Type=notify` with `ExecReload=kill -HUP $MAINPID`.
    Signal,
}

/// What `ExecStart=` runs after the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exec {
    /// The daemon: `[FLAGS] run [-- ARGS]`.
    Daemon,
    /// A command in the daemon's place (see the module documentation): `[FLAGS] COMMAND...`.
    Hosted {
        /// The subcommand and its arguments (`__pepita-vm --bundle DIR`).
        command: Vec<String>,
        /// It generates machine code at run time: `MemoryDenyWriteExecute=no`.
        jit: bool,
        /// Device nodes it opens: `PrivateDevices=no` and a `DeviceAllow=` each.
        devices: Vec<PathBuf>,
        /// What it runs or reads outside its unit's own files (what it is, where): checked
        /// against the sandbox like the binary.
        needs: Vec<(&'static str, PathBuf)>,
    },
}

/// A growing restart delay (systemd ≥ 254).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartSteps {
    /// `RestartSteps=`: restarts until the delay reaches `max_delay`.
    pub steps: u32,
    /// `RestartMaxDelaySec=`.
    pub max_delay: Duration,
}

/// Everything a systemd unit for one daemon says, before escaping. Non-generic: the daemon's
/// own `[app]` section never reaches a unit. Paths are checked (absolute, UTF-8, not hidden by
/// the sandbox) when rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSpec {
    /// The service name; the unit is `NAME.service`.
    pub name: String,
    /// `Description=`; the name when empty.
    pub description: String,
    /// User or system unit.
    pub level: Level,
    /// The binary `ExecStart=` runs.
    pub binary: PathBuf,
    /// What it runs: the daemon, or a hosted command.
    pub exec: Exec,
    /// `--config PATH`.
    pub config_file: Option<PathBuf>,
    /// `--set` flags, after `--config`.
    pub sets: Vec<String>,
    /// The daemon's own arguments, after `run --`.
    pub args: Vec<String>,
    /// `Environment=`, in this order.
    pub environment: Vec<(String, String)>,
    /// `User=` (system units only).
    pub user: Option<String>,
    /// `Group=` (system units only).
    pub group: Option<String>,
    /// `WorkingDirectory=`.
    pub working_dir: Option<PathBuf>,
    /// How reloads are delivered.
    pub reload: Reload,
    /// The restart policy.
    pub restart: RestartPolicy,
    /// `RestartSec=`.
    pub restart_delay: Duration,
    /// `RestartSteps=` and `RestartMaxDelaySec=`, where supported and configured.
    pub restart_steps: Option<RestartSteps>,
    /// `TimeoutStopSec=`.
    pub stop_timeout: Duration,
    /// `WatchdogSec=`, when health checks are on.
    pub watchdog: Option<Duration>,
    /// Resource limits and memory locking.
    pub resources: Resources,
    /// `Nice=`.
    pub nice: Option<i32>,
    /// The sandbox.
    pub hardening: Hardening,
}

impl UnitSpec {
    /// The unit for `settings` (the `[app]` section is ignored) installed as `facts` says.
    pub fn new<A>(settings: &Settings<A>, facts: &InstallFacts) -> UnitSpec {
        let health = &settings.health_check;
        UnitSpec {
            name: settings.name.clone(),
            description: settings.description.clone(),
            level: facts.level,
            binary: facts.binary.clone(),
            exec: Exec::Daemon,
            config_file: facts.config_file.clone(),
            sets: facts.sets.clone(),
            args: settings.args.clone(),
            environment: settings
                .env
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .chain(facts.overrides.iter().cloned())
                .collect(),
            user: settings.user.clone(),
            group: settings.group.clone(),
            working_dir: settings.working_dir.clone(),
            reload: if facts.features.notify_reload { Reload::NotifyReload } else { Reload::Signal },
            restart: settings.restart,
            restart_delay: settings.backoff.initial,
            restart_steps: if facts.features.restart_steps { restart_steps(&settings.backoff) } else { None },
            stop_timeout: settings.shutdown_timeout.saturating_add(STOP_MARGIN),
            watchdog: health.enabled.then(|| watchdog_timeout(health.interval, health.timeout, health.retries)),
            resources: settings.resources.clone(),
            nice: None,
            hardening: settings.hardening.clone(),
        }
    }

    /// The unit for `settings` running `hosted` in the daemon's place, installed as `facts`
    /// says: no arguments, environment, working directory, watchdog, memory locking or
    /// capabilities of the daemon's, and the reload by signal (see the module documentation).
    /// The resource limits apply to everything the hosted command runs (for pepita, the whole
    /// VM: QEMU and the guest's memory).
    pub fn hosting<A>(settings: &Settings<A>, facts: &InstallFacts, hosted: &Hosted) -> UnitSpec {
        UnitSpec {
            exec: Exec::Hosted {
                command: hosted.command.clone(),
                jit: hosted.jit,
                devices: hosted.devices.clone(),
                needs: hosted.needs.clone(),
            },
            args: Vec::new(),
            environment: Vec::new(),
            working_dir: None,
            reload: Reload::Signal,
            watchdog: None,
            // Memory is locked, and capabilities used, by the daemon where it runs: the command
            // standing for it here needs neither.
            resources: Resources {
                lock_memory: false,
                lock_memory_required: false,
                cpu_shares: settings.resources.cpu_shares.or(hosted.cpu_weight),
                ..settings.resources.clone()
            },
            // A user's manager cannot raise a priority: a negative nice would fail the start.
            nice: hosted.nice.filter(|nice| facts.level == Level::System || *nice >= 0),
            hardening: Hardening {
                capabilities: Vec::new(),
                read_write_paths: settings
                    .hardening
                    .read_write_paths
                    .iter()
                    .chain(hosted.writable.iter().filter(|path| !settings.hardening.read_write_paths.contains(path)))
                    .cloned()
                    .collect(),
                ..settings.hardening.clone()
            },
            ..UnitSpec::new(settings, facts)
        }
    }

    /// The unit's file name, `NAME.service`.
    pub fn file_name(&self) -> String {
        format!("{}.service", self.name)
    }
}

/// `Restart=` for a policy; see the module documentation for why `unless-stopped` is `always`.
pub fn restart_value(policy: RestartPolicy) -> &'static str {
    match policy {
        RestartPolicy::Never => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always | RestartPolicy::UnlessStopped => "always",
    }
}

/// `WatchdogSec=` for health checks every `interval`, each allowed `timeout`, unhealthy after
/// `retries` failures in a row: `(retries + 1) × (interval + timeout)`.
pub fn watchdog_timeout(interval: Duration, timeout: Duration, retries: u32) -> Duration {
    interval.saturating_add(timeout).saturating_mul(retries.saturating_add(1))
}

/// The steps from `backoff.initial` to `backoff.max` at `backoff.multiplier` per restart, or
/// `None` when the delay does not grow.
fn restart_steps(backoff: &crate::config::Backoff) -> Option<RestartSteps> {
    let ratio = backoff.max.as_secs_f64() / backoff.initial.as_secs_f64();
    if backoff.max <= backoff.initial || !ratio.is_finite() || !backoff.multiplier.is_finite() {
        return None;
    }
    if backoff.multiplier <= 1.0 {
        return None;
    }
    let steps = (ratio.ln() / backoff.multiplier.ln()).ceil();
    // `steps` is finite and at least 1 here; the clamp keeps the cast in range.
    let steps = steps.clamp(1.0, f64::from(MAX_RESTART_STEPS)) as u32;
    Some(RestartSteps { steps, max_delay: backoff.max })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backoff, NoConfig};

    fn facts(features: Features) -> InstallFacts {
        InstallFacts {
            binary: "/usr/bin/demo".into(),
            config_file: None,
            level: Level::System,
            features,
            sets: Vec::new(),
            overrides: Vec::new(),
        }
    }

    #[test]
    fn features_follow_the_systemd_version() {
        assert_eq!(Features::of_version(252), Features { notify_reload: false, restart_steps: false });
        assert_eq!(Features::of_version(253), Features { notify_reload: true, restart_steps: false });
        assert_eq!(Features::of_version(254), Features { notify_reload: true, restart_steps: true });
    }

    #[test]
    fn restart_policies_map_to_systemd() {
        assert_eq!(restart_value(RestartPolicy::Never), "no");
        assert_eq!(restart_value(RestartPolicy::OnFailure), "on-failure");
        assert_eq!(restart_value(RestartPolicy::Always), "always");
        assert_eq!(restart_value(RestartPolicy::UnlessStopped), "always");
    }

    #[test]
    fn the_watchdog_outlasts_every_tolerated_failure() {
        let secs = Duration::from_secs;
        assert_eq!(watchdog_timeout(secs(30), secs(10), 3), secs(160));
        assert_eq!(
            watchdog_timeout(Duration::from_millis(500), Duration::from_millis(250), 1),
            Duration::from_millis(1500)
        );
        // Never shorter than two full check periods, and it saturates instead of overflowing.
        assert!(watchdog_timeout(secs(1), secs(1), 1) >= secs(4));
        assert_eq!(watchdog_timeout(Duration::MAX, secs(1), 100), Duration::MAX);
    }

    #[test]
    fn the_stop_timeout_leaves_the_runtime_deadline_room() {
        let settings = Settings::<NoConfig> { shutdown_timeout: Duration::from_secs(30), ..Settings::default() };
        let spec = UnitSpec::new(&settings, &facts(Features::default()));
        assert_eq!(spec.stop_timeout, Duration::from_secs(35));
        assert!(spec.stop_timeout > settings.shutdown_timeout);
    }

    #[test]
    fn restart_steps_reach_the_maximum_delay() {
        let backoff = |initial: u64, max: u64, multiplier: f64| Backoff {
            initial: Duration::from_secs(initial),
            max: Duration::from_secs(max),
            multiplier,
            jitter: 0.1,
        };
        // 1s · 2^6 = 64s ≥ 60s: six steps.
        assert_eq!(
            restart_steps(&backoff(1, 60, 2.0)),
            Some(RestartSteps { steps: 6, max_delay: Duration::from_secs(60) })
        );
        assert_eq!(restart_steps(&backoff(1, 2, 10.0)).map(|s| s.steps), Some(1));
        assert_eq!(restart_steps(&backoff(1, 3600, 1.0001)).map(|s| s.steps), Some(MAX_RESTART_STEPS));
        assert_eq!(restart_steps(&backoff(5, 5, 2.0)), None);
        assert_eq!(restart_steps(&backoff(1, 60, 1.0)), None);

        let settings = Settings::<NoConfig>::default();
        assert_eq!(UnitSpec::new(&settings, &facts(Features::of_version(252))).restart_steps, None);
        assert!(UnitSpec::new(&settings, &facts(Features::of_version(254))).restart_steps.is_some());
    }

    #[test]
    fn reloads_use_notify_reload_where_supported() {
        let settings = Settings::<NoConfig>::default();
        assert_eq!(UnitSpec::new(&settings, &facts(Features::of_version(252))).reload, Reload::Signal);
        assert_eq!(UnitSpec::new(&settings, &facts(Features::of_version(253))).reload, Reload::NotifyReload);
    }

    #[test]
    fn the_watchdog_is_set_only_with_health_checks() {
        let mut settings = Settings::<NoConfig>::default();
        assert_eq!(UnitSpec::new(&settings, &facts(Features::default())).watchdog, None);
        settings.health_check.enabled = true;
        assert_eq!(UnitSpec::new(&settings, &facts(Features::default())).watchdog, Some(Duration::from_secs(160)));
    }
}
