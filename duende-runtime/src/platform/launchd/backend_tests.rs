//! [`LaunchdBackend`] against a temporary directory as the file system root and a fake
//! `launchctl` whose model follows launchctl(1) and launchd.plist(5) as documented (see
//! [`launchctl`](super::launchctl) for the failures it reproduces), so install, update,
//! rollback and uninstall are checked file by file and command by command.
//!
//! The model loads a job from the plist on disk (read with a strict parser: a plist it cannot
//! read fails `bootstrap` as launchd does), starts it when `RunAtLoad` says so, applies
//! `KeepAlive` when the daemon exits, fails `bootstrap` of a loaded job with launchd's I/O
//! error, and prints jobs in the layout of the real `launchctl print` samples in
//! `launchctl/tests.rs`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ::plist::Value as Parsed;

use super::backend::{Answer, DaemonProbe, LaunchdBackend, NoAnswer};
use crate::config::{RestartPolicy, Settings};
use crate::platform::backend::{Backend, BackendError, InstallOptions, InstallRequest, Level, LogQuery, Op, Service};
use crate::platform::engine::{Action, Applied, Engine};
use crate::platform::host::Host;
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation};
use crate::platform::status::ServiceState;

/// One loaded job.
#[derive(Debug, Clone, Default)]
struct Job {
    plist: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    log: String,
    /// `KeepAlive`: `Some(true)` always, `Some(false)` never, `None` unless the exit was 0.
    keep_alive: Option<bool>,
    runs: u32,
    pid: Option<u32>,
    /// `(never exited)`, `0`, `78: EX_CONFIG`, or a signal line.
    last: Option<String>,
    scheduled: bool,
}

#[derive(Debug, Default)]
struct Model {
    root: PathBuf,
    jobs: BTreeMap<String, Job>,
    /// The next this many spawns exit 78 at once.
    fail_spawns: u32,
    /// `bootstrap` fails as for a plist launchd refuses.
    refuse_bootstrap: bool,
    /// The `gui/UID` domain does not exist.
    no_session: bool,
    /// `bootout` answers 36 (in progress) and the job is unloaded one `print` later.
    slow_bootout: bool,
    /// Labels on their way out after such a `bootout`.
    leaving: Vec<String>,
    /// The daemon's control socket refuses this user.
    deny_probe: bool,
    reloads: u32,
    calls: Vec<Invocation>,
}

/// A `launchctl`, `plutil` and control-socket probe acting on one [`Model`].
#[derive(Debug, Clone, Default)]
struct Fake(Arc<Mutex<Model>>);

impl Fake {
    fn model(&self) -> MutexGuard<'_, Model> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn calls(&self) -> Vec<String> {
        self.model().calls.iter().map(ToString::to_string).collect()
    }

    /// The calls that change launchd's state.
    fn changing(&self) -> Vec<String> {
        self.calls().into_iter().filter(|c| c.starts_with("launchctl ") && !c.starts_with("launchctl print")).collect()
    }

    fn job(&self, label: &str) -> Option<Job> {
        self.model().jobs.get(label).cloned()
    }
}

fn out(status: i32, stdout: &str, stderr: &str) -> CommandOutput {
    CommandOutput { status: Some(status), stdout: stdout.to_owned(), stderr: stderr.to_owned() }
}

impl Model {
    /// Starts `label`: the daemon becomes ready, or exits 78 while `fail_spawns` lasts or when
    /// its configuration file says `broken`.
    fn spawn(&mut self, label: &str) {
        let root = self.root.clone();
        let Some(job) = self.jobs.get_mut(label) else { return };
        let config = job.args.iter().skip_while(|arg| *arg != "--config").nth(1);
        let broken = config
            .and_then(|path| fs::read_to_string(root.join(path.trim_start_matches('/'))).ok())
            .is_some_and(|text| text.contains("broken"));
        let failing = self.fail_spawns > 0 || broken;
        self.fail_spawns = self.fail_spawns.saturating_sub(1);
        job.runs += 1;
        job.scheduled = false;
        let line = if failing { "demo: told to fail in init\n" } else { "demo: ready\n" };
        let log = root.join(job.log.trim_start_matches('/'));
        let _ = fs::OpenOptions::new().create(true).append(true).open(log).and_then(|mut f| {
            use std::io::Write;
            f.write_all(line.as_bytes())
        });
        if failing {
            job.pid = None;
            job.last = Some("last exit code = 78: EX_CONFIG".into());
            // KeepAlive restarts a failure unless it is `false`.
            job.scheduled = job.keep_alive != Some(false);
        } else {
            job.pid = Some(4000 + job.runs);
            job.last = job.last.clone().or(Some("last exit code = (never exited)".into()));
        }
    }

