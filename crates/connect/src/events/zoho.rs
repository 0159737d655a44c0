//! Zoho CRM Events (meetings) as the engine's CRM side, with the exclusion rules.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use crmsync_core::event::{canonical_to_crm, crm_is_recurring, crm_to_canonical, EventRecord};
use crmsync_core::planner::Observed;
use crmsync_core::policy::{deferred_now_eligible, Exclusion};
use crmsync_core::{ModuleKind, RecordError};
use crmsync_engine::{Changes, PortError, RecordPort, Written};
use crmsync_zoho::models::Module;
use crmsync_zoho::ZohoClient;
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::zoho_common::{coql_quote, CrmModule, CrmSide, Raw, MODIFIED};

/// The Events fields listed: the mapped ones plus what the exclusions need. `Participants` is
/// not even read: it is never synced.
pub const EVENT_LIST_FIELDS: &[&str] = &[
    "Owner",
    "Event_Title",
    "Start_DateTime",
    "End_DateTime",
    "All_day",
    "Venue",
    "Description",
    "Remind_At",
    "Recurring_Activity",
    "Created_Time",
    "Modified_Time",
];

/// The CRM Events module.
struct Events;

impl CrmModule for Events {
    const API_NAME: &'static str = "Events";
    const LIST_FIELDS: &'static [&'static str] = EVENT_LIST_FIELDS;
    const KIND: ModuleKind = ModuleKind::Events;
}

/// An Events record as raw JSON.
type RawEvent = Raw<Events>;

/// Why a recurring CRM event is not synced.
pub const RECURRING_SKIPPED: &str =
    "a recurring CRM event (series): series are not synced to Microsoft 365";

/// The rule key a recurring event (series, on either side) is excluded by in its health: a
/// rule of the product, not a failure.
pub const SERIES_RULE: &str = "recurring_series";

/// The CRM side of the Events module.
pub struct ZohoEvents {
    /// The client, the user, the first-sync cap, the timeline verdicts and the read failures
    /// of this round (a timeline that could not be read...).
    side: CrmSide<Events>,
    zone: chrono_tz::Tz,
    /// Events the first-sync cap deferred in the last listing: a feed that reads one again
    /// (the watermark's second is re-read) keeps it deferred until it changes.
    deferred: HashSet<String>,
    /// Events read but not synced (unreadable data), until they are read again fine,
    /// deleted, or a full listing no longer finds them: their health across rounds.
    unsynced: BTreeMap<String, String>,
    /// The user's recurring events (series): never synced, by rule; kept the same way.
    series: BTreeSet<String>,
}

impl ZohoEvents {
    /// `user_id`: the signed-in CRM user (only the events they own sync); `time_zone`: their
    /// CRM time zone (IANA), used to write all-day events (UTC when unknown or invalid).
    #[must_use]
    pub fn new(client: ZohoClient, rt: Handle, user_id: String, time_zone: Option<&str>) -> Self {
        Self {
            side: CrmSide::new(client, rt, user_id),
            zone: time_zone
                .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
                .unwrap_or(chrono_tz::UTC),
            deferred: HashSet::new(),
            unsynced: BTreeMap::new(),
            series: BTreeSet::new(),
        }
    }

    /// The first-sync cap (5,000 events by default; tests lower it).
    pub fn set_first_sync_cap(&mut self, cap: Option<usize>) {
        self.side.cap = cap;
    }

    /// When the first sync ran (the store's `first_sync_at`); None before it.
    pub fn set_first_sync_at(&mut self, at: Option<DateTime<Utc>>) {
        self.side.first_sync_at = at;
    }

    /// Events this adapter could not sync although they are the user's (id, why): read
    /// failures of the last round, and events read but not projected (unreadable data),
    /// which stay listed until they are read again fine or are deleted. Their health.
    #[must_use]
    pub fn failures(&self) -> Vec<(String, String)> {
        let mut out = self.side.failures.clone();
        for (id, why) in &self.unsynced {
            if !out.iter().any(|(i, _)| i == id) {
                out.push((id.clone(), why.clone()));
            }
        }
        out
    }

    /// The user's recurring events (series), which are not synced by rule.
    #[must_use]
    pub fn series(&self) -> Vec<String> {
        self.series.iter().cloned().collect()
    }

    /// Forgets the per-round failures.
    pub fn clear_failures(&mut self) {
        self.side.failures.clear();
    }

