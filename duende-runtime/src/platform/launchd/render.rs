//! [`render`]: a [`JobSpec`] and the install's [`Manifest`] as the text of a launchd plist. Pure:
//! no file system, no tools; the same input always gives the same bytes.
//!
//! The layout: the XML declaration and Apple's document type, then two comments in the
//! prologue (before `<plist>`, where every property-list reader skips comments): the
//! [`MARKER`] that tells duende's plists from foreign ones, and the manifest of what the install
//! created besides the plist (the same `# file PATH` / `# dir PATH` lines every backend's
//! definition carries). Then one `<dict>` with the keys in a fixed order: `Label`,
//! `ProgramArguments`, `EnvironmentVariables`, `WorkingDirectory`, `UserName`, `GroupName`,
//! `RunAtLoad`, `KeepAlive`, `ThrottleInterval`, `ExitTimeOut`, `ProcessType`,
//! `StandardOutPath`, `StandardErrorPath`, `SoftResourceLimits`, `HardResourceLimits`.
//!
//! `ProgramArguments` is the argument vector itself (no shell, no `Program` key):
//! `BINARY run [--config PATH] [--set K=V]... [-- ARGS...]`, `--` keeping the daemon's own
//! arguments from being read as the runtime's flags. Every string, and every key of
//! `EnvironmentVariables`, is escaped by [`plist::escape`]; what XML cannot carry is refused,
//! naming the configuration key. A manifest path that an XML comment cannot hold (one with `--`
//! or a line break) is refused too.

use std::path::{Path, PathBuf};

use super::job::{JobSpec, KeepAlive, RLIM_INFINITY};
use super::plist::{self, Unrepresentable, Value};
use crate::platform::backend::Level;
use crate::platform::plan::Manifest;

/// The comment that marks a plist duende wrote; an installer tells its own plists from foreign
/// ones by it (see [`is_written_by_duende`]).
pub const MARKER: &str = "<!-- Written by duende;";

/// Whether `text` (a plist file's content) was written by duende: the marker is a comment in
/// its prologue, before the `<plist>` element.
pub fn is_written_by_duende(text: &str) -> bool {
    prologue(text).any(|line| line.starts_with(MARKER))
}

/// Whether `text` is a plist duende wrote for the daemon `name`.
pub fn is_written_for(text: &str, name: &str) -> bool {
    let tag = name_comment(name);
    is_written_by_duende(text) && prologue(text).any(|line| line == tag)
}

/// The lines before the `<plist>` element.
fn prologue(text: &str) -> std::str::Lines<'_> {
    text.split("<plist").next().unwrap_or_default().lines()
}

/// The comment that names the daemon a plist is for.
fn name_comment(name: &str) -> String {
    format!("<!-- duende daemon: {name} -->")
}

/// The `Label` of a plist duende wrote (the line after `<key>Label</key>`; labels need no
/// escaping).
pub fn label_of(text: &str) -> Option<String> {
    let mut lines = text.lines().skip_while(|line| line.trim() != "<key>Label</key>").skip(1);
    let value = lines.next()?.trim().strip_prefix("<string>")?.strip_suffix("</string>")?;
    crate::config::platforms::is_reverse_dns(value, 2).then(|| value.to_owned())
}

/// Why a spec cannot become a plist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A value no escaping can carry into XML.
    #[error("`{key}` = {value:?} cannot be written into a launchd plist: it {source}; remove that character")]
    Value {
        /// The configuration key (or install fact) the value came from.
        key: String,
        /// The value.
        value: String,
        /// What is wrong with it.
        #[source]
        source: Unrepresentable,
    },
    /// A path that must be absolute is not.
    #[error("`{key}` must be an absolute path, found {path:?}")]
    RelativePath {
        /// Where the path came from.
        key: String,
        /// The path.
        path: PathBuf,
    },
    /// A path that is not UTF-8 (plists are UTF-8).
    #[error("`{key}` = {path:?} is not UTF-8, which a launchd plist cannot hold")]
    NotUtf8 {
        /// Where the path came from.
        key: String,
        /// The path.
        path: PathBuf,
    },
    /// A setting a LaunchAgent cannot honour.
    #[error(
        "`{key}` cannot apply to a LaunchAgent: launchd runs an agent as the user it belongs to; install with \
         `--system` or unset `{key}`"
    )]
    UserLevel {
        /// The configuration key.
        key: &'static str,
    },
    /// A number launchd would not accept.
    #[error("`{key}` = {value} is out of range: it must be {allowed}")]
    OutOfRange {
        /// The configuration key.
        key: &'static str,
        /// The value.
        value: String,
        /// What is accepted.
        allowed: &'static str,
    },
    /// The name is not a valid service name, or one an XML comment cannot hold.
    #[error("{0}")]
    Name(String),
    /// A label launchd would not accept.
    #[error(
        "the launchd label {label:?} is not a reverse-DNS label; set `platform.launchd.label` (such as \
         \"com.example.demo\") or `platform.launchd.label_prefix`"
    )]
    Label {
        /// The label.
        label: String,
    },
    /// A path the install records that an XML comment cannot hold.
    #[error(
        "the install would record {path:?}, which an XML comment cannot hold (it has `--` or a line break); \
         install from a path without them"
    )]
    Manifest {
        /// The path.
        path: PathBuf,
    },
}

