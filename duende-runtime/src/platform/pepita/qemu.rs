//! QEMU's command line for a bundle, and whether KVM can run the guest on this host.
//!
//! The machine is QEMU's `microvm`: no PCI, no firmware tables to speak of, virtio-mmio devices,
//! a serial port; it boots `-kernel`/`-initrd` directly. `-no-reboot` turns the guest's reboot
//! (and the reboot a kernel panic makes under `panic=-1`) into QEMU exiting, so no guest ending
//! leaves a VMM spinning. The serial console goes to QEMU's standard output (`-nographic`), and
//! QEMU's monitor nowhere (`-monitor none`): nothing typed or piped into QEMU can reach it.
//!
//! The guest's vsock is a `vhost-user-vsock-device`: QEMU hands the virtqueues to a vhost-user
//! backend on a unix socket (rust-vmm's `vhost-device-vsock`, see [`super::hybrid`]), which needs
//! no `/dev/vhost-vsock` on the host. The backend reads the guest's memory itself, so that memory
//! must be shareable: a memfd backend (`memory-backend-memfd,share=on`) of the guest's size is
//! the machine's memory.
//!
//! KVM is the fast path, where it works. It does not work everywhere `/dev/kvm` exists: on a host
//! whose KVM is `kvm_pvm` (Pagetable-based VM, used to nest VMs without hardware virtualisation)
//! only PVM-enabled guest kernels boot, and a stock kernel spins or hangs with no output. So
//! `accel = "auto"` takes KVM only with `/dev/kvm` present, no `kvm_pvm` module, and a CPU that
//! shows `vmx` or `svm`; everything else runs under TCG, QEMU's software emulation (seconds to
//! boot instead of a fraction of one).

use std::path::Path;

use super::bundle::Bundle;
use crate::config::platforms::Accel;
use crate::platform::env::EnvView;
use crate::platform::runner::Invocation;

/// The VMM program for x86_64 guests.
pub const PROGRAM: &str = "qemu-system-x86_64";

/// QEMU booting `bundle`, whose initramfs has been written to `initramfs`, with the guest's
/// console on QEMU's standard output; with `vsock`, the unix socket of the guest's vsock backend
/// (the `--socket` of `vhost-device-vsock`), the guest has a vsock device.
pub fn command(bundle: &Bundle, initramfs: &Path, vsock: Option<&Path>) -> Invocation {
    let accel = if bundle.accel == Accel::Kvm { "kvm" } else { "tcg" };
    let mut args: Vec<String> = vec!["-accel".into(), accel.into()];
    match vsock {
        Some(_) => args.extend([
            "-object".into(),
            format!("memory-backend-memfd,id=mem,size={}M,share=on", bundle.memory_mb),
            "-M".into(),
            "microvm,memory-backend=mem".into(),
        ]),
        None => args.extend(["-M".into(), "microvm".into()]),
    }
    args.extend([
        "-m".into(),
        bundle.memory_mb.to_string(),
        "-smp".into(),
        bundle.vcpus.to_string(),
        "-nographic".into(),
        "-monitor".into(),
        "none".into(),
        "-no-reboot".into(),
    ]);
    if let Some(socket) = vsock {
        args.extend([
            "-chardev".into(),
            format!("socket,id=vsock,path={}", option_value(socket)),
            "-device".into(),
            "vhost-user-vsock-device,chardev=vsock".into(),
        ]);
    }
    args.extend([
        "-kernel".into(),
        bundle.kernel.display().to_string(),
        "-initrd".into(),
        initramfs.display().to_string(),
        "-append".into(),
        bundle.cmdline.clone(),
    ]);
    Invocation::new(PROGRAM, args)
}

/// `path` as the value of a QEMU option (`-chardev socket,path=...`): QEMU
/// splits options at commas, and reads a doubled comma as one.
fn option_value(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// Whether KVM can run a stock guest kernel here, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvmProbe {
    /// True when it can.
    pub usable: bool,
    /// What was seen that decided it.
    pub reason: String,
}

