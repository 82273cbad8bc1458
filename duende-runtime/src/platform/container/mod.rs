//! Containers (docker, podman, nerdctl): an image built offline from the daemon's own binary,
//! run as a container the engine supervises.

mod backend;
pub mod elf;
pub mod image;
pub mod inspect;
pub mod record;
pub mod spec;
pub mod tar;

pub use backend::{Built, ContainerBackend, ContainerLayout, Tool, build_image};
