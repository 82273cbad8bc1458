//! Docker swarm mode: the daemon as a replicated (or global) service of the container
//! backend's image, its configuration a swarm config object, changed by rolling updates the
//! engine gates on the health check and rolls back itself.
//!
//! | level  | record                                  | image archive                               |
//! |--------|-----------------------------------------|---------------------------------------------|
//! | system | `/etc/NAME/NAME.swarm.toml`             | `/var/cache/NAME/NAME-swarm-image.tar`      |
//! | user   | `$XDG_CONFIG_HOME/NAME/NAME.swarm.toml` | `$XDG_CACHE_HOME/NAME/NAME-swarm-image.tar` |
//!
//! - [`render`]: the service's spec and the engine's words, pure (golden-tested);
//! - [`observe`]: the engine's JSON of the service and its tasks, read by pure functions;
//! - [`record`]: what an install recorded on the host;
//! - `backend`: [`SwarmBackend`], the [`Backend`](crate::platform::Backend) the engine drives.

mod backend;
#[cfg(test)]
mod backend_tests;
pub mod observe;
pub mod record;
pub mod render;
#[cfg(test)]
mod tests;

pub use backend::SwarmBackend;
