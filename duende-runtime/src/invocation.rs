//! What one run of the binary was given: the compile-time options of `#[duende::main]`, and
//! (with the command line's common flags) where its configuration comes from. A leaf module:
//! the lifecycle, `check` and the management commands all read it.

use crate::cli::Common;
use crate::config::Sources;
use crate::mlock::MlockMode;

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
    Sources::from_process(options.name, options.version, common.config.clone(), common.sets.clone())
}
