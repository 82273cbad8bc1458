use std::path::Path;

use super::*;
use crate::platform::plan;
use crate::platform::wos::{cpu_weight, engine_command, nice};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/platform/wos/golden");

fn plain() -> Manifest {
    Manifest {
        name: "counter".into(),
        module: "/var/lib/counter/wos/counter.wasm".into(),
        digest: digest_of(b"\0asm\x01\0\0\0"),
        priority: 4,
        args: vec!["--config".into(), "/etc/counter/counter.toml".into(), "run".into()],
        capabilities: vec!["fs:read:/etc/counter".into()],
        memory_bytes: None,
        shutdown_timeout_ms: 30_000,
        wasmtime: Some("/usr/local/bin/wasmtime".into()),
        env: BTreeMap::new(),
    }
}

/// Values that would break a hand-written format: quotes, newlines, a fake table, TOML syntax,
/// non-ASCII, a path with spaces and quotes.
fn nasty() -> Manifest {
    Manifest {
        name: "demo".into(),
        module: "/srv/my \"mods\"/demo\n.wasm".into(),
        digest: digest_of(b"demo"),
        priority: 0,
        args: vec![
            "--set".into(),
            "app.label=\"x\"\n[env]\nEVIL = \"1\"".into(),
            "run".into(),
            "--".into(),
            "a b".into(),
        ],
        capabilities: vec![
            "fs:write:/var/lib/demo data".into(),
            "fs:read:/etc/dé'mo".into(),
            "net:listen:[::1]:8080".into(),
            "net:connect:10.0.0.1:5432".into(),
        ],
        memory_bytes: Some(64 * 1024 * 1024),
        shutdown_timeout_ms: 1500,
        wasmtime: None,
        env: [
            ("DEMO_GREETING".to_owned(), "hello\"\n[capabilities]\nx = 1".to_owned()),
            ("RUST_LOG".to_owned(), "info,duende=debug".to_owned()),
            ("WEIRD KEY".to_owned(), "'\\'".to_owned()),
        ]
        .into_iter()
        .collect(),
    }
}

fn golden(case: &str, text: &str) {
    crate::golden::check(&Path::new(GOLDEN).join(case), text, "cargo test -p duende-runtime platform::wos");
}

#[test]
fn manifests_match_their_golden_files_and_read_back_as_written() {
    let record = plan::Manifest { files: vec!["/var/lib/counter/wos/counter.wasm".into()], dirs: vec![] }.render();
    for (case, manifest, record) in [("plain.toml", plain(), record.as_str()), ("nasty.toml", nasty(), "")] {
        assert!(manifest.problems().is_empty(), "{case}: {:?}", manifest.problems());
        let text = render(&manifest, record).unwrap();
        golden(case, &text);
        // The format's own parser, then ours: the same values, every one.
        let value: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(value["name"].as_str(), Some(manifest.name.as_str()));
        assert_eq!(parse(&text, Path::new(case)).unwrap(), manifest, "{case} round-trips");
        assert!(text.starts_with(MARKER));
    }
}

#[test]
fn hostile_values_add_no_key() {
    let text = render(&nasty(), "").unwrap();
    let value: toml::Table = toml::from_str(&text).unwrap();
    let keys: Vec<&str> = value.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["args", "capabilities", "digest", "env", "memory_bytes", "module", "name", "priority", "shutdown_timeout_ms"]
    );
    assert_eq!(value["env"].as_table().map(toml::Table::len), Some(3));
}

#[test]
fn every_broken_rule_is_named_with_its_key_and_the_fix() {
    let text = render(&plain(), "").unwrap();
    let broken = text
        .replace("name = \"counter\"", "name = \"Counter!\"")
        .replace("module = \"/var/lib", "module = \"var/lib")
        .replace("priority = 4", "priority = 9")
        .replace("\"fs:read:/etc/counter\"", "\"fs:read:etc\", \"net:listen:nowhere\"")
        .replace("shutdown_timeout_ms = 30000", "shutdown_timeout_ms = 0\nmemory_bytes = 100");
    let broken = broken.replace(&plain().digest, "sha256:ABC");
    let err = parse(&broken, Path::new("/x/counter.wos.toml")).unwrap_err();
    let ManifestError::Invalid { problems, .. } = &err else { panic!("{err}") };
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "name",
            "module",
            "digest",
            "priority",
            "capabilities[0]",
            "capabilities[1]",
            "memory_bytes",
            "shutdown_timeout_ms"
        ]
    );
    let message = err.to_string();
    for says in [
        "/x/counter.wos.toml",
        "`priority` must be between 0 (critical) and 7 (idle), found 9",
        "`digest` must be `sha256:` and 64 lowercase hex digits",
        "`capabilities[0]` = \"fs:read:etc\": \"etc\" is not an absolute path",
        "`module` must be an absolute path",
        "run `install --platform wos` again",
    ] {
        assert!(message.contains(says), "{says:?} in {message}");
    }
}

#[test]
fn syntax_and_unknown_keys_are_refused_with_the_file() {
    for text in ["name = ", "name = \"x\"\nmodule = \"/m\"\nextra = 1\n", "priority = \"high\""] {
        let err = parse(text, Path::new("/x/m.toml")).unwrap_err();
        assert!(matches!(err, ManifestError::Syntax { .. }), "{text:?}: {err}");
        assert!(err.to_string().contains("/x/m.toml"), "{err}");
    }
}

#[test]
fn the_engine_command_maps_each_capability_and_keeps_the_modules_arguments_last() {
    let command = engine_command(&nasty(), Path::new("/opt/wasmtime"));
    assert_eq!(command.program, "/opt/wasmtime");
    assert_eq!(
        command.args,
        [
            "run",
            "--dir",
            "/var/lib/demo data::/var/lib/demo data",
            "--dir",
            "/etc/dé'mo::/etc/dé'mo",
            "-S",
            "tcplisten=[::1]:8080",
            "--env",
            "DEMO_GREETING=hello\"\n[capabilities]\nx = 1",
            "--env",
            "RUST_LOG=info,duende=debug",
            "--env",
            "WEIRD KEY='\\'",
            "-W",
            "max-memory-size=67108864",
            "/srv/my \"mods\"/demo\n.wasm",
            "--set",
            "app.label=\"x\"\n[env]\nEVIL = \"1\"",
            "run",
            "--",
            "a b",
        ]
    );
}

#[test]
fn priority_maps_to_nice_and_cpu_weight_in_order() {
    let nices: Vec<i32> = (0..=7).map(nice).collect();
    let weights: Vec<u64> = (0..=7).map(cpu_weight).collect();
    assert_eq!(nices, [-15, -10, -5, -2, 0, 5, 10, 19]);
    assert_eq!(weights, [1000, 500, 200, 150, 100, 50, 20, 1]);
    assert!(nices.windows(2).all(|w| w[0] < w[1]) && weights.windows(2).all(|w| w[0] > w[1]));
    assert!(weights.iter().all(|w| (1..=10_000).contains(w)), "systemd's CPUWeight= range");
    assert_eq!((nice(4), cpu_weight(4)), (0, 100), "4 is the host's default");
}
