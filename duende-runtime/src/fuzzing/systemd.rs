//! The systemd unit renderer round trip: arbitrary strings as the description, the paths, the
//! `--set` flags, the daemon's arguments, its environment, user, group and writable paths; the
//! unit read back by [`unit_file`](super::unit_file) as systemd would read it. A value the
//! renderer refuses is fine; a value that reads back as anything but itself, or a setting,
//! section or word that the same unit with plain values does not have, is a failure.

use std::path::{Path, PathBuf};

use super::input::{Fields, flags};
use super::unit_file::{self, Setting};
use crate::config::{NoConfig, Settings};
use crate::platform::backend::Level;
use crate::platform::systemd::{Features, InstallFacts, UnitSpec, is_written_by_duende, render};

/// systemd's `WHITESPACE`, which it strips around every value.
const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// The first byte: bit 0 a system unit (else a user one), bit 1 the sandbox on, bit 2 systemd
/// 254's features, bit 3 the binary's path as given (else with a leading `/`). Then the fields:
/// description, binary, `--config` path, user, group, working directory (empty fields are
/// unset), then in turns a `--set` flag, an argument, an environment name, its value and a
/// writable path.
pub fn render_systemd(data: &[u8]) {
    let (bits, data) = flags(data);
    let mut fields = Fields::new(data);
    let description = fields.text();
    let binary = fields.text();
    let binary = if bits & 8 != 0 { binary } else { format!("/{binary}") };
    let config_file = fields.optional().map(PathBuf::from);
    let user = fields.optional();
    let group = fields.optional();
    let working_dir = fields.optional().map(PathBuf::from);
    let (mut sets, mut args, mut environment, mut writable) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let rest = fields.rest();
    for (index, field) in rest.iter().enumerate() {
        match index % 5 {
            0 => sets.push(field.clone()),
            1 => args.push(field.clone()),
            2 => environment.push((field.clone(), rest.get(index + 1).cloned().unwrap_or_default())),
            3 => {}
            _ => writable.push(PathBuf::from(field)),
        }
    }

    let settings = Settings::<NoConfig> { name: "demo".into(), version: "1.0.0".into(), ..Settings::default() };
    let features = if bits & 4 != 0 { Features::of_version(254) } else { Features::of_version(252) };
    let level = if bits & 1 != 0 { Level::System } else { Level::User };
    let facts = InstallFacts { binary: binary.into(), config_file, level, features, sets, overrides: environment };
    let mut spec = UnitSpec::new(&settings, &facts);
    spec.description = description;
    spec.args = args;
    spec.user = user;
    spec.group = group;
    spec.working_dir = working_dir;
    spec.hardening.enabled = bits & 2 != 0;
    spec.hardening.read_write_paths = writable;

    let Ok(text) = render(&spec) else { return };
    assert!(is_written_by_duende(&text), "no marker:\n{text}");
    let settings = unit_file::parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let plain = render(&plain_twin(&spec)).unwrap_or_else(|err| panic!("the plain twin is refused: {err}\n{spec:?}"));
    let plain = unit_file::parse(&plain).unwrap_or_else(|err| panic!("{err}\n{plain}"));
    let keys = |settings: &[Setting]| -> Vec<(String, String)> {
        settings.iter().map(|s| (s.section.clone(), s.key.clone())).collect()
    };
    assert_eq!(keys(&settings), keys(&plain), "the settings differ from the plain twin's:\n{text}");
    check_values(&spec, &settings, &text);
}

/// The same spec with a plain value in place of every value from outside.
fn plain_twin(spec: &UnitSpec) -> UnitSpec {
    let mut twin = spec.clone();
    twin.description = "d".into();
    twin.binary = "/b".into();
    twin.config_file = spec.config_file.as_ref().map(|_| "/c".into());
    twin.sets = spec.sets.iter().map(|_| "s".into()).collect();
    twin.args = spec.args.iter().map(|_| "a".into()).collect();
    twin.environment = spec.environment.iter().map(|_| ("N".into(), "v".into())).collect();
    twin.user = spec.user.as_ref().map(|_| "u".into());
    twin.group = spec.group.as_ref().map(|_| "g".into());
    twin.working_dir = spec.working_dir.as_ref().map(|_| "/w".into());
    twin.hardening.read_write_paths = spec.hardening.read_write_paths.iter().map(|_| "/p".into()).collect();
    twin
}

