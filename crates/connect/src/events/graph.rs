//! Microsoft Graph events as the engine's Graph side: the dedicated "Zoho CRM" calendar.

use chrono::{Duration, Utc};
use crmsync_core::event::{graph_series_kind, graph_to_canonical, EventRecord};
use crmsync_core::planner::{Observation, Observed};
use crmsync_core::CanonicalRecord;
use crmsync_engine::{Changes, ContainerPort, PortError, RecordPort, Written};
use crmsync_graph::{DeltaItem, GraphClient};
use reqwest::Method;
use serde_json::Value;
use tokio::runtime::Handle;

use crate::graph_common::{
    create_in_parallel, current_at, enc, etag, extended_properties, text, time, written, GraphSide,
    StampedContainer,
};

/// The display name of the calendar the module owns.
pub const EVENTS_CALENDAR_NAME: &str = "Zoho CRM";

/// The name used when the user already has an unrelated calendar called
/// [`EVENTS_CALENDAR_NAME`] (Outlook refuses two calendars with one name).
pub const EVENTS_CALENDAR_FALLBACK_NAME: &str = "Zoho CRM (CRM Sync)";

/// The value of the CRM-id stamp property on the calendar itself: how the calendar is found
/// again (by stamp, never by name, so a user's own "Zoho CRM" calendar is never taken over).
pub const CALENDAR_STAMP: &str = "crmsync:events-calendar";

/// The calendar the module owns, as Graph creates and finds it.
const CALENDAR: StampedContainer = StampedContainer {
    collection: "/calendars",
    name_key: "name",
    names: &[EVENTS_CALENDAR_NAME, EVENTS_CALENDAR_FALLBACK_NAME],
    stamp: CALENDAR_STAMP,
    what: "calendar",
};

/// The calendarView window of the event delta: from this many days back...
pub const WINDOW_DAYS_BACK: i64 = 365;
/// ...to this many days ahead (1,095 days in all; Graph allows at most 1,825).
pub const WINDOW_DAYS_AHEAD: i64 = 730;

/// The prefix of the `transactionId` this adapter puts on the events it creates:
/// `crmsync:{crm id}:{16 hex digits}`. Delta returns `transactionId` (but never extended
/// properties), so the CRM id of a copy is known from the feed itself, with no extra request.
const TX_PREFIX: &str = "crmsync:";

/// The Graph side of the Events module.
pub struct GraphEvents {
    side: GraphSide,
    calendar: Option<String>,
    all_day_zone: String,
    /// Events read but not synced (series, unreadable data), until read again fine or
    /// deleted: their health across rounds.
    unsynced: std::collections::BTreeMap<String, String>,
    /// Recurring series of the calendar: never synced, by rule; kept the same way.
    series: std::collections::BTreeSet<String>,
}

/// The property that versions an event.
const VERSION: &str = "changeKey";

/// The CRM id carried by a `transactionId` this adapter wrote.
fn stamp_from_transaction(tx: &str) -> Option<&str> {
    let rest = tx.strip_prefix(TX_PREFIX)?;
    let (crm_id, nonce) = rest.rsplit_once(':')?;
    (!crm_id.is_empty() && !nonce.is_empty()).then_some(crm_id)
}

/// The `transactionId` of a create: stable for one (calendar, CRM id, content), so a create
/// repeated after a lost answer is recognised by Graph, and new for a new calendar (re-enable).
fn transaction_id(calendar: &str, crm_id: &str, record: &EventRecord) -> String {
    use crmsync_core::{FieldMap, FieldValue};
    let mut key = FieldMap::new();
    key.insert("calendar".into(), FieldValue::Text(calendar.to_owned()));
    key.insert("crm_id".into(), FieldValue::Text(crm_id.to_owned()));
    key.insert("record".into(), FieldValue::Text(record.hash().to_hex()));
    let digest = crmsync_core::value::hash_fields("event-transaction", &key).to_hex();
    format!("{TX_PREFIX}{crm_id}:{}", &digest[..16])
}

impl GraphEvents {
    /// `rt` runs the client's futures (the port calls block on it). `all_day_zone`: the zone
    /// all-day events are written in (the user's, IANA or Windows name; "UTC" when unknown).
    #[must_use]
    pub fn new(client: GraphClient, rt: Handle, all_day_zone: impl Into<String>) -> Self {
        Self {
            side: GraphSide { client, rt },
            calendar: None,
            all_day_zone: all_day_zone.into(),
            unsynced: std::collections::BTreeMap::new(),
            series: std::collections::BTreeSet::new(),
        }
    }

    /// The selected calendar id.
    #[must_use]
    pub fn calendar(&self) -> Option<&str> {
        self.calendar.as_deref()
    }

    /// Events of the calendar this adapter could not sync (id, why): unreadable data, listed
    /// until they are read again fine or are deleted. Their health.
    #[must_use]
    pub fn failures(&self) -> Vec<(String, String)> {
        self.unsynced
            .iter()
            .map(|(i, w)| (i.clone(), w.clone()))
            .collect()
    }

