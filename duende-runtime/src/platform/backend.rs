//! The seam every service-manager backend plugs into: one [`Backend`] per platform, looked up
//! with [`backend_for`](super::backend_for).
//!
//! A backend *describes*: it renders a [`Plan`] with pure functions, says what it finds on the
//! host ([`Backend::found`], [`Backend::observe`]), and carries out one [`Op`] at a time. The
//! [engine](super::engine) *applies*: diff, `--dry-run`, the transaction, waiting until ready with
//! the last log lines on failure, rollback, idempotence and drift are written once, there. A
//! backend runs its tools through a [`CommandRunner`] and reports
//! only what it observed: a tool exiting 0 is not proof that a daemon runs.

use std::io;
use std::path::{Path, PathBuf};

use super::Platform;
use super::host::Host;
use super::plan::{Action, Found, Manifest, Plan, PlannedFile, Retirement};
use super::runner::{CommandOutput, CommandRunner, Invocation};
pub use super::status::{Level, Service};
use super::status::{ServiceState, ServiceStatus};
use crate::config::Settings;
use crate::exit::Exit;
use crate::platform::finding::Finding;

/// How `install` goes about it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Show every file and command; change nothing.
    pub dry_run: bool,
    /// Start the service and wait until it is ready.
    pub start_now: bool,
    /// Replace a definition duende did not write.
    pub force: bool,
    /// Copy this binary to a stable path (`false`: run it where it is).
    pub copy_binary: bool,
}

/// Everything `install` needs: how, the validated configuration, and what to install.
#[derive(Debug, Clone, Copy)]
pub struct InstallRequest<'a> {
    /// How.
    pub options: InstallOptions,
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
    /// The shell completions and the man page, placed by the backends that install onto this
    /// host's file system (`None`: a build without the `completions` feature places none).
    pub docs: Option<&'a Docs>,
}

/// What the command line says about itself, rendered for `install` to place where shells and
/// `man` look ([`DocPlaces`](super::layout::DocPlaces)): plain texts, so that the platform
/// layer knows nothing of the command line's types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Docs {
    /// The bash completion script.
    pub bash: String,
    /// The zsh completion function.
    pub zsh: String,
    /// The fish completions.
    pub fish: String,
    /// The man page, in roff.
    pub man: String,
}

/// An operation on an installed service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Start it.
    Start,
    /// Stop it.
    Stop,
    /// Stop and start it.
    Restart,
    /// Make the running daemon re-read its configuration.
    Reload,
}

impl Op {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Restart => "restart",
            Op::Reload => "reload",
        }
    }
}

/// What `logs` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// The last this many lines (all when `None`).
    pub lines: Option<usize>,
    /// Keep writing new lines as they come.
    pub follow: bool,
}

/// What a backend observed of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The status `status` reports (drift is added by the engine).
    pub status: ServiceStatus,
    /// The service starts with the host (systemd: enabled).
    pub enabled: bool,
    /// Settled in a state that will not turn into ready by itself (failed, inactive, given up
    /// or waiting to be restarted): waiting longer for ready is pointless.
    pub settled: bool,
    /// One line of the manager's own words for error messages.
    pub summary: String,
}

impl Observed {
    /// The state.
    pub fn state(&self) -> ServiceState {
        self.status.state
    }

    /// Running or on its way there.
    pub fn is_up(&self) -> bool {
        matches!(self.status.state, ServiceState::Running | ServiceState::Starting)
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
    /// This backend cannot do the operation.
    #[error("the {platform} backend cannot {what}")]
    NotSupported {
        /// The backend's platform.
        platform: Platform,
        /// What was asked, such as "follow logs".
        what: String,
    },
    /// The daemon refused what it was asked (a reload with an invalid configuration).
    #[error("{0}")]
    Rejected(String),
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

impl BackendError {
    /// The error as the headline a command prints and, where the error knows one, the fix
    /// printed on its own line under it.
    pub fn headline_and_fix(&self) -> (String, Option<String>) {
        match self {
            BackendError::ToolMissing { tool, platform } => (
                format!("`{tool}` was not found on PATH; the {platform} backend needs it"),
                Some(format!("install `{tool}`, or choose another `--platform`")),
            ),
            BackendError::NotInstalled { name, level } => {
                (format!("`{name}` is not installed as a {level} service"), Some(format!("run `{name} install` first")))
            }
            BackendError::Foreign { path } => (
                format!("`{}` exists and was not written by duende", path.display()),
                Some("pass `--force` to replace it".to_owned()),
            ),
            BackendError::Unavailable { what, fix } => (what.clone(), Some(fix.clone())),
            BackendError::NeedsRoot { what, name, command } => (
                format!("{what} needs root"),
                Some(format!("run `sudo {name} {command} --system`, or manage a user service with `--user`")),
            ),
            other => (other.to_string(), None),
        }
    }
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
            BackendError::NotSupported { .. } => Exit::Unavailable,
            BackendError::Render(_) | BackendError::Invalid { .. } | BackendError::Rejected(_) => Exit::Config,
            BackendError::Spawn { .. }
            | BackendError::Command { .. }
            | BackendError::Io { .. }
            | BackendError::NotObserved { .. } => Exit::OsError,
        }
    }
}

