//! The fixed task mapping CRM ⇄ To Do: status and priority classes, and the projections of both
//! sides' raw JSON onto the canonical task (and back). See the module docs for the rules.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::record::TaskRecord;
use crate::error::{json_kind, RecordError};
use crate::record::CanonicalRecord;
use crate::value::{FieldMap, FieldValue};

/// The lower-case letters and digits of a value, for lenient matching of picklist values
/// ("Waiting for Input", "waiting_for_input" and "WaitingForInput" are the same key).
fn key(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A To Do task status (`todoTask.status`), which is also the canonical status class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TodoStatus {
    /// `notStarted` ⇄ CRM "Not Started".
    NotStarted,
    /// `inProgress` ⇄ CRM "In Progress".
    InProgress,
    /// `completed` ⇄ CRM "Completed".
    Completed,
    /// `waitingOnOthers` ⇄ CRM "Waiting for input".
    WaitingOnOthers,
    /// `deferred` ⇄ CRM "Deferred".
    Deferred,
}

impl TodoStatus {
    /// Every status, in the CRM's default picklist order.
    pub const ALL: [TodoStatus; 5] = [
        Self::NotStarted,
        Self::Deferred,
        Self::InProgress,
        Self::Completed,
        Self::WaitingOnOthers,
    ];

    /// What a status field may hold (for error messages).
    pub const EXPECTED: &'static str =
        "one of notStarted, inProgress, completed, waitingOnOthers, deferred";

    /// The To Do value.
    #[must_use]
    pub fn as_todo(self) -> &'static str {
        match self {
            Self::NotStarted => "notStarted",
            Self::InProgress => "inProgress",
            Self::Completed => "completed",
            Self::WaitingOnOthers => "waitingOnOthers",
            Self::Deferred => "deferred",
        }
    }

    /// Parses a To Do value (case-insensitive).
    #[must_use]
    pub fn from_todo(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_todo().eq_ignore_ascii_case(s.trim()))
    }

    /// The CRM's default picklist value for this status.
    #[must_use]
    pub fn crm_default(self) -> &'static str {
        match self {
            Self::NotStarted => "Not Started",
            Self::InProgress => "In Progress",
            Self::Completed => "Completed",
            Self::WaitingOnOthers => "Waiting for input",
            Self::Deferred => "Deferred",
        }
    }

    /// The To Do twin of a CRM status value, when it has one (default names, their case and
    /// spacing variants, and the To Do names themselves).
    #[must_use]
    pub fn twin_of_crm(value: &str) -> Option<Self> {
        let k = key(value);
        match k.as_str() {
            "notstarted" => Some(Self::NotStarted),
            "inprogress" => Some(Self::InProgress),
            "completed" => Some(Self::Completed),
            "deferred" => Some(Self::Deferred),
            "waitingforinput" | "waitingonothers" | "waitingonsomeoneelse" => {
                Some(Self::WaitingOnOthers)
            }
            _ => None,
        }
    }

    /// The class of a CRM status value: its twin, else `notStarted` (an empty or custom value
    /// with no To Do twin). The CRM value itself is kept by the no-clobber rule.
    #[must_use]
    pub fn of_crm(value: Option<&str>) -> Self {
        value
            .and_then(Self::twin_of_crm)
            .unwrap_or(Self::NotStarted)
    }
}

/// A To Do task importance (`todoTask.importance`), which is also the canonical priority class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TodoImportance {
    /// `low` ⇐ CRM "Low", "Lowest".
    Low,
    /// `normal` ⇐ CRM "Normal" (and an empty or unknown priority).
    Normal,
    /// `high` ⇐ CRM "High", "Highest".
    High,
}

impl TodoImportance {
    /// Every importance.
    pub const ALL: [TodoImportance; 3] = [Self::Low, Self::Normal, Self::High];

    /// What an importance field may hold (for error messages).
    pub const EXPECTED: &'static str = "one of low, normal, high";

    /// The To Do value.
    #[must_use]
    pub fn as_todo(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }

    /// Parses a To Do value (case-insensitive).
    #[must_use]
    pub fn from_todo(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_todo().eq_ignore_ascii_case(s.trim()))
    }

    /// The CRM's default picklist value written for this class.
    #[must_use]
    pub fn crm_default(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Normal => "Normal",
            Self::High => "High",
        }
    }

    /// The class of a CRM priority value when it is a known one.
    #[must_use]
    pub fn twin_of_crm(value: &str) -> Option<Self> {
        match key(value).as_str() {
            "highest" | "high" => Some(Self::High),
            "normal" | "medium" => Some(Self::Normal),
            "low" | "lowest" => Some(Self::Low),
            _ => None,
        }
    }

    /// The class of a CRM priority value: High/Highest → high, Low/Lowest → low, anything else
    /// (Normal, empty, custom) → normal.
    #[must_use]
    pub fn of_crm(value: Option<&str>) -> Self {
        value.and_then(Self::twin_of_crm).unwrap_or(Self::Normal)
    }
}

