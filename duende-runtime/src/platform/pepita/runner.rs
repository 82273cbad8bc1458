//! The VM runner: `NAME __pepita-vm --bundle DIR`, the one program the host's manager (systemd,
//! the native supervisor) supervises for a pepita daemon. It looks to its manager like the daemon
//! itself: it reports readiness on `$NOTIFY_SOCKET` and answers the control protocol at the
//! daemon's control socket, while the daemon runs as PID 1 of a microVM.
//!
//! The bundle directory holds the initramfs ([`INITRAMFS`]) and a [`Description`] ([`DESCRIPTION`],
//! JSON) of the machine, both written by [`write()`]. The runner:
//!
//! 1. takes the daemon's instance lock in its runtime directory, starts the vsock backend
//!    (`vhost-device-vsock`, see [`super::hybrid`]) and waits for its socket, listens for the
//!    guest's report and for its requests for the configuration file (`--config PATH` of the
//!    runner, answered with the file's current bytes, see [`super::config_port`]), then starts
//!    QEMU; the guest's console (QEMU's standard output) is copied line by line to the runner's
//!    standard output (`console`), so it is wherever the manager keeps the daemon's output: the
//!    journal under systemd, the log file under duende's own supervisor, with their rotation,
//!    across restarts;
//! 2. relays every `NOTIFY` line of the guest's report, as it came, to its own `$NOTIFY_SOCKET`,
//!    and acknowledges `EXIT`;
//! 3. serves `control.sock` in the runtime directory, each connection passed through to the
//!    guest's control port ([`super::CONTROL_PORT`]): `status`, `reload` and `stop` work as for a
//!    daemon on the host;
//! 4. on SIGTERM or SIGINT asks the guest's daemon to stop (the control protocol's `stop`) and
//!    kills QEMU if it has not powered off within `shutdown_timeout` plus [`STOP_MARGIN`],
//!    which leaves it time to clean up before its own manager's deadline (`shutdown_timeout` plus
//!    the manager's larger margin); on SIGHUP it asks for a reload (the guest fetches the
//!    configuration file first). A configuration file it cannot hand over is a rejected reload,
//!    told to its manager as the daemon tells one (`RELOADING=1`, then `READY=1` with
//!    `X_DUENDE_RELOAD=rejected`);
//! 5. exits with the guest daemon's exit status from its `EXIT` line, or 71 when QEMU ended
//!    without one (75 when it had to be killed after a stop), once QEMU and the vsock backend are
//!    gone (killed by PID where needed) and their sockets removed.
//!
//! Its children get a parent-death signal: a runner killed with SIGKILL takes them with it.

use std::io;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::bundle::Bundle;
use super::config_port::{self, Answer};
use super::qemu;
use super::report::{self, Report};
use super::{CONFIG_PORT, REPORT_PORT, hybrid};
use crate::config::platforms::Accel;
use crate::control::lock::{self, Locked};
use crate::exit::Exit;
use crate::notify::Notifier;
use crate::platform::Host;

mod console;
mod proxy;

/// How long past `shutdown_timeout` the runner waits for the VM to power off before it kills
/// QEMU; its [`WIND_DOWN`] follows. See [`RUNNER_STOP_MARGIN`](crate::platform::plan::RUNNER_STOP_MARGIN).
pub use crate::platform::plan::RUNNER_STOP_MARGIN as STOP_MARGIN;
/// The longest the runner takes to end once QEMU is gone: waiting for a trailing `EXIT` report,
/// then stopping the vsock backend.
pub const WIND_DOWN: Duration = REPORT_PATIENCE.saturating_add(BACKEND_STOP_PATIENCE);
/// How long the vsock backend may take to exit on SIGTERM before it is killed.
const BACKEND_STOP_PATIENCE: Duration = Duration::from_millis(500);

/// The machine's description in a bundle directory.
pub const DESCRIPTION: &str = "vm.json";
/// The initramfs in a bundle directory.
pub const INITRAMFS: &str = "initramfs";
/// QEMU's end of the vsock backend, in the runtime directory.
const VHOST_SOCKET: &str = "vm.vhost.sock";
/// The hybrid vsock socket (host → guest; `_PORT` appended: guest → host), in the runtime directory.
const VSOCK_SOCKET: &str = "vm.vsock";
/// How long the vsock backend may take to create its socket.
const BACKEND_PATIENCE: Duration = Duration::from_secs(10);
/// How long QEMU may take to power off after the guest reported its daemon's exit.
const POWER_OFF_PATIENCE: Duration = Duration::from_secs(10);
/// How long the report's `EXIT` may trail QEMU's exit (the report thread reads it).
const REPORT_PATIENCE: Duration = Duration::from_secs(2);
/// How long a `reload` asked for on SIGHUP may take.
const RELOAD_PATIENCE: Duration = Duration::from_secs(30);

