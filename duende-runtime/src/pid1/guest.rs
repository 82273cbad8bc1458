//! PID 1 of a pepita microVM guest: the binary is the initramfs's `/init`, and the kernel has
//! done nothing for it but open `/dev/console` as its standard streams. Before the daemon can run
//! as it does on a host, init:
//!
//! 1. makes sure standard input, output and error are open (on `/dev/console`, which the
//!    initramfs holds);
//! 2. mounts `/proc`, `/sys`, `/dev` (devtmpfs), `/dev/shm`, and tmpfs on `/run` and `/tmp`,
//!    creating the mount points that are missing (one already mounted is left as it is);
//! 3. loads the kernel modules `/pepita/modules` lists, in order, with `finit_module` (one the
//!    kernel has already is skipped), then, when the bundle has a configuration file, fetches the
//!    host's over vsock in its place (`super::fetch`; the initramfs's copy stays when the host
//!    cannot be asked, said in one line);
//! 4. reads the daemon's command line from `/pepita/argv` and the variables to add to its
//!    environment from `/pepita/env`. Its other settings come from the kernel command line: the
//!    kernel hands a `KEY=VALUE` parameter it does not know to init as an environment variable,
//!    which is how [`MARKER`] got here. The daemon also gets `NOTIFY_SOCKET` (init's socket
//!    [`NOTIFY_SOCKET`], bound now) and, unless the bundle sets it, `RUNTIME_DIRECTORY=/run/NAME`,
//!    so init knows where its control socket will be;
//! 5. forks, and the child executes `/init` again with that command line: the daemon is an
//!    ordinary process (not PID 1) with its real command line, and runs its lifecycle exactly as
//!    on a host. Init stays behind as the containers' init does (`super::unix::serve`): it reaps
//!    every child (as PID 1 it is every orphan's reaper already, no `PR_SET_CHILD_SUBREAPER`
//!    needed) and forwards signals to the daemon;
//! 6. starts the threads that talk to the host over vsock (`super::relay`): the daemon's
//!    datagrams relayed as the guest's report, and its control channel served on a vsock port
//!    (fetching the host's configuration file again before each `reload` it passes on).
//!
//! When the daemon ends, [`power_off`] reports its status (on the console, then over vsock, the
//! host acknowledging) and powers the VM off. PID 1 never exits, which would panic the kernel: a
//! failure before the daemon starts is reported the same way, with status 71 (an OS error),
//! after a line saying what failed.

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use super::relay::{self, Relay};
use super::unix;
use crate::exit::Exit;
use crate::platform::pepita::{ARGV_FILE, ENV_FILE, MARKER, MODULES_FILE, NOTIFY_SOCKET};

/// The program the daemon runs as: this binary.
const INIT: &str = "/init";

/// `finit_module` flag: the file is compressed (xz, zstd or gzip; the kernel decompresses it).
const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

/// True when PID 1 is the init of a pepita guest: the marker is in its environment.
pub(super) fn is_guest() -> bool {
    std::env::var_os(MARKER).is_some_and(|value| !value.is_empty())
}

/// Prepares the guest, starts the daemon and serves as its init until it ends, then powers the
/// VM off. Never returns.
pub(super) fn boot(name: &'static str) -> ! {
    let launch = match prepare(name) {
        Ok(launch) => launch,
        Err(err) => {
            say(&format!("{name} cannot start: {err}"));
            power_off(name, Exit::OsError.code(), None)
        }
    };
    let Launch { argv, env, notify, control, config } = launch;
    match start(&argv, &env) {
        Ok(daemon) => {
            // Step 6, with the daemon started: threads only now, after the `fork`.
            let relay = notify.and_then(|notify| match Relay::start(name, notify) {
                Ok(relay) => Some(relay),
                Err(err) => {
                    say(&format!("vsock: no report to the host: {err}"));
                    None
                }
            });
            relay::serve_control(control, config);
            unix::serve(daemon, &unix::Ending::PowerOff { name, relay })
        }
        Err(err) => {
            say(&format!("{name} cannot start: {err}"));
            power_off(name, Exit::OsError.code(), None)
        }
    }
}

/// What the daemon is started with.
struct Launch {
    argv: Vec<CString>,
    env: Vec<CString>,
    /// Init's end of the daemon's `$NOTIFY_SOCKET`; `None` when it could not be bound.
    notify: Option<UnixDatagram>,
    /// The daemon's control socket.
    control: PathBuf,
    /// The daemon's configuration file, when the bundle has one.
    config: Option<PathBuf>,
}

