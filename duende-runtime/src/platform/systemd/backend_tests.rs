//! [`SystemdBackend`] against a temporary directory as the file system root and a fake
//! `systemctl` that keeps the unit's state, so install, update, rollback and uninstall are
//! checked file by file and command by command.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::backend::SystemdBackend;
use crate::config::Settings;
use crate::platform::backend::{Backend, BackendError, InstallOptions, InstallRequest, Level, LogQuery, Op, Service};
use crate::platform::engine::{Action, Applied, Engine};
use crate::platform::host::Host;
use crate::platform::runner::{CommandOutput, CommandRunner, Invocation, RecordingRunner};
use crate::platform::status::{Drift, ServiceState};

/// How a `start` or `restart` of the fake unit ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// `systemctl` exits 0 and the unit is active (what an unscripted start does).
    Ready,
    /// `systemctl` exits 1 and the unit is failed.
    Refused,
    /// `systemctl` exits 0 and the unit stays `activating` (`SubState=start`): a notify unit
    /// whose `READY=1` never comes, seen with a start that does not wait.
    StaysActivating,
    /// `systemctl` exits 0, the main process exits, and the unit waits to be started again
    /// (`activating`, `SubState=auto-restart`).
    AutoRestarts,
    /// `systemctl` exits 0, then the unit is failed (its main process exited 70).
    FailsAfterStarting,
}

/// What the fake manager knows about the one unit.
#[derive(Debug, Default, Clone)]
struct State {
    loaded: bool,
    active: bool,
    failed: bool,
    /// `ActiveState=activating` with this `SubState`.
    activating: Option<&'static str>,
    enabled: bool,
    /// How the next starts end, in order; once it is empty, every start is [`Start::Ready`].
    script: std::collections::VecDeque<Start>,
    starts: u32,
}

/// A `systemctl`, `journalctl` and `systemd-analyze` that act on [`State`] and the files under
/// the test root.
#[derive(Debug)]
struct FakeSystemd {
    unit: PathBuf,
    wants_link: PathBuf,
    state: Mutex<State>,
    calls: Mutex<Vec<Invocation>>,
}

impl FakeSystemd {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).iter().map(ToString::to_string).collect()
    }

    fn changing_calls(&self) -> Vec<String> {
        let reading = ["--version", " show ", "is-enabled", "journalctl"];
        self.calls().into_iter().filter(|c| !reading.iter().any(|r| c.contains(r))).collect()
    }
}

