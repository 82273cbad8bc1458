//! `my-daemon check`: validates the configuration and the environment, and explains each
//! problem with its fix.
//!
//! [`gather`] reads the host once into [`Facts`]; [`report`] is a pure function from facts to
//! findings, each marked ok, warn or problem. Exit status: 0 when there is no problem (warnings
//! are allowed), 78 when the configuration is invalid, 71 when the environment has a problem.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::cli::Common;
use crate::config;
use crate::daemon::Daemon;
use crate::exit::Exit;
use crate::invocation::MainOptions;
use crate::mlock::{self, Forecast, MlockMode, Probe};
#[cfg(unix)]
use crate::notify::Notifier;
#[cfg(unix)]
use crate::platform::EnvView;
pub use crate::platform::finding::{Finding, Mark};
use crate::platform::{Detection, Host, Level, Platform, backend_for, resolve};

mod wasi;

/// Runs `check` for the daemon `D`: prints the report (as JSON with `json`) to stdout and
/// returns its exit status.
pub fn run<D: Daemon>(options: MainOptions, common: &Common, json: bool) -> Exit {
    let facts = gather::<D>(&options, common, &Host::from_process());
    let report = report(options.name, &facts);
    if json {
        println!("{}", report.json(options.name, &facts));
    } else {
        print!("{}", report.render(options.name));
    }
    report.exit
}

/// What the configuration says about the environment checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFacts {
    /// `resources.lock_memory`.
    pub lock_memory: bool,
    /// `resources.lock_memory_required`.
    pub lock_memory_required: bool,
    /// `binary_path`, and what is at it.
    pub binary: Option<(PathBuf, BinaryState)>,
    /// `metrics.listen` when `[metrics] enabled = true`, and whether it could be bound just now.
    pub metrics: Option<(SocketAddr, Result<(), String>)>,
    /// On the pepita platform: what `platform.pepita.kernel` is, or why it cannot boot a guest.
    pub pepita_kernel: Option<KernelFacts>,
}

/// `platform.pepita.kernel` as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFacts {
    /// Whether the key is set at all (unset is a configuration problem, a bad file an
    /// environment one).
    pub set: bool,
    /// What the kernel is, or why no guest can boot with it.
    pub found: Result<String, String>,
}

/// The control channel as found from this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFacts {
    /// The socket `run` would listen on (and management commands talk to).
    pub socket: PathBuf,
    /// The pid of a daemon answering there, `None` when none does, or why it could not be told.
    pub running: Result<Option<u32>, String>,
}

/// What is at `binary_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryState {
    /// The path is relative.
    Relative,
    /// Nothing is there.
    Missing,
    /// Something that is not a regular file.
    NotAFile,
    /// A file without execute permission.
    NotExecutable,
    /// An executable file.
    Executable,
}

/// `NOTIFY_SOCKET` as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyFacts {
    /// The variable's value.
    pub value: String,
    /// Why the notifier refused it, if it did.
    pub error: Option<String>,
    /// A path socket that does not exist.
    pub path_missing: bool,
}

/// An invalid configuration, as `check` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigTrouble {
    /// The error's text: every problem.
    pub text: String,
    /// Where to correct each problem (the file and line to edit and what to write there, the
    /// variable or the flag), one a line; empty when no problem says.
    pub fixes: Vec<String>,
}

impl From<config::ConfigError> for ConfigTrouble {
    fn from(error: config::ConfigError) -> ConfigTrouble {
        let fixes = error.problems().iter().filter_map(|problem| problem.fix.clone()).collect();
        ConfigTrouble { text: error.to_string(), fixes }
    }
}

