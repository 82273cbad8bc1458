//! [`SystemdBackend`]: installs, drives and observes a daemon as a systemd unit.
//!
//! Every operation checks that systemd is there (`systemctl` on `PATH`, `/run/systemd/system`),
//! that a system-level change runs as root, and reports only what `systemctl show` says
//! afterwards. User-level commands run `systemctl --user` (given `XDG_RUNTIME_DIR=/run/user/UID`
//! when the environment lacks it); an unreachable user manager is reported with the fix
//! (a login session, or `loginctl enable-linger USER`).
//!
//! `install` is a transaction, in this order: copy the binary to a stable path (unless
//! `--in-place` or `binary_path`), install `--config PATH`, render the unit (with the features of
//! the host's systemd version), check it with `systemd-analyze verify` when that tool exists,
//! write it, `daemon-reload`, `enable`, and start (`--now`) or restart (when it was running and
//! something changed), waiting until the unit is active with its main process running. Any
//! failure puts every file back as it was, reloads, restores the enablement, and restarts the
//! old service if it was running. Files that are already byte-identical are not touched;
//! when nothing differs, nothing happens. The unit ends with a manifest of the files and
//! directories `install` created ([`Manifest`]); `uninstall` removes exactly those.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::files::{self, Manifest, Transaction};
use super::paths::{Layout, Paths};
use super::show::{PROPERTIES, Shown, parse_version};
use super::{Features, InstallFacts, UnitSpec, is_written_by_duende, render};
use crate::platform::Platform;
use crate::platform::backend::{
    Action, Applied, BackendError, InstallRequest, Level, Service, ServiceBackend, ServiceState, ServiceStatus,
};
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation, SystemRunner};

/// How long `start`, `restart`, `reload` and `install --now` wait for the unit to become active
/// after `systemctl` has returned (for `Type=notify`, `systemctl start` itself already waits for
/// `READY=1` or `TimeoutStartSec=`).
pub const READY_PATIENCE: Duration = Duration::from_secs(30);

/// How many journal lines a failed start shows.
const LOG_TAIL: &str = "20";

/// The systemd backend; `R` runs the tools (a [`RecordingRunner`](crate::platform::RecordingRunner)
/// or a fake in tests).
#[derive(Debug)]
pub struct SystemdBackend<R = SystemRunner> {
    runner: R,
    paths: Paths,
    patience: Duration,
    poll: Duration,
}

impl SystemdBackend<SystemRunner> {
    /// The backend for this host.
    pub fn on_this_host() -> Self {
        SystemdBackend::new(SystemRunner, Paths::from_process())
    }
}

/// A file `install` wants in place.
#[derive(Debug)]
struct Planned {
    path: PathBuf,
    contents: Vec<u8>,
    mode: u32,
    /// What `--dry-run` shows as its contents.
    shown: String,
}

/// What `install` is about to change.
#[derive(Debug)]
struct Changes<'a> {
    unit_path: &'a Path,
    /// Files whose content differs, the unit (if it differs) last.
    changed: &'a [&'a Planned],
    /// Files an earlier install created that this one no longer wants.
    stale: &'a [PathBuf],
    /// The commands after the files, each with its verb.
    commands: &'a [(&'a str, Invocation)],
}

/// What `install` found before changing anything.
#[derive(Debug, Clone)]
struct Before {
    enabled: bool,
    running: bool,
    wants_dir_existed: bool,
    /// The state directory systemd creates at the first start, when it did not exist yet.
    new_state_dir: Option<PathBuf>,
}

impl<R: CommandRunner> SystemdBackend<R> {
    /// A backend running tools through `runner` on the host `paths` describes.
    pub fn new(runner: R, paths: Paths) -> Self {
        SystemdBackend { runner, paths, patience: READY_PATIENCE, poll: Duration::from_millis(100) }
    }

    /// Waits at most `patience` for the unit to settle (tests shorten it).
    pub fn with_patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// The runner, to inspect what was run.
    pub fn runner(&self) -> &R {
        &self.runner
    }

    fn ensure_systemd(&self) -> Result<(), BackendError> {
        if self.paths.find_tool("systemctl").is_none() {
            return Err(BackendError::ToolMissing { tool: "systemctl".to_owned(), platform: Platform::Systemd });
        }
        if !self.paths.host(Path::new("/run/systemd/system")).is_dir() {
            return Err(BackendError::Unavailable {
                what: "systemd is not running on this host (`/run/systemd/system` does not exist)".to_owned(),
                fix: "systemd services are not supported here: run on a host booted with systemd, or choose another \
                      `--platform`"
                    .to_owned(),
            });
        }
        Ok(())
    }

