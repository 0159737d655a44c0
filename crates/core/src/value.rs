//! Field values of canonical records, normalisation helpers and the stable content hash.
//!
//! A canonical record is a map from field id to [`FieldValue`]. Absent and empty are the same
//! thing: normalisation drops empty values, so a record never carries `Text("")` or `List([])`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// One value of a canonical field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    /// A text value (already normalised when part of a record).
    Text(String),
    /// An ordered list of texts (order matters: the first email is the primary one).
    List(Vec<String>),
    /// A calendar date without time (for example a birthday).
    Date(NaiveDate),
    /// A boolean flag.
    Bool(bool),
}

impl FieldValue {
    /// What kind of value this is, as an error message says it ("a text", "a list"...).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "a text",
            Self::List(_) => "a list",
            Self::Date(_) => "a date",
            Self::Bool(_) => "a boolean",
        }
    }

    /// Short human-readable rendering, used by the dry-run preview.
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::List(items) => items.join(", "),
            Self::Date(d) => d.format("%Y-%m-%d").to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

/// The fields of a canonical record, keyed by field id, in a stable (sorted) order.
pub type FieldMap = BTreeMap<String, FieldValue>;

/// How a text field is normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextForm {
    /// One line: every run of whitespace (newlines included) becomes one space; trimmed.
    Line,
    /// Several lines: CRLF/CR become LF, spaces inside each line collapse, trailing spaces and
    /// leading/trailing blank lines are removed.
    Multiline,
    /// An email address: like [`TextForm::Line`], with no inner spaces, lower-cased.
    Email,
}

