//! What the CRM sides of every module share (Contacts, Events, Tasks): records as raw JSON, the
//! listing and the feed (modified records since a watermark plus the deleted-records feed),
//! ownership and import classification through the timeline (with its cache), the first-sync
//! cap selection, the lost-create lookup skeleton and the writes with their version checks.
//!
//! What differs per module stays in the module: the mapping, the projection, the match of a
//! lost create, and the Events-only state (deferred records, health across rounds).

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use crmsync_core::planner::{Observation, Observed};
use crmsync_core::policy::{
    classify_timeline, first_sync_cap, first_sync_order, import_check, is_owned_by,
    select_first_sync, Exclusion, FirstSyncCandidate, ImportCheck, TimelineEntry,
};
use crmsync_core::ModuleKind;
use crmsync_engine::{Changes, PortError, Written};
use crmsync_zoho::models::Module;
use crmsync_zoho::{DeletedType, ListQuery, ZohoClient, ZohoError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::error::zoho_error;

/// Clock skew tolerated between this machine and the CRM when looking a lost create up.
const LOST_CREATE_SKEW_SECS: i64 = 300;
/// The field that versions a CRM record.
pub(crate) const MODIFIED: &str = "Modified_Time";

/// One CRM module as the adapters see it.
pub(crate) trait CrmModule: Send + Sync + 'static {
    /// The module's API name (`Contacts`, `Events`, `Tasks`).
    const API_NAME: &'static str;
    /// The fields always listed: the mapped ones plus what the exclusions need.
    const LIST_FIELDS: &'static [&'static str];
    /// The engine's module (its first-sync cap and order).
    const KIND: ModuleKind;
}

/// A record of module `M` as raw JSON (explicit `null`s clear fields on update).
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Raw<M: CrmModule>(pub(crate) Map<String, Value>, #[serde(skip)] PhantomData<M>);

impl<M: CrmModule> Raw<M> {
    /// Wraps a record body.
    pub(crate) fn new(body: Map<String, Value>) -> Self {
        Self(body, PhantomData)
    }

    /// A text field.
    pub(crate) fn text(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(Value::as_str)
    }

    /// A date-time field.
    pub(crate) fn time(&self, k: &str) -> Option<DateTime<Utc>> {
        self.text(k).and_then(parse_time)
    }

    /// The owner's user id.
    pub(crate) fn owner_id(&self) -> Option<&str> {
        self.0.get("Owner")?.get("id")?.as_str()
    }

    /// The record's version (its `Modified_Time` as the CRM wrote it).
    pub(crate) fn version(&self) -> String {
        self.text(MODIFIED).unwrap_or_default().to_string()
    }

    /// Its `Modified_Time` (the epoch when missing).
    pub(crate) fn modified(&self) -> DateTime<Utc> {
        self.time(MODIFIED).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// The observation of this record as `record`.
    pub(crate) fn observed<R>(
        &self,
        id: String,
        record: R,
        exclusion: Option<Exclusion>,
    ) -> Observed<R> {
        Observed {
            version: self.version(),
            modified: self.modified(),
            record,
            stamp: None,
            exclusion,
            id,
        }
    }
}

impl<M: CrmModule> Module for Raw<M> {
    const API_NAME: &'static str = M::API_NAME;
    const DEFAULT_FIELDS: &'static [&'static str] = M::LIST_FIELDS;
    fn id(&self) -> Option<&str> {
        self.0.get("id").and_then(Value::as_str)
    }
}

/// An RFC 3339 time as UTC.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn fixed(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.fixed_offset()
}

/// A COQL string literal.
pub(crate) fn coql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A timeline answer for (index, id, Modified_Time).
type Fetched = (
    usize,
    String,
    String,
    Result<Vec<crmsync_zoho::models::TimelineEntry>, ZohoError>,
);

/// How long after the read that first returned a record modified in the watermark's second a
/// feed must start to be sure the CRM's clock has left that second: the second itself, plus a
/// margin for a write that becomes visible late and for this machine's clock being adjusted.
/// Clocks may differ by any offset: only the time elapsed on this machine counts.
pub const CRM_WATERMARK_SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// The feed position: the newest `Modified_Time` and deletion time seen.
///
/// Zoho's times have whole seconds and `If-Modified-Since` returns records modified *after*
/// it, so a record modified in the watermark's second after the read that set it would be
/// missed by a feed from the watermark: the feed starts one second back and re-reads that
/// second (every record in it, a page of 200 at a time) until it is closed: once a feed that
/// started after the CRM's clock left that second (see [`CRM_WATERMARK_SETTLE`]) has read it,
/// nothing can be modified in it any more, and the feeds read from after it (an idle poll
/// then returns nothing: one request, whatever was modified in the same second).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Cursor {
    modified: DateTime<Utc>,
    deleted: DateTime<Utc>,
    /// When (this machine's clock) a read ended that returned a record modified at
    /// `modified`: the CRM's clock had reached that time by then. None when unknown (an empty
    /// listing's watermark is this machine's time; a cursor from an older version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen_at: Option<DateTime<Utc>>,
    /// `modified`'s whole second was re-read by a feed started once the CRM's clock had left
    /// it: later feeds start after it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    closed: bool,
}

