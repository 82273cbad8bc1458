//! Errors name the key, the value, where it came from (file and line, variable, flag, default)
//! and what is allowed; every problem is listed at once.

use super::*;
use crate::config::{NoConfig, Problem};

#[test]
fn a_key_under_a_section_header_is_reported_with_its_line() {
    let fixture = Fixture::new();
    fixture.system_file("name = \"demo\"\n\n[resources]\nlock_memory = true\ncpu_shares = 0\n");
    assert_eq!(
        fixture.redact(&fixture.error()),
        "invalid configuration (1 problem):\n  - resources.cpu_shares = 0 (from TMP/etc/demo/demo.toml:5): \
         must be an integer between 1 and 10000"
    );
}

#[test]
fn a_dotted_key_is_reported_with_its_line() {
    let fixture = Fixture::new();
    fixture.system_file("# comment\n\nhealth_check.enabled = true\nhealth_check.retries = 0\n");
    assert_contains(
        &fixture.redact(&fixture.error()),
        &["health_check.retries = 0 (from TMP/etc/demo/demo.toml:4): must be an integer between 1 and 100"],
    );
}

#[test]
fn a_dotted_key_inside_a_section_is_reported_with_its_line() {
    let fixture = Fixture::new();
    fixture.system_file("[app]\nlabel = \"x\"\n\nnested.depth = 11\n");
    assert_contains(
        &fixture.redact(&fixture.error()),
        &["app.nested.depth = 11 (from TMP/etc/demo/demo.toml:4): must be at most 10"],
    );
}

#[test]
fn a_key_in_a_nested_table_is_reported_with_its_line() {
    let fixture = Fixture::new();
    fixture.system_file("[app]\ninterval_ms = 100\n\n[app.nested]\n# deep\ndepth = 12\n");
    assert_contains(
        &fixture.redact(&fixture.error()),
        &["app.nested.depth = 12 (from TMP/etc/demo/demo.toml:6): must be at most 10"],
    );
}

#[test]
fn keys_of_inline_tables_and_array_elements_are_reported_with_their_lines() {
    let mut fixture = Fixture::new();
    fixture.config_file("args = [\n  \"-v\",\n  7,\n]\n\nplatform.wos = { runtime = \"wasmtime\", priority = 9 }\n");
    let error = fixture.redact(&fixture.error());
    assert_contains(
        &error,
        &[
            "args[1] = 7 (from TMP/extra/given.toml:3): must be a string, found an integer",
            "platform.wos.priority = 9 (from TMP/extra/given.toml:6): must be an integer between 0 (critical) and 7 (idle)",
        ],
    );
}

#[test]
fn the_line_is_that_of_the_file_the_value_came_from() {
    let mut fixture = Fixture::new();
    fixture.system_file("\n\n[resources]\ncpu_shares = 1\n");
    fixture.config_file("resources.cpu_shares = 0\n");
    assert_contains(
        &fixture.redact(&fixture.error()),
        &["resources.cpu_shares = 0 (from TMP/extra/given.toml:1): must be an integer between 1 and 10000"],
    );
}

#[test]
fn environment_variables_and_flags_are_named_as_sources() {
    let mut fixture = Fixture::new();
    fixture.env("DEMO_RESOURCES__CPU_SHARES", "0").set("health_check.retries=0");
    assert_eq!(
        fixture.error(),
        "invalid configuration (2 problems):\n  \
         - resources.cpu_shares = 0 (from environment variable DEMO_RESOURCES__CPU_SHARES): must be an integer \
         between 1 and 10000\n  \
         - health_check.retries = 0 (from --set health_check.retries=0): must be an integer between 1 and 100"
    );
}

#[test]
fn a_bad_built_in_value_is_named_as_a_default() {
    let mut fixture = Fixture::new();
    fixture.sources.version = "1.0\n2".into();
    assert_contains(&fixture.error(), &["version = \"1.0\\n2\" (from built-in default): must be one line of text"]);
}

#[test]
fn an_unknown_key_lists_the_valid_keys_and_suggests_the_closest() {
    let fixture = Fixture::new();
    fixture.system_file("shutdown_timout = \"5s\"\n[resources]\ncpu_sharez = 5\n");
    let error = fixture.redact(&fixture.error());
    assert_contains(
        &error,
        &[
            "shutdown_timout = \"5s\" (from TMP/etc/demo/demo.toml:1): unknown key; did you mean `shutdown_timeout`? \
             valid top-level keys: name, version, description, binary_path, args, env, user, group, working_dir, \
             log_level, resources, hardening, health_check, metrics, restart, backoff, shutdown_timeout, platform, \
             app",
            "resources.cpu_sharez = 5 (from TMP/etc/demo/demo.toml:3): unknown key; did you mean `cpu_shares`? valid \
             keys in [resources]: memory_bytes, ",
        ],
    );
}

