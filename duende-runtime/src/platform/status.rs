//! Which service, and what a backend observed of it, in words every platform shares: [`Level`]
//! and [`Service`], [`ServiceState`], [`ServiceStatus`] (what `status` prints and `status --json`
//! serializes) and [`Drift`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::Platform;

/// Whether the service is the user's or the system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A per-user service (`systemctl --user`, a LaunchAgent, a rootless container).
    User,
    /// A system service (`/etc/systemd/system`, a LaunchDaemon, a rootful container).
    System,
}

impl Level {
    /// `--user` or `--system` as given; otherwise system for root and user for everyone else
    /// (and system where the target has no users).
    pub fn resolve(user: bool, system: bool, euid: Option<u32>) -> Level {
        if user {
            Level::User
        } else if system || euid.is_none_or(|uid| uid == 0) {
            Level::System
        } else {
            Level::User
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::User => "user",
            Level::System => "system",
        })
    }
}

/// The service an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service<'a> {
    /// The daemon's name: the unit, label or container name.
    pub name: &'a str,
    /// User or system service.
    pub level: Level,
}

/// The state a backend observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    /// The service manager does not know the service.
    NotInstalled,
    /// Installed and not running.
    Stopped,
    /// Started but not ready yet, or waiting to be restarted.
    Starting,
    /// Running and ready.
    Running,
    /// Shutting down.
    Stopping,
    /// Stopped after a failure, or failing to start.
    Failed,
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceState::NotInstalled => "not installed",
            ServiceState::Stopped => "stopped",
            ServiceState::Starting => "starting",
            ServiceState::Running => "running",
            ServiceState::Stopping => "stopping",
            ServiceState::Failed => "failed",
        })
    }
}

/// How the installed service differs from what this binary would install now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Drift {
    /// The service definition (unit, plist, container, manifest).
    Definition,
    /// The installed binary.
    Binary,
    /// The installed configuration file.
    Config,
    /// The guest kernel of a pepita bundle.
    Kernel,
    /// A pepita bundle's initramfs: the binary's libraries, the guest's modules, or the copy of
    /// the configuration the guest falls back on when the host cannot hand it the installed one.
    Bundle,
    /// A WOS module.
    Module,
    /// A WOS process manifest.
    WosManifest,
    /// A shell completion script or the man page.
    Docs,
    /// Another file `install` writes.
    File,
    /// The manager has not re-read a changed definition yet.
    NotReloaded,
    /// An install was killed before it finished: files may be half old, half new, and the
    /// service may run the old version; `install` puts back what it changed and installs again.
    Interrupted,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Drift::Definition => "definition",
            Drift::Binary => "binary",
            Drift::Config => "config",
            Drift::Kernel => "kernel",
            Drift::Bundle => "bundle",
            Drift::Module => "module",
            Drift::WosManifest => "manifest",
            Drift::Docs => "completions and man page",
            Drift::File => "file",
            Drift::NotReloaded => "not-reloaded",
            Drift::Interrupted => "interrupted",
        })
    }
}

/// A service's observed status, as `status` prints it (and `status --json` serializes it, with
/// these field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    /// `platform`: the platform that was asked.
    pub platform: Platform,
    /// `level`: user or system service.
    pub level: Level,
    /// `state`: the state.
    pub state: ServiceState,
    /// `pid`: the daemon's process, when one runs.
    pub pid: Option<u32>,
    /// `detail`: the daemon's or manager's own words (its last status text, or why it failed);
    /// may be empty.
    pub detail: String,
    /// `since`: when the service last became active, as the manager tells it.
    pub since: Option<String>,
    /// `restarts`: how often it was restarted automatically.
    pub restarts: Option<u32>,
    /// `last_exit_status`: the daemon's last exit status (128+N for a death by signal N where
    /// the manager tells signals apart).
    pub last_exit_status: Option<i32>,
    /// `next_restart`: when the next automatic restart is due, while backing off.
    pub next_restart: Option<String>,
    /// `ready`: the daemon reported readiness.
    pub ready: bool,
    /// `drift`: what is installed differently from what this binary would install; empty when it
    /// matches or cannot be told.
    pub drift: Vec<Drift>,
    /// `manager`: what the manager said, in its own vocabulary (systemd's `SubState` and
    /// `FragmentPath`, the supervisor's pid, ...), for people; scripts should read the fields
    /// above.
    pub manager: BTreeMap<String, String>,
}

impl ServiceStatus {
    /// A status with only the platform, level and state known.
    pub fn new(platform: Platform, level: Level, state: ServiceState) -> ServiceStatus {
        ServiceStatus {
            platform,
            level,
            state,
            pid: None,
            detail: String::new(),
            since: None,
            restarts: None,
            last_exit_status: None,
            next_restart: None,
            ready: false,
            drift: Vec::new(),
            manager: BTreeMap::new(),
        }
    }

    /// Adds `kinds` of drift not already listed, keeping the list sorted.
    pub fn add_drift(&mut self, kinds: impl IntoIterator<Item = Drift>) {
        for kind in kinds {
            if !self.drift.contains(&kind) {
                self.drift.push(kind);
            }
        }
        self.drift.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serializes_for_json() {
        let mut status = ServiceStatus::new(Platform::Systemd, Level::User, ServiceState::NotInstalled);
        status.add_drift([Drift::Config, Drift::Definition, Drift::Config]);
        let json = serde_json::to_string(&status).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"platform":"systemd","level":"user","state":"not-installed","pid":null,"detail":"","since":null,"#
                .to_owned()
                + r#""restarts":null,"last_exit_status":null,"next_restart":null,"ready":false,"#
                + r#""drift":["definition","config"],"manager":{}}"#
        );
        assert_eq!(Drift::NotReloaded.to_string(), "not-reloaded");
    }
}
