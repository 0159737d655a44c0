//! Demo data (the Sakura Trading org in `us`, a small org in `jp`), org/user creation helpers,
//! OAuth client registration and the bulk record generator.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::fields::standard_fields;
use crate::model::{Account, Edition, OAuthClient, Org, Profile, Role, State, User, MODULES};
use crate::records::{self, Origin};
use crate::ZohoOptions;

/// Public (PKCE, no secret) desktop client registered in every emulator; any loopback
/// redirect URI (`http://127.0.0.1:{port}/…`) is accepted for it.
pub const DEMO_CLIENT_ID: &str = "1000.SANDBOXCRMSYNCDESKTOPCLIENT";
/// Confidential (server-based) demo client.
pub const DEMO_SERVER_CLIENT_ID: &str = "1000.SANDBOXCRMSYNCSERVERCLIENT";
/// Secret of [`DEMO_SERVER_CLIENT_ID`].
pub const DEMO_CLIENT_SECRET: &str = "sandbox-client-secret";
/// Password of every seeded account.
pub const DEMO_PASSWORD: &str = "sandbox";

pub(crate) fn register_clients(st: &mut State, options: &ZohoOptions) {
    st.clients.insert(
        DEMO_CLIENT_ID.into(),
        OAuthClient {
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            allow_any_loopback_port: true,
            name: "CRM Sync (sandbox desktop client)".into(),
        },
    );
    st.clients.insert(
        DEMO_SERVER_CLIENT_ID.into(),
        OAuthClient {
            client_id: DEMO_SERVER_CLIENT_ID.into(),
            client_secret: Some(DEMO_CLIENT_SECRET.into()),
            redirect_uris: vec!["http://127.0.0.1:8765/callback".into()],
            allow_any_loopback_port: true,
            name: "CRM Sync (sandbox server client)".into(),
        },
    );
    if let Some(id) = &options.client_id {
        st.clients.insert(
            id.clone(),
            OAuthClient {
                client_id: id.clone(),
                client_secret: None,
                redirect_uris: options.redirect_uri.iter().cloned().collect(),
                allow_any_loopback_port: true,
                name: "CRM Sync".into(),
            },
        );
    }
}

/// Create an empty org with the standard profiles, roles and field metadata.
pub(crate) fn new_org(
    st: &mut State,
    dc: &str,
    name: &str,
    edition: Edition,
    time_zone: &str,
    license_limit: u32,
    options: Option<&ZohoOptions>,
) -> String {
    st.next_org += 1;
    let n = st.next_org;
    let org_id = format!("{}", 700_000_000 + n * 1_111);
    let base: u64 = 4_876_876_000_000_000_000 + n * 10_000_000_000;
    let mut fields = BTreeMap::new();
    for (i, m) in MODULES.iter().enumerate() {
        fields.insert(
            m.to_string(),
            standard_fields(m, base + 5_000_000 + i as u64 * 1_000),
        );
    }
    let org = Org {
        id: org_id.clone(),
        dc: dc.into(),
        name: name.into(),
        edition,
        time_zone: time_zone.into(),
        license_limit,
        users: vec![],
        profiles: vec![
            Profile {
                id: (base + 1_001).to_string(),
                name: "Administrator".into(),
                manage_users: true,
                description: "This profile will have all the permissions.".into(),
            },
            Profile {
                id: (base + 1_002).to_string(),
                name: "Standard".into(),
                manage_users: false,
                description:
                    "This profile will have all the permissions except administrative privileges."
                        .into(),
            },
        ],
        roles: vec![
            Role {
                id: (base + 2_001).to_string(),
                name: "CEO".into(),
            },
            Role {
                id: (base + 2_002).to_string(),
                name: "Manager".into(),
            },
            Role {
                id: (base + 2_003).to_string(),
                name: "Sales Representative".into(),
            },
        ],
        accounts: vec![],
        fields,
        records: BTreeMap::new(),
        deleted: BTreeMap::new(),
        mass_jobs: vec![],
        credit_log: Default::default(),
        credits_used_total: 0,
        requests_total: 0,
        credit_limit_override: options.and_then(|o| o.credits),
        concurrency_override: options.and_then(|o| o.concurrency),
        next_id: base + 300_000,
    };
    st.orgs.insert(org_id.clone(), org);
    org_id
}

