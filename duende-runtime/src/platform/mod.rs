//! Platform detection and the seam for service-manager backends. Placeholder for the helper.

/// Where a daemon runs, or which service manager installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// systemd.
    Systemd,
    /// launchd (macOS).
    Launchd,
    /// A container engine.
    Container,
    /// A pepita microVM.
    Pepita,
    /// WOS, the WebAssembly OS.
    Wos,
    /// No service manager: the binary supervises itself.
    Native,
}

/// Carries out a management command. PLACEHOLDER.
pub fn manage(_name: &str, _command: &crate::cli::Command, _common: &crate::cli::Common) -> crate::exit::Exit {
    crate::exit::Exit::Unavailable
}
