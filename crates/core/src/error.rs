//! Typed errors of the core.

use serde::{Deserialize, Serialize};

/// A problem with one record's data. It concerns that record only: callers report it in the
/// record's health and carry on with the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RecordError {
    /// The payload is not a JSON object.
    #[error("the record is not a JSON object")]
    NotAnObject,
    /// A field holds a value of the wrong type.
    #[error("field `{field}`: expected {expected}, found {found}")]
    TypeMismatch {
        /// Field name on the side that sent it.
        field: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A value is longer than the target field accepts. Nothing is truncated.
    #[error("field `{field}`: {len} characters exceed the limit of {max}")]
    TooLong {
        /// Target field name.
        field: String,
        /// Length of the value, in characters.
        len: usize,
        /// The field's limit.
        max: usize,
    },
    /// A date that cannot be parsed.
    #[error("field `{field}`: invalid date `{value}`")]
    InvalidDate {
        /// Field name.
        field: String,
        /// The offending text.
        value: String,
    },
    /// More list values than the target can hold (nothing is dropped silently).
    #[error("field `{field}`: {count} values, at most {max} fit")]
    TooManyValues {
        /// Target field.
        field: String,
        /// Values to write.
        count: usize,
        /// What fits.
        max: usize,
    },
    /// A field the CRM requires would be empty (for example a Microsoft contact with no last
    /// name, when `Last_Name` is mapped to `surname`).
    #[error("field `{field}` is required by the CRM but would be empty")]
    MissingMandatory {
        /// The CRM field.
        field: String,
    },
    /// A canonical field id the module does not know.
    #[error("unknown field `{0}`")]
    UnknownField(String),
}

/// An invalid field mapping, with every problem found (not just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("invalid field mapping: {}", .issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct MappingError {
    /// Every blocking problem (warnings are not included).
    pub issues: Vec<crate::contact::MappingIssue>,
}

impl RecordError {
    /// [`RecordError::TypeMismatch`]: `field` expected `expected` and holds `found` (a kind
    /// such as "a text", see [`crate::value::FieldValue::kind`] and [`json_kind`]).
    #[must_use]
    pub fn mismatch(field: &str, expected: &str, found: &str) -> Self {
        Self::TypeMismatch {
            field: field.to_owned(),
            expected: expected.to_owned(),
            found: found.to_owned(),
        }
    }
}

/// What kind of JSON value `v` is, as an error message says it ("a text", "null"...).
#[must_use]
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
