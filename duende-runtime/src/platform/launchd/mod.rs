//! launchd (macOS): the plist a daemon is installed as, rendered by pure functions from its
//! configuration, and the job driven with `launchctl`'s modern verbs.
//!
//! - [`job`](mod@job): [`JobSpec`], everything a plist says, built by [`JobSpec::new`] from the
//!   [`Settings`](crate::config::Settings) and the [`JobFacts`] of one install; the mappings
//!   (`KeepAlive` from the restart policy, `ThrottleInterval`, `ExitTimeOut`, limits) are
//!   documented there.
//! - [`render`](mod@render): [`render()`] turns a spec into plist text, or a [`RenderError`] that
//!   names the offending key; [`plist`] is its writer, with the XML escaper.
//! - [`launchctl`]: the verbs, and [`Printed`], what `launchctl print` says of a job.
//! - [`backend`](mod@backend): [`LaunchdBackend`], which plans the install (files, `bootout` of a
//!   loaded job whose files change) for the shared [engine](crate::platform::engine), drives the
//!   job and observes it; [`paths`] says where its files go.
//!
//! What is proven where: the renderer, its escaping and the plists' validity (a strict parse,
//! the plist DTD and launchd.plist(5) types, `scripts/validate-plists`) and the transaction
//! against a `launchctl` model that follows the documented behaviour are tested on any host;
//! only `tests/tests/launchd_macos.rs`, on a Mac, drives the real launchd.

pub mod backend;
pub mod job;
pub mod launchctl;
pub mod paths;
pub mod plist;
pub mod render;

#[cfg(test)]
mod backend_tests;
#[cfg(test)]
mod tests;

pub use backend::{Answer, ControlProbe, DaemonProbe, LaunchdBackend, NoAnswer};
pub use job::{JobFacts, JobSpec, KeepAlive};
pub use launchctl::{Domain, LastExit, Printed};
pub use paths::Layout;
pub use render::{MARKER, RenderError, is_written_by_duende, render};
