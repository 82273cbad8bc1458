use super::*;

fn description() -> Description {
    Description {
        name: "probe".into(),
        kernel: PathBuf::from("/k/boot/vmlinuz-6.1.0-57-cloud-amd64"),
        cmdline: "console=ttyS0 PEPITA_VSOCK_CID=3".into(),
        vcpus: 1,
        memory_mb: 512,
        vsock_cid: 3,
        accel: Accel::Tcg,
        shutdown_timeout_ms: 10_000,
        vsock_backend: None,
    }
}

#[test]
fn a_bundle_directory_reads_back_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let machine = Bundle { initramfs: b"070701...".to_vec(), ..description().machine() };
    write(&dir.path().join("vm"), &machine, &description()).unwrap();
    assert_eq!(read(&dir.path().join("vm")).unwrap(), description());
    assert_eq!(std::fs::read(dir.path().join("vm").join(INITRAMFS)).unwrap(), b"070701...");

    std::fs::write(dir.path().join("vm").join(DESCRIPTION), r#"{"name":"probe","extra":1}"#).unwrap();
    let err = read(&dir.path().join("vm")).unwrap_err();
    assert!(matches!(err, RunnerError::Invalid { .. }) && err.exit() == Exit::Config, "{err}");
    let err = read(&dir.path().join("absent")).unwrap_err();
    assert!(err.to_string().starts_with("cannot read the VM's description "), "{err}");
}

#[test]
fn qemu_boots_the_described_machine_with_the_console_on_its_standard_output() {
    let command = vmm_command(&description(), Path::new("/b"), Path::new("/run/probe"));
    let text = command.to_string();
    for part in [
        "-accel tcg",
        "-m 512",
        "-smp 1",
        "socket,id=vsock,path=/run/probe/vm.vhost.sock",
        "-nographic -monitor none",
        "-kernel /k/boot/vmlinuz-6.1.0-57-cloud-amd64 -initrd /b/initramfs",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
}

#[test]
fn missing_tools_are_named_with_how_to_install_them() {
    let empty = tempfile::tempdir().unwrap();
    let bundle = tempfile::tempdir().unwrap();
    let host = Host::from_process().with_var("PATH", empty.path().display().to_string());
    let err = Runner::start("probe", &host, bundle.path(), None, &description()).err().unwrap();
    assert_eq!(err.exit(), Exit::Unavailable);
    assert_eq!(
        err.to_string(),
        "the vsock backend `vhost-device-vsock` is not in PATH: install the crate `vhost-device-vsock` \
         (`cargo install --locked vhost-device-vsock`) and put it in PATH, or name it in `vsock_backend`"
    );
    let elsewhere = Description { vsock_backend: Some(empty.path().join("nope")), ..description() };
    let err = Runner::start("probe", &host, bundle.path(), None, &elsewhere).err().unwrap();
    assert!(err.to_string().starts_with("the vsock backend `vhost-device-vsock` is not at "), "{err}");

    let backend = empty.path().join(hybrid::BACKEND);
    std::fs::write(&backend, "").unwrap();
    let err = Runner::start("probe", &host, bundle.path(), None, &description()).err().unwrap();
    assert_eq!(
        err.to_string(),
        "`qemu-system-x86_64` is not in PATH: install the apt package `qemu-system-x86` (`apt-get install qemu-system-x86`)"
    );
    assert_eq!(err.exit(), Exit::Unavailable);
}