#[test]
fn an_unknown_key_far_from_any_valid_one_has_no_suggestion() {
    let mut fixture = Fixture::new();
    fixture.set("backoff.something_else=1");
    let error = fixture.error();
    assert_contains(
        &error,
        &[
            "backoff.something_else = 1 (from --set backoff.something_else=1): unknown key; valid keys in [backoff]: initial, max, multiplier, jitter",
        ],
    );
    assert!(!error.contains("did you mean"), "{error}");
}

#[test]
fn an_unknown_table_is_reported_at_its_header() {
    let fixture = Fixture::new();
    fixture.system_file("name = \"demo\"\n[resource]\ncpu_shares = 5\n");
    assert_contains(
        &fixture.redact(&fixture.error()),
        &["resource (from TMP/etc/demo/demo.toml:2): unknown key; did you mean `resources`?"],
    );
}

#[test]
fn the_app_section_of_a_daemon_without_settings_takes_no_keys() {
    let mut fixture = Fixture::new();
    fixture.env("DEMO_APP__INTERVAL_MS", "5");
    let Err(error) = load::<NoConfig>(&fixture.sources, |_| Ok(())) else { panic!("expected an error") };
    assert_eq!(
        error.to_string(),
        "invalid configuration (1 problem):\n  - app.interval_ms = 5 (from environment variable \
         DEMO_APP__INTERVAL_MS): unknown key; [app] takes no keys"
    );
}

#[test]
fn an_unknown_key_in_the_app_section_suggests_the_closest() {
    let mut fixture = Fixture::new();
    fixture.set("app.intervl_ms=50");
    assert_contains(
        &fixture.error(),
        &[
            "app.intervl_ms = 50 (from --set app.intervl_ms=50): unknown key; did you mean `interval_ms`? valid keys in \
           [app]: interval_ms, label, nested",
        ],
    );
}

#[test]
fn wrong_types_say_what_is_allowed_and_what_was_found() {
    let fixture = Fixture::new();
    fixture.system_file(
        "args = \"-v\"\nresources = 5\n[health_check]\nenabled = \"yes\"\nretries = \"three\"\ninterval = 1.5\n",
    );
    let error = fixture.redact(&fixture.error());
    assert_contains(
        &error,
        &[
            "invalid configuration (5 problems):",
            "args = \"-v\" (from TMP/etc/demo/demo.toml:1): must be an array of strings without NUL characters, found a \
             string",
            "resources = 5 (from TMP/etc/demo/demo.toml:2): must be a table, found an integer",
            "health_check.enabled = \"yes\" (from TMP/etc/demo/demo.toml:4): must be true or false, found a string",
            "health_check.retries = \"three\" (from TMP/etc/demo/demo.toml:5): must be an integer between 1 and 100, \
             found a string",
            "health_check.interval = 1.5 (from TMP/etc/demo/demo.toml:6): must be a duration greater than 0, such as \
             \"30s\", found a float",
        ],
    );
}

#[test]
fn a_bad_value_in_the_app_section_says_what_the_daemon_allows() {
    let mut fixture = Fixture::new();
    fixture.set("app.interval_ms=-5").set("app.nested=[1]");
    let error = fixture.error();
    // The daemon's own range (its `validate`), not the range of `u64`.
    assert_contains(
        &error,
        &[
            "app.interval_ms = -5 (from --set app.interval_ms=-5): must be an integer between 10 and 60000",
            "app.nested = [1] (from --set app.nested=[1]): must be a table, found an array",
        ],
    );
    let mut fixture = Fixture::new();
    fixture.set("app.interval_ms=").set("app.nested.depth=deep");
    assert_contains(
        &fixture.error(),
        &[
            "app.interval_ms = \"\" (from --set app.interval_ms=): must be an integer between 10 and 60000, found a \
             string",
            "app.nested.depth = \"deep\" (from --set app.nested.depth=deep): must be an integer, at most 10, found a \
             string",
        ],
    );
    // A rule at one end of the type only: the daemon's words for it.
    let mut fixture = Fixture::new();
    fixture.set("app.nested.depth=-1");
    assert_contains(
        &fixture.error(),
        &["app.nested.depth = -1 (from --set app.nested.depth=-1): must be an integer, at most 10"],
    );
}

