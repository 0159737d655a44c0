//! Zoho CRM Contacts as the engine's CRM side, with the exclusion rules.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use crmsync_core::contact::{ContactRecord, ValidatedMapping};
use crmsync_core::planner::{Observation, Observed};
use crmsync_core::policy::{
    classify_timeline, first_sync_cap, first_sync_order, import_check, is_owned_by,
    select_first_sync, Exclusion, FirstSyncCandidate, ImportCheck, TimelineEntry,
};
use crmsync_core::ModuleKind;
use crmsync_engine::{Changes, PortError, RecordPort, Written};
use crmsync_zoho::models::Module;
use crmsync_zoho::{DeletedType, ListQuery, ZohoClient, ZohoError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::error::zoho_error;

/// The fields listed: the mapped standard fields plus what the exclusions need.
pub const CONTACT_LIST_FIELDS: &[&str] = &[
    "Owner",
    "First_Name",
    "Last_Name",
    "Email",
    "Secondary_Email",
    "Phone",
    "Mobile",
    "Home_Phone",
    "Other_Phone",
    "Title",
    "Department",
    "Account_Name",
    "Mailing_Street",
    "Mailing_City",
    "Mailing_State",
    "Mailing_Zip",
    "Mailing_Country",
    "Other_Street",
    "Other_City",
    "Other_State",
    "Other_Zip",
    "Other_Country",
    "Date_of_Birth",
    "Description",
    "Assistant",
    "Created_Time",
    "Modified_Time",
];

const MODULE: &str = "Contacts";
/// Timeline requests in flight while classifying never-modified records.
const TIMELINE_PARALLEL: usize = 4;
/// Clock skew tolerated between this machine and the CRM when looking a lost create up.
const LOST_CREATE_SKEW_SECS: i64 = 300;

/// A Contacts record as raw JSON (explicit `null`s clear fields on update).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct RawContact(Map<String, Value>);

impl Module for RawContact {
    const API_NAME: &'static str = MODULE;
    const DEFAULT_FIELDS: &'static [&'static str] = CONTACT_LIST_FIELDS;
    fn id(&self) -> Option<&str> {
        self.0.get("id").and_then(Value::as_str)
    }
}

impl RawContact {
    fn text(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(Value::as_str)
    }
    fn time(&self, k: &str) -> Option<DateTime<Utc>> {
        self.text(k).and_then(parse_time)
    }
    fn owner_id(&self) -> Option<&str> {
        self.0.get("Owner")?.get("id")?.as_str()
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn fixed(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.fixed_offset()
}

/// A timeline answer for (index, id, Modified_Time).
type Fetched = (
    usize,
    String,
    String,
    Result<Vec<crmsync_zoho::models::TimelineEntry>, ZohoError>,
);

/// The feed position: the newest `Modified_Time` and deletion time seen.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Cursor {
    modified: DateTime<Utc>,
    deleted: DateTime<Utc>,
}

/// The CRM side of the Contacts module.
pub struct ZohoContacts {
    client: ZohoClient,
    rt: Handle,
    mapping: ValidatedMapping,
    user_id: String,
    first_sync_at: Option<DateTime<Utc>>,
    cap: Option<usize>,
    /// Timeline verdicts of never-modified records, by (id, Modified_Time).
    timeline: HashMap<(String, String), Option<Exclusion>>,
    failures: Vec<(String, String)>,
    /// The org's Contacts fields (to validate a stored mapping) and the stored mapping applied.
    pub(crate) mapping_source: crate::modules::MappingSource,
}

impl ZohoContacts {
    /// `user_id`: the signed-in CRM user (only the records they own sync).
    #[must_use]
    pub fn new(client: ZohoClient, rt: Handle, mapping: ValidatedMapping, user_id: String) -> Self {
        Self {
            client,
            rt,
            mapping,
            user_id,
            first_sync_at: None,
            cap: first_sync_cap(ModuleKind::Contacts),
            timeline: HashMap::new(),
            failures: Vec::new(),
            mapping_source: crate::modules::MappingSource::default(),
        }
    }

