//! Log output through `tracing`: `<N>`-prefixed, timestamp-free lines when stderr goes to the
//! journal, colours and timestamps on a terminal, plain timestamped lines elsewhere.

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry, reload};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// stderr is connected to journald: `<6>message`, no timestamps (journald adds them).
    Journald,
    /// An interactive terminal: colours and timestamps.
    Terminal,
    /// A pipe or file: timestamps, no colours.
    Plain,
}

impl Style {
    /// Picks the style from `JOURNAL_STREAM` (set by systemd when stderr is the journal) and
    /// whether stderr is a terminal.
    pub fn detect(journal_stream: Option<&str>, stderr_is_terminal: bool) -> Style {
        if journal_stream.is_some_and(|v| !v.is_empty()) {
            Style::Journald
        } else if stderr_is_terminal {
            Style::Terminal
        } else {
            Style::Plain
        }
    }
}

/// Changes the log level of a running daemon (on reload).
#[derive(Debug, Clone)]
pub struct LogControl {
    handle: Option<reload::Handle<Targets, Registry>>,
    from_env: bool,
}

impl LogControl {
    /// A control that changes nothing (the process's logging is not the daemon's to set).
    #[cfg(all(feature = "testing", unix))]
    pub(crate) fn inert() -> LogControl {
        LogControl { handle: None, from_env: true }
    }

    /// Applies a configuration's `log_level`, unless `RUST_LOG` decides the level.
    pub fn apply_config_level(&self, directives: &str) {
        if self.from_env {
            return;
        }
        let Some(handle) = &self.handle else { return };
        match parse_directives(directives) {
            Ok(targets) => {
                if let Err(err) = handle.reload(targets) {
                    tracing::warn!(%err, "could not change the log level");
                }
            }
            Err(err) => tracing::warn!(%err, directives, "log level not changed"),
        }
    }
}

/// Checks a `log_level` value: a level or comma-separated `target=level` directives.
///
/// Stricter than `tracing`'s own syntax on purpose: a bare word must be a level, so a typo such as
/// `inf` is refused instead of silently enabling a target named `inf`.
pub fn parse_directives(directives: &str) -> Result<Targets, String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |word: &str| LEVELS.contains(&word.trim().to_ascii_lowercase().as_str());
    for directive in directives.split(',') {
        let level = directive.rsplit_once('=').map_or(directive, |(_, level)| level);
        if !is_level(level) {
            return Err(format!(
                "`{}` is not a level; write one of trace, debug, info, warn, error, off, or target=level",
                directive.trim()
            ));
        }
    }
    Targets::from_str(directives).map_err(|err| err.to_string())
}

/// Installs the global subscriber. `RUST_LOG` wins over `config_level`.
pub fn init(config_level: &str) -> LogControl {
    let rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let (directives, from_env) = match &rust_log {
        Some(v) => (v.as_str(), true),
        None => (config_level, false),
    };
    let (targets, bad) = match parse_directives(directives) {
        Ok(t) => (t, None),
        Err(err) => (Targets::new().with_default(Level::INFO), Some(err)),
    };
    let (filter, handle) = reload::Layer::new(targets);
    let style = Style::detect(std::env::var("JOURNAL_STREAM").ok().as_deref(), std::io::stderr().is_terminal());
    let base = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    let format = match style {
        Style::Journald => base.with_ansi(false).event_format(JournaldFormat).boxed(),
        Style::Terminal => base.with_ansi(true).boxed(),
        Style::Plain => base.with_ansi(false).boxed(),
    };
    let subscriber = Registry::default().with(filter).with(format);
    let installed = tracing::subscriber::set_global_default(subscriber).is_ok();
    if let Some(err) = bad {
        tracing::warn!(directives, %err, "invalid log level; using `info`");
    }
    LogControl { handle: installed.then_some(handle), from_env }
}

/// `<N>message fields`: the priority prefix journald's stream reader understands (sd-daemon(3)).
#[derive(Debug, Clone, Copy)]
pub struct JournaldFormat;

/// The syslog priority journald records for a `tracing` level.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

impl<S, N> FormatEvent<S, N> for JournaldFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_follows_the_environment() {
        assert_eq!(Style::detect(Some("8:1234"), true), Style::Journald);
        assert_eq!(Style::detect(Some(""), true), Style::Terminal);
        assert_eq!(Style::detect(None, false), Style::Plain);
    }

    #[test]
    fn priorities_are_syslog_numbers() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
        assert_eq!(priority(Level::TRACE), 7);
    }

    #[test]
    fn journald_lines_have_a_prefix_and_no_timestamp() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = Registry::default().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .event_format(JournaldFormat),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(key = 7, "disk nearly full");
            tracing::info!("ready");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out, "<4>disk nearly full key=7\n<6>ready\n");
    }

    #[test]
    fn directives_are_checked() {
        assert!(parse_directives("info").is_ok());
        assert!(parse_directives("warn,my_crate=debug").is_ok());
        assert!(parse_directives("loud").unwrap_err().contains("`loud` is not a level"));
        assert!(parse_directives("info,x=lots").is_err());
    }
}
