//! [`render`]: a [`UnitSpec`] as the text of a systemd unit file. Pure: no file system, no
//! tools; the same spec always gives the same bytes.
//!
//! Choices the text makes, beyond what [`unit`](super::unit) derives:
//!
//! - `Type=notify` (`notify-reload` where supported) with `NotifyAccess=main`: only the daemon
//!   itself may report readiness, reloads and stopping.
//! - `KillMode=mixed`: `systemctl stop` sends SIGTERM to the daemon alone, so its graceful
//!   shutdown decides how its child processes end; whatever is still running when the daemon has
//!   exited (or when `TimeoutStopSec=` passes) is sent SIGKILL, so no child outlives the service.
//! - `StartLimitIntervalSec=0` when the daemon restarts: the restart policy from the
//!   configuration is the only one, instead of systemd giving up after 5 starts in 10 s.
//!   `RestartPreventExitStatus=64 78`: a usage or configuration error does not fix itself, so
//!   the daemon is not restarted into it over and over.
//! - `Wants=` + `After=network-online.target` for system units; a user manager has no such
//!   target, so user units leave it out.
//! - `StateDirectory=NAME` and `RuntimeDirectory=NAME`: writable even under
//!   `ProtectSystem=strict`, created for the daemon's user; the runtime directory is kept across
//!   automatic restarts (`RuntimeDirectoryPreserve=restart`), so the restart count survives them.
//! - `IOReadBandwidthMax=` and `IOWriteBandwidthMax=` name `/`: systemd limits the block device
//!   behind that file system.
//! - The sandbox beyond `[hardening]`'s switches: the `ProtectKernel*=`, `ProtectClock=`,
//!   `ProtectHostname=`, `ProtectControlGroups=`, `ProtectProc=invisible` family, the
//!   `@system-service` system-call filter (it includes `@memlock`) with
//!   `SystemCallErrorNumber=EPERM` so a filtered call fails instead of killing the daemon, and
//!   `RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6` (`AF_UNIX` carries sd_notify). Left out
//!   on purpose: `PrivateNetwork=`/`IPAddressDeny=` (daemons serve a network), `ProcSubset=pid`
//!   (hides `/proc/meminfo` and friends that libraries read), `PrivateUsers=` (breaks `User=`
//!   and capabilities).
//! - A hosted command ([`Exec::Hosted`], pepita's VM runner) keeps the whole sandbox except what
//!   it says it cannot live with: `MemoryDenyWriteExecute=no` when it generates code at run time
//!   (QEMU's TCG), and for the device nodes it opens (`/dev/kvm`) `PrivateDevices=no` with
//!   `DevicePolicy=closed` and a `DeviceAllow=PATH rw` each, so it reaches those and the pseudo
//!   devices only. The programs and files it needs are refused at install time when the sandbox
//!   would hide them, like the binary.
//! - User units get no `User=`/`Group=` (refused: a user manager runs everything as its user), no
//!   capabilities (refused: it has none to give), and only the sandboxing that needs no user
//!   namespace (see [`Hardening`](crate::config::Hardening)).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::escape::{self, EscapeError};
use super::unit::{Exec, Reload, UnitSpec, restart_value};
use crate::config::{ProtectHome, ProtectSystem, RestartPolicy};
use crate::platform::backend::Level;

/// The start of every unit duende writes; an installer tells its own units from foreign ones by
/// it (see [`is_written_by_duende`]).
pub const MARKER: &str = "# Written by duende;";

/// Whether `unit` (a unit file's text) was written by duende.
pub fn is_written_by_duende(unit: &str) -> bool {
    unit.lines().next().is_some_and(|first| first.starts_with(MARKER))
}