    /// The daemon ends by SIGTERM gracefully (exit 0); `KeepAlive = true` starts it again.
    fn terminate(&mut self, label: &str, respawn: bool) {
        let Some(job) = self.jobs.get_mut(label) else { return };
        job.pid = None;
        job.last = Some("last exit code = 0".into());
        if respawn && job.keep_alive == Some(true) {
            self.spawn(label);
        }
    }

    fn bootstrap(&mut self, domain: &str, plist: &str) -> CommandOutput {
        let Ok(Parsed::Dictionary(dict)) = Parsed::from_file(self.root.join(plist.trim_start_matches('/'))) else {
            return out(5, "", "Bootstrap failed: 5: Input/output error\n");
        };
        let text = |key: &str| dict.get(key).and_then(Parsed::as_string).unwrap_or_default().to_owned();
        let label = text("Label");
        if self.jobs.contains_key(&label) || self.refuse_bootstrap {
            return out(5, "", "Bootstrap failed: 5: Input/output error\n");
        }
        if domain.starts_with("gui/") && self.no_session {
            return out(125, "", "Bootstrap failed: 125: Domain does not support specified action\n");
        }
        let strings = |value: Option<&Parsed>| -> Vec<String> {
            let items = value.and_then(Parsed::as_array).map(Vec::as_slice).unwrap_or_default();
            items.iter().filter_map(|v| v.as_string().map(str::to_owned)).collect()
        };
        let job = Job {
            plist: PathBuf::from(plist),
            args: strings(dict.get("ProgramArguments")),
            env: dict
                .get("EnvironmentVariables")
                .and_then(Parsed::as_dictionary)
                .map(|d| d.iter().filter_map(|(k, v)| Some((k.clone(), v.as_string()?.to_owned()))).collect())
                .unwrap_or_default(),
            log: text("StandardOutPath"),
            keep_alive: match dict.get("KeepAlive") {
                Some(Parsed::Boolean(b)) => Some(*b),
                _ => None,
            },
            ..Job::default()
        };
        self.jobs.insert(label.clone(), job);
        if dict.get("RunAtLoad").and_then(Parsed::as_boolean) == Some(true) {
            self.spawn(&label);
        }
        out(0, "", "")
    }

    fn missing(domain: &str, label: &str) -> CommandOutput {
        let domain = domain.strip_prefix("gui/").map_or_else(|| "system".to_owned(), |uid| format!("user gui: {uid}"));
        out(113, "", &format!("Could not find service \"{label}\" in domain for {domain}\n"))
    }

