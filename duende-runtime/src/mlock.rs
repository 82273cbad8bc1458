//! Memory locking (DESIGN.md section 5): `mlockall(MCL_CURRENT | MCL_FUTURE)`, said before and
//! confirmed after.
//!
//! Before locking, [`probe`] reads `RLIMIT_MEMLOCK` and whether `CAP_IPC_LOCK` is in the
//! effective set, and [`Probe::plan`] says in one sentence what will happen. Without the
//! capability the soft limit is first raised to the hard limit (always allowed). After locking,
//! `VmLck` in `/proc/self/status` must be above zero, or the lock is reported as failed: this
//! module never says "locked" when nothing was locked.
//!
//! mlockall(2) on Linux: the limit does not apply with `CAP_IPC_LOCK`; without it, `EPERM` means
//! the limit is 0 and `ENOMEM` means the process's address space (`VmSize`) is already past the
//! limit. With `MCL_FUTURE` and a finite limit, every later mapping that would take `VmLck` past
//! the limit fails, so a daemon that outgrows it dies; [`Probe::plan`] and [`LockOutcome::log`]
//! say so. A finite limit that covers the daemon's real use is enough, in both modes: the runtime
//! checks that its own threads fit ([`make_room`]), the daemon's own growth is the daemon's.
//!
//! # Two figures: pinned bytes and VmLck
//!
//! `VmLck` counts the *address space* of locked mappings, touched or not; it is what
//! `RLIMIT_MEMLOCK` is charged for. What is *pinned* (resident and unevictable) is the resident
//! part of those mappings: the sum of `Rss` over the mappings of `/proc/self/smaps` whose
//! `VmFlags` has `lo` ([`parse_smaps_pinned`]). That is the figure duende reports as locked memory
//! (the log line, `status`, `duende_locked_memory_bytes`); `VmLck` is reported beside it. (The
//! `Locked` field of `smaps_rollup` is not used: it is proportional, so libc's pages shared with
//! every other process count for a sliver, and it would not compare with `VmLck` or `VmRSS`.)
//!
//! # Keeping VmLck close to what is pinned
//!
//! Measured on `examples/02_mlock.rs` (16 MiB buffer, release, 2 cores; see `scripts/bench`):
//!
//! | locking | pinned | VmLck | VmRSS |
//! | --- | --- | --- | --- |
//! | `MCL_CURRENT \| MCL_FUTURE`, glibc's default arenas | 32,232 kB | 359,276 kB | 32,240 kB |
//! | the same, malloc arenas capped at 1 (what duende does) | 31,572 kB | 31,596 kB | 31,580 kB |
//! | `MCL_ONFAULT` added, arenas as glibc has them | 22,460 kB | 359,276 kB | 22,468 kB |
//! | `MCL_ONFAULT` added, arenas capped at 1 | 22,492 kB | 31,596 kB | 22,500 kB |
//!
//! Each glibc malloc arena beyond the main one is a 64 MiB `PROT_NONE` reservation; under
//! `MCL_FUTURE` it counts in `VmLck` (and against the limit) although nothing of it is resident.
//! glibc makes one per thread that allocates, up to 8 per core, so after locking duende caps them
//! at one with `mallopt(M_ARENA_MAX, 1)` (glibc only, before any thread exists; an operator's own
//! `MALLOC_ARENA_MAX` or `glibc.malloc.arena_max` tunable is left alone). The runtime's threads
//! have explicit stack sizes (2 MiB for async workers, as tokio's default; 512 KiB for its
//! service threads; `resources.thread_stack_bytes` sets both), populated and pinned whole by
//! `MCL_FUTURE`, so they count the same in both figures. With one worker per core they are most
//! of what locking costs beyond the binary: on the lean `01_counter` (release, 2 cores) `VmLck`
//! is 12,676 kB after two reloads with the defaults; with `resources.worker_threads = 1` and
//! `resources.thread_stack_bytes = 131072` the most it is charged for, two reloads included, is
//! 7,936 kB, of which 7,380 kB is the binary, its libraries and heap as locked before any thread
//! starts (`bench/lean/tests/memlock.rs`).
//!
//! # A high-water mark
//!
//! Under a finite limit, memory handed back and needed again must be locked again, and the moment
//! it is needed again is the moment it can fail: a daemon that fit once dies on its next reload.
//! And a peak that is handed back is invisible afterwards: an operator who sizes the limit from a
//! `VmLck` reading sizes it too small. So while memory is locked, duende keeps what it once needed
//! and `VmLck` only grows:
//!
//! - glibc's malloc neither trims its heap nor unmaps freed chunks: `M_TRIM_THRESHOLD` at its
//!   maximum, `M_MMAP_THRESHOLD` at its maximum (32 MiB on 64-bit targets; larger allocations
//!   are still mapped on their own) and `M_TOP_PAD` at 0, so the heap grows by what is needed and
//!   no more (an operator's own `MALLOC_*_` variables or tunables are left alone);
//! - the reload thread stays once started (a new one would map a new signal stack each time);
//! - the trim after READY ([`crate::trim`]) does not run (locked pages cannot be handed back,
//!   and reading the maps would grow the heap at a moment that depends on timing).
//!
//! Measured on the lean counter with a 20 KB larger environment, before these: its `VmLck` after a
//! reload was 8,084 KiB, and under a limit of exactly that it died in the reload (8,120 KiB ran
//! it). Now `VmLck` after the work is the smallest limit that runs it (8,016 KiB ran it, 8,012
//! did not).
//! What is left is the daemon's own growth: the counter needs about 8 bytes more per reload
//! (4 KiB per 500, measured over 3,000).
//!
//! `MCL_ONFAULT` is not used. It pins less (untouched stack and code pages stay out), but it does
//! not shrink `VmLck`, which the limit is charged for, and it leaves every page not yet touched
//! (an error path's code, a rarely used table) to be read from disk on its first use: exactly
//! what a swap or storage daemon locks its memory to avoid, since that first use may come while
//! the system is short of memory and waiting on that daemon.
//!
//! Only Linux locks memory; on every other target [`lock_all`] returns
//! [`MlockError::Unsupported`]. All of the crate's `unsafe` for locking lives here.

