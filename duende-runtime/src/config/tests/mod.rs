//! Tests of configuration loading, each with injected sources in a temporary directory: never the
//! process environment, never the real `/etc`.

mod errors;
mod explain;
mod layers;
mod rules;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use super::{ConfigError, Loaded, Settings, Sources, Violation, load};

/// A daemon's own `[app]` section, with a nested table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct App {
    interval_ms: u64,
    label: String,
    nested: Nested,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Nested {
    depth: u32,
}

impl Default for App {
    fn default() -> Self {
        App { interval_ms: 1000, label: "counter".to_owned(), nested: Nested { depth: 1 } }
    }
}

impl Default for Nested {
    fn default() -> Self {
        Nested { depth: 1 }
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

/// Sources for a daemon named `demo`, every path inside one temporary directory.
struct Fixture {
    dir: TempDir,
    sources: Sources,
}

impl Fixture {
    /// An ordinary user (euid 1000) with `$HOME` in the temporary directory.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let sources = Sources {
            name: "demo".into(),
            version: "1.2.3".into(),
            euid: 1000,
            home: Some(dir.path().join("home")),
            system_dir: Some(dir.path().join("etc")),
            ..Sources::default()
        };
        Fixture { dir, sources }
    }

    fn root() -> Fixture {
        let mut fixture = Fixture::new();
        fixture.sources.euid = 0;
        fixture
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create directories");
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Writes `/etc/demo/demo.toml` (inside the temporary directory).
    fn system_file(&self, text: &str) -> PathBuf {
        self.write("etc/demo/demo.toml", text)
    }

    /// Writes `$HOME/.config/demo/demo.toml`.
    fn user_file(&self, text: &str) -> PathBuf {
        self.write("home/.config/demo/demo.toml", text)
    }

    /// Writes a file and passes it with `--config`.
    fn config_file(&mut self, text: &str) -> PathBuf {
        let path = self.write("extra/given.toml", text);
        self.sources.config_file = Some(path.clone());
        path
    }

    fn env(&mut self, name: &str, value: &str) -> &mut Fixture {
        self.sources.env.push((name.to_owned(), value.to_owned()));
        self
    }

    fn set(&mut self, flag: &str) -> &mut Fixture {
        self.sources.sets.push(flag.to_owned());
        self
    }

    fn load(&self) -> Result<Loaded<App>, ConfigError> {
        load::<App>(&self.sources, validate_app)
    }

    fn settings(&self) -> Settings<App> {
        match self.load() {
            Ok(loaded) => loaded.settings,
            Err(err) => panic!("expected a valid configuration, got {err}"),
        }
    }

    fn error(&self) -> String {
        match self.load() {
            Ok(loaded) => panic!("expected an invalid configuration, got {:?}", loaded.settings),
            Err(err) => err.to_string(),
        }
    }

    /// `text` with the temporary directory written as `TMP`.
    fn redact(&self, text: &str) -> String {
        text.replace(&self.dir.path().display().to_string(), "TMP")
    }
}

/// Asserts that `haystack` contains every needle, showing it whole when not.
#[track_caller]
fn assert_contains(haystack: &str, needles: &[&str]) {
    for needle in needles {
        assert!(haystack.contains(needle), "expected {needle:?} in:\n{haystack}");
    }
}

mod fast_path {
    use super::*;
    use crate::config::load_settings;

    fn both(fixture: &Fixture) -> (Result<Settings<App>, String>, Result<Settings<App>, String>) {
        let fast = load_settings::<App>(&fixture.sources, validate_app).map_err(|e| e.to_string());
        let full = load::<App>(&fixture.sources, validate_app).map(|l| l.settings).map_err(|e| e.to_string());
        (fast, full)
    }

    #[test]
    fn with_nothing_layered_the_defaults_match_the_full_path() {
        let fixture = Fixture::new();
        let (fast, full) = both(&fixture);
        assert_eq!(fast, full);
        let settings = fast.unwrap();
        assert_eq!((settings.name.as_str(), settings.version.as_str()), ("demo", "1.2.3"));
    }

    #[test]
    fn every_layer_still_counts() {
        let mut fixture = Fixture::new();
        fixture.env("DEMO_APP__LABEL", "from-env");
        let (fast, full) = both(&fixture);
        assert_eq!(fast.unwrap().app.label, "from-env");
        assert_eq!(full.unwrap().app.label, "from-env");

        let fixture = Fixture::root();
        fixture.system_file("[app]\nlabel = \"from-file\"\n");
        assert_eq!(both(&fixture).0.unwrap().app.label, "from-file");

        let mut fixture = Fixture::new();
        fixture.set("app.label=from-flag");
        assert_eq!(both(&fixture).0.unwrap().app.label, "from-flag");
    }

    #[test]
    fn own_variables_are_the_prefixed_ones_sorted() {
        let mut fixture = Fixture::new();
        fixture.env("DEMO_Z", "1").env("OTHER_A", "2").env("DEMO_A", "3").env("DEMOX", "4");
        assert_eq!(
            fixture.sources.own_variables(),
            [("DEMO_A".to_owned(), "3".to_owned()), ("DEMO_Z".to_owned(), "1".to_owned())]
        );
    }

    #[test]
    fn invalid_defaults_get_the_full_error_with_provenance() {
        fn refuse_all(_: &App) -> Result<(), Vec<Violation>> {
            Err(vec![Violation::new("label", "is never good enough")])
        }
        let fixture = Fixture::new();
        let fast = load_settings::<App>(&fixture.sources, refuse_all).unwrap_err().to_string();
        let full = load::<App>(&fixture.sources, refuse_all).unwrap_err().to_string();
        assert_eq!(fast, full);
        assert_contains(&fast, &["app.label", "is never good enough"]);
    }
}
