//! Typed Graph v1.0 resources (graph-api.md §1–§4, §8).
//!
//! Every field is optional so the same type serves reads and writes: on write
//! only the fields that are set are sent, and read-only fields (`id`,
//! `@odata.etag`, `changeKey`, timestamps) are never serialised, so a value
//! read from Graph can be edited and sent back as a PATCH body.

use serde::{Deserialize, Serialize};

/// `singleValueExtendedProperties` entry: `{id, value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingleValueExtendedProperty {
    pub id: String,
    pub value: String,
}

/// `dateTimeTimeZone`: a local date-time without offset plus a zone name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    pub date_time: String,
    pub time_zone: String,
}

impl DateTimeTimeZone {
    /// A UTC value from a chrono date-time.
    pub fn utc(dt: chrono::DateTime<chrono::Utc>) -> Self {
        DateTimeTimeZone {
            date_time: dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: "UTC".into(),
        }
    }

    /// Parses `dateTime` as UTC when `timeZone` is `UTC` (the client always
    /// asks for UTC); `None` for other zones or malformed values.
    pub fn as_utc(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        if !self.time_zone.eq_ignore_ascii_case("UTC") {
            return None;
        }
        chrono::NaiveDateTime::parse_from_str(&self.date_time, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| n.and_utc())
    }
}

/// `itemBody`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    pub content_type: String,
    pub content: String,
}

/// `emailAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `physicalAddress` (Graph returns `{}` when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_or_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

/// `location`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PhysicalAddress>,
}

/// `attendee`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub email_address: EmailAddress,
}

/// `recipient` (organizer, mail recipients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub email_address: EmailAddress,
}

/// `calendar`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calendar {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing)]
    pub is_default_calendar: Option<bool>,
    #[serde(default, skip_serializing)]
    pub can_edit: Option<bool>,
    #[serde(default, skip_serializing)]
    pub change_key: Option<String>,
}

/// `event`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(rename = "@odata.etag", default, skip_serializing)]
    pub etag: Option<String>,
    #[serde(default, skip_serializing)]
    pub change_key: Option<String>,
    #[serde(default, skip_serializing)]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing)]
    pub last_modified_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ItemBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_all_day: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendees: Option<Vec<Attendee>>,
    #[serde(default, skip_serializing)]
    pub organizer: Option<Recipient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_reminder_on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_minutes_before_start: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Patterned recurrence, kept as JSON (the engine maps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<serde_json::Value>,
    #[serde(rename = "type", default, skip_serializing)]
    pub kind: Option<String>,
    #[serde(default, skip_serializing)]
    pub series_master_id: Option<String>,
    /// Set on create so a retried POST is not applied twice; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<SingleValueExtendedProperty>>,
}

/// `contactFolder`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactFolder {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing)]
    pub parent_folder_id: Option<String>,
}

/// `contact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(rename = "@odata.etag", default, skip_serializing)]
    pub etag: Option<String>,
    #[serde(default, skip_serializing)]
    pub change_key: Option<String>,
    #[serde(default, skip_serializing)]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing)]
    pub last_modified_date_time: Option<String>,
    #[serde(default, skip_serializing)]
    pub parent_folder_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yomi_given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yomi_surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yomi_company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_addresses: Option<Vec<EmailAddress>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_phones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_phones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_address: Option<PhysicalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_address: Option<PhysicalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_address: Option<PhysicalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<SingleValueExtendedProperty>>,
}

/// `todoTaskList`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoTaskList {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing)]
    pub is_owner: Option<bool>,
    #[serde(default, skip_serializing)]
    pub is_shared: Option<bool>,
    #[serde(default, skip_serializing)]
    pub wellknown_list_name: Option<String>,
}

/// `linkedResource`: the native slot for the CRM id on a To Do task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedResource {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// `todoTask`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoTask {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(rename = "@odata.etag", default, skip_serializing)]
    pub etag: Option<String>,
    #[serde(default, skip_serializing)]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing)]
    pub last_modified_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ItemBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_reminder_on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_date_time: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date_time: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_date_time: Option<DateTimeTimeZone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Only sent on create (inline linked resources); PATCH ignores them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_resources: Option<Vec<LinkedResource>>,
}

/// `user` (default `$select` of `GET /users/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub preferred_language: Option<String>,
}

/// A mail for `POST /me/sendMail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailMessage {
    pub subject: String,
    pub body: ItemBody,
    pub to_recipients: Vec<Recipient>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc_recipients: Vec<Recipient>,
}

impl Recipient {
    /// A recipient with an address only.
    pub fn address(addr: impl Into<String>) -> Self {
        Recipient {
            email_address: EmailAddress {
                name: None,
                address: Some(addr.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_fields_are_not_sent() {
        let c: Contact = serde_json::from_value(serde_json::json!({
            "@odata.etag": "W/\"abc\"", "id": "X", "changeKey": "abc",
            "givenName": "Aiko", "businessAddress": {}, "parentFolderId": "F",
            "unknownNewField": 1
        }))
        .unwrap();
        assert_eq!(c.etag.as_deref(), Some("W/\"abc\""));
        let out = serde_json::to_value(&c).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"givenName": "Aiko", "businessAddress": {}})
        );
    }

    #[test]
    fn utc_date_times_round_trip() {
        let d = DateTimeTimeZone {
            date_time: "2026-03-01T09:30:00.0000000".into(),
            time_zone: "UTC".into(),
        };
        let t = d.as_utc().unwrap();
        assert_eq!(DateTimeTimeZone::utc(t).date_time, "2026-03-01T09:30:00");
        let other = DateTimeTimeZone {
            date_time: d.date_time.clone(),
            time_zone: "Tokyo Standard Time".into(),
        };
        assert!(other.as_utc().is_none());
    }
}
