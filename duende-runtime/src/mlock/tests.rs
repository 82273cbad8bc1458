use super::*;

const MIB: u64 = 1 << 20;

fn probe(soft: Limit, hard: Limit, cap_ipc_lock: bool) -> Probe {
    Probe { soft, hard, cap_ipc_lock }
}

#[test]
fn headroom_is_checked_only_under_a_ceiling() {
    let capped = Locked {
        vm_lck_bytes: 6 << 20,
        pinned_bytes: Some(6 << 20),
        limit: Limit::Bytes(8 << 20),
        cap_ipc_lock: false,
    };
    assert!(capped.fits(1 << 20, "x").is_ok());
    let err = capped.fits(4 << 20, "the async runtime's 2 worker threads").unwrap_err().to_string();
    assert!(err.contains("8 MiB") && err.contains("6 MiB is locked") && err.contains("would lock 4 MiB more"), "{err}");
    assert!(err.contains("worker threads") && err.contains("CAP_IPC_LOCK"), "{err}");
    let capable = Locked { cap_ipc_lock: true, ..capped };
    assert!(capable.fits(u64::MAX, "x").is_ok());
    let unlimited = Locked { limit: Limit::Unlimited, ..capped };
    assert!(unlimited.fits(u64::MAX, "x").is_ok());
}

#[test]
fn sizes_use_the_largest_exact_unit() {
    assert_eq!(format_bytes(8 * MIB), "8 MiB");
    assert_eq!(format_bytes(64 * 1024), "64 KiB");
    assert_eq!(format_bytes(1 << 30), "1 GiB");
    assert_eq!(format_bytes(1000), "1000 bytes");
    assert_eq!(format_bytes(MIB + 1), "1048577 bytes");
    assert_eq!(format_bytes(0), "0");
    assert_eq!(Limit::Unlimited.to_string(), "unlimited");
}

#[test]
fn plan_with_a_finite_limit_and_no_capability_warns_about_growth() {
    let p = probe(Limit::Bytes(8 * MIB), Limit::Bytes(8 * MIB), false);
    assert_eq!(p.forecast(), Forecast::Capped(8 * MIB));
    let plan = p.plan();
    assert!(
        plan.starts_with(
            "RLIMIT_MEMLOCK is 8 MiB and CAP_IPC_LOCK is absent: locking will fail once the process maps more \
             than 8 MiB"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "MCL_FUTURE makes every later allocation that would pass 8 MiB fail, so the daemon must fit in 8 MiB"
        ),
        "{plan}"
    );
}

#[test]
fn plan_with_the_capability_ignores_the_limit() {
    for soft in [Limit::Bytes(0), Limit::Bytes(8 * MIB), Limit::Unlimited] {
        let p = probe(soft, Limit::Bytes(8 * MIB).max(soft), true);
        assert_eq!(p.forecast(), Forecast::Capable);
        assert!(!p.raises_soft_limit());
        assert!(p.plan().starts_with("CAP_IPC_LOCK present: the limit does not apply"), "{}", p.plan());
    }
}

#[test]
fn plan_with_an_unlimited_limit() {
    let p = probe(Limit::Unlimited, Limit::Unlimited, false);
    assert_eq!(p.forecast(), Forecast::Unlimited);
    assert!(p.forecast().is_unrestricted());
    assert!(p.plan().starts_with("RLIMIT_MEMLOCK is unlimited: mlockall"), "{}", p.plan());
}

#[test]
fn plan_with_a_zero_limit_and_no_capability_predicts_eperm() {
    let p = probe(Limit::Bytes(0), Limit::Bytes(0), false);
    assert_eq!(p.forecast(), Forecast::Refused);
    assert_eq!(p.plan(), "RLIMIT_MEMLOCK is 0 and CAP_IPC_LOCK is absent: mlockall will fail with EPERM");
}

