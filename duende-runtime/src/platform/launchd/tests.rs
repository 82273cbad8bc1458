//! Golden tests of rendered plists, each read back with a strict property-list parser (the
//! `plist` crate) and checked against launchd.plist(5)'s types.
//!
//! Every case renders a plist and compares it with `golden/CASE.plist` next to this file; a
//! mismatch fails with a line diff. After an intended change, regenerate the files with
//!
//! ```text
//! DUENDE_BLESS=1 cargo test -p duende-runtime platform::launchd
//! ```
//!
//! (which still fails, listing the files it rewrote), read the diff, and rerun without it. `scripts/validate-plists` checks the same files with
//! Python's `plistlib`, the plist DTD (`xmllint`) and launchd.plist(5)'s types, and reads the
//! hostile case back against `golden/hostile.expected.json`, which this file writes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ::plist::Value as Parsed;

use super::*;
use crate::config::{NoConfig, RestartPolicy, Settings};
use crate::platform::backend::Level;
use crate::platform::plan::Manifest;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/platform/launchd/golden");

fn settings(restart: RestartPolicy) -> Settings<NoConfig> {
    Settings { name: "demo".into(), version: "1.0.0".into(), restart, ..Settings::default() }
}

fn facts(level: Level) -> (JobFacts, Manifest) {
    match level {
        Level::System => (
            JobFacts {
                binary: "/usr/local/bin/demo".into(),
                config_file: Some("/etc/demo/demo.toml".into()),
                level,
                sets: Vec::new(),
                overrides: Vec::new(),
                log: "/Library/Logs/demo.log".into(),
                runtime_dir: "/var/run/demo".into(),
            },
            Manifest {
                files: vec!["/usr/local/bin/demo".into(), "/etc/demo/demo.toml".into()],
                dirs: vec!["/etc/demo".into()],
            },
        ),
        Level::User => (
            JobFacts {
                binary: "/Users/ana/.local/bin/demo".into(),
                config_file: Some("/Users/ana/.config/demo/demo.toml".into()),
                level,
                sets: vec!["log_level=debug".into()],
                overrides: vec![("DEMO_METRICS__ENABLED".into(), "true".into())],
                log: "/Users/ana/Library/Logs/demo.log".into(),
                runtime_dir: "/Users/ana/Library/Caches/demo".into(),
            },
            Manifest {
                files: vec!["/Users/ana/.local/bin/demo".into(), "/Users/ana/.config/demo/demo.toml".into()],
                dirs: vec!["/Users/ana/.local/bin".into(), "/Users/ana/.config/demo".into()],
            },
        ),
    }
}

/// Memory locking with every other key a plist can carry.
fn mlock(level: Level) -> Settings<NoConfig> {
    let mut s = settings(RestartPolicy::Always);
    s.description = "Counts requests for the demo".into();
    s.args = vec!["--port".into(), "8080".into()];
    s.env.insert("RUST_BACKTRACE".into(), "1".into());
    if level == Level::System {
        s.user = Some("_demo".into());
        s.group = Some("_demo".into());
        s.working_dir = Some("/var/lib/demo".into());
        s.platform.launchd.label_prefix = "com.example".into();
        s.platform.launchd.process_type = "Background".into();
        s.resources.pids_max = Some(512);
    }
    s.resources.open_files_max = Some(65_536);
    s.resources.lock_memory = true;
    s.resources.lock_memory_required = level == Level::System;
    s.shutdown_timeout = Duration::from_secs(10);
    s.backoff.initial = Duration::from_millis(4500);
    s
}

