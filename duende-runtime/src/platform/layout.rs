//! Where an install puts the binary and the configuration, the same for every backend that
//! installs onto this host's file system (systemd, native):
//!
//! | level  | binary                | configuration                     |
//! |--------|-----------------------|-----------------------------------|
//! | system | `/usr/local/bin/NAME` | `/etc/NAME/NAME.toml`             |
//! | user   | `~/.local/bin/NAME`   | `$XDG_CONFIG_HOME/NAME/NAME.toml` |
//!
//! `$XDG_CONFIG_HOME` defaults to `~/.config`. These are the places the daemon's own
//! configuration layering reads (DESIGN.md section 4).

use std::path::{Path, PathBuf};

use super::backend::{BackendError, Level};
use super::host::Host;
use super::plan::{Found, Manifest, Recorded};

/// Where one service's binary and configuration go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    /// Where the binary is copied (unless it runs in place).
    pub binary: PathBuf,
    /// Where `--config PATH` is installed.
    pub config: PathBuf,
}

impl Places {
    /// The places of `name` at `level` on `host`.
    pub fn of(host: &Host, name: &str, level: Level) -> Result<Places, BackendError> {
        match level {
            Level::System => Ok(Places {
                binary: Path::new("/usr/local/bin").join(name),
                config: Path::new("/etc").join(name).join(format!("{name}.toml")),
            }),
            Level::User => {
                let home = home(host)?;
                let config = host.config_home().unwrap_or_else(|| home.join(".config"));
                Ok(Places {
                    binary: home.join(".local/bin").join(name),
                    config: config.join(name).join(format!("{name}.toml")),
                })
            }
        }
    }
}

impl Places {
    /// What the definition at `definition` on `host` says of an install into these places;
    /// `ours` tells a definition duende wrote by its text.
    pub fn found(&self, host: &Host, definition: &Path, ours: fn(&str) -> bool) -> Result<Found, BackendError> {
        let Some(text) = super::fs::read(&host.path(definition))? else { return Ok(Found::Absent) };
        let text = String::from_utf8_lossy(&text);
        if !ours(&text) {
            return Ok(Found::Foreign(definition.to_path_buf()));
        }
        let manifest = Manifest::parse(&text);
        let recorded = |path: &PathBuf| manifest.files.contains(path).then(|| path.clone());
        Ok(Found::Ours(Recorded {
            binary: recorded(&self.binary),
            config: recorded(&self.config),
            definition: definition.to_path_buf(),
            manifest,
        }))
    }
}

/// `$HOME`, which every user-level install needs.
pub fn home(host: &Host) -> Result<PathBuf, BackendError> {
    host.home().ok_or_else(|| BackendError::Unavailable {
        what: "`$HOME` is not set to an absolute path, so there is no place for a user service".to_owned(),
        fix: "set `HOME`, or install a system service with `sudo ... install --system`".to_owned(),
    })
}
