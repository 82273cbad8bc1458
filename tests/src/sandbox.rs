//! A real systemd (PID 1 of a throwaway `systemd-nspawn` container) for end-to-end tests of
//! daemons under the service manager they are written for.
//!
//! The container's root is the host's own `/` (bind-mounted privately, since nspawn refuses `/`
//! itself) under `--volatile=overlay`: every host binary is there, and every write (unit files,
//! `useradd`, journal files) lands in a tmpfs that vanishes when the container stops. nspawn also
//! gives it a private `/tmp`, `/run`, `/dev` and network (loopback only) and a read-only
//! `/proc/sys`, which is what makes booting systemd safe on a machine whose PID 1 is not systemd:
//! on the host's real root, `systemd-tmpfiles-setup` alone would empty the host's `/tmp`.
//!
//! The boot target is minimal (`sysinit.target`, journald, `dbus.socket`) so none of the host's
//! enabled services start inside. The cargo target directory is bind-mounted read-write at the
//! same path, so `env!("CARGO_BIN_EXE_...")` names the same binary inside and out.
//!
//! Each `Systemd` has its own state directory, machine name and cgroup, so tests may boot
//! several in parallel. Dropping it (also while a failed test unwinds) halts the container and
//! removes every mount, cgroup and file it made.
//!
//! Needs root, `systemd-nspawn` (package `systemd-container`), `nsenter` (package `util-linux`)
//! and systemd itself; a missing piece is an error naming the package, never a skipped test.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where sandboxes keep their state: the bind mount of `/`, the boot target, the console log.
pub const STATE_BASE: &str = "/run/duende-sandbox";

/// Prefix of every sandbox's state directory name and cgroup name.
const PREFIX: &str = "duende-sb-";

/// How long booting, halting and each command run inside may take before it counts as hung.
pub const SANDBOX_PATIENCE: Duration = Duration::from_secs(30);

/// `PATH` for commands run inside the container (the test runner's environment stays outside).
const INSIDE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const BOOT_TARGET: &str = "\
[Unit]
Description=duende test sandbox
Requires=sysinit.target
Wants=systemd-journald.service dbus.socket
After=sysinit.target systemd-journald.service dbus.socket
AllowIsolate=yes
";

/// A booted systemd in a container; halted and cleaned up on drop.
///
/// Drop it on the thread that booted it: the container is also told to halt when that thread
/// dies (so a test process killed outright does not leave it running).
#[derive(Debug)]
pub struct Systemd {
    name: String,
    state: PathBuf,
    nspawn: Option<Child>,
    leader: Option<i32>,
    cgroups: Vec<PathBuf>,
    boot_time: Duration,
}

