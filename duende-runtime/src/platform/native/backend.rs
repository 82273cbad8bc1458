//! [`NativeBackend`]: the daemon with no service manager but itself. `install` places the binary
//! and the configuration where the systemd backend does and records a [`definition`]
//! of what to run; `start` launches the binary's own supervisor (`__supervise`, daemonized before
//! any async runtime exists), which runs the daemon, restarts it by the configured policy and
//! keeps its logs; every other operation asks that supervisor over its socket.
//!
//! | level  | definition                              | runtime directory         | logs                          |
//! |--------|-----------------------------------------|---------------------------|-------------------------------|
//! | system | `/etc/NAME/NAME.native.toml`            | `/run/NAME`               | `/var/log/NAME/NAME.log`      |
//! | user   | `$XDG_CONFIG_HOME/NAME/NAME.native.toml` | `$XDG_RUNTIME_DIR/NAME`  | `$XDG_STATE_HOME/NAME/NAME.log` |
//!
//! Without `$XDG_RUNTIME_DIR` a user's runtime directory is `/tmp/duende-UID/NAME`; a service
//! started with another `RUNTIME_DIRECTORY` is found only with the same one.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::client::{self, ClientError};
use super::definition::{self, Definition};
use super::logfile;
use super::protocol::{Launch, Report, State};
use crate::platform::Platform;
use crate::platform::backend::{Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service};
use crate::platform::engine;
use crate::platform::finding::{Finding, Mark};
use crate::platform::fs;
use crate::platform::host::Host;
use crate::platform::layout::{Places, home};
use crate::platform::plan::{Action, FileRole, Found, Hosted, Manifest, Plan, PlannedFile, Retirement};
use crate::platform::runner::Invocation;
use crate::platform::status::{ServiceState, ServiceStatus};

/// How long `start` waits for the daemon's first `READY=1` (its `init` may be slow).
const READY_PATIENCE: Duration = Duration::from_secs(120);

/// How long `reload` waits for the daemon's verdict.
const RELOAD_PATIENCE: Duration = Duration::from_secs(60);

/// How long `stop` waits beyond what the supervisor itself allows the daemon.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// The native backend on `host`.
#[derive(Debug, Clone)]
pub struct NativeBackend {
    host: Host,
    /// The platform it supervises for: native, or pepita (whose VM runner it supervises).
    platform: Platform,
}

/// Where one native service's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeLayout {
    /// The binary and the configuration.
    pub places: Places,
    /// The definition.
    pub definition: PathBuf,
    /// The supervisor's pid file, sockets and the daemon's control socket.
    pub runtime_dir: PathBuf,
    /// The current log file.
    pub log: PathBuf,
}

impl NativeLayout {
    /// The layout of `name` at `level` on `host`.
    pub fn of(host: &Host, name: &str, level: Level) -> Result<NativeLayout, BackendError> {
        NativeLayout::for_platform(host, name, level, Platform::Native)
    }

    /// The layout of `name` supervised for `platform`: the definition is `NAME.PLATFORM.toml`,
    /// so a pepita install and a native one do not take each other's definition.
    pub fn for_platform(
        host: &Host,
        name: &str,
        level: Level,
        platform: Platform,
    ) -> Result<NativeLayout, BackendError> {
        let places = Places::of(host, name, level)?;
        let definition = places.config.with_file_name(format!("{name}.{platform}.toml"));
        let log_dir = match level {
            Level::System => Path::new("/var/log").join(name),
            Level::User => host.state_home().map_or_else(|| home(host).map(|h| h.join(".local/state")), Ok)?.join(name),
        };
        Ok(NativeLayout {
            places,
            definition,
            runtime_dir: host.runtime_dir(name),
            log: log_dir.join(format!("{name}.log")),
        })
    }

