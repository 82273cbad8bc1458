//! The client side of the control channel: connect, send one request, read one reply, all
//! bounded in time. Its errors keep apart what an operator does differently about: nothing
//! runs there, the socket is not ours to use, the daemon does not answer, it answered with
//! something that is not the protocol, or it answered and refused.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::protocol::{ErrorCode, ErrorReply, Op, Request, Response, VERSION};
use crate::exit::Exit;

/// The longest reply line a client reads.
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// Why a control request did not return a result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the socket (it does not exist, or its daemon is gone).
    #[error(
        "no daemon answers on `{}`: it is not running (or it runs with another runtime directory, \
         set with RUNTIME_DIRECTORY)",
        .path.display()
    )]
    NotRunning {
        /// The socket.
        path: PathBuf,
    },
    /// The socket exists but this user may not use it.
    #[error(
        "permission denied on `{}`: {detail}; run this command as the daemon's user or as root",
        .path.display()
    )]
    PermissionDenied {
        /// The socket.
        path: PathBuf,
        /// What refused: the file's mode, or the daemon's credential check.
        detail: String,
    },
    /// The daemon did not answer in time.
    #[error("the daemon on `{}` did not answer {what}", .path.display())]
    Timeout {
        /// The socket.
        path: PathBuf,
        /// What did not happen, with the bound ("within 5s").
        what: String,
    },
    /// Talking to the socket failed.
    #[error("cannot talk to `{}`: {source}", .path.display())]
    Io {
        /// The socket.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The reply is not the protocol this client speaks.
    #[error("the reply from `{}` is not control protocol version {VERSION}: {detail}", .path.display())]
    Protocol {
        /// The socket.
        path: PathBuf,
        /// What was wrong with it.
        detail: String,
    },
    /// The daemon answered and refused the request.
    #[error("the daemon refused: {} ({})", .error.message, code_name(.error.code))]
    Refused {
        /// The socket.
        path: PathBuf,
        /// The daemon's error reply.
        error: ErrorReply,
    },
}

fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| format!("{code:?}"))
}

impl ClientError {
    /// The exit status a management command ends with when it fails this way.
    pub fn exit(&self) -> Exit {
        match self {
            ClientError::NotRunning { .. } | ClientError::Timeout { .. } => Exit::Unavailable,
            // A refusal of this user (by the socket's mode or the daemon's credential check) is
            // the operating system's answer, not a mistake on the command line.
            ClientError::PermissionDenied { .. } | ClientError::Io { .. } | ClientError::Protocol { .. } => {
                Exit::OsError
            }
            ClientError::Refused { error, .. } => match error.code {
                ErrorCode::ReloadRejected => Exit::Config,
                ErrorCode::Busy | ErrorCode::Unavailable | ErrorCode::Timeout => Exit::Unavailable,
                _ => Exit::OsError,
            },
        }
    }
}

/// One connection to a daemon's control socket.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    path: PathBuf,
    pending: Vec<u8>,
}