impl CommandRunner for FakeSystemd {
    fn run(&self, invocation: &Invocation) -> io::Result<CommandOutput> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(invocation.clone());
        let mut words: Vec<&str> = invocation.args.iter().map(String::as_str).collect();
        let mut program = invocation.program.as_str();
        if program == "env" {
            program = words.get(1).copied().unwrap_or_default();
            words.drain(..2.min(words.len()));
        }
        words.retain(|w| *w != "--user");
        let mut state = self.state();
        let ok = CommandOutput::success("");
        Ok(match (program, words.first().copied().unwrap_or_default()) {
            ("journalctl", _) => CommandOutput::success("demo: told to fail in init\n"),
            ("systemd-analyze", _) => ok,
            (_, "--version") => CommandOutput::success("systemd 252 (252.39-1~deb12u2)\n+PAM\n"),
            (_, "show") => {
                let active = if state.active {
                    "active\nSubState=running\nMainPID=42"
                } else if let Some(sub) = state.activating {
                    if sub == "auto-restart" {
                        "activating\nSubState=auto-restart\nMainPID=0\nResult=exit-code\nExecMainStatus=70"
                    } else {
                        "activating\nSubState=start\nMainPID=42"
                    }
                } else if state.failed {
                    "failed\nSubState=failed\nMainPID=0\nResult=exit-code"
                } else {
                    "inactive\nSubState=dead\nMainPID=0"
                };
                let load = if state.loaded { "loaded" } else { "not-found" };
                CommandOutput::success(&format!("LoadState={load}\nActiveState={active}\nNRestarts=0\n"))
            }
            (_, "is-enabled") if state.enabled => CommandOutput::success("enabled\n"),
            (_, "is-enabled") => {
                CommandOutput { status: Some(1), stdout: "disabled\n".to_owned(), stderr: String::new() }
            }
            (_, "daemon-reload") => {
                state.loaded = self.unit.exists();
                ok
            }
            (_, "enable") => {
                state.enabled = true;
                if let Some(dir) = self.wants_link.parent() {
                    fs::create_dir_all(dir)?;
                }
                let _ = fs::remove_file(&self.wants_link);
                std::os::unix::fs::symlink(&self.unit, &self.wants_link)?;
                ok
            }
            (_, "disable") => {
                state.enabled = false;
                let _ = fs::remove_file(&self.wants_link);
                ok
            }
            (_, "start" | "restart") => {
                let start = state.script.pop_front().unwrap_or(Start::Ready);
                state.starts += u32::from(start != Start::Refused);
                (state.active, state.failed, state.activating) = match start {
                    Start::Ready => (true, false, None),
                    Start::Refused | Start::FailsAfterStarting => (false, true, None),
                    Start::StaysActivating => (false, false, Some("start")),
                    Start::AutoRestarts => (false, false, Some("auto-restart")),
                };
                if start == Start::Refused {
                    CommandOutput::failure(1, "Job for demo.service failed because the control process exited.")
                } else {
                    ok
                }
            }
            (_, "stop") => {
                (state.active, state.activating) = (false, None);
                ok
            }
            (_, "reset-failed") => {
                state.failed = false;
                ok
            }
            _ => ok,
        })
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
    for path in [root.join("run/systemd/system"), root.join("etc/systemd/system"), tools.clone()] {
        fs::create_dir_all(path)?;
    }
    for tool in ["systemctl", "systemd-analyze", "journalctl"] {
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
            .with_var("HOME", "/home/ana")
            .with_var("USER", "ana")
            .with_var("PATH", self.tools.to_string_lossy());
        host.this_binary = Some(self.binary.clone());
        host
    }

    fn backend(&self) -> SystemdBackend<FakeSystemd> {
        let system = self.root.join("etc/systemd/system");
        let fake = FakeSystemd {
            unit: system.join("demo.service"),
            wants_link: system.join("multi-user.target.wants/demo.service"),
            state: Mutex::default(),
            calls: Mutex::default(),
        };
        SystemdBackend::new(fake, self.host(0))
    }

    /// Every file, directory and link under the root: files with their mode and every byte,
    /// directories with their mode, links with their target.
    fn listing(&self) -> BTreeMap<PathBuf, Entry> {
        use std::os::unix::fs::PermissionsExt;
        fn walk(dir: &Path, base: &Path, into: &mut BTreeMap<PathBuf, Entry>) {
            let Ok(entries) = fs::read_dir(dir) else { return };
            for entry in entries.flatten() {
                let path = entry.path();
                let relative = path.strip_prefix(base).map(Path::to_path_buf).unwrap_or_default();
                let mode = fs::symlink_metadata(&path).map(|m| m.permissions().mode() & 0o7777).unwrap_or_default();
                if let Ok(target) = fs::read_link(&path) {
                    into.insert(relative, Entry::Link(target));
                } else if path.is_dir() {
                    into.insert(relative, Entry::Dir(mode));
                    walk(&path, base, into);
                } else {
                    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    into.insert(relative, Entry::File(mode, bytes));
                }
            }
        }
        let mut listing = BTreeMap::new();
        walk(&self.root, &self.root, &mut listing);
        listing
    }
}

/// One entry of [`Fixture::listing`].
#[derive(PartialEq, Eq)]
enum Entry {
    /// A directory and its mode.
    Dir(u32),
    /// A file: its mode and its bytes.
    File(u32, Vec<u8>),
    /// A symbolic link and its target.
    Link(PathBuf),
}

