//! Memory locking on this machine, for real: EPERM and ENOMEM provoked with `prlimit` (and, as
//! root, `setpriv` dropping CAP_IPC_LOCK) each give their own message and exit 71 before `init`.
//! The success cases (with the capability, and without it under a finite limit that covers the
//! daemon) need root and live behind the `root-tests` feature.

use duende_tests::{Spawn, euid};

const SWAPD: &str = env!("CARGO_BIN_EXE_example-mlock");

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// `program` under `prlimit --memlock=LIMIT`, with CAP_IPC_LOCK dropped when root (a non-root
/// user has no capabilities to drop, and may not change its bounding set).
fn without_lock_privilege(limit: &str, program: &str) -> Spawn {
    let memlock = format!("--memlock={limit}:{limit}");
    let mut wrapper = vec!["prlimit", memlock.as_str()];
    if euid() == 0 {
        wrapper.extend(["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock"]);
    }
    Spawn::wrapped(&wrapper, program)
}

fn run_refused(limit: &str) -> String {
    let (code, out) = without_lock_privilege(limit, SWAPD).run();
    assert_eq!(code, 71, "memlock {limit}: expected exit 71:\n{out}");
    assert!(!out.contains("init:"), "init ran despite the failed required lock:\n{out}");
    assert!(out.contains("memory locking is required and failed"), "{out}");
    out
}

#[test]
fn eperm_when_the_limit_is_zero_and_the_capability_is_missing() {
    let out = run_refused("0");
    assert!(out.contains("EPERM"), "{out}");
    assert!(!out.contains("ENOMEM"), "{out}");
    assert!(out.contains("CAP_IPC_LOCK") && out.contains("LimitMEMLOCK=infinity"), "fixes not named:\n{out}");
}

#[test]
fn enomem_when_the_process_outgrows_the_limit() {
    let out = run_refused("1048576");
    assert!(out.contains("ENOMEM"), "{out}");
    assert!(!out.contains("EPERM"), "{out}");
    assert!(out.contains("1 MiB") || out.contains("1048576"), "the limit is not named:\n{out}");
}

/// `Rss` summed over the mappings of `/proc/PID/smaps` flagged `lo`, and `VmLck`, in KiB: read
/// here independently of the runtime's own reading.
#[cfg(feature = "root-tests")]
fn pinned_and_vm_lck_kib(pid: i32) -> (u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let (mut rss, mut pinned) = (0, 0);
    for line in smaps.lines() {
        if let Some(value) = line.strip_prefix("Rss:") {
            rss = value.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        } else if let Some(flags) = line.strip_prefix("VmFlags:")
            && flags.split_whitespace().any(|flag| flag == "lo")
        {
            pinned += rss;
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let vm_lck = status.lines().find_map(|l| l.strip_prefix("VmLck:")).unwrap();
    (pinned, vm_lck.trim().trim_end_matches(" kB").parse().unwrap())
}

/// The daemon's own log line after locking: "memory locked: N pinned (resident and locked); ...".
#[cfg(feature = "root-tests")]
fn expect_locked_line(d: &mut duende_tests::Running) -> String {
    let line = d.expect_line("memory locked: ");
    assert!(line.contains(" pinned (resident and locked); VmLck, the locked address space"), "{line}");
    line
}

#[cfg(feature = "root-tests")]
#[test]
fn root_locks_everything_and_vmlck_stays_close_to_what_is_pinned() {
    assert_eq!(euid(), 0, "the root-tests feature needs root");
    let mut d = Spawn::new(SWAPD).start();
    expect_locked_line(&mut d);
    let line = d.expect_line("init: buffer of 16 MiB, VmLck = ");
    let kib: u64 = line.rsplit("VmLck = ").next().and_then(|v| v.trim_end_matches(" kB").parse().ok()).unwrap();
    assert!(kib >= 16 * 1024, "VmLck {kib} kB does not cover the 16 MiB buffer:\n{line}");
    // With glibc's default arenas VmLck was 11 times what is pinned (five 64 MiB reservations).
    let (pinned, vm_lck) = pinned_and_vm_lck_kib(d.pid());
    assert!(pinned >= 16 * 1024, "pinned {pinned} kB does not cover the 16 MiB buffer");
    assert!(vm_lck * 4 <= pinned * 5, "VmLck {vm_lck} kB is more than 1.25x the {pinned} kB pinned");
    d.signal(libc::SIGUSR1);
    d.expect_line("VmLck = ");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn best_effort_under_a_limit_too_small_goes_on_unlocked() {
    // Best effort locks under a finite limit too; 4 MiB is less than the probe maps, so mlockall
    // fails with ENOMEM and the daemon runs unlocked, saying so.
    let mut d = without_lock_privilege("4194304", PROBE).args(["--set", "resources.lock_memory=true"]).start();
    d.expect_line("run");
    let out = d.output();
    assert!(out.contains("so the daemon must fit in 4 MiB"), "{out}");
    assert!(out.contains("memory locking failed, continuing unlocked: mlockall failed (ENOMEM)"), "{out}");
    assert!(!out.contains("memory locked:"), "{out}");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn required_by_configuration_alone_exits_71_before_init() {
    let (code, out) = without_lock_privilege("0", PROBE).args(["--set", "resources.lock_memory_required=true"]).run();
    assert_eq!(code, 71, "{out}");
    assert!(out.contains("EPERM") && !out.contains("init label"), "{out}");
}
