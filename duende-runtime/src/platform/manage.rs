//! The management commands (`install`, `uninstall`, `start`, `stop`, `restart`, `reload`,
//! `status`, `logs`): resolve the platform, find its backend, carry the command out, and say
//! what was observed. A platform without a backend is an error (exit 69), never a pretend success.

use std::io::{self, Write};

use std::path::Path;

use super::backend::{
    Action, Applied, BackendError, InstallRequest, Level, Service, ServiceBackend, ServiceState, ServiceStatus,
    Unsupported,
};
use super::env::{HostEnv, effective_uid};
use super::{Detection, backend_for, resolve};
use crate::cli::{Command, Common};
use crate::config::{self, Settings};
use crate::daemon::Daemon;
use crate::entry::MainOptions;
use crate::exit::Exit;

/// Carries out the management `command` for the daemon on the platform `--platform` names
/// (detected when `auto`). Commands that install or start the service first load and validate
/// the configuration: an invalid one exits 78 with nothing changed. `stop`, `status`, `logs` and
/// `uninstall` work whatever the configuration says, since that is when an operator needs them.
pub fn manage<D: Daemon>(options: MainOptions, command: &Command, common: &Common) -> Exit {
    let name = options.name;
    let (platform, detection) = resolve(common.platform, &HostEnv);
    let backend = match backend_for(platform) {
        Ok(backend) => backend,
        Err(unsupported) => {
            // Without a service manager the daemon itself answers `status`, `reload` and `stop`.
            #[cfg(unix)]
            if let Some(exit) = crate::control::command::without_backend(
                name,
                platform,
                command,
                &mut io::stdout().lock(),
                &mut io::stderr().lock(),
            ) {
                return exit;
            }
            eprintln!("{}", unsupported_message(name, command.name(), &unsupported, detection.as_ref()));
            return Exit::Unavailable;
        }
    };
    let sources = crate::entry::sources(&options, common);
    let settings = if matches!(command, Command::Status(_)) {
        // Only to tell drift: a broken configuration must not stop `status` from answering.
        config::load_settings::<D::Config>(&sources, D::validate).ok().map(|settings| settings.without_app())
    } else if needs_valid_configuration(command) {
        match config::load_settings::<D::Config>(&sources, D::validate) {
            Ok(settings) => Some(settings.without_app()),
            Err(err) => {
                eprintln!("{name}: {err}");
                eprintln!("{name}: nothing was changed");
                return Exit::Config;
            }
        }
    } else {
        None
    };
    let binary = match std::env::current_exe() {
        Ok(binary) => binary,
        Err(err) => {
            eprintln!("{name}: cannot tell where this binary is: {err}");
            return Exit::OsError;
        }
    };
    let overrides = sources.own_variables();
    let context = Context {
        name,
        settings: settings.as_ref(),
        binary: &binary,
        config_file: common.config.as_deref(),
        sets: &common.sets,
        overrides: &overrides,
        live: true,
    };
    let stdout = io::stdout();
    let stderr = io::stderr();
    dispatch(backend.as_ref(), &context, command, effective_uid(), &mut stdout.lock(), &mut stderr.lock())
}

/// Commands whose outcome depends on the configuration being valid.
fn needs_valid_configuration(command: &Command) -> bool {
    matches!(command, Command::Install(_) | Command::Start(_) | Command::Restart(_) | Command::Reload(_))
}

/// What a management command knows besides its own flags.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The daemon's name.
    pub name: &'a str,
    /// The validated configuration, for the commands that need one.
    pub settings: Option<&'a Settings<()>>,
    /// This binary.
    pub binary: &'a Path,
    /// `--config PATH`.
    pub config_file: Option<&'a Path>,
    /// `--set` flags.
    pub sets: &'a [String],
    /// The daemon's own `NAME_*` variables in this environment.
    pub overrides: &'a [(String, String)],
    /// `status` asks the running daemon for its live state through its control socket.
    pub live: bool,
}

/// The error for a command on a platform without a backend, naming how the platform was chosen.
pub fn unsupported_message(
    name: &str,
    command: &str,
    unsupported: &Unsupported,
    detection: Option<&Detection>,
) -> String {
    let platform = unsupported.platform;
    let how = match detection {
        Some(detection) => format!("detected: {}", detection.evidence_line()),
        None => format!("chosen with `--platform {platform}`"),
    };
    format!("{name}: `{command}` is not supported on platform `{platform}` yet ({how}); {unsupported}")
}

