//! The layers of configuration, lowest to highest: built-in defaults, the system or user file,
//! `--config`, one layer per `NAME_*` environment variable, one per `--set` flag. Each layer is a
//! figment [`Provider`] whose metadata names exactly where its values came from.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider, Source};

use super::problem::Problem;
use super::sources::Sources;

/// A dotted key split into its segments (`["resources", "cpu_shares"]`).
pub(super) type KeyPath = Vec<String>;

const DEFAULT: &str = "built-in default";
const FILE: &str = "TOML file";
const ENV: &str = "environment variable";
const FLAG: &str = "command-line flag";

/// Where a layer's values came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LayerKind {
    /// `Settings::default()` with the name and version of the binary.
    Default,
    /// A TOML file.
    File(PathBuf),
    /// One environment variable, by name.
    Env(String),
    /// One `--set key=value` flag, as written.
    Flag(String),
}

impl LayerKind {
    fn metadata(&self) -> Metadata {
        match self {
            LayerKind::Default => Metadata::named(DEFAULT),
            LayerKind::File(path) => Metadata::named(FILE).source(Source::File(path.clone())),
            LayerKind::Env(var) => Metadata::named(ENV).source(Source::Custom(var.clone())),
            LayerKind::Flag(flag) => Metadata::named(FLAG).source(Source::Custom(flag.clone())),
        }
    }

    /// The kind a layer's metadata was made from.
    pub(super) fn from_metadata(metadata: &Metadata) -> Option<LayerKind> {
        match (metadata.name.as_ref(), &metadata.source) {
            (DEFAULT, _) => Some(LayerKind::Default),
            (FILE, Some(Source::File(path))) => Some(LayerKind::File(path.clone())),
            (ENV, Some(Source::Custom(var))) => Some(LayerKind::Env(var.clone())),
            (FLAG, Some(Source::Custom(flag))) => Some(LayerKind::Flag(flag.clone())),
            _ => None,
        }
    }
}

/// One layer: a table of values and where they came from.
#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub(super) kind: LayerKind,
    pub(super) dict: Dict,
    /// For an environment variable or `--set`: where its one value sits and the text as given,
    /// taken as a plain string when the text parsed as TOML has the wrong type (`version=1.2`).
    raw: Option<(KeyPath, String)>,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.kind.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

impl Layer {
    /// The built-in defaults.
    pub(super) fn defaults(dict: Dict) -> Layer {
        Layer { kind: LayerKind::Default, dict, raw: None }
    }

    /// One value at `path`, given as `text` (parsed as a TOML value when it parses).
    fn single(kind: LayerKind, path: KeyPath, text: &str) -> Layer {
        let dict = nest(&path, parse_text(text));
        Layer { kind, dict, raw: Some((path, text.to_owned())) }
    }
}

/// A configuration file that was looked for, and what became of it.
#[derive(Debug, Clone)]
pub(super) struct FileNote {
    pub(super) path: PathBuf,
    /// `--config` rather than the default location.
    pub(super) explicit: bool,
    pub(super) state: FileState,
}

/// What became of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileState {
    /// Read: its values are a layer.
    Read,
    /// Not there (the default location may be empty).
    Missing,
    /// There, but it could not be read or is not TOML: a problem says why.
    Refused,
}

/// The line of every key of one configuration file.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyLines {
    pub(super) path: PathBuf,
    lines: BTreeMap<KeyPath, usize>,
}

impl KeyLines {
    /// The line of `path`, or of the nearest enclosing key that has one.
    pub(super) fn line(&self, path: &[String]) -> Option<usize> {
        (1..=path.len()).rev().find_map(|n| self.lines.get(&path[..n]).copied())
    }
}

/// Every layer of one load, lowest first.
#[derive(Debug, Clone)]
pub(super) struct Stack {
    pub(super) layers: Vec<Layer>,
    pub(super) files: Vec<KeyLines>,
    pub(super) notes: Vec<FileNote>,
}

impl Stack {
    /// The built-in defaults, the lowest layer.
    pub(super) fn defaults(&self) -> Option<&Dict> {
        self.layers.iter().find(|layer| layer.kind == LayerKind::Default).map(|layer| &layer.dict)
    }