#[test]
fn out_of_range_integers_are_refused_with_the_valid_range() {
    let mut fixture = Fixture::new();
    fixture.set("platform.pepita.vcpus=4294967296").set("resources.pids_max=-1").set("platform.wos.priority=256");
    let error = fixture.error();
    assert_contains(
        &error,
        &[
            "invalid configuration (3 problems):",
            "resources.pids_max = -1 (from --set resources.pids_max=-1): must be an integer of at least 1",
            "platform.pepita.vcpus = 4294967296 (from --set platform.pepita.vcpus=4294967296): must be an integer between 1 \
             and 64",
            "platform.wos.priority = 256 (from --set platform.wos.priority=256): must be an integer between 0 (critical) and 7",
        ],
    );
}

#[test]
fn nan_and_infinities_are_refused() {
    for (key, value) in [
        ("resources.cpu_quota_percent", "nan"),
        ("resources.cpu_quota_percent", "inf"),
        ("resources.cpu_quota_percent", "-inf"),
        ("backoff.multiplier", "nan"),
        ("backoff.multiplier", "+inf"),
        ("backoff.jitter", "nan"),
        ("backoff.jitter", "inf"),
    ] {
        let fixture = Fixture::new();
        fixture.system_file(&format!("{key} = {value}\n"));
        let error = fixture.redact(&fixture.error());
        let shown = value.trim_start_matches('+');
        assert_contains(
            &error,
            &[&format!("{key} = {shown} (from TMP/etc/demo/demo.toml:1): must be a finite number")],
        );
    }
}

#[test]
fn a_file_that_is_not_toml_is_reported_with_line_and_column() {
    let fixture = Fixture::new();
    fixture.system_file("name = \"demo\"\n[resources\ncpu_shares = 5\n");
    let error = fixture.redact(&fixture.error());
    assert!(
        error.starts_with("invalid configuration (1 problem):\n  - TMP/etc/demo/demo.toml:2:11: invalid TOML: "),
        "{error}"
    );
    assert_eq!(error.lines().count(), 2, "{error}");
}

#[test]
fn a_key_defined_twice_in_a_file_is_a_toml_error() {
    let fixture = Fixture::new();
    fixture.system_file("log_level = \"warn\"\nlog_level = \"info\"\n");
    let error = fixture.redact(&fixture.error());
    assert_contains(&error, &["TMP/etc/demo/demo.toml:2:1: invalid TOML: duplicate key"]);
}

#[test]
fn every_problem_of_every_source_is_listed_at_once() {
    let mut fixture = Fixture::new();
    fixture.system_file("shutdown_timeout = \"0s\"\nrestart = \"sometimes\"\n");
    fixture.config_file("not toml at all\n");
    fixture.env("DEMO_RESOURCES__CPU_SHARES", "0").set("oops").set("app.interval_ms=1");
    let error = fixture.redact(&fixture.error());
    let listed: Vec<&str> = error.lines().collect();
    assert_eq!(listed.len(), 7, "{error}");
    assert_eq!(listed[0], "invalid configuration (6 problems):");
    // Whole sources first, then keys in the order of the settings.
    assert!(listed[1].starts_with("  - TMP/extra/given.toml:1:5: invalid TOML: "), "{error}");
    assert!(listed[2].starts_with("  - --set oops: "), "{error}");
    assert!(listed[3].starts_with("  - resources.cpu_shares = 0 "), "{error}");
    assert!(
        listed[4].starts_with("  - restart = \"sometimes\" (from TMP/etc/demo/demo.toml:2): must be one of"),
        "{error}"
    );
    assert!(listed[5].starts_with("  - shutdown_timeout = \"0s\" (from TMP/etc/demo/demo.toml:1): "), "{error}");
    assert!(listed[6].starts_with("  - app.interval_ms = 1 (from --set app.interval_ms=1): "), "{error}");
}

#[test]
fn problems_are_available_one_by_one() {
    let mut fixture = Fixture::new();
    fixture.set("platform.pepita.vsock_cid=2");
    let Err(error) = fixture.load() else { panic!("expected an error") };
    assert_eq!(
        error.problems(),
        [Problem {
            key: Some("platform.pepita.vsock_cid".into()),
            value: Some("2".into()),
            origin: Some("--set platform.pepita.vsock_cid=2".into()),
            message: "must be 0 (pick one) or an integer between 3 and 4294967294".into(),
            fix: Some("change `--set platform.pepita.vsock_cid=2` to a value allowed above, or leave it out".into()),
        }]
    );
}
