//! The Events module: CRM Events (meetings) ⇄ a dedicated Outlook calendar, "Zoho CRM".
//!
//! * [`ZohoEvents`]: the CRM side: only the signed-in user's events, imported ones excluded
//!   (timeline), the first sync capped at 5,000 (upcoming first, then the most recently
//!   ended), a lost create looked up by title and timing among the user's new events.
//! * [`GraphEvents`]: the Microsoft side: the calendar found again by its stamp (an extended
//!   property on the calendar), created on enable and deleted on disable; the calendarView
//!   delta over a fixed window ([`WINDOW_DAYS_BACK`] days back to [`WINDOW_DAYS_AHEAD`] ahead,
//!   anchored when the feed starts, re-anchored by the next full listing), `@removed` entries
//!   confirmed by id, creates stamped and carrying a `transactionId` that names the CRM id (so
//!   the feed, which returns no extended properties, still tells our copies apart at no extra
//!   cost), `If-Match` on updates and deletes.
//!
//! Never synced: participants / attendees (no write ever carries attendees, so no invitation
//! is mailed), reminders, and recurring series on either side (reported per record as
//! skipped; never copied, so never duplicated).

mod adapter;
mod graph;
mod zoho;

pub use graph::{
    GraphEvents, CALENDAR_STAMP, EVENTS_CALENDAR_FALLBACK_NAME, EVENTS_CALENDAR_NAME,
    WINDOW_DAYS_AHEAD, WINDOW_DAYS_BACK,
};
pub use zoho::{ZohoEvents, EVENT_LIST_FIELDS, RECURRING_SKIPPED, SERIES_RULE};

use crate::ConnectError;

/// Builds both Events adapters for the signed-in users (reads the CRM user: their id for
/// ownership, their time zone for all-day events).
///
/// # Errors
/// [`ConnectError::Zoho`] when the CRM user cannot be read.
pub async fn connect_events(
    graph: crmsync_graph::GraphClient,
    zoho: crmsync_zoho::ZohoClient,
    rt: tokio::runtime::Handle,
) -> Result<(ZohoEvents, GraphEvents), ConnectError> {
    let me = zoho.current_user().await?;
    Ok(events_adapters(graph, zoho, rt, &me))
}

/// Both Events adapters for an already-read CRM user.
#[must_use]
pub fn events_adapters(
    graph: crmsync_graph::GraphClient,
    zoho: crmsync_zoho::ZohoClient,
    rt: tokio::runtime::Handle,
    me: &crmsync_zoho::models::ZUser,
) -> (ZohoEvents, GraphEvents) {
    let zone = me
        .time_zone
        .clone()
        .filter(|z| z.parse::<chrono_tz::Tz>().is_ok())
        .unwrap_or_else(|| "UTC".to_owned());
    (
        ZohoEvents::new(zoho, rt.clone(), me.id.clone(), Some(&zone)),
        GraphEvents::new(graph, rt, zone),
    )
}