    fn ensure_root(&self, service: &Service<'_>, command: &str) -> Result<(), BackendError> {
        if service.level == Level::System && self.paths.euid.is_some_and(|uid| uid != 0) {
            return Err(BackendError::NeedsRoot {
                what: format!("`{command}` for a system service"),
                name: service.name.to_owned(),
                command: command.to_owned(),
            });
        }
        Ok(())
    }

    /// `program [--user] args`, with `XDG_RUNTIME_DIR` supplied for the user manager.
    fn leveled(&self, level: Level, program: &str, args: &[&str]) -> Invocation {
        let mut words: Vec<String> = Vec::new();
        let runtime_dir = self.paths.euid.filter(|_| level == Level::User && self.paths.xdg_runtime_dir.is_none());
        if let Some(uid) = runtime_dir {
            words.push(format!("XDG_RUNTIME_DIR=/run/user/{uid}"));
            words.push(program.to_owned());
        }
        if level == Level::User {
            words.push("--user".to_owned());
        }
        words.extend(args.iter().map(|arg| (*arg).to_owned()));
        Invocation::new(if runtime_dir.is_some() { "env" } else { program }, words)
    }

    fn systemctl(&self, service: &Service<'_>, verb: &str) -> Invocation {
        self.leveled(service.level, "systemctl", &[verb, &unit_name(service.name)])
    }

