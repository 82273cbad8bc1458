//! The program `#[duende::main]` generates: parse the command line, then either run the daemon
//! through its lifecycle or carry out a management command.
//!
//! Lifecycle of `run`: memory lock (when the macro asks) → configuration → memory lock (when the
//! configuration asks) → logging → async runtime → signal handlers → the user's `main` body →
//! `init` → ready → `run` → `shutdown`, the last two bounded by `shutdown_timeout` once a shutdown
//! has been requested.

use std::ffi::OsString;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::cli::{self, Command, Common, Parsed};
use crate::config::{self, Settings, Sources};
use crate::context::{DaemonContext, Event, Generation};
use crate::daemon::{Daemon, ExitReason};
use crate::exit::Exit;
use crate::logging::{self, LogControl};
use crate::mlock::{self, MlockMode};
use crate::notify::Notifier;
use crate::shutdown::Shutdown;
use crate::signals::{self, Routes};
use crate::{check, name, platform};

/// Stack size of each async runtime thread (tokio's default, made explicit so the locked-memory
/// headroom check knows it).
const WORKER_STACK: u64 = 2 << 20;
/// The guard page below each thread stack.
const STACK_GUARD: u64 = 4096;

/// Compile-time options of `#[duende::main]`.
#[derive(Debug, Clone, Copy)]
pub struct MainOptions {
    /// Service name (`name = "..."`, or the binary's name).
    pub name: &'static str,
    /// The crate's version.
    pub version: &'static str,
    /// The crate's description, for `--help`.
    pub description: &'static str,
    /// `mlock = "..."`.
    pub mlock: MlockMode,
}

/// Entry point for a synchronous `main` body.
pub fn run_sync<D: Daemon>(options: MainOptions, build: fn() -> D) -> ExitCode {
    start::<D, _, _>(options, move || std::future::ready(build())).into()
}

/// Entry point for an `async` `main` body.
pub fn run_async<D: Daemon, F: Future<Output = D>>(options: MainOptions, build: fn() -> F) -> ExitCode {
    start::<D, _, _>(options, build).into()
}

fn start<D, B, F>(options: MainOptions, build: B) -> Exit
where
    D: Daemon,
    B: FnOnce() -> F,
    F: Future<Output = D>,
{
    let args: Vec<OsString> = std::env::args_os().collect();
    // With `mlock = "required"` or `"best-effort"` locking comes first, before the command line is
    // parsed, so everything the runtime later maps is covered by MCL_FUTURE.
    let early_lock = (options.mlock != MlockMode::Off && cli::is_run(&args))
        .then(|| mlock::lock(options.mlock == MlockMode::Required));
    let cli = match cli::parse(options.name, options.version, options.description, &args) {
        Parsed::Cli(cli) => cli,
        Parsed::Exit { text, code, to_stderr } => {
            if to_stderr {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
            return if code == 0 { Exit::Success } else { Exit::Usage };
        }
    };
    if let Err(problem) = name::validate(options.name) {
        eprintln!("{problem}");
        return Exit::Usage;
    }
    match cli.command.clone().unwrap_or(Command::Run) {
        Command::Run => run_daemon::<D, B, F>(options, cli.common, early_lock, build),
        Command::Config => show_config::<D>(options, cli.common),
        Command::Check => check::run::<D>(options, &cli.common),
        other => platform::manage(options.name, &other, &cli.common),
    }
}

fn sources(options: &MainOptions, common: &Common) -> Sources {
    Sources::from_process(options.name, options.version, common.config.clone(), common.sets.clone())
}

fn show_config<D: Daemon>(options: MainOptions, common: Common) -> Exit {
    match config::load::<D::Config>(&sources(&options, &common), D::validate) {
        Ok(loaded) => {
            print!("{}", loaded.explain());
            Exit::Success
        }
        Err(err) => {
            eprintln!("{}: {err}", options.name);
            Exit::Config
        }
    }
}

fn run_daemon<D, B, F>(options: MainOptions, common: Common, early_lock: Option<mlock::LockOutcome>, build: B) -> Exit
where
    D: Daemon,
    B: FnOnce() -> F,
    F: Future<Output = D>,
{
    let sources = sources(&options, &common);
    let settings = match config::load_settings::<D::Config>(&sources, D::validate) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{}: {err}", options.name);
            return Exit::Config;
        }
    };
    let resources = &settings.resources;
    let required = options.mlock == MlockMode::Required || resources.lock_memory_required;
    let lock =
        early_lock.or_else(|| (resources.lock_memory || resources.lock_memory_required).then(|| mlock::lock(required)));
    if let Some(mlock::LockOutcome { plan, result: Err(err), .. }) = &lock
        && required
    {
        eprintln!("{}: {plan}", options.name);
        eprintln!("{}: memory locking is required and failed: {err}", options.name);
        return Exit::OsError;
    }

    let log = logging::init(&settings.log_level);
    if let Some(outcome) = &lock {
        outcome.log(required);
    }
    let notifier = match Notifier::from_socket_var(std::env::var("NOTIFY_SOCKET").ok().as_deref()) {
        Ok(notifier) => notifier,
        Err(err) => {
            tracing::warn!(%err, "NOTIFY_SOCKET is unusable; the service manager will not hear readiness");
            Notifier::disabled()
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    // Under a finite lock limit every new thread stack is locked as it is mapped, and tokio
    // cannot recover from a worker it fails to spawn: check the headroom before building.
    if let Some(mlock::LockOutcome { result: Ok(locked), .. }) = &lock {
        let stacks = u64::try_from(workers).unwrap_or(u64::MAX).saturating_mul(WORKER_STACK + STACK_GUARD);
        if let Err(err) = locked.fits(stacks, &format!("the async runtime's {workers} worker threads")) {
            tracing::error!("{err}");
            return Exit::OsError;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_stack_size(usize::try_from(WORKER_STACK).unwrap_or(usize::MAX))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(%err, "cannot start the async runtime");
            return Exit::OsError;
        }
    };
    let lifecycle = lifecycle::<D, B, F>(settings, sources, Arc::new(notifier), log, build);
    let exit = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(lifecycle))).unwrap_or_else(|_| {
        tracing::error!("the daemon panicked");
        Exit::Software
    });
    runtime.shutdown_background();
    exit
}

