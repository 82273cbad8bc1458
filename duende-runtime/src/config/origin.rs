//! Where a value came from, and how keys and values are written back as TOML.

use std::fmt;
use std::path::PathBuf;

use figment::value::{Dict, Value};
use figment::{Figment, Profile, Provider};

use super::layers::{KeyLines, LayerKind};

/// The source of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// `Settings::default()`.
    Default,
    /// A TOML file, with the line of the key when known.
    File { path: PathBuf, line: Option<usize> },
    /// An environment variable, by name.
    Env(String),
    /// A `--set` flag, as written.
    Flag(String),
}

impl Origin {
    /// The short form `config` prints after a value.
    pub(super) fn label(&self) -> String {
        match self {
            Origin::Default => "default".to_owned(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::File { path, line: Some(line) } => write!(f, "{}:{line}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => f.write_str(flag),
        }
    }
}

/// The merged values of one figment, with the metadata and file lines to trace each one back.
#[derive(Debug)]
pub(super) struct Provenance<'a> {
    figment: &'a Figment,
    root: Dict,
    files: &'a [KeyLines],
}

impl<'a> Provenance<'a> {
    pub(super) fn new(figment: &'a Figment, files: &'a [KeyLines]) -> Self {
        let root = figment.data().ok().and_then(|mut profiles| profiles.remove(&Profile::Default)).unwrap_or_default();
        Provenance { figment, root, files }
    }

    /// Every merged value.
    pub(super) fn root(&self) -> &Dict {
        &self.root
    }

    /// The merged value at `path`, as the layers gave it.
    pub(super) fn value(&self, path: &[String]) -> Option<&Value> {
        lookup(&self.root, path)
    }

    /// Where the value at `path` came from.
    pub(super) fn origin(&self, path: &[String]) -> Option<Origin> {
        let metadata = self.figment.get_metadata(self.value(path)?.tag())?;
        Some(match LayerKind::from_metadata(metadata)? {
            LayerKind::Default => Origin::Default,
            LayerKind::File(file) => {
                let line = self.files.iter().find(|lines| lines.path == file).and_then(|lines| lines.line(path));
                Origin::File { path: file, line }
            }
            LayerKind::Env(var) => Origin::Env(var),
            LayerKind::Flag(flag) => Origin::Flag(flag),
        })
    }

    /// `path` as written in TOML, with array elements as `[i]`: `env."A B"`, `args[2]`.
    pub(super) fn key_text(&self, path: &[String]) -> String {
        key_text(&self.root, path)
    }
}

/// The value at `path` in `root`; numeric segments index arrays.
pub(super) fn lookup<'v>(root: &'v Dict, path: &[String]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(root.get(first)?, |value, segment| match value {
        Value::Dict(_, dict) => dict.get(segment),
        Value::Array(_, items) => items.get(segment.parse::<usize>().ok()?),
        _ => None,
    })
}

/// `path` as a TOML key; segments that index an array in `root` are written `[i]`.
pub(super) fn key_text(root: &Dict, path: &[String]) -> String {
    let mut text = String::new();
    let mut current = None::<&Value>;
    for segment in path {
        let (next, in_array) = match current {
            None => (root.get(segment), false),
            Some(Value::Dict(_, dict)) => (dict.get(segment), false),
            Some(Value::Array(_, items)) => (segment.parse::<usize>().ok().and_then(|i| items.get(i)), true),
            Some(_) => (None, false),
        };
        if in_array {
            text.push_str(&format!("[{segment}]"));
        } else {
            if !text.is_empty() {
                text.push('.');
            }
            text.push_str(&key_segment(segment));
        }
        current = next;
    }
    text
}

/// A key segment, quoted unless it is a bare TOML key.
pub(super) fn key_segment(segment: &str) -> String {
    let bare = !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { segment.to_owned() } else { quote(segment) }
}

/// `text` as a one-line TOML basic string.
pub(super) fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `path` joined with `.`, without quoting (for looking up rules).
pub(super) fn dotted(path: &[String]) -> String {
    path.join(".")
}

/// `value` written as inline TOML; `None` for an absent optional value.
pub(super) fn toml_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(_, text) => quote(text),
        Value::Char(_, c) => quote(&c.to_string()),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, num) => {
            let num = *num;
            match (num.to_u128(), num.to_i128(), num.to_f64()) {
                (Some(n), _, _) => n.to_string(),
                (_, Some(n), _) => n.to_string(),
                (_, _, Some(f)) => toml::Value::Float(f).to_string(),
                _ => return None,
            }
        }
        Value::Empty(..) => return None,
        Value::Array(_, items) => {
            let items: Vec<String> = items.iter().map(|item| toml_text(item).unwrap_or_default()).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Dict(_, dict) if dict.is_empty() => "{}".to_owned(),
        Value::Dict(_, dict) => {
            let entries: Vec<String> = dict
                .iter()
                .filter_map(|(key, value)| Some(format!("{} = {}", key_segment(key), toml_text(value)?)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
    })
}