    fn run(&self, invocation: &Invocation) -> Result<CommandOutput, BackendError> {
        self.runner.run(invocation).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                BackendError::ToolMissing { tool: invocation.program.clone(), platform: Platform::Systemd }
            } else {
                BackendError::Spawn { invocation: invocation.clone(), source }
            }
        })
    }

    /// Runs `invocation` and requires exit status 0.
    fn run_ok(&self, level: Level, invocation: &Invocation) -> Result<String, BackendError> {
        let output = self.run(invocation)?;
        if output.succeeded() {
            return Ok(output.stdout);
        }
        Err(self.unreachable(level, &output.stderr).unwrap_or_else(|| BackendError::Command {
            invocation: invocation.clone(),
            status: output.status,
            stderr: output.stderr,
        }))
    }

    /// The error for a user manager that cannot be reached, when `stderr` says so.
    fn unreachable(&self, level: Level, stderr: &str) -> Option<BackendError> {
        let signs = ["Failed to connect to bus", "Failed to connect to user scope bus", "XDG_RUNTIME_DIR"];
        if level != Level::User || !signs.iter().any(|sign| stderr.contains(sign)) {
            return None;
        }
        let user = self.paths.user_name();
        Some(BackendError::Unavailable {
            what: format!("cannot reach the systemd user manager of {user} ({})", stderr.trim()),
            fix: format!(
                "log in as {user} (a login session starts it), or run `loginctl enable-linger {user}` so it runs \
                 without one"
            ),
        })
    }

    fn show(&self, service: &Service<'_>) -> Result<Shown, BackendError> {
        let unit = unit_name(service.name);
        let invocation = self.leveled(service.level, "systemctl", &["show", "-p", PROPERTIES, &unit]);
        Ok(Shown::parse(&self.run_ok(service.level, &invocation)?))
    }

    fn is_enabled(&self, service: &Service<'_>) -> Result<bool, BackendError> {
        // Exits non-zero for anything but enabled; only an unreachable manager is an error.
        let output = self.run(&self.systemctl(service, "is-enabled"))?;
        match self.unreachable(service.level, &output.stderr) {
            Some(err) => Err(err),
            None => Ok(output.succeeded() && output.stdout.trim() == "enabled"),
        }
    }

    /// The version `systemctl --version` reports; 252 (the oldest duende renders for) when it
    /// cannot be read.
    fn systemd_version(&self, level: Level) -> Result<u32, BackendError> {
        let version = self.run_ok(level, &Invocation::new("systemctl", ["--version"]))?;
        Ok(parse_version(&version).unwrap_or(252))
    }

    fn journal_tail(&self, service: &Service<'_>) -> String {
        let unit = unit_name(service.name);
        let invocation = self.leveled(service.level, "journalctl", &["-u", &unit, "-n", LOG_TAIL, "--no-pager"]);
        match self.run(&invocation) {
            Ok(output) if !output.stdout.trim().is_empty() => output.stdout.trim_end().to_owned(),
            Ok(output) => format!("(no journal lines; {})", output.stderr.trim()),
            Err(err) => format!("(cannot read the journal: {err})"),
        }
    }

    fn status_of(&self, service: &Service<'_>, shown: &Shown) -> ServiceStatus {
        let mut status = shown.status(service.level);
        if shown.get("NeedDaemonReload") == "yes" {
            status.drift.push("unit-not-reloaded".to_owned());
        }
        if let (Ok(layout), Some(this)) = (self.paths.layout(service.name, service.level), &self.paths.this_binary) {
            let unit = files::read(&self.paths.host(&layout.unit)).ok().flatten();
            let manifest = unit.map(|u| Manifest::parse(&String::from_utf8_lossy(&u))).unwrap_or_default();
            if manifest.files.contains(&layout.binary) {
                let installed = files::read(&self.paths.host(&layout.binary)).ok().flatten();
                if installed.is_none() || installed != files::read(this).ok().flatten() {
                    status.drift.push("binary".to_owned());
                }
            }
        }
        status
    }

    /// Polls `systemctl show` until the unit is active with its main process running; any other
    /// settled state, or running out of patience, is an error carrying the last log lines.
    fn wait_ready(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
        let deadline = Instant::now() + self.patience;
        loop {
            let shown = self.show(service)?;
            if shown.is_ready() {
                return Ok(self.status_of(service, &shown));
            }
            let out_of_time = Instant::now() >= deadline;
            if shown.has_given_up() || shown.get("SubState") == "auto-restart" || out_of_time {
                let waited =
                    if out_of_time { format!(" (still not ready after {:?})", self.patience) } else { String::new() };
                return Err(BackendError::NotObserved {
                    expected: ServiceState::Running,
                    observed: shown.state(),
                    detail: format!("{}{waited}\nlast log lines:\n{}", shown.summary(), self.journal_tail(service)),
                });
            }
            std::thread::sleep(self.poll);
        }
    }

    /// `systemctl VERB` and then [`Self::wait_ready`]; a failing `systemctl` is reported with
    /// what was observed and the logs, not only its exit status.
    fn activate(&self, service: &Service<'_>, verb: &str) -> Result<(Invocation, ServiceStatus), BackendError> {
        let invocation = self.systemctl(service, verb);
        if let Err(err) = self.run_ok(service.level, &invocation) {
            if matches!(err, BackendError::Unavailable { .. } | BackendError::ToolMissing { .. }) {
                return Err(err);
            }
            let shown = self.show(service).unwrap_or_default();
            return Err(BackendError::NotObserved {
                expected: ServiceState::Running,
                observed: shown.state(),
                detail: format!("{err}\n{}\nlast log lines:\n{}", shown.summary(), self.journal_tail(service)),
            });
        }
        Ok((invocation, self.wait_ready(service)?))
    }

    fn installed(&self, service: &Service<'_>) -> Result<Shown, BackendError> {
        self.ensure_systemd()?;
        let shown = self.show(service)?;
        if !shown.is_loaded() {
            return Err(BackendError::NotInstalled { name: service.name.to_owned(), level: service.level });
        }
        Ok(shown)
    }

    /// Ancestors of `path` (as the service sees it) that do not exist yet, outermost first.
    fn missing_dirs(&self, path: &Path) -> Vec<PathBuf> {
        let mut missing: Vec<PathBuf> = path
            .ancestors()
            .skip(1)
            .take_while(|dir| dir.parent().is_some() && !self.paths.host(dir).exists())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        missing
    }

    fn verify(&self, name: &str, unit: &str) -> Result<Option<Invocation>, BackendError> {
        if self.paths.find_tool("systemd-analyze").is_none() {
            return Ok(None);
        }
        static VERIFIES: AtomicU32 = AtomicU32::new(0);
        let nth = VERIFIES.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("duende-verify-{}-{nth}-{name}", std::process::id()));
        let path = dir.join(unit_name(name));
        let io = |source| BackendError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let written = files::write_atomic(&path, unit.as_bytes(), 0o644);
        let invocation = Invocation::new("systemd-analyze", ["verify", "--man=no", &path.to_string_lossy()]);
        let output = written.and_then(|()| self.run(&invocation));
        let _ = std::fs::remove_dir_all(&dir);
        let output = output?;
        // Warnings about other units on the host are not ours to fix; ours name the unit.
        let ours = unit_name(name);
        let problems: Vec<&str> = output.stderr.lines().filter(|line| line.contains(&ours)).collect();
        if !output.succeeded() || !problems.is_empty() {
            let problems = if problems.is_empty() { output.stderr.trim().to_owned() } else { problems.join("\n") };
            return Err(BackendError::Invalid { name: name.to_owned(), tool: invocation.to_string(), problems });
        }
        Ok(Some(invocation))
    }

    /// The files `install` wants, the unit last, and the manifest inside the unit.
    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        layout: &Layout,
        previous: &Manifest,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Planned>, BackendError> {
        let mut planned = Vec::new();
        let configured = request.settings.binary_path.clone();
        let copy = !request.args.in_place && configured.is_none();
        let exec =
            if copy { layout.binary.clone() } else { configured.unwrap_or_else(|| request.binary.to_path_buf()) };
        if copy {
            let bytes = read_source(request.binary)?;
            let shown = format!("(a copy of {}, {} bytes, mode 0755)", request.binary.display(), bytes.len());
            planned.push(Planned { path: layout.binary.clone(), contents: bytes, mode: 0o755, shown });
        } else if in_cargo_target(&exec) {
            notes.push(format!(
                "warning: the service runs {} from a cargo target directory; `cargo build` or `cargo clean` will \
                 change or remove it under the running service (install without `--in-place` to copy it)",
                exec.display()
            ));
        }
        if let Some(source) = request.config_file {
            let bytes = read_source(source)?;
            let shown = String::from_utf8_lossy(&bytes).into_owned();
            planned.push(Planned { path: layout.config.clone(), contents: bytes, mode: 0o644, shown });
        }
        let features = Features::of_version(self.systemd_version(service.level)?);
        let facts = InstallFacts {
            binary: exec,
            config_file: request.config_file.map(|_| layout.config.clone()),
            level: service.level,
            features,
            sets: request.sets.to_vec(),
            overrides: request.overrides.to_vec(),
        };
        let body = render(&UnitSpec::new(request.settings, &facts)).map_err(|e| BackendError::Render(e.to_string()))?;

        let mut manifest = Manifest { files: planned.iter().map(|p| p.path.clone()).collect(), dirs: Vec::new() };
        let wants_entry = layout.wants_dir.join(unit_name(service.name));
        let created = planned.iter().map(|p| &p.path).chain([&layout.unit, &wants_entry]);
        let wanted = previous.dirs.iter().cloned().chain(created.flat_map(|path| self.missing_dirs(path)));
        for dir in wanted {
            if !manifest.dirs.contains(&dir) {
                manifest.dirs.push(dir);
            }
        }
        let unit = body + &manifest.render();
        planned.push(Planned {
            path: layout.unit.clone(),
            contents: unit.clone().into_bytes(),
            mode: 0o644,
            shown: unit,
        });
        Ok(planned)
    }

    /// Applies the changed files and the commands; the caller rolls back on error.
    fn commit(
        &self,
        service: &Service<'_>,
        changes: &Changes<'_>,
        tx: &mut Transaction,
        actions: &mut Vec<Action>,
    ) -> Result<(), BackendError> {
        let &Changes { unit_path, changed, stale, commands } = changes;
        let unit = changed.iter().find(|file| file.path == unit_path);
        for file in changed.iter().filter(|file| file.path != unit_path) {
            tx.write(&self.paths.host(&file.path), &file.contents, file.mode)?;
            actions.push(Action::Write { path: file.path.clone(), contents: file.shown.clone() });
        }
        for path in stale {
            tx.remove(&self.paths.host(path))?;
            actions.push(Action::Remove { path: path.clone() });
        }
        if let Some(unit) = unit {
            if let Some(verified) = self.verify(service.name, &unit.shown)? {
                actions.push(Action::Run(verified));
            }
            tx.write(&self.paths.host(&unit.path), &unit.contents, unit.mode)?;
            actions.push(Action::Write { path: unit.path.clone(), contents: unit.shown.clone() });
        }
        for (verb, invocation) in commands {
            if matches!(*verb, "start" | "restart") {
                self.activate(service, verb)?;
            } else {
                self.run_ok(service.level, invocation)?;
            }
            actions.push(Action::Run(invocation.clone()));
        }
        Ok(())
    }

    /// Puts back what a failed install changed (best effort: the install's error is what the
    /// operator needs, so a failing step here does not hide it).
    fn undo(&self, service: &Service<'_>, tx: Transaction, layout: &Layout, before: Before, reload: bool) {
        let _ = tx.rollback();
        if reload {
            let _ = self.run(&self.leveled(service.level, "systemctl", &["daemon-reload"]));
        }
        if !before.enabled {
            let _ = self.run(&self.systemctl(service, "disable"));
            if !before.wants_dir_existed {
                let _ = std::fs::remove_dir(self.paths.host(&layout.wants_dir));
            }
        }
        let verb = if before.running { "restart" } else { "stop" };
        let _ = self.run(&self.systemctl(service, verb));
        if !before.running {
            let _ = self.run(&self.systemctl(service, "reset-failed"));
        }
        if let Some(dir) = &before.new_state_dir {
            let _ = std::fs::remove_dir(self.paths.host(dir));
        }
    }
}

