//! What a WOS module may reach: `platform.wos.capabilities` in the configuration and in the
//! manifest, one string each, parsed by [`Capability::parse`] (the one grammar both share).
//!
//! | capability               | grants                                                   | wasmtime          |
//! |--------------------------|----------------------------------------------------------|-------------------|
//! | `fs:read:/PATH`          | the host directory `/PATH`, at the same path in the module, to read | `--dir /PATH::/PATH` |
//! | `fs:write:/PATH`         | the same, to read and write                              | `--dir /PATH::/PATH` |
//! | `net:listen:IP:PORT`     | a TCP listener on `IP:PORT`, opened by the host           | `-S tcplisten=IP:PORT` |
//! | `net:connect:IP:PORT`    | outgoing TCP connections to `IP:PORT`                     | none (see below)  |
//!
//! Paths are absolute, without `.` or `..` components, and hold no `::` (wasmtime's separator
//! between a host and a guest path) and no control characters. Addresses are `IP:PORT` with the
//! port between 1 and 65535, an IPv6 address in brackets (`[::1]:8080`).
//!
//! The wasmtime engine does not enforce everything a WOS manifest says: its `--dir` grants read
//! and write alike (`fs:read` is recorded for WOS, not enforced on a host), and WASI preview 1
//! cannot open outgoing connections at all (`net:connect` grants nothing there). `check` and
//! `install` say so.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

/// One capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// A host directory, preopened at the same path.
    Dir {
        /// The directory.
        path: PathBuf,
        /// Whether the module may write in it.
        write: bool,
    },
    /// A TCP listener the host opens for the module.
    Listen(SocketAddr),
    /// Outgoing TCP connections to an address.
    Connect(SocketAddr),
}

/// The grammar, for messages.
pub const GRAMMAR: &str = "`fs:read:/PATH` or `fs:write:/PATH` (an absolute path without `..`, `::` or control \
                           characters), `net:listen:IP:PORT` or `net:connect:IP:PORT` (such as \
                           \"net:listen:127.0.0.1:8080\")";

/// Why a capability string is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}; a capability is {GRAMMAR}")]
pub struct BadCapability {
    /// What is wrong.
    pub problem: String,
}

impl Capability {
    /// Parses `text` ([`GRAMMAR`]).
    pub fn parse(text: &str) -> Result<Capability, BadCapability> {
        let bad = |problem: String| BadCapability { problem };
        if let Some((kind, rest)) = text.strip_prefix("fs:").and_then(|rest| rest.split_once(':')) {
            let write = match kind {
                "read" => false,
                "write" => true,
                other => return Err(bad(format!("`fs:{other}` is not an access; use `fs:read` or `fs:write`"))),
            };
            return check_path(rest).map(|path| Capability::Dir { path, write }).map_err(bad);
        }
        if let Some((kind, rest)) = text.strip_prefix("net:").and_then(|rest| rest.split_once(':')) {
            let addr = rest.parse::<SocketAddr>().ok().filter(|addr| addr.port() != 0).ok_or_else(|| {
                bad(format!(
                    "{rest:?} is not an address: use IP:PORT with a port from 1 to 65535, such as 127.0.0.1:8080"
                ))
            })?;
            return match kind {
                "listen" => Ok(Capability::Listen(addr)),
                "connect" => Ok(Capability::Connect(addr)),
                other => Err(bad(format!("`net:{other}` is not a network access; use `net:listen` or `net:connect`"))),
            };
        }
        Err(bad(format!("{text:?} is not a capability")))
    }
}

/// `text` as a path a capability may name, or what is wrong with it.
fn check_path(text: &str) -> Result<PathBuf, String> {
    let path = Path::new(text);
    if !path.is_absolute() {
        return Err(format!("{text:?} is not an absolute path"));
    }
    if text.contains("::") {
        return Err(format!("{text:?} holds `::`, which wasmtime reads as the separator of `--dir HOST::GUEST`"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{text:?} holds a control character"));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) || text.contains("/./") {
        return Err(format!("{text:?} holds a `.` or `..` component; name the directory itself"));
    }
    Ok(path.to_path_buf())
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Dir { path, write } => {
                write!(f, "fs:{}:{}", if *write { "write" } else { "read" }, path.display())
            }
            Capability::Listen(addr) => write!(f, "net:listen:{addr}"),
            Capability::Connect(addr) => write!(f, "net:connect:{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_and_prints_back() {
        for text in ["fs:read:/data", "fs:write:/var/lib/x y", "net:listen:127.0.0.1:8080", "net:connect:[::1]:443"] {
            let capability = Capability::parse(text).unwrap();
            assert_eq!(capability.to_string(), text);
        }
        assert_eq!(Capability::parse("fs:read:/data").unwrap(), Capability::Dir { path: "/data".into(), write: false });
    }

    #[test]
    fn mistakes_are_named_with_the_grammar() {
        for (text, says) in [
            ("fs:read:data", "not an absolute path"),
            ("fs:exec:/data", "`fs:exec` is not an access"),
            ("fs:read:/a::/b", "holds `::`"),
            ("fs:read:/a/../etc", "`..` component"),
            ("fs:write:/a\nb", "control character"),
            ("net:listen:localhost:80", "is not an address"),
            ("net:listen:127.0.0.1:0", "is not an address"),
            ("net:bind:127.0.0.1:80", "`net:bind` is not a network access"),
            ("disk:/data", "is not a capability"),
            ("", "is not a capability"),
        ] {
            let err = Capability::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
            assert!(err.contains("`fs:read:/PATH`"), "{text:?}: {err}");
        }
    }
}