/// Modes in octal and bytes escaped, for a readable difference.
impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Dir(mode) => write!(f, "dir {mode:o}"),
            Entry::File(mode, bytes) => write!(f, "file {mode:o} b\"{}\"", bytes.escape_ascii()),
            Entry::Link(target) => write!(f, "link -> {}", target.display()),
        }
    }
}

const SYSTEM: Service<'static> = Service { name: "demo", level: Level::System };

fn settings() -> Settings<()> {
    Settings::<()> { name: "demo".to_owned(), ..Settings::default() }
}

const ENGINE: Engine = Engine::with_patience(Duration::from_millis(300));

fn install(
    fx: &Fixture,
    backend: &dyn Backend,
    options: InstallOptions,
    config: bool,
) -> Result<Applied, BackendError> {
    let settings = settings();
    let request = InstallRequest {
        options,
        settings: &settings,
        binary: &fx.binary,
        config_file: config.then_some(&fx.config),
        sets: &[],
        overrides: &[],
        docs: None,
    };
    ENGINE.install(backend, &SYSTEM, &request)
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

#[test]
fn dry_run_shows_every_file_and_command_and_changes_nothing() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    let before = fx.listing();
    let args = InstallOptions { dry_run: true, ..now() };
    let applied = install(&fx, &backend, args, true).map_err(io::Error::other)?;
    assert!(applied.dry_run);
    assert_eq!(fx.listing(), before, "a dry run writes nothing");
    assert!(backend.runner().changing_calls().is_empty(), "{:?}", backend.runner().calls());
    assert_eq!(
        written(&applied),
        [PathBuf::from("/usr/local/bin/demo"), "/etc/demo/demo.toml".into(), "/etc/systemd/system/demo.service".into()]
    );
    let unit = applied.actions.iter().find_map(|a| match a {
        Action::Write { path, contents } if path.ends_with("demo.service") => Some(contents.clone()),
        _ => None,
    });
    let unit = unit.unwrap_or_default();
    assert!(unit.contains(r#"ExecStart="/usr/local/bin/demo" "run" "--config" "/etc/demo/demo.toml""#), "{unit}");
    assert!(unit.contains("# file /usr/local/bin/demo\n# file /etc/demo/demo.toml\n"), "{unit}");
    assert!(unit.contains("# dir /etc/demo\n") && unit.contains("# dir /usr/local/bin\n"), "{unit}");
    let runs: Vec<String> = applied
        .actions
        .iter()
        .filter_map(|a| if let Action::Run(i) = a { Some(i.to_string()) } else { None })
        .collect();
    assert!(runs[0].starts_with("systemd-analyze verify --man=no "), "{runs:?}");
    assert_eq!(runs[1..], ["systemctl daemon-reload", "systemctl enable demo.service", "systemctl start demo.service"]);
    Ok(())
}

#[test]
fn installing_twice_changes_nothing_the_second_time() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    let first = install(&fx, &backend, now(), true).map_err(io::Error::other)?;
    assert_eq!(written(&first).len(), 3);
    assert!(backend.runner().state().active && backend.runner().state().enabled);
    let listing = fx.listing();
    assert!(
        matches!(listing.get(Path::new("usr/local/bin/demo")), Some(Entry::File(0o755, bytes)) if bytes == b"binary version 1"),
        "{listing:?}"
    );
    let calls = backend.runner().changing_calls().len();
    let second = install(&fx, &backend, now(), true).map_err(io::Error::other)?;
    assert!(second.changes_nothing(), "{second:?}");
    assert!(matches!(&second.actions[..], [Action::Note(note)] if note.starts_with("nothing to change")));
    assert_eq!(backend.runner().changing_calls().len(), calls, "no command changed anything");
    assert_eq!(fx.listing(), listing);
    Ok(())
}

#[test]
fn a_changed_binary_or_configuration_is_written_and_the_service_restarted() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    install(&fx, &backend, now(), true).map_err(io::Error::other)?;
    fs::write(&fx.binary, "binary version 2")?;
    let applied = install(&fx, &backend, copied(), true).map_err(io::Error::other)?;
    assert_eq!(written(&applied), [PathBuf::from("/usr/local/bin/demo")]);
    let tail: Vec<String> = backend.runner().changing_calls().into_iter().rev().take(3).collect();
    assert_eq!(tail, ["systemctl restart demo.service", "systemctl enable demo.service", "systemctl daemon-reload"]);
    assert_eq!(fs::read_to_string(fx.root.join("usr/local/bin/demo"))?, "binary version 2");
    fs::write(&fx.config, "[app]\nlabel = \"two\"\n")?;
    let applied = install(&fx, &backend, copied(), true).map_err(io::Error::other)?;
    assert_eq!(written(&applied), [PathBuf::from("/etc/demo/demo.toml")]);
    assert_eq!(backend.runner().state().starts, 3);
    assert!(backend.runner().state().active);
    Ok(())
}

