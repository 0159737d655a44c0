//! Zoho CRM Tasks as the engine's CRM side, with the exclusion rules (owner only, import and
//! migration excluded through the timeline, the first-sync cap when one is set) and a
//! duplicate-safe create: a lost answer is looked up by subject and due date among the tasks
//! this user created since the intent, never re-posted blindly.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, FixedOffset, Utc};
use crmsync_core::planner::{Observation, Observed};
use crmsync_core::policy::{
    classify_timeline, first_sync_cap, first_sync_order, import_check, is_owned_by,
    select_first_sync, Exclusion, FirstSyncCandidate, ImportCheck, TimelineEntry,
};
use crmsync_core::task::{TaskMapping, TaskRecord};
use crmsync_core::value::{normalize_text, TextForm};
use crmsync_core::ModuleKind;
use crmsync_engine::{Changes, PortError, RecordPort, Written};
use crmsync_zoho::models::Module;
use crmsync_zoho::{DeletedType, ListQuery, ZohoClient, ZohoError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::error::zoho_error;

/// The Tasks fields listed: the mapped fields plus what the exclusions need.
pub const TASK_LIST_FIELDS: &[&str] = &[
    "Owner",
    "Subject",
    "Due_Date",
    "Status",
    "Priority",
    "Description",
    "Closed_Time",
    "Created_Time",
    "Modified_Time",
];

const MODULE: &str = "Tasks";
/// Timeline requests in flight while classifying never-modified records.
const TIMELINE_PARALLEL: usize = 4;
/// Clock skew tolerated between this machine and the CRM when looking a lost create up.
const LOST_CREATE_SKEW_SECS: i64 = 300;

/// A Tasks record as raw JSON (explicit `null`s clear fields on update).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct RawTask(Map<String, Value>);

impl Module for RawTask {
    const API_NAME: &'static str = MODULE;
    const DEFAULT_FIELDS: &'static [&'static str] = TASK_LIST_FIELDS;
    fn id(&self) -> Option<&str> {
        self.0.get("id").and_then(Value::as_str)
    }
}

