//! What is wrong with a configuration, said so that the operator can fix it: the key, its value,
//! where the value came from, and what is allowed.

use std::fmt;

use figment::error::{Actual, Kind};

use super::origin::{Origin, Provenance, dotted, toml_text};
pub use super::problem::Problem;
use super::validate;

/// Configuration that could not be loaded or is invalid; every problem found is listed, one a line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid configuration ({}):{}", count(.problems.len()), List(.problems))]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    /// The error listing `problems`: those of whole sources first, then by key in the order of
    /// the settings.
    pub(super) fn new(mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|problem| problem.key.as_deref().map_or(0, |key| 1 + validate::rank(key)));
        ConfigError { problems }
    }

    /// Every problem: unreadable sources first, then keys in the order of the settings.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

fn count(n: usize) -> String {
    if n == 1 { "1 problem".to_owned() } else { format!("{n} problems") }
}

struct List<'a>(&'a [Problem]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|problem| write!(f, "\n  - {problem}"))
    }
}

/// A problem with the key at `path`; value and origin are looked up.
pub(super) fn at(provenance: &Provenance<'_>, path: &[String], message: String) -> Problem {
    let value = provenance.value(path).and_then(|value| match value {
        figment::value::Value::Dict(..) => datetime(value).map(str::to_owned),
        other => toml_text(other).map(|text| shorten(&text)),
    });
    let key = provenance.key_text(path);
    let origin = provenance.origin(path);
    let fix = origin.as_ref().and_then(|origin| fix_at(origin, &key));
    Problem { key: Some(key), value, origin: origin.map(|origin| origin.to_string()), message, fix }
}

/// Where to correct `key`, which came from `origin`.
fn fix_at(origin: &Origin, key: &str) -> Option<String> {
    Some(match origin {
        Origin::File { path, line: Some(line) } => {
            format!("edit `{key}` on line {line} of {}: give it a value allowed above, or remove it", path.display())
        }
        Origin::File { path, line: None } => {
            format!("edit `{key}` in {}: give it a value allowed above, or remove it", path.display())
        }
        Origin::Env(var) => format!("change the environment variable {var} to a value allowed above, or unset it"),
        Origin::Flag(flag) => format!("change `{flag}` to a value allowed above, or leave it out"),
        Origin::Default => return None,
    })
}

