//! The canonical event and its timing value.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::RecordError;
use crate::record::{field_record, normalize_fields, CanonicalRecord};
use crate::value::{normalize_text, FieldMap, FieldValue, TextForm};

/// The canonical field ids of an event.
/// `reminder` is the number of minutes before the start (absent: no reminder).
pub const EVENT_FIELDS: &[&str] = &["subject", "when", "location", "body", "reminder"];

/// When an event takes place. Rendered as text in the canonical record (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum When {
    /// A timed event, UTC, second precision; `end >= start`.
    Timed {
        /// Start instant.
        start: DateTime<Utc>,
        /// End instant.
        end: DateTime<Utc>,
    },
    /// An all-day event: from the first to the last calendar day, both included.
    AllDay {
        /// First day.
        first: NaiveDate,
        /// Last day (inclusive); `last >= first`.
        last: NaiveDate,
    },
}

const UTC_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Drops sub-second precision (the CRM keeps seconds; Graph sends 7 fractional digits).
pub(crate) fn to_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

impl When {
    /// A timed event; `None` when it ends before it starts. Times are cut to whole seconds.
    #[must_use]
    pub fn timed(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        let (start, end) = (to_seconds(start), to_seconds(end));
        (end >= start).then_some(Self::Timed { start, end })
    }

    /// An all-day event; `None` when the last day is before the first.
    #[must_use]
    pub fn all_day(first: NaiveDate, last: NaiveDate) -> Option<Self> {
        (last >= first).then_some(Self::AllDay { first, last })
    }

    /// Whether this is an all-day event.
    #[must_use]
    pub fn is_all_day(&self) -> bool {
        matches!(self, Self::AllDay { .. })
    }

    /// The instant the event starts (an all-day event: midnight UTC of its first day), used to
    /// order the first sync.
    #[must_use]
    pub fn start_utc(&self) -> DateTime<Utc> {
        match self {
            Self::Timed { start, .. } => *start,
            Self::AllDay { first, .. } => first.and_time(chrono::NaiveTime::MIN).and_utc(),
        }
    }

    /// The instant the event ends (an all-day event: the midnight after its last day).
    #[must_use]
    pub fn end_utc(&self) -> DateTime<Utc> {
        match self {
            Self::Timed { end, .. } => *end,
            Self::AllDay { last, .. } => last
                .succ_opt()
                .unwrap_or(*last)
                .and_time(chrono::NaiveTime::MIN)
                .and_utc(),
        }
    }

    /// Parses the canonical text form.
    ///
    /// # Errors
    /// [`RecordError::InvalidDate`] on anything else (including an end before the start).
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let bad = || RecordError::InvalidDate {
            field: "when".to_owned(),
            value: text.to_owned(),
        };
        let (a, b) = text.trim().split_once('/').ok_or_else(bad)?;
        let (a, b) = (a.trim(), b.trim());
        if a.len() == 10 && b.len() == 10 {
            let first = NaiveDate::parse_from_str(a, "%Y-%m-%d").map_err(|_| bad())?;
            let last = NaiveDate::parse_from_str(b, "%Y-%m-%d").map_err(|_| bad())?;
            return Self::all_day(first, last).ok_or_else(bad);
        }
        let instant = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .or_else(|_| NaiveDateTime::parse_from_str(s, UTC_FORMAT).map(|n| n.and_utc()))
                .map_err(|_| bad())
        };
        Self::timed(instant(a)?, instant(b)?).ok_or_else(bad)
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timed { start, end } => {
                write!(f, "{}/{}", start.format(UTC_FORMAT), end.format(UTC_FORMAT))
            }
            Self::AllDay { first, last } => {
                write!(
                    f,
                    "{}/{}",
                    first.format("%Y-%m-%d"),
                    last.format("%Y-%m-%d")
                )
            }
        }
    }
}

/// An event's canonical, normalised projection (fields: [`EVENT_FIELDS`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FieldMap", into = "FieldMap")]
pub struct EventRecord {
    fields: FieldMap,
}

field_record!(EventRecord);

