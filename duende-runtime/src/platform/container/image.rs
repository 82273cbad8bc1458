//! The image of a daemon, built offline from the binary itself (no base image, no registry):
//! one layer holding the binary, the loader and libraries it links, `/etc/passwd` and
//! `/etc/group` for its user, `/tmp`, `/run` and the installed configuration; an image config
//! with entrypoint, environment, stop signal, user, health check, labels and os/architecture.
//!
//! The archive is one tar that is both an OCI image layout (`oci-layout`, `index.json`, blobs)
//! and a Docker archive (`manifest.json` naming the same blobs), so `docker load`, `podman load`
//! and `nerdctl load` all take it. Everything is pinned (timestamps, owners, entry order, JSON
//! key order): identical inputs give identical bytes, and the tag is the config's digest.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::tar::{BadPath, Tar};

/// Where the binary lives in the image.
pub const BINARY_DIR: &str = "/usr/local/bin";

/// The registry part of every image duende builds: no registry is ever asked for it, and podman
/// names local images this way anyway.
pub const REPOSITORY_PREFIX: &str = "localhost/";

/// The user the daemon runs as in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name.
    pub user: String,
    /// Its id.
    pub uid: u32,
    /// Its group's name.
    pub group: String,
    /// Its group's id.
    pub gid: u32,
}

impl Account {
    /// root.
    pub fn root() -> Account {
        Account { user: "root".to_owned(), uid: 0, group: "root".to_owned(), gid: 0 }
    }
}

/// The image's health check (Docker's `HEALTHCHECK`, the exec form: no shell in the image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The command, run in the container.
    pub test: Vec<String>,
    /// Time between checks.
    pub interval: Duration,
    /// How long one check may take.
    pub timeout: Duration,
    /// Failures in a row before unhealthy.
    pub retries: u32,
    /// Failures during this first period do not count.
    pub start_period: Duration,
}

/// Everything the image holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec<'a> {
    /// The daemon's name: the repository and the binary's file name.
    pub name: &'a str,
    /// The OCI architecture of the binary (`amd64`, `arm64`, ...).
    pub architecture: &'a str,
    /// The binary.
    pub binary: &'a [u8],
    /// The loader and libraries: path in the image → content.
    pub needs: BTreeMap<PathBuf, Vec<u8>>,
    /// The configuration file, installed at `/etc/NAME/NAME.toml`.
    pub config: Option<&'a [u8]>,
    /// The user.
    pub account: Account,
    /// The program the container runs (the binary).
    pub entrypoint: Vec<String>,
    /// Its arguments, unless the container is given others.
    pub cmd: Vec<String>,
    /// `KEY=VALUE` environment.
    pub env: Vec<String>,
    /// The health check.
    pub health: Option<Health>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The archive `docker load` takes.
    pub archive: Vec<u8>,
    /// `localhost/NAME:TAG`, the tag being the first 12 hex digits of the image id.
    pub reference: String,
    /// The image id: `sha256:` and the digest of its config.
    pub id: String,
    /// The layer's entries, one line each (what `--dry-run` shows).
    pub listing: Vec<String>,
    /// The image config, pretty-printed (what `--dry-run` shows).
    pub config: String,
}

/// The path of the binary in the image.
pub fn binary_path(name: &str) -> String {
    format!("{BINARY_DIR}/{name}")
}

/// The path of the configuration file in the image.
pub fn config_path(name: &str) -> String {
    format!("/etc/{name}/{name}.toml")
}

