//! Calendars and events: CRUD with the server's normalisation, recurrence
//! (expansion into occurrences and exceptions), calendarView, instances,
//! calendarView delta, transactionId, invitations (graph-api.md §1, §10).

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::http::{context, only, Ctx, Out};
use crate::items::{self, check_if_match, collection, entity, mailbox, want_enum};
use crate::odata::{self, Prefer};
use crate::store::{Data, Item, Kind, Mailbox};
use crate::tz;

const MAX_WINDOW_DAYS: i64 = 1825;

// ------------------------------------------------------------ date helpers

/// Reads a dateTimeTimeZone: (local wall time, zone, zone name as sent).
pub(crate) fn read_dtz(name: &str, v: &Value) -> Result<(NaiveDateTime, Tz, String), ApiError> {
    let o = v
        .as_object()
        .ok_or_else(|| ApiError::bad_value(name, "a dateTimeTimeZone object was expected"))?;
    let zone_name = o
        .get("timeZone")
        .and_then(Value::as_str)
        .unwrap_or("UTC")
        .to_string();
    let zone = tz::resolve(&zone_name).ok_or_else(|| {
        ApiError::bad_request(
            "TimeZoneNotSupportedException",
            format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone_name}'."),
        )
    })?;
    let dt = o
        .get("dateTime")
        .and_then(Value::as_str)
        .and_then(|s| tz::parse_local(s, zone))
        .ok_or_else(|| ApiError::bad_request("ErrorInvalidRequest", format!("Cannot convert the literal for property '{name}' to the expected type 'Edm.DateTime'.")))?;
    // Outlook stores dates between 1601 and 4500; outside that range is an error
    // (and keeps date arithmetic far from overflow).
    if !(1601..=4500).contains(&dt.year()) {
        return Err(ApiError::validation());
    }
    Ok((dt, zone, zone_name))
}

/// A stored UTC dateTimeTimeZone rendered in the preferred zone (or UTC).
pub(crate) fn convert_dtz(v: &Value, target: Option<&str>) -> Value {
    let Some(s) = v.get("dateTime").and_then(Value::as_str) else {
        return v.clone();
    };
    let Some(local) = tz::parse_local(s, Tz::UTC) else {
        return v.clone();
    };
    let utc = DateTime::<Utc>::from_naive_utc_and_offset(local, Utc);
    render_instant(utc, target)
}

fn render_instant(utc: DateTime<Utc>, target: Option<&str>) -> Value {
    match target.and_then(|t| tz::resolve(t).map(|z| (t, z))) {
        Some((name, zone)) => {
            json!({"dateTime": tz::format_local(utc.with_timezone(&zone).naive_local()), "timeZone": name})
        }
        None => json!({"dateTime": tz::format_local(utc.naive_utc()), "timeZone": "UTC"}),
    }
}

fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn day_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Sun => "sunday",
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
    }
}

const DAYS: &[&str] = &[
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const INDEXES: &[&str] = &["first", "second", "third", "fourth", "last"];

// ------------------------------------------------------------ recurrence

/// Validates a patternedRecurrence and returns it fully filled in, as the
/// service does (user-post-events.md Example 3).
pub(crate) fn normalize_recurrence(
    v: &Value,
    start: Option<&Value>,
    start_zone: Option<&str>,
) -> Result<Value, ApiError> {
    let invalid = ApiError::validation;
    let o = v.as_object().ok_or_else(|| {
        ApiError::bad_value("recurrence", "a patternedRecurrence object was expected")
    })?;
    let p = o
        .get("pattern")
        .and_then(Value::as_object)
        .ok_or_else(invalid)?;
    let r = o
        .get("range")
        .and_then(Value::as_object)
        .ok_or_else(invalid)?;
    let ptype = want_enum(
        "type",
        p.get("type").unwrap_or(&Value::Null),
        &[
            "daily",
            "weekly",
            "absoluteMonthly",
            "relativeMonthly",
            "absoluteYearly",
            "relativeYearly",
        ],
    )?;
    let ptype = ptype.as_str().unwrap_or("daily").to_string();
    let interval = p.get("interval").and_then(Value::as_i64).unwrap_or(1);
    if !(1..=99).contains(&interval) {
        return Err(invalid());
    }
    let mut days = Vec::new();
    if let Some(arr) = p.get("daysOfWeek").and_then(Value::as_array) {
        for d in arr {
            days.push(want_enum("daysOfWeek", d, DAYS)?);
        }
    }
    let month = p.get("month").and_then(Value::as_i64).unwrap_or(0);
    let dom = p.get("dayOfMonth").and_then(Value::as_i64).unwrap_or(0);
    let first = match p.get("firstDayOfWeek") {
        Some(v) if !v.is_null() => want_enum("firstDayOfWeek", v, DAYS)?,
        _ => Value::from("sunday"),
    };
    let index = match p.get("index") {
        Some(v) if !v.is_null() => want_enum("index", v, INDEXES)?,
        _ => Value::from("first"),
    };
    let needs_days = matches!(
        ptype.as_str(),
        "weekly" | "relativeMonthly" | "relativeYearly"
    );
    let needs_dom = matches!(ptype.as_str(), "absoluteMonthly" | "absoluteYearly");
    let needs_month = matches!(ptype.as_str(), "absoluteYearly" | "relativeYearly");
    if (needs_days && days.is_empty())
        || (!needs_days && !days.is_empty() && ptype != "daily")
        || (needs_dom && !(1..=31).contains(&dom))
        || (!needs_dom && dom != 0)
        || (needs_month && !(1..=12).contains(&month))
        || (!needs_month && month != 0)
    {
        return Err(invalid());
    }
    let rtype = want_enum(
        "type",
        r.get("type").unwrap_or(&Value::Null),
        &["endDate", "noEnd", "numbered"],
    )?;
    let rtype = rtype.as_str().unwrap_or("noEnd").to_string();
    let date = |k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let start_date = date("startDate").ok_or_else(invalid)?;
    if let Some(s) = start {
        if let Ok((local, _, _)) = read_dtz("start", s) {
            if local.date() != start_date {
                return Err(invalid());
            }
        }
    }
    let end_date = match rtype.as_str() {
        "endDate" => {
            let e = date("endDate").ok_or_else(invalid)?;
            if e < start_date {
                return Err(invalid());
            }
            e.format("%Y-%m-%d").to_string()
        }
        _ => "0001-01-01".to_string(),
    };
    let count = r
        .get("numberOfOccurrences")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if rtype == "numbered" && count < 1 {
        return Err(invalid());
    }
    let rtz = r
        .get("recurrenceTimeZone")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| start_zone.map(str::to_string))
        .unwrap_or_else(|| "UTC".to_string());
    Ok(json!({
        "pattern": {
            "type": ptype,
            "interval": interval,
            "month": month,
            "dayOfMonth": dom,
            "daysOfWeek": days,
            "firstDayOfWeek": first,
            "index": index,
        },
        "range": {
            "type": rtype,
            "startDate": start_date.format("%Y-%m-%d").to_string(),
            "endDate": end_date,
            "recurrenceTimeZone": rtz,
            "numberOfOccurrences": if rtype == "numbered" { count } else { 0 },
        }
    }))
}

fn months_between(a: NaiveDate, b: NaiveDate) -> i64 {
    (b.year() as i64 - a.year() as i64) * 12 + (b.month() as i64 - a.month() as i64)
}

fn relative_match(d: NaiveDate, days: &[String], index: &str) -> bool {
    if !days.iter().any(|x| x == day_name(d.weekday())) {
        return false;
    }
    let nth = (d.day() - 1) / 7; // 0-based
    match index {
        "last" => d
            .checked_add_signed(Duration::days(7))
            .is_none_or(|n| n.month() != d.month()),
        other => INDEXES.iter().position(|i| *i == other) == Some(nth as usize),
    }
}

