use std::path::{Path, PathBuf};

use super::*;
use crate::config::Settings;
use crate::config::platforms::Vmm;
use crate::platform::backend::InstallOptions;
use crate::platform::status::Drift;

const DEMO: Service<'static> = Service { name: "demo", level: Level::User };

/// A host under a temporary root whose `PATH` is a directory holding `tools` (empty files).
fn host_with(root: &Path, tools: &[&str]) -> Host {
    let bin = root.join("tools");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in tools {
        std::fs::write(bin.join(tool), "").unwrap();
    }
    Host::under(root, 1000).with_var("HOME", "/home/demo").with_var("PATH", bin.to_string_lossy())
}

fn unavailable(err: BackendError) -> String {
    match err {
        BackendError::Unavailable { what, fix } => format!("{what}; {fix}"),
        other => panic!("expected Unavailable, got {other}"),
    }
}

#[test]
fn the_bundle_is_state_beside_the_logs() {
    let host = Host::under("/", 1000).with_var("HOME", "/home/demo");
    assert_eq!(bundle_dir(&host, "demo", Level::User).unwrap(), Path::new("/home/demo/.local/state/demo/pepita"));
    let xdg = host.clone().with_var("XDG_STATE_HOME", "/srv/state");
    assert_eq!(bundle_dir(&xdg, "demo", Level::User).unwrap(), Path::new("/srv/state/demo/pepita"));
    assert_eq!(bundle_dir(&host, "demo", Level::System).unwrap(), Path::new("/var/lib/demo/pepita"));
}

#[test]
fn missing_qemu_or_vsock_backend_names_the_package() {
    let root = tempfile::tempdir().unwrap();
    let none = PepitaBackend::new(host_with(root.path(), &[]));
    let qemu = unavailable(none.available(Level::User).unwrap_err());
    assert!(
        qemu.contains("`qemu-system-x86_64` is not in PATH") && qemu.contains("apt package `qemu-system-x86`"),
        "{qemu}"
    );
    let only_qemu = PepitaBackend::new(host_with(root.path(), &["qemu-system-x86_64"]));
    let vsock = unavailable(only_qemu.available(Level::User).unwrap_err());
    assert!(
        vsock.contains("`vhost-device-vsock` is not in PATH") && vsock.contains("crate `vhost-device-vsock`"),
        "{vsock}"
    );
    let both = PepitaBackend::new(host_with(root.path(), &["qemu-system-x86_64", "vhost-device-vsock"]));
    assert!(both.available(Level::User).is_ok());
}

#[test]
fn check_reports_the_vmm_kvm_and_the_vsock_backend() {
    let root = tempfile::tempdir().unwrap();
    let backend = PepitaBackend::new(host_with(root.path(), &["qemu-system-x86_64"]));
    let found = backend.diagnose(Level::User);
    let lines: Vec<String> = found.iter().map(|f| format!("{:?} {}", f.mark, f.text)).collect();
    assert!(lines.iter().any(|l| l.starts_with("Ok pepita: `qemu-system-x86_64` is ")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("Problem `vhost-device-vsock` is not in PATH")), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("Warn pepita: KVM cannot run the guest (there is no /dev/kvm)")),
        "{lines:#?}"
    );
}

#[test]
fn check_says_what_the_configured_kernel_is_or_what_is_wrong_with_it() {
    let root = tempfile::tempdir().unwrap();
    let host = host_with(root.path(), &[]);
    let kernel = Path::new("/k/boot/vmlinuz-6.1.0-57-cloud-amd64");
    let why = |kernel: Option<&Path>| crate::platform::pepita::check_kernel(&host, kernel).unwrap_err().to_string();
    assert!(why(None).starts_with("`platform.pepita.kernel` is not set"), "{}", why(None));
    assert!(
        why(Some(kernel)).contains("vmlinuz-6.1.0-57-cloud-amd64\"`: there is no such file"),
        "{}",
        why(Some(kernel))
    );
    std::fs::create_dir_all(root.path().join("k/boot")).unwrap();
    std::fs::write(root.path().join("k/boot/vmlinuz-6.1.0-57-cloud-amd64"), "").unwrap();
    let no_modules = why(Some(kernel));
    assert!(no_modules.contains("/k/lib/modules/6.1.0-57-cloud-amd64: there is no such directory"), "{no_modules}");
    let modules = root.path().join("k/lib/modules/6.1.0-57-cloud-amd64");
    std::fs::create_dir_all(&modules).unwrap();
    let builtin: String = crate::platform::pepita::modules::WANTED
        .iter()
        .map(|name| format!("kernel/net/vmw_vsock/{name}.ko\n"))
        .collect();
    std::fs::write(modules.join("modules.builtin"), builtin).unwrap();
    std::fs::write(modules.join("modules.dep"), "").unwrap();
    assert_eq!(
        crate::platform::pepita::check_kernel(&host, Some(kernel)).unwrap(),
        "`platform.pepita.kernel` is Linux 6.1.0-57-cloud-amd64 (/k/boot/vmlinuz-6.1.0-57-cloud-amd64); vsock is built into it"
    );
}

