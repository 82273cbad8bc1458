//! Faults during `install` (issue 15, item 5): the installer killed with SIGKILL before each step
//! of its transaction, on the native platform (as `nobody` under a temporary home) and on systemd
//! (a throwaway systemd in systemd-nspawn); and a full disk during the writes on both.
//!
//! The kill comes from the engine's test-only hook (`duende_runtime::platform::fault`, built into
//! the probe by the `root-tests` feature): `DUENDE_TEST_KILL_AT=N` makes the installer SIGKILL
//! itself just before step N of the transaction. The rounds and what they check are in
//! `faults/mod.rs` (shared with `install_faults_container.rs` and `install_faults_runners.rs`).
#![cfg(feature = "root-tests")]

mod faults;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use duende_tests::nobody::Nobody;
use duende_tests::sandbox::{Systemd, show_output};
use faults::{PROBE, Rig, Tmpfs, differences, host_exe, json_of, list, old_binary, rounds};

#[test]
fn native_installs_killed_at_each_step_leave_old_or_new_and_are_repaired() {
    let nobody = Nobody::new("probe");
    let old_probe = nobody.path("probe-old");
    let old_bytes = old_binary(&old_probe);
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
        exe: &host_exe,
        identity: &String::new,
        bookkeeping: &|_| false,
        new_binary: PROBE,
        old_binary: &old_binary,
        old_bytes,
        old_args: &["--now", "--config", &old_config, "--set", "shutdown_timeout=5s"],
        new_args: &["--now", "--config", &new_config, "--set", "shutdown_timeout=6s"],
        checks_exe: true,
        status: true,
    };
    rounds(&rig, "--user");
}

#[test]
fn systemd_installs_killed_at_each_step_leave_old_or_new_and_are_repaired() {
    let sb = Systemd::boot("faults").unwrap_or_else(|e| panic!("{e:#}"));
    let root = sb.root();
    let old_bytes = old_binary(&root.join("tmp/probe-old"));
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
        exe: &|pid| std::fs::read(root.join(format!("proc/{pid}/exe"))).unwrap_or_default(),
        identity: &String::new,
        bookkeeping: &|_| false,
        new_binary: PROBE,
        old_binary: "/tmp/probe-old",
        old_bytes,
        old_args: &["--now", "--config", "/tmp/old.toml", "--set", "shutdown_timeout=5s"],
        new_args: &["--now", "--config", "/tmp/new.toml", "--set", "shutdown_timeout=6s"],
        checks_exe: true,
        status: true,
    };
    rounds(&rig, "--system");
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
        let mount = Tmpfs::mount(&config_dir, pages * 4096, 65534);
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

/// Kubernetes on this machine: `kubectl` is installed and no cluster answers, so `install`
/// writes the manifests and the image archive alone (through the same journaled transaction)
/// and says they were not applied; `status` fails. The rounds cover the file writes: each file
/// old or new, the whole set old or new unless journaled, the next `install` taking an
/// interrupted one back, `uninstall` leaving nothing. Applying to a cluster is not covered here.
#[test]
fn kubernetes_installs_killed_at_each_write_leave_old_or_new_files() {
    let nobody = Nobody::new("probe");
    let old_probe = nobody.path("probe-old");
    let old_bytes = old_binary(&old_probe);
    for (name, label) in [("old.toml", "old"), ("new.toml", "new")] {
        std::fs::write(nobody.path(name), format!("[app]\nlabel = \"{label}\"\n")).expect("write");
    }
    let (old_config, new_config) = (nobody.path("old.toml"), nobody.path("new.toml"));
    let (old_config, new_config) = (old_config.to_string_lossy(), new_config.to_string_lossy());
    let probe = |binary: &str, args: &[&str], kill_at: Option<usize>| {
        let mut command = nobody.command(binary);
        command.args(args).args(["--platform", "kubernetes"]);
        if let Some(step) = kill_at {
            command.env("DUENDE_TEST_KILL_AT", step.to_string());
        }
        command.output().expect("run the probe")
    };
    let home = nobody.path("home");
    let listing = || list(&[&home], &|_| false);
    let old_binary = old_probe.to_string_lossy();
    let rig = Rig {
        what: "kubernetes",
        probe: &probe,
        listing: &listing,
        alive: &|_| false,
        exe: &|_| Vec::new(),
        identity: &String::new,
        bookkeeping: &|_| false,
        new_binary: PROBE,
        old_binary: &old_binary,
        old_bytes,
        old_args: &["--config", &old_config, "--set", "platform.kubernetes.replicas=1"],
        new_args: &["--config", &new_config, "--set", "platform.kubernetes.replicas=2"],
        checks_exe: false,
        status: false,
    };
    let outcomes = rounds(&rig, "--user");
    assert!(outcomes.iter().any(|o| o.contains("deployment.yaml")), "{outcomes:#?}");
}

/// A tmpfs mounted inside the sandbox, unmounted when dropped.
struct SandboxTmpfs<'a> {
    sb: &'a Systemd,
    dir: &'a str,
}

impl<'a> SandboxTmpfs<'a> {
    fn mount(sb: &'a Systemd, dir: &'a str, bytes: usize) -> SandboxTmpfs<'a> {
        let out = sb.exec(&["mount", "-t", "tmpfs", "-o", &format!("size={bytes},mode=0755"), "tmpfs", dir]);
        assert!(out.status.success(), "mount a tmpfs on {dir} in the sandbox: {}", show_output(&out));
        SandboxTmpfs { sb, dir }
    }
}

impl Drop for SandboxTmpfs<'_> {
    fn drop(&mut self) {
        let _ = self.sb.exec(&["umount", self.dir]);
    }
}