/// Values chosen to break naive XML: markup, a CDATA end, entities, line breaks of both kinds,
/// a forged manifest line, comment delimiters, non-ASCII, and `</string><key>` injections.
fn hostile() -> (Settings<NoConfig>, JobFacts, Manifest) {
    let mut s = settings(RestartPolicy::OnFailure);
    s.args = [
        "<",
        "]]>",
        "&amp; &lt; &#10;",
        "two\nlines",
        "crlf\r\nand lone\rreturn",
        "\ttab",
        "ünïcödé ✓ 𝄞 日本",
        "</string><key>KeepAlive</key><false/><string>",
        "</string></array><key>UserName</key><string>root</string><key>X</key><array><string>",
        "\n# file /etc/passwd",
        "-->",
        "<!-- comment -->",
        "\"double\" 'single'",
        "",
    ]
    .map(str::to_owned)
    .to_vec();
    s.env.insert("INJECT".into(), "</string></dict><key>UserName</key><string>root</string><dict><key>A".into());
    s.env.insert("MANIFEST".into(), "x\n# dir /etc\n".into());
    s.env.insert("K<E>Y&".into(), "markup in the name".into());
    s.env.insert("EMPTY".into(), String::new());
    s.working_dir = Some("/srv/dü ende/<x>&y ]]>".into());
    let (mut facts, manifest) = facts(Level::System);
    facts.binary = "/opt/dü ende/<bin>&".into();
    facts.config_file = Some("/etc/demo/it's \"here\".toml".into());
    facts.sets = vec!["app.greeting=</string>\n<key>Label</key>".into()];
    (s, facts, manifest)
}

fn cases() -> Vec<(String, JobSpec, Manifest)> {
    let mut cases = Vec::new();
    for level in [Level::User, Level::System] {
        for (policy, word) in [
            (RestartPolicy::Never, "never"),
            (RestartPolicy::OnFailure, "on-failure"),
            (RestartPolicy::Always, "always"),
            (RestartPolicy::UnlessStopped, "unless-stopped"),
        ] {
            let (facts, manifest) = facts(level);
            cases.push((format!("{level}-{word}"), JobSpec::new(&settings(policy), &facts), manifest));
        }
        let (facts, manifest) = facts(level);
        cases.push((format!("{level}-mlock"), JobSpec::new(&mlock(level), &facts), manifest));
    }
    let (s, facts, manifest) = hostile();
    cases.push(("hostile".to_owned(), JobSpec::new(&s, &facts), manifest));
    cases
}

fn rendered(spec: &JobSpec, manifest: &Manifest) -> String {
    render(spec, manifest).unwrap_or_else(|err| panic!("rendering {} failed: {err}", spec.label))
}

fn parsed(case: &str, text: &str) -> BTreeMap<String, Parsed> {
    match Parsed::from_reader_xml(text.as_bytes()) {
        Ok(Parsed::Dictionary(dict)) => dict.into_iter().collect(),
        other => panic!("{case}: not a dictionary plist: {other:?}"),
    }
}

#[test]
fn plists_match_their_golden_files() {
    let mut failures = Vec::new();
    for (case, spec, manifest) in cases() {
        let path = Path::new(GOLDEN).join(format!("{case}.plist"));
        failures.extend(crate::golden::compare(&path, &rendered(&spec, &manifest)).err());
    }
    crate::golden::assert_none(&failures, "cargo test -p duende-runtime platform::launchd");
}