/// Why a plan for `/usr/local/bin/demo` with `settings` fails, on a host with both tools.
fn plan_error(settings: &Settings<()>) -> String {
    let root = tempfile::tempdir().unwrap();
    let backend = PepitaBackend::new(host_with(root.path(), &["qemu-system-x86_64", "vhost-device-vsock"]));
    let request = InstallRequest {
        options: InstallOptions::default(),
        settings,
        binary: Path::new("/usr/local/bin/demo"),
        config_file: None,
        sets: &[],
        overrides: &[],
        docs: None,
    };
    backend.plan(&DEMO, &request, &Manifest::default()).unwrap_err().to_string()
}

#[test]
fn a_plan_without_a_kernel_names_the_config_key() {
    let err = plan_error(&Settings::<()> { name: "demo".to_owned(), ..Settings::default() });
    assert!(err.contains("`platform.pepita.kernel` is not set") && err.contains("scripts/pepita-kernel"), "{err}");
}

#[test]
fn a_monitor_other_than_qemu_is_refused_by_name() {
    for (vmm, word) in [(Vmm::Firecracker, "firecracker"), (Vmm::CloudHypervisor, "cloud-hypervisor")] {
        let mut settings = Settings::<()> { name: "demo".to_owned(), ..Settings::default() };
        settings.platform.pepita.vmm = vmm;
        settings.platform.pepita.kernel = Some(PathBuf::from("/k/boot/vmlinuz-6.1"));
        let err = plan_error(&settings);
        assert!(
            err.contains(&format!("`platform.pepita.vmm = \"{word}\"` is not supported yet"))
                && err.contains("set `platform.pepita.vmm = \"qemu\"`"),
            "{err}"
        );
    }
}

#[test]
fn a_changed_kernel_is_kernel_drift() {
    assert_eq!(FileRole::Kernel.drift(), Drift::Kernel);
    assert_eq!(Drift::Kernel.to_string(), "kernel");
}

#[test]
fn systemd_runs_the_vm_where_it_is_the_init_and_the_native_supervisor_elsewhere() {
    let root = tempfile::tempdir().unwrap();
    let tools = ["qemu-system-x86_64", "vhost-device-vsock"];
    let native = PepitaBackend::new(host_with(root.path(), &tools));
    assert_eq!(native.manager_platform(), Platform::Native);
    assert_eq!(native.platform(), Platform::Pepita);
    std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
    let systemd = PepitaBackend::new(host_with(root.path(), &tools));
    assert_eq!(systemd.manager_platform(), Platform::Systemd);
    assert_eq!(systemd.platform(), Platform::Pepita);
    let said: Vec<String> = systemd.diagnose(Level::User).into_iter().map(|f| f.text).collect();
    assert!(said.iter().any(|t| t.contains("the VM runner is installed as a systemd unit")), "{said:#?}");
    // Under systemd the runner's unit is the service's: its control socket is the unit's runtime
    // directory's.
    let system = Service { name: "demo", level: Level::System };
    assert_eq!(systemd.control_socket(&system), Some(PathBuf::from("/run/demo/control.sock")));
}

#[test]
fn the_runner_stops_the_vm_before_either_manager_kills_it() {
    let ends = runner::STOP_MARGIN + runner::WIND_DOWN;
    assert!(ends < crate::platform::systemd::unit::STOP_MARGIN, "{ends:?}");
    assert!(ends < crate::platform::native::supervisor::STOP_MARGIN, "{ends:?}");
}

#[test]
fn the_runner_has_a_sandbox_qemu_can_run_in() {
    let vsock = Path::new("/usr/bin/vhost-device-vsock");
    let tcg = runner_hosted(Path::new("/var/lib/demo/pepita"), Accel::Tcg, vsock);
    assert_eq!(tcg.command, ["__pepita-vm", "--bundle", "/var/lib/demo/pepita"]);
    assert!(tcg.jit && tcg.devices.is_empty());
    assert_eq!(tcg.needs, [("vsock backend", vsock.to_path_buf())]);
    let kvm = runner_hosted(Path::new("/var/lib/demo/pepita"), Accel::Kvm, vsock);
    assert_eq!(kvm.devices, [PathBuf::from("/dev/kvm")]);
}

#[test]
fn a_user_or_group_is_refused_with_the_key() {
    let root = tempfile::tempdir().unwrap();
    let backend = PepitaBackend::new(host_with(root.path(), &["qemu-system-x86_64", "vhost-device-vsock"]));
    let settings = Settings::<()> { name: "demo".to_owned(), user: Some("demo".to_owned()), ..Settings::default() };
    let request = InstallRequest {
        options: InstallOptions::default(),
        settings: &settings,
        binary: Path::new("/usr/local/bin/demo"),
        config_file: None,
        sets: &[],
        overrides: &[],
        docs: None,
    };
    let err = backend.plan(&DEMO, &request, &Manifest::default()).unwrap_err().to_string();
    assert!(
        err.contains("`user` is set, but a pepita daemon runs as root of its own VM") && err.ends_with("unset `user`")
    );
}
