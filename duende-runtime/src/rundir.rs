//! The daemon's runtime directory: where its control socket and run-time markers live. The
//! running daemon and a management command started later by the same user must agree on it, so
//! it depends only on the service name, the user and the environment a service manager sets.

use std::io;
use std::path::{Path, PathBuf};

/// The runtime directory of the service `name` for the user `euid`, given the environment
/// variable lookup `var`:
///
/// 1. `$RUNTIME_DIRECTORY` (its first entry), which systemd sets from the unit's
///    `RuntimeDirectory=NAME`; tests and supervisors may set it too (the launchd backend's plists
///    do).
/// 2. `/run/NAME` for root (`/var/run/NAME` on macOS, which has no `/run`).
/// 3. `$XDG_RUNTIME_DIR/NAME` for other users (what a systemd user unit gets as well).
/// 4. On macOS, `~/Library/Caches/NAME` for a user without `XDG_RUNTIME_DIR` (where the launchd
///    backend puts a LaunchAgent's).
/// 5. `/tmp/duende-UID/NAME` when a user has no `XDG_RUNTIME_DIR` (or, on macOS, no `HOME`).
pub fn runtime_dir(name: &str, var: &dyn Fn(&str) -> Option<String>, euid: Option<u32>) -> PathBuf {
    runtime_dir_on(cfg!(target_os = "macos"), name, var, euid)
}

/// [`runtime_dir`], with macOS's places when `macos`.
fn runtime_dir_on(macos: bool, name: &str, var: &dyn Fn(&str) -> Option<String>, euid: Option<u32>) -> PathBuf {
    if let Some(dir) = var("RUNTIME_DIRECTORY").as_deref().and_then(|dirs| dirs.split(':').next())
        && !dir.is_empty()
    {
        return PathBuf::from(dir);
    }
    let absolute = |key: &str| var(key).filter(|dir| dir.starts_with('/'));
    match euid {
        Some(0) if macos => Path::new("/var/run").join(name),
        Some(0) => Path::new("/run").join(name),
        _ => match (absolute("XDG_RUNTIME_DIR"), absolute("HOME")) {
            (Some(base), _) => Path::new(&base).join(name),
            (None, Some(home)) if macos => Path::new(&home).join("Library/Caches").join(name),
            (None, _) => temp_dir().join(format!("duende-{}", euid.unwrap_or(0))).join(name),
        },
    }
}

/// The system's directory for temporary files.
#[cfg(unix)]
fn temp_dir() -> PathBuf {
    std::env::temp_dir()
}

/// `/tmp`: WASI's standard library has no temporary directory (asking for it panics), and a
/// module sees only the directories its host preopened; set `RUNTIME_DIRECTORY` to one of them.
#[cfg(not(unix))]
fn temp_dir() -> PathBuf {
    PathBuf::from("/tmp")
}

/// The socket's file name in the runtime directory.
pub const SOCKET_NAME: &str = "control.sock";

/// The instance lock's file name in the runtime directory.
pub const LOCK_NAME: &str = "control.lock";

/// The control socket in the runtime directory `dir`.
pub fn socket_in(dir: &Path) -> PathBuf {
    dir.join(SOCKET_NAME)
}

/// Creates `dir` (and missing parents) so that only its owner can enter the last component, and
/// refuses a directory that belongs to someone else: another user could otherwise plant a socket
/// there that a management command would trust.
#[cfg(unix)]
pub fn prepare(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};

    if let Some(parent) = dir.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if !meta.is_dir() {
        return Err(io::Error::other(format!("{} is not a directory", dir.display())));
    }
    if meta.uid() != euid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} belongs to uid {}, not to this user (uid {euid})", dir.display(), meta.uid()),
        ));
    }
    Ok(())
}

/// Binds `socket` in `dir` with mode 0600 from the moment it has its name: under a temporary
/// name, restricted, then renamed over a stale one (what stands in for a daemon on the host, such
/// as pepita's and WOS's runners, serves the daemon's control socket this way).
#[cfg(unix)]
pub fn bind_private(dir: &Path, socket: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let temporary = dir.join(format!(".{SOCKET_NAME}.{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    let listener = std::os::unix::net::UnixListener::bind(&temporary)?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&temporary, socket));
    if let Err(err) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(err);
    }
    Ok(listener)
}

/// Targets without users need no ownership check.
#[cfg(not(unix))]
pub fn prepare(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{EnvView, FakeEnv};

    #[test]
    fn systemd_runtime_directory_wins() {
        let env = FakeEnv::new()
            .with_var("RUNTIME_DIRECTORY", "/run/svc:/run/other")
            .with_var("XDG_RUNTIME_DIR", "/run/user/7");
        assert_eq!(runtime_dir("svc", &|k| env.var(k), Some(7)), PathBuf::from("/run/svc"));
    }

    #[test]
    fn root_uses_run_and_users_their_runtime_dir() {
        let env = FakeEnv::new().with_var("XDG_RUNTIME_DIR", "/run/user/1000");
        assert_eq!(runtime_dir("svc", &|k| env.var(k), Some(0)), PathBuf::from("/run/svc"));
        assert_eq!(runtime_dir("svc", &|k| env.var(k), Some(1000)), PathBuf::from("/run/user/1000/svc"));
    }

    #[test]
    fn macos_has_var_run_for_root_and_the_launch_agents_caches_for_users() {
        let env = FakeEnv::new().with_var("HOME", "/Users/ana");
        let on_mac = |euid| runtime_dir_on(true, "svc", &|k| env.var(k), Some(euid));
        assert_eq!(on_mac(0), PathBuf::from("/var/run/svc"));
        assert_eq!(on_mac(501), PathBuf::from("/Users/ana/Library/Caches/svc"));
        let env = FakeEnv::new().with_var("HOME", "/Users/ana").with_var("XDG_RUNTIME_DIR", "/run/user/501");
        assert_eq!(runtime_dir_on(true, "svc", &|k| env.var(k), Some(501)), PathBuf::from("/run/user/501/svc"));
        let env = FakeEnv::new().with_var("HOME", "/home/ana");
        assert_eq!(
            runtime_dir_on(false, "svc", &|k| env.var(k), Some(1000)),
            std::env::temp_dir().join("duende-1000").join("svc"),
            "elsewhere HOME is not where runtime files go"
        );
    }

    #[test]
    fn users_without_a_runtime_dir_get_one_of_their_own_in_tmp() {
        let env = FakeEnv::new().with_var("XDG_RUNTIME_DIR", "relative/ignored");
        assert_eq!(
            runtime_dir("svc", &|k| env.var(k), Some(1000)),
            std::env::temp_dir().join("duende-1000").join("svc")
        );
    }

    #[test]
    fn prepare_makes_a_private_directory_and_accepts_it_twice() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/b/svc");
        prepare(&dir).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let file = base.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(prepare(&file).unwrap_err().to_string().contains("not a directory"));
    }
}