/// Parameters of a user created by seeding or the control API.
pub(crate) struct NewUser<'a> {
    pub email: &'a str,
    pub first_name: Option<&'a str>,
    pub last_name: &'a str,
    pub profile: &'a str,
    pub role: &'a str,
    pub time_zone: &'a str,
    pub locale: &'a str,
    pub password: &'a str,
    pub confirmed: bool,
}

/// Add a user to an org (profile and role by name or id). Returns the user id.
pub(crate) fn add_user(
    st: &mut State,
    org_id: &str,
    u: NewUser<'_>,
    now: DateTime<Utc>,
) -> Result<String, String> {
    if st.orgs.values().any(|o| {
        o.users
            .iter()
            .any(|x| x.email.eq_ignore_ascii_case(u.email))
    }) {
        return Err(format!("a user with email {} already exists", u.email));
    }
    let org = st
        .orgs
        .get_mut(org_id)
        .ok_or_else(|| format!("unknown org {org_id}"))?;
    let profile = org
        .profiles
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(u.profile) || p.id == u.profile)
        .ok_or_else(|| format!("unknown profile {}", u.profile))?
        .id
        .clone();
    let role = org
        .roles
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(u.role) || p.id == u.role)
        .ok_or_else(|| format!("unknown role {}", u.role))?
        .id
        .clone();
    if u.time_zone.parse::<Tz>().is_err() {
        return Err(format!("unknown time zone {}", u.time_zone));
    }
    let id = org.new_id();
    let zuid = format!("{}", 60_000_000 + org.next_id % 1_000_000);
    org.users.push(User {
        id: id.clone(),
        zuid,
        email: u.email.into(),
        first_name: u.first_name.map(str::to_string),
        last_name: u.last_name.into(),
        password: u.password.into(),
        profile_id: profile,
        role_id: role,
        status: "active".into(),
        confirm: u.confirmed,
        time_zone: u.time_zone.into(),
        locale: u.locale.into(),
        created_time: now,
        modified_time: now,
        invited_by: None,
    });
    Ok(id)
}

fn user_id(st: &State, email: &str) -> Option<(String, String)> {
    st.orgs
        .values()
        .find_map(|o| o.user_by_email(email).map(|u| (o.id.clone(), u.id.clone())))
}

/// `yyyy-MM-ddTHH:mm:ss±hh:mm` for a local wall time `days` from `now` in `tz`.
fn local_at(now: DateTime<Utc>, tz: &str, days: i64, hour: u32, minute: u32) -> String {
    let zone: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    let date = (now + Duration::days(days))
        .with_timezone(&zone)
        .date_naive();
    let t = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default();
    zone.from_local_datetime(&date.and_time(t))
        .earliest()
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
        .unwrap_or_default()
}

fn local_date(now: DateTime<Utc>, tz: &str, days: i64) -> String {
    let zone: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    (now + Duration::days(days))
        .with_timezone(&zone)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

/// Insert records as `email` (used by seeding); returns the new ids (panics are avoided:
/// invalid seed items are skipped and reported through tracing).
fn put(
    st: &mut State,
    email: &str,
    module: &str,
    items: Vec<Value>,
    origin: Origin,
    at: DateTime<Utc>,
) -> Vec<String> {
    let Some((org_id, uid)) = user_id(st, email) else {
        return vec![];
    };
    let State { orgs, mails, .. } = st;
    let org = orgs.get_mut(&org_id).expect("org of user");
    records::insert(org, module, &items, &uid, origin, at, mails)
        .into_iter()
        .filter_map(|r| match r {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(?e, "seed record rejected");
                None
            }
        })
        .collect()
}