/// The plist for `spec`, recording `manifest` in its prologue.
pub fn render(spec: &JobSpec, manifest: &Manifest) -> Result<String, RenderError> {
    crate::name::validate(&spec.name).map_err(RenderError::Name)?;
    if spec.name.contains("--") {
        return Err(RenderError::Name(format!(
            "`{}` cannot name a launchd job: the plist records the name in an XML comment, which cannot hold \
             `--`; use a name without two dashes in a row",
            spec.name
        )));
    }
    if !crate::config::platforms::is_reverse_dns(&spec.label, 2) {
        return Err(RenderError::Label { label: spec.label.clone() });
    }
    let mut keys: Vec<(String, Value)> = Vec::new();
    let mut put = |key: &str, value: Value| keys.push((key.to_owned(), value));
    put("Label", Value::String(spec.label.clone()));
    put("ProgramArguments", Value::Array(program_arguments(spec)?));
    let mut environment = Vec::new();
    for (name, value) in &spec.environment {
        let key = format!("env.{name}");
        checked(&key, name)?;
        environment.push((name.clone(), string(&key, value)?));
    }
    put("EnvironmentVariables", Value::Dict(environment));
    if let Some(dir) = &spec.working_dir {
        put("WorkingDirectory", path("working_dir", dir)?);
    }
    for (key, plist_key, value) in [("user", "UserName", &spec.user), ("group", "GroupName", &spec.group)] {
        let Some(value) = value else { continue };
        if spec.level == Level::User {
            return Err(RenderError::UserLevel { key });
        }
        put(plist_key, string(key, value)?);
    }
    put("RunAtLoad", Value::Bool(true));
    put(
        "KeepAlive",
        match spec.keep_alive {
            KeepAlive::Never => Value::Bool(false),
            KeepAlive::UnlessSuccessful => Value::Dict(vec![("SuccessfulExit".to_owned(), Value::Bool(false))]),
            KeepAlive::Always => Value::Bool(true),
        },
    );
    put("ThrottleInterval", Value::Integer(integer("backoff.initial", spec.throttle_interval)?));
    put("ExitTimeOut", Value::Integer(integer("shutdown_timeout", spec.exit_timeout)?));
    put("ProcessType", string("platform.launchd.process_type", &spec.process_type)?);
    let log = path("log file", &spec.log)?;
    put("StandardOutPath", log.clone());
    put("StandardErrorPath", log);
    let limits = limits(spec)?;
    if !limits.is_empty() {
        put("SoftResourceLimits", Value::Dict(limits.clone()));
        put("HardResourceLimits", Value::Dict(limits));
    }
    let prologue = format!(
        "{MARKER} `install` rewrites this file and `uninstall` removes it. -->\n\
         <!-- Change the configuration instead; `config` shows where each value comes from. -->\n\
         {}\n\
         <!--{}-->\n",
        name_comment(&spec.name),
        manifest_comment(manifest)?
    );
    plist::write(&prologue, &Value::Dict(keys)).map_err(|source| RenderError::Value {
        key: "plist".to_owned(),
        value: String::new(),
        source,
    })
}

