//! The option parser: `#[duende::main(name = "...", mlock = "...", crate = "...")]` → [`Options`].
//!
//! Options are read when the macro runs, so every value is a string literal; each mistake is
//! reported on the key or the value that holds it, and parsing goes on to find the next one.

use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::{Expr, Lit, LitStr, Meta, Path};

use crate::errors::Errors;
use crate::{name, suggest};

#[cfg(test)]
mod tests;

/// Every option, in the order the documentation lists them.
pub(crate) const KEYS: [&str; 3] = ["name", "mlock", "crate"];

/// The options of one `#[duende::main(...)]`, each already checked.
#[derive(Default)]
pub(crate) struct Options {
    /// `name = "..."`: a valid service name; `None` means the binary's name, checked at startup.
    pub(crate) name: Option<LitStr>,
    /// `mlock = "..."`.
    pub(crate) mlock: Mlock,
    /// `crate = "..."`: the path of the `duende` facade; `None` means `::duende`.
    pub(crate) krate: Option<Path>,
}

/// `mlock = "off" | "best-effort" | "required"`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mlock {
    /// `"off"`: lock only when the configuration asks.
    #[default]
    Off,
    /// `"best-effort"`: lock first thing, carry on if it fails.
    BestEffort,
    /// `"required"`: lock first thing, exit if it fails.
    Required,
}

impl Mlock {
    /// Every value as written in the attribute.
    const VALUES: [(&'static str, Mlock); 3] =
        [("off", Mlock::Off), ("best-effort", Mlock::BestEffort), ("required", Mlock::Required)];

    /// The matching variant of `duende::__private::MlockMode`.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Mlock::Off => "Off",
            Mlock::BestEffort => "BestEffort",
            Mlock::Required => "Required",
        }
    }
}

/// Reads `metas` into [`Options`], recording every mistake in `errors`; a rejected option keeps
/// its default.
pub(crate) fn parse(metas: &[Meta], errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let key = key_of(meta.path());
        if !KEYS.contains(&key.as_str()) {
            errors.push(unknown_key(meta.path(), &key));
            continue;
        }
        if seen.contains(&key) {
            let message = format!("duplicate `duende::main` option `{key}`; give each option once");
            errors.push(syn::Error::new_spanned(meta.path(), message));
            continue;
        }
        seen.push(key.clone());
        let parsed = string_value(meta, &key).and_then(|lit| match key.as_str() {
            "name" => service_name(lit).map(|()| options.name = Some(lit.clone())),
            "mlock" => mlock(lit).map(|mode| options.mlock = mode),
            _ => crate_path(lit).map(|path| options.krate = Some(path)),
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    options
}

/// `name` for `name`, `foo::bar` for a path.
fn key_of(path: &Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|segment| segment.ident.unraw().to_string()).collect();
    let joined = segments.join("::");
    if path.leading_colon.is_some() { format!("::{joined}") } else { joined }
}

fn unknown_key(path: &Path, key: &str) -> syn::Error {
    let hint = match key {
        "version" => " (the version comes from `version` in Cargo.toml)".to_owned(),
        "description" => " (the description comes from `description` in Cargo.toml)".to_owned(),
        _ => suggest::closest(key, &KEYS).map(|meant| format!("; did you mean `{meant}`?")).unwrap_or_default(),
    };
    let sep = if hint.ends_with('?') { "" } else { ";" };
    syn::Error::new_spanned(
        path,
        format!("unknown `duende::main` option `{key}`{hint}{sep} expected one of `name`, `mlock`, `crate`"),
    )
}

/// A value written the way this key expects, for messages.
fn example(key: &str) -> &'static str {
    match key {
        "name" => "\"counter\"",
        "mlock" => "\"best-effort\"",
        _ => "\"my_reexport::duende\"",
    }
}