/// Why a spec cannot become a unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The name is not a valid service name.
    #[error("{0}")]
    Name(String),
    /// A value that no escaping can carry into the unit.
    #[error("`{key}` = {value:?} cannot be written into a systemd unit: it {source}")]
    Value {
        /// The configuration key (or install fact) the value came from.
        key: String,
        /// The value.
        value: String,
        /// What is wrong with it.
        #[source]
        source: EscapeError,
    },
    /// A path that must be absolute is not.
    #[error("`{key}` must be an absolute path, found {path:?}")]
    RelativePath {
        /// Where the path came from.
        key: String,
        /// The path.
        path: PathBuf,
    },
    /// A path that is not UTF-8 (unit files are UTF-8).
    #[error("`{key}` = {path:?} is not UTF-8, which a systemd unit cannot hold")]
    NotUtf8 {
        /// Where the path came from.
        key: String,
        /// The path.
        path: PathBuf,
    },
    /// A setting a user unit cannot honour.
    #[error("`{key}` cannot apply to a user unit: {reason}; install with `--system` or unset `{key}`")]
    UserLevel {
        /// The configuration key.
        key: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A file the service needs lies where the sandbox hides it.
    #[error(
        "the {what} {path:?} is under {dir}, which `{setting}` hides from the service; install it elsewhere or \
         change `{setting}`"
    )]
    Hidden {
        /// What the path is (binary, configuration file, working directory).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The hidden directory it is under.
        dir: &'static str,
        /// The setting and value that hides it, such as `hardening.private_tmp = true`.
        setting: &'static str,
    },
    /// A number systemd would not accept.
    #[error("`{key}` = {value} is out of range: it must be {allowed}")]
    OutOfRange {
        /// The configuration key.
        key: &'static str,
        /// The value.
        value: String,
        /// What is accepted.
        allowed: &'static str,
    },
}

/// The unit file for `spec`.
pub fn render(spec: &UnitSpec) -> Result<String, RenderError> {
    crate::name::validate(&spec.name).map_err(RenderError::Name)?;
    let system = spec.level == Level::System;
    let sandbox = spec.hardening.enabled;
    check_visible(spec)?;

    let mut unit = Unit::default();
    let name = &spec.name;
    unit.line(&format!("{MARKER} `{name} install` rewrites this file and `{name} uninstall` removes it."));
    unit.line(&format!("# Change the configuration instead; `{name} config` shows where each value comes from."));

    unit.section("Unit");
    let description =
        if spec.description.trim_matches(escape::WHITESPACE).is_empty() { &spec.name } else { &spec.description };
    unit.set("Description", &escape::text(description).map_err(|e| value_error("description", description, e))?);
    if system {
        unit.set("Wants", "network-online.target");
        unit.set("After", "network-online.target");
    }
    if spec.restart != RestartPolicy::Never {
        unit.set("StartLimitIntervalSec", "0");
    }

    unit.section("Service");
    unit.set("Type", if spec.reload == Reload::NotifyReload { "notify-reload" } else { "notify" });
    unit.set("NotifyAccess", "main");
    unit.set("ExecStart", &exec_start(spec)?);
    if spec.reload == Reload::Signal {
        unit.set("ExecReload", "kill -HUP $MAINPID");
    }
    unit.set("Restart", restart_value(spec.restart));
    if spec.restart != RestartPolicy::Never {
        unit.set("RestartSec", &timespan(spec.restart_delay));
        if let Some(steps) = spec.restart_steps {
            unit.set("RestartSteps", &steps.steps.to_string());
            unit.set("RestartMaxDelaySec", &timespan(steps.max_delay));
        }
        unit.set("RestartPreventExitStatus", "64 78");
    }
    unit.set("TimeoutStopSec", &timespan(spec.stop_timeout));
    unit.set("KillMode", "mixed");
    if let Some(watchdog) = spec.watchdog {
        unit.set("WatchdogSec", &timespan(watchdog));
    }

    identity(&mut unit, spec)?;
    for (name, value) in &spec.environment {
        let assignment =
            escape::env_assignment(name, value).map_err(|e| value_error(&format!("env.{name}"), value, e))?;
        unit.set("Environment", &assignment);
    }
    unit.set("StateDirectory", name);
    unit.set("RuntimeDirectory", name);
    // Kept across automatic restarts (removed on stop): it holds the record of unclean ends that
    // `duende_restarts_total` counts; a stale control socket in it is replaced at start.
    unit.set("RuntimeDirectoryPreserve", "restart");
    resources(&mut unit, spec)?;
    capabilities(&mut unit, spec)?;
    if sandbox {
        hardening(&mut unit, spec)?;
    }

    unit.section("Install");
    unit.set("WantedBy", if system { "multi-user.target" } else { "default.target" });
    Ok(unit.text)
}

