//! The command line every duende binary has (DESIGN.md section 3).

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// The parsed command line. (Its help text is the daemon's own, set by [`command`]: the daemon's
/// name, version and description, never this comment.)
#[derive(Debug, Parser)]
#[command(disable_help_subcommand = true, propagate_version = true)]
pub struct Cli {
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Common flags.
    #[command(flatten)]
    pub common: Common,
}

/// Flags every subcommand accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct Common {
    /// Read this configuration file (above the system or user file, below environment and --set).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Override one configuration value, e.g. `--set shutdown_timeout=5s` (repeatable; highest precedence).
    #[arg(long = "set", global = true, value_name = "KEY.PATH=VALUE", value_parser = set_flag)]
    pub sets: Vec<String>,
    /// The platform to manage; `auto` detects it.
    #[arg(long, global = true, value_enum, default_value_t = PlatformChoice::Auto)]
    pub platform: PlatformChoice,
    /// Show no progress of long steps (building an image or a VM bundle, waiting for the service
    /// to be ready); results and errors are still printed.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

/// One `--set` flag, refused as a usage error unless it has the shape `key.path=value` (its
/// value is checked with the rest of the configuration).
fn set_flag(flag: &str) -> Result<String, String> {
    crate::config::split_set(flag).map(|_| flag.to_owned())
}

/// `--platform` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum PlatformChoice {
    /// Detect the platform.
    #[default]
    Auto,
    /// systemd.
    Systemd,
    /// launchd (macOS).
    Launchd,
    /// docker or podman.
    Container,
    /// a pepita microVM.
    Pepita,
    /// WOS, the WebAssembly OS.
    Wos,
    /// no service manager: the binary supervises itself.
    Native,
    /// Kubernetes manifests, applied with kubectl where a cluster answers (never detected).
    Kubernetes,
    /// a docker swarm service (never detected).
    Swarm,
}

