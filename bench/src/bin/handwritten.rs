//! `01_counter`'s duties written by hand, the way a careful engineer would without duende: what
//! issue 14 compares duende with. Same crates and versions as the workspace (tokio, clap, figment,
//! tracing-subscriber, metrics-exporter-prometheus), and the same command line:
//! `handwritten --config FILE --set app.interval_ms=60000`.
//!
//! It parses its arguments, layers defaults < the TOML file < `COUNTER_*` environment variables
//! < `--set KEY=VALUE`, validates, sets up logging, installs a Prometheus recorder, handles
//! SIGTERM/SIGINT (graceful stop, exit 0) and SIGHUP (reload off the async runtime, the old
//! configuration kept when the new one is bad), says READY=1 and STOPPING=1 on `NOTIFY_SOCKET`
//! (by hand: no sd-notify crate is in the workspace), and counts once per interval.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(name = "counter", about = "Counts once per interval until told to stop")]
struct Args {
    /// A TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides one key, as `KEY=VALUE` (the value read as TOML, else as a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    log_level: String,
    app: App,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct App {
    interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { log_level: "info".to_owned(), app: App::default() }
    }
}

impl Default for App {
    fn default() -> Self {
        App { interval_ms: 1000 }
    }
}

fn load(args: &Args) -> Result<Config, String> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = &args.config {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(Env::prefixed("COUNTER_").split("__"));
    for set in &args.set {
        let (key, value) = set.split_once('=').ok_or_else(|| format!("--set {set}: expected KEY=VALUE"))?;
        let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut table| table.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_owned()));
        figment = figment.merge(Serialized::default(key, value));
    }
    let config: Config = figment.extract().map_err(|err| err.to_string())?;
    if !(10..=60_000).contains(&config.app.interval_ms) {
        return Err("app.interval_ms: must be between 10 and 60000".to_owned());
    }
    Ok(config)
}

fn notify(state: &str) {
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET").filter(|path| !path.is_empty()) {
        let sent = UnixDatagram::unbound().and_then(|socket| socket.send_to(state.as_bytes(), path));
        if let Err(err) = sent {
            tracing::warn!(%err, "cannot notify the service manager");
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match load(&args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("counter: {err}");
            return ExitCode::from(78);
        }
    };
    let level = config.log_level.parse().unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).init();
    if let Err(err) = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        tracing::error!(%err, "cannot install the metrics recorder");
        return ExitCode::from(71);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(%err, "cannot start the async runtime");
            return ExitCode::from(71);
        }
    };
    match runtime.block_on(run(args, config)) {
        Ok(n) => {
            println!("counted to {n}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(%err, "cannot handle signals");
            ExitCode::from(71)
        }
    }
}

async fn run(args: Args, mut config: Config) -> std::io::Result<u64> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let args = std::sync::Arc::new(args);
    let counted = metrics::counter!("counter_ticks_total");
    let mut tick = tokio::time::interval(Duration::from_millis(config.app.interval_ms));
    let mut n = 0u64;
    notify("READY=1");
    tracing::info!(pid = std::process::id(), "ready");
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                let args = std::sync::Arc::clone(&args);
                match tokio::task::spawn_blocking(move || load(&args)).await {
                    Ok(Ok(new)) => {
                        if new.app.interval_ms != config.app.interval_ms {
                            tick = tokio::time::interval(Duration::from_millis(new.app.interval_ms));
                        }
                        config = new;
                        tracing::info!("configuration reloaded");
                    }
                    Ok(Err(err)) => tracing::error!(%err, "reload rejected, the running configuration stays"),
                    Err(err) => tracing::error!(%err, "reload failed"),
                }
            }
            _ = tick.tick() => {
                n += 1;
                counted.increment(1);
            }
        }
    }
    tracing::info!("shutting down");
    notify("STOPPING=1");
    tracing::info!("stopped");
    Ok(n)
}
