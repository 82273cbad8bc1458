//! systemd: the unit a daemon is installed as, rendered by pure functions from its configuration.
//!
//! - [`unit`](mod@unit): [`UnitSpec`], everything a unit says, built by [`UnitSpec::new`] from the
//!   [`Settings`](crate::config::Settings) and the [`InstallFacts`] of one install; the derived
//!   numbers (restart mapping, stop timeout, watchdog) are documented there.
//! - [`render`](mod@render): [`render()`] turns a spec into unit-file text, or a [`RenderError`]
//!   that names the offending key; the choices it makes (kill mode, start limits, sandbox) are
//!   documented there.
//! - [`escape`]: how each kind of value is quoted so that none can inject a directive.
//!
//! - [`backend`](mod@backend): [`SystemdBackend`], which plans the install (files, `daemon-reload`,
//!   `enable`) for the shared [engine](crate::platform::engine), drives and observes the unit;
//!   [`paths`] says where its files go, [`show`] reads `systemctl show`, [`diagnose`] is its part
//!   of `check`.

pub mod backend;
pub mod diagnose;
pub mod escape;
pub mod paths;
pub mod render;
pub mod show;
pub mod unit;

#[cfg(test)]
mod backend_tests;
#[cfg(test)]
mod tests;

pub use backend::SystemdBackend;
pub use escape::EscapeError;
pub use paths::Layout;
pub use render::{MARKER, RenderError, is_written_by_duende, render};
pub use unit::{Features, InstallFacts, Reload, RestartSteps, UnitSpec};