impl Cursor {
    /// Where the next feed starts (`If-Modified-Since`): one second back while the
    /// watermark's second may still get changes, the watermark itself once it is closed.
    fn since(&self) -> DateTime<Utc> {
        if self.closed {
            self.modified
        } else {
            self.modified - Duration::seconds(1)
        }
    }

    /// Moves past a read that started at `started` (from [`Cursor::since`]), ended at `ended`
    /// and returned records modified up to `newest`.
    fn advance(
        &mut self,
        newest: Option<DateTime<Utc>>,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
    ) {
        match newest {
            Some(m) if m > self.modified => {
                self.modified = m;
                self.seen_at = Some(ended);
                self.closed = false;
            }
            Some(m) if m == self.modified && self.seen_at.is_none() => self.seen_at = Some(ended),
            _ => {}
        }
        let settle = Duration::from_std(CRM_WATERMARK_SETTLE).unwrap_or(Duration::seconds(3));
        // This read re-read the watermark's whole second and started once the CRM's clock had
        // left it (the CRM's clock was at least at the watermark when `seen_at` was taken).
        if !self.closed && self.seen_at.is_some_and(|s| started - s >= settle) {
            self.closed = true;
        }
    }
}

/// What a listing or a feed read: the records present, the ids deleted, the next cursor.
pub(crate) struct Feed<M: CrmModule> {
    /// The records listed (changed since the cursor, for a feed).
    pub(crate) recs: Vec<Raw<M>>,
    /// The ids the deleted-records feed returned (none for a full listing).
    pub(crate) deleted: Vec<String>,
    cursor: Cursor,
}

impl<M: CrmModule> Feed<M> {
    /// The engine's changes: `present` (the projected records), then the deletions.
    pub(crate) fn into_changes<R>(
        self,
        present: Vec<Observed<R>>,
    ) -> Result<Changes<R>, PortError> {
        let mut observations: Vec<Observation<R>> =
            present.into_iter().map(Observation::Present).collect();
        observations.extend(
            self.deleted
                .into_iter()
                .map(|id| Observation::Deleted { id }),
        );
        Ok(Changes {
            observations,
            cursor: serde_json::to_string(&self.cursor)
                .map_err(|e| PortError::Unavailable(e.to_string()))?,
        })
    }
}

/// The state every CRM adapter keeps: the client, the signed-in user, the first-sync cap and
/// time, the timeline verdicts and the read failures of the round.
pub(crate) struct CrmSide<M: CrmModule> {
    pub(crate) client: ZohoClient,
    pub(crate) rt: Handle,
    /// The signed-in CRM user (only the records they own sync).
    pub(crate) user_id: String,
    /// When the first sync ran (the store's `first_sync_at`); None before it.
    pub(crate) first_sync_at: Option<DateTime<Utc>>,
    /// The first-sync cap.
    pub(crate) cap: Option<usize>,
    /// Timeline verdicts of never-modified records, by (id, Modified_Time).
    timeline: HashMap<(String, String), Option<Exclusion>>,
    /// Records the last calls could not read or project (id, error).
    pub(crate) failures: Vec<(String, String)>,
    module: PhantomData<M>,
}

impl<M: CrmModule> CrmSide<M> {
    /// The module's default first-sync cap, no first sync yet, nothing cached.
    pub(crate) fn new(client: ZohoClient, rt: Handle, user_id: String) -> Self {
        Self {
            client,
            rt,
            user_id,
            first_sync_at: None,
            cap: first_sync_cap(M::KIND),
            timeline: HashMap::new(),
            failures: Vec::new(),
            module: PhantomData,
        }
    }