/// Dates of the series (not counting cancellations), up to `until` (local date).
fn series_dates(rec: &Value, until: NaiveDate) -> Vec<NaiveDate> {
    let p = &rec["pattern"];
    let r = &rec["range"];
    let ptype = p["type"].as_str().unwrap_or("daily");
    let interval = p["interval"].as_i64().unwrap_or(1).max(1);
    let days: Vec<String> = p["daysOfWeek"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let dom = p["dayOfMonth"].as_i64().unwrap_or(0) as u32;
    let month = p["month"].as_i64().unwrap_or(0) as u32;
    let index = p["index"].as_str().unwrap_or("first");
    let first_dow = p["firstDayOfWeek"].as_str().unwrap_or("sunday");
    let Some(start) = r["startDate"]
        .as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    else {
        return vec![];
    };
    let rtype = r["type"].as_str().unwrap_or("noEnd");
    let end = match rtype {
        "endDate" => r["endDate"]
            .as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .unwrap_or(start),
        _ => until,
    }
    .min(until);
    let count = if rtype == "numbered" {
        r["numberOfOccurrences"].as_i64().unwrap_or(1) as usize
    } else {
        usize::MAX
    };
    let first_idx = DAYS.iter().position(|d| *d == first_dow).unwrap_or(0) as i64;
    let week_start = |d: NaiveDate| {
        let wd = d.weekday().num_days_from_sunday() as i64;
        d - Duration::days((wd - first_idx).rem_euclid(7))
    };
    let mut out = Vec::new();
    let mut d = start;
    while d <= end && out.len() < count {
        let ok = match ptype {
            "daily" => (d - start).num_days() % interval == 0,
            "weekly" => {
                days.iter().any(|x| x == day_name(d.weekday()))
                    && ((week_start(d) - week_start(start)).num_days() / 7) % interval == 0
            }
            "absoluteMonthly" => d.day() == dom && months_between(start, d) % interval == 0,
            "relativeMonthly" => {
                months_between(start, d) % interval == 0 && relative_match(d, &days, index)
            }
            "absoluteYearly" => {
                d.month() == month
                    && d.day() == dom
                    && ((d.year() - start.year()) as i64) % interval == 0
            }
            "relativeYearly" => {
                d.month() == month
                    && ((d.year() - start.year()) as i64) % interval == 0
                    && relative_match(d, &days, index)
            }
            _ => false,
        };
        if ok {
            out.push(d);
        }
        d += Duration::days(1);
    }
    out
}

/// One instance of a series: its date key and UTC bounds.
struct Occurrence {
    date: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    exception: Option<Map<String, Value>>,
}

fn master_bounds(item: &Item) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((
        parse_utc(item.internal.get("startUtc")?.as_str()?)?,
        parse_utc(item.internal.get("endUtc")?.as_str()?)?,
    ))
}

fn start_zone(item: &Item) -> Tz {
    item.fields
        .get("start")
        .and_then(|s| s.get("timeZone"))
        .and_then(Value::as_str)
        .and_then(tz::resolve)
        .unwrap_or(Tz::UTC)
}