/// Lines under construction.
#[derive(Default)]
struct Unit {
    text: String,
}

impl Unit {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn section(&mut self, name: &str) {
        self.text.push('\n');
        self.line(&format!("[{name}]"));
    }

    /// `key=value`; `value` is already escaped.
    fn set(&mut self, key: &str, value: &str) {
        let _ = writeln!(self.text, "{key}={value}");
    }
}

fn value_error(key: &str, value: &str, source: EscapeError) -> RenderError {
    RenderError::Value { key: key.to_owned(), value: value.to_owned(), source }
}

/// `path` as UTF-8 text, absolute.
fn absolute<'a>(key: &str, path: &'a Path) -> Result<&'a str, RenderError> {
    let text = path.to_str().ok_or_else(|| RenderError::NotUtf8 { key: key.to_owned(), path: path.to_owned() })?;
    if !path.is_absolute() {
        return Err(RenderError::RelativePath { key: key.to_owned(), path: path.to_owned() });
    }
    Ok(text)
}

/// `"BINARY" "run" ["--config" "PATH"] ["--set" "K=V"...] ["--" ARGS...]`: every word quoted and escaped; `--`
/// keeps the daemon's own arguments from being read as the runtime's flags. A hosted command
/// comes after the flags instead: `"BINARY" ["--config" "PATH"] ["--set" "K=V"...] COMMAND...`.
fn exec_start(spec: &UnitSpec) -> Result<String, RenderError> {
    let mut words = vec![("binary_path".to_owned(), absolute("binary_path", &spec.binary)?)];
    if spec.exec == Exec::Daemon {
        words.push(("run".to_owned(), "run"));
    }
    if let Some(config) = &spec.config_file {
        words.push(("--config".to_owned(), "--config"));
        words.push(("--config".to_owned(), absolute("--config", config)?));
    }
    for set in &spec.sets {
        words.push(("--set".to_owned(), "--set"));
        words.push(("--set".to_owned(), set.as_str()));
    }
    if let Exec::Hosted { command, .. } = &spec.exec {
        words.extend(command.iter().enumerate().map(|(index, word)| (format!("command[{index}]"), word.as_str())));
    }
    if !spec.args.is_empty() {
        words.push(("args".to_owned(), "--"));
        words.extend(spec.args.iter().enumerate().map(|(index, arg)| (format!("args[{index}]"), arg.as_str())));
    }
    let mut line = Vec::with_capacity(words.len());
    for (index, (key, word)) in words.into_iter().enumerate() {
        let escaped = if index == 0 { escape::exec_path(word) } else { escape::exec_word(word) };
        line.push(escaped.map_err(|e| value_error(&key, word, e))?);
    }
    Ok(line.join(" "))
}

/// `User=`, `Group=`, `WorkingDirectory=`.
fn identity(unit: &mut Unit, spec: &UnitSpec) -> Result<(), RenderError> {
    let reason = "a user's service manager runs every service as that user";
    for (key, value) in [("user", &spec.user), ("group", &spec.group)] {
        let Some(value) = value else { continue };
        if spec.level == Level::User {
            return Err(RenderError::UserLevel { key, reason });
        }
        let escaped = escape::literal(value).map_err(|e| value_error(key, value, e))?;
        unit.set(if key == "user" { "User" } else { "Group" }, &escaped);
    }
    if let Some(dir) = &spec.working_dir {
        let text = absolute("working_dir", dir)?;
        unit.set("WorkingDirectory", &escape::literal(text).map_err(|e| value_error("working_dir", text, e))?);
    }
    Ok(())
}