#[test]
fn a_unit_duende_did_not_write_is_refused_without_force() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    let unit = fx.root.join("etc/systemd/system/demo.service");
    fs::write(&unit, "[Service]\nExecStart=/usr/bin/theirs\n")?;
    let err = install(&fx, &backend, copied(), false).err();
    assert!(
        matches!(&err, Some(BackendError::Foreign { path }) if path == Path::new("/etc/systemd/system/demo.service"))
    );
    assert_eq!(fs::read_to_string(&unit)?, "[Service]\nExecStart=/usr/bin/theirs\n");
    let uninstalled = ENGINE.uninstall(&backend, &SYSTEM).err();
    assert!(matches!(uninstalled, Some(BackendError::Foreign { .. })), "never removes a foreign unit");
    assert!(unit.exists());
    let forced = InstallOptions { force: true, ..copied() };
    install(&fx, &backend, forced, false).map_err(io::Error::other)?;
    assert!(super::is_written_by_duende(&fs::read_to_string(&unit)?));
    Ok(())
}

#[test]
fn a_failed_start_rolls_back_to_exactly_what_was_there() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    // A first install that never becomes ready leaves nothing behind.
    let pristine = fx.listing();
    backend.runner().state().script.push_back(Start::Refused);
    let err = install(&fx, &backend, now(), true).err();
    let Some(BackendError::NotObserved { observed, detail, .. }) = err else { panic!("not refused: {err:?}") };
    assert_eq!(observed, ServiceState::Failed);
    assert!(detail.contains("told to fail in init"), "the last log lines are shown: {detail}");
    assert_eq!(fx.listing(), pristine);
    assert!(!backend.runner().state().enabled);

    // An update that fails puts the previous version back and restarts it.
    install(&fx, &backend, now(), true).map_err(io::Error::other)?;
    let working = fx.listing();
    fs::write(&fx.binary, "binary version 2")?;
    fs::write(&fx.config, "[app]\nlabel = \"broken\"\n")?;
    backend.runner().state().script.push_back(Start::Refused);
    let err = install(&fx, &backend, now(), true).err();
    assert!(matches!(err, Some(BackendError::NotObserved { .. })), "{err:?}");
    assert_eq!(fx.listing(), working, "the previous unit, binary and configuration are back");
    let state = backend.runner().state().clone();
    assert!(state.enabled && state.active, "{state:?}");
    let tail: Vec<String> = backend.runner().changing_calls().into_iter().rev().take(2).collect();
    assert_eq!(tail, ["systemctl restart demo.service", "systemctl daemon-reload"]);
    Ok(())
}