impl<R: CommandRunner> ServiceBackend for SystemdBackend<R> {
    fn platform(&self) -> Platform {
        Platform::Systemd
    }

    fn install(&self, service: &Service<'_>, request: &InstallRequest<'_>) -> Result<Applied, BackendError> {
        let args = request.args;
        self.ensure_systemd()?;
        if !args.dry_run {
            self.ensure_root(service, "install")?;
        }
        let layout = self.paths.layout(service.name, service.level)?;
        let existing = files::read(&self.paths.host(&layout.unit))?.map(|u| String::from_utf8_lossy(&u).into_owned());
        let previous = match &existing {
            Some(unit) if is_written_by_duende(unit) => Manifest::parse(unit),
            Some(_) if !args.force => return Err(BackendError::Foreign { path: layout.unit.clone() }),
            _ => Manifest::default(),
        };
        let mut notes = Vec::new();
        let planned = self.plan(service, request, &layout, &previous, &mut notes)?;
        let mut changed = Vec::new();
        for file in &planned {
            if files::read(&self.paths.host(&file.path))?.as_deref() != Some(file.contents.as_slice()) {
                changed.push(file);
            }
        }
        let stale: Vec<PathBuf> = previous
            .files
            .iter()
            .filter(|path| !planned.iter().any(|p| &p.path == *path) && self.paths.host(path).exists())
            .cloned()
            .collect();
        let shown = self.show(service)?;
        let before = Before {
            enabled: self.is_enabled(service)?,
            running: matches!(shown.state(), ServiceState::Running | ServiceState::Starting),
            wants_dir_existed: self.paths.host(&layout.wants_dir).exists(),
            new_state_dir: self
                .paths
                .state_dir(service.name, service.level, self.systemd_version(service.level)?)
                .filter(|dir| !self.paths.host(dir).exists()),
        };
        if service.level == Level::User
            && let Some(user) = &self.paths.user
            && !self.paths.host(&Path::new("/var/lib/systemd/linger").join(user)).exists()
        {
            notes.push(format!(
                "warning: {user} has no linger: the service stops when {user} logs out and does not start at boot; \
                 run `loginctl enable-linger {user}` (or install with `--system`)"
            ));
        }
        let files_change = !changed.is_empty() || !stale.is_empty();
        let mut commands = Vec::new();
        if files_change {
            commands.push(("daemon-reload", self.leveled(service.level, "systemctl", &["daemon-reload"])));
        }
        if files_change || !before.enabled {
            commands.push(("enable", self.systemctl(service, "enable")));
        }
        if before.running && files_change {
            commands.push(("restart", self.systemctl(service, "restart")));
        } else if args.now && !before.running {
            commands.push(("start", self.systemctl(service, "start")));
        }
        let mut actions: Vec<Action> = notes.into_iter().map(Action::Note).collect();
        if commands.is_empty() {
            actions.push(Action::Note(format!(
                "nothing to change: {} is already installed as a {} service (unit, binary and configuration are \
                 identical)",
                service.name, service.level
            )));
            return Ok(Applied { actions, dry_run: args.dry_run });
        }
        if args.dry_run {
            for file in &changed {
                if file.path == layout.unit && self.paths.find_tool("systemd-analyze").is_some() {
                    let temp = std::env::temp_dir().join("duende-verify").join(unit_name(service.name));
                    let verify = ["verify".to_owned(), "--man=no".to_owned(), temp.to_string_lossy().into_owned()];
                    actions.push(Action::Run(Invocation::new("systemd-analyze", verify)));
                }
                actions.push(Action::Write { path: file.path.clone(), contents: file.shown.clone() });
            }
            actions.extend(stale.into_iter().map(|path| Action::Remove { path }));
            actions.extend(commands.into_iter().map(|(_, invocation)| Action::Run(invocation)));
            return Ok(Applied { actions, dry_run: true });
        }
        let mut tx = Transaction::new();
        let changes = Changes { unit_path: &layout.unit, changed: &changed, stale: &stale, commands: &commands };
        match self.commit(service, &changes, &mut tx, &mut actions) {
            Ok(()) => Ok(Applied { actions, dry_run: false }),
            Err(err) => {
                self.undo(service, tx, &layout, before, files_change);
                Err(err)
            }
        }
    }

