//! `--json` output checked against the JSON Schema documents the runtime ships
//! (`duende_runtime::schema`), with an independent validator (the `jsonschema` crate).

use serde_json::Value;

/// Parses `text` as one JSON document and checks it against the schema it names in its
/// `"schema"` field, which must be `expected`. Panics naming every violation; returns the value.
pub fn check(expected: &str, text: &str) -> Value {
    let value: Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("not one JSON document ({err}):\n{text}"));
    assert_eq!(value["schema"], Value::from(expected), "the document names another schema:\n{text}");
    let schema = duende_runtime::schema::text(expected).unwrap_or_else(|| panic!("no schema {expected}"));
    let schema: Value = serde_json::from_str(schema).unwrap_or_else(|err| panic!("schema {expected}: {err}"));
    let validator = jsonschema::draft202012::new(&schema).unwrap_or_else(|err| panic!("schema {expected}: {err}"));
    let problems: Vec<String> =
        validator.iter_errors(&value).map(|err| format!("  at {}: {err}", err.instance_path())).collect();
    assert!(problems.is_empty(), "{expected}: the output does not match its schema:\n{}\n{text}", problems.join("\n"));
    value
}

/// A `status --json` document: `duende.status.v1` where a service manager (or the native
/// supervisor) runs the installed service, `duende.live.v1` where nothing is installed; checked
/// against the one it names, which must be one of the two.
pub fn status(text: &str) -> Value {
    let named = serde_json::from_str::<Value>(text.trim()).ok().and_then(|v| v["schema"].as_str().map(str::to_owned));
    match named.as_deref() {
        Some(schema @ ("duende.status.v1" | "duende.live.v1")) => check(schema, text),
        _ => panic!("not a status document (duende.status.v1 or duende.live.v1):\n{text}"),
    }
}
