//! PID 1 of a PID namespace: the daemon as a container's entrypoint (`docker run IMAGE`, with
//! `ENTRYPOINT ["/usr/local/bin/NAME", "run"]`).
//!
//! PID 1 has two duties no other process has. Every orphan of the namespace is reparented to it,
//! and it must reap them or they stay zombies. And the kernel drops every signal sent to it that
//! it has no handler for (a SIGTERM with the default action does nothing to PID 1; only SIGKILL
//! and SIGSTOP from outside the namespace get through). A daemon is
//! written for neither, so when the process finds itself PID 1, [`split`] does what tini and
//! dumb-init do, in-process, before anything else: it forks. The child returns and becomes the
//! daemon, exactly as if it were not PID 1; the parent stays behind as init and never returns:
//!
//! - it waits for signals with all of them blocked (`sigwait` over the full set: Linux queues a
//!   blocked signal whatever its disposition, so none is dropped, not even an ignored one);
//! - on SIGCHLD it reaps every child that has ended, its own daemon and the orphans alike;
//! - every other signal (TERM, HUP, INT, QUIT, USR1, USR2, ...) it forwards to the daemon with
//!   `kill(daemon, signal)`: to the daemon process only, not to its process group, as a signal
//!   sent to a daemon that is not PID 1 reaches that daemon only (tini's default);
//! - when the daemon ends, init exits with its status: its exit code, or 128+N when signal N
//!   killed it. The kernel then kills whatever is left in the namespace.
//!
//! The daemon gets a process group of its own (`setpgid`, not `setsid`: it keeps the session and
//! its terminal). Without it, a signal to the container's foreground process group (Ctrl+C on
//! `docker run -it`) would reach the daemon twice, once from the kernel and once forwarded by
//! init, and a second INT during shutdown forces the exit with 130. With it, that signal reaches
//! init alone and is forwarded once. Unlike tini, init does not hand the terminal's foreground
//! to the daemon's group: every signal takes the one path through init.
//!
//! Between `fork` and its end the parent allocates nothing and runs no async runtime (none exists
//! yet); it has the one thread `fork` leaves it. The child gets back the signal mask and the
//! SIGCHLD disposition the process had before, so nothing of this shows in the daemon. Memory
//! locks are not inherited across `fork`, which is why [`split`] runs before the early memory
//! lock: the daemon locks its own memory; init locks nothing.
//!
//! As the init of a pepita microVM guest (PID 1 with the pepita marker in its environment) the
//! process first does what the kernel leaves to init: see `guest`. Its daemon is then the same
//! binary run again as an ordinary process, and when the daemon ends init powers the VM off
//! rather than exit: the guest kernel panics when init exits. There, after the `fork`, init also
//! runs threads that talk to the host over vsock (`relay`, on the socket calls of `vsock`), and
//! fetches the host's configuration file (`fetch`) at boot and before each reload.
//!
//! On targets other than unix [`split`] does nothing.

#[cfg(all(target_os = "linux", feature = "pepita"))]
mod fetch;
#[cfg(all(target_os = "linux", feature = "pepita"))]
mod guest;
#[cfg(all(target_os = "linux", feature = "pepita"))]
mod relay;
#[cfg(all(target_os = "linux", feature = "pepita"))]
mod vsock;

/// When this process is PID 1, splits it: init stays behind in the parent (which never returns)
/// and the child returns to run the daemon. Otherwise it returns at once.
///
/// Must be called before any other thread exists: first thing in `main`. `name` is the daemon's,
/// for the one message this can print (when `fork` fails, the daemon runs on as PID 1 without an
/// init beside it).
#[cfg(unix)]
pub(crate) fn split(name: &'static str) {
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != 1 {
        return;
    }
    // A container's engine has mounted /proc, /sys and /dev already; a microVM's kernel has not.
    #[cfg(all(target_os = "linux", feature = "pepita"))]
    if guest::is_guest() {
        guest::boot(name);
    }
    match unix::fork_daemon() {
        Ok(unix::Role::Daemon) => {}
        Ok(unix::Role::Init { daemon }) => unix::serve(daemon, &unix::Ending::Exit),
        Err(err) => {
            eprintln!("{name}: running as PID 1 without an init: cannot fork one ({err}); orphans will not be reaped")
        }
    }
}

