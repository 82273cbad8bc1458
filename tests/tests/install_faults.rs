//! Faults during `install` (issue 15, item 5): the installer killed with SIGKILL before each step
//! of its transaction, on the native platform (as `nobody` under a temporary home) and on systemd
//! (a throwaway systemd in systemd-nspawn).
//!
//! The kill comes from the engine's test-only hook (`duende_runtime::platform::fault`, built into
//! the probe by the `root-tests` feature): `DUENDE_TEST_KILL_AT=N` makes the installer SIGKILL
//! itself just before step N of the transaction. The test raises N from 0 until an install runs
//! to its end, so every step is covered, including steps added later.
//!
//! Each round: the OLD installation (a different binary, configuration and unit settings) is
//! installed and running; the NEW install is killed before step N. Then:
//! - each installed path holds exactly its OLD or its NEW bytes and mode (never a torn file, never
//!   a stray file), and the whole set is exactly OLD or exactly NEW, unless the install left its
//!   journal, in which case `status` must say `interrupted`;
//! - `status --json` never claims `running` unless the daemon it names is alive and answers;
//! - `install` again succeeds and leaves exactly the NEW set, running, without drift;
//! - `uninstall` leaves nothing (the listing from before the first install).
#![cfg(feature = "root-tests")]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;

use duende_tests::nobody::Nobody;
use duende_tests::sandbox::{Systemd, show_output};
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// Every file and directory under the watched roots: path → (mode, bytes) (`None` for a dir).
type Listing = BTreeMap<String, (u32, Option<Vec<u8>>)>;

fn list(roots: &[&Path], skip: &dyn Fn(&str) -> bool) -> Listing {
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
fn differences(now: &Listing, want: &Listing) -> Vec<String> {
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

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON from status: {}", show_output(out)))
}

/// Runs the probe at a binary path with ARGS (the platform flag added); `Some(N)` sets the hook.
type RunProbe<'a> = &'a dyn Fn(&str, &[&str], Option<usize>) -> Output;

/// What one platform's rounds need.
struct Rig<'a> {
    what: &'a str,
    /// Runs the probe.
    probe: RunProbe<'a>,
    /// The installed files and directories, read from this host.
    listing: &'a dyn Fn() -> Listing,
    /// True when the (host-visible) daemon pid `status` reported is alive.
    alive: &'a dyn Fn(u64) -> bool,
    /// The old binary (the probe with bytes appended), as the probe sees its path.
    old_binary: &'a str,
    old_args: &'a [&'a str],
    new_args: &'a [&'a str],
}