impl Systemd {
    /// Boots systemd in a fresh container and waits until `systemctl is-system-running` answers
    /// `running` or `degraded`. `name` need not be unique: a per-process counter is appended.
    pub fn boot(name: &str) -> Result<Systemd> {
        preflight()?;
        fs::create_dir_all(STATE_BASE).with_context(|| format!("creating {STATE_BASE}"))?;
        sweep_stale();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let clean: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(24)
            .collect();
        let name = format!("{PREFIX}{clean}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let state = Path::new(STATE_BASE).join(&name);
        // From here on, `Drop` undoes whatever was done, also on an early return.
        let mut sandbox = Systemd {
            name: name.clone(),
            state: state.clone(),
            nspawn: None,
            leader: None,
            cgroups: Vec::new(),
            boot_time: Duration::ZERO,
        };
        let root = state.join("root");
        fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        fs::write(state.join("owner.pid"), std::process::id().to_string()).context("writing owner.pid")?;
        bind_private(Path::new("/"), &root)?;
        let target = state.join("sandbox.target");
        fs::write(&target, BOOT_TARGET).context("writing the boot target")?;

        let mut nspawn = Command::new("systemd-nspawn");
        nspawn
            .arg("-D")
            .arg(&root)
            .args(["--volatile=overlay", "--register=no", "--keep-unit", "--link-journal=no", "--console=pipe"])
            .args(["--private-network", "-M", &name])
            .arg(bind_arg("--bind-ro=", &target, Some("/etc/systemd/system/sandbox.target")));
        let targets = target_dir()?;
        nspawn.arg(bind_arg("--bind=", &targets, None));
        nspawn.args(["-b", "--", "--unit=sandbox.target", "--show-status=0"]);

        let mut command = if host_runs_systemd() {
            // The host's manager owns the cgroup tree: ask it for a delegated scope instead.
            let mut scope = Command::new("systemd-run");
            scope.args(["--scope", "--quiet", "--collect", "-p", "Delegate=yes", "--unit", &name]);
            scope.arg(nspawn.get_program()).args(nspawn.get_args());
            scope
        } else {
            // Our own cgroup (in every hierarchy nspawn looks at), entered before nspawn starts:
            // otherwise it creates `/payload` and `/supervisor` at the root, shared by all
            // sandboxes and left behind.
            let mut script = String::new();
            for base in cgroup_bases() {
                let dir = base.join(&name);
                fs::create_dir(&dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
                sandbox.cgroups.push(dir.clone());
                script.push_str(&format!("echo $$ > '{}' && ", dir.join("cgroup.procs").display()));
            }
            script.push_str("exec \"$@\"");
            let mut sh = Command::new("sh");
            sh.args(["-c", &script, "sh"]).arg(nspawn.get_program()).args(nspawn.get_args());
            sh
        };
        // A pure cgroup2 hierarchy inside even on a hybrid host (systemd is then content; there
        // are no controllers in it, so resource limits show in `systemctl show` but do nothing).
        command.env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1").env_remove("NOTIFY_SOCKET");
        let console = fs::File::create(state.join("console.log")).context("creating the console log")?;
        command.stdin(Stdio::null()).stdout(console.try_clone()?).stderr(console);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let child = command.spawn().context("starting systemd-nspawn")?;
        fs::write(state.join("nspawn.pid"), child.id().to_string()).context("writing nspawn.pid")?;
        sandbox.nspawn = Some(child);

        let deadline = started + SANDBOX_PATIENCE;
        let mut last = String::new();
        loop {
            if let Some(status) = sandbox.nspawn.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("systemd-nspawn exited ({status}) while booting; console:\n{}", sandbox.console());
            }
            // Looked up afresh each round: nspawn's first child may be a short-lived helper
            // that exits once the container's PID 1 is set up.
            sandbox.leader = sandbox.nspawn.as_ref().and_then(|c| container_init(c.id()));
            if let Some(leader) = sandbox.leader {
                // A slow answer (a loaded machine) is just another round.
                if let Ok(out) = nsenter(leader, &["systemctl", "is-system-running"], Duration::from_secs(5)) {
                    last = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                    if last == "running" || last == "degraded" {
                        break;
                    }
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "systemd did not come up within {SANDBOX_PATIENCE:?} (last state {last:?}); console:\n{}",
                    sandbox.console()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        sandbox.boot_time = started.elapsed();
        Ok(sandbox)
    }

    /// The sandbox's unique name (also its machine name and cgroup name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long booting took, from starting nspawn to `is-system-running` answering.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// Host PID of the container's systemd.
    pub fn pid(&self) -> i32 {
        self.leader.expect("a booted sandbox has a leader")
    }

    /// A host path of the container's `/` (`/proc/PID/root`): write unit files below it.
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid()))
    }

    /// Runs a command inside the container (all of its namespaces, a clean environment with
    /// only `PATH` and `LC_ALL=C`), bounded by [`SANDBOX_PATIENCE`].
    pub fn exec(&self, argv: &[&str]) -> Output {
        nsenter(self.pid(), argv, SANDBOX_PATIENCE).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Like [`Systemd::exec`], but panics unless the command succeeds; returns its stdout.
    pub fn run(&self, argv: &[&str]) -> String {
        let out = self.exec(argv);
        assert!(out.status.success(), "{argv:?} failed ({}):\n{}", out.status, show_output(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `systemctl show -p PROPERTY --value UNIT`, trimmed.
    pub fn show(&self, unit: &str, property: &str) -> String {
        self.run(&["systemctl", "show", "-p", property, "--value", unit]).trim().to_owned()
    }

    /// Writes a system unit file to `/etc/systemd/system/NAME` inside and reloads the manager.
    pub fn install_unit(&self, name: &str, content: &str) {
        let path = self.root().join("etc/systemd/system").join(name);
        fs::write(&path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self.run(&["systemctl", "daemon-reload"]);
    }

    /// Creates `user` inside (in the overlay: the host's `/etc/passwd` is untouched), starts
    /// D-Bus, logind and `user@UID.service`, waits until that user's manager answers, and returns
    /// the uid. Drive the manager with [`Systemd::as_user`].
    pub fn user(&self, user: &str) -> Result<u32> {
        if user.is_empty()
            || !user.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            bail!("{user:?} is not a plain user name ([a-z0-9_-])");
        }
        for (tool, package) in [("useradd", "passwd"), ("runuser", "util-linux")] {
            require(tool, package)?;
        }
        if !Path::new("/usr/bin/dbus-daemon").exists() && !Path::new("/usr/bin/dbus-broker").exists() {
            bail!("the user manager needs a system bus: install the package `dbus`");
        }
        let created = self.exec(&["sh", "-c", &format!("id -u {user} >/dev/null 2>&1 || useradd -m {user}")]);
        if !created.status.success() {
            bail!("useradd {user} failed:\n{}", show_output(&created));
        }
        let uid: u32 = self.run(&["id", "-u", user]).trim().parse().context("id -u")?;
        let manager = format!("user@{uid}.service");
        let started =
            self.exec(&["systemctl", "start", "dbus.socket", "dbus.service", "systemd-logind.service", &manager]);
        if !started.status.success() {
            bail!("starting {manager} failed:\n{}\n{}", show_output(&started), self.journal(&["-u", &manager]));
        }
        let deadline = Instant::now() + SANDBOX_PATIENCE;
        loop {
            let state = self.as_user(user, uid, &["systemctl", "--user", "is-system-running"]);
            let state = String::from_utf8_lossy(&state.stdout).trim().to_owned();
            if state == "running" || state == "degraded" {
                return Ok(uid);
            }
            if Instant::now() > deadline {
                bail!("the manager of {user} is {state:?} after {SANDBOX_PATIENCE:?}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a command inside as `user` with its session environment (`XDG_RUNTIME_DIR`, the
    /// session bus), so `systemctl --user` and `journalctl --user` reach that user's manager.
    pub fn as_user(&self, user: &str, uid: u32, argv: &[&str]) -> Output {
        let runtime = format!("XDG_RUNTIME_DIR=/run/user/{uid}");
        let bus = format!("DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus");
        let mut full = vec!["runuser", "-u", user, "--", "env", runtime.as_str(), bus.as_str()];
        full.extend_from_slice(argv);
        self.exec(&full)
    }

    /// `journalctl --no-pager -o short-monotonic ARGS` inside, for failure messages.
    pub fn journal(&self, args: &[&str]) -> String {
        let mut argv = vec!["journalctl", "--no-pager", "-o", "short-monotonic"];
        argv.extend_from_slice(args);
        let out = self.exec(&argv);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What nspawn and the container's console printed so far.
    pub fn console(&self) -> String {
        fs::read_to_string(self.state.join("console.log")).unwrap_or_default()
    }

    /// Halts the container now and returns how long that took (dropping does the same).
    pub fn halt(mut self) -> Duration {
        let started = Instant::now();
        self.stop();
        started.elapsed()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.nspawn.take() {
            let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
            // The first SIGTERM makes nspawn halt the container cleanly; SIGKILL if it hangs.
            // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if !wait_child(&mut child, SANDBOX_PATIENCE) {
                // Killing the container's PID 1 takes down its whole PID namespace.
                if let Some(leader) = self.leader {
                    // SAFETY: as above; the leader is the init of the container we started.
                    unsafe { libc::kill(leader, libc::SIGKILL) };
                }
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = child.wait();
            }
        }
        // A failing test shows what the container said; `DUENDE_SANDBOX_CONSOLE=1` always does.
        if thread::panicking() || std::env::var_os("DUENDE_SANDBOX_CONSOLE").is_some_and(|v| v == "1") {
            eprintln!("--- console of sandbox {} ---\n{}--- end of console ---", self.name, self.console());
        }
        cleanup(&self.state, &self.name, &self.cgroups);
        // The base directory goes when the last sandbox does (a concurrent boot recreates it).
        let _ = fs::remove_dir(STATE_BASE);
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `condition` every 50 ms until it holds, or panics after `timeout` with `what` and the
/// `context` (called once, at the failure) in the message.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", context());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// stdout and stderr of a finished command, for messages.
pub fn show_output(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The first JSON line of a finished `status --json`'s standard output; panics showing the
/// output when there is none.
pub fn json_of(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON from status: {}", show_output(out)))
}

/// One journal entry's fields, from `journalctl -o json` (string values only; binary ones are
/// shown as arrays of numbers by journalctl and are skipped).
pub type JournalEntry = std::collections::BTreeMap<String, String>;

/// Parses `journalctl -o json` output: one flat JSON object per line.
pub fn parse_journal_json(text: &str) -> Vec<JournalEntry> {
    text.lines().filter(|l| l.starts_with('{')).map(parse_flat_object).collect()
}

fn parse_flat_object(line: &str) -> JournalEntry {
    let mut entry = JournalEntry::new();
    let mut chars = line.trim().chars().peekable();
    let expect = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, c: char| {
        while chars.peek().is_some_and(|x| x.is_whitespace()) {
            chars.next();
        }
        chars.next_if_eq(&c).is_some()
    };
    if !expect(&mut chars, '{') {
        return entry;
    }
    loop {
        if !expect(&mut chars, '"') {
            break;
        }
        let key = read_string(&mut chars);
        if !expect(&mut chars, ':') {
            break;
        }
        while chars.peek().is_some_and(|x| x.is_whitespace()) {
            chars.next();
        }
        if chars.next_if_eq(&'"').is_some() {
            entry.insert(key, read_string(&mut chars));
        } else {
            // A number array, a number or null: skip to the next top-level comma.
            let mut depth = 0;
            while let Some(&c) = chars.peek() {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    ',' | '}' if depth == 0 => break,
                    _ => {}
                }
                chars.next();
            }
        }
        if !expect(&mut chars, ',') {
            break;
        }
    }
    entry
}

fn read_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}'));
                }
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

fn preflight() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("booting systemd in a container needs root");
    }
    require("systemd-nspawn", "systemd-container")?;
    require("nsenter", "util-linux")?;
    if !["/lib/systemd/systemd", "/usr/lib/systemd/systemd"].iter().any(|p| Path::new(p).exists()) {
        bail!("no systemd to boot (/lib/systemd/systemd): install the package `systemd`");
    }
    Ok(())
}

fn require(tool: &str, package: &str) -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .any(|dir| dir.join(tool).is_file());
    if found { Ok(()) } else { bail!("`{tool}` not found: install the package `{package}`") }
}

/// Is the host itself booted with systemd (`sd_booted()`)?
fn host_runs_systemd() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The cgroup hierarchies nspawn looks at: the unified one, plus v1 `name=systemd` on a hybrid
/// host.
fn cgroup_bases() -> Vec<PathBuf> {
    let cgroup2 = |p: &str| fs_type(p) == Some(libc::CGROUP2_SUPER_MAGIC);
    if cgroup2("/sys/fs/cgroup") {
        return vec![PathBuf::from("/sys/fs/cgroup")];
    }
    let mut bases = Vec::new();
    if cgroup2("/sys/fs/cgroup/unified") {
        bases.push(PathBuf::from("/sys/fs/cgroup/unified"));
    }
    if Path::new("/sys/fs/cgroup/systemd/cgroup.procs").exists() {
        bases.push(PathBuf::from("/sys/fs/cgroup/systemd"));
    }
    bases
}

fn fs_type(path: &str) -> Option<libc::c_long> {
    let c = CString::new(path).ok()?;
    // SAFETY: statfs only writes into the zeroed struct we own.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `buf` a valid out pointer.
    (unsafe { libc::statfs(c.as_ptr(), &mut buf) } == 0).then_some(buf.f_type as libc::c_long)
}

/// The cargo target directory holding the test binaries: `CARGO_TARGET_DIR` when set, else the
/// nearest ancestor of the running test executable carrying cargo's `CACHEDIR.TAG`, else the
/// directory above the executable's `deps`.
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from)
        && let Ok(dir) = dir.canonicalize()
        && exe.starts_with(&dir)
    {
        return Ok(dir);
    }
    if let Some(dir) = exe.ancestors().skip(1).find(|d| d.join("CACHEDIR.TAG").is_file()) {
        return Ok(dir.to_path_buf());
    }
    exe.ancestors().nth(2).map(Path::to_path_buf).context("the test executable has no grandparent directory")
}

fn bind_arg(flag: &str, source: &Path, dest: Option<&str>) -> std::ffi::OsString {
    let mut arg = std::ffi::OsString::from(flag);
    arg.push(source);
    if let Some(dest) = dest {
        arg.push(":");
        arg.push(dest);
    }
    arg
}

fn cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).with_context(|| format!("NUL in {}", path.display()))
}

/// `mount --bind SOURCE TARGET && mount --make-private TARGET` (not recursive: only the root
/// file system, none of the host's other mounts).
fn bind_private(source: &Path, target: &Path) -> Result<()> {
    let (src, dst) = (cstring(source)?, cstring(target)?);
    // SAFETY: valid C strings; a null fstype and data are allowed for bind and propagation changes.
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) };
    if rc != 0 {
        bail!("bind-mounting {} on {}: {}", source.display(), target.display(), std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    let rc =
        unsafe { libc::mount(std::ptr::null(), dst.as_ptr(), std::ptr::null(), libc::MS_PRIVATE, std::ptr::null()) };
    if rc != 0 {
        bail!("making {} private: {}", target.display(), std::io::Error::last_os_error());
    }
    Ok(())
}

fn is_mountpoint(path: &Path) -> bool {
    let Ok(mounts) = fs::read_to_string("/proc/self/mountinfo") else { return false };
    let wanted = path.as_os_str().as_bytes();
    // Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
    mounts.lines().filter_map(|l| l.split(' ').nth(4)).any(|p| unescape_mountinfo(p) == wanted)
}

fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Unmounts, removes the cgroups (deepest first) and the state directory. Tolerates any of them
/// being gone already.
fn cleanup(state: &Path, name: &str, cgroups: &[PathBuf]) {
    let root = state.join("root");
    for _ in 0..3 {
        if !is_mountpoint(&root) {
            break;
        }
        if let Ok(c) = cstring(&root) {
            // SAFETY: a valid C string.
            if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
                // Busy (a straggler still inside): detach, so it goes when the last user does.
                // SAFETY: as above.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
    for cgroup in cgroups {
        remove_cgroup(cgroup);
    }
    // nspawn leaves this behind when the host's /run is not a tmpfs.
    let _ = fs::remove_dir(Path::new("/run/systemd/nspawn/propagate").join(name));
    if !is_mountpoint(&root) {
        let _ = fs::remove_dir_all(state);
    }
}

/// Removes a cgroup and everything below it, deepest first, waiting (bounded) for the kernel to
/// let go of cgroups whose last process has only just exited.
fn remove_cgroup(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let mut dirs = Vec::new();
    collect_dirs(dir, &mut dirs);
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let deadline = Instant::now() + Duration::from_secs(5);
    for d in dirs {
        while let Err(err) = fs::remove_dir(&d) {
            if err.kind() == std::io::ErrorKind::NotFound || Instant::now() > deadline {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

/// Cleans up after sandboxes whose test process died without dropping them (killed outright):
/// a state directory whose owner process is gone, and whose nspawn (told to halt when its owner
/// died) is gone too. A live owner's sandboxes are never touched, whatever state they are in.
fn sweep_stale() {
    let Ok(entries) = fs::read_dir(STATE_BASE) else { return };
    let exists = |file: &Path| {
        fs::read_to_string(file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .map(|pid| Path::new(&format!("/proc/{pid}")).exists())
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) {
            continue;
        }
        // No owner file yet: being set up right now (it is written before anything is mounted).
        if exists(&entry.path().join("owner.pid")) != Some(false) {
            continue;
        }
        if exists(&entry.path().join("nspawn.pid")) == Some(true) {
            continue;
        }
        let cgroups: Vec<PathBuf> = cgroup_bases().into_iter().map(|b| b.join(&name)).collect();
        cleanup(&entry.path(), &name, &cgroups);
    }
}

/// The container's PID 1: the child of systemd-nspawn that lives in a PID namespace of its own
/// and runs systemd.
fn container_init(nspawn: u32) -> Option<i32> {
    let own_ns = fs::read_link("/proc/self/ns/pid").ok()?;
    let tasks = fs::read_dir(format!("/proc/{nspawn}/task")).ok()?;
    let children: Vec<i32> = tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<i32>>())
        .collect();
    children.into_iter().find(|child| {
        let ns = fs::read_link(format!("/proc/{child}/ns/pid")).ok();
        let comm = fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
        ns.is_some_and(|ns| ns != own_ns) && comm.trim() == "systemd"
    })
}

fn nsenter(leader: i32, argv: &[&str], timeout: Duration) -> Result<Output> {
    let mut command = Command::new("nsenter");
    command
        .args(["-t", &leader.to_string(), "-m", "-u", "-i", "-n", "-p", "-C", "--"])
        .args(argv.iter().map(OsStr::new))
        .env_clear()
        .env("PATH", INSIDE_PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().with_context(|| format!("running nsenter for {argv:?}"))?;
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let status = if wait_child(&mut child, timeout) {
        child.wait()?
    } else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("{argv:?} inside the sandbox did not finish within {timeout:?}");
    };
    Ok(Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() })
}

fn reader(stream: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stream {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits up to `timeout` for `child` to exit; true when it did.
fn wait_child(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

/// An `ExecStopPost=` that records the outcome as the manager saw it (`$SERVICE_RESULT`,
/// `$EXIT_CODE`, `$EXIT_STATUS`) in `%t/UNIT.outcome`: it outlives the unit being unloaded after
/// a clean stop, and unlike a journal line of a process that exits at once, it cannot lose its
/// unit attribution. Read it back with [`outcome`].
pub const STOP_POST: &str =
    r#"/bin/sh -c 'echo "result=$SERVICE_RESULT code=$EXIT_CODE status=$EXIT_STATUS" > %t/%N.outcome'"#;

/// The line [`STOP_POST`] wrote for the unit `name` (without `.service`) under `runtime_dir`
/// (the host path of the manager's `%t`), waiting up to 15 s for it.
pub fn outcome(runtime_dir: &Path, name: &str) -> String {
    let path = runtime_dir.join(format!("{name}.outcome"));
    let read = || std::fs::read_to_string(&path).unwrap_or_default();
    wait_until(
        &format!("the ExecStopPost record {}", path.display()),
        Duration::from_secs(15),
        || read().ends_with('\n'),
        String::new,
    );
    read().trim().to_owned()
}