    /// The org's Contacts fields, to validate the mapping the user stores (see
    /// [`crate::Adapter::prepare`]).
    pub fn set_crm_fields(&mut self, fields: Vec<crmsync_core::contact::CrmField>) {
        self.mapping_source.crm_fields = fields;
    }

    /// The first-sync cap (10,000 contacts by default; tests lower it).
    pub fn set_first_sync_cap(&mut self, cap: Option<usize>) {
        self.cap = cap;
    }

    /// When the first sync ran (the store's `first_sync_at`); None before it.
    pub fn set_first_sync_at(&mut self, at: Option<DateTime<Utc>>) {
        self.first_sync_at = at;
    }

    /// Records the last calls could not project (id, error): their health, not observed.
    #[must_use]
    pub fn failures(&self) -> &[(String, String)] {
        &self.failures
    }

    pub(crate) fn clear_failures(&mut self) {
        self.failures.clear();
    }

    /// Projects records with `mapping` from now on.
    pub fn set_mapping(&mut self, mapping: ValidatedMapping) {
        self.mapping = mapping;
    }

    /// The CRM client.
    #[must_use]
    pub fn client(&self) -> &ZohoClient {
        &self.client
    }

    /// The runtime the port calls block on.
    #[must_use]
    pub fn runtime(&self) -> &Handle {
        &self.rt
    }

    /// The signed-in CRM user's id.
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    fn list(&self, since: Option<DateTime<Utc>>) -> Result<Vec<RawContact>, PortError> {
        // The fields the sync always needs, plus those of the mapping (custom ones too).
        let mut fields: Vec<String> = CONTACT_LIST_FIELDS
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        for f in self.mapping.crm_fields() {
            if !fields.iter().any(|x| x == f) {
                fields.push(f.to_owned());
            }
        }
        let q = ListQuery {
            fields,
            modified_since: since.map(fixed),
            ..ListQuery::default()
        };
        self.rt
            .block_on(self.client.list_all::<RawContact>(&q))
            .map_err(|e| zoho_error(&e, false))
    }

    fn get_raw(&self, id: &str) -> Result<Option<RawContact>, PortError> {
        match self.rt.block_on(self.client.get::<RawContact>(id)) {
            Ok(r) => Ok(Some(r)),
            Err(ZohoError::NotFound(_)) => Ok(None),
            Err(e) => Err(zoho_error(&e, false)),
        }
    }

    /// Ownership, then import (timeline only for records never modified since creation).
    fn base_exclusions(
        &mut self,
        recs: &[RawContact],
    ) -> Result<Vec<Option<Exclusion>>, PortError> {
        let mut out = vec![None; recs.len()];
        let mut need: Vec<(usize, String, String)> = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            if !is_owned_by(r.owner_id(), &self.user_id) {
                out[i] = Some(Exclusion::NotOwner);
                continue;
            }
            let (Some(c), Some(m)) = (r.time("Created_Time"), r.time("Modified_Time")) else {
                continue;
            };
            if import_check(c, m) == ImportCheck::NeedsTimeline {
                let id = r.id().unwrap_or_default().to_string();
                let key = (
                    id.clone(),
                    r.text("Modified_Time").unwrap_or_default().to_string(),
                );
                match self.timeline.get(&key) {
                    Some(v) => out[i] = *v,
                    None => need.push((i, id, key.1)),
                }
            }
        }
        let client = &self.client;
        let fetched: Vec<Fetched> = self.rt.block_on(
            futures::stream::iter(need)
                .map(|(i, id, m)| async move {
                    let r = client.timeline(MODULE, &id).await;
                    (i, id, m, r)
                })
                .buffer_unordered(TIMELINE_PARALLEL)
                .collect(),
        );
        for (i, id, m, r) in fetched {
            let verdict = match r {
                Ok(entries) => {
                    // Zoho lists the timeline newest first; oldest first keeps the order of
                    // entries within the same second (an edit right after an import).
                    let entries: Vec<TimelineEntry> = entries
                        .into_iter()
                        .rev()
                        .filter_map(|e| {
                            Some(TimelineEntry {
                                audited_time: parse_time(e.audited_time.as_deref()?)?,
                                action: e.action?,
                                source: e.source.unwrap_or_default(),
                            })
                        })
                        .collect();
                    classify_timeline(&entries).err()
                }
                Err(ZohoError::NotFound(_)) => continue,
                Err(e) => {
                    let pe = zoho_error(&e, false);
                    if pe.is_service_level() {
                        return Err(pe);
                    }
                    // This record's history could not be read: it waits, others go on.
                    self.failures.push((id, e.to_string()));
                    out[i] = Some(Exclusion::AwaitingTimeline);
                    continue;
                }
            };
            self.timeline.insert((id, m), verdict);
            out[i] = verdict;
        }
        Ok(out)
    }