/// The string literal of `key = "..."`, or why there is none.
fn string_value<'m>(meta: &'m Meta, key: &str) -> syn::Result<&'m LitStr> {
    let value = match meta {
        Meta::NameValue(pair) => &pair.value,
        Meta::Path(path) => {
            let message = format!("`duende::main` option `{key}` needs a value; write `{key} = {}`", example(key));
            return Err(syn::Error::new_spanned(path, message));
        }
        Meta::List(list) => {
            let message =
                format!("`duende::main` option `{key}` is written `{key} = {}`, without parentheses", example(key));
            return Err(syn::Error::new_spanned(list, message));
        }
    };
    match ungroup(value) {
        Expr::Lit(expr) => match &expr.lit {
            Lit::Str(lit) => Ok(lit),
            other => {
                let fix = match (key, other) {
                    ("mlock", Lit::Bool(flag)) if flag.value => "\"required\"",
                    ("mlock", Lit::Bool(_)) => "\"off\"",
                    _ => example(key),
                };
                Err(needs_string(other, key, format!("not {}", literal_kind(other)), fix))
            }
        },
        Expr::Path(expr) if key == "mlock" && expr.path.get_ident().is_some() => {
            let written = key_of(&expr.path);
            let fix = match Mlock::VALUES.iter().find(|(value, _)| *value == written.replace('_', "-")) {
                Some((value, _)) => format!("\"{value}\""),
                None => example(key).to_owned(),
            };
            Err(needs_string(expr, key, "not an identifier".to_owned(), &fix))
        }
        other => Err(needs_string(
            other,
            key,
            "read when the macro runs, so constants and macros cannot stand in for it".to_owned(),
            example(key),
        )),
    }
}

fn needs_string(tokens: impl ToTokens, key: &str, why: String, fix: &str) -> syn::Error {
    let message = format!("`duende::main` option `{key}` takes a string literal, {why}; write `{key} = {fix}`");
    syn::Error::new_spanned(tokens, message)
}

/// Looks through the invisible groups that `macro_rules!` puts around its fragments.
fn ungroup(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

fn literal_kind(lit: &Lit) -> &'static str {
    match lit {
        Lit::Str(_) => "a string",
        Lit::ByteStr(_) => "a byte string",
        Lit::CStr(_) => "a C string",
        Lit::Byte(_) => "a byte",
        Lit::Char(_) => "a character",
        Lit::Int(_) => "an integer",
        Lit::Float(_) => "a float",
        Lit::Bool(_) => "a boolean",
        _ => "this literal",
    }
}

fn service_name(lit: &LitStr) -> syn::Result<()> {
    let value = lit.value();
    let Err(problem) = name::check(&value) else {
        return Ok(());
    };
    let written = format!("`name = {}`", lit.token());
    let what = match problem {
        name::Problem::Empty => "`name` is empty".to_owned(),
        name::Problem::TooLong(len) => format!("`name` is {len} characters long"),
        name::Problem::Char(c) => format!("{written} contains {}", describe(c)),
        name::Problem::Start(c) => format!("{written} starts with `{c}`"),
        name::Problem::End(c) => format!("{written} ends with `{c}`"),
    };
    let fix = match name::suggest(&value) {
        Some(better) => format!("; try `name = \"{better}\"`"),
        None => String::new(),
    };
    Err(syn::Error::new(
        lit.span(),
        format!(
            "{what}; a service name names the unit, label, container and environment prefix, so it uses only \
             `a-z`, `0-9`, `-` and `_`, starts with a letter, does not end with `-` or `_`, and is at most {} \
             characters long{fix}",
            name::MAX_LEN
        ),
    ))
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        c if c.is_ascii_uppercase() => format!("the uppercase letter `{c}`"),
        c if c.is_control() || c.is_whitespace() => format!("`{}`", c.escape_default()),
        c => format!("`{c}`"),
    }
}

fn mlock(lit: &LitStr) -> syn::Result<Mlock> {
    let value = lit.value();
    if let Some((_, mode)) = Mlock::VALUES.iter().find(|(written, _)| *written == value) {
        return Ok(*mode);
    }
    let words = Mlock::VALUES.map(|(written, _)| written);
    let hint = match suggest::closest(&value, &words) {
        Some(meant) => format!("; did you mean `\"{meant}\"`?"),
        None => ";".to_owned(),
    };
    Err(syn::Error::new(
        lit.span(),
        format!(
            "unknown `mlock` value `{}`{hint} expected one of `\"off\"`, `\"best-effort\"`, `\"required\"`",
            lit.token()
        ),
    ))
}

fn crate_path(lit: &LitStr) -> syn::Result<Path> {
    lit.parse_with(Path::parse_mod_style).map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "`crate = {}` is not a path; write the path of the `duende` crate or of its re-export, like \
                 `crate = \"my_reexport::duende\"`",
                lit.token()
            ),
        )
    })
}