/// Steps 1 to 4: streams, mounts, modules, the daemon's command line and environment.
fn prepare(name: &str) -> io::Result<Launch> {
    console()?;
    for mount in MOUNTS {
        mount.apply()?;
    }
    for module in nul_list(MODULES_FILE, false)? {
        load_module(&module)?;
    }
    super::fetch::at_boot(name);
    let argv = nul_list(ARGV_FILE, true)?;
    if argv.is_empty() {
        return Err(io::Error::other(format!("{ARGV_FILE} holds no command line")));
    }
    // The bundle's variables win over init's own (the kernel's `HOME`, `TERM`, and the marker).
    let extra = nul_list(ENV_FILE, false)?;
    let named = |key: &[u8]| extra.iter().any(|e| e.as_bytes().split(|b| *b == b'=').next() == Some(key));
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(key, _)| !named(key.as_bytes()))
        .filter_map(|(key, value)| c_string(pair(key, value)))
        .collect();
    env.extend(extra);
    let notify = match relay::bind_notify() {
        Ok(socket) => {
            env.retain(|e| !e.as_bytes().starts_with(b"NOTIFY_SOCKET="));
            env.extend(c_string(format!("NOTIFY_SOCKET={NOTIFY_SOCKET}").into_bytes()));
            Some(socket)
        }
        Err(err) => {
            say(&format!("cannot bind {NOTIFY_SOCKET} ({err}): the host will not hear from the daemon"));
            None
        }
    };
    if variable(&env, "RUNTIME_DIRECTORY").is_none() {
        env.extend(c_string(format!("RUNTIME_DIRECTORY=/run/{name}").into_bytes()));
    }
    // The daemon runs as root (init's user), and finds its runtime directory by the same rule.
    let dir = crate::rundir::runtime_dir(name, &|key| variable(&env, key), Some(0));
    let config = super::fetch::guest_file(name);
    Ok(Launch { argv, env, notify, control: crate::rundir::socket_in(&dir), config })
}

/// The value of `key` in the `KEY=VALUE` list `env`.
fn variable(env: &[CString], key: &str) -> Option<String> {
    env.iter().find_map(|entry| {
        let rest = entry.as_bytes().strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(rest).into_owned())
    })
}

/// `KEY=VALUE`.
fn pair(key: OsString, value: OsString) -> Vec<u8> {
    let mut bytes = key.into_vec();
    bytes.push(b'=');
    bytes.extend(value.into_vec());
    bytes
}

fn c_string(bytes: Vec<u8>) -> Option<CString> {
    CString::new(bytes).ok()
}

/// The NUL-ended strings of the file at `path`; a missing file is an error only when `required`.
fn nul_list(path: &str, required: bool) -> io::Result<Vec<CString>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound && !required => return Ok(Vec::new()),
        Err(err) => return Err(io::Error::new(err.kind(), format!("reading {path}: {err}"))),
    };
    let mut items: Vec<&[u8]> = bytes.split(|b| *b == 0).collect();
    // Every string ends with a NUL, so the last piece is the empty rest.
    items.pop();
    Ok(items.into_iter().filter_map(|item| c_string(item.to_vec())).collect())
}