fn occurrences(item: &Item, until: DateTime<Utc>) -> Vec<Occurrence> {
    let Some(rec) = item.fields.get("recurrence").filter(|r| !r.is_null()) else {
        return vec![];
    };
    let Some((ms, me)) = master_bounds(item) else {
        return vec![];
    };
    let zone = start_zone(item);
    let local_start = ms.with_timezone(&zone).naive_local();
    let dur = me - ms;
    let cancelled: Vec<String> = item
        .internal
        .get("cancelled")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let exceptions = item
        .internal
        .get("exceptions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let until_local = until.with_timezone(&zone).date_naive() + Duration::days(1);
    series_dates(rec, until_local)
        .into_iter()
        .filter(|d| !cancelled.contains(&d.format("%Y%m%d").to_string()))
        .map(|d| {
            let key = d.format("%Y%m%d").to_string();
            let s = tz::to_utc(d.and_time(local_start.time()), zone);
            match exceptions.get(&key).and_then(Value::as_object) {
                Some(ex) => {
                    let es = ex
                        .get("startUtc")
                        .and_then(Value::as_str)
                        .and_then(parse_utc)
                        .unwrap_or(s);
                    let ee = ex
                        .get("endUtc")
                        .and_then(Value::as_str)
                        .and_then(parse_utc)
                        .unwrap_or(s + dur);
                    Occurrence {
                        date: d,
                        start: es,
                        end: ee,
                        exception: Some(ex.clone()),
                    }
                }
                None => Occurrence {
                    date: d,
                    start: s,
                    end: s + dur,
                    exception: None,
                },
            }
        })
        .collect()
}

fn occurrence_id(master: &str, date: NaiveDate) -> String {
    format!("{master}_OCC{}", date.format("%Y%m%d"))
}

fn split_occurrence_id(id: &str) -> Option<(&str, NaiveDate)> {
    let (m, d) = id.rsplit_once("_OCC")?;
    let date = NaiveDate::parse_from_str(d, "%Y%m%d").ok()?;
    (1601..=4500).contains(&date.year()).then_some((m, date))
}

// ------------------------------------------------------------ write

const STRINGS: &[&str] = &["subject"];
const BOOLS: &[&str] = &[
    "isReminderOn",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "isOnlineMeeting",
    "isAllDay",
];

fn location(v: &Value) -> Result<Value, ApiError> {
    let o = v
        .as_object()
        .ok_or_else(|| ApiError::bad_value("location", "a location object was expected"))?;
    let name = o
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut out = Map::new();
    out.insert("displayName".into(), Value::from(name.clone()));
    out.insert(
        "locationType".into(),
        match o.get("locationType") {
            Some(t) if !t.is_null() => want_enum(
                "locationType",
                t,
                &[
                    "default",
                    "conferenceRoom",
                    "homeAddress",
                    "businessAddress",
                    "geoCoordinates",
                    "streetAddress",
                    "hotel",
                    "restaurant",
                    "localBusiness",
                    "postalAddress",
                ],
            )?,
            _ => Value::from("default"),
        },
    );
    if let Some(u) = o.get("locationUri") {
        out.insert("locationUri".into(), u.clone());
    }
    if name.is_empty() {
        out.insert("uniqueIdType".into(), Value::from("unknown"));
    } else {
        out.insert(
            "uniqueId".into(),
            o.get("uniqueId").cloned().unwrap_or(Value::from(name)),
        );
        out.insert(
            "uniqueIdType".into(),
            o.get("uniqueIdType")
                .cloned()
                .unwrap_or(Value::from("private")),
        );
    }
    out.insert(
        "address".into(),
        o.get("address")
            .cloned()
            .filter(|a| a.is_object())
            .unwrap_or(json!({})),
    );
    out.insert(
        "coordinates".into(),
        o.get("coordinates")
            .cloned()
            .filter(|a| a.is_object())
            .unwrap_or(json!({})),
    );
    for (k, _) in o {
        if ![
            "displayName",
            "locationType",
            "uniqueId",
            "uniqueIdType",
            "address",
            "coordinates",
            "locationEmailAddress",
            "locationUri",
        ]
        .contains(&k.as_str())
            && !k.starts_with('@')
        {
            return Err(ApiError::unknown_property(k, "location"));
        }
    }
    Ok(Value::Object(out))
}

fn attendees(v: &Value) -> Result<Value, ApiError> {
    let arr = v
        .as_array()
        .ok_or_else(|| ApiError::bad_value("attendees", "a collection was expected"))?;
    if arr.len() > 500 {
        return Err(ApiError::bad_request(
            "ErrorInvalidRecipients",
            "An event can have at most 500 attendees.",
        ));
    }
    let mut out = Vec::new();
    for a in arr {
        let addr = a
            .pointer("/emailAddress/address")
            .and_then(Value::as_str)
            .filter(|s| s.contains('@'))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "ErrorInvalidRecipients",
                    "At least one recipient isn't valid.",
                )
            })?;
        let name = a
            .pointer("/emailAddress/name")
            .and_then(Value::as_str)
            .unwrap_or(addr);
        let ty = match a.get("type") {
            Some(t) if !t.is_null() => want_enum("type", t, &["required", "optional", "resource"])?,
            _ => Value::from("required"),
        };
        out.push(json!({"type": ty, "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}, "emailAddress": {"name": name, "address": addr}}));
    }
    Ok(Value::Array(out))
}

/// Applies a create/patch body to event fields; returns the UTC bounds.
fn event_write(
    fields: &mut Map<String, Value>,
    internal: &mut Map<String, Value>,
    body: &Map<String, Value>,
    creating: bool,
    allow_recurrence: bool,
) -> Result<(), ApiError> {
    for (k, v) in body {
        let key = k.as_str();
        match key {
            _ if STRINGS.contains(&key) => {
                if !(v.is_string() || v.is_null()) {
                    return Err(ApiError::bad_value(key, "a string was expected"));
                }
                fields.insert(k.clone(), v.clone());
            }
            _ if BOOLS.contains(&key) => {
                if !v.is_boolean() {
                    return Err(ApiError::bad_value(key, "a boolean was expected"));
                }
                fields.insert(k.clone(), v.clone());
            }
            "body" => {
                let o = v
                    .as_object()
                    .ok_or_else(|| ApiError::bad_value(key, "an itemBody was expected"))?;
                let ct = match o.get("contentType") {
                    Some(c) if !c.is_null() => want_enum("contentType", c, &["text", "html"])?,
                    _ => Value::from("text"),
                };
                fields.insert(k.clone(), json!({"contentType": ct, "content": o.get("content").and_then(Value::as_str).unwrap_or("")}));
            }
            "importance" => {
                fields.insert(k.clone(), want_enum(key, v, &["low", "normal", "high"])?);
            }
            "sensitivity" => {
                fields.insert(
                    k.clone(),
                    want_enum(key, v, &["normal", "personal", "private", "confidential"])?,
                );
            }
            "showAs" => {
                fields.insert(
                    k.clone(),
                    want_enum(
                        key,
                        v,
                        &[
                            "free",
                            "tentative",
                            "busy",
                            "oof",
                            "workingElsewhere",
                            "unknown",
                        ],
                    )?,
                );
            }
            "onlineMeetingProvider" => {
                fields.insert(
                    k.clone(),
                    want_enum(
                        key,
                        v,
                        &[
                            "unknown",
                            "skypeForBusiness",
                            "skypeForConsumer",
                            "teamsForBusiness",
                        ],
                    )?,
                );
            }
            "reminderMinutesBeforeStart" => {
                let n = v
                    .as_i64()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| ApiError::bad_value(key, "an Edm.Int32 was expected"))?;
                fields.insert(k.clone(), Value::from(n));
            }
            "categories" => {
                if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                    return Err(ApiError::bad_value(
                        key,
                        "a collection of strings was expected",
                    ));
                }
                fields.insert(k.clone(), v.clone());
            }
            "location" => {
                fields.insert(
                    k.clone(),
                    if v.is_null() {
                        Value::Null
                    } else {
                        location(v)?
                    },
                );
            }
            "locations" => {
                let arr = v
                    .as_array()
                    .ok_or_else(|| ApiError::bad_value(key, "a collection was expected"))?;
                fields.insert(
                    k.clone(),
                    Value::Array(arr.iter().map(location).collect::<Result<_, _>>()?),
                );
            }
            "attendees" => {
                fields.insert(k.clone(), attendees(v)?);
            }
            "start" | "end" => {
                let (local, _, zone_name) = read_dtz(key, v)?;
                fields.insert(
                    k.clone(),
                    json!({"dateTime": tz::format_local(local), "timeZone": zone_name}),
                );
            }
            "recurrence" => {
                if !allow_recurrence && !v.is_null() {
                    return Err(ApiError::bad_request(
                        "ErrorInvalidRequest",
                        "An occurrence or exception cannot have a recurrence.",
                    ));
                }
                fields.insert(k.clone(), v.clone());
            }
            "transactionId" => {
                if !creating && fields.get(key).is_some_and(|old| old != v) {
                    return Err(ApiError::bad_request(
                        "ErrorInvalidRequest",
                        "The property transactionId cannot be changed once set.",
                    ));
                }
                fields.insert(k.clone(), v.clone());
            }
            "extensions"
            | "id"
            | "createdDateTime"
            | "lastModifiedDateTime"
            | "changeKey"
            | "iCalUId"
            | "type"
            | "seriesMasterId"
            | "webLink"
            | "isOrganizer"
            | "organizer"
            | "responseStatus"
            | "hasAttachments"
            | "bodyPreview"
            | "isCancelled"
            | "isDraft"
            | "originalStartTimeZone"
            | "originalEndTimeZone"
            | "singleValueExtendedProperties"
            | "onlineMeeting"
            | "onlineMeetingUrl" => {}
            _ if key.starts_with('@') => {}
            _ => return Err(ApiError::unknown_property(key, "event")),
        }
    }
    let (Some(s), Some(e)) = (fields.get("start").cloned(), fields.get("end").cloned()) else {
        return Err(ApiError::bad_request(
            "ErrorPropertyValidationFailure",
            "At least one property failed validation. Start and End are required.",
        ));
    };
    let (ls, zs, zs_name) = read_dtz("start", &s)?;
    let (le, ze, ze_name) = read_dtz("end", &e)?;
    let su = tz::to_utc(ls, zs);
    let eu = tz::to_utc(le, ze);
    if eu < su {
        return Err(ApiError::validation());
    }
    if fields
        .get("isAllDay")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        let midnight = |t: NaiveDateTime| t.time() == chrono::NaiveTime::MIN;
        if !midnight(ls) || !midnight(le) || (le - ls) < Duration::hours(24) {
            return Err(ApiError::validation());
        }
    }
    if body.contains_key("recurrence") {
        if let Some(r) = fields.get("recurrence").cloned().filter(|r| !r.is_null()) {
            let norm = normalize_recurrence(&r, Some(&s), Some(&zs_name))?;
            fields.insert("recurrence".into(), norm);
        }
    }
    if creating || body.contains_key("start") {
        fields.insert("originalStartTimeZone".into(), Value::from(zs_name));
    }
    if creating || body.contains_key("end") {
        fields.insert("originalEndTimeZone".into(), Value::from(ze_name));
    }
    if body.contains_key("location") && !body.contains_key("locations") {
        let loc = fields.get("location").cloned().unwrap_or(Value::Null);
        let has = loc
            .get("displayName")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        fields.insert(
            "locations".into(),
            if has { json!([loc]) } else { json!([]) },
        );
    } else if body.contains_key("locations") && !body.contains_key("location") {
        let first = fields.get("locations").and_then(|l| l.get(0)).cloned();
        if let Some(f) = first {
            fields.insert("location".into(), f);
        }
    }
    internal.insert("startUtc".into(), Value::from(su.to_rfc3339()));
    internal.insert("endUtc".into(), Value::from(eu.to_rfc3339()));
    Ok(())
}

// ------------------------------------------------------------ render

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html_to_text(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut tag = String::new();
    for c in s.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                let t = tag.to_ascii_lowercase();
                if t.starts_with("br") || t.starts_with("/div") || t.starts_with("/p") {
                    out.push_str("\r\n");
                }
            }
            _ if in_tag => tag.push(c),
            _ => out.push(c),
        }
    }
    let text = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let head_less = text.trim().to_string();
    head_less
}

fn text_to_html(s: &str) -> String {
    let lines: Vec<String> = s.lines().map(html_escape).collect();
    format!(
        "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n{}\r\n</body>\r\n</html>\r\n",
        lines.join("<br>\r\n")
    )
}

