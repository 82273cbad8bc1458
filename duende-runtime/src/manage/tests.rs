//! `dispatch` against a fake backend: what each command prints and how it exits.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;

use super::*;
use crate::check::Finding;
use crate::cli::{InstallArgs, LogsArgs, StatusArgs};
use crate::platform::plan::{FileRole, Found, Manifest, Plan, PlannedFile, Retirement};
use crate::platform::runner::Invocation;
use crate::platform::{FakeEnv, Observed, Platform, detect};

/// A backend that records what the engine asks and answers from fixed values.
struct Fake {
    host: Host,
    calls: RefCell<Vec<String>>,
    state: Cell<ServiceState>,
    fail: bool,
}

impl Fake {
    fn new(state: ServiceState, root: &Path) -> Self {
        Fake { host: Host::under(root, 0), calls: RefCell::new(Vec::new()), state: Cell::new(state), fail: false }
    }

    fn record(&self, call: String) -> Result<(), BackendError> {
        self.calls.borrow_mut().push(call);
        if self.fail {
            return Err(BackendError::ToolMissing { tool: "fakectl".to_owned(), platform: Platform::Systemd });
        }
        Ok(())
    }
}

impl Backend for Fake {
    fn platform(&self) -> Platform {
        Platform::Systemd
    }
    fn host(&self) -> &Host {
        &self.host
    }
    fn available(&self, level: Level) -> Result<(), BackendError> {
        self.record(format!("available {level}"))
    }
    fn diagnose(&self, _: Level) -> Vec<Finding> {
        Vec::new()
    }
    fn found(&self, _: &Service<'_>) -> Result<Found, BackendError> {
        Ok(Found::Absent)
    }
    fn plan(&self, service: &Service<'_>, _: &InstallRequest<'_>, _: &Manifest) -> Result<Plan, BackendError> {
        let unit = PathBuf::from(format!("/etc/fake/{}.service", service.name));
        Ok(Plan {
            files: vec![PlannedFile::text(unit, "[Unit]".to_owned(), 0o644, FileRole::Definition)],
            reread: Some(Invocation::new("fakectl", ["daemon-reload"])),
            ..Plan::default()
        })
    }
    fn verify(&self, _: &Service<'_>, _: &PlannedFile, _: bool) -> Result<Option<Invocation>, BackendError> {
        Ok(None)
    }
    fn retire(&self, _: &Service<'_>, _: &Observed) -> Result<Retirement, BackendError> {
        Ok(Retirement::default())
    }
    fn observe(&self, service: &Service<'_>) -> Result<Observed, BackendError> {
        let mut status = ServiceStatus::new(Platform::Systemd, service.level, self.state.get());
        status.pid = Some(42);
        status.detail = "ok".to_owned();
        status.ready = self.state.get() == ServiceState::Running;
        Ok(Observed { status, enabled: true, settled: true, summary: String::new() })
    }
    fn act(&self, service: &Service<'_>, op: Op, _: bool) -> Result<Action, BackendError> {
        self.record(format!("{} {} {}", op.name(), service.name, service.level))?;
        self.state.set(if op == Op::Stop { ServiceState::Stopped } else { ServiceState::Running });
        Ok(Action::Run(Invocation::new("fakectl", [op.name()])))
    }
    fn run_step(&self, _: &Service<'_>, step: &Invocation) -> Result<(), BackendError> {
        self.record(step.to_string())
    }
    fn log_tail(&self, _: &Service<'_>) -> String {
        String::new()
    }
    fn logs(&self, service: &Service<'_>, query: LogQuery, out: &mut dyn Write) -> Result<(), BackendError> {
        self.record(format!("logs {} {}", service.name, service.level))?;
        let _ = writeln!(out, "lines={:?} follow={}", query.lines, query.follow);
        Ok(())
    }
    fn control_socket(&self, _: &Service<'_>) -> Option<PathBuf> {
        None
    }
}