/// Runs `command` against `backend`, printing results to `out` and errors to `err`.
pub fn dispatch(
    backend: &dyn ServiceBackend,
    context: &Context<'_>,
    command: &Command,
    euid: Option<u32>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let name = context.name;
    let service = |level| Service { name, level: Level::resolve(level, euid) };
    let result = match command {
        Command::Install(args) => {
            let Some(settings) = context.settings else {
                let _ = writeln!(err, "{name}: `install` needs the validated configuration");
                return Exit::Config;
            };
            let request = InstallRequest {
                args,
                settings,
                binary: context.binary,
                config_file: context.config_file,
                sets: context.sets,
                overrides: context.overrides,
            };
            for (var, _) in context.overrides {
                let _ = writeln!(out, "note: the service gets {var} from this environment, as validated");
            }
            backend.install(&service(&args.level), &request).map(|applied| print_applied(&applied, out))
        }
        Command::Uninstall(level) => backend.uninstall(&service(level)).map(|applied| print_applied(&applied, out)),
        Command::Start(level) => backend.start(&service(level)).map(|status| print_status(name, &status, out)),
        Command::Stop(level) => backend.stop(&service(level)).map(|status| print_status(name, &status, out)),
        Command::Restart(level) => backend.restart(&service(level)).map(|status| print_status(name, &status, out)),
        Command::Reload(level) => backend.reload(&service(level)).map(|status| print_status(name, &status, out)),
        Command::Status(args) => backend.status(&service(&args.level)).map(|mut status| {
            if let Some(settings) = context.settings {
                let install = crate::cli::InstallArgs { level: args.level.clone(), ..Default::default() };
                let request = InstallRequest {
                    args: &install,
                    settings,
                    binary: context.binary,
                    config_file: context.config_file,
                    sets: context.sets,
                    overrides: context.overrides,
                };
                match backend.drift(&service(&args.level), &request) {
                    Ok(found) => {
                        for kind in found {
                            if !status.drift.contains(&kind) {
                                status.drift.push(kind);
                            }
                        }
                    }
                    Err(error) => {
                        let _ = writeln!(err, "{name}: cannot tell drift: {error}");
                    }
                }
            }
            #[cfg(unix)]
            let live = context.live.then(|| {
                let socket = crate::control::command::service_socket(name, service(&args.level).level);
                crate::control::command::live_status(&socket, err)
            });
            #[cfg(not(unix))]
            let live: Option<Option<crate::control::protocol::StatusResult>> = None;
            let live = live.flatten();
            if args.json {
                let _ = writeln!(out, "{}", crate::control::report::status_json(&status, live.as_ref()));
            } else {
                print_status(name, &status, out);
                if let Some(live) = &live {
                    crate::control::report::print_live(live, out);
                }
            }
            // Like `systemctl is-active`: only a running service is a success, so `status`
            // works as a container health command.
            if status.state == ServiceState::Running { Exit::Success } else { Exit::Unavailable }
        }),
        Command::Logs(args) => {
            backend.logs(&service(&args.level), args.lines, args.follow, out).map(|()| Exit::Success)
        }
        Command::Run(_) | Command::Config | Command::Check => {
            let _ = writeln!(err, "{name}: `{}` is not a management command", command.name());
            return Exit::Usage;
        }
    };
    result.unwrap_or_else(|error: BackendError| {
        let _ = writeln!(err, "{name}: `{}` failed: {error}", command.name());
        error.exit()
    })
}

/// Prints each change (or planned change) on its own line; the exit is success.
fn print_applied(applied: &Applied, out: &mut dyn Write) -> Exit {
    let (write, remove, run) =
        if applied.dry_run { ("would write", "would remove", "would run") } else { ("wrote", "removed", "ran") };
    if applied.actions.is_empty() {
        let _ = writeln!(out, "nothing to change");
    }
    for action in &applied.actions {
        let _ = match action {
            Action::Write { path, contents } if applied.dry_run => {
                writeln!(out, "{write} {}:\n{contents}", path.display())
            }
            Action::Write { path, .. } => writeln!(out, "{write} {}", path.display()),
            Action::Remove { path } => writeln!(out, "{remove} {}", path.display()),
            Action::Run(invocation) => writeln!(out, "{run} {invocation}"),
            Action::Note(note) => writeln!(out, "{note}"),
        };
    }
    Exit::Success
}