/// `BINARY run [--config PATH] [--set K=V]... [-- ARGS...]`.
fn program_arguments(spec: &JobSpec) -> Result<Vec<Value>, RenderError> {
    let mut words = vec![path("binary_path", &spec.binary)?, Value::String("run".to_owned())];
    if let Some(config) = &spec.config_file {
        words.push(Value::String("--config".to_owned()));
        words.push(path("--config", config)?);
    }
    for set in &spec.sets {
        words.push(Value::String("--set".to_owned()));
        words.push(string("--set", set)?);
    }
    if !spec.args.is_empty() {
        words.push(Value::String("--".to_owned()));
        for (index, arg) in spec.args.iter().enumerate() {
            words.push(string(&format!("args[{index}]"), arg)?);
        }
    }
    Ok(words)
}

/// `NumberOfFiles`, `NumberOfProcesses` and `MemoryLock`, in that order.
fn limits(spec: &JobSpec) -> Result<Vec<(String, Value)>, RenderError> {
    let mut limits = Vec::new();
    for (key, name, value) in [
        ("resources.open_files_max", "NumberOfFiles", spec.open_files),
        ("resources.pids_max", "NumberOfProcesses", spec.processes),
    ] {
        let Some(value) = value else { continue };
        if value == 0 {
            return Err(RenderError::OutOfRange { key, value: "0".to_owned(), allowed: "at least 1" });
        }
        limits.push((name.to_owned(), Value::Integer(integer(key, value)?)));
    }
    if spec.memory_lock {
        limits.push(("MemoryLock".to_owned(), Value::Integer(RLIM_INFINITY)));
    }
    Ok(limits)
}

/// `value` as a plist integer (launchd reads 64-bit signed integers).
fn integer(key: &'static str, value: u64) -> Result<i64, RenderError> {
    i64::try_from(value).map_err(|_| RenderError::OutOfRange {
        key,
        value: value.to_string(),
        allowed: "at most 9223372036854775807",
    })
}

/// Fails when `value` holds a character XML cannot carry.
fn checked(key: &str, value: &str) -> Result<(), RenderError> {
    plist::escape(value).map(drop).map_err(|source| RenderError::Value {
        key: key.to_owned(),
        value: value.to_owned(),
        source,
    })
}

fn string(key: &str, value: &str) -> Result<Value, RenderError> {
    checked(key, value)?;
    Ok(Value::String(value.to_owned()))
}

/// An absolute UTF-8 path as a string value.
fn path(key: &str, path: &Path) -> Result<Value, RenderError> {
    let text = path.to_str().ok_or_else(|| RenderError::NotUtf8 { key: key.to_owned(), path: path.to_owned() })?;
    if !path.is_absolute() {
        return Err(RenderError::RelativePath { key: key.to_owned(), path: path.to_owned() });
    }
    string(key, text)
}

/// The manifest's lines, checked to fit in an XML comment.
fn manifest_comment(manifest: &Manifest) -> Result<String, RenderError> {
    for recorded in manifest.files.iter().chain(&manifest.dirs) {
        let text = recorded.to_string_lossy();
        if text.contains("--") || text.ends_with('-') || text.contains(['\n', '\r']) || plist::escape(&text).is_err() {
            return Err(RenderError::Manifest { path: recorded.clone() });
        }
    }
    Ok(manifest.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_sits_in_the_prologue() {
        let ours = "<?xml version=\"1.0\"?>\n<!-- Written by duende; `install` ... -->\n<plist version=\"1.0\">";
        assert!(is_written_by_duende(ours));
        let forged = "<?xml version=\"1.0\"?>\n<plist version=\"1.0\">\n<!-- Written by duende; -->\n";
        assert!(!is_written_by_duende(forged), "a comment inside the document is not the marker");
        assert!(!is_written_by_duende("<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict/></plist>\n"));
    }

    #[test]
    fn manifest_paths_that_would_break_the_comment_are_refused() {
        let manifest = Manifest { files: vec!["/opt/a--b/demo".into()], dirs: Vec::new() };
        assert_eq!(manifest_comment(&manifest), Err(RenderError::Manifest { path: "/opt/a--b/demo".into() }));
        let manifest = Manifest { files: vec!["/usr/local/bin/demo".into()], dirs: vec!["/etc/demo".into()] };
        assert_eq!(
            manifest_comment(&manifest).as_deref(),
            Ok("\n# Created by install, removed by uninstall:\n# file /usr/local/bin/demo\n# dir /etc/demo\n")
        );
    }
}
