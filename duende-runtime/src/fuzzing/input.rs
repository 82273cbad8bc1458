//! Arbitrary bytes as fields: split at `0xFF` (never part of UTF-8), each decoded lossily.

/// The fields of one input, taken in order; a missing field is empty.
pub(super) struct Fields<'a> {
    parts: std::slice::Split<'a, u8, fn(&u8) -> bool>,
}

fn separator(byte: &u8) -> bool {
    *byte == 0xFF
}

impl<'a> Fields<'a> {
    pub(super) fn new(data: &'a [u8]) -> Fields<'a> {
        Fields { parts: data.split(separator as fn(&u8) -> bool) }
    }

    /// The next field as raw bytes.
    pub(super) fn bytes(&mut self) -> &'a [u8] {
        self.parts.next().unwrap_or_default()
    }

    /// The next field as text.
    pub(super) fn text(&mut self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    /// The next field as text, `None` when it is empty.
    #[cfg_attr(not(any(feature = "systemd", feature = "launchd", feature = "kubernetes")), allow(dead_code))]
    pub(super) fn optional(&mut self) -> Option<String> {
        Some(self.text()).filter(|text| !text.is_empty())
    }

    /// Every field left, as text.
    pub(super) fn rest(&mut self) -> Vec<String> {
        self.parts.by_ref().map(|part| String::from_utf8_lossy(part).into_owned()).collect()
    }
}

/// The bits of the first byte of `data`, and the rest.
pub(super) fn flags(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, data),
    }
}