/// What the runner needs to know of the machine besides the initramfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    /// The daemon's name.
    pub name: String,
    /// The guest kernel.
    pub kernel: PathBuf,
    /// The kernel command line.
    pub cmdline: String,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Guest memory in MiB.
    pub memory_mb: u64,
    /// The guest's vsock context id.
    pub vsock_cid: u32,
    /// How QEMU runs the guest (`kvm` or `tcg`, resolved).
    pub accel: Accel,
    /// The daemon's `shutdown_timeout`, in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// The vsock backend's program; `vhost-device-vsock` from `PATH` when absent.
    #[serde(default)]
    pub vsock_backend: Option<PathBuf>,
}

impl Description {
    /// The description of `bundle`, whose daemon stops within `shutdown_timeout`.
    pub fn of(bundle: &Bundle, shutdown_timeout: Duration, vsock_backend: Option<PathBuf>) -> Description {
        Description {
            name: bundle.name.clone(),
            kernel: bundle.kernel.clone(),
            cmdline: bundle.cmdline.clone(),
            vcpus: bundle.vcpus,
            memory_mb: bundle.memory_mb,
            vsock_cid: bundle.vsock_cid,
            accel: bundle.accel,
            shutdown_timeout_ms: u64::try_from(shutdown_timeout.as_millis()).unwrap_or(u64::MAX),
            vsock_backend,
        }
    }

    /// The machine as [`qemu::command`] takes it (no initramfs bytes: QEMU reads the file).
    fn machine(&self) -> Bundle {
        Bundle {
            name: self.name.clone(),
            kernel: self.kernel.clone(),
            initramfs: Vec::new(),
            listing: Vec::new(),
            cmdline: self.cmdline.clone(),
            argv: Vec::new(),
            env: Vec::new(),
            vcpus: self.vcpus,
            memory_mb: self.memory_mb,
            vsock_cid: self.vsock_cid,
            accel: self.accel,
        }
    }
}

/// The VMM's command line the runner runs for `description`, with the bundle directory `bundle`
/// and the runtime directory `dir` (what `install --dry-run` shows).
pub fn vmm_command(description: &Description, bundle: &Path, dir: &Path) -> crate::platform::runner::Invocation {
    qemu::command(&description.machine(), &bundle.join(INITRAMFS), Some(&dir.join(VHOST_SOCKET)))
}

/// `description` as the bundle directory holds it.
pub fn render(description: &Description) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(description).map(|text| text + "\n")
}

/// Writes `bundle`'s initramfs and `description` into the bundle directory `dir` (created if
/// missing), what `__pepita-vm --bundle DIR` boots.
pub fn write(dir: &Path, bundle: &Bundle, description: &Description) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(INITRAMFS), &bundle.initramfs)?;
    std::fs::write(dir.join(DESCRIPTION), render(description).map_err(io::Error::other)?)
}

/// Why the VM did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The bundle's description cannot be read.
    #[error("cannot read the VM's description {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The bundle's description is not valid.
    #[error("the VM's description {} is not valid: {reason}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The vsock backend is not installed.
    #[error(
        "the vsock backend `{}` {where_}: install the crate `vhost-device-vsock` \
         (`cargo install --locked vhost-device-vsock`) and put it in PATH, or name it in `vsock_backend`",
        hybrid::BACKEND
    )]
    NoBackend {
        /// Where it was looked for.
        where_: String,
    },
    /// QEMU is not installed.
    #[error(
        "`{}` is not in PATH: install the apt package `qemu-system-x86` (`apt-get install qemu-system-x86`)",
        qemu::PROGRAM
    )]
    NoQemu,
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
    /// A program did not start.
    #[error("cannot start `{}`: {source}", .program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The vsock backend did not come up.
    #[error("the vsock backend `{}` did not create {}: {why}", .program.display(), .socket.display())]
    Backend {
        /// The program.
        program: PathBuf,
        /// Its socket.
        socket: PathBuf,
        /// What happened instead.
        why: String,
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
    /// A socket of the runner's cannot be bound.
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
    /// The exit status the runner ends with when it fails this way.
    pub fn exit(&self) -> Exit {
        match self {
            RunnerError::Read { .. } | RunnerError::Invalid { .. } => Exit::Config,
            RunnerError::NoBackend { .. } | RunnerError::NoQemu | RunnerError::AlreadyRunning { .. } => {
                Exit::Unavailable
            }
            _ => Exit::OsError,
        }
    }
}