    fn uninstall(&self, service: &Service<'_>) -> Result<Applied, BackendError> {
        self.ensure_systemd()?;
        self.ensure_root(service, "uninstall")?;
        let layout = self.paths.layout(service.name, service.level)?;
        let unit_path = self.paths.host(&layout.unit);
        let Some(unit) = files::read(&unit_path)?.map(|u| String::from_utf8_lossy(&u).into_owned()) else {
            let note = format!("{} is not installed as a {} service; nothing to remove", service.name, service.level);
            return Ok(Applied { actions: vec![Action::Note(note)], dry_run: false });
        };
        if !is_written_by_duende(&unit) {
            return Err(BackendError::Foreign { path: layout.unit });
        }
        let manifest = Manifest::parse(&unit);
        let mut actions = Vec::new();
        let shown = self.show(service)?;
        if shown.is_loaded() && !matches!(shown.state(), ServiceState::Stopped | ServiceState::NotInstalled) {
            let stop = self.systemctl(service, "stop");
            self.run_ok(service.level, &stop)?;
            actions.push(Action::Run(stop));
            let after = self.show(service)?;
            if !matches!(after.state(), ServiceState::Stopped | ServiceState::Failed) {
                return Err(BackendError::NotObserved {
                    expected: ServiceState::Stopped,
                    observed: after.state(),
                    detail: after.summary(),
                });
            }
        }
        let disable = self.systemctl(service, "disable");
        self.run_ok(service.level, &disable)?;
        actions.push(Action::Run(disable));
        if shown.state() == ServiceState::Failed {
            let _ = self.run(&self.systemctl(service, "reset-failed"));
        }
        for path in manifest.files.iter().chain([&layout.unit]) {
            let host = self.paths.host(path);
            if host.exists() {
                std::fs::remove_file(&host).map_err(|source| BackendError::Io { path: path.clone(), source })?;
                actions.push(Action::Remove { path: path.clone() });
            }
        }
        // systemd created the state directory (`StateDirectory=`) at the first start; an empty one
        // goes, a non-empty one holds the daemon's data and stays.
        let state = self.paths.state_dir(service.name, service.level, self.systemd_version(service.level)?);
        if let Some(state) = state.filter(|dir| self.paths.host(dir).is_dir()) {
            if std::fs::remove_dir(self.paths.host(&state)).is_ok() {
                actions.push(Action::Remove { path: state });
            } else {
                actions.push(Action::Note(format!(
                    "kept {}: it holds {}'s data; remove it yourself when it is no longer needed",
                    state.display(),
                    service.name
                )));
            }
        }
        let mut dirs = manifest.dirs.clone();
        dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
        for dir in dirs {
            // Only when empty: anything else in it is not ours to remove.
            if std::fs::remove_dir(self.paths.host(&dir)).is_ok() {
                actions.push(Action::Remove { path: dir });
            }
        }
        let reload = self.leveled(service.level, "systemctl", &["daemon-reload"]);
        self.run_ok(service.level, &reload)?;
        actions.push(Action::Run(reload));
        Ok(Applied { actions, dry_run: false })
    }