    /// Reads every layer above `defaults`; what cannot be read or parsed goes to `problems`.
    pub(super) fn read(sources: &Sources, defaults: Dict, problems: &mut Vec<Problem>) -> Stack {
        let mut stack = Stack { layers: vec![Layer::defaults(defaults)], files: Vec::new(), notes: Vec::new() };
        // An invalid name selects no file (it could name any path); the `name` rule reports it.
        if crate::name::validate(&sources.name).is_ok() {
            stack.file(&sources.default_file(), false, problems);
        }
        if let Some(path) = &sources.config_file {
            stack.file(path, true, problems);
        }
        stack.layers.extend(env_layers(&sources.name, &sources.env, problems));
        stack.layers.extend(sources.sets.iter().filter_map(|flag| set_layer(flag, problems)));
        stack
    }

    fn file(&mut self, path: &Path, explicit: bool, problems: &mut Vec<Problem>) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if !explicit && err.kind() == ErrorKind::NotFound => {
                self.notes.push(FileNote { path: path.to_owned(), explicit, state: FileState::Missing });
                return;
            }
            Err(err) => {
                let what = if explicit { "the --config file" } else { "the configuration file" };
                let message = match err.kind() {
                    ErrorKind::NotFound => format!("{what} does not exist; check the path"),
                    ErrorKind::InvalidData => {
                        format!("cannot read {what}: it is not UTF-8 text, and a TOML file must be")
                    }
                    _ => format!("cannot read {what}: {err}"),
                };
                problems.push(Problem::from_origin(path.display().to_string(), message));
                let state = if err.kind() == ErrorKind::NotFound { FileState::Missing } else { FileState::Refused };
                self.notes.push(FileNote { path: path.to_owned(), explicit, state });
                return;
            }
        };
        match toml::from_str::<Dict>(&text) {
            Ok(dict) => {
                self.notes.push(FileNote { path: path.to_owned(), explicit, state: FileState::Read });
                self.layers.push(Layer { kind: LayerKind::File(path.to_owned()), dict, raw: None });
                self.files.push(KeyLines { path: path.to_owned(), lines: key_lines(&text) });
            }
            Err(err) => {
                let at = err.span().and_then(|span| line_column(&text, span.start));
                let origin = match at {
                    Some((line, column)) => format!("{}:{line}:{column}", path.display()),
                    None => path.display().to_string(),
                };
                let mut message = format!("invalid TOML: {}", err.message().trim().replace('\n', "; "));
                let line = at.and_then(|(line, _)| text.lines().nth(line - 1));
                let hint = toml_hint(err.message(), line.unwrap_or_default());
                if let Some(hint) = &hint {
                    message = format!("{message}; {hint}");
                }
                let place = match at {
                    Some((line, column)) => format!("line {line}, column {column} of {}", path.display()),
                    None => path.display().to_string(),
                };
                let what = hint.unwrap_or_else(|| "correct the TOML there".to_owned());
                problems.push(Problem::from_origin(origin, message).with_fix(format!("edit {place}: {what}")));
                self.notes.push(FileNote { path: path.to_owned(), explicit, state: FileState::Refused });
            }
        }
    }
}

/// What to write instead, for the TOML mistakes people make most, given the parser's `message`
/// and the text of the line it points at: a key or a value left out, a string not closed, text
/// without quotes, an integer beyond TOML's range.
fn toml_hint(message: &str, line: &str) -> Option<String> {
    if message.contains("too large") {
        return Some(format!("TOML integers are at most {}", i64::MAX));
    }
    let (key, value) = line.split_once('=')?;
    let (key, value) = (key.trim(), value.split(" #").next().unwrap_or_default().trim());
    if key.is_empty() {
        return Some("the key before `=` is missing".to_owned());
    }
    if key.starts_with('[') || key.contains(['"', '\'']) {
        return None;
    }
    if value.is_empty() {
        return Some(format!("the value after `{key} =` is missing"));
    }
    if let Some(rest) = value.strip_prefix('"')
        && !rest.contains('"')
    {
        return Some(format!("the string after `{key} =` is not closed: end it with `\"` on the same line"));
    }
    let quoted = format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""));
    let parses = |value: &str| toml::from_str::<Dict>(&format!("v = {value}")).is_ok();
    (!value.starts_with(['"', '\'', '[', '{']) && !parses(value) && parses(&quoted))
        .then(|| format!("if `{value}` is text, write it in quotes: `{key} = {quoted}`"))
}

