//! Projections of CRM Events records and Graph events onto [`EventRecord`], and back.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{json, Map, Value};

use super::record::{EventRecord, When};
use crate::error::{json_kind, RecordError};

/// The CRM fields this mapping reads (besides `id`, `Owner`, times): what a listing asks for.
pub const CRM_EVENT_FIELDS: &[&str] = &[
    "Event_Title",
    "Start_DateTime",
    "End_DateTime",
    "All_day",
    "Venue",
    "Description",
    "Remind_At",
    "Recurring_Activity",
];

/// `Event_Title` length limit of the CRM (standard field metadata).
pub const MAX_CRM_TITLE: usize = 255;
/// `Venue` length limit of the CRM.
pub const MAX_CRM_VENUE: usize = 255;
/// `Description` (textarea) length limit of the CRM.
pub const MAX_CRM_DESCRIPTION: usize = 32_000;

/// The title written to the CRM (where it is mandatory) for an untitled Outlook event; it then
/// flows back to Outlook, so both sides agree.
pub const UNTITLED: &str = "(no title)";

fn mismatch(field: &str, expected: &str, found: &Value) -> RecordError {
    RecordError::mismatch(field, expected, json_kind(found))
}

fn opt_text<'a>(field: &str, v: Option<&'a Value>) -> Result<Option<&'a str>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(mismatch(field, "a text", other)),
    }
}

fn bad_date(field: &str, value: &str) -> RecordError {
    RecordError::InvalidDate {
        field: field.to_owned(),
        value: value.to_owned(),
    }
}

fn crm_datetime(field: &str, v: Option<&Value>) -> Result<DateTime<FixedOffset>, RecordError> {
    let s = opt_text(field, v)?.ok_or_else(|| RecordError::MissingMandatory {
        field: field.to_owned(),
    })?;
    DateTime::parse_from_rfc3339(s.trim()).map_err(|_| bad_date(field, s))
}

/// Whether a CRM event is a recurring series (`Recurring_Activity` set). Series are not synced
/// (see the module docs); the adapter reports them as skipped.
#[must_use]
pub fn crm_is_recurring(record: &Map<String, Value>) -> bool {
    match record.get("Recurring_Activity") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => o
            .get("RRULE")
            .and_then(Value::as_str)
            .is_some_and(|r| !r.trim().is_empty()),
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// The Graph event `type` when it is part of a recurring series (`seriesMaster`, `occurrence`,
/// `exception`); `None` for a single event. Series from Outlook are not created in the CRM.
#[must_use]
pub fn graph_series_kind(event: &Value) -> Option<&str> {
    let t = event.get("type").and_then(Value::as_str);
    match t {
        Some("seriesMaster" | "occurrence" | "exception") => t,
        _ if event
            .get("seriesMasterId")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty()) =>
        {
            Some("occurrence")
        }
        _ => None,
    }
}

/// Projects a CRM Events record (Zoho JSON object) onto the canonical event.
///
/// Date-times carry an offset (the CRM renders them in the user's zone) and become UTC. An
/// all-day event (`All_day`) keeps the calendar days of its start and end in that offset; an
/// end at midnight after the first day is read as exclusive.
///
/// # Errors
/// [`RecordError`] for this record only: wrong types, a missing or invalid date-time, an end
/// before the start.
pub fn crm_to_canonical(record: &Map<String, Value>) -> Result<EventRecord, RecordError> {
    let title = opt_text("Event_Title", record.get("Event_Title"))?;
    let start = crm_datetime("Start_DateTime", record.get("Start_DateTime"))?;
    let end = crm_datetime("End_DateTime", record.get("End_DateTime"))?;
    let all_day = match record.get("All_day") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(other) => return Err(mismatch("All_day", "a boolean", other)),
    };
    let when = if all_day {
        let first = start.date_naive();
        let mut last = end.date_naive();
        if end.time() == NaiveTime::MIN && last > first {
            last = last.pred_opt().unwrap_or(last);
        }
        When::all_day(first, last.max(first))
    } else {
        When::timed(start.with_timezone(&Utc), end.with_timezone(&Utc))
    }
    .ok_or_else(|| bad_date("End_DateTime", &end.to_rfc3339()))?;
    let reminder = match opt_text("Remind_At", record.get("Remind_At"))? {
        None => None,
        Some(s) if s.trim().is_empty() => None,
        Some(s) => {
            let at =
                DateTime::parse_from_rfc3339(s.trim()).map_err(|_| bad_date("Remind_At", s))?;
            Some(minutes_before(
                start.with_timezone(&Utc),
                at.with_timezone(&Utc),
            ))
        }
    };
    Ok(EventRecord::new(
        title,
        Some(when),
        opt_text("Venue", record.get("Venue"))?,
        opt_text("Description", record.get("Description"))?,
    )?
    .with_reminder(reminder))
}