    /// The directory the logs are in.
    pub fn log_dir(&self) -> PathBuf {
        self.log.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

impl NativeBackend {
    /// The backend on `host`.
    pub fn new(host: Host) -> NativeBackend {
        NativeBackend { host, platform: Platform::Native }
    }

    /// The supervisor on `host` as `platform`'s manager (pepita's, for its VM runner): statuses
    /// name `platform`, and its definition is its own.
    pub fn supervising_for(platform: Platform, host: Host) -> NativeBackend {
        NativeBackend { host, platform }
    }

    /// Where `service`'s files are.
    pub fn layout(&self, service: &Service<'_>) -> Result<NativeLayout, BackendError> {
        NativeLayout::for_platform(&self.host, service.name, service.level, self.platform)
    }

    fn definition(&self, layout: &NativeLayout) -> Result<Definition, BackendError> {
        let text = fs::read(&self.host.path(&layout.definition))?.ok_or_else(|| BackendError::Io {
            path: layout.definition.clone(),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        definition::parse(&String::from_utf8_lossy(&text)).map_err(|err| BackendError::Render(err.to_string()))
    }

    fn start(&self, service: &Service<'_>, layout: &NativeLayout) -> Result<Action, BackendError> {
        let dir = self.host.path(&layout.runtime_dir);
        match client::status(&dir) {
            Ok(report) if report.state == State::Failed => {
                // A supervisor that gave up stays to say why; `start` replaces it.
                client::stop(&dir, STOP_PATIENCE).map_err(|err| self.client_error(service, err))?;
            }
            Ok(report) => {
                return Ok(Action::Do {
                    planned: format!("start {}", service.name),
                    done: format!(
                        "{} is already running under its supervisor (pid {})",
                        service.name, report.supervisor_pid
                    ),
                });
            }
            Err(_) => {}
        }
        let definition = self.definition(layout)?;
        let launch = Launch {
            name: service.name.to_owned(),
            program: definition.program.clone(),
            args: definition.daemon_args(),
            env: definition.env.clone().into_iter().collect(),
            working_dir: definition.working_dir.clone(),
            runtime_dir: self.host.path(&layout.runtime_dir),
            log: self.host.path(&layout.log),
        };
        let started = client::spawn(&definition.program, &definition.flags, &launch, READY_PATIENCE)
            .map_err(|err| self.client_error(service, err))?;
        Ok(Action::Do {
            planned: format!("start {}'s supervisor", service.name),
            done: format!(
                "started {} (pid {}) under its supervisor (pid {})",
                service.name, started.pid, started.supervisor_pid
            ),
        })
    }

    fn stop(&self, service: &Service<'_>, layout: &NativeLayout) -> Result<Action, BackendError> {
        let dir = self.host.path(&layout.runtime_dir);
        let bound = client::status(&dir).map_or(Duration::ZERO, |report| Duration::from_millis(report.stop_timeout_ms))
            + STOP_PATIENCE;
        match client::stop(&dir, bound) {
            Ok(stopped) => Ok(Action::Do {
                planned: format!("stop {}", service.name),
                done: format!("stopped {}{}", service.name, stopped.describe()),
            }),
            Err(ClientError::NotRunning | ClientError::Gone { .. }) => Ok(Action::Do {
                planned: format!("stop {}", service.name),
                done: format!("{} was not running", service.name),
            }),
            Err(err) => Err(self.client_error(service, err)),
        }
    }

    fn client_error(&self, service: &Service<'_>, err: ClientError) -> BackendError {
        match err {
            ClientError::Failed { message } => BackendError::NotObserved {
                expected: ServiceState::Running,
                observed: ServiceState::Failed,
                detail: message,
            },
            ClientError::Rejected { message } => BackendError::Rejected(message),
            other => BackendError::Unavailable {
                what: format!("the supervisor of {} did not answer as expected: {other}", service.name),
                fix: format!("`{} status` shows what it is doing; `{} logs` what it said", service.name, service.name),
            },
        }
    }

    /// The plan of [`Backend::plan`], with `hosted` run in the daemon's place when its command is
    /// not empty. The supervisor has no sandbox: what `hosted` needs of one asks nothing here.
    pub fn plan_hosting(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
        hosted: Hosted,
    ) -> Result<Plan, BackendError> {
        let layout = self.layout(service)?;
        let settings = request.settings;
        for (key, value) in [("user", &settings.user), ("group", &settings.group)] {
            if value.is_some() {
                return Err(BackendError::Render(format!(
                    "`{key}` is set, but the native supervisor runs the daemon as the user who starts it; unset \
                     `{key}`, or start the service as that user"
                )));
            }
        }
        let mut notes = Vec::new();
        let (program, binary) = engine::binary_plan(request, &layout.places.binary, &mut notes)?;
        let config = engine::config_plan(request, &layout.places.config)?;
        let docs = engine::docs_plan(request, &self.host, service)?;
        let mut files: Vec<PlannedFile> = binary.into_iter().chain(config).chain(hosted.files).chain(docs).collect();
        let mut flags = Vec::new();
        if request.config_file.is_some() {
            flags.extend(["--config".to_owned(), layout.places.config.to_string_lossy().into_owned()]);
        }
        for set in request.sets {
            flags.extend(["--set".to_owned(), set.clone()]);
        }
        let definition = if hosted.command.is_empty() {
            Definition {
                program,
                flags,
                command: vec!["run".to_owned()],
                args: settings.args.clone(),
                working_dir: settings.working_dir.clone(),
                env: settings
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .chain(request.overrides.iter().cloned())
                    .collect(),
            }
        } else {
            // The hosted command carries the daemon's arguments and environment itself.
            Definition {
                program,
                flags,
                command: hosted.command,
                args: Vec::new(),
                working_dir: None,
                env: Default::default(),
            }
        };
        // The supervisor creates the runtime and log directories at `start`: recorded here, so
        // that `uninstall` removes them again (when empty).
        let pid_file = layout.runtime_dir.join(super::protocol::PID_FILE);
        let created = [layout.definition.as_path(), layout.log.as_path(), pid_file.as_path()];
        let manifest = Manifest::of(&self.host, previous, files.iter().map(|f| f.path.as_path()), created);
        let text = definition::render(service.name, &definition, &manifest)
            .map_err(|e| BackendError::Render(e.to_string()))?;
        files.push(PlannedFile::text(layout.definition.clone(), text, 0o644, FileRole::Definition));
        Ok(Plan { files, reread: None, steps: Vec::new(), after: Vec::new(), side_dirs: vec![layout.log_dir()], notes })
    }
}

/// `time` (milliseconds since the epoch) as RFC 3339, to the second.
fn timestamp(unix_ms: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(unix_ms);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// What the supervisor's report says, as a status.
fn status_of(platform: Platform, level: Level, report: &Report) -> Observed {
    let state = match report.state {
        State::Running if report.ready => ServiceState::Running,
        State::Running | State::Starting | State::BackingOff => ServiceState::Starting,
        State::Stopping => ServiceState::Stopping,
        State::Failed => ServiceState::Failed,
    };
    let word = report.state.name();
    let mut status = ServiceStatus::new(platform, level, state);
    status.pid = report.pid;
    status.detail = report.reason.clone().unwrap_or_else(|| report.status_text.clone());
    status.since = report.since_unix_ms.map(timestamp);
    status.restarts = Some(report.restarts);
    status.last_exit_status = report.last_exit.as_ref().map(|exit| exit.status);
    status.next_restart = report.next_restart_unix_ms.map(timestamp);
    status.ready = state == ServiceState::Running;
    status.manager.insert("supervisor_pid".to_owned(), report.supervisor_pid.to_string());
    status.manager.insert("state".to_owned(), word.to_owned());
    if let Some(exit) = &report.last_exit {
        status.manager.insert("last_exit".to_owned(), exit.text.clone());
    }
    Observed {
        status,
        enabled: false,
        settled: matches!(report.state, State::BackingOff | State::Failed),
        summary: format!("the supervisor (pid {}) says {word}", report.supervisor_pid),
    }
}

impl Backend for NativeBackend {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn available(&self, level: Level) -> Result<(), BackendError> {
        // Nothing to reach: the binary is its own manager. A user service needs a home for its
        // files.
        match level {
            Level::User => home(&self.host).map(drop),
            Level::System => Ok(()),
        }
    }

    fn diagnose(&self, level: Level) -> Vec<Finding> {
        const SECTION: &str = "service manager";
        let mut found = vec![Finding::new(
            SECTION,
            Mark::Ok,
            "native: this binary supervises itself (restarts, logs, a locked pid file); no service manager is needed",
            None,
        )];
        if level == Level::User && self.host.xdg_runtime_dir().is_none() {
            found.push(Finding::new(
                SECTION,
                Mark::Warn,
                format!(
                    "XDG_RUNTIME_DIR is not set: the supervisor's socket goes to {}, which `status` finds only from a \
                     shell without XDG_RUNTIME_DIR too",
                    std::env::temp_dir().join(format!("duende-{}", self.host.euid.unwrap_or(0))).display()
                ),
                Some("log in through a session that sets XDG_RUNTIME_DIR (pam_systemd does)".to_owned()),
            ));
        }
        found
    }

    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError> {
        let layout = self.layout(service)?;
        layout.places.found(&self.host, &layout.definition, definition::is_written_by_duende)
    }

    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
    ) -> Result<Plan, BackendError> {
        self.plan_hosting(service, request, previous, Hosted::default())
    }

    fn verify(&self, _: &Service<'_>, _: &PlannedFile, _: bool) -> Result<Option<Invocation>, BackendError> {
        Ok(None)
    }

    fn retire(&self, service: &Service<'_>, _: &Observed) -> Result<Retirement, BackendError> {
        let layout = self.layout(service)?;
        // The logs, and what the daemon leaves in its runtime directory (its instance lock, its
        // restart count, and the socket of one that was killed); the supervisor removes its own
        // files when it exits.
        let mut run_files = vec![layout.log.clone()];
        run_files.extend(
            logfile::rotated(&self.host.path(&layout.log))
                .into_iter()
                .filter_map(|rotated| rotated.file_name().map(|name| layout.log_dir().join(name))),
        );
        run_files.push(layout.runtime_dir.join(crate::rundir::LOCK_NAME));
        run_files.push(crate::rundir::socket_in(&layout.runtime_dir));
        run_files.push(layout.runtime_dir.join(crate::metrics::restarts::FILE));
        Ok(Retirement { run_files, data_dirs: vec![layout.log_dir()], ..Retirement::default() })
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let not = |state, summary: String| Observed {
            status: ServiceStatus {
                detail: summary.clone(),
                ..ServiceStatus::new(self.platform, service.level, state)
            },
            enabled: false,
            settled: true,
            summary,
        };
        if matches!(self.found(service)?, Found::Absent) {
            return Ok(not(ServiceState::NotInstalled, String::new()));
        }
        let layout = self.layout(service)?;
        match client::status(&self.host.path(&layout.runtime_dir)) {
            Ok(report) => Ok(status_of(self.platform, service.level, &report)),
            Err(err @ ClientError::Gone { .. }) => Ok(not(
                ServiceState::Failed,
                format!("{err}, and its daemon was stopped with it; `{} start` starts both again", service.name),
            )),
            Err(ClientError::NotRunning) => Ok(not(ServiceState::Stopped, String::new())),
            Err(err) => Err(self.client_error(service, err)),
        }
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        if dry_run {
            return Ok(Action::Do {
                planned: format!("{} {} under its supervisor", op.name(), service.name),
                done: String::new(),
            });
        }
        let layout = self.layout(service)?;
        match op {
            Op::Start => self.start(service, &layout),
            Op::Stop => self.stop(service, &layout),
            Op::Restart => {
                self.stop(service, &layout)?;
                self.start(service, &layout)
            }
            Op::Reload => {
                let reloaded = client::reload(&self.host.path(&layout.runtime_dir), RELOAD_PATIENCE)
                    .map_err(|err| self.client_error(service, err))?;
                Ok(Action::Do {
                    planned: format!("reload {}", service.name),
                    done: format!("{} reloaded its configuration: {}", service.name, reloaded.status_text),
                })
            }
        }
    }

    fn run_step(&self, _: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        Err(BackendError::NotSupported { platform: Platform::Native, what: format!("run `{step}`") })
    }

    fn log_tail(&self, service: &Service<'_>) -> String {
        let Ok(layout) = self.layout(service) else { return "(no log file)".to_owned() };
        logfile::last_lines(&self.host.path(&layout.log), &layout.log).unwrap_or_else(|note| note)
    }

    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn std::io::Write) -> Result<(), BackendError> {
        let layout = self.layout(service)?;
        logfile::show(&self.host.path(&layout.log), query.lines, query.follow, out)
            .map_err(|source| BackendError::Io { path: layout.log.clone(), source })
    }

    fn control_socket(&self, service: &Service<'_>) -> Option<PathBuf> {
        let layout = self.layout(service).ok()?;
        Some(crate::rundir::socket_in(&self.host.path(&layout.runtime_dir)))
    }
}
