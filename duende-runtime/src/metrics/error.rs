//! Why metrics cannot be exported.

use std::io;
use std::net::SocketAddr;

/// Why metrics cannot be exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The configured address could not be bound.
    #[error(
        "cannot listen for metrics scrapes on {address} (metrics.listen): {source}; choose a free port, such as \
         `--set metrics.listen=127.0.0.1:9465` (port 0 picks one), or stop what holds this one"
    )]
    Bind {
        /// `metrics.listen`.
        address: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The bound socket could not be handed to the async runtime.
    #[error("cannot serve metrics on {address}: {source}")]
    Serve {
        /// The bound address.
        address: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The upkeep thread could not be started.
    #[error("cannot start the metrics upkeep thread: {source}")]
    Upkeep {
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Something installed a global `metrics` recorder first.
    #[error(
        "another `metrics` recorder is already installed globally, so the daemon's own `metrics::` calls are \
         recorded there and not exported; the runtime's metrics are exported all the same"
    )]
    RecorderTaken,
}
