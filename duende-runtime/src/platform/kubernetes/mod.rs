//! Kubernetes: the manifests a daemon is deployed with, rendered by a pure function from its
//! validated configuration ([`render`]). No file system, no environment, no cluster: the same
//! [`Workload`] always gives the same bytes, and what the manifests cannot honour comes back as
//! [`Manifests::notes`] (and as comments in the workload's file) instead of being dropped.
//! [`KubernetesBackend`] writes them, with the image they name, and applies them with `kubectl`
//! where a cluster answers (`install --platform kubernetes`; see `backend.rs`).
//!
//! What is rendered: a ConfigMap holding the configuration file (key `NAME.toml`, mounted
//! read-only at `/etc/NAME`), and a Deployment (`replicas` from `[platform.kubernetes]`) or a
//! DaemonSet (`kind = "daemonset"`, one pod per node, for node-local daemons), in
//! `platform.kubernetes.namespace`. Every object has `app.kubernetes.io/name: NAME` and
//! `app.kubernetes.io/managed-by: duende` (and `app.kubernetes.io/version` when the version is a
//! valid label value); the pod template carries the install digest as the annotation
//! [`DIGEST_ANNOTATION`], so a changed binary or configuration rolls the pods.
//!
//! The image is pulled only when missing (`imagePullPolicy: IfNotPresent`), and never when it is
//! the one duende built (`localhost/NAME:TAG`, in no registry: `Never`, so a node it was not
//! loaded onto says `ErrImageNeverPull` instead of asking a registry at `localhost`).
//!
//! The container runs the image's binary as `/usr/local/bin/NAME run --config
//! /etc/NAME/NAME.toml`, then [`Workload::args`] (runtime flags such as `--set`), then `--` and
//! the configuration's own `args` when there are any. The rules that make the rest:
//!
//! - **Values reach the daemon exactly.** Every string is a double-quoted YAML scalar
//!   (see `yaml.rs`). The kubelet expands `$(VAR)` in `command`, `args` and `env` values
//!   and reads `$$` as `$`, so every `$` in those is written `$$`: a value such as `$(id)` or
//!   `$$` arrives as it was written. The configuration file in the ConfigMap is not expanded.
//! - **Stopping.** `terminationGracePeriodSeconds` = `shutdown_timeout` (whole seconds, rounded
//!   up) + [`GRACE_MARGIN`]. There is no `preStop` hook, so the grace period starts with the
//!   kubelet's SIGTERM and the runtime's own shutdown deadline (exit 75) fires before the
//!   kubelet's SIGKILL.
//! - **Probes** ask the daemon whether it serves (ready, not stopping, not unhealthy) and time
//!   out, repeat and give up by `[health_check]`: `periodSeconds` = `interval`, `timeoutSeconds` =
//!   `timeout` (rounded up), `failureThreshold` = `retries`, for the readiness and the liveness
//!   probe; whether the daemon runs checks of its own (`enabled`) does not change them, a daemon
//!   can still report itself unhealthy or stop answering. A startup probe every
//!   [`STARTUP_PERIOD`] for up to [`STARTUP_BUDGET`] holds the other two back until `init` has
//!   finished, so a slow `init` is not killed as dead. The probe is `GET /healthz` on the
//!   metrics listener when `[metrics]` is on and the kubelet can reach it (a non-loopback address
//!   with a fixed port; an exec probe forks a process on every run), otherwise the exec probe
//!   `/usr/local/bin/NAME __healthcheck`, which asks the daemon through its control socket; the
//!   YAML says which and why.
//! - **Resources**: `memory_bytes` → `limits.memory`; `cpu_quota_percent` → `limits.cpu`
//!   (percent / 100 cores, in millicores). Kubernetes then requests what it limits. Not
//!   mapped, each listed in the notes: `cpu_shares` (a relative weight, while Kubernetes derives
//!   the weight from `requests.cpu`, an absolute amount the scheduler must find on a node),
//!   `memory_swap_bytes` (swap is the node's setting), `io_read_bps`/`io_write_bps` (no pod
//!   field), `pids_max` (the kubelet's node-wide `podPidsLimit`), `open_files_max` (the
//!   container runtime's `RLIMIT_NOFILE`).
//! - **Memory locking** adds the `IPC_LOCK` capability. Kubernetes has no per-pod
//!   `RLIMIT_MEMLOCK` (kubernetes issue 3595): the capability lets a root daemon lock past the
//!   limit, while a daemon of another user can lock only as much as the node's container runtime
//!   allows (run it with `LimitMEMLOCK=infinity`). The notes say so.
//! - **Restarts**: pods of a Deployment or DaemonSet only support `restartPolicy: Always`, so
//!   `restart = "never"` and `"on-failure"` cannot be honoured (a Job would not restart, but a
//!   Job is not a daemon); the notes say so. `always` and `unless-stopped` are what Kubernetes
//!   does (an operator stops a workload by scaling or deleting it). The delay between restarts
//!   is the kubelet's own (10 s doubling to 5 min): a `[backoff]` other than the default is
//!   noted.
//! - **User**: a numeric `user` becomes `runAsUser` (with `runAsNonRoot` unless it is 0), a
//!   numeric `group` `runAsGroup`. A name cannot go there, and `runAsNonRoot` cannot verify a
//!   name (the kubelet refuses to start such a container), so a named user leaves both out: the
//!   image's own user (built as the configured one) applies, and a note says so.
//! - **Hardening** (on by default) maps to what a pod can say: all capabilities dropped but
//!   `hardening.capabilities` and `IPC_LOCK`, `allowPrivilegeEscalation: false`
//!   (`no_new_privileges`), the runtime's default seccomp profile. The file-system keys are
//!   systemd's only; the root file system stays writable (the daemon may write where its image
//!   lets it).
//! - **The runtime directory** (control socket, restart record) is an `emptyDir` in memory at
//!   `/run/duende`, with `RUNTIME_DIRECTORY=/run/duende/NAME`, so the daemon and the exec probe
//!   agree on it whatever the user, and it survives container restarts within the pod (so
//!   `duende_restarts_total` counts them).
//! - **No service links** (`enableServiceLinks: false`): Kubernetes would otherwise put
//!   `SERVICE_HOST`/`PORT` variables of every Service in the namespace into the environment, and
//!   a Service named like the daemon would give it `NAME_PORT`..., which the daemon reads as
//!   configuration and refuses.

