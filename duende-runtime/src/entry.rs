//! The program `#[duende::main]` generates: parse the command line, then either run the daemon
//! through its lifecycle or carry out a management command. As PID 1 (a container's entrypoint)
//! the process first forks: init stays behind in the parent (`pid1`), the child goes on.
//!
//! Lifecycle of `run`: memory lock (when the macro asks) → configuration → memory lock (when the
//! configuration asks) → logging → reloading (a thread started on demand), the shutdown deadline
//! and signal handling (a thread of its own) → async runtime → the user's `main` body →
//! `init` → ready → `run` → `shutdown`, the last two bounded by `shutdown_timeout` once a
//! shutdown has been requested. The threads are described in the crate's docs.
//!
//! Built for WASI (WOS) the order is the same, on what the target has: no signals and no
//! threads, so reloading and the deadline are tasks of one current-thread runtime, and the stop
//! path is the control protocol on standard input and output (`crate::wasi`).

use std::ffi::OsString;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::cli::{self, Command, Common, Parsed};
use crate::config::Generation;
use crate::config::{self, Sources};
use crate::context::{DaemonContext, Event, Pending};
use crate::daemon::{Daemon, ExitReason};
use crate::exit::Exit;
use crate::health::{self, HealthState};
use crate::link::Link;
use crate::live::Live;
use crate::logging::{self, LogControl};
#[cfg(unix)]
use crate::manage;
use crate::metrics;
use crate::metrics::DaemonMetrics;
use crate::mlock::{self, MlockMode};
#[cfg(unix)]
use crate::notify;
use crate::shutdown::Shutdown;
#[cfg(unix)]
use crate::signals::{self, Routes};
use crate::{check, name};

/// Default stack size of each async runtime thread (tokio's default, made explicit so the
/// locked-memory headroom check knows it); `resources.thread_stack_bytes` replaces it.
#[cfg(unix)]
const WORKER_STACK: u64 = 2 << 20;

/// duende's own threads at most at once: signal routing (which keeps the shutdown deadline too)
/// and, during a reload, the reload thread (plus metrics upkeep when metrics are on).
#[cfg(unix)]
const SERVICE_THREADS: u64 = 2;

pub use crate::invocation::MainOptions;

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
    // As PID 1 (a container's entrypoint) the process splits first, while it has one thread and
    // before it locks memory (locks are not inherited across fork): init stays behind, reaping
    // and forwarding signals, and only the daemon returns here.
    #[cfg(unix)]
    crate::pid1::split(options.name);
    let args: Vec<OsString> = std::env::args_os().collect();
    // With `mlock = "required"` or `"best-effort"` locking comes first, before the command line is
    // parsed, so everything the runtime later maps is covered by MCL_FUTURE.
    let early_lock = (options.mlock != MlockMode::Off && cli::is_run(&args)).then(mlock::lock_all);
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
    crate::progress::configure(cli.common.quiet);
    match cli.command.clone().unwrap_or_else(|| Command::Run(cli::RunArgs::default())) {
        Command::Run(run) => run_daemon::<D, B, F>(options, cli.common, run.args, early_lock, build),
        Command::Config(args) => show_config::<D>(options, cli.common, args.json),
        Command::Check(args) => check::run::<D>(options, &cli.common, args.json),
        Command::Completions(args) => {
            crate::docs::print(&options, Some(args.shell), &mut std::io::stdout().lock(), &mut std::io::stderr().lock())
        }
        Command::Man => {
            crate::docs::print(&options, None, &mut std::io::stdout().lock(), &mut std::io::stderr().lock())
        }
        // Before any async runtime exists: the supervisor forks its daemon.
        #[cfg(all(unix, feature = "native"))]
        Command::Supervise => {
            let sources = crate::invocation::sources(&options, &cli.common);
            let settings = config::load_settings::<D::Config>(&sources, D::validate).map_err(|err| err.to_string());
            crate::platform::native::supervisor::main(settings)
        }
        #[cfg(all(unix, feature = "pepita"))]
        Command::PepitaVm(args) => {
            crate::platform::pepita::runner::main(options.name, &args.bundle, cli.common.config.as_deref())
        }
        #[cfg(all(unix, feature = "wos"))]
        Command::WosRun(args) => crate::platform::wos::runner::main(options.name, &args.manifest),
        // The hidden commands of a backend this binary was built without: only an installation
        // made by another build of it can ask for them.
        #[cfg(unix)]
        #[allow(unreachable_patterns, reason = "reached when a backend's feature is off")]
        hidden @ (Command::Supervise | Command::PepitaVm(_) | Command::WosRun(_)) => {
            let feature = match hidden {
                Command::PepitaVm(_) => "pepita",
                Command::WosRun(_) => "wos",
                _ => "native",
            };
            eprintln!(
                "{}: this binary was built without duende's `{feature}` feature, which `{}` needs; reinstall the \
                 service with the build that installed it",
                options.name,
                hidden.name(),
            );
            Exit::Unavailable
        }
        #[cfg(unix)]
        Command::Healthcheck => {
            let host = crate::platform::Host::from_process();
            crate::control::command::healthcheck(options.name, &host, &mut std::io::stdout().lock())
        }
        #[cfg(unix)]
        other => manage::manage::<D>(options, &other, &cli.common),
        #[cfg(not(unix))]
        other => crate::wasi::unmanaged(options.name, &other),
    }
}

