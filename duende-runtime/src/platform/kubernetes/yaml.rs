//! A tiny YAML emitter for the manifests: block mappings and sequences of our own keys, every
//! string a double-quoted scalar. No YAML crate, no serde: the shapes are ours and few.
//!
//! Why no value can become a key, a flag or a second document: a string is always written
//! between double quotes with [`quoted`]'s escapes, so a `:`, a `#`, a `-`, a newline or `---`
//! inside it stays inside it. The escapes are JSON's (`\"`, `\\`, `\n`, `\t`, `\r`, `\uXXXX`),
//! which YAML's double-quoted style shares, applied to more characters than JSON needs: YAML
//! parsers refuse DEL and the C1 controls (`U+0080`..`U+009F`) written raw, libyaml refuses a raw
//! byte-order mark (`U+FEFF`) and the non-characters `U+FFFE`/`U+FFFF`, and YAML 1.1 parsers
//! (PyYAML among them) read a raw `U+0085`, `U+2028` or `U+2029` as a line break and fold it into
//! a space. Every other character is written as it is, so readable text stays readable. Keys
//! are written plain only when they cannot be read as anything but the same string ([`key`]);
//! comments have their control characters replaced, so a comment ends where its line does.

use std::fmt::Write as _;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    /// A string: always double-quoted.
    Str(String),
    /// An integer.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// A block mapping (`{}` when empty).
    Map(Map),
    /// A block sequence (`[]` when empty).
    List(Vec<Value>),
}

/// A string value.
pub(super) fn s(text: impl Into<String>) -> Value {
    Value::Str(text.into())
}

/// A list of string values.
pub(super) fn strings<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Value {
    Value::List(items.into_iter().map(|item| Value::Str(item.into())).collect())
}

/// A block mapping whose entries keep the order they were added in, each with optional comment
/// lines written above it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Map {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    comments: Vec<String>,
    key: String,
    value: Value,
}

impl Map {
    /// An empty mapping.
    pub(super) fn new() -> Map {
        Map::default()
    }

    /// Adds `key: value`.
    #[must_use]
    pub(super) fn with(mut self, key: &str, value: impl Into<Value>) -> Map {
        self.set(key, value);
        self
    }

    /// Adds `key: value` with comment lines above it.
    #[must_use]
    pub(super) fn commented(mut self, comments: &[String], key: &str, value: impl Into<Value>) -> Map {
        self.set_commented(comments, key, value);
        self
    }

    /// Adds `key: value`.
    pub(super) fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.set_commented(&[], key, value);
    }

    /// Adds `key: value` with comment lines above it.
    pub(super) fn set_commented(&mut self, comments: &[String], key: &str, value: impl Into<Value>) {
        self.entries.push(Entry { comments: comments.to_vec(), key: key.to_owned(), value: value.into() });
    }

    /// True when it has no entries.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Value {
        Value::Map(map)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(items)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Value {
        Value::Int(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Value {
        Value::Bool(flag)
    }
}

/// One YAML document: `comments` as `#` lines, then `root`.
pub(super) fn document(comments: &[String], root: &Map) -> String {
    let mut out = String::new();
    for line in comments {
        comment(&mut out, 0, line);
    }
    mapping(&mut out, root, 0);
    out
}

/// `text` as a double-quoted YAML scalar (see the module doc for which characters are escaped).
pub(super) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters a YAML parser refuses or reads as a line break when written raw (all in the Basic
/// Multilingual Plane, so `\uXXXX` carries each).
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}')
}

/// `key` as written before its `:`: plain when it is a word of letters, digits and `._/-`
/// starting with a letter that no YAML 1.1 reader takes for a boolean or null, quoted otherwise.
pub(super) fn key(key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain { key.to_owned() } else { quoted(key) }
}

fn comment(out: &mut String, indent: usize, text: &str) {
    let text: String = text.chars().map(|c| if needs_escape(c) { ' ' } else { c }).collect();
    let _ = writeln!(out, "{:indent$}# {}", "", text.trim_end());
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Str(text) => Some(quoted(text)),
        Value::Int(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Map(map) if map.is_empty() => Some("{}".to_owned()),
        Value::List(items) if items.is_empty() => Some("[]".to_owned()),
        Value::Map(_) | Value::List(_) => None,
    }
}

