//! native: no service manager but the binary itself (DESIGN.md section 6).
//!
//! - [`backend`](mod@backend): [`NativeBackend`], the plan `install` applies (binary,
//!   configuration, and the [`definition`] of what to run) and the operations, which it carries
//!   out by talking to the supervisor.
//! - [`supervisor`]: the supervisor process (`NAME __supervise`): restarts by [`policy`], the
//!   rotating [`logfile`], a locked [`pidfile`], and its socket [`protocol`].
//! - [`client`]: launching a supervisor and asking it things.

pub mod backend;
pub mod client;
pub mod definition;
pub mod logfile;
pub mod pidfile;
pub mod policy;
pub mod protocol;
pub mod supervisor;

pub use backend::{NativeBackend, NativeLayout};