    /// Projects and classifies records; `listing`: a complete listing (the first-sync cap
    /// selects among the eligible records last modified before the first sync).
    fn observe_all(
        &mut self,
        recs: &[RawContact],
        listing: bool,
    ) -> Result<Vec<Observed<ContactRecord>>, PortError> {
        let mut excl = self.base_exclusions(recs)?;
        if listing {
            let mut candidates = Vec::new();
            for (i, r) in recs.iter().enumerate() {
                let (Some(id), Some(m)) = (r.id(), r.time("Modified_Time")) else {
                    continue;
                };
                let before_first = self.first_sync_at.is_none_or(|f| m <= f);
                if excl[i].is_none() && before_first {
                    candidates.push(FirstSyncCandidate {
                        crm_id: id.to_string(),
                        modified: m,
                        start: None,
                        end: None,
                    });
                }
            }
            let order = first_sync_order(ModuleKind::Contacts, Utc::now());
            let sel = select_first_sync(&candidates, self.cap, order);
            let deferred: std::collections::HashSet<&str> =
                sel.deferred.iter().map(String::as_str).collect();
            for (i, r) in recs.iter().enumerate() {
                if r.id().is_some_and(|id| deferred.contains(id)) {
                    excl[i] = Some(Exclusion::BeyondFirstSyncCap);
                }
            }
        }
        let mut out = Vec::new();
        for (r, exclusion) in recs.iter().zip(excl) {
            if let Some(o) = self.observe(r, exclusion) {
                out.push(o);
            }
        }
        Ok(out)
    }

    fn observe(
        &mut self,
        r: &RawContact,
        exclusion: Option<Exclusion>,
    ) -> Option<Observed<ContactRecord>> {
        let id = r.id()?.to_string();
        match self.mapping.crm_to_canonical(&r.0) {
            Ok(p) => Some(Observed {
                version: r.text("Modified_Time").unwrap_or_default().to_string(),
                modified: r
                    .time("Modified_Time")
                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                record: p.record,
                stamp: None,
                exclusion,
                id,
            }),
            Err(e) => {
                self.failures.push((id, e.to_string()));
                None
            }
        }
    }

    fn written(r: &RawContact) -> Result<Written, PortError> {
        Ok(Written {
            id: r
                .id()
                .ok_or_else(|| PortError::Unavailable("Zoho answered without an id".into()))?
                .to_string(),
            version: r.text("Modified_Time").unwrap_or_default().to_string(),
            modified: r
                .time("Modified_Time")
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        })
    }