fn ok(rig: &Rig<'_>, binary: &str, args: &[&str]) -> String {
    let out = (rig.probe)(binary, args, None);
    assert!(out.status.success(), "{}: {args:?}: {}", rig.what, show_output(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn install_args<'a>(level: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["install", level];
    args.extend_from_slice(rest);
    args
}

/// `status --json` with the new request, checked for honesty; returns it.
fn honest_status(rig: &Rig<'_>, level: &str) -> Value {
    let mut args = vec!["status", "--json", level];
    args.extend(rig.new_args.iter().filter(|a| **a != "--now"));
    let out = (rig.probe)(PROBE, &args, None);
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

fn rounds(rig: &Rig<'_>, level: &str) {
    let before = (rig.listing)();
    // The reference: OLD installed, then NEW installed over it without a fault.
    ok(rig, rig.old_binary, &install_args(level, rig.old_args));
    let old = (rig.listing)();
    ok(rig, PROBE, &install_args(level, rig.new_args));
    let new = (rig.listing)();
    assert_ne!(old, new, "{}: the new installation differs from the old", rig.what);
    ok(rig, PROBE, &["uninstall", level]);
    assert_eq!(differences(&(rig.listing)(), &before), Vec::<String>::new(), "{}: uninstall", rig.what);

    let mut outcomes = Vec::new();
    for step in 0.. {
        ok(rig, rig.old_binary, &install_args(level, rig.old_args));
        assert_eq!(differences(&(rig.listing)(), &old), Vec::<String>::new(), "{}: the old install", rig.what);
        let out = (rig.probe)(PROBE, &install_args(level, rig.new_args), Some(step));
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            assert!(!said.contains("SIGKILL before step"), "{said}");
            assert_eq!(differences(&(rig.listing)(), &new), Vec::<String>::new(), "{}: unfaulted", rig.what);
            eprintln!("[{}] {step} steps, each killed once: {}", rig.what, outcomes.join("; "));
            assert!(step > 0, "the hook never fired: is the probe built with `fault-injection`?");
            break;
        }
        assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{}: step {step}: {}", rig.what, show_output(&out));
        let name = said
            .lines()
            .find_map(|l| l.split_once(&format!("SIGKILL before step {step}: ")).map(|(_, what)| what.to_owned()))
            .unwrap_or_else(|| panic!("the hook did not say which step: {said}"));
        let now = (rig.listing)();
        // Path by path: the old or the new file, exactly; the install's journal and backups
        // are the only other files allowed, and only while `status` says the install is
        // interrupted.
        let journaled = now.keys().any(|path| path.ends_with(".duende-journal"));
        for (path, value) in &now {
            let known = old.get(path) == Some(value) || new.get(path) == Some(value);
            let bookkeeping = journaled && (path.ends_with(".duende-journal") || path.ends_with(".duende-old"));
            assert!(known || bookkeeping, "{}: step {step} ({name}): {path} is neither old nor new", rig.what);
        }
        let json = honest_status(rig, level);
        let interrupted = json["drift"].as_array().is_some_and(|d| d.iter().any(|k| k == "interrupted"));
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
        if outcome == "old" {
            assert!(
                !json["drift"].as_array().is_none_or(Vec::is_empty),
                "the old install differs from the new: {json}"
            );
        }
        outcomes.push(format!("{step} {name}: {outcome}, status {} {}", json["state"], json["drift"]));

        let repaired = ok(rig, PROBE, &install_args(level, rig.new_args));
        assert_eq!(
            differences(&(rig.listing)(), &new),
            Vec::<String>::new(),
            "{}: step {step} ({name}): install again leaves the new set:\n{repaired}",
            rig.what
        );
        let json = honest_status(rig, level);
        assert_eq!(
            (json["state"].as_str(), json["drift"].as_array().map(Vec::len)),
            (Some("running"), Some(0)),
            "{json}"
        );
        ok(rig, PROBE, &["uninstall", level]);
        assert_eq!(
            differences(&(rig.listing)(), &before),
            Vec::<String>::new(),
            "{}: step {step} ({name}): uninstall leaves nothing",
            rig.what
        );
    }
}

/// The probe with bytes appended: another binary that runs the same.
fn old_binary(to: &Path) {
    let mut bytes = std::fs::read(PROBE).expect("read the probe");
    bytes.extend_from_slice(b"\0old probe\0");
    std::fs::write(to, bytes).expect("write the old probe");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn native_installs_killed_at_each_step_leave_old_or_new_and_are_repaired() {
    let nobody = Nobody::new("probe");
    let old_probe = nobody.path("probe-old");
    old_binary(&old_probe);
    for (name, label) in [("old.toml", "old"), ("new.toml", "new")] {
        std::fs::write(nobody.path(name), format!("[app]\nlabel = \"{label}\"\n")).expect("write");
    }
    let (old_config, new_config) = (nobody.path("old.toml"), nobody.path("new.toml"));
    let (old_config, new_config) = (old_config.to_string_lossy(), new_config.to_string_lossy());
    let probe = |binary: &str, args: &[&str], kill_at: Option<usize>| {
        let mut command = nobody.command(binary);
        command.args(args).args(["--platform", "native"]);
        if let Some(step) = kill_at {
            command.env("DUENDE_TEST_KILL_AT", step.to_string());
        }
        command.output().expect("run the probe")
    };
    let home = nobody.path("home");
    let listing = || list(&[&home], &|path| path.contains("/.local/state/"));
    let old_binary = old_probe.to_string_lossy();
    let rig = Rig {
        what: "native",
        probe: &probe,
        listing: &listing,
        alive: &|pid| Path::new(&format!("/proc/{pid}")).exists(),
        old_binary: &old_binary,
        old_args: &["--now", "--config", &old_config, "--set", "shutdown_timeout=5s"],
        new_args: &["--now", "--config", &new_config, "--set", "shutdown_timeout=6s"],
    };
    rounds(&rig, "--user");
}

#[test]
fn systemd_installs_killed_at_each_step_leave_old_or_new_and_are_repaired() {
    let sb = Systemd::boot("faults").unwrap_or_else(|e| panic!("{e:#}"));
    let root = sb.root();
    old_binary(&root.join("tmp/probe-old"));
    for (name, label) in [("old.toml", "old"), ("new.toml", "new")] {
        std::fs::write(root.join("tmp").join(name), format!("[app]\nlabel = \"{label}\"\n")).expect("write");
    }
    let probe = |binary: &str, args: &[&str], kill_at: Option<usize>| {
        let step = kill_at.map(|n| format!("DUENDE_TEST_KILL_AT={n}"));
        let mut argv = vec!["env"];
        argv.extend(step.as_deref());
        argv.push(binary);
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--platform", "systemd"]);
        sb.exec(&argv)
    };
    let roots = ["etc/systemd/system", "usr/local/bin", "etc/probe"].map(|dir| root.join(dir));
    let listing = || {
        let roots: Vec<&Path> = roots.iter().map(|p| p.as_path()).collect();
        // Only what an install of probe may touch in the unit directory.
        list(&roots, &|path| {
            path.contains("/etc/systemd/system/") && !path.contains("probe") && !path.ends_with(".wants")
        })
    };
    let rig = Rig {
        what: "systemd",
        probe: &probe,
        listing: &listing,
        alive: &|pid| sb.exec(&["test", "-d", &format!("/proc/{pid}")]).status.success(),
        old_binary: "/tmp/probe-old",
        old_args: &["--now", "--config", "/tmp/old.toml", "--set", "shutdown_timeout=5s"],
        new_args: &["--now", "--config", "/tmp/new.toml", "--set", "shutdown_timeout=6s"],
    };
    rounds(&rig, "--system");
}

/// A tmpfs mounted on a directory for the test, unmounted when dropped.
struct Tmpfs(std::ffi::CString);

impl Tmpfs {
    fn mount(dir: &Path, bytes: usize) -> Tmpfs {
        let target = std::ffi::CString::new(dir.to_string_lossy().as_bytes()).expect("no NUL");
        let options = std::ffi::CString::new(format!("size={bytes},mode=0755,uid=65534,gid=65534")).expect("no NUL");
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

/// A full disk during the writes: the configuration directory (configuration and definition,
/// and the install's journal beside the definition) on a tmpfs of 1 to 8 pages holding the OLD
/// files. Every install that fails there must leave exactly the OLD set (putting files back
/// needs no free space), and no journal; one that fits leaves the NEW set.
#[test]
fn native_installs_on_a_full_disk_leave_the_old_set_or_the_new() {
    let nobody = Nobody::new("probe");
    let old_probe = nobody.path("probe-old");
    old_binary(&old_probe);
    for (name, label) in [("old.toml", "old"), ("new.toml", "new".repeat(2000).as_str())] {
        std::fs::write(nobody.path(name), format!("[app]\nlabel = \"{label}\"\n")).expect("write");
    }
    let probe = |binary: &Path, args: &[&str]| {
        let mut command = nobody.command(&binary.to_string_lossy());
        command.args(args).args(["--platform", "native", "--user"]);
        command.output().expect("run the probe")
    };
    let old_args =
        ["--config", &*nobody.path("old.toml").to_string_lossy(), "--set", "shutdown_timeout=5s"].map(String::from);
    let new_args =
        ["--config", &*nobody.path("new.toml").to_string_lossy(), "--set", "shutdown_timeout=6s"].map(String::from);
    let install = |binary: &Path, args: &[String]| {
        let mut all = vec!["install"];
        all.extend(args.iter().map(String::as_str));
        probe(binary, &all)
    };
    let home = nobody.path("home");
    let listing = || list(&[&home], &|path| path.contains("/.local/state/"));
    let config_dir = nobody.path("home/.config/probe");
    let before = listing();
    let reference = [install(&old_probe, &old_args), install(Path::new(PROBE), &new_args)];
    assert!(reference.iter().all(|out| out.status.success()), "{reference:?}");
    let new = listing();
    assert!(probe(Path::new(PROBE), &["uninstall"]).status.success());
    let mut outcomes = Vec::new();
    for pages in 1..=8 {
        let out = install(&old_probe, &old_args);
        assert!(out.status.success(), "{}", show_output(&out));
        let old = listing();
        let files: Vec<(std::ffi::OsString, Vec<u8>, u32)> = std::fs::read_dir(&config_dir)
            .expect("the configuration directory")
            .flatten()
            .map(|e| {
                let meta = e.metadata().expect("stat");
                (e.file_name(), std::fs::read(e.path()).expect("read"), meta.mode() & 0o7777)
            })
            .collect();
        let mount = Tmpfs::mount(&config_dir, pages * 4096);
        let fits = files.iter().all(|(name, bytes, mode)| {
            let path = config_dir.join(name);
            std::fs::write(&path, bytes).is_ok()
                && std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).is_ok()
                && std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_ok()
        });
        if fits {
            assert_eq!(differences(&listing(), &old), Vec::<String>::new(), "the old files on the tmpfs");
            let out = install(Path::new(PROBE), &new_args);
            let now = listing();
            let json = json_of(&probe(
                Path::new(PROBE),
                &["status", "--json", "--config", &new_args[1], "--set", &new_args[3]],
            ));
            let interrupted = json["drift"].as_array().is_some_and(|d| d.iter().any(|k| k == "interrupted"));
            assert!(!interrupted, "{pages} pages: {json}");
            if out.status.success() {
                assert_eq!(differences(&now, &new), Vec::<String>::new(), "{pages} pages: the new set, exactly");
                outcomes.push(format!("{pages} pages: installed"));
            } else {
                let said = String::from_utf8_lossy(&out.stderr).into_owned();
                assert!(said.contains("No space left on device"), "{pages} pages: {}", show_output(&out));
                assert_eq!(
                    differences(&now, &old),
                    Vec::<String>::new(),
                    "{pages} pages: the old set, exactly:\n{said}"
                );
                outcomes.push(format!("{pages} pages: refused, old set intact"));
            }
        } else {
            outcomes.push(format!("{pages} pages: the old files do not fit"));
        }
        drop(mount);
        // The disk has room again: the next install completes, and uninstall removes it all.
        let out = install(Path::new(PROBE), &new_args);
        assert!(out.status.success(), "{}", show_output(&out));
        let out = probe(Path::new(PROBE), &["uninstall"]);
        assert!(out.status.success(), "{}", show_output(&out));
        assert_eq!(differences(&listing(), &before), Vec::<String>::new(), "{pages} pages: uninstall");
    }
    eprintln!("[native, full disk] {}", outcomes.join("; "));
    assert!(outcomes.iter().any(|o| o.contains("refused")), "some size refused the install: {outcomes:?}");
}
