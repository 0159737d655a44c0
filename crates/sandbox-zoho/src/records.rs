//! Record operations shared by the CRM API and the control API: insert, update, delete with
//! per-record results, the record timeline, and rendering records as Zoho returns them.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::fields::{self, contact_full_name, format_datetime, RecordError, Refs};
use crate::model::{DeletedRecord, FieldChange, Org, Record, SentMail, TimelineEntry};

/// How a write reached the CRM; decides the timeline `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A user in the web UI (`crm_ui`).
    Ui,
    /// The REST API (`crm_api`).
    Api,
    /// The UI import wizard (`mass_addition_via_ui`, see README).
    Import,
    /// The Bulk Write API (`bulkapi`).
    BulkApi,
    /// A data migration (`migration`).
    Migration,
    /// A mass update (`mass_update`).
    MassUpdate,
}

impl Origin {
    pub fn source(self) -> &'static str {
        match self {
            Origin::Ui => "crm_ui",
            Origin::Api => "crm_api",
            Origin::Import => "mass_addition_via_ui",
            Origin::BulkApi => "bulkapi",
            Origin::Migration => "migration",
            Origin::MassUpdate => "mass_update",
        }
    }
    pub fn parse(s: &str) -> Option<Origin> {
        Some(match s {
            "ui" | "crm_ui" => Origin::Ui,
            "api" | "crm_api" => Origin::Api,
            "import" => Origin::Import,
            "bulk_api" | "bulkapi" => Origin::BulkApi,
            "migration" => Origin::Migration,
            "mass_update" => Origin::MassUpdate,
            _ => return None,
        })
    }
}

/// Zoho keeps record times at second precision (the API shows no fractions); truncating here
/// keeps `If-Modified-Since` / `If-Unmodified-Since` with a shown time exact.
fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Outcome of one record in a batch write.
pub type ItemResult = Result<String, RecordError>;

/// The success item of an insert/update (`details` with id, times and actors).
pub fn success_item(org: &Org, module: &str, id: &str, message: &str, tz: &str) -> Value {
    let rec = &org.records[module][id];
    let who = |uid: &str| {
        let u = org.user(uid);
        json!({"name": u.map(|u| u.full_name()), "id": uid})
    };
    json!({
        "code": "SUCCESS",
        "details": {
            "Modified_Time": format_datetime(rec.modified_time, tz),
            "Modified_By": who(&rec.modified_by),
            "Created_Time": format_datetime(rec.created_time, tz),
            "id": id,
            "Created_By": who(&rec.created_by),
            "$approval_state": "approved",
        },
        "message": message,
        "status": "success",
    })
}

fn mandatory(api_name: &str, path: &str) -> RecordError {
    RecordError::new(
        "MANDATORY_NOT_FOUND",
        "required field not found",
        json!({"api_name": api_name, "json_path": path}),
    )
}

/// Validate the keys of `item` for `module`; returns storage values for the writable keys.
fn validate_item(
    org: &Org,
    module: &str,
    item: &Map<String, Value>,
    index: usize,
) -> Result<Map<String, Value>, RecordError> {
    let refs = Refs { org, module };
    let mut out = Map::new();
    for (key, v) in item {
        if key == "id" || key.starts_with('$') {
            continue;
        }
        // Unknown and read-only keys are ignored, as the real service does.
        let Some(f) = org.field(module, key) else {
            continue;
        };
        if f.read_only {
            continue;
        }
        let path = format!("$.data[{index}].{key}");
        out.insert(key.clone(), fields::validate_value(&refs, f, v, &path)?);
    }
    Ok(out)
}

/// Cross-field rules after merging (`End_DateTime` after `Start_DateTime`, mandatory fields).
fn check_record(
    org: &Org,
    module: &str,
    values: &Map<String, Value>,
    index: usize,
) -> Result<(), RecordError> {
    for f in org.fields.get(module).into_iter().flatten() {
        if f.system_mandatory && values.get(&f.api_name).is_none_or(Value::is_null) {
            return Err(mandatory(
                &f.api_name,
                &format!("$.data[{index}].{}", f.api_name),
            ));
        }
    }
    if module == "Events" {
        let start = values
            .get("Start_DateTime")
            .and_then(Value::as_str)
            .and_then(fields::parse_datetime);
        let end = values
            .get("End_DateTime")
            .and_then(Value::as_str)
            .and_then(fields::parse_datetime);
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                return Err(RecordError::new(
                    "INVALID_DATA",
                    "End_DateTime should be greater than Start_DateTime",
                    json!({"api_name": "End_DateTime", "json_path": format!("$.data[{index}].End_DateTime")}),
                ));
            }
        }
    }
    Ok(())
}

