//! Which layers are read, and in which order they override each other.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

#[test]
fn without_any_source_the_settings_are_the_defaults_with_name_and_version() {
    let fixture = Fixture::new();
    let expected = Settings::<App> { name: "demo".into(), version: "1.2.3".into(), ..Settings::default() };
    assert_eq!(fixture.settings(), expected);
}

#[test]
fn each_layer_overrides_the_one_below() {
    let mut fixture = Fixture::new();
    let shares = |fixture: &Fixture| fixture.settings().resources.cpu_shares;
    assert_eq!(shares(&fixture), None);

    fixture.system_file("description = \"from the file\"\n[resources]\ncpu_shares = 100\n");
    assert_eq!(shares(&fixture), Some(100));

    fixture.config_file("[resources]\ncpu_shares = 200\n");
    assert_eq!(shares(&fixture), Some(200));

    fixture.env("DEMO_RESOURCES__CPU_SHARES", "300");
    assert_eq!(shares(&fixture), Some(300));

    fixture.set("resources.cpu_shares=400");
    assert_eq!(shares(&fixture), Some(400));

    // Keys a higher layer leaves alone keep the lower layer's value.
    assert_eq!(fixture.settings().description, "from the file");
}

#[test]
fn tables_merge_key_by_key_across_layers() {
    let mut fixture = Fixture::new();
    fixture.system_file("[health_check]\nenabled = true\ninterval = \"5s\"\n");
    fixture.config_file("[health_check]\ntimeout = \"2s\"\n");
    fixture.env("DEMO_HEALTH_CHECK__RETRIES", "7");
    let health = fixture.settings().health_check;
    assert!(health.enabled);
    assert_eq!(health.interval, Duration::from_secs(5));
    assert_eq!(health.timeout, Duration::from_secs(2));
    assert_eq!(health.retries, 7);
}

#[test]
fn set_flags_apply_in_command_line_order() {
    let mut fixture = Fixture::new();
    fixture.set("log_level=warn").set("log_level=error");
    assert_eq!(fixture.settings().log_level, "error");
}

#[test]
fn environment_keys_nest_on_double_underscores() {
    let mut fixture = Fixture::new();
    fixture
        .env("DEMO_RESOURCES__LOCK_MEMORY", "true")
        .env("DEMO_APP__INTERVAL_MS", "50")
        .env("DEMO_APP__NESTED__DEPTH", "3")
        .env("DEMO_SHUTDOWN_TIMEOUT", "1m 30s")
        .env("DEMO_ARGS", "[\"-v\", \"--color=never\"]")
        .env("DEMO_ENV__RUST_LOG", "debug");
    let settings = fixture.settings();
    assert!(settings.resources.lock_memory);
    assert_eq!(settings.app.interval_ms, 50);
    assert_eq!(settings.app.nested.depth, 3);
    assert_eq!(settings.shutdown_timeout, Duration::from_secs(90));
    assert_eq!(settings.args, ["-v", "--color=never"]);
    // Keys of the `env` table are variable names and keep their case.
    assert_eq!(settings.env.get("RUST_LOG").map(String::as_str), Some("debug"));
}

#[test]
fn only_variables_with_the_prefix_are_read() {
    let mut fixture = Fixture::new();
    fixture.env("HOME", "/root").env("DEMOX_LOG_LEVEL", "nonsense").env("OTHER_LOG_LEVEL", "nonsense");
    fixture.env("demo_log_level", "nonsense");
    assert_eq!(fixture.settings().log_level, "info");
}

#[test]
fn a_dash_in_the_name_is_an_underscore_in_the_prefix() {
    let mut fixture = Fixture::new();
    fixture.sources.name = "my-daemon".into();
    fixture.env("MY_DAEMON_LOG_LEVEL", "warn");
    assert_eq!(fixture.settings().log_level, "warn");
}

#[test]
fn values_are_toml_when_they_parse_and_text_otherwise() {
    let mut fixture = Fixture::new();
    fixture
        .set("description=hello world")
        .set("log_level=\"warn\"")
        .set("args=[\"a # b\"]")
        .set("platform.kubernetes.image=registry.example/demo:1.2")
        .env("DEMO_APP__LABEL", "");
    let settings = fixture.settings();
    assert_eq!(settings.description, "hello world");
    assert_eq!(settings.log_level, "warn");
    assert_eq!(settings.args, ["a # b"]);
    assert_eq!(settings.platform.kubernetes.image, "registry.example/demo:1.2");
    // An empty variable is the empty string, not "unset".
    assert_eq!(settings.app.label, "");
}

#[test]
fn text_that_reads_as_a_number_is_kept_as_text_where_a_string_is_expected() {
    let mut fixture = Fixture::new();
    fixture.env("DEMO_VERSION", "1.5").env("DEMO_USER", "1000").set("description=42").set("app.label=true");
    let settings = fixture.settings();
    assert_eq!(settings.version, "1.5");
    assert_eq!(settings.user.as_deref(), Some("1000"));
    assert_eq!(settings.description, "42");
    assert_eq!(settings.app.label, "true");
}

