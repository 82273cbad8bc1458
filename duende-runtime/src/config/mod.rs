//! Layered configuration (DESIGN.md section 4): defaults < system or user file < `--config` <
//! `NAME_*` environment < `--set`, with the origin of every value kept for errors and `config`.
//!
//! [`load`] reads every layer into figment (one provider per file, variable and flag, so each
//! value's metadata names its exact source), extracts [`Settings`] and checks the rules beyond
//! types (ranges, absolute paths, the daemon's own `validate`), collecting every problem into one
//! [`ConfigError`]. A file's line numbers come from parsing its text once more with spans.

mod app_rule;
mod duration;
mod explain;
mod layers;
mod origin;
pub mod platforms;
mod problem;
mod problems;
pub mod settings;
mod sources;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use figment::Figment;
use figment::error::Kind;
use figment::value::Value;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use layers::{FileNote, KeyLines, KeyPath, Layer, Stack};
use origin::Provenance;

pub(crate) use layers::split_set;
pub use problems::{ConfigError, Problem};
pub use settings::{
    Backoff, Hardening, HealthCheck, PlatformSettings, ProtectHome, ProtectSystem, Resources, RestartPolicy, Settings,
};
pub use sources::Sources;
pub use validate::Violation;

/// The `[app]` section of a daemon that has no settings of its own: any key there is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// The result of loading: the typed settings and where each value came from.
#[derive(Debug)]
pub struct Loaded<A> {
    /// The effective configuration.
    pub settings: Settings<A>,
    figment: Figment,
    files: Vec<KeyLines>,
    file_notes: Vec<FileNote>,
    /// Sources of values the runtime changed after extraction (such as an implied lock).
    notes: BTreeMap<KeyPath, String>,
    /// Keys whose value was refused (only in what [`load_or_partial`] gives with an error).
    refused: Vec<KeyPath>,
}

/// The settings alone, for running the daemon. When nothing is layered over the built-in
/// defaults (no file at the default location, no `--config`, no `NAME_*` variable, no `--set`),
/// the defaults are validated directly and the layering machinery is skipped: the same result
/// with less work and less code touched at start-up. Any problem, or any layer, takes the full
/// path of [`load`], so errors always carry their provenance.
pub fn load_settings<A>(
    sources: &Sources,
    validate_app: fn(&A) -> Result<(), Vec<Violation>>,
) -> Result<Settings<A>, ConfigError>
where
    A: DeserializeOwned + Serialize + Default,
{
    if only_defaults(sources) {
        let settings =
            Settings::<A> { name: sources.name.clone(), version: sources.version.clone(), ..Settings::default() };
        if validate::check(&settings, validate_app).is_empty() {
            return Ok(settings);
        }
    }
    load(sources, validate_app).map(|loaded| loaded.settings)
}

fn only_defaults(sources: &Sources) -> bool {
    sources.config_file.is_none()
        && sources.sets.is_empty()
        && sources.own_variables().is_empty()
        && crate::name::validate(&sources.name).is_ok()
        && !sources.default_file().exists()
}

/// Loads every layer, extracts the settings and validates them, the daemon's `[app]` section
/// through `validate_app`. Every problem found is in the error.
pub fn load<A>(sources: &Sources, validate_app: fn(&A) -> Result<(), Vec<Violation>>) -> Result<Loaded<A>, ConfigError>
where
    A: DeserializeOwned + Serialize + Default,
{
    load_or_partial(sources, validate_app).map_err(|invalid| invalid.error)
}

/// An invalid configuration: every problem, and what could still be read.
#[derive(Debug)]
pub struct Invalid<A> {
    /// Every problem found.
    pub error: ConfigError,
    /// The settings with each refused value marked, when the layers could be read at all.
    pub partial: Option<Box<Loaded<A>>>,
}

/// As [`load`]; when the configuration is invalid, the error comes with what could still be
/// read (when anything could): each refused value left out or marked, for `config` to show
/// beside the problems.
pub fn load_or_partial<A>(
    sources: &Sources,
    validate_app: fn(&A) -> Result<(), Vec<Violation>>,
) -> Result<Loaded<A>, Invalid<A>>
where
    A: DeserializeOwned + Serialize + Default,
{
    let fail = |problems: Vec<Problem>| Invalid { error: ConfigError::new(problems), partial: None };
    let mut problems = Vec::new();
    let defaults =
        Settings::<A> { name: sources.name.clone(), version: sources.version.clone(), ..Settings::default() };
    let defaults = match Value::serialize(&defaults) {
        Ok(Value::Dict(_, dict)) => dict,
        Ok(_) => return Err(fail(vec![Problem::general("the built-in defaults are not a table".into())])),
        Err(err) => {
            let message = format!("the built-in defaults cannot be represented: {err}");
            return Err(fail(vec![Problem::general(message)]));
        }
    };
    let mut stack = Stack::read(sources, defaults, &mut problems);
    let mut refused = Vec::new();
    let Some((mut settings, figment)) = extract::<A>(&mut stack, &mut problems, &mut refused, validate_app) else {
        return Err(fail(problems));
    };

    let provenance = Provenance::new(&figment, &stack.files);
    for finding in validate::check(&settings, validate_app) {
        problems.push(problems::at(&provenance, &finding.path, finding.message));
        refused.push(finding.path);
    }
    if !problems.is_empty() {
        let partial =
            Loaded { settings, figment, files: stack.files, file_notes: stack.notes, notes: BTreeMap::new(), refused };
        return Err(Invalid { error: ConfigError::new(problems), partial: Some(Box::new(partial)) });
    }

    let mut notes = BTreeMap::new();
    if settings.resources.lock_memory_required && !settings.resources.lock_memory {
        settings.resources.lock_memory = true;
        notes
            .insert(vec!["resources".into(), "lock_memory".into()], "implied by resources.lock_memory_required".into());
    }
    Ok(Loaded { settings, figment, files: stack.files, file_notes: stack.notes, notes, refused: Vec::new() })
}