fn mapping(out: &mut String, map: &Map, indent: usize) {
    for entry in &map.entries {
        for line in &entry.comments {
            comment(out, indent, line);
        }
        let _ = write!(out, "{:indent$}{}:", "", key(&entry.key));
        match (&entry.value, scalar(&entry.value)) {
            (_, Some(text)) => {
                let _ = writeln!(out, " {text}");
            }
            (Value::Map(inner), None) => {
                out.push('\n');
                mapping(out, inner, indent + 2);
            }
            (Value::List(items), None) => {
                out.push('\n');
                sequence(out, items, indent + 2);
            }
            (_, None) => {}
        }
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        match (item, scalar(item)) {
            (_, Some(text)) => {
                let _ = writeln!(out, "{:indent$}- {text}", "");
            }
            (Value::Map(inner), None) => {
                // The mapping's first line goes on the dash's line: `- key: value`.
                let mut nested = String::new();
                mapping(&mut nested, inner, indent + 2);
                let _ = write!(out, "{:indent$}- {}", "", &nested[indent + 2..]);
            }
            (Value::List(inner), None) => {
                let _ = writeln!(out, "{:indent$}-", "");
                sequence(out, inner, indent + 2);
            }
            (_, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_always_quoted_and_escaped() {
        assert_eq!(quoted("plain"), r#""plain""#);
        assert_eq!(quoted("a \"b\" \\ c"), r#""a \"b\" \\ c""#);
        assert_eq!(quoted("x\n---\ny: 1\t\r"), r#""x\n---\ny: 1\t\r""#);
        assert_eq!(quoted("\0\u{7}\u{7F}\u{85}\u{9F}"), r#""\u0000\u0007\u007F\u0085\u009F""#);
        assert_eq!(quoted("\u{2028}\u{2029}\u{FEFF}\u{FFFF}"), r#""\u2028\u2029\uFEFF\uFFFF""#);
        assert_eq!(quoted("héllo ✓ 🦀 $(x)"), "\"héllo ✓ 🦀 $(x)\"", "printable text stays readable");
    }

    #[test]
    fn keys_are_plain_only_when_nothing_else_can_be_read() {
        for plain in ["apiVersion", "app.kubernetes.io/name", "demo.toml", "my_key-2"] {
            assert_eq!(key(plain), plain);
        }
        for odd in ["on", "No", "TRUE", "null", "1st", "", "a b", "a: b", "-x", "#x"] {
            assert!(key(odd).starts_with('"'), "{odd}");
        }
    }

    #[test]
    fn nesting_comments_and_empty_collections() {
        let root = Map::new()
            .with("kind", s("ConfigMap"))
            .commented(&["why\nnot".to_owned()], "count", 3)
            .with("on", true)
            .with("empty", Map::new())
            .with("none", Vec::new())
            .with(
                "items",
                vec![s("a"), Value::Map(Map::new().with("name", s("b")).with("value", s("c"))), strings(["d", "e"])],
            );
        let text = document(&["header".to_owned()], &root);
        let expected = "# header\nkind: \"ConfigMap\"\n# why not\ncount: 3\n\"on\": true\nempty: {}\nnone: []\nitems:\n  - \
                        \"a\"\n  - name: \"b\"\n    value: \"c\"\n  -\n    - \"d\"\n    - \"e\"\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn what_is_written_reads_back_as_built() {
        let first_commented = Map::new().commented(&["first".to_owned()], "name", s("x")).with("n", -1);
        let root = Map::new()
            .with("items", vec![Value::Map(first_commented), s("y"), Value::Map(Map::new())])
            .with("on", s("off"))
            .with("a: b", s("#c"));
        let text = document(&[], &root);
        assert!(text.contains("  - # first\n    name: \"x\"\n"), "{text}");
        let parsed: serde_norway::Value = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let expected: serde_norway::Value =
            serde_norway::from_str(r##"{"items": [{"name": "x", "n": -1}, "y", {}], "on": "off", "a: b": "#c"}"##)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, expected);
    }
}
