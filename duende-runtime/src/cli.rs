//! The command line every duende binary has (DESIGN.md section 3).

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// The parsed command line.
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

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (the default).
    Run(RunArgs),
    /// Register this binary with the platform's service manager.
    Install(InstallArgs),
    /// Remove everything `install` created, and nothing else.
    Uninstall(LevelArgs),
    /// Start the installed service.
    Start(LevelArgs),
    /// Stop the installed service.
    Stop(LevelArgs),
    /// Restart the installed service.
    Restart(LevelArgs),
    /// Ask the running service to reload its configuration.
    Reload(LevelArgs),
    /// Show the service's state.
    Status(StatusArgs),
    /// Show the service's logs.
    Logs(LogsArgs),
    /// Print the effective configuration and where each value came from.
    Config,
    /// Validate the configuration and the environment, and explain each problem.
    Check,
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
            Command::Config => "config",
            Command::Check => "check",
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
}

/// `status` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct StatusArgs {
    /// Level.
    #[command(flatten)]
    pub level: LevelArgs,
    /// Print JSON.
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
    let mut command = Cli::command().name(name).bin_name(name).version(version);
    if !about.is_empty() {
        command = command.about(about);
    }
    let result = command.try_get_matches_from(args).and_then(|m| Cli::from_arg_matches(&m));
    match result {
        Ok(cli) => Parsed::Cli(cli),
        Err(err) => {
            let usage = err.use_stderr();
            Parsed::Exit { text: err.render().to_string(), code: if usage { 64 } else { 0 }, to_stderr: usage }
        }
    }
}

/// `args` (program name first) read as clap reads them, when they are a plain `run` line:
/// `[--config PATH] [--set KEY=VALUE]... [--platform NAME] [run [-- ARGS...]]`, the flags before
/// or after `run`, spelled `--flag value` or `--flag=value`. `None` for anything else, including
/// what clap would refuse (a repeated `--config`, an empty or hyphen-led value, an unknown
/// platform, a `--set` without the shape `key.path=value`), so that clap says why.
fn run_line(args: &[std::ffi::OsString]) -> Option<Cli> {
    let mut common = Common::default();
    let (mut config, mut platform, mut run) = (false, false, None::<RunArgs>);
    let mut sets_before_run = 0;
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
            sets_before_run = common.sets.len();
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
            // clap lets the `--set`s after `run` replace those before it: that case is clap's.
            "--set" if (run.is_none() || sets_before_run == 0) && set_flag(value).is_ok() => {
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

    /// clap's reading of `args`, whatever `parse` would take.
    fn by_clap(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
        Cli::command().name("demo").version("1").try_get_matches_from(args).and_then(|m| Cli::from_arg_matches(&m))
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