/// The fixed task mapping, with the org's picklist values and field lengths (read from the CRM's
/// field metadata; [`TaskMapping::default`] holds Zoho's defaults).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMapping {
    status_values: Vec<String>,
    priority_values: Vec<String>,
    subject_max: Option<usize>,
    description_max: Option<usize>,
}

impl Default for TaskMapping {
    fn default() -> Self {
        Self {
            status_values: TodoStatus::ALL
                .iter()
                .map(|s| s.crm_default().to_owned())
                .collect(),
            priority_values: ["Highest", "High", "Normal", "Low", "Lowest"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            subject_max: Some(255),
            description_max: Some(32_000),
        }
    }
}

const SUBJECT: &str = "Subject";
const DUE: &str = "Due_Date";
const STATUS: &str = "Status";
const PRIORITY: &str = "Priority";
const DESCRIPTION: &str = "Description";

fn mismatch(field: &str, expected: &str, found: &Value) -> RecordError {
    RecordError::mismatch(field, expected, json_kind(found))
}

fn opt_str<'a>(field: &str, v: Option<&'a Value>) -> Result<Option<&'a str>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(mismatch(field, "a text", other)),
    }
}

/// A date from `yyyy-MM-dd` or the date part of `yyyy-MM-ddThh:mm:ss[.fffffff]`.
fn parse_date(field: &str, s: &str) -> Result<Option<NaiveDate>, RecordError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.get(..10)
        .filter(|_| t.len() == 10 || t.as_bytes().get(10) == Some(&b'T'))
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .map(Some)
        .ok_or_else(|| RecordError::InvalidDate {
            field: field.to_owned(),
            value: s.to_owned(),
        })
}

fn check_len(field: &str, value: &str, max: Option<usize>) -> Result<(), RecordError> {
    let len = value.chars().count();
    match max {
        Some(max) if len > max => Err(RecordError::TooLong {
            field: field.to_owned(),
            len,
            max,
        }),
        _ => Ok(()),
    }
}

