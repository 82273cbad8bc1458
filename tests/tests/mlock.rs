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

/// The mapping of `/proc/PID/smaps` that holds `len` bytes at `address`: its header line and its
/// `Rss:` and `Locked:` in KiB.
#[cfg(feature = "root-tests")]
fn mapping_holding(pid: i32, address: u64, len: u64) -> (String, u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut lines = smaps.lines();
    while let Some(line) = lines.next() {
        let Some((start, end)) = line.split_whitespace().next().and_then(|range| range.split_once('-')) else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16)) else { continue };
        if !(start <= address && address < end) {
            continue;
        }
        assert!(address + len <= end, "the buffer runs past its mapping {line}");
        let kib = |field: &str, text: &str| -> Option<u64> {
            text.strip_prefix(field)?.trim().strip_suffix(" kB")?.parse().ok()
        };
        let (mut rss, mut locked) = (None, None);
        for field in lines.by_ref().take_while(|l| !l.starts_with("VmFlags:")) {
            rss = rss.or_else(|| kib("Rss:", field));
            locked = locked.or_else(|| kib("Locked:", field));
        }
        let missing = || panic!("no Rss: or Locked: for {line} in\n{smaps}");
        return (line.to_owned(), rss.unwrap_or_else(missing), locked.unwrap_or_else(missing));
    }
    panic!("no mapping holds {address:#x} in\n{smaps}")
}

#[cfg(feature = "root-tests")]
#[test]
fn root_locks_everything_and_vmlck_stays_close_to_what_is_pinned() {
    assert_eq!(euid(), 0, "the root-tests feature needs root");
    let mut d = Spawn::new(SWAPD).start();
    expect_locked_line(&mut d);
    let line = d.expect_line("init: buffer of 16 MiB at 0x");
    let address = line.split(" at 0x").nth(1).and_then(|rest| rest.split(',').next()).unwrap();
    let address = u64::from_str_radix(address, 16).unwrap_or_else(|e| panic!("{e}: {line}"));
    // The buffer's own mapping is resident and locked, all of it: VmLck alone counts locked
    // address space, reserved or not, so it would not tell an unlocked buffer from a locked one.
    let (mapping, rss, locked) = mapping_holding(d.pid(), address, 16 << 20);
    assert!(rss >= 16 * 1024, "{mapping}: Rss {rss} kB does not cover the 16 MiB buffer");
    assert_eq!(locked, rss, "{mapping}: Locked {locked} kB, Rss {rss} kB");
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