pub(crate) fn seed_demo(st: &mut State, options: &ZohoOptions, now: DateTime<Utc>) {
    let created = now - Duration::days(120);
    let org = new_org(
        st,
        "us",
        "Sakura Trading (Demo)",
        options.edition,
        "Asia/Tokyo",
        10,
        Some(options),
    );
    let people: [NewUser; 3] = [
        NewUser {
            email: "aiko.tanaka@sakura-demo.example",
            first_name: Some("愛子"),
            last_name: "田中",
            profile: "Administrator",
            role: "CEO",
            time_zone: "Asia/Tokyo",
            locale: "ja_JP",
            password: DEMO_PASSWORD,
            confirmed: true,
        },
        NewUser {
            email: "ben.carter@sakura-demo.example",
            first_name: Some("Ben"),
            last_name: "Carter",
            profile: "Standard",
            role: "Sales Representative",
            time_zone: "America/Los_Angeles",
            locale: "en_US",
            password: DEMO_PASSWORD,
            confirmed: true,
        },
        NewUser {
            email: "haruto.sato@sakura-crm.example",
            first_name: Some("陽翔"),
            last_name: "佐藤",
            profile: "Standard",
            role: "Manager",
            time_zone: "Asia/Tokyo",
            locale: "ja_JP",
            password: DEMO_PASSWORD,
            confirmed: true,
        },
    ];
    for p in people {
        if let Err(e) = add_user(st, &org, p, created) {
            tracing::warn!(%e, "seed user rejected");
        }
    }
    {
        let o = st.orgs.get_mut(&org).expect("just created");
        for name in ["Sakura Trading", "富士物流株式会社", "Northwind Traders"] {
            let id = o.new_id();
            o.accounts.push(Account {
                id,
                name: name.into(),
            });
        }
    }
    let acc: Vec<String> = st.orgs[&org]
        .accounts
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let aiko = "aiko.tanaka@sakura-demo.example";
    let ben = "ben.carter@sakura-demo.example";
    let haruto = "haruto.sato@sakura-crm.example";
    let tz = "Asia/Tokyo";

    // Contacts: created by hand (UI), through the API, by an import and by a migration.
    let c_ui = put(
        st,
        aiko,
        "Contacts",
        vec![
            json!({"First_Name": "健太", "Last_Name": "山田", "Email": "kenta.yamada@fuji-logistics.example",
                   "Phone": "+81 3-1234-5678", "Title": "部長", "Department": "営業部",
                   "Account_Name": {"id": acc[1]}, "Mailing_City": "東京", "Mailing_Country": "Japan",
                   "Lead_Source": "Trade Show"}),
            json!({"Salutation": "Ms.", "First_Name": "Olivia", "Last_Name": "Brown", "Email": "olivia.brown@northwind.example",
                   "Phone": "+1 206-555-0101", "Mobile": "+1 206-555-0199", "Title": "Purchasing Manager",
                   "Account_Name": {"id": acc[2]}, "Mailing_City": "Seattle", "Mailing_Country": "USA",
                   "Date_of_Birth": "1986-04-12"}),
            json!({"First_Name": "さくら", "Last_Name": "小林", "Email": "sakura.kobayashi@sakura-trading.example",
                   "Phone": "+81 6-9876-5432", "Account_Name": {"id": acc[0]}, "Description": "展示会で名刺交換"}),
        ],
        Origin::Ui,
        now - Duration::days(30),
    );
    if let Some(boss) = c_ui.first() {
        put(
            st,
            aiko,
            "Contacts",
            vec![
                json!({"First_Name": "美咲", "Last_Name": "中村", "Email": "misaki.nakamura@fuji-logistics.example",
                        "Reporting_To": {"id": boss}, "Account_Name": {"id": acc[1]}, "Title": "課長"}),
            ],
            Origin::Ui,
            now - Duration::days(20),
        );
    }
    put(
        st,
        aiko,
        "Contacts",
        vec![
            json!({"First_Name": "James", "Last_Name": "Wilson", "Email": "james.wilson@northwind.example",
                    "Account_Name": {"id": acc[2]}, "Phone": "+1 206-555-0123"}),
        ],
        Origin::Api,
        now - Duration::days(10),
    );
    put(
        st,
        aiko,
        "Contacts",
        vec![
            json!({"First_Name": "大輔", "Last_Name": "井上", "Email": "daisuke.inoue@import.example", "Lead_Source": "Web Download"}),
            json!({"First_Name": "Sophie", "Last_Name": "Martin", "Email": "sophie.martin@import.example"}),
        ],
        Origin::Import,
        now - Duration::days(60),
    );
    put(
        st,
        aiko,
        "Contacts",
        vec![
            json!({"First_Name": "翔", "Last_Name": "加藤", "Email": "sho.kato@legacy-crm.example"}),
        ],
        Origin::Migration,
        now - Duration::days(90),
    );
    put(
        st,
        ben,
        "Contacts",
        vec![
            json!({"First_Name": "Noah", "Last_Name": "Davis", "Email": "noah.davis@northwind.example", "Account_Name": {"id": acc[2]}}),
            json!({"First_Name": "Emma", "Last_Name": "Garcia", "Email": "emma.garcia@example.org", "Mobile": "+1 415-555-0142"}),
        ],
        Origin::Ui,
        now - Duration::days(15),
    );
    put(
        st,
        haruto,
        "Contacts",
        vec![
            json!({"First_Name": "結菜", "Last_Name": "渡辺", "Email": "yuna.watanabe@fuji-logistics.example", "Account_Name": {"id": acc[1]}}),
        ],
        Origin::Ui,
        now - Duration::days(12),
    );

    // Events: upcoming and past, a recurring one, participants, an imported one.
    let first_contact = c_ui.first().cloned().unwrap_or_default();
    put(
        st,
        aiko,
        "Events",
        vec![
            json!({"Event_Title": "富士物流 定例ミーティング", "Start_DateTime": local_at(now, tz, 1, 10, 0),
                   "End_DateTime": local_at(now, tz, 1, 11, 0), "Venue": "本社 3F 会議室",
                   "Participants": [{"participant": first_contact, "type": "contact"},
                                    {"participant": "partner@fuji-logistics.example", "type": "email"}],
                   "Who_Id": {"id": first_contact}, "Remind_At": local_at(now, tz, 1, 9, 45)}),
            json!({"Event_Title": "Northwind quarterly review", "Start_DateTime": local_at(now, tz, 3, 14, 0),
                   "End_DateTime": local_at(now, tz, 3, 15, 30), "Venue": "Zoom",
                   "Description": "Review Q4 orders and shipping schedule."}),
            json!({"Event_Title": "週次営業会議", "Start_DateTime": local_at(now, tz, -6, 9, 0),
                   "End_DateTime": local_at(now, tz, -6, 9, 30),
                   "Recurring_Activity": {"RRULE": format!("FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL={};DTSTART={}",
                                                            local_date(now, tz, 180), local_date(now, tz, -6))}}),
            json!({"Event_Title": "展示会 (Tokyo Logistics Expo)", "Start_DateTime": local_at(now, tz, 10, 0, 0),
                   "End_DateTime": local_at(now, tz, 10, 23, 59), "All_day": true, "Venue": "東京ビッグサイト"}),
            json!({"Event_Title": "Kick-off with Olivia", "Start_DateTime": local_at(now, tz, -14, 16, 0),
                   "End_DateTime": local_at(now, tz, -14, 17, 0)}),
        ],
        Origin::Ui,
        now - Duration::days(20),
    );
    put(
        st,
        aiko,
        "Events",
        vec![
            json!({"Event_Title": "Imported: 2025 trade fair", "Start_DateTime": local_at(now, tz, 5, 13, 0),
                    "End_DateTime": local_at(now, tz, 5, 17, 0)}),
        ],
        Origin::Import,
        now - Duration::days(40),
    );
    put(
        st,
        ben,
        "Events",
        vec![
            json!({"Event_Title": "Lunch with Noah", "Start_DateTime": local_at(now, "America/Los_Angeles", 2, 12, 0),
                    "End_DateTime": local_at(now, "America/Los_Angeles", 2, 13, 0), "Venue": "Pike Place"}),
        ],
        Origin::Ui,
        now - Duration::days(3),
    );
    put(
        st,
        haruto,
        "Events",
        vec![
            json!({"Event_Title": "倉庫見学", "Start_DateTime": local_at(now, tz, 4, 15, 0),
                    "End_DateTime": local_at(now, tz, 4, 16, 30), "Venue": "横浜倉庫"}),
        ],
        Origin::Ui,
        now - Duration::days(2),
    );

    // Tasks
    put(
        st,
        aiko,
        "Tasks",
        vec![
            json!({"Subject": "見積書を送付する", "Due_Date": local_date(now, tz, 2), "Status": "Not Started",
                   "Priority": "High", "Who_Id": {"id": first_contact},
                   "Remind_At": {"ALARM": format!("FREQ=NONE;ACTION=POPUP;TRIGGER=DATE-TIME:{}", local_at(now, tz, 2, 9, 0))}}),
            json!({"Subject": "Follow up with Northwind", "Due_Date": local_date(now, tz, 5), "Status": "In Progress", "Priority": "Normal"}),
            json!({"Subject": "契約書のレビュー", "Due_Date": local_date(now, tz, -3), "Status": "Completed", "Priority": "Highest"}),
            json!({"Subject": "Prepare expo booth", "Due_Date": local_date(now, tz, 9), "Status": "Waiting for input", "Priority": "Low"}),
        ],
        Origin::Ui,
        now - Duration::days(7),
    );
    put(
        st,
        aiko,
        "Tasks",
        vec![
            json!({"Subject": "Imported task", "Due_Date": local_date(now, tz, 1), "Status": "Not Started"}),
        ],
        Origin::Import,
        now - Duration::days(50),
    );
    put(
        st,
        ben,
        "Tasks",
        vec![
            json!({"Subject": "Send catalogue to Emma", "Due_Date": local_date(now, "America/Los_Angeles", 1), "Priority": "Normal", "Status": "Not Started"}),
        ],
        Origin::Ui,
        now - Duration::days(1),
    );

    // A second, small org in the Japan data centre.
    let jp = new_org(
        st,
        "jp",
        "伊藤商事 (Demo JP)",
        options.edition,
        "Asia/Tokyo",
        5,
        Some(options),
    );
    let _ = add_user(
        st,
        &jp,
        NewUser {
            email: "kenji.ito@sakura-jp.example",
            first_name: Some("健二"),
            last_name: "伊藤",
            profile: "Administrator",
            role: "CEO",
            time_zone: "Asia/Tokyo",
            locale: "ja_JP",
            password: DEMO_PASSWORD,
            confirmed: true,
        },
        created,
    );
    let kenji = "kenji.ito@sakura-jp.example";
    put(
        st,
        kenji,
        "Contacts",
        vec![
            json!({"First_Name": "花子", "Last_Name": "高橋", "Email": "hanako.takahashi@example.jp"}),
        ],
        Origin::Ui,
        now - Duration::days(5),
    );
    put(
        st,
        kenji,
        "Events",
        vec![
            json!({"Event_Title": "大阪出張", "Start_DateTime": local_at(now, tz, 7, 9, 0), "End_DateTime": local_at(now, tz, 7, 18, 0)}),
        ],
        Origin::Ui,
        now - Duration::days(5),
    );
    put(
        st,
        kenji,
        "Tasks",
        vec![
            json!({"Subject": "請求書の確認", "Due_Date": local_date(now, tz, 3), "Status": "Not Started", "Priority": "Normal"}),
        ],
        Origin::Ui,
        now - Duration::days(5),
    );
}