/// Runs a tool of `platform`'s backend through `runner`: a program that is not installed is
/// [`BackendError::ToolMissing`], one that cannot be started [`BackendError::Spawn`].
pub fn run_tool(
    runner: &dyn CommandRunner,
    platform: Platform,
    invocation: &Invocation,
) -> Result<CommandOutput, BackendError> {
    runner.run(invocation).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            BackendError::ToolMissing { tool: invocation.program.clone(), platform }
        } else {
            BackendError::Spawn { invocation: invocation.clone(), source }
        }
    })
}

/// [`run_tool`], requiring exit status 0; its standard output.
pub fn run_tool_ok(
    runner: &dyn CommandRunner,
    platform: Platform,
    invocation: &Invocation,
) -> Result<String, BackendError> {
    let output = run_tool(runner, platform, invocation)?;
    if output.succeeded() {
        return Ok(output.stdout);
    }
    Err(BackendError::Command { invocation: invocation.clone(), status: output.status, stderr: output.stderr })
}

/// Copies what `invocation` prints to `out` as it comes (for `logs -f`); a status other than 0
/// is an error.
pub fn stream_tool(
    runner: &dyn CommandRunner,
    invocation: Invocation,
    out: &mut dyn io::Write,
) -> Result<(), BackendError> {
    let status = runner
        .stream(&invocation, out)
        .map_err(|source| BackendError::Spawn { invocation: invocation.clone(), source })?;
    if status != Some(0) {
        return Err(BackendError::Command { invocation, status, stderr: String::new() });
    }
    Ok(())
}

/// What a reload through a runner may take beyond the daemon's own reload wait: the way to the
/// daemon (a guest's configuration fetch, vsock, a module's standard input).
#[cfg(unix)]
const RELOAD_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// `reload` asked of `who` ("the guest's daemon", "the module") through the control socket that
/// a runner serves in its place under `manager`, waiting the daemon's reload wait plus a margin
/// at most: the daemon's verdict is the command's (a rejection names the daemon's reason).
#[cfg(unix)]
pub fn reload_through(
    manager: &dyn Backend,
    service: &Service<'_>,
    who: &str,
    dry_run: bool,
) -> Result<Action, BackendError> {
    use crate::control::client::{self, ClientError};
    use crate::control::protocol::{ErrorCode, Op as ControlOp, ReloadResult};
    let name = service.name;
    let socket = manager.control_socket(service).ok_or_else(|| BackendError::NotObserved {
        expected: ServiceState::Running,
        observed: ServiceState::Running,
        detail: format!("{name} has no control socket to reach {who} through"),
    })?;
    let socket = socket.as_path();
    let bound = crate::control::server::Limits::default().reload_wait + RELOAD_MARGIN;
    let planned = format!("ask {who} to reload through {}", socket.display());
    if dry_run {
        return Ok(Action::Do { planned, done: String::new() });
    }
    let asked =
        crate::control::command::block_on(socket, client::call::<ReloadResult>(socket, ControlOp::Reload, bound));
    match asked {
        Ok(reloaded) => Ok(Action::Do {
            planned,
            done: format!("{name}: configuration reloaded; generation {} is in effect", reloaded.generation),
        }),
        Err(ClientError::Refused { error, .. }) if error.code == ErrorCode::ReloadRejected => {
            let kept = error.generation.map(|g| format!("; configuration generation {g} stays")).unwrap_or_default();
            Err(BackendError::Rejected(format!("reload rejected{kept}: {}", error.message)))
        }
        Err(err) => Err(BackendError::NotObserved {
            expected: ServiceState::Running,
            observed: ServiceState::Running,
            detail: format!("{who} did not answer the reload: {err}"),
        }),
    }
}