/// Looks at `/dev/kvm`, `/sys/module/kvm_pvm` and the CPU flags in `/proc/cpuinfo`.
pub fn probe_kvm(env: &dyn EnvView) -> KvmProbe {
    let no = |reason: &str| KvmProbe { usable: false, reason: reason.to_owned() };
    if !env.exists(Path::new("/dev/kvm")) {
        return no("there is no /dev/kvm");
    }
    if env.exists(Path::new("/sys/module/kvm_pvm")) {
        return no("/dev/kvm is kvm_pvm (Pagetable-based VM), which boots only PVM-enabled guest kernels");
    }
    let Some(cpuinfo) = env.read(Path::new("/proc/cpuinfo")) else {
        return no("/proc/cpuinfo cannot be read to see the CPU's virtualisation flags");
    };
    let flag = cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .flat_map(|line| line.split_whitespace())
        .find(|word| matches!(*word, "vmx" | "svm"));
    match flag {
        Some(flag) => KvmProbe { usable: true, reason: format!("/dev/kvm exists and the CPU shows {flag}") },
        None => no("the CPU shows neither vmx nor svm, so /dev/kvm is not hardware virtualisation"),
    }
}

/// KVM was asked for and cannot be used here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`platform.pepita.accel = \"kvm\"` cannot be used here: {0}; use `accel = \"tcg\"` or `\"auto\"`")]
pub struct KvmUnusable(pub String);

/// The acceleration `setting` comes to here: `Kvm` or `Tcg`.
pub fn resolve_accel(setting: Accel, probe: &KvmProbe) -> Result<Accel, KvmUnusable> {
    match setting {
        Accel::Tcg => Ok(Accel::Tcg),
        Accel::Auto if probe.usable => Ok(Accel::Kvm),
        Accel::Auto => Ok(Accel::Tcg),
        Accel::Kvm if probe.usable => Ok(Accel::Kvm),
        Accel::Kvm => Err(KvmUnusable(probe.reason.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::env::FakeEnv;

    const INTEL: &str = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr vmx ssse3\n";
    const PLAIN: &str = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr ssse3 hypervisor\n";

    #[test]
    fn kvm_is_usable_only_with_hardware_virtualisation_and_no_pvm() {
        let intel = FakeEnv::new().with_file("/dev/kvm", "").with_file("/proc/cpuinfo", INTEL);
        let probe = probe_kvm(&intel);
        assert_eq!(probe, KvmProbe { usable: true, reason: "/dev/kvm exists and the CPU shows vmx".into() });
        assert_eq!(resolve_accel(Accel::Auto, &probe), Ok(Accel::Kvm));
        assert_eq!(resolve_accel(Accel::Tcg, &probe), Ok(Accel::Tcg));

        let pvm = intel.clone().with_dir("/sys/module/kvm_pvm");
        assert!(!probe_kvm(&pvm).usable && probe_kvm(&pvm).reason.contains("kvm_pvm"));
        let plain = FakeEnv::new().with_file("/dev/kvm", "").with_file("/proc/cpuinfo", PLAIN);
        assert!(!probe_kvm(&plain).usable && probe_kvm(&plain).reason.contains("neither vmx nor svm"));
        let none = FakeEnv::new().with_file("/proc/cpuinfo", INTEL);
        assert_eq!(probe_kvm(&none).reason, "there is no /dev/kvm");
        for env in [pvm, plain, none] {
            let probe = probe_kvm(&env);
            assert_eq!(resolve_accel(Accel::Auto, &probe), Ok(Accel::Tcg));
            let err = resolve_accel(Accel::Kvm, &probe).unwrap_err();
            assert!(err.to_string().starts_with("`platform.pepita.accel = \"kvm\"` cannot be used here: "), "{err}");
        }
    }

    #[test]
    fn this_host_gives_a_reason_either_way() {
        let probe = probe_kvm(&crate::platform::Host::from_process());
        assert!(!probe.reason.is_empty());
    }
}
