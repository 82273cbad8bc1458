//! Escaping values into systemd unit-file syntax (systemd.syntax(7), systemd.service(5)), so that
//! no configuration value can add a directive, split an argument, expand a specifier or a
//! variable, or be read back as anything but itself.
//!
//! Each kind of value has its own function, because systemd parses each kind differently:
//!
//! | function | for | systemd applies |
//! |---|---|---|
//! | [`exec_path`] | the program of `ExecStart=` | specifiers, quotes, C escapes |
//! | [`exec_word`] | one argument of `ExecStart=` | specifiers, quotes, C escapes, `$VAR` expansion |
//! | [`env_assignment`] | one `NAME=value` of `Environment=` | specifiers, quotes, C escapes |
//! | [`path_word`] | one path of `ReadWritePaths=` | specifiers, quotes |
//! | [`literal`] | `WorkingDirectory=`, `User=`, `Group=` | specifiers only |
//! | [`text`] | `Description=` | specifiers only |
//!
//! Every result is one line: a newline in a value either becomes the escape `\n` inside quotes
//! or is refused, so a value can never start a line of its own.

use std::fmt::Write as _;

/// Why a value cannot be written into a unit file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    /// A NUL character: no systemd value can hold one.
    #[error("contains a NUL character, which no systemd value can hold")]
    Nul,
    /// A control character where systemd takes the text literally (no escapes there).
    #[error("contains the control character {0:?}, which this systemd setting cannot hold")]
    Control(char),
    /// Leading or trailing white space, which systemd strips from a literal value.
    #[error("starts or ends with white space, which systemd strips from this setting")]
    Whitespace,
    /// A trailing backslash, which systemd reads as a line continuation in a literal value.
    #[error("ends with a backslash, which systemd reads as a line continuation")]
    TrailingBackslash,
    /// A `$` in a program path: systemd keeps `$$` in the path it runs but expands `$` in the
    /// `argv[0]` it passes, so no spelling gives both right.
    #[error("contains `$`, which systemd cannot keep in a program path (it would expand it in `argv[0]`)")]
    Dollar,
    /// A quote, backslash or control character in a program path, which systemd refuses there
    /// ("Executable name contains special characters").
    #[error("contains {0:?}, which systemd refuses in a program path")]
    ProgramPath(char),
    /// An empty value where systemd needs one.
    #[error("is empty")]
    Empty,
    /// Not a name systemd accepts for an environment variable.
    #[error(
        "`{0}` is not a valid environment variable name for systemd: use ASCII letters, digits and `_`, not \
         starting with a digit"
    )]
    EnvName(String),
}

/// What systemd strips around a value (its `WHITESPACE`): space, tab, newline, carriage return.
pub const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// One word of a command line (`ExecStart=`, `ExecReload=`), always double-quoted.
///
/// Inside the quotes `\` and `"` are backslash-escaped, newline, tab and carriage return become
/// `\n`, `\t`, `\r`, other control characters `\xHH` or `\uHHHH`; `%` is doubled so no specifier
/// is expanded and `$` is doubled so no environment variable is. Being quoted, a word is never a
/// command separator (`;`), never empty and never split; as the first word it can carry no
/// `-@:+!` prefix, because systemd looks for those before the opening quote.
pub fn exec_word(word: &str) -> Result<String, EscapeError> {
    quoted(word, true)
}

/// The program of a command line (its first word), quoted, `%` doubled. systemd refuses quotes,
/// backslashes and control characters in a program path, so they are refused here too; and it
/// does not expand variables in the path it executes (only in the `argv[0]` it passes), so a `$`
/// is refused instead of doubled.
pub fn exec_path(path: &str) -> Result<String, EscapeError> {
    if path.contains('\0') {
        return Err(EscapeError::Nul);
    }
    if let Some(c) = path.chars().find(|c| matches!(c, '"' | '\'' | '\\') || c.is_control()) {
        return Err(EscapeError::ProgramPath(c));
    }
    if path.contains('$') {
        return Err(EscapeError::Dollar);
    }
    quoted(path, false)
}