    /// The record a create of `record` may have made since `since`: a contact with its
    /// e-mail, owned by this user, created at or after `since` (less the clock skew), the
    /// earliest such. Zoho has no idempotency key and no stamp field; this is the lookup
    /// that keeps a lost answer from becoming a duplicate.
    /// The record a create of `record` made since `since` (local clock, with skew), owned by
    /// this user, if it landed: by e-mail when the contact has one, else by the name fields
    /// the create sent (`Last_Name` is mandatory in the CRM), the earliest such record.
    fn lookup_created(
        &self,
        record: &ContactRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<RawContact>, PortError> {
        use crmsync_core::CanonicalRecord;
        let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
        // (field, value) pairs a candidate must carry (case-insensitively).
        let keys: Vec<(&str, String)> = match record.natural_key() {
            Some(email) => vec![("Email", email)],
            None => {
                let body = self
                    .mapping
                    .canonical_to_crm(record, None)
                    .map_err(|e| PortError::Rejected(e.to_string()))?;
                let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
                let Some(last) = text("Last_Name") else {
                    return Ok(None);
                };
                let mut keys = vec![("Last_Name", last)];
                keys.extend(text("First_Name").map(|f| ("First_Name", f)));
                keys
            }
        };
        let (field, value) = &keys[0];
        let q = format!(
            "select id, Email, First_Name, Last_Name, Created_Time, Owner from {MODULE} where {field} = {}",
            quote(value)
        );
        let (rows, _) = self
            .rt
            .block_on(self.client.coql(&q))
            .map_err(|e| zoho_error(&e, false))?;
        let floor = since - Duration::seconds(LOST_CREATE_SKEW_SECS);
        let mut best: Option<(DateTime<Utc>, String)> = None;
        for row in rows {
            let r: RawContact = match serde_json::from_value(row) {
                Ok(r) => r,
                Err(_) => continue,
            };
            let (Some(id), Some(created)) = (r.id(), r.time("Created_Time")) else {
                continue;
            };
            if created < floor || !is_owned_by(r.owner_id(), &self.user_id) {
                continue;
            }
            if !keys.iter().all(|(k, v)| {
                r.text(k)
                    .is_some_and(|x| x.trim().eq_ignore_ascii_case(v.trim()))
            }) {
                continue;
            }
            if best.as_ref().is_none_or(|(c, _)| created < *c) {
                best = Some((created, id.to_string()));
            }
        }
        match best {
            Some((_, id)) => self.get_raw(&id),
            None => Ok(None),
        }
    }
}

impl RecordPort<ContactRecord> for ZohoContacts {
    fn list_all(&mut self) -> Result<Changes<ContactRecord>, PortError> {
        let started = Utc::now();
        let recs = self.list(None)?;
        let newest = recs
            .iter()
            .filter_map(|r| r.time("Modified_Time"))
            .max()
            .unwrap_or(started);
        let observations = self
            .observe_all(&recs, true)?
            .into_iter()
            .map(Observation::Present)
            .collect();
        let cursor = Cursor {
            modified: newest,
            deleted: newest.min(started),
        };
        Ok(Changes {
            observations,
            cursor: serde_json::to_string(&cursor)
                .map_err(|e| PortError::Unavailable(e.to_string()))?,
        })
    }

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<ContactRecord>, PortError> {
        let mut c: Cursor = serde_json::from_str(cursor).map_err(|_| PortError::CursorExpired)?;
        // One second back: a change in the watermark's own second is read again (harmless).
        let recs = self.list(Some(c.modified - Duration::seconds(1)))?;
        let deleted = self
            .rt
            .block_on(self.client.deleted_records(
                MODULE,
                DeletedType::All,
                Some(fixed(c.deleted - Duration::seconds(1))),
            ))
            .map_err(|e| zoho_error(&e, false))?;
        if let Some(m) = recs.iter().filter_map(|r| r.time("Modified_Time")).max() {
            c.modified = c.modified.max(m);
        }
        let mut observations: Vec<Observation<ContactRecord>> = self
            .observe_all(&recs, false)?
            .into_iter()
            .map(Observation::Present)
            .collect();
        for d in deleted {
            if let Some(t) = d.deleted_time.as_deref().and_then(parse_time) {
                c.deleted = c.deleted.max(t);
            }
            observations.push(Observation::Deleted { id: d.id });
        }
        Ok(Changes {
            observations,
            cursor: serde_json::to_string(&c).map_err(|e| PortError::Unavailable(e.to_string()))?,
        })
    }

