//! Containers (docker, podman, nerdctl): an image built offline from the daemon's own binary,
//! run as a container the engine supervises.

mod backend;
mod contents;
pub mod elf;
pub mod image;
pub mod inspect;
pub mod record;
pub mod spec;
pub mod tar;

pub use backend::{ContainerBackend, ContainerLayout, Tool};
pub use contents::{Built, ConfigPlace, account, build_image, build_image_for, host_limits};
