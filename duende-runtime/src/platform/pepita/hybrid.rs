//! The host's end of the guest's vsock: Firecracker's "hybrid vsock", where the VMM (or its
//! vsock backend) maps the guest's vsock onto unix sockets on the host. Firecracker and
//! cloud-hypervisor speak it themselves; with QEMU, rust-vmm's `vhost-device-vsock` (a
//! vhost-user backend: no `/dev/vhost-vsock` needed) speaks it. So one host side drives them all:
//!
//! - guest → host: a guest connecting to CID 2 (the host), port P, reaches whoever listens on
//!   the unix socket `<uds-path>_P` ([`listener_path`], [`listen`]);
//! - host → guest: connect to the unix socket `<uds-path>`, send `CONNECT P\n`, read `OK
//!   <host-port>\n`; from then on the connection is a byte stream to the guest's listener on
//!   vsock port P ([`connect`]). Nothing listening there: the backend closes the connection
//!   instead of answering.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::platform::runner::Invocation;

/// The vsock backend for QEMU, from crates.io (`cargo install vhost-device-vsock`).
pub const BACKEND: &str = "vhost-device-vsock";

/// The longest answer to `CONNECT` read, newline included (`OK 4294967295\n` is 14 bytes).
const MAX_ANSWER: usize = 64;

