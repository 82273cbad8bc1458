//! Which kernel modules the guest loads, and in which order.
//!
//! The guest needs the virtio-mmio bus (QEMU's `microvm` machine has no PCI) and the vsock
//! transport over it. A distribution kernel builds these as modules; a custom one may build them
//! in. For each wanted module that is not built in (`modules.builtin`), the module and then
//! everything it depends on that is not built in either are loaded dependencies first, each once.
//!
//! Dependencies come from `modules.dep` when `depmod` has written one (an installed kernel), and
//! otherwise from each module's own `.modinfo` section, whose `depends=` field is what the kernel
//! build recorded and what `depmod` reads itself (a kernel unpacked from its package with `dpkg -x`
//! has no `modules.dep`). Modules are found by name through `modules.dep` or `modules.order`.

use std::collections::{BTreeMap, BTreeSet};

/// The modules the guest needs, in the order they are asked for: the virtio-mmio bus, then vsock
/// and its virtio transport.
pub const WANTED: [&str; 4] =
    ["virtio_mmio", "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport"];

/// One loadable module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Its name (`vmw_vsock_virtio_transport`).
    pub name: String,
    /// Its file, relative to the kernel's modules directory (`kernel/net/vmw_vsock/vsock.ko`).
    pub path: String,
    /// The names of the modules it needs loaded first.
    pub depends: Vec<String>,
}

/// A module that cannot be loaded, or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// Neither a loadable module nor built into the kernel.
    #[error("the kernel has no module `{0}`, loadable or built in")]
    Missing(String),
    /// Its dependencies could not be read.
    #[error("cannot read the dependencies of module `{name}`: {reason}")]
    Unreadable {
        /// The module.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The name of the module in file `path`: its file name without `.ko` (and any compression
/// suffix), with `-` read as `_` as the kernel does.
pub fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// The modules `modules.dep` lists (`PATH: DEP_PATH DEP_PATH ...`), by name.
pub fn parse_modules_dep(text: &str) -> BTreeMap<String, Module> {
    text.lines()
        .filter_map(|line| {
            let (path, deps) = line.split_once(':')?;
            let path = path.trim().to_owned();
            let depends = deps.split_whitespace().map(name_of).collect();
            Some((name_of(&path), Module { name: name_of(&path), path, depends }))
        })
        .collect()
}

/// Module paths (one a line, as in `modules.order`) by name.
pub fn parse_paths(text: &str) -> BTreeMap<String, String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|path| (name_of(path), path.to_owned())).collect()
}

/// The names of the modules built into the kernel (`modules.builtin`, one path a line).
pub fn parse_builtin(text: &str) -> BTreeSet<String> {
    parse_paths(text).into_keys().collect()
}

/// The `depends=` field of a module's `.modinfo` section (NUL-separated `key=value` strings).
pub fn modinfo_depends(modinfo: &[u8]) -> Vec<String> {
    modinfo
        .split(|b| *b == 0)
        .filter_map(|field| field.strip_prefix(b"depends="))
        .flat_map(|list| String::from_utf8_lossy(list).split(',').map(str::to_owned).collect::<Vec<_>>())
        .filter(|name| !name.is_empty())
        .map(|name| name.replace('-', "_"))
        .collect()
}

/// The modules to load for `wanted`, dependencies first, each once; built-in ones are left out.
/// `lookup` finds a loadable module by name (`Ok(None)`: there is none).
pub fn load_order(
    wanted: &[&str],
    builtin: &BTreeSet<String>,
    lookup: &mut dyn FnMut(&str) -> Result<Option<Module>, ModuleError>,
) -> Result<Vec<Module>, ModuleError> {
    let mut order = Vec::new();
    let mut visiting = BTreeSet::new();
    for name in wanted {
        visit(name, builtin, lookup, &mut visiting, &mut order)?;
    }
    Ok(order)
}

