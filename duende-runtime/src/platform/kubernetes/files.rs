//! What `install --platform kubernetes` writes, and reading it back: the directory, the image
//! archive, the two manifests and the record at the end of the workload's (see the
//! [backend](super::backend) for what is done with them).

use std::path::{Path, PathBuf};

use super::{MARKER, Workload, render};
use crate::platform::backend::{BackendError, InstallRequest, Level};
use crate::platform::container::image::sha256;
use crate::platform::container::{Built, build_image};
use crate::platform::fs;
use crate::platform::host::Host;
use crate::platform::layout::Places;
use crate::platform::plan::{FileRole, Found, Manifest, PlannedFile, Recorded};

/// The line of the workload file that records where the configuration was read from.
const CONFIG_LINE: &str = "# Configuration read from: ";

/// The workload kinds, as the manifests spell them.
const KINDS: [&str; 2] = ["Deployment", "DaemonSet"];

/// Where one service's manifests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesLayout {
    /// Where the other backends put the configuration (read when no `--config` is given).
    pub places: Places,
    /// The directory of the manifests and the image archive.
    pub dir: PathBuf,
    /// The image archive.
    pub archive: PathBuf,
    /// The ConfigMap's manifest.
    pub config_map: PathBuf,
}

impl KubernetesLayout {
    /// The layout of `name` at `level` on `host`.
    pub fn of(host: &Host, name: &str, level: Level) -> Result<KubernetesLayout, BackendError> {
        let places = Places::of(host, name, level)?;
        let dir = places.config.parent().unwrap_or(Path::new("/")).join("kubernetes");
        // Its path is written in YAML comments and shown in commands.
        if dir.to_str().is_none_or(|text| text.contains(char::is_control)) {
            return Err(BackendError::Unavailable {
                what: format!("the manifest directory {} is not a plain UTF-8 path", dir.display()),
                fix: "set `HOME` (and `XDG_CONFIG_HOME`) to paths without control characters".to_owned(),
            });
        }
        Ok(KubernetesLayout {
            archive: dir.join(format!("{name}-image.tar")),
            config_map: dir.join(format!("{name}.configmap.yaml")),
            places,
            dir,
        })
    }

    /// The workload's manifest for `kind` (`Deployment` or `DaemonSet`).
    pub fn workload(&self, name: &str, kind: &str) -> PathBuf {
        self.dir.join(format!("{name}.{}.yaml", kind.to_ascii_lowercase()))
    }
}

/// True when `text` is a manifest duende wrote.
pub fn is_written_by_duende(text: &str) -> bool {
    text.starts_with(MARKER)
}

/// What an install left, read back from its workload file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Installed {
    /// The workload file.
    pub(super) definition: PathBuf,
    /// `Deployment` or `DaemonSet`.
    pub(super) kind: String,
    /// The namespace.
    pub(super) namespace: String,
    /// The manifests, the ConfigMap first (the order to apply them in).
    pub(super) manifests: Vec<PathBuf>,
}

impl Installed {
    /// The install recorded in the workload file `definition` with `text`.
    pub(super) fn read(definition: &Path, text: &str) -> Installed {
        let value = |key: &str| {
            let raw = text.lines().find_map(|line| line.strip_prefix(key)).unwrap_or_default();
            raw.trim().trim_matches('"').to_owned()
        };
        let mut manifests: Vec<PathBuf> = Manifest::parse(text)
            .files
            .into_iter()
            .filter(|path| path.extension().is_some_and(|e| e == "yaml") && path != definition)
            .collect();
        manifests.push(definition.to_path_buf());
        Installed {
            definition: definition.to_path_buf(),
            kind: value("kind: "),
            namespace: value("  namespace: "),
            manifests,
        }
    }

    /// `kind/NAME`, as kubectl names it.
    pub(super) fn resource(&self, name: &str) -> String {
        format!("{}/{name}", self.kind.to_ascii_lowercase())
    }
}

/// What an earlier install left in `layout` for `name` on `host`: a workload file of duende's,
/// or the first file in the way that is not.
pub(super) fn found(host: &Host, layout: &KubernetesLayout, name: &str) -> Result<Found, BackendError> {
    for kind in KINDS {
        let definition = layout.workload(name, kind);
        let Some(text) = fs::read(&host.path(&definition))? else { continue };
        let text = String::from_utf8_lossy(&text);
        if !is_written_by_duende(&text) {
            return Ok(Found::Foreign(definition));
        }
        let config = text.lines().find_map(|line| line.strip_prefix(CONFIG_LINE)).map(PathBuf::from);
        let manifest = Manifest::parse(&text);
        return Ok(Found::Ours(Recorded { definition, manifest, binary: None, config }));
    }
    // Without a workload of duende's, any file in the way is someone else's.
    for path in [&layout.config_map, &layout.archive] {
        if host.path(path).exists() {
            return Ok(Found::Foreign(path.clone()));
        }
    }
    Ok(Found::Absent)
}