/// Everything `check` looks at, read once from the host.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The loaded configuration's relevant values, or what is wrong with it.
    pub config: Result<ConfigFacts, ConfigTrouble>,
    /// `#[duende::main(mlock = ...)]`.
    pub macro_mlock: MlockMode,
    /// The platform.
    pub platform: Platform,
    /// How it was detected; `None` when `--platform` named it.
    pub detection: Option<Detection>,
    /// What the platform's backend found (its part of the report), or why there is none.
    pub manager: Result<Vec<Finding>, String>,
    /// `RLIMIT_MEMLOCK` and `CAP_IPC_LOCK`, or why they could not be read.
    pub memlock: Result<Probe, String>,
    /// `NOTIFY_SOCKET`, when set.
    pub notify: Option<NotifyFacts>,
    /// This binary, for when `binary_path` is not set.
    pub this_binary: Option<PathBuf>,
    /// The control socket; `None` in a WASI module, whose control channel is its standard input
    /// and output.
    pub control: Option<ControlFacts>,
    /// This is a WASI module (wasm32-wasip1, WOS): signals, threads, sockets and memory locking
    /// are not there, and the report says what that changes.
    pub wasi: bool,
}

/// Reads every fact `check` needs: the configuration for `D`, and `host`.
pub fn gather<D: Daemon>(options: &MainOptions, common: &Common, host: &Host) -> Facts {
    let (platform, detection) = resolve(common.platform, host);
    let config = config::load::<D::Config>(&crate::invocation::sources(options, common), D::validate)
        .map(|loaded| ConfigFacts {
            lock_memory: loaded.settings.resources.lock_memory,
            lock_memory_required: loaded.settings.resources.lock_memory_required,
            binary: loaded.settings.binary_path.map(|path| {
                let state = binary_state(&path);
                (path, state)
            }),
            metrics: loaded.settings.metrics.enabled.then(|| {
                let listen = loaded.settings.metrics.listen;
                (listen, std::net::TcpListener::bind(listen).map(drop).map_err(|err| err.to_string()))
            }),
            #[cfg(all(unix, feature = "pepita"))]
            pepita_kernel: (platform == Platform::Pepita).then(|| {
                let kernel = loaded.settings.platform.pepita.kernel.as_deref();
                KernelFacts {
                    set: kernel.is_some(),
                    found: crate::platform::pepita::check_kernel(host, kernel).map_err(|err| err.to_string()),
                }
            }),
            #[cfg(not(all(unix, feature = "pepita")))]
            pepita_kernel: None,
        })
        .map_err(ConfigTrouble::from);
    #[cfg(unix)]
    let notify = host.var("NOTIFY_SOCKET").filter(|v| !v.is_empty()).map(|value| NotifyFacts {
        error: Notifier::from_socket_var(Some(&value)).err().map(|err| err.to_string()),
        path_missing: value.starts_with('/') && !host.exists(Path::new(&value)),
        value,
    });
    // A WASI module reports readiness on standard output whatever NOTIFY_SOCKET says.
    #[cfg(not(unix))]
    let notify = None;
    let level = Level::resolve(false, false, host.euid);
    Facts {
        config,
        macro_mlock: options.mlock,
        platform,
        detection,
        manager: backend_for(platform, host).map(|backend| backend.diagnose(level)).map_err(|err| err.to_string()),
        memlock: mlock::probe().map_err(|err| err.to_string()),
        notify,
        this_binary: host.this_binary.clone(),
        #[cfg(unix)]
        control: Some(control_facts(options.name, host)),
        #[cfg(not(unix))]
        control: None,
        wasi: cfg!(target_os = "wasi"),
    }
}

#[cfg(unix)]
fn control_facts(name: &str, host: &Host) -> ControlFacts {
    use crate::control::client::{ClientError, call};
    use crate::control::command::block_on;
    use crate::control::protocol::{Op, StatusResult};
    let socket = crate::control::socket_in(&host.runtime_dir(name));
    let timeout = std::time::Duration::from_secs(2);
    let running = match block_on(&socket, call::<StatusResult>(&socket, Op::Status, timeout)) {
        Ok(status) => Ok(Some(status.pid)),
        Err(ClientError::NotRunning { .. }) => Ok(None),
        Err(err) => Err(err.to_string()),
    };
    ControlFacts { socket, running }
}

fn binary_state(path: &Path) -> BinaryState {
    if !path.is_absolute() {
        return BinaryState::Relative;
    }
    match std::fs::metadata(path) {
        Err(_) => BinaryState::Missing,
        Ok(meta) if !meta.is_file() => BinaryState::NotAFile,
        Ok(meta) if is_executable(&meta) => BinaryState::Executable,
        Ok(_) => BinaryState::NotExecutable,
    }
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    true
}