impl RawTask {
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

/// The CRM side of the Tasks module.
pub struct ZohoTasks {
    client: ZohoClient,
    rt: Handle,
    mapping: TaskMapping,
    user_id: String,
    first_sync_at: Option<DateTime<Utc>>,
    cap: Option<usize>,
    /// Timeline verdicts of never-modified records, by (id, Modified_Time).
    timeline: HashMap<(String, String), Option<Exclusion>>,
    failures: Vec<(String, String)>,
}

impl ZohoTasks {
    /// `user_id`: the signed-in CRM user (only the tasks they own sync).
    #[must_use]
    pub fn new(client: ZohoClient, rt: Handle, mapping: TaskMapping, user_id: String) -> Self {
        Self {
            client,
            rt,
            mapping,
            user_id,
            first_sync_at: None,
            cap: first_sync_cap(ModuleKind::Tasks),
            timeline: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// The first-sync cap (tasks have none by default; tests set one).
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

    /// Forgets the failures of earlier rounds.
    pub fn clear_failures(&mut self) {
        self.failures.clear();
    }

    /// The signed-in CRM user's id.
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    fn list(&self, since: Option<DateTime<Utc>>) -> Result<Vec<RawTask>, PortError> {
        let q = ListQuery {
            fields: TASK_LIST_FIELDS.iter().map(|s| (*s).to_string()).collect(),
            modified_since: since.map(fixed),
            ..ListQuery::default()
        };
        self.rt
            .block_on(self.client.list_all::<RawTask>(&q))
            .map_err(|e| zoho_error(&e, false))
    }

    fn get_raw(&self, id: &str) -> Result<Option<RawTask>, PortError> {
        match self.rt.block_on(self.client.get::<RawTask>(id)) {
            Ok(r) => Ok(Some(r)),
            Err(ZohoError::NotFound(_)) => Ok(None),
            Err(e) => Err(zoho_error(&e, false)),
        }
    }

    /// Ownership, then import (timeline only for records never modified since creation).
    fn base_exclusions(&mut self, recs: &[RawTask]) -> Result<Vec<Option<Exclusion>>, PortError> {
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
                    // entries within the same second.
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

    /// Projects and classifies records; `listing`: a complete listing (the first-sync cap, when
    /// set, selects among the eligible records last modified before the first sync).
    fn observe_all(
        &mut self,
        recs: &[RawTask],
        listing: bool,
    ) -> Result<Vec<Observed<TaskRecord>>, PortError> {
        let mut excl = self.base_exclusions(recs)?;
        if listing && self.cap.is_some() {
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
            let order = first_sync_order(ModuleKind::Tasks, Utc::now());
            let sel = select_first_sync(&candidates, self.cap, order);
            let deferred: HashSet<&str> = sel.deferred.iter().map(String::as_str).collect();
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
        r: &RawTask,
        exclusion: Option<Exclusion>,
    ) -> Option<Observed<TaskRecord>> {
        let id = r.id()?.to_string();
        match self.mapping.crm_to_canonical(&r.0) {
            Ok(record) => Some(Observed {
                version: r.text("Modified_Time").unwrap_or_default().to_string(),
                modified: r
                    .time("Modified_Time")
                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                record,
                stamp: None,
                exclusion,
                id,
            }),
            Err(e) => {
                // Only records that would sync are reported; another user's broken task is
                // none of this user's business.
                if exclusion != Some(Exclusion::NotOwner) {
                    self.failures.push((id, e.to_string()));
                }
                None
            }
        }
    }

    fn written(r: &RawTask) -> Result<Written, PortError> {
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

    /// The task a create of `record` may have made since `since`: same subject and due date,
    /// owned by this user, created at or after `since` (less the clock skew), the earliest
    /// such. Tasks have no natural key and Zoho no idempotency key; subject + due date + owner
    /// + creation time is the narrowest match the API offers.
    fn lookup_created(
        &self,
        record: &TaskRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<RawTask>, PortError> {
        let Some(subject) = record.title() else {
            return Ok(None);
        };
        let q = format!(
            "select id, Subject, Due_Date, Created_Time, Owner from {MODULE} where Subject = '{}'",
            subject.replace('\\', "\\\\").replace('\'', "\\'")
        );
        let (rows, _) = self
            .rt
            .block_on(self.client.coql(&q))
            .map_err(|e| zoho_error(&e, false))?;
        let floor = since - Duration::seconds(LOST_CREATE_SKEW_SECS);
        let due = record.due().map(|d| d.format("%Y-%m-%d").to_string());
        let mut best: Option<(DateTime<Utc>, String)> = None;
        for row in rows {
            let Ok(r) = serde_json::from_value::<RawTask>(row) else {
                continue;
            };
            let (Some(id), Some(created)) = (r.id(), r.time("Created_Time")) else {
                continue;
            };
            if created < floor || !is_owned_by(r.owner_id(), &self.user_id) {
                continue;
            }
            let same_subject = r
                .text("Subject")
                .and_then(|s| normalize_text(s, TextForm::Line))
                .as_deref()
                == Some(subject);
            let same_due = r.text("Due_Date").filter(|s| !s.is_empty()) == due.as_deref();
            if !same_subject || !same_due {
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

impl RecordPort<TaskRecord> for ZohoTasks {
    fn list_all(&mut self) -> Result<Changes<TaskRecord>, PortError> {
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

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<TaskRecord>, PortError> {
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
        let mut observations: Vec<Observation<TaskRecord>> = self
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

    fn get(&mut self, id: &str) -> Result<Option<Observed<TaskRecord>>, PortError> {
        let Some(r) = self.get_raw(id)? else {
            return Ok(None);
        };
        let mut v = self.observe_all(std::slice::from_ref(&r), false)?;
        Ok(v.pop())
    }

    fn find_by_stamp(&mut self, _stamp: &str) -> Result<Option<Observed<TaskRecord>>, PortError> {
        // CRM tasks carry no stamp field; see `find_created`.
        Ok(None)
    }

    fn find_created(
        &mut self,
        _stamp: &str,
        record: &TaskRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<Observed<TaskRecord>>, PortError> {
        let Some(r) = self.lookup_created(record, since)? else {
            return Ok(None);
        };
        let mut v = self.observe_all(std::slice::from_ref(&r), false)?;
        Ok(v.pop())
    }

    fn create(&mut self, record: &TaskRecord, _stamp: Option<&str>) -> Result<Written, PortError> {
        let body = self
            .mapping
            .canonical_to_crm(record, None)
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        let started = Utc::now();
        let results = self
            .rt
            .block_on(self.client.insert(&[RawTask(body)]))
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
        record: &TaskRecord,
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
        let patch = RawTask(patch);
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