/// One layer per `NAME_*` variable, in name order so that the outcome never depends on the order
/// of the process environment.
fn env_layers(name: &str, env: &[(String, String)], problems: &mut Vec<Problem>) -> Vec<Layer> {
    let prefix = crate::name::env_prefix(name);
    let mut vars: Vec<&(String, String)> = env.iter().filter(|(var, _)| var.starts_with(&prefix)).collect();
    vars.sort();
    let mut layers = Vec::new();
    for (var, text) in vars {
        let segments: Vec<&str> = var[prefix.len()..].split("__").collect();
        // Keys of the `env` table are variable names: they keep their case.
        let in_env = segments.first().is_some_and(|first| first.eq_ignore_ascii_case("env"));
        let mut path: KeyPath = segments.iter().map(|segment| segment.to_ascii_lowercase()).collect();
        if in_env && let (Some(key), Some(original)) = (path.get_mut(1), segments.get(1)) {
            *key = (*original).to_owned();
        }
        if let Some(bad) = path.iter().find(|segment| !is_key_segment(segment)) {
            let example = format!("{prefix}RESOURCES__LOCK_MEMORY");
            let message = if bad.is_empty() {
                format!("empty key segment; nested keys are separated by a double underscore, such as `{example}`")
            } else {
                format!("`{bad}` is not a valid key segment; use letters, digits and `_`, such as `{example}`")
            };
            problems.push(Problem::from_origin(format!("{ENV} {var}"), message));
            continue;
        }
        layers.push(Layer::single(LayerKind::Env(var.clone()), path, text));
    }
    layers
}

/// The layer of one `--set key.path=value` flag.
fn set_layer(flag: &str, problems: &mut Vec<Problem>) -> Option<Layer> {
    let origin = format!("--set {flag}");
    match split_set(flag) {
        Ok((path, text)) => Some(Layer::single(LayerKind::Flag(origin), path, text)),
        Err(message) => {
            problems.push(Problem::from_origin(origin, message));
            None
        }
    }
}

/// The key path and the value text of one `--set key.path=value` flag, or why it has not that
/// shape (no `=`, an empty key, a bad key segment). The command line refuses such a flag as a
/// usage error before any configuration is read; a flag of the right shape whose value is wrong
/// is the configuration's problem.
pub(crate) fn split_set(flag: &str) -> Result<(KeyPath, &str), String> {
    let usage = "expected `--set key.path=value`, such as `--set resources.lock_memory=true`";
    let Some((key, text)) = flag.split_once('=') else {
        return Err(format!("no `=`; {usage}"));
    };
    if key.is_empty() {
        return Err(format!("the key is empty; {usage}"));
    }
    let path: KeyPath = key.split('.').map(str::to_owned).collect();
    if let Some(bad) = path.iter().find(|segment| !is_key_segment(segment)) {
        let what = if bad.is_empty() { "an empty segment".to_owned() } else { format!("the segment `{bad}`") };
        return Err(format!(
            "the key `{key}` has {what}; keys are names of letters, digits, `_` and `-` joined by `.`"
        ));
    }
    Ok((path, text))
}

