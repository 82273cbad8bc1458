//! The Kubernetes manifest renderer round trip: arbitrary strings as the name, description,
//! version, arguments, environment, working directory, image, configuration file, runtime flags
//! and digest; both manifests read back with libyaml's rules (`serde_norway`) and the kubelet's
//! `$(VAR)` expansion. A value the renderer refuses is fine; a value that reads back as anything
//! but itself, or a key the same workload with plain values does not have, is a failure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_norway::Value as Yaml;

use super::input::{Fields, flags};
use crate::config::Settings;
use crate::platform::kubernetes::{Workload, render};

/// The first byte: bit 0 the name as given (else `demo`). Then the fields: name, description,
/// version, working directory (unset when empty), image, configuration file, digest; then in
/// turns an argument, a runtime flag, an environment name, its value.
pub fn render_kubernetes(data: &[u8]) {
    let (bits, data) = flags(data);
    let mut fields = Fields::new(data);
    let name = fields.text();
    let name = if bits & 1 != 0 { name } else { "demo".to_owned() };
    let mut settings = Settings::<()> { name: name.clone(), ..Settings::default() };
    settings.description = fields.text();
    settings.version = fields.text();
    settings.working_dir = fields.optional().map(PathBuf::from);
    let image = fields.text();
    let config_toml = fields.text();
    let digest = fields.text();
    let (mut flags_, mut env) = (Vec::new(), Vec::new());
    let rest = fields.rest();
    for (index, field) in rest.iter().enumerate() {
        match index % 4 {
            0 => settings.args.push(field.clone()),
            1 => flags_.push(field.clone()),
            2 => env.push((field.clone(), rest.get(index + 1).cloned().unwrap_or_default())),
            _ => {}
        }
    }
    let workload = Workload {
        name: &name,
        settings: &settings,
        image: &image,
        config_toml: &config_toml,
        args: &flags_,
        env: &env,
        digest: &digest,
    };
    let Ok(manifests) = render(&workload) else { return };

    // The same workload with plain values has the same keys.
    let mut plain_settings = settings.clone();
    plain_settings.description = if settings.description.trim().is_empty() { String::new() } else { "d".into() };
    // A version that is a label value labels the objects; any other only adds a comment.
    let labelled = serde_norway::from_str::<Yaml>(&manifests.files[0].yaml)
        .is_ok_and(|parsed| !parsed["metadata"]["labels"]["app.kubernetes.io/version"].is_null());
    plain_settings.version = if labelled { "1.0" } else { "not a label" }.into();
    plain_settings.args = settings.args.iter().map(|_| "a".into()).collect();
    plain_settings.env = settings.env.keys().map(|key| (key.clone(), "v".into())).collect();
    plain_settings.working_dir = settings.working_dir.as_ref().map(|_| "/w".into());
    let plain_flags: Vec<String> = flags_.iter().map(|_| "f".into()).collect();
    let plain_env: Vec<(String, String)> = env.iter().map(|(key, _)| (key.clone(), "v".into())).collect();
    let plain = Workload {
        settings: &plain_settings,
        image: "i",
        config_toml: "c",
        args: &plain_flags,
        env: &plain_env,
        digest: "x",
        ..workload
    };
    let plain = render(&plain).unwrap_or_else(|err| panic!("the plain twin is refused: {err}"));

    assert_eq!(manifests.files.len(), 2, "{manifests:?}");
    let mut documents = Vec::new();
    for (file, twin) in manifests.files.iter().zip(&plain.files) {
        let parsed: Yaml = serde_norway::from_str(&file.yaml)
            .unwrap_or_else(|err| panic!("{} is not YAML ({err}):\n{}", file.file_name, file.yaml));
        let twin: Yaml = serde_norway::from_str(&twin.yaml).unwrap_or_else(|err| panic!("the twin: {err}"));
        assert_eq!(key_paths(&parsed), key_paths(&twin), "other keys than the plain twin's:\n{}", file.yaml);
        documents.push(parsed);
    }
    let (config_map, object) = (&documents[0], &documents[1]);
    let yaml = &manifests.files[1].yaml;

    assert_eq!(config_map["data"][format!("{name}.toml").as_str()].as_str(), Some(config_toml.as_str()), "data");
    let description = settings.description.trim();
    let annotation = object["metadata"]["annotations"]["kubernetes.io/description"].as_str();
    assert_eq!(annotation, Some(description).filter(|d| !d.is_empty()), "the description:\n{yaml}");

    let container = &object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"].as_str(), Some(image.as_str()), "the image:\n{yaml}");
    assert_eq!(strings(&container["command"], yaml), [format!("/usr/local/bin/{name}")], "command:\n{yaml}");
    let mut args = vec!["run".to_owned(), "--config".to_owned(), format!("/etc/{name}/{name}.toml")];
    args.extend(flags_.iter().cloned());
    if !settings.args.is_empty() {
        args.push("--".to_owned());
        args.extend(settings.args.iter().cloned());
    }
    assert_eq!(strings(&container["args"], yaml), args, "args:\n{yaml}");
    let mut expected_env: BTreeMap<String, String> = settings.env.clone().into_iter().collect();
    expected_env.insert("RUNTIME_DIRECTORY".to_owned(), format!("/run/duende/{name}"));
    expected_env.extend(env.iter().cloned());
    let got_env: BTreeMap<String, String> = container["env"]
        .as_sequence()
        .unwrap_or_else(|| panic!("no env:\n{yaml}"))
        .iter()
        .map(|var| {
            let name = var["name"].as_str().unwrap_or_else(|| panic!("a variable without a name:\n{yaml}"));
            let value = var["value"].as_str().unwrap_or_else(|| panic!("a variable without a value:\n{yaml}"));
            (name.to_owned(), kubelet(value, yaml))
        })
        .collect();
    assert_eq!(got_env, expected_env, "env:\n{yaml}");
    let working_dir = settings.working_dir.as_ref().map(|dir| dir.to_string_lossy().into_owned());
    assert_eq!(container["workingDir"].as_str(), working_dir.as_deref(), "workingDir:\n{yaml}");
}

/// A list of strings, each as the kubelet passes it on.
fn strings(value: &Yaml, yaml: &str) -> Vec<String> {
    let list = value.as_sequence().unwrap_or_else(|| panic!("not a list: {value:?}\n{yaml}"));
    list.iter()
        .map(|item| kubelet(item.as_str().unwrap_or_else(|| panic!("not a string: {item:?}\n{yaml}")), yaml))
        .collect()
}

/// `text` after the kubelet's expansion: `$$` is `$`; `$(` would expand a variable.
fn kubelet(text: &str, yaml: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('$', Some('$')) => {
                chars.next();
                out.push('$');
            }
            ('$', Some('(')) => panic!("`$(` in {text:?} would expand a variable:\n{yaml}"),
            (c, _) => out.push(c),
        }
    }
    out
}

/// Every key of a document, as paths (`spec.template.spec.containers.0.image`).
fn key_paths(value: &Yaml) -> Vec<String> {
    fn walk(value: &Yaml, prefix: &str, out: &mut Vec<String>) {
        match value {
            Yaml::Mapping(map) => {
                for (key, inner) in map {
                    let key = match key {
                        Yaml::String(key) => key.clone(),
                        other => panic!("a key that is not a string: {other:?}"),
                    };
                    let path = format!("{prefix}{key}");
                    out.push(path.clone());
                    walk(inner, &format!("{path}."), out);
                }
            }
            Yaml::Sequence(items) => {
                for (index, inner) in items.iter().enumerate() {
                    walk(inner, &format!("{prefix}{index}."), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, "", &mut out);
    out
}
