//! The WOS runner: `NAME [--config PATH] __wos-run --manifest FILE`, the program a host's
//! manager (systemd, the native supervisor) supervises for a WOS daemon where WOS itself is
//! absent. To its manager it looks like the daemon: it reports readiness on `$NOTIFY_SOCKET` and
//! answers the control protocol at the daemon's control socket, while the daemon runs as a WASI
//! module under the wasmtime engine. It:
//!
//! 1. reads and validates the manifest ([`super::manifest::load`]), refuses a module whose
//!    SHA-256 is not the manifest's `digest` (78: run `install` again), takes the daemon's
//!    instance lock in its runtime directory, sets its own nice value from the priority (the
//!    engine inherits it; a priority above the default that the user may not take is said once
//!    and run at the current one), and starts the engine ([`super::engine_command`]) with the
//!    module's standard input and output piped to itself and its standard error its own;
//! 2. splits the module's standard output at the RS byte: the daemon's own output is copied to
//!    the runner's standard output (the manager's log or journal), each notice is told to its
//!    manager (`ready` → `READY=1`, `reloading` → `RELOADING=1`, `reloaded` → `READY=1` with
//!    `X_DUENDE_RELOAD`, `stopping` → `STOPPING=1`, `status` → `STATUS=`), each reply goes to
//!    whoever asked;
//! 3. serves `control.sock` in the runtime directory: each request line is written to the
//!    module's standard input and the module's reply passed back, one request at a time (the
//!    protocol has no request ids: the replies come in order);
//! 4. on SIGTERM or SIGINT asks the module to `stop` (and closes its standard input, a graceful
//!    stop for a duende module, when it cannot be asked), and kills the engine if it has not exited
//!    within the manifest's shutdown timeout plus [`STOP_MARGIN`], before its manager's own
//!    deadline (`shutdown_timeout` + 5 s); on SIGHUP asks for a `reload` and logs the verdict;
//! 5. exits with the module's exit status (the engine's), 75 when it had to be killed after a
//!    stop, once the engine is gone and the control socket removed.
//!
//! The engine gets a parent-death signal: a runner killed with SIGKILL takes it along.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::manifest::{self, Manifest, ManifestError};
use crate::control::lock::{self, Locked};
use crate::control::protocol::{Op, Request};
use crate::exit::Exit;
use crate::notify::Notifier;
use crate::platform::Host;
pub use crate::platform::plan::RUNNER_STOP_MARGIN as STOP_MARGIN;

mod channel;