mod backend;
mod files;
mod observe;
mod render;
mod yaml;

#[cfg(test)]
mod backend_tests;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use backend::{KubernetesBackend, REQUEST_TIMEOUT, ROLLOUT_TIMEOUT};
pub use files::{KubernetesLayout, is_written_by_duende};
pub use render::render;

/// What `terminationGracePeriodSeconds` adds to `shutdown_timeout`: the runtime's deadline fires
/// first and exits with status 75; this leaves time for that exit before the kubelet's SIGKILL.
pub const GRACE_MARGIN: Duration = Duration::from_secs(5);

/// How often the startup probe asks while `init` runs.
pub const STARTUP_PERIOD: Duration = Duration::from_secs(1);

/// How long `init` may take before the kubelet restarts the container (the native supervisor
/// waits as long for readiness).
pub const STARTUP_BUDGET: Duration = Duration::from_secs(120);

/// The pod template's annotation holding [`Workload::digest`].
pub const DIGEST_ANNOTATION: &str = "duende/digest";

/// The first words of every manifest duende writes.
pub const MARKER: &str = "# Written by duende";

/// Everything one render needs: the daemon, its validated configuration and the facts of the
/// install (the image, the configuration file's text, extra flags and environment).
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    /// The daemon's name; it names every object, so it must be a DNS label (no `_`, at most 63
    /// characters).
    pub name: &'a str,
    /// The validated configuration.
    pub settings: &'a crate::config::Settings<()>,
    /// The image reference, such as `localhost/demo:3f2a9c1b7d4e`.
    pub image: &'a str,
    /// The configuration file's text, shipped in the ConfigMap as `NAME.toml`.
    pub config_toml: &'a str,
    /// Runtime flags after `run --config /etc/NAME/NAME.toml`, such as `["--set", "app.x=1"]`;
    /// the configuration's own `args` follow after `--`.
    pub args: &'a [String],
    /// Environment besides `settings.env` (it wins over `settings.env` for the same name), such
    /// as the installer's `NAME_*` variables.
    pub env: &'a [(String, String)],
    /// A hash of what is installed (binary and configuration), for the pod template's annotation.
    pub digest: &'a str,
}

/// One rendered manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The file's name, such as `demo.deployment.yaml`.
    pub file_name: String,
    /// The object's kind: `ConfigMap`, `Deployment` or `DaemonSet`.
    pub kind: &'static str,
    /// The file's text: one YAML document.
    pub yaml: String,
}

/// The manifests of one workload, in the order to apply them, and what they cannot honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifests {
    /// The ConfigMap, then the Deployment or DaemonSet.
    pub files: Vec<Manifest>,
    /// Configuration Kubernetes does not enforce or does differently, one sentence each, for the
    /// CLI to print (also written as comments at the top of the workload's file).
    pub notes: Vec<String>,
}

impl Manifests {
    /// Every file as one multi-document YAML stream (`---` between them), for `kubectl apply -f -`.
    pub fn stream(&self) -> String {
        self.files.iter().map(|file| file.yaml.as_str()).collect::<Vec<_>>().join("---\n")
    }
}

/// Why a workload cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The daemon's name is not a DNS label.
    #[error(
        "`{0}` cannot name Kubernetes objects: it must be a DNS label (lowercase letters, digits and `-`, at most 63 \
         characters, starting with a letter and ending with a letter or digit; no `_`); rename the daemon with \
         `#[duende::main(name = \"...\")]`"
    )]
    Name(String),
    /// The namespace is not a DNS label.
    #[error(
        "`platform.kubernetes.namespace` = {0:?} is not a namespace: it must be a DNS label (lowercase letters, \
         digits and `-`, at most 63 characters)"
    )]
    Namespace(String),
    /// The image reference is empty or has spaces or control characters.
    #[error(
        "the image {0:?} is not an image reference: it must be non-empty, without spaces or control characters, such \
         as `localhost/demo:3f2a9c1b7d4e`"
    )]
    Image(String),
    /// An environment variable name Kubernetes refuses.
    #[error(
        "the environment variable name {0:?} is refused by Kubernetes: it must consist of letters, digits, `_`, `-` \
         and `.`, and not start with a digit"
    )]
    EnvName(String),
    /// The working directory is not an absolute UTF-8 path.
    #[error("`working_dir` = {0:?} must be an absolute UTF-8 path")]
    WorkingDir(std::path::PathBuf),
    /// The configuration file does not fit in a ConfigMap.
    #[error("the configuration file is {0} bytes; a ConfigMap holds at most 1048576 (1 MiB)")]
    ConfigTooLarge(usize),
    /// No install digest was given.
    #[error("no install digest: the pod template needs one so that a changed binary or configuration rolls the pods")]
    NoDigest,
    /// A number Kubernetes would not accept.
    #[error("`{key}` = {value} is out of range for Kubernetes: it must be {allowed}")]
    OutOfRange {
        /// The configuration key.
        key: &'static str,
        /// The value.
        value: String,
        /// What is accepted.
        allowed: &'static str,
    },
}