/// The SHA-256 of `bytes`, in lowercase hex (what image digests and install hashes are made of).
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The layer: binary, loader and libraries, accounts, `/tmp`, `/run` and the configuration.
fn layer(spec: &ImageSpec<'_>) -> Result<Tar, BadPath> {
    let mut tar = Tar::new();
    for (path, bytes) in &spec.needs {
        tar.file(&path.to_string_lossy(), 0o755, bytes.clone())?;
    }
    tar.file(&binary_path(spec.name), 0o755, spec.binary.to_vec())?;
    let Account { user, uid, group, gid } = &spec.account;
    let mut passwd = "root:x:0:0:root:/root:/usr/sbin/nologin\n".to_owned();
    if *uid != 0 {
        passwd.push_str(&format!("{user}:x:{uid}:{gid}:{user}:/nonexistent:/usr/sbin/nologin\n"));
    }
    let mut groups = "root:x:0:\n".to_owned();
    if *gid != 0 {
        groups.push_str(&format!("{group}:x:{gid}:\n"));
    }
    tar.file("/etc/passwd", 0o644, passwd.into_bytes())?;
    tar.file("/etc/group", 0o644, groups.into_bytes())?;
    if let Some(config) = spec.config {
        tar.file(&config_path(spec.name), 0o644, config.to_vec())?;
    }
    tar.dir("/tmp", 0o1777)?;
    tar.dir("/run", 0o755)?;
    Ok(tar)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Builds the image archive.
pub fn build(spec: &ImageSpec<'_>) -> Result<Image, BadPath> {
    let layer = layer(spec)?;
    let listing = layer.listing();
    let layer = layer.finish()?;
    let layer_digest = sha256(&layer);
    let epoch = "1970-01-01T00:00:00Z";
    let mut config = json!({
        "User": format!("{}:{}", spec.account.uid, spec.account.gid),
        "Env": spec.env,
        "Entrypoint": spec.entrypoint,
        "Cmd": spec.cmd,
        "WorkingDir": "/",
        "Labels": spec.labels,
        "StopSignal": "SIGTERM",
    });
    if let Some(health) = &spec.health {
        config["Healthcheck"] = json!({
            "Test": std::iter::once("CMD".to_owned()).chain(health.test.iter().cloned()).collect::<Vec<_>>(),
            "Interval": nanos(health.interval),
            "Timeout": nanos(health.timeout),
            "StartPeriod": nanos(health.start_period),
            "Retries": health.retries,
        });
    }
    let image_config = json!({
        "architecture": spec.architecture,
        "os": "linux",
        "created": epoch,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
        "history": [{ "created": epoch, "created_by": format!("{} install --platform container (duende)", spec.name) }],
    });
    let config_bytes = to_bytes(&image_config);
    let config_digest = sha256(&config_bytes);
    let reference = format!("{REPOSITORY_PREFIX}{}:{}", spec.name, &config_digest[..12]);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer.len(),
        }],
    });
    let manifest_bytes = to_bytes(&manifest);
    let manifest_digest = sha256(&manifest_bytes);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest_bytes.len(),
            "annotations": {
                "io.containerd.image.name": reference,
                "org.opencontainers.image.ref.name": reference,
            },
        }],
    });
    let docker = json!([{
        "Config": format!("blobs/sha256/{config_digest}"),
        "RepoTags": [reference],
        "Layers": [format!("blobs/sha256/{layer_digest}")],
    }]);
    let mut archive = Tar::new();
    archive.file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec())?;
    archive.file("index.json", 0o644, to_bytes(&index))?;
    archive.file("manifest.json", 0o644, to_bytes(&docker))?;
    archive.file(&format!("blobs/sha256/{config_digest}"), 0o644, config_bytes)?;
    archive.file(&format!("blobs/sha256/{manifest_digest}"), 0o644, manifest_bytes)?;
    archive.file(&format!("blobs/sha256/{layer_digest}"), 0o644, layer)?;
    Ok(Image {
        archive: archive.finish()?,
        reference,
        id: format!("sha256:{config_digest}"),
        listing,
        config: serde_json::to_string_pretty(&image_config).unwrap_or_default(),
    })
}

