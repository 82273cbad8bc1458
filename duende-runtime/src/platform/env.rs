//! What detection may read of a host: [`EnvView`]. The real view is [`Host`](super::Host); tests
//! of the pure rules build a `FakeEnv` (with the `testing` feature, or in this crate's tests).

#[cfg(any(test, feature = "testing"))]
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
#[cfg(any(test, feature = "testing"))]
use std::path::PathBuf;

/// What detection may look at. Everything is a read; nothing here changes the host.
pub trait EnvView {
    /// The environment variable `name`, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// True when `path` exists (file, directory, or anything else).
    fn exists(&self, path: &Path) -> bool;
    /// The text of the file at `path`, if readable as UTF-8.
    fn read(&self, path: &Path) -> Option<String>;
    /// The target operating system, as `std::env::consts::OS` spells it (`linux`, `macos`, ...).
    fn target_os(&self) -> &str;
    /// The target architecture, as `std::env::consts::ARCH` spells it (`x86_64`, `wasm32`, ...).
    fn target_arch(&self) -> &str;
}

/// An invented host for tests: only what the builder adds exists. Defaults to `linux` on
/// `x86_64` with no variables and no files.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone)]
pub struct FakeEnv {
    vars: BTreeMap<String, String>,
    files: BTreeMap<PathBuf, String>,
    dirs: BTreeSet<PathBuf>,
    os: String,
    arch: String,
}

#[cfg(any(test, feature = "testing"))]
impl Default for FakeEnv {
    fn default() -> Self {
        FakeEnv::new()
    }
}

#[cfg(any(test, feature = "testing"))]
impl FakeEnv {
    /// An empty Linux x86_64 host.
    pub fn new() -> Self {
        FakeEnv {
            vars: BTreeMap::new(),
            files: BTreeMap::new(),
            dirs: BTreeSet::new(),
            os: "linux".to_owned(),
            arch: "x86_64".to_owned(),
        }
    }

    /// Sets the environment variable `name`.
    pub fn with_var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Adds a file with `content`.
    pub fn with_file(mut self, path: impl AsRef<Path>, content: &str) -> Self {
        self.files.insert(path.as_ref().to_owned(), content.to_owned());
        self
    }

    /// Adds a directory (it exists but cannot be read as a file).
    pub fn with_dir(mut self, path: impl AsRef<Path>) -> Self {
        self.dirs.insert(path.as_ref().to_owned());
        self
    }

    /// Sets the target operating system (`linux`, `macos`, `wasi`, ...).
    pub fn os(mut self, os: &str) -> Self {
        os.clone_into(&mut self.os);
        self
    }

    /// Sets the target architecture (`x86_64`, `aarch64`, `wasm32`, ...).
    pub fn arch(mut self, arch: &str) -> Self {
        arch.clone_into(&mut self.arch);
        self
    }
}

#[cfg(any(test, feature = "testing"))]
impl EnvView for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(path) || self.dirs.contains(path)
    }

    fn read(&self, path: &Path) -> Option<String> {
        self.files.get(path).cloned()
    }

    fn target_os(&self) -> &str {
        &self.os
    }

    fn target_arch(&self) -> &str {
        &self.arch
    }
}

/// The effective user id, where the target has users.
#[cfg(unix)]
pub fn effective_uid() -> Option<u32> {
    // SAFETY: geteuid has no preconditions, touches no memory of ours and cannot fail.
    Some(unsafe { libc::geteuid() })
}

/// The effective user id: this target has no users.
#[cfg(not(unix))]
pub fn effective_uid() -> Option<u32> {
    None
}

/// This process's id, as `status` reports it: 0 in a WASI module, which has no process id.
#[cfg(unix)]
pub fn process_id() -> u32 {
    std::process::id()
}

/// This process's id, as `status` reports it: 0 in a WASI module, which has no process id.
#[cfg(not(unix))]
pub fn process_id() -> u32 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_env_holds_only_what_was_added() {
        let env = FakeEnv::new().with_var("A", "1").with_file("/f", "text").with_dir("/d").os("macos").arch("aarch64");
        assert_eq!(env.var("A").as_deref(), Some("1"));
        assert_eq!(env.var("B"), None);
        assert!(env.exists(Path::new("/f")) && env.exists(Path::new("/d")) && !env.exists(Path::new("/x")));
        assert_eq!(env.read(Path::new("/f")).as_deref(), Some("text"));
        assert_eq!(env.read(Path::new("/d")), None);
        assert_eq!((env.target_os(), env.target_arch()), ("macos", "aarch64"));
    }
}