    fn get(&mut self, id: &str) -> Result<Option<Observed<ContactRecord>>, PortError> {
        let Some(r) = self.get_raw(id)? else {
            return Ok(None);
        };
        let mut v = self.observe_all(std::slice::from_ref(&r), false)?;
        Ok(v.pop())
    }

    fn find_by_stamp(
        &mut self,
        _stamp: &str,
    ) -> Result<Option<Observed<ContactRecord>>, PortError> {
        // CRM records carry no stamp field; see `find_created`.
        Ok(None)
    }

    fn find_created(
        &mut self,
        _stamp: &str,
        record: &ContactRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<Observed<ContactRecord>>, PortError> {
        let Some(r) = self.lookup_created(record, since)? else {
            return Ok(None);
        };
        let mut v = self.observe_all(std::slice::from_ref(&r), false)?;
        Ok(v.pop())
    }

    fn create(
        &mut self,
        record: &ContactRecord,
        _stamp: Option<&str>,
    ) -> Result<Written, PortError> {
        let body = self
            .mapping
            .canonical_to_crm(record, None)
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        let started = Utc::now();
        let results = self
            .rt
            .block_on(self.client.insert(&[RawContact(body)]))
            .map_err(|e| zoho_error(&e, true));
        let outcome = match results {
            Ok(mut rs) if !rs.is_empty() => rs.remove(0).result.map_err(|e| zoho_error(&e, true)),
            Ok(_) => Err(PortError::Unavailable("Zoho answered no result".into())),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(id) => {
                let r = self.get_raw(&id)?.ok_or(PortError::NotFound)?;
                Self::written(&r)
            }
            Err(PortError::Timeout) => {
                // The answer was lost; the create may have landed. Never re-post here: look
                // it up, and if it is not (yet) visible leave the intent for the next round.
                match self.lookup_created(record, started)? {
                    Some(r) => Self::written(&r),
                    None => Err(PortError::Timeout),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn update(
        &mut self,
        id: &str,
        record: &ContactRecord,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError> {
        let current = self.get_raw(id)?.ok_or(PortError::NotFound)?;
        if let Some(v) = expected_version {
            if current.text("Modified_Time") != Some(v) {
                return Err(PortError::PreconditionFailed);
            }
        }
        let mut patch = self
            .mapping
            .canonical_to_crm(record, Some(&current.0))
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        if patch.is_empty() {
            return Self::written(&current);
        }
        patch.insert("id".into(), Value::String(id.to_string()));
        let patch = RawContact(patch);
        match expected_version {
            // The version is the `Modified_Time` as read: the CRM refuses the write (412)
            // when the record changed since, closing the race after the check above.
            Some(v) => self
                .rt
                .block_on(self.client.update_if_unmodified(&patch, v))
                .map(|_| ())
                .map_err(|e| zoho_error(&e, true))?,
            None => {
                let mut rs = self
                    .rt
                    .block_on(self.client.update(&[patch]))
                    .map_err(|e| zoho_error(&e, true))?;
                if rs.is_empty() {
                    return Err(PortError::Unavailable("Zoho answered no result".into()));
                }
                rs.remove(0).result.map_err(|e| zoho_error(&e, true))?;
            }
        }
        let r = self.get_raw(id)?.ok_or(PortError::NotFound)?;
        Self::written(&r)
    }

    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        let current = self.get_raw(id)?.ok_or(PortError::NotFound)?;
        if let Some(v) = expected_version {
            if current.text("Modified_Time") != Some(v) {
                return Err(PortError::PreconditionFailed);
            }
        }
        let mut rs = self
            .rt
            .block_on(self.client.delete(MODULE, &[id.to_string()]))
            .map_err(|e| zoho_error(&e, true))?;
        if rs.is_empty() {
            return Err(PortError::Unavailable("Zoho answered no result".into()));
        }
        rs.remove(0)
            .result
            .map(|_| ())
            .map_err(|e| zoho_error(&e, true))
    }
}