/// Prints one status line, plus one line on drift; the exit is success (the operation observed
/// what it asked for).
fn print_status(name: &str, status: &ServiceStatus, out: &mut dyn Write) -> Exit {
    let pid = status.pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
    let detail = if status.detail.is_empty() { String::new() } else { format!(": {}", status.detail) };
    let _ = writeln!(out, "{name} on {}: {}{pid}{detail}", status.platform, status.state);
    if !status.drift.is_empty() {
        let _ = writeln!(
            out,
            "{name}: installed {} differs from what this binary would install; run `{name} install` to update",
            status.drift.join(", ")
        );
    }
    Exit::Success
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::PathBuf;

    use super::*;
    use crate::cli::{InstallArgs, LevelArgs, LogsArgs, StatusArgs};
    use crate::platform::runner::Invocation;
    use crate::platform::{FakeEnv, Platform, detect};

    /// A backend that records calls and answers from fixed values.
    struct Fake {
        calls: RefCell<Vec<String>>,
        state: ServiceState,
        fail: bool,
    }

    impl Fake {
        fn new(state: ServiceState) -> Self {
            Fake { calls: RefCell::new(Vec::new()), state, fail: false }
        }

        fn record(&self, op: &str, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
            self.calls.borrow_mut().push(format!("{op} {} {}", service.name, service.level));
            if self.fail {
                return Err(BackendError::ToolMissing { tool: "systemctl".to_owned(), platform: Platform::Systemd });
            }
            Ok(ServiceStatus {
                pid: Some(42),
                detail: "ok".to_owned(),
                ..ServiceStatus::new(Platform::Systemd, service.level, self.state)
            })
        }
    }

    impl ServiceBackend for Fake {
        fn platform(&self) -> Platform {
            Platform::Systemd
        }
        fn install(&self, service: &Service<'_>, request: &InstallRequest<'_>) -> Result<Applied, BackendError> {
            self.record("install", service)?;
            let args = request.args;
            Ok(Applied {
                actions: vec![
                    Action::Write {
                        path: PathBuf::from("/etc/systemd/system/demo.service"),
                        contents: "[Unit]".to_owned(),
                    },
                    Action::Run(Invocation::new("systemctl", ["daemon-reload"])),
                ],
                dry_run: args.dry_run,
            })
        }
        fn uninstall(&self, service: &Service<'_>) -> Result<Applied, BackendError> {
            self.record("uninstall", service)?;
            Ok(Applied::default())
        }
        fn start(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
            self.record("start", service)
        }
        fn stop(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
            self.record("stop", service)
        }
        fn restart(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
            self.record("restart", service)
        }
        fn reload(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
            self.record("reload", service)
        }
        fn status(&self, service: &Service<'_>) -> Result<ServiceStatus, BackendError> {
            self.record("status", service)
        }
        fn logs(
            &self,
            service: &Service<'_>,
            lines: Option<usize>,
            follow: bool,
            out: &mut dyn Write,
        ) -> Result<(), BackendError> {
            self.record("logs", service)?;
            let _ = writeln!(out, "lines={lines:?} follow={follow}");
            Ok(())
        }
    }

    fn run(backend: &Fake, command: &Command, euid: Option<u32>) -> (Exit, String, String) {
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
        let exit = dispatch(backend, &context, command, euid, &mut out, &mut err);
        (exit, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
    }

    #[test]
    fn the_message_for_a_missing_backend_names_command_platform_and_evidence() {
        let detection = detect(&FakeEnv::new().with_dir("/run/systemd/system"));
        let unsupported = Unsupported { platform: detection.platform };
        assert_eq!(
            unsupported_message("demo", "install", &unsupported, Some(&detection)),
            "demo: `install` is not supported on platform `systemd` yet (detected: /run/systemd/system exists); \
             this version of duende has no systemd backend"
        );
        assert_eq!(
            unsupported_message("demo", "status", &Unsupported { platform: Platform::Launchd }, None),
            "demo: `status` is not supported on platform `launchd` yet (chosen with `--platform launchd`); \
             this version of duende has no launchd backend"
        );
    }

    #[test]
    fn manage_refuses_every_command_with_exit_69() {
        struct Quiet;
        impl Daemon for Quiet {
            type Config = crate::config::NoConfig;
            async fn run(
                &mut self,
                _: &mut crate::context::DaemonContext<Self::Config>,
            ) -> crate::Result<crate::daemon::ExitReason> {
                Ok(crate::daemon::ExitReason::Graceful)
            }
        }
        let options = MainOptions { name: "demo", version: "1", description: "", mlock: crate::mlock::MlockMode::Off };
        let common = Common { platform: crate::cli::PlatformChoice::Native, ..Common::default() };
        for command in [Command::Install(InstallArgs::default()), Command::Status(StatusArgs::default())] {
            assert_eq!(manage::<Quiet>(options, &command, &common), Exit::Unavailable);
        }
    }

    #[test]
    fn install_prints_each_change_and_dry_run_prints_contents() {
        let fake = Fake::new(ServiceState::Running);
        let (exit, out, _) = run(&fake, &Command::Install(InstallArgs::default()), Some(0));
        assert_eq!(exit, Exit::Success);
        assert_eq!(out, "wrote /etc/systemd/system/demo.service\nran systemctl daemon-reload\n");
        let dry =
            InstallArgs { dry_run: true, level: LevelArgs { user: true, system: false }, ..InstallArgs::default() };
        let (_, out, _) = run(&fake, &Command::Install(dry), Some(0));
        assert_eq!(out, "would write /etc/systemd/system/demo.service:\n[Unit]\nwould run systemctl daemon-reload\n");
        assert_eq!(*fake.calls.borrow(), ["install demo system", "install demo user"]);
    }

    #[test]
    fn status_succeeds_only_when_running_and_speaks_json() {
        let (exit, out, _) =
            run(&Fake::new(ServiceState::Running), &Command::Status(StatusArgs::default()), Some(1000));
        assert_eq!((exit, out.as_str()), (Exit::Success, "demo on systemd: running (pid 42): ok\n"));
        let json = StatusArgs { json: true, ..StatusArgs::default() };
        let (exit, out, _) = run(&Fake::new(ServiceState::Stopped), &Command::Status(json), Some(1000));
        assert_eq!(exit, Exit::Unavailable);
        assert!(
            out.starts_with("{\"platform\":\"systemd\",\"level\":\"user\",\"state\":\"stopped\",\"pid\":42,"),
            "{out}"
        );
    }

    #[test]
    fn every_operation_reaches_the_backend_with_the_resolved_level() {
        let fake = Fake::new(ServiceState::Running);
        for command in [
            Command::Uninstall(LevelArgs::default()),
            Command::Start(LevelArgs::default()),
            Command::Stop(LevelArgs::default()),
            Command::Restart(LevelArgs::default()),
            Command::Reload(LevelArgs::default()),
            Command::Logs(LogsArgs { lines: Some(5), follow: true, ..LogsArgs::default() }),
        ] {
            assert_eq!(run(&fake, &command, Some(1000)).0, Exit::Success, "{command:?}");
        }
        assert_eq!(
            *fake.calls.borrow(),
            [
                "uninstall demo user",
                "start demo user",
                "stop demo user",
                "restart demo user",
                "reload demo user",
                "logs demo user"
            ]
        );
    }

    #[test]
    fn backend_errors_are_printed_with_the_command_and_set_the_exit() {
        let fake = Fake { fail: true, ..Fake::new(ServiceState::Running) };
        let (exit, out, err) = run(&fake, &Command::Start(LevelArgs::default()), Some(0));
        assert_eq!(exit, Exit::Unavailable);
        assert!(out.is_empty());
        assert_eq!(err, "demo: `start` failed: `systemctl` was not found on PATH; the systemd backend needs it\n");
        let (exit, _, err) = run(&fake, &Command::Check, Some(0));
        assert_eq!((exit, err.as_str()), (Exit::Usage, "demo: `check` is not a management command\n"));
    }
}