/// `systemctl start` exiting 0 is no proof of a running daemon: a unit that stays activating,
/// waits to restart, or fails right after is refused (with the state seen and the journal), and
/// every file is put back byte for byte, mode included: nothing after a first install, the
/// previous binary, configuration and unit after an update, which runs again.
#[test]
fn a_start_that_exits_0_but_never_gets_ready_is_refused_and_rolled_back_byte_for_byte() -> io::Result<()> {
    let cases = [
        (
            Start::StaysActivating,
            ServiceState::Starting,
            "ActiveState=activating SubState=start (still not ready after",
        ),
        (Start::AutoRestarts, ServiceState::Starting, "ActiveState=activating SubState=auto-restart Result=exit-code"),
        (Start::FailsAfterStarting, ServiceState::Failed, "ActiveState=failed SubState=failed Result=exit-code"),
    ];
    for (start, seen, summary) in cases {
        let fx = fixture()?;
        let backend = fx.backend();
        let refused = |err: Option<BackendError>| {
            let Some(BackendError::NotObserved { expected, observed, detail }) = err else {
                panic!("{start:?}: not refused: {err:?}")
            };
            assert_eq!((expected, observed), (ServiceState::Running, seen), "{start:?}: {detail}");
            assert!(detail.starts_with(summary), "{start:?}: {detail}");
            // Only a unit still on its way is waited for until patience runs out; one that
            // settled is refused as soon as it is seen.
            assert_eq!(detail.contains("(still not ready after"), start == Start::StaysActivating, "{detail}");
            assert!(detail.contains("last log lines:\ndemo: told to fail in init"), "{start:?}: {detail}");
        };
        // Bytes that are not UTF-8, so a comparison of text could not pass them as equal.
        fs::write(&fx.binary, b"\x7fELF binary version 1 \xff\xfe")?;

        let pristine = fx.listing();
        backend.runner().state().script.push_back(start);
        refused(install(&fx, &backend, now(), true).err());
        assert_eq!(fx.listing(), pristine, "{start:?}: a first install leaves nothing behind");
        let state = backend.runner().state().clone();
        assert!(
            !state.enabled && !state.loaded && !state.active && !state.failed && state.activating.is_none(),
            "{start:?}: {state:?}"
        );

        install(&fx, &backend, now(), true).map_err(io::Error::other)?;
        let working = fx.listing();
        assert_ne!(working, pristine);
        fs::write(&fx.binary, b"\x7fELF binary version 2 \xfe\xff")?;
        fs::write(&fx.config, "[app]\nlabel = \"broken\"\n")?;
        backend.runner().state().script.push_back(start);
        let calls = backend.runner().changing_calls().len();
        refused(install(&fx, &backend, copied(), true).err());
        assert_eq!(fx.listing(), working, "{start:?}: the previous unit, binary and configuration are back");
        let state = backend.runner().state().clone();
        assert!(state.enabled && state.active && state.activating.is_none(), "{start:?}: {state:?}");
        let update: Vec<String> = backend.runner().changing_calls().into_iter().skip(calls).collect();
        assert_eq!(
            update,
            [
                "systemctl daemon-reload",
                "systemctl enable demo.service",
                "systemctl restart demo.service",
                "systemctl daemon-reload",
                "systemctl restart demo.service"
            ],
            "{start:?}: the update restarted the new files, then the previous ones"
        );
    }
    Ok(())
}

#[test]
fn uninstall_removes_exactly_what_install_created() -> io::Result<()> {
    let fx = fixture()?;
    fs::create_dir_all(fx.root.join("usr/local/bin"))?;
    fs::write(fx.root.join("usr/local/bin/other"), "someone else's")?;
    let backend = fx.backend();
    let before = fx.listing();
    install(&fx, &backend, now(), true).map_err(io::Error::other)?;
    assert!(fx.listing().contains_key(Path::new("etc/systemd/system/multi-user.target.wants/demo.service")));
    let applied = ENGINE.uninstall(&backend, &SYSTEM).map_err(io::Error::other)?;
    assert_eq!(fx.listing(), before);
    let state = backend.runner().state().clone();
    assert!(!state.active && !state.enabled && !state.loaded, "{state:?}");
    let runs: Vec<String> = applied
        .actions
        .iter()
        .filter_map(|a| if let Action::Run(i) = a { Some(i.to_string()) } else { None })
        .collect();
    assert_eq!(runs, ["systemctl stop demo.service", "systemctl disable demo.service", "systemctl daemon-reload"]);
    let again = ENGINE.uninstall(&backend, &SYSTEM).map_err(io::Error::other)?;
    assert!(matches!(&again.actions[..], [Action::Note(note)] if note.contains("not installed")), "{again:?}");
    Ok(())
}

