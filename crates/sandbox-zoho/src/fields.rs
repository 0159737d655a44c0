//! Standard field metadata of Contacts, Events and Tasks, write validation against it, and the
//! conversion of stored values to Zoho's JSON output (date-times in the viewer's time zone).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use crate::model::{FieldDef, Org};

pub const TASK_STATUS: &[&str] = &[
    "Not Started",
    "Deferred",
    "In Progress",
    "Completed",
    "Waiting for input",
];
pub const TASK_PRIORITY: &[&str] = &["Highest", "High", "Normal", "Low", "Lowest"];
pub const SALUTATION: &[&str] = &["-None-", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof."];
pub const LEAD_SOURCE: &[&str] = &[
    "-None-",
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Online Store",
    "Partner",
    "Public Relations",
    "Sales Email Alias",
    "Seminar Partner",
    "Trade Show",
    "Web Download",
    "Web Research",
    "Chat",
];

/// (api_name, label, data_type, length, read_only, mandatory, picklist, lookup)
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    u32,
    bool,
    bool,
    &'static [&'static str],
    Option<&'static str>,
);

const NONE: &[&str] = &[];

const COMMON_SYSTEM: &[Spec] = &[
    (
        "Owner",
        "Owner",
        "ownerlookup",
        120,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Created_By",
        "Created By",
        "ownerlookup",
        120,
        true,
        false,
        NONE,
        None,
    ),
    (
        "Modified_By",
        "Modified By",
        "ownerlookup",
        120,
        true,
        false,
        NONE,
        None,
    ),
    (
        "Created_Time",
        "Created Time",
        "datetime",
        120,
        true,
        false,
        NONE,
        None,
    ),
    (
        "Modified_Time",
        "Modified Time",
        "datetime",
        120,
        true,
        false,
        NONE,
        None,
    ),
    ("Tag", "Tag", "text", 2000, true, false, NONE, None),
];

const CONTACTS: &[Spec] = &[
    (
        "Salutation",
        "Salutation",
        "picklist",
        120,
        false,
        false,
        SALUTATION,
        None,
    ),
    (
        "First_Name",
        "First Name",
        "text",
        40,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Last_Name",
        "Last Name",
        "text",
        80,
        false,
        true,
        NONE,
        None,
    ),
    (
        "Full_Name",
        "Contact Name",
        "text",
        255,
        true,
        false,
        NONE,
        None,
    ),
    ("Email", "Email", "email", 100, false, false, NONE, None),
    (
        "Secondary_Email",
        "Secondary Email",
        "email",
        100,
        false,
        false,
        NONE,
        None,
    ),
    ("Phone", "Phone", "phone", 30, false, false, NONE, None),
    ("Mobile", "Mobile", "phone", 30, false, false, NONE, None),
    (
        "Home_Phone",
        "Home Phone",
        "phone",
        30,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Other_Phone",
        "Other Phone",
        "phone",
        30,
        false,
        false,
        NONE,
        None,
    ),
    ("Fax", "Fax", "phone", 30, false, false, NONE, None),
    (
        "Asst_Phone",
        "Asst Phone",
        "phone",
        30,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Assistant",
        "Assistant",
        "text",
        40,
        false,
        false,
        NONE,
        None,
    ),
    ("Title", "Title", "text", 100, false, false, NONE, None),
    (
        "Department",
        "Department",
        "text",
        30,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Account_Name",
        "Account Name",
        "lookup",
        120,
        false,
        false,
        NONE,
        Some("Accounts"),
    ),
    (
        "Reporting_To",
        "Reporting To",
        "lookup",
        120,
        false,
        false,
        NONE,
        Some("Contacts"),
    ),
    (
        "Lead_Source",
        "Lead Source",
        "picklist",
        120,
        false,
        false,
        LEAD_SOURCE,
        None,
    ),
    (
        "Date_of_Birth",
        "Date of Birth",
        "date",
        20,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Mailing_Street",
        "Mailing Street",
        "text",
        250,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Mailing_City",
        "Mailing City",
        "text",
        100,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Mailing_State",
        "Mailing State",
        "text",
        100,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Mailing_Zip",
        "Mailing Zip",
        "text",
        30,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Mailing_Country",
        "Mailing Country",
        "text",
        100,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Other_Street",
        "Other Street",
        "text",
        250,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Other_City",
        "Other City",
        "text",
        100,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Other_State",
        "Other State",
        "text",
        100,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Other_Zip",
        "Other Zip",
        "text",
        30,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Other_Country",
        "Other Country",
        "text",
        100,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Description",
        "Description",
        "textarea",
        32000,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Email_Opt_Out",
        "Email Opt Out",
        "boolean",
        5,
        false,
        false,
        NONE,
        None,
    ),
    ("Skype_ID", "Skype ID", "text", 50, false, false, NONE, None),
    ("Twitter", "Twitter", "text", 50, false, false, NONE, None),
    (
        "Last_Activity_Time",
        "Last Activity Time",
        "datetime",
        120,
        true,
        false,
        NONE,
        None,
    ),
];

