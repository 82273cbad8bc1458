//! An unprivileged user (`nobody`) whose home and runtime directory are under a temporary
//! directory of this host, for native-platform suites that must not touch the host's `/etc`,
//! `/usr/local` or `/run`: management commands run through `setpriv` with a clean environment.
//! Dropping it kills a supervisor it left running (by the pid in its pid file, only while that
//! pid is still a supervisor) and removes the directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `nobody`'s uid and gid.
pub const NOBODY: u32 = 65534;

/// The user, with its home at `home/` and its `XDG_RUNTIME_DIR` at `run/`.
#[derive(Debug)]
pub struct Nobody {
    base: tempfile::TempDir,
    /// The daemon's name (its runtime directory `run/NAME` holds the supervisor's pid file).
    name: String,
}

impl Nobody {
    /// A fresh home for the daemon `name`. Needs root (to hand the directories to `nobody`).
    pub fn new(name: &str) -> Nobody {
        let base = tempfile::Builder::new().prefix("duende-nobody-").tempdir().expect("a temporary directory");
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for (dir, mode) in [("home", 0o755), ("run", 0o700)] {
            let path = base.path().join(dir);
            std::fs::create_dir(&path).expect("mkdir");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        Nobody { base, name: name.to_owned() }
    }

    /// A path under the temporary directory (`home/...`, `run/...`).
    pub fn path(&self, relative: &str) -> PathBuf {
        self.base.path().join(relative)
    }

    /// The temporary directory.
    pub fn base(&self) -> &Path {
        self.base.path()
    }

    /// `program` run as `nobody`, with only `PATH`, `HOME`, `XDG_RUNTIME_DIR` and `USER` set.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("setpriv");
        command.args([format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"), "--clear-groups".to_owned()]);
        command.arg(program).env_clear();
        command.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        command.env("HOME", self.path("home")).env("XDG_RUNTIME_DIR", self.path("run")).env("USER", "nobody");
        command
    }

    /// Runs `program ARGS` as `nobody` to completion.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program).args(args).output().unwrap_or_else(|e| panic!("running {program}: {e}"))
    }
}

impl Drop for Nobody {
    fn drop(&mut self) {
        let pid_file = self.path(&format!("run/{}/supervisor.pid", self.name));
        let Some(pid) = std::fs::read_to_string(pid_file).ok().and_then(|p| p.trim().parse::<i32>().ok()) else {
            return;
        };
        // Only while that pid is still our supervisor (a stale file may name a reused pid).
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("__supervise") {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}