#[test]
fn a_soft_limit_below_the_hard_limit_is_raised_first() {
    let p = probe(Limit::Bytes(64 * 1024), Limit::Bytes(8 * MIB), false);
    assert!(p.raises_soft_limit());
    assert_eq!(p.forecast(), Forecast::Capped(8 * MIB));
    assert!(p.plan().starts_with("RLIMIT_MEMLOCK is 8 MiB (soft limit raised from 64 KiB to the hard limit)"));
    let p = probe(Limit::Bytes(0), Limit::Unlimited, false);
    assert_eq!(p.forecast(), Forecast::Unlimited);
    assert!(p.plan().starts_with("RLIMIT_MEMLOCK is unlimited (soft limit raised from 0 to"), "{}", p.plan());
}

#[test]
fn errno_maps_to_one_variant_per_cause() {
    let capped = probe(Limit::Bytes(8 * MIB), Limit::Bytes(8 * MIB), false);
    let zero = probe(Limit::Bytes(0), Limit::Bytes(0), false);
    let capable = probe(Limit::Bytes(8 * MIB), Limit::Bytes(8 * MIB), true);
    assert!(matches!(zero.classify(libc::EPERM), MlockError::PermissionDenied { limit: Limit::Bytes(0) }));
    assert!(matches!(capped.classify(libc::ENOMEM), MlockError::OverLimit { limit: Limit::Bytes(n) } if n == 8 * MIB));
    assert!(matches!(capable.classify(libc::ENOMEM), MlockError::OutOfMemory));
    assert!(matches!(capped.classify(libc::EAGAIN), MlockError::TryAgain));
    let other = capped.classify(libc::EINVAL);
    assert!(matches!(&other, MlockError::Os { source } if source.raw_os_error() == Some(libc::EINVAL)));
    assert!(std::error::Error::source(&other).is_some(), "the OS error is kept as the source");
}

#[test]
fn messages_name_the_cause_and_every_fix() {
    let capped = probe(Limit::Bytes(8 * MIB), Limit::Bytes(8 * MIB), false);
    let zero = probe(Limit::Bytes(0), Limit::Bytes(0), false);
    let eperm = zero.classify(libc::EPERM).to_string();
    let enomem = capped.classify(libc::ENOMEM).to_string();
    assert!(eperm.starts_with("mlockall was refused (EPERM): RLIMIT_MEMLOCK is 0 and"), "{eperm}");
    assert!(enomem.contains("(ENOMEM): the locked size would exceed RLIMIT_MEMLOCK of 8 MiB"), "{enomem}");
    for message in [&eperm, &enomem, &capped.classify(libc::EAGAIN).to_string()] {
        for fix in [
            "`AmbientCapabilities=CAP_IPC_LOCK`",
            "`LimitMEMLOCK=infinity`",
            "`--cap-add IPC_LOCK --ulimit memlock=-1:-1`",
            "`ulimit -l unlimited`",
        ] {
            assert!(message.contains(fix), "{message} lacks {fix}");
        }
        assert!(message.starts_with(char::is_lowercase) && !message.ends_with('.'), "{message}");
    }
    let unsupported = MlockError::Unsupported { platform: "macos" }.to_string();
    assert!(unsupported.starts_with("memory locking is unsupported on this platform (macos)"), "{unsupported}");
    assert!(MlockError::NotConfirmed.to_string().contains("VmLck of 0 kB"));
}

const STATUS: &str = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nVmPeak:\t    5816 kB\n\
    VmLck:\t    5624 kB\nVmPin:\t       0 kB\nVmRSS:\t    1920 kB\nThreads:\t3\nCapInh:\t0000000000000000\n\
    CapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n";

#[test]
fn status_parsing_reads_vmlck_and_capeff() {
    let status = parse_status(STATUS);
    assert_eq!(status.vm_lck, Some(5624 * 1024));
    assert_eq!((status.vm_rss, status.threads), (Some(1920 * 1024), Some(3)));
    assert_eq!(status.cap_eff, Some(0x1ff_ffff_ffff));
    assert!(status.has_cap_ipc_lock());
}