/// Does nothing: only unix targets have PID namespaces to be the init of.
#[cfg(not(unix))]
pub(crate) fn split(_name: &str) {}

/// The exit status of init for a wait status of the daemon: its exit code, or 128+N when signal
/// N killed it; `None` when the status does not say the daemon has ended.
#[cfg(unix)]
fn exit_code(status: libc::c_int) -> Option<u8> {
    if libc::WIFEXITED(status) {
        Some(u8::try_from(libc::WEXITSTATUS(status)).unwrap_or(u8::MAX))
    } else if libc::WIFSIGNALED(status) {
        Some(crate::exit::Exit::Signal(libc::WTERMSIG(status)).code())
    } else {
        None
    }
}

/// The `fork` and the init loop: every libc call of this module.
#[cfg(unix)]
mod unix {
    use std::io;
    use std::mem::MaybeUninit;

    use super::exit_code;

    /// How init ends once the daemon has.
    pub(super) enum Ending {
        /// Exit with the daemon's status (a container: the kernel then kills what is left in the
        /// namespace).
        Exit,
        /// Report the daemon's status and power the VM off (a microVM guest's init must not exit).
        #[cfg(all(target_os = "linux", feature = "pepita"))]
        PowerOff {
            /// The daemon's name, for the report.
            name: &'static str,
            /// The report to the host over vsock, when it runs.
            relay: Option<super::relay::Relay>,
        },
    }

    /// Which side of the `fork` this process is on.
    pub(super) enum Role {
        /// The child: it runs the daemon.
        Daemon,
        /// The parent: it stays PID 1, with `daemon` as its child.
        Init { daemon: libc::pid_t },
    }

    /// The full signal set.
    fn all_signals() -> libc::sigset_t {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises the set it is given a valid pointer to (it cannot fail
        // on a valid pointer), so it is initialised when read.
        unsafe {
            libc::sigfillset(set.as_mut_ptr());
            set.assume_init()
        }
    }

    /// The signal mask and SIGCHLD action the process had before [`fork_daemon`] changed them.
    struct Saved {
        mask: libc::sigset_t,
        child: libc::sigaction,
    }

    impl Saved {
        /// Puts both back (in the child, and in the parent when `fork` failed).
        fn restore(&self) {
            // SAFETY: sigaction and sigprocmask read valid structures we own; a failure (only
            // possible for an invalid signal number or `how`) cannot happen with these arguments.
            unsafe {
                libc::sigaction(libc::SIGCHLD, &self.child, std::ptr::null_mut());
                libc::sigprocmask(libc::SIG_SETMASK, &self.mask, std::ptr::null_mut());
            }
        }
    }

    /// Blocks every signal, then forks. The parent keeps them blocked, for [`serve`] to wait on;
    /// the child restores what the process had and gets a process group of its own.
    pub(super) fn fork_daemon() -> io::Result<Role> {
        let all = all_signals();
        let mut mask = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `all` is a valid set; sigprocmask writes the previous mask into `mask`.
        if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &all, mask.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sigprocmask succeeded, so it wrote the previous mask.
        let mask = unsafe { mask.assume_init() };
        // Init needs SIGCHLD's default action: ignored (SIG_IGN, or SA_NOCLDWAIT, both inherited
        // across exec), the kernel would reap the daemon itself and its status would be lost.
        // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, no flags, an empty mask).
        let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
        default.sa_sigaction = libc::SIG_DFL;
        let mut child = MaybeUninit::<libc::sigaction>::uninit();
        // SAFETY: `default` is a valid action; sigaction writes the previous one into `child`.
        if unsafe { libc::sigaction(libc::SIGCHLD, &default, child.as_mut_ptr()) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: `mask` is the valid mask sigprocmask returned.
            unsafe { libc::sigprocmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut()) };
            return Err(err);
        }
        // SAFETY: sigaction succeeded, so it wrote the previous action.
        let saved = Saved { mask, child: unsafe { child.assume_init() } };
        // SAFETY: the caller runs before any other thread exists, so the child is a complete copy
        // of this process with no lock held by a thread that does not exist in it.
        match unsafe { libc::fork() } {
            -1 => {
                let err = io::Error::last_os_error();
                saved.restore();
                Err(err)
            }
            0 => {
                // SAFETY: setpgid on this process; it cannot fail for a child that is not a
                // session leader, and the daemon runs the same in init's group if it did.
                unsafe { libc::setpgid(0, 0) };
                saved.restore();
                Ok(Role::Daemon)
            }
            daemon => Ok(Role::Init { daemon }),
        }
    }

