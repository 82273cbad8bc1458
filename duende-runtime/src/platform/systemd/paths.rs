//! Where a systemd install puts things, behind one injectable [`Paths`]: every file path is
//! resolved under [`Paths::root`] (`/` on a host, a temporary directory in unit tests), and the
//! host facts the backend depends on (home, XDG directories, `PATH`, effective uid) are fields,
//! not ambient reads.
//!
//! | level  | unit                                   | binary                | configuration           |
//! |--------|----------------------------------------|-----------------------|-------------------------|
//! | system | `/etc/systemd/system/NAME.service`     | `/usr/local/bin/NAME` | `/etc/NAME/NAME.toml`   |
//! | user   | `$XDG_CONFIG_HOME/systemd/user/NAME.service` | `~/.local/bin/NAME` | `$XDG_CONFIG_HOME/NAME/NAME.toml` |
//!
//! `$XDG_CONFIG_HOME` defaults to `~/.config`.

use std::path::{Component, Path, PathBuf};

use crate::platform::backend::{BackendError, Level};

/// The host as the systemd backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The prefix every file path is resolved under: `/` on a real host.
    pub root: PathBuf,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`; when unset, `systemctl --user` is given `/run/user/UID`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The directories of `$PATH`, searched for `systemctl` and friends (not under `root`).
    pub search_path: Vec<PathBuf>,
    /// The effective user id, `None` where there are no users.
    pub euid: Option<u32>,
    /// The user's login name (`$USER`, `$LOGNAME`), for linger advice.
    pub user: Option<String>,
    /// This binary, to tell whether the installed one differs (`status`'s drift).
    pub this_binary: Option<PathBuf>,
}

/// Where one service's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The unit directory.
    pub unit_dir: PathBuf,
    /// `NAME.service` in it.
    pub unit: PathBuf,
    /// Where the binary is copied (unless `--in-place`).
    pub binary: PathBuf,
    /// Where `--config PATH` is installed.
    pub config: PathBuf,
    /// The `.wants` directory `systemctl enable` links the unit from.
    pub wants_dir: PathBuf,
}

impl Paths {
    /// The host this process runs on.
    pub fn from_process() -> Paths {
        let var = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        Paths {
            root: PathBuf::from("/"),
            home: var("HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME").filter(|p| p.is_absolute()),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").filter(|p| p.is_absolute()),
            search_path: std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default(),
            euid: crate::platform::env::effective_uid(),
            user: std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok().filter(|u| !u.is_empty()),
            this_binary: std::env::current_exe().ok(),
        }
    }

    /// `path` (absolute, as the service sees it) as a path under [`Paths::root`].
    pub fn host(&self, path: &Path) -> PathBuf {
        let relative: PathBuf = path.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        self.root.join(relative)
    }

    /// The first `tool` on the search path, if any.
    pub fn find_tool(&self, tool: &str) -> Option<PathBuf> {
        self.search_path.iter().map(|dir| dir.join(tool)).find(|candidate| candidate.is_file())
    }

    /// The user's name for messages: the login name, else the uid.
    pub fn user_name(&self) -> String {
        match (&self.user, self.euid) {
            (Some(user), _) => user.clone(),
            (None, Some(uid)) => format!("uid {uid}"),
            (None, None) => "this user".to_owned(),
        }
    }

    /// The directory systemd creates for `StateDirectory=NAME`: `/var/lib/NAME` for system units;
    /// for user units `~/.local/state/NAME` from systemd 254 on, `$XDG_CONFIG_HOME/NAME` before.
    pub fn state_dir(&self, name: &str, level: Level, systemd_version: u32) -> Option<PathBuf> {
        match level {
            Level::System => Some(Path::new("/var/lib").join(name)),
            Level::User => {
                let home = self.home.clone().filter(|h| h.is_absolute())?;
                if systemd_version >= 254 {
                    Some(home.join(".local/state").join(name))
                } else {
                    Some(self.xdg_config_home.clone().unwrap_or_else(|| home.join(".config")).join(name))
                }
            }
        }
    }

    /// Where `name`'s files go at `level`.
    pub fn layout(&self, name: &str, level: Level) -> Result<Layout, BackendError> {
        let (unit_dir, bin_dir, config_dir, target) = match level {
            Level::System => (
                PathBuf::from("/etc/systemd/system"),
                PathBuf::from("/usr/local/bin"),
                PathBuf::from("/etc").join(name),
                "multi-user.target",
            ),
            Level::User => {
                let home = self.home.clone().filter(|h| h.is_absolute()).ok_or_else(|| BackendError::Unavailable {
                    what: "`$HOME` is not set to an absolute path, so there is no place for a user unit".to_owned(),
                    fix: "set `HOME`, or install a system service with `sudo ... install --system`".to_owned(),
                })?;
                let config = self.xdg_config_home.clone().unwrap_or_else(|| home.join(".config"));
                (config.join("systemd/user"), home.join(".local/bin"), config.join(name), "default.target")
            }
        };
        Ok(Layout {
            unit: unit_dir.join(format!("{name}.service")),
            wants_dir: unit_dir.join(format!("{target}.wants")),
            unit_dir,
            binary: bin_dir.join(name),
            config: config_dir.join(format!("{name}.toml")),
        })
    }
}