    fn start(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
        self.ensure_root(service, "start")?;
        self.installed(service)?;
        self.activate(service, "start").map(|(_, status)| status)
    }

    fn stop(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
        self.ensure_root(service, "stop")?;
        self.installed(service)?;
        self.run_ok(service.level, &self.systemctl(service, "stop"))?;
        let deadline = Instant::now() + self.patience;
        loop {
            let shown = self.show(service)?;
            if matches!(shown.state(), ServiceState::Stopped | ServiceState::Failed) {
                return Ok(self.status_of(service, &shown));
            }
            if Instant::now() >= deadline {
                return Err(BackendError::NotObserved {
                    expected: ServiceState::Stopped,
                    observed: shown.state(),
                    detail: shown.summary(),
                });
            }
            std::thread::sleep(self.poll);
        }
    }

    fn restart(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
        self.ensure_root(service, "restart")?;
        self.installed(service)?;
        self.activate(service, "restart").map(|(_, status)| status)
    }

    fn reload(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
        self.ensure_root(service, "reload")?;
        let shown = self.installed(service)?;
        if !shown.is_ready() {
            return Err(BackendError::NotObserved {
                expected: ServiceState::Running,
                observed: shown.state(),
                detail: format!("only a running service can reload; start it with `{} start`", service.name),
            });
        }
        self.activate(service, "reload").map(|(_, status)| status)
    }