#[test]
fn a_system_service_needs_root_and_says_how() -> io::Result<()> {
    let fx = fixture()?;
    let backend = SystemdBackend::new(RecordingRunner::new(), fx.host(1000));
    let settings = settings();
    let request = InstallRequest {
        options: copied(),
        settings: &settings,
        binary: &fx.binary,
        config_file: None,
        sets: &[],
        overrides: &[],
        docs: None,
    };
    let err = ENGINE.install(&backend, &SYSTEM, &request).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        err,
        "`install` for a system service needs root; run `sudo demo install --system`, or manage a user service with \
         `--user`"
    );
    assert!(backend.runner().calls().is_empty());
    Ok(())
}

#[test]
fn without_systemd_every_command_says_what_is_missing() -> io::Result<()> {
    let fx = fixture()?;
    let host = fx.host(0).with_var("PATH", "");
    let backend = SystemdBackend::new(RecordingRunner::new(), host);
    let err = ENGINE.status(&backend, &SYSTEM, None).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(err, "`systemctl` was not found on PATH; the systemd backend needs it");
    fs::remove_dir(fx.root.join("run/systemd/system"))?;
    let backend = SystemdBackend::new(RecordingRunner::new(), fx.host(0));
    let err = ENGINE.uninstall(&backend, &SYSTEM).err();
    assert!(matches!(&err, Some(BackendError::Unavailable { what, .. }) if what.contains("/run/systemd/system")));
    assert!(backend.runner().calls().is_empty());
    Ok(())
}

#[test]
fn user_services_use_the_user_manager_and_warn_about_linger() -> io::Result<()> {
    let fx = fixture()?;
    let user = Service { name: "demo", level: Level::User };
    let backend = SystemdBackend::new(RecordingRunner::new(), fx.host(1000));
    let settings = settings();
    let request = InstallRequest {
        options: InstallOptions { dry_run: true, ..copied() },
        settings: &settings,
        binary: &fx.binary,
        config_file: Some(&fx.config),
        sets: &[],
        overrides: &[],
        docs: None,
    };
    let applied = ENGINE.install(&backend, &user, &request).map_err(io::Error::other)?;
    assert_eq!(
        written(&applied),
        [
            PathBuf::from("/home/ana/.local/bin/demo"),
            "/home/ana/.config/demo/demo.toml".into(),
            "/home/ana/.config/systemd/user/demo.service".into()
        ]
    );
    assert!(applied.actions.iter().any(|a| matches!(a, Action::Note(n) if n.contains("loginctl enable-linger ana"))));
    let calls: Vec<String> = backend.runner().calls().iter().map(ToString::to_string).collect();
    assert!(calls.contains(&"env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user is-enabled demo.service".to_owned()));

    let unreachable =
        RecordingRunner::new().reply(Ok(CommandOutput::failure(1, "Failed to connect to bus: No medium found")));
    let backend = SystemdBackend::new(unreachable, fx.host(1000).with_var("XDG_RUNTIME_DIR", "/run/user/1000"));
    let err = ENGINE.status(&backend, &user, None).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("cannot reach the systemd user manager of ana") && err.contains("`loginctl enable-linger ana`"),
        "{err}"
    );
    assert_eq!(
        backend.runner().calls()[0].to_string(),
        format!("systemctl --user show -p {} demo.service", super::show::PROPERTIES)
    );
    Ok(())
}