/// `config`: every value and its source; with an invalid layer, the text shows what can still
/// be read (the refused values marked) before the problems, exit 78 (`--json` prints nothing
/// then: a document is the whole configuration or none).
fn show_config<D: Daemon>(options: MainOptions, common: Common, json: bool) -> Exit {
    match config::load_or_partial::<D::Config>(&crate::invocation::sources(&options, &common), D::validate) {
        Ok(loaded) if json => {
            println!("{}", loaded.explain_json(options.name));
            Exit::Success
        }
        Ok(loaded) => {
            print!("{}", loaded.explain());
            Exit::Success
        }
        Err(config::Invalid { error: err, partial }) => {
            if let Some(partial) = partial.filter(|_| !json) {
                println!("# the configuration is invalid: refused values are marked, the problems follow");
                print!("{}", partial.explain());
            }
            // After what was printed: stdout first, so the error is the last thing on a terminal.
            let _ = std::io::Write::flush(&mut std::io::stdout());
            eprintln!("{}: {err}", options.name);
            Exit::Config
        }
    }
}

fn run_daemon<D, B, F>(
    options: MainOptions,
    common: Common,
    args: Vec<String>,
    early_lock: Option<mlock::LockOutcome>,
    build: B,
) -> Exit
where
    D: Daemon,
    B: FnOnce() -> F,
    F: Future<Output = D>,
{
    let sources = crate::invocation::sources(&options, &common);
    let settings = match config::load_settings::<D::Config>(&sources, D::validate) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{}: {err}", options.name);
            return Exit::Config;
        }
    };
    let resources = &settings.resources;
    let trim = resources.trim_after_ready;
    let required = options.mlock == MlockMode::Required || resources.lock_memory_required;
    let lock = early_lock.or_else(|| (resources.lock_memory || resources.lock_memory_required).then(mlock::lock_all));
    if let Some(mlock::LockOutcome { plan, result: Err(err), .. }) = &lock
        && required
    {
        if !err.is_unsupported() {
            eprintln!("{}: {plan}", options.name);
        }
        eprintln!("{}: memory locking is required and failed: {err}", options.name);
        return Exit::OsError;
    }

    let log = logging::init(&settings.log_level);
    if let Some(outcome) = &lock {
        outcome.log(required);
    }
    let host = crate::platform::Host::from_process();
    #[cfg(target_os = "wasi")]
    crate::wasi::announce(&host, &settings);
    let link = Arc::new(Link::from_env(&host));
    #[cfg(unix)]
    let Threads { workers, worker_stack } = match threads(&lock, &settings, required) {
        Ok(threads) => threads,
        Err(exit) => return exit,
    };

    // The metrics port is bound (or the daemon refused) before anything of the daemon's runs.
    let mut metrics = match metrics::Setup::prepare(&settings.metrics) {
        Ok(metrics) => metrics,
        Err(err) => {
            tracing::error!("{err}");
            return Exit::OsError;
        }
    };

    // Signal handlers go in before the async runtime and any user code exist.
    let Wiring {
        live,
        #[cfg(unix)]
        routes,
        reloader,
        reload_requests,
        config: config_rx,
        ctx,
    } = Wiring::<D>::new(options.name, settings, sources, link, metrics.daemon_metrics(), log, args);
    let deadline = Deadline { shutdown: live.shutdown().clone(), config: config_rx.clone() };
    // Reloads and the deadline first, so a signal that comes at once finds them in place; the
    // reloader lives until this function returns.
    #[cfg(unix)]
    let _reloads = reloader.start(reload_requests);
    #[cfg(unix)]
    let runtime = {
        let timer = Arc::new(signals::DeadlineTimer::default());
        deadline.arm(&timer);
        if let Err(err) = signals::install(routes, timer) {
            tracing::error!(%err, "cannot install signal handling");
            return Exit::OsError;
        }
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_stack_size(worker_stack)
            .enable_all()
            .build()
    };
    // No threads: one current-thread runtime carries the reloader and the deadline as tasks.
    #[cfg(target_os = "wasi")]
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().inspect(|runtime| {
        runtime.spawn(reloader.serve(reload_requests));
        runtime.spawn(deadline.watch());
    });
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(%err, "cannot start the async runtime");
            return Exit::OsError;
        }
    };
    if let Err(err) = metrics.start(runtime.handle()) {
        tracing::error!("{err}");
        return Exit::OsError;
    }
    // Bound before `init`, so a second instance is refused before it does anything; dropped
    // (the socket removed) when this function returns.
    #[cfg(unix)]
    let _control = match crate::control::server::open(&runtime, &live, &config_rx) {
        Ok(control) => control,
        Err(err) => {
            tracing::error!("{err}");
            return err.exit();
        }
    };
    // On WASI the control channel is the module's standard input and output (the stop path).
    #[cfg(target_os = "wasi")]
    crate::wasi::open_control(&runtime, &live, &config_rx);
    metrics.count_restart(options.name);
    let exit = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(lifecycle::<D, B, F>(ctx, build, trim))))
        .unwrap_or_else(|_| {
            tracing::error!("the daemon panicked");
            Exit::Software
        });
    metrics.finish(exit);
    runtime.shutdown_background();
    exit
}

