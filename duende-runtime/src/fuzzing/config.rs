//! Configuration from outside: arbitrary bytes as the `--config` file, as `--set` flags and as a
//! `NAME_*` variable, through the real loading path ([`load`] and [`load_settings`]) with
//! [`Sources`] built in memory. Loading never panics; a refusal is a [`ConfigError`] of one or more
//! [`Problem`](crate::config::Problem)s, each with a message.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::input::{Fields, flags};
use crate::config::{ConfigError, Sources, Violation, load, load_settings};

/// A daemon's own `[app]` section with a nested table, a list and a map, so that file, flag and
/// variable values reach the daemon's types too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct App {
    interval_ms: u64,
    label: String,
    ratio: f64,
    tags: Vec<String>,
    limits: BTreeMap<String, u32>,
    nested: Nested,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Nested {
    depth: u32,
    path: Option<PathBuf>,
}

impl Default for App {
    fn default() -> Self {
        App {
            interval_ms: 1000,
            label: "counter".to_owned(),
            ratio: 0.5,
            tags: Vec::new(),
            limits: BTreeMap::new(),
            nested: Nested::default(),
        }
    }
}

fn validate_app(app: &App) -> Result<(), Vec<Violation>> {
    let mut violations = Vec::new();
    if !(10..=60_000).contains(&app.interval_ms) {
        violations.push(Violation::new("interval_ms", "must be between 10 and 60000"));
    }
    if app.nested.depth > 10 {
        violations.push(Violation::new("nested.depth", "must be at most 10"));
    }
    if violations.is_empty() { Ok(()) } else { Err(violations) }
}

/// The first byte picks what is layered: bit 0 the file, bit 1 the variable; then the fields
/// (split at `0xFF`): the file's bytes, the variable's name after `DEMO_`, its value, then one
/// `--set` flag per field left.
pub fn config(data: &[u8]) {
    let (bits, data) = flags(data);
    let mut fields = Fields::new(data);
    let file = fields.bytes();
    let variable = fields.text();
    let value = fields.text();
    let sets = fields.rest();

    let dir = scratch();
    let config_file = (bits & 1 != 0).then(|| {
        let path = dir.join("demo.toml");
        std::fs::write(&path, file).expect("write the configuration file");
        path
    });
    let env = if bits & 2 != 0 { vec![(format!("DEMO_{variable}"), value)] } else { Vec::new() };
    let sources = Sources {
        name: "demo".to_owned(),
        version: "1.2.3".to_owned(),
        config_file,
        sets,
        env,
        euid: 0,
        home: None,
        xdg_config_home: None,
        // Nothing there: the system file is never read.
        system_dir: Some(dir.join("etc")),
    };

    let loaded = load::<App>(&sources, validate_app);
    match &loaded {
        Ok(loaded) => {
            let explained = loaded.explain();
            assert!(explained.contains("name = \"demo\""), "`config` lost the name:\n{explained}");
        }
        Err(err) => check_error(err),
    }
    // `load_settings` differs from `load` only when nothing is layered (its shortcut); otherwise
    // it is `load` again, at the cost of a second load per input.
    if !(sources.config_file.is_none() && sources.sets.is_empty() && sources.env.is_empty()) {
        return;
    }
    match load_settings::<App>(&sources, validate_app) {
        Ok(settings) => {
            let loaded = loaded.unwrap_or_else(|err| panic!("load refused what load_settings took: {err}"));
            // Compared as text: a `nan` in the file is not equal to itself.
            assert_eq!(format!("{settings:?}"), format!("{:?}", loaded.settings), "load and load_settings disagree");
        }
        Err(err) => {
            check_error(&err);
            assert!(loaded.is_err(), "load_settings refused what load took: {err}");
        }
    }
}

fn check_error(err: &ConfigError) {
    assert!(!err.problems().is_empty(), "an error without problems");
    for problem in err.problems() {
        assert!(!problem.message.trim().is_empty(), "a problem without a message: {problem:?}");
    }
    assert!(err.to_string().starts_with("invalid configuration ("), "{err}");
}

/// A directory of this thread's own for the configuration file.
fn scratch() -> PathBuf {
    thread_local! {
        static DIR: PathBuf = {
            let dir = std::env::temp_dir()
                .join(format!("duende-fuzz-config-{}-{:?}", std::process::id(), std::thread::current().id()));
            std::fs::create_dir_all(&dir).expect("create the scratch directory");
            dir
        };
    }
    DIR.with(PathBuf::clone)
}