fn render_body(body: Option<&Value>, prefer: &Prefer) -> (Value, String) {
    let ct = body
        .and_then(|b| b.get("contentType"))
        .and_then(Value::as_str)
        .unwrap_or("text");
    let content = body
        .and_then(|b| b.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let text = if ct == "html" {
        html_to_text(content)
    } else {
        content.to_string()
    };
    let preview: String = text.chars().take(255).collect();
    let want = prefer.body_type.as_deref().unwrap_or("html");
    let rendered = match (want, ct) {
        ("text", _) => json!({"contentType": "text", "content": text}),
        (_, "html") => json!({"contentType": "html", "content": content}),
        _ => {
            json!({"contentType": "html", "content": if content.is_empty() { String::new() } else { text_to_html(content) }})
        }
    };
    (rendered, preview)
}

struct Owner {
    name: String,
    address: String,
}

fn owner(data: &Data, uid: &str) -> Owner {
    data.users
        .iter()
        .find(|u| u.id == uid)
        .map(|u| Owner {
            name: u.display_name.clone(),
            address: u.mail.clone().unwrap_or(u.user_principal_name.clone()),
        })
        .unwrap_or(Owner {
            name: String::new(),
            address: String::new(),
        })
}

/// Renders an event (or an occurrence of a series when `occ` is given).
fn render_event(
    item: &Item,
    occ: Option<&Occurrence>,
    prefer: &Prefer,
    own: &Owner,
) -> Map<String, Value> {
    let mut fields = item.fields.clone();
    let mut ty = if fields.get("recurrence").is_some_and(|r| !r.is_null()) {
        "seriesMaster"
    } else {
        "singleInstance"
    };
    let mut id = item.id.clone();
    let mut series_master = Value::Null;
    let (mut su, mut eu) = master_bounds(item).unwrap_or((item.created, item.created));
    let mut ical = item
        .internal
        .get("iCalUId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut change_key = item.change_key.clone();
    if let Some(o) = occ {
        id = occurrence_id(&item.id, o.date);
        series_master = Value::from(item.id.clone());
        ty = "occurrence";
        su = o.start;
        eu = o.end;
        ical = format!("{ical}{}", o.date.format("%Y%m%d"));
        fields.insert("recurrence".into(), Value::Null);
        if let Some(ex) = &o.exception {
            ty = "exception";
            if let Some(f) = ex.get("fields").and_then(Value::as_object) {
                fields.extend(f.clone());
            }
            if let Some(ck) = ex.get("changeKey").and_then(Value::as_str) {
                change_key = ck.to_string();
            }
        }
    }
    let all_day = fields
        .get("isAllDay")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (start, end) = if all_day {
        let zone = start_zone(item);
        let label = prefer
            .timezone
            .clone()
            .filter(|z| tz::resolve(z).is_some())
            .unwrap_or_else(|| "UTC".into());
        let sd = su.with_timezone(&zone).date_naive();
        let ed = eu.with_timezone(&zone).date_naive();
        (
            json!({"dateTime": tz::format_local(sd.and_time(chrono::NaiveTime::MIN)), "timeZone": label}),
            json!({"dateTime": tz::format_local(ed.and_time(chrono::NaiveTime::MIN)), "timeZone": label}),
        )
    } else {
        (
            render_instant(su, prefer.timezone.as_deref()),
            render_instant(eu, prefer.timezone.as_deref()),
        )
    };
    let (body, preview) = render_body(fields.get("body"), prefer);
    let empty_loc = json!({"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": {}, "coordinates": {}});
    let online = fields
        .get("isOnlineMeeting")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let get = |k: &str, d: Value| fields.get(k).cloned().filter(|v| !v.is_null()).unwrap_or(d);
    let mut o = Map::new();
    o.insert(
        "@odata.etag".into(),
        Value::from(format!("W/\"{change_key}\"")),
    );
    o.insert("id".into(), Value::from(id.clone()));
    o.insert(
        "createdDateTime".into(),
        Value::from(tz::format_utc_stamp(item.created)),
    );
    o.insert(
        "lastModifiedDateTime".into(),
        Value::from(tz::format_utc_stamp(item.modified)),
    );
    o.insert("changeKey".into(), Value::from(change_key));
    o.insert("categories".into(), get("categories", json!([])));
    o.insert("transactionId".into(), get("transactionId", Value::Null));
    o.insert(
        "originalStartTimeZone".into(),
        get("originalStartTimeZone", Value::from("UTC")),
    );
    o.insert(
        "originalEndTimeZone".into(),
        get("originalEndTimeZone", Value::from("UTC")),
    );
    o.insert("iCalUId".into(), Value::from(ical));
    o.insert(
        "reminderMinutesBeforeStart".into(),
        get("reminderMinutesBeforeStart", Value::from(15)),
    );
    o.insert(
        "isReminderOn".into(),
        get("isReminderOn", Value::Bool(true)),
    );
    o.insert("hasAttachments".into(), Value::Bool(false));
    o.insert("subject".into(), get("subject", Value::from("")));
    o.insert("bodyPreview".into(), Value::from(preview));
    o.insert(
        "importance".into(),
        get("importance", Value::from("normal")),
    );
    o.insert(
        "sensitivity".into(),
        get("sensitivity", Value::from("normal")),
    );
    o.insert("isAllDay".into(), Value::Bool(all_day));
    o.insert("isCancelled".into(), Value::Bool(false));
    o.insert("isOrganizer".into(), Value::Bool(true));
    o.insert(
        "responseRequested".into(),
        get("responseRequested", Value::Bool(true)),
    );
    o.insert("seriesMasterId".into(), series_master);
    o.insert("showAs".into(), get("showAs", Value::from("busy")));
    o.insert("type".into(), Value::from(ty));
    o.insert(
        "webLink".into(),
        Value::from(format!(
            "https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item",
            urlencoding::encode(&id)
        )),
    );
    o.insert("onlineMeetingUrl".into(), Value::Null);
    o.insert("isOnlineMeeting".into(), Value::Bool(online));
    o.insert(
        "onlineMeetingProvider".into(),
        get(
            "onlineMeetingProvider",
            Value::from(if online {
                "teamsForBusiness"
            } else {
                "unknown"
            }),
        ),
    );
    o.insert(
        "allowNewTimeProposals".into(),
        get("allowNewTimeProposals", Value::Bool(true)),
    );
    o.insert("isDraft".into(), Value::Bool(false));
    o.insert(
        "hideAttendees".into(),
        get("hideAttendees", Value::Bool(false)),
    );
    if occ.is_some() {
        o.insert(
            "originalStart".into(),
            Value::from(format!("{}Z", su.format("%Y-%m-%dT%H:%M:%S"))),
        );
    }
    o.insert(
        "responseStatus".into(),
        json!({"response": "organizer", "time": "0001-01-01T00:00:00Z"}),
    );
    o.insert("body".into(), body);
    o.insert("start".into(), start);
    o.insert("end".into(), end);
    o.insert("location".into(), get("location", empty_loc));
    o.insert("locations".into(), get("locations", json!([])));
    o.insert("recurrence".into(), get("recurrence", Value::Null));
    o.insert("attendees".into(), get("attendees", json!([])));
    o.insert(
        "organizer".into(),
        json!({"emailAddress": {"name": own.name, "address": own.address}}),
    );
    o.insert("onlineMeeting".into(), if online { json!({"joinUrl": format!("https://teams.microsoft.com/l/meetup-join/{}", urlencoding::encode(&id))}) } else { Value::Null });
    o
}

fn render_calendar(item: &Item, own: &Owner) -> Map<String, Value> {
    let default = item
        .fields
        .get("isDefaultCalendar")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut o = Map::new();
    o.insert("id".into(), Value::from(item.id.clone()));
    o.insert(
        "name".into(),
        item.fields.get("name").cloned().unwrap_or(Value::Null),
    );
    o.insert(
        "color".into(),
        item.fields
            .get("color")
            .cloned()
            .unwrap_or(Value::from("auto")),
    );
    o.insert(
        "hexColor".into(),
        item.fields
            .get("hexColor")
            .cloned()
            .unwrap_or(Value::from("")),
    );
    o.insert("isDefaultCalendar".into(), Value::Bool(default));
    o.insert("changeKey".into(), Value::from(item.change_key.clone()));
    o.insert("canShare".into(), Value::Bool(true));
    o.insert("canViewPrivateItems".into(), Value::Bool(true));
    o.insert("canEdit".into(), Value::Bool(true));
    o.insert(
        "allowedOnlineMeetingProviders".into(),
        json!(["teamsForBusiness"]),
    );
    o.insert(
        "defaultOnlineMeetingProvider".into(),
        Value::from("teamsForBusiness"),
    );
    o.insert("isTallyingResponses".into(), Value::Bool(true));
    o.insert("isRemovable".into(), Value::Bool(!default));
    o.insert(
        "owner".into(),
        json!({"name": own.name, "address": own.address}),
    );
    o
}

const CALENDAR_COLORS: &[&str] = &[
    "auto",
    "lightBlue",
    "lightGreen",
    "lightOrange",
    "lightGray",
    "lightYellow",
    "lightTeal",
    "lightPink",
    "lightBrown",
    "lightRed",
    "maxColor",
];

fn calendar_write(
    fields: &mut Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (k, v) in body {
        match k.as_str() {
            "name" => {
                let s = v.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                    ApiError::bad_request(
                        "ErrorInvalidParameter",
                        "The calendar name must not be empty.",
                    )
                })?;
                fields.insert(k.clone(), Value::from(s));
            }
            "color" => {
                fields.insert(k.clone(), want_enum("color", v, CALENDAR_COLORS)?);
            }
            "singleValueExtendedProperties"
            | "id"
            | "changeKey"
            | "owner"
            | "isDefaultCalendar"
            | "canEdit"
            | "canShare"
            | "canViewPrivateItems"
            | "hexColor"
            | "isRemovable"
            | "isTallyingResponses"
            | "allowedOnlineMeetingProviders"
            | "defaultOnlineMeetingProvider" => {}
            key if key.starts_with('@') => {}
            key => return Err(ApiError::unknown_property(key, "calendar")),
        }
    }
    Ok(())
}