fn run(backend: &Fake, command: &Command) -> (Exit, String, String) {
    let settings = Settings::<()> { name: "demo".to_owned(), ..Settings::default() };
    let context = Context {
        name: "demo",
        settings: Some(&settings),
        binary: Path::new("/usr/local/bin/demo"),
        config_file: None,
        sets: &[],
        overrides: &[],
        live: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let engine = Engine::with_patience(std::time::Duration::from_millis(50));
    let exit = dispatch(backend, &engine, &context, command, &mut out, &mut err);
    (exit, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

#[test]
fn the_message_for_a_missing_backend_names_command_platform_evidence_and_the_feature() {
    let detection = detect(&FakeEnv::new().with_dir("/run/systemd/system"));
    let unsupported = Unsupported::NotBuilt { platform: detection.platform, feature: "systemd" };
    assert_eq!(
        unsupported_message("demo", "install", &unsupported, Some(&detection)),
        "demo: `install` cannot manage platform `systemd` (detected: /run/systemd/system exists): this binary was \
         built without duende's `systemd` feature (enable it in the daemon's Cargo.toml: duende = { version = \
         \"...\", features = [\"systemd\"] })"
    );
    let wasi = Unsupported::Target { platform: Platform::Wos, target: "wasi" };
    assert_eq!(
        unsupported_message("demo", "status", &wasi, None),
        "demo: `status` cannot manage platform `wos` (chosen with `--platform wos`): a daemon built for wasi \
         manages no services; wos is driven by the host's build"
    );
}

#[test]
fn install_prints_each_change_and_dry_run_prints_contents() -> std::io::Result<()> {
    let root = tempfile::tempdir()?;
    let fake = Fake::new(ServiceState::Stopped, root.path());
    let dry = InstallArgs { dry_run: true, ..InstallArgs::default() };
    let (exit, out, _) = run(&fake, &Command::Install(dry));
    assert_eq!(exit, Exit::Success);
    assert_eq!(out, "would write /etc/fake/demo.service:\n[Unit]\nwould run fakectl daemon-reload\n");
    assert!(!root.path().join("etc").exists(), "a dry run writes nothing");
    let (exit, out, _) = run(&fake, &Command::Install(InstallArgs::default()));
    assert_eq!(exit, Exit::Success);
    assert_eq!(out, "wrote /etc/fake/demo.service\nran fakectl daemon-reload\n");
    assert_eq!(std::fs::read_to_string(root.path().join("etc/fake/demo.service"))?, "[Unit]");
    let (_, out, _) = run(&fake, &Command::Install(InstallArgs::default()));
    assert!(out.starts_with("nothing to change: demo is already installed as a system systemd service"), "{out}");
    Ok(())
}

#[test]
fn status_succeeds_only_when_running_and_speaks_json() -> std::io::Result<()> {
    let root = tempfile::tempdir()?;
    let (exit, out, _) = run(&Fake::new(ServiceState::Running, root.path()), &Command::Status(StatusArgs::default()));
    assert_eq!((exit, out.as_str()), (Exit::Success, "demo on systemd: running (pid 42): ok\n"));
    let json = StatusArgs { json: true, ..StatusArgs::default() };
    let (exit, out, _) = run(&Fake::new(ServiceState::Stopped, root.path()), &Command::Status(json));
    assert_eq!(exit, Exit::Unavailable);
    assert!(
        out.starts_with("{\"platform\":\"systemd\",\"level\":\"system\",\"state\":\"stopped\",\"pid\":42,"),
        "{out}"
    );
    Ok(())
}

#[test]
fn operations_reach_the_backend_with_the_resolved_level() -> std::io::Result<()> {
    let root = tempfile::tempdir()?;
    let fake = Fake::new(ServiceState::Running, root.path());
    let user = LevelArgs { user: true, system: false };
    for command in [
        Command::Reload(user.clone()),
        Command::Stop(user.clone()),
        Command::Logs(LogsArgs { lines: Some(5), follow: true, level: user.clone() }),
    ] {
        let (exit, _, err) = run(&fake, &command);
        assert_eq!(exit, Exit::Success, "{command:?}: {err}");
    }
    let calls: Vec<String> = fake.calls.borrow().iter().filter(|c| !c.starts_with("available")).cloned().collect();
    assert_eq!(calls, ["reload demo user", "stop demo user", "logs demo user"]);
    Ok(())
}

#[test]
fn backend_errors_are_printed_with_the_command_and_set_the_exit() -> std::io::Result<()> {
    let root = tempfile::tempdir()?;
    let fake = Fake { fail: true, ..Fake::new(ServiceState::Running, root.path()) };
    let (exit, out, err) = run(&fake, &Command::Start(LevelArgs::default()));
    assert_eq!(exit, Exit::Unavailable);
    assert!(out.is_empty());
    assert_eq!(err, "demo: `start` failed: `fakectl` was not found on PATH; the systemd backend needs it\n");
    let (exit, _, err) = run(&fake, &Command::Check);
    assert_eq!((exit, err.as_str()), (Exit::Usage, "demo: `check` is not a management command\n"));
    Ok(())
}
