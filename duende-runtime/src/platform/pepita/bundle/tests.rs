use std::path::Path;

use super::*;
use crate::platform::pepita::describe;
use crate::platform::pepita::hybrid;
use crate::platform::pepita::qemu;

fn spec() -> BundleSpec {
    BundleSpec {
        name: "demo".into(),
        binary: b"the binary".to_vec(),
        libraries: [
            (PathBuf::from("/lib64/ld-linux-x86-64.so.2"), b"loader".to_vec()),
            (PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"), b"libc".to_vec()),
        ]
        .into_iter()
        .collect(),
        config: Some(b"[app]\nlabel = \"it's \\\"quoted\\\"\"\n".to_vec()),
        kernel: PathBuf::from("/k/boot/vmlinuz-6.1.0-57-cloud-amd64"),
        kernel_version: "6.1.0-57-cloud-amd64".into(),
        modules: vec![
            ("kernel/drivers/virtio/virtio_ring.ko".into(), b"ring".to_vec()),
            ("kernel/net/vmw_vsock/vsock.ko".into(), b"vsock".to_vec()),
        ],
        argv: daemon_argv("demo", true, &["app.label=\"a b\" 'c'".into()], &["--verbose".into(), "two words".into()]),
        env: vec!["GREETING=hello world".into()],
        vcpus: 2,
        memory_mb: 384,
        vsock_cid: 7,
        accel: Accel::Tcg,
    }
}

#[test]
fn the_dry_run_shows_the_contents_and_the_vmm_command_as_the_golden_file() {
    let bundle = build(&spec()).unwrap();
    let initramfs = Path::new("/var/lib/demo/initramfs.cpio");
    let plain = qemu::command(&bundle, initramfs, None);
    let vsock = qemu::command(&bundle, initramfs, Some(Path::new("/run/demo/vhost,vsock.sock")));
    let backend = hybrid::backend_command(
        hybrid::BACKEND,
        7,
        Path::new("/run/demo/vhost,vsock.sock"),
        Path::new("/run/demo/vsock"),
    );
    let text = format!("{}\nwith a vsock device:\n{vsock}\nits backend:\n{backend}\n", describe(&bundle, &plain));
    let golden = include_str!("../golden/demo.txt");
    if std::env::var_os("DUENDE_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/platform/pepita/golden/demo.txt");
        std::fs::write(path, &text).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(text, golden);
}

#[test]
fn identical_inputs_give_identical_bytes_and_any_change_shows() {
    let a = build(&spec()).unwrap();
    assert_eq!(a, build(&spec()).unwrap());
    let changed = [
        BundleSpec { binary: b"the binarY".to_vec(), ..spec() },
        BundleSpec { config: None, ..spec() },
        BundleSpec { env: Vec::new(), ..spec() },
        BundleSpec { vsock_cid: 8, ..spec() },
    ];
    for other in changed {
        let other = build(&other).unwrap();
        assert!(other.initramfs != a.initramfs || other.cmdline != a.cmdline);
    }
}

#[test]
fn the_command_line_files_hold_every_word_as_is() {
    let bundle = build(&spec()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("initramfs.cpio");
    std::fs::write(&archive, &bundle.initramfs).unwrap();
    let Ok(input) = std::fs::File::open(&archive) else { return };
    let Ok(done) = std::process::Command::new("cpio")
        .args(["-i", "-d", "--quiet", "--no-absolute-filenames", "pepita/*", "init"])
        .current_dir(dir.path())
        .stdin(input)
        .status()
    else {
        return; // No `cpio` here: scripts/test installs it.
    };
    assert!(done.success());
    let argv = std::fs::read(dir.path().join("pepita/argv")).unwrap();
    let words: Vec<&[u8]> = argv.split(|b| *b == 0).collect();
    assert_eq!(
        words,
        [
            &b"demo"[..],
            b"--config",
            b"/etc/demo/demo.toml",
            b"--set",
            b"app.label=\"a b\" 'c'",
            b"run",
            b"--",
            b"--verbose",
            b"two words",
            b""
        ]
    );
    assert_eq!(std::fs::read(dir.path().join("pepita/env")).unwrap(), b"GREETING=hello world\0");
    assert_eq!(
        std::fs::read(dir.path().join("pepita/modules")).unwrap(),
        b"/lib/modules/6.1.0-57-cloud-amd64/kernel/drivers/virtio/virtio_ring.ko\0\
          /lib/modules/6.1.0-57-cloud-amd64/kernel/net/vmw_vsock/vsock.ko\0"
    );
    assert_eq!(std::fs::read(dir.path().join("init")).unwrap(), b"the binary");
}

#[test]
fn kvm_guests_keep_their_tsc_calibration_and_nul_cannot_hide_in_a_word() {
    assert_eq!(
        cmdline(3, Accel::Tcg),
        "console=ttyS0 quiet panic=-1 tsc_early_khz=2000000 tsc=reliable PEPITA_VSOCK_CID=3"
    );
    assert_eq!(cmdline(3, Accel::Kvm), "console=ttyS0 quiet panic=-1 PEPITA_VSOCK_CID=3");
    let bad = BundleSpec { argv: vec!["demo".into(), "a\0b".into()], ..spec() };
    assert_eq!(
        build(&bad).unwrap_err().to_string(),
        "cannot put `/pepita/argv` in a cpio archive: one of its strings contains a NUL byte"
    );
    assert_eq!(daemon_argv("demo", false, &[], &[]), ["demo", "run"]);
}

#[test]
fn the_guest_needs_memory_for_the_initramfs_twice_and_the_kernel() {
    assert_eq!(mib(1), 1);
    assert_eq!(mib(1 << 20), 1);
    assert_eq!(minimum_memory_mb(95 << 20), 350);
    let err = crate::platform::pepita::PepitaError::Memory { memory_mb: 256, initramfs_mb: 95, minimum_mb: 350 };
    assert_eq!(
        err.to_string(),
        "`platform.pepita.memory_mb = 256` is too small for this bundle: the kernel holds its 95 MiB initramfs twice \
         while it unpacks it (the archive and the files) and needs about 160 MiB of its own; set at least 350 (a release \
         build of the daemon makes a much smaller initramfs)"
    );
}
