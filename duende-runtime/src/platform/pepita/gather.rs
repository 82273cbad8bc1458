//! What a bundle is made of, read from the host: the binary and the libraries it links (found as
//! the loader would, with `container::elf`), the configuration file, and the guest kernel's
//! modules. The kernel is `platform.pepita.kernel`, a `.../boot/vmlinuz-VERSION` whose modules are
//! in `.../lib/modules/VERSION/`: the layout of an installed kernel (`/boot`, `/lib/modules`) and
//! of a kernel package unpacked with `dpkg -x` alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::bundle::{self, BundleSpec};
use super::modules::{self, Module, ModuleError};
use super::{DEFAULT_CID, PepitaError, qemu};
use crate::config::platforms::{PepitaSettings, Vmm};
use crate::platform::Host;
use crate::platform::container::elf;

/// What the bundle of one daemon holds.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The daemon's name.
    pub name: &'a str,
    /// The binary, on the host.
    pub binary: &'a Path,
    /// The configuration file (validated), on the host.
    pub config: Option<&'a Path>,
    /// `--set` flags the daemon is run with.
    pub sets: &'a [String],
    /// The daemon's own arguments (after `--`).
    pub args: &'a [String],
    /// Environment variables the daemon gets.
    pub env: &'a BTreeMap<String, String>,
    /// `[platform.pepita]`.
    pub settings: &'a PepitaSettings,
}

/// The kernel version and modules directory of the kernel at `kernel`:
/// `.../boot/vmlinuz-VERSION` → `.../lib/modules/VERSION`.
pub fn modules_dir(kernel: &Path) -> Result<(String, PathBuf), String> {
    let file = kernel.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let version = ["vmlinuz-", "vmlinux-"]
        .iter()
        .find_map(|prefix| file.strip_prefix(prefix))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| "its file name must be vmlinuz-VERSION, to find the modules of that VERSION".to_owned())?;
    let boot = kernel.parent().filter(|dir| dir.file_name().is_some_and(|name| name == "boot"));
    let root = boot.and_then(Path::parent).ok_or_else(|| {
        "it must be in a `boot` directory, with the modules in `lib/modules/VERSION` beside it".to_owned()
    })?;
    Ok((version.to_owned(), root.join("lib/modules").join(version)))
}

/// The guest kernel as found on the host.
struct GuestKernel {
    /// `platform.pepita.kernel`.
    path: PathBuf,
    /// Its version, from its file name.
    version: String,
    /// Its modules directory.
    dir: PathBuf,
    /// The modules the guest loads, in order.
    modules: Vec<Module>,
}

fn guest_kernel(host: &Host, kernel: Option<&Path>) -> Result<GuestKernel, PepitaError> {
    let path = kernel.ok_or(PepitaError::NoKernel)?.to_path_buf();
    if !host.path(&path).is_file() {
        return Err(PepitaError::Kernel { path, reason: "there is no such file".to_owned() });
    }
    let (version, dir) = modules_dir(&path).map_err(|reason| PepitaError::Kernel { path: path.clone(), reason })?;
    let modules = kernel_modules(host, &dir).map_err(|reason| PepitaError::Modules {
        kernel: path.clone(),
        dir: dir.clone(),
        reason,
    })?;
    Ok(GuestKernel { path, version, dir, modules })
}

/// What `check` says of `platform.pepita.kernel` (`kernel`): the kernel's version and the
/// modules the guest would load from it, or why no bundle can be built with it.
pub fn check_kernel(host: &Host, kernel: Option<&Path>) -> Result<String, PepitaError> {
    let found = guest_kernel(host, kernel)?;
    let modules = if found.modules.is_empty() {
        "vsock is built into it".to_owned()
    } else {
        format!("{} vsock modules from {}", found.modules.len(), found.dir.display())
    };
    Ok(format!("`platform.pepita.kernel` is Linux {} ({}); {modules}", found.version, found.path.display()))
}

