use proc_macro2::TokenStream;
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::{Meta, Token};

use super::*;

/// Parses `args` as the inside of `#[duende::main(...)]`: the options, or every message.
fn options(args: &str) -> Result<Options, Vec<String>> {
    let tokens: TokenStream = args.parse().expect("test input is tokens");
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens).expect("test input is a meta list");
    let metas: Vec<Meta> = metas.into_iter().collect();
    let mut errors = Errors::default();
    let options = parse(&metas, &mut errors);
    errors.finish().map(|()| options).map_err(|all| all.into_iter().map(|error| error.to_string()).collect())
}

fn messages(args: &str) -> Vec<String> {
    match options(args) {
        Ok(_) => panic!("`{args}` should be refused"),
        Err(messages) => messages,
    }
}

fn message(args: &str) -> String {
    let all = messages(args);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap_or_default()
}

#[test]
fn no_options_means_defaults() {
    let options = options("").expect("accepted");
    assert!(options.name.is_none());
    assert_eq!(options.mlock, Mlock::Off);
    assert!(options.krate.is_none());
}

#[test]
fn reads_every_option() {
    let options = options(r#"name = "counter", mlock = "required", crate = "my_reexport::duende","#).expect("accepted");
    assert_eq!(options.name.map(|lit| lit.value()).as_deref(), Some("counter"));
    assert_eq!(options.mlock, Mlock::Required);
    let krate = options.krate.expect("crate path");
    let segments: Vec<String> = krate.segments.iter().map(|segment| segment.ident.to_string()).collect();
    assert_eq!(segments, ["my_reexport", "duende"]);
}

#[test]
fn reads_every_mlock_value() {
    for (written, mode, variant) in [
        ("off", Mlock::Off, "Off"),
        ("best-effort", Mlock::BestEffort, "BestEffort"),
        ("required", Mlock::Required, "Required"),
    ] {
        let options = options(&format!("mlock = {written:?}")).expect("accepted");
        assert_eq!(options.mlock, mode);
        assert_eq!(mode.variant(), variant);
    }
}

#[test]
fn accepts_an_absolute_crate_path() {
    let krate = options(r#"crate = "::duende""#).expect("accepted").krate.expect("crate path");
    assert!(krate.leading_colon.is_some());
}

#[test]
fn unknown_option_suggests_and_lists_the_valid_set() {
    assert_eq!(
        message(r#"nmae = "counter""#),
        "unknown `duende::main` option `nmae`; did you mean `name`? expected one of `name`, `mlock`, `crate`"
    );
    assert_eq!(
        message(r#"platform = "systemd""#),
        "unknown `duende::main` option `platform`; expected one of `name`, `mlock`, `crate`"
    );
    assert!(message(r#"version = "1.0""#).contains("comes from `version` in Cargo.toml"));
    assert!(message(r#"foo::bar = "x""#).contains("option `foo::bar`"));
}

#[test]
fn duplicate_option() {
    assert_eq!(message(r#"name = "a", name = "b""#), "duplicate `duende::main` option `name`; give each option once");
}

#[test]
fn bad_mlock_value_lists_the_valid_values() {
    assert_eq!(
        message(r#"mlock = "always""#),
        "unknown `mlock` value `\"always\"`; expected one of `\"off\"`, `\"best-effort\"`, `\"required\"`"
    );
    assert!(message(r#"mlock = "best_effort""#).contains("did you mean `\"best-effort\"`?"));
}

#[test]
fn invalid_names_say_what_is_wrong_and_how_to_fix_it() {
    let cases = [
        (r#""My Daemon""#, "contains the uppercase letter `M`", Some(r#"try `name = "my-daemon"`"#)),
        (r#""1st""#, "starts with `1`", None),
        (r#""a.b""#, "contains `.`", Some(r#"try `name = "a-b"`"#)),
        (r#""""#, "`name` is empty", None),
        (r#""x-""#, "ends with `-`", Some(r#"try `name = "x"`"#)),
    ];
    for (written, what, fix) in cases {
        let message = message(&format!("name = {written}"));
        assert!(message.contains(what), "{message}");
        assert!(message.contains("starts with a letter"), "{message}");
        assert_eq!(message.contains("try `name = "), fix.is_some(), "{message}");
        if let Some(fix) = fix {
            assert!(message.ends_with(fix), "{message}");
        }
    }
    let long = format!("name = \"{}\"", "a".repeat(65));
    assert!(message(&long).starts_with("`name` is 65 characters long"));
}

#[test]
fn values_must_be_string_literals() {
    assert_eq!(
        message("name = NAME"),
        "`duende::main` option `name` takes a string literal, read when the macro runs, so constants and macros \
         cannot stand in for it; write `name = \"counter\"`"
    );
    assert_eq!(
        message("mlock = off"),
        "`duende::main` option `mlock` takes a string literal, not an identifier; write `mlock = \"off\"`"
    );
    assert!(message("mlock = best_effort").ends_with("write `mlock = \"best-effort\"`"));
    assert_eq!(
        message("name = 5"),
        "`duende::main` option `name` takes a string literal, not an integer; write `name = \"counter\"`"
    );
    assert!(message("mlock = true").ends_with("not a boolean; write `mlock = \"required\"`"));
    assert!(message(r#"name = b"x""#).contains("not a byte string"));
    assert!(message(r#"name = concat!("a", "b")"#).contains("constants and macros"));
}

#[test]
fn options_need_a_value() {
    assert_eq!(message("name"), "`duende::main` option `name` needs a value; write `name = \"counter\"`");
    assert!(message(r#"mlock("off")"#).contains("is written `mlock = \"best-effort\"`, without parentheses"));
}

#[test]
fn crate_must_be_a_path() {
    assert!(message(r#"crate = "not a path!""#).starts_with("`crate = \"not a path!\"` is not a path"));
    assert!(message(r#"crate = """#).contains("is not a path"));
    assert!(message(r#"crate = "a::<T>""#).contains("is not a path"));
}

#[test]
fn reports_every_mistake_at_once() {
    let all = messages(r#"nmae = "x", mlock = "sometimes", name = NAME, crate = "1""#);
    assert_eq!(all.len(), 4, "{all:#?}");
}