async fn lifecycle<D, B, F>(
    settings: Settings<D::Config>,
    sources: Sources,
    notifier: Arc<Notifier>,
    log: LogControl,
    build: B,
) -> Exit
where
    D: Daemon,
    B: FnOnce() -> F,
    F: Future<Output = D>,
{
    let shutdown = Shutdown::new();
    let (events_tx, events_rx) = mpsc::channel(64);
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let routes = Routes {
        shutdown: shutdown.clone(),
        events: events_tx.clone(),
        reload: reload_tx,
        notifier: Arc::clone(&notifier),
    };
    if let Err(err) = signals::install(routes) {
        tracing::error!(%err, "cannot install signal handlers");
        return Exit::OsError;
    }
    let (config_tx, config_rx) = watch::channel(Generation { number: 1, settings: Arc::new(settings) });
    let timeouts = config_rx.clone();
    tokio::spawn(reloader::<D>(sources, config_tx, reload_rx, events_tx, Arc::clone(&notifier), log));

    let mut daemon = build().await;
    let mut ctx = DaemonContext::new(config_rx, shutdown.clone(), events_rx, Arc::clone(&notifier));
    tracing::debug!("initializing");
    if let Err(err) = daemon.init(&mut ctx).await {
        tracing::error!("init failed: {err:#}");
        notifier.status(&format!("init failed: {err:#}"));
        return Exit::Software;
    }
    notifier.ready("running");
    tracing::info!(pid = std::process::id(), "ready");

    let deadline = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.wait().await;
            let timeout = timeouts.borrow().settings.shutdown_timeout;
            tokio::time::sleep(timeout).await;
            timeout
        }
    };
    let work = async {
        let ran = if shutdown.is_triggered() {
            tracing::debug!("shutdown requested during init; run skipped");
            Ok(ExitReason::Graceful)
        } else {
            daemon.run(&mut ctx).await
        };
        if shutdown.trigger() {
            notifier.stopping("shutting down");
        }
        let stopped = daemon.shutdown(&mut ctx).await;
        (ran, stopped)
    };
    tokio::select! {
        biased;
        (ran, stopped) = work => conclude(ran, stopped),
        timeout = deadline => {
            tracing::error!(timeout = %humantime::format_duration(timeout), "shutdown did not finish within shutdown_timeout");
            Exit::ShutdownTimeout
        }
    }
}

fn conclude(ran: crate::Result<ExitReason>, stopped: crate::Result<()>) -> Exit {
    let mut exit = match ran {
        Ok(ExitReason::Graceful) => Exit::Success,
        Ok(ExitReason::Failed(reason)) => {
            tracing::error!(%reason, "the daemon failed");
            Exit::Software
        }
        Err(err) => {
            tracing::error!("run failed: {err:#}");
            Exit::Software
        }
    };
    if let Err(err) = stopped {
        tracing::error!("shutdown failed: {err:#}");
        exit = Exit::Software;
    }
    if exit == Exit::Success {
        tracing::info!("stopped");
    }
    exit
}

async fn reloader<D: Daemon>(
    sources: Sources,
    config: watch::Sender<Generation<D::Config>>,
    mut requests: mpsc::Receiver<()>,
    events: mpsc::Sender<Event>,
    notifier: Arc<Notifier>,
    log: LogControl,
) {
    let mut number = 1;
    while requests.recv().await.is_some() {
        notifier.reloading();
        tracing::info!("SIGHUP: reloading configuration");
        let sources = sources.clone();
        let loaded =
            tokio::task::spawn_blocking(move || config::load_settings::<D::Config>(&sources, D::validate)).await;
        match loaded {
            Ok(Ok(settings)) => {
                number += 1;
                log.apply_config_level(&settings.log_level);
                config.send_replace(Generation { number, settings: Arc::new(settings) });
                notifier.ready(&format!("running (configuration generation {number})"));
                tracing::info!(generation = number, "configuration reloaded");
                signals::deliver(&events, Event::Reloaded { generation: number });
            }
            Ok(Err(err)) => {
                tracing::error!(generation = number, "reload rejected, the running configuration stays: {err}");
                notifier.ready(&format!("running (reload rejected; configuration generation {number} kept)"));
                signals::deliver(&events, Event::ReloadRejected { reason: err.to_string() });
            }
            Err(err) => {
                tracing::error!(%err, "reload task failed; the running configuration stays");
                notifier.ready("running (reload failed)");
            }
        }
    }
}