    fn print(&mut self, domain: &str, label: &str) -> CommandOutput {
        if let Some(at) = self.leaving.iter().position(|leaving| leaving == label) {
            // Still loaded this time; unloaded from the next look on.
            self.leaving.remove(at);
            let printed = self.print(domain, label);
            self.jobs.remove(label);
            return printed;
        }
        if self.jobs.get(label).is_some_and(|job| job.scheduled) {
            self.spawn(label);
        }
        let Some(job) = self.jobs.get(label) else { return Model::missing(domain, label) };
        let state = match (job.pid, job.scheduled) {
            (Some(_), _) => "running",
            (None, true) => "spawn scheduled",
            (None, false) => "not running",
        };
        let kind = if domain == "system" { "LaunchDaemon" } else { "LaunchAgent" };
        let mut text = format!(
            "{domain}/{label} = {{\n\tactive count = {}\n\tpath = {}\n\ttype = {kind}\n\tstate = {state}\n\n",
            u8::from(job.pid.is_some()),
            job.plist.display()
        );
        text += &format!("\tprogram = {}\n\targuments = {{\n", job.args.first().cloned().unwrap_or_default());
        for arg in &job.args {
            text += &format!("\t\t{arg}\n");
        }
        text += &format!("\t}}\n\n\tstdout path = {0}\n\tstderr path = {0}\n", job.log);
        text += "\tdefault environment = {\n\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin\n\t}\n\n\tenvironment = {\n";
        for (name, value) in &job.env {
            text += &format!("\t\t{name} => {value}\n");
        }
        let domain_line = if domain == "system" { domain.to_owned() } else { format!("{domain} [100008]") };
        text += &format!("\t\tXPC_SERVICE_NAME => {label}\n\t}}\n\n\tdomain = {domain_line}\n\tasid = 100008\n");
        text += &format!("\tminimum runtime = 10\n\texit timeout = 35\n\truns = {}\n", job.runs);
        if let Some(pid) = job.pid {
            text += &format!("\tpid = {pid}\n");
        }
        if let Some(last) = &job.last {
            text += &format!("\t{last}\n");
        }
        text += "\n\tspawn type = daemon (3)\n\tjetsam priority = 40\n\tproperties = runatload | inferred program\n}\n";
        out(0, &text, "")
    }

    fn launchctl(&mut self, args: &[&str]) -> CommandOutput {
        let target = |t: &str| t.rsplit_once('/').map(|(d, l)| (d.to_owned(), l.to_owned())).unwrap_or_default();
        match args {
            ["print", domain] if domain.starts_with("gui/") && self.no_session => {
                out(113, "", "Could not find domain for user gui: 501\n")
            }
            ["print", "system"] => out(0, "system = {\n}\n", ""),
            ["print", domain] if !domain.contains('.') => out(0, &format!("{domain} = {{\n}}\n"), ""),
            ["print", t] => {
                let (domain, label) = target(t);
                if domain.starts_with("gui/") && self.no_session {
                    return out(113, "", "Could not find domain for user gui: 501\n");
                }
                self.print(&domain, &label)
            }
            ["bootstrap", domain, plist] => self.bootstrap(domain, plist),
            ["bootout", t] => {
                let (domain, label) = target(t);
                if !self.jobs.contains_key(&label) {
                    return out(3, "", "Boot-out failed: 3: No such process\n");
                }
                self.terminate(&label, false);
                let _ = domain;
                if self.slow_bootout {
                    self.leaving.push(label);
                    return out(36, "", "Boot-out failed: 36: Operation now in progress\n");
                }
                self.jobs.remove(&label);
                out(0, "", "")
            }
            ["kickstart", rest @ ..] => {
                let kill = rest.first() == Some(&"-k");
                let (domain, label) = target(rest.last().copied().unwrap_or_default());
                let Some(job) = self.jobs.get(&label) else { return Model::missing(&domain, &label) };
                if job.pid.is_some() && !kill {
                    return out(0, "", "");
                }
                if job.pid.is_some() {
                    self.terminate(&label, false);
                }
                self.spawn(&label);
                out(0, "", "")
            }
            ["kill", signal, t] => {
                let (domain, label) = target(t);
                let Some(job) = self.jobs.get(&label) else { return Model::missing(&domain, &label) };
                if job.pid.is_none() {
                    return out(3, "", "Could not kill service: 3: No such process\n");
                }
                match *signal {
                    "HUP" => self.reloads += 1,
                    _ => self.terminate(&label, true),
                }
                out(0, "", "")
            }
            _ => out(64, "", "Unrecognized subcommand\n"),
        }
    }
}

