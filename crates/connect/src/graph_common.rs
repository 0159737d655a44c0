//! What the Microsoft sides of every module share (Contacts, Events, Tasks): blocking calls
//! on the client, reads where 404 means "gone", delta paging and its plain feed, the CRM-id
//! stamp read from an expanded extended property or looked up with the stamp filter, the
//! create that checks the stamp after a lost answer, `If-Match` tags, and the stamped container
//! (calendar, contact folder) found again by its stamp, never by name.
//!
//! What differs per module stays in the module: which container, the paths, the projection, the
//! version property (`changeKey` or `@odata.etag`) and the Events feed, which confirms each
//! `@removed` entry by id.

use chrono::{DateTime, Utc};
use crmsync_core::planner::{Observation, Observed};
use crmsync_engine::{Changes, PortError, Written};
use crmsync_graph::models::SingleValueExtendedProperty;
use crmsync_graph::{DeltaItem, DeltaRound, GraphClient, GraphError};
use reqwest::Method;
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::error::graph_error;

/// A path segment: Graph ids are URL-safe base64 with '-', '_' and '='; escape what a path
/// cannot carry.
pub(crate) fn enc(s: &str) -> String {
    s.replace('%', "%25")
        .replace('/', "%2F")
        .replace('?', "%3F")
        .replace('#', "%23")
}

/// A text property.
pub(crate) fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// A date-time property (the epoch when missing or unreadable).
pub(crate) fn time(v: &Value, k: &str) -> DateTime<Utc> {
    text(v, k)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |d| d.with_timezone(&Utc))
}

/// The `If-Match` tag of a `changeKey` version.
pub(crate) fn etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

/// The expanded single-value extended properties of an item, if any.
pub(crate) fn extended_properties(v: &Value) -> Option<Vec<SingleValueExtendedProperty>> {
    v.get("singleValueExtendedProperties")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
}

/// What a write answers: the item's id, its version (`version_key`) and modification time.
pub(crate) fn written(v: &Value, version_key: &str) -> Result<Written, PortError> {
    Ok(Written {
        id: text(v, "id")
            .ok_or_else(|| PortError::Unavailable("Graph answered without an id".into()))?
            .to_string(),
        version: text(v, version_key).unwrap_or_default().to_string(),
        modified: time(v, "lastModifiedDateTime"),
    })
}

/// The item an update or delete starts from: refused when gone, or when its version
/// (`version_key`) is no longer `expected_version`.
pub(crate) fn current_at(
    current: Option<Value>,
    version_key: &str,
    expected_version: Option<&str>,
) -> Result<Value, PortError> {
    let current = current.ok_or(PortError::NotFound)?;
    if let Some(v) = expected_version {
        if text(&current, version_key) != Some(v) {
            return Err(PortError::PreconditionFailed);
        }
    }
    Ok(current)
}

/// A Microsoft container a module owns (a calendar, a contact folder): created stamped with a
/// single-value extended property (the CRM-id stamp property, with the value `stamp`) and
/// found again by that stamp, never by name, so a user's own container of the same name is
/// never taken over.
pub(crate) struct StampedContainer {
    /// The collection it lives in (`/calendars`, `/contactFolders`).
    pub(crate) collection: &'static str,
    /// The property that names it (`name`, `displayName`).
    pub(crate) name_key: &'static str,
    /// The names to try in order: Outlook refuses a second container with a name in use.
    pub(crate) names: &'static [&'static str],
    /// The value of its stamp.
    pub(crate) stamp: &'static str,
    /// What it is, for messages ("calendar").
    pub(crate) what: &'static str,
}

/// The Graph client and the runtime the blocking port calls run it on.
pub(crate) struct GraphSide {
    pub(crate) client: GraphClient,
    pub(crate) rt: Handle,
}