/// Reads everything the bundle of `request` holds from `host`.
pub fn gather(host: &Host, request: &Request<'_>) -> Result<BundleSpec, PepitaError> {
    let settings = request.settings;
    match settings.vmm {
        Vmm::Auto | Vmm::Qemu => {}
        Vmm::Firecracker => return Err(PepitaError::Vmm("firecracker")),
        Vmm::CloudHypervisor => return Err(PepitaError::Vmm("cloud-hypervisor")),
    }
    let GuestKernel { path: kernel, version: kernel_version, dir, modules } =
        guest_kernel(host, settings.kernel.as_deref())?;
    let mut module_files = Vec::new();
    for module in modules {
        module_files.push((module.path.clone(), read(host, &dir.join(&module.path))?));
    }

    let binary = read(host, request.binary)?;
    let not_runnable = |reason: String| PepitaError::Binary { path: request.binary.to_path_buf(), reason };
    let parsed = elf::parse(&binary).map_err(|err| not_runnable(err.to_string()))?;
    if parsed.architecture != "amd64" {
        return Err(not_runnable(format!(
            "it is built for {}, and pepita guests are x86_64 (QEMU's `microvm` machine) for now",
            parsed.architecture
        )));
    }
    let read_host = |path: &Path| std::fs::read(host.path(path)).ok();
    let list = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(host.path(dir))
            .map(|entries| entries.flatten().map(|e| dir.join(e.file_name())).collect())
            .unwrap_or_default()
    };
    let search = elf::default_dirs(&read_host, &list, parsed.architecture);
    let exists = |path: &Path| host.path(path).is_file();
    let needs = elf::needs(&parsed, request.binary, &search, &exists, &read_host)
        .map_err(|err| not_runnable(err.to_string()))?;
    let mut libraries = BTreeMap::new();
    for path in needs.keys() {
        libraries.insert(path.clone(), read(host, path)?);
    }
    let config = request.config.map(|path| read(host, path)).transpose()?;

    let mut env: Vec<String> = request.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let extra = elf::unsearched_dirs(libraries.keys(), parsed.architecture);
    if !extra.is_empty() {
        env.push(format!("LD_LIBRARY_PATH={}", extra.join(":")));
    }
    let accel = qemu::resolve_accel(settings.accel, &qemu::probe_kvm(host))?;
    Ok(BundleSpec {
        name: request.name.to_owned(),
        argv: bundle::daemon_argv(request.name, config.is_some(), request.sets, request.args),
        binary,
        libraries,
        config,
        kernel,
        kernel_version,
        modules: module_files,
        env,
        vcpus: settings.vcpus,
        memory_mb: settings.memory_mb,
        vsock_cid: if settings.vsock_cid == 0 { DEFAULT_CID } else { settings.vsock_cid },
        accel,
    })
}

fn read(host: &Host, path: &Path) -> Result<Vec<u8>, PepitaError> {
    std::fs::read(host.path(path)).map_err(|source| PepitaError::Read { path: path.to_path_buf(), source })
}