impl CommandRunner for Fake {
    fn run(&self, invocation: &Invocation) -> io::Result<CommandOutput> {
        let mut model = self.model();
        model.calls.push(invocation.clone());
        let args: Vec<&str> = invocation.args.iter().map(String::as_str).collect();
        Ok(match (invocation.program.as_str(), args.as_slice()) {
            ("launchctl", args) => model.launchctl(args),
            ("plutil", ["-lint", path]) => match Parsed::from_file(path) {
                Ok(_) => out(0, &format!("{path}: OK\n"), ""),
                Err(err) => out(1, &format!("{path}: {err}\n"), ""),
            },
            _ => return Err(io::Error::from(io::ErrorKind::NotFound)),
        })
    }
}

impl DaemonProbe for Fake {
    fn probe(&self, _socket: &Path) -> Result<Answer, NoAnswer> {
        let model = self.model();
        if model.deny_probe {
            return Err(NoAnswer::Denied("permission denied on the socket".to_owned()));
        }
        let running = model.jobs.values().find_map(|job| job.pid);
        running.map(|pid| Answer { pid, ready: true }).ok_or_else(|| NoAnswer::Silent("no daemon answers".to_owned()))
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    tools: PathBuf,
    binary: PathBuf,
    config: PathBuf,
}

fn fixture() -> io::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    let tools = dir.path().join("tools");
    for path in [root.join("Library/Logs"), root.join("Users/ana/Library/Logs"), tools.clone()] {
        fs::create_dir_all(path)?;
    }
    for tool in ["launchctl", "plutil"] {
        fs::write(tools.join(tool), "")?;
    }
    let binary = dir.path().join("demo-build");
    fs::write(&binary, "binary version 1")?;
    let config = dir.path().join("demo.toml");
    fs::write(&config, "[app]\nlabel = \"one\"\n")?;
    Ok(Fixture { _dir: dir, root, tools, binary, config })
}

impl Fixture {
    fn host(&self, euid: u32) -> Host {
        let mut host = Host::under(&self.root, euid)
            .with_var("HOME", "/Users/ana")
            .with_var("USER", "ana")
            .with_var("PATH", self.tools.to_string_lossy());
        host.os = "macos".to_owned();
        host.this_binary = Some(self.binary.clone());
        host
    }

    fn backend(&self, euid: u32) -> (LaunchdBackend<Fake>, Fake) {
        let fake = Fake::default();
        fake.model().root = self.root.clone();
        (LaunchdBackend::with_probe(fake.clone(), self.host(euid), Box::new(fake.clone())), fake)
    }

    /// Every file and directory under the root, with file contents.
    fn listing(&self) -> BTreeMap<PathBuf, String> {
        fn walk(dir: &Path, base: &Path, into: &mut BTreeMap<PathBuf, String>) {
            let Ok(entries) = fs::read_dir(dir) else { return };
            for entry in entries.flatten() {
                let path = entry.path();
                let relative = path.strip_prefix(base).map(Path::to_path_buf).unwrap_or_default();
                if path.is_dir() {
                    into.insert(relative, "<dir>".to_owned());
                    walk(&path, base, into);
                } else {
                    into.insert(relative, fs::read_to_string(&path).unwrap_or_else(|_| "<unreadable>".to_owned()));
                }
            }
        }
        let mut listing = BTreeMap::new();
        walk(&self.root, &self.root, &mut listing);
        listing
    }
}

const SYSTEM: Service<'static> = Service { name: "demo", level: Level::System };
const USER: Service<'static> = Service { name: "demo", level: Level::User };
const LABEL: &str = "local.duende.demo";
const DAEMON: &str = "/Library/LaunchDaemons/local.duende.demo.plist";
const ENGINE: Engine = Engine::with_patience(Duration::from_millis(300));

fn settings() -> Settings<()> {
    Settings::<()> { name: "demo".to_owned(), ..Settings::default() }
}

fn install_with(
    fx: &Fixture,
    backend: &dyn Backend,
    service: &Service<'_>,
    settings: &Settings<()>,
    options: InstallOptions,
) -> Result<Applied, BackendError> {
    let request = InstallRequest {
        options,
        settings,
        binary: &fx.binary,
        config_file: Some(&fx.config),
        sets: &[],
        overrides: &[],
        docs: None,
    };
    ENGINE.install(backend, service, &request)
}