const FIRST: &[&str] = &[
    "Aoi", "Yuto", "Mei", "Riku", "Hina", "Sota", "Olivia", "Liam", "Emma", "Noah", "Ava", "Mia",
    "花子", "太郎", "結衣", "蓮", "陽菜", "大翔",
];
const LAST: &[&str] = &[
    "Suzuki",
    "Takahashi",
    "Watanabe",
    "Ito",
    "Smith",
    "Johnson",
    "Brown",
    "Miller",
    "Garcia",
    "鈴木",
    "高橋",
    "渡辺",
    "伊藤",
    "山本",
    "中村",
];

/// Generate `count` records of `module` owned by and created by `email`.
pub(crate) fn generate(
    st: &mut State,
    email: &str,
    module: &str,
    count: usize,
    now: DateTime<Utc>,
) -> Result<usize, String> {
    let (org_id, _) = user_id(st, email).ok_or_else(|| format!("unknown user {email}"))?;
    let tz = st.orgs[&org_id].time_zone.clone();
    let start = st.orgs[&org_id]
        .records
        .get(module)
        .map(|m| m.len())
        .unwrap_or(0);
    let mut made = 0;
    for chunk_start in (0..count).step_by(100) {
        let n = (count - chunk_start).min(100);
        let items: Vec<Value> = (0..n)
            .map(|k| {
                let i = start + chunk_start + k;
                let first = FIRST[i % FIRST.len()];
                let last = LAST[(i / FIRST.len()) % LAST.len()];
                match module {
                    "Contacts" => json!({"First_Name": first, "Last_Name": format!("{last} {i}"),
                                         "Email": format!("gen{i}@generated.example"), "Phone": format!("+1 555-{:04}", i % 10_000)}),
                    "Events" => {
                        let day = (i % 400) as i64 - 200;
                        let hour = 8 + (i % 9) as u32;
                        json!({"Event_Title": format!("Meeting {i} with {first} {last}"),
                               "Start_DateTime": local_at(now, &tz, day, hour, 0),
                               "End_DateTime": local_at(now, &tz, day, hour, 45)})
                    }
                    _ => json!({"Subject": format!("Task {i}: call {first} {last}"),
                                "Due_Date": local_date(now, &tz, (i % 120) as i64 - 30),
                                "Status": crate::fields::TASK_STATUS[i % 5],
                                "Priority": crate::fields::TASK_PRIORITY[i % 5]}),
                }
            })
            .collect();
        made += put(st, email, module, items, Origin::Api, now).len();
    }
    Ok(made)
}