#[test]
fn status_reports_drift_and_logs_stream_the_journal() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    install(&fx, &backend, now(), false).map_err(io::Error::other)?;
    let status = ENGINE.status(&backend, &SYSTEM, None).map_err(io::Error::other)?;
    assert_eq!((status.state, status.ready, status.pid), (ServiceState::Running, true, Some(42)));
    assert!(status.drift.is_empty(), "{status:?}");
    fs::write(&fx.binary, "a newer build")?;
    assert_eq!(ENGINE.status(&backend, &SYSTEM, None).map_err(io::Error::other)?.drift, [Drift::Binary]);
    let mut out = Vec::new();
    backend.logs(&SYSTEM, LogQuery { lines: Some(5), follow: false }, &mut out).map_err(io::Error::other)?;
    assert_eq!(String::from_utf8_lossy(&out), "demo: told to fail in init\n");
    let last = backend.runner().calls().pop().map(|c| c.to_string()).unwrap_or_default();
    assert_eq!(last, "journalctl -u demo.service -n 5 --no-pager -o cat");
    Ok(())
}

#[test]
fn start_and_stop_report_what_they_observed() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    assert!(matches!(ENGINE.operate(&backend, &SYSTEM, Op::Start), Err(BackendError::NotInstalled { .. })));
    install(&fx, &backend, copied(), false).map_err(io::Error::other)?;
    assert_eq!(ENGINE.operate(&backend, &SYSTEM, Op::Start).map_err(io::Error::other)?.1.state, ServiceState::Running);
    assert_eq!(ENGINE.operate(&backend, &SYSTEM, Op::Reload).map_err(io::Error::other)?.1.state, ServiceState::Running);
    assert_eq!(ENGINE.operate(&backend, &SYSTEM, Op::Stop).map_err(io::Error::other)?.1.state, ServiceState::Stopped);
    backend.runner().state().script.push_back(Start::Refused);
    let err = ENGINE.operate(&backend, &SYSTEM, Op::Restart).err();
    assert!(matches!(err, Some(BackendError::NotObserved { observed: ServiceState::Failed, .. })), "{err:?}");
    Ok(())
}

#[test]
fn uninstall_keeps_a_state_directory_that_holds_data() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    install(&fx, &backend, now(), false).map_err(io::Error::other)?;
    fs::create_dir_all(fx.root.join("var/lib/demo"))?;
    fs::write(fx.root.join("var/lib/demo/data"), "precious")?;
    let applied = ENGINE.uninstall(&backend, &SYSTEM).map_err(io::Error::other)?;
    assert!(applied.actions.iter().any(|a| matches!(a, Action::Note(n) if n.starts_with("kept /var/lib/demo"))));
    assert_eq!(fs::read_to_string(fx.root.join("var/lib/demo/data"))?, "precious");
    fs::remove_file(fx.root.join("var/lib/demo/data"))?;
    install(&fx, &backend, now(), false).map_err(io::Error::other)?;
    let applied = ENGINE.uninstall(&backend, &SYSTEM).map_err(io::Error::other)?;
    assert!(applied.actions.contains(&Action::Remove { path: "/var/lib/demo".into() }), "an empty one goes");
    Ok(())
}