fn install(fx: &Fixture, backend: &dyn Backend, options: InstallOptions) -> Result<Applied, BackendError> {
    install_with(fx, backend, &SYSTEM, &settings(), options)
}

fn copied() -> InstallOptions {
    InstallOptions { copy_binary: true, ..InstallOptions::default() }
}

fn now() -> InstallOptions {
    InstallOptions { start_now: true, ..copied() }
}

fn written(applied: &Applied) -> Vec<PathBuf> {
    applied
        .actions
        .iter()
        .filter_map(|a| if let Action::Write { path, .. } = a { Some(path.clone()) } else { None })
        .collect()
}

fn runs(applied: &Applied) -> Vec<String> {
    applied.actions.iter().filter_map(|a| if let Action::Run(i) = a { Some(i.to_string()) } else { None }).collect()
}

fn ok<T>(result: Result<T, BackendError>) -> io::Result<T> {
    result.map_err(io::Error::other)
}

#[test]
fn dry_run_shows_every_file_and_command_and_changes_nothing() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, fake) = fx.backend(501);
    let before = fx.listing();
    let applied = ok(install_with(&fx, &backend, &USER, &settings(), InstallOptions { dry_run: true, ..now() }))?;
    assert!(applied.dry_run);
    assert_eq!(fx.listing(), before, "a dry run writes nothing");
    assert!(fake.changing().is_empty(), "{:?}", fake.calls());
    let plist = "/Users/ana/Library/LaunchAgents/local.duende.demo.plist";
    assert_eq!(
        written(&applied),
        [PathBuf::from("/Users/ana/.local/bin/demo"), "/Users/ana/.config/demo/demo.toml".into(), plist.into()]
    );
    let runs = runs(&applied);
    assert!(runs[0].starts_with("plutil -lint "), "{runs:?}");
    assert_eq!(runs[1..], [format!("launchctl bootstrap gui/501 {plist}")]);
    Ok(())
}

#[test]
fn installing_twice_changes_nothing_the_second_time() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, fake) = fx.backend(0);
    let first = ok(install(&fx, &backend, now()))?;
    assert_eq!(written(&first).len(), 3);
    assert_eq!(fake.changing(), [format!("launchctl bootstrap system {DAEMON}")]);
    assert!(fake.job(LABEL).is_some_and(|job| job.pid.is_some()));
    let listing = fx.listing();
    let second = ok(install(&fx, &backend, now()))?;
    assert!(matches!(&second.actions[..], [Action::Note(note)] if note.starts_with("nothing to change")), "{second:?}");
    assert_eq!(fake.changing().len(), 1, "no command changed anything: {:?}", fake.changing());
    assert_eq!(fx.listing(), listing);
    Ok(())
}

#[test]
fn a_changed_binary_is_written_and_the_job_booted_out_and_bootstrapped() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, fake) = fx.backend(0);
    ok(install(&fx, &backend, now()))?;
    fs::write(&fx.binary, "binary version 2")?;
    let dry = ok(install(&fx, &backend, InstallOptions { dry_run: true, ..copied() }))?;
    assert_eq!(
        runs(&dry),
        [format!("launchctl bootout system/{LABEL}"), format!("launchctl bootstrap system {DAEMON}")],
        "--dry-run shows the same commands"
    );
    assert_eq!(fs::read_to_string(fx.root.join("usr/local/bin/demo"))?, "binary version 1");
    // The daemon takes longer to exit than `bootout` waits: `bootstrap` waits for the unload.
    fake.model().slow_bootout = true;
    let applied = ok(install(&fx, &backend, copied()))?;
    assert_eq!(written(&applied), [PathBuf::from("/usr/local/bin/demo")]);
    assert_eq!(
        runs(&applied),
        [format!("launchctl bootout system/{LABEL}"), format!("launchctl bootstrap system {DAEMON}")]
    );
    assert_eq!(fs::read_to_string(fx.root.join("usr/local/bin/demo"))?, "binary version 2");
    let job = fake.job(LABEL);
    assert!(job.as_ref().is_some_and(|job| job.pid.is_some() && job.runs == 1), "a fresh load: {job:?}");
    let status = ok(ENGINE.status(&backend, &SYSTEM, None))?;
    assert_eq!((status.state, status.ready, status.pid), (ServiceState::Running, true, Some(4001)));
    let mut shown = Vec::new();
    ok(backend.logs(&SYSTEM, LogQuery { lines: Some(1), follow: false }, &mut shown))?;
    assert_eq!(String::from_utf8_lossy(&shown), "demo: ready\n", "the last line of launchd's log file");
    Ok(())
}

