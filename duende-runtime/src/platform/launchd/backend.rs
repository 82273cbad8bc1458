//! [`LaunchdBackend`]: describes a daemon as a launchd job, and drives and observes it with
//! `launchctl`'s modern verbs (see [`launchctl`]).
//!
//! The domain is `gui/UID` for a LaunchAgent (`--user`) and `system` for a LaunchDaemon. Every
//! operation checks that this is macOS and that `launchctl` is on `PATH`; a `gui/UID` domain
//! that does not exist (nobody is logged in to the desktop as that user) is reported with the
//! fix.
//!
//! **The plan**: the binary copied to a stable path (unless `--in-place` or `binary_path`),
//! `--config PATH` installed, and the plist (checked with `plutil -lint` where that tool
//! exists), carrying the manifest of what the install created. When files change while the job
//! is loaded, the plan's one step is `bootout` (launchd reads a plist only when it loads it);
//! the engine then starts the job again (`bootstrap`) when it ran, so a changed binary is
//! `bootout`, write, `bootstrap`. A failed install is rolled back by the engine and
//! [`Backend::restore`]: the previous files back, the new job booted out, the previous one
//! bootstrapped again when it ran.
//!
//! **Loaded is enabled**: installing without `--now` writes the plist and loads nothing; launchd
//! loads it at the next boot (LaunchDaemon) or login (LaunchAgent), and `RunAtLoad` starts it.
//! The operations:
//!
//! | op      | job loaded                         | job not loaded              |
//! |---------|------------------------------------|-----------------------------|
//! | start   | `kickstart DOMAIN/LABEL`           | `bootstrap DOMAIN PLIST`    |
//! | stop    | `bootout DOMAIN/LABEL`             | nothing                     |
//! | restart | `kickstart -k DOMAIN/LABEL`        | `bootstrap DOMAIN PLIST`    |
//! | reload  | `kill HUP DOMAIN/LABEL`            | refused: not running        |
//!
//! `bootstrap` is only ever run after `print` said the job is not loaded: launchd fails it with
//! an I/O error otherwise. `stop` is `bootout`, not `kill TERM`: under `KeepAlive` launchd
//! would start a signalled job again at once.
//!
//! **Ready** is what the daemon itself says: launchd has no readiness protocol, so while `print`
//! says `running` the backend asks the daemon's control socket (in the runtime directory the
//! plist gives it), and the job is ready when the daemon there has the pid launchd reports and
//! says it is ready ([`DaemonProbe`]). A user who may not ask a LaunchDaemon's socket sees it
//! running, with its readiness not observed (never ready).
//!
//! **Finding the plist**: the label may be configured, and the engine asks what is installed
//! before it reads the configuration. The backend looks for `LABEL.plist` of the default label,
//! then for a plist duende wrote for this daemon's name in the jobs directory, and reads the
//! label from it. A plan for another label than the installed one is refused (uninstall
//! first). Between a plan and the write of its plist (`--dry-run`), the planned plist stands in,
//! and a job the plan boots out counts as not loaded when `--dry-run` shows what starts it again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::job::{JobFacts, JobSpec, unenforced};
use super::launchctl::{self, Domain, LAUNCHCTL, LastExit, Printed, verb};
use super::paths::Layout;
use super::render::{is_written_by_duende, is_written_for, label_of, render};
use crate::config::platforms::LaunchdSettings;
use crate::platform::Platform;
use crate::platform::backend::{
    Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service, run_tool, stream_tool,
};
use crate::platform::engine::{self, Action};
use crate::platform::finding::{Finding, Mark};
use crate::platform::fs;
use crate::platform::host::Host;
use crate::platform::native::logfile;
use crate::platform::plan::{FileRole, Found, Manifest, Plan, PlannedFile, Retirement, Step, When};
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation, SystemRunner};
use crate::platform::status::{ServiceState, ServiceStatus};

