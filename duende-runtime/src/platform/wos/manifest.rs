//! The WOS process manifest: what WOS (or, where WOS is absent, the host's runner `__wos-run`)
//! needs to run one daemon module. TOML, like the configuration and the native definition, so
//! every value is a TOML string or number written by the `toml` serializer (no value can add a
//! key), and the file opens with a comment saying who wrote it:
//!
//! ```toml
//! # Written by duende: the WOS process manifest of counter. `counter install --platform wos`
//! # rewrites it, `counter uninstall` removes it; change the configuration, not this file.
//! name = "counter"
//! module = "/var/lib/counter/wos/counter.wasm"
//! digest = "sha256:5f1d…"            # of the module's bytes; a module that differs is refused
//! priority = 4                        # 0 critical … 7 idle
//! args = ["--config", "/etc/counter/counter.toml", "run"]
//! capabilities = ["fs:read:/etc/counter", "net:listen:127.0.0.1:8080"]
//! memory_bytes = 268435456            # the module's linear memory at most (optional)
//! shutdown_timeout_ms = 30000
//! wasmtime = "/usr/local/bin/wasmtime"  # the host's engine, where WOS is absent (optional)
//!
//! [env]
//! COUNTER_APP__STEP = "2"
//! ```
//!
//! `args` is the module's command line after its name; `capabilities` follow the grammar of
//! [`super::capability`]; `env` is all of the module's environment (nothing else is passed).
//! [`render`] is pure; [`parse`] reads a manifest back and validates it (the checks of
//! [`Manifest::problems`]), each problem naming its key and the fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::capability::Capability;

/// The first words of every manifest duende writes.
pub const MARKER: &str = "# Written by duende";

/// The prefix of [`Manifest::digest`].
pub const DIGEST_PREFIX: &str = "sha256:";

/// The smallest memory limit: one WebAssembly page.
pub const MIN_MEMORY_BYTES: u64 = 64 * 1024;

/// One WOS process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The daemon's name.
    pub name: String,
    /// The module, an absolute path.
    pub module: PathBuf,
    /// `sha256:` and the module's SHA-256 in lowercase hex.
    pub digest: String,
    /// 0 (critical) … 7 (idle).
    pub priority: u8,
    /// The module's command line after its name.
    #[serde(default)]
    pub args: Vec<String>,
    /// What it may reach ([`Capability`] strings).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Its linear memory at most, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// How long its graceful stop may take, in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// The host's wasmtime, where WOS is absent; `wasmtime` on `PATH` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasmtime: Option<PathBuf>,
    /// Its whole environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// One thing wrong in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key (`priority`, `capabilities[2]`, `env.KEY`).
    pub key: String,
    /// What is wrong and what it must be.
    pub problem: String,
}

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("cannot read the WOS manifest {}: {source}; run `install --platform wos` to write it", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// It is not a manifest (TOML syntax, an unknown or missing key, a wrong type).
    #[error("the WOS manifest {} is not valid: {reason}; run `install --platform wos` again to rewrite it", .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// Values break the manifest's rules.
    #[error(
        "the WOS manifest {} is not valid: {}; run `install --platform wos` again to rewrite it",
        .path.display(),
        .problems.iter().map(|p| format!("`{}` {}", p.key, p.problem)).collect::<Vec<_>>().join("; ")
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem.
        problems: Vec<Problem>,
    },
}

/// `sha256:HEX` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("{DIGEST_PREFIX}{hex}")
}

impl Manifest {
    /// Every rule the manifest breaks (none for a usable one).
    pub fn problems(&self) -> Vec<Problem> {
        let mut found = Vec::new();
        let mut problem = |key: String, text: String| found.push(Problem { key, problem: text });
        if let Err(why) = crate::name::validate(&self.name) {
            problem("name".to_owned(), format!("is not a service name: {why}"));
        }
        if !self.module.is_absolute() {
            problem("module".to_owned(), format!("must be an absolute path, found {:?}", self.module));
        }
        let hex = self.digest.strip_prefix(DIGEST_PREFIX).unwrap_or_default();
        if hex.len() != 64 || !hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            problem(
                "digest".to_owned(),
                format!(
                    "must be `sha256:` and 64 lowercase hex digits (the module's SHA-256), found {:?}",
                    self.digest
                ),
            );
        }
        if self.priority > 7 {
            problem(
                "priority".to_owned(),
                format!("must be between 0 (critical) and 7 (idle), found {}", self.priority),
            );
        }
        for (index, text) in self.capabilities.iter().enumerate() {
            if let Err(err) = Capability::parse(text) {
                problem(format!("capabilities[{index}]"), format!("= {text:?}: {err}"));
            }
        }
        if let Some(bytes) = self.memory_bytes
            && bytes < MIN_MEMORY_BYTES
        {
            problem(
                "memory_bytes".to_owned(),
                format!("must be at least {MIN_MEMORY_BYTES} (one WebAssembly page), found {bytes}"),
            );
        }
        if self.shutdown_timeout_ms == 0 {
            problem("shutdown_timeout_ms".to_owned(), "must be greater than 0".to_owned());
        }
        if let Some(engine) = &self.wasmtime
            && !engine.is_absolute()
        {
            problem("wasmtime".to_owned(), format!("must be an absolute path, found {engine:?}"));
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains(['=', '\0']) {
                problem(format!("env.{key:?}"), "must be a variable name without `=` or NUL".to_owned());
            }
        }
        found
    }

    /// The capabilities, parsed (those that do not parse are left out: [`Manifest::problems`]
    /// names them).
    pub fn parsed_capabilities(&self) -> Vec<Capability> {
        self.capabilities.iter().filter_map(|text| Capability::parse(text).ok()).collect()
    }
}

/// The manifest's text for `manifest`, ending with `record` (the install's record of what it
/// created, when the manifest carries one; empty otherwise).
pub fn render(manifest: &Manifest, record: &str) -> Result<String, toml::ser::Error> {
    let body = toml::to_string(manifest)?;
    let name = &manifest.name;
    Ok(format!(
        "{MARKER}: the WOS process manifest of {name}. `{name} install --platform wos`\n# rewrites it, `{name} \
         uninstall` removes it; change the configuration, not this file.\n{body}{record}"
    ))
}

/// The manifest in `text` (from `path`, for messages), validated.
pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
    let manifest: Manifest = toml::from_str(text).map_err(|err| ManifestError::Syntax {
        path: path.to_path_buf(),
        reason: err.to_string().trim().replace('\n', " "),
    })?;
    let problems = manifest.problems();
    if problems.is_empty() { Ok(manifest) } else { Err(ManifestError::Invalid { path: path.to_path_buf(), problems }) }
}

/// Reads and validates the manifest at `path`.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

#[cfg(test)]
mod tests;