/// The whole report and the exit status it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every finding, grouped by section in order.
    pub findings: Vec<Finding>,
    /// 0, 78 or 71.
    pub exit: Exit,
}

impl Report {
    /// Findings marked `mark`.
    pub fn count(&self, mark: Mark) -> usize {
        self.findings.iter().filter(|f| f.mark == mark).count()
    }

    /// The report as text: a heading per section, one marked line per finding, the fix under it.
    pub fn render(&self, name: &str) -> String {
        let mut out = format!("{name} check\n");
        let mut section = "";
        for finding in &self.findings {
            if finding.section != section {
                section = finding.section;
                let _ = writeln!(out, "\n{section}");
            }
            let _ = writeln!(out, "  {:<8} {}", finding.mark.label(), indent(&finding.text));
            if let Some(fix) = &finding.fix {
                let _ = writeln!(out, "  {:<8} fix: {}", "", indent(fix));
            }
        }
        let (problems, warnings) = (self.count(Mark::Problem), self.count(Mark::Warn));
        let _ =
            writeln!(out, "\n{problems} {}, {warnings} {}", plural(problems, "problem"), plural(warnings, "warning"));
        out
    }

    /// The report as the `check --json` document (schema `duende.check.v1`).
    pub fn json(&self, name: &str, facts: &Facts) -> serde_json::Value {
        let findings: Vec<serde_json::Value> = self
            .findings
            .iter()
            .map(|finding| {
                serde_json::json!({
                    "section": finding.section,
                    "mark": finding.mark.label(),
                    "text": finding.text,
                    "fix": finding.fix,
                })
            })
            .collect();
        serde_json::json!({
            "schema": crate::schema::CHECK,
            "name": name,
            "platform": facts.platform,
            "detected": facts.detection.as_ref().map(|detection| &detection.evidence),
            "problems": self.count(Mark::Problem),
            "warnings": self.count(Mark::Warn),
            "exit": self.exit.code(),
            "findings": findings,
        })
    }
}

fn indent(text: &str) -> String {
    text.trim_end().replace('\n', "\n           ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { word.to_owned() } else { format!("{word}s") }
}

/// Collects findings section by section.
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, section: &'static str, mark: Mark, text: impl Into<String>, fix: Option<String>) {
        self.0.push(Finding { section, mark, text: text.into(), fix, in_config: false });
    }

    fn add_config(&mut self, mark: Mark, text: impl Into<String>, fix: Option<String>) {
        self.0.push(Finding { section: "configuration", mark, text: text.into(), fix, in_config: true });
    }
}

/// Judges `facts` for the daemon `name`.
pub fn report(name: &str, facts: &Facts) -> Report {
    let mut findings = Findings(Vec::new());
    configuration(name, facts, &mut findings);
    platform(facts, &mut findings);
    memory_locking(facts, &mut findings);
    if let Ok(manager) = &facts.manager {
        findings.0.extend(manager.iter().cloned());
    }
    if facts.wasi {
        wasi::report(facts, &mut findings);
    } else {
        notify_socket(facts, &mut findings);
        channels(facts, &mut findings);
    }
    let findings = findings.0;
    let exit = if findings.iter().any(|f| f.mark == Mark::Problem && f.in_config) {
        Exit::Config
    } else if findings.iter().any(|f| f.mark == Mark::Problem) {
        Exit::OsError
    } else {
        Exit::Success
    };
    Report { findings, exit }
}