#[test]
fn a_failed_start_rolls_back_to_exactly_what_was_there() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, fake) = fx.backend(0);
    // A first install whose daemon never becomes ready leaves nothing behind, loaded or on disk.
    let pristine = fx.listing();
    fake.model().fail_spawns = 100;
    let err = install(&fx, &backend, now()).err();
    let Some(BackendError::NotObserved { detail, .. }) = err else { panic!("not refused: {err:?}") };
    assert!(detail.contains("told to fail in init") && detail.contains("78"), "the log and exit are shown: {detail}");
    // launchd's log of the failed start goes too: its last lines are in the error above.
    assert_eq!(fx.listing(), pristine);
    assert!(fake.job(LABEL).is_none(), "the job was booted out");

    // A bootstrap that launchd refuses is rolled back the same way.
    fake.model().fail_spawns = 0;
    fake.model().refuse_bootstrap = true;
    let err = install(&fx, &backend, now()).err();
    assert!(matches!(&err, Some(BackendError::NotObserved { detail, .. }) if detail.contains("Bootstrap failed: 5")));
    assert_eq!(fx.listing(), pristine);
    fake.model().refuse_bootstrap = false;

    // An update that fails puts the previous version back and loads it again.
    ok(install(&fx, &backend, now()))?;
    let working = fx.listing();
    fs::write(&fx.binary, "binary version 2")?;
    fs::write(&fx.config, "[app]\nlabel = \"broken\"\n")?;
    let err = install(&fx, &backend, now()).err();
    assert!(matches!(err, Some(BackendError::NotObserved { .. })), "{err:?}");
    let tail: Vec<String> = fake.changing().into_iter().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            format!("launchctl bootstrap system {DAEMON}"),
            format!("launchctl bootout system/{LABEL}"),
            format!("launchctl bootstrap system {DAEMON}")
        ],
        "the new job out, the previous one in"
    );
    let mut restored = fx.listing();
    restored.remove(Path::new("Library/Logs/demo.log"));
    let mut expected = working;
    expected.remove(Path::new("Library/Logs/demo.log"));
    assert_eq!(restored, expected, "the previous plist, binary and configuration are back");
    assert!(fake.job(LABEL).is_some_and(|job| job.pid.is_some()), "and the previous job runs");
    Ok(())
}

#[test]
fn a_plist_duende_did_not_write_is_refused_without_force() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, _fake) = fx.backend(0);
    let theirs = fx.root.join(DAEMON.trim_start_matches('/'));
    fs::create_dir_all(theirs.parent().unwrap_or(&fx.root))?;
    let foreign = "<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict><key>Label</key><string>local.duende.demo</string></dict></plist>\n";
    fs::write(&theirs, foreign)?;
    let err = install(&fx, &backend, copied()).err();
    assert!(matches!(&err, Some(BackendError::Foreign { path }) if path == Path::new(DAEMON)), "{err:?}");
    assert_eq!(fs::read_to_string(&theirs)?, foreign);
    let uninstalled = ENGINE.uninstall(&backend, &SYSTEM).err();
    assert!(matches!(uninstalled, Some(BackendError::Foreign { .. })), "never removes a foreign plist");
    assert!(theirs.exists());
    ok(install(&fx, &backend, InstallOptions { force: true, ..copied() }))?;
    assert!(super::is_written_by_duende(&fs::read_to_string(&theirs)?));

    // A configured label that names someone else's plist is refused too.
    let mut other = settings();
    other.platform.launchd.label = "com.example.theirs".into();
    let (backend, _fake) = fx.backend(0);
    let theirs = fx.root.join("Library/LaunchDaemons/com.example.theirs.plist");
    fs::write(&theirs, foreign)?;
    ok(ENGINE.uninstall(&backend, &SYSTEM))?;
    let err = install_with(&fx, &backend, &SYSTEM, &other, copied()).err();
    assert!(matches!(&err, Some(BackendError::Foreign { .. })), "{err:?}");
    Ok(())
}