use std::fmt;
use std::io;

/// What `#[duende::main(mlock = ...)]` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MlockMode {
    /// Lock only when the configuration asks for it.
    #[default]
    Off,
    /// Lock before anything else; a failure is logged and the daemon goes on.
    BestEffort,
    /// Lock before anything else; a failure exits with status 71 before `init`.
    Required,
}

/// Bit of `CAP_IPC_LOCK` in the capability sets of `/proc/PID/status` (linux/capability.h).
pub const CAP_IPC_LOCK_BIT: u32 = 14;

/// The fixes every locking error names: grant the capability or lift the limit, per environment.
pub const FIXES: &str = "grant `CAP_IPC_LOCK` or lift the limit: under systemd \
    `AmbientCapabilities=CAP_IPC_LOCK` and `LimitMEMLOCK=infinity`, in a container \
    `--cap-add IPC_LOCK --ulimit memlock=-1:-1`, in a shell `ulimit -l unlimited` (as root)";

/// One value of `RLIMIT_MEMLOCK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    /// At most this many bytes may be locked.
    Bytes(u64),
    /// `RLIM_INFINITY`.
    Unlimited,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Unlimited => f.write_str("unlimited"),
            Limit::Bytes(n) => f.write_str(&format_bytes(*n)),
        }
    }
}

/// `n` bytes in the largest binary unit that divides it exactly: `8 MiB`, `64 KiB`, `1000 bytes`, `0`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    match n {
        0 => "0".to_owned(),
        1 => "1 byte".to_owned(),
        _ => format!("{n} bytes"),
    }
}

/// What the process may lock, read before locking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Soft `RLIMIT_MEMLOCK`.
    pub soft: Limit,
    /// Hard `RLIMIT_MEMLOCK`; the soft limit can be raised up to it without privilege.
    pub hard: Limit,
    /// `CAP_IPC_LOCK` is in the effective set: the limit does not apply.
    pub cap_ipc_lock: bool,
}