// ------------------------------------------------------------ invitations

fn record_invitations(
    data: &mut Data,
    uid: &str,
    event_id: &str,
    subject: &str,
    kind: &str,
    to: &[Value],
    now: DateTime<Utc>,
) {
    let own = owner(data, uid);
    for a in to {
        let Some(addr) = a.pointer("/emailAddress/address").and_then(Value::as_str) else {
            continue;
        };
        let rec = json!({
            "kind": kind,
            "eventId": event_id,
            "subject": subject,
            "from": own.address,
            "to": addr,
            "sentDateTime": tz::format_utc_stamp(now),
        });
        if let Some(target) = data.find_user(addr).map(|u| u.id.clone()) {
            if let Some(mb) = data.mailboxes.get_mut(&target) {
                mb.inbox.push(json!({"meetingMessageType": kind, "subject": subject, "from": {"emailAddress": {"address": own.address}}, "eventId": event_id, "receivedDateTime": tz::format_utc_stamp(now)}));
            }
        }
        if let Some(mb) = data.mailboxes.get_mut(uid) {
            mb.invitations.push(rec);
        }
    }
}

// ------------------------------------------------------------ routing

fn seg(s: &str, want: &str) -> bool {
    s.eq_ignore_ascii_case(want) || s.eq_ignore_ascii_case(&format!("{want}()"))
}

pub(crate) fn route(data: &mut Data, ctx: &Ctx, uid: &str, rest: &[&str]) -> Result<Out, ApiError> {
    let base = if ctx
        .segs
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("me"))
    {
        "/me".to_string()
    } else {
        format!("/users/{uid}")
    };
    let default_cal = mailbox(data, uid)?.default_calendar.clone();
    let m = ctx.method.clone();
    match rest {
        [c] if seg(c, "calendars") => match m {
            Method::GET => {
                let own = owner(data, uid);
                let mb = mailbox(data, uid)?;
                let cals: Vec<&Item> = mb
                    .items
                    .iter()
                    .filter(|i| i.kind == Kind::Calendar)
                    .collect();
                let values = items::list_items(ctx, cals, &|i| render_calendar(i, &own), &|i| {
                    context(
                        ctx,
                        &format!(
                            "users('{uid}')/calendars('{}')/singleValueExtendedProperties",
                            i.id
                        ),
                    )
                })?;
                collection(
                    ctx,
                    &format!("users('{uid}')/calendars"),
                    &format!("{base}/calendars"),
                    values,
                )
            }
            Method::POST => {
                let own = owner(data, uid);
                let mb = mailbox(data, uid)?;
                let body = ctx.json_body()?;
                if !body.contains_key("name") {
                    return Err(ApiError::bad_request(
                        "ErrorInvalidParameter",
                        "The calendar name must not be empty.",
                    ));
                }
                let ext = odata::read_ext(body)?;
                let mut fields = Map::new();
                fields.insert("color".into(), Value::from("auto"));
                fields.insert("hexColor".into(), Value::from(""));
                calendar_write(&mut fields, body)?;
                let name = fields.get("name").cloned();
                if mb
                    .items
                    .iter()
                    .any(|i| i.kind == Kind::Calendar && i.fields.get("name") == name.as_ref())
                {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "ErrorFolderExists",
                        "A folder with the specified name already exists.",
                    ));
                }
                let mut map = BTreeMap::new();
                odata::store_ext(&mut map, ext);
                let id = mb.insert(Kind::Calendar, "", fields, map, ctx.now);
                let item = mb.get(&id).ok_or_else(ApiError::not_found)?;
                let mut obj = Map::new();
                obj.insert(
                    "@odata.id".into(),
                    Value::from(format!("{}/users('{uid}')/calendars('{id}')", ctx.base)),
                );
                obj.extend(render_calendar(item, &own));
                Ok(entity(
                    ctx,
                    StatusCode::CREATED,
                    &format!("users('{uid}')/calendars/$entity"),
                    obj,
                ))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        [c] if seg(c, "calendar") => calendar_item(data, ctx, uid, &default_cal),
        [c, id] if seg(c, "calendars") => calendar_item(data, ctx, uid, id),
        [c, e] if seg(c, "calendar") && seg(e, "events") => events_collection(
            data,
            ctx,
            uid,
            &default_cal,
            &format!("{base}/calendar/events"),
        ),
        [e] if seg(e, "events") => {
            events_collection(data, ctx, uid, &default_cal, &format!("{base}/events"))
        }
        [c, id, e] if seg(c, "calendars") && seg(e, "events") => {
            mailbox(data, uid)?
                .get_kind(id, Kind::Calendar)
                .ok_or_else(ApiError::not_found)?;
            events_collection(data, ctx, uid, id, &format!("{base}/calendars/{id}/events"))
        }
        [e, id] if seg(e, "events") => event_item(data, ctx, uid, None, id),
        [c, e, id] if seg(c, "calendar") && seg(e, "events") => {
            event_item(data, ctx, uid, Some(&default_cal), id)
        }
        [c, cid, e, id] if seg(c, "calendars") && seg(e, "events") => {
            mailbox(data, uid)?
                .get_kind(cid, Kind::Calendar)
                .ok_or_else(ApiError::not_found)?;
            event_item(data, ctx, uid, Some(cid), id)
        }
        [e, id, i] if seg(e, "events") && seg(i, "instances") => {
            only(&m, &[Method::GET])?;
            instances(data, ctx, uid, id, &format!("{base}/events/{id}/instances"))
        }
        [v] if seg(v, "calendarView") => {
            only(&m, &[Method::GET])?;
            calendar_view(
                data,
                ctx,
                uid,
                &default_cal,
                &format!("{base}/calendarView"),
            )
        }
        [c, v] if seg(c, "calendar") && seg(v, "calendarView") => {
            only(&m, &[Method::GET])?;
            calendar_view(
                data,
                ctx,
                uid,
                &default_cal,
                &format!("{base}/calendar/calendarView"),
            )
        }
        [c, id, v] if seg(c, "calendars") && seg(v, "calendarView") => {
            only(&m, &[Method::GET])?;
            mailbox(data, uid)?
                .get_kind(id, Kind::Calendar)
                .ok_or_else(ApiError::not_found)?;
            calendar_view(
                data,
                ctx,
                uid,
                id,
                &format!("{base}/calendars/{id}/calendarView"),
            )
        }
        [v, d] if seg(v, "calendarView") && seg(d, "delta") => {
            only(&m, &[Method::GET])?;
            event_delta(
                data,
                ctx,
                uid,
                &default_cal,
                &format!("{base}/calendarView/delta"),
            )
        }
        [c, id, v, d] if seg(c, "calendars") && seg(v, "calendarView") && seg(d, "delta") => {
            only(&m, &[Method::GET])?;
            mailbox(data, uid)?
                .get_kind(id, Kind::Calendar)
                .ok_or_else(ApiError::not_found)?;
            event_delta(
                data,
                ctx,
                uid,
                id,
                &format!("{base}/calendars/{id}/calendarView/delta"),
            )
        }
        _ => Err(ApiError::unsupported_segment(
            rest.last().copied().unwrap_or("events"),
        )),
    }
}

