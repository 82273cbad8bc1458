//! The daemon's control channel: a local socket in its runtime directory through which
//! `status --json` reads the running daemon's live state and `reload`/`stop` act on it, the
//! same way in the foreground, under systemd, in a container or a microVM.
//!
//! - [`protocol`]: the versioned request/response messages (documented in
//!   `docs/control-protocol.md`) and the request parser.
//! - `server`: the listener the running daemon starts: `control.sock`, mode 0600, peers checked
//!   by credentials (the daemon's user or root), bounded requests, deadlines and connections.
//! - `slots`: which connections hold the connection slots, and which gives one up to a newcomer.
//! - [`client`]: requests with timeouts and errors that tell "not running" from "not allowed".
//! - `command`: the management commands (`status`, `reload`, `stop`) built on the client.
//! - `answer`: what the daemon answers to one request line, whatever transport carried it.
//! - [`report`]: how `status` shows the live state, as text and as JSON.
//!
//! - [`stdio`]: the same protocol over standard input and output, the stop path of a WASI
//!   module (WOS), where there is no socket and no signal.

pub(crate) mod answer;
pub mod protocol;
pub mod report;
pub mod stdio;

#[cfg(unix)]
pub mod client;
#[cfg(unix)]
pub(crate) mod command;
#[cfg(unix)]
pub(crate) mod lock;
#[cfg(unix)]
pub(crate) mod server;
#[cfg(unix)]
pub(crate) mod slots;

#[cfg(all(test, unix))]
mod tests;

pub use crate::rundir::{LOCK_NAME, SOCKET_NAME, socket_in};