/// Subcommands. Each doc comment is the subcommand's help: its first paragraph the one-line
/// summary (`-h`, the command list), the rest what `--help` adds: what it changes and which
/// flags apply on which platforms.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (the default)
    ///
    /// Installs and changes nothing: the daemon runs attached to this terminal until it is asked
    /// to stop (Ctrl-C or SIGTERM) and re-reads its configuration on SIGHUP. Service managers
    /// start an installed service this way. Words after `--` are the daemon's own arguments.
    /// `--platform` is not used.
    Run(RunArgs),
    /// Register this binary with the platform's service manager
    ///
    /// Writes the service definition (systemd unit, launchd plist, native supervisor definition,
    /// container, pepita VM bundle, WOS manifest or Kubernetes manifests), a copy of this binary
    /// and the `--config` file, and enables the service. On systemd, launchd, native, pepita and
    /// wos it also places the shell completions and the man page. Installing twice changes
    /// nothing; a changed binary or configuration is updated and a running service restarted. A
    /// failure puts back every file it changed.
    ///
    /// `--user` or `--system` (every platform) chooses the per-user or the system service;
    /// `--in-place` (systemd, launchd, native, pepita, wos) runs this binary where it is;
    /// `--now` starts the service and waits until it is ready (kubernetes: where a cluster
    /// answers); `--dry-run` prints every file and command and changes nothing; `--json` prints
    /// what was (or would be) done as one JSON document.
    Install(InstallArgs),
    /// Remove everything `install` created, and nothing else
    ///
    /// Stops the service, then removes its definition, the files the install recorded (the
    /// binary copy, the installed configuration, the completions and the man page) and the
    /// directories it created, when empty. A data directory that holds files is kept, and said
    /// so. `--user` or `--system` (every platform) chooses which installation.
    Uninstall(LevelArgs),
    /// Start the installed service
    ///
    /// Returns once the service is observed ready, or fails with its last log lines. Changes no
    /// file. `--user` or `--system` (every platform) chooses which installation.
    Start(LevelArgs),
    /// Stop the installed service
    ///
    /// Returns once the service is observed stopped; it stays installed. Changes no file. With
    /// nothing installed (no service manager, or native), stops a daemon run in the foreground
    /// through its control socket. `--user` or `--system` chooses which installation.
    Stop(LevelArgs),
    /// Restart the installed service
    ///
    /// Stops it, starts it, and returns once it is observed ready again. Changes no file.
    /// `--user` or `--system` (every platform) chooses which installation.
    Restart(LevelArgs),
    /// Ask the running service to reload its configuration
    ///
    /// The daemon re-reads every configuration layer, validates it and swaps it in; an invalid
    /// one is refused and the running one kept. Changes no file. With nothing installed (no
    /// service manager, or native), reaches a daemon run in the foreground through its control
    /// socket. `--user` or `--system` chooses which installation.
    Reload(LevelArgs),
    /// Show the service's state
    ///
    /// What the service manager observes, the daemon's own report when it answers, and what
    /// differs from what this binary would install. Exits 0 only when the service runs, so it
    /// serves as a health command. Changes nothing. `--json` prints one JSON document (schema
    /// `duende.status.v1`); `--user` or `--system` chooses which installation.
    Status(StatusArgs),
    /// Show the service's logs
    ///
    /// From where the platform keeps them (the journal under systemd, the supervisor's log files
    /// natively, the container engine's log, ...). `-n N` shows the last N lines, `-f` keeps
    /// following. Changes nothing. `--user` or `--system` chooses which installation.
    Logs(LogsArgs),
    /// Print the effective configuration and where each value came from
    ///
    /// Reads every layer (built-in defaults, the system or user file, `--config`, `NAME_*`
    /// environment variables, `--set`), validates them, and prints each value with its source.
    /// Changes nothing; `--platform` is not used. `--json` prints one JSON document (schema
    /// `duende.config.v1`).
    Config(JsonArgs),
    /// Validate the configuration and the environment, and explain each problem
    ///
    /// Checks the configuration and what the platform (`--platform`, else the detected one)
    /// needs: the memory-lock limit, capabilities, paths, the service manager, linger for a user
    /// service. Says how to fix each problem. Changes nothing. `--json` prints one JSON document
    /// (schema `duende.check.v1`).
    Check(JsonArgs),
    /// Print a shell completion script
    ///
    /// For bash, zsh, fish, elvish or powershell, on standard output; load it from the shell's
    /// completion directory or its start-up file. `install` places the bash, zsh and fish
    /// scripts itself on systemd, launchd, native, pepita and wos. Changes nothing.
    Completions(CompletionsArgs),
    /// Print the man page
    ///
    /// In roff, on standard output (`man -l -` shows it). `install` places it itself on systemd,
    /// launchd, native, pepita and wos. Changes nothing.
    Man,
    /// The native supervisor (started by `start --platform native`, not by people).
    #[command(name = "__supervise", hide = true)]
    Supervise,
    /// A container engine's health check: exit 0 when the daemon answers on its control socket,
    /// is ready and not unhealthy, 1 otherwise (what `HEALTHCHECK` and Kubernetes' exec probes
    /// expect).
    #[command(name = "__healthcheck", hide = true)]
    Healthcheck,
    /// The pepita VM runner: boots the bundle in a directory and stands for its daemon on the
    /// host (what a service manager supervises for `--platform pepita`, not run by people).
    #[command(name = "__pepita-vm", hide = true)]
    PepitaVm(PepitaVmArgs),
    /// The WOS runner: runs the module a manifest names under the wasmtime engine and stands for
    /// its daemon on the host (what a service manager supervises for `--platform wos` where WOS
    /// is absent, not run by people).
    #[command(name = "__wos-run", hide = true)]
    WosRun(WosRunArgs),
}

impl Command {
    /// The subcommand's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::Install(_) => "install",
            Command::Uninstall(_) => "uninstall",
            Command::Start(_) => "start",
            Command::Stop(_) => "stop",
            Command::Restart(_) => "restart",
            Command::Reload(_) => "reload",
            Command::Status(_) => "status",
            Command::Logs(_) => "logs",
            Command::Config(_) => "config",
            Command::Check(_) => "check",
            Command::Completions(_) => "completions",
            Command::Man => "man",
            Command::Supervise => "__supervise",
            Command::Healthcheck => "__healthcheck",
            Command::PepitaVm(_) => "__pepita-vm",
            Command::WosRun(_) => "__wos-run",
        }
    }
}

/// `run` arguments.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Arguments for the daemon itself, after `--` (`ctx.args()`); the configuration's `args`
    /// are passed this way by service managers.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// `completions` arguments.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// bash (with the bash-completion package)
    Bash,
    /// zsh
    Zsh,
    /// fish
    Fish,
    /// elvish
    Elvish,
    /// PowerShell
    Powershell,
}

/// `__pepita-vm` arguments.
#[derive(Debug, Clone, Default, Args)]
pub struct PepitaVmArgs {
    /// The bundle directory: `initramfs` and `vm.json`.
    #[arg(long, value_name = "DIR")]
    pub bundle: PathBuf,
}