fn derive(
    module: &str,
    values: &mut Map<String, Value>,
    old_status: Option<&Value>,
    now: DateTime<Utc>,
) {
    match module {
        "Contacts" => {
            let full = contact_full_name(values);
            values.insert("Full_Name".into(), json!(full));
        }
        "Tasks" => {
            let status = values.get("Status").and_then(Value::as_str);
            let was_completed = old_status.and_then(Value::as_str) == Some("Completed");
            if status == Some("Completed") {
                if !was_completed || values.get("Closed_Time").is_none_or(Value::is_null) {
                    values.insert("Closed_Time".into(), json!(now.to_rfc3339()));
                }
            } else {
                values.insert("Closed_Time".into(), Value::Null);
            }
        }
        _ => {}
    }
}

fn notify_participants(org: &Org, rec: &Record, mails: &mut Vec<SentMail>, now: DateTime<Utc>) {
    let title = rec
        .values
        .get("Event_Title")
        .and_then(Value::as_str)
        .unwrap_or("");
    for p in rec
        .values
        .get("Participants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(to) = p.get("Email").and_then(Value::as_str) {
            mails.push(SentMail {
                to: to.to_string(),
                subject: format!("Invitation: {title}"),
                body: format!("You are invited to the meeting \"{title}\" ({}).", org.name),
                sent_time: now,
                org_id: org.id.clone(),
                kind: "meeting_invitation".into(),
            });
        }
    }
}

/// Insert `items` as `actor`; one result per item, in input order.
pub fn insert(
    org: &mut Org,
    module: &str,
    items: &[Value],
    actor: &str,
    origin: Origin,
    now: DateTime<Utc>,
    mails: &mut Vec<SentMail>,
) -> Vec<ItemResult> {
    let now = whole_second(now);
    let mut results = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            results.push(Err(RecordError::new(
                "INVALID_DATA",
                "invalid data",
                json!({"expected_data_type": "jsonobject", "json_path": format!("$.data[{index}]")}),
            )));
            continue;
        };
        let res = (|| {
            let mut values = validate_item(org, module, obj, index)?;
            check_record(org, module, &values, index)?;
            let owner = values
                .remove("Owner")
                .and_then(|o| o.get("id").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| actor.to_string());
            derive(module, &mut values, None, now);
            // Checkboxes left out of an insert are stored unchecked, as the CRM does.
            for f in org.fields.get(module).into_iter().flatten() {
                if f.data_type == "boolean" && !f.read_only {
                    values
                        .entry(f.api_name.clone())
                        .or_insert(Value::Bool(false));
                }
            }
            let id = org.new_id();
            let rec = Record {
                id: id.clone(),
                values,
                owner,
                created_by: actor.to_string(),
                modified_by: actor.to_string(),
                created_time: now,
                modified_time: now,
                timeline: vec![TimelineEntry {
                    id: org.new_id(),
                    audited_time: now,
                    action: "added".into(),
                    source: origin.source().into(),
                    done_by: actor.to_string(),
                    field_history: vec![],
                }],
            };
            if obj.get("$send_notification").and_then(Value::as_bool) == Some(true) {
                notify_participants(org, &rec, mails, now);
            }
            org.records
                .entry(module.to_string())
                .or_default()
                .insert(id.clone(), rec);
            Ok(id)
        })();
        results.push(res);
    }
    results
}

