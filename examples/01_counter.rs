//! The README's quick start: a daemon that counts once per interval until it is told to stop.
//!
//! `cargo run --example 01_counter` runs it in the foreground; Ctrl+C stops it cleanly (exit 0),
//! a second Ctrl+C during shutdown forces exit 130. SIGUSR1 prints the count.
//! Try `--set app.interval_ms=100`, or `cargo run --example 01_counter -- config`.

use std::time::Duration;

use duende::prelude::*;
use serde::{Deserialize, Serialize};

/// The `[app]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CounterConfig {
    /// Milliseconds between counts.
    pub interval_ms: u64,
}

impl Default for CounterConfig {
    fn default() -> Self {
        CounterConfig { interval_ms: 1000 }
    }
}

#[derive(Default)]
struct Counter {
    n: u64,
}

impl Daemon for Counter {
    type Config = CounterConfig;

    fn validate(config: &CounterConfig) -> Result<(), Vec<Violation>> {
        if !(10..=60_000).contains(&config.interval_ms) {
            return Err(vec![Violation::new("interval_ms", "must be between 10 and 60000")]);
        }
        Ok(())
    }

    async fn run(&mut self, ctx: &mut DaemonContext<CounterConfig>) -> Result<ExitReason> {
        let mut tick = duende::tokio::time::interval(Duration::from_millis(ctx.app().interval_ms));
        loop {
            duende::tokio::select! {
                _ = ctx.shutdown_requested() => return Ok(ExitReason::Graceful),
                _ = tick.tick() => {
                    self.n += 1;
                    ctx.metrics().record_request();
                }
                Some(event) = ctx.next_event() => {
                    if event == Event::User1 {
                        println!("count = {}", self.n);
                    }
                }
            }
        }
    }

    async fn shutdown(&mut self, _ctx: &mut DaemonContext<CounterConfig>) -> Result<()> {
        println!("counted to {}", self.n);
        Ok(())
    }
}

#[duende::main(name = "counter")]
fn main() -> Counter {
    Counter::default()
}
