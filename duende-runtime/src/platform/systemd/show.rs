//! What `systemctl show` says about a unit, and how that maps onto [`ServiceState`].
//!
//! The backend asks for [`PROPERTIES`] as `KEY=VALUE` lines and parses them by key: with several
//! properties, `--value` prints bare values whose order is not guaranteed to follow `-p`.

use std::collections::BTreeMap;

use crate::platform::Platform;
use crate::platform::backend::Level;
use crate::platform::status::{ServiceState, ServiceStatus};

/// The properties `status` and the waits read, for `systemctl show -p`.
pub const PROPERTIES: &str = "Id,LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp,NRestarts,\
                              ExecMainStatus,Result,FragmentPath,StatusText,UnitFileState,NeedDaemonReload";

/// Parsed `systemctl show` output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    values: BTreeMap<String, String>,
}

impl Shown {
    /// Parses `KEY=VALUE` lines; anything else is ignored.
    pub fn parse(text: &str) -> Shown {
        let values = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
            .collect();
        Shown { values }
    }

    /// The value of `key`, empty when absent.
    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }

    /// Whether the manager knows the unit at all.
    pub fn is_loaded(&self) -> bool {
        matches!(self.get("LoadState"), "loaded" | "bad-setting" | "error" | "masked")
    }

    /// The state this describes.
    pub fn state(&self) -> ServiceState {
        if !self.is_loaded() {
            return ServiceState::NotInstalled;
        }
        match self.get("ActiveState") {
            "active" | "reloading" => ServiceState::Running,
            "activating" => ServiceState::Starting,
            "deactivating" | "maintenance" => ServiceState::Stopping,
            "failed" => ServiceState::Failed,
            _ => ServiceState::Stopped,
        }
    }

    /// Active, and its main process running: what `--now` and `start` wait for. A
    /// `Type=notify` unit becomes active only after `READY=1`.
    pub fn is_ready(&self) -> bool {
        matches!(self.get("ActiveState"), "active" | "reloading") && self.get("SubState") != "exited"
    }

    /// Settled in a state that will not turn into `active` by itself.
    pub fn has_given_up(&self) -> bool {
        matches!(self.get("ActiveState"), "failed" | "inactive") || !self.is_loaded()
    }

    /// One line for messages: the states, result, exit status and status text.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("ActiveState={} SubState={}", self.get("ActiveState"), self.get("SubState"))];
        for key in ["Result", "ExecMainStatus", "StatusText"] {
            if !self.get(key).is_empty() {
                parts.push(format!("{key}={}", self.get(key)));
            }
        }
        parts.join(" ")
    }

    /// The status `status` reports (`drift` is filled in by the backend).
    pub fn status(&self, level: Level) -> ServiceStatus {
        let number = |key: &str| self.get(key).parse::<u64>().ok();
        let state = self.state();
        let loaded = state != ServiceState::NotInstalled;
        let manager = ["SubState", "Result", "FragmentPath", "UnitFileState"]
            .into_iter()
            .filter(|key| !self.get(key).is_empty())
            .map(|key| (key.to_owned(), self.get(key).to_owned()))
            .collect();
        ServiceStatus {
            pid: number("MainPID").filter(|&pid| pid != 0).and_then(|pid| u32::try_from(pid).ok()),
            detail: self.get("StatusText").to_owned(),
            since: Some(self.get("ActiveEnterTimestamp")).filter(|s| loaded && !s.is_empty()).map(str::to_owned),
            restarts: number("NRestarts").filter(|_| loaded).and_then(|n| u32::try_from(n).ok()),
            last_exit_status: self.get("ExecMainStatus").parse().ok().filter(|_| loaded),
            ready: loaded && self.is_ready(),
            manager,
            ..ServiceStatus::new(Platform::Systemd, level, state)
        }
    }
}

/// The version `systemctl --version` reports on its first line (`systemd 252 (252.39-1)`).
pub fn parse_version(text: &str) -> Option<u32> {
    text.lines().next()?.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "Id=demo.service\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=42\n\
        ActiveEnterTimestamp=Sat 2026-11-21 23:00:00 UTC\nNRestarts=1\nExecMainStatus=0\nResult=success\n\
        FragmentPath=/etc/systemd/system/demo.service\nStatusText=serving\nUnitFileState=enabled\n";

    #[test]
    fn a_running_unit_reads_as_running_and_ready() {
        let shown = Shown::parse(RUNNING);
        let status = shown.status(Level::System);
        assert_eq!(status.state, ServiceState::Running);
        assert!(status.ready);
        assert_eq!(status.pid, Some(42));
        assert_eq!(status.restarts, Some(1));
        assert_eq!(status.last_exit_status, Some(0));
        assert_eq!(status.manager.get("SubState").map(String::as_str), Some("running"));
        assert_eq!(status.detail, "serving");
        assert_eq!(status.since.as_deref(), Some("Sat 2026-11-21 23:00:00 UTC"));
        assert_eq!(status.manager.get("FragmentPath").map(String::as_str), Some("/etc/systemd/system/demo.service"));
    }

    #[test]
    fn states_map_from_active_state_and_load_state() {
        let state = |text: &str| Shown::parse(text).state();
        assert_eq!(state("LoadState=not-found\nActiveState=inactive"), ServiceState::NotInstalled);
        assert_eq!(state("LoadState=loaded\nActiveState=inactive"), ServiceState::Stopped);
        assert_eq!(state("LoadState=loaded\nActiveState=activating"), ServiceState::Starting);
        assert_eq!(state("LoadState=loaded\nActiveState=deactivating"), ServiceState::Stopping);
        assert_eq!(state("LoadState=loaded\nActiveState=failed"), ServiceState::Failed);
        assert_eq!(state("LoadState=loaded\nActiveState=reloading"), ServiceState::Running);
        assert_eq!(state(""), ServiceState::NotInstalled);
        let failed = Shown::parse("LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code");
        assert!(failed.has_given_up() && !failed.is_ready());
        assert_eq!(failed.summary(), "ActiveState=failed SubState=failed Result=exit-code");
    }

    #[test]
    fn values_may_contain_equals_signs() {
        assert_eq!(Shown::parse("StatusText=a=b\n").get("StatusText"), "a=b");
    }

    #[test]
    fn versions_parse_from_the_first_line() {
        assert_eq!(parse_version("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT"), Some(252));
        assert_eq!(parse_version("systemd 256.5\n"), None);
        assert_eq!(parse_version(""), None);
    }
}