#[test]
fn uninstall_removes_exactly_what_install_created() -> io::Result<()> {
    let fx = fixture()?;
    fs::create_dir_all(fx.root.join("usr/local/bin"))?;
    fs::write(fx.root.join("usr/local/bin/other"), "someone else's")?;
    fs::write(fx.root.join("Library/Logs/other.log"), "someone else's")?;
    let (backend, fake) = fx.backend(0);
    let before = fx.listing();
    ok(install(&fx, &backend, now()))?;
    assert!(fx.root.join("Library/Logs/demo.log").exists(), "launchd wrote the log");
    let applied = ok(ENGINE.uninstall(&backend, &SYSTEM))?;
    assert_eq!(fx.listing(), before);
    assert!(fake.job(LABEL).is_none());
    assert_eq!(runs(&applied), [format!("launchctl bootout system/{LABEL}")]);
    let again = ok(ENGINE.uninstall(&backend, &SYSTEM))?;
    assert!(matches!(&again.actions[..], [Action::Note(note)] if note.contains("not installed")), "{again:?}");
    Ok(())
}

#[test]
fn operations_never_bootstrap_a_loaded_job() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, fake) = fx.backend(0);
    assert!(matches!(ENGINE.operate(&backend, &SYSTEM, Op::Start), Err(BackendError::NotInstalled { .. })));
    ok(install(&fx, &backend, copied()))?;
    assert!(fake.changing().is_empty(), "install without --now loads nothing");
    assert_eq!(ok(ENGINE.status(&backend, &SYSTEM, None))?.state, ServiceState::Stopped);
    let step = |op| ok(ENGINE.operate(&backend, &SYSTEM, op)).map(|(action, status)| (action, status.state));
    let target = format!("system/{LABEL}");
    let ran = |verb: &str| Action::Run(Invocation::new("launchctl", verb.split(' ').collect::<Vec<_>>()));
    assert_eq!(step(Op::Start)?, (ran(&format!("bootstrap system {DAEMON}")), ServiceState::Running));
    assert_eq!(step(Op::Start)?, (ran(&format!("kickstart {target}")), ServiceState::Running));
    assert_eq!(step(Op::Restart)?, (ran(&format!("kickstart -k {target}")), ServiceState::Running));
    assert_eq!(fake.job(LABEL).map(|job| job.runs), Some(2));
    assert_eq!(step(Op::Reload)?, (ran(&format!("kill HUP {target}")), ServiceState::Running));
    assert_eq!(fake.model().reloads, 1);
    assert_eq!(step(Op::Stop)?, (ran(&format!("bootout {target}")), ServiceState::Stopped));
    assert!(matches!(ENGINE.operate(&backend, &SYSTEM, Op::Reload), Err(BackendError::NotObserved { .. })));
    assert_eq!(step(Op::Restart)?, (ran(&format!("bootstrap system {DAEMON}")), ServiceState::Running));
    let bootstraps = fake.calls().iter().filter(|c| c.contains("bootstrap")).count();
    assert_eq!(bootstraps, 2, "each one after `print` said the job was not loaded: {:?}", fake.calls());
    Ok(())
}

