//! Which platform this process runs on, decided by a pure function over an [`EnvView`].
//!
//! Rules, first match wins:
//! 1. WOS: `WOS_VERSION` is set, or the target is `wasm32`.
//! 2. pepita: an explicit marker, `PEPITA_VSOCK_CID` or `PEPITA_VM` (never a guessed device such
//!    as `/dev/virtio-ports`, which any QEMU guest may have).
//! 3. systemd: `/run/systemd/system` exists (systemd is the init), or `INVOCATION_ID` or
//!    `NOTIFY_SOCKET` is set (started by systemd). A systemd-booted container (nspawn, podman
//!    with systemd) has `/run/systemd/system` and so counts as systemd: that is its manager.
//! 4. container: `/.dockerenv`, `/run/.containerenv` (podman), a non-empty `container=`
//!    variable, a container runtime's name in `/proc/self/cgroup` (cgroup v1, or v2 without a
//!    cgroup namespace), a container store in the root of a mount in `/proc/self/mountinfo`
//!    (cgroup v2 in a namespace, where `/proc/self/cgroup` is just `0::/`), or
//!    `KUBERNETES_SERVICE_HOST`.
//! 5. launchd: the target is macOS.
//! 6. native: none of the above.
//!
//! Kubernetes is never detected: it is where `install --platform kubernetes` sends a daemon,
//! and a daemon in one of its pods runs in a container (rule 4).

use std::path::Path;

use super::Platform;
use super::env::EnvView;

/// The detected platform and what was seen that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The platform.
    pub platform: Platform,
    /// One line per marker seen, such as "/run/.containerenv exists (podman)". Never empty.
    pub evidence: Vec<String>,
}

impl Detection {
    /// The evidence as one line, markers separated by `; `.
    pub fn evidence_line(&self) -> String {
        self.evidence.join("; ")
    }
}

/// Names in a cgroup path that only a container runtime puts there.
const CGROUP_MARKERS: [&str; 6] = ["docker", "kubepods", "libpod", "containerd", "lxc", "ecs"];

/// Paths that appear as the *root* of a bind mount only inside a container (the host side of
/// `/etc/hostname`, `/etc/resolv.conf`, `/etc/hosts`).
const MOUNT_MARKERS: [&str; 6] = [
    "/docker/containers/",
    "/var/lib/containers/",
    "/containers/storage/",
    "/containerd/",
    "kubepods",
    "/kubelet/pods/",
];

/// Detects the platform from `env` alone.
pub fn detect(env: &dyn EnvView) -> Detection {
    let found = |platform, evidence: Vec<String>| (!evidence.is_empty()).then_some(Detection { platform, evidence });
    found(Platform::Wos, wos(env))
        .or_else(|| found(Platform::Pepita, pepita(env)))
        .or_else(|| found(Platform::Systemd, systemd(env)))
        .or_else(|| found(Platform::Container, container(env)))
        .or_else(|| found(Platform::Launchd, launchd(env)))
        .unwrap_or_else(|| Detection {
            platform: Platform::Native,
            evidence: vec![format!(
                "no service manager, container or VM marker found ({} on {})",
                env.target_os(),
                env.target_arch()
            )],
        })
}

fn var_evidence(env: &dyn EnvView, names: &[&str]) -> Vec<String> {
    names.iter().filter_map(|name| env.var(name).filter(|v| !v.is_empty()).map(|v| format!("{name}={v}"))).collect()
}

fn wos(env: &dyn EnvView) -> Vec<String> {
    let mut evidence = var_evidence(env, &["WOS_VERSION"]);
    if env.target_arch() == "wasm32" {
        evidence.push(format!("built for wasm32 ({})", env.target_os()));
    }
    evidence
}

fn pepita(env: &dyn EnvView) -> Vec<String> {
    var_evidence(env, &["PEPITA_VSOCK_CID", "PEPITA_VM"])
}

/// Whether systemd is this host's init, and so the manager services are installed with:
/// `/run/systemd/system` exists (what `sd_booted()` checks). Being started by systemd
/// (`INVOCATION_ID`, `NOTIFY_SOCKET`) is not enough for that: a user's manager may run where
/// the init is something else.
pub fn systemd_booted(env: &dyn EnvView) -> bool {
    env.exists(Path::new("/run/systemd/system"))
}