/// What locking will do, predicted from a [`Probe`] without locking anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forecast {
    /// `CAP_IPC_LOCK` is present: the limit does not apply, everything can be locked.
    Capable,
    /// The limit is (or can be raised to) unlimited: everything can be locked.
    Unlimited,
    /// No capability, finite limit above 0: locking succeeds only while the process maps at most
    /// this many bytes, and with `MCL_FUTURE` later allocations past it fail.
    Capped(u64),
    /// No capability and the limit is 0: `mlockall` fails with `EPERM`.
    Refused,
}

impl Forecast {
    /// True when every current and future page can be locked.
    pub fn is_unrestricted(self) -> bool {
        matches!(self, Forecast::Capable | Forecast::Unlimited)
    }
}

impl Probe {
    /// True when the soft limit is below the hard one and, lacking the capability, locking
    /// raises it to the hard limit first.
    pub fn raises_soft_limit(&self) -> bool {
        !self.cap_ipc_lock && self.soft < self.hard
    }

    /// The limit that applies when `mlockall` runs (after any raise).
    pub fn effective_limit(&self) -> Limit {
        if self.raises_soft_limit() { self.hard } else { self.soft }
    }

    /// What locking will do.
    pub fn forecast(&self) -> Forecast {
        if self.cap_ipc_lock {
            return Forecast::Capable;
        }
        match self.effective_limit() {
            Limit::Unlimited => Forecast::Unlimited,
            Limit::Bytes(0) => Forecast::Refused,
            Limit::Bytes(n) => Forecast::Capped(n),
        }
    }

    /// One sentence, said before locking, on what will happen and why.
    pub fn plan(&self) -> String {
        let raise = if self.raises_soft_limit() {
            format!(" (soft limit raised from {} to the hard limit)", self.soft)
        } else {
            String::new()
        };
        match self.forecast() {
            Forecast::Capable => format!(
                "CAP_IPC_LOCK present: the limit does not apply (RLIMIT_MEMLOCK is {}); \
                 mlockall(MCL_CURRENT | MCL_FUTURE) will lock all current and future memory",
                self.soft
            ),
            Forecast::Unlimited => format!(
                "RLIMIT_MEMLOCK is unlimited{raise}: mlockall(MCL_CURRENT | MCL_FUTURE) will lock all current \
                 and future memory"
            ),
            Forecast::Capped(n) => {
                let size = format_bytes(n);
                format!(
                    "RLIMIT_MEMLOCK is {size}{raise} and CAP_IPC_LOCK is absent: locking will fail once the process \
                     maps more than {size}; if it succeeds, MCL_FUTURE makes every later allocation that would pass \
                     {size} fail, so the daemon must fit in {size}"
                )
            }
            Forecast::Refused => {
                "RLIMIT_MEMLOCK is 0 and CAP_IPC_LOCK is absent: mlockall will fail with EPERM".to_owned()
            }
        }
    }

    /// The error that `mlockall` failing with `errno` means under this probe.
    pub fn classify(&self, errno: i32) -> MlockError {
        match errno {
            libc::EPERM => MlockError::PermissionDenied { limit: self.effective_limit() },
            libc::ENOMEM => match self.forecast() {
                Forecast::Capped(n) => MlockError::OverLimit { limit: Limit::Bytes(n) },
                Forecast::Refused => MlockError::OverLimit { limit: Limit::Bytes(0) },
                Forecast::Capable | Forecast::Unlimited => MlockError::OutOfMemory,
            },
            libc::EAGAIN => MlockError::TryAgain,
            _ => MlockError::Os { source: io::Error::from_raw_os_error(errno) },
        }
    }
}

/// What a successful lock looked like afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    /// `VmLck` from `/proc/self/status` right after locking, in bytes: the locked address space,
    /// what `RLIMIT_MEMLOCK` is charged for; always above 0.
    pub vm_lck_bytes: u64,
    /// Resident bytes of the locked mappings right after locking (see the module doc); `None`
    /// when `/proc/self/smaps` could not be read.
    pub pinned_bytes: Option<u64>,
    /// `RLIMIT_MEMLOCK` that applies from now on (after any raise of the soft limit).
    pub limit: Limit,
    /// `CAP_IPC_LOCK` was present, so the limit does not apply.
    pub cap_ipc_lock: bool,
}