/// `__wos-run` arguments.
#[derive(Debug, Clone, Default, Args)]
pub struct WosRunArgs {
    /// The WOS process manifest.
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
}

/// `--user` / `--system`.
#[derive(Debug, Clone, Default, Args)]
pub struct LevelArgs {
    /// Manage the per-user service (the default when not root).
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// Manage the system service (the default as root).
    #[arg(long)]
    pub system: bool,
}

/// `install` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct InstallArgs {
    /// Level.
    #[command(flatten)]
    pub level: LevelArgs,
    /// Print every file and command, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Start the service and wait until it is ready.
    #[arg(long)]
    pub now: bool,
    /// Replace a service definition that duende did not write.
    #[arg(long)]
    pub force: bool,
    /// Use this binary where it is instead of copying it to a stable path.
    #[arg(long)]
    pub in_place: bool,
    /// Print what was done (or, with `--dry-run`, would be done) as JSON (schema
    /// `duende.changes.v1`).
    #[arg(long)]
    pub json: bool,
}

/// The `--json` flag of a reporting command.
#[derive(Debug, Clone, Default, Args)]
pub struct JsonArgs {
    /// Print JSON (schema `duende.config.v1` or `duende.check.v1`).
    #[arg(long)]
    pub json: bool,
}

/// `status` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct StatusArgs {
    /// Level.
    #[command(flatten)]
    pub level: LevelArgs,
    /// Print JSON (schema `duende.status.v1`).
    #[arg(long)]
    pub json: bool,
}

/// `logs` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct LogsArgs {
    /// Level.
    #[command(flatten)]
    pub level: LevelArgs,
    /// Keep following new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// How many recent lines to show.
    #[arg(short = 'n', long = "lines", value_name = "N", value_parser = line_count)]
    pub lines: Option<usize>,
}

/// `--lines N`: a whole number.
fn line_count(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| "expected a whole number of lines, such as `--lines 50`".to_owned())
}

/// What parsing the command line decided.
#[derive(Debug)]
pub enum Parsed {
    /// A command to carry out.
    Cli(Cli),
    /// `--help`, `--version`, or a usage error: print `text`, exit with `code`.
    Exit {
        /// What to print.
        text: String,
        /// 0 for help and version, 64 for a usage error.
        code: u8,
        /// Print on stderr rather than stdout.
        to_stderr: bool,
    },
}

/// What `--help` opens with when the daemon's package has no `description`.
pub(crate) const NO_DESCRIPTION: &str =
    "A daemon built with duende: it runs in the foreground, or installs itself as a service.";

/// The top-level help: name and version, the description, then clap's usual parts.
const HELP_TEMPLATE: &str = "{name} {version}\n{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}";

/// The command line of the daemon `name` at `version` (its Cargo package's, as the macro captured
/// them), described by `description` (the package's `description`; a line of duende's when it is
/// empty). What `--help`, `--version`, the completion scripts and the man page are made from.
pub fn command(name: &'static str, version: &'static str, description: &'static str) -> clap::Command {
    dressed(Cli::command(), name, version, description)
}

/// [`command`] without its hidden subcommands (those service managers run, not people): what the
/// completion scripts and the man page describe. clap_complete would offer hidden subcommands,
/// and clap cannot remove one, so the tree is put together again from the same parts.
pub fn public_command(name: &'static str, version: &'static str, description: &'static str) -> clap::Command {
    let full = Cli::command();
    let public = clap::Command::new(name)
        .disable_help_subcommand(full.is_disable_help_subcommand_set())
        .propagate_version(full.is_propagate_version_set())
        .args(full.get_arguments().cloned())
        .groups(full.get_groups().cloned())
        .subcommands(full.get_subcommands().filter(|sub| !sub.is_hide_set()).cloned());
    dressed(public, name, version, description)
}

/// `command` with the daemon's name, version and description, and duende's help layout.
fn dressed(
    command: clap::Command,
    name: &'static str,
    version: &'static str,
    description: &'static str,
) -> clap::Command {
    let about = if description.trim().is_empty() { NO_DESCRIPTION } else { description.trim() };
    command
        // `config` and `check` share their flag's type; each help names its own schema (in place:
        // `mut_subcommand` would move them to the end of the list).
        .mut_subcommands(|sub| match sub.get_name() {
            "config" => sub.mut_arg("json", |arg| arg.help("Print JSON (schema `duende.config.v1`)")),
            "check" => sub.mut_arg("json", |arg| arg.help("Print JSON (schema `duende.check.v1`)")),
            _ => sub,
        })
        .name(name)
        .bin_name(name)
        .display_name(name)
        .version(version)
        .about(about)
        .long_about(None::<&str>)
        .help_template(HELP_TEMPLATE)
        .max_term_width(100)
        .after_help(format!("`{name} COMMAND --help` says what a command changes and which flags apply where."))
}