fn configuration(name: &str, facts: &Facts, findings: &mut Findings) {
    let config = match &facts.config {
        Ok(config) => config,
        Err(trouble) => {
            let mut fix = trouble.fixes.join("\n");
            if !fix.is_empty() {
                fix.push('\n');
            }
            fix.push_str(&format!("`{name} config` shows every value and where it comes from"));
            findings.add_config(Mark::Problem, trouble.text.clone(), Some(fix));
            return;
        }
    };
    findings.add_config(Mark::Ok, "configuration is valid", None);
    if let Some(kernel) = &config.pepita_kernel {
        let fix = || Some("set `platform.pepita.kernel` to a guest kernel with its modules beside it".to_owned());
        match &kernel.found {
            Ok(found) => findings.add_config(Mark::Ok, found.clone(), None),
            Err(why) if !kernel.set => findings.add_config(Mark::Problem, why.clone(), fix()),
            Err(why) => findings.add("configuration", Mark::Problem, why.clone(), fix()),
        }
    }
    let this = facts.this_binary.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default();
    let Some((path, state)) = &config.binary else {
        findings.add_config(Mark::Ok, format!("binary_path is not set: `install` uses this binary{this}"), None);
        return;
    };
    let path = path.display();
    let (text, fix) = match state {
        BinaryState::Executable => {
            findings.add_config(Mark::Ok, format!("binary_path `{path}` is an executable file"), None);
            return;
        }
        BinaryState::Relative => {
            let text = format!("binary_path `{path}` is not absolute");
            findings.add_config(
                Mark::Problem,
                text,
                Some(format!("set an absolute path such as `/usr/local/bin/{name}`")),
            );
            return;
        }
        BinaryState::Missing => (
            format!("binary_path `{path}` does not exist"),
            format!("copy the binary to `{path}`, or unset binary_path"),
        ),
        BinaryState::NotAFile => (
            format!("binary_path `{path}` is not a regular file"),
            "point binary_path at the daemon's executable".to_owned(),
        ),
        BinaryState::NotExecutable => (format!("binary_path `{path}` is not executable"), format!("`chmod +x {path}`")),
    };
    findings.add("configuration", Mark::Problem, text, Some(fix));
}

fn platform(facts: &Facts, findings: &mut Findings) {
    let platform = facts.platform;
    let how = match &facts.detection {
        Some(detection) => format!("detected: {}", detection.evidence_line()),
        None => format!("chosen with `--platform {platform}`"),
    };
    findings.add("platform", Mark::Ok, format!("{platform} ({how})"), None);
    if let Err(missing) = &facts.manager
        && !facts.wasi
    {
        findings.add(
            "platform",
            Mark::Warn,
            format!(
                "`install`, `uninstall`, `start`, `restart` and `logs` exit 69: {missing}; `status`, `reload` and \
                 `stop` work through the control socket of a daemon run in the foreground"
            ),
            Some("run the daemon in the foreground (`run`) under a manager configured by hand".to_owned()),
        );
    }
}

fn memory_locking(facts: &Facts, findings: &mut Findings) {
    const SECTION: &str = "memory locking";
    let config = facts.config.as_ref().ok();
    let mut askers = Vec::new();
    match facts.macro_mlock {
        MlockMode::Off => {}
        MlockMode::BestEffort => askers.push("`mlock = \"best-effort\"`"),
        MlockMode::Required => askers.push("`mlock = \"required\"`"),
    }
    if config.is_some_and(|c| c.lock_memory_required) {
        askers.push("`resources.lock_memory_required`");
    } else if config.is_some_and(|c| c.lock_memory) {
        askers.push("`resources.lock_memory`");
    }
    let required = facts.macro_mlock == MlockMode::Required || config.is_some_and(|c| c.lock_memory_required);
    let askers = askers.join(" and ");
    let probe = match &facts.memlock {
        Ok(probe) => probe,
        Err(err) if askers.is_empty() => {
            findings.add(
                SECTION,
                Mark::Ok,
                format!("memory locking is not requested (and not available here: {err})"),
                None,
            );
            return;
        }
        Err(err) => {
            let mark = if required { Mark::Problem } else { Mark::Warn };
            findings.add(SECTION, mark, format!("{askers} asks for memory locking, but {err}"), None);
            return;
        }
    };
    let cap = if probe.cap_ipc_lock { "present" } else { "absent" };
    findings.add(
        SECTION,
        Mark::Ok,
        format!("RLIMIT_MEMLOCK is {} (hard {}); CAP_IPC_LOCK is {cap}", probe.soft, probe.hard),
        None,
    );
    if askers.is_empty() {
        let text = "memory locking is not requested (`mlock` is off, `resources.lock_memory` is false)";
        findings.add(SECTION, Mark::Ok, text, None);
        return;
    }
    let plan = probe.plan();
    match probe.forecast() {
        Forecast::Capable | Forecast::Unlimited => {
            findings.add(SECTION, Mark::Ok, format!("{askers} will lock memory: {plan}"), None);
        }
        Forecast::Capped(_) | Forecast::Refused => {
            let (mark, consequence) = if required {
                (Mark::Problem, "locking is required, so `run` exits with status 71 when it fails")
            } else {
                (Mark::Warn, "locking is best effort, so `run` goes on unlocked when it fails")
            };
            let fix = format!("{}; `check` sees this shell's limits, a service manager applies its own", mlock::FIXES);
            findings.add(SECTION, mark, format!("{askers}: {plan}; {consequence}"), Some(fix));
        }
    }
}