/// What the daemon's control socket said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The daemon's process id.
    pub pid: u32,
    /// `init` succeeded and readiness was announced.
    pub ready: bool,
}

/// Why a daemon gave no [`Answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAnswer {
    /// Nothing answers (yet): the daemon is still starting, or it is not a duende daemon's
    /// socket.
    Silent(String),
    /// This user may not ask it (a LaunchDaemon's socket, asked by another user).
    Denied(String),
}

/// Asks a daemon, through its control socket, whether it is ready.
pub trait DaemonProbe: std::fmt::Debug {
    /// The answer of the daemon on `socket`, or why there is none.
    fn probe(&self, socket: &Path) -> Result<Answer, NoAnswer>;
}

/// [`DaemonProbe`] over the control channel (`status`, answered within 2 s).
#[derive(Debug, Clone, Copy, Default)]
pub struct ControlProbe;

impl DaemonProbe for ControlProbe {
    fn probe(&self, socket: &Path) -> Result<Answer, NoAnswer> {
        use crate::control::client::{ClientError, call};
        use crate::control::command::block_on;
        use crate::control::protocol::{Op as ControlOp, StatusResult};
        let asked = call::<StatusResult>(socket, ControlOp::Status, Duration::from_secs(2));
        block_on(socket, asked).map(|status| Answer { pid: status.pid, ready: status.ready }).map_err(|err| match err {
            ClientError::PermissionDenied { .. } => NoAnswer::Denied(err.to_string()),
            other => NoAnswer::Silent(other.to_string()),
        })
    }
}

/// Where an installed (or planned) job is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Job {
    label: String,
    plist: PathBuf,
}

/// The launchd backend; `R` runs the tools (a fake `launchctl` in tests).
#[derive(Debug)]
pub struct LaunchdBackend<R = SystemRunner> {
    runner: R,
    host: Host,
    probe: Box<dyn DaemonProbe>,
    /// The last plan's job, and whether the plan boots it out first.
    planned: Mutex<Option<(Job, bool)>>,
}

impl<R: CommandRunner> LaunchdBackend<R> {
    /// A backend running tools through `runner` on `host`, asking daemons with [`ControlProbe`].
    pub fn new(runner: R, host: Host) -> Self {
        LaunchdBackend::with_probe(runner, host, Box::new(ControlProbe))
    }

    /// A backend asking daemons whether they are ready with `probe`.
    pub fn with_probe(runner: R, host: Host, probe: Box<dyn DaemonProbe>) -> Self {
        LaunchdBackend { runner, host, probe, planned: Mutex::new(None) }
    }

    /// The runner, to inspect what was run.
    pub fn runner(&self) -> &R {
        &self.runner
    }

    fn run(&self, invocation: &Invocation) -> Result<CommandOutput, BackendError> {
        run_tool(&self.runner, Platform::Launchd, invocation)
    }

    fn domain(&self, level: Level) -> Result<Domain, BackendError> {
        match (level, self.host.euid) {
            (Level::System, _) => Ok(Domain::System),
            (Level::User, Some(uid)) if uid != 0 => Ok(Domain::Gui(uid)),
            (Level::User, _) => Err(BackendError::Unavailable {
                what: "a LaunchAgent belongs to a logged-in user, and this runs as root".to_owned(),
                fix: "run the command as that user, without sudo, or manage a LaunchDaemon with `--system`".to_owned(),
            }),
        }
    }

    /// The error for a failed `invocation` at `level`: the missing login session when it says so.
    fn failed(&self, level: Level, invocation: &Invocation, output: CommandOutput) -> BackendError {
        if level == Level::User && launchctl::no_gui_session(output.status, &output.stderr) {
            let user = self.host.user_name();
            return BackendError::Unavailable {
                what: format!("{user} has no login session on this Mac (`{invocation}`: {})", output.stderr.trim()),
                fix: format!(
                    "log in to the Mac's desktop as {user}: a LaunchAgent runs in that session; or install a \
                     LaunchDaemon with `--system`"
                ),
            };
        }
        BackendError::Command { invocation: invocation.clone(), status: output.status, stderr: output.stderr }
    }