fn visit(
    name: &str,
    builtin: &BTreeSet<String>,
    lookup: &mut dyn FnMut(&str) -> Result<Option<Module>, ModuleError>,
    visiting: &mut BTreeSet<String>,
    order: &mut Vec<Module>,
) -> Result<(), ModuleError> {
    let name = name.replace('-', "_");
    // A dependency cycle cannot be loaded by anyone; the kernel refuses it at build time, so a
    // module met again while its dependencies are visited is simply not descended into twice.
    if builtin.contains(&name) || order.iter().any(|m: &Module| m.name == name) || !visiting.insert(name.clone()) {
        return Ok(());
    }
    let module = lookup(&name)?.ok_or_else(|| ModuleError::Missing(name.clone()))?;
    for dependency in &module.depends {
        visit(dependency, builtin, lookup, visiting, order)?;
    }
    order.push(module);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Debian 12's cloud kernel (6.1) records for the modules the guest needs.
    const DEP: &str = "\
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/vmw_vsock/vsock.ko:
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko: kernel/net/vmw_vsock/vsock.ko
kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: kernel/drivers/virtio/virtio.ko \
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko kernel/drivers/virtio/virtio_ring.ko \
kernel/net/vmw_vsock/vsock.ko
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko
";

    fn names(order: &[Module]) -> Vec<&str> {
        order.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn dependencies_load_first_and_once() {
        let known = parse_modules_dep(DEP);
        assert_eq!(known["virtio_rng"].path, "kernel/drivers/char/hw_random/virtio-rng.ko");
        let order = load_order(&WANTED, &BTreeSet::new(), &mut |name| Ok(known.get(name).cloned())).unwrap();
        assert_eq!(
            names(&order),
            [
                "virtio_ring",
                "virtio",
                "virtio_mmio",
                "vsock",
                "vmw_vsock_virtio_transport_common",
                "vmw_vsock_virtio_transport"
            ]
        );
        assert_eq!(order[2].path, "kernel/drivers/virtio/virtio_mmio.ko");
    }

    #[test]
    fn built_in_modules_are_not_loaded() {
        let known = parse_modules_dep(DEP);
        let builtin = parse_builtin(
            "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n\
                                     kernel/drivers/virtio/virtio_mmio.ko\n",
        );
        let order = load_order(&WANTED, &builtin, &mut |name| Ok(known.get(name).cloned())).unwrap();
        assert_eq!(names(&order), ["vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport"]);
        let all: BTreeSet<String> = WANTED.iter().map(|n| (*n).to_owned()).collect();
        assert_eq!(load_order(&WANTED, &all, &mut |_| Ok(None)), Ok(Vec::new()));
    }

    #[test]
    fn a_module_the_kernel_lacks_is_named() {
        let known = parse_modules_dep("kernel/net/vmw_vsock/vsock.ko:\n");
        let err = load_order(&WANTED, &BTreeSet::new(), &mut |name| Ok(known.get(name).cloned())).unwrap_err();
        assert_eq!(err, ModuleError::Missing("virtio_mmio".to_owned()));
        assert_eq!(err.to_string(), "the kernel has no module `virtio_mmio`, loadable or built in");
    }

    #[test]
    fn modinfo_gives_the_dependencies_when_there_is_no_modules_dep() {
        let modinfo = b"license=GPL v2\0depends=virtio,vmw_vsock_virtio_transport_common,virtio_ring,vsock\0\
                        retpoline=Y\0name=vmw_vsock_virtio_transport\0";
        assert_eq!(modinfo_depends(modinfo), ["virtio", "vmw_vsock_virtio_transport_common", "virtio_ring", "vsock"]);
        assert_eq!(modinfo_depends(b"depends=\0name=vsock\0"), Vec::<String>::new());
        let paths = parse_paths("kernel/net/vmw_vsock/vsock.ko\nkernel/drivers/char/hw_random/virtio-rng.ko\n");
        assert_eq!(paths["virtio_rng"], "kernel/drivers/char/hw_random/virtio-rng.ko");
        assert_eq!(name_of("kernel/net/vmw_vsock/vsock.ko.xz"), "vsock");
    }

    #[test]
    fn a_dependency_cycle_ends() {
        let mut known = parse_modules_dep("a.ko: b.ko\nb.ko: a.ko\n");
        let order = load_order(&["a"], &BTreeSet::new(), &mut |name| Ok(known.remove(name))).unwrap();
        assert_eq!(names(&order), ["b", "a"]);
    }
}
