//! The launchd plist renderer round trip: arbitrary strings as the name, label, paths, `--set`
//! flags, arguments, environment, user, group, process type and the install's manifest; the
//! plist read back with the `plist` crate's XML reader and the manifest with
//! [`Manifest::parse`]. A value the renderer refuses is fine; any other document than the one
//! built here from the same values, or a manifest line of a value's making, is a failure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plist::{Dictionary, Value};

use super::input::{Fields, flags};
use crate::platform::backend::Level;
use crate::platform::launchd::render::is_written_for;
use crate::platform::launchd::render::label_of;
use crate::platform::launchd::{JobSpec, KeepAlive, render};
use crate::platform::plan::Manifest;

/// The first byte: bit 0 a LaunchDaemon (else an agent), bit 1 the name as given (else `demo`),
/// bits 2-3 the restart policy. Then the fields: name, label (`com.example.demo` when empty),
/// binary, `--config` path, working directory, user, group (empty fields are unset), process
/// type, log path; then in turns a `--set` flag, an argument, an environment name, its value
/// and a path the manifest records.
pub fn render_launchd(data: &[u8]) {
    let (bits, data) = flags(data);
    let mut fields = Fields::new(data);
    let name = fields.text();
    let name = if bits & 2 != 0 { name } else { "demo".to_owned() };
    let label = fields.optional().unwrap_or_else(|| "com.example.demo".to_owned());
    let binary = PathBuf::from(format!("/{}", fields.text()));
    let config_file = fields.optional().map(|path| PathBuf::from(format!("/{path}")));
    let working_dir = fields.optional().map(PathBuf::from);
    let user = fields.optional();
    let group = fields.optional();
    let process_type = fields.text();
    let log = PathBuf::from(fields.text());
    let (mut sets, mut args, mut environment, mut files) = (Vec::new(), Vec::new(), BTreeMap::new(), Vec::new());
    let rest = fields.rest();
    for (index, field) in rest.iter().enumerate() {
        match index % 5 {
            0 => sets.push(field.clone()),
            1 => args.push(field.clone()),
            2 => {
                environment.insert(field.clone(), rest.get(index + 1).cloned().unwrap_or_default());
            }
            3 => {}
            _ => files.push(PathBuf::from(format!("/{field}"))),
        }
    }
    let keep_alive = match (bits >> 2) & 3 {
        0 => KeepAlive::Never,
        1 => KeepAlive::UnlessSuccessful,
        _ => KeepAlive::Always,
    };
    let spec = JobSpec {
        name,
        label,
        level: if bits & 1 != 0 { Level::System } else { Level::User },
        binary,
        config_file,
        sets,
        args,
        environment,
        working_dir,
        user,
        group,
        keep_alive,
        throttle_interval: 1,
        exit_timeout: 7,
        process_type,
        log,
        open_files: None,
        processes: None,
        memory_lock: false,
    };
    let manifest = Manifest { files, dirs: vec!["/etc/demo".into()] };

    let Ok(text) = render(&spec, &manifest) else { return };
    let parsed = Value::from_reader_xml(text.as_bytes()).unwrap_or_else(|err| panic!("not a plist ({err}):\n{text}"));
    let expected = expected(&spec);
    let keys = |value: &Value| -> Vec<String> {
        value.as_dictionary().map(|dict| dict.keys().cloned().collect()).unwrap_or_default()
    };
    assert_eq!(keys(&parsed), keys(&expected), "other keys:\n{text}");
    assert_eq!(parsed, expected, "other values:\n{text}");
    assert_eq!(Manifest::parse(&text), manifest, "another manifest:\n{text}");
    assert!(is_written_for(&text, &spec.name), "not recognised as the plist of {:?}:\n{text}", spec.name);
    assert_eq!(label_of(&text).as_deref(), Some(spec.label.as_str()), "another label:\n{text}");
}

/// The property list `spec` stands for, built without the renderer.
fn expected(spec: &JobSpec) -> Value {
    let text = |value: &str| Value::String(value.to_owned());
    let path = |value: &PathBuf| Value::String(value.to_string_lossy().into_owned());
    let mut root = Dictionary::new();
    root.insert("Label".into(), text(&spec.label));
    let mut words = vec![path(&spec.binary), text("run")];
    if let Some(config) = &spec.config_file {
        words.extend([text("--config"), path(config)]);
    }
    for set in &spec.sets {
        words.extend([text("--set"), text(set)]);
    }
    if !spec.args.is_empty() {
        words.push(text("--"));
        words.extend(spec.args.iter().map(|arg| text(arg)));
    }
    root.insert("ProgramArguments".into(), Value::Array(words));
    let environment: Dictionary = spec.environment.iter().map(|(name, value)| (name.clone(), text(value))).collect();
    root.insert("EnvironmentVariables".into(), Value::Dictionary(environment));
    if let Some(dir) = &spec.working_dir {
        root.insert("WorkingDirectory".into(), path(dir));
    }
    if let Some(user) = &spec.user {
        root.insert("UserName".into(), text(user));
    }
    if let Some(group) = &spec.group {
        root.insert("GroupName".into(), text(group));
    }
    root.insert("RunAtLoad".into(), Value::Boolean(true));
    let keep_alive = match spec.keep_alive {
        KeepAlive::Never => Value::Boolean(false),
        KeepAlive::Always => Value::Boolean(true),
        KeepAlive::UnlessSuccessful => {
            Value::Dictionary(Dictionary::from_iter([("SuccessfulExit".to_owned(), Value::Boolean(false))]))
        }
    };
    root.insert("KeepAlive".into(), keep_alive);
    root.insert("ThrottleInterval".into(), Value::Integer(1.into()));
    root.insert("ExitTimeOut".into(), Value::Integer(7.into()));
    root.insert("ProcessType".into(), text(&spec.process_type));
    root.insert("StandardOutPath".into(), path(&spec.log));
    root.insert("StandardErrorPath".into(), path(&spec.log));
    Value::Dictionary(root)
}