/// launchd.plist(5)'s types for the keys duende writes.
fn check_types(case: &str, dict: &BTreeMap<String, Parsed>) {
    let string = |key: &str| matches!(dict.get(key), Some(Parsed::String(_)));
    let integer =
        |key: &str| matches!(dict.get(key), Some(Parsed::Integer(i)) if i.as_signed().is_some_and(|n| n >= 0));
    for key in ["Label", "ProcessType", "StandardOutPath", "StandardErrorPath"] {
        assert!(string(key), "{case}: {key} must be a string: {:?}", dict.get(key));
    }
    for key in ["ThrottleInterval", "ExitTimeOut"] {
        assert!(integer(key), "{case}: {key} must be an integer: {:?}", dict.get(key));
    }
    assert!(matches!(dict.get("RunAtLoad"), Some(Parsed::Boolean(true))), "{case}");
    match dict.get("KeepAlive") {
        Some(Parsed::Boolean(_)) => {}
        Some(Parsed::Dictionary(d)) => {
            assert_eq!(d.keys().collect::<Vec<_>>(), ["SuccessfulExit"], "{case}");
            assert!(matches!(d.get("SuccessfulExit"), Some(Parsed::Boolean(false))), "{case}");
        }
        other => panic!("{case}: KeepAlive: {other:?}"),
    }
    let Some(Parsed::Array(words)) = dict.get("ProgramArguments") else { panic!("{case}: ProgramArguments") };
    assert!(words.iter().all(|w| matches!(w, Parsed::String(_))), "{case}");
    let Some(Parsed::Dictionary(env)) = dict.get("EnvironmentVariables") else { panic!("{case}: environment") };
    assert!(env.values().all(|v| matches!(v, Parsed::String(_))), "{case}");
    for key in ["SoftResourceLimits", "HardResourceLimits"] {
        if let Some(limits) = dict.get(key) {
            let Parsed::Dictionary(limits) = limits else { panic!("{case}: {key}") };
            for (name, value) in limits {
                assert!(
                    ["NumberOfFiles", "NumberOfProcesses", "MemoryLock"].contains(&name.as_str()),
                    "{case}: {name}"
                );
                assert!(matches!(value, Parsed::Integer(_)), "{case}: {key}.{name}");
            }
        }
    }
}

#[test]
fn every_plist_parses_strictly_with_launchd_types_and_says_what_the_spec_says() {
    for (case, spec, manifest) in cases() {
        let text = rendered(&spec, &manifest);
        let dict = parsed(&case, &text);
        check_types(&case, &dict);
        assert_eq!(dict.get("Label").and_then(Parsed::as_string), Some(spec.label.as_str()), "{case}");
        let keep_alive = dict.get("KeepAlive").and_then(Parsed::as_boolean);
        match spec.keep_alive {
            KeepAlive::Never => assert_eq!(keep_alive, Some(false), "{case}"),
            KeepAlive::Always => assert_eq!(keep_alive, Some(true), "{case}"),
            KeepAlive::UnlessSuccessful => assert!(dict.get("KeepAlive").and_then(Parsed::as_dictionary).is_some()),
        }
        let seconds = |key: &str| dict.get(key).and_then(Parsed::as_signed_integer);
        assert_eq!(seconds("ExitTimeOut"), i64::try_from(spec.exit_timeout).ok(), "{case}");
        assert_eq!(seconds("ThrottleInterval"), i64::try_from(spec.throttle_interval).ok(), "{case}");
        let log = spec.log.to_str();
        assert_eq!(dict.get("StandardOutPath").and_then(Parsed::as_string), log, "{case}: logs never go nowhere");
        assert_eq!(dict.get("StandardErrorPath").and_then(Parsed::as_string), log, "{case}");
        let locks = dict.get("HardResourceLimits").and_then(Parsed::as_dictionary).and_then(|d| d.get("MemoryLock"));
        assert_eq!(locks.and_then(Parsed::as_signed_integer), spec.memory_lock.then_some(i64::MAX), "{case}");
        let user = dict.contains_key("UserName") || dict.contains_key("GroupName");
        assert!(!user || spec.level == Level::System, "{case}: an agent never names a user");
        assert!(is_written_by_duende(&text) && render::is_written_for(&text, "demo"), "{case}");
        assert_eq!(Manifest::parse(&text), manifest, "{case}: the manifest reads back");
    }
}

/// What the hostile case must read back as, for `scripts/validate-plists` too.
fn hostile_expected(spec: &JobSpec) -> serde_json::Value {
    let mut argv = vec![spec.binary.to_string_lossy().into_owned(), "run".to_owned()];
    if let Some(config) = &spec.config_file {
        argv.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
    }
    for set in &spec.sets {
        argv.extend(["--set".to_owned(), set.clone()]);
    }
    argv.push("--".to_owned());
    argv.extend(spec.args.iter().cloned());
    serde_json::json!({
        "ProgramArguments": argv,
        "EnvironmentVariables": spec.environment,
        "WorkingDirectory": spec.working_dir,
        "keys": ["EnvironmentVariables", "ExitTimeOut", "KeepAlive", "Label", "ProcessType", "ProgramArguments",
                 "RunAtLoad", "StandardErrorPath", "StandardOutPath", "ThrottleInterval", "WorkingDirectory"],
        "manifest": ["/usr/local/bin/demo", "/etc/demo/demo.toml", "/etc/demo"],
    })
}

