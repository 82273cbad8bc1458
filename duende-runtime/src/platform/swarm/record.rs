//! The swarm install's record on the host: the engine's endpoint, the service, the image and
//! the config object it runs, as TOML with the manifest of what `install` created. Later
//! commands read them from here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::platform::plan::Manifest;

/// The first words of every record duende writes.
pub const MARKER: &str = "# Written by duende";

/// What a swarm install put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The engine's endpoint (`DOCKER_HOST`) when it was not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The service's name.
    pub service: String,
    /// The image reference.
    pub image: String,
    /// The image archive on the host.
    pub archive: PathBuf,
    /// The config object holding the configuration, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_object: Option<String>,
    /// The configuration file it was made from, read again to tell drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// Replicas when running (0: a global service).
    pub replicas: u32,
    /// The spec's hash (the service's `io.duende.hash` label).
    pub hash: String,
}

/// Why a record could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the swarm record is damaged: {0}; run `install` again to rewrite it")]
pub struct Damaged(String);

/// The record's text for the service `name`, ending with `manifest`.
pub fn render(name: &str, record: &Record, manifest: &Manifest) -> Result<String, Damaged> {
    let body = toml::to_string(record).map_err(|err| Damaged(err.to_string()))?;
    Ok(format!(
        "{MARKER}: the {name} swarm service. `{name} install` rewrites it, `{name} uninstall`\n# removes it (with the \
         service, its config objects and its image); change the configuration, not this file.\n{body}{}",
        manifest.render()
    ))
}

/// True when `text` is a record duende wrote.
pub fn is_written_by_duende(text: &str) -> bool {
    text.starts_with(MARKER)
}

/// Reads a record back.
pub fn parse(text: &str) -> Result<Record, Damaged> {
    toml::from_str(text).map_err(|err| Damaged(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_their_manifest() {
        let record = Record {
            endpoint: Some("unix:///tmp/d.sock".into()),
            service: "demo".into(),
            image: "localhost/demo:abc".into(),
            archive: "/var/cache/demo/demo-swarm-image.tar".into(),
            config_object: Some("demo-0123456789ab".into()),
            config: Some("/etc/demo/demo.toml".into()),
            replicas: 3,
            hash: "0011223344556677".into(),
        };
        let manifest = Manifest { files: vec!["/var/cache/demo/demo-swarm-image.tar".into()], dirs: vec![] };
        let text = render("demo", &record, &manifest).unwrap_or_default();
        assert!(is_written_by_duende(&text));
        assert_eq!(parse(&text), Ok(record));
        assert_eq!(Manifest::parse(&text), manifest);
        assert!(parse("service = 1").is_err_and(|e| e.to_string().contains("run `install` again")));
    }
}