/// The async runtime's worker threads and the stack of each.
#[cfg(unix)]
struct Threads {
    workers: usize,
    worker_stack: usize,
}

/// How many worker threads the async runtime gets (`resources.worker_threads`, else one per CPU)
/// and every thread's stack (`resources.thread_stack_bytes`, else tokio's 2 MiB for workers and
/// 512 KiB for duende's own). Under a finite lock limit every new thread stack is locked whole as
/// it is mapped, and tokio cannot recover from a worker it fails to spawn: the headroom is
/// checked before building (best-effort locking is undone when it is missing).
#[cfg(unix)]
fn threads<C>(
    lock: &Option<mlock::LockOutcome>,
    settings: &config::Settings<C>,
    required: bool,
) -> Result<Threads, Exit> {
    let resources = &settings.resources;
    let workers = match resources.worker_threads {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    let worker_stack = resources.thread_stack_bytes.unwrap_or(WORKER_STACK);
    let service_stack = resources.thread_stack_bytes.unwrap_or(signals::SERVICE_THREAD_STACK as u64);
    signals::set_service_stack(usize::try_from(service_stack).unwrap_or(usize::MAX));
    if let Some(mlock::LockOutcome { result: Ok(locked), .. }) = lock {
        let workers_need =
            u64::try_from(workers).unwrap_or(u64::MAX).saturating_mul(worker_stack + mlock::thread_overhead());
        let services = SERVICE_THREADS + u64::from(settings.metrics.enabled);
        let service_need = services * (service_stack + mlock::thread_overhead());
        let what = format!("the async runtime's {workers} worker threads and duende's {services} service threads");
        if let Err(err) = mlock::make_room(locked, workers_need + service_need, &what, required) {
            tracing::error!("{err}");
            return Err(Exit::OsError);
        }
    }
    Ok(Threads { workers, worker_stack: usize::try_from(worker_stack).unwrap_or(usize::MAX) })
}

/// How the parts of a running daemon are connected: the context it is handed, the live state
/// reported on it, where signals go, and the reloader. One construction, used by `run` and by
/// the test kit alike.
pub(crate) struct Wiring<D: Daemon> {
    pub(crate) live: Arc<Live>,
    #[cfg(unix)]
    pub(crate) routes: Routes,
    pub(crate) reloader: Reloader<D>,
    pub(crate) reload_requests: mpsc::Receiver<()>,
    pub(crate) config: watch::Receiver<Generation<D::Config>>,
    pub(crate) ctx: DaemonContext<D::Config>,
}

impl<D: Daemon> Wiring<D> {
    pub(crate) fn new(
        name: &str,
        settings: config::Settings<D::Config>,
        sources: Sources,
        link: Arc<Link>,
        metrics: DaemonMetrics,
        log: LogControl,
        args: Vec<String>,
    ) -> Wiring<D> {
        let (events_tx, events_rx) = mpsc::channel(64);
        // Capacity 1: a request while one is pending joins it.
        let (reload_tx, reload_requests) = mpsc::channel(1);
        let live = Live::new(name, &settings.version, Shutdown::new(), link, reload_tx, metrics);
        let (config_tx, config) = watch::channel(Generation { number: 1, settings: Arc::new(settings) });
        let pending = Arc::new(Pending::default());
        #[cfg(unix)]
        let routes = Routes { live: Arc::clone(&live), events: events_tx.clone(), pending: Arc::clone(&pending) };
        let reloader = Reloader::<D> { sources, config: config_tx, events: events_tx, live: Arc::clone(&live), log };
        let ctx = DaemonContext::new(config.clone(), Arc::clone(&live), events_rx, pending, args);
        Wiring {
            live,
            #[cfg(unix)]
            routes,
            reloader,
            reload_requests,
            config,
            ctx,
        }
    }
}

/// The daemon's phases; with `trim`, the startup pages are handed back once it is ready
/// (`crate::trim`).
pub(crate) async fn lifecycle<D, B, F>(mut ctx: DaemonContext<D::Config>, build: B, trim: bool) -> Exit
where
    D: Daemon,
    B: FnOnce() -> F,
    F: Future<Output = D>,
{
    let live = Arc::clone(ctx.live());
    let shutdown = live.shutdown().clone();
    let link = Arc::clone(live.link());
    let watchdog = watchdog(&link, live.health().clone());
    let phases = async {
        let mut daemon = build().await;
        tracing::debug!("initializing");
        if let Err(err) = daemon.init(&mut ctx).await {
            tracing::error!("init failed: {err:#}");
            link.status(&format!("init failed: {err:#}"));
            return Exit::Software;
        }
        // Checks run on the worker threads, beside `run`, until shutdown is requested.
        let checks =
            health::schedule(ctx.checks().clone(), live.health().clone(), Arc::clone(&link), ctx.config_receiver());
        let stop_checks = shutdown.wait();
        let checks = tokio::spawn(async move {
            tokio::select! {
                () = checks => {}
                () = stop_checks => {}
            }
        });
        let _checks = AbortOnDrop(checks);
        link.ready("running");
        let latency = live.mark_ready();
        tracing::info!(pid = crate::platform::env::process_id(), after = ?latency, "ready");
        // At READY, and a moment after, once the tail of starting up (the first round of `run`,
        // the tasks started at READY) is over too: one timer, once (see `trim::AFTER_READY`).
        // Not while memory is locked: locked pages cannot be handed back, and reading the maps
        // would only grow the heap.
        let _trim = (trim && !mlock::holds()).then(|| {
            AbortOnDrop(tokio::spawn(async {
                // A failure here is said once, by the second pass, which meets the same cause.
                if let Err(err) = crate::trim::trim_startup_pages() {
                    tracing::debug!("cannot hand back the startup pages at READY: {err}");
                }
                tokio::time::sleep(crate::trim::AFTER_READY).await;
                match crate::trim::trim_startup_pages() {
                    Ok(trimmed) => tracing::debug!(
                        "handed back {} of startup pages ({} mappings of the binary)",
                        crate::mlock::format_bytes(trimmed.bytes),
                        trimmed.mappings
                    ),
                    Err(err) => tracing::warn!("cannot hand back the startup pages: {err}"),
                }
            }))
        });
        let ran = if shutdown.is_triggered() {
            tracing::debug!("shutdown requested during init; run skipped");
            Ok(ExitReason::Graceful)
        } else {
            daemon.run(&mut ctx).await
        };
        // `run` returned by itself: the shutdown starts here, announced like any other.
        live.begin_shutdown(|| {});
        let stopped = daemon.shutdown(&mut ctx).await;
        live.mark_stopped();
        conclude(ran, stopped)
    };
    // The watchdog is fed from the daemon's own thread, beside its phases: a daemon that blocks
    // this thread stops feeding it, which is what the watchdog is for.
    tokio::select! {
        exit = phases => exit,
        never = watchdog => match never {},
    }
}

/// Aborts a task when dropped: a task of the daemon's ends with its lifecycle.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `WATCHDOG=1` at half of `WATCHDOG_USEC` while the daemon is not unhealthy. Without a
/// watchdog it waits forever without a timer, so an idle daemon does not wake.
#[cfg(unix)]
async fn watchdog(link: &Link, health: HealthState) -> std::convert::Infallible {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    let Some(interval) =
        notify::watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id()).filter(|_| link.is_listening())
    else {
        return std::future::pending().await;
    };
    tracing::debug!(interval = %humantime::format_duration(interval), "feeding the systemd watchdog");
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if health.get().feeds_watchdog() {
            link.watchdog();
        }
    }
}

