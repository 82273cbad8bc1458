//! The socket calls of the guest's init: AF_VSOCK streams to and from the host, and the few
//! calls its relay makes on any socket (send without SIGPIPE, receive without blocking, half
//! close, poll). Every libc call of the relay is here.
//!
//! Init blocks every signal and waits for them with `sigwait` (`super::unix::serve`); its
//! threads inherit that mask. A write to a socket whose peer has gone would raise SIGPIPE on the
//! writing thread, where it would stay pending for good: every send here says `MSG_NOSIGNAL`.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The host's context id: a guest reaches the host at CID 2.
pub(super) const HOST_CID: u32 = libc::VMADDR_CID_HOST;

/// A vsock address: `cid`, `port`.
fn address(cid: u32, port: u32) -> libc::sockaddr_vm {
    // SAFETY: sockaddr_vm is plain data; all zeroes is a valid value of it.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_cid = cid;
    addr.svm_port = port;
    addr
}

/// A new vsock stream socket (close-on-exec).
fn socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointer; it returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A stream connected to vsock port `port` of `cid` (the kernel bounds the wait, 2 s by default).
pub(super) fn connect(cid: u32, port: u32) -> io::Result<OwnedFd> {
    let fd = socket()?;
    let addr = address(cid, port);
    // SAFETY: `addr` is a valid sockaddr_vm and the length is its size.
    let connected = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_vm>() as libc::socklen_t,
        )
    };
    if connected != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A listener on vsock port `port`, for connections from any context (the host).
pub(super) fn listen(port: u32, backlog: i32) -> io::Result<OwnedFd> {
    let fd = socket()?;
    let addr = address(libc::VMADDR_CID_ANY, port);
    // SAFETY: `addr` is a valid sockaddr_vm and the length is its size.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_vm>() as libc::socklen_t,
        )
    };
    // SAFETY: listen takes no pointer.
    if bound != 0 || unsafe { libc::listen(fd.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// The next connection on `listener` (close-on-exec).
pub(super) fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers ask for no peer address; accept4 returns a new descriptor.
    let fd =
        unsafe { libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends all of `bytes` on the stream socket `fd`.
pub(super) fn send_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe `bytes`, which outlives the call.
        let sent = unsafe { libc::send(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        match usize::try_from(sent) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n.min(bytes.len())..],
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
    Ok(())
}

/// Receives into `buf` from the socket `fd` (a stream: 0 is its end; a datagram socket: one
/// datagram, cut to `buf`). `wait: false` returns `WouldBlock` at once when nothing is there.
pub(super) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], wait: bool) -> io::Result<usize> {
    let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
    loop {
        // SAFETY: the pointer and length describe `buf`, which outlives the call.
        let got = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
        match usize::try_from(got) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// Ends the sending side of the stream `fd`: its peer reads the end of the stream.
pub(super) fn shutdown_write(fd: BorrowedFd<'_>) {
    // SAFETY: shutdown takes no pointer; a failure (the peer is gone) leaves nothing to undo.
    unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) };
}

/// Waits until one of `fds` can be read (data, its end, or an error), for `timeout` at most
/// (`None`: no bound); says which can.
pub(super) fn poll(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> =
        fds.iter().map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    let ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
    loop {
        // SAFETY: `polled` is a valid array of `polled.len()` pollfd structures.
        let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, ms) };
        if ready >= 0 {
            return Ok(polled.iter().map(|p| p.revents != 0).collect());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