/// Reads the description in the bundle directory `dir`.
pub fn read(dir: &Path) -> Result<Description, RunnerError> {
    let path = dir.join(DESCRIPTION);
    let text = std::fs::read_to_string(&path).map_err(|source| RunnerError::Read { path: path.clone(), source })?;
    serde_json::from_str(&text).map_err(|err| RunnerError::Invalid { path, reason: err.to_string() })
}

/// What the runner's threads tell its main loop.
#[derive(Debug)]
enum Event {
    /// A signal arrived.
    Signal(i32),
    /// The guest's report said this (notifications are relayed already).
    Report(Report),
}

/// A child killed by PID (SIGKILL) when dropped, unless it has been reaped.
#[derive(Debug)]
struct Owned {
    child: Child,
}

impl Owned {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has ended (reaped here).
    fn ended(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then SIGKILL after `patience`; reaped either way.
    fn stop(&mut self, patience: Duration) {
        if self.ended().is_some() {
            return;
        }
        send(self.pid(), libc::SIGTERM);
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if self.ended().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.ended().is_none() {
            // Child::kill sends SIGKILL to this child's PID.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `signal` to the process `pid`.
fn send(pid: u32, signal: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, signal) };
    }
}

/// `command` with a parent-death signal: the child is killed when the runner's main thread ends.
fn spawn(mut command: Command, program: &Path) -> Result<Child, RunnerError> {
    crate::platform::runner::spawn_tied(&mut command)
        .map_err(|source| RunnerError::Spawn { program: program.to_path_buf(), source })
}

/// The running VM and what the runner holds for it.
struct Runner {
    name: String,
    dir: PathBuf,
    uds: PathBuf,
    /// The configuration file on the host, the guest's configuration.
    config: Option<PathBuf>,
    stop_timeout: Duration,
    events: Receiver<Event>,
    // Dropped in this order: QEMU before its vsock backend.
    qemu: Owned,
    backend: Owned,
    /// The thread copying the guest's console, done when QEMU's standard output closes.
    console: Option<thread::JoinHandle<()>>,
    _lock: lock::InstanceLock,
}

/// `[--config PATH] __pepita-vm --bundle DIR`: boots the bundle in `bundle` for the daemon `name`
/// and stays until QEMU has exited; the exit status is the guest daemon's. `config` is the
/// configuration file on the host, which the guest fetches at boot and before each reload.
pub fn main(name: &str, bundle: &Path, config: Option<&Path>) -> Exit {
    let host = Host::from_process();
    let started = read(bundle).and_then(|description| Runner::start(name, &host, bundle, config, &description));
    let started = match started {
        Ok(runner) => runner,
        Err(err) => {
            eprintln!("{name}: {err}");
            return err.exit();
        }
    };
    started.serve()
}

impl Runner {
    fn start(
        name: &str,
        host: &Host,
        bundle: &Path,
        config: Option<&Path>,
        description: &Description,
    ) -> Result<Runner, RunnerError> {
        let backend_program = match &description.vsock_backend {
            Some(path) if path.is_file() => path.clone(),
            Some(path) => return Err(RunnerError::NoBackend { where_: format!("is not at {}", path.display()) }),
            None => host
                .find_tool(hybrid::BACKEND)
                .ok_or_else(|| RunnerError::NoBackend { where_: "is not in PATH".to_owned() })?,
        };
        let qemu_program = host.find_tool(qemu::PROGRAM).ok_or(RunnerError::NoQemu)?;
        let dir = host.runtime_dir(name);
        let prepared = |source| RunnerError::RuntimeDir { dir: dir.clone(), source };
        crate::rundir::prepare(&dir).map_err(prepared)?;
        let lock = match lock::acquire(&dir.join(crate::rundir::LOCK_NAME)).map_err(prepared)? {
            Locked::Acquired(lock) => lock,
            Locked::HeldBy(pid) => return Err(RunnerError::AlreadyRunning { name: name.to_owned(), dir, pid }),
        };
        let (vhost, uds) = (dir.join(VHOST_SOCKET), dir.join(VSOCK_SOCKET));
        for stale in
            [&vhost, &uds, &hybrid::listener_path(&uds, REPORT_PORT), &hybrid::listener_path(&uds, CONFIG_PORT)]
        {
            let _ = std::fs::remove_file(stale);
        }

        let command = hybrid::backend_command(&backend_program.to_string_lossy(), description.vsock_cid, &vhost, &uds);
        let mut backend_command = Command::new(&command.program);
        backend_command.args(&command.args).stdin(Stdio::null());
        let mut backend = Owned { child: spawn(backend_command, &backend_program)? };
        let deadline = Instant::now() + BACKEND_PATIENCE;
        while !vhost.exists() {
            let why = match backend.ended() {
                Some(status) => format!("it exited ({status})"),
                None if Instant::now() >= deadline => format!("not within {BACKEND_PATIENCE:?}"),
                None => {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                }
            };
            return Err(RunnerError::Backend { program: backend_program, socket: vhost, why });
        }

        let (sender, events) = mpsc::channel();
        let report_path = hybrid::listener_path(&uds, REPORT_PORT);
        let listener = hybrid::listen(&uds, REPORT_PORT)
            .map_err(|source| RunnerError::Listen { path: report_path.clone(), source })?;
        let notify_socket = std::env::var("NOTIFY_SOCKET").ok();
        let notifier = || {
            Notifier::from_socket_var(notify_socket.as_deref())
                .map_err(|source| RunnerError::Notify { value: notify_socket.clone().unwrap_or_default(), source })
        };
        // One for the guest's relayed notifications, one for the runner's own status.
        let (notifier, status_notifier) = (notifier()?, notifier()?);
        spawn_thread("report", {
            let sender = sender.clone();
            move || read_reports(&listener, &notifier, &sender)
        });
        let config_path = hybrid::listener_path(&uds, CONFIG_PORT);
        let config_listener =
            hybrid::listen(&uds, CONFIG_PORT).map_err(|source| RunnerError::Listen { path: config_path, source })?;
        spawn_thread("config", {
            let config = config.map(Path::to_path_buf);
            move || config_port::serve(&config_listener, config)
        });
        let control = crate::rundir::socket_in(&dir);
        let control_listener = crate::rundir::bind_private(&dir, &control)
            .map_err(|source| RunnerError::Listen { path: control.clone(), source })?;
        spawn_thread("control", {
            let uds = uds.clone();
            move || proxy::serve(&control_listener, &uds)
        });
        let mut signals =
            signal_hook::iterator::Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD])
                .map_err(RunnerError::Signals)?;
        spawn_thread("signals", {
            let sender = sender.clone();
            move || {
                for signal in signals.forever() {
                    if sender.send(Event::Signal(signal)).is_err() {
                        return;
                    }
                }
            }
        });