/// Parses `args` (including the program name) for the daemon `name`.
pub fn parse<I, T>(name: &'static str, version: &'static str, about: &'static str, args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<T> = args.into_iter().collect();
    // The lines service managers start daemons with are read here without clap: building its
    // whole command tree gives the same answer at the cost of touching all of its code at every
    // start. Anything else (other commands, help, every error) goes to clap.
    let words: Vec<std::ffi::OsString> = args.iter().cloned().map(Into::into).collect();
    if let Some(cli) = run_line(&words) {
        return Parsed::Cli(cli);
    }
    let result = command(name, version, about)
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map(|cli| every_set(cli, &words));
    match result {
        Ok(cli) => Parsed::Cli(cli),
        Err(err) => {
            let usage = err.use_stderr();
            Parsed::Exit { text: err.render().to_string(), code: if usage { 64 } else { 0 }, to_stderr: usage }
        }
    }
}

/// `cli` as clap read `words` (program name first), with every `--set` in the order given: clap
/// keeps only those after the subcommand when there are some on both sides of it (`--set a=1 run
/// --set b=2` would lose `a=1`). Each was already checked by clap; `--` ends the flags.
fn every_set(mut cli: Cli, words: &[std::ffi::OsString]) -> Cli {
    let mut sets = Vec::new();
    let mut words = words.iter().skip(1).map(|word| word.to_string_lossy());
    while let Some(word) = words.next() {
        match word.as_ref() {
            "--" => break,
            "--set" => sets.extend(words.next().map(|value| value.into_owned())),
            other => sets.extend(other.strip_prefix("--set=").map(str::to_owned)),
        }
    }
    cli.common.sets = sets;
    cli
}

/// `args` (program name first) read as clap reads them, when they are a plain `run` line:
/// `[--config PATH] [--set KEY=VALUE]... [--platform NAME] [run [-- ARGS...]]`, the flags before
/// or after `run`, spelled `--flag value` or `--flag=value`. `None` for anything else, including
/// what clap would refuse (a repeated `--config`, an empty or hyphen-led value, an unknown
/// platform, a `--set` without the shape `key.path=value`), so that clap says why.
fn run_line(args: &[std::ffi::OsString]) -> Option<Cli> {
    let mut common = Common::default();
    let (mut config, mut platform, mut run) = (false, false, None::<RunArgs>);
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        let word = word.to_str()?;
        if word == "--" {
            let run = run.as_mut()?;
            run.args = words.map(|w| w.to_str().map(str::to_owned)).collect::<Option<_>>()?;
            break;
        }
        if word == "run" && run.is_none() {
            run = Some(RunArgs::default());
            continue;
        }
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
            _ => (word, None),
        };
        let value = match inline {
            Some(value) => value,
            None if matches!(flag, "--config" | "--set" | "--platform") => words.next()?.to_str()?,
            None => return None,
        };
        if value.is_empty() || value.starts_with('-') {
            return None;
        }
        match flag {
            "--config" if !config => {
                config = true;
                common.config = Some(PathBuf::from(value));
            }
            "--set" if set_flag(value).is_ok() => {
                common.sets.push(value.to_owned());
            }
            "--platform" if !platform => {
                platform = true;
                common.platform = PlatformChoice::from_str(value, false).ok()?;
            }
            _ => return None,
        }
    }
    Some(Cli { command: run.map(Command::Run), common })
}