/// The control socket and the metrics listener: what `run` will open, and whether it can.
fn channels(facts: &Facts, findings: &mut Findings) {
    const SECTION: &str = "channels";
    let Some(control) = &facts.control else { return };
    let socket = control.socket.display();
    let running = match &control.running {
        Ok(Some(pid)) => {
            findings.add(
                SECTION,
                Mark::Warn,
                format!("a daemon (pid {pid}) already answers on the control socket `{socket}`: a second `run` with this runtime directory exits 69"),
                Some("stop it first, or give the second instance its own RUNTIME_DIRECTORY".to_owned()),
            );
            Some(*pid)
        }
        Ok(None) => {
            findings.add(SECTION, Mark::Ok, format!("control socket: `{socket}` (no daemon answers there now)"), None);
            None
        }
        Err(err) => {
            findings.add(
                SECTION,
                Mark::Warn,
                format!("cannot tell whether a daemon answers on `{socket}`: {err}"),
                Some("run `check` as the daemon's user or as root".to_owned()),
            );
            None
        }
    };
    let Ok(config) = &facts.config else { return };
    match (&config.metrics, running) {
        (None, _) => findings.add(SECTION, Mark::Ok, "metrics exporter: off ([metrics] enabled = false)", None),
        (Some((listen, Ok(()))), _) => {
            findings.add(SECTION, Mark::Ok, format!("metrics exporter: `{listen}` can be bound"), None);
        }
        (Some((listen, Err(err))), Some(pid)) => findings.add(
            SECTION,
            Mark::Ok,
            format!("metrics exporter: `{listen}` is taken ({err}), presumably by the running daemon (pid {pid})"),
            None,
        ),
        (Some((listen, Err(err))), None) => findings.add(
            SECTION,
            Mark::Problem,
            format!("metrics exporter: `{listen}` cannot be bound: {err}; `run` would exit 71"),
            Some("set metrics.listen to a free port (port 0 picks one), or stop what listens there".to_owned()),
        ),
    }
}