impl Locked {
    /// The ceiling that `MCL_FUTURE` puts on the process's memory, if any: a finite limit
    /// without `CAP_IPC_LOCK`.
    pub fn ceiling(&self) -> Option<u64> {
        match self.limit {
            Limit::Bytes(n) if !self.cap_ipc_lock => Some(n),
            _ => None,
        }
    }

    /// Checks that `more` bytes can still be locked under the ceiling (with `MCL_FUTURE` every
    /// new mapping, thread stacks included, is locked as it is made). `what` names the need.
    pub fn fits(&self, more: u64, what: &str) -> Result<(), MlockError> {
        match self.ceiling() {
            Some(ceiling) if self.vm_lck_bytes.saturating_add(more) > ceiling => Err(MlockError::NoHeadroom {
                limit: Limit::Bytes(ceiling),
                locked: self.vm_lck_bytes,
                needed: more,
                what: what.to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

/// Why memory is not locked. Every message names the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum MlockError {
    /// `EPERM`: the process lacks `CAP_IPC_LOCK` and `RLIMIT_MEMLOCK` is 0.
    #[error(
        "mlockall was refused (EPERM): RLIMIT_MEMLOCK is {limit} and the process lacks `CAP_IPC_LOCK`; {fixes}",
        fixes = FIXES
    )]
    PermissionDenied {
        /// The limit in force when `mlockall` ran.
        limit: Limit,
    },
    /// `ENOMEM` without `CAP_IPC_LOCK`: the locked size would exceed `RLIMIT_MEMLOCK`.
    #[error(
        "mlockall failed (ENOMEM): the locked size would exceed RLIMIT_MEMLOCK of {limit} and the process lacks \
         `CAP_IPC_LOCK`; {fixes}",
        fixes = FIXES
    )]
    OverLimit {
        /// The limit in force when `mlockall` ran.
        limit: Limit,
    },
    /// `ENOMEM` although the limit did not apply: the system could not lock that much memory.
    #[error(
        "mlockall failed (ENOMEM) although RLIMIT_MEMLOCK does not apply: the system has too little free memory \
         to lock this process; free memory on the host or lower the daemon's footprint"
    )]
    OutOfMemory,
    /// `EAGAIN`: some pages could not be locked at that moment.
    #[error("mlockall failed (EAGAIN): some pages could not be locked right now; start the daemon again, or {fixes}", fixes = FIXES)]
    TryAgain,
    /// Any other error from `mlockall`.
    #[error("mlockall failed: {source}; {fixes}", fixes = FIXES)]
    Os {
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// `getrlimit(RLIMIT_MEMLOCK)` failed, so nothing was attempted.
    #[error("cannot read RLIMIT_MEMLOCK, memory was not locked: {source}")]
    Limit {
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// `mlockall` returned 0 but `VmLck` is 0: nothing is locked.
    #[error(
        "mlockall reported success but /proc/self/status shows VmLck of 0 kB, so memory is not locked; \
         check for a seccomp filter or sandbox that stubs out mlockall"
    )]
    NotConfirmed,
    /// `mlockall` returned 0 but `VmLck` could not be read, so the lock cannot be confirmed.
    #[error(
        "mlockall reported success but VmLck could not be read from /proc/self/status ({reason}), so the lock \
         is unconfirmed; mount /proc"
    )]
    Unverifiable {
        /// What went wrong reading `/proc/self/status`.
        reason: String,
    },
    /// Locked, but the rest of the limit cannot hold what the process must still map.
    #[error(
        "memory is locked under RLIMIT_MEMLOCK of {limit} without `CAP_IPC_LOCK`: {locked} is locked and {what} \
         would lock {needed} more, past the limit; {fixes}; or lock less: fewer async workers \
         (`resources.worker_threads`) or smaller thread stacks (`resources.thread_stack_bytes`)",
        locked = format_bytes(*locked),
        needed = format_bytes(*needed),
        fixes = FIXES
    )]
    NoHeadroom {
        /// The limit in force.
        limit: Limit,
        /// `VmLck` after locking, in bytes.
        locked: u64,
        /// What must still be locked, in bytes.
        needed: u64,
        /// What needs it.
        what: String,
    },
    /// This target cannot lock memory.
    #[error(
        "memory locking is unsupported on this platform ({platform}); set `mlock = \"off\"` and \
         `resources.lock_memory = false`, or run the daemon on Linux"
    )]
    Unsupported {
        /// `std::env::consts::OS`.
        platform: &'static str,
    },
    /// A WASI module (WOS): WASI has no mlock, and the module's memory belongs to the runtime
    /// that hosts it.
    #[error(
        "memory locking is impossible in a WASI module: WASI has no mlock, and the module's memory belongs to the \
         WebAssembly runtime that hosts it; run the daemon's native build where its memory must stay locked, or drop \
         the requirement (`mlock = \"off\"`, `resources.lock_memory_required = false`)"
    )]
    Wasi,
}

