//! Typed `[app]` configuration that changes on SIGHUP. Every layer (file, environment, `--set`)
//! is re-read and validated; a valid result is swapped in atomically and the daemon is told, an
//! invalid one is refused with the reason logged and the old configuration stays.
//!
//! ```text
//! printf '[app]\ngreeting = "hello"\n' > /tmp/greeter.toml
//! cargo run --example 03_reload -- --config /tmp/greeter.toml &
//! printf '[app]\ngreeting = "bonjour"\n' > /tmp/greeter.toml; kill -HUP %1   # "greeting is now bonjour"
//! printf '[app]\ngreeting = ""\n' > /tmp/greeter.toml; kill -HUP %1          # refused, still bonjour
//! ```

use duende::prelude::*;
use serde::{Deserialize, Serialize};

/// The `[app]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GreeterConfig {
    /// What to greet with; must not be empty.
    pub greeting: String,
    /// How many times to repeat it per greeting, 1..=10.
    pub repeat: u32,
}

impl Default for GreeterConfig {
    fn default() -> Self {
        GreeterConfig { greeting: "hello".to_owned(), repeat: 1 }
    }
}

struct Greeter;

impl Daemon for Greeter {
    type Config = GreeterConfig;

    fn validate(config: &GreeterConfig) -> Result<(), Vec<Violation>> {
        let mut problems = Vec::new();
        if config.greeting.trim().is_empty() {
            problems.push(Violation::new("greeting", "must not be empty"));
        }
        if !(1..=10).contains(&config.repeat) {
            problems.push(Violation::new("repeat", "must be between 1 and 10"));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    async fn init(&mut self, ctx: &mut DaemonContext<GreeterConfig>) -> Result<()> {
        println!("greeting is {}", ctx.app().greeting);
        Ok(())
    }

    async fn run(&mut self, ctx: &mut DaemonContext<GreeterConfig>) -> Result<ExitReason> {
        loop {
            duende::tokio::select! {
                _ = ctx.shutdown_requested() => return Ok(ExitReason::Graceful),
                Some(event) = ctx.next_event() => match event {
                    Event::Reloaded { generation } => {
                        let app = ctx.app();
                        println!("generation {generation}: greeting is now {}", app.greeting.repeat(app.repeat as usize));
                    }
                    Event::ReloadRejected { reason } => {
                        let reason = reason.lines().map(str::trim).collect::<Vec<_>>().join(" ");
                        println!("reload refused, greeting stays {}: {reason}", ctx.app().greeting);
                    }
                    Event::User1 => println!("{}", ctx.app().greeting),
                    _ => {}
                },
            }
        }
    }
}

#[duende::main(name = "greeter")]
fn main() -> Greeter {
    Greeter
}
