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
//!
//! The shell completions and the man page ([`DocPlaces`]) go beside the binary: a system install
//! under `/usr/local/share`, a user install under `$XDG_DATA_HOME` (default `~/.local/share`):
//!
//! | file            | system (`DATA` = `/usr/local/share`)  | user (`DATA` = `$XDG_DATA_HOME`) |
//! |-----------------|---------------------------------------|----------------------------------|
//! | bash completion | `DATA/bash-completion/completions/NAME` | the same                         |
//! | zsh completion  | `DATA/zsh/site-functions/_NAME`       | the same (add it to `fpath`)     |
//! | fish completion | `DATA/fish/vendor_completions.d/NAME.fish` | the same                     |
//! | man page        | `DATA/man/man1/NAME.1`                | the same                         |
//!
//! `/usr/local/share`, not `/usr/share`: the system binary is in `/usr/local/bin`, and `/usr` outside
//! `/usr/local` belongs to the distribution's package manager (FHS; on macOS it is read-only).
//! Every tool looks there: bash-completion and fish through `$XDG_DATA_DIRS` (by default
//! `/usr/local/share:/usr/share`), Debian's and Homebrew's zsh have
//! `/usr/local/share/zsh/site-functions` in `fpath`, and man-db's `MANDATORY_MANPATH` holds
//! `/usr/local/share/man`. For a user, bash-completion reads
//! `$XDG_DATA_HOME/bash-completion/completions`, fish `$XDG_DATA_HOME/fish/vendor_completions.d`,
//! and man finds `~/.local/share/man` through `~/.local/bin` on `PATH`; zsh has no per-user
//! directory of its own, so that one must be added to `fpath`.

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

/// Where one service's shell completions and man page go (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocPlaces {
    /// The bash completion script.
    pub bash: PathBuf,
    /// The zsh completion function.
    pub zsh: PathBuf,
    /// The fish completions.
    pub fish: PathBuf,
    /// The man page.
    pub man: PathBuf,
}

impl DocPlaces {
    /// The places of `name`'s completions and man page at `level` on `host`.
    pub fn of(host: &Host, name: &str, level: Level) -> Result<DocPlaces, BackendError> {
        let data = match level {
            Level::System => PathBuf::from("/usr/local/share"),
            // `data_home` is `None` only without `$HOME`: `home` says so.
            Level::User => match host.data_home() {
                Some(data) => data,
                None => home(host)?.join(".local/share"),
            },
        };
        Ok(DocPlaces {
            bash: data.join("bash-completion/completions").join(name),
            zsh: data.join("zsh/site-functions").join(format!("_{name}")),
            fish: data.join("fish/vendor_completions.d").join(format!("{name}.fish")),
            man: data.join("man/man1").join(format!("{name}.1")),
        })
    }
}

/// `$HOME`, which every user-level install needs.
pub fn home(host: &Host) -> Result<PathBuf, BackendError> {
    host.home().ok_or_else(|| BackendError::Unavailable {
        what: "`$HOME` is not set to an absolute path, so there is no place for a user service".to_owned(),
        fix: "set `HOME`, or install a system service with `sudo ... install --system`".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_pages_go_under_usr_local_share_or_the_users_data_home() -> Result<(), BackendError> {
        let host = Host::under("/nonexistent", 1000).with_var("HOME", "/home/ana");
        let system = DocPlaces::of(&host, "demo", Level::System)?;
        assert_eq!(
            [system.bash, system.zsh, system.fish, system.man],
            [
                "/usr/local/share/bash-completion/completions/demo",
                "/usr/local/share/zsh/site-functions/_demo",
                "/usr/local/share/fish/vendor_completions.d/demo.fish",
                "/usr/local/share/man/man1/demo.1",
            ]
            .map(PathBuf::from)
        );
        let user = DocPlaces::of(&host, "demo", Level::User)?;
        assert_eq!(user.bash, Path::new("/home/ana/.local/share/bash-completion/completions/demo"));
        assert_eq!(user.man, Path::new("/home/ana/.local/share/man/man1/demo.1"));
        let xdg = DocPlaces::of(&host.clone().with_var("XDG_DATA_HOME", "/data/ana"), "demo", Level::User)?;
        assert_eq!(xdg.fish, Path::new("/data/ana/fish/vendor_completions.d/demo.fish"));
        assert_eq!(xdg.zsh, Path::new("/data/ana/zsh/site-functions/_demo"));
        let relative = DocPlaces::of(&host.clone().with_var("XDG_DATA_HOME", "data"), "demo", Level::User)?;
        assert_eq!(relative.bash, user.bash, "a relative XDG_DATA_HOME is ignored, as the specification says");
        let homeless = Host::under("/nonexistent", 1000);
        assert!(matches!(DocPlaces::of(&homeless, "demo", Level::User), Err(BackendError::Unavailable { .. })));
        Ok(())
    }
}