        let command = vmm_command(description, bundle, &dir);
        let mut qemu_command = Command::new(&qemu_program);
        qemu_command.args(&command.args).stdin(Stdio::null()).stdout(Stdio::piped());
        let mut qemu = Owned { child: spawn(qemu_command, &qemu_program)? };
        let console = qemu.child.stdout.take().and_then(|out| console::copy(out, io::stdout()));
        let accel = match description.accel {
            Accel::Kvm => "kvm",
            _ => "tcg",
        };
        let booting = format!("booting the VM ({accel}, QEMU pid {})", qemu.pid());
        status_notifier.status(&booting);
        eprintln!("{name}: VM started (QEMU pid {}, vsock backend pid {}); {booting}", qemu.pid(), backend.pid());
        let stop_timeout = Duration::from_millis(description.shutdown_timeout_ms).saturating_add(STOP_MARGIN);
        Ok(Runner {
            name: name.to_owned(),
            dir,
            uds,
            config: config.map(Path::to_path_buf),
            stop_timeout,
            events,
            qemu,
            backend,
            console,
            _lock: lock,
        })
    }

    /// Waits for QEMU to exit, acting on signals and the guest's report; then cleans up.
    fn serve(mut self) -> Exit {
        let name = self.name.clone();
        let mut status: Option<u8> = None;
        let mut kill_at: Option<Instant> = None;
        let mut killed = false;
        let mut ready = false;
        let qemu_ended = loop {
            if let Some(ended) = self.qemu.ended() {
                break ended;
            }
            if let Some(ended) = self.backend.ended() {
                eprintln!("{name}: the vsock backend exited ({ended}) while the VM runs; stopping the VM");
                let _ = self.qemu.child.kill();
                continue;
            }
            if let Some(at) = kill_at
                && at <= Instant::now()
            {
                kill_at = None;
                killed = true;
                eprintln!(
                    "{name}: the VM did not power off within {:?}; killing QEMU (pid {})",
                    self.stop_timeout,
                    self.qemu.pid()
                );
                let _ = self.qemu.child.kill();
                continue;
            }
            let event = match kill_at {
                Some(at) => self.events.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => self.events.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match event {
                Ok(Event::Signal(libc::SIGTERM | libc::SIGINT)) if kill_at.is_none() && status.is_none() => {
                    eprintln!("{name}: told to stop by a signal; asking the guest's daemon to stop");
                    kill_at = Some(Instant::now() + self.stop_timeout);
                    self.ask(Ask::Stop, self.stop_timeout);
                }
                Ok(Event::Signal(libc::SIGHUP)) => self.ask(Ask::Reload, RELOAD_PATIENCE),
                Ok(Event::Signal(_)) => {}
                Ok(Event::Report(Report::Exit(code))) => {
                    status = Some(code);
                    let power_off = Instant::now() + POWER_OFF_PATIENCE;
                    kill_at = Some(kill_at.map_or(power_off, |at| at.min(power_off)));
                }
                Ok(Event::Report(Report::Notify(notification))) if notification.is_ready() && !ready => {
                    ready = true;
                    eprintln!("{name}: the guest's daemon is ready");
                }
                Ok(Event::Report(_)) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(50)),
            }
        };
        if status.is_none() {
            let deadline = Instant::now() + REPORT_PATIENCE;
            while let Ok(event) = self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                if let Event::Report(Report::Exit(code)) = event {
                    status = Some(code);
                    break;
                }
            }
        }
        self.finish();
        match status {
            Some(code) => {
                eprintln!("{name}: the guest's daemon exited with status {code}; the VM is off");
                Exit::Relayed(code)
            }
            None if killed => {
                eprintln!("{name}: QEMU was killed after the stop timeout, and the guest reported no exit status");
                Exit::ShutdownTimeout
            }
            None => {
                eprintln!(
                    "{name}: QEMU exited ({qemu_ended}) without the guest reporting its daemon's exit status; the \
                     guest's console above says why"
                );
                Exit::OsError
            }
        }
    }

    /// Asks the guest's daemon for `what` on a thread of its own, trying until `patience` is over
    /// (the guest may still be booting). A reload whose configuration file cannot be handed to
    /// the guest is rejected here, and the runner's manager told so.
    fn ask(&self, what: Ask, patience: Duration) {
        let (uds, name, config) = (self.uds.clone(), self.name.clone(), self.config.clone());
        spawn_thread("ask", move || {
            if let (Ask::Reload, Answer::Error(why)) = (what, config_port::answer_for(config.as_deref())) {
                eprintln!("{name}: reload rejected: {why}");
                let notifier = Notifier::from_socket_var(std::env::var("NOTIFY_SOCKET").ok().as_deref());
                if let Ok(notifier) = notifier {
                    notifier.reloading();
                    notifier.reloaded(&format!("reload rejected: {why}"), false);
                }
                return;
            }
            proxy::ask(&name, &uds, what, patience);
        });
    }

    /// Stops the vsock backend, removes the runner's sockets and lets the console's last lines
    /// out.
    fn finish(&mut self) {
        self.qemu.stop(Duration::ZERO);
        if let Some(console) = self.console.take() {
            let _ = console.join();
        }
        self.backend.stop(BACKEND_STOP_PATIENCE);
        for socket in [
            self.dir.join(VHOST_SOCKET),
            self.uds.clone(),
            hybrid::listener_path(&self.uds, REPORT_PORT),
            hybrid::listener_path(&self.uds, CONFIG_PORT),
            crate::rundir::socket_in(&self.dir),
        ] {
            let _ = std::fs::remove_file(socket);
        }
    }
}

