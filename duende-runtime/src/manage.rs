//! The management commands (`install`, `uninstall`, `start`, `stop`, `restart`, `reload`,
//! `status`, `logs`): resolve the platform, find its backend, carry the command out through the
//! [engine](crate::platform::engine), and say what was observed. A platform without a backend is an error
//! (exit 69), never a pretend success.
//!
//! This is where the command line's words become the engine's: clap's flags turn into a
//! [`Level`], [`InstallOptions`], an [`Op`] or a [`LogQuery`] here and nowhere else.

use std::io::{self, Write};
use std::path::Path;

use crate::cli::{Command, Common, LevelArgs};
use crate::config::{self, Settings};
use crate::daemon::Daemon;
use crate::exit::Exit;
use crate::invocation::MainOptions;
use crate::platform::backend::{
    Backend, BackendError, Docs, InstallOptions, InstallRequest, Level, LogQuery, Op, Service,
};
use crate::platform::engine::{Action, Applied, Engine};
use crate::platform::host::Host;
use crate::platform::plan::Found;
use crate::platform::status::{Drift, ServiceState, ServiceStatus};
use crate::platform::{Detection, Platform, Unsupported, backend_for, resolve};

/// Carries out the management `command` for the daemon on the platform `--platform` names
/// (detected when `auto`). Commands that install or start the service first load and validate
/// the configuration: an invalid one exits 78 with nothing changed. `stop`, `status`, `logs` and
/// `uninstall` work whatever the configuration says, since that is when an operator needs them.
pub fn manage<D: Daemon>(options: MainOptions, command: &Command, common: &Common) -> Exit {
    let name = options.name;
    let host = Host::from_process();
    let (platform, detection) = resolve(common.platform, &host);
    let backend = backend_for(platform, &host);
    // Without a service manager, or with nothing installed natively (or nothing this user can
    // see), a daemon run in the foreground answers `status`, `reload` and `stop` itself, through
    // its control socket.
    #[cfg(unix)]
    {
        let unmanaged = match &backend {
            Err(_) => true,
            // In a container, the daemon is its own; the engine is outside.
            Ok(_) if platform == Platform::Container && detection.is_some() => foreground_command(command).is_some(),
            Ok(backend) => {
                platform == Platform::Native
                    && foreground_command(command).is_some_and(|level| {
                        let service = Service { name, level: Level::resolve(level.user, level.system, host.euid) };
                        !matches!(backend.found(&service), Ok(Found::Ours(_) | Found::Foreign(_)))
                    })
            }
        };
        if unmanaged
            && let Some(exit) = crate::control::command::without_backend(
                name,
                platform,
                &host,
                command,
                &mut io::stdout().lock(),
                &mut io::stderr().lock(),
            )
        {
            return exit;
        }
    }
    let backend = match backend {
        Ok(backend) => backend,
        Err(unsupported) => {
            eprintln!("{}", unsupported_message(name, command.name(), &unsupported, detection.as_ref()));
            return Exit::Unavailable;
        }
    };
    let sources = crate::invocation::sources(&options, common);
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
    let Some(binary) = host.this_binary.clone() else {
        eprintln!("{name}: cannot tell where this binary is");
        return Exit::OsError;
    };
    let overrides = sources.own_variables();
    let docs = crate::docs::for_install(&options);
    let context = Context {
        name,
        settings: settings.as_ref(),
        binary: &binary,
        config_file: common.config.as_deref(),
        sets: &common.sets,
        overrides: &overrides,
        docs: docs.as_ref(),
        live: true,
    };
    let stdout = io::stdout();
    let stderr = io::stderr();
    dispatch(backend.as_ref(), &Engine::default(), &context, command, &mut stdout.lock(), &mut stderr.lock())
}

/// The commands a daemon in the foreground answers itself, with their level.
fn foreground_command(command: &Command) -> Option<&LevelArgs> {
    match command {
        Command::Status(args) => Some(&args.level),
        Command::Reload(level) | Command::Stop(level) => Some(level),
        _ => None,
    }
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
    /// The completions and the man page `install` places (`None` without the `completions`
    /// feature).
    pub docs: Option<&'a Docs>,
    /// `status` asks the running daemon for its live state through its control socket.
    pub live: bool,
}