/// Whole minutes from `at` to `start` (0 when the reminder is at or after the start).
fn minutes_before(start: DateTime<Utc>, at: DateTime<Utc>) -> u32 {
    u32::try_from((start - at).num_minutes().max(0)).unwrap_or(u32::MAX)
}

/// Reads a Graph `dateTimeTimeZone` as a local date-time; the zone must be UTC for timed
/// events (the client always sends `Prefer: outlook.timezone="UTC"`).
fn graph_dtz(field: &str, v: Option<&Value>, all_day: bool) -> Result<NaiveDateTime, RecordError> {
    let o = match v {
        Some(Value::Object(o)) => o,
        None | Some(Value::Null) => {
            return Err(RecordError::MissingMandatory {
                field: field.to_owned(),
            })
        }
        Some(other) => return Err(mismatch(field, "a dateTimeTimeZone", other)),
    };
    let dt = opt_text(field, o.get("dateTime"))?.ok_or_else(|| RecordError::MissingMandatory {
        field: field.to_owned(),
    })?;
    let zone = opt_text(field, o.get("timeZone"))?.unwrap_or("UTC");
    let utc = matches!(
        zone.to_ascii_lowercase().as_str(),
        "utc" | "etc/utc" | "etc/gmt" | "gmt" | "coordinated universal time"
    );
    if !utc && !all_day {
        return Err(bad_date(
            field,
            &format!("{dt} ({zone}); UTC was asked for"),
        ));
    }
    let t = dt.trim();
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M"))
        .map_err(|_| bad_date(field, dt))
}