    fn run_ok(&self, level: Level, invocation: &Invocation) -> Result<(), BackendError> {
        let output = self.run(invocation)?;
        if output.succeeded() { Ok(()) } else { Err(self.failed(level, invocation, output)) }
    }

    /// The layout of `name`'s job `label` at `level`.
    fn layout(&self, service: &Service<'_>, label: &str) -> Result<Layout, BackendError> {
        Layout::of(&self.host, service.name, label, service.level)
    }

    /// The installed job: the default label's plist, else a plist duende wrote for this name,
    /// else the planned one. `None` when there is none of them.
    fn installed(&self, service: &Service<'_>) -> Result<Option<Job>, BackendError> {
        let label = LaunchdSettings::default().label_for(service.name);
        let default = self.layout(service, &label)?.plist;
        if let Some(text) = fs::read(&self.host.path(&default))? {
            let text = String::from_utf8_lossy(&text);
            let label = if is_written_by_duende(&text) { label_of(&text).unwrap_or(label) } else { label };
            return Ok(Some(Job { label, plist: default }));
        }
        let dir = default.parent().map(Path::to_path_buf).unwrap_or_default();
        if let Ok(entries) = std::fs::read_dir(self.host.path(&dir)) {
            let mut names: Vec<String> =
                entries.flatten().filter_map(|entry| entry.file_name().into_string().ok()).collect();
            names.sort();
            for file in names.iter().filter(|file| file.ends_with(".plist")) {
                let plist = dir.join(file);
                // Another program's plist this user cannot read is not ours either.
                let Ok(Some(text)) = fs::read(&self.host.path(&plist)) else { continue };
                let text = String::from_utf8_lossy(&text);
                if is_written_for(&text, service.name)
                    && let Some(label) = label_of(&text)
                {
                    return Ok(Some(Job { label, plist }));
                }
            }
        }
        Ok(self.planned.lock().unwrap_or_else(PoisonError::into_inner).clone().map(|(job, _)| job))
    }

    /// The installed job, or the default label's (nothing installed).
    fn job(&self, service: &Service<'_>) -> Result<Job, BackendError> {
        if let Some(job) = self.installed(service)? {
            return Ok(job);
        }
        let label = LaunchdSettings::default().label_for(service.name);
        Ok(Job { plist: self.layout(service, &label)?.plist, label })
    }

    /// `print DOMAIN/LABEL`: `None` when the job is not loaded.
    fn print(&self, service: &Service<'_>, job: &Job) -> Result<Option<Printed>, BackendError> {
        let invocation = verb(["print", &self.domain(service.level)?.target(&job.label)]);
        let output = self.run(&invocation)?;
        if output.succeeded() {
            return Ok(Some(Printed::parse(&output.stdout)));
        }
        if service.level == Level::User && launchctl::no_gui_session(output.status, &output.stderr) {
            return Err(self.failed(service.level, &invocation, output));
        }
        if launchctl::not_loaded(output.status, &output.stderr) {
            return Ok(None);
        }
        Err(self.failed(service.level, &invocation, output))
    }

    fn bootstrap(&self, service: &Service<'_>, job: &Job) -> Result<Invocation, BackendError> {
        let plist = job.plist.to_string_lossy();
        Ok(verb(["bootstrap", &self.domain(service.level)?.name(), &plist]))
    }

    fn on_target(&self, service: &Service<'_>, job: &Job, args: &[&str]) -> Result<Invocation, BackendError> {
        let target = self.domain(service.level)?.target(&job.label);
        let words: Vec<&str> = args.iter().copied().chain([target.as_str()]).collect();
        Ok(Invocation::new(LAUNCHCTL, words))
    }

