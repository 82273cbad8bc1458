//! The JSON the reporting commands print (`status --json`, `check --json`, `config --json`,
//! `install --json`), each document naming its schema in a top-level `"schema"` field. `status
//! --json` prints [`STATUS`] where a service manager (or the native supervisor) is asked, and
//! [`LIVE`] where none is.
//!
//! The schemas are JSON Schema (draft 2020-12) files in `duende-runtime/schemas/`, shipped in
//! this crate ([`text`]), and the README's "JSON output" section documents them. A schema's
//! version changes only when a field is removed, renamed or changes meaning; fields may be added
//! within a version, so readers should ignore the ones they do not know. The test suite checks
//! real output of every command against these files (`tests/tests/json_schemas.rs` and the
//! platform suites), and the files refuse fields they do not describe, so an addition that is not
//! documented fails there.

use serde_json::{Value, json};

use crate::platform::engine::Applied;
use crate::platform::plan::Action;
use crate::platform::{Level, Platform};

/// `status --json`.
pub const STATUS: &str = "duende.status.v1";
/// `status --json` where no service manager is asked: a daemon run in the foreground, or the
/// daemon of a container asked from inside it; only its own account, through its control socket.
pub const LIVE: &str = "duende.live.v1";
/// `check --json`.
pub const CHECK: &str = "duende.check.v1";
/// `config --json`.
pub const CONFIG: &str = "duende.config.v1";
/// `install --json` (with or without `--dry-run`).
pub const CHANGES: &str = "duende.changes.v1";

/// Every schema: its name and the JSON Schema document.
pub const ALL: [(&str, &str); 5] = [
    (STATUS, include_str!("../schemas/duende.status.v1.json")),
    (LIVE, include_str!("../schemas/duende.live.v1.json")),
    (CHECK, include_str!("../schemas/duende.check.v1.json")),
    (CONFIG, include_str!("../schemas/duende.config.v1.json")),
    (CHANGES, include_str!("../schemas/duende.changes.v1.json")),
];

/// The JSON Schema document of the schema `name`, such as `duende.status.v1`.
pub fn text(name: &str) -> Option<&'static str> {
    ALL.iter().find(|(known, _)| *known == name).map(|(_, text)| *text)
}

/// The `install --json` document: what `applied` did (or would do) for the service `name` on
/// `platform` at `level`.
pub fn changes(name: &str, platform: Platform, level: Level, applied: &Applied) -> Value {
    let actions: Vec<Value> = applied
        .actions
        .iter()
        .map(|action| match action {
            Action::Write { path, contents } if applied.dry_run => {
                json!({ "kind": "write", "path": path.display().to_string(), "contents": contents })
            }
            Action::Write { path, .. } => json!({ "kind": "write", "path": path.display().to_string() }),
            Action::Remove { path } => json!({ "kind": "remove", "path": path.display().to_string() }),
            Action::Run(invocation) => json!({
                "kind": "run",
                "program": invocation.program,
                "args": invocation.args,
                "command": invocation.to_string(),
            }),
            Action::Do { planned, done } => json!({ "kind": "do", "planned": planned, "done": done }),
            Action::Note(note) => json!({ "kind": "note", "text": note }),
        })
        .collect();
    json!({
        "schema": CHANGES,
        "name": name,
        "platform": platform,
        "level": level,
        "dry_run": applied.dry_run,
        "changed": !applied.changes_nothing() && !applied.dry_run,
        "actions": actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `enum` of platform names in `value`, wherever it sits.
    fn platform_enums(value: &Value, out: &mut Vec<Vec<String>>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(names)) = map.get("enum")
                    && names.iter().any(|name| name == "systemd")
                {
                    out.push(names.iter().filter_map(|name| name.as_str().map(str::to_owned)).collect());
                }
                map.values().for_each(|inner| platform_enums(inner, out));
            }
            Value::Array(items) => items.iter().for_each(|inner| platform_enums(inner, out)),
            _ => {}
        }
    }

    #[test]
    fn each_schema_is_json_schema_named_as_its_documents_name_it() {
        for (name, text) in ALL {
            let schema: Value = serde_json::from_str(text).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
            assert_eq!(schema["$id"], format!("urn:duende:schema:{name}"), "{name}");
            assert_eq!(schema["properties"]["schema"]["const"], name, "{name}");
            assert_eq!(schema["additionalProperties"], false, "{name}: undocumented fields must fail the tests");
            assert!(schema["required"].as_array().is_some_and(|r| r.iter().any(|k| k == "schema")), "{name}");
        }
        assert_eq!(text(CHECK), Some(ALL[2].1));
        assert_eq!(text("duende.status.v0"), None);
    }

    #[test]
    fn every_platform_is_in_every_schema_that_names_platforms() {
        let mut platforms: Vec<String> = Platform::ALL.iter().map(|p| p.to_string()).collect();
        platforms.sort();
        let mut checked = 0;
        for (name, text) in ALL {
            let mut enums = Vec::new();
            platform_enums(&serde_json::from_str(text).unwrap(), &mut enums);
            for mut names in enums {
                names.sort();
                assert_eq!(names, platforms, "{name}: the platforms must be exactly duende::Platform::ALL");
                checked += 1;
            }
        }
        assert_eq!(checked, 4, "status, live, check and changes each name the platforms");
    }

    #[test]
    fn changes_names_each_action_kind() {
        use crate::platform::runner::Invocation;
        let applied = Applied {
            actions: vec![
                Action::Write { path: "/etc/a".into(), contents: "x".into() },
                Action::Remove { path: "/etc/b".into() },
                Action::Run(Invocation::new("systemctl", ["daemon-reload"])),
                Action::Do { planned: "start it".into(), done: "started it".into() },
                Action::Note("a note".into()),
            ],
            dry_run: false,
        };
        let doc = changes("demo", Platform::Systemd, Level::System, &applied);
        let kinds: Vec<&str> = doc["actions"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["write", "remove", "run", "do", "note"]);
        assert_eq!(doc["actions"][0].get("contents"), None, "contents only in a dry run");
        assert_eq!(doc["actions"][2]["command"], "systemctl daemon-reload");
        assert_eq!(doc["changed"], true);
        let dry = changes("demo", Platform::Systemd, Level::System, &Applied { dry_run: true, ..applied });
        assert_eq!(
            (dry["changed"].clone(), dry["actions"][0]["contents"].clone()),
            (Value::from(false), Value::from("x"))
        );
    }
}