    fn status(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
        self.ensure_systemd()?;
        let shown = self.show(service)?;
        Ok(self.status_of(service, &shown))
    }

    fn drift(&self, service: &Service<'_>, request: &InstallRequest<'_>) -> Result<Vec<String>, BackendError> {
        let layout = self.paths.layout(service.name, service.level)?;
        let Some(unit) = files::read(&self.paths.host(&layout.unit))? else { return Ok(Vec::new()) };
        let unit = String::from_utf8_lossy(&unit).into_owned();
        if !is_written_by_duende(&unit) {
            return Ok(Vec::new());
        }
        let previous = Manifest::parse(&unit);
        // Compare with what `install` would write in the same mode: copied or in place, and with
        // the configuration file the service already has unless a new one is given.
        let args =
            crate::cli::InstallArgs { in_place: !previous.files.contains(&layout.binary), ..request.args.clone() };
        let installed_config = self.paths.host(&layout.config);
        let config_file = request
            .config_file
            .or_else(|| previous.files.contains(&layout.config).then_some(installed_config.as_path()));
        let request = InstallRequest { args: &args, config_file, ..*request };
        let planned = self.plan(service, &request, &layout, &previous, &mut Vec::new())?;
        let mut drift = Vec::new();
        for file in &planned {
            if files::read(&self.paths.host(&file.path))?.as_deref() != Some(file.contents.as_slice()) {
                let kind = if file.path == layout.unit {
                    "unit"
                } else if file.path == layout.binary {
                    "binary"
                } else if file.path == layout.config {
                    "config"
                } else {
                    "file"
                };
                drift.push(kind.to_owned());
            }
        }
        Ok(drift)
    }

    fn logs(
        &self,
        service: &Service<'_>,
        lines: Option<usize>,
        follow: bool,
        out: &mut dyn std::io::Write,
    ) -> Result<(), BackendError> {
        self.ensure_systemd()?;
        let unit = unit_name(service.name);
        let count = lines.map(|n| n.to_string());
        let mut args = vec!["-u", unit.as_str()];
        if let Some(count) = &count {
            args.extend(["-n", count.as_str()]);
        }
        if follow {
            args.push("-f");
        }
        args.extend(["--no-pager", "-o", "cat"]);
        let invocation = self.leveled(service.level, "journalctl", &args);
        let status = self
            .runner
            .stream(&invocation, out)
            .map_err(|source| BackendError::Spawn { invocation: invocation.clone(), source })?;
        if status != Some(0) {
            return Err(BackendError::Command { invocation, status, stderr: String::new() });
        }
        Ok(())
    }
}

/// `NAME.service`.
fn unit_name(name: &str) -> String {
    format!("{name}.service")
}

fn read_source(path: &Path) -> Result<Vec<u8>, BackendError> {
    files::read(path)?.ok_or_else(|| BackendError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    })
}

/// Whether `path` lies in a cargo target directory (`.../target/{debug,release,...}/`).
fn in_cargo_target(path: &Path) -> bool {
    let parts: Vec<_> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    parts.windows(2).any(|pair| pair[0] == "target" && matches!(pair[1].as_str(), "debug" | "release"))
        || parts.iter().any(|p| p == "target") && parts.iter().any(|p| p == "deps")
}
