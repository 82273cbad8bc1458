//! Where a launchd install puts its plist and where its daemon writes, besides the binary and
//! configuration every install places ([`Places`]):
//!
//! | level  | plist                                  | log                        | runtime directory       |
//! |--------|----------------------------------------|----------------------------|-------------------------|
//! | system | `/Library/LaunchDaemons/LABEL.plist`   | `/Library/Logs/NAME.log`   | `/var/run/NAME`         |
//! | user   | `~/Library/LaunchAgents/LABEL.plist`   | `~/Library/Logs/NAME.log`  | `~/Library/Caches/NAME` |
//!
//! launchd opens the log file (creating it, not its directory: both `Logs` directories exist on
//! every Mac); the daemon creates its runtime directory.

use std::path::{Path, PathBuf};

use crate::platform::backend::{BackendError, Level};
use crate::platform::host::Host;
use crate::platform::layout::{Places, home};

/// Where one job's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The plist.
    pub plist: PathBuf,
    /// Standard output and standard error.
    pub log: PathBuf,
    /// The daemon's runtime directory (its control socket).
    pub runtime_dir: PathBuf,
    /// The binary and the configuration.
    pub places: Places,
}

impl Layout {
    /// Where the job `label` of the daemon `name` goes at `level` on `host`.
    pub fn of(host: &Host, name: &str, label: &str, level: Level) -> Result<Layout, BackendError> {
        let (library, runtime_dir) = match level {
            Level::System => (PathBuf::from("/Library"), Path::new("/var/run").join(name)),
            Level::User => {
                let library = home(host)?.join("Library");
                (library.clone(), library.join("Caches").join(name))
            }
        };
        let jobs = if level == Level::System { "LaunchDaemons" } else { "LaunchAgents" };
        Ok(Layout {
            plist: library.join(jobs).join(format!("{label}.plist")),
            log: library.join("Logs").join(format!("{name}.log")),
            runtime_dir,
            places: Places::of(host, name, level)?,
        })
    }

    /// The control socket in the runtime directory.
    pub fn socket(&self) -> PathBuf {
        crate::rundir::socket_in(&self.runtime_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_live_in_the_home_and_daemons_in_the_library() {
        let host = Host::under("/", 501).with_var("HOME", "/Users/ana");
        let user = Layout::of(&host, "demo", "local.duende.demo", Level::User);
        let user = user.map_err(|e| e.to_string());
        assert_eq!(
            user.as_ref().map(|l| (l.plist.clone(), l.log.clone(), l.socket())),
            Ok((
                PathBuf::from("/Users/ana/Library/LaunchAgents/local.duende.demo.plist"),
                PathBuf::from("/Users/ana/Library/Logs/demo.log"),
                PathBuf::from("/Users/ana/Library/Caches/demo/control.sock"),
            ))
        );
        let system = Layout::of(&host, "demo", "com.example.demo", Level::System).map_err(|e| e.to_string());
        assert_eq!(
            system.as_ref().map(|l| (l.plist.clone(), l.log.clone(), l.socket(), l.places.binary.clone())),
            Ok((
                PathBuf::from("/Library/LaunchDaemons/com.example.demo.plist"),
                PathBuf::from("/Library/Logs/demo.log"),
                PathBuf::from("/var/run/demo/control.sock"),
                PathBuf::from("/usr/local/bin/demo"),
            ))
        );
        let homeless = Layout::of(&Host::under("/", 501), "demo", "local.duende.demo", Level::User);
        assert!(matches!(homeless, Err(BackendError::Unavailable { .. })));
    }
}
