//! Where the daemon runs (DESIGN.md section 6): detection, and the seam service-manager
//! backends plug into.
//!
//! The shared parts:
//! - [`host`]: [`Host`], the one view of the machine (environment, files under a root, uid);
//!   [`env`](mod@env) the [`EnvView`] trait detection reads it through.
//! - [`detect`](mod@detect): the pure detection rules, [`detect()`] → [`Detection`].
//! - [`backend`]: the [`Backend`] trait every platform implements, and [`backend_for`].
//! - [`plan`]: what a backend describes ([`Plan`], [`Retirement`], [`Manifest`]);
//!   [`status`]: what it observes ([`ServiceStatus`], [`Drift`]).
//! - [`engine`]: the one engine that applies plans: diff, `--dry-run`, transaction, readiness,
//!   rollback, drift. [`fs`] holds its atomic writes; [`layout`] where binaries and
//!   configuration go.
//! - [`runner`]: the [`CommandRunner`] every backend runs tools through.
//! - [`finding`]: the lines of `check`'s report, which backends contribute to.
//!
//! The management commands that drive all this are [`crate::manage`].
//!
//! One folder per backend: `systemd`, `launchd`, `native`, `container`, `kubernetes`, `swarm`,
//! `pepita`, `wos` (Unix only: a WASI module has no service manager to drive; `wos`'s manifest and
//! capability grammar build everywhere).

pub mod backend;
// A backend's folder builds when its feature, or a feature whose backend uses its parts, is on;
// `backend_for` offers only the platforms whose own feature is.
#[cfg(all(unix, any(feature = "container", feature = "pepita", feature = "swarm")))]
pub mod container;
pub mod detect;
pub mod engine;
pub mod env;
pub mod fault;
pub mod finding;
pub mod fs;
pub mod host;
#[cfg(all(unix, feature = "kubernetes"))]
pub mod kubernetes;
#[cfg(all(unix, feature = "launchd"))]
pub mod launchd;
pub mod layout;
#[cfg(all(unix, any(feature = "native", feature = "launchd")))]
pub mod native;
#[cfg(all(unix, feature = "pepita"))]
pub mod pepita;
pub mod plan;
pub mod runner;
pub mod status;
#[cfg(all(unix, feature = "swarm"))]
pub mod swarm;
#[cfg(all(unix, feature = "systemd"))]
pub mod systemd;
pub mod wos;

use std::fmt;

use serde::Serialize;

use crate::cli::PlatformChoice;

pub use backend::{Backend, BackendError, Level, Observed, Op, Service};
pub use detect::{Detection, detect};
pub use engine::Engine;
pub use env::EnvView;
#[cfg(any(test, feature = "testing"))]
pub use env::FakeEnv;
pub use host::Host;
pub use plan::{Manifest, Plan, Retirement};
#[cfg(any(test, feature = "testing"))]
pub use runner::RecordingRunner;
pub use runner::{CommandRunner, SystemRunner};
pub use status::{Drift, ServiceState, ServiceStatus};

/// This binary has no backend for a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// The daemon was built without the platform's cargo feature.
    #[error(
        "this binary was built without duende's `{feature}` feature (enable it in the daemon's Cargo.toml: duende = \
         {{ version = \"...\", features = [\"{feature}\"] }})"
    )]
    NotBuilt {
        /// The platform asked for.
        platform: Platform,
        /// The feature that brings its backend.
        feature: &'static str,
    },
    /// The target has no service manager to drive (a WASI module: the backends are the host
    /// build's).
    #[error("a daemon built for {target} manages no services; {platform} is driven by the host's build")]
    Target {
        /// The platform asked for.
        platform: Platform,
        /// The target's operating system.
        target: &'static str,
    },
}

impl Unsupported {
    /// The platform asked for.
    pub fn platform(&self) -> Platform {
        match *self {
            Unsupported::NotBuilt { platform, .. } | Unsupported::Target { platform, .. } => platform,
        }
    }

    #[cfg(unix)]
    fn not_built(platform: Platform) -> Unsupported {
        Unsupported::NotBuilt { platform, feature: platform.name() }
    }
}