/// No watchdog outside Unix: a WASI module's host sees it alive by its notices and replies.
#[cfg(not(unix))]
async fn watchdog(_link: &Link, _health: HealthState) -> std::convert::Infallible {
    std::future::pending().await
}

/// Bounds `run`'s return plus `shutdown` by `shutdown_timeout` from the moment shutdown is
/// requested. Not a timer of the async runtime: the bound must hold most of all when the daemon
/// has wedged the runtime. On Unix the kernel keeps the time and the signal thread acts on it
/// ([`signals::DeadlineTimer`]), so an idle daemon has no thread for it.
struct Deadline<C> {
    shutdown: Shutdown,
    config: watch::Receiver<Generation<C>>,
}

impl<C: Send + Sync + 'static> Deadline<C> {
    /// Has the first shutdown request start `timer` with the `shutdown_timeout` then in effect.
    #[cfg(unix)]
    fn arm(self, timer: &Arc<signals::DeadlineTimer>) {
        let (config, timer) = (self.config, Arc::clone(timer));
        self.shutdown.on_first_request(move || {
            let timeout = config.borrow().settings.shutdown_timeout;
            if let Err(err) = timer.start(timeout) {
                tracing::error!(%err, "cannot start the shutdown deadline: shutdown_timeout does not bound this shutdown");
            }
        });
    }

    /// The deadline as a task, where there are no threads (WASI). It holds while the daemon
    /// yields to the runtime; a module that wedges its one thread is for its host to stop (the
    /// startup log says so).
    #[cfg(target_os = "wasi")]
    async fn watch(self) {
        self.shutdown.wait().await;
        let timeout = self.config.borrow().settings.shutdown_timeout;
        tokio::time::sleep(timeout).await;
        tracing::error!(timeout = %humantime::format_duration(timeout), "shutdown did not finish within shutdown_timeout");
        std::process::exit(i32::from(Exit::ShutdownTimeout.code()));
    }
}