fn values<'a>(settings: &'a [Setting], key: &str) -> Vec<&'a str> {
    settings.iter().filter(|s| s.key == key).map(|s| s.value.as_str()).collect()
}

fn one<'a>(settings: &'a [Setting], key: &str, text: &str) -> &'a str {
    match values(settings, key).as_slice() {
        [value] => value,
        other => panic!("{} `{key}=` settings:\n{text}", other.len()),
    }
}

fn expand(value: &str, text: &str) -> String {
    unit_file::specifiers(value).unwrap_or_else(|err| panic!("{err}\n{text}"))
}

fn single_word(value: &str, c_escapes: bool, text: &str) -> String {
    let words = unit_file::words(value, c_escapes).unwrap_or_else(|err| panic!("{err}\n{text}"));
    match words.as_slice() {
        [word] if word.quoted => expand(&word.text, text),
        other => panic!("one quoted word expected, found {other:?}\n{text}"),
    }
}

fn check_values(spec: &UnitSpec, settings: &[Setting], text: &str) {
    let stripped = spec.description.trim_matches(WHITESPACE);
    let description = if stripped.is_empty() { spec.name.as_str() } else { stripped };
    assert_eq!(expand(one(settings, "Description", text), text), description, "Description=\n{text}");

    let mut expected = vec![spec.binary.to_string_lossy().into_owned(), "run".to_owned()];
    if let Some(config) = &spec.config_file {
        expected.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
    }
    for set in &spec.sets {
        expected.extend(["--set".to_owned(), set.clone()]);
    }
    if !spec.args.is_empty() {
        expected.push("--".to_owned());
        expected.extend(spec.args.iter().cloned());
    }
    let exec = one(settings, "ExecStart", text);
    let words = unit_file::words(exec, true).unwrap_or_else(|err| panic!("{err}\n{text}"));
    assert_eq!(words.len(), expected.len(), "ExecStart= has other words: {words:?}\n{text}");
    for (index, (word, expected)) in words.iter().zip(&expected).enumerate() {
        assert!(word.quoted, "ExecStart= word {index} is not quoted: {word:?}\n{text}");
        let got = expand(&word.text, text);
        if index == 0 {
            // systemd simplifies the program's path (`//` and `/./` go).
            assert_eq!(Path::new(&got), Path::new(expected), "the program\n{text}");
        } else {
            let got = unit_file::dollars(&got).unwrap_or_else(|err| panic!("{err}\n{text}"));
            assert_eq!(&got, expected, "ExecStart= word {index}\n{text}");
        }
    }

    for (key, value) in [("User", &spec.user), ("Group", &spec.group)] {
        match value {
            Some(value) => assert_eq!(&expand(one(settings, key, text), text), value, "{key}=\n{text}"),
            None => assert!(values(settings, key).is_empty(), "{key}=\n{text}"),
        }
    }
    if let Some(dir) = &spec.working_dir {
        let got = expand(one(settings, "WorkingDirectory", text), text);
        assert_eq!(Path::new(&got), dir.as_path(), "WorkingDirectory=\n{text}");
    }

    let environment: Vec<String> =
        values(settings, "Environment").into_iter().map(|value| single_word(value, true, text)).collect();
    let expected: Vec<String> = spec.environment.iter().map(|(name, value)| format!("{name}={value}")).collect();
    assert_eq!(environment, expected, "Environment=\n{text}");

    let writable: Vec<PathBuf> =
        values(settings, "ReadWritePaths").into_iter().map(|value| single_word(value, false, text).into()).collect();
    if !writable.is_empty() {
        assert_eq!(writable, spec.hardening.read_write_paths, "ReadWritePaths=\n{text}");
    }
}