    /// `bootout`, content when there was nothing loaded.
    fn boot_out(&self, service: &Service<'_>, job: &Job) -> Result<Invocation, BackendError> {
        let invocation = self.on_target(service, job, &["bootout"])?;
        self.run_bootout(service, job, &invocation)?;
        Ok(invocation)
    }

    /// Runs `invocation` (a `bootout` of `job`) and returns once launchd has unloaded the job:
    /// `bootout` may answer before a slow daemon has exited (see [`launchctl`]), and a
    /// `bootstrap` before then would fail.
    fn run_bootout(&self, service: &Service<'_>, job: &Job, invocation: &Invocation) -> Result<(), BackendError> {
        let output = self.run(invocation)?;
        if launchctl::nothing_to_boot_out(output.status, &output.stderr) {
            return Ok(());
        }
        if !output.succeeded() && !launchctl::still_booting_out(output.status, &output.stderr) {
            return Err(self.failed(service.level, invocation, output));
        }
        let deadline = Instant::now() + engine::PATIENCE;
        while self.print(service, job)?.is_some() {
            if Instant::now() >= deadline {
                return Err(BackendError::NotObserved {
                    expected: ServiceState::Stopped,
                    observed: ServiceState::Stopping,
                    detail: format!(
                        "launchd still had {} loaded {:?} after `{invocation}`",
                        job.label,
                        engine::PATIENCE
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The status `printed` (`None`: not loaded) stands for.
    fn status_of(&self, service: &Service<'_>, job: &Job, printed: Option<&Printed>) -> Result<Observed, BackendError> {
        let mut status = ServiceStatus::new(Platform::Launchd, service.level, ServiceState::NotInstalled);
        status.manager.insert("label".to_owned(), job.label.clone());
        status.manager.insert("plist".to_owned(), job.plist.display().to_string());
        let on_disk = self.host.path(&job.plist).is_file();
        let Some(printed) = printed else {
            status.state = if on_disk { ServiceState::Stopped } else { ServiceState::NotInstalled };
            status.manager.insert("state".to_owned(), "not loaded".to_owned());
            let summary = format!("launchd has not loaded {}", job.label);
            status.detail = if on_disk {
                format!("{summary}; `{} start` loads and starts it", service.name)
            } else {
                summary.clone()
            };
            return Ok(Observed { status, enabled: on_disk, settled: true, summary });
        };
        status.manager.insert("state".to_owned(), printed.state.clone());
        if let Some(runs) = printed.runs {
            status.manager.insert("runs".to_owned(), runs.to_string());
            status.restarts = Some(runs.saturating_sub(1));
        }
        status.last_exit_status = printed.last_exit.as_ref().and_then(LastExit::status);
        let failed = printed.last_exit.as_ref().is_some_and(|exit| !exit.is_clean());
        let exit = printed.last_exit.as_ref().map(LastExit::describe).unwrap_or_default();
        let mut settled = false;
        status.state = match printed.state.as_str() {
            "running" => {
                status.pid = printed.pid;
                let socket = self.host.path(&self.layout(service, &job.label)?.socket());
                match (printed.pid, self.probe.probe(&socket)) {
                    (Some(pid), Ok(answer)) if answer.pid == pid && answer.ready => {
                        status.ready = true;
                        ServiceState::Running
                    }
                    (Some(pid), Ok(answer)) if answer.pid == pid => {
                        status.detail = format!("the daemon (pid {pid}) is not ready yet");
                        ServiceState::Starting
                    }
                    (pid, Ok(answer)) => {
                        let pid = pid.map_or_else(|| "none".to_owned(), |pid| pid.to_string());
                        status.detail = format!(
                            "the daemon on {} is pid {}, and launchd's is {pid}: not the job's daemon (yet)",
                            socket.display(),
                            answer.pid
                        );
                        ServiceState::Starting
                    }
                    // launchd runs it; whether it is ready is the daemon's to say, and it may not
                    // be asked by this user: running, readiness not observed.
                    (_, Err(NoAnswer::Denied(why))) => {
                        status.detail = format!("running; its readiness was not observed: {why}");
                        ServiceState::Running
                    }
                    (_, Err(NoAnswer::Silent(why))) => {
                        status.detail = format!("running; its daemon does not answer yet: {why}");
                        ServiceState::Starting
                    }
                }
            }
            "not running" | "exited" => {
                settled = true;
                if failed { ServiceState::Failed } else { ServiceState::Stopped }
            }
            // Throttled before the next spawn: after a failure, a crash loop.
            "spawn scheduled" => {
                settled = failed && printed.runs.is_some_and(|runs| runs > 0);
                ServiceState::Starting
            }
            _ => ServiceState::Starting,
        };
        if status.detail.is_empty() {
            status.detail = exit.clone();
        }
        let summary = format!("launchd says {} is {} ({}; {exit})", job.label, printed.state, job.plist.display());
        Ok(Observed { status, enabled: on_disk, settled, summary })
    }
}

impl<R: CommandRunner> Backend for LaunchdBackend<R> {
    fn platform(&self) -> Platform {
        Platform::Launchd
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn available(&self, level: Level) -> Result<(), BackendError> {
        if self.host.os != "macos" {
            return Err(BackendError::Unavailable {
                what: format!("launchd is the service manager of macOS, and this host runs {}", self.host.os),
                fix: "choose the `--platform` of this host (`systemd`, `native` or `container`)".to_owned(),
            });
        }
        if self.host.find_tool(LAUNCHCTL).is_none() {
            return Err(BackendError::ToolMissing { tool: LAUNCHCTL.to_owned(), platform: Platform::Launchd });
        }
        self.domain(level).map(drop)
    }

    fn diagnose(&self, level: Level) -> Vec<Finding> {
        const SECTION: &str = "service manager";
        if let Err(err) = self.available(level) {
            return vec![Finding::new(SECTION, Mark::Problem, err.to_string(), None)];
        }
        let Ok(domain) = self.domain(level) else { return Vec::new() };
        let invocation = verb(["print", &domain.name()]);
        match self.run(&invocation) {
            Ok(output) if output.succeeded() => {
                vec![Finding::new(SECTION, Mark::Ok, format!("launchd answers for the {} domain", domain.name()), None)]
            }
            Ok(output) => {
                let err = self.failed(level, &invocation, output);
                vec![Finding::new(SECTION, Mark::Problem, err.to_string(), None)]
            }
            Err(err) => vec![Finding::new(SECTION, Mark::Problem, err.to_string(), None)],
        }
    }

    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError> {
        let Some(job) = self.installed(service)? else { return Ok(Found::Absent) };
        self.layout(service, &job.label)?.places.found(&self.host, &job.plist, is_written_by_duende)
    }

    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
    ) -> Result<Plan, BackendError> {
        let settings = request.settings;
        let label = settings.platform.launchd.label_for(service.name);
        let layout = self.layout(service, &label)?;
        if let Some(installed) = self.installed(service)?
            && installed.label != label
            && self.host.path(&installed.plist).exists()
        {
            return Err(BackendError::Unavailable {
                what: format!(
                    "{} is installed as the launchd job {} ({}), and the configuration now names it {label}",
                    service.name,
                    installed.label,
                    installed.plist.display()
                ),
                fix: format!("run `{} uninstall` first, then install again", service.name),
            });
        }
        if let Some(text) = fs::read(&self.host.path(&layout.plist))?
            && !is_written_for(&String::from_utf8_lossy(&text), service.name)
            && !request.options.force
        {
            return Err(BackendError::Foreign { path: layout.plist.clone() });
        }
        let mut notes = Vec::new();
        let (exec, binary) = engine::binary_plan(request, &layout.places.binary, &mut notes)?;
        let config = engine::config_plan(request, &layout.places.config)?;
        let logs = self.host.path(layout.log.parent().unwrap_or(Path::new("/")));
        if !logs.is_dir() {
            return Err(BackendError::Unavailable {
                what: format!("{} does not exist, and launchd does not create a log file's directory", logs.display()),
                fix: format!("create it (`mkdir -p {}`), then install again", logs.display()),
            });
        }
        let unenforced = unenforced(settings);
        if !unenforced.is_empty() {
            notes.push(format!(
                "warning: launchd has no limit for {}; they are not enforced under launchd",
                unenforced.join(", ")
            ));
        }
        let facts = JobFacts {
            binary: exec,
            config_file: request.config_file.map(|_| layout.places.config.clone()),
            level: service.level,
            sets: request.sets.to_vec(),
            overrides: request.overrides.to_vec(),
            log: layout.log.clone(),
            runtime_dir: layout.runtime_dir.clone(),
        };
        let spec = JobSpec::new(settings, &facts);
        let docs = engine::docs_plan(request, &self.host, service)?;
        let mut files: Vec<PlannedFile> = binary.into_iter().chain(config).chain(docs).collect();
        let manifest =
            Manifest::of(&self.host, previous, files.iter().map(|f| f.path.as_path()), [layout.plist.as_path()]);
        let text = render(&spec, &manifest).map_err(|e| BackendError::Render(e.to_string()))?;
        files.push(PlannedFile::text(layout.plist.clone(), text, 0o644, FileRole::Definition));
        let job = Job { label, plist: layout.plist.clone() };
        let steps = match self.print(service, &job)? {
            // launchd reads a plist when it loads it: changed files take effect through a new
            // load. The engine starts the job again when it ran.
            Some(_) => {
                vec![Step { run: self.on_target(service, &job, &["bootout"])?, undo: None, when: When::FilesChanged }]
            }
            None => Vec::new(),
        };
        *self.planned.lock().unwrap_or_else(PoisonError::into_inner) = Some((job, !steps.is_empty()));
        Ok(Plan { files, reread: None, steps, after: Vec::new(), side_dirs: Vec::new(), notes })
    }

    fn verify(
        &self,
        service: &Service<'_>,
        file: &PlannedFile,
        dry_run: bool,
    ) -> Result<Option<Invocation>, BackendError> {
        if self.host.find_tool("plutil").is_none() {
            return Ok(None);
        }
        static VERIFIES: AtomicU32 = AtomicU32::new(0);
        let nth = VERIFIES.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("duende-verify-{}-{nth}-{}", std::process::id(), service.name));
        let path = dir.join(file.path.file_name().unwrap_or_default());
        let invocation = Invocation::new("plutil", ["-lint", &path.to_string_lossy()]);
        if dry_run {
            return Ok(Some(invocation));
        }
        std::fs::create_dir_all(&dir).map_err(|source| BackendError::Io { path: dir.clone(), source })?;
        let output = fs::write_atomic(&path, &file.contents, 0o644).and_then(|()| self.run(&invocation));
        let _ = std::fs::remove_dir_all(&dir);
        let output = output?;
        if !output.succeeded() {
            let problems = format!("{}{}", output.stdout.trim(), output.stderr.trim());
            return Err(BackendError::Invalid {
                name: service.name.to_owned(),
                tool: invocation.to_string(),
                problems,
            });
        }
        Ok(Some(invocation))
    }

    fn retire(&self, service: &Service<'_>, observed: &Observed) -> Result<Retirement, BackendError> {
        let job = self.job(service)?;
        let layout = self.layout(service, &job.label)?;
        let loaded = observed.status.manager.get("state").is_some_and(|state| state != "not loaded");
        let steps = if loaded { vec![self.on_target(service, &job, &["bootout"])?] } else { Vec::new() };
        // launchd wrote the log; the daemon its runtime directory (socket, instance lock,
        // restart count).
        let run_files = vec![
            layout.log.clone(),
            layout.socket(),
            layout.runtime_dir.join(crate::rundir::LOCK_NAME),
            layout.runtime_dir.join(crate::metrics::restarts::FILE),
        ];
        Ok(Retirement { steps, reread: None, run_files, data_dirs: vec![layout.runtime_dir], notes: Vec::new() })
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let job = self.job(service)?;
        let printed = self.print(service, &job)?;
        self.status_of(service, &job, printed.as_ref())
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        let job = self.job(service)?;
        // Under `--dry-run` the plan's `bootout` was shown, not run: the job it boots out is
        // started the way an unloaded one is.
        let booted_out = dry_run
            && self
                .planned
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .is_some_and(|(planned, boots_out)| *boots_out && *planned == job);
        let loaded = !booted_out && self.print(service, &job)?.is_some();
        let invocation = match (op, loaded) {
            (Op::Start, true) => self.on_target(service, &job, &["kickstart"])?,
            (Op::Restart, true) => self.on_target(service, &job, &["kickstart", "-k"])?,
            (Op::Start | Op::Restart, false) => self.bootstrap(service, &job)?,
            (Op::Stop, true) if dry_run => self.on_target(service, &job, &["bootout"])?,
            (Op::Stop, true) => return Ok(Action::Run(self.boot_out(service, &job)?)),
            (Op::Stop, false) => {
                return Ok(Action::Note(format!("launchd has not loaded {}; nothing to stop", job.label)));
            }
            (Op::Reload, true) => self.on_target(service, &job, &["kill", "HUP"])?,
            (Op::Reload, false) => {
                return Err(BackendError::NotObserved {
                    expected: ServiceState::Running,
                    observed: ServiceState::Stopped,
                    detail: format!("launchd has not loaded {}; start it with `{} start`", job.label, service.name),
                });
            }
        };
        if !dry_run {
            self.run_ok(service.level, &invocation)?;
        }
        Ok(Action::Run(invocation))
    }

    fn run_step(&self, service: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        if step.args.first().is_some_and(|verb| verb == "bootout") {
            return self.run_bootout(service, &self.job(service)?, step);
        }
        self.run_ok(service.level, step)
    }

    fn restore(&self, service: &Service<'_>, was_running: bool) {
        // The files are the previous install's again (or gone): unload what the failed install
        // loaded, and load the previous job again when it ran.
        let Ok(job) = self.job(service) else { return };
        if matches!(self.print(service, &job), Ok(Some(_))) {
            let _ = self.boot_out(service, &job);
        }
        if was_running
            && self.host.path(&job.plist).is_file()
            && let Ok(bootstrap) = self.bootstrap(service, &job)
        {
            let _ = self.run(&bootstrap);
        }
    }

    fn log_tail(&self, service: &Service<'_>) -> String {
        let Ok(job) = self.job(service) else { return "(no log file)".to_owned() };
        let Ok(layout) = self.layout(service, &job.label) else { return "(no log file)".to_owned() };
        logfile::last_lines(&self.host.path(&layout.log), &layout.log).unwrap_or_else(|note| note)
    }

    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn std::io::Write) -> Result<(), BackendError> {
        self.available(service.level)?;
        let job = self.job(service)?;
        let layout = self.layout(service, &job.label)?;
        if query.follow {
            // launchd appends to the file and never rotates it: `tail -F` follows it.
            let mut args = vec!["-F".to_owned()];
            if let Some(lines) = query.lines {
                args.extend(["-n".to_owned(), lines.to_string()]);
            }
            args.push(self.host.path(&layout.log).to_string_lossy().into_owned());
            return stream_tool(&self.runner, Invocation::new("tail", args), out);
        }
        logfile::show(&self.host.path(&layout.log), query.lines, false, out)
            .map_err(|source| BackendError::Io { path: layout.log.clone(), source })
    }

    fn control_socket(&self, service: &Service<'_>) -> Option<PathBuf> {
        let job = self.job(service).ok()?;
        Some(self.host.path(&self.layout(service, &job.label).ok()?.socket()))
    }
}