#[test]
fn in_place_installs_point_at_the_binary_and_warn_about_cargo_target_dirs() -> io::Result<()> {
    let fx = fixture()?;
    let backend = fx.backend();
    let settings = settings();
    let built = Path::new("/work/app/target/debug/demo");
    let request = InstallRequest {
        options: InstallOptions { dry_run: true, ..InstallOptions::default() },
        settings: &settings,
        binary: built,
        config_file: None,
        sets: &[],
        overrides: &[],
        docs: None,
    };
    let applied = ENGINE.install(&backend, &SYSTEM, &request).map_err(io::Error::other)?;
    assert_eq!(written(&applied), [PathBuf::from("/etc/systemd/system/demo.service")], "nothing is copied");
    let unit = applied.actions.iter().find_map(|a| match a {
        Action::Write { contents, .. } => Some(contents.clone()),
        _ => None,
    });
    assert!(unit.is_some_and(|u| u.contains(r#"ExecStart="/work/app/target/debug/demo" "run""#)));
    assert!(applied.actions.iter().any(|a| matches!(a, Action::Note(n) if n.contains("cargo target directory"))));
    Ok(())
}

/// The completions and man page `install` places (their texts as the command line renders them;
/// any text does here).
fn docs(version: &str) -> crate::platform::backend::Docs {
    crate::platform::backend::Docs {
        bash: format!("complete -F _demo demo # {version}\n"),
        zsh: format!("#compdef demo\n# {version}\n"),
        fish: format!("complete -c demo # {version}\n"),
        man: format!(".TH demo 1 \"demo {version}\"\n"),
    }
}

fn install_with_docs(
    fx: &Fixture,
    backend: &dyn Backend,
    options: InstallOptions,
    docs: &crate::platform::backend::Docs,
) -> Result<Applied, BackendError> {
    let settings = settings();
    let request = InstallRequest {
        options,
        settings: &settings,
        binary: &fx.binary,
        config_file: None,
        sets: &[],
        overrides: &[],
        docs: Some(docs),
    };
    ENGINE.install(backend, &SYSTEM, &request)
}

#[test]
fn completions_and_the_man_page_are_installed_with_the_service_and_removed_with_it() -> io::Result<()> {
    let fx = fixture()?;
    // Someone else's page in the same directory stays.
    fs::create_dir_all(fx.root.join("usr/local/share/man/man1"))?;
    fs::write(fx.root.join("usr/local/share/man/man1/other.1"), ".TH other 1\n")?;
    let backend = fx.backend();
    let before = fx.listing();
    let places = [
        "/usr/local/share/bash-completion/completions/demo",
        "/usr/local/share/zsh/site-functions/_demo",
        "/usr/local/share/fish/vendor_completions.d/demo.fish",
        "/usr/local/share/man/man1/demo.1",
    ];
    let one = docs("1");
    let dry =
        install_with_docs(&fx, &backend, InstallOptions { dry_run: true, ..now() }, &one).map_err(io::Error::other)?;
    assert_eq!(fx.listing(), before, "a dry run writes nothing");
    let shown = written(&dry);
    for place in places {
        assert!(shown.contains(&PathBuf::from(place)), "--dry-run does not show {place}: {shown:?}");
    }
    let shown = format!("(the man page, {} bytes, mode 0644: what `demo man` prints)", one.man.len());
    assert!(dry.actions.contains(&Action::Write { path: places[3].into(), contents: shown }), "{dry:?}");
    install_with_docs(&fx, &backend, now(), &one).map_err(io::Error::other)?;
    let listing = fx.listing();
    for (place, text) in places.iter().zip([&one.bash, &one.zsh, &one.fish, &one.man]) {
        let entry = listing.get(&PathBuf::from(&place[1..]));
        assert!(matches!(entry, Some(Entry::File(0o644, bytes)) if bytes == text.as_bytes()), "{place}: {entry:?}");
    }
    let unit = fs::read_to_string(fx.root.join("etc/systemd/system/demo.service"))?;
    for place in places {
        assert!(unit.contains(&format!("# file {place}\n")), "the manifest does not record {place}:\n{unit}");
    }
    assert!(unit.contains("# dir /usr/local/share/zsh\n") && !unit.contains("# dir /usr/local/share/man\n"), "{unit}");
    // Twice: nothing changes.
    let calls = backend.runner().changing_calls().len();
    let again = install_with_docs(&fx, &backend, now(), &one).map_err(io::Error::other)?;
    assert!(again.changes_nothing(), "{again:?}");
    assert_eq!((fx.listing(), backend.runner().changing_calls().len()), (listing, calls));
    // New texts alone (the same binary): written, and the service neither re-read nor restarted.
    let two = docs("2");
    let applied = install_with_docs(&fx, &backend, now(), &two).map_err(io::Error::other)?;
    assert_eq!(written(&applied), places.map(PathBuf::from));
    assert_eq!(backend.runner().changing_calls().len(), calls, "{:?}", backend.runner().calls());
    assert_eq!(fs::read_to_string(fx.root.join("usr/local/share/man/man1/demo.1"))?, two.man);
    // Uninstall: exactly what was there before, the other page included.
    ENGINE.uninstall(&backend, &SYSTEM).map_err(io::Error::other)?;
    assert_eq!(fx.listing(), before);
    Ok(())
}
