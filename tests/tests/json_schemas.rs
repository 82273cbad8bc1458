//! Every reporting command's `--json` (issue 16, item 3): standard output is one document that
//! names its schema and matches the JSON Schema the runtime ships (`duende-runtime/schemas/`),
//! checked by an independent validator (`duende_tests::schema`). The root suites check `status
//! --json` on each real platform the same way.

use std::path::Path;
use std::process::{Command, Output};

use duende_tests::Spawn;
use duende_tests::schema::check;
use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// The probe with `args`, under a home of its own, without any service manager's tools on PATH.
fn probe(home: &Path, args: &[&str]) -> Output {
    Command::new(PROBE)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("PATH", home.join("no-tools"))
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run the probe")
}

fn show_output(out: &Output) -> String {
    format!("{}\n--- stdout:\n{}--- stderr:\n{}", out.status, stdout(out), String::from_utf8_lossy(&out.stderr))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The document, checked: standard output is that one line and nothing else.
fn document(schema: &str, out: &Output) -> Value {
    let text = stdout(out);
    assert_eq!(text.lines().count(), 1, "{schema}: standard output must be one JSON line:\n{}", show_output(out));
    check(schema, &text)
}

#[test]
fn config_json_names_every_key_with_its_value_and_source() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("probe.toml");
    duende_tests::write_atomic(&file, "[app]\nlabel = \"from-file\"\n\n[resources]\nlock_memory_required = true\n");
    let out = probe(home.path(), &["config", "--json", "--config", file.to_str().unwrap(), "--set", "app.level=3"]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let doc = document("duende.config.v1", &out);
    let key = |name: &str| {
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(key("app.label")["value"], "from-file");
    assert_eq!(key("app.label")["source"], format!("{}:2", file.display()));
    assert_eq!(key("app.level")["value"], 3);
    assert_eq!(key("app.level")["source"], "--set app.level=3");
    assert_eq!(key("restart")["source"], "default");
    assert_eq!(key("resources.lock_memory")["source"], "implied by resources.lock_memory_required");
    let unset = key("resources.memory_bytes");
    assert!(unset["set"] == false && unset["value"].is_null() && unset["source"].is_null(), "{unset}");
    assert_eq!(doc["settings"]["app"]["label"], "from-file");
    assert_eq!(doc["files"].as_array().unwrap().iter().filter(|f| f["explicit"] == true).count(), 1, "{doc}");

    // An invalid configuration prints no document: the problems go to standard error, exit 78.
    let out = probe(home.path(), &["config", "--json", "--set", "app.level=-1"]);
    assert_eq!(out.status.code(), Some(78), "{}", show_output(&out));
    assert!(stdout(&out).is_empty(), "{}", show_output(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("app.level"), "{}", show_output(&out));
}

#[test]
fn check_json_carries_every_finding_and_the_exit_status() {
    let home = tempfile::tempdir().unwrap();
    let out = probe(home.path(), &["check", "--json", "--platform", "native"]);
    let doc = document("duende.check.v1", &out);
    assert_eq!(Some(doc["exit"].as_i64().unwrap() as i32), out.status.code(), "{doc}");
    assert_eq!(doc["platform"], "native");
    assert!(doc["detected"].is_null(), "--platform named it: {doc}");
    let findings = doc["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["text"].as_str().unwrap().contains("RLIMIT_MEMLOCK")), "{doc}");
    let problems = findings.iter().filter(|f| f["mark"] == "problem").count();
    assert_eq!(doc["problems"], problems, "{doc}");

    // A configuration problem: exit 78, said in the document, with its fix.
    let out = probe(home.path(), &["check", "--json", "--platform", "native", "--set", "app.level=-1"]);
    assert_eq!(out.status.code(), Some(78), "{}", show_output(&out));
    let doc = document("duende.check.v1", &out);
    assert_eq!(doc["exit"], 78);
    let problem = doc["findings"].as_array().unwrap().iter().find(|f| f["mark"] == "problem").cloned();
    let problem = problem.unwrap_or_else(|| panic!("no problem in {doc}"));
    assert!(problem["text"].as_str().unwrap().contains("app.level"), "{problem}");

    // Detection: the evidence is listed.
    let out = probe(home.path(), &["check", "--json"]);
    let doc = document("duende.check.v1", &out);
    assert!(doc["detected"].as_array().is_some_and(|evidence| !evidence.is_empty()), "{doc}");
}

#[test]
fn install_dry_run_json_lists_each_change_with_contents_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let out = probe(home.path(), &["install", "--platform", "kubernetes", "--user", "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let doc = document("duende.changes.v1", &out);
    assert_eq!((doc["dry_run"].clone(), doc["changed"].clone()), (Value::from(true), Value::from(false)), "{doc}");
    assert_eq!((doc["platform"].as_str(), doc["level"].as_str()), (Some("kubernetes"), Some("user")));
    let actions = doc["actions"].as_array().unwrap();
    let deployment =
        actions.iter().find(|a| a["kind"] == "write" && a["path"].as_str().unwrap().ends_with(".deployment.yaml"));
    let deployment = deployment.unwrap_or_else(|| panic!("no deployment in {doc}"));
    assert!(deployment["contents"].as_str().unwrap().contains("kind: \"Deployment\""), "{deployment}");
    assert!(actions.iter().any(|a| a["kind"] == "note"), "kubectl is absent, and a note says so: {doc}");
    let written: Vec<_> = std::fs::read_dir(home.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(written.is_empty(), "a dry run writes nothing: {written:?}");

    // The native platform, a user service: the supervisor's work is a `do` action.
    let out = probe(home.path(), &["install", "--platform", "native", "--user", "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show_output(&out));
    let doc = document("duende.changes.v1", &out);
    assert!(doc["actions"].as_array().unwrap().iter().any(|a| a["kind"] == "write"), "{doc}");
}

#[test]
fn status_json_matches_with_and_without_a_live_daemon() {
    // (`duende.status.v1`, what a service manager reports, is checked by the root suites on each
    // real platform: native.rs, systemd_install.rs, container.rs, pepita_install.rs, wos_install.rs.)
    let home = tempfile::tempdir().unwrap();
    // Nothing installed and nothing running: the socket asked, no answer, exit 69.
    let out = probe(home.path(), &["status", "--json", "--platform", "native", "--user"]);
    assert_eq!(out.status.code(), Some(69), "{}", show_output(&out));
    let doc = document("duende.live.v1", &out);
    assert!(doc["live"].is_null() && doc["socket"].as_str().is_some_and(|s| s.ends_with("control.sock")), "{doc}");

    // A daemon running in the foreground answers with its live state.
    let mut daemon = Spawn::new(PROBE).start();
    daemon.expect_line("ready");
    let out = Command::new(PROBE)
        .args(["status", "--json", "--platform", "native"])
        .env("RUNTIME_DIRECTORY", daemon.runtime_dir())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    // Nothing installed, nothing managing it: the daemon's own account, as duende.live.v1.
    let doc = document("duende.live.v1", &out);
    assert_eq!(doc["live"]["pid"], daemon.pid(), "{doc}");
    assert_eq!(doc["live"]["state"], "running", "{doc}");
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(), 0);
}

#[test]
fn a_document_that_breaks_its_schema_is_refused() {
    // The positive control for every check above: the validator refuses an unknown field, a
    // wrong type and a state that does not exist.
    let good = r#"{"schema":"duende.status.v1","platform":"native","level":"user","state":"stopped","pid":null,
        "detail":"","since":null,"restarts":null,"last_exit_status":null,"next_restart":null,"ready":false,
        "drift":[],"manager":{},"live":null}"#
        .replace('\n', "");
    check("duende.status.v1", &good);
    for (from, to) in [
        (r#""ready":false"#, r#""ready":false,"extra":1"#),
        (r#""pid":null"#, r#""pid":"42""#),
        (r#""state":"stopped""#, r#""state":"sleeping""#),
    ] {
        let bad = good.replace(from, to);
        let refused = std::panic::catch_unwind(|| check("duende.status.v1", &bad));
        assert!(refused.is_err(), "accepted: {bad}");
    }
}
