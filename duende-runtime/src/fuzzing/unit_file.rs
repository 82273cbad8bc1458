//! A unit-file reader of the harness's own, written from systemd.syntax(7) and systemd's
//! configuration parser, sharing nothing with the renderer: what systemd would take each setting
//! to be.
//!
//! - Lines end at `\n`, `\r` or NUL; a line ending in an unescaped backslash continues on the
//!   next (reported as an error here: duende never writes one).
//! - Blank lines and lines starting with `#` or `;` (after white space) are comments.
//! - `[Section]` opens a section; `Key=value` sets a key, both stripped of white space
//!   (space, tab, newline, carriage return).
//! - [`words`]: a command line or list split as systemd's `extract_first_word` does: quotes,
//!   backslash escapes (C escapes where systemd applies them).
//! - [`specifiers`]: `%%` is `%`; any other `%` would expand.

/// systemd's `WHITESPACE`.
const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// One setting: its section, key and value (stripped, not yet unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Setting {
    pub(super) section: String,
    pub(super) key: String,
    pub(super) value: String,
}

/// Every setting of `text`, in order.
pub(super) fn parse(text: &str) -> Result<Vec<Setting>, String> {
    let mut settings = Vec::new();
    let mut section: Option<String> = None;
    for (number, raw) in text.split(['\n', '\r', '\0']).enumerate() {
        let mut escaped = false;
        for c in raw.chars() {
            escaped = !escaped && c == '\\';
        }
        if escaped {
            return Err(format!("line {}: continues on the next line: {raw:?}", number + 1));
        }
        let line = raw.trim_matches(WHITESPACE);
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[') {
            let name = inner.strip_suffix(']').ok_or_else(|| format!("line {}: a bad section: {raw:?}", number + 1))?;
            section = Some(name.to_owned());
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| format!("line {}: no `=`: {raw:?}", number + 1))?;
        let section = section.clone().ok_or_else(|| format!("line {}: outside any section", number + 1))?;
        let key = key.trim_matches(WHITESPACE).to_owned();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("line {}: not a key: {key:?}", number + 1));
        }
        settings.push(Setting { section, key, value: value.trim_matches(WHITESPACE).to_owned() });
    }
    Ok(settings)
}

/// `value` with its specifiers expanded: only `%%` may appear.
pub(super) fn specifiers(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            other => return Err(format!("the specifier %{other:?} would expand in {value:?}")),
        }
    }
    Ok(out)
}

/// `$$` as `$` in a command's argument; any other `$` would expand a variable.
pub(super) fn dollars(word: &str) -> Result<String, String> {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('$') => out.push('$'),
            other => return Err(format!("`${other:?}` would expand a variable in {word:?}")),
        }
    }
    Ok(out)
}

/// One word as `extract_first_word` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub(super) text: String,
    /// It began with a quote (so it is no `;` separator and no `-@:+!|` prefix was read).
    pub(super) quoted: bool,
}

/// The words of `value`: separated by white space, `"…"` and `'…'` quoting, a backslash taking the
/// next character as it is, or with `c_escapes` a C escape (`\n`, `\x41`, `\u00e9`, `\101`, …).
pub(super) fn words(value: &str, c_escapes: bool) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| WHITESPACE.contains(c)).is_some() {}
        let Some(&first) = chars.peek() else { return Ok(words) };
        let mut word = Word { text: String::new(), quoted: matches!(first, '"' | '\'') };
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(open), c) if c == open => quote = None,
                (None, '"' | '\'') => quote = Some(c),
                (None, c) if WHITESPACE.contains(&c) => break,
                (_, '\\') => {
                    let next = chars.next().ok_or_else(|| format!("a trailing backslash in {value:?}"))?;
                    if c_escapes {
                        word.text.push(c_escape(next, &mut chars, value)?);
                    } else {
                        word.text.push(next);
                    }
                }
                (_, c) => word.text.push(c),
            }
        }
        if quote.is_some() {
            return Err(format!("an unclosed quote in {value:?}"));
        }
        words.push(word);
    }
}

/// systemd's `cunescape_one`, for the character after a backslash.
fn c_escape(c: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>, value: &str) -> Result<char, String> {
    let mut hex = |digits: usize| -> Result<char, String> {
        let text: String = (0..digits).filter_map(|_| chars.next()).collect();
        let code = u32::from_str_radix(&text, 16).map_err(|_| format!("a bad escape \\{c}{text} in {value:?}"))?;
        match char::from_u32(code) {
            Some(decoded) if code != 0 && text.len() == digits => Ok(decoded),
            _ => Err(format!("a bad escape \\{c}{text} in {value:?}")),
        }
    };
    Ok(match c {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        's' => ' ',
        '\\' | '"' | '\'' => c,
        'x' => hex(2)?,
        'u' => hex(4)?,
        'U' => hex(8)?,
        '0'..='7' => {
            let text: String = std::iter::once(c).chain((0..2).filter_map(|_| chars.next())).collect();
            let code = u32::from_str_radix(&text, 8).map_err(|_| format!("a bad escape \\{text} in {value:?}"))?;
            match char::from_u32(code) {
                Some(decoded) if code != 0 && text.len() == 3 => decoded,
                _ => return Err(format!("a bad escape \\{text} in {value:?}")),
            }
        }
        other => return Err(format!("an unknown escape \\{other} in {value:?}")),
    })
}
