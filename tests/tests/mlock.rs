//! Memory locking on this machine, for real: EPERM and ENOMEM provoked with `prlimit` (and, as
//! root, `setpriv` dropping CAP_IPC_LOCK) each give their own message and exit 71 before `init`.
//! The success case (VmLck > 0) needs root and lives behind the `root-tests` feature.

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

#[cfg(feature = "root-tests")]
#[test]
fn root_locks_everything_and_vmlck_confirms_it() {
    assert_eq!(euid(), 0, "the root-tests feature needs root");
    let mut d = Spawn::new(SWAPD).start();
    let line = d.expect_line("init: buffer of 16 MiB, VmLck = ");
    let kib: u64 = line.rsplit("VmLck = ").next().and_then(|v| v.trim_end_matches(" kB").parse().ok()).unwrap();
    assert!(kib >= 16 * 1024, "VmLck {kib} kB does not cover the 16 MiB buffer:\n{line}");
    d.signal(libc::SIGUSR1);
    d.expect_line("VmLck = ");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn best_effort_declines_a_capped_lock_and_keeps_running_unlocked() {
    // Locking would succeed or not depending on the binary's size, but with MCL_FUTURE under a
    // finite limit every later allocation past it would fail: best effort must not take that risk.
    let mut d = without_lock_privilege("4194304", PROBE).args(["--set", "resources.lock_memory=true"]).start();
    d.expect_line("run");
    let out = d.output();
    assert!(out.contains("not locking: RLIMIT_MEMLOCK is 4 MiB"), "{out}");
    assert!(!out.contains("memory locked: VmLck"), "{out}");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(), 0, "{}", d.output());
}

#[test]
fn required_by_configuration_alone_exits_71_before_init() {
    let (code, out) = without_lock_privilege("0", PROBE).args(["--set", "resources.lock_memory_required=true"]).run();
    assert_eq!(code, 71, "{out}");
    assert!(out.contains("EPERM") && !out.contains("init label"), "{out}");
}