const EVENTS: &[Spec] = &[
    ("Event_Title", "Title", "text", 255, false, true, NONE, None),
    (
        "Start_DateTime",
        "From",
        "datetime",
        120,
        false,
        true,
        NONE,
        None,
    ),
    (
        "End_DateTime",
        "To",
        "datetime",
        120,
        false,
        true,
        NONE,
        None,
    ),
    ("All_day", "All day", "boolean", 5, false, false, NONE, None),
    ("Venue", "Location", "text", 255, false, false, NONE, None),
    (
        "Description",
        "Description",
        "textarea",
        32000,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Participants",
        "Participants",
        "participants",
        120,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Who_Id",
        "Contact Name",
        "lookup",
        120,
        false,
        false,
        NONE,
        Some("Contacts"),
    ),
    (
        "Remind_At",
        "Reminder",
        "datetime",
        120,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Recurring_Activity",
        "Repeat",
        "RRULE",
        120,
        false,
        false,
        NONE,
        None,
    ),
];

const TASKS: &[Spec] = &[
    ("Subject", "Subject", "text", 255, false, true, NONE, None),
    ("Due_Date", "Due Date", "date", 20, false, false, NONE, None),
    (
        "Status",
        "Status",
        "picklist",
        120,
        false,
        false,
        TASK_STATUS,
        None,
    ),
    (
        "Priority",
        "Priority",
        "picklist",
        120,
        false,
        false,
        TASK_PRIORITY,
        None,
    ),
    (
        "Description",
        "Description",
        "textarea",
        32000,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Who_Id",
        "Contact Name",
        "lookup",
        120,
        false,
        false,
        NONE,
        Some("Contacts"),
    ),
    (
        "Remind_At",
        "Reminder",
        "ALARM",
        120,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Recurring_Activity",
        "Repeat",
        "RRULE",
        120,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Send_Notification_Email",
        "Send Notification Email",
        "boolean",
        5,
        false,
        false,
        NONE,
        None,
    ),
    (
        "Closed_Time",
        "Closed Time",
        "datetime",
        120,
        true,
        false,
        NONE,
        None,
    ),
];

/// The standard fields of `module`, with ids derived from `id_base`.
pub fn standard_fields(module: &str, id_base: u64) -> Vec<FieldDef> {
    let specific = match module {
        "Contacts" => CONTACTS,
        "Events" => EVENTS,
        _ => TASKS,
    };
    specific
        .iter()
        .chain(COMMON_SYSTEM.iter())
        .enumerate()
        .map(|(i, s)| FieldDef {
            id: (id_base + i as u64).to_string(),
            api_name: s.0.into(),
            field_label: s.1.into(),
            data_type: s.2.into(),
            length: s.3,
            read_only: s.4,
            system_mandatory: s.5,
            custom_field: false,
            pick_list_values: s.6.iter().map(|v| v.to_string()).collect(),
            lookup_module: s.7.map(str::to_string),
        })
        .collect()
}

/// Data types a custom field may have (control API).
pub const CUSTOM_TYPES: &[&str] = &[
    "text",
    "textarea",
    "email",
    "phone",
    "picklist",
    "multiselectpicklist",
    "date",
    "datetime",
    "boolean",
    "integer",
    "double",
    "website",
];