impl GraphSide {
    /// One mailbox request.
    pub(crate) fn call(
        &self,
        method: Method,
        rest: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<Value, GraphError> {
        self.rt
            .block_on(self.client.mailbox_json(method, rest, body, if_match))
    }

    /// The item at `rest` (None when gone).
    pub(crate) fn get_opt(&self, rest: &str) -> Result<Option<Value>, PortError> {
        match self.call(Method::GET, rest, None, None) {
            Ok(v) => Ok(Some(v)),
            Err(GraphError::NotFound { .. }) => Ok(None),
            Err(e) => Err(graph_error(&e, false)),
        }
    }

    /// Whether the item at `rest` exists.
    pub(crate) fn exists(&self, rest: &str) -> Result<bool, PortError> {
        Ok(self.get_opt(rest)?.is_some())
    }

    /// Deletes the item at `rest` (`if_match`: the tag it must still have).
    pub(crate) fn delete(&self, rest: &str, if_match: Option<&str>) -> Result<(), PortError> {
        self.call(Method::DELETE, rest, None, if_match)
            .map(|_| ())
            .map_err(|e| graph_error(&e, true))
    }

    /// Every item of a collection, all pages.
    pub(crate) fn list(&self, rest: &str) -> Result<Vec<Value>, PortError> {
        self.rt
            .block_on(self.client.mailbox_list_json(rest))
            .map_err(|e| graph_error(&e, false))
    }

    /// The first item of `collection` stamped with `crm_id` (the stamp filter).
    pub(crate) fn find_by_stamp_filter(
        &self,
        collection: &str,
        crm_id: &str,
    ) -> Result<Option<Value>, PortError> {
        let rest = format!("{collection}?{}", self.client.stamp_filter(crm_id));
        Ok(self.list(&rest)?.into_iter().next())
    }

    /// The id of the container `c` is about, found by its stamp (the stamp filter), whatever
    /// its name now.
    pub(crate) fn find_stamped(&self, c: &StampedContainer) -> Result<Option<String>, PortError> {
        Ok(self
            .find_by_stamp_filter(c.collection, c.stamp)?
            .as_ref()
            .and_then(|v| text(v, "id"))
            .map(str::to_string))
    }

    /// Creates the container `c` with its stamp, under the first of its names Outlook accepts
    /// (409: a container of the user's already has the name). After a lost answer the stamp
    /// tells whether the create landed.
    pub(crate) fn create_stamped(&self, c: &StampedContainer) -> Result<String, PortError> {
        let stamp = self.stamp_property(c.stamp)?;
        let mut last = PortError::Unavailable(format!("no {} name left to try", c.what));
        for name in c.names {
            let mut body = Map::new();
            body.insert(c.name_key.into(), Value::from(*name));
            body.insert("singleValueExtendedProperties".into(), stamp.clone());
            match self.call(Method::POST, c.collection, Some(Value::Object(body)), None) {
                Ok(v) => {
                    return text(&v, "id").map(str::to_string).ok_or_else(|| {
                        PortError::Unavailable(format!("Graph answered without a {} id", c.what))
                    })
                }
                Err(e @ GraphError::Conflict { .. }) => last = graph_error(&e, false),
                Err(e) => {
                    let pe = graph_error(&e, true);
                    if pe == PortError::Timeout {
                        if let Some(id) = self.find_stamped(c)? {
                            return Ok(id);
                        }
                    }
                    return Err(pe);
                }
            }
        }
        Err(last)
    }

    /// The CRM id stamped in an item's expanded extended properties.
    pub(crate) fn extended_stamp(&self, v: &Value) -> Option<String> {
        extended_properties(v).and_then(|p| self.client.stamp_of(Some(&p)))
    }

    /// The extended property that stamps an item with `crm_id`, as a create body carries it.
    pub(crate) fn stamp_property(&self, crm_id: &str) -> Result<Value, PortError> {
        serde_json::to_value(self.client.stamp(crm_id))
            .map_err(|e| PortError::Rejected(e.to_string()))
    }

    /// One round of a delta feed (every page) from `link`.
    pub(crate) fn delta(&self, link: &str) -> Result<DeltaRound<Value>, PortError> {
        self.rt
            .block_on(self.client.delta_round::<Value>(link))
            .map_err(|e| graph_error(&e, false))
    }

    /// POSTs `body` to `rest`. When the answer is lost the stamp tells whether the create
    /// landed: the item `find` finds for it is the one written.
    pub(crate) fn create(
        &self,
        rest: &str,
        body: Map<String, Value>,
        stamp: Option<&str>,
        version_key: &str,
        find: impl FnOnce(&str) -> Result<Option<Value>, PortError>,
    ) -> Result<Written, PortError> {
        match self.call(Method::POST, rest, Some(Value::Object(body)), None) {
            Ok(v) => written(&v, version_key),
            Err(e) => {
                let pe = graph_error(&e, true);
                if pe == PortError::Timeout {
                    if let Some(crm_id) = stamp {
                        if let Some(v) = find(crm_id)? {
                            return written(&v, version_key);
                        }
                    }
                }
                Err(pe)
            }
        }
    }

    /// PATCHes `patch` to `rest` with `if_match`.
    pub(crate) fn patch(
        &self,
        rest: &str,
        patch: Map<String, Value>,
        if_match: Option<&str>,
        version_key: &str,
    ) -> Result<Written, PortError> {
        let v = self
            .call(Method::PATCH, rest, Some(Value::Object(patch)), if_match)
            .map_err(|e| graph_error(&e, true))?;
        written(&v, version_key)
    }
}

/// Requests one mailbox takes at once (Graph's limit; the client paces to it as well).
const MAILBOX_PARALLEL: usize = 4;

/// `create` for every item, on up to [`MAILBOX_PARALLEL`] threads (the port's calls block on
/// the runtime): the engine's `create_many`. One answer per item, in order; once an item
/// fails at the service level (throttled, unavailable, a lost answer) no new one starts and
/// those are `None` (not sent).
pub(crate) fn create_in_parallel<T: Sync, R: Sync>(
    this: &T,
    items: &[(&R, Option<&str>)],
    create: impl Fn(&T, &R, Option<&str>) -> Result<Written, PortError> + Sync,
) -> Vec<Option<Result<Written, PortError>>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let answers: Vec<parking_lot::Mutex<Option<Result<Written, PortError>>>> = items
        .iter()
        .map(|_| parking_lot::Mutex::new(None))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..MAILBOX_PARALLEL.min(items.len()) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((record, stamp)) = items.get(i) else {
                        break;
                    };
                    let answer = create(this, record, *stamp);
                    if answer.as_ref().is_err_and(PortError::is_service_level) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    *answers[i].lock() = Some(answer);
                }
            });
        }
    });
    answers
        .into_iter()
        .map(parking_lot::Mutex::into_inner)
        .collect()
}

/// The plain delta feed of one round: changed items as `observe` projects them (those it
/// cannot are left out), removed ones as deletions.
pub(crate) fn delta_feed<R>(
    round: DeltaRound<Value>,
    mut observe: impl FnMut(&Value) -> Option<Observed<R>>,
) -> Changes<R> {
    let mut observations = Vec::new();
    for item in round.items {
        match item {
            DeltaItem::Changed(v) => {
                if let Some(o) = observe(&v) {
                    observations.push(Observation::Present(o));
                }
            }
            DeltaItem::Removed { id, .. } => observations.push(Observation::Deleted { id }),
        }
    }
    Changes {
        observations,
        cursor: round.delta_link,
    }
}

/// A full listing: `items` as `observe` projects them (those it cannot are left out), with the
/// delta link of `round`, read before the listing (anything that changed during it comes
/// again), as the cursor.
pub(crate) fn listed<R>(
    round: DeltaRound<Value>,
    items: &[Value],
    observe: impl FnMut(&Value) -> Option<Observed<R>>,
) -> Changes<R> {
    Changes {
        observations: items
            .iter()
            .filter_map(observe)
            .map(Observation::Present)
            .collect(),
        cursor: round.delta_link,
    }
}