/// Normalises a text according to `form`; `None` when nothing but whitespace remains.
///
/// Text is put in Unicode NFC; zero-width spaces and byte-order marks are dropped. Control
/// characters (other than line breaks in multi-line text) are treated as whitespace, so
/// odd input never produces a different hash for the same visible text.
#[must_use]
pub fn normalize_text(raw: &str, form: TextForm) -> Option<String> {
    // One Unicode form (NFC), so a name typed decomposed on one side equals the composed one.
    let nfc: String = raw.nfc().collect();
    let raw = nfc.as_str();
    let out = match form {
        TextForm::Line => collapse_line(raw),
        TextForm::Email => collapse_line(raw)
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect(),
        TextForm::Multiline => {
            let unified = raw.replace("\r\n", "\n").replace('\r', "\n");
            let lines: Vec<String> = unified.split('\n').map(collapse_line).collect();
            let first = lines.iter().position(|l| !l.is_empty());
            let last = lines.iter().rposition(|l| !l.is_empty());
            match (first, last) {
                (Some(a), Some(b)) => lines[a..=b].join("\n"),
                _ => String::new(),
            }
        }
    };
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

fn collapse_line(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for c in raw.chars() {
        // Invisible zero-width characters carry no text: drop them.
        if matches!(c, '\u{200b}' | '\u{2060}' | '\u{feff}') {
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Normalises a list: each item with `form`, empty items dropped, duplicates (after
/// normalisation) dropped keeping the first occurrence. Order is otherwise kept.
#[must_use]
pub fn normalize_list<'a, I>(items: I, form: TextForm) -> Vec<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if let Some(n) = normalize_text(item, form) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// A SHA-256 content hash of a normalised canonical record.
///
/// Serialised as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash as lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses 64 hex digits.
    ///
    /// # Errors
    /// [`HashParseError`] when the text is not exactly 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(HashParseError(text.to_owned()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = hex_digit(pair[0]).ok_or_else(|| HashParseError(text.to_owned()))?;
            let lo = hex_digit(pair[1]).ok_or_else(|| HashParseError(text.to_owned()))?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A text that is not a valid [`ContentHash`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a content hash (64 hex digits expected): `{0}`")]
pub struct HashParseError(pub String);

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..12])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Hashes a field map with a hand-written, versioned, length-prefixed encoding, so the hash does
/// not depend on any serialisation library and never changes between releases by accident.
///
/// `domain` separates modules (a contact and a task with the same fields hash differently).
#[must_use]
pub fn hash_fields(domain: &str, fields: &FieldMap) -> ContentHash {
    fn put(h: &mut Sha256, bytes: &[u8]) {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let mut h = Sha256::new();
    put(&mut h, b"crmsync-canonical-v1");
    put(&mut h, domain.as_bytes());
    for (name, value) in fields {
        put(&mut h, name.as_bytes());
        match value {
            FieldValue::Text(s) => {
                h.update([1u8]);
                put(&mut h, s.as_bytes());
            }
            FieldValue::List(items) => {
                h.update([2u8]);
                h.update((items.len() as u64).to_le_bytes());
                for item in items {
                    put(&mut h, item.as_bytes());
                }
            }
            FieldValue::Date(d) => {
                h.update([3u8]);
                put(&mut h, d.format("%Y-%m-%d").to_string().as_bytes());
            }
            FieldValue::Bool(b) => {
                h.update([4u8, u8::from(*b)]);
            }
        }
    }
    ContentHash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_collapses_whitespace_and_controls() {
        assert_eq!(
            normalize_text("  Jane \t\n  Doe\u{0007} ", TextForm::Line).as_deref(),
            Some("Jane Doe")
        );
        assert_eq!(normalize_text(" \t\r\n ", TextForm::Line), None);
    }

    #[test]
    fn unicode_is_composed_and_invisible_characters_dropped() {
        // "が" decomposed (か + combining dakuten) equals the composed form.
        assert_eq!(
            normalize_text("\u{304b}\u{3099}", TextForm::Line),
            normalize_text("\u{304c}", TextForm::Line)
        );
        assert_eq!(
            normalize_text("\u{feff}Ja\u{200b}ne", TextForm::Line).as_deref(),
            Some("Jane")
        );
        assert_eq!(normalize_text("\u{200b}", TextForm::Line), None);
    }

    #[test]
    fn email_is_lowercased_without_spaces() {
        assert_eq!(
            normalize_text(" Jane.Doe @Example.COM ", TextForm::Email).as_deref(),
            Some("jane.doe@example.com")
        );
    }

    #[test]
    fn multiline_keeps_lines_but_trims_them() {
        assert_eq!(
            normalize_text("\r\n  first   line \r\nsecond\r\n\r\n", TextForm::Multiline).as_deref(),
            Some("first line\nsecond")
        );
    }

    #[test]
    fn list_drops_empties_and_duplicates() {
        assert_eq!(
            normalize_list(["A@x.com", " ", "a@X.com", "b@x.com"], TextForm::Email),
            vec!["a@x.com".to_owned(), "b@x.com".to_owned()]
        );
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let mut a = FieldMap::new();
        a.insert("givenName".into(), FieldValue::Text("Jane".into()));
        let mut b = a.clone();
        assert_eq!(hash_fields("contact", &a), hash_fields("contact", &b));
        assert_ne!(hash_fields("contact", &a), hash_fields("task", &a));
        b.insert("surname".into(), FieldValue::Text("Doe".into()));
        assert_ne!(hash_fields("contact", &a), hash_fields("contact", &b));
        // A list of two items differs from one item holding both texts.
        let mut l1 = FieldMap::new();
        l1.insert("x".into(), FieldValue::List(vec!["ab".into(), "c".into()]));
        let mut l2 = FieldMap::new();
        l2.insert("x".into(), FieldValue::List(vec!["a".into(), "bc".into()]));
        assert_ne!(hash_fields("d", &l1), hash_fields("d", &l2));
        // Pinned value: the encoding must never change silently (stored base hashes rely on it).
        assert_eq!(
            hash_fields("contact", &a).to_hex(),
            "492244396312af9c349dbea568472f062ce21c7ac366d9b6fac50da763ccf786"
        );
        let hex = hash_fields("contact", &a).to_hex();
        assert_eq!(
            ContentHash::from_hex(&hex).unwrap(),
            hash_fields("contact", &a)
        );
        assert!(ContentHash::from_hex("zz").is_err());
    }
}