/// One `Environment=` assignment, `"NAME=value"`, quoted and escaped like [`exec_word`] except
/// that `$` stays as it is (systemd does not expand variables in `Environment=`).
pub fn env_assignment(name: &str, value: &str) -> Result<String, EscapeError> {
    if !env_name_is_valid(name) {
        return Err(EscapeError::EnvName(name.to_owned()));
    }
    quoted(&format!("{name}={value}"), false)
}

/// Whether systemd accepts `name` as an environment variable name: ASCII letters, digits and
/// `_`, not starting with a digit.
pub fn env_name_is_valid(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One path of a path list (`ReadWritePaths=`): double-quoted, `\` and `"` backslash-escaped,
/// `%` doubled. systemd unquotes these lists without C escapes, so control characters are
/// refused rather than escaped.
pub fn path_word(path: &str) -> Result<String, EscapeError> {
    if path.is_empty() {
        return Err(EscapeError::Empty);
    }
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for c in path.chars() {
        match c {
            '\0' => return Err(EscapeError::Nul),
            c if c.is_control() => return Err(EscapeError::Control(c)),
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A value systemd takes literally after expanding specifiers (`WorkingDirectory=`, `User=`,
/// `Group=`): `%` is doubled; what systemd would strip or misread (control characters, leading or
/// trailing white space, a trailing backslash) is refused.
pub fn literal(value: &str) -> Result<String, EscapeError> {
    if value.is_empty() {
        return Err(EscapeError::Empty);
    }
    if value.trim() != value {
        return Err(EscapeError::Whitespace);
    }
    if value.ends_with('\\') {
        return Err(EscapeError::TrailingBackslash);
    }
    specifiers_only(value)
}

/// Free text (`Description=`): `%` is doubled; control characters other than tab are refused
/// (a newline would end the setting and start a new one). systemd strips surrounding white space
/// (space, tab, newline, carriage return: [`WHITESPACE`]), so that is trimmed here, and nothing
/// else: other white space (a vertical tab, a no-break space) is kept or refused as inside the
/// text, never dropped. A trailing backslash is followed by one space, which keeps systemd from
/// reading it as a line continuation and which systemd then strips, leaving the backslash.
pub fn text(value: &str) -> Result<String, EscapeError> {
    let trimmed = value.trim_matches(WHITESPACE);
    if trimmed.is_empty() {
        return Err(EscapeError::Empty);
    }
    let mut out = specifiers_only(trimmed)?;
    if out.ends_with('\\') {
        out.push(' ');
    }
    Ok(out)
}

fn specifiers_only(value: &str) -> Result<String, EscapeError> {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\0' => return Err(EscapeError::Nul),
            '\t' => out.push(c),
            c if c.is_control() => return Err(EscapeError::Control(c)),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn quoted(value: &str, expands_variables: bool) -> Result<String, EscapeError> {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\0' => return Err(EscapeError::Nul),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '%' => out.push_str("%%"),
            '$' if expands_variables => out.push_str("$$"),
            // Writing to a String cannot fail.
            c if c.is_control() && c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of a unit file a value could reach: none may start a directive.
    fn single_line(escaped: &str) {
        assert!(!escaped.contains(['\n', '\r']), "{escaped:?} spans lines");
    }

    #[test]
    fn exec_words_are_quoted_and_escaped() {
        let cases = [
            ("plain", r#""plain""#),
            ("two words", r#""two words""#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            ("it's", r#""it's""#),
            ("100%", r#""100%%""#),
            ("%h", r#""%%h""#),
            ("$HOME", r#""$$HOME""#),
            ("${HOME}", r#""$${HOME}""#),
            (r"C:\path\", r#""C:\\path\\""#),
            ("a\nb", r#""a\nb""#),
            ("a\tb", r#""a\tb""#),
            ("a\rb", r#""a\rb""#),
            ("\u{1}\u{7f}", r#""\x01\x7f""#),
            ("\u{85}", r#""\u0085""#),
            ("", r#""""#),
            ("héllo wörld ✓", r#""héllo wörld ✓""#),
            ("-x", r#""-x""#),
            ("@argv0", r#""@argv0""#),
            (":+!", r#"":+!""#),
            (";", r#"";""#),
            (r"\;", r#""\\;""#),
            ("'single'", r#""'single'""#),
        ];
        for (raw, expected) in cases {
            assert_eq!(exec_word(raw).as_deref(), Ok(expected), "{raw:?}");
            single_line(expected);
        }
        assert_eq!(exec_word("a\0b"), Err(EscapeError::Nul));
    }

    #[test]
    fn program_paths_are_quoted_and_refuse_dollars() {
        assert_eq!(exec_path("/usr/bin/demo").as_deref(), Ok(r#""/usr/bin/demo""#));
        assert_eq!(exec_path("/opt/my app/%i/-x;").as_deref(), Ok(r#""/opt/my app/%%i/-x;""#));
        assert_eq!(exec_path("/opt/ü ✓").as_deref(), Ok(r#""/opt/ü ✓""#));
        for (bad, c) in
            [("/opt/\"q\"", '"'), ("/opt/'q'", '\''), ("/opt/a\\b", '\\'), ("/opt/a\nb", '\n'), ("/a\u{7f}", '\u{7f}')]
        {
            assert_eq!(exec_path(bad), Err(EscapeError::ProgramPath(c)), "{bad:?}");
        }
        assert_eq!(exec_path("/opt/$x/demo"), Err(EscapeError::Dollar));
        assert_eq!(exec_path("/opt/\0"), Err(EscapeError::Nul));
    }

    #[test]
    fn an_injected_directive_stays_inside_its_word() {
        let attack = "x\nExecStartPre=/bin/rm -rf /";
        let word = exec_word(attack).unwrap();
        assert_eq!(word, r#""x\nExecStartPre=/bin/rm -rf /""#);
        single_line(&word);
        let env = env_assignment("X", attack).unwrap();
        assert_eq!(env, r#""X=x\nExecStartPre=/bin/rm -rf /""#);
        single_line(&env);
        // Closing the quote early does not work either: the quote is escaped.
        assert_eq!(exec_word("a\" \"b").unwrap(), r#""a\" \"b""#);
        // Where there are no escapes, a newline is refused outright.
        assert_eq!(text(attack), Err(EscapeError::Control('\n')));
        assert_eq!(literal(attack), Err(EscapeError::Control('\n')));
        assert_eq!(path_word(attack), Err(EscapeError::Control('\n')));
    }

    #[test]
    fn environment_assignments_keep_dollars_and_quote_everything_else() {
        let cases = [
            ("A", "plain", r#""A=plain""#),
            ("A", "", r#""A=""#),
            ("A", "two words", r#""A=two words""#),
            ("A", r#"both "double" and 'single'"#, r#""A=both \"double\" and 'single'""#),
            ("A", "50% of $HOME", r#""A=50%% of $HOME""#),
            ("A", r"back\slash\", r#""A=back\\slash\\""#),
            ("A", "line\nbreak\ttab", r#""A=line\nbreak\ttab""#),
            ("A", "\u{1b}[0m", r#""A=\x1b[0m""#),
            ("A", "ünïcode", r#""A=ünïcode""#),
            ("A", "-x", r#""A=-x""#),
            ("A", ";", r#""A=;""#),
            ("A", "x=y", r#""A=x=y""#),
            ("_lower_1", "v", r#""_lower_1=v""#),
        ];
        for (name, value, expected) in cases {
            assert_eq!(env_assignment(name, value).as_deref(), Ok(expected), "{name}={value:?}");
        }
        for bad in ["", "1X", "A-B", "A B", "A=B", "É", "A\nB"] {
            assert_eq!(env_assignment(bad, "v"), Err(EscapeError::EnvName(bad.to_owned())), "{bad:?}");
        }
        assert_eq!(env_assignment("A", "\0"), Err(EscapeError::Nul));
    }

    #[test]
    fn text_doubles_percent_and_refuses_line_breaks() {
        assert_eq!(text("Counts things").as_deref(), Ok("Counts things"));
        assert_eq!(text("100% of $HOME; \"quoted\" 'too'").as_deref(), Ok("100%% of $HOME; \"quoted\" 'too'"));
        assert_eq!(text("  padded\t").as_deref(), Ok("padded"));
        assert_eq!(text("tab\tinside").as_deref(), Ok("tab\tinside"));
        assert_eq!(text("ends with \\").as_deref(), Ok("ends with \\ "));
        assert_eq!(text("ends with \\\\").as_deref(), Ok("ends with \\\\ "));
        assert_eq!(text("-leading dash").as_deref(), Ok("-leading dash"));
        assert_eq!(text("ünïcode ✓").as_deref(), Ok("ünïcode ✓"));
        assert_eq!(text("two\nlines"), Err(EscapeError::Control('\n')));
        assert_eq!(text("c\rr"), Err(EscapeError::Control('\r')));
        assert_eq!(text("nul\0"), Err(EscapeError::Nul));
        assert_eq!(text(" \t "), Err(EscapeError::Empty));
        // Found by fuzzing (fuzz/artifacts/render_systemd): only what systemd strips is trimmed;
        // other white space is the text's own, kept or refused, never silently dropped.
        assert_eq!(text("\u{b}1"), Err(EscapeError::Control('\u{b}')));
        assert_eq!(text("\u{a0}no-break\u{2003}").as_deref(), Ok("\u{a0}no-break\u{2003}"));
    }

    #[test]
    fn literals_double_percent_and_refuse_what_systemd_would_change() {
        assert_eq!(literal("/srv/my daemon/%i").as_deref(), Ok("/srv/my daemon/%%i"));
        assert_eq!(literal("/srv/$HOME/\"q\"/'s'").as_deref(), Ok("/srv/$HOME/\"q\"/'s'"));
        assert_eq!(literal("/srv/ünï").as_deref(), Ok("/srv/ünï"));
        assert_eq!(literal("/srv/a;b").as_deref(), Ok("/srv/a;b"));
        assert_eq!(literal("/srv/x\\"), Err(EscapeError::TrailingBackslash));
        assert_eq!(literal(" /srv"), Err(EscapeError::Whitespace));
        assert_eq!(literal("/srv\t"), Err(EscapeError::Whitespace));
        assert_eq!(literal(""), Err(EscapeError::Empty));
        assert_eq!(literal("/a\nb"), Err(EscapeError::Control('\n')));
        assert_eq!(literal("/a\0b"), Err(EscapeError::Nul));
    }

    #[test]
    fn path_words_are_quoted_without_c_escapes() {
        assert_eq!(path_word("/var/lib/demo").as_deref(), Ok(r#""/var/lib/demo""#));
        assert_eq!(path_word("/srv/with space/%h").as_deref(), Ok(r#""/srv/with space/%%h""#));
        assert_eq!(path_word(r#"/a"b\c"#).as_deref(), Ok(r#""/a\"b\\c""#));
        assert_eq!(path_word("/srv/$x;'y'").as_deref(), Ok(r#""/srv/$x;'y'""#));
        assert_eq!(path_word("/ü").as_deref(), Ok(r#""/ü""#));
        assert_eq!(path_word("/a\tb"), Err(EscapeError::Control('\t')));
        assert_eq!(path_word(""), Err(EscapeError::Empty));
        assert_eq!(path_word("/\0"), Err(EscapeError::Nul));
    }
}