impl MlockError {
    /// True when this target cannot lock memory at all (so a plan beforehand adds nothing).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, MlockError::Unsupported { .. } | MlockError::Wasi)
    }
}

/// Everything [`lock_all`] did: the plan said beforehand and the confirmed result.
#[derive(Debug)]
pub struct LockOutcome {
    /// What was going to happen, from `RLIMIT_MEMLOCK` and `CAP_IPC_LOCK`, said before locking.
    pub plan: String,
    /// The confirmed lock, or why there is none.
    pub result: Result<Locked, MlockError>,
}

impl LockOutcome {
    /// Logs the plan and the outcome. Locking happens before the logger exists, so this runs
    /// afterwards. A failure is an error when locking is `required`, a warning otherwise.
    pub fn log(&self, required: bool) {
        tracing::info!("memory locking: {}", self.plan);
        match &self.result {
            Ok(locked) => {
                let vm_lck = format_bytes(locked.vm_lck_bytes);
                match locked.pinned_bytes {
                    Some(pinned) => tracing::info!(
                        pinned_bytes = pinned,
                        vm_lck_bytes = locked.vm_lck_bytes,
                        "memory locked: {} pinned (resident and locked); VmLck, the locked address space \
                         RLIMIT_MEMLOCK is charged for, is {vm_lck}",
                        format_bytes(pinned)
                    ),
                    None => tracing::info!(
                        vm_lck_bytes = locked.vm_lck_bytes,
                        "memory locked: VmLck, the locked address space, is {vm_lck}; how much of it is resident \
                         is unknown (/proc/self/smaps could not be read)"
                    ),
                }
                if let Some(ceiling) = locked.ceiling() {
                    tracing::warn!(
                        "memory is locked under RLIMIT_MEMLOCK of {} without CAP_IPC_LOCK: MCL_FUTURE makes every \
                         allocation that would pass it fail; {FIXES}",
                        format_bytes(ceiling)
                    );
                }
            }
            Err(err) if required => tracing::error!("memory locking is required and failed: {err}"),
            Err(err) => tracing::warn!("memory locking failed, continuing unlocked: {err}"),
        }
    }
}

/// Fields of `/proc/PID/status` that locking (and the process metrics) care about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcStatus {
    /// `VmLck`, in bytes.
    pub vm_lck: Option<u64>,
    /// `CapEff`, the effective capability set.
    pub cap_eff: Option<u64>,
    /// `VmRSS`, in bytes.
    pub vm_rss: Option<u64>,
    /// `Threads`.
    pub threads: Option<u64>,
}

impl ProcStatus {
    /// `CAP_IPC_LOCK` is in the effective set (false when `CapEff` is missing).
    pub fn has_cap_ipc_lock(&self) -> bool {
        self.cap_eff.is_some_and(|caps| caps & (1 << CAP_IPC_LOCK_BIT) != 0)
    }
}

/// Parses the text of `/proc/PID/status`; unparsable or missing fields are `None`.
pub fn parse_status(text: &str) -> ProcStatus {
    let mut status = ProcStatus::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key {
            "VmLck" => status.vm_lck = kib_to_bytes(value),
            "VmRSS" => status.vm_rss = kib_to_bytes(value),
            "Threads" => status.threads = value.parse().ok(),
            "CapEff" => status.cap_eff = u64::from_str_radix(value, 16).ok(),
            _ => {}
        }
    }
    status
}

