//! The container install's record on the host: which engine (and which endpoint of it), the
//! container, the image it runs, and the exact `create` arguments, as TOML with the manifest of
//! what `install` created. Later commands (`status`, `stop`, `uninstall`) read the engine from
//! here instead of guessing again.
//!
//! ```toml
//! # Written by duende: the demo container. `demo install` rewrites it, `demo uninstall`
//! # removes it (with the container and its image); change the configuration, not this file.
//! engine = "docker"
//! endpoint = "unix:///run/docker.sock"
//! container = "demo"
//! image = "localhost/demo:3f2a9c1b7d4e"
//! archive = "/var/cache/demo/demo-image.tar"
//! stop_timeout = 35
//! create = ["create", "--name", "demo", ...]
//!
//! # Created by install, removed by uninstall:
//! # file /var/cache/demo/demo-image.tar
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::platform::plan::Manifest;

/// The first words of every record duende writes.
pub const MARKER: &str = "# Written by duende";

/// What a container install put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// `docker`, `podman` or `nerdctl`.
    pub engine: String,
    /// The engine's endpoint (`DOCKER_HOST`) when it was not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The container's name.
    pub container: String,
    /// The image reference.
    pub image: String,
    /// The image archive on the host.
    pub archive: PathBuf,
    /// The engine's stop timeout in seconds.
    pub stop_timeout: u64,
    /// The configuration file the image was built with, read again to tell drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// The `create` arguments.
    pub create: Vec<String>,
}

/// Why a record could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the container record is damaged: {0}; run `install` again to rewrite it")]
pub struct Damaged(String);

/// The record's text for the service `name`, ending with `manifest`.
pub fn render(name: &str, record: &Record, manifest: &Manifest) -> Result<String, Damaged> {
    let body = toml::to_string(record).map_err(|err| Damaged(err.to_string()))?;
    Ok(format!(
        "{MARKER}: the {name} container. `{name} install` rewrites it, `{name} uninstall`\n# removes it (with the \
         container and its image); change the configuration, not this file.\n{body}{}",
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
    fn records_round_trip_with_their_manifest_and_hostile_words() {
        let record = Record {
            engine: "docker".into(),
            endpoint: Some("unix:///tmp/d.sock".into()),
            container: "demo".into(),
            image: "localhost/demo:abc".into(),
            archive: "/var/cache/demo/demo-image.tar".into(),
            stop_timeout: 35,
            config: Some("/etc/demo/demo.toml".into()),
            create: vec!["create".into(), "--label".into(), "x=\"\n[evil]\nkey = 1".into()],
        };
        let manifest = Manifest { files: vec!["/var/cache/demo/demo-image.tar".into()], dirs: vec![] };
        let text = render("demo", &record, &manifest).unwrap();
        assert!(is_written_by_duende(&text));
        assert_eq!(parse(&text).unwrap(), record);
        assert_eq!(Manifest::parse(&text), manifest);
        assert!(parse("engine = 1").unwrap_err().to_string().contains("run `install` again"));
    }
}