/// Compact JSON with sorted keys (serde_json's map is ordered by key).
fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(binary: &[u8]) -> ImageSpec<'_> {
        ImageSpec {
            name: "demo",
            architecture: "amd64",
            binary,
            needs: [(PathBuf::from("/lib64/ld-linux-x86-64.so.2"), b"loader".to_vec())].into_iter().collect(),
            config: Some(b"[app]\ninterval_ms = 100\n"),
            account: Account { user: "nobody".into(), uid: 65534, group: "nogroup".into(), gid: 65534 },
            entrypoint: vec!["/usr/local/bin/demo".into()],
            cmd: vec!["run".into()],
            env: vec!["GREETING=hi".into()],
            health: Some(Health {
                test: vec!["/usr/local/bin/demo".into(), "__healthcheck".into()],
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(1),
                retries: 3,
                start_period: Duration::ZERO,
            }),
            labels: [("io.duende.service".to_owned(), "demo".to_owned())].into_iter().collect(),
        }
    }

    #[test]
    fn identical_inputs_give_the_same_bytes_and_the_tag_follows_the_content() {
        let a = build(&spec(b"binary")).unwrap();
        let b = build(&spec(b"binary")).unwrap();
        assert_eq!(a, b);
        assert!(a.reference.starts_with("localhost/demo:"));
        assert_eq!(&a.reference["localhost/demo:".len()..], &a.id["sha256:".len().."sha256:".len() + 12]);
        let c = build(&spec(b"binary2")).unwrap();
        assert_ne!(a.reference, c.reference);
    }

    #[test]
    fn the_layer_holds_what_a_daemon_needs() {
        let image = build(&spec(b"binary")).unwrap();
        for line in [
            "f 0755 /usr/local/bin/demo (6 bytes)",
            "f 0755 /lib64/ld-linux-x86-64.so.2 (6 bytes)",
            "f 0644 /etc/passwd (99 bytes)",
            "f 0644 /etc/demo/demo.toml (24 bytes)",
            "d 1777 /tmp/",
            "d 0755 /run/",
        ] {
            assert!(image.listing.iter().any(|l| l == line), "{line} not in {:#?}", image.listing);
        }
        let config: Value = serde_json::from_str(&image.config).unwrap();
        assert_eq!(config["os"], "linux");
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["config"]["User"], "65534:65534");
        assert_eq!(config["config"]["StopSignal"], "SIGTERM");
        assert_eq!(config["config"]["Healthcheck"]["Test"], json!(["CMD", "/usr/local/bin/demo", "__healthcheck"]));
        assert_eq!(config["config"]["Healthcheck"]["Interval"], 2_000_000_000u64);
    }

    #[test]
    fn the_archive_is_an_oci_layout_and_a_docker_archive_naming_the_same_blobs() {
        let image = build(&spec(b"binary")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("image.tar");
        std::fs::write(&archive, &image.archive).unwrap();
        let Ok(out) = std::process::Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(dir.path()).output()
        else {
            return;
        };
        assert!(out.status.success());
        let read = |p: &str| std::fs::read(dir.path().join(p)).unwrap();
        let docker: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
        let index: Value = serde_json::from_slice(&read("index.json")).unwrap();
        let manifest_blob = index["manifests"][0]["digest"].as_str().unwrap().replace("sha256:", "blobs/sha256/");
        let manifest: Value = serde_json::from_slice(&read(&manifest_blob)).unwrap();
        assert_eq!(
            docker[0]["Config"],
            manifest["config"]["digest"].as_str().unwrap().replace("sha256:", "blobs/sha256/")
        );
        assert_eq!(
            docker[0]["Layers"][0],
            manifest["layers"][0]["digest"].as_str().unwrap().replace("sha256:", "blobs/sha256/")
        );
        assert_eq!(docker[0]["RepoTags"][0], image.reference.as_str());
        for blob in std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap().flatten() {
            assert_eq!(sha256(&std::fs::read(blob.path()).unwrap()), blob.file_name().to_string_lossy());
        }
        assert_eq!(read("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
    }
}