/// The modules the guest loads from the kernel's modules directory `dir`, in load order.
fn kernel_modules(host: &Host, dir: &Path) -> Result<Vec<Module>, String> {
    let text = |name: &str| std::fs::read_to_string(host.path(&dir.join(name))).ok();
    if !host.path(dir).is_dir() {
        return Err(format!("there is no such directory; {}", super::HOW_TO_GET_A_KERNEL));
    }
    let builtin = text("modules.builtin").map(|t| modules::parse_builtin(&t)).unwrap_or_default();
    let order = if let Some(dep) = text("modules.dep") {
        let known = modules::parse_modules_dep(&dep);
        modules::load_order(&modules::WANTED, &builtin, &mut |name| Ok(known.get(name).cloned()))
    } else if let Some(listed) = text("modules.order") {
        let paths = modules::parse_paths(&listed);
        modules::load_order(&modules::WANTED, &builtin, &mut |name| {
            let Some(path) = paths.get(name) else { return Ok(None) };
            let unreadable = |reason: String| ModuleError::Unreadable { name: name.to_owned(), reason };
            let bytes =
                std::fs::read(host.path(&dir.join(path))).map_err(|err| unreadable(format!("{path}: {err}")))?;
            let modinfo = elf::section(&bytes, ".modinfo")
                .map_err(|err| unreadable(format!("{path}: {err} (compressed modules need a modules.dep)")))?;
            let depends = modinfo.map(modules::modinfo_depends).unwrap_or_default();
            Ok(Some(Module { name: name.to_owned(), path: path.clone(), depends }))
        })
    } else {
        return Err("it has neither modules.dep nor modules.order".to_owned());
    };
    order.map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modules_live_beside_the_boot_directory() {
        assert_eq!(
            modules_dir(Path::new("/boot/vmlinuz-6.1.0-57-cloud-amd64")),
            Ok(("6.1.0-57-cloud-amd64".to_owned(), PathBuf::from("/lib/modules/6.1.0-57-cloud-amd64")))
        );
        assert_eq!(
            modules_dir(Path::new("/work/target/pepita/kernel/boot/vmlinuz-6.1.0-57-cloud-amd64")),
            Ok((
                "6.1.0-57-cloud-amd64".to_owned(),
                PathBuf::from("/work/target/pepita/kernel/lib/modules/6.1.0-57-cloud-amd64")
            ))
        );
        assert!(modules_dir(Path::new("/boot/bzImage")).unwrap_err().contains("vmlinuz-VERSION"));
        assert!(modules_dir(Path::new("/boot/vmlinuz-")).unwrap_err().contains("vmlinuz-VERSION"));
        assert!(modules_dir(Path::new("/vms/vmlinuz-6.1")).unwrap_err().contains("`boot` directory"));
    }

    /// A host with a kernel unpacked from its package: no modules.dep, dependencies in .modinfo.
    fn unpacked_kernel(root: &Path, modules: &[(&str, &str)]) -> PathBuf {
        let boot = root.join("k/boot");
        std::fs::create_dir_all(&boot).unwrap();
        std::fs::write(boot.join("vmlinuz-6.1-test"), b"kernel").unwrap();
        let dir = root.join("k/lib/modules/6.1-test");
        let mut order = String::new();
        for (path, depends) in modules {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, relocatable_with_modinfo(&format!("depends={depends}\0"))).unwrap();
            order.push_str(&format!("{path}\n"));
        }
        std::fs::write(dir.join("modules.order"), order).unwrap();
        std::fs::write(dir.join("modules.builtin"), "kernel/drivers/virtio/virtio_mmio.ko\n").unwrap();
        PathBuf::from("/k/boot/vmlinuz-6.1-test")
    }

    /// A minimal 64-bit little-endian ELF file whose only named section is `.modinfo`.
    fn relocatable_with_modinfo(modinfo: &str) -> Vec<u8> {
        let names = b"\0.modinfo\0.shstrtab\0";
        let mut bytes = vec![0u8; 64];
        bytes[..6].copy_from_slice(b"\x7fELF\x02\x01");
        bytes[18] = 62;
        let modinfo_at = bytes.len() as u64;
        bytes.extend_from_slice(modinfo.as_bytes());
        let names_at = bytes.len() as u64;
        bytes.extend_from_slice(names);
        let shoff = bytes.len() as u64;
        let section = |name: u32, offset: u64, size: u64| {
            let mut header = vec![0u8; 64];
            header[..4].copy_from_slice(&name.to_le_bytes());
            header[24..32].copy_from_slice(&offset.to_le_bytes());
            header[32..40].copy_from_slice(&size.to_le_bytes());
            header
        };
        bytes.extend(section(0, 0, 0));
        bytes.extend(section(1, modinfo_at, modinfo.len() as u64));
        bytes.extend(section(10, names_at, names.len() as u64));
        bytes[40..48].copy_from_slice(&shoff.to_le_bytes());
        bytes[58..60].copy_from_slice(&64u16.to_le_bytes());
        bytes[60..62].copy_from_slice(&3u16.to_le_bytes());
        bytes[62..64].copy_from_slice(&2u16.to_le_bytes());
        bytes
    }

    #[test]
    fn an_unpacked_kernel_gives_its_dependencies_through_modinfo() {
        let dir = tempfile::tempdir().unwrap();
        unpacked_kernel(
            dir.path(),
            &[
                ("kernel/drivers/virtio/virtio_ring.ko", ""),
                ("kernel/drivers/virtio/virtio.ko", "virtio_ring"),
                ("kernel/net/vmw_vsock/vsock.ko", ""),
                ("kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko", "vsock"),
                (
                    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko",
                    "virtio,vmw_vsock_virtio_transport_common,vsock",
                ),
            ],
        );
        let host = Host::under(dir.path(), 0);
        let order = kernel_modules(&host, Path::new("/k/lib/modules/6.1-test")).unwrap();
        let names: Vec<&str> = order.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["vsock", "vmw_vsock_virtio_transport_common", "virtio_ring", "virtio", "vmw_vsock_virtio_transport"],
            "virtio_mmio is built in"
        );
    }

    #[test]
    fn a_missing_kernel_or_module_says_how_to_get_one() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = unpacked_kernel(dir.path(), &[("kernel/net/vmw_vsock/vsock.ko", "")]);
        let host = Host::under(dir.path(), 0);
        let fails = |kernel: Option<PathBuf>| {
            let settings = PepitaSettings { kernel, ..PepitaSettings::default() };
            let env = BTreeMap::new();
            let request = Request {
                name: "demo",
                binary: Path::new("/bin/demo"),
                config: None,
                sets: &[],
                args: &[],
                env: &env,
                settings: &settings,
            };
            gather(&host, &request).unwrap_err().to_string()
        };
        let err = fails(None);
        assert!(
            err.starts_with("`platform.pepita.kernel` is not set") && err.contains("scripts/pepita-kernel"),
            "{err}"
        );

        let err = fails(Some(PathBuf::from("/k/boot/vmlinuz-6.2")));
        assert!(
            err.contains("vmlinuz-6.2\"`: there is no such file") && err.contains("linux-image-cloud-amd64"),
            "{err}"
        );

        let err = fails(Some(kernel));
        assert_eq!(
            err,
            "the modules of `platform.pepita.kernel = \"/k/boot/vmlinuz-6.1-test\"` in /k/lib/modules/6.1-test: \
             the kernel has no module `vmw_vsock_virtio_transport_common`, loadable or built in"
        );
    }
}