/// The reloader with its request queue, served by a thread that exists only while there are
/// requests.
#[cfg(unix)]
struct Reloads<D: Daemon> {
    reloader: Reloader<D>,
    requests: std::sync::Mutex<mpsc::Receiver<()>>,
    /// True while a reload thread runs (or is being started).
    running: std::sync::atomic::AtomicBool,
}

#[cfg(unix)]
impl<D: Daemon> Reloads<D> {
    /// Starts a reload thread unless one runs. One that cannot start leaves the request queued
    /// for the next kick (the next request, which joins it).
    fn kick(self: &Arc<Self>) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.running.swap(true, SeqCst) {
            return;
        }
        let reloads = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name("duende-reload".to_owned())
            .stack_size(signals::service_stack())
            .spawn(move || reloads.drain());
        if let Err(err) = started {
            self.running.store(false, SeqCst);
            tracing::error!(%err, "cannot start a reload thread; the reload is tried again on the next request");
        }
    }

    /// Reloads once per queued request until none is left. A request queued as this ends either
    /// sees `running` false and starts a thread, or is seen here and served.
    ///
    /// While memory is locked the thread stays for the next request instead (until the queue
    /// closes): a new thread would map and lock a new signal stack for each reload, for a moment
    /// above the `VmLck` an operator reads afterwards, so a limit set to that reading could fail
    /// the next reload. Kept, the most a reload needs stays in `VmLck` (see [`mlock`]).
    fn drain(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let requests = || self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            while requests().try_recv().is_ok() {
                self.reloader.reload();
            }
            if mlock::holds() {
                // Only this thread takes from the queue, so holding its lock while waiting is fine.
                while requests().blocking_recv().is_some() {
                    self.reloader.reload();
                }
                return;
            }
            self.running.store(false, SeqCst);
            if requests().is_empty() || self.running.swap(true, SeqCst) {
                return;
            }
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

/// Re-reads every configuration layer on request, on a thread of its own while there are requests
/// (none when idle): loading is blocking file I/O and the daemon's own validation, and neither a
/// slow file system nor a slow `validate` may delay signals or the daemon, nor wait for a worker
/// of the async runtime (a daemon that keeps them all busy still reloads).
pub(crate) struct Reloader<D: Daemon> {
    pub(crate) sources: Sources,
    pub(crate) config: watch::Sender<Generation<D::Config>>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) live: Arc<Live>,
    pub(crate) log: LogControl,
}

