//! `my-daemon config`: every effective value, one line each, with where it came from.

use std::collections::BTreeMap;

use figment::value::{Dict, Value};
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::layers::{FileNote, FileState, KeyPath};
use super::origin::{Provenance, key_text, lookup, toml_text};

/// Comments line up at this column unless a line is longer.
const COMMENT_COLUMN: usize = 40;

/// The key order of a serialized value: struct fields in declaration order, map entries in map
/// order.
#[derive(Debug)]
enum Shape {
    Leaf,
    Table(Vec<(String, Shape)>),
}

impl Shape {
    /// The order `value` serializes its fields in, read back from JSON text (which keeps it).
    fn of<T: Serialize>(value: &T) -> Option<Shape> {
        serde_json::from_str(&serde_json::to_string(value).ok()?).ok()
    }

    /// Key order of a figment value (sorted), for when JSON cannot represent the settings.
    fn sorted(value: &Value) -> Shape {
        match value {
            Value::Dict(_, dict) if !dict.is_empty() => {
                Shape::Table(dict.iter().map(|(key, value)| (key.clone(), Shape::sorted(value))).collect())
            }
            _ => Shape::Leaf,
        }
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Shape, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::Leaf)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Shape, M::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value::<Shape>()?));
        }
        Ok(if entries.is_empty() { Shape::Leaf } else { Shape::Table(entries) })
    }
}

/// The `config` text for `settings`, whose layers `provenance` traces.
pub(super) fn render<S: Serialize>(
    settings: &S,
    provenance: &Provenance<'_>,
    notes: &BTreeMap<KeyPath, String>,
    files: &[FileNote],
    refused: &[KeyPath],
) -> String {
    let effective = match Value::serialize(settings) {
        Ok(Value::Dict(_, dict)) => dict,
        _ => return String::from("# the effective configuration cannot be shown\n"),
    };
    let shape = Shape::of(settings).unwrap_or_else(|| Shape::sorted(&Value::from(effective.clone())));
    let mut lines = Vec::new();
    if let Shape::Table(entries) = &shape {
        leaves(entries, &mut Vec::new(), &mut lines);
    }

    let mut out = String::new();
    for file in files {
        let role = if file.explicit { "--config file" } else { "configuration file" };
        let state = match file.state {
            FileState::Read => "",
            FileState::Missing => " (not found)",
            FileState::Refused => " (not read: see the problems below)",
        };
        out.push_str(&format!("# {role}: {}{state}\n", file.path.display()));
    }
    let mut previous_section: Option<(&str, bool)> = None;
    for path in &lines {
        let section = path.first().map_or("", String::as_str);
        let is_table = path.len() > 1;
        if let Some((previous, was_table)) = previous_section
            && previous != section
            && (is_table || was_table)
        {
            out.push('\n');
        }
        previous_section = Some((section, is_table));
        if refused.iter().any(|bad| path.starts_with(bad)) {
            out.push_str(&format!("# {}: refused (see the problems below)", key_text(&effective, path)));
        } else {
            out.push_str(&line(&effective, path, provenance, notes));
        }
        out.push('\n');
    }
    out
}

/// The `config --json` document for `settings` (schema `duende.config.v1`, README "JSON
/// output"): the configuration files, the effective settings, and every key with its value and
/// source, in the order of the text.
pub(super) fn render_json<S: Serialize>(
    name: &str,
    settings: &S,
    provenance: &Provenance<'_>,
    notes: &BTreeMap<KeyPath, String>,
    files: &[FileNote],
) -> serde_json::Value {
    use serde_json::json;
    let effective = match Value::serialize(settings) {
        Ok(Value::Dict(_, dict)) => dict,
        _ => Dict::new(),
    };
    let shape = Shape::of(settings).unwrap_or_else(|| Shape::sorted(&Value::from(effective.clone())));
    let mut lines = Vec::new();
    if let Shape::Table(entries) = &shape {
        leaves(entries, &mut Vec::new(), &mut lines);
    }
    let keys: Vec<serde_json::Value> = lines
        .iter()
        .map(|path| {
            let value = lookup(&effective, path).filter(|value| toml_text(value).is_some());
            let source = match (value, notes.get(path)) {
                (None, _) => None,
                (Some(_), Some(note)) => Some(note.clone()),
                (Some(_), None) => {
                    Some(provenance.origin(path).map_or_else(|| "default".to_owned(), |origin| origin.label()))
                }
            };
            json!({
                "key": key_text(&effective, path),
                "set": value.is_some(),
                "value": value.and_then(|value| serde_json::to_value(value).ok()),
                "source": source,
            })
        })
        .collect();
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|file| json!({ "path": file.path.display().to_string(), "explicit": file.explicit, "read": file.state == FileState::Read }))
        .collect();
    json!({
        "schema": crate::schema::CONFIG,
        "name": name,
        "files": files,
        "settings": serde_json::to_value(settings).unwrap_or(serde_json::Value::Null),
        "keys": keys,
    })
}

fn leaves(entries: &[(String, Shape)], path: &mut KeyPath, out: &mut Vec<KeyPath>) {
    for (key, shape) in entries {
        path.push(key.clone());
        match shape {
            Shape::Leaf => out.push(path.clone()),
            Shape::Table(inner) => leaves(inner, path, out),
        }
        path.pop();
    }
}

fn line(effective: &Dict, path: &[String], provenance: &Provenance<'_>, notes: &BTreeMap<KeyPath, String>) -> String {
    let key = key_text(effective, path);
    let Some(value) = lookup(effective, path).and_then(toml_text) else {
        return format!("# {key}: not set");
    };
    let source = match notes.get(path) {
        Some(note) => note.clone(),
        None => provenance.origin(path).map_or_else(|| "default".to_owned(), |origin| origin.label()),
    };
    let assignment = format!("{key} = {value}");
    let width = COMMENT_COLUMN.max(assignment.chars().count() + 2);
    format!("{assignment:<width$}# {source}")
}