/// Update records (each item carries `id`, or `path_id` applies to the single item).
#[allow(clippy::too_many_arguments)]
pub fn update(
    org: &mut Org,
    module: &str,
    items: &[Value],
    path_id: Option<&str>,
    actor: &str,
    origin: Origin,
    now: DateTime<Utc>,
    mails: &mut Vec<SentMail>,
) -> Vec<ItemResult> {
    let now = whole_second(now);
    let mut results = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            results.push(Err(RecordError::new(
                "INVALID_DATA",
                "invalid data",
                json!({"expected_data_type": "jsonobject", "json_path": format!("$.data[{index}]")}),
            )));
            continue;
        };
        let res = (|| {
            let id = match (path_id, obj.get("id")) {
                (Some(p), _) => p.to_string(),
                (None, Some(Value::String(s))) => s.clone(),
                (None, Some(Value::Number(n))) => n.to_string(),
                (None, Some(_)) => {
                    return Err(RecordError::new(
                        "INVALID_DATA",
                        "invalid data",
                        json!({"expected_data_type": "bigint", "api_name": "id",
                               "json_path": format!("$.data[{index}].id")}),
                    ))
                }
                (None, None) => return Err(mandatory("id", &format!("$.data[{index}].id"))),
            };
            let Some(existing) = org.records.get(module).and_then(|m| m.get(&id)) else {
                return Err(RecordError::new(
                    "INVALID_DATA",
                    "the related id given seems to be invalid",
                    json!({"api_name": "id", "json_path": format!("$.data[{index}].id")}),
                ));
            };
            let mut changes = validate_item(org, module, obj, index)?;
            let mut values = existing.values.clone();
            let old_values = existing.values.clone();
            let mut owner = existing.owner.clone();
            let old_owner = owner.clone();
            if let Some(o) = changes.remove("Owner") {
                if let Some(oid) = o.get("id").and_then(Value::as_str) {
                    owner = oid.to_string();
                }
            }
            for (k, v) in changes {
                values.insert(k, v);
            }
            check_record(org, module, &values, index)?;
            derive(module, &mut values, old_values.get("Status"), now);
            let mut history: Vec<FieldChange> = values
                .iter()
                .filter(|(k, v)| old_values.get(*k).unwrap_or(&Value::Null) != *v)
                .map(|(k, v)| FieldChange {
                    api_name: k.clone(),
                    old: old_values.get(k).cloned().unwrap_or(Value::Null),
                    new: v.clone(),
                })
                .collect();
            if owner != old_owner {
                history.push(FieldChange {
                    api_name: "Owner".into(),
                    old: json!({"id": old_owner}),
                    new: json!({"id": owner}),
                });
            }
            let entry_id = org.new_id();
            let rec = org
                .records
                .get_mut(module)
                .and_then(|m| m.get_mut(&id))
                .expect("record checked above");
            rec.values = values;
            rec.owner = owner;
            rec.modified_by = actor.to_string();
            rec.modified_time = now;
            rec.timeline.push(TimelineEntry {
                id: entry_id,
                audited_time: now,
                action: "updated".into(),
                source: origin.source().into(),
                done_by: actor.to_string(),
                field_history: history,
            });
            if obj.get("$send_notification").and_then(Value::as_bool) == Some(true) {
                let rec = org.records[module][&id].clone();
                notify_participants(org, &rec, mails, now);
            }
            Ok(id)
        })();
        results.push(res);
    }
    results
}

