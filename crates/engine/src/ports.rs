//! The narrow ports the sync round needs from each service, and the injected clock.
//!
//! Adapters over the real connectors (crates/zoho, crates/graph) implement these traits; they
//! project the services' JSON onto the canonical record with the module's field mapping
//! (`crm_to_canonical` / `graph_to_canonical`, `canonical_to_crm` / `canonical_to_graph` against
//! the current remote record), and compute CRM `Observed::exclusion` (ownership, import, first
//! sync cap) with `crmsync_core::policy`. The engine only sees canonical records.

use chrono::{DateTime, Utc};
use crmsync_core::planner::{Observation, Observed};

/// The time source. The engine never reads the wall clock itself.
pub trait Clock {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// What a port call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// 429: the service asks us to slow down.
    #[error("the service is throttling requests (retry after {retry_after_secs:?} s)")]
    Throttled { retry_after_secs: Option<u64> },
    /// 5xx or a connection failure before the request was sent.
    #[error("the service is unavailable: {0}")]
    Unavailable(String),
    /// No answer in time: the call may or may not have been applied.
    #[error("the service did not answer in time; the change may or may not have been applied")]
    Timeout,
    /// 404 on a record.
    #[error("the record no longer exists")]
    NotFound,
    /// 412 / changed version: the record changed since it was read.
    #[error("the record changed since it was read")]
    PreconditionFailed,
    /// 410 / expired delta token or watermark: a full listing is needed.
    #[error("the change feed position expired")]
    CursorExpired,
    /// The container (contact folder, calendar, list) is gone.
    #[error("the Microsoft 365 container no longer exists")]
    ContainerGone,
    /// The service refused this record (validation); other records are unaffected.
    #[error("the service refused the record: {0}")]
    Rejected(String),
    /// The signed-in session is no longer valid.
    #[error("the connection needs a new sign-in")]
    NeedsSignIn,
}

impl PortError {
    /// Errors that concern the whole service (stop the round and retry later), as opposed to
    /// errors about one record.
    #[must_use]
    pub fn is_service_level(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. }
                | Self::Unavailable(_)
                | Self::Timeout
                | Self::ContainerGone
                | Self::NeedsSignIn
                | Self::CursorExpired
        )
    }
}

/// What a feed or a listing returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes<R> {
    /// In feed order (a later entry for the same id wins).
    pub observations: Vec<Observation<R>>,
    /// The position to continue from (Graph deltaLink; Zoho watermarks as one opaque token).
    pub cursor: String,
}

/// What a create or an update returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The record's id (new for a create).
    pub id: String,
    /// Its version after the write (CRM `Modified_Time`, Graph `changeKey`).
    pub version: String,
    /// Its server modification time after the write.
    pub modified: DateTime<Utc>,
}

/// One side's records of one module.
pub trait RecordPort<R> {
    /// Every record (a complete listing), with a cursor for later feeds.
    ///
    /// # Errors
    /// [`PortError`].
    fn list_all(&mut self) -> Result<Changes<R>, PortError>;

    /// Changes since `cursor` (updates and positive deletes).
    ///
    /// # Errors
    /// [`PortError::CursorExpired`] when a full listing is needed; other [`PortError`]s.
    fn changes_since(&mut self, cursor: &str) -> Result<Changes<R>, PortError>;

    /// One record by id; `None` on 404.
    ///
    /// # Errors
    /// [`PortError`].
    fn get(&mut self, id: &str) -> Result<Option<Observed<R>>, PortError>;

    /// The record stamped with `stamp` (the peer id written at creation), if any.
    ///
    /// # Errors
    /// [`PortError`].
    fn find_by_stamp(&mut self, stamp: &str) -> Result<Option<Observed<R>>, PortError>;

    /// After a lost answer or a crash: the record a create with this intent may have made,
    /// if it landed. `stamp` is the peer id the create carried, `record` what was sent, and
    /// `since` when the intent was written (local clock). The default looks the stamp up;
    /// a side without a stamp field (the CRM) overrides it with a natural-key search.
    ///
    /// # Errors
    /// [`PortError`].
    fn find_created(
        &mut self,
        stamp: &str,
        record: &R,
        since: DateTime<Utc>,
    ) -> Result<Option<Observed<R>>, PortError> {
        let _ = (record, since);
        self.find_by_stamp(stamp)
    }

    /// Creates a record stamped with the peer id (the CRM id on a Graph item).
    ///
    /// # Errors
    /// [`PortError`].
    fn create(&mut self, record: &R, stamp: Option<&str>) -> Result<Written, PortError>;

    /// Creates several records, each exactly as [`RecordPort::create`] would (stamped, a lost
    /// answer looked up); a side may run them in parallel within its service's limits. One
    /// answer per item, in order; `None` for an item that was not attempted (after a
    /// service-level failure). The default creates them one by one and stops at the first
    /// service-level failure.
    fn create_many(
        &mut self,
        items: &[(&R, Option<&str>)],
    ) -> Vec<Option<Result<Written, PortError>>> {
        let mut stopped = false;
        items
            .iter()
            .map(|(record, stamp)| {
                if stopped {
                    return None;
                }
                let r = self.create(record, *stamp);
                stopped = r.as_ref().is_err_and(PortError::is_service_level);
                Some(r)
            })
            .collect()
    }

    /// Updates a record if it still has `expected_version`.
    ///
    /// # Errors
    /// [`PortError::PreconditionFailed`], [`PortError::NotFound`], other [`PortError`]s.
    fn update(
        &mut self,
        id: &str,
        record: &R,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError>;

    /// Deletes a record if it still has `expected_version`.
    ///
    /// # Errors
    /// [`PortError::PreconditionFailed`], [`PortError::NotFound`], other [`PortError`]s.
    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError>;
}

/// The module's Microsoft container (the "Zoho CRM Contacts" folder, ...).
pub trait ContainerPort {
    /// The container created earlier by this app (found by its stamp), if any.
    ///
    /// # Errors
    /// [`PortError`].
    fn find_container(&mut self) -> Result<Option<String>, PortError>;

    /// Creates the container (stamped) and returns its id.
    ///
    /// # Errors
    /// [`PortError`].
    fn create_container(&mut self) -> Result<String, PortError>;

    /// Whether the container still exists.
    ///
    /// # Errors
    /// [`PortError`].
    fn container_exists(&mut self, id: &str) -> Result<bool, PortError>;

    /// Deletes the container and everything in it.
    ///
    /// # Errors
    /// [`PortError`] ([`PortError::NotFound`] when already gone).
    fn delete_container(&mut self, id: &str) -> Result<(), PortError>;

    /// Scopes the record operations to this container.
    fn select_container(&mut self, id: &str);
}