fn systemd(env: &dyn EnvView) -> Vec<String> {
    let mut evidence = Vec::new();
    if systemd_booted(env) {
        evidence.push("/run/systemd/system exists".to_owned());
    }
    evidence.extend(var_evidence(env, &["INVOCATION_ID", "NOTIFY_SOCKET"]));
    evidence
}

fn launchd(env: &dyn EnvView) -> Vec<String> {
    let mut evidence = Vec::new();
    if env.target_os() == "macos" {
        evidence.push("running on macOS".to_owned());
        evidence.extend(var_evidence(env, &["XPC_SERVICE_NAME"]));
    }
    evidence
}

fn container(env: &dyn EnvView) -> Vec<String> {
    let mut evidence = Vec::new();
    if env.exists(Path::new("/.dockerenv")) {
        evidence.push("/.dockerenv exists (docker)".to_owned());
    }
    if env.exists(Path::new("/run/.containerenv")) {
        evidence.push("/run/.containerenv exists (podman)".to_owned());
    }
    if let Some(value) = env.var("container").filter(|v| !v.is_empty()) {
        evidence.push(format!("container={value}"));
    }
    if let Some(text) = env.read(Path::new("/proc/self/cgroup")) {
        evidence.extend(cgroup_markers(&text));
    }
    if let Some(text) = env.read(Path::new("/proc/self/mountinfo")) {
        evidence.extend(mountinfo_marker(&text));
    }
    evidence.extend(var_evidence(env, &["KUBERNETES_SERVICE_HOST"]));
    evidence
}

/// A line of `/proc/self/cgroup` (`ID:CONTROLLERS:PATH`) whose path has a runtime's name in
/// one of its components, e.g. `/docker/<id>`, `/system.slice/docker-<id>.scope`,
/// `/kubepods/burstable/...`, `/machine.slice/libpod-<id>.scope`, `/lxc/<name>`, `/ecs/<task>`.
fn cgroup_markers(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        let marker = path
            .split('/')
            .find_map(|component| CGROUP_MARKERS.iter().find(|marker| component_names(component, marker)).copied())?;
        Some(format!("/proc/self/cgroup has `{}` ({marker})", line.trim()))
    })
}

/// True when a cgroup path component is `marker`, or starts with it followed by a separator
/// (`docker-<id>.scope`, `lxc.payload.x`, `kubepods-burstable.slice`), or is a
/// `cri-containerd-<id>.scope`. A `.service` unit named after a runtime (`docker.service`,
/// `containerd.service`) is the runtime's own daemon on the host, not a container.
fn component_names(component: &str, marker: &str) -> bool {
    if component.ends_with(".service") {
        return false;
    }
    let component = component.strip_prefix("cri-").unwrap_or(component);
    component.strip_prefix(marker).is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.', '_']))
}