/// JSON metadata of a field as `/settings/fields` returns it.
pub fn field_json(module: &str, f: &FieldDef) -> Value {
    let json_type = match f.data_type.as_str() {
        "boolean" => "boolean",
        "integer" | "bigint" => "integer",
        "double" | "currency" => "double",
        "lookup" | "ownerlookup" | "ALARM" | "RRULE" => "jsonobject",
        "multiselectpicklist" | "participants" => "jsonarray",
        _ => "string",
    };
    let picks: Vec<Value> = f
        .pick_list_values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({"display_value": v, "actual_value": v, "id": format!("{}{:03}", f.id, i + 1),
                   "sequence_number": i + 1, "type": "used", "colour_code": null})
        })
        .collect();
    let lookup = match &f.lookup_module {
        Some(m) => json!({"module": {"api_name": m, "id": null}, "display_label": f.field_label,
                          "api_name": f.api_name, "id": null}),
        None => json!({}),
    };
    json!({
        "id": f.id,
        "api_name": f.api_name,
        "field_label": f.field_label,
        "display_label": f.field_label,
        "data_type": f.data_type,
        "json_type": json_type,
        "length": f.length,
        "read_only": f.read_only,
        "field_read_only": f.read_only,
        "system_mandatory": f.system_mandatory,
        "custom_field": f.custom_field,
        "visible": true,
        "created_source": if f.custom_field { "crm" } else { "default" },
        "pick_list_values": picks,
        "lookup": lookup,
        "view_type": {"view": true, "edit": !f.read_only, "create": !f.read_only, "quick_create": f.system_mandatory},
        "operation_type": {"web_create": !f.read_only, "web_update": !f.read_only,
                           "api_create": !f.read_only, "api_update": !f.read_only},
        "unique": {},
        "crypt": null,
        "decimal_place": if f.data_type == "double" { json!(2) } else { Value::Null },
        "module": module,
    })
}

/// A per-record validation error (one item of `data[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    pub code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
}

impl RecordError {
    pub fn new(code: &'static str, message: &str, details: Value) -> Self {
        RecordError {
            code,
            message: message.to_string(),
            details: details.as_object().cloned().unwrap_or_default(),
        }
    }
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "details": self.details, "message": self.message, "status": "error"})
    }
}

fn invalid(f: &FieldDef, path: &str, expected: &str) -> RecordError {
    RecordError::new(
        "INVALID_DATA",
        "invalid data",
        json!({"expected_data_type": expected, "api_name": f.api_name, "json_path": path}),
    )
}

/// Parse a Zoho date-time input: ISO 8601 with an offset (`2026-11-25T10:00:00+09:00`).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::<FixedOffset>::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Format an instant as Zoho does: ISO 8601 with the offset of `tz`, second precision.
pub fn format_datetime(t: DateTime<Utc>, tz: &str) -> String {
    match tz.parse::<Tz>() {
        Ok(zone) => t
            .with_timezone(&zone)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
    }
}

/// Validate the `RRULE` string of `Recurring_Activity` in Zoho's layout
/// (`FREQ=DAILY;INTERVAL=10;UNTIL=2022-08-14;DTSTART=2022-07-03`).
pub fn validate_rrule(rule: &str) -> Result<(), String> {
    let mut freq = None;
    let mut dtstart = false;
    for part in rule.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("malformed RRULE part `{part}`"))?;
        match k {
            "FREQ" => {
                if !["DAILY", "WEEKLY", "MONTHLY", "YEARLY"].contains(&v) {
                    return Err(format!("unsupported FREQ `{v}`"));
                }
                freq = Some(v);
            }
            "INTERVAL" | "COUNT" | "BYSETPOS" => {
                let n: u32 = v.parse().map_err(|_| format!("{k} must be a number"))?;
                if n == 0 || (k == "INTERVAL" && n > 99) {
                    return Err(format!("{k} out of range"));
                }
            }
            "UNTIL" | "DTSTART" => {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| format!("{k} must be a date yyyy-MM-dd"))?;
                if k == "DTSTART" {
                    dtstart = true;
                }
            }
            "BYDAY" => {
                for d in v.split(',') {
                    let day = d.trim_start_matches(|c: char| c == '-' || c.is_ascii_digit());
                    if !["MO", "TU", "WE", "TH", "FR", "SA", "SU"].contains(&day) {
                        return Err(format!("bad BYDAY `{d}`"));
                    }
                }
            }
            "BYMONTHDAY" | "BYMONTH" | "WKST" => {}
            _ => return Err(format!("unknown RRULE key `{k}`")),
        }
    }
    if freq.is_none() {
        return Err("FREQ is missing".into());
    }
    if !dtstart {
        return Err("DTSTART is missing".into());
    }
    Ok(())
}

/// Validate the Tasks `Remind_At` ALARM object
/// (`{"ALARM":"FREQ=NONE;ACTION=EMAIL|POPUP|EMAILANDPOPUP;TRIGGER=DATE-TIME:…"}`).
pub fn validate_alarm(v: &Value) -> Result<(), String> {
    let alarm = v
        .get("ALARM")
        .and_then(Value::as_str)
        .ok_or("ALARM string missing")?;
    let mut action = false;
    let mut trigger = false;
    for part in alarm.split(';') {
        match part.split_once('=') {
            Some(("FREQ", _)) => {}
            Some(("ACTION", a)) => {
                if !["EMAIL", "POPUP", "EMAILANDPOPUP"].contains(&a) {
                    return Err(format!("bad ACTION `{a}`"));
                }
                action = true;
            }
            Some(("TRIGGER", t)) => {
                let ok = match t.strip_prefix("DATE-TIME:") {
                    Some(dt) => parse_datetime(dt).is_some(),
                    None => t.starts_with("-P") || t.starts_with("P"),
                };
                if !ok {
                    return Err(format!("bad TRIGGER `{t}`"));
                }
                trigger = true;
            }
            _ => return Err(format!("malformed ALARM part `{part}`")),
        }
    }
    if !(action && trigger) {
        return Err("ACTION and TRIGGER are required".into());
    }
    Ok(())
}