    /// The module's list fields plus `extra` ones not among them yet.
    pub(crate) fn list_fields<'a>(extra: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut fields: Vec<String> = M::LIST_FIELDS.iter().map(|s| (*s).to_string()).collect();
        for f in extra {
            if !fields.iter().any(|x| x == f) {
                fields.push(f.to_owned());
            }
        }
        fields
    }

    fn list(
        &self,
        fields: Vec<String>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Raw<M>>, PortError> {
        let q = ListQuery {
            fields,
            modified_since: since.map(fixed),
            ..ListQuery::default()
        };
        self.rt
            .block_on(self.client.list_all::<Raw<M>>(&q))
            .map_err(|e| zoho_error(&e, false))
    }

    /// A record by id (None when gone).
    pub(crate) fn get_raw(&self, id: &str) -> Result<Option<Raw<M>>, PortError> {
        match self.rt.block_on(self.client.get::<Raw<M>>(id)) {
            Ok(r) => Ok(Some(r)),
            Err(ZohoError::NotFound(_)) => Ok(None),
            Err(e) => Err(zoho_error(&e, false)),
        }
    }

    /// Every record (with `fields`), and the cursor a feed continues from.
    pub(crate) fn listing(&self, fields: Vec<String>) -> Result<Feed<M>, PortError> {
        let started = Utc::now();
        let recs = self.list(fields, None)?;
        let newest = recs
            .iter()
            .filter_map(|r| r.time(MODIFIED))
            .max()
            .unwrap_or(started);
        let seen_at = (!recs.is_empty()).then(Utc::now);
        Ok(Feed {
            recs,
            deleted: Vec::new(),
            cursor: Cursor {
                modified: newest,
                deleted: newest.min(started),
                seen_at,
                closed: false,
            },
        })
    }

    /// The records modified and deleted since `cursor`, and the next cursor.
    pub(crate) fn feed_since(
        &self,
        fields: Vec<String>,
        cursor: &str,
    ) -> Result<Feed<M>, PortError> {
        let mut c: Cursor = serde_json::from_str(cursor).map_err(|_| PortError::CursorExpired)?;
        let started = Utc::now();
        // One second back until the watermark's second is closed: a change in it is read
        // again (harmless), never missed.
        let recs = self.list(fields, Some(c.since()))?;
        let deleted = self
            .rt
            .block_on(self.client.deleted_records(
                M::API_NAME,
                DeletedType::All,
                Some(fixed(c.deleted - Duration::seconds(1))),
            ))
            .map_err(|e| zoho_error(&e, false))?;
        let newest = recs.iter().filter_map(|r| r.time(MODIFIED)).max();
        c.advance(newest, started, Utc::now());
        let mut ids = Vec::with_capacity(deleted.len());
        for d in deleted {
            if let Some(t) = d.deleted_time.as_deref().and_then(parse_time) {
                c.deleted = c.deleted.max(t);
            }
            ids.push(d.id);
        }
        Ok(Feed {
            recs,
            deleted: ids,
            cursor: c,
        })
    }

    /// Ownership, then import (timeline only for records never modified since creation).
    pub(crate) fn base_exclusions(
        &mut self,
        recs: &[Raw<M>],
    ) -> Result<Vec<Option<Exclusion>>, PortError> {
        let mut out = vec![None; recs.len()];
        let mut need: Vec<(usize, String, String)> = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            if !is_owned_by(r.owner_id(), &self.user_id) {
                out[i] = Some(Exclusion::NotOwner);
                continue;
            }
            let (Some(c), Some(m)) = (r.time("Created_Time"), r.time(MODIFIED)) else {
                continue;
            };
            if import_check(c, m) == ImportCheck::NeedsTimeline {
                let id = r.id().unwrap_or_default().to_string();
                let key = (id.clone(), r.version());
                match self.timeline.get(&key) {
                    Some(v) => out[i] = *v,
                    None => need.push((i, id, key.1)),
                }
            }
        }
        let client = &self.client;
        // As many at once as the client lets through (the org's concurrency as it learned it).
        let parallel = client.concurrency_limit().max(1);
        let fetched: Vec<Fetched> = self.rt.block_on(
            futures::stream::iter(need)
                .map(|(i, id, m)| async move {
                    let r = client.timeline(M::API_NAME, &id).await;
                    (i, id, m, r)
                })
                .buffer_unordered(parallel)
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

    /// The first-sync cap over a complete listing: among the records not excluded and last
    /// modified before the first sync, those beyond the cap (in the module's order) are marked
    /// [`Exclusion::BeyondFirstSyncCap`]; their ids are returned. `timing(i)`: record `i`'s
    /// start and end (events), or None when it is no candidate (it cannot be projected).
    /// Without a cap nothing is deferred.
    pub(crate) fn apply_first_sync_cap(
        &self,
        recs: &[Raw<M>],
        excl: &mut [Option<Exclusion>],
        timing: impl Fn(usize) -> Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)>,
    ) -> Vec<String> {
        if self.cap.is_none() {
            return Vec::new();
        }
        let mut candidates = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            let (Some(id), Some(m), Some((start, end))) = (r.id(), r.time(MODIFIED), timing(i))
            else {
                continue;
            };
            let before_first = self.first_sync_at.is_none_or(|f| m <= f);
            if excl[i].is_none() && before_first {
                candidates.push(FirstSyncCandidate {
                    crm_id: id.to_string(),
                    modified: m,
                    start,
                    end,
                });
            }
        }
        let order = first_sync_order(M::KIND, Utc::now());
        let sel = select_first_sync(&candidates, self.cap, order);
        let deferred: HashSet<&str> = sel.deferred.iter().map(String::as_str).collect();
        for (i, r) in recs.iter().enumerate() {
            if r.id().is_some_and(|id| deferred.contains(id)) {
                excl[i] = Some(Exclusion::BeyondFirstSyncCap);
            }
        }
        sel.deferred
    }

    /// Classifies and projects records with `project`; `listing`: a complete listing (the
    /// first-sync cap selects among the eligible records last modified before the first sync).
    /// A record that cannot be projected is left out, and reported among the failures when
    /// `report(exclusion)` says so.
    pub(crate) fn observe_projected<R, E: std::fmt::Display>(
        &mut self,
        recs: &[Raw<M>],
        listing: bool,
        project: impl Fn(&Map<String, Value>) -> Result<R, E>,
        report: impl Fn(Option<Exclusion>) -> bool,
    ) -> Result<Vec<Observed<R>>, PortError> {
        let mut excl = self.base_exclusions(recs)?;
        if listing {
            self.apply_first_sync_cap(recs, &mut excl, |_| Some((None, None)));
        }
        let mut out = Vec::new();
        for (r, exclusion) in recs.iter().zip(excl) {
            let Some(id) = r.id() else {
                continue;
            };
            match project(&r.0) {
                Ok(record) => out.push(r.observed(id.to_string(), record, exclusion)),
                Err(e) => {
                    if report(exclusion) {
                        self.failures.push((id.to_string(), e.to_string()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// What a write answers: the record's id, version and modification time.
    pub(crate) fn written(r: &Raw<M>) -> Result<Written, PortError> {
        Ok(Written {
            id: r
                .id()
                .ok_or_else(|| PortError::Unavailable("Zoho answered without an id".into()))?
                .to_string(),
            version: r.version(),
            modified: r.modified(),
        })
    }

    /// The record a create may have made since `since` (local clock, less the clock skew):
    /// among the rows `query` (a COQL select of `id`, `Created_Time`, `Owner` and what
    /// `matches` reads) returns, owned by this user, created since then and `matches`, the
    /// earliest. Zoho has no idempotency key and no stamp field: this lookup keeps a lost
    /// answer from becoming a duplicate.
    pub(crate) fn lookup_created(
        &self,
        query: &str,
        since: DateTime<Utc>,
        matches: impl Fn(&Raw<M>) -> bool,
    ) -> Result<Option<Raw<M>>, PortError> {
        let (rows, _) = self
            .rt
            .block_on(self.client.coql(query))
            .map_err(|e| zoho_error(&e, false))?;
        let floor = since - Duration::seconds(LOST_CREATE_SKEW_SECS);
        let mut best: Option<(DateTime<Utc>, String)> = None;
        for row in rows {
            let Ok(r) = serde_json::from_value::<Raw<M>>(row) else {
                continue;
            };
            let (Some(id), Some(created)) = (r.id(), r.time("Created_Time")) else {
                continue;
            };
            if created < floor || !is_owned_by(r.owner_id(), &self.user_id) {
                continue;
            }
            if !matches(&r) {
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

    /// Creates a record from `body`. When the answer is lost the create may have landed: it is
    /// never re-posted here but looked up with `lookup` (given when the create started); when
    /// not (yet) visible the intent is left for the next round.
    pub(crate) fn create(
        &self,
        body: Map<String, Value>,
        lookup: impl FnOnce(DateTime<Utc>) -> Result<Option<Raw<M>>, PortError>,
    ) -> Result<Written, PortError> {
        let started = Utc::now();
        let results = self
            .rt
            .block_on(self.client.insert(&[Raw::<M>::new(body)]))
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
            Err(PortError::Timeout) => match lookup(started)? {
                Some(r) => Self::written(&r),
                None => Err(PortError::Timeout),
            },
            Err(e) => Err(e),
        }
    }

    /// The record `id` as read now, refused when it is no longer at `expected_version`.
    fn current(&self, id: &str, expected_version: Option<&str>) -> Result<Raw<M>, PortError> {
        let current = self.get_raw(id)?.ok_or(PortError::NotFound)?;
        if let Some(v) = expected_version {
            if current.text(MODIFIED) != Some(v) {
                return Err(PortError::PreconditionFailed);
            }
        }
        Ok(current)
    }

    /// Updates record `id` with the patch `patch_of` makes from the current record (nothing
    /// is written when it is empty).
    pub(crate) fn update(
        &self,
        id: &str,
        expected_version: Option<&str>,
        patch_of: impl FnOnce(&Map<String, Value>) -> Result<Map<String, Value>, PortError>,
    ) -> Result<Written, PortError> {
        let current = self.current(id, expected_version)?;
        let mut patch = patch_of(&current.0)?;
        if patch.is_empty() {
            return Self::written(&current);
        }
        patch.insert("id".into(), Value::String(id.to_string()));
        let patch = Raw::<M>::new(patch);
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

    /// Deletes record `id` unless it changed since `expected_version`.
    pub(crate) fn delete(&self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        self.current(id, expected_version)?;
        let mut rs = self
            .rt
            .block_on(self.client.delete(M::API_NAME, &[id.to_string()]))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn ms(s: i64, ms: i64) -> DateTime<Utc> {
        at(s) + Duration::milliseconds(ms)
    }

    fn cursor(seen_at: Option<DateTime<Utc>>) -> Cursor {
        Cursor {
            modified: at(0),
            deleted: at(0),
            seen_at,
            closed: false,
        }
    }

    #[test]
    fn the_watermark_second_is_re_read_until_a_feed_after_it_closed_it() {
        // Records modified at 0 were first read by a read that ended at 0.5 (local clock).
        let mut c = cursor(Some(ms(0, 500)));
        assert_eq!(c.since(), at(-1), "one second back");
        // A feed that started too soon after: the CRM may still be in that second.
        c.advance(Some(at(0)), ms(2, 0), ms(2, 100));
        assert!(!c.closed);
        assert_eq!(c.since(), at(-1));
        // One that started once the second was over re-read it whole: closed.
        c.advance(Some(at(0)), ms(3, 500), ms(3, 600));
        assert!(c.closed);
        assert_eq!(c.since(), at(0), "from after the watermark");
        // An idle feed keeps it closed.
        c.advance(None, ms(200, 0), ms(200, 100));
        assert!(c.closed);
        assert_eq!(c.since(), at(0));
    }

    #[test]
    fn a_newer_record_moves_the_watermark_and_reopens_its_second() {
        let mut c = cursor(Some(ms(0, 500)));
        c.closed = true;
        c.advance(Some(at(60)), ms(100, 0), ms(100, 200));
        assert_eq!(c.modified, at(60));
        assert_eq!(c.seen_at, Some(ms(100, 200)));
        assert!(!c.closed);
        assert_eq!(c.since(), at(59));
        // The read that set it never closes it, however far the clocks are apart.
        let mut d = cursor(None);
        d.advance(Some(at(5)), ms(1000, 0), ms(1000, 10));
        assert!(!d.closed);
    }

    #[test]
    fn a_cursor_without_a_seen_time_learns_it_from_a_record_at_the_watermark() {
        // An empty listing's watermark (this machine's time) or an older cursor: no seen time,
        // so the second is never closed on the clock alone.
        let mut c = cursor(None);
        c.advance(None, ms(500, 0), ms(500, 10));
        assert!(!c.closed);
        assert_eq!(c.seen_at, None);
        // A record at the watermark proves the CRM's clock reached it by the end of the read.
        c.advance(Some(at(0)), ms(600, 0), ms(600, 10));
        assert_eq!(c.seen_at, Some(ms(600, 10)));
        assert!(!c.closed, "closed only by a later feed");
        c.advance(Some(at(0)), ms(604, 0), ms(604, 10));
        assert!(c.closed);
    }

    #[test]
    fn an_older_cursor_still_reads() {
        let old = r#"{"modified":"2024-01-01T00:00:00Z","deleted":"2024-01-01T00:00:00Z"}"#;
        let c: Cursor = serde_json::from_str(old).unwrap();
        assert!(!c.closed && c.seen_at.is_none());
        let s = serde_json::to_string(&cursor(None)).unwrap();
        assert!(!s.contains("closed") && !s.contains("seen_at"), "{s}");
    }
}
