//! The demo tenant `sakura-demo.example` (the same people as the Zoho CRM
//! demo org), each mailbox with a default calendar, Contacts folder and
//! "Tasks" list plus a few personal (non-CRM) items.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::{json, Map, Value};

use crate::store::{Data, Kind, User};
use crate::tz;

/// The fixed object id of the demo tenant.
pub const DEMO_TENANT_ID: &str = "8d3f1c2a-5b6e-4f70-9a1b-2c3d4e5f6a7b";
pub const DEMO_TENANT_DOMAIN: &str = "sakura-demo.example";
/// Password of every seeded account.
pub const DEMO_PASSWORD: &str = "sandbox";

struct Person {
    id: &'static str,
    upn: &'static str,
    display: &'static str,
    given: &'static str,
    surname: &'static str,
    job: &'static str,
    lang: &'static str,
}

const PEOPLE: &[Person] = &[
    Person {
        id: "a1c0e5d2-0001-4a6b-8c1d-000000000001",
        upn: "aiko.tanaka",
        display: "Aiko Tanaka (田中 愛子)",
        given: "愛子",
        surname: "田中",
        job: "Sales Manager",
        lang: "ja-JP",
    },
    Person {
        id: "a1c0e5d2-0002-4a6b-8c1d-000000000002",
        upn: "ben.carter",
        display: "Ben Carter",
        given: "Ben",
        surname: "Carter",
        job: "Account Executive",
        lang: "en-US",
    },
    Person {
        id: "a1c0e5d2-0003-4a6b-8c1d-000000000003",
        upn: "haruto.sato",
        display: "Haruto Sato (佐藤 陽翔)",
        given: "陽翔",
        surname: "佐藤",
        job: "Sales Representative",
        lang: "ja-JP",
    },
    Person {
        id: "a1c0e5d2-0004-4a6b-8c1d-000000000004",
        upn: "emily.clark",
        display: "Emily Clark",
        given: "Emily",
        surname: "Clark",
        job: "Marketing Specialist",
        lang: "en-US",
    },
    Person {
        id: "a1c0e5d2-0005-4a6b-8c1d-000000000005",
        upn: "yui.suzuki",
        display: "鈴木 結衣",
        given: "結衣",
        surname: "鈴木",
        job: "Inside Sales",
        lang: "ja-JP",
    },
    Person {
        id: "a1c0e5d2-0006-4a6b-8c1d-000000000006",
        upn: "lucas.martin",
        display: "Lucas Martin",
        given: "Lucas",
        surname: "Martin",
        job: "Solutions Engineer",
        lang: "en-US",
    },
    Person {
        id: "a1c0e5d2-0007-4a6b-8c1d-000000000007",
        upn: "ren.yamamoto",
        display: "山本 蓮",
        given: "蓮",
        surname: "山本",
        job: "Customer Success",
        lang: "ja-JP",
    },
];

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) fn demo(now: DateTime<Utc>) -> Data {
    let mut data = Data {
        tenant_id: DEMO_TENANT_ID.to_string(),
        tenant_domain: DEMO_TENANT_DOMAIN.to_string(),
        ..Data::default()
    };
    for (n, p) in PEOPLE.iter().enumerate() {
        let upn = format!("{}@{DEMO_TENANT_DOMAIN}", p.upn);
        data.add_user(
            User {
                id: p.id.to_string(),
                user_principal_name: upn.clone(),
                mail: Some(upn.clone()),
                display_name: p.display.to_string(),
                given_name: Some(p.given.to_string()),
                surname: Some(p.surname.to_string()),
                job_title: Some(p.job.to_string()),
                office_location: Some(
                    if p.lang == "ja-JP" {
                        "Tokyo"
                    } else {
                        "Seattle"
                    }
                    .to_string(),
                ),
                preferred_language: Some(p.lang.to_string()),
                mobile_phone: None,
                business_phones: vec![format!("+81 3 5555 01{n:02}")],
                password: crate::DEMO_PASSWORD.to_string(),
            },
            now,
        );
        let mb = data.mailboxes.get_mut(p.id).expect("mailbox just created");
        // Personal (non-CRM) items that sync must never touch.
        let folder = mb.default_contact_folder.clone();
        mb.insert(Kind::Contact, &folder, obj(json!({
            "givenName": "Mother", "surname": p.surname, "displayName": format!("Mother ({})", p.surname),
            "mobilePhone": "+81 90 0000 0000", "emailAddresses": [], "businessPhones": [], "homePhones": [],
            "personalNotes": "Personal contact (not from the CRM)"
        })), BTreeMap::new(), now);
        mb.insert(Kind::Contact, &folder, obj(json!({
            "givenName": "Dentist", "displayName": "Dentist", "companyName": "Smile Dental",
            "businessPhones": ["+81 3 1234 5678"], "emailAddresses": [{"name": "Smile Dental", "address": "info@smile-dental.example"}]
        })), BTreeMap::new(), now);
        let cal = mb.default_calendar.clone();
        let start = (now + Duration::days(1))
            .with_hour(10)
            .and_then(|t| t.with_minute(0))
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(now);
        let end = start + Duration::hours(1);
        let id = mb.insert(Kind::Event, &cal, obj(json!({
            "subject": "Dentist appointment (personal)",
            "body": {"contentType": "text", "content": "Personal event, not from the CRM."},
            "start": {"dateTime": tz::format_local(start.naive_utc()), "timeZone": "UTC"},
            "end": {"dateTime": tz::format_local(end.naive_utc()), "timeZone": "UTC"},
            "originalStartTimeZone": "UTC", "originalEndTimeZone": "UTC", "showAs": "busy", "sensitivity": "private",
        })), BTreeMap::new(), now);
        if let Some(item) = mb.get_mut(&id) {
            item.internal
                .insert("startUtc".into(), Value::from(start.to_rfc3339()));
            item.internal
                .insert("endUtc".into(), Value::from(end.to_rfc3339()));
            item.internal.insert(
                "iCalUId".into(),
                Value::from(format!(
                    "040000008200E00074C5B7101A82E0080000000000SEED{n:04}"
                )),
            );
        }
        let list = mb.default_todo_list.clone();
        mb.insert(
            Kind::Task,
            &list,
            obj(json!({
                "title": "Buy groceries (personal)", "importance": "normal", "status": "notStarted",
                "body": {"content": "", "contentType": "text"}
            })),
            BTreeMap::new(),
            now,
        );
    }
    data
}
