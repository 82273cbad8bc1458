//! The native service's definition: what `install` records for the supervisor to run, as TOML,
//! rendered and parsed by pure functions.
//!
//! ```toml
//! # Written by duende: what the native supervisor of demo runs. `demo install` rewrites it,
//! # `demo uninstall` removes it; change the configuration, not this file.
//! program = "/usr/local/bin/demo"
//! flags = ["--config", "/etc/demo/demo.toml"]
//! args = []
//!
//! [env]
//! GREETING = "hello"
//!
//! # Created by install, removed by uninstall:
//! # file /usr/local/bin/demo
//! ```
//!
//! `flags` are the configuration flags (`--config`, `--set`) that the supervisor and the daemon
//! both get, so both layer exactly the configuration `install` validated; `args` are the
//! daemon's own, after `run --`. Values are TOML strings, so no value can add a key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::platform::plan::Manifest;

/// The first words of every definition duende writes.
pub const MARKER: &str = "# Written by duende";

/// What the supervisor runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The installed binary: the supervisor and the daemon both run it.
    pub program: PathBuf,
    /// `--config PATH` and `--set KEY=VALUE` flags, for the supervisor and the daemon.
    pub flags: Vec<String>,
    /// The subcommand the supervisor runs after the flags: `run` (the default, left out of the
    /// file), or what stands for the daemon on this host, such as pepita's VM runner
    /// (`__pepita-vm --bundle DIR`).
    #[serde(default = "run_command", skip_serializing_if = "is_run")]
    pub command: Vec<String>,
    /// The daemon's own arguments (`run -- ARGS`).
    pub args: Vec<String>,
    /// The daemon's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
    /// Environment the daemon gets: the configuration's `env`, then the installer's `NAME_*`
    /// variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn run_command() -> Vec<String> {
    vec!["run".to_owned()]
}

fn is_run(command: &[String]) -> bool {
    command == ["run"]
}

impl Definition {
    /// The daemon's command line after the program: the flags, the command (`run`), `--` and its
    /// arguments.
    pub fn daemon_args(&self) -> Vec<String> {
        let mut words = self.flags.clone();
        words.extend(self.command.iter().cloned());
        if !self.args.is_empty() {
            words.push("--".to_owned());
            words.extend(self.args.iter().cloned());
        }
        words
    }
}

/// Why a definition could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the native definition is damaged: {0}; run `install` again to rewrite it")]
pub struct Damaged(String);

/// The definition's text for the service `name`, ending with `manifest`.
pub fn render(name: &str, definition: &Definition, manifest: &Manifest) -> Result<String, Damaged> {
    let body = toml::to_string(definition).map_err(|err| Damaged(err.to_string()))?;
    Ok(format!(
        "{MARKER}: what the native supervisor of {name} runs. `{name} install` rewrites it,\n# `{name} uninstall` \
         removes it; change the configuration, not this file.\n{body}{}",
        manifest.render()
    ))
}

/// True when `text` is a definition duende wrote.
pub fn is_written_by_duende(text: &str) -> bool {
    text.starts_with(MARKER)
}

/// The definition in `text`.
pub fn parse(text: &str) -> Result<Definition, Damaged> {
    toml::from_str(text).map_err(|err| Damaged(err.to_string().trim().replace('\n', " ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nasty() -> Definition {
        Definition {
            program: "/usr/local/bin/demo".into(),
            flags: vec![
                "--config".into(),
                "/etc/demo/demo.toml".into(),
                "--set".into(),
                "app.label=\"x\"\ny = 1".into(),
            ],
            command: run_command(),
            args: vec!["--verbose".into(), "a b".into()],
            working_dir: Some("/var/lib/demo".into()),
            env: [("GREETING".to_owned(), "hello\"\n[env]\nEVIL = \"1\"".to_owned())].into_iter().collect(),
        }
    }

    #[test]
    fn renders_as_the_golden_file_and_reads_back() {
        let manifest = Manifest { files: vec!["/usr/local/bin/demo".into()], dirs: vec!["/etc/demo".into()] };
        let text = render("demo", &nasty(), &manifest).unwrap_or_default();
        let golden = include_str!("golden/nasty.toml");
        if std::env::var_os("DUENDE_BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/platform/native/golden/nasty.toml");
            std::fs::write(path, &text).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(text, golden);
        assert!(is_written_by_duende(&text));
        assert_eq!(parse(&text), Ok(nasty()), "no value added a key");
        assert_eq!(Manifest::parse(&text), manifest);
        let reparsed: toml::Table = toml::from_str(&text).unwrap_or_default();
        assert_eq!(reparsed["env"].as_table().map(|t| t.len()), Some(1), "one variable, whatever its value");
    }

    #[test]
    fn the_daemon_gets_run_the_flags_and_its_own_arguments_after_a_double_dash() {
        assert_eq!(
            nasty().daemon_args(),
            ["--config", "/etc/demo/demo.toml", "--set", "app.label=\"x\"\ny = 1", "run", "--", "--verbose", "a b"]
        );
        let plain = Definition { args: Vec::new(), ..nasty() };
        assert_eq!(plain.daemon_args().last().map(String::as_str), Some("run"));
    }

    #[test]
    fn damaged_definitions_say_how_to_repair_them() {
        let err = parse("program = 7\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.starts_with("the native definition is damaged: ") && err.ends_with("run `install` again to rewrite it"),
            "{err}"
        );
    }
}
