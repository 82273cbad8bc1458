//! [`SystemdBackend`]: describes a daemon as a systemd unit, and drives and observes it.
//!
//! Every operation checks that systemd is there (`systemctl` on `PATH`, `/run/systemd/system`)
//! and reports only what `systemctl show` says. User-level commands run `systemctl --user` (given
//! `XDG_RUNTIME_DIR=/run/user/UID` when the environment lacks it); an unreachable user manager is
//! reported with the fix (a login session, or `loginctl enable-linger USER`).
//!
//! The plan: the binary copied to a stable path (unless `--in-place` or `binary_path`), `--config
//! PATH` installed, and the unit (rendered with the features of the host's systemd version, and
//! checked with `systemd-analyze verify` when that tool exists) ending with the manifest of what
//! the install created. After files change, `daemon-reload`; `enable` whenever files change or
//! the unit is not enabled yet (undone by `disable` then). The shared
//! [`engine`] applies it. Another backend may have the unit run a command in the daemon's place
//! ([`SystemdBackend::plan_hosting`]: pepita's VM runner, see [`UnitSpec::hosting`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::diagnose;
use super::paths::{Layout, state_dir};
use super::show::{PROPERTIES, Shown, parse_version};
use super::{Features, InstallFacts, UnitSpec, is_written_by_duende, render};
use crate::platform::Platform;
use crate::platform::backend::{
    Backend, BackendError, InstallRequest, Level, LogQuery, Observed, Op, Service, run_tool, stream_tool,
};
use crate::platform::engine::{self, Action};
use crate::platform::finding::Finding;
use crate::platform::fs;
use crate::platform::host::Host;
use crate::platform::plan::{FileRole, Found, Hosted, Manifest, Plan, PlannedFile, Retirement, Step, When};
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation, SystemRunner};
use crate::platform::status::{Drift, ServiceState};

/// How many journal lines a failed start shows.
const LOG_TAIL: &str = "20";

/// The systemd backend; `R` runs the tools (a `RecordingRunner`
/// or a fake in tests).
#[derive(Debug)]
pub struct SystemdBackend<R = SystemRunner> {
    runner: R,
    host: Host,
}

impl<R: CommandRunner> SystemdBackend<R> {
    /// A backend running tools through `runner` on `host`.
    pub fn new(runner: R, host: Host) -> Self {
        SystemdBackend { runner, host }
    }

    /// The runner, to inspect what was run.
    pub fn runner(&self) -> &R {
        &self.runner
    }