fn resources(unit: &mut Unit, spec: &UnitSpec) -> Result<(), RenderError> {
    let r = &spec.resources;
    if let Some(bytes) = r.memory_bytes {
        unit.set("MemoryMax", &bytes.to_string());
    }
    if let Some(bytes) = r.memory_swap_bytes {
        unit.set("MemorySwapMax", &bytes.to_string());
    }
    if let Some(quota) = r.cpu_quota_percent {
        unit.set("CPUQuota", &cpu_quota(quota)?);
    }
    if let Some(weight) = r.cpu_shares {
        if !(1..=10_000).contains(&weight) {
            let allowed = "between 1 and 10000";
            return Err(RenderError::OutOfRange { key: "resources.cpu_shares", value: weight.to_string(), allowed });
        }
        unit.set("CPUWeight", &weight.to_string());
    }
    if let Some(nice) = spec.nice {
        unit.set("Nice", &nice.clamp(-20, 19).to_string());
    }
    for (key, setting, bps) in [
        ("resources.io_read_bps", "IOReadBandwidthMax", r.io_read_bps),
        ("resources.io_write_bps", "IOWriteBandwidthMax", r.io_write_bps),
    ] {
        let Some(bps) = bps else { continue };
        at_least_one(key, bps)?;
        unit.set(setting, &format!("/ {bps}"));
    }
    if let Some(tasks) = r.pids_max {
        at_least_one("resources.pids_max", tasks)?;
        unit.set("TasksMax", &tasks.to_string());
    }
    if let Some(files) = r.open_files_max {
        at_least_one("resources.open_files_max", files)?;
        unit.set("LimitNOFILE", &files.to_string());
    }
    if r.lock_memory || r.lock_memory_required {
        unit.set("LimitMEMLOCK", "infinity");
    }
    Ok(())
}

fn at_least_one(key: &'static str, value: u64) -> Result<(), RenderError> {
    if value == 0 {
        return Err(RenderError::OutOfRange { key, value: "0".to_owned(), allowed: "at least 1" });
    }
    Ok(())
}

/// `CPUQuota=` in percent with at most two decimals (systemd's resolution), at least `0.01%`.
fn cpu_quota(percent: f64) -> Result<String, RenderError> {
    if !percent.is_finite() || percent <= 0.0 || percent > 102_400.0 {
        let allowed = "a finite number greater than 0 and at most 102400";
        return Err(RenderError::OutOfRange {
            key: "resources.cpu_quota_percent",
            value: percent.to_string(),
            allowed,
        });
    }
    // In range, so the hundredths fit a u64.
    let hundredths = ((percent * 100.0).round() as u64).max(1);
    let (whole, fraction) = (hundredths / 100, hundredths % 100);
    Ok(match fraction {
        0 => format!("{whole}%"),
        f if f.is_multiple_of(10) => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    })
}

/// The capabilities the daemon keeps: `[hardening] capabilities`, plus `CAP_IPC_LOCK` to lock
/// memory; sorted, without repeats.
fn wanted_capabilities(spec: &UnitSpec) -> Vec<&str> {
    let mut caps: Vec<&str> = spec.hardening.capabilities.iter().map(String::as_str).collect();
    if spec.resources.lock_memory || spec.resources.lock_memory_required {
        caps.push("CAP_IPC_LOCK");
    }
    caps.sort_unstable();
    caps.dedup();
    caps
}