    /// The signed-in CRM user's id.
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.side.user_id
    }

    /// The CRM user's zone offset on a day (at local midnight), for all-day events.
    fn offset_at(&self, day: NaiveDate) -> FixedOffset {
        self.zone
            .from_local_datetime(&day.and_time(NaiveTime::MIN))
            .earliest()
            .map_or_else(
                || FixedOffset::east_opt(0).unwrap_or_else(|| Utc.fix()),
                |t| t.offset().fix(),
            )
    }

    fn to_crm(
        &self,
        record: &EventRecord,
        current: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, PortError> {
        canonical_to_crm(record, current, &|d| self.offset_at(d))
            .map_err(|e: RecordError| PortError::Rejected(e.to_string()))
    }

    fn fields() -> Vec<String> {
        CrmSide::<Events>::list_fields([])
    }

    /// Projects and classifies records; `listing`: a complete listing (the first-sync cap
    /// selects among the eligible events last modified before the first sync, upcoming ones
    /// first, then the most recently ended).
    fn observe_all(
        &mut self,
        recs: &[RawEvent],
        listing: bool,
    ) -> Result<Vec<Observed<EventRecord>>, PortError> {
        let mut excl = self.side.base_exclusions(recs)?;
        // Project once; a record that cannot be projected (or is a series) is reported when it
        // would sync, and left out either way.
        let mut projected: Vec<Option<EventRecord>> = Vec::with_capacity(recs.len());
        for (r, exclusion) in recs.iter().zip(&excl) {
            let Some(id) = r.id() else {
                projected.push(None);
                continue;
            };
            let reportable = !matches!(exclusion, Some(Exclusion::NotOwner | Exclusion::Imported));
            if crm_is_recurring(&r.0) {
                self.unsynced.remove(id);
                if reportable {
                    self.series.insert(id.to_string());
                } else {
                    self.series.remove(id);
                }
                projected.push(None);
                continue;
            }
            self.series.remove(id);
            match crm_to_canonical(&r.0).map_err(|e| e.to_string()) {
                Ok(p) => {
                    self.unsynced.remove(id);
                    projected.push(Some(p));
                }
                Err(why) => {
                    if reportable {
                        self.unsynced.insert(id.to_string(), why);
                    } else {
                        self.unsynced.remove(id);
                    }
                    projected.push(None);
                }
            }
        }
        if listing {
            let deferred = self.side.apply_first_sync_cap(recs, &mut excl, |i| {
                let when = projected[i].as_ref()?.when();
                Some((when.map(|w| w.start_utc()), when.map(|w| w.end_utc())))
            });
            self.deferred = deferred.into_iter().collect();
        } else {
            // A deferred event read again by a feed stays deferred until it changes after the
            // first sync.
            for (i, r) in recs.iter().enumerate() {
                let (Some(id), Some(m)) = (r.id(), r.time(MODIFIED)) else {
                    continue;
                };
                if excl[i].is_none()
                    && self.deferred.contains(id)
                    && !self
                        .side
                        .first_sync_at
                        .is_some_and(|f| deferred_now_eligible(m, f))
                {
                    excl[i] = Some(Exclusion::BeyondFirstSyncCap);
                }
            }
        }
        let mut out = Vec::new();
        for ((r, exclusion), p) in recs.iter().zip(excl).zip(projected) {
            let (Some(id), Some(record)) = (r.id(), p) else {
                continue;
            };
            out.push(r.observed(id.to_string(), record, exclusion));
        }
        Ok(out)
    }

    /// The event a create of `record` may have made since `since`: same title and same timing,
    /// owned by this user, created at or after `since` (less the clock skew), the earliest such.
    /// Events have no natural key and the CRM no idempotency key; this keeps a lost answer
    /// from becoming a duplicate.
    fn lookup_created(
        &self,
        record: &EventRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<RawEvent>, PortError> {
        let title = record
            .subject()
            .unwrap_or(crmsync_core::event::UNTITLED)
            .to_owned();
        let q = format!(
            "select id, Event_Title, Start_DateTime, End_DateTime, All_day, Created_Time, Owner from {} where Event_Title = {}",
            Events::API_NAME,
            coql_quote(&title)
        );
        self.side.lookup_created(&q, since, |r| {
            r.text("Event_Title") == Some(title.as_str())
                && crm_to_canonical(&r.0)
                    .ok()
                    .is_some_and(|p| p.when() == record.when())
        })
    }

    fn observe_one(
        &mut self,
        r: Option<RawEvent>,
    ) -> Result<Option<Observed<EventRecord>>, PortError> {
        let Some(r) = r else {
            return Ok(None);
        };
        let mut v = self.observe_all(std::slice::from_ref(&r), false)?;
        Ok(v.pop())
    }
}

impl RecordPort<EventRecord> for ZohoEvents {
    fn list_all(&mut self) -> Result<Changes<EventRecord>, PortError> {
        let feed = self.side.listing(Self::fields())?;
        // A complete listing: what it does not find is no longer anyone's concern.
        self.unsynced.clear();
        self.series.clear();
        let present = self.observe_all(&feed.recs, true)?;
        feed.into_changes(present)
    }

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<EventRecord>, PortError> {
        let feed = self.side.feed_since(Self::fields(), cursor)?;
        let present = self.observe_all(&feed.recs, false)?;
        for id in &feed.deleted {
            self.unsynced.remove(id);
            self.series.remove(id);
        }
        feed.into_changes(present)
    }

    fn get(&mut self, id: &str) -> Result<Option<Observed<EventRecord>>, PortError> {
        let r = self.side.get_raw(id)?;
        self.observe_one(r)
    }

    fn find_by_stamp(&mut self, _stamp: &str) -> Result<Option<Observed<EventRecord>>, PortError> {
        // CRM events carry no stamp field; see `find_created`.
        Ok(None)
    }

    fn find_created(
        &mut self,
        _stamp: &str,
        record: &EventRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<Observed<EventRecord>>, PortError> {
        let r = self.lookup_created(record, since)?;
        self.observe_one(r)
    }

    /// Creates the event owned by the signed-in user. No participants, no notification.
    fn create(&mut self, record: &EventRecord, _stamp: Option<&str>) -> Result<Written, PortError> {
        let body = self.to_crm(record, None)?;
        self.side
            .create(body, |started| self.lookup_created(record, started))
    }

    fn update(
        &mut self,
        id: &str,
        record: &EventRecord,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError> {
        self.side.update(id, expected_version, |current| {
            self.to_crm(record, Some(current))
        })
    }

    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        self.side.delete(id, expected_version)
    }
}