/// The backend that manages services on `platform` on `host`.
pub fn backend_for(platform: Platform, host: &Host) -> Result<Box<dyn Backend>, Unsupported> {
    #[cfg(not(unix))]
    {
        let _ = host;
        Err(Unsupported::Target { platform, target: std::env::consts::OS })
    }
    #[cfg(unix)]
    match platform {
        #[cfg(feature = "systemd")]
        Platform::Systemd => Ok(Box::new(systemd::SystemdBackend::new(runner::SystemRunner, host.clone()))),
        #[cfg(feature = "native")]
        Platform::Native => Ok(Box::new(native::NativeBackend::new(host.clone()))),
        #[cfg(feature = "container")]
        Platform::Container => Ok(Box::new(container::ContainerBackend::new(host.clone()))),
        #[cfg(feature = "kubernetes")]
        Platform::Kubernetes => Ok(Box::new(kubernetes::KubernetesBackend::new(runner::SystemRunner, host.clone()))),
        #[cfg(feature = "swarm")]
        Platform::Swarm => Ok(Box::new(swarm::SwarmBackend::new(host.clone()))),
        #[cfg(feature = "pepita")]
        Platform::Pepita => Ok(Box::new(pepita::PepitaBackend::new(host.clone()))),
        #[cfg(feature = "launchd")]
        Platform::Launchd => Ok(Box::new(launchd::LaunchdBackend::new(runner::SystemRunner, host.clone()))),
        #[cfg(feature = "wos")]
        Platform::Wos => Ok(Box::new(wos::WosBackend::new(host.clone()))),
        #[allow(unreachable_patterns, reason = "reached when a backend's feature is off")]
        _ => {
            let _ = host;
            Err(Unsupported::not_built(platform))
        }
    }
}

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
    /// Kubernetes: manifests, applied with `kubectl` where a cluster answers. Never detected: a
    /// daemon on Kubernetes runs in a container, and detection says so.
    Kubernetes,
    /// Docker swarm mode: a replicated (or global) service of the container backend's image,
    /// updated by rolling updates gated by health. Never detected, like Kubernetes.
    Swarm,
}

impl Platform {
    /// Every platform: the ones detection can find, in detection order (native last), then
    /// the orchestrators, which are only ever chosen with `--platform kubernetes` or `swarm`.
    pub const ALL: [Platform; 8] = [
        Platform::Wos,
        Platform::Pepita,
        Platform::Systemd,
        Platform::Container,
        Platform::Launchd,
        Platform::Native,
        Platform::Kubernetes,
        Platform::Swarm,
    ];

    /// The name `--platform` takes and messages use.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Systemd => "systemd",
            Platform::Launchd => "launchd",
            Platform::Container => "container",
            Platform::Pepita => "pepita",
            Platform::Wos => "wos",
            Platform::Native => "native",
            Platform::Kubernetes => "kubernetes",
            Platform::Swarm => "swarm",
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
            PlatformChoice::Kubernetes => Ok(Platform::Kubernetes),
            PlatformChoice::Swarm => Ok(Platform::Swarm),
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
            Platform::Kubernetes => PlatformChoice::Kubernetes,
            Platform::Swarm => PlatformChoice::Swarm,
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
        assert!(matches!(platform, Platform::Systemd | Platform::Native), "{platform}");
        assert_eq!(detection.map(|d| d.evidence), Some(vec!["/run/systemd/system exists".to_owned()]));
        assert_eq!(resolve(PlatformChoice::Container, &env), (Platform::Container, None));
        assert_eq!(resolve(PlatformChoice::Kubernetes, &env), (Platform::Kubernetes, None));
    }

    #[test]
    fn kubernetes_is_chosen_never_detected() {
        // Inside a pod every marker says container: that is where the daemon runs.
        let pod = FakeEnv::new().with_var("KUBERNETES_SERVICE_HOST", "10.96.0.1").with_file("/.dockerenv", "");
        assert_eq!(resolve(PlatformChoice::Auto, &pod).0, Platform::Container);
        assert_eq!(
            Platform::ALL[6..],
            [Platform::Kubernetes, Platform::Swarm],
            "after every platform detection can find"
        );
        let swarm = FakeEnv::new().with_file("/.dockerenv", "");
        assert_eq!(resolve(PlatformChoice::Auto, &swarm).0, Platform::Container, "a swarm task is a container");
    }

    /// Whether this build has `platform`'s backend feature.
    fn built_with(platform: Platform) -> bool {
        match platform {
            Platform::Systemd => cfg!(feature = "systemd"),
            Platform::Native => cfg!(feature = "native"),
            Platform::Container => cfg!(feature = "container"),
            Platform::Kubernetes => cfg!(feature = "kubernetes"),
            Platform::Swarm => cfg!(feature = "swarm"),
            Platform::Pepita => cfg!(feature = "pepita"),
            Platform::Launchd => cfg!(feature = "launchd"),
            Platform::Wos => cfg!(feature = "wos"),
        }
    }

    #[test]
    fn every_platform_built_in_has_a_backend_and_every_other_names_its_feature() {
        let host = host::Host::under("/", 0);
        for platform in Platform::ALL {
            match backend_for(platform, &host) {
                Ok(backend) => {
                    assert!(built_with(platform), "{platform}: a backend without its feature");
                    assert_eq!(backend.platform(), platform);
                }
                Err(err) => {
                    assert!(!built_with(platform), "{platform}: {err}");
                    assert_eq!(err, Unsupported::NotBuilt { platform, feature: platform.name() });
                    assert!(err.to_string().contains(&format!("features = [\"{platform}\"]")), "{err}");
                }
            }
        }
    }
}