    /// The calendar's recurring series, which are not synced by rule.
    #[must_use]
    pub fn series(&self) -> Vec<String> {
        self.series.iter().cloned().collect()
    }

    /// Nothing to clear per round: what is listed stays until it changes (kept for symmetry
    /// with the CRM side).
    pub fn clear_failures(&mut self) {}

    fn calendar_id(&self) -> Result<&str, PortError> {
        self.calendar.as_deref().ok_or(PortError::ContainerGone)
    }

    fn event_path(&self, id: &str) -> Result<String, PortError> {
        Ok(format!(
            "/calendars/{}/events/{}",
            enc(self.calendar_id()?),
            enc(id)
        ))
    }

    /// The CRM id stamped on an item: from our `transactionId` (free, delta carries it), from
    /// an expanded extended property, or, for an item with a foreign `transactionId`, read
    /// with one GET (rare: only events another client created with one).
    fn stamp_of(&self, v: &Value) -> Option<String> {
        if let Some(tx) = text(v, "transactionId") {
            if let Some(id) = stamp_from_transaction(tx) {
                return Some(id.to_owned());
            }
        }
        if let Some(p) = extended_properties(v) {
            return self.side.client.stamp_of(Some(&p));
        }
        if text(v, "transactionId").is_some_and(|t| !t.is_empty()) {
            let id = text(v, "id")?;
            let rest = format!(
                "{}?$expand={}",
                self.event_path(id).ok()?,
                self.side.client.stamp_expand()
            );
            let full = self.side.call(Method::GET, &rest, None, None).ok()?;
            return self.side.extended_stamp(&full);
        }
        None
    }

    fn observe(&mut self, v: &Value) -> Option<Observed<EventRecord>> {
        let id = text(v, "id")?.to_string();
        if graph_series_kind(v).is_some() {
            self.unsynced.remove(&id);
            self.series.insert(id);
            return None;
        }
        self.series.remove(&id);
        match graph_to_canonical(v) {
            Ok(record) => {
                self.unsynced.remove(&id);
                Some(Observed {
                    version: text(v, VERSION).unwrap_or_default().to_string(),
                    modified: time(v, "lastModifiedDateTime"),
                    stamp: self.stamp_of(v),
                    record,
                    exclusion: None,
                    id,
                })
            }
            Err(e) => {
                self.unsynced.insert(id, e.to_string());
                None
            }
        }
    }

    fn get_raw(&self, id: &str) -> Result<Option<Value>, PortError> {
        self.side.get_opt(&self.event_path(id)?)
    }

    fn find_raw_by_stamp(&self, crm_id: &str) -> Result<Option<Value>, PortError> {
        let collection = format!("/calendars/{}/events", enc(self.calendar_id()?));
        self.side.find_by_stamp_filter(&collection, crm_id)
    }

    fn body(
        &self,
        record: &EventRecord,
        updating: bool,
    ) -> Result<serde_json::Map<String, Value>, PortError> {
        crmsync_core::event::canonical_to_graph(record, &self.all_day_zone, updating)
            .map_err(|e| PortError::Rejected(e.to_string()))
    }
}

impl GraphEvents {
    /// Creates the event in the calendar, stamped with the CRM id (extended property) and with
    /// a `transactionId`; never with attendees. After a lost answer the stamp tells whether the
    /// create landed.
    fn create_one(&self, record: &EventRecord, stamp: Option<&str>) -> Result<Written, PortError> {
        let calendar = self.calendar_id()?.to_string();
        let mut body = self.body(record, false)?;
        if let Some(crm_id) = stamp {
            body.insert(
                "singleValueExtendedProperties".into(),
                self.side.stamp_property(crm_id)?,
            );
            body.insert(
                "transactionId".into(),
                Value::from(transaction_id(&calendar, crm_id, record)),
            );
        }
        let rest = format!("/calendars/{}/events", enc(&calendar));
        self.side.create(&rest, body, stamp, VERSION, |crm_id| {
            self.find_raw_by_stamp(crm_id)
        })
    }
}

impl RecordPort<EventRecord> for GraphEvents {
    /// The whole window: the first round of the calendarView delta lists every event in it
    /// and ends with the delta link the next rounds continue from.
    fn list_all(&mut self) -> Result<Changes<EventRecord>, PortError> {
        let calendar = self.calendar_id()?.to_string();
        let now = Utc::now();
        let url = self.side.client.events_delta_url(
            Some(&calendar),
            now - Duration::days(WINDOW_DAYS_BACK),
            now + Duration::days(WINDOW_DAYS_AHEAD),
        );
        let round = self.side.delta(&url)?;
        self.unsynced.clear();
        self.series.clear();
        let mut observations = Vec::new();
        for item in round.items {
            if let DeltaItem::Changed(v) = item {
                if let Some(o) = self.observe(&v) {
                    observations.push(Observation::Present(o));
                }
            }
        }
        Ok(Changes {
            observations,
            cursor: round.delta_link,
        })
    }