/// A service manager, as the engine drives it. Everything here reads, except
/// [`Backend::act`] and [`Backend::run_step`], which change the host.
pub trait Backend {
    /// The platform this backend manages.
    fn platform(&self) -> Platform;

    /// The host it manages services on.
    fn host(&self) -> &Host;

    /// Fails with what is missing when the manager or its tools are not there for `level`.
    fn available(&self, level: Level) -> Result<(), BackendError>;

    /// Its part of `check`: whether the manager is reachable and what it needs.
    fn diagnose(&self, level: Level) -> Vec<Finding>;

    /// What an earlier install left for `service`.
    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError>;

    /// What [`Backend::plan`] does that takes long enough to show progress for, such as
    /// "building the container image"; `None` when planning is quick (rendering text).
    fn preparing(&self) -> Option<&'static str> {
        None
    }

    /// Everything `install` with `request` would put in place; `previous` is what an earlier
    /// install recorded (its directories stay recorded). Reads only.
    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
    ) -> Result<Plan, BackendError>;

    /// Checks a definition before it is written (`systemd-analyze verify`); returns the command
    /// it ran, or with `dry_run` the one it would run. `None` when the manager has no check.
    fn verify(
        &self,
        service: &Service<'_>,
        file: &PlannedFile,
        dry_run: bool,
    ) -> Result<Option<Invocation>, BackendError>;

    /// What `uninstall` does besides stopping the service and removing the recorded files.
    fn retire(&self, service: &Service<'_>, observed: &Observed) -> Result<Retirement, BackendError>;

    /// The service's state now.
    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError>;

    /// Whether `install` and `uninstall` go ahead with the files alone when the manager cannot
    /// be reached ([`Backend::observe`] fails with [`BackendError::Unavailable`]): true where the
    /// files are the product by themselves (Kubernetes manifests where no cluster answers), and
    /// then the plan's notes and the retirement's say what was not done. `status` and the
    /// operations fail all the same.
    fn files_stand_alone(&self) -> bool {
        false
    }

    /// Whether the plan's steps replace the running service themselves (a swarm service's
    /// rolling update): after them a changed install waits until the service is ready instead
    /// of restarting it.
    fn updates_in_place(&self) -> bool {
        false
    }

    /// Carries out `op` and returns what it did (for the record, and with `dry_run` what it would
    /// do, without doing it). The engine then waits for the state `op` leads to.
    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError>;

    /// Runs one step of a plan or a retirement.
    fn run_step(&self, service: &Service<'_>, step: &Invocation) -> Result<(), BackendError>;

    /// Puts the service back into the running state it had before a failed install: started
    /// again when it ran, stopped otherwise.
    fn restore(&self, service: &Service<'_>, was_running: bool) {
        let _ = self.act(service, if was_running { Op::Restart } else { Op::Stop }, false);
    }

    /// The last log lines, for failure messages (a note when there are none).
    fn log_tail(&self, service: &Service<'_>) -> String;

    /// Writes the logs `query` asks for to `out`.
    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn io::Write) -> Result<(), BackendError>;

    /// Where the running daemon's control socket is, as seen from this host.
    fn control_socket(&self, service: &Service<'_>) -> Option<PathBuf>;

    /// The daemon's own `status --json` report, asked from where it runs, for a backend whose
    /// daemon's control socket this host cannot reach (a container's). `None` when it has no
    /// such way or the daemon did not answer.
    fn live_report(&self, service: &Service<'_>) -> Option<String> {
        let _ = service;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_defaults_to_system_for_root_and_user_otherwise() {
        assert_eq!(Level::resolve(false, false, Some(0)), Level::System);
        assert_eq!(Level::resolve(false, false, Some(1001)), Level::User);
        assert_eq!(Level::resolve(false, false, None), Level::System);
        assert_eq!(Level::resolve(true, false, Some(0)), Level::User);
        assert_eq!(Level::resolve(false, true, Some(1001)), Level::System);
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
}