impl<'a> Context<'a> {
    fn request(&self, settings: &'a Settings<()>, options: InstallOptions) -> InstallRequest<'a> {
        InstallRequest {
            options,
            settings,
            binary: self.binary,
            config_file: self.config_file,
            sets: self.sets,
            overrides: self.overrides,
            docs: self.docs,
        }
    }
}

/// The error for a command on a platform without a backend, naming how the platform was chosen.
pub fn unsupported_message(
    name: &str,
    command: &str,
    unsupported: &Unsupported,
    detection: Option<&Detection>,
) -> String {
    let platform = unsupported.platform();
    let how = match detection {
        Some(detection) => format!("detected: {}", detection.evidence_line()),
        None => format!("chosen with `--platform {platform}`"),
    };
    format!("{name}: `{command}` cannot manage platform `{platform}` ({how}): {unsupported}")
}

/// The operation a command is, if it is one.
fn op_of(command: &Command) -> Option<(Op, &LevelArgs)> {
    match command {
        Command::Start(level) => Some((Op::Start, level)),
        Command::Stop(level) => Some((Op::Stop, level)),
        Command::Restart(level) => Some((Op::Restart, level)),
        Command::Reload(level) => Some((Op::Reload, level)),
        _ => None,
    }
}

/// Runs `command` against `backend` through `engine`, printing results to `out` and errors to
/// `err`.
pub fn dispatch(
    backend: &dyn Backend,
    engine: &Engine,
    context: &Context<'_>,
    command: &Command,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let name = context.name;
    let euid = backend.host().euid;
    let service = |level: &LevelArgs| Service { name, level: Level::resolve(level.user, level.system, euid) };
    let result = match command {
        Command::Install(args) => {
            let Some(settings) = context.settings else {
                let _ = writeln!(err, "{name}: `install` needs the validated configuration");
                return Exit::Config;
            };
            let options = InstallOptions {
                dry_run: args.dry_run,
                start_now: args.now,
                force: args.force,
                copy_binary: !args.in_place,
            };
            for (var, _) in context.overrides {
                // With `--json` standard output is the document alone.
                let notes: &mut dyn Write = if args.json { &mut *err } else { &mut *out };
                let _ = writeln!(notes, "note: the service gets {var} from this environment, as validated");
            }
            let request = context.request(settings, options);
            let service = service(&args.level);
            engine.install(backend, &service, &request).map(|applied| {
                if args.json {
                    let platform = backend.platform();
                    let _ = writeln!(out, "{}", crate::schema::changes(name, platform, service.level, &applied));
                    Exit::Success
                } else {
                    print_applied(&applied, out)
                }
            })
        }
        Command::Uninstall(level) => {
            engine.uninstall(backend, &service(level)).map(|applied| print_applied(&applied, out))
        }
        Command::Status(args) => {
            let service = service(&args.level);
            let request = context.settings.map(|settings| context.request(settings, InstallOptions::default()));
            engine.status(backend, &service, request.as_ref()).map(|status| {
                let live = live_status(backend, &service, context.live, err);
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
            })
        }
        Command::Logs(args) => {
            let query = LogQuery { lines: args.lines, follow: args.follow };
            backend.logs(&service(&args.level), query, out).map(|()| Exit::Success)
        }
        other => match op_of(other) {
            Some((op, level)) => engine.operate(backend, &service(level), op).map(|(action, status)| {
                if let Action::Do { done, .. } = &action {
                    let _ = writeln!(out, "{done}");
                }
                print_status(name, &status, out)
            }),
            None => {
                let _ = writeln!(err, "{name}: `{}` is not a management command", command.name());
                return Exit::Usage;
            }
        },
    };
    result.unwrap_or_else(|error: BackendError| {
        let (headline, fix) = error.headline_and_fix();
        let colour = crate::progress::colour();
        let prefix = format!("{name}: `{}` ", command.name());
        let _ = write!(err, "{}", crate::progress::error_lines(&prefix, &headline, fix.as_deref(), colour));
        error.exit()
    })
}

/// The daemon's own account of itself, through the control socket the backend says it has.
fn live_status(
    backend: &dyn Backend,
    service: &Service<'_>,
    wanted: bool,
    err: &mut dyn Write,
) -> Option<crate::control::protocol::StatusResult> {
    #[cfg(unix)]
    if wanted && let Some(socket) = backend.control_socket(service) {
        return crate::control::command::live_status(&socket, err);
    }
    if wanted && let Some(report) = backend.live_report(service) {
        return serde_json::from_str(&report).ok();
    }
    let _ = (backend, service, wanted, err);
    None
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
            Action::Do { planned, .. } if applied.dry_run => writeln!(out, "would {planned}"),
            Action::Do { done, .. } => writeln!(out, "{done}"),
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
    if let Some(next) = &status.next_restart {
        let _ = writeln!(out, "  next restart: {next}");
    }
    if status.drift.contains(&Drift::Interrupted) {
        let _ = writeln!(
            out,
            "{name}: an install was interrupted before it finished; run `{name} install` to put back what it changed \
             and install again"
        );
    }
    let drift: Vec<String> =
        status.drift.iter().filter(|kind| **kind != Drift::Interrupted).map(ToString::to_string).collect();
    if !drift.is_empty() {
        let _ = writeln!(
            out,
            "{name}: installed {} differs from what this binary would install; run `{name} install` to update",
            drift.join(", ")
        );
    }
    Exit::Success
}

#[cfg(test)]
mod tests;