/// Extracts the settings, reporting each extraction error and dropping the offending value so
/// that the next one is found too. `None` when nothing more can be dropped.
fn extract<A: DeserializeOwned + Default>(
    stack: &mut Stack,
    problems: &mut Vec<Problem>,
    refused: &mut Vec<KeyPath>,
    validate_app: fn(&A) -> Result<(), Vec<Violation>>,
) -> Option<(Settings<A>, Figment)> {
    // Each round drops a value or retypes one; this bounds a pathological configuration.
    const MAX_ROUNDS: usize = 1000;
    for _ in 0..MAX_ROUNDS {
        let figment = stack.layers.iter().cloned().fold(Figment::new(), |figment, layer: Layer| figment.merge(layer));
        let provenance = Provenance::new(&figment, &stack.files);
        let not_tables = stack.defaults().map(|defaults| layers::not_tables(defaults, provenance.root()));
        if let Some(paths) = not_tables.filter(|paths| !paths.is_empty()) {
            for path in paths {
                problems.push(problems::not_a_table(&provenance, &path));
                layers::prune(&mut stack.layers, &path);
                refused.push(path);
            }
            continue;
        }
        let errors = match figment.extract::<Settings<A>>() {
            Ok(settings) => return Some((settings, figment)),
            Err(errors) => errors,
        };
        let mut progressed = false;
        for error in errors {
            let wants_text = matches!(&error.kind, Kind::InvalidType(_, expected) if expected.contains("string"));
            if wants_text && layers::take_as_string(&mut stack.layers, &error.path) {
                progressed = true;
                continue;
            }
            let mut problem = problems::from_figment(&error, &provenance);
            if let Some(message) = app_message(stack, &error, validate_app) {
                problem.message = message;
            }
            problems.push(problem);
            progressed |= layers::prune(&mut stack.layers, &error.path);
            refused.push(error.path.clone());
        }
        if !progressed {
            return None;
        }
    }
    problems.push(Problem::general("the configuration has too many problems to list".into()));
    None
}

/// For a number in `[app]` that is not one of its type: the message with the daemon's own rule
/// for the key ("between 10 and 60000") instead of its type's range, when `validate_app` has one.
fn app_message<A: DeserializeOwned>(
    stack: &Stack,
    error: &figment::Error,
    validate_app: fn(&A) -> Result<(), Vec<Violation>>,
) -> Option<String> {
    let (first, key) = error.path.split_first()?;
    let (found, expected) = match &error.kind {
        Kind::InvalidType(actual, expected) => (Some(actual), expected),
        Kind::InvalidValue(_, expected) => (None, expected),
        _ => return None,
    };
    let Some(Value::Dict(_, app)) = stack.defaults()?.get("app").filter(|_| first == "app") else { return None };
    let message = app_rule::message(app_rule::kind(expected), &app_rule::rule::<A>(app, key, expected, validate_app)?);
    Some(match found {
        Some(actual) => format!("{message}, found {}", problems::kind_of(actual)),
        None => message,
    })
}

impl<A: Serialize> Loaded<A> {
    /// The effective configuration, one `key = value  # source` line per key, in the order of
    /// [`Settings`] with `[app]` last; unset optional keys are shown as comments.
    pub fn explain(&self) -> String {
        let provenance = Provenance::new(&self.figment, &self.files);
        explain::render(&self.settings, &provenance, &self.notes, &self.file_notes, &self.refused)
    }

    /// The effective configuration as the `config --json` document (schema
    /// `duende.config.v1`) of the daemon `name`.
    pub fn explain_json(&self, name: &str) -> serde_json::Value {
        let provenance = Provenance::new(&self.figment, &self.files);
        explain::render_json(name, &self.settings, &provenance, &self.notes, &self.file_notes)
    }
}

/// One configuration generation.
#[derive(Debug)]
pub(crate) struct Generation<C> {
    pub(crate) number: u64,
    pub(crate) settings: Arc<Settings<C>>,
}

impl<C> Clone for Generation<C> {
    fn clone(&self) -> Self {
        Generation { number: self.number, settings: Arc::clone(&self.settings) }
    }
}
