//! The scrape endpoint: `GET /metrics` (and `GET /healthz` for probes) over HTTP/1.x on the
//! configured address, served on the daemon's tokio runtime, plus the upkeep that keeps histogram memory bounded between scrapes.
//!
//! Each connection carries one request and is closed after the answer. A request head must
//! arrive within [`READ_DEADLINE`] and fit in 8 KiB; at most [`MAX_CONNECTIONS`] are served at
//! once (more wait in the kernel's backlog), so a flood of bad requests costs bounded memory and
//! never stops the daemon. Idle, the endpoint sets no timer: the daemon wakes only for upkeep,
//! which runs on a small thread of its own (`duende-metrics`) that sleeps for the whole interval.
//! A tokio timer of several seconds would wake the runtime about three times per tick, as its
//! timer wheel cascades the deadline from coarse levels to fine ones.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::http::{self, Route, Status};
use super::{MetricsError, Registry};
use crate::config::settings::MetricsSettings;

/// Time a client has to send its request head.
pub const READ_DEADLINE: Duration = Duration::from_secs(5);
/// Time a client has to take the whole response.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// After answering, how long and how much of what the client still sends is read and dropped, so
/// that closing does not reset the connection before the client has read the answer.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Pause after a failed `accept` (out of file descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A bound scrape endpoint, not yet serving: binding comes before the daemon's `init`, so a busy
/// port stops the daemon before it starts.
#[derive(Debug)]
pub struct Exporter {
    listener: std::net::TcpListener,
    address: SocketAddr,
    registry: Registry,
    upkeep: Duration,
}

impl Exporter {
    /// Binds `settings.listen` for `registry`. The settings are trusted to be validated (loopback
    /// unless `allow_remote`).
    pub fn bind(settings: &MetricsSettings, registry: &Registry) -> Result<Exporter, MetricsError> {
        let requested = settings.listen;
        let bind_error = |source| MetricsError::Bind { address: requested, source };
        let listener = std::net::TcpListener::bind(requested).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        Ok(Exporter { listener, address, registry: registry.clone(), upkeep: settings.upkeep_interval })
    }

    /// The address bound (with the port chosen when `metrics.listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Starts serving scrapes on `runtime` and running upkeep on its own thread.
    pub fn start(self, runtime: &tokio::runtime::Handle) -> Result<RunningExporter, MetricsError> {
        let address = self.address;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(self.listener).map_err(|source| MetricsError::Serve { address, source })?
        };
        let upkeep = Upkeep::start(self.registry.clone(), self.upkeep)?;
        let serving = runtime.spawn(serve(listener, self.registry));
        Ok(RunningExporter { address, serving, upkeep })
    }
}

/// A serving scrape endpoint; [`RunningExporter::stop`] closes it.
#[derive(Debug)]
pub struct RunningExporter {
    address: SocketAddr,
    serving: JoinHandle<()>,
    upkeep: Upkeep,
}

impl RunningExporter {
    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, drops every open connection and stops upkeep. It does not wait for the
    /// runtime: a daemon that wedged its runtime must still be able to exit, and the listener is
    /// closed once the runtime has dropped the task (at the latest when the process exits).
    pub fn stop(self) {
        self.serving.abort();
        self.upkeep.stop();
    }
}

/// The thread that folds histogram samples into buckets every interval, whether or not anyone
/// scrapes. It sleeps on a condition variable, so stopping it wakes it at once.
#[derive(Debug)]
struct Upkeep {
    stopped: Arc<(Mutex<bool>, Condvar)>,
    thread: std::thread::JoinHandle<()>,
}

impl Upkeep {
    fn start(registry: Registry, every: Duration) -> Result<Upkeep, MetricsError> {
        let stopped = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stopped);
        let thread = std::thread::Builder::new()
            .name("duende-metrics".to_owned())
            .stack_size(crate::signals::service_stack())
            .spawn(move || {
                let (lock, wake) = &*flag;
                let mut stop = lock.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    stop =
                        wake.wait_timeout_while(stop, every, |stop| !*stop).unwrap_or_else(PoisonError::into_inner).0;
                    if *stop {
                        return;
                    }
                    registry.run_upkeep();
                }
            })
            .map_err(|source| MetricsError::Upkeep { source })?;
        Ok(Upkeep { stopped, thread })
    }

    /// Wakes the thread to end and waits for it (at most one upkeep pass).
    fn stop(self) {
        let (lock, wake) = &*self.stopped;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        let _ = self.thread.join();
    }
}

/// Accepts connections while fewer than [`MAX_CONNECTIONS`] are open. The connections live in a
/// `JoinSet` owned here, so stopping this task drops them all.
async fn serve(listener: TcpListener, registry: Registry) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        while connections.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let registry = registry.clone();
                connections.spawn(async move {
                    answer(stream, &registry).await;
                    drop(slot);
                });
            }
            Err(err) => {
                tracing::debug!(%err, "metrics: accepting a connection failed");
                drop(slot);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Reads one request head and writes one response, each within its deadline.
async fn answer(mut stream: TcpStream, registry: &Registry) {
    let reply = match tokio::time::timeout(READ_DEADLINE, read_head(&mut stream)).await {
        Err(_elapsed) => http::refusal(Status::RequestTimeout),
        Ok(Err(_io)) => return,
        Ok(Ok(None)) => http::refusal(Status::HeadTooLarge),
        Ok(Ok(Some(head))) => match http::route(&head) {
            Route::Metrics { head } => http::metrics_response(&registry.render(), head),
            Route::Health { head } => http::health_response(&registry.serving(), head),
            Route::Refuse(status) => http::refusal(status),
        },
    };
    let written = tokio::time::timeout(WRITE_DEADLINE, async {
        stream.write_all(&reply).await?;
        stream.shutdown().await
    })
    .await;
    if matches!(written, Ok(Ok(()))) {
        let _ = tokio::time::timeout(LINGER, discard(&mut stream, LINGER_BYTES)).await;
    }
}

/// Reads and drops up to `limit` bytes, until the client closes.
async fn discard(stream: &mut TcpStream, limit: usize) -> io::Result<()> {
    let mut chunk = [0u8; 1024];
    let mut left = limit;
    while left > 0 {
        match stream.read(&mut chunk).await? {
            0 => return Ok(()),
            read => left = left.saturating_sub(read),
        }
    }
    Ok(())
}

/// The request head, or `None` when it outgrows [`http::MAX_HEAD`]. A client that closes early
/// is an error (nothing to answer).
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let scanned = buffer.len().saturating_sub(3);
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = http::head_end(&buffer[scanned..]).map(|end| scanned + end) {
            if end > http::MAX_HEAD {
                return Ok(None);
            }
            buffer.truncate(end);
            return Ok(Some(buffer));
        }
        if buffer.len() > http::MAX_HEAD {
            return Ok(None);
        }
    }
}
