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
        docs: None,
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
        out.starts_with(
            "{\"schema\":\"duende.status.v1\",\"platform\":\"systemd\",\"level\":\"system\",\"state\":\"stopped\",\"pid\":42,"
        ),
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

/// One of every `Command`, parsed as a daemon parses its command line from the subcommands clap
/// builds from the enum (hidden ones included, each with its required flags), so a new variant
/// is in the list as soon as it exists; paired with the name it is spelled with there.
fn every_command() -> Vec<(String, Command)> {
    use clap::CommandFactory;
    crate::cli::Cli::command()
        .get_subcommands()
        .map(|sub| {
            let name = sub.get_name().to_owned();
            let mut argv = vec!["demo".to_owned(), name.clone()];
            for arg in sub.get_arguments().filter(|arg| arg.is_required_set()) {
                // A required positional takes its first possible value (`completions bash`).
                let value = arg.get_possible_values().first().map_or("x".to_owned(), |v| v.get_name().to_owned());
                match arg.get_long() {
                    Some(long) => argv.extend([format!("--{long}"), value]),
                    None if arg.is_positional() => argv.push(value),
                    None => panic!("`{name}`: required argument without a flag"),
                }
            }
            match crate::cli::parse("demo", "1.0.0", "", &argv) {
                crate::cli::Parsed::Cli(crate::cli::Cli { command: Some(command), .. }) => (name, command),
                other => panic!("{argv:?} parsed to no command: {other:?}"),
            }
        })
        .collect()
}

#[test]
fn every_command_reaches_the_backend_or_is_refused_by_name_and_errors_name_the_command() -> std::io::Result<()> {
    let root = tempfile::tempdir()?;
    let commands = every_command();
    // The 13 commands people type and the 4 hidden ones; a new one lands here too.
    assert_eq!(commands.len(), 17, "{:?}", commands.iter().map(|(name, _)| name).collect::<Vec<_>>());
    for (name, command) in commands {
        assert_eq!(command.name(), name, "`Command::name` spells {command:?} as on the command line");
        // No wildcard: a new variant does not compile until it is said whether it manages the
        // service.
        let manages = match &command {
            Command::Install(_)
            | Command::Uninstall(_)
            | Command::Start(_)
            | Command::Stop(_)
            | Command::Restart(_)
            | Command::Reload(_)
            | Command::Status(_)
            | Command::Logs(_) => true,
            Command::Run(_)
            | Command::Config(_)
            | Command::Check(_)
            | Command::Completions(_)
            | Command::Man
            | Command::Supervise
            | Command::Healthcheck
            | Command::PepitaVm(_)
            | Command::WosRun(_) => false,
        };
        let fake = Fake { fail: true, ..Fake::new(ServiceState::Running, root.path()) };
        let (exit, out, err) = run(&fake, &command);
        assert!(out.is_empty(), "`{name}` printed {out:?}");
        if manages {
            assert_eq!(exit, Exit::Unavailable, "`{name}`: {err}");
            assert_eq!(
                err,
                format!(
                    "demo: `{name}` failed: `fakectl` was not found on PATH; the systemd backend needs it\n  fix: install \
                     `fakectl`, or choose another `--platform`\n"
                )
            );
            assert!(!fake.calls.borrow().is_empty(), "`{name}` failed without asking the backend");
        } else {
            assert_eq!(
                (exit, err.as_str()),
                (Exit::Usage, format!("demo: `{name}` is not a management command\n").as_str())
            );
            assert!(fake.calls.borrow().is_empty(), "`{name}` asked the backend: {:?}", fake.calls.borrow());
        }
    }
    Ok(())
}