fn is_key_segment(segment: &str) -> bool {
    !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `text` as a TOML value when it is one (`5`, `true`, `"x"`, `[1, 2]`), else as a string.
fn parse_text(text: &str) -> Value {
    match toml::from_str::<Dict>(&format!("v = {text}")) {
        Ok(mut dict) if dict.len() == 1 => dict.remove("v").unwrap_or_else(|| Value::from(text)),
        _ => Value::from(text),
    }
}

/// `{ a = { b = value } }` for the path `a.b`.
fn nest(path: &[String], value: Value) -> Dict {
    let Some((first, rest)) = path.split_first() else { return Dict::new() };
    let value = rest.iter().rev().fold(value, |inner, segment| Value::from(Dict::from([(segment.clone(), inner)])));
    Dict::from([(first.clone(), value)])
}

/// After a type error at `path`: when its value came from an environment variable or `--set`
/// whose text parsed as something other than a string, take the text as a string instead.
pub(super) fn take_as_string(layers: &mut [Layer], path: &[String]) -> bool {
    let Some(layer) = layers.iter_mut().rev().find(|layer| find(&layer.dict, path).is_some()) else {
        return false;
    };
    let Some((raw_path, text)) = &layer.raw else { return false };
    if raw_path.as_slice() != path || matches!(find(&layer.dict, path), Some(Value::String(..))) {
        return false;
    }
    layer.dict = nest(path, Value::from(text.as_str()));
    true
}

/// Keys whose built-in value is a table but whose merged value is not: serde would read an array
/// as a struct, field by position, and that is not a configuration anyone means.
pub(super) fn not_tables(defaults: &Dict, merged: &Dict) -> Vec<KeyPath> {
    let mut found = Vec::new();
    for (key, default) in defaults {
        let Value::Dict(_, default) = default else { continue };
        match merged.get(key) {
            Some(Value::Dict(_, merged)) => found.extend(not_tables(default, merged).into_iter().map(|mut path| {
                path.insert(0, key.clone());
                path
            })),
            Some(_) => found.push(vec![key.clone()]),
            None => {}
        }
    }
    found
}

/// Removes the value at `path` (or, failing that, at the nearest enclosing key) from every layer
/// above the defaults, so extraction can go on and report the next problem.
pub(super) fn prune(layers: &mut [Layer], path: &[String]) -> bool {
    for n in (1..=path.len()).rev() {
        let mut removed = false;
        for layer in layers.iter_mut().filter(|layer| layer.kind != LayerKind::Default) {
            removed |= remove(&mut layer.dict, &path[..n]);
        }
        if removed {
            return true;
        }
    }
    false
}

fn find<'a>(dict: &'a Dict, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(dict.get(first)?, |value, segment| value.as_dict()?.get(segment))
}

fn remove(dict: &mut Dict, path: &[String]) -> bool {
    match path {
        [] => false,
        [last] => dict.remove(last).is_some(),
        [first, rest @ ..] => match dict.get_mut(first) {
            Some(Value::Dict(_, inner)) => remove(inner, rest),
            _ => false,
        },
    }
}

/// The line of every key in `text`, which is valid TOML.
fn key_lines(text: &str) -> BTreeMap<KeyPath, usize> {
    let mut lines = BTreeMap::new();
    if let Ok(document) = toml_edit::ImDocument::parse(text) {
        table_lines(document.as_table(), &mut Vec::new(), text, &mut lines);
    }
    lines
}

fn table_lines(table: &toml_edit::Table, path: &mut KeyPath, text: &str, out: &mut BTreeMap<KeyPath, usize>) {
    for (key, item) in table.iter() {
        path.push(key.to_owned());
        let span = table.key(key).and_then(toml_edit::Key::span).or_else(|| item.span());
        record(span, path, text, out);
        match item {
            toml_edit::Item::Table(inner) => table_lines(inner, path, text, out),
            toml_edit::Item::ArrayOfTables(array) => {
                for (index, inner) in array.iter().enumerate() {
                    path.push(index.to_string());
                    record(inner.span(), path, text, out);
                    table_lines(inner, path, text, out);
                    path.pop();
                }
            }
            toml_edit::Item::Value(value) => value_lines(value, path, text, out),
            toml_edit::Item::None => {}
        }
        path.pop();
    }
}

fn value_lines(value: &toml_edit::Value, path: &mut KeyPath, text: &str, out: &mut BTreeMap<KeyPath, usize>) {
    match value {
        toml_edit::Value::InlineTable(table) => {
            for (key, inner) in table.iter() {
                path.push(key.to_owned());
                record(table.key(key).and_then(toml_edit::Key::span).or_else(|| inner.span()), path, text, out);
                value_lines(inner, path, text, out);
                path.pop();
            }
        }
        toml_edit::Value::Array(array) => {
            for (index, inner) in array.iter().enumerate() {
                path.push(index.to_string());
                record(inner.span(), path, text, out);
                value_lines(inner, path, text, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn record(span: Option<std::ops::Range<usize>>, path: &KeyPath, text: &str, out: &mut BTreeMap<KeyPath, usize>) {
    if let Some((line, _)) = span.and_then(|span| line_column(text, span.start)) {
        out.entry(path.clone()).or_insert(line);
    }
}

/// 1-based line and column (in characters) of the byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    Some((line, column))
}