impl<D: Daemon> Reloader<D> {
    /// Has every queued request start a reload thread unless one runs. The thread takes requests
    /// until none is left, then ends. The reloader lives as long as the returned handle.
    #[cfg(unix)]
    fn start(self, requests: mpsc::Receiver<()>) -> Arc<Reloads<D>> {
        let reloads = Arc::new(Reloads {
            requests: std::sync::Mutex::new(requests),
            running: std::sync::atomic::AtomicBool::new(false),
            reloader: self,
        });
        // Weak: the live state keeps the kick, the reloader keeps the live state.
        let weak = Arc::downgrade(&reloads);
        reloads.reloader.live.on_reload_queued(move || {
            if let Some(reloads) = weak.upgrade() {
                reloads.kick();
            }
        });
        reloads
    }

    /// The reloader as a task, where there are no threads (WASI): a reload's file I/O then runs
    /// on the daemon's one thread, between its awaits.
    #[cfg(target_os = "wasi")]
    async fn serve(self, mut requests: mpsc::Receiver<()>) {
        while requests.recv().await.is_some() {
            self.reload();
        }
    }

    /// One reload: every layer re-read and validated, then swapped in or rejected.
    pub(crate) fn reload(&self) {
        let number = self.live.generation();
        let asker = self.live.reload_starting();
        let link = self.live.link();
        link.reloading();
        tracing::info!("reloading configuration, requested by {asker}");
        match config::load_settings::<D::Config>(&self.sources, D::validate) {
            Ok(settings) => {
                let number = number + 1;
                self.log.apply_config_level(&settings.log_level);
                self.config.send_replace(Generation { number, settings: Arc::new(settings) });
                link.reloaded(&format!("running (configuration generation {number})"), true);
                self.live.record_reload(number, None);
                tracing::info!(generation = number, "configuration reloaded");
                crate::context::deliver(&self.events, Event::Reloaded { generation: number });
            }
            Err(err) => {
                tracing::error!(generation = number, "reload rejected, the running configuration stays: {err}");
                link.reloaded(&format!("running (reload rejected; configuration generation {number} kept)"), false);
                self.live.record_reload(number, Some(err.to_string()));
                crate::context::deliver(&self.events, Event::ReloadRejected { reason: err.to_string() });
            }
        }
    }
}
