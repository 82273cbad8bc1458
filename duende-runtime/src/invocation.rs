//! What one run of the binary was given: the compile-time options of `#[duende::main]`, and
//! (with the command line's common flags) where its configuration comes from. A leaf module:
//! the lifecycle, `check` and the management commands all read it.

use std::path::PathBuf;

use crate::cli::Common;
use crate::config::Sources;
use crate::mlock::MlockMode;
use crate::platform::Host;

/// Compile-time options of `#[duende::main]`.
#[derive(Debug, Clone, Copy)]
pub struct MainOptions {
    /// Service name (`name = "..."`, or the binary's name).
    pub name: &'static str,
    /// The crate's version.
    pub version: &'static str,
    /// The crate's description, for `--help`.
    pub description: &'static str,
    /// `mlock = "..."`.
    pub mlock: MlockMode,
}

/// Where this invocation reads its configuration: the process plus `--config` and `--set`.
pub fn sources(options: &MainOptions, common: &Common) -> Sources {
    sources_on(&Host::from_process(), options, common)
}

/// Where an invocation on `host` reads its configuration.
pub fn sources_on(host: &Host, options: &MainOptions, common: &Common) -> Sources {
    Sources {
        name: options.name.to_owned(),
        version: options.version.to_owned(),
        config_file: common.config.clone(),
        sets: common.sets.clone(),
        env: host.vars.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
        // Targets without users (WASI) read the user file when there is one, else the system file.
        euid: host.euid.unwrap_or(u32::MAX),
        home: host.get("HOME").map(PathBuf::from),
        xdg_config_home: host.get("XDG_CONFIG_HOME").map(PathBuf::from),
        system_dir: None,
    }
}