/// `"5624 kB"` in bytes.
fn kib_to_bytes(value: &str) -> Option<u64> {
    let kib = value.strip_suffix("kB").map(str::trim_end).and_then(|n| n.parse::<u64>().ok());
    kib.and_then(|k| k.checked_mul(1024))
}

/// Reads `RLIMIT_MEMLOCK` and `CAP_IPC_LOCK` for this process, without locking anything.
#[cfg(target_os = "linux")]
pub fn probe() -> Result<Probe, MlockError> {
    let (soft, hard) = sys::memlock_limits().map_err(|source| MlockError::Limit { source })?;
    let status = std::fs::read_to_string("/proc/self/status").map(|t| parse_status(&t)).unwrap_or_default();
    Ok(Probe { soft, hard, cap_ipc_lock: status.has_cap_ipc_lock() })
}

/// Reads `RLIMIT_MEMLOCK` and `CAP_IPC_LOCK` for this process: unsupported on this target.
#[cfg(not(any(target_os = "linux", target_os = "wasi")))]
pub fn probe() -> Result<Probe, MlockError> {
    Err(MlockError::Unsupported { platform: std::env::consts::OS })
}

/// Reads `RLIMIT_MEMLOCK` and `CAP_IPC_LOCK` for this process: a WASI module has neither.
#[cfg(target_os = "wasi")]
pub fn probe() -> Result<Probe, MlockError> {
    Err(MlockError::Wasi)
}

/// Resident bytes of the mappings whose `VmFlags` has `lo` (locked), from the text of
/// `/proc/PID/smaps`; `None` when no mapping has a `VmFlags` line (a kernel before 3.8) to tell.
pub fn parse_smaps_pinned(text: &str) -> Option<u64> {
    let mut rss = 0;
    let mut pinned = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("Rss:") {
            rss = kib_to_bytes(value.trim()).unwrap_or(0);
        } else if let Some(flags) = line.strip_prefix("VmFlags:") {
            let locked = flags.split_whitespace().any(|flag| flag == "lo");
            let total: &mut u64 = pinned.get_or_insert(0);
            if locked {
                *total = total.saturating_add(rss);
            }
            rss = 0;
        }
    }
    pinned
}

/// Resident bytes of this process's locked mappings (see [`parse_smaps_pinned`]); `None` where
/// there is no `/proc/self/smaps` to read.
pub fn pinned_bytes() -> Option<u64> {
    if cfg!(target_os = "linux") {
        std::fs::read_to_string("/proc/self/smaps").ok().and_then(|text| parse_smaps_pinned(&text))
    } else {
        None
    }
}

/// What each thread maps besides its stack, all of it locked under `MCL_FUTURE`: the guard page
/// below the stack, and the alternate signal stack Rust's standard library gives every thread it
/// starts (to report a stack overflow), `max(SIGSTKSZ, AT_MINSIGSTKSZ)` plus its own guard page.
#[cfg(unix)]
pub fn thread_overhead() -> u64 {
    const PAGE: u64 = 4096;
    #[cfg(target_os = "linux")]
    // SAFETY: getauxval(3) only reads the auxiliary vector; 0 means the entry is absent.
    let minimum = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) };
    #[cfg(not(target_os = "linux"))]
    let minimum = 0;
    let signal_stack = u64::try_from(libc::SIGSTKSZ).unwrap_or(0).max(minimum);
    PAGE + signal_stack + PAGE
}

/// Checks, after locking, that `more` bytes the runtime must still lock fit under the limit
/// (`what` names them). When they do not, `required` locking fails with the reason; best-effort
/// locking is undone (`munlockall`), said in a warning, and the daemon goes on unlocked.
pub fn make_room(locked: &Locked, more: u64, what: &str, required: bool) -> Result<(), MlockError> {
    let Err(err) = locked.fits(more, what) else { return Ok(()) };
    if required {
        return Err(err);
    }
    match unlock_all() {
        Ok(()) => {
            tracing::warn!("memory locking undone, continuing unlocked: {err}");
            Ok(())
        }
        Err(source) => {
            tracing::error!("memory locking could not be undone after: {err}");
            Err(MlockError::Os { source })
        }
    }
}

