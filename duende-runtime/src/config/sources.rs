//! Where configuration is read from: a plain value, so tests can inject every input (the
//! process's come from its [`Host`](crate::platform::Host), through `invocation::sources`).

use std::path::PathBuf;

/// Where configuration is read from; a plain value so tests can inject every input.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Service name (selects `/etc/NAME/NAME.toml` and the `NAME_` environment prefix).
    pub name: String,
    /// Version reported when the configuration sets none.
    pub version: String,
    /// `--config PATH`: read after the system or user file; it must exist.
    pub config_file: Option<PathBuf>,
    /// `--set key.path=value`, in command-line order.
    pub sets: Vec<String>,
    /// The environment, as `(name, value)` pairs; only `NAME_*` variables are read.
    pub env: Vec<(String, String)>,
    /// Effective user id: 0 reads the system file, others their user file when it exists.
    pub euid: u32,
    /// `$HOME`, for the user file when `$XDG_CONFIG_HOME` is unset.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`, where the user file lives (`DIR/NAME/NAME.toml`).
    pub xdg_config_home: Option<PathBuf>,
    /// The directory holding the system file (`DIR/NAME/NAME.toml`); `None` means `/etc`.
    pub system_dir: Option<PathBuf>,
}

impl Sources {
    /// The daemon's own `NAME_*` variables in `env`, sorted: the environment layer.
    pub fn own_variables(&self) -> Vec<(String, String)> {
        let prefix = crate::name::env_prefix(&self.name);
        let mut vars: Vec<(String, String)> =
            self.env.iter().filter(|(var, _)| var.starts_with(&prefix)).cloned().collect();
        vars.sort();
        vars
    }

    /// The system or user file read below `--config` (which one depends on `euid`).
    pub fn default_file(&self) -> PathBuf {
        default_file(self)
    }
}

/// `/etc/NAME/NAME.toml` for root; otherwise the user's file when it exists, else the system one.
fn default_file(sources: &Sources) -> PathBuf {
    let name = &sources.name;
    let file_name = format!("{name}.toml");
    let system_dir = sources.system_dir.clone().unwrap_or_else(|| PathBuf::from("/etc"));
    let system = system_dir.join(name).join(&file_name);
    if sources.euid == 0 {
        return system;
    }
    let absolute = |path: &&PathBuf| path.is_absolute();
    let config_home = (sources.xdg_config_home.as_ref().filter(absolute).cloned())
        .or_else(|| sources.home.as_ref().filter(absolute).map(|home| home.join(".config")));
    match config_home.map(|dir| dir.join(name).join(&file_name)) {
        Some(user) if user.exists() => user,
        _ => system,
    }
}
