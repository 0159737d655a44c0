//! Typed Zoho CRM records and metadata (zoho-crm-api.md §2–§4).
//!
//! Record types name the standard fields the sync maps; every other field
//! (custom fields, `$` system keys) stays in `fields`, the field map, and is
//! sent back unchanged. `None` fields are not sent on writes; `Some(Value::Null)`
//! in the field map clears a field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A module the client can list and write.
pub trait Module: Serialize + for<'de> Deserialize<'de> + Send + Sync {
    /// API name (`Contacts`, `Events`, `Tasks`).
    const API_NAME: &'static str;
    /// Fields asked when listing (Zoho requires `fields`, ≤ 50).
    const DEFAULT_FIELDS: &'static [&'static str];
    fn id(&self) -> Option<&str>;
}

/// `{name, id}` lookups (`Owner`, `Account_Name`, `Who_Id`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A Contacts record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "Owner", default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Lookup>,
    #[serde(
        rename = "First_Name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub first_name: Option<String>,
    #[serde(rename = "Last_Name", default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(rename = "Full_Name", default, skip_serializing)]
    pub full_name: Option<String>,
    #[serde(rename = "Email", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(
        rename = "Secondary_Email",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secondary_email: Option<String>,
    #[serde(rename = "Phone", default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(rename = "Mobile", default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(rename = "Title", default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(
        rename = "Department",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub department: Option<String>,
    #[serde(
        rename = "Account_Name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub account_name: Option<Lookup>,
    #[serde(
        rename = "Mailing_Street",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mailing_street: Option<String>,
    #[serde(
        rename = "Mailing_City",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mailing_city: Option<String>,
    #[serde(
        rename = "Mailing_State",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mailing_state: Option<String>,
    #[serde(
        rename = "Mailing_Zip",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mailing_zip: Option<String>,
    #[serde(
        rename = "Mailing_Country",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mailing_country: Option<String>,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(rename = "Modified_Time", default, skip_serializing)]
    pub modified_time: Option<String>,
    #[serde(rename = "Created_Time", default, skip_serializing)]
    pub created_time: Option<String>,
    /// Custom fields and everything else, by API name.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// An Events (Meetings) record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "Owner", default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Lookup>,
    #[serde(
        rename = "Event_Title",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub event_title: Option<String>,
    /// ISO 8601 with offset.
    #[serde(
        rename = "Start_DateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date_time: Option<String>,
    #[serde(
        rename = "End_DateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date_time: Option<String>,
    #[serde(rename = "All_day", default, skip_serializing_if = "Option::is_none")]
    pub all_day: Option<bool>,
    #[serde(rename = "Venue", default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(
        rename = "Participants",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub participants: Option<Vec<Value>>,
    #[serde(
        rename = "Recurring_Activity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub recurring_activity: Option<Value>,
    #[serde(rename = "Modified_Time", default, skip_serializing)]
    pub modified_time: Option<String>,
    #[serde(rename = "Created_Time", default, skip_serializing)]
    pub created_time: Option<String>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A Tasks record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZTask {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "Owner", default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Lookup>,
    #[serde(rename = "Subject", default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `yyyy-MM-dd`.
    #[serde(rename = "Due_Date", default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    #[serde(rename = "Status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "Priority", default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(rename = "Remind_At", default, skip_serializing_if = "Option::is_none")]
    pub remind_at: Option<Value>,
    #[serde(rename = "Closed_Time", default, skip_serializing)]
    pub closed_time: Option<String>,
    #[serde(rename = "Modified_Time", default, skip_serializing)]
    pub modified_time: Option<String>,
    #[serde(rename = "Created_Time", default, skip_serializing)]
    pub created_time: Option<String>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Module for ZContact {
    const API_NAME: &'static str = "Contacts";
    const DEFAULT_FIELDS: &'static [&'static str] = &[
        "Owner",
        "First_Name",
        "Last_Name",
        "Full_Name",
        "Email",
        "Secondary_Email",
        "Phone",
        "Mobile",
        "Title",
        "Department",
        "Account_Name",
        "Mailing_Street",
        "Mailing_City",
        "Mailing_State",
        "Mailing_Zip",
        "Mailing_Country",
        "Description",
        "Modified_Time",
        "Created_Time",
    ];
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Module for ZEvent {
    const API_NAME: &'static str = "Events";
    const DEFAULT_FIELDS: &'static [&'static str] = &[
        "Owner",
        "Event_Title",
        "Start_DateTime",
        "End_DateTime",
        "All_day",
        "Venue",
        "Description",
        "Participants",
        "Recurring_Activity",
        "Modified_Time",
        "Created_Time",
    ];
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Module for ZTask {
    const API_NAME: &'static str = "Tasks";
    const DEFAULT_FIELDS: &'static [&'static str] = &[
        "Owner",
        "Subject",
        "Due_Date",
        "Status",
        "Priority",
        "Description",
        "Remind_At",
        "Closed_Time",
        "Modified_Time",
        "Created_Time",
    ];
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// One field of `GET /settings/fields`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMeta {
    pub id: Option<String>,
    pub api_name: String,
    #[serde(default)]
    pub field_label: Option<String>,
    #[serde(default)]
    pub data_type: Option<String>,
    #[serde(default)]
    pub length: Option<u32>,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub system_mandatory: Option<bool>,
    #[serde(default)]
    pub custom_field: Option<bool>,
    #[serde(default)]
    pub pick_list_values: Option<Vec<Value>>,
}

/// A CRM user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZUser {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub confirm: Option<bool>,
    #[serde(default)]
    pub profile: Option<Lookup>,
    #[serde(default)]
    pub role: Option<Lookup>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// `POST /users` body item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    pub last_name: String,
    /// Role id.
    pub role: String,
    /// Profile id.
    pub profile: String,
}

/// A profile of `GET /settings/profiles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub permissions_details: Vec<Value>,
}

impl Profile {
    /// Whether the profile may add users (`Crm_Implied_Manage_Users` enabled).
    pub fn can_manage_users(&self) -> bool {
        self.permissions_details.iter().any(|p| {
            p.get("name").and_then(Value::as_str) == Some("Crm_Implied_Manage_Users")
                && p.get("enabled").and_then(Value::as_bool) == Some(true)
        })
    }
}

/// An entry of `GET /{module}/{id}/__timeline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    #[serde(default)]
    pub audited_time: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// `crm_ui`, `crm_api`, `mass_addition_via_ui` (import), ...
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub done_by: Option<Value>,
    #[serde(default)]
    pub field_history: Option<Vec<Value>>,
}

/// An entry of `GET /{module}/deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedRecord {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `recycle` or `permanent`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub deleted_time: Option<String>,
    #[serde(default)]
    pub deleted_by: Option<Lookup>,
}