    /// `program [--user] args`, with `XDG_RUNTIME_DIR` supplied for the user manager.
    fn leveled(&self, level: Level, program: &str, args: &[&str]) -> Invocation {
        let mut words: Vec<String> = Vec::new();
        let runtime_dir = self.host.euid.filter(|_| level == Level::User && self.host.xdg_runtime_dir().is_none());
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
        run_tool(&self.runner, Platform::Systemd, invocation)
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
        let user = self.host.user_name();
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

    fn layout(&self, service: &Service<'_>) -> Result<Layout, BackendError> {
        Layout::of(&self.host, service.name, service.level)
    }

    /// The plan of [`Backend::plan`], with `hosted` run in the daemon's place when its command is
    /// not empty (see [`UnitSpec::hosting`]): its files are written before the unit and recorded
    /// in the unit's manifest.
    pub fn plan_hosting(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
        hosted: Hosted,
    ) -> Result<Plan, BackendError> {
        let layout = self.layout(service)?;
        let mut notes = Vec::new();
        let (exec, binary) = engine::binary_plan(request, &layout.places.binary, &mut notes)?;
        let config = engine::config_plan(request, &layout.places.config)?;
        let version = self.systemd_version(service.level)?;
        let facts = InstallFacts {
            binary: exec,
            config_file: request.config_file.map(|_| layout.places.config.clone()),
            level: service.level,
            features: Features::of_version(version),
            sets: request.sets.to_vec(),
            overrides: request.overrides.to_vec(),
        };
        let spec = if hosted.command.is_empty() {
            UnitSpec::new(request.settings, &facts)
        } else {
            UnitSpec::hosting(request.settings, &facts, &hosted)
        };
        let body = render(&spec).map_err(|e| BackendError::Render(e.to_string()))?;
        let docs = engine::docs_plan(request, &self.host, service)?;
        let mut files: Vec<PlannedFile> = binary.into_iter().chain(config).chain(hosted.files).chain(docs).collect();
        let wants_entry = layout.wants_dir.join(unit_name(service.name));
        let manifest = Manifest::of(
            &self.host,
            previous,
            files.iter().map(|f| f.path.as_path()),
            [layout.unit.as_path(), wants_entry.as_path()],
        );
        files.push(PlannedFile::text(layout.unit.clone(), body + &manifest.render(), 0o644, FileRole::Definition));

        if service.level == Level::User
            && let Some(user) = self.host.user()
            && !self.host.path(&Path::new("/var/lib/systemd/linger").join(user)).exists()
        {
            notes.push(format!(
                "warning: {user} has no linger: the service stops when {user} logs out and does not start at boot; \
                 run `loginctl enable-linger {user}` (or install with `--system`)"
            ));
        }
        let enable = if self.is_enabled(service)? {
            Step { run: self.systemctl(service, "enable"), undo: None, when: When::FilesChanged }
        } else {
            Step {
                run: self.systemctl(service, "enable"),
                undo: Some(self.systemctl(service, "disable")),
                when: When::Always,
            }
        };
        Ok(Plan {
            files,
            reread: Some(self.leveled(service.level, "systemctl", &["daemon-reload"])),
            steps: vec![enable],
            after: Vec::new(),
            side_dirs: [Some(layout.wants_dir), state_dir(&self.host, service.name, service.level, version)]
                .into_iter()
                .flatten()
                .collect(),
            notes,
        })
    }
}

impl<R: CommandRunner> Backend for SystemdBackend<R> {
    fn platform(&self) -> Platform {
        Platform::Systemd
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn available(&self, _level: Level) -> Result<(), BackendError> {
        if self.host.find_tool("systemctl").is_none() {
            return Err(BackendError::ToolMissing { tool: "systemctl".to_owned(), platform: Platform::Systemd });
        }
        if !self.host.path(Path::new("/run/systemd/system")).is_dir() {
            return Err(BackendError::Unavailable {
                what: "systemd is not running on this host (`/run/systemd/system` does not exist)".to_owned(),
                fix: "systemd services are not supported here: run on a host booted with systemd, or choose another \
                      `--platform`"
                    .to_owned(),
            });
        }
        Ok(())
    }

    fn diagnose(&self, level: Level) -> Vec<Finding> {
        diagnose::findings(&diagnose::Facts::gather(&self.host), level)
    }

    fn found(&self, service: &Service<'_>) -> Result<Found, BackendError> {
        let layout = self.layout(service)?;
        layout.places.found(&self.host, &layout.unit, is_written_by_duende)
    }

    fn plan(
        &self,
        service: &Service<'_>,
        request: &InstallRequest<'_>,
        previous: &Manifest,
    ) -> Result<Plan, BackendError> {
        self.plan_hosting(service, request, previous, Hosted::default())
    }

    fn verify(
        &self,
        service: &Service<'_>,
        file: &PlannedFile,
        dry_run: bool,
    ) -> Result<Option<Invocation>, BackendError> {
        if self.host.find_tool("systemd-analyze").is_none() {
            return Ok(None);
        }
        let name = service.name;
        static VERIFIES: AtomicU32 = AtomicU32::new(0);
        let nth = VERIFIES.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("duende-verify-{}-{nth}-{name}", std::process::id()));
        let path = dir.join(unit_name(name));
        let invocation = Invocation::new("systemd-analyze", ["verify", "--man=no", &path.to_string_lossy()]);
        if dry_run {
            return Ok(Some(invocation));
        }
        let io = |source| BackendError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let written = fs::write_atomic(&path, &file.contents, 0o644);
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

    fn retire(&self, service: &Service<'_>, observed: &Observed) -> Result<Retirement, BackendError> {
        let mut steps = vec![self.systemctl(service, "disable")];
        if observed.state() == ServiceState::Failed {
            steps.push(self.systemctl(service, "reset-failed"));
        }
        // systemd created the state directory (`StateDirectory=`) at the first start.
        let version = self.systemd_version(service.level)?;
        Ok(Retirement {
            steps,
            reread: Some(self.leveled(service.level, "systemctl", &["daemon-reload"])),
            data_dirs: state_dir(&self.host, service.name, service.level, version).into_iter().collect(),
            run_files: Vec::new(),
            notes: Vec::new(),
        })
    }

    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let shown = self.show(service)?;
        let mut status = shown.status(service.level);
        if shown.get("NeedDaemonReload") == "yes" {
            status.add_drift([Drift::NotReloaded]);
        }
        Ok(Observed {
            enabled: shown.get("UnitFileState") == "enabled",
            settled: shown.has_given_up() || shown.get("SubState") == "auto-restart",
            summary: shown.summary(),
            status,
        })
    }

    fn act(&self, service: &Service<'_>, op: Op, dry_run: bool) -> Result<Action, BackendError> {
        let invocation = self.systemctl(service, op.name());
        if !dry_run {
            self.run_ok(service.level, &invocation)?;
        }
        Ok(Action::Run(invocation))
    }

    fn run_step(&self, service: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        self.run_ok(service.level, step).map(drop)
    }

    fn restore(&self, service: &Service<'_>, was_running: bool) {
        let _ = self.run(&self.systemctl(service, if was_running { "restart" } else { "stop" }));
        if !was_running {
            let _ = self.run(&self.systemctl(service, "reset-failed"));
        }
    }

    fn log_tail(&self, service: &Service<'_>) -> String {
        let unit = unit_name(service.name);
        let invocation = self.leveled(service.level, "journalctl", &["-u", &unit, "-n", LOG_TAIL, "--no-pager"]);
        match self.run(&invocation) {
            Ok(output) if !output.stdout.trim().is_empty() => output.stdout.trim_end().to_owned(),
            Ok(output) => format!("(no journal lines; {})", output.stderr.trim()),
            Err(err) => format!("(cannot read the journal: {err})"),
        }
    }

    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn std::io::Write) -> Result<(), BackendError> {
        self.available(service.level)?;
        let unit = unit_name(service.name);
        let count = query.lines.map(|n| n.to_string());
        let mut args = vec!["-u", unit.as_str()];
        if let Some(count) = &count {
            args.extend(["-n", count.as_str()]);
        }
        if query.follow {
            args.push("-f");
        }
        args.extend(["--no-pager", "-o", "cat"]);
        let invocation = self.leveled(service.level, "journalctl", &args);
        stream_tool(&self.runner, invocation, out)
    }

    fn control_socket(&self, service: &Service<'_>) -> Option<PathBuf> {
        // `RuntimeDirectory=NAME`: `/run/NAME` for a system unit, below `$XDG_RUNTIME_DIR` for a
        // user's.
        let dir = match service.level {
            Level::System => Path::new("/run").join(service.name),
            Level::User => self.host.xdg_runtime_dir()?.join(service.name),
        };
        Some(crate::rundir::socket_in(&dir))
    }
}

/// `NAME.service`.
fn unit_name(name: &str) -> String {
    format!("{name}.service")
}
