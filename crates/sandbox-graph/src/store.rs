//! The in-memory state of the emulated tenant: users, mailboxes and their
//! items, identity-platform grants. Everything here is serialisable so the
//! whole state can be saved to and loaded from a JSON snapshot.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The kinds of Outlook / To Do items a mailbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Calendar,
    Event,
    ContactFolder,
    Contact,
    TodoList,
    Task,
}

/// One stored item. `container` is the parent (calendar, contact folder or
/// To Do list id; the parent folder for child contact folders; "" at top
/// level). `fields` holds the client-writable properties, already
/// normalised; read-only properties are derived when the item is rendered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub kind: Kind,
    pub container: String,
    pub fields: Map<String, Value>,
    /// singleValueExtendedProperties: id → value.
    #[serde(default)]
    pub ext: BTreeMap<String, String>,
    /// Internal data (recurrence exceptions, cancelled occurrences, linked resources...).
    #[serde(default)]
    pub internal: Map<String, Value>,
    pub seq: u64,
    pub change_key: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// A deleted item, kept so delta rounds can report `@removed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tombstone {
    pub id: String,
    pub kind: Kind,
    pub container: String,
    pub seq: u64,
    /// The item as it was (events: needed to name the removed occurrences).
    pub prior: Option<Item>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Mailbox {
    pub items: Vec<Item>,
    pub tombstones: Vec<Tombstone>,
    /// Change sequence of this mailbox; every write takes the next value.
    pub seq: u64,
    /// Delta tokens minted before the current epoch are gone (410).
    pub delta_epoch: u64,
    pub default_calendar: String,
    pub default_contact_folder: String,
    pub default_todo_list: String,
    /// Messages delivered to this mailbox (sendMail, invitations).
    pub inbox: Vec<Value>,
    /// Messages this mailbox sent through sendMail.
    pub sent: Vec<Value>,
    /// Meeting invitations / updates / cancellations sent by this organizer.
    pub invitations: Vec<Value>,
}

impl Mailbox {
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Item> {
        self.items.iter_mut().find(|i| i.id == id)
    }

    pub fn get_kind(&self, id: &str, kind: Kind) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id && i.kind == kind)
    }

    /// Adds a new item with a fresh id, seq and change key; returns its id.
    pub fn insert(
        &mut self,
        kind: Kind,
        container: &str,
        fields: Map<String, Value>,
        ext: BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> String {
        let id = new_item_id(kind);
        let seq = self.next_seq();
        self.items.push(Item {
            id: id.clone(),
            kind,
            container: container.to_string(),
            fields,
            ext,
            internal: Map::new(),
            seq,
            change_key: new_change_key(),
            created: now,
            modified: now,
        });
        id
    }

    /// Marks an item changed (new seq, change key and modified time).
    pub fn touch(&mut self, id: &str, now: DateTime<Utc>) {
        let seq = self.next_seq();
        if let Some(item) = self.get_mut(id) {
            item.seq = seq;
            item.change_key = new_change_key();
            item.modified = now;
        }
    }

    /// Removes an item and every item contained in it (recursively),
    /// leaving tombstones.
    pub fn remove_tree(&mut self, id: &str) {
        let mut queue = vec![id.to_string()];
        while let Some(current) = queue.pop() {
            let children: Vec<String> = self
                .items
                .iter()
                .filter(|i| i.container == current)
                .map(|i| i.id.clone())
                .collect();
            queue.extend(children);
            if let Some(pos) = self.items.iter().position(|i| i.id == current) {
                let item = self.items.remove(pos);
                let seq = self.next_seq();
                self.tombstones.push(Tombstone {
                    id: item.id.clone(),
                    kind: item.kind,
                    container: item.container.clone(),
                    seq,
                    prior: Some(item),
                });
            }
        }
    }
}

/// A directory user with a mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub mail: Option<String>,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub job_title: Option<String>,
    pub office_location: Option<String>,
    pub preferred_language: Option<String>,
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    pub password: String,
}

/// An access token minted by `/token` or the control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessGrant {
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshGrant {
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub user_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub code_challenge: String,
    pub expires_at: DateTime<Utc>,
    pub redeemed: bool,
}

/// The whole state (the snapshot format).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Data {
    pub tenant_id: String,
    pub tenant_domain: String,
    pub users: Vec<User>,
    /// user id → mailbox.
    pub mailboxes: BTreeMap<String, Mailbox>,
    pub access_tokens: BTreeMap<String, AccessGrant>,
    pub refresh_tokens: BTreeMap<String, RefreshGrant>,
    pub codes: BTreeMap<String, CodeGrant>,
    /// Browser session cookie → user id.
    pub sessions: BTreeMap<String, String>,
    /// "user_id client_id scope" entries the user consented to.
    pub consents: Vec<String>,
}

impl Data {
    /// Finds a user by object id, UPN or mail (case-insensitive).
    pub fn find_user(&self, key: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.id.eq_ignore_ascii_case(key)
                || u.user_principal_name.eq_ignore_ascii_case(key)
                || u.mail
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(key))
        })
    }

    /// Adds a user with an empty mailbox (default calendar, Contacts folder,
    /// "Tasks" list).
    pub fn add_user(&mut self, user: User, now: DateTime<Utc>) {
        let mut mailbox = Mailbox::default();
        let owner = serde_json::json!({"name": user.display_name, "address": user.mail.clone().unwrap_or_else(|| user.user_principal_name.clone())});
        let mut cal = Map::new();
        cal.insert("name".into(), Value::from("Calendar"));
        cal.insert("color".into(), Value::from("auto"));
        cal.insert("hexColor".into(), Value::from(""));
        cal.insert("isDefaultCalendar".into(), Value::Bool(true));
        cal.insert("owner".into(), owner);
        mailbox.default_calendar = mailbox.insert(Kind::Calendar, "", cal, BTreeMap::new(), now);
        let mut folder = Map::new();
        folder.insert("displayName".into(), Value::from("Contacts"));
        mailbox.default_contact_folder =
            mailbox.insert(Kind::ContactFolder, "", folder, BTreeMap::new(), now);
        let mut list = Map::new();
        list.insert("displayName".into(), Value::from("Tasks"));
        list.insert("wellknownListName".into(), Value::from("defaultList"));
        mailbox.default_todo_list = mailbox.insert(Kind::TodoList, "", list, BTreeMap::new(), now);
        self.mailboxes.insert(user.id.clone(), mailbox);
        self.users.push(user);
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

/// Outlook-style opaque id ("AAMkA..." base64). The alphabet never contains
/// '_' so occurrence ids (`{master}_OCC{date}`) parse unambiguously.
pub fn new_item_id(kind: Kind) -> String {
    let prefix = match kind {
        Kind::Calendar | Kind::ContactFolder => "AAMkAGVmMDEz",
        Kind::Event | Kind::Contact => "AAMkAGIAAAoZ",
        Kind::TodoList | Kind::Task => "AAMkADIyAAAu",
    };
    let body = base64::engine::general_purpose::STANDARD.encode(random_bytes::<30>());
    format!("{prefix}{}=", body.replace(['+', '/'], "-"))
}

pub fn new_change_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(random_bytes::<21>())
}

pub fn new_secret(prefix: &str) -> String {
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    format!("{prefix}{body}")
}

pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}