/// The first mount whose root (the 4th field of `/proc/self/mountinfo`) lies in a container
/// runtime's store. Only the root is checked: on a host running containers the stores appear
/// as mount *points*, which must not count.
fn mountinfo_marker(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        let marker = MOUNT_MARKERS.iter().find(|marker| root.contains(*marker))?;
        Some(format!("/proc/self/mountinfo mounts `{root}` on `{mount_point}` ({marker})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::env::FakeEnv;

    const CGROUP_V2_NAMESPACED: &str = "0::/\n";

    fn platform(env: &FakeEnv) -> Platform {
        detect(env).platform
    }

    fn evidence(env: &FakeEnv) -> String {
        detect(env).evidence_line()
    }

    #[test]
    fn a_plain_host_is_native() {
        // This machine: hybrid cgroups, a v1 memory path of the sandbox's own agent, no markers.
        let env = FakeEnv::new()
            .with_file("/proc/self/cgroup", "9:name=systemd:/\n4:memory:/process_api/018a7a\n1:cpu:/\n0::/\n")
            .with_file(
                "/proc/self/mountinfo",
                "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            )
            .with_var("CONTAINER_NAME", "not-the-container-variable");
        let detection = detect(&env);
        assert_eq!(detection.platform, Platform::Native);
        assert_eq!(detection.evidence, ["no service manager, container or VM marker found (linux on x86_64)"]);
    }

    #[test]
    fn wos_by_variable_or_wasm32() {
        assert_eq!(platform(&FakeEnv::new().with_var("WOS_VERSION", "0.3")), Platform::Wos);
        assert_eq!(evidence(&FakeEnv::new().with_var("WOS_VERSION", "0.3")), "WOS_VERSION=0.3");
        let wasm = FakeEnv::new().os("wasi").arch("wasm32");
        assert_eq!(platform(&wasm), Platform::Wos);
        assert_eq!(evidence(&wasm), "built for wasm32 (wasi)");
        // WOS wins over everything, even a systemd marker leaking into the environment.
        assert_eq!(platform(&wasm.with_var("NOTIFY_SOCKET", "/run/n")), Platform::Wos);
    }

    #[test]
    fn pepita_only_by_explicit_marker() {
        assert_eq!(platform(&FakeEnv::new().with_var("PEPITA_VSOCK_CID", "3")), Platform::Pepita);
        assert_eq!(evidence(&FakeEnv::new().with_var("PEPITA_VM", "vm1")), "PEPITA_VM=vm1");
        assert_eq!(
            platform(&FakeEnv::new().with_dir("/dev/virtio-ports")),
            Platform::Native,
            "a QEMU guest is not pepita"
        );
        let inside = FakeEnv::new().with_var("PEPITA_VSOCK_CID", "3").with_dir("/run/systemd/system");
        assert_eq!(platform(&inside), Platform::Pepita, "pepita comes before systemd");
    }

    #[test]
    fn systemd_by_directory_or_variables() {
        let booted = FakeEnv::new().with_dir("/run/systemd/system");
        assert_eq!(platform(&booted), Platform::Systemd);
        assert_eq!(evidence(&booted), "/run/systemd/system exists");
        assert_eq!(platform(&FakeEnv::new().with_var("INVOCATION_ID", "abc")), Platform::Systemd);
        let notify = FakeEnv::new().with_var("NOTIFY_SOCKET", "/run/systemd/notify");
        assert_eq!(evidence(&notify), "NOTIFY_SOCKET=/run/systemd/notify");
        assert_eq!(platform(&FakeEnv::new().with_var("INVOCATION_ID", "")), Platform::Native, "empty is unset");
    }

    #[test]
    fn nspawn_booted_with_systemd_is_systemd() {
        let env = FakeEnv::new().with_var("container", "systemd-nspawn").with_dir("/run/systemd/system");
        assert_eq!(platform(&env), Platform::Systemd);
        // Without systemd inside (`systemd-nspawn -D / cmd`), it is just a container.
        let bare = FakeEnv::new().with_var("container", "systemd-nspawn");
        assert_eq!(platform(&bare), Platform::Container);
        assert_eq!(evidence(&bare), "container=systemd-nspawn");
    }

    #[test]
    fn docker_by_dockerenv_and_cgroup_v1() {
        let env = FakeEnv::new().with_file("/.dockerenv", "");
        assert_eq!(platform(&env), Platform::Container);
        assert_eq!(evidence(&env), "/.dockerenv exists (docker)");
        let cgroup = "12:memory:/docker/3f2a9c\n11:cpu,cpuacct:/docker/3f2a9c\n0::/\n";
        let env = FakeEnv::new().with_file("/proc/self/cgroup", cgroup);
        assert_eq!(platform(&env), Platform::Container);
        assert_eq!(evidence(&env), "/proc/self/cgroup has `12:memory:/docker/3f2a9c` (docker)");
        let scope = FakeEnv::new().with_file("/proc/self/cgroup", "0::/system.slice/docker-3f2a9c.scope\n");
        assert_eq!(platform(&scope), Platform::Container, "cgroup v2 without a namespace");
    }

    #[test]
    fn every_cgroup_runtime_marker() {
        for (path, marker) in [
            ("/kubepods/burstable/pod1/abc", "kubepods"),
            ("/kubepods.slice/kubepods-besteffort.slice/x", "kubepods"),
            ("/machine.slice/libpod-4d5e.scope", "libpod"),
            ("/default/x/containerd-shim", "containerd"),
            ("/system.slice/cri-containerd-9a.scope", "containerd"),
            ("/lxc/web1", "lxc"),
            ("/lxc.payload.web1", "lxc"),
            ("/ecs/task-id/cid", "ecs"),
        ] {
            let env = FakeEnv::new().with_file("/proc/self/cgroup", &format!("3:cpu:{path}\n"));
            let detection = detect(&env);
            assert_eq!(detection.platform, Platform::Container, "{path}");
            assert!(
                detection.evidence_line().ends_with(&format!("({marker})")),
                "{path}: {}",
                detection.evidence_line()
            );
        }
        for innocent in [
            "/user.slice/user-1000.slice/session-2.scope",
            "/specs/x",
            "/dockerd-helper",
            "/process_api/1",
            "/system.slice/docker.service",
            "/system.slice/containerd.service",
        ] {
            let env = FakeEnv::new().with_file("/proc/self/cgroup", &format!("3:cpu:{innocent}\n"));
            assert_eq!(platform(&env), Platform::Native, "{innocent}");
        }
    }

    #[test]
    fn podman_by_containerenv() {
        let env =
            FakeEnv::new().with_file("/run/.containerenv", "engine=\"podman-4.3.1\"\n").with_var("container", "podman");
        let detection = detect(&env);
        assert_eq!(detection.platform, Platform::Container);
        assert_eq!(detection.evidence, ["/run/.containerenv exists (podman)", "container=podman"]);
    }

    #[test]
    fn cgroup_v2_container_by_mountinfo() {
        let mountinfo = "\
700 650 0:60 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A\n\
712 700 254:1 /var/lib/docker/containers/3f2a/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n";
        let env = FakeEnv::new()
            .with_file("/proc/self/cgroup", CGROUP_V2_NAMESPACED)
            .with_file("/proc/self/mountinfo", mountinfo);
        let detection = detect(&env);
        assert_eq!(detection.platform, Platform::Container);
        assert_eq!(
            detection.evidence,
            [
                "/proc/self/mountinfo mounts `/var/lib/docker/containers/3f2a/resolv.conf` on `/etc/resolv.conf` (/docker/containers/)"
            ]
        );
        for root in [
            "/var/lib/containers/storage/overlay-containers/9c/userdata/hostname",
            "/home/u/.local/share/containers/storage/overlay-containers/9c/userdata/hosts",
            "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/1/hostname",
            "/var/lib/kubelet/pods/5e/etc-hosts",
        ] {
            let line = format!("80 70 254:1 {root} /etc/hostname rw - ext4 /dev/vda1 rw\n");
            let env = FakeEnv::new()
                .with_file("/proc/self/cgroup", CGROUP_V2_NAMESPACED)
                .with_file("/proc/self/mountinfo", &line);
            assert_eq!(platform(&env), Platform::Container, "{root}");
        }
    }

    #[test]
    fn a_host_running_containers_is_not_a_container() {
        // On the host the stores are mount points, not mount roots.
        let mountinfo = "\
90 27 0:70 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw\n\
91 27 0:71 / /var/lib/containers/storage/overlay/def/merged rw - overlay overlay rw\n";
        let env = FakeEnv::new()
            .with_file("/proc/self/cgroup", CGROUP_V2_NAMESPACED)
            .with_file("/proc/self/mountinfo", mountinfo);
        assert_eq!(platform(&env), Platform::Native);
    }

    #[test]
    fn kubernetes_by_service_host() {
        let env = FakeEnv::new().with_var("KUBERNETES_SERVICE_HOST", "10.96.0.1");
        assert_eq!(platform(&env), Platform::Container);
        assert_eq!(evidence(&env), "KUBERNETES_SERVICE_HOST=10.96.0.1");
    }

    #[test]
    fn macos_is_launchd() {
        let env = FakeEnv::new().os("macos").arch("aarch64").with_var("XPC_SERVICE_NAME", "com.example.demo");
        let detection = detect(&env);
        assert_eq!(detection.platform, Platform::Launchd);
        assert_eq!(detection.evidence, ["running on macOS", "XPC_SERVICE_NAME=com.example.demo"]);
        assert_eq!(platform(&FakeEnv::new().os("macos")), Platform::Launchd);
        assert_eq!(platform(&FakeEnv::new().os("macos").with_file("/.dockerenv", "")), Platform::Container);
    }
}