#[test]
fn hostile_values_round_trip_exactly_and_never_become_keys() {
    let (settings, facts, manifest) = hostile();
    let spec = JobSpec::new(&settings, &facts);
    let text = rendered(&spec, &manifest);
    let dict = parsed("hostile", &text);
    let expected = hostile_expected(&spec);
    let keys: Vec<&str> = dict.keys().map(String::as_str).collect();
    assert_eq!(serde_json::json!(keys), expected["keys"], "no value added a key");
    let argv: Vec<&str> = match dict.get("ProgramArguments") {
        Some(Parsed::Array(words)) => words.iter().filter_map(Parsed::as_string).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(serde_json::json!(argv), expected["ProgramArguments"]);
    let env: BTreeMap<&str, &str> = match dict.get("EnvironmentVariables") {
        Some(Parsed::Dictionary(env)) => env.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_string()?))).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(serde_json::json!(env), expected["EnvironmentVariables"]);
    assert_eq!(
        serde_json::json!(dict.get("WorkingDirectory").and_then(Parsed::as_string)),
        expected["WorkingDirectory"]
    );
    assert!(matches!(dict.get("KeepAlive"), Some(Parsed::Dictionary(_))), "the forged `<false/>` is text");
    assert!(!dict.contains_key("UserName"), "the forged `UserName` is text");
    assert_eq!(Manifest::parse(&text), manifest, "the forged `# file` and `# dir` lines are not recorded");
    assert!(text.lines().all(|line| !line.starts_with("# file /etc/passwd")), "no value starts a line");

    let path = Path::new(GOLDEN).join("hostile.expected.json");
    let json = serde_json::to_string_pretty(&expected).unwrap_or_default() + "\n";
    crate::golden::check(&path, &json, "cargo test -p duende-runtime platform::launchd");
}

#[test]
fn what_launchd_cannot_take_is_refused_naming_the_key() {
    let (facts, manifest) = facts(Level::User);
    let mut s = settings(RestartPolicy::OnFailure);
    s.user = Some("root".into());
    let err = render(&JobSpec::new(&s, &facts), &manifest).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "`user` cannot apply to a LaunchAgent: launchd runs an agent as the user it belongs to; install with \
             `--system` or unset `user`"
        )
    );
    let mut s = settings(RestartPolicy::OnFailure);
    s.args = vec!["\u{1b}[0m".into()];
    let err = render(&JobSpec::new(&s, &facts), &manifest).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with("`args[0]` = \"\\u{1b}[0m\" cannot be written into a launchd plist"), "{err}");
    let mut s = settings(RestartPolicy::OnFailure);
    s.env.insert("BELL".into(), "\u{7}".into());
    let err = render(&JobSpec::new(&s, &facts), &manifest).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with("`env.BELL`"), "{err}");
    let mut s = settings(RestartPolicy::OnFailure);
    s.resources.open_files_max = Some(0);
    let err = render(&JobSpec::new(&s, &facts), &manifest).err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("`resources.open_files_max` = 0 is out of range: it must be at least 1"));
    let mut s = settings(RestartPolicy::OnFailure);
    s.working_dir = Some("relative".into());
    assert!(matches!(render(&JobSpec::new(&s, &facts), &manifest), Err(RenderError::RelativePath { .. })));
    let s = Settings { name: "a--b".into(), ..settings(RestartPolicy::OnFailure) };
    assert!(matches!(render(&JobSpec::new(&s, &facts), &manifest), Err(RenderError::Name(_))));
    let mut spec = JobSpec::new(&settings(RestartPolicy::OnFailure), &facts);
    spec.label = "no-dots".into();
    assert!(matches!(render(&spec, &manifest), Err(RenderError::Label { .. })));
}