/// A record's display name (`Full_Name`, `Event_Title`, `Subject`).
pub fn display_name(module: &str, rec: &Record) -> String {
    let key = match module {
        "Contacts" => "Full_Name",
        "Events" => "Event_Title",
        _ => "Subject",
    };
    rec.values
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Delete records by id into the recycle bin; one result per id.
pub fn delete(
    org: &mut Org,
    module: &str,
    ids: &[String],
    actor: &str,
    now: DateTime<Utc>,
) -> Vec<ItemResult> {
    let now = whole_second(now);
    ids.iter()
        .map(|id| {
            let removed = org.records.get_mut(module).and_then(|m| m.remove(id));
            match removed {
                Some(rec) => {
                    org.deleted
                        .entry(module.to_string())
                        .or_default()
                        .push(DeletedRecord {
                            id: id.clone(),
                            display_name: display_name(module, &rec),
                            kind: "recycle".into(),
                            deleted_time: now,
                            deleted_by: actor.to_string(),
                            created_by: rec.created_by.clone(),
                        });
                    Ok(id.clone())
                }
                None => Err(RecordError::new(
                    "INVALID_DATA",
                    "the related id given seems to be invalid",
                    json!({"id": id}),
                )),
            }
        })
        .collect()
}

fn user_ref(org: &Org, uid: &str, with_email: bool) -> Value {
    let u = org.user(uid);
    let mut v = json!({"name": u.map(|u| u.full_name()), "id": uid});
    if with_email {
        v["email"] = json!(u.map(|u| u.email.clone()));
    }
    v
}

/// The value of one field of `rec` as the API returns it to a viewer in `tz`.
pub fn output_value(org: &Org, module: &str, rec: &Record, api_name: &str, tz: &str) -> Value {
    match api_name {
        "id" => return json!(rec.id),
        "Owner" => return user_ref(org, &rec.owner, true),
        "Created_By" => return user_ref(org, &rec.created_by, true),
        "Modified_By" => return user_ref(org, &rec.modified_by, true),
        "Created_Time" => return json!(format_datetime(rec.created_time, tz)),
        "Modified_Time" => return json!(format_datetime(rec.modified_time, tz)),
        "Tag" => return json!([]),
        _ => {}
    }
    let v = rec.values.get(api_name).cloned().unwrap_or(Value::Null);
    let Some(f) = org.field(module, api_name) else {
        return v;
    };
    match (f.data_type.as_str(), &v) {
        ("datetime", Value::String(s)) => match fields::parse_datetime(s) {
            Some(t) => json!(format_datetime(t, tz)),
            None => v,
        },
        ("lookup", Value::Object(o)) => {
            let id = o.get("id").and_then(Value::as_str).unwrap_or("");
            let name = match f.lookup_module.as_deref() {
                Some("Accounts") => org
                    .accounts
                    .iter()
                    .find(|a| a.id == id)
                    .map(|a| a.name.clone()),
                Some(m) => org
                    .records
                    .get(m)
                    .and_then(|r| r.get(id))
                    .map(|r| display_name(m, r)),
                None => None,
            };
            // A lookup to a deleted record reads as empty, as in the CRM.
            match name {
                Some(n) => json!({"name": n, "id": id}),
                None => Value::Null,
            }
        }
        _ => v,
    }
}

/// Render `rec`: all fields when `wanted` is `None`, else `id` plus the wanted ones.
pub fn render(org: &Org, module: &str, rec: &Record, wanted: Option<&[String]>, tz: &str) -> Value {
    let mut out = Map::new();
    let names: Vec<String> = match wanted {
        Some(w) => w.to_vec(),
        None => org
            .fields
            .get(module)
            .into_iter()
            .flatten()
            .map(|f| f.api_name.clone())
            .collect(),
    };
    for name in &names {
        out.insert(name.clone(), output_value(org, module, rec, name, tz));
    }
    out.insert("id".into(), json!(rec.id));
    out.insert("$approval_state".into(), json!("approved"));
    out.insert("$editable".into(), json!(true));
    out.insert("$state".into(), json!("save"));
    if module == "Events" {
        let cancelled = rec.values.get("$event_cancelled") == Some(&Value::Bool(true));
        out.insert("$event_cancelled".into(), json!(cancelled));
    }
    if module == "Tasks" || module == "Events" {
        out.insert("$se_module".into(), Value::Null);
    }
    Value::Object(out)
}

/// The `__timeline` entries of a record, newest first.
pub fn timeline_json(org: &Org, module: &str, rec: &Record, tz: &str) -> Vec<Value> {
    rec.timeline
        .iter()
        .rev()
        .map(|e| {
            let u = org.user(&e.done_by);
            let profile = u.and_then(|u| org.profile(&u.profile_id));
            json!({
                "id": e.id,
                "audited_time": format_datetime(e.audited_time, tz),
                "action": e.action,
                "source": e.source,
                "done_by": {
                    "name": u.map(|u| u.full_name()),
                    "id": e.done_by,
                    "profile": profile.map(|p| json!({"name": p.name, "id": p.id})),
                    "type__s": "user",
                },
                "field_history": e.field_history.iter().map(|c| {
                    let label = org.field(module, &c.api_name).map(|f| f.field_label.clone());
                    json!({"api_name": c.api_name, "field_label": label, "id": org.field(module, &c.api_name).map(|f| f.id.clone()),
                           "_value": {"old": display_change(&c.old), "new": display_change(&c.new)}})
                }).collect::<Vec<_>>(),
                "record": {"id": rec.id, "name": display_name(module, rec), "module": {"api_name": module, "id": null}},
                "related_record": null,
                "automation_details": null,
                "type": null,
            })
        })
        .collect()
}

fn display_change(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    }
}