impl Connection {
    /// Connects to the socket at `path` (never blocks: a daemon whose queue is full counts as
    /// not answering).
    pub async fn connect(path: &Path) -> Result<Connection, ClientError> {
        let path = path.to_path_buf();
        match UnixStream::connect(&path).await {
            Ok(stream) => Ok(Connection { stream, path, pending: Vec::new() }),
            Err(err) => Err(match err.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ClientError::NotRunning { path },
                io::ErrorKind::PermissionDenied => {
                    ClientError::PermissionDenied { path, detail: "the socket's mode does not let this user in".into() }
                }
                io::ErrorKind::WouldBlock => {
                    ClientError::Timeout { path, what: "at all: its connection queue is full".to_owned() }
                }
                _ => ClientError::Io { path, source: err },
            }),
        }
    }

    /// A connection over a stream that reaches a control socket some other way: a microVM
    /// guest's, through its vsock (`platform::pepita::hybrid::connect`). `label` names it in
    /// errors. Call it within a tokio runtime.
    pub fn over(stream: std::os::unix::net::UnixStream, label: &Path) -> Result<Connection, ClientError> {
        let path = label.to_path_buf();
        let adopted = stream.set_nonblocking(true).and_then(|()| UnixStream::from_std(stream));
        match adopted {
            Ok(stream) => Ok(Connection { stream, path, pending: Vec::new() }),
            Err(source) => Err(ClientError::Io { path, source }),
        }
    }

    /// Sends `op` and reads the reply's result.
    pub async fn call<T: DeserializeOwned>(&mut self, op: Op) -> Result<T, ClientError> {
        let mut line = serde_json::to_vec(&Request::new(op))
            .map_err(|err| ClientError::Protocol { path: self.path.clone(), detail: err.to_string() })?;
        line.push(b'\n');
        if let Err(source) = self.stream.write_all(&line).await {
            // A daemon that refuses a connection (`permission-denied`, `busy`) replies and closes
            // at once, possibly before the request is written: its reply is the answer.
            return match self.read_line().await {
                Ok(reply) => decode(&self.path, &reply),
                Err(_) => Err(self.io(source)),
            };
        }
        let reply = self.read_line().await?;
        decode(&self.path, &reply)
    }

    /// Waits until the daemon closes the connection (after `stop`: until the process ends).
    pub async fn closed(&mut self) -> Result<(), ClientError> {
        let mut sink = [0u8; 256];
        loop {
            match self.stream.read(&mut sink).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(err) => return Err(self.io(err)),
            }
        }
    }

    async fn read_line(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                return Ok(line);
            }
            if self.pending.len() > MAX_REPLY_BYTES {
                return Err(self.protocol(format!("the reply is longer than {MAX_REPLY_BYTES} bytes")));
            }
            let n = self.stream.read(&mut chunk).await.map_err(|source| self.io(source))?;
            if n == 0 {
                return Err(self.protocol("the daemon closed the connection without a complete reply".to_owned()));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    fn io(&self, source: io::Error) -> ClientError {
        ClientError::Io { path: self.path.clone(), source }
    }

    fn protocol(&self, detail: String) -> ClientError {
        ClientError::Protocol { path: self.path.clone(), detail }
    }
}

/// Reads one reply line for a request whose result is a `T`.
pub fn decode<T: DeserializeOwned>(path: &Path, line: &[u8]) -> Result<T, ClientError> {
    let protocol = |detail: String| ClientError::Protocol { path: path.to_path_buf(), detail };
    let response: Response<T> =
        serde_json::from_slice(line).map_err(|err| protocol(format!("unreadable reply ({err})")))?;
    if response.v != VERSION {
        return Err(protocol(format!("the daemon replied in version {}", response.v)));
    }
    match (response.ok, response.result, response.error) {
        (true, Some(result), _) => Ok(result),
        (false, _, Some(error)) if error.code == ErrorCode::PermissionDenied => {
            Err(ClientError::PermissionDenied { path: path.to_path_buf(), detail: error.message })
        }
        (false, _, Some(error)) => Err(ClientError::Refused { path: path.to_path_buf(), error }),
        (true, None, _) => Err(protocol("a successful reply without a `result`".to_owned())),
        (false, _, None) => Err(protocol("a failed reply without an `error`".to_owned())),
    }
}

/// Connects, sends `op` and reads the result, all within `timeout`.
pub async fn call<T: DeserializeOwned>(path: &Path, op: Op, timeout: Duration) -> Result<T, ClientError> {
    let exchange = async {
        let mut connection = Connection::connect(path).await?;
        connection.call(op).await
    };
    tokio::time::timeout(timeout, exchange).await.unwrap_or_else(|_| {
        Err(ClientError::Timeout {
            path: path.to_path_buf(),
            what: format!("`{}` within {}", op.name(), humantime::format_duration(timeout)),
        })
    })
}
