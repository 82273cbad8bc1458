//! What the `install_faults*` suites share: listings of what an install leaves (files, and the
//! engine's objects for containers), the kill rounds, and a tmpfs for full disks.
//!
//! A round: the OLD installation (a different binary, configuration and settings) is installed
//! and running; the NEW install is killed (by the engine's test-only hook, `DUENDE_TEST_KILL_AT`)
//! before step N. Then:
//! - each listed item holds exactly its OLD or its NEW value (never a torn file, never a stray
//!   one); the install's journal and backups, and what the rig calls bookkeeping (a replaced
//!   container kept under its `-previous` name), are allowed only while the journal exists, and
//!   then `status` must say `interrupted`; otherwise the whole set is exactly OLD or NEW;
//! - `status --json` never claims `running` unless the daemon it names is alive;
//! - killed before the install stood, `install` of the OLD request takes the interrupted install
//!   back and then has nothing to change: exactly the OLD set, the same service (the rig's
//!   identity: the same container), running the OLD binary; killed during its clean-ups, the
//!   install had stood, and `install` of the NEW request finishes them and has nothing to change;
//! - `install` of the NEW request leaves exactly the NEW set, running the NEW binary, no drift;
//! - `uninstall` leaves what was there before the first install.
//!
//! N is raised from 0 until an install runs to its end, so every step is covered, including
//! steps added later.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;

use duende_tests::sandbox::show_output;
use serde_json::Value;

pub const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// Every item an install may leave: a path → (mode, bytes) (`None` for a dir), or an engine's
/// object (`engine ...` → (0, its description)).
pub type Listing = BTreeMap<String, (u32, Option<Vec<u8>>)>;

/// Every file and directory under `roots` but those `skip` names.
pub fn list(roots: &[&Path], skip: &dyn Fn(&str) -> bool) -> Listing {
    use std::os::unix::fs::MetadataExt;
    let mut out = Listing::new();
    fn walk(dir: &Path, out: &mut Listing, skip: &dyn Fn(&str) -> bool) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let shown = path.display().to_string();
            if skip(&shown) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                out.insert(shown, (mode, None));
                walk(&path, out, skip);
            } else {
                out.insert(shown, (mode, Some(std::fs::read(&path).unwrap_or_default())));
            }
        }
    }
    for root in roots {
        walk(root, &mut out, skip);
    }
    out
}

/// Where `now` differs from `want`, for messages (paths and modes, not bytes).
pub fn differences(now: &Listing, want: &Listing) -> Vec<String> {
    let mut out = Vec::new();
    for (path, value) in now {
        match want.get(path) {
            None => out.push(format!("extra {path}")),
            Some(other) if other != value => out.push(format!("differs {path} (mode {:o} vs {:o})", value.0, other.0)),
            _ => {}
        }
    }
    out.extend(want.keys().filter(|path| !now.contains_key(*path)).map(|path| format!("missing {path}")));
    out
}

pub use duende_tests::sandbox::json_of;

/// Runs the probe at a binary path with ARGS (the platform flag added); `Some(N)` sets the hook.
pub type RunProbe<'a> = &'a dyn Fn(&str, &[&str], Option<usize>) -> Output;

/// What one platform's rounds need.
pub struct Rig<'a> {
    pub what: &'a str,
    /// Runs the probe.
    pub probe: RunProbe<'a>,
    /// The installed files and directories (and engine objects), read from this host.
    pub listing: &'a dyn Fn() -> Listing,
    /// True when the daemon pid `status` reported is alive.
    pub alive: &'a dyn Fn(u64) -> bool,
    /// The bytes of the program the daemon pid `status` reported runs (`/proc/PID/exe`).
    pub exe: &'a dyn Fn(u64) -> Vec<u8>,
    /// What identifies the installed service beyond its listing (a container's id), or nothing.
    pub identity: &'a dyn Fn() -> String,
    /// Items, besides the journal and the backups, that may exist only while an install is
    /// journaled (a replaced container under its `-previous` name).
    pub bookkeeping: &'a dyn Fn(&str) -> bool,
    /// The new binary, as the probe sees its path.
    pub new_binary: &'a str,
    /// The old binary (the new one with bytes appended), as the probe sees its path.
    pub old_binary: &'a str,
    /// The same on this host.
    pub old_bytes: Vec<u8>,
    pub old_args: &'a [&'a str],
    pub new_args: &'a [&'a str],
    /// Whether the daemon's pid is checked to run the right binary.
    pub checks_exe: bool,
    /// Whether `status` can answer here (Kubernetes without a cluster cannot: its rounds check
    /// the files alone, and that `status` fails).
    pub status: bool,
}