/// The text of a TOML date or time, which reaches the settings as a table of one private key.
fn datetime(value: &figment::value::Value) -> Option<&str> {
    match value {
        figment::value::Value::Dict(_, dict) if dict.len() == 1 => {
            dict.get("$__toml_private_datetime").and_then(figment::value::Value::as_str)
        }
        _ => None,
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The problem a figment extraction error describes.
pub(super) fn from_figment(error: &figment::Error, provenance: &Provenance<'_>) -> Problem {
    let path = &error.path;
    let allowed = validate::allowed(&dotted(path));
    let must_be = |expected: &str| allowed.map_or_else(|| humanize(expected), str::to_owned);
    let message = match &error.kind {
        Kind::UnknownField(field, expected) => match provenance.origin(path) {
            Some(Origin::Env(var))
                if let Some(nested) =
                    nested_variable(&var, field, lookup_table(provenance, &path[..path.len().saturating_sub(1)])) =>
            {
                format!("unknown key; nested keys are separated by a double underscore: did you mean `{nested}`?")
            }
            _ => unknown_key(&path[..path.len().saturating_sub(1)], field, expected),
        },
        Kind::UnknownVariant(variant, expected) => {
            let valid = quoted_list(expected);
            match closest(variant, expected) {
                Some(close) => format!("must be one of {valid}; did you mean `{close}`?"),
                None => format!("must be one of {valid}"),
            }
        }
        Kind::MissingField(field) => {
            let mut full = path.clone();
            full.push(field.to_string());
            let message = "is required and has no default; set it in a file, the environment or with --set";
            return at(provenance, &full, message.to_owned());
        }
        Kind::InvalidType(actual, expected) => {
            let found = match provenance.value(path).and_then(datetime) {
                Some(_) => "a date-time",
                None => kind_of(actual),
            };
            format!("must be {}, found {found}", must_be(expected))
        }
        Kind::InvalidValue(_, expected) => format!("must be {}", must_be(expected)),
        Kind::InvalidLength(len, expected) => format!("must have {}, found {len} items", humanize(expected)),
        Kind::Message(message) => match allowed {
            Some(allowed) => format!("{message}; must be {allowed}"),
            None => message.clone(),
        },
        other => other.to_string(),
    };
    at(provenance, path, message)
}

/// The problem of a value at `path` that must be a table and is not.
pub(super) fn not_a_table(provenance: &Provenance<'_>, path: &[String]) -> Problem {
    let allowed = validate::allowed(&dotted(path)).unwrap_or("a table");
    let found = provenance.value(path).map_or("nothing", |value| kind_of(&value.to_actual()));
    at(provenance, path, format!("must be {allowed}, found {found}"))
}

/// The table at `path` among the merged values (the built-in defaults hold every key, the
/// daemon's `[app]` ones too).
fn lookup_table<'a>(provenance: &'a Provenance<'_>, path: &[String]) -> Option<&'a figment::value::Dict> {
    if path.is_empty() {
        return Some(provenance.root());
    }
    provenance.value(path).and_then(figment::value::Value::as_dict)
}

/// `var` (which set the unknown key `field` of `table`) spelt with double underscores where
/// `field` runs keys of nested tables together, when they name a key that exists (the last one
/// corrected when it is a near miss): `PROBE_RESOURCES_CPU_SHARES` →
/// `PROBE_RESOURCES__CPU_SHARES`, `COUNTER_APP_INTERVAL_MS` → `COUNTER_APP__INTERVAL_MS`.
fn nested_variable(var: &str, field: &str, table: Option<&figment::value::Dict>) -> Option<String> {
    let lower = var.to_ascii_lowercase();
    // Where `field` is a whole segment of the variable: after `_`, before `__` or the end.
    let (at, _) = lower.match_indices(field).find(|(at, _)| {
        let after = &lower[at + field.len()..];
        lower[..*at].ends_with('_') && (after.is_empty() || after.starts_with("__"))
    })?;
    let end = at + field.len();
    let keys = split_keys(field, table?, end == var.len())?.join("__");
    let keys = if var[at..end].chars().any(|c| c.is_ascii_lowercase()) { keys } else { keys.to_ascii_uppercase() };
    Some(format!("{}{keys}{}", &var[..at], &var[end..]))
}

/// `field`, keys of nested tables joined by single underscores, split into those keys of `table`:
/// `app_interval_ms` → `app`, `interval_ms`. The last key may be a near miss of a real one (it is
/// corrected) when it is a value (`leaf`); otherwise it must be a table.
fn split_keys(field: &str, table: &figment::value::Dict, leaf: bool) -> Option<Vec<String>> {
    use figment::value::Value;
    table.iter().find_map(|(key, value)| {
        let rest = field.strip_prefix(key.as_str())?.strip_prefix('_').filter(|rest| !rest.is_empty())?;
        let Value::Dict(_, inner) = value else { return None };
        let fits = |found: &Value| leaf || matches!(found, Value::Dict(..));
        if inner.get(rest).is_some_and(fits) {
            return Some(vec![key.clone(), rest.to_owned()]);
        }
        if let Some(mut deeper) = split_keys(rest, inner, leaf) {
            deeper.insert(0, key.clone());
            return Some(deeper);
        }
        let names: Vec<&str> = inner.iter().filter(|(_, found)| fits(found)).map(|(name, _)| name.as_str()).collect();
        closest(rest, &names).map(|close| vec![key.clone(), close.to_owned()])
    })
}

fn unknown_key(table: &[String], field: &str, expected: &[&str]) -> String {
    let scope = if table.is_empty() { "top-level keys".to_owned() } else { format!("keys in [{}]", dotted(table)) };
    if expected.is_empty() {
        let table = if table.is_empty() { "the configuration".to_owned() } else { format!("[{}]", dotted(table)) };
        return format!("unknown key; {table} takes no keys");
    }
    let valid = expected.join(", ");
    match closest(field, expected) {
        Some(close) => format!("unknown key; did you mean `{close}`? valid {scope}: {valid}"),
        None => format!("unknown key; valid {scope}: {valid}"),
    }
}

/// The candidate nearest to `word` by edit distance, when it is near enough to be a typo.
pub(super) fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(&word, &candidate.to_ascii_lowercase()), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn quoted_list(items: &[&str]) -> String {
    items.iter().map(|item| format!("`{item}`")).collect::<Vec<_>>().join(", ")
}

/// A serde expectation ("u32", "a sequence") in the words of a configuration file.
fn humanize(expected: &str) -> String {
    let unsigned = |max: u128| format!("an integer between 0 and {max}");
    let signed = |min: i128, max: i128| format!("an integer between {min} and {max}");
    match expected {
        "u8" => unsigned(u8::MAX.into()),
        "u16" => unsigned(u16::MAX.into()),
        "u32" => unsigned(u32::MAX.into()),
        "u64" | "usize" => unsigned(u64::MAX.into()),
        "u128" => unsigned(u128::MAX),
        "i8" => signed(i8::MIN.into(), i8::MAX.into()),
        "i16" => signed(i16::MIN.into(), i16::MAX.into()),
        "i32" => signed(i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => signed(i64::MIN.into(), i64::MAX.into()),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "a table".to_owned(),
        "a borrowed string" => "a string".to_owned(),
        "path string" => "a path".to_owned(),
        "a character" | "a char" => "a single character".to_owned(),
        other if other.starts_with("struct ") => "a table".to_owned(),
        other if other.starts_with("enum ") => "a string".to_owned(),
        other => other.to_owned(),
    }
}

pub(super) fn kind_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Seq => "an array",
        Actual::Map => "a table",
        Actual::Unit | Actual::Option => "nothing",
        _ => "a value of another type",
    }
}