/// True when `args` (program name first) would run the daemon: no subcommand or `run`, and no
/// `--help`/`--version`. Used to decide whether to lock memory before parsing anything.
pub fn is_run(args: &[std::ffi::OsString]) -> bool {
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    let mut expect_value = false;
    for word in words.by_ref() {
        if expect_value {
            expect_value = false;
            continue;
        }
        match word.as_ref() {
            "-h" | "--help" | "-V" | "--version" => return false,
            "--config" | "--set" | "--platform" => expect_value = true,
            w if w.starts_with('-') => {}
            w => return w == "run",
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Cli {
        match parse("demo", "1.0.0", "", args) {
            Parsed::Cli(cli) => cli,
            Parsed::Exit { text, .. } => panic!("unexpected exit: {text}"),
        }
    }

    #[test]
    fn no_subcommand_means_run_and_flags_are_global() {
        let cli = parse_ok(&["demo", "--config", "/x.toml", "--set", "a.b=1", "--set", "c=2"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.common.config.as_deref(), Some(std::path::Path::new("/x.toml")));
        assert_eq!(cli.common.sets, ["a.b=1", "c=2"]);
        let cli = parse_ok(&["demo", "install", "--platform", "systemd", "--now", "--dry-run"]);
        let Some(Command::Install(args)) = cli.command else { panic!("not install") };
        assert!(args.now && args.dry_run && !args.force);
        assert_eq!(cli.common.platform, PlatformChoice::Systemd);
    }

    #[test]
    fn run_takes_the_daemons_own_arguments_after_a_double_dash() {
        let cli = parse_ok(&["demo", "run", "--config", "/c.toml", "--", "--set=x", "plain", "--"]);
        let Some(Command::Run(run)) = cli.command else { panic!("not run") };
        assert_eq!(run.args, ["--set=x", "plain", "--"]);
        assert_eq!(cli.common.config.as_deref(), Some(std::path::Path::new("/c.toml")));
        let Parsed::Exit { code, .. } = parse("demo", "1", "", ["demo", "run", "stray"]) else { panic!() };
        assert_eq!(code, 64, "arguments for the daemon need `--`");
    }

    #[test]
    fn usage_errors_exit_64_help_exits_0() {
        let Parsed::Exit { code, text, to_stderr } = parse("demo", "1", "", ["demo", "instal"]) else { panic!() };
        assert_eq!(code, 64);
        assert!(to_stderr);
        assert!(text.contains("install"), "suggests the right subcommand: {text}");
        let Parsed::Exit { code, text, .. } = parse("demo", "1", "", ["demo", "--platform", "sytemd"]) else {
            panic!()
        };
        assert_eq!(code, 64);
        assert!(text.contains("systemd") && text.contains("launchd") && text.contains("native"), "{text}");
        let Parsed::Exit { code, text, .. } = parse("demo", "1.2.3", "", ["demo", "--version"]) else { panic!() };
        assert_eq!(code, 0);
        assert!(text.contains("demo 1.2.3"));
        let Parsed::Exit { code, .. } = parse("demo", "1", "", ["demo", "status", "--user", "--system"]) else {
            panic!()
        };
        assert_eq!(code, 64);
    }

    #[test]
    fn a_set_flag_without_the_shape_key_path_value_is_a_usage_error() {
        let fix = "expected `--set key.path=value`, such as `--set resources.lock_memory=true`";
        let segments = "keys are names of letters, digits, `_` and `-` joined by `.`";
        for (args, says) in [
            (
                &["demo", "--set", "shutdown_timeout"][..],
                format!("'shutdown_timeout' for '--set <KEY.PATH=VALUE>': no `=`; {fix}"),
            ),
            (&["demo", "run", "--set=a..b=1"], format!("the key `a..b` has an empty segment; {segments}")),
            (
                &["demo", "config", "--set", "=5s"],
                format!("'=5s' for '--set <KEY.PATH=VALUE>': the key is empty; {fix}"),
            ),
            (&["demo", "status", "--set", "a b=1"], format!("the key `a b` has the segment `a b`; {segments}")),
        ] {
            let Parsed::Exit { code, text, to_stderr } = parse("demo", "1", "", args) else { panic!("{args:?}") };
            assert_eq!((code, to_stderr), (64, true), "{args:?}: {text}");
            assert!(text.contains(&says), "{args:?}: {text}");
        }
        // The shape is the command line's business; the value is the configuration's.
        assert_eq!(parse_ok(&["demo", "--set", "shutdown_timeout=0s"]).common.sets, ["shutdown_timeout=0s"]);
    }

    #[test]
    fn no_arguments_is_run_with_clap_defaults() {
        let fast = parse_ok(&["demo"]);
        let full =
            match Cli::command().version("1").try_get_matches_from(["demo"]).and_then(|m| Cli::from_arg_matches(&m)) {
                Ok(cli) => cli,
                Err(err) => panic!("{err}"),
            };
        assert!(fast.command.is_none() && full.command.is_none());
        assert_eq!(fast.common.config, full.common.config);
        assert_eq!(fast.common.sets, full.common.sets);
        assert_eq!(fast.common.platform, full.common.platform);
    }

    /// clap's reading of `args` (with every `--set` kept, as `parse` keeps them), whatever the
    /// fast path would take.
    fn by_clap(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
        Cli::command()
            .name("demo")
            .version("1")
            .try_get_matches_from(args)
            .and_then(|m| Cli::from_arg_matches(&m))
            .map(|cli| every_set(cli, args))
    }

    #[test]
    fn sets_before_and_after_run_all_count_in_order() {
        for line in [
            &["demo", "--set", "a=1", "run", "--set", "b=2"][..],
            &["demo", "--set=a=1", "run", "--set=b=2", "--", "--set=c=3"],
            &["demo", "--set", "a=1", "--config", "/c.toml", "run", "--set", "b=2", "--platform", "native"],
        ] {
            assert_eq!(parse_ok(line).common.sets, ["a=1", "b=2"], "{line:?}");
        }
        // clap alone drops those before the subcommand: the reason for `every_set`.
        let os: Vec<std::ffi::OsString> = ["demo", "--set", "a=1", "run", "--set", "b=2"].map(Into::into).to_vec();
        let Ok(raw) = Cli::command().version("1").try_get_matches_from(&os).and_then(|m| Cli::from_arg_matches(&m))
        else {
            panic!()
        };
        assert_eq!(raw.common.sets, ["b=2"]);
        // Every subcommand, not only `run`; and the daemon's own arguments after `--` are not flags.
        let cli = parse_ok(&["demo", "--set", "a=1", "config", "--set", "b=2", "--set=c=3"]);
        assert_eq!(cli.common.sets, ["a=1", "b=2", "c=3"]);
        let cli = parse_ok(&["demo", "--set", "a=1", "run", "--", "--set", "x=1"]);
        assert_eq!(cli.common.sets, ["a=1"]);
        let Some(Command::Run(run)) = cli.command else { panic!("not run") };
        assert_eq!(run.args, ["--set", "x=1"]);
    }

    #[test]
    fn a_run_line_read_without_clap_is_read_as_clap_reads_it() {
        const WORDS: [&str; 21] = [
            "run",
            "--config",
            "/c.toml",
            "--config=/d.toml",
            "--set",
            "a.b=1",
            "--set=c=2",
            "--platform",
            "systemd",
            "--platform=native",
            "--",
            "x",
            "-x",
            "",
            "--config=",
            "Systemd",
            "--help",
            "status",
            "-",
            "--set=",
            "--set=a..b=1",
        ];
        let mut lines: Vec<Vec<&str>> = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<&str>> =
                lines.iter().flat_map(|line| WORDS.iter().map(move |w| [line.as_slice(), &[*w]].concat())).collect();
            lines.extend(longer);
        }
        lines.dedup();
        let mut fast = 0;
        for line in &lines {
            let args: Vec<std::ffi::OsString> =
                std::iter::once("demo").chain(line.iter().copied()).map(Into::into).collect();
            let Some(ours) = run_line(&args) else { continue };
            fast += 1;
            match by_clap(&args) {
                Ok(theirs) => assert_eq!(format!("{ours:?}"), format!("{theirs:?}"), "{line:?}"),
                Err(err) => panic!("{line:?}: read as {ours:?}, but clap refuses it: {err}"),
            }
        }
        // The lines managers use all take this path (a refusal above would have failed already).
        for line in [
            &["--config", "/etc/demo/demo.toml", "run"][..],
            &["--config", "/etc/demo/demo.toml", "--set", "a=1", "run", "--", "--fast"],
            &["run", "--config=/c.toml", "--set=a=1", "--set=b=2"],
            &["--platform", "pepita", "--set", "x=y"],
        ] {
            let args: Vec<std::ffi::OsString> =
                std::iter::once("demo").chain(line.iter().copied()).map(Into::into).collect();
            assert!(run_line(&args).is_some(), "{line:?} goes to clap");
        }
        assert!(fast > 100, "only {fast} of {} lines took the fast path", lines.len());
    }

    #[test]
    fn is_run_looks_past_global_flags() {
        let os = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(is_run(&os(&["d"])));
        assert!(is_run(&os(&["d", "run"])));
        assert!(is_run(&os(&["d", "--config", "install", "run"])));
        assert!(!is_run(&os(&["d", "--config", "x", "check"])));
        assert!(!is_run(&os(&["d", "--help"])));
        assert!(!is_run(&os(&["d", "status"])));
    }
}