fn notify_socket(facts: &Facts, findings: &mut Findings) {
    const SECTION: &str = "service manager";
    let Some(notify) = &facts.notify else {
        let text = "NOTIFY_SOCKET is not set: readiness is not reported (expected outside a `Type=notify` unit)";
        findings.add(SECTION, Mark::Ok, text, None);
        return;
    };
    let value = &notify.value;
    let fix =
        Some("unset NOTIFY_SOCKET, or let systemd set it by running the daemon as a `Type=notify` unit".to_owned());
    if let Some(err) = &notify.error {
        findings.add(
            SECTION,
            Mark::Warn,
            format!("NOTIFY_SOCKET is unusable: {err}; `run` will not report readiness"),
            fix,
        );
    } else if notify.path_missing {
        findings.add(
            SECTION,
            Mark::Warn,
            format!("NOTIFY_SOCKET `{value}` does not exist; readiness messages will be lost"),
            fix,
        );
    } else {
        findings.add(
            SECTION,
            Mark::Ok,
            format!("NOTIFY_SOCKET `{value}` is usable: readiness goes to the service manager"),
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlock::Limit;
    use crate::platform::{FakeEnv, detect};

    const MIB: u64 = 1 << 20;
    const SUPERVISOR: &str = "service manager";

    /// A healthy native host: valid configuration, nothing asked of mlock, root.
    pub(super) fn healthy() -> Facts {
        Facts {
            config: Ok(ConfigFacts::default()),
            macro_mlock: MlockMode::Off,
            platform: Platform::Native,
            detection: Some(detect(&FakeEnv::new())),
            manager: Ok(vec![Finding::new(SUPERVISOR, Mark::Ok, "the supervisor can run here", None)]),
            memlock: Ok(Probe { soft: Limit::Bytes(8 * MIB), hard: Limit::Bytes(8 * MIB), cap_ipc_lock: true }),
            notify: None,
            this_binary: Some(PathBuf::from("/usr/local/bin/demo")),
            control: Some(ControlFacts { socket: PathBuf::from("/run/demo/control.sock"), running: Ok(None) }),
            wasi: false,
        }
    }

    fn find<'a>(report: &'a Report, needle: &str) -> &'a Finding {
        let found = report.findings.iter().find(|f| f.text.contains(needle));
        found.unwrap_or_else(|| panic!("no finding contains {needle:?}:\n{}", report.render("demo")))
    }

    #[test]
    fn a_healthy_host_passes_and_renders_every_section() {
        let report = report("demo", &healthy());
        assert_eq!(report.exit, Exit::Success);
        assert_eq!(report.count(Mark::Problem) + report.count(Mark::Warn), 0, "{}", report.render("demo"));
        let text = report.render("demo");
        assert_eq!(
            text,
            "demo check\n\
             \nconfiguration\n\
             \x20 ok       configuration is valid\n\
             \x20 ok       binary_path is not set: `install` uses this binary (/usr/local/bin/demo)\n\
             \nplatform\n\
             \x20 ok       native (detected: no service manager, container or VM marker found (linux on x86_64))\n\
             \nmemory locking\n\
             \x20 ok       RLIMIT_MEMLOCK is 8 MiB (hard 8 MiB); CAP_IPC_LOCK is present\n\
             \x20 ok       memory locking is not requested (`mlock` is off, `resources.lock_memory` is false)\n\
             \nservice manager\n\
             \x20 ok       the supervisor can run here\n\
             \x20 ok       NOTIFY_SOCKET is not set: readiness is not reported (expected outside a `Type=notify` unit)\n\
             \nchannels\n\
             \x20 ok       control socket: `/run/demo/control.sock` (no daemon answers there now)\n\
             \x20 ok       metrics exporter: off ([metrics] enabled = false)\n\
             \n0 problems, 0 warnings\n"
        );
    }

    #[test]
    fn a_metrics_port_that_cannot_be_bound_is_a_problem_unless_our_daemon_holds_it() {
        let listen: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let taken = Err("Address already in use (os error 98)".to_owned());
        let config = ConfigFacts { metrics: Some((listen, taken)), ..ConfigFacts::default() };
        let facts = Facts { config: Ok(config.clone()), ..healthy() };
        let report = report("demo", &facts);
        assert_eq!(report.exit, Exit::OsError);
        let finding = find(&report, "`127.0.0.1:9464` cannot be bound: Address already in use");
        assert_eq!(finding.mark, Mark::Problem);
        assert!(finding.text.ends_with("`run` would exit 71"), "{}", finding.text);
        assert!(finding.fix.as_deref().is_some_and(|fix| fix.contains("metrics.listen")));

        let running = Some(ControlFacts { socket: PathBuf::from("/run/demo/control.sock"), running: Ok(Some(4242)) });
        let report = report_of(&Facts { config: Ok(config), control: running, ..healthy() });
        assert_eq!(report.exit, Exit::Success);
        assert_eq!(find(&report, "presumably by the running daemon (pid 4242)").mark, Mark::Ok);
        let second = find(&report, "a daemon (pid 4242) already answers on the control socket");
        assert_eq!(second.mark, Mark::Warn);
        assert!(second.text.contains("a second `run` with this runtime directory exits 69"), "{}", second.text);

        let free = ConfigFacts { metrics: Some((listen, Ok(()))), ..ConfigFacts::default() };
        let report = report_of(&Facts { config: Ok(free), ..healthy() });
        assert_eq!(find(&report, "metrics exporter: `127.0.0.1:9464` can be bound").mark, Mark::Ok);
    }

    #[test]
    fn invalid_configuration_exits_78_even_with_other_problems() {
        let facts = Facts {
            config: Err(ConfigTrouble {
                text: "invalid configuration: shutdown_timeout: must be above 0".to_owned(),
                fixes: Vec::new(),
            }),
            macro_mlock: MlockMode::Required,
            memlock: Ok(Probe { soft: Limit::Bytes(0), hard: Limit::Bytes(0), cap_ipc_lock: false }),
            ..healthy()
        };
        let report = report("demo", &facts);
        assert_eq!(report.exit, Exit::Config);
        let finding = find(&report, "shutdown_timeout: must be above 0");
        assert_eq!(finding.mark, Mark::Problem);
        assert!(finding.fix.as_deref().is_some_and(|f| f.contains("`demo config`")));
        assert_eq!(find(&report, "mlock = \"required\"").mark, Mark::Problem, "the environment is still checked");
    }

    #[test]
    fn required_locking_that_would_fail_is_a_problem_with_the_fixes() {
        let facts = Facts {
            config: Ok(ConfigFacts { lock_memory_required: true, ..ConfigFacts::default() }),
            memlock: Ok(Probe { soft: Limit::Bytes(8 * MIB), hard: Limit::Bytes(8 * MIB), cap_ipc_lock: false }),
            ..healthy()
        };
        let report = report("demo", &facts);
        assert_eq!(report.exit, Exit::OsError);
        let finding = find(&report, "`resources.lock_memory_required`: RLIMIT_MEMLOCK is 8 MiB");
        assert_eq!(finding.mark, Mark::Problem);
        assert!(finding.text.ends_with("`run` exits with status 71 when it fails"), "{}", finding.text);
        let fix = finding.fix.as_deref().unwrap_or_default();
        assert!(fix.contains("`AmbientCapabilities=CAP_IPC_LOCK`") && fix.contains("`LimitMEMLOCK=infinity`"), "{fix}");
    }

    #[test]
    fn best_effort_locking_that_may_fail_is_a_warning() {
        let facts = Facts {
            macro_mlock: MlockMode::BestEffort,
            memlock: Ok(Probe { soft: Limit::Bytes(0), hard: Limit::Bytes(0), cap_ipc_lock: false }),
            ..healthy()
        };
        let report = report("demo", &facts);
        assert_eq!(report.exit, Exit::Success);
        let finding = find(&report, "`mlock = \"best-effort\"`: RLIMIT_MEMLOCK is 0 and CAP_IPC_LOCK is absent");
        assert_eq!(finding.mark, Mark::Warn);
        let facts = Facts {
            memlock: Ok(Probe { soft: Limit::Unlimited, hard: Limit::Unlimited, cap_ipc_lock: false }),
            ..facts
        };
        assert_eq!(find(&report_of(&facts), "will lock memory").mark, Mark::Ok);
    }

    fn report_of(facts: &Facts) -> Report {
        report("demo", facts)
    }

    #[test]
    fn unsupported_locking_is_a_problem_only_when_required() {
        let unsupported = Err(mlock::MlockError::Unsupported { platform: "macos" }.to_string());
        let off = Facts { memlock: unsupported.clone(), ..healthy() };
        assert_eq!(report_of(&off).exit, Exit::Success);
        let required = Facts { macro_mlock: MlockMode::Required, memlock: unsupported, ..healthy() };
        let report = report_of(&required);
        assert_eq!(report.exit, Exit::OsError);
        assert!(find(&report, "memory locking is unsupported on this platform (macos)").mark == Mark::Problem);
    }

    #[test]
    fn the_backends_findings_are_reported_and_a_missing_backend_is_a_warning() {
        let warned = Finding::new(SUPERVISOR, Mark::Warn, "linger is off for alice", Some("`loginctl`".to_owned()));
        let facts = Facts {
            platform: Platform::Systemd,
            detection: Some(detect(&FakeEnv::new().with_dir("/run/systemd/system"))),
            manager: Ok(vec![warned.clone()]),
            notify: Some(NotifyFacts {
                value: "/run/user/1001/systemd/notify".to_owned(),
                error: None,
                path_missing: false,
            }),
            ..healthy()
        };
        let report = report_of(&facts);
        assert_eq!(report.exit, Exit::Success);
        assert_eq!(find(&report, "linger is off for alice"), &warned);
        assert_eq!(find(&report, "NOTIFY_SOCKET `/run/user/1001/systemd/notify` is usable").mark, Mark::Ok);

        let facts = Facts {
            detection: Some(detect(&FakeEnv::new().with_var("NOTIFY_SOCKET", "notify"))),
            notify: Some(NotifyFacts {
                value: "notify".to_owned(),
                error: Some("NOTIFY_SOCKET `notify` is neither an absolute path nor an abstract `@name`".to_owned()),
                path_missing: false,
            }),
            manager: Err("this version of duende has no wos backend".to_owned()),
            ..healthy()
        };
        let report = report_of(&facts);
        assert_eq!(report.exit, Exit::Success);
        assert_eq!(find(&report, "is unusable").mark, Mark::Warn);
        let missing = find(&report, "`install`, `uninstall`, `start`, `restart` and `logs` exit 69: this version");
        assert_eq!(missing.mark, Mark::Warn);
        // They do not exit 69: without a backend they go to the daemon's control socket.
        assert!(
            missing.text.ends_with(
                "; `status`, `reload` and `stop` work through the control socket of a daemon run in the foreground"
            ),
            "{}",
            missing.text
        );
    }

    #[test]
    fn binary_path_must_be_an_absolute_executable() {
        let with = |state| Facts {
            config: Ok(ConfigFacts { binary: Some((PathBuf::from("/opt/demo"), state)), ..ConfigFacts::default() }),
            ..healthy()
        };
        assert_eq!(report_of(&with(BinaryState::Executable)).exit, Exit::Success);
        let relative = Facts {
            config: Ok(ConfigFacts {
                binary: Some((PathBuf::from("demo"), BinaryState::Relative)),
                ..ConfigFacts::default()
            }),
            ..healthy()
        };
        let report = report_of(&relative);
        assert_eq!(report.exit, Exit::Config);
        assert_eq!(find(&report, "binary_path `demo` is not absolute").mark, Mark::Problem);
        let report = report_of(&with(BinaryState::NotExecutable));
        assert_eq!(report.exit, Exit::OsError);
        assert_eq!(find(&report, "is not executable").fix.as_deref(), Some("`chmod +x /opt/demo`"));
        assert_eq!(report_of(&with(BinaryState::Missing)).exit, Exit::OsError);
    }

    #[test]
    fn on_pepita_an_unset_kernel_is_a_configuration_problem_and_a_bad_one_an_environment_one() {
        let with = |set, found| Facts {
            config: Ok(ConfigFacts { pepita_kernel: Some(KernelFacts { set, found }), ..ConfigFacts::default() }),
            ..healthy()
        };
        let good = report_of(&with(true, Ok("`platform.pepita.kernel` is Linux 6.1".to_owned())));
        assert_eq!(good.exit, Exit::Success);
        assert_eq!(find(&good, "is Linux 6.1").mark, Mark::Ok);
        let unset = report_of(&with(false, Err("`platform.pepita.kernel` is not set".to_owned())));
        assert_eq!(unset.exit, Exit::Config);
        assert_eq!(find(&unset, "is not set").mark, Mark::Problem);
        let missing =
            report_of(&with(true, Err("`platform.pepita.kernel = \"/k\"`: there is no such file".to_owned())));
        assert_eq!(missing.exit, Exit::OsError);
        assert!(
            find(&missing, "no such file").fix.as_deref().is_some_and(|fix| fix.contains("platform.pepita.kernel"))
        );
        assert!(!report_of(&healthy()).render("demo").contains("pepita"), "other platforms say nothing of it");
    }

    #[test]
    fn binary_state_reads_the_file_system() {
        assert_eq!(binary_state(Path::new("relative/demo")), BinaryState::Relative);
        assert_eq!(binary_state(Path::new("/nonexistent/duende/demo")), BinaryState::Missing);
        assert_eq!(binary_state(Path::new("/")), BinaryState::NotAFile);
        assert_eq!(binary_state(Path::new("/bin/sh")), BinaryState::Executable);
        let dir = tempfile::tempdir();
        let Ok(dir) = dir else { panic!("no temporary directory") };
        let plain = dir.path().join("plain");
        assert!(std::fs::write(&plain, "").is_ok());
        assert_eq!(binary_state(&plain), BinaryState::NotExecutable);
    }
}
