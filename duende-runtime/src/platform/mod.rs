//! Where the daemon runs (DESIGN.md section 6): detection, and the seam service-manager
//! backends plug into.
//!
//! - [`env`](mod@env): the injectable view of the host ([`EnvView`], [`HostEnv`], [`FakeEnv`]).
//! - [`detect`](mod@detect): the pure detection rules, [`detect()`] → [`Detection`].
//! - [`backend`]: the [`ServiceBackend`] trait and [`backend_for`].
//! - [`runner`]: the [`CommandRunner`] every backend runs tools through.
//! - [`manage`](mod@manage): the management commands (`install`, `status`, ...), [`manage()`].

pub mod backend;
pub mod detect;
pub mod env;
pub mod manage;
pub mod runner;
pub mod systemd;

use std::fmt;

use serde::Serialize;

use crate::cli::PlatformChoice;

pub use backend::{ServiceBackend, Unsupported, backend_for};
pub use detect::{Detection, detect};
pub use env::{EnvView, FakeEnv, HostEnv};
pub use manage::manage;
pub use runner::{CommandRunner, RecordingRunner, SystemRunner};

/// Where a daemon runs, or which service manager installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// systemd.
    Systemd,
    /// launchd (macOS).
    Launchd,
    /// A container engine.
    Container,
    /// A pepita microVM.
    Pepita,
    /// WOS, the WebAssembly OS.
    Wos,
    /// No service manager: the binary supervises itself.
    Native,
}

impl Platform {
    /// Every platform, in detection order (native last).
    pub const ALL: [Platform; 6] =
        [Platform::Wos, Platform::Pepita, Platform::Systemd, Platform::Container, Platform::Launchd, Platform::Native];

    /// The name `--platform` takes and messages use.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Systemd => "systemd",
            Platform::Launchd => "launchd",
            Platform::Container => "container",
            Platform::Pepita => "pepita",
            Platform::Wos => "wos",
            Platform::Native => "native",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--platform auto` names no platform: detect one instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`--platform auto` names no platform; detect one")]
pub struct AutoPlatform;

impl TryFrom<PlatformChoice> for Platform {
    type Error = AutoPlatform;

    fn try_from(choice: PlatformChoice) -> Result<Platform, AutoPlatform> {
        match choice {
            PlatformChoice::Auto => Err(AutoPlatform),
            PlatformChoice::Systemd => Ok(Platform::Systemd),
            PlatformChoice::Launchd => Ok(Platform::Launchd),
            PlatformChoice::Container => Ok(Platform::Container),
            PlatformChoice::Pepita => Ok(Platform::Pepita),
            PlatformChoice::Wos => Ok(Platform::Wos),
            PlatformChoice::Native => Ok(Platform::Native),
        }
    }
}

impl From<Platform> for PlatformChoice {
    fn from(platform: Platform) -> PlatformChoice {
        match platform {
            Platform::Systemd => PlatformChoice::Systemd,
            Platform::Launchd => PlatformChoice::Launchd,
            Platform::Container => PlatformChoice::Container,
            Platform::Pepita => PlatformChoice::Pepita,
            Platform::Wos => PlatformChoice::Wos,
            Platform::Native => PlatformChoice::Native,
        }
    }
}

/// The platform `choice` names, or the one detected in `env` for `auto` (with its evidence).
pub fn resolve(choice: PlatformChoice, env: &dyn EnvView) -> (Platform, Option<Detection>) {
    match Platform::try_from(choice) {
        Ok(platform) => (platform, None),
        Err(AutoPlatform) => {
            let detection = detect(env);
            (detection.platform, Some(detection))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn names_match_the_command_line() {
        for platform in Platform::ALL {
            let choice = PlatformChoice::from(platform);
            assert_eq!(Platform::try_from(choice), Ok(platform));
            let value = choice.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(value.as_deref(), Some(platform.name()), "`--platform` spells {platform:?} the same way");
            assert_eq!(platform.to_string(), platform.name());
        }
        assert_eq!(Platform::try_from(PlatformChoice::Auto), Err(AutoPlatform));
    }

    #[test]
    fn auto_detects_and_explicit_choices_do_not() {
        let env = FakeEnv::new().with_dir("/run/systemd/system");
        let (platform, detection) = resolve(PlatformChoice::Auto, &env);
        assert_eq!(platform, Platform::Systemd);
        assert_eq!(detection.map(|d| d.evidence), Some(vec!["/run/systemd/system exists".to_owned()]));
        assert_eq!(resolve(PlatformChoice::Container, &env), (Platform::Container, None));
    }
}