/// Why a host → guest connection was not made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The hybrid vsock socket does not answer (the VM or its vsock backend is not running).
    #[error("cannot connect to the VM's vsock socket `{}`: {source}", .uds.display())]
    Socket {
        /// The socket.
        uds: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The backend closed the connection without `OK`: nothing listens on the port in the guest.
    #[error("nothing listens on vsock port {port} in the guest (the VM's vsock backend closed the connection)")]
    Refused {
        /// The guest's port.
        port: u32,
    },
    /// The backend answered something other than `OK <port>`.
    #[error("the VM's vsock backend answered {answer:?} to `CONNECT {port}`, not `OK <port>`")]
    Answer {
        /// The guest's port.
        port: u32,
        /// What it said.
        answer: String,
    },
    /// The handshake failed or took too long.
    #[error("the `CONNECT {port}` handshake failed: {source}")]
    Handshake {
        /// The guest's port.
        port: u32,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// The unix socket the host listens on for guest connections to its vsock port `port`.
pub fn listener_path(uds: &Path, port: u32) -> PathBuf {
    let mut path = uds.as_os_str().to_owned();
    path.push(format!("_{port}"));
    PathBuf::from(path)
}

/// Listens for guest connections to the host's vsock port `port`, replacing a socket file left
/// at [`listener_path`] by a previous run.
pub fn listen(uds: &Path, port: u32) -> io::Result<UnixListener> {
    let path = listener_path(uds, port);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    UnixListener::bind(&path)
}

/// Connects to the guest's vsock port `port` through the hybrid vsock socket `uds`; the
/// handshake may take `timeout`. The stream returned carries the guest's bytes only, with no
/// read or write timeout set.
pub fn connect(uds: &Path, port: u32, timeout: Duration) -> Result<UnixStream, ConnectError> {
    let mut stream =
        UnixStream::connect(uds).map_err(|source| ConnectError::Socket { uds: uds.to_path_buf(), source })?;
    let timeouts = |stream: &UnixStream, t: Option<Duration>| {
        stream.set_read_timeout(t).and_then(|()| stream.set_write_timeout(t))
    };
    timeouts(&stream, Some(timeout)).map_err(|source| ConnectError::Handshake { port, source })?;
    handshake(&mut stream, port)?;
    timeouts(&stream, None).map_err(|source| ConnectError::Handshake { port, source })?;
    Ok(stream)
}

/// `CONNECT port\n`, then `OK <host-port>\n`, read a byte at a time so that nothing the guest
/// sends after it is taken from the stream.
pub fn handshake<S: Read + Write>(stream: &mut S, port: u32) -> Result<(), ConnectError> {
    let failed = |source| ConnectError::Handshake { port, source };
    stream.write_all(format!("CONNECT {port}\n").as_bytes()).map_err(failed)?;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while answer.last() != Some(&b'\n') {
        if answer.len() >= MAX_ANSWER {
            return Err(ConnectError::Answer { port, answer: String::from_utf8_lossy(&answer).into_owned() });
        }
        match stream.read(&mut byte) {
            Ok(0) if answer.is_empty() => return Err(ConnectError::Refused { port }),
            Ok(0) => return Err(ConnectError::Answer { port, answer: String::from_utf8_lossy(&answer).into_owned() }),
            Ok(_) => answer.push(byte[0]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset && answer.is_empty() => {
                return Err(ConnectError::Refused { port });
            }
            Err(err) => return Err(failed(err)),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let ok = text.strip_prefix("OK ").and_then(|rest| rest.trim_end().parse::<u32>().ok()).is_some();
    if ok { Ok(()) } else { Err(ConnectError::Answer { port, answer: text.trim_end().to_owned() }) }
}

/// `vhost-device-vsock` (at `program`) serving the guest `cid`: QEMU connects to `vhost_socket`,
/// the host side is the hybrid vsock socket `uds` (flags of version 0.3).
pub fn backend_command(program: &str, cid: u32, vhost_socket: &Path, uds: &Path) -> Invocation {
    Invocation::new(
        program,
        [
            "--guest-cid".to_owned(),
            cid.to_string(),
            "--socket".to_owned(),
            vhost_socket.display().to_string(),
            "--uds-path".to_owned(),
            uds.display().to_string(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::thread;

    use super::*;

    /// A fake backend on `uds`: reads one `CONNECT` line, sends `answer` (nothing: closes), then
    /// echoes what it gets prefixed with `guest: `.
    fn backend(uds: &Path, answer: &'static [u8]) -> thread::JoinHandle<String> {
        let listener = UnixListener::bind(uds).unwrap();
        thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = io::BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            if answer.is_empty() {
                return request;
            }
            let mut writer = stream;
            writer.write_all(answer).unwrap();
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() > 0 {
                writer.write_all(format!("guest: {line}").as_bytes()).unwrap();
            }
            request
        })
    }

    #[test]
    fn connect_sends_connect_port_and_hands_over_the_stream_after_ok() {
        let dir = tempfile::tempdir().unwrap();
        let uds = dir.path().join("vm.vsock");
        // The answer and the guest's first bytes in one write: none of them may be lost.
        let fake = backend(&uds, b"OK 1073741824\nhello\n");
        let mut stream = connect(&uds, 1025, Duration::from_secs(5)).unwrap();
        assert_eq!(stream.read_timeout().unwrap(), None);
        let mut reader = io::BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "hello\n");
        stream.write_all(b"ping\n").unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "guest: ping\n");
        assert_eq!(fake.join().unwrap(), "CONNECT 1025\n");
    }

    #[test]
    fn a_closed_connection_is_a_refusal_and_a_wrong_answer_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let uds = dir.path().join("vm.vsock");
        let fake = backend(&uds, b"");
        let err = connect(&uds, 7, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, ConnectError::Refused { port: 7 }), "{err}");
        fake.join().unwrap();

        let uds2 = dir.path().join("vm2.vsock");
        let fake = backend(&uds2, b"ERR no such port\n");
        let err = connect(&uds2, 7, Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the VM's vsock backend answered \"ERR no such port\" to `CONNECT 7`, not `OK <port>`"
        );
        fake.join().unwrap();

        let err = connect(&dir.path().join("absent"), 7, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().starts_with("cannot connect to the VM's vsock socket"), "{err}");
    }

    #[test]
    fn a_backend_that_says_nothing_is_bounded_by_the_timeout() {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let err = handshake(&mut ours, 9).unwrap_err();
        assert!(matches!(err, ConnectError::Handshake { port: 9, .. }), "{err}");
        let mut sent = String::new();
        let mut theirs = io::BufReader::new(theirs);
        theirs.read_line(&mut sent).unwrap();
        assert_eq!(sent, "CONNECT 9\n");

        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        theirs.write_all(&[b'x'; 100]).unwrap();
        assert!(matches!(handshake(&mut ours, 9).unwrap_err(), ConnectError::Answer { .. }));
    }

    #[test]
    fn the_guest_reaches_the_host_on_the_uds_path_with_the_port_appended() {
        let dir = tempfile::tempdir().unwrap();
        let uds = dir.path().join("vm.vsock");
        assert_eq!(listener_path(&uds, 1024), dir.path().join("vm.vsock_1024"));
        let first = listen(&uds, 1024).unwrap();
        drop(first);
        // The socket file the first listener left is replaced.
        let listener = listen(&uds, 1024).unwrap();
        let mut guest = UnixStream::connect(listener_path(&uds, 1024)).unwrap();
        guest.write_all(b"HELLO 1 demo\n").unwrap();
        let (host, _) = listener.accept().unwrap();
        let mut line = String::new();
        io::BufReader::new(host).read_line(&mut line).unwrap();
        assert_eq!(line, "HELLO 1 demo\n");
        assert_eq!(
            backend_command(BACKEND, 3, Path::new("/run/vm.vhost.sock"), &uds).to_string(),
            format!("vhost-device-vsock --guest-cid 3 --socket /run/vm.vhost.sock --uds-path {}", uds.display())
        );
    }
}
