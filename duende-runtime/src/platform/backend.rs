//! The seam every service-manager backend plugs into: one [`ServiceBackend`] per platform,
//! looked up with [`backend_for`]. Only systemd has one so far; every other lookup is
//! [`Unsupported`].
//!
//! A backend renders its artifacts with pure functions, runs its tools through a
//! [`CommandRunner`](super::runner::CommandRunner), and reports only what it observed: a tool
//! exiting 0 is not proof that a daemon runs, so `start` and friends return the state they saw.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Platform;
use super::runner::Invocation;
use crate::cli::{InstallArgs, LevelArgs};
use crate::config::Settings;
use crate::exit::Exit;

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
    pub fn resolve(args: &LevelArgs, euid: Option<u32>) -> Level {
        if args.user {
            Level::User
        } else if args.system || euid.is_none_or(|uid| uid == 0) {
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

/// Everything `install` needs: the flags, the validated configuration, and what to install.
#[derive(Debug, Clone, Copy)]
pub struct InstallRequest<'a> {
    /// `install`'s flags.
    pub args: &'a InstallArgs,
    /// The effective, validated configuration (without the daemon's own section).
    pub settings: &'a Settings<()>,
    /// This binary: the one to install.
    pub binary: &'a Path,
    /// `--config PATH`, to be installed where the service reads it.
    pub config_file: Option<&'a Path>,
    /// The `--set` flags the configuration was validated with: the service gets them too.
    pub sets: &'a [String],
    /// The daemon's own `NAME_*` variables from the installer's environment: the service gets
    /// them too, so it runs with exactly the configuration that was validated.
    pub overrides: &'a [(String, String)],
}

/// One change `install` or `uninstall` made, or would make under `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A file written atomically, with its whole content.
    Write {
        /// Where.
        path: PathBuf,
        /// What.
        contents: String,
    },
    /// A file removed.
    Remove {
        /// Where.
        path: PathBuf,
    },
    /// A command run.
    Run(Invocation),
    /// Something the operator should know (a warning or the reason nothing changed); no change.
    Note(String),
}

impl Applied {
    /// True when the actions change nothing (at most notes).
    pub fn changes_nothing(&self) -> bool {
        self.actions.iter().all(|action| matches!(action, Action::Note(_)))
    }
}

/// What a changing operation did, or with `dry_run` would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The changes, in order. Empty when everything already was as asked.
    pub actions: Vec<Action>,
    /// Nothing was changed: the actions are what would have happened.
    pub dry_run: bool,
}

/// The state a backend observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    /// The service manager does not know the service.
    NotInstalled,
    /// Installed and not running.
    Stopped,
    /// Started but not ready yet.
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

/// A service's observed status, as `status` prints it (and `status --json` serializes it,
/// with these field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    /// `platform`: the platform that was asked.
    pub platform: Platform,
    /// `level`: user or system service.
    pub level: Level,
    /// `state`: the state.
    pub state: ServiceState,
    /// `pid`: the main process, when the manager reports one.
    pub pid: Option<u32>,
    /// `detail`: the daemon's or manager's own words (systemd's `StatusText`); may be empty.
    pub detail: String,
    /// `sub_state`: the manager's finer state (systemd's `SubState`, such as `running`,
    /// `auto-restart`); may be empty.
    pub sub_state: String,
    /// `since`: when the service last became active, as the manager prints it.
    pub since: Option<String>,
    /// `restarts`: how often the manager restarted it automatically.
    pub restarts: Option<u32>,
    /// `last_exit_status`: the main process's last exit status.
    pub last_exit_status: Option<i32>,
    /// `unit_path`: the service definition the manager loaded.
    pub unit_path: Option<PathBuf>,
    /// `ready`: the daemon reported readiness (systemd: active after `READY=1`).
    pub ready: bool,
    /// `drift`: what is installed differently from what this binary would install (such as
    /// `binary`); empty when it matches or cannot be told.
    pub drift: Vec<String>,
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
            sub_state: String::new(),
            since: None,
            restarts: None,
            last_exit_status: None,
            unit_path: None,
            ready: false,
            drift: Vec::new(),
        }
    }
}