fn calendar_item(data: &mut Data, ctx: &Ctx, uid: &str, id: &str) -> Result<Out, ApiError> {
    let own = owner(data, uid);
    let mb = mailbox(data, uid)?;
    let item = mb
        .get_kind(id, Kind::Calendar)
        .ok_or_else(ApiError::not_found)?
        .clone();
    let frag = format!("users('{uid}')/calendars/$entity");
    match ctx.method {
        Method::GET => {
            let mut obj = render_calendar(&item, &own);
            if let Some(ids) = odata::expand_ext(ctx)? {
                odata::render_ext(
                    &mut obj,
                    &item.ext,
                    &ids,
                    context(
                        ctx,
                        &format!("users('{uid}')/calendars('{id}')/singleValueExtendedProperties"),
                    ),
                );
            }
            odata::apply_select(&mut obj, &odata::select(ctx));
            Ok(entity(ctx, StatusCode::OK, &frag, obj))
        }
        Method::PATCH => {
            let body = ctx.json_body()?;
            let ext = odata::read_ext(body)?;
            let mut fields = item.fields.clone();
            calendar_write(&mut fields, body)?;
            let it = mb.get_mut(id).ok_or_else(ApiError::not_found)?;
            it.fields = fields;
            odata::store_ext(&mut it.ext, ext);
            mb.touch(id, ctx.now);
            let item = mb.get(id).ok_or_else(ApiError::not_found)?;
            Ok(entity(
                ctx,
                StatusCode::OK,
                &frag,
                render_calendar(item, &own),
            ))
        }
        Method::DELETE => {
            if item.id == mb.default_calendar {
                return Err(ApiError::bad_request(
                    "ErrorInvalidRequest",
                    "The default calendar cannot be deleted.",
                ));
            }
            mb.remove_tree(id);
            Ok(Out::no_content())
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn apply_prefer_headers(mut out: Out, prefer: &Prefer) -> Out {
    for h in prefer.applied(true, true) {
        out = out.header("Preference-Applied", h);
    }
    out
}

fn events_collection(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    cal: &str,
    path: &str,
) -> Result<Out, ApiError> {
    let prefer = Prefer::from(ctx);
    let own = owner(data, uid);
    match ctx.method {
        Method::GET => {
            let mb = mailbox(data, uid)?;
            let evs: Vec<&Item> = mb
                .items
                .iter()
                .filter(|i| i.kind == Kind::Event && i.container == cal)
                .collect();
            let values =
                items::list_items(ctx, evs, &|i| render_event(i, None, &prefer, &own), &|i| {
                    context(
                        ctx,
                        &format!(
                            "users('{uid}')/events('{}')/singleValueExtendedProperties",
                            i.id
                        ),
                    )
                })?;
            Ok(apply_prefer_headers(
                collection(ctx, &format!("users('{uid}')/events"), path, values)?,
                &prefer,
            ))
        }
        Method::POST => {
            let body = ctx.json_body()?.clone();
            let ext = odata::read_ext(&body)?;
            let mb = mailbox(data, uid)?;
            // transactionId: a retried create returns the event created first.
            if let Some(tx) = body.get("transactionId").and_then(Value::as_str) {
                if let Some(existing) = mb.items.iter().find(|i| {
                    i.kind == Kind::Event
                        && i.fields.get("transactionId").and_then(Value::as_str) == Some(tx)
                }) {
                    let obj = render_event(existing, None, &prefer, &own);
                    return Ok(apply_prefer_headers(
                        entity(
                            ctx,
                            StatusCode::CREATED,
                            &format!("users('{uid}')/calendars('{cal}')/events/$entity"),
                            obj,
                        ),
                        &prefer,
                    ));
                }
            }
            let mut fields = Map::new();
            let mut internal = Map::new();
            event_write(&mut fields, &mut internal, &body, true, true)?;
            crate::extensions::validate_inline(&body)?;
            let mut map = BTreeMap::new();
            odata::store_ext(&mut map, ext);
            let id = mb.insert(Kind::Event, cal, fields, map, ctx.now);
            let ical = format!(
                "040000008200E00074C5B7101A82E00800000000{}",
                uuid::Uuid::new_v4().simple()
            )
            .to_uppercase();
            let item = mb.get_mut(&id).ok_or_else(ApiError::not_found)?;
            internal.insert("iCalUId".into(), Value::from(ical));
            item.internal = internal;
            crate::extensions::store_inline(item, &body)?;
            let item = item.clone();
            let to = item
                .fields
                .get("attendees")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let subject = item
                .fields
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            record_invitations(data, uid, &id, &subject, "meetingRequest", &to, ctx.now);
            let obj = render_event(&item, None, &prefer, &own);
            Ok(apply_prefer_headers(
                entity(
                    ctx,
                    StatusCode::CREATED,
                    &format!("users('{uid}')/calendars('{cal}')/events/$entity"),
                    obj,
                ),
                &prefer,
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn event_item(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    cal: Option<&str>,
    id: &str,
) -> Result<Out, ApiError> {
    if let Some((master, date)) = split_occurrence_id(id) {
        return occurrence_item(data, ctx, uid, cal, master, date);
    }
    let prefer = Prefer::from(ctx);
    let own = owner(data, uid);
    let mb = mailbox(data, uid)?;
    let item = mb
        .get_kind(id, Kind::Event)
        .filter(|i| cal.is_none_or(|c| i.container == c))
        .ok_or_else(ApiError::not_found)?
        .clone();
    let frag = format!("users('{uid}')/events/$entity");
    match ctx.method {
        Method::GET => {
            let mut obj = render_event(&item, None, &prefer, &own);
            odata::apply_select(&mut obj, &odata::select(ctx));
            crate::extensions::expand(ctx, &item, &mut obj);
            if let Some(ids) = odata::expand_ext(ctx)? {
                odata::render_ext(
                    &mut obj,
                    &item.ext,
                    &ids,
                    context(
                        ctx,
                        &format!("users('{uid}')/events('{id}')/singleValueExtendedProperties"),
                    ),
                );
            }
            Ok(apply_prefer_headers(
                entity(ctx, StatusCode::OK, &frag, obj),
                &prefer,
            ))
        }
        Method::PATCH => {
            check_if_match(ctx, &item)?;
            let body = ctx.json_body()?.clone();
            let ext = odata::read_ext(&body)?;
            let mut fields = item.fields.clone();
            let mut internal = item.internal.clone();
            event_write(&mut fields, &mut internal, &body, false, true)?;
            let before: Vec<String> = addresses(item.fields.get("attendees"));
            // Occurrences the change made disappear are reported as removed by
            // the next delta rounds (the series may have shrunk or stopped
            // recurring).
            let horizon = ctx.now.max(master_bounds(&item).map_or(ctx.now, |b| b.0))
                + Duration::days(MAX_WINDOW_DAYS);
            let mut after_item = item.clone();
            after_item.fields = fields.clone();
            after_item.internal = internal.clone();
            let after: Vec<NaiveDate> = occurrences(&after_item, horizon)
                .iter()
                .map(|o| o.date)
                .collect();
            let mut gone: Vec<Value> = internal
                .get("removedOccurrences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for o in occurrences(&item, horizon) {
                if !after.contains(&o.date) {
                    gone.push(Value::from(o.date.format("%Y%m%d").to_string()));
                }
            }
            // A date that is back in the series is no longer removed.
            gone.retain(|d| {
                d.as_str()
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y%m%d").ok())
                    .is_some_and(|d| !after.contains(&d))
            });
            gone.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            gone.dedup();
            internal.insert("removedOccurrences".into(), Value::Array(gone));
            let it = mb.get_mut(id).ok_or_else(ApiError::not_found)?;
            it.fields = fields;
            it.internal = internal;
            odata::store_ext(&mut it.ext, ext);
            mb.touch(id, ctx.now);
            let item = mb.get(id).ok_or_else(ApiError::not_found)?.clone();
            let subject = item
                .fields
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let all = item
                .fields
                .get("attendees")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let only_attendees = body.keys().all(|k| k == "attendees");
            let targets: Vec<Value> = all
                .into_iter()
                .filter(|a| {
                    let addr = a
                        .pointer("/emailAddress/address")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_lowercase();
                    !only_attendees || !before.contains(&addr)
                })
                .collect();
            let significant = body.keys().any(|k| {
                [
                    "start",
                    "end",
                    "subject",
                    "location",
                    "locations",
                    "body",
                    "recurrence",
                    "attendees",
                    "isAllDay",
                ]
                .contains(&k.as_str())
            });
            if significant {
                record_invitations(data, uid, id, &subject, "meetingRequest", &targets, ctx.now);
            }
            Ok(apply_prefer_headers(
                entity(
                    ctx,
                    StatusCode::OK,
                    &frag,
                    render_event(&item, None, &prefer, &own),
                ),
                &prefer,
            ))
        }
        Method::DELETE => {
            check_if_match(ctx, &item)?;
            mb.remove_tree(id);
            let to = item
                .fields
                .get("attendees")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let subject = item
                .fields
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            record_invitations(data, uid, id, &subject, "meetingCancelled", &to, ctx.now);
            Ok(Out::no_content())
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn addresses(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    x.pointer("/emailAddress/address")
                        .and_then(Value::as_str)
                        .map(str::to_lowercase)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn occurrence_item(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    cal: Option<&str>,
    master_id: &str,
    date: NaiveDate,
) -> Result<Out, ApiError> {
    let prefer = Prefer::from(ctx);
    let own = owner(data, uid);
    let mb = mailbox(data, uid)?;
    let master = mb
        .get_kind(master_id, Kind::Event)
        .filter(|i| cal.is_none_or(|c| i.container == c))
        .ok_or_else(ApiError::not_found)?
        .clone();
    let horizon =
        tz::to_utc(date.and_hms_opt(23, 59, 59).unwrap_or_default(), Tz::UTC) + Duration::days(366);
    let occs = occurrences(&master, horizon);
    let pos = occs
        .iter()
        .position(|o| o.date == date)
        .ok_or_else(ApiError::not_found)?;
    let key = date.format("%Y%m%d").to_string();
    let frag = format!("users('{uid}')/events/$entity");
    match ctx.method {
        Method::GET => {
            let mut obj = render_event(&master, Some(&occs[pos]), &prefer, &own);
            odata::apply_select(&mut obj, &odata::select(ctx));
            Ok(apply_prefer_headers(
                entity(ctx, StatusCode::OK, &frag, obj),
                &prefer,
            ))
        }
        Method::PATCH => {
            let body = ctx.json_body()?.clone();
            let occ = &occs[pos];
            let zone = start_zone(&master);
            let zone_name = master
                .fields
                .get("start")
                .and_then(|s| s.get("timeZone"))
                .and_then(Value::as_str)
                .unwrap_or("UTC")
                .to_string();
            let mut fields = master.fields.clone();
            if let Some(f) = occ
                .exception
                .as_ref()
                .and_then(|e| e.get("fields"))
                .and_then(Value::as_object)
            {
                fields.extend(f.clone());
            }
            fields.insert("start".into(), json!({"dateTime": tz::format_local(occ.start.with_timezone(&zone).naive_local()), "timeZone": zone_name}));
            fields.insert("end".into(), json!({"dateTime": tz::format_local(occ.end.with_timezone(&zone).naive_local()), "timeZone": zone_name}));
            fields.remove("recurrence");
            let mut internal = Map::new();
            event_write(&mut fields, &mut internal, &body, false, false)?;
            let ns = internal
                .get("startUtc")
                .and_then(Value::as_str)
                .and_then(parse_utc)
                .unwrap_or(occ.start);
            // An occurrence cannot move onto or past the day of its neighbours.
            let day = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
            if (pos > 0 && day(ns) <= day(occs[pos - 1].start))
                || (pos + 1 < occs.len() && day(ns) >= day(occs[pos + 1].start))
            {
                return Err(ApiError::bad_request("ErrorOccurrenceCrossingBoundary", "An occurrence cannot overlap or cross the boundary of the previous or next occurrence."));
            }
            let mut changed = Map::new();
            for k in body.keys() {
                if let Some(v) = fields.get(k) {
                    changed.insert(k.clone(), v.clone());
                }
            }
            if let Some(prev) = occ
                .exception
                .as_ref()
                .and_then(|e| e.get("fields"))
                .and_then(Value::as_object)
            {
                for (k, v) in prev {
                    changed.entry(k.clone()).or_insert(v.clone());
                }
            }
            let ex = json!({"fields": changed, "startUtc": internal.get("startUtc"), "endUtc": internal.get("endUtc"), "changeKey": crate::store::new_change_key()});
            let it = mb.get_mut(master_id).ok_or_else(ApiError::not_found)?;
            let exs = it.internal.entry("exceptions").or_insert(json!({}));
            if let Some(o) = exs.as_object_mut() {
                o.insert(key.clone(), ex);
            }
            mb.touch(master_id, ctx.now);
            let master = mb.get(master_id).ok_or_else(ApiError::not_found)?.clone();
            let occs = occurrences(&master, horizon + Duration::days(400));
            let occ = occs
                .iter()
                .find(|o| o.date == date)
                .ok_or_else(ApiError::not_found)?;
            Ok(apply_prefer_headers(
                entity(
                    ctx,
                    StatusCode::OK,
                    &frag,
                    render_event(&master, Some(occ), &prefer, &own),
                ),
                &prefer,
            ))
        }
        Method::DELETE => {
            let it = mb.get_mut(master_id).ok_or_else(ApiError::not_found)?;
            let c = it.internal.entry("cancelled").or_insert(json!([]));
            if let Some(a) = c.as_array_mut() {
                a.push(Value::from(key.clone()));
            }
            if let Some(e) = it
                .internal
                .get_mut("exceptions")
                .and_then(Value::as_object_mut)
            {
                e.remove(&key);
            }
            mb.touch(master_id, ctx.now);
            Ok(Out::no_content())
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Parses and checks the `startDateTime`/`endDateTime` window.
fn window(ctx: &Ctx) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let missing = || {
        ApiError::bad_request("ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
    };
    let s = ctx.q("startDateTime").ok_or_else(missing)?;
    let e = ctx.q("endDateTime").ok_or_else(missing)?;
    let s = tz::parse_bound(s).ok_or_else(|| {
        ApiError::bad_request(
            "ErrorInvalidParameter",
            format!("The value '{s}' of parameter 'StartDateTime' is invalid."),
        )
    })?;
    let e = tz::parse_bound(e).ok_or_else(|| {
        ApiError::bad_request(
            "ErrorInvalidParameter",
            format!("The value '{e}' of parameter 'EndDateTime' is invalid."),
        )
    })?;
    if e < s {
        return Err(ApiError::bad_request(
            "ErrorInvalidParameter",
            "The parameter 'EndDateTime' must be later than 'StartDateTime'.",
        ));
    }
    if !(1601..=4500).contains(&s.year()) || !(1601..=4500).contains(&e.year()) {
        return Err(ApiError::bad_request(
            "ErrorInvalidParameter",
            "The time window is out of the supported range.",
        ));
    }
    if (e - s).num_days() > MAX_WINDOW_DAYS {
        return Err(ApiError::bad_request("ErrorInvalidRequest", "The maximum time span allowed for this query is exceeded. Maximum number of days: 1825"));
    }
    Ok((s, e))
}

fn overlaps(s: DateTime<Utc>, e: DateTime<Utc>, ws: DateTime<Utc>, we: DateTime<Utc>) -> bool {
    s < we && (e > ws || (s == e && s >= ws))
}

/// Instances (single events, occurrences, exceptions) of one event item in a window.
fn instances_of(
    item: &Item,
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
    prefer: &Prefer,
    own: &Owner,
) -> Vec<(DateTime<Utc>, Map<String, Value>)> {
    if item.fields.get("recurrence").is_some_and(|r| !r.is_null()) {
        occurrences(item, we)
            .iter()
            .filter(|o| overlaps(o.start, o.end, ws, we))
            .map(|o| (o.start, render_event(item, Some(o), prefer, own)))
            .collect()
    } else {
        match master_bounds(item) {
            Some((s, e)) if overlaps(s, e, ws, we) => {
                vec![(s, render_event(item, None, prefer, own))]
            }
            _ => vec![],
        }
    }
}

fn calendar_view(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    cal: &str,
    path: &str,
) -> Result<Out, ApiError> {
    let (ws, we) = window(ctx)?;
    let prefer = Prefer::from(ctx);
    let own = owner(data, uid);
    let mb = mailbox(data, uid)?;
    let mut all: Vec<(DateTime<Utc>, Map<String, Value>)> = mb
        .items
        .iter()
        .filter(|i| i.kind == Kind::Event && i.container == cal)
        .flat_map(|i| instances_of(i, ws, we, &prefer, &own))
        .collect();
    all.sort_by_key(|(s, _)| *s);
    let select = odata::select(ctx);
    let values = all
        .into_iter()
        .map(|(_, mut o)| {
            odata::apply_select(&mut o, &select);
            Value::Object(o)
        })
        .collect();
    Ok(apply_prefer_headers(
        collection(ctx, &format!("users('{uid}')/calendarView"), path, values)?,
        &prefer,
    ))
}

fn instances(data: &mut Data, ctx: &Ctx, uid: &str, id: &str, path: &str) -> Result<Out, ApiError> {
    let (ws, we) = window(ctx)?;
    let prefer = Prefer::from(ctx);
    let own = owner(data, uid);
    let mb = mailbox(data, uid)?;
    let item = mb
        .get_kind(id, Kind::Event)
        .ok_or_else(ApiError::not_found)?;
    let values = instances_of(item, ws, we, &prefer, &own)
        .into_iter()
        .map(|(_, o)| Value::Object(o))
        .collect();
    Ok(apply_prefer_headers(
        collection(
            ctx,
            &format!("users('{uid}')/events('{id}')/instances"),
            path,
            values,
        )?,
        &prefer,
    ))
}

/// calendarView delta (event-delta.md): occurrences and exceptions in the
/// window, `@removed` for deletions and for changes outside the window.
fn event_delta(
    data: &mut Data,
    ctx: &Ctx,
    uid: &str,
    cal: &str,
    path: &str,
) -> Result<Out, ApiError> {
    if ctx.q("$expand").is_some() {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ErrorInternalServerError",
            "Value cannot be null.\r\nParameter name: type",
        ));
    }
    for q in ["$select", "$filter", "$orderby", "$search"] {
        if ctx.q(q).is_some() {
            return Err(ApiError::bad_request("ErrorInvalidUrlQuery", format!("The following parameters are not supported with change tracking over the 'CalendarView' resource: '{q}'.")));
        }
    }
    let prefer = Prefer::from(ctx);
    let own = owner(data, uid);
    let mb: &Mailbox = mailbox(data, uid)?;
    let mut state = items::delta_state(mb, ctx, &format!("calendarView:{cal}"), &prefer)?;
    let (ws, we) = match &state.window {
        Some((s, e)) => (
            parse_utc(s).ok_or_else(ApiError::not_found)?,
            parse_utc(e).ok_or_else(ApiError::not_found)?,
        ),
        None => {
            let w = window(ctx)?;
            state.window = Some((w.0.to_rfc3339(), w.1.to_rfc3339()));
            w
        }
    };
    let upto = state.upto.unwrap_or(mb.seq);
    let since = state.since;
    let removed = |id: String| json!({"@odata.type": "#microsoft.graph.event", "id": id, "@removed": {"reason": "deleted"}});
    let typed = |o: Map<String, Value>| {
        let mut m = Map::new();
        m.insert("@odata.type".into(), Value::from("#microsoft.graph.event"));
        m.extend(o);
        Value::Object(m)
    };
    /// A change waiting to be rendered (only the page is rendered).
    enum EvChange<'a> {
        Single(&'a Item),
        Occ(&'a Item, Occurrence),
        Removed(String),
    }
    let mut changes: Vec<(u64, EvChange)> = Vec::new();
    for i in mb
        .items
        .iter()
        .filter(|i| i.kind == Kind::Event && i.container == cal && i.seq > since && i.seq <= upto)
    {
        let recurring = i.fields.get("recurrence").is_some_and(|r| !r.is_null());
        if recurring {
            for o in occurrences(i, we)
                .into_iter()
                .filter(|o| overlaps(o.start, o.end, ws, we))
            {
                changes.push((i.seq, EvChange::Occ(i, o)));
            }
            if since > 0 {
                // The series id itself is never an instance: drop it in case it was one.
                changes.push((i.seq, EvChange::Removed(i.id.clone())));
                let gone = i
                    .internal
                    .get("removedOccurrences")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten();
                for d in i
                    .internal
                    .get("cancelled")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .chain(gone)
                {
                    if let Some(date) = d
                        .as_str()
                        .and_then(|s| NaiveDate::parse_from_str(s, "%Y%m%d").ok())
                    {
                        changes.push((i.seq, EvChange::Removed(occurrence_id(&i.id, date))));
                    }
                }
            }
        } else {
            match master_bounds(i) {
                Some((s, e)) if overlaps(s, e, ws, we) => {
                    changes.push((i.seq, EvChange::Single(i)))
                }
                // Changed but outside the window: reported as removed (event-delta.md).
                _ if since > 0 => changes.push((i.seq, EvChange::Removed(i.id.clone()))),
                _ => {}
            }
            // Occurrences of a former series.
            if since > 0 {
                for d in i
                    .internal
                    .get("removedOccurrences")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(date) = d
                        .as_str()
                        .and_then(|s| NaiveDate::parse_from_str(s, "%Y%m%d").ok())
                    {
                        changes.push((i.seq, EvChange::Removed(occurrence_id(&i.id, date))));
                    }
                }
            }
        }
    }
    if since > 0 {
        for t in mb.tombstones.iter().filter(|t| {
            t.kind == Kind::Event && t.container == cal && t.seq > since && t.seq <= upto
        }) {
            match &t.prior {
                Some(p) if p.fields.get("recurrence").is_some_and(|r| !r.is_null()) => {
                    for o in occurrences(p, we)
                        .iter()
                        .filter(|o| overlaps(o.start, o.end, ws, we))
                    {
                        changes.push((t.seq, EvChange::Removed(occurrence_id(&p.id, o.date))));
                    }
                }
                _ => changes.push((t.seq, EvChange::Removed(t.id.clone()))),
            }
        }
        // Deleting the calendar itself is reported by 404 on the next call.
    }
    changes.sort_by_key(|(s, _)| *s);
    let render_change = |(_, c): (u64, EvChange)| match c {
        EvChange::Single(i) => typed(render_event(i, None, &prefer, &own)),
        EvChange::Occ(i, o) => typed(render_event(i, Some(&o), &prefer, &own)),
        EvChange::Removed(id) => removed(id),
    };
    let out = items::finish_delta(
        ctx,
        state,
        upto,
        changes,
        render_change,
        path,
        "Collection(event)",
        100,
    )?;
    Ok(apply_prefer_headers(out, &prefer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::etag;

    #[test]
    fn weekly_pattern_is_filled_in_and_expands() {
        let rec = json!({"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
            "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"}});
        let start = json!({"dateTime": "2017-09-04T12:00:00", "timeZone": "Pacific Standard Time"});
        let n = normalize_recurrence(&rec, Some(&start), Some("Pacific Standard Time")).unwrap();
        assert_eq!(
            n["pattern"],
            json!({"type":"weekly","interval":1,"month":0,"dayOfMonth":0,"daysOfWeek":["monday"],"firstDayOfWeek":"sunday","index":"first"})
        );
        assert_eq!(n["range"]["numberOfOccurrences"], 0);
        let dates = series_dates(&n, NaiveDate::from_ymd_opt(2018, 1, 31).unwrap());
        assert_eq!(dates.len(), 17);
        assert_eq!(dates[0], NaiveDate::from_ymd_opt(2017, 9, 4).unwrap());
    }

    #[test]
    fn relative_monthly_last_friday() {
        let rec = json!({"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
            "range": {"type": "numbered", "startDate": "2024-01-26", "numberOfOccurrences": 3}});
        let n = normalize_recurrence(&rec, None, None).unwrap();
        let d = series_dates(&n, NaiveDate::from_ymd_opt(2030, 1, 1).unwrap());
        let s: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(s, vec!["2024-01-26", "2024-02-23", "2024-03-29"]);
    }

    #[test]
    fn missing_days_for_weekly_is_rejected() {
        let rec = json!({"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd", "startDate": "2024-01-01"}});
        assert!(normalize_recurrence(&rec, None, None).is_err());
    }

    #[test]
    fn item_etag_uses_change_key() {
        let mut mb = Mailbox::default();
        let id = mb.insert(Kind::Event, "c", Map::new(), BTreeMap::new(), Utc::now());
        let item = mb.get(&id).unwrap();
        assert_eq!(etag(item), format!("W/\"{}\"", item.change_key));
    }
}