/// `AmbientCapabilities=` (and, sandboxed, `CapabilityBoundingSet=`) at system level.
fn capabilities(unit: &mut Unit, spec: &UnitSpec) -> Result<(), RenderError> {
    let caps = wanted_capabilities(spec);
    for cap in &caps {
        if !crate::config::settings::CAPABILITIES.contains(cap) {
            let allowed = "a capability name such as `CAP_NET_BIND_SERVICE`";
            let value = format!("{cap:?}");
            return Err(RenderError::OutOfRange { key: "hardening.capabilities", value, allowed });
        }
    }
    if spec.level == Level::User {
        if !spec.hardening.capabilities.is_empty() {
            let reason = "a user's service manager has no capabilities to give";
            return Err(RenderError::UserLevel { key: "hardening.capabilities", reason });
        }
        if !caps.is_empty() {
            unit.line("# A user's service manager cannot grant CAP_IPC_LOCK: LimitMEMLOCK= alone bounds locking.");
        }
        return Ok(());
    }
    let list = caps.join(" ");
    if spec.hardening.enabled {
        unit.set("CapabilityBoundingSet", &list);
    }
    if !caps.is_empty() {
        unit.set("AmbientCapabilities", &list);
    }
    Ok(())
}

/// The sandbox: everything for system units, the part that needs no user namespace for user
/// units.
fn hardening(unit: &mut Unit, spec: &UnitSpec) -> Result<(), RenderError> {
    let h = &spec.hardening;
    let yes_no = |on: bool| if on { "yes" } else { "no" };
    unit.set("UMask", "0077");
    unit.set("NoNewPrivileges", yes_no(h.no_new_privileges));
    if spec.level == Level::System {
        unit.set("ProtectSystem", protect_system(h.protect_system));
        unit.set("ProtectHome", protect_home(h.protect_home));
        unit.set("PrivateTmp", yes_no(h.private_tmp));
        match &spec.exec {
            Exec::Hosted { devices, .. } if !devices.is_empty() => {
                unit.set("PrivateDevices", "no");
                unit.set("DevicePolicy", "closed");
                for (index, device) in devices.iter().enumerate() {
                    let key = format!("devices[{index}]");
                    let text = absolute(&key, device)?;
                    let word = escape::path_word(text).map_err(|e| value_error(&key, text, e))?;
                    unit.set("DeviceAllow", &format!("{word} rw"));
                }
            }
            _ => unit.set("PrivateDevices", yes_no(h.private_devices)),
        }
        for (index, path) in h.read_write_paths.iter().enumerate() {
            let key = format!("hardening.read_write_paths[{index}]");
            let text = absolute(&key, path)?;
            unit.set("ReadWritePaths", &escape::path_word(text).map_err(|e| value_error(&key, text, e))?);
        }
        for setting in [
            "ProtectKernelTunables",
            "ProtectKernelModules",
            "ProtectKernelLogs",
            "ProtectControlGroups",
            "ProtectClock",
            "ProtectHostname",
        ] {
            unit.set(setting, "yes");
        }
        unit.set("ProtectProc", "invisible");
        unit.set("RemoveIPC", "yes");
    } else {
        unit.line("# File-system sandboxing in a user unit needs a user namespace, which some systems forbid;");
        unit.line("# duende applies it to system units only.");
    }
    unit.set("RestrictNamespaces", "yes");
    unit.set("RestrictRealtime", "yes");
    unit.set("RestrictSUIDSGID", "yes");
    unit.set("LockPersonality", "yes");
    let jit = matches!(spec.exec, Exec::Hosted { jit: true, .. });
    if jit && h.memory_deny_write_execute {
        unit.line("# The command generates code at run time (QEMU's TCG does): it needs writable executable memory.");
    }
    unit.set("MemoryDenyWriteExecute", yes_no(h.memory_deny_write_execute && !jit));
    unit.set("SystemCallArchitectures", "native");
    unit.set("SystemCallFilter", "@system-service");
    unit.set("SystemCallErrorNumber", "EPERM");
    unit.set("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6");
    Ok(())
}