/// Context for resolving references while validating one record.
pub struct Refs<'a> {
    pub org: &'a Org,
    pub module: &'a str,
}

/// Validate one input value for field `f` and return its storage form.
/// `path` is the JSON path used in error details (`$.data[0].Email`).
pub fn validate_value(
    refs: &Refs<'_>,
    f: &FieldDef,
    v: &Value,
    path: &str,
) -> Result<Value, RecordError> {
    if v.is_null() {
        if f.system_mandatory {
            return Err(RecordError::new(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                json!({"api_name": f.api_name, "json_path": path}),
            ));
        }
        return Ok(Value::Null);
    }
    let too_long = |len: usize| {
        RecordError::new(
            "INVALID_DATA",
            "invalid data",
            json!({"maximum_length": f.length, "api_name": f.api_name, "json_path": path}),
        )
        .with_if(len > f.length as usize)
    };
    match f.data_type.as_str() {
        "text" | "textarea" | "phone" | "website" => {
            let s = v.as_str().ok_or_else(|| invalid(f, path, "string"))?;
            if let Some(e) = too_long(s.chars().count()) {
                return Err(e);
            }
            if f.system_mandatory && s.trim().is_empty() {
                return Err(RecordError::new(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": f.api_name, "json_path": path}),
                ));
            }
            if f.data_type == "phone"
                && !s
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().x#*ext".contains(c))
            {
                return Err(invalid(f, path, "phone"));
            }
            Ok(Value::String(s.to_string()))
        }
        "email" => {
            let s = v.as_str().ok_or_else(|| invalid(f, path, "email"))?;
            if let Some(e) = too_long(s.chars().count()) {
                return Err(e);
            }
            let valid = s.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
            }) && !s.contains(char::is_whitespace);
            if s.is_empty() {
                return Ok(Value::Null);
            }
            if !valid {
                return Err(invalid(f, path, "email"));
            }
            Ok(Value::String(s.to_string()))
        }
        "picklist" => {
            let s = v.as_str().ok_or_else(|| invalid(f, path, "picklist"))?;
            match f
                .pick_list_values
                .iter()
                .find(|p| p.eq_ignore_ascii_case(s))
            {
                Some(p) => Ok(Value::String(p.clone())),
                None => Err(invalid(f, path, "picklist")),
            }
        }
        "multiselectpicklist" => {
            let arr = v.as_array().ok_or_else(|| invalid(f, path, "jsonarray"))?;
            let mut out = Vec::new();
            for item in arr {
                let s = item
                    .as_str()
                    .ok_or_else(|| invalid(f, path, "multiselectpicklist"))?;
                match f
                    .pick_list_values
                    .iter()
                    .find(|p| p.eq_ignore_ascii_case(s))
                {
                    Some(p) => out.push(Value::String(p.clone())),
                    None => return Err(invalid(f, path, "multiselectpicklist")),
                }
            }
            Ok(Value::Array(out))
        }
        "date" => {
            let s = v.as_str().ok_or_else(|| invalid(f, path, "date"))?;
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| invalid(f, path, "date"))?;
            Ok(Value::String(s.to_string()))
        }
        "datetime" => {
            let s = v.as_str().ok_or_else(|| invalid(f, path, "datetime"))?;
            let t = parse_datetime(s).ok_or_else(|| invalid(f, path, "datetime"))?;
            Ok(Value::String(t.to_rfc3339()))
        }
        "boolean" => v
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| invalid(f, path, "boolean")),
        "integer" => {
            let n = v.as_i64().ok_or_else(|| invalid(f, path, "integer"))?;
            if n.unsigned_abs() >= 10u64.pow(f.length.min(18)) {
                return Err(RecordError::new(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"maximum_length": f.length, "api_name": f.api_name, "json_path": path}),
                ));
            }
            Ok(json!(n))
        }
        "double" => v
            .as_f64()
            .map(|n| json!(n))
            .ok_or_else(|| invalid(f, path, "double")),
        "ownerlookup" => {
            let id = lookup_id(v).ok_or_else(|| invalid(f, path, "jsonobject"))?;
            match refs.org.user(&id) {
                Some(u) if u.status == "active" => Ok(json!({"id": id})),
                _ => Err(RecordError::new(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"expected_data_type": "ownerlookup", "api_name": f.api_name,
                           "json_path": format!("{path}.id")}),
                )),
            }
        }
        "lookup" => {
            let id = lookup_id(v).ok_or_else(|| invalid(f, path, "jsonobject"))?;
            let exists = match f.lookup_module.as_deref() {
                Some("Accounts") => refs.org.accounts.iter().any(|a| a.id == id),
                Some(m) => refs.org.records.get(m).is_some_and(|r| r.contains_key(&id)),
                None => false,
            };
            if !exists {
                return Err(RecordError::new(
                    "INVALID_DATA",
                    "the related id given seems to be invalid",
                    json!({"api_name": f.api_name, "json_path": format!("{path}.id")}),
                ));
            }
            Ok(json!({"id": id}))
        }
        "participants" => validate_participants(refs, f, v, path),
        "RRULE" => {
            let rule = v
                .get("RRULE")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(f, path, "jsonobject"))?;
            validate_rrule(rule).map_err(|why| {
                RecordError::new(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"api_name": f.api_name, "json_path": format!("{path}.RRULE"), "reason": why}),
                )
            })?;
            let mut out = json!({"RRULE": rule});
            if let Some(ex) = v.get("EXDATE") {
                out["EXDATE"] = ex.clone();
            }
            Ok(out)
        }
        "ALARM" => {
            validate_alarm(v).map_err(|why| {
                RecordError::new(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"api_name": f.api_name, "json_path": format!("{path}.ALARM"), "reason": why}),
                )
            })?;
            Ok(json!({"ALARM": v["ALARM"]}))
        }
        other => Err(invalid(f, path, other)),
    }
}

