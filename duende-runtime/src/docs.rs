//! What the command line says about itself besides `--help`: the shell completion scripts
//! (`completions SHELL`, by clap_complete) and the man page (`man`, by clap_mangen), rendered from
//! the same clap tree as `--help` ([`cli::command`]), so they carry the daemon's name, version and
//! description. `install` places the bash, zsh and fish scripts and the man page on the host
//! platforms, where shells and `man` look for them ([`DocPlaces`](crate::platform::layout::DocPlaces)).
//!
//! All of it is the feature `completions` (on by default). Nothing here runs on the start path:
//! only these two subcommands and `install` render anything. A build without the feature
//! answers both subcommands with exit 69 naming the feature, and installs neither.

use std::io::Write;

#[cfg(feature = "completions")]
use crate::cli;
use crate::cli::Shell;
use crate::exit::Exit;
use crate::invocation::MainOptions;
#[cfg(unix)]
use crate::platform::backend::Docs;

/// The completion script of the daemon `options` describes, for `shell`.
#[cfg(feature = "completions")]
pub fn completion(options: &MainOptions, shell: Shell) -> String {
    let mut command = cli::public_command(options.name, options.version, options.description);
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Elvish => clap_complete::Shell::Elvish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut command, options.name, &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// The man page (section 1, roff) of the daemon `options` describes: one page, whose COMMANDS
/// section gives each subcommand's whole help (clap_mangen's own SUBCOMMANDS section would point
/// at a page per subcommand).
#[cfg(feature = "completions")]
pub fn man_page(options: &MainOptions) -> std::io::Result<String> {
    use clap_mangen::roff::{Roff, bold, roman};
    let command = cli::public_command(options.name, options.version, options.description);
    let mut commands = Roff::new();
    commands.control("SH", ["COMMANDS"]);
    for sub in command.get_subcommands() {
        commands.control("TP", []).text([bold(format!("{} {}", options.name, sub.get_name()))]);
        let long = sub.get_long_about().or(sub.get_about()).map(ToString::to_string).unwrap_or_default();
        for (i, paragraph) in long.split("\n\n").enumerate() {
            if i > 0 {
                commands.control("IP", []);
            }
            commands.text([roman(paragraph.replace('\n', " "))]);
        }
        for arg in sub.get_arguments().filter(|arg| !arg.is_global_set() && !arg.is_hide_set()) {
            let flag = match (arg.get_long(), arg.get_short()) {
                (Some(long), Some(short)) => format!("-{short}, --{long}"),
                (Some(long), None) => format!("--{long}"),
                _ => {
                    arg.get_value_names().and_then(|names| names.first()).map_or_else(String::new, |n| format!("<{n}>"))
                }
            };
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            commands.control("br", []).text([bold(flag), roman(format!(": {help}"))]);
        }
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    let page = String::from_utf8_lossy(&page).into_owned();
    // `to_roff` leaves out the preamble `render` wrote once; apostrophes as `render` writes them.
    let commands = commands.to_roff().replace('\'', "\\*(Aq");
    let Some(start) = page.find(".SH SUBCOMMANDS\n") else { return Ok(page + &commands) };
    let end = page[start..].find("\n.SH ").map_or(page.len(), |end| start + end + 1);
    Ok(format!("{}{commands}{}", &page[..start], &page[end..]))
}

/// What `install` places: the bash, zsh and fish scripts and the man page (`None` in a build
/// without the feature, or when the page cannot be rendered).
#[cfg(unix)]
pub fn for_install(options: &MainOptions) -> Option<Docs> {
    #[cfg(feature = "completions")]
    {
        Some(Docs {
            bash: completion(options, Shell::Bash),
            zsh: completion(options, Shell::Zsh),
            fish: completion(options, Shell::Fish),
            man: man_page(options).ok()?,
        })
    }
    #[cfg(not(feature = "completions"))]
    {
        let _ = options;
        None
    }
}

/// `completions SHELL` (`shell` set) or `man` (`None`): the text on `out`.
pub fn print(options: &MainOptions, shell: Option<Shell>, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let command = if shell.is_some() { "completions" } else { "man" };
    #[cfg(feature = "completions")]
    {
        let text = match shell {
            Some(shell) => Ok(completion(options, shell)),
            None => man_page(options),
        };
        match text.and_then(|text| out.write_all(text.as_bytes()).and_then(|()| out.flush())) {
            Ok(()) => Exit::Success,
            Err(error) => {
                let _ = writeln!(err, "{}: `{command}` could not write its output: {error}", options.name);
                Exit::OsError
            }
        }
    }
    #[cfg(not(feature = "completions"))]
    {
        let _ = (shell, out);
        let _ = writeln!(
            err,
            "{}: `{command}` needs duende's `completions` feature, and this binary was built without it; build it \
             with the feature (it is on by default)",
            options.name
        );
        Exit::Unavailable
    }
}

#[cfg(all(test, feature = "completions"))]
mod tests;