#[test]
fn the_system_file_is_read_by_root_even_when_a_user_file_exists() {
    let fixture = Fixture::root();
    fixture.system_file("description = \"system\"\n");
    fixture.user_file("description = \"user\"\n");
    assert_eq!(fixture.settings().description, "system");
    assert_eq!(fixture.sources.default_file(), fixture.dir.path().join("etc/demo/demo.toml"));
}

#[test]
fn other_users_read_their_own_file_when_it_exists() {
    let fixture = Fixture::new();
    fixture.system_file("description = \"system\"\n");
    fixture.user_file("description = \"user\"\n");
    assert_eq!(fixture.settings().description, "user");
    assert_eq!(fixture.sources.default_file(), fixture.dir.path().join("home/.config/demo/demo.toml"));
}

#[test]
fn other_users_without_a_file_of_their_own_read_the_system_file() {
    let fixture = Fixture::new();
    fixture.system_file("description = \"system\"\n");
    assert_eq!(fixture.settings().description, "system");
}

#[test]
fn xdg_config_home_wins_over_home_and_must_be_absolute() {
    let mut fixture = Fixture::new();
    fixture.user_file("description = \"home\"\n");
    fixture.write("xdg/demo/demo.toml", "description = \"xdg\"\n");
    fixture.sources.xdg_config_home = Some(fixture.dir.path().join("xdg"));
    assert_eq!(fixture.settings().description, "xdg");

    fixture.sources.xdg_config_home = Some(PathBuf::from("relative/xdg"));
    assert_eq!(fixture.settings().description, "home");
}

#[test]
fn the_system_directory_defaults_to_etc() {
    let sources = Sources { name: "demo".into(), euid: 0, ..Sources::default() };
    assert_eq!(sources.default_file(), PathBuf::from("/etc/demo/demo.toml"));
}

#[test]
fn a_missing_config_flag_file_is_an_error_naming_it() {
    let mut fixture = Fixture::new();
    fixture.sources.config_file = Some(fixture.dir.path().join("nowhere.toml"));
    let error = fixture.redact(&fixture.error());
    assert_contains(
        &error,
        &[
            "invalid configuration (1 problem):",
            "\n  - TMP/nowhere.toml: the --config file does not exist; check the path",
        ],
    );
}

#[test]
fn an_unreadable_file_at_the_default_location_is_an_error_naming_it() {
    let fixture = Fixture::root();
    std::fs::create_dir_all(fixture.dir.path().join("etc/demo/demo.toml")).expect("directory");
    let error = fixture.redact(&fixture.error());
    assert_contains(&error, &["TMP/etc/demo/demo.toml: cannot read the configuration file: "]);
}

#[test]
fn malformed_set_flags_are_errors_naming_the_flag() {
    for (flag, says) in [
        ("lock_memory", "--set lock_memory: no `=`; expected `--set key.path=value`"),
        ("=5", "--set =5: the key is empty"),
        (
            "resources..cpu_shares=5",
            "--set resources..cpu_shares=5: the key `resources..cpu_shares` has an empty segment",
        ),
        (".name=x", "--set .name=x: the key `.name` has an empty segment"),
        ("na me=x", "--set na me=x: the key `na me` has the segment `na me`"),
    ] {
        let mut fixture = Fixture::new();
        fixture.set(flag);
        assert_contains(&fixture.error(), &[says]);
    }
}

#[test]
fn malformed_environment_keys_are_errors_naming_the_variable() {
    let mut fixture = Fixture::new();
    fixture.env("DEMO_RESOURCES____CPU_SHARES", "5").env("DEMO_", "x");
    let error = fixture.error();
    assert_contains(
        &error,
        &[
            "invalid configuration (2 problems):",
            "environment variable DEMO_RESOURCES____CPU_SHARES: empty key segment; nested keys are separated by a \
             double underscore, such as `DEMO_RESOURCES__LOCK_MEMORY`",
            "environment variable DEMO_: empty key segment",
        ],
    );
}

#[test]
fn every_load_reads_the_files_again() {
    let fixture = Fixture::new();
    let path = fixture.system_file("log_level = \"warn\"\n");
    assert_eq!(fixture.settings().log_level, "warn");
    std::fs::write(&path, "log_level = \"debug\"\n").expect("rewrite");
    assert_eq!(fixture.settings().log_level, "debug");
}

#[test]
fn required_memory_locking_implies_locking() {
    let mut fixture = Fixture::new();
    fixture.set("resources.lock_memory_required=true");
    let resources = fixture.settings().resources;
    assert!(resources.lock_memory && resources.lock_memory_required);
}