/// Reads HTML as plain text: tags dropped, line breaks for `<br>` and block ends, source
/// whitespace collapsed (as a browser shows it), the common entities decoded. The result is
/// then normalised as multi-line text by the record.
#[must_use]
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut tag = String::new();
    let mut in_tag = false;
    let mut skip_depth = 0usize; // inside <head>, <style>, <script>
    for c in html.chars() {
        if in_tag {
            if c == '>' {
                in_tag = false;
                let t = tag.trim().to_ascii_lowercase();
                let name: String = t
                    .trim_start_matches('/')
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                let closing = t.starts_with('/');
                if matches!(name.as_str(), "head" | "style" | "script") {
                    if closing {
                        skip_depth = skip_depth.saturating_sub(1);
                    } else {
                        skip_depth += 1;
                    }
                } else if name == "br"
                    || (closing
                        && matches!(
                            name.as_str(),
                            "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3"
                        ))
                {
                    out.push('\n');
                }
            } else {
                tag.push(c);
            }
            continue;
        }
        if c == '<' {
            in_tag = true;
            tag.clear();
            continue;
        }
        if skip_depth > 0 {
            continue;
        }
        out.push(if c == '\r' || c == '\n' || c == '\t' {
            ' '
        } else {
            c
        });
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Projects a Graph event (JSON object, read with UTC times) onto the canonical event.
///
/// # Errors
/// [`RecordError`] for this event only.
pub fn graph_to_canonical(event: &Value) -> Result<EventRecord, RecordError> {
    let o = event.as_object().ok_or(RecordError::NotAnObject)?;
    let all_day = match o.get("isAllDay") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(mismatch("isAllDay", "a boolean", other)),
    };
    let start = graph_dtz("start", o.get("start"), all_day)?;
    let end = graph_dtz("end", o.get("end"), all_day)?;
    let when = if all_day {
        // Midnight to midnight, the end exclusive.
        let first = start.date();
        let mut last = end.date();
        if last > first {
            last = last.pred_opt().unwrap_or(last);
        }
        When::all_day(first, last)
    } else {
        When::timed(start.and_utc(), end.and_utc())
    }
    .ok_or_else(|| bad_date("end", &end.to_string()))?;
    let body = match o.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::Object(b)) => {
            let content = opt_text("body", b.get("content"))?.unwrap_or("");
            match opt_text("body", b.get("contentType"))? {
                Some(ct) if ct.eq_ignore_ascii_case("html") => Some(html_to_text(content)),
                _ => Some(content.to_owned()),
            }
        }
        Some(other) => return Err(mismatch("body", "an itemBody", other)),
    };
    let location = match o.get("location") {
        None | Some(Value::Null) => None,
        Some(Value::Object(l)) => opt_text("location", l.get("displayName"))?,
        Some(other) => return Err(mismatch("location", "a location", other)),
    };
    let reminder = match o.get("isReminderOn") {
        Some(Value::Bool(true)) => match o.get("reminderMinutesBeforeStart") {
            None | Some(Value::Null) => Some(0),
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|m| u32::try_from(m).ok())
                    .ok_or_else(|| {
                        mismatch(
                            "reminderMinutesBeforeStart",
                            "minutes",
                            &Value::Number(n.clone()),
                        )
                    })?,
            ),
            Some(other) => return Err(mismatch("reminderMinutesBeforeStart", "a number", other)),
        },
        None | Some(Value::Null | Value::Bool(false)) => None,
        Some(other) => return Err(mismatch("isReminderOn", "a boolean", other)),
    };
    Ok(EventRecord::new(
        opt_text("subject", o.get("subject"))?,
        Some(when),
        location,
        body.as_deref(),
    )?
    .with_reminder(reminder))
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), RecordError> {
    let len = value.chars().count();
    if len > max {
        return Err(RecordError::TooLong {
            field: field.to_owned(),
            len,
            max,
        });
    }
    Ok(())
}

