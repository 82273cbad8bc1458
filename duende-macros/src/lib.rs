//! The `#[duende::main]` attribute. Use it through the `duende` crate, which re-exports it as
//! `duende::main`; this crate's expansion names only `duende::__private`.
//!
//! The macro is thin: it checks the attribute and the function, then writes a `main` that is one
//! call into the runtime. Its entry reads as the three steps: `parse` the tokens, `validate` them
//! against the contract, `expand` the result (or, on any mistake, expand the `fallback`: every
//! error at once, on the tokens at fault, beside a stand-in that causes no further errors).

mod errors;
mod expand;
mod fallback;
mod name;
mod options;
mod parse;
mod suggest;
mod validate;

use proc_macro::TokenStream;

/// Turns `fn main` into a daemon's whole program.
///
/// The body of `main` builds the daemon value; the generated program parses the command line
/// (`run`, `install`, `status`, `config`, `check`, ...), loads the layered configuration, installs
/// signal handlers and drives the daemon through `init` → `run` → `shutdown`.
///
/// ```text
/// use duende::prelude::*;
///
/// #[derive(Default)]
/// struct Counter;
///
/// impl Daemon for Counter {
///     type Config = NoConfig;
///     async fn run(&mut self, ctx: &mut DaemonContext<NoConfig>) -> Result<ExitReason> {
///         ctx.shutdown_requested().await;
///         Ok(ExitReason::Graceful)
///     }
/// }
///
/// #[duende::main]
/// fn main() -> Counter {
///     Counter::default()
/// }
/// ```
///
/// The equivalent code without the macro (`duende::__private` is not public API; this only shows
/// how little the macro does):
///
/// ```text
/// fn __duende_main() -> Counter {
///     Counter::default()
/// }
///
/// fn main() -> std::process::ExitCode {
///     duende::__private::run_sync(
///         duende::__private::MainOptions {
///             name: env!("CARGO_BIN_NAME"),
///             version: env!("CARGO_PKG_VERSION"),
///             description: env!("CARGO_PKG_DESCRIPTION"),
///             mlock: duende::__private::MlockMode::Off,
///         },
///         __duende_main,
///     )
/// }
/// ```
///
/// `main` may be `async` when building the daemon awaits something; the runtime is started before
/// the body runs, and the expansion calls `run_async` instead of `run_sync`:
///
/// ```text
/// #[duende::main]
/// async fn main() -> Counter {
///     Counter::connect().await
/// }
/// ```
///
/// The function's attributes and doc comments are kept; a `#[cfg(...)]` on it applies to the
/// generated `main` as well.
///
/// # Options
///
/// All options are optional string literals, checked when the macro runs.
///
/// ## `name = "..."`
///
/// The service name: the systemd unit, launchd label, container name, the configuration file
/// (`/etc/NAME/NAME.toml`) and the environment prefix (`NAME_`). It must match
/// `^[a-z][a-z0-9_-]{0,63}$` and not end with `-` or `_`. Without it the service is named after
/// the Cargo binary, and that name is checked when the program starts.
///
/// ```text
/// #[duende::main(name = "counter")]
/// fn main() -> Counter {
///     Counter::default()
/// }
/// ```
///
/// Without the macro:
///
/// ```text
/// fn main() -> std::process::ExitCode {
///     duende::__private::run_sync(
///         duende::__private::MainOptions {
///             name: "counter",
///             version: env!("CARGO_PKG_VERSION"),
///             description: env!("CARGO_PKG_DESCRIPTION"),
///             mlock: duende::__private::MlockMode::Off,
///         },
///         __duende_main,
///     )
/// }
/// ```
///
/// ## `mlock = "off" | "best-effort" | "required"`
///
/// Locks the process's memory (`mlockall`) before anything else when the program runs the
/// daemon. `"off"` (the default) locks only when the configuration asks
/// (`resources.lock_memory`); `"best-effort"` logs a failure and goes on; `"required"` exits with
/// status 71 before `init` if locking fails.
///
/// ```text
/// #[duende::main(name = "vault", mlock = "required")]
/// fn main() -> Vault {
///     Vault::default()
/// }
/// ```
///
/// Without the macro:
///
/// ```text
/// fn main() -> std::process::ExitCode {
///     duende::__private::run_sync(
///         duende::__private::MainOptions {
///             name: "vault",
///             version: env!("CARGO_PKG_VERSION"),
///             description: env!("CARGO_PKG_DESCRIPTION"),
///             mlock: duende::__private::MlockMode::Required,
///         },
///         __duende_main,
///     )
/// }
/// ```
///
/// ## `crate = "path"`
///
/// The path of the `duende` crate, for a crate that re-exports it; the default is `::duende`.
///
/// ```text
/// // In a crate that depends on `my_platform`, which does `pub use duende;`.
/// #[my_platform::duende::main(crate = "my_platform::duende")]
/// fn main() -> Counter {
///     Counter::default()
/// }
/// ```
///
/// Without the macro:
///
/// ```text
/// fn main() -> std::process::ExitCode {
///     my_platform::duende::__private::run_sync(
///         my_platform::duende::__private::MainOptions {
///             name: env!("CARGO_BIN_NAME"),
///             version: env!("CARGO_PKG_VERSION"),
///             description: env!("CARGO_PKG_DESCRIPTION"),
///             mlock: my_platform::duende::__private::MlockMode::Off,
///         },
///         __duende_main,
///     )
/// }
/// ```
///
/// # Errors
///
/// Every misuse is a compile error on the tokens at fault, and all of them are reported in one
/// build: an unknown, repeated or valueless option; a value that is not a string literal; an
/// invalid `name`, `mlock` value or `crate` path; the attribute on anything but `fn main`; a
/// `main` that is `const`, `unsafe`, `extern`, generic, has a `where` clause or parameters, returns
/// nothing or `()`, or also carries `#[tokio::main]`. A return type that does not implement
/// `duende::Daemon` is reported by the type checker on that type.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = parse::parse(args.into(), item.into());
    match validate::validate(&input) {
        Ok(main) => expand::expand(&main),
        Err(errors) => fallback::expand(&input, errors),
    }
    .into()
}