/// A full disk during the writes under systemd: the configuration directory `/etc/probe` on a
/// tmpfs of 1 to 4 pages inside the sandbox, holding the OLD configuration, while the OLD
/// service runs. An install that does not fit fails naming the full disk and leaves exactly the
/// OLD files (the copied binary put back too), no journal, and the OLD service running its OLD
/// binary without a restart; one that fits installs the NEW set; once the tmpfs is gone,
/// `install` completes.
#[test]
fn systemd_installs_on_a_full_disk_leave_the_old_service_running() {
    let sb = Systemd::boot("fullsd").unwrap_or_else(|e| panic!("{e:#}"));
    let root = sb.root();
    let old_bytes = old_binary(&root.join("tmp/probe-old"));
    let new_bytes = std::fs::read(PROBE).expect("read the probe");
    std::fs::write(root.join("tmp/old.toml"), "[app]\nlabel = \"old\"\n").expect("write");
    std::fs::write(root.join("tmp/new.toml"), format!("[app]\nlabel = \"{}\"\n", "new".repeat(2000))).expect("write");
    let probe = |binary: &str, args: &[&str]| {
        let mut argv = vec![binary];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--platform", "systemd", "--system"]);
        sb.exec(&argv)
    };
    let old_args = ["--now", "--config", "/tmp/old.toml", "--set", "shutdown_timeout=5s"];
    let new_args = ["--now", "--config", "/tmp/new.toml", "--set", "shutdown_timeout=6s"];
    let install = |binary: &str, args: &[&str]| {
        let mut all = vec!["install"];
        all.extend_from_slice(args);
        probe(binary, &all)
    };
    let roots = ["etc/systemd/system", "usr/local/bin", "etc/probe"].map(|dir| root.join(dir));
    let listing = || {
        let roots: Vec<&Path> = roots.iter().map(|p| p.as_path()).collect();
        list(&roots, &|path| {
            path.contains("/etc/systemd/system/") && !path.contains("probe") && !path.ends_with(".wants")
        })
    };
    let status = |binary: &str, args: &[&str]| {
        let mut all = vec!["status", "--json"];
        all.extend(args.iter().filter(|a| **a != "--now"));
        json_of(&probe(binary, &all))
    };
    let runs = |json: &serde_json::Value| {
        let pid = json["pid"].as_u64().unwrap_or(0);
        (pid, std::fs::read(root.join(format!("proc/{pid}/exe"))).unwrap_or_default())
    };
    let before = listing();
    let mut outcomes = Vec::new();
    for pages in 1..=4 {
        let out = install("/tmp/probe-old", &old_args);
        assert!(out.status.success(), "{}", show_output(&out));
        let old = listing();
        let running = status("/tmp/probe-old", &old_args);
        assert_eq!(running["state"], "running", "{running}");
        let (old_pid, exe) = runs(&running);
        assert!(exe == old_bytes, "the old service runs the old binary");
        let config = root.join("etc/probe/probe.toml");
        let (bytes, mode) = (
            std::fs::read(&config).expect("the old configuration"),
            std::fs::metadata(&config).expect("stat").mode() & 0o7777,
        );
        let mount = SandboxTmpfs::mount(&sb, "/etc/probe", pages * 4096);
        std::fs::write(&config, &bytes).expect("the old configuration fits");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).expect("chmod");
        assert_eq!(differences(&listing(), &old), Vec::<String>::new(), "the old files, the config on the tmpfs");
        let out = install(PROBE, &new_args);
        let now = listing();
        let json = status(PROBE, &new_args);
        let interrupted = json["drift"].as_array().is_some_and(|d| d.iter().any(|k| k == "interrupted"));
        assert!(!interrupted, "{pages} pages: {json}");
        if out.status.success() {
            assert_eq!(json["state"], "running", "{json}");
            assert!(runs(&json).1 == new_bytes, "{pages} pages: the new binary runs");
            outcomes.push(format!("{pages} pages: installed"));
        } else {
            let said = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(
                said.contains("No space left on device") && said.contains("/etc/probe/probe.toml"),
                "{pages} pages: the error names the full disk and the file: {}",
                show_output(&out)
            );
            assert_eq!(differences(&now, &old), Vec::<String>::new(), "{pages} pages: the old set, exactly:\n{said}");
            let json = status("/tmp/probe-old", &old_args);
            assert_eq!(json["state"], "running", "{pages} pages: the old service still runs: {json}");
            let (pid, exe) = runs(&json);
            assert_eq!(pid, old_pid, "{pages} pages: the same old process, not restarted");
            assert!(exe == old_bytes, "{pages} pages: the old process runs the old binary");
            outcomes.push(format!("{pages} pages: refused, the old service runs on (pid {old_pid})"));
        }
        drop(mount);
        // The disk has room again: the next install completes, and uninstall removes it all.
        let out = install(PROBE, &new_args);
        assert!(out.status.success(), "{}", show_output(&out));
        let json = status(PROBE, &new_args);
        assert_eq!(
            (json["state"].as_str(), json["drift"].as_array().map(Vec::len)),
            (Some("running"), Some(0)),
            "{json}"
        );
        assert!(runs(&json).1 == new_bytes, "{pages} pages, after the tmpfs: the new binary runs");
        let out = probe(PROBE, &["uninstall"]);
        assert!(out.status.success(), "{}", show_output(&out));
        assert_eq!(differences(&listing(), &before), Vec::<String>::new(), "{pages} pages: uninstall");
    }
    eprintln!("[systemd, full disk] {}", outcomes.join("; "));
    assert!(outcomes.iter().any(|o| o.contains("refused")), "some size refused the install: {outcomes:?}");
    assert!(outcomes.iter().any(|o| o.contains("installed")), "some size fitted: {outcomes:?}");
}