fn crm_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn crm_local(day: NaiveDate, time: NaiveTime, offset: FixedOffset) -> String {
    let t = day.and_time(time);
    format!("{}{offset}", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// The CRM fields to write so the CRM event carries `record`.
///
/// With `current` (an update), only the fields whose canonical value changes are returned
/// (timing as a whole: start, end and all-day together); without it (a create), every field.
/// An all-day event is written as its first day at 00:00 to its last day at 23:59 in the CRM
/// user's zone (`offset_at` gives the zone's offset on a day). `Participants` is never written,
/// nor any notification flag: the sync never invites anyone.
///
/// # Errors
/// [`RecordError::MissingMandatory`] without a timing, [`RecordError::TooLong`] when the title,
/// venue or description exceed the CRM's limits (nothing is truncated).
pub fn canonical_to_crm(
    record: &EventRecord,
    current: Option<&Map<String, Value>>,
    offset_at: &dyn Fn(NaiveDate) -> FixedOffset,
) -> Result<Map<String, Value>, RecordError> {
    let before = current.and_then(|c| crm_to_canonical(c).ok());
    let changed = |id: &str| match &before {
        Some(b) => b.text(id) != record.text(id),
        None => true,
    };
    let updating = current.is_some();
    let mut out = Map::new();
    if changed("subject") || (updating && before.is_none()) {
        let title = record.subject().unwrap_or(UNTITLED);
        check_len("Event_Title", title, MAX_CRM_TITLE)?;
        out.insert("Event_Title".into(), Value::from(title));
    }
    if changed("when") {
        let when = record.when().ok_or_else(|| RecordError::MissingMandatory {
            field: "Start_DateTime".to_owned(),
        })?;
        let (start, end, all_day) = match when {
            When::Timed { start, end } => (crm_instant(start), crm_instant(end), false),
            When::AllDay { first, last } => (
                crm_local(first, NaiveTime::MIN, offset_at(first)),
                crm_local(
                    last,
                    NaiveTime::from_hms_opt(23, 59, 0).unwrap_or(NaiveTime::MIN),
                    offset_at(last),
                ),
                true,
            ),
        };
        out.insert("Start_DateTime".into(), Value::from(start));
        out.insert("End_DateTime".into(), Value::from(end));
        out.insert("All_day".into(), Value::from(all_day));
    }
    if changed("reminder") || (changed("when") && record.reminder().is_some()) {
        match (record.reminder(), record.when()) {
            (Some(m), Some(when)) => {
                let (start, offset) = match when {
                    When::Timed { start, .. } => (start, FixedOffset::east_opt(0)),
                    When::AllDay { first, .. } => {
                        let off = offset_at(first);
                        let local = first.and_time(NaiveTime::MIN);
                        (
                            (local - Duration::seconds(i64::from(off.local_minus_utc()))).and_utc(),
                            Some(off),
                        )
                    }
                };
                let at = start - Duration::minutes(i64::from(m));
                let text = match offset {
                    Some(off) if off.local_minus_utc() != 0 => at.with_timezone(&off).to_rfc3339(),
                    _ => crm_instant(at),
                };
                out.insert("Remind_At".into(), Value::from(text));
            }
            _ if updating => {
                out.insert("Remind_At".into(), Value::Null);
            }
            _ => {}
        }
    }
    for (id, field, max) in [
        ("location", "Venue", MAX_CRM_VENUE),
        ("body", "Description", MAX_CRM_DESCRIPTION),
    ] {
        if !changed(id) {
            continue;
        }
        match record.text(id) {
            Some(v) => {
                check_len(field, v, max)?;
                out.insert(field.into(), Value::from(v));
            }
            None if updating => {
                out.insert(field.into(), Value::Null);
            }
            None => {}
        }
    }
    Ok(out)
}

/// The Graph event properties to send (POST when `updating` is false, PATCH otherwise) so the
/// event carries `record`. Times are sent in UTC; an all-day event as midnight to midnight
/// (the end exclusive) in `all_day_zone` (the user's zone, a Windows or IANA name Graph
/// accepts). `attendees` is never sent, so no invitation can be mailed.
///
/// # Errors
/// [`RecordError::MissingMandatory`] without a timing.
pub fn canonical_to_graph(
    record: &EventRecord,
    all_day_zone: &str,
    updating: bool,
) -> Result<Map<String, Value>, RecordError> {
    let when = record.when().ok_or_else(|| RecordError::MissingMandatory {
        field: "start".to_owned(),
    })?;
    let mut out = Map::new();
    match record.subject() {
        Some(s) => {
            out.insert("subject".into(), Value::from(s));
        }
        None if updating => {
            out.insert("subject".into(), Value::from(""));
        }
        None => {}
    }
    let dtz = |t: NaiveDateTime, zone: &str| json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": zone});
    match when {
        When::Timed { start, end } => {
            out.insert("isAllDay".into(), Value::Bool(false));
            out.insert("start".into(), dtz(start.naive_utc(), "UTC"));
            out.insert("end".into(), dtz(end.naive_utc(), "UTC"));
        }
        When::AllDay { first, last } => {
            let after = last.checked_add_signed(Duration::days(1)).unwrap_or(last);
            out.insert("isAllDay".into(), Value::Bool(true));
            out.insert(
                "start".into(),
                dtz(first.and_time(NaiveTime::MIN), all_day_zone),
            );
            out.insert(
                "end".into(),
                dtz(after.and_time(NaiveTime::MIN), all_day_zone),
            );
        }
    }
    match record.location() {
        Some(l) => {
            out.insert("location".into(), json!({"displayName": l}));
        }
        None if updating => {
            out.insert("location".into(), json!({"displayName": ""}));
        }
        None => {}
    }
    // Always explicit: Graph would otherwise add its default 15-minute reminder.
    match record.reminder() {
        Some(m) => {
            out.insert("isReminderOn".into(), Value::Bool(true));
            out.insert("reminderMinutesBeforeStart".into(), Value::from(m));
        }
        None => {
            out.insert("isReminderOn".into(), Value::Bool(false));
        }
    }
    match record.body() {
        Some(b) => {
            out.insert("body".into(), json!({"contentType": "text", "content": b}));
        }
        None if updating => {
            out.insert("body".into(), json!({"contentType": "text", "content": ""}));
        }
        None => {}
    }
    Ok(out)
}