/// Step 1: fds 0, 1 and 2 open, on `/dev/console` where the kernel could not open them.
fn console() -> io::Result<()> {
    for fd in 0..3 {
        // SAFETY: F_GETFD on any number only reads the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        // SAFETY: the path is a NUL-terminated literal; open returns a new descriptor or -1.
        let opened = unsafe { libc::open(c"/dev/console".as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
        if opened == -1 {
            return Err(context("opening /dev/console"));
        }
        if opened != fd {
            // SAFETY: both descriptors are ours; dup2 onto the lowest missing one, then close the
            // spare copy.
            unsafe {
                libc::dup2(opened, fd);
                libc::close(opened);
            }
        }
    }
    Ok(())
}

/// One file system init mounts.
struct Mount {
    fstype: &'static std::ffi::CStr,
    target: &'static std::ffi::CStr,
    flags: libc::c_ulong,
    data: &'static std::ffi::CStr,
    mode: libc::mode_t,
}

const MOUNTS: [Mount; 6] = [
    Mount {
        fstype: c"proc",
        target: c"/proc",
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: c"",
        mode: 0o555,
    },
    Mount {
        fstype: c"sysfs",
        target: c"/sys",
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: c"",
        mode: 0o555,
    },
    Mount { fstype: c"devtmpfs", target: c"/dev", flags: libc::MS_NOSUID, data: c"mode=0755", mode: 0o755 },
    Mount {
        fstype: c"tmpfs",
        target: c"/dev/shm",
        flags: libc::MS_NOSUID | libc::MS_NODEV,
        data: c"mode=1777",
        mode: 0o1777,
    },
    Mount {
        fstype: c"tmpfs",
        target: c"/run",
        flags: libc::MS_NOSUID | libc::MS_NODEV,
        data: c"mode=0755",
        mode: 0o755,
    },
    Mount {
        fstype: c"tmpfs",
        target: c"/tmp",
        flags: libc::MS_NOSUID | libc::MS_NODEV,
        data: c"mode=1777",
        mode: 0o1777,
    },
];

impl Mount {
    /// Creates the mount point when missing, then mounts; a file system already mounted there
    /// (EBUSY) is left as it is.
    fn apply(&self) -> io::Result<()> {
        let target = self.target.to_string_lossy();
        // SAFETY: `target` is a NUL-terminated string; mkdir reads it only.
        if unsafe { libc::mkdir(self.target.as_ptr(), self.mode) } != 0
            && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
        {
            return Err(context(&format!("creating {target}")));
        }
        // SAFETY: every pointer is to a NUL-terminated string that outlives the call.
        let mounted = unsafe {
            libc::mount(
                self.fstype.as_ptr(),
                self.target.as_ptr(),
                self.fstype.as_ptr(),
                self.flags,
                self.data.as_ptr().cast(),
            )
        };
        if mounted != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EBUSY) {
            return Err(context(&format!("mounting {} on {target}", self.fstype.to_string_lossy())));
        }
        Ok(())
    }
}

/// Loads the kernel module in the file `path`; one the kernel has already (EEXIST) is fine.
fn load_module(path: &CString) -> io::Result<()> {
    let shown = path.to_string_lossy();
    // SAFETY: `path` is NUL-terminated; open returns a new descriptor or -1.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd == -1 {
        return Err(context(&format!("opening module {shown}")));
    }
    let compressed = [".xz", ".zst", ".gz"].iter().any(|suffix| path.as_bytes().ends_with(suffix.as_bytes()));
    let flags = if compressed { MODULE_INIT_COMPRESSED_FILE } else { 0 };
    // SAFETY: finit_module reads the open descriptor `fd` and the empty NUL-terminated parameter
    // string; it writes no memory of ours.
    let loaded = unsafe { libc::syscall(libc::SYS_finit_module, fd, c"".as_ptr(), flags) };
    let err = io::Error::last_os_error();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    if loaded != 0 && err.raw_os_error() != Some(libc::EEXIST) {
        return Err(io::Error::new(err.kind(), format!("loading module {shown}: {err}")));
    }
    Ok(())
}

/// Step 5: forks; the child executes the daemon, the parent returns its pid.
fn start(argv: &[CString], env: &[CString]) -> io::Result<libc::pid_t> {
    let mut argv: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut env: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env.push(std::ptr::null());
    match unix::fork_daemon()? {
        unix::Role::Init { daemon } => Ok(daemon),
        unix::Role::Daemon => {
            // SAFETY: `argv` and `env` are NULL-terminated arrays of pointers to NUL-terminated
            // strings (the caller owns them and they live until here); execve returns only on failure.
            unsafe { libc::execve(c"/init".as_ptr(), argv.as_ptr(), env.as_ptr()) };
            say(&format!("cannot execute {INIT}: {}", io::Error::last_os_error()));
            // SAFETY: _exit ends this child at once, running nothing of the parent's.
            unsafe { libc::_exit(i32::from(Exit::OsError.code())) }
        }
    }
}

/// The error of the call that just failed, saying what was being done.
fn context(what: &str) -> io::Error {
    let err = io::Error::last_os_error();
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

/// One line on the console (standard error), prefixed `duende: `. A line that cannot be written
/// is dropped: init has nowhere else to say it.
pub(super) fn say(line: &str) {
    let _ = writeln!(io::stderr().lock(), "duende: {line}");
}

/// Passes the daemon's exit status on to the host: one line on the serial console, `duende: NAME
/// exited with status N`, then `EXIT N` over vsock after the daemon's last datagrams (through
/// `relay`, or on a connection of its own when the daemon never ran), waiting a bounded time for
/// the host's acknowledgement.
pub(super) fn report_exit(name: &str, code: u8, relay: Option<&Relay>) {
    say(&format!("{name} exited with status {code}"));
    match relay {
        Some(relay) => relay.finish(code),
        None => relay::report_alone(name, code),
    }
}

/// Reports the daemon's status, writes everything out and powers the VM off. PID 1 must not
/// exit; if the kernel refuses to power off, init waits forever instead.
pub(super) fn power_off(name: &str, code: u8, relay: Option<&Relay>) -> ! {
    report_exit(name, code, relay);
    // SAFETY: sync and tcdrain have no memory-safety preconditions; tcdrain waits until the
    // console has sent what was written to it, so the report is not lost with the VM.
    unsafe {
        libc::sync();
        libc::tcdrain(libc::STDERR_FILENO);
    }
    // SAFETY: reboot with RB_POWER_OFF takes no pointer; it returns only when it fails.
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    say(&format!("cannot power off: {}; waiting", io::Error::last_os_error()));
    loop {
        // SAFETY: pause has no preconditions; every signal is blocked, so it never returns early
        // into anything.
        unsafe { libc::pause() };
    }
}