fn protect_system(value: ProtectSystem) -> &'static str {
    match value {
        ProtectSystem::Strict => "strict",
        ProtectSystem::Full => "full",
        ProtectSystem::Yes => "yes",
        ProtectSystem::No => "no",
    }
}

fn protect_home(value: ProtectHome) -> &'static str {
    match value {
        ProtectHome::Yes => "yes",
        ProtectHome::ReadOnly => "read-only",
        ProtectHome::Tmpfs => "tmpfs",
        ProtectHome::No => "no",
    }
}

/// Refuses a binary, configuration file or working directory that the system sandbox would
/// hide: the service would fail to start (or to read its configuration) with a far less clear
/// error.
fn check_visible(spec: &UnitSpec) -> Result<(), RenderError> {
    if spec.level != Level::System || !spec.hardening.enabled {
        return Ok(());
    }
    let h = &spec.hardening;
    let mut hidden: Vec<(&'static str, &'static str)> = Vec::new();
    match h.protect_home {
        ProtectHome::Yes => {
            hidden.extend(["/home", "/root", "/run/user"].map(|dir| (dir, "hardening.protect_home = \"yes\"")));
        }
        ProtectHome::Tmpfs => {
            hidden.extend(["/home", "/root", "/run/user"].map(|dir| (dir, "hardening.protect_home = \"tmpfs\"")));
        }
        ProtectHome::ReadOnly | ProtectHome::No => {}
    }
    if h.private_tmp {
        hidden.extend(["/tmp", "/var/tmp"].map(|dir| (dir, "hardening.private_tmp = true")));
    }
    let mut paths = vec![
        ("binary", Some(&spec.binary)),
        ("configuration file", spec.config_file.as_ref()),
        ("working directory", spec.working_dir.as_ref()),
    ];
    if let Exec::Hosted { needs, .. } = &spec.exec {
        paths.extend(needs.iter().map(|(what, path)| (*what, Some(path))));
    }
    for (what, path) in paths {
        let Some(path) = path else { continue };
        if let Some((dir, setting)) = hidden.iter().find(|(dir, _)| path.starts_with(dir)) {
            return Err(RenderError::Hidden { what, path: path.clone(), dir, setting });
        }
    }
    Ok(())
}

/// A systemd time span: whole seconds as `Ns`, else whole milliseconds as `Nms`, else
/// microseconds (rounded up: systemd's resolution).
pub fn timespan(duration: Duration) -> String {
    let micros = duration.as_nanos().div_ceil(1000);
    if micros.is_multiple_of(1_000_000) {
        format!("{}s", micros / 1_000_000)
    } else if micros.is_multiple_of(1000) {
        format!("{}ms", micros / 1000)
    } else {
        format!("{micros}us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_spans_use_the_coarsest_exact_unit() {
        assert_eq!(timespan(Duration::from_secs(35)), "35s");
        assert_eq!(timespan(Duration::from_millis(1500)), "1500ms");
        assert_eq!(timespan(Duration::from_micros(1501)), "1501us");
        assert_eq!(timespan(Duration::from_nanos(1)), "1us");
        assert_eq!(timespan(Duration::from_secs(86_405)), "86405s");
    }

    #[test]
    fn cpu_quotas_keep_two_decimals() {
        let cases = [(250.0, "250%"), (12.5, "12.5%"), (33.333, "33.33%"), (0.001, "0.01%"), (102_400.0, "102400%")];
        for (percent, expected) in cases {
            assert_eq!(cpu_quota(percent).as_deref(), Ok(expected), "{percent}");
        }
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 102_400.5] {
            assert!(cpu_quota(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_marker_is_the_first_line() {
        assert!(is_written_by_duende("# Written by duende; `x install` ...\n[Unit]\n"));
        assert!(!is_written_by_duende("[Unit]\n# Written by duende;\n"));
        assert!(!is_written_by_duende(""));
    }
}
