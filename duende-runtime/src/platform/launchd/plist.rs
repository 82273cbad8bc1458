//! A property list, as the plain data a job is made of ([`Value`]), written as XML by [`write()`]
//! with an escaper of its own ([`escape`]). Pure.
//!
//! Escaping: every string, key included, goes through [`escape`]. `&`, `<` and `>` become
//! entity references (`>` too, so `]]>` cannot appear), and line breaks become character
//! references (`&#10;`, `&#13;`): an XML parser would otherwise turn a `\r` into `\n`, and a
//! value that keeps every line of the file starting with the writer's own indentation cannot
//! forge a line of the install manifest in the file's prologue. What XML 1.0 cannot carry at
//! all, even as a reference (control characters other than tab, `U+FFFE`, `U+FFFF`), is
//! refused with [`Unrepresentable`]. So a value is always one text node: it cannot close its
//! element, open a `<key>`, or change the structure in any other way.

use std::fmt::Write as _;

/// One value of a property list: only the kinds a launchd job uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `<string>`.
    String(String),
    /// `<integer>`.
    Integer(i64),
    /// `<true/>` or `<false/>`.
    Bool(bool),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<dict>`, in this order (a key appears once: callers build it from a map or fixed keys).
    Dict(Vec<(String, Value)>),
}

/// A character XML 1.0 cannot carry, even as a character reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("contains the character {character:?} (U+{:04X}), which an XML property list cannot carry", u32::from(*.character))]
pub struct Unrepresentable {
    /// The character.
    pub character: char,
}

/// `text` as the content of an XML element (see the module documentation).
pub fn escape(text: &str) -> Result<String, Unrepresentable> {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push('\t'),
            c if allowed(c) => out.push(c),
            c => return Err(Unrepresentable { character: c }),
        }
    }
    Ok(out)
}

/// XML 1.0's `Char` production, without the three whitespace controls handled above.
fn allowed(c: char) -> bool {
    matches!(u32::from(c), 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// The XML declaration and document type every property list starts with.
pub const HEADER: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
);

/// The document for `root`, after `prologue` (comments, each line complete); strings must be
/// representable (the caller escapes them first with [`escape`] to name the offending key, so an
/// error here cannot happen for a value built that way, but is still reported).
pub fn write(prologue: &str, root: &Value) -> Result<String, Unrepresentable> {
    let mut out = String::from(HEADER);
    out.push_str(prologue);
    out.push_str("<plist version=\"1.0\">\n");
    element(&mut out, root, 0)?;
    out.push_str("</plist>\n");
    Ok(out)
}

fn element(out: &mut String, value: &Value, depth: usize) -> Result<(), Unrepresentable> {
    let indent = "\t".repeat(depth);
    match value {
        Value::String(text) => {
            let _ = writeln!(out, "{indent}<string>{}</string>", escape(text)?);
        }
        Value::Integer(number) => {
            let _ = writeln!(out, "{indent}<integer>{number}</integer>");
        }
        Value::Bool(true) => {
            let _ = writeln!(out, "{indent}<true/>");
        }
        Value::Bool(false) => {
            let _ = writeln!(out, "{indent}<false/>");
        }
        Value::Array(items) => {
            let _ = writeln!(out, "{indent}<array>");
            for item in items {
                element(out, item, depth + 1)?;
            }
            let _ = writeln!(out, "{indent}</array>");
        }
        Value::Dict(entries) => {
            let _ = writeln!(out, "{indent}<dict>");
            for (key, item) in entries {
                let _ = writeln!(out, "{indent}\t<key>{}</key>", escape(key)?);
                element(out, item, depth + 1)?;
            }
            let _ = writeln!(out, "{indent}</dict>");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_line_breaks_become_references() {
        assert_eq!(escape("a<b>&c").as_deref(), Ok("a&lt;b&gt;&amp;c"));
        assert_eq!(escape("]]>").as_deref(), Ok("]]&gt;"));
        assert_eq!(escape("one\ntwo\r\nthree\tfour").as_deref(), Ok("one&#10;two&#13;&#10;three\tfour"));
        assert_eq!(escape("</string><key>X</key>").as_deref(), Ok("&lt;/string&gt;&lt;key&gt;X&lt;/key&gt;"));
        assert_eq!(escape("ünïcödé ✓ 𝄞 \"q\" 'a'").as_deref(), Ok("ünïcödé ✓ 𝄞 \"q\" 'a'"));
    }

    #[test]
    fn what_xml_cannot_carry_is_refused() {
        for bad in ["\u{1b}[0m", "nul\0", "\u{7}", "\u{fffe}", "\u{ffff}"] {
            let err = escape(bad).err();
            assert!(err.is_some(), "{bad:?}");
        }
        let err = escape("x\u{1b}").err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, "contains the character '\\u{1b}' (U+001B), which an XML property list cannot carry");
    }

    #[test]
    fn documents_nest_with_tabs() {
        let root = Value::Dict(vec![
            ("Label".into(), Value::String("a.b".into())),
            ("List".into(), Value::Array(vec![Value::Integer(-3), Value::Bool(true), Value::Bool(false)])),
        ]);
        let text = write("<!-- c -->\n", &root);
        assert_eq!(
            text.as_deref(),
            Ok(concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
                "<!-- c -->\n<plist version=\"1.0\">\n<dict>\n\t<key>Label</key>\n\t<string>a.b</string>\n",
                "\t<key>List</key>\n\t<array>\n\t\t<integer>-3</integer>\n\t\t<true/>\n\t\t<false/>\n\t</array>\n",
                "</dict>\n</plist>\n"
            ))
        );
    }
}