#[test]
fn status_parsing_sees_a_dropped_capability_and_zero_lock() {
    // The machine's root set with cap_ipc_lock (bit 14) dropped, as `setpriv --inh-caps=-ipc_lock` does.
    let text = "VmLck:\t       0 kB\nCapEff:\t000001fffeffbfff\n";
    let status = parse_status(text);
    assert_eq!(status.vm_lck, Some(0));
    assert!(!status.has_cap_ipc_lock());
    let unprivileged = parse_status("CapEff:\t0000000000000000\n");
    assert!(!unprivileged.has_cap_ipc_lock());
    assert_eq!(unprivileged.vm_lck, None);
    assert!(!parse_status("VmLck:\tgarbage kB\nCapEff:\tzz\n").has_cap_ipc_lock());
    assert_eq!(parse_status("VmLck:\tgarbage kB\n").vm_lck, None);
}

#[test]
fn a_lock_under_a_finite_limit_without_the_capability_has_a_ceiling() {
    let locked =
        Locked { vm_lck_bytes: 4096, pinned_bytes: Some(4096), limit: Limit::Bytes(8 * MIB), cap_ipc_lock: false };
    assert_eq!(locked.ceiling(), Some(8 * MIB));
    assert_eq!(Locked { cap_ipc_lock: true, ..locked }.ceiling(), None);
    assert_eq!(Locked { limit: Limit::Unlimited, ..locked }.ceiling(), None);
}

/// Two mappings of one process as `/proc/PID/smaps` shows them after `mlockall`: a resident
/// locked heap, an arena reservation (locked, nothing resident), a shared library (resident,
/// `Locked` proportional), and the vDSO (never locked).
const SMAPS: &str = "\
55d0c2a00000-55d0c2a21000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
Rss:                 132 kB
Pss:                 132 kB
Locked:              132 kB
VmFlags: rd wr mr mw me ac lo sd
7f9cc4021000-7f9cc8000000 ---p 00000000 00:00 0
Size:              65404 kB
Rss:                   0 kB
Locked:                0 kB
VmFlags: mr mw me nr lo sd
7f9ccb47b000-7f9ccb5d1000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
Size:               1368 kB
Rss:                1368 kB
Pss:                 102 kB
Locked:              102 kB
VmFlags: rd ex mr mw me lo sd
7ffd1b5f3000-7ffd1b5f5000 r-xp 00000000 00:00 0                          [vdso]
Size:                  8 kB
Rss:                   4 kB
Locked:                0 kB
VmFlags: rd ex mr mw me de sd
";

#[test]
fn pinned_bytes_are_the_resident_part_of_locked_mappings() {
    // Heap and libc whole (not libc's proportional 102 kB), not the reservation's size, not the vDSO.
    assert_eq!(parse_smaps_pinned(SMAPS), Some((132 + 1368) * 1024));
    let unlocked = SMAPS.replace(" lo ", " ");
    assert_eq!(parse_smaps_pinned(&unlocked), Some(0));
    // A kernel without VmFlags cannot tell locked mappings from others.
    let old: String = SMAPS.lines().filter(|l| !l.starts_with("VmFlags")).map(|l| format!("{l}\n")).collect();
    assert_eq!(parse_smaps_pinned(&old), None);
}

#[test]
fn this_process_pins_nothing_it_did_not_lock() {
    if cfg!(target_os = "linux") {
        assert_eq!(pinned_bytes(), Some(0), "the test process locks nothing");
    } else {
        assert_eq!(pinned_bytes(), None);
    }
}

#[test]
fn room_is_made_or_refused_by_mode() {
    let locked = Locked {
        vm_lck_bytes: 6 * MIB,
        pinned_bytes: Some(6 * MIB),
        limit: Limit::Bytes(8 * MIB),
        cap_ipc_lock: false,
    };
    assert!(make_room(&locked, MIB, "x", true).is_ok());
    let err = make_room(&locked, 4 * MIB, "the async runtime's 2 worker threads", true).unwrap_err();
    assert!(matches!(err, MlockError::NoHeadroom { needed, .. } if needed == 4 * MIB), "{err}");
}