/// Why a backend operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A tool the backend needs is not installed.
    #[error("`{tool}` was not found on PATH; the {platform} backend needs it")]
    ToolMissing {
        /// The program, such as `systemctl`.
        tool: String,
        /// The backend's platform.
        platform: Platform,
    },
    /// A tool could not be started.
    #[error("cannot run `{invocation}`: {source}")]
    Spawn {
        /// The command.
        invocation: Invocation,
        /// Why it did not start.
        #[source]
        source: io::Error,
    },
    /// A tool ran and failed.
    #[error("`{invocation}` failed ({}): {}", describe_status(.status), .stderr.trim())]
    Command {
        /// The command.
        invocation: Invocation,
        /// Its exit status, `None` when a signal ended it.
        status: Option<i32>,
        /// What it printed on standard error.
        stderr: String,
    },
    /// A file could not be written, read or removed.
    #[error("cannot change `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The service is not installed on this platform and level.
    #[error("`{name}` is not installed as a {level} service; run `{name} install` first")]
    NotInstalled {
        /// The daemon's name.
        name: String,
        /// The level that was asked.
        level: Level,
    },
    /// A file in the way was not written by duende.
    #[error("`{}` exists and was not written by duende; pass `--force` to replace it", .path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// The tools reported success but the expected state was not observed.
    #[error("expected the service to be {expected}, but it is {observed}: {detail}")]
    NotObserved {
        /// The state the operation should have reached.
        expected: ServiceState,
        /// The state seen instead.
        observed: ServiceState,
        /// What else was seen (the manager's status text, the last log lines).
        detail: String,
    },
    /// The service manager or something it needs is not there or not reachable.
    #[error("{what}; {fix}")]
    Unavailable {
        /// What is missing.
        what: String,
        /// How to fix it.
        fix: String,
    },
    /// The operation needs root.
    #[error("{what} needs root; run `sudo {name} {command} --system`, or manage a user service with `--user`")]
    NeedsRoot {
        /// What was attempted, such as "installing a system service".
        what: String,
        /// The daemon's name.
        name: String,
        /// The command, such as `install`.
        command: String,
    },
    /// The configuration cannot be expressed as the service definition.
    #[error("cannot write the service definition: {0}")]
    Render(String),
    /// The rendered service definition failed the manager's own check.
    #[error("the service definition for `{name}` failed `{tool}`: {problems}")]
    Invalid {
        /// The daemon's name.
        name: String,
        /// The checking tool.
        tool: String,
        /// What it said.
        problems: String,
    },
}

fn describe_status(status: &Option<i32>) -> String {
    status.map_or_else(|| "killed by a signal".to_owned(), |code| format!("exit status {code}"))
}

impl BackendError {
    /// The exit status a command ends with when it fails this way.
    pub fn exit(&self) -> Exit {
        match self {
            BackendError::ToolMissing { .. } | BackendError::NotInstalled { .. } | BackendError::Unavailable { .. } => {
                Exit::Unavailable
            }
            BackendError::Foreign { .. } | BackendError::NeedsRoot { .. } => Exit::Usage,
            BackendError::Render(_) | BackendError::Invalid { .. } => Exit::Config,
            BackendError::Spawn { .. }
            | BackendError::Command { .. }
            | BackendError::Io { .. }
            | BackendError::NotObserved { .. } => Exit::OsError,
        }
    }
}

/// A service manager: everything the management commands (DESIGN.md section 3) ask of one.
///
/// Operations that change state return only after observing the result, and report it.
pub trait ServiceBackend {
    /// The platform this backend manages.
    fn platform(&self) -> Platform;

    /// Registers the service (validate, write atomically, activate; roll back on failure).
    /// Installing the same thing twice changes nothing.
    fn install(&self, service: &Service<'_>, request: &InstallRequest<'_>) -> Result<Applied, BackendError>;