trait WithIf: Sized {
    fn with_if(self, cond: bool) -> Option<Self>;
}
impl WithIf for RecordError {
    fn with_if(self, cond: bool) -> Option<Self> {
        cond.then_some(self)
    }
}

fn lookup_id(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => match o.get("id")? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        },
        Value::String(s) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
            Some(s.clone())
        }
        _ => None,
    }
}

fn validate_participants(
    refs: &Refs<'_>,
    f: &FieldDef,
    v: &Value,
    path: &str,
) -> Result<Value, RecordError> {
    let arr = v.as_array().ok_or_else(|| invalid(f, path, "jsonarray"))?;
    let mut out = Vec::new();
    for (i, p) in arr.iter().enumerate() {
        let ppath = format!("{path}[{i}]");
        let kind = p
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(f, &format!("{ppath}.type"), "string"))?;
        let who = p
            .get("participant")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(f, &format!("{ppath}.participant"), "string"))?;
        let (name, email) = match kind {
            "email" => {
                if !who.contains('@') {
                    return Err(invalid(f, &format!("{ppath}.participant"), "email"));
                }
                (Value::Null, json!(who))
            }
            "user" => match refs.org.user(who) {
                Some(u) => (json!(u.full_name()), json!(u.email)),
                None => return Err(invalid(f, &format!("{ppath}.participant"), "user id")),
            },
            "contact" => match refs.org.records.get("Contacts").and_then(|r| r.get(who)) {
                Some(c) => (
                    json!(contact_full_name(&c.values)),
                    c.values.get("Email").cloned().unwrap_or(Value::Null),
                ),
                None => return Err(invalid(f, &format!("{ppath}.participant"), "contact id")),
            },
            "lead" => (Value::Null, Value::Null),
            _ => {
                return Err(invalid(
                    f,
                    &format!("{ppath}.type"),
                    "user|contact|lead|email",
                ))
            }
        };
        out.push(json!({
            "participant": who,
            "type": kind,
            "name": name,
            "Email": email,
            "invited": p.get("invited").and_then(Value::as_bool).unwrap_or(false),
            "status": p.get("status").and_then(Value::as_str).unwrap_or("not_known"),
            "id": null,
        }));
    }
    Ok(Value::Array(out))
}

/// `Full_Name` of a contact as Zoho composes it.
pub fn contact_full_name(values: &Map<String, Value>) -> String {
    let first = values
        .get("First_Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let last = values
        .get("Last_Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if first.is_empty() {
        last.to_string()
    } else if crate::model::is_cjk(last) {
        format!("{last} {first}")
    } else {
        format!("{first} {last}")
    }
}
