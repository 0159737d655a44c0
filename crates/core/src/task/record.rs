//! The canonical task: values keyed by To Do field id.

use serde::{Deserialize, Serialize};

use super::mapping::{TodoImportance, TodoStatus};
use crate::error::RecordError;
use crate::record::{field_record, normalize_fields, CanonicalRecord};
use crate::value::{normalize_text, FieldMap, FieldValue, TextForm};

/// The canonical task fields (To Do ids): `title`, `dueDateTime` (a date), `status` and
/// `importance` (To Do values), `body` (the body's text).
pub const TASK_FIELDS: &[&str] = &["title", "dueDateTime", "status", "importance", "body"];

/// A task's canonical, normalised projection. Keys are [`TASK_FIELDS`]; `status` and
/// `importance` hold the To Do enum values (`notStarted`, `high`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FieldMap", into = "FieldMap")]
pub struct TaskRecord {
    fields: FieldMap,
}

field_record!(TaskRecord);

impl TaskRecord {
    /// The subject (`title`).
    #[must_use]
    pub fn title(&self) -> Option<&str> {
        self.text("title")
    }

    /// The due date.
    #[must_use]
    pub fn due(&self) -> Option<chrono::NaiveDate> {
        match self.fields.get("dueDateTime") {
            Some(FieldValue::Date(d)) => Some(*d),
            _ => None,
        }
    }

    /// The status class, when set.
    #[must_use]
    pub fn status(&self) -> Option<TodoStatus> {
        self.text("status").and_then(TodoStatus::from_todo)
    }

    /// The importance class, when set.
    #[must_use]
    pub fn importance(&self) -> Option<TodoImportance> {
        self.text("importance").and_then(TodoImportance::from_todo)
    }
}

fn mismatch(id: &str, expected: &str, v: &FieldValue) -> RecordError {
    RecordError::mismatch(id, expected, v.kind())
}

/// Normalises one value of the canonical field `id`; `Ok(None)` when it is empty.
fn normalize_value(id: &str, value: FieldValue) -> Result<Option<FieldValue>, RecordError> {
    match (id, value) {
        ("title", FieldValue::Text(s)) => {
            Ok(normalize_text(&s, TextForm::Line).map(FieldValue::Text))
        }
        ("body", FieldValue::Text(s)) => {
            Ok(normalize_text(&s, TextForm::Multiline).map(FieldValue::Text))
        }
        ("dueDateTime", FieldValue::Date(d)) => Ok(Some(FieldValue::Date(d))),
        ("status", FieldValue::Text(s)) => match normalize_text(&s, TextForm::Line) {
            None => Ok(None),
            Some(t) => TodoStatus::from_todo(&t)
                .map(|c| Some(FieldValue::Text(c.as_todo().to_owned())))
                .ok_or_else(|| RecordError::TypeMismatch {
                    field: id.to_owned(),
                    expected: TodoStatus::EXPECTED.to_owned(),
                    found: format!("`{t}`"),
                }),
        },
        ("importance", FieldValue::Text(s)) => match normalize_text(&s, TextForm::Line) {
            None => Ok(None),
            Some(t) => TodoImportance::from_todo(&t)
                .map(|c| Some(FieldValue::Text(c.as_todo().to_owned())))
                .ok_or_else(|| RecordError::TypeMismatch {
                    field: id.to_owned(),
                    expected: TodoImportance::EXPECTED.to_owned(),
                    found: format!("`{t}`"),
                }),
        },
        ("dueDateTime", other) => Err(mismatch(id, "a date", &other)),
        ("title" | "body" | "status" | "importance", other) => Err(mismatch(id, "a text", &other)),
        (unknown, _) => Err(RecordError::UnknownField(unknown.to_owned())),
    }
}

impl CanonicalRecord for TaskRecord {
    const DOMAIN: &'static str = "task";

    fn fields(&self) -> &FieldMap {
        &self.fields
    }

    fn from_fields(fields: FieldMap) -> Result<Self, RecordError> {
        Ok(Self {
            fields: normalize_fields(fields, normalize_value)?,
        })
    }

    /// Tasks have no reliable natural key (two tasks may share subject and date).
    fn natural_key(&self) -> Option<String> {
        None
    }

    fn label(&self) -> String {
        self.title().unwrap_or("(no subject)").to_owned()
    }
}