    /// Removes exactly what `install` created.
    fn uninstall(&self, service: &Service<'_>) -> Result<Applied, BackendError>;

    /// Starts the service and waits until it is ready.
    fn start(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError>;

    /// Stops the service and waits until it has stopped.
    fn stop(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError>;

    /// Stops and starts the service, waiting until it is ready again.
    fn restart(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError>;

    /// Asks the running service to reload its configuration (SIGHUP or the manager's reload).
    fn reload(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError>;

    /// The service's current state.
    fn status(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError>;

    /// What differs between the installed service and what `install` with `request` would write
    /// now ("unit", "binary", "config"); empty when nothing differs or nothing is installed.
    fn drift(&self, service: &Service<'_>, request: &InstallRequest<'_>) -> Result<Vec<String>, BackendError> {
        let _ = (service, request);
        Ok(Vec::new())
    }

    /// Writes the last `lines` log lines to `out` (all when `None`), then keeps writing new ones
    /// while `follow`.
    fn logs(
        &self,
        service: &Service<'_>,
        lines: Option<usize>,
        follow: bool,
        out: &mut dyn io::Write,
    ) -> Result<(), BackendError>;
}

/// This version of duende has no backend for a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this version of duende has no {platform} backend")]
pub struct Unsupported {
    /// The platform asked for.
    pub platform: Platform,
}

/// The backend that manages services on `platform`.
pub fn backend_for(platform: Platform) -> Result<Box<dyn ServiceBackend>, Unsupported> {
    match platform {
        Platform::Systemd => Ok(Box::new(super::systemd::SystemdBackend::on_this_host())),
        Platform::Launchd | Platform::Container | Platform::Pepita | Platform::Wos | Platform::Native => {
            Err(Unsupported { platform })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_defaults_to_system_for_root_and_user_otherwise() {
        let neither = LevelArgs::default();
        assert_eq!(Level::resolve(&neither, Some(0)), Level::System);
        assert_eq!(Level::resolve(&neither, Some(1001)), Level::User);
        assert_eq!(Level::resolve(&neither, None), Level::System);
        assert_eq!(Level::resolve(&LevelArgs { user: true, system: false }, Some(0)), Level::User);
        assert_eq!(Level::resolve(&LevelArgs { user: false, system: true }, Some(1001)), Level::System);
    }

    #[test]
    fn only_systemd_has_a_backend_yet() {
        assert!(backend_for(Platform::Systemd).is_ok_and(|backend| backend.platform() == Platform::Systemd));
        for platform in Platform::ALL.into_iter().filter(|&p| p != Platform::Systemd) {
            let Err(err) = backend_for(platform) else { panic!("{platform} unexpectedly has a backend") };
            assert_eq!(err, Unsupported { platform });
            assert_eq!(err.to_string(), format!("this version of duende has no {platform} backend"));
        }
    }

    #[test]
    fn errors_teach_and_map_to_exit_codes() {
        let failed = BackendError::Command {
            invocation: Invocation::new("systemctl", ["start", "demo.service"]),
            status: Some(5),
            stderr: "Unit demo.service not found.\n".to_owned(),
        };
        assert_eq!(
            failed.to_string(),
            "`systemctl start demo.service` failed (exit status 5): Unit demo.service not found."
        );
        assert_eq!(failed.exit(), Exit::OsError);
        let missing = BackendError::ToolMissing { tool: "launchctl".to_owned(), platform: Platform::Launchd };
        assert_eq!(missing.to_string(), "`launchctl` was not found on PATH; the launchd backend needs it");
        assert_eq!(missing.exit(), Exit::Unavailable);
        let absent = BackendError::NotInstalled { name: "demo".to_owned(), level: Level::User };
        assert_eq!(absent.to_string(), "`demo` is not installed as a user service; run `demo install` first");
        let lie = BackendError::NotObserved {
            expected: ServiceState::Running,
            observed: ServiceState::Failed,
            detail: "exited with status 71".to_owned(),
        };
        assert_eq!(lie.to_string(), "expected the service to be running, but it is failed: exited with status 71");
    }

    #[test]
    fn status_serializes_for_json() {
        let status = ServiceStatus::new(Platform::Systemd, Level::User, ServiceState::NotInstalled);
        let json = serde_json::to_string(&status).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"platform":"systemd","level":"user","state":"not-installed","pid":null,"detail":"","sub_state":"","#
                .to_owned()
                + r#""since":null,"restarts":null,"last_exit_status":null,"unit_path":null,"ready":false,"drift":[]}"#
        );
    }
}
