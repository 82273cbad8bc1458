//! [`Host`]: the one view of the machine that detection, `check` and every backend read. The
//! environment is a snapshot taken once; files are read under [`Host::root`] (`/` on a real host,
//! a temporary directory in tests); the effective uid, the user, this binary and the target are
//! fields, not ambient reads.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::env::EnvView;

/// The machine as duende sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The prefix every file path is resolved under: `/` on a real host.
    pub root: PathBuf,
    /// The environment variables (a snapshot).
    pub vars: BTreeMap<String, String>,
    /// The effective user id, `None` where the target has no users.
    pub euid: Option<u32>,
    /// This binary, to install it and to tell whether the installed one differs.
    pub this_binary: Option<PathBuf>,
    /// The target operating system (`std::env::consts::OS`).
    pub os: String,
    /// The target architecture (`std::env::consts::ARCH`).
    pub arch: String,
}

impl Host {
    /// The host this process runs on.
    pub fn from_process() -> Host {
        Host {
            root: PathBuf::from("/"),
            // Variables that are not UTF-8 cannot be configuration; skip them rather than panic.
            vars: std::env::vars_os()
                .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
                .collect(),
            euid: super::env::effective_uid(),
            this_binary: std::env::current_exe().ok(),
            // WASI's standard library leaves `OS` empty; the target says what it is.
            os: if cfg!(target_os = "wasi") { "wasi" } else { std::env::consts::OS }.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
        }
    }

    /// An invented host for tests: files under `root`, no variables, uid `euid`, Linux on x86_64.
    pub fn under(root: impl Into<PathBuf>, euid: u32) -> Host {
        Host {
            root: root.into(),
            vars: BTreeMap::new(),
            euid: Some(euid),
            this_binary: None,
            os: "linux".to_owned(),
            arch: "x86_64".to_owned(),
        }
    }

    /// The same host with the variable `name` set to `value`.
    pub fn with_var(mut self, name: &str, value: impl Into<String>) -> Host {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// The variable `name`, when set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// An absolute path from the variable `name`; relative values are ignored, as the XDG
    /// specification says.
    fn absolute(&self, name: &str) -> Option<PathBuf> {
        self.get(name).map(PathBuf::from).filter(|p| p.is_absolute())
    }

    /// `path` (absolute, as services see it) as a path under [`Host::root`].
    pub fn path(&self, path: &Path) -> PathBuf {
        let relative: PathBuf = path.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        self.root.join(relative)
    }

    /// `$HOME`, when absolute.
    pub fn home(&self) -> Option<PathBuf> {
        self.absolute("HOME")
    }

    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    pub fn config_home(&self) -> Option<PathBuf> {
        self.absolute("XDG_CONFIG_HOME").or_else(|| Some(self.home()?.join(".config")))
    }

    /// `$XDG_DATA_HOME`, else `~/.local/share`.
    pub fn data_home(&self) -> Option<PathBuf> {
        self.absolute("XDG_DATA_HOME").or_else(|| Some(self.home()?.join(".local/share")))
    }

    /// `$XDG_STATE_HOME`, else `~/.local/state`.
    pub fn state_home(&self) -> Option<PathBuf> {
        self.absolute("XDG_STATE_HOME").or_else(|| Some(self.home()?.join(".local/state")))
    }

    /// `$XDG_RUNTIME_DIR`, when set to an absolute path.
    pub fn xdg_runtime_dir(&self) -> Option<PathBuf> {
        self.absolute("XDG_RUNTIME_DIR")
    }

    /// The user's login name (`$USER`, else `$LOGNAME`).
    pub fn user(&self) -> Option<&str> {
        self.get("USER").or_else(|| self.get("LOGNAME"))
    }

    /// The user's name for messages: the login name, else the uid.
    pub fn user_name(&self) -> String {
        match (self.user(), self.euid) {
            (Some(user), _) => user.to_owned(),
            (None, Some(uid)) => format!("uid {uid}"),
            (None, None) => "this user".to_owned(),
        }
    }

    /// True when running as root (or where the target has no users).
    pub fn is_root(&self) -> bool {
        self.euid.is_none_or(|uid| uid == 0)
    }

    /// The first `tool` in a directory of `$PATH`. The directories are real paths of this
    /// machine, not resolved under [`Host::root`]: tools run here.
    pub fn find_tool(&self, tool: &str) -> Option<PathBuf> {
        let path = self.get("PATH")?;
        std::env::split_paths(path).map(|dir| dir.join(tool)).find(|candidate| candidate.is_file())
    }

    /// The runtime directory of the service `name` for this user (see
    /// [`crate::rundir::runtime_dir`]).
    pub fn runtime_dir(&self, name: &str) -> PathBuf {
        crate::rundir::runtime_dir(name, &|key| self.var(key), self.euid)
    }

    /// The ancestors of `path` (as services see it) that do not exist under the root yet,
    /// outermost first.
    pub fn missing_dirs(&self, path: &Path) -> Vec<PathBuf> {
        let mut missing: Vec<PathBuf> = path
            .ancestors()
            .skip(1)
            .take_while(|dir| dir.parent().is_some() && !self.path(dir).exists())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        missing
    }
}

impl EnvView for Host {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn exists(&self, path: &Path) -> bool {
        self.path(path).exists()
    }

    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(self.path(path)).ok()
    }

    fn target_os(&self) -> &str {
        &self.os
    }

    fn target_arch(&self) -> &str {
        &self.arch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_under_the_root_and_xdg_falls_back_to_home() {
        let host = Host::under("/tmp/root", 1000).with_var("HOME", "/home/ana").with_var("XDG_STATE_HOME", "rel");
        assert_eq!(host.path(Path::new("/etc/demo/../x")), PathBuf::from("/tmp/root/etc/demo/x"));
        assert_eq!(host.config_home(), Some(PathBuf::from("/home/ana/.config")));
        assert_eq!(host.state_home(), Some(PathBuf::from("/home/ana/.local/state")), "relative XDG values are ignored");
        assert_eq!(host.user_name(), "uid 1000");
        assert!(!host.is_root());
        let host = host.with_var("XDG_CONFIG_HOME", "/cfg").with_var("LOGNAME", "ana");
        assert_eq!(host.config_home(), Some(PathBuf::from("/cfg")));
        assert_eq!(host.user_name(), "ana");
    }

    #[test]
    fn tools_are_found_on_path_in_order() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let (first, second) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&first, &second] {
            std::fs::create_dir(d)?;
            std::fs::write(d.join("systemctl"), "")?;
        }
        let path = format!("{}:{}", first.display(), second.display());
        let host = Host::under("/", 0).with_var("PATH", path);
        assert_eq!(host.find_tool("systemctl"), Some(first.join("systemctl")));
        assert_eq!(host.find_tool("launchctl"), None);
        assert_eq!(Host::under("/", 0).find_tool("systemctl"), None, "no PATH, nothing found");
        Ok(())
    }
}