/// Why the module did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The manifest cannot be read or is not valid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The module cannot be read.
    #[error("cannot read the module {}: {source}; run `install --platform wos` again", .path.display())]
    Module {
        /// The module.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The module is not the one the manifest names.
    #[error(
        "the module {} is not the one in the manifest: its digest is {found}, the manifest's `digest` is {expected}; \
         run `install --platform wos` again to install it with its manifest",
        .path.display()
    )]
    Digest {
        /// The module.
        path: PathBuf,
        /// The manifest's digest.
        expected: String,
        /// The module's.
        found: String,
    },
    /// No engine.
    #[error(
        "the WASI engine `wasmtime` {where_}: install the wasmtime CLI (`cargo install --locked wasmtime-cli`, or a \
         release from https://github.com/bytecodealliance/wasmtime/releases) and put it in PATH, then run `install \
         --platform wos` again"
    )]
    NoEngine {
        /// Where it was looked for.
        where_: String,
    },
    /// The runtime directory cannot be used.
    #[error("cannot prepare the runtime directory {}: {source}", .dir.display())]
    RuntimeDir {
        /// The directory.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another runner, or the daemon itself, holds the runtime directory.
    #[error("{name} already runs with the runtime directory {} (pid {})", .dir.display(), .pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string()))]
    AlreadyRunning {
        /// The daemon's name.
        name: String,
        /// The runtime directory.
        dir: PathBuf,
        /// The holder, when known.
        pid: Option<u32>,
    },
    /// The engine did not start.
    #[error("cannot start the engine `{}`: {source}", .program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// `$NOTIFY_SOCKET` is set and cannot be used.
    #[error("`NOTIFY_SOCKET={value}` cannot be used: {source}")]
    Notify {
        /// Its value.
        value: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The signal handlers cannot be installed.
    #[error("cannot install the runner's signal handlers: {0}")]
    Signals(#[source] io::Error),
    /// The control socket cannot be bound.
    #[error("cannot listen on {}: {source}", .path.display())]
    Listen {
        /// The socket.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl RunnerError {
    /// The exit status the runner ends with when it fails this way (78 and 69 are not restarted
    /// by a manager that follows `RestartPreventExitStatus=`).
    pub fn exit(&self) -> Exit {
        match self {
            RunnerError::Manifest(_) | RunnerError::Digest { .. } | RunnerError::Module { .. } => Exit::Config,
            RunnerError::NoEngine { .. } | RunnerError::AlreadyRunning { .. } => Exit::Unavailable,
            _ => Exit::OsError,
        }
    }
}

/// The engine for `manifest`: its `wasmtime` when that is a file, else `wasmtime` on `PATH`.
pub fn find_engine(host: &Host, manifest: &Manifest) -> Result<PathBuf, RunnerError> {
    match &manifest.wasmtime {
        Some(path) if host.path(path).is_file() => Ok(path.clone()),
        Some(path) => Err(RunnerError::NoEngine { where_: format!("is not at {}", path.display()) }),
        None => {
            host.find_tool(super::WASMTIME).ok_or_else(|| RunnerError::NoEngine { where_: "is not in PATH".to_owned() })
        }
    }
}

/// What the runner's threads tell its main loop.
enum Event {
    Signal(i32),
}

/// `__wos-run --manifest FILE` for the daemon `name`: runs the module and stays until the engine
/// has exited; the exit status is the module's.
pub fn main(name: &str, manifest_path: &Path) -> Exit {
    let host = Host::from_process();
    match Runner::start(name, &host, manifest_path) {
        Ok(runner) => runner.serve(),
        Err(err) => {
            eprintln!("{name}: {err}");
            err.exit()
        }
    }
}

struct Runner {
    name: String,
    dir: PathBuf,
    engine: Child,
    channel: Arc<channel::Channel>,
    events: mpsc::Receiver<Event>,
    output: Option<thread::JoinHandle<()>>,
    stop_timeout: Duration,
    _lock: lock::InstanceLock,
}

impl Runner {
    fn start(name: &str, host: &Host, manifest_path: &Path) -> Result<Runner, RunnerError> {
        let manifest = manifest::load(manifest_path)?;
        let bytes = std::fs::read(&manifest.module)
            .map_err(|source| RunnerError::Module { path: manifest.module.clone(), source })?;
        let found = manifest::digest_of(&bytes);
        if found != manifest.digest {
            return Err(RunnerError::Digest { path: manifest.module.clone(), expected: manifest.digest, found });
        }
        drop(bytes);
        let engine_program = find_engine(host, &manifest)?;
        let dir = host.runtime_dir(name);
        let prepared = |source| RunnerError::RuntimeDir { dir: dir.clone(), source };
        crate::rundir::prepare(&dir).map_err(prepared)?;
        let lock = match lock::acquire(&dir.join(crate::rundir::LOCK_NAME)).map_err(prepared)? {
            Locked::Acquired(lock) => lock,
            Locked::HeldBy(pid) => return Err(RunnerError::AlreadyRunning { name: name.to_owned(), dir, pid }),
        };
        schedule(name, manifest.priority);

        let notify_socket = std::env::var("NOTIFY_SOCKET").ok();
        let notifier = Notifier::from_socket_var(notify_socket.as_deref())
            .map_err(|source| RunnerError::Notify { value: notify_socket.clone().unwrap_or_default(), source })?;
        let (sender, events) = mpsc::channel();
        let mut signals =
            signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD])
                .map_err(RunnerError::Signals)?;
        spawn_thread("signals", move || {
            for signal in signals.forever() {
                if sender.send(Event::Signal(signal)).is_err() {
                    return;
                }
            }
        });

        let invocation = super::engine_command(&manifest, &engine_program);
        let mut command = Command::new(&invocation.program);
        command.args(&invocation.args).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut engine = crate::platform::runner::spawn_tied(&mut command)
            .map_err(|source| RunnerError::Spawn { program: engine_program.clone(), source })?;
        let (Some(stdin), Some(stdout)) = (engine.stdin.take(), engine.stdout.take()) else {
            let _ = engine.kill();
            let _ = engine.wait();
            return Err(RunnerError::Spawn { program: engine_program, source: io::Error::other("no pipes") });
        };
        let (replies_in, replies) = mpsc::channel();
        let output = thread::Builder::new()
            .name("module-output".into())
            .spawn({
                let name = name.to_owned();
                move || {
                    let mut ready = false;
                    channel::split(stdout, io::stdout(), |line| match channel::classify(line) {
                        Ok(channel::Record::Notice(notice)) => {
                            channel::relay(&notifier, &notice);
                            if notice.event == crate::control::protocol::NoticeEvent::Ready && !ready {
                                ready = true;
                                eprintln!("{name}: the module is ready");
                            }
                        }
                        Ok(channel::Record::Reply(reply)) => {
                            let _ = replies_in.send(reply);
                        }
                        Err(why) => eprintln!("{name}: the module's control channel: {why}"),
                    });
                }
            })
            .map_err(|source| RunnerError::Spawn { program: engine_program.clone(), source })?;
        let channel = Arc::new(channel::Channel::new(stdin, replies));

        let socket = crate::rundir::socket_in(&dir);
        let listener = crate::rundir::bind_private(&dir, &socket)
            .map_err(|source| RunnerError::Listen { path: socket.clone(), source })?;
        spawn_thread("control", {
            let channel = Arc::clone(&channel);
            move || channel::serve(&listener, &channel)
        });
        eprintln!(
            "{name}: started the module {} under {} (pid {})",
            manifest.module.display(),
            engine_program.display(),
            engine.id()
        );
        Ok(Runner {
            name: name.to_owned(),
            dir,
            engine,
            channel,
            events,
            output: Some(output),
            stop_timeout: Duration::from_millis(manifest.shutdown_timeout_ms).saturating_add(STOP_MARGIN),
            _lock: lock,
        })
    }

    /// Waits for the engine to exit, acting on signals; then cleans up.
    fn serve(mut self) -> Exit {
        let name = self.name.clone();
        let mut kill_at: Option<Instant> = None;
        let mut killed = false;
        let ended = loop {
            match self.engine.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) => {}
                Err(err) => {
                    eprintln!("{name}: cannot wait for the engine: {err}");
                    break None;
                }
            }
            if let Some(at) = kill_at
                && at <= Instant::now()
            {
                kill_at = None;
                killed = true;
                eprintln!(
                    "{name}: the module did not stop within {:?}; killing the engine (pid {})",
                    self.stop_timeout,
                    self.engine.id()
                );
                let _ = self.engine.kill();
                continue;
            }
            let wait = kill_at.map_or(Duration::from_millis(500), |at| at.saturating_duration_since(Instant::now()));
            match self.events.recv_timeout(wait.min(Duration::from_millis(500))) {
                Ok(Event::Signal(libc::SIGTERM | libc::SIGINT)) if kill_at.is_none() && !killed => {
                    eprintln!("{name}: told to stop by a signal; asking the module to stop");
                    kill_at = Some(Instant::now() + self.stop_timeout);
                    self.ask(Op::Stop);
                }
                Ok(Event::Signal(libc::SIGHUP)) => self.ask(Op::Reload),
                Ok(Event::Signal(_)) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(50)),
            }
        };
        self.channel.close();
        if let Some(output) = self.output.take() {
            let _ = output.join();
        }
        let _ = std::fs::remove_file(crate::rundir::socket_in(&self.dir));
        match ended.map(|status| status.code()) {
            _ if killed => {
                eprintln!("{name}: the engine was killed after the stop timeout");
                Exit::ShutdownTimeout
            }
            Some(Some(code)) => {
                eprintln!("{name}: the module exited with status {code}");
                Exit::Relayed(u8::try_from(code).unwrap_or(u8::MAX))
            }
            _ => {
                eprintln!("{name}: the engine ended without an exit status (killed by a signal)");
                Exit::OsError
            }
        }
    }

    /// Asks the module for `op` on a thread of its own and logs the answer. A `stop` the module
    /// cannot be asked for closes its standard input instead (a graceful stop too).
    fn ask(&self, op: Op) {
        let (channel, name) = (Arc::clone(&self.channel), self.name.clone());
        spawn_thread("ask", move || {
            let line = serde_json::to_vec(&Request::new(op)).unwrap_or_default();
            let patience = if op == Op::Reload { channel::RELOAD_PATIENCE } else { channel::PATIENCE };
            let reply = channel.ask(&line, patience);
            let text = String::from_utf8_lossy(&reply);
            let ok = serde_json::from_slice::<serde_json::Value>(&reply)
                .is_ok_and(|value| value.get("ok") == Some(&serde_json::Value::Bool(true)));
            eprintln!("{name}: the module answered `{}`: {}", op.name(), text.trim_end());
            if op == Op::Stop && !ok {
                eprintln!("{name}: closing the module's standard input instead (a graceful stop)");
                channel.close();
            }
        });
    }
}

/// Sets this process's nice value for `priority` (the engine inherits it); says so when it
/// cannot (a priority above the default needs `CAP_SYS_NICE`).
fn schedule(name: &str, priority: u8) {
    let wanted = super::nice(priority);
    // SAFETY: getpriority/setpriority have no memory-safety preconditions; errno is read at once.
    let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    if current == wanted {
        return;
    }
    // SAFETY: as above.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, wanted) } != 0 {
        let err = io::Error::last_os_error();
        eprintln!(
            "{name}: priority {priority} asks for nice {wanted}, which this user may not take ({err}); the module runs \
             at nice {current} (run it as a system service, or give the runner CAP_SYS_NICE)"
        );
    }
}

fn spawn_thread(name: &str, body: impl FnOnce() + Send + 'static) {
    if let Err(err) = thread::Builder::new().name(name.to_owned()).spawn(body) {
        eprintln!("cannot start the runner's {name} thread: {err}");
    }
}