    /// The delta since `cursor`. A `@removed` entry also stands for an event that moved out
    /// of the window, so each one is confirmed by id: gone (404) is a delete, still there is an
    /// update like any other (never a delete nobody made).
    fn changes_since(&mut self, cursor: &str) -> Result<Changes<EventRecord>, PortError> {
        let round = self.side.delta(cursor)?;
        let mut observations = Vec::new();
        for item in round.items {
            match item {
                DeltaItem::Changed(v) => {
                    if let Some(o) = self.observe(&v) {
                        observations.push(Observation::Present(o));
                    }
                }
                DeltaItem::Removed { id, .. } => match self.get_raw(&id)? {
                    None => {
                        self.unsynced.remove(&id);
                        self.series.remove(&id);
                        observations.push(Observation::Deleted { id });
                    }
                    // A series master is never an instance of the view: its id comes as
                    // removed when it became a series. Nothing to observe.
                    Some(v) if graph_series_kind(&v) == Some("seriesMaster") => {
                        self.unsynced.remove(&id);
                        self.series.remove(&id);
                    }
                    Some(v) => {
                        if let Some(o) = self.observe(&v) {
                            observations.push(Observation::Present(o));
                        }
                    }
                },
            }
        }
        Ok(Changes {
            observations,
            cursor: round.delta_link,
        })
    }

    fn get(&mut self, id: &str) -> Result<Option<Observed<EventRecord>>, PortError> {
        Ok(self.get_raw(id)?.and_then(|v| self.observe(&v)))
    }

    fn find_by_stamp(&mut self, stamp: &str) -> Result<Option<Observed<EventRecord>>, PortError> {
        Ok(self
            .find_raw_by_stamp(stamp)?
            .and_then(|v| self.observe(&v)))
    }

    /// Creates the event in the calendar, stamped with the CRM id (extended property) and with
    /// a `transactionId`; never with attendees. After a lost answer the stamp tells whether the
    /// create landed.
    fn create(&mut self, record: &EventRecord, stamp: Option<&str>) -> Result<Written, PortError> {
        self.create_one(record, stamp)
    }

    /// Up to 4 at once (the mailbox's limit), each as [`Self::create_one`].
    fn create_many(
        &mut self,
        items: &[(&EventRecord, Option<&str>)],
    ) -> Vec<Option<Result<Written, PortError>>> {
        create_in_parallel(&*self, items, Self::create_one)
    }

    /// PATCHes only the properties whose canonical value changed (so a title change leaves an
    /// HTML body or a location's address as the user made them), with `If-Match` on the
    /// version read (412 when the event changed since). Attendees are never part of it.
    fn update(
        &mut self,
        id: &str,
        record: &EventRecord,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError> {
        let current = current_at(self.get_raw(id)?, VERSION, expected_version)?;
        let mut patch = self.body(record, true)?;
        if let Ok(before) = graph_to_canonical(&current) {
            for (field, keys) in [
                ("subject", &["subject"][..]),
                ("when", &["start", "end", "isAllDay"][..]),
                ("location", &["location"][..]),
                ("body", &["body"][..]),
                (
                    "reminder",
                    &["isReminderOn", "reminderMinutesBeforeStart"][..],
                ),
            ] {
                if before.text(field) == record.text(field) {
                    for k in keys {
                        patch.remove(*k);
                    }
                }
            }
        }
        if patch.is_empty() {
            return written(&current, VERSION);
        }
        let tag = expected_version.map(etag);
        self.side
            .patch(&self.event_path(id)?, patch, tag.as_deref(), VERSION)
    }

    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        let tag = expected_version.map(etag);
        self.side.delete(&self.event_path(id)?, tag.as_deref())
    }
}

impl ContainerPort for GraphEvents {
    /// The calendar stamped [`CALENDAR_STAMP`] (calendars accept single-value extended
    /// properties), whatever its name now.
    fn find_container(&mut self) -> Result<Option<String>, PortError> {
        self.side.find_stamped(&CALENDAR)
    }

    /// A stamped calendar named [`EVENTS_CALENDAR_NAME`], or
    /// [`EVENTS_CALENDAR_FALLBACK_NAME`] when the user already has one by that name.
    fn create_container(&mut self) -> Result<String, PortError> {
        self.side.create_stamped(&CALENDAR)
    }

    fn container_exists(&mut self, id: &str) -> Result<bool, PortError> {
        self.side.exists(&format!("/calendars/{}", enc(id)))
    }

    fn delete_container(&mut self, id: &str) -> Result<(), PortError> {
        self.side.delete(&format!("/calendars/{}", enc(id)), None)
    }

    fn select_container(&mut self, id: &str) {
        self.calendar = Some(id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_carry_the_crm_id_and_are_stable() {
        let r = EventRecord::new(Some("x"), None, None, None).unwrap();
        let a = transaction_id("cal", "123", &r);
        assert_eq!(a, transaction_id("cal", "123", &r));
        assert_ne!(a, transaction_id("cal2", "123", &r));
        assert_eq!(stamp_from_transaction(&a), Some("123"));
        assert_eq!(stamp_from_transaction("7f3c-uuid"), None);
        assert_eq!(stamp_from_transaction("crmsync::x"), None);
    }
}