/// What the runner asks the guest's daemon for.
#[derive(Debug, Clone, Copy)]
enum Ask {
    /// A graceful stop.
    Stop,
    /// A reload.
    Reload,
}

impl Ask {
    fn name(self) -> &'static str {
        match self {
            Ask::Stop => "stop",
            Ask::Reload => "reload",
        }
    }
}

fn spawn_thread(name: &str, body: impl FnOnce() + Send + 'static) {
    if let Err(err) = thread::Builder::new().name(name.to_owned()).spawn(body) {
        eprintln!("cannot start the runner's {name} thread: {err}");
    }
}

/// Accepts the guest's report connections and relays each notification to `notifier`, passing
/// every message on to the main loop and acknowledging `EXIT`.
fn read_reports(listener: &UnixListener, notifier: &Notifier, events: &Sender<Event>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut reader = report::Reader::new(stream);
        loop {
            match reader.next_report() {
                Ok(Some(message)) => {
                    if let Report::Notify(notification) = &message {
                        notifier.send(&notification.0);
                    }
                    let exit = matches!(message, Report::Exit(_));
                    if exit {
                        let _ = io::Write::write_all(reader.get_mut(), report::ACK);
                    }
                    if events.send(Event::Report(message)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    eprintln!("the guest's report: {err}");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