pub fn ok(rig: &Rig<'_>, binary: &str, args: &[&str]) -> String {
    let out = (rig.probe)(binary, args, None);
    assert!(out.status.success(), "{}: {args:?}: {}", rig.what, show_output(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn install_args<'a>(level: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["install", level];
    args.extend_from_slice(rest);
    args
}

/// `status --json` with `request`'s configuration, checked for honesty; returns it.
pub fn honest_status(rig: &Rig<'_>, level: &str, binary: &str, request: &[&str]) -> Value {
    let mut args = vec!["status", "--json", level];
    args.extend(request.iter().filter(|a| **a != "--now"));
    let out = (rig.probe)(binary, &args, None);
    let json = json_of(&out);
    if json["state"] == "running" {
        let pid = json["pid"].as_u64().unwrap_or(0);
        assert!((rig.alive)(pid), "{}: status claims running with pid {pid}, which is not alive: {json}", rig.what);
        assert_eq!(out.status.code(), Some(0), "{json}");
    } else {
        assert_ne!(out.status.code(), Some(0), "only running is a success: {json}");
    }
    json
}

/// The installation is exactly `want`, running without drift against `request`, its daemon
/// running `bytes`.
fn settled(rig: &Rig<'_>, level: &str, want: &Listing, binary: &str, request: &[&str], bytes: &[u8], what: &str) {
    assert_eq!(differences(&(rig.listing)(), want), Vec::<String>::new(), "{}: {what}", rig.what);
    if !rig.status {
        return;
    }
    let json = honest_status(rig, level, binary, request);
    assert_eq!(
        (json["state"].as_str(), json["drift"].as_array().map(Vec::len)),
        (Some("running"), Some(0)),
        "{}: {what}: {json}",
        rig.what
    );
    if rig.checks_exe {
        let pid = json["pid"].as_u64().unwrap_or(0);
        assert!((rig.exe)(pid) == bytes, "{}: {what}: pid {pid} does not run the binary it should", rig.what);
    }
}

/// The kill rounds (see the module documentation); returns one line per step.
pub fn rounds(rig: &Rig<'_>, level: &str) -> Vec<String> {
    let new_bytes = std::fs::read(rig.new_binary).expect("read the new binary");
    let before = (rig.listing)();
    // The reference: OLD installed, then NEW installed over it without a fault.
    ok(rig, rig.old_binary, &install_args(level, rig.old_args));
    let old = (rig.listing)();
    ok(rig, rig.new_binary, &install_args(level, rig.new_args));
    let new = (rig.listing)();
    assert_ne!(old, new, "{}: the new installation differs from the old", rig.what);
    ok(rig, rig.new_binary, &["uninstall", level]);
    assert_eq!(differences(&(rig.listing)(), &before), Vec::<String>::new(), "{}: uninstall", rig.what);

    let mut outcomes = Vec::new();
    for step in 0.. {
        let started = std::time::Instant::now();
        ok(rig, rig.old_binary, &install_args(level, rig.old_args));
        settled(rig, level, &old, rig.old_binary, rig.old_args, &rig.old_bytes, "the old install");
        let old_identity = (rig.identity)();
        let out = (rig.probe)(rig.new_binary, &install_args(level, rig.new_args), Some(step));
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            assert!(!said.contains("SIGKILL before step"), "{said}");
            settled(rig, level, &new, rig.new_binary, rig.new_args, &new_bytes, "unfaulted");
            ok(rig, rig.new_binary, &["uninstall", level]);
            assert_eq!(differences(&(rig.listing)(), &before), Vec::<String>::new(), "{}: uninstall", rig.what);
            assert!(step > 0, "the hook never fired: is the probe built with `fault-injection`?");
            break;
        }
        assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{}: step {step}: {}", rig.what, show_output(&out));
        let name = said
            .lines()
            .find_map(|l| l.split_once(&format!("SIGKILL before step {step}: ")).map(|(_, what)| what.to_owned()))
            .unwrap_or_else(|| panic!("the hook did not say which step: {said}"));
        let now = (rig.listing)();
        // Item by item: the old or the new, exactly; the install's journal and backups (and the
        // rig's bookkeeping) are the only others allowed, and only while `status` says the
        // install is interrupted.
        let journaled = now.keys().any(|path| path.ends_with(".duende-journal"));
        for (path, value) in &now {
            let known = old.get(path) == Some(value) || new.get(path) == Some(value);
            let bookkeeping = journaled
                && (path.ends_with(".duende-journal") || path.ends_with(".duende-old") || (rig.bookkeeping)(path));
            assert!(known || bookkeeping, "{}: step {step} ({name}): {path} is neither old nor new", rig.what);
        }
        let json = if rig.status {
            honest_status(rig, level, rig.new_binary, rig.new_args)
        } else {
            let out = (rig.probe)(rig.new_binary, &["status", level], None);
            assert!(!out.status.success(), "{}: status cannot answer here: {}", rig.what, show_output(&out));
            Value::from(journaled)
        };
        let interrupted = match rig.status {
            true => json["drift"].as_array().is_some_and(|d| d.iter().any(|k| k == "interrupted")),
            false => journaled,
        };
        let outcome = if now == old {
            "old"
        } else if now == new {
            "new"
        } else {
            assert!(
                journaled,
                "{}: step {step} ({name}): neither old nor new: {:?}",
                rig.what,
                differences(&now, &old)
            );
            "interrupted"
        };
        assert_eq!(
            interrupted, journaled,
            "{}: step {step} ({name}): status tells an interrupted install: {json}",
            rig.what
        );
        if outcome == "old" && rig.status {
            assert!(
                !json["drift"].as_array().is_none_or(Vec::is_empty),
                "the old install differs from the new: {json}"
            );
        }
        let stood = name.starts_with("clean up:");
        let (binary, request, bytes, want, identity) = if stood {
            (rig.new_binary, rig.new_args, &new_bytes, &new, (rig.identity)())
        } else {
            (rig.old_binary, rig.old_args, &rig.old_bytes, &old, old_identity)
        };
        // The next install takes the interrupted one back (or finishes it), then has nothing to do.
        let again = ok(rig, binary, &install_args(level, request));
        assert!(again.contains("nothing to change"), "{}: step {step} ({name}): {again}", rig.what);
        assert_eq!(
            again.contains("an earlier install was interrupted"),
            journaled,
            "{}: step {step} ({name}): {again}",
            rig.what
        );
        settled(rig, level, want, binary, request, bytes, &format!("step {step} ({name}), taken back or finished"));
        assert_eq!((rig.identity)(), identity, "{}: step {step} ({name}): the same service", rig.what);
        let told = match rig.status {
            true => format!("status {} {}", json["state"], json["drift"]),
            false => "status unavailable".to_owned(),
        };
        outcomes
            .push(format!("{step} {name}: {outcome}, {told}, then {}", if stood { "finished" } else { "taken back" }));

        let repaired = ok(rig, rig.new_binary, &install_args(level, rig.new_args));
        settled(
            rig,
            level,
            &new,
            rig.new_binary,
            rig.new_args,
            &new_bytes,
            &format!("step {step} ({name}): install again:\n{repaired}"),
        );
        ok(rig, rig.new_binary, &["uninstall", level]);
        assert_eq!(
            differences(&(rig.listing)(), &before),
            Vec::<String>::new(),
            "{}: step {step} ({name}): uninstall leaves nothing",
            rig.what
        );
        eprintln!("[{}] {} ({:.1?})", rig.what, outcomes.last().map(String::as_str).unwrap_or(""), started.elapsed());
    }
    eprintln!("[{}] {} steps, each killed once:\n  {}", rig.what, outcomes.len(), outcomes.join("\n  "));
    outcomes
}

/// For each step N of an OLD → NEW install: killed before N, then `uninstall` straight away
/// must leave what was there before the first install (taking the interrupted install back on
/// the way). Returns the number of steps.
pub fn uninstall_after_kills(rig: &Rig<'_>, level: &str) -> usize {
    let before = (rig.listing)();
    for step in 0.. {
        ok(rig, rig.old_binary, &install_args(level, rig.old_args));
        let out = (rig.probe)(rig.new_binary, &install_args(level, rig.new_args), Some(step));
        let killed = !out.status.success();
        ok(rig, rig.new_binary, &["uninstall", level]);
        assert_eq!(
            differences(&(rig.listing)(), &before),
            Vec::<String>::new(),
            "{}: killed before step {step}, then uninstalled: {}",
            rig.what,
            show_output(&out)
        );
        if !killed {
            eprintln!("[{}] uninstall after a kill before each of {step} steps leaves nothing", rig.what);
            return step;
        }
    }
    unreachable!()
}

/// The probe with bytes appended: another binary that runs the same.
pub fn old_binary(to: &Path) -> Vec<u8> {
    old_binary_of(PROBE, to)
}

/// `binary` with bytes appended, at `to`: another binary that runs the same.
pub fn old_binary_of(binary: &str, to: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(binary).expect("read the binary");
    bytes.extend_from_slice(b"\0old probe\0");
    std::fs::write(to, &bytes).expect("write the old probe");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bytes
}

/// What `/proc/PID/exe` holds on this host (empty when it cannot be read).
pub fn host_exe(pid: u64) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/exe")).unwrap_or_default()
}

/// A tmpfs mounted on a directory for the test, unmounted when dropped.
pub struct Tmpfs(std::ffi::CString);

impl Tmpfs {
    pub fn mount(dir: &Path, bytes: usize, owner: u32) -> Tmpfs {
        let target = std::ffi::CString::new(dir.to_string_lossy().as_bytes()).expect("no NUL");
        let options =
            std::ffi::CString::new(format!("size={bytes},mode=0755,uid={owner},gid={owner}")).expect("no NUL");
        // SAFETY: valid C strings; tmpfs takes its options as a C string.
        let rc =
            unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, options.as_ptr().cast()) };
        assert_eq!(rc, 0, "mounting a tmpfs on {}: {}", dir.display(), std::io::Error::last_os_error());
        Tmpfs(target)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // SAFETY: a valid C string naming the mount this value made.
        unsafe { libc::umount2(self.0.as_ptr(), 0) };
    }
}