#[test]
fn status_reads_state_pid_exit_and_runs_from_print() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, fake) = fx.backend(0);
    ok(install(&fx, &backend, now()))?;
    fake.model().fail_spawns = 1;
    ok(ENGINE.operate(&backend, &SYSTEM, Op::Restart).map(drop)).err();
    let status = ok(ENGINE.status(&backend, &SYSTEM, None))?;
    // The restart failed once (78) and KeepAlive started it again on launchd's next look.
    assert_eq!((status.state, status.pid, status.restarts), (ServiceState::Running, Some(4003), Some(2)));
    assert_eq!(status.manager.get("state").map(String::as_str), Some("running"));
    fake.model().fail_spawns = 100;
    fake.model().launchctl(&["kickstart", "-k", "system/local.duende.demo"]);
    let status = ok(ENGINE.status(&backend, &SYSTEM, None))?;
    assert_eq!((status.state, status.last_exit_status, status.ready), (ServiceState::Starting, Some(78), false));
    assert_eq!(status.detail, "last exited with status 78");
    fake.model().fail_spawns = 0;
    fake.model().launchctl(&["kickstart", "-k", "system/local.duende.demo"]);
    fake.model().deny_probe = true;
    let status = ok(ENGINE.status(&backend, &SYSTEM, None))?;
    assert_eq!((status.state, status.ready), (ServiceState::Running, false), "running, readiness not observed");
    assert!(status.detail.starts_with("running; its readiness was not observed"), "{}", status.detail);
    Ok(())
}

#[test]
fn user_jobs_live_in_the_login_session_and_say_when_there_is_none() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, fake) = fx.backend(501);
    ok(install_with(&fx, &backend, &USER, &settings(), now()))?;
    let plist = "/Users/ana/Library/LaunchAgents/local.duende.demo.plist";
    assert_eq!(fake.changing(), [format!("launchctl bootstrap gui/501 {plist}")]);
    assert!(fx.root.join(plist.trim_start_matches('/')).is_file());
    fake.model().no_session = true;
    let err = ENGINE.status(&backend, &USER, None).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with("ana has no login session on this Mac") && err.contains("`--system`"), "{err}");
    let (root_backend, _) = fx.backend(0);
    let err = ENGINE.status(&root_backend, &USER, None).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with("a LaunchAgent belongs to a logged-in user, and this runs as root"), "{err}");
    Ok(())
}

#[test]
fn a_configured_label_is_found_again_and_a_changed_one_refused() -> io::Result<()> {
    let fx = fixture()?;
    let (backend, fake) = fx.backend(0);
    let mut labelled = settings();
    labelled.platform.launchd.label_prefix = "com.example".into();
    labelled.restart = RestartPolicy::Always;
    ok(install_with(&fx, &backend, &SYSTEM, &labelled, now()))?;
    assert!(fake.job("com.example.demo").is_some());
    let status = ok(ENGINE.status(&backend, &SYSTEM, None))?;
    assert_eq!(status.manager.get("label").map(String::as_str), Some("com.example.demo"));
    let err = install_with(&fx, &backend, &SYSTEM, &settings(), copied()).err().map(|e| e.to_string());
    assert!(
        err.is_some_and(|e| e.contains("installed as the launchd job com.example.demo") && e.contains("uninstall"))
    );
    ok(ENGINE.uninstall(&backend, &SYSTEM))?;
    assert!(fake.job("com.example.demo").is_none());
    assert!(!fx.root.join("Library/LaunchDaemons/com.example.demo.plist").exists());
    Ok(())
}

#[test]
fn elsewhere_than_macos_or_without_launchctl_every_command_says_so() -> io::Result<()> {
    let fx = fixture()?;
    let mut linux = fx.host(0);
    linux.os = "linux".to_owned();
    let backend = LaunchdBackend::new(Fake::default(), linux);
    let err = ENGINE.status(&backend, &SYSTEM, None).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        err,
        "launchd is the service manager of macOS, and this host runs linux; choose the `--platform` of this host \
         (`systemd`, `native` or `container`)"
    );
    let backend = LaunchdBackend::new(Fake::default(), fx.host(0).with_var("PATH", ""));
    let err = ENGINE.uninstall(&backend, &SYSTEM).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(err, "`launchctl` was not found on PATH; the launchd backend needs it");
    assert!(backend.runner().calls().is_empty());
    Ok(())
}