/// The files an install writes, and what the cluster side needs to know of them.
#[derive(Debug)]
pub(super) struct Planned {
    /// The image archive (unless an image is named), the ConfigMap, the workload (last).
    pub(super) files: Vec<PlannedFile>,
    /// What the operator should know.
    pub(super) notes: Vec<String>,
    /// `Deployment` or `DaemonSet`.
    pub(super) kind: &'static str,
    /// The workload file.
    pub(super) definition: PathBuf,
    /// The install digest both objects carry.
    pub(super) digest: String,
}

/// The files `install` with `request` writes into `layout` for `name`: the image built from this
/// binary (unless `[platform.kubernetes] image` names one) and the manifests, the workload's
/// ending with the record of them (keeping the directories `previous` recorded).
pub(super) fn plan(
    host: &Host,
    name: &str,
    layout: &KubernetesLayout,
    request: &InstallRequest<'_>,
    previous: &Manifest,
) -> Result<Planned, BackendError> {
    let settings = request.settings;
    let wanted = &settings.platform.kubernetes;
    let mut notes = Vec::new();
    let mut files = Vec::new();
    let (reference, identity, config) = if wanted.image.is_empty() {
        let Built { image: built, binary_len, config_source, .. } =
            build_image(host, name, request, &layout.places.config)?;
        let archive = layout.archive.display();
        notes.push(format!(
            "note: the image {} is in {archive} and in no registry: load it onto every node that may run {name} \
             (`kind load image-archive {archive}` with kind, `ctr -n k8s.io images import {archive}` on a \
             containerd node, `k3s ctr images import {archive}` with k3s), or `docker load -i {archive}`, tag and \
             push it to a registry the nodes pull from and name that in `[platform.kubernetes] image`; the pods \
             have `imagePullPolicy: Never` for it, so a node without it reports `ErrImageNeverPull`",
            built.reference
        ));
        let shown = format!(
            "(image {}, {} bytes: {binary_len} of binary, id {}; an OCI and docker archive for `kind load \
             image-archive`, `ctr images import` or `docker load`)\nlayer:\n  {}",
            built.reference,
            built.archive.len(),
            built.id,
            built.listing.join("\n  ")
        );
        let config = configuration(host, request, &layout.places.config, Some(config_source))?;
        files.push(PlannedFile {
            path: layout.archive.clone(),
            contents: built.archive,
            mode: 0o600,
            shown,
            role: FileRole::Binary,
        });
        (built.reference, built.id, config)
    } else {
        let config = configuration(host, request, &layout.places.config, None)?;
        (wanted.image.clone(), wanted.image.clone(), config)
    };
    let (config_source, config_toml) = config;
    let digest = format!("sha256:{}", sha256(format!("{identity}\n{config_toml}").as_bytes()));
    let args: Vec<String> = request.sets.iter().flat_map(|set| ["--set".to_owned(), set.clone()]).collect();
    let workload = Workload {
        name,
        settings,
        image: &reference,
        config_toml: &config_toml,
        args: &args,
        env: request.overrides,
        digest: &digest,
    };
    let manifests = render(&workload).map_err(|err| BackendError::Render(err.to_string()))?;
    notes.extend(manifests.notes.iter().map(|note| format!("note: not done by Kubernetes as configured: {note}")));
    let [config_map, object] = manifests.files.as_slice() else {
        return Err(BackendError::Render("the renderer gave other than two manifests".to_owned()));
    };
    let definition = layout.workload(name, object.kind);
    let paths: Vec<&Path> = files
        .iter()
        .map(|f: &PlannedFile| f.path.as_path())
        .chain([layout.config_map.as_path(), &definition])
        .collect();
    let manifest = Manifest::of(host, previous, paths, []);
    let source = config_source
        .as_deref()
        .and_then(Path::to_str)
        .filter(|path| !path.contains(char::is_control))
        .map(|path| format!("{CONFIG_LINE}{path}\n"))
        .unwrap_or_default();
    files.push(PlannedFile::text(layout.config_map.clone(), config_map.yaml.clone(), 0o644, FileRole::Config));
    let text = format!("{}{source}{}", object.yaml, manifest.render());
    files.push(PlannedFile::text(definition.clone(), text, 0o644, FileRole::Definition));
    Ok(Planned { files, notes, kind: object.kind, definition, digest })
}

/// The configuration file `install` ships (from `--config`, else `default` when it exists):
/// where it was read from and its text.
fn configuration(
    host: &Host,
    request: &InstallRequest<'_>,
    default: &Path,
    built_from: Option<Option<PathBuf>>,
) -> Result<(Option<PathBuf>, String), BackendError> {
    let source = built_from.unwrap_or_else(|| match request.config_file {
        Some(path) => Some(path.to_path_buf()),
        None => Some(default.to_path_buf()).filter(|path| host.path(path).is_file()),
    });
    let Some(path) = source else { return Ok((None, String::new())) };
    let bytes = match fs::read(&host.path(&path))? {
        Some(bytes) => bytes,
        None => crate::platform::engine::read_source(&path)?,
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        BackendError::Render(format!("the configuration file {} is not UTF-8, which a ConfigMap needs", path.display()))
    })?;
    Ok((Some(path), text))
}