impl EventRecord {
    /// Builds a record from its parts (empty texts are dropped).
    ///
    /// # Errors
    /// Never in practice (the parts are typed); kept fallible like [`CanonicalRecord::from_fields`].
    pub fn new(
        subject: Option<&str>,
        when: Option<When>,
        location: Option<&str>,
        body: Option<&str>,
    ) -> Result<Self, RecordError> {
        let mut f = FieldMap::new();
        for (k, v) in [("subject", subject), ("location", location), ("body", body)] {
            if let Some(v) = v {
                f.insert(k.to_owned(), FieldValue::Text(v.to_owned()));
            }
        }
        if let Some(w) = when {
            f.insert("when".to_owned(), FieldValue::Text(w.to_string()));
        }
        Self::from_fields(f)
    }

    /// The title.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.text("subject")
    }

    /// The timing (normalised on construction, so it always parses).
    #[must_use]
    pub fn when(&self) -> Option<When> {
        self.text("when").and_then(|t| When::parse(t).ok())
    }

    /// The location's display name.
    #[must_use]
    pub fn location(&self) -> Option<&str> {
        self.text("location")
    }

    /// The description (plain text, several lines).
    #[must_use]
    pub fn body(&self) -> Option<&str> {
        self.text("body")
    }

    /// Minutes before the start at which the reminder fires; `None`: no reminder.
    #[must_use]
    pub fn reminder(&self) -> Option<u32> {
        self.text("reminder").and_then(|t| t.parse().ok())
    }

    /// This record with the reminder set (or removed).
    #[must_use]
    pub fn with_reminder(mut self, minutes: Option<u32>) -> Self {
        match minutes {
            Some(m) => {
                self.fields
                    .insert("reminder".to_owned(), FieldValue::Text(m.to_string()));
            }
            None => {
                self.fields.remove("reminder");
            }
        }
        self
    }
}

fn normalize(id: &str, value: FieldValue) -> Result<Option<FieldValue>, RecordError> {
    let form = match id {
        "subject" | "location" => TextForm::Line,
        "body" => TextForm::Multiline,
        "reminder" => {
            return match value {
                FieldValue::Text(t) if t.trim().is_empty() => Ok(None),
                FieldValue::Text(t) => t
                    .trim()
                    .parse::<u32>()
                    .map(|m| Some(FieldValue::Text(m.to_string())))
                    .map_err(|_| RecordError::TypeMismatch {
                        field: id.to_owned(),
                        expected: "a number of minutes".to_owned(),
                        found: format!("`{t}`"),
                    }),
                other => Err(mismatch(id, "a number of minutes", &other)),
            }
        }
        "when" => {
            return match value {
                FieldValue::Text(t) if t.trim().is_empty() => Ok(None),
                FieldValue::Text(t) => Ok(Some(FieldValue::Text(When::parse(&t)?.to_string()))),
                other => Err(mismatch(id, "a time range", &other)),
            }
        }
        _ => return Err(RecordError::UnknownField(id.to_owned())),
    };
    match value {
        FieldValue::Text(s) => Ok(normalize_text(&s, form).map(FieldValue::Text)),
        other => Err(mismatch(id, "a text", &other)),
    }
}

fn mismatch(id: &str, expected: &str, found: &FieldValue) -> RecordError {
    RecordError::mismatch(id, expected, found.kind())
}

impl CanonicalRecord for EventRecord {
    const DOMAIN: &'static str = "event";

    fn fields(&self) -> &FieldMap {
        &self.fields
    }

    fn from_fields(fields: FieldMap) -> Result<Self, RecordError> {
        Ok(Self {
            fields: normalize_fields(fields, normalize)?,
        })
    }

    /// Events have no reliable natural key (titles and times repeat): unlinked events are
    /// never matched by content, only by stamp.
    fn natural_key(&self) -> Option<String> {
        None
    }

    fn label(&self) -> String {
        let title = self.subject().unwrap_or("(no title)");
        match self.when() {
            Some(When::Timed { start, .. }) => {
                format!("{title} ({})", start.format("%Y-%m-%d %H:%M UTC"))
            }
            Some(When::AllDay { first, .. }) => format!("{title} ({})", first.format("%Y-%m-%d")),
            None => title.to_owned(),
        }
    }
}