/// The text of an HTML body: tags dropped, block ends and `<br>` as line breaks, the common
/// entities decoded. (To Do bodies are text unless another client wrote HTML.)
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        let name = tag.trim_start_matches('/');
        let name = name
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        if name == "br" || (tag.starts_with('/') && matches!(name, "p" | "div" | "li" | "tr")) {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl TaskMapping {
    /// A mapping for an org whose Tasks picklists hold `status_values` and `priority_values`
    /// (`-None-` and empty values are ignored; an empty list means Zoho's defaults).
    #[must_use]
    pub fn new(status_values: Vec<String>, priority_values: Vec<String>) -> Self {
        let clean = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .filter(|s| !s.trim().is_empty() && s.trim() != "-None-")
                .collect()
        };
        let d = Self::default();
        let status_values = clean(status_values);
        let priority_values = clean(priority_values);
        Self {
            status_values: if status_values.is_empty() {
                d.status_values
            } else {
                status_values
            },
            priority_values: if priority_values.is_empty() {
                d.priority_values
            } else {
                priority_values
            },
            ..d
        }
    }

    /// Sets the CRM's `Subject` and `Description` lengths (`None`: no limit).
    #[must_use]
    pub fn with_lengths(mut self, subject: Option<usize>, description: Option<usize>) -> Self {
        self.subject_max = subject;
        self.description_max = description;
        self
    }

    /// The CRM status value written for a status class: the default name when the org has it
    /// (in the org's spelling), else the org's first value of that class.
    ///
    /// # Errors
    /// [`RecordError::TypeMismatch`] when the org's picklist has no value of that class.
    pub fn crm_status_value(&self, class: TodoStatus) -> Result<String, RecordError> {
        pick(
            &self.status_values,
            class.crm_default(),
            |v| TodoStatus::twin_of_crm(v) == Some(class),
            STATUS,
            class.as_todo(),
        )
    }

    /// The CRM priority value written for an importance class (see [`Self::crm_status_value`]).
    ///
    /// # Errors
    /// [`RecordError::TypeMismatch`] when the org's picklist has no value of that class.
    pub fn crm_priority_value(&self, class: TodoImportance) -> Result<String, RecordError> {
        pick(
            &self.priority_values,
            class.crm_default(),
            |v| TodoImportance::twin_of_crm(v) == Some(class),
            PRIORITY,
            class.as_todo(),
        )
    }

    /// Projects a CRM task (Zoho JSON object) onto the canonical task.
    ///
    /// # Errors
    /// [`RecordError`] for this record only (wrong types, an invalid date).
    pub fn crm_to_canonical(&self, rec: &Map<String, Value>) -> Result<TaskRecord, RecordError> {
        let mut f = FieldMap::new();
        if let Some(s) = opt_str(SUBJECT, rec.get(SUBJECT))? {
            f.insert("title".into(), FieldValue::Text(s.to_owned()));
        }
        if let Some(d) = opt_str(DUE, rec.get(DUE))? {
            if let Some(d) = parse_date(DUE, d)? {
                f.insert("dueDateTime".into(), FieldValue::Date(d));
            }
        }
        let status = TodoStatus::of_crm(opt_str(STATUS, rec.get(STATUS))?);
        f.insert("status".into(), FieldValue::Text(status.as_todo().into()));
        let importance = TodoImportance::of_crm(opt_str(PRIORITY, rec.get(PRIORITY))?);
        f.insert(
            "importance".into(),
            FieldValue::Text(importance.as_todo().into()),
        );
        if let Some(s) = opt_str(DESCRIPTION, rec.get(DESCRIPTION))? {
            f.insert("body".into(), FieldValue::Text(s.to_owned()));
        }
        TaskRecord::from_fields(f)
    }

    /// Projects a To Do task (JSON object) onto the canonical task. A missing status or
    /// importance reads as To Do's default (`notStarted`, `normal`).
    ///
    /// # Errors
    /// [`RecordError`] for this record only (not an object, wrong types, an invalid date, an
    /// unknown status or importance).
    pub fn graph_to_canonical(&self, task: &Value) -> Result<TaskRecord, RecordError> {
        let obj = task.as_object().ok_or(RecordError::NotAnObject)?;
        let mut f = FieldMap::new();
        if let Some(s) = opt_str("title", obj.get("title"))? {
            f.insert("title".into(), FieldValue::Text(s.to_owned()));
        }
        match obj.get("dueDateTime") {
            None | Some(Value::Null) => {}
            Some(Value::Object(d)) => {
                if let Some(s) = opt_str("dueDateTime", d.get("dateTime"))? {
                    if let Some(d) = parse_date("dueDateTime", s)? {
                        f.insert("dueDateTime".into(), FieldValue::Date(d));
                    }
                }
            }
            Some(other) => return Err(mismatch("dueDateTime", "a dateTimeTimeZone", other)),
        }
        let status = opt_str("status", obj.get("status"))?.unwrap_or("notStarted");
        f.insert("status".into(), FieldValue::Text(status.to_owned()));
        let importance = opt_str("importance", obj.get("importance"))?.unwrap_or("normal");
        f.insert("importance".into(), FieldValue::Text(importance.to_owned()));
        match obj.get("body") {
            None | Some(Value::Null) => {}
            Some(Value::Object(b)) => {
                if let Some(content) = opt_str("body", b.get("content"))? {
                    let html = b
                        .get("contentType")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case("html"));
                    let text = if html {
                        html_to_text(content)
                    } else {
                        content.to_owned()
                    };
                    f.insert("body".into(), FieldValue::Text(text));
                }
            }
            Some(other) => return Err(mismatch("body", "an itemBody", other)),
        }
        TaskRecord::from_fields(f)
    }

    /// The CRM fields to write so the CRM task carries `record`.
    ///
    /// Without `current` (a create) every non-empty field is returned. With `current` (an
    /// update) only fields that change are returned; `Status` and `Priority` only when their
    /// class changes (the no-clobber rule), and a cleared field is written as `null`.
    ///
    /// # Errors
    /// [`RecordError::MissingMandatory`] when `Subject` would be empty,
    /// [`RecordError::TooLong`] when a text exceeds the CRM field (nothing is truncated),
    /// [`RecordError::TypeMismatch`] when `current` holds wrong types or the org has no
    /// picklist value for a class.
    pub fn canonical_to_crm(
        &self,
        record: &TaskRecord,
        current: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, RecordError> {
        let cur = match current {
            Some(c) => Some(self.crm_to_canonical(c)?),
            None => None,
        };
        let changed = |id: &str| {
            cur.as_ref()
                .is_none_or(|c| c.fields().get(id) != record.fields().get(id))
        };
        let mut out = Map::new();
        let updating = cur.is_some();
        let put = |out: &mut Map<String, Value>, k: &str, v: Option<String>| match v {
            Some(v) => {
                out.insert(k.to_owned(), Value::String(v));
            }
            None if updating => {
                out.insert(k.to_owned(), Value::Null);
            }
            None => {}
        };
        match record.title() {
            None => {
                return Err(RecordError::MissingMandatory {
                    field: SUBJECT.into(),
                })
            }
            Some(t) => {
                check_len(SUBJECT, t, self.subject_max)?;
                if changed("title") {
                    put(&mut out, SUBJECT, Some(t.to_owned()));
                }
            }
        }
        if changed("dueDateTime") {
            put(&mut out, DUE, record.due().map(date_text));
        }
        if let Some(s) = record.status() {
            // The class of what the CRM holds now: its own value stays while the class agrees.
            if changed("status") {
                put(&mut out, STATUS, Some(self.crm_status_value(s)?));
            }
        }
        if let Some(i) = record.importance() {
            if changed("importance") {
                put(&mut out, PRIORITY, Some(self.crm_priority_value(i)?));
            }
        }
        if let Some(b) = record.text("body") {
            check_len(DESCRIPTION, b, self.description_max)?;
        }
        if changed("body") {
            put(
                &mut out,
                DESCRIPTION,
                record.text("body").map(str::to_owned),
            );
        }
        Ok(out)
    }

    /// The To Do task properties to send (POST when `current` is `None`, PATCH otherwise) so
    /// the task carries `record`. On an update only changed properties are sent; the due date
    /// is sent as midnight UTC of its date (To Do keeps only the date); the body as text.
    ///
    /// # Errors
    /// [`RecordError::MissingMandatory`] when a new task would have no title,
    /// [`RecordError::NotAnObject`] when `current` is not a JSON object.
    pub fn canonical_to_graph(
        &self,
        record: &TaskRecord,
        current: Option<&Value>,
    ) -> Result<Map<String, Value>, RecordError> {
        let cur = match current {
            None => None,
            Some(v) => {
                if !v.is_object() {
                    return Err(RecordError::NotAnObject);
                }
                // A current task that does not project is rewritten whole.
                Some(self.graph_to_canonical(v).ok())
            }
        };
        let changed = |id: &str| match &cur {
            None | Some(None) => true,
            Some(Some(c)) => c.fields().get(id) != record.fields().get(id),
        };
        let creating = cur.is_none();
        let mut out = Map::new();
        match record.title() {
            Some(t) if changed("title") => {
                out.insert("title".into(), Value::String(t.to_owned()));
            }
            Some(_) => {}
            None => {
                return Err(RecordError::MissingMandatory {
                    field: "title".into(),
                })
            }
        }
        if changed("dueDateTime") {
            match record.due() {
                Some(d) => {
                    out.insert(
                        "dueDateTime".into(),
                        json!({"dateTime": format!("{}T00:00:00", date_text(d)), "timeZone": "UTC"}),
                    );
                }
                None if !creating => {
                    out.insert("dueDateTime".into(), Value::Null);
                }
                None => {}
            }
        }
        if changed("status") {
            let s = record.status().unwrap_or(TodoStatus::NotStarted);
            out.insert("status".into(), Value::String(s.as_todo().into()));
        }
        if changed("importance") {
            let i = record.importance().unwrap_or(TodoImportance::Normal);
            out.insert("importance".into(), Value::String(i.as_todo().into()));
        }
        if changed("body") {
            match record.text("body") {
                Some(b) => {
                    out.insert("body".into(), json!({"content": b, "contentType": "text"}));
                }
                None if !creating => {
                    out.insert("body".into(), json!({"content": "", "contentType": "text"}));
                }
                None => {}
            }
        }
        Ok(out)
    }
}

fn pick(
    values: &[String],
    default: &str,
    same_class: impl Fn(&str) -> bool,
    field: &str,
    class: &str,
) -> Result<String, RecordError> {
    values
        .iter()
        .find(|v| v.trim().eq_ignore_ascii_case(default))
        .or_else(|| values.iter().find(|v| same_class(v)))
        .cloned()
        .ok_or_else(|| RecordError::TypeMismatch {
            field: field.to_owned(),
            expected: format!("a picklist value for `{class}`"),
            found: "none in the org's picklist".to_owned(),
        })
}

#[cfg(test)]
pub(super) fn html_text_for_tests(html: &str) -> String {
    html_to_text(html)
}