/// Whether this process's memory is locked (`mlockall` succeeded and was not undone).
static HOLDS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process's memory is locked now: set when [`lock_all`] locks, cleared when locking
/// is undone. Parts of the runtime that would otherwise map and unmap memory again and again keep
/// it instead while this holds (the reload thread stays once started).
pub fn holds() -> bool {
    HOLDS.load(std::sync::atomic::Ordering::Relaxed)
}

/// `munlockall()`: unlocks every page and ends `MCL_FUTURE`.
#[cfg(target_os = "linux")]
fn unlock_all() -> io::Result<()> {
    sys::munlockall()?;
    HOLDS.store(false, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Nothing is ever locked off Linux, so there is nothing to unlock.
#[cfg(not(target_os = "linux"))]
fn unlock_all() -> io::Result<()> {
    Ok(())
}

/// Locks all current and future memory of the process, having said what will happen. Locking
/// `required` and best effort alike lock under a finite limit (the plan says that the daemon must
/// then fit in it); best effort goes on unlocked when this fails.
#[cfg(target_os = "linux")]
pub fn lock_all() -> LockOutcome {
    let probe = match probe() {
        Ok(probe) => probe,
        Err(err) => {
            return LockOutcome { plan: "RLIMIT_MEMLOCK could not be read; not locking".to_owned(), result: Err(err) };
        }
    };
    let mut plan = probe.plan();
    // What applies when mlockall runs: the soft limit raised to the hard one, or left as it was.
    let mut applied = Probe { hard: probe.soft, ..probe };
    if probe.raises_soft_limit() {
        match sys::set_soft_memlock_limit(probe.hard) {
            Ok(()) => applied = Probe { soft: probe.hard, ..probe },
            Err(err) => plan = format!("{}; raising the soft limit to {} failed: {err}", applied.plan(), probe.hard),
        }
    }
    if let Err(errno) = sys::mlockall_current_and_future() {
        return LockOutcome { plan, result: Err(applied.classify(errno)) };
    }
    // Locked, and still one thread: cap malloc's arenas before any other thread allocates.
    plan = format!("{plan}; {}; {}", sys::cap_malloc_arenas(), sys::keep_heap());
    HOLDS.store(true, std::sync::atomic::Ordering::Relaxed);
    let result = match std::fs::read_to_string("/proc/self/status") {
        Err(err) => Err(MlockError::Unverifiable { reason: err.to_string() }),
        Ok(text) => match parse_status(&text).vm_lck {
            None => Err(MlockError::Unverifiable { reason: "no VmLck line".to_owned() }),
            Some(0) => Err(MlockError::NotConfirmed),
            Some(vm_lck_bytes) => Ok(Locked {
                vm_lck_bytes,
                pinned_bytes: pinned_bytes(),
                limit: applied.soft,
                cap_ipc_lock: applied.cap_ipc_lock,
            }),
        },
    };
    LockOutcome { plan, result }
}

/// Locks all memory of the process: unsupported on this target, which is said, never faked.
#[cfg(not(any(target_os = "linux", target_os = "wasi")))]
pub fn lock_all() -> LockOutcome {
    let platform = std::env::consts::OS;
    LockOutcome {
        plan: format!("memory locking is not available on {platform}: nothing will be locked"),
        result: Err(MlockError::Unsupported { platform }),
    }
}

/// Locks all memory of the process: a WASI module cannot, which is said, never faked.
#[cfg(target_os = "wasi")]
pub fn lock_all() -> LockOutcome {
    LockOutcome { plan: "WASI has no mlock: nothing will be locked".to_owned(), result: Err(MlockError::Wasi) }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;

    use super::Limit;

    fn to_limit(value: libc::rlim_t) -> Limit {
        if value == libc::RLIM_INFINITY { Limit::Unlimited } else { Limit::Bytes(value) }
    }

    /// Soft and hard `RLIMIT_MEMLOCK`.
    pub(super) fn memlock_limits() -> io::Result<(Limit, Limit)> {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `limit` is a valid, writable `rlimit` that lives across the call.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((to_limit(limit.rlim_cur), to_limit(limit.rlim_max)))
    }

    /// Sets the soft `RLIMIT_MEMLOCK` to `hard` (always allowed: soft may rise up to hard).
    pub(super) fn set_soft_memlock_limit(hard: Limit) -> io::Result<()> {
        let max = match hard {
            Limit::Unlimited => libc::RLIM_INFINITY,
            Limit::Bytes(n) => n,
        };
        let limit = libc::rlimit { rlim_cur: max, rlim_max: max };
        // SAFETY: `limit` is a valid `rlimit` that lives across the call; the kernel only reads it.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
        if rc != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// `mlockall(MCL_CURRENT | MCL_FUTURE)`; the errno on failure.
    pub(super) fn mlockall_current_and_future() -> Result<(), i32> {
        // SAFETY: mlockall takes only flags and touches no memory of ours; locking pages is
        // always memory-safe.
        let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error().raw_os_error().unwrap_or(0)) }
    }

    /// `munlockall()`.
    pub(super) fn munlockall() -> io::Result<()> {
        // SAFETY: munlockall takes no arguments and touches no memory of ours.
        let rc = unsafe { libc::munlockall() };
        if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    /// Whether the operator set any of these malloc parameters, each named by its environment
    /// variable and its `GLIBC_TUNABLES` name: duende then leaves all of them alone.
    #[cfg(target_env = "gnu")]
    fn set_by_environment(parameters: &[(&str, &str)]) -> bool {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        parameters.iter().any(|(var, tunable)| std::env::var_os(var).is_some() || tunables.contains(tunable))
    }

    /// Caps glibc's malloc arenas at one (see the module doc), unless the environment set a cap;
    /// says what was done, for the plan.
    #[cfg(target_env = "gnu")]
    pub(super) fn cap_malloc_arenas() -> String {
        if set_by_environment(&[("MALLOC_ARENA_MAX", "glibc.malloc.arena_max")]) {
            return "malloc arenas left as the environment sets them (MALLOC_ARENA_MAX or GLIBC_TUNABLES); each \
                    arena past the first is a 64 MiB reservation that MCL_FUTURE counts as locked"
                .to_owned();
        }
        // SAFETY: mallopt only sets a parameter of glibc's allocator; M_ARENA_MAX with a positive
        // value is valid at any time, and no other thread exists yet.
        if unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) } == 1 {
            "malloc arenas capped at 1, so that no 64 MiB arena reservation is locked".to_owned()
        } else {
            "capping malloc arenas failed: each thread's arena may add a 64 MiB reservation to VmLck".to_owned()
        }
    }

    /// Not glibc: no arenas with 64 MiB reservations to cap.
    #[cfg(not(target_env = "gnu"))]
    pub(super) fn cap_malloc_arenas() -> String {
        "the C library is not glibc: no malloc arenas to cap".to_owned()
    }

    /// Has glibc's malloc keep the heap it grew (see "A high-water mark" in the module doc),
    /// unless the environment set any of the three; says what was done, for the plan.
    #[cfg(target_env = "gnu")]
    pub(super) fn keep_heap() -> String {
        if set_by_environment(&[
            ("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold"),
            ("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
            ("MALLOC_TOP_PAD_", "glibc.malloc.top_pad"),
        ]) {
            return "malloc's trimming left as the environment sets it (MALLOC_*_ or GLIBC_TUNABLES)".to_owned();
        }
        // glibc's largest mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX): 32 MiB on 64-bit targets.
        let mmap_max = 4 * 1024 * 1024 * std::mem::size_of::<libc::c_long>();
        let mmap_max = libc::c_int::try_from(mmap_max).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets parameters of glibc's allocator, each to a value in its range.
        let set = unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_max) == 1
                && libc::mallopt(libc::M_TOP_PAD, 0) == 1
        };
        if set {
            "freed heap memory kept locked for reuse (no trimming, allocations below 32 MiB from the heap, no \
             padding), so VmLck is the most the daemon has needed"
                .to_owned()
        } else {
            "keeping the heap failed: freed heap memory may be handed back and locked again when needed".to_owned()
        }
    }

    /// Not glibc: its allocator's own policy applies.
    #[cfg(not(target_env = "gnu"))]
    pub(super) fn keep_heap() -> String {
        "the C library is not glibc: its allocator may hand freed memory back and lock it again when needed".to_owned()
    }
}

#[cfg(test)]
mod tests;