    /// Init's loop: reaps on SIGCHLD, forwards every other signal to `daemon`, and ends with the
    /// daemon's status as `ending` says. Every signal is blocked (by [`fork_daemon`]) and waited
    /// for here.
    pub(super) fn serve(daemon: libc::pid_t, ending: &Ending) -> ! {
        let all = all_signals();
        loop {
            let mut signal = 0;
            // SAFETY: `all` is a valid set and `signal` a valid place for the number.
            if unsafe { libc::sigwait(&all, &mut signal) } != 0 {
                continue;
            }
            if signal == libc::SIGCHLD {
                if let Some(code) = reap(daemon) {
                    end(code, ending);
                }
            } else {
                // SAFETY: kill has no memory-safety preconditions. A daemon that has just ended
                // (ESRCH) is reaped on the SIGCHLD that is already pending.
                unsafe { libc::kill(daemon, signal) };
            }
        }
    }

    /// Reaps every child that has ended (SIGCHLD does not queue: one may stand for several);
    /// returns init's exit status once the daemon is among them.
    fn reap(daemon: libc::pid_t) -> Option<u8> {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status into `status`, a valid place for it.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            // 0: children remain and none has ended; -1: no child remains.
            if pid <= 0 {
                return None;
            }
            if pid == daemon
                && let Some(code) = exit_code(status)
            {
                return Some(code);
            }
        }
    }

    /// The one way init ends: with the daemon's status. In a container it exits with it and the
    /// kernel kills what is left in the namespace; in a microVM guest it reports it and powers
    /// the VM off.
    fn end(code: u8, ending: &Ending) -> ! {
        match ending {
            #[cfg(all(target_os = "linux", feature = "pepita"))]
            Ending::PowerOff { name, relay } => super::guest::power_off(name, code, relay.as_ref()),
            Ending::Exit => std::process::exit(i32::from(code)),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    use super::exit_code;

    /// The raw wait status of a real `sh -c script`.
    fn status_of(script: &str) -> libc::c_int {
        Command::new("sh").args(["-c", script]).status().expect("run sh").into_raw()
    }

    #[test]
    fn an_exit_code_is_passed_on() {
        assert_eq!(exit_code(status_of("exit 0")), Some(0));
        assert_eq!(exit_code(status_of("exit 3")), Some(3));
        assert_eq!(exit_code(status_of("exit 75")), Some(75));
        assert_eq!(exit_code(status_of("exit 255")), Some(255));
    }

    #[test]
    fn death_by_signal_n_is_128_plus_n() {
        assert_eq!(exit_code(status_of("kill -KILL $$")), Some(137));
        assert_eq!(exit_code(status_of("kill -TERM $$")), Some(143));
        assert_eq!(exit_code(status_of("kill -SEGV $$")), Some(139));
    }

    #[test]
    fn a_stopped_child_has_not_ended() {
        let mut child = Command::new("sh").args(["-c", "kill -STOP $$"]).spawn().expect("run sh");
        let pid = libc::pid_t::try_from(child.id()).expect("a pid");
        let mut status = 0;
        // SAFETY: waitpid writes the status into `status`, a valid place for it.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        assert_eq!(child.wait().expect("wait for sh").code(), Some(0));
        assert_eq!(waited, pid);
        assert!(libc::WIFSTOPPED(status), "not a stopped status: {status:#x}");
        assert_eq!(exit_code(status), None);
    }
}
