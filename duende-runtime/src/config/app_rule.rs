//! The daemon's own rule for a number in `[app]`, for the message of a value that is not even a
//! number of its type: `app.interval_ms = ""` must be told "between 10 and 60000", what the
//! daemon's `validate` allows, not "between 0 and 18446744073709551615", what `u64` holds.
//!
//! The rule is found by asking `validate` itself: the built-in `[app]` section with the key set
//! to each end of its type's range, and the daemon's message for the key when it refuses one.
//! A daemon that accepts both ends has no rule beyond its type, and the type's range is said.

use figment::value::{Dict, Num, Value};
use serde::de::DeserializeOwned;

use super::validate::Violation;

/// The daemon's message for `key` (a path inside `[app]`) whose type serde calls `expected`,
/// when its `validate` refuses a value that type holds; `app` is the built-in `[app]` section.
pub(super) fn rule<A: DeserializeOwned>(
    app: &Dict,
    key: &[String],
    expected: &str,
    validate_app: fn(&A) -> Result<(), Vec<Violation>>,
) -> Option<String> {
    let dotted = key.join(".");
    ends(expected)?.into_iter().find_map(|end| {
        let mut probe = app.clone();
        set(&mut probe, key, Value::from(end))?;
        let value: A = Value::from(probe).deserialize().ok()?;
        let violations = validate_app(&value).err()?;
        violations.into_iter().find(|violation| violation.key == dotted).map(|violation| violation.message)
    })
}

/// The ends of the range of the number type serde calls `expected`.
fn ends(expected: &str) -> Option<Vec<Num>> {
    Some(match expected {
        "u8" => vec![Num::U8(0), Num::U8(u8::MAX)],
        "u16" => vec![Num::U16(0), Num::U16(u16::MAX)],
        "u32" => vec![Num::U32(0), Num::U32(u32::MAX)],
        "u64" | "usize" => vec![Num::U64(0), Num::U64(u64::MAX)],
        "i8" => vec![Num::I8(i8::MIN), Num::I8(i8::MAX)],
        "i16" => vec![Num::I16(i16::MIN), Num::I16(i16::MAX)],
        "i32" => vec![Num::I32(i32::MIN), Num::I32(i32::MAX)],
        "i64" | "isize" => vec![Num::I64(i64::MIN), Num::I64(i64::MAX)],
        "f32" | "f64" => vec![Num::F64(f64::MIN), Num::F64(f64::MAX)],
        _ => return None,
    })
}

/// Sets the value at `key` inside `dict`, which must already have one there.
fn set(dict: &mut Dict, key: &[String], value: Value) -> Option<()> {
    let (last, parents) = key.split_last()?;
    let table = parents.iter().try_fold(dict, |table, segment| match table.get_mut(segment) {
        Some(Value::Dict(_, inner)) => Some(inner),
        _ => None,
    })?;
    let slot = table.get_mut(last)?;
    *slot = value;
    Some(())
}

/// The message for a value of the wrong type at a key whose daemon says `rule`: "must be an
/// integer between 10 and 60000" from "must be between 10 and 60000".
pub(super) fn message(kind: &str, rule: &str) -> String {
    match rule.strip_prefix("must be ") {
        Some(rest) if rest.starts_with("between ") => format!("must be {kind} {rest}"),
        Some(rest) => format!("must be {kind}, {rest}"),
        None => format!("must be {kind}; {rule}"),
    }
}

/// What a number type is called in a configuration file.
pub(super) fn kind(expected: &str) -> &'static str {
    if expected.starts_with('f') { "a number" } else { "an integer" }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct App {
        interval_ms: u64,
        level: i64,
        free: u32,
    }

    fn validate(app: &App) -> Result<(), Vec<Violation>> {
        let mut found = Vec::new();
        if !(10..=60_000).contains(&app.interval_ms) {
            found.push(Violation::new("interval_ms", "must be between 10 and 60000"));
        }
        if app.level < 0 {
            found.push(Violation::new("level", "must be 0 or more"));
        }
        if found.is_empty() { Ok(()) } else { Err(found) }
    }

    fn defaults() -> Dict {
        match Value::serialize(App { interval_ms: 1000, ..App::default() }) {
            Ok(Value::Dict(_, dict)) => dict,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_rule_is_the_one_validate_gives_at_an_end_of_the_type() {
        let key = |k: &str| vec![k.to_owned()];
        assert_eq!(
            rule(&defaults(), &key("interval_ms"), "u64", validate).as_deref(),
            Some("must be between 10 and 60000")
        );
        assert_eq!(rule(&defaults(), &key("level"), "i64", validate).as_deref(), Some("must be 0 or more"));
        assert_eq!(rule(&defaults(), &key("free"), "u32", validate), None, "validate allows every u32");
        assert_eq!(rule(&defaults(), &key("nope"), "u32", validate), None, "not a key of [app]");
        assert_eq!(rule(&defaults(), &key("free"), "a string", validate), None, "not a number");
    }

    #[test]
    fn the_message_names_the_kind_and_the_rule() {
        assert_eq!(message("an integer", "must be between 10 and 60000"), "must be an integer between 10 and 60000");
        assert_eq!(message("an integer", "must be 0 or more"), "must be an integer, 0 or more");
        assert_eq!(message("a number", "is too coarse"), "must be a number; is too coarse");
    }
}
