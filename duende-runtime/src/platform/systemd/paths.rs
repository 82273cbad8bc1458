//! Where a systemd install puts its unit, besides the binary and configuration every install
//! places ([`Places`]):
//!
//! | level  | unit                                         | enabled from               |
//! |--------|----------------------------------------------|----------------------------|
//! | system | `/etc/systemd/system/NAME.service`           | `multi-user.target.wants/` |
//! | user   | `$XDG_CONFIG_HOME/systemd/user/NAME.service` | `default.target.wants/`    |

use std::path::{Path, PathBuf};

use crate::platform::backend::{BackendError, Level};
use crate::platform::host::Host;
use crate::platform::layout::{Places, home};

/// Where one service's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The unit directory.
    pub unit_dir: PathBuf,
    /// `NAME.service` in it.
    pub unit: PathBuf,
    /// The `.wants` directory `systemctl enable` links the unit from.
    pub wants_dir: PathBuf,
    /// The binary and the configuration.
    pub places: Places,
}

impl Layout {
    /// Where `name`'s files go at `level` on `host`.
    pub fn of(host: &Host, name: &str, level: Level) -> Result<Layout, BackendError> {
        let (unit_dir, target) = match level {
            Level::System => (PathBuf::from("/etc/systemd/system"), "multi-user.target"),
            Level::User => {
                let config = host.config_home().map_or_else(|| home(host).map(|h| h.join(".config")), Ok)?;
                (config.join("systemd/user"), "default.target")
            }
        };
        Ok(Layout {
            unit: unit_dir.join(format!("{name}.service")),
            wants_dir: unit_dir.join(format!("{target}.wants")),
            unit_dir,
            places: Places::of(host, name, level)?,
        })
    }
}

/// The directory systemd creates for `StateDirectory=NAME`: `/var/lib/NAME` for system units; for
/// user units `~/.local/state/NAME` from systemd 254 on, `$XDG_CONFIG_HOME/NAME` before.
pub fn state_dir(host: &Host, name: &str, level: Level, systemd_version: u32) -> Option<PathBuf> {
    match level {
        Level::System => Some(Path::new("/var/lib").join(name)),
        Level::User if systemd_version >= 254 => Some(host.home()?.join(".local/state").join(name)),
        Level::User => Some(host.config_home()?.join(name)),
    }
}
