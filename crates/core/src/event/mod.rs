//! Events: the canonical event (CRM Events/meetings ⇄ Outlook calendar events) and the
//! projections of both sides' JSON onto it, and back.
//!
//! The mapping is fixed (no user-editable mapping, unlike contacts):
//!
//! | canonical | CRM (`Events`) | Graph (`event`) |
//! |---|---|---|
//! | `subject` | `Event_Title` | `subject` |
//! | `when` | `Start_DateTime`, `End_DateTime`, `All_day` | `start`, `end`, `isAllDay` |
//! | `location` | `Venue` | `location.displayName` |
//! | `body` | `Description` | `body` (text; HTML read as text) |
//! | `reminder` | `Remind_At` (an instant) | `isReminderOn`, `reminderMinutesBeforeStart` |
//!
//! `when` holds the timing as one value so a field-level merge can never combine one side's
//! start with the other side's end or all-day flag: `start/end` in UTC for a timed event
//! (`2026-11-25T01:00:00Z/2026-11-25T02:00:00Z`), `first/last` calendar days (inclusive) for
//! an all-day event (`2026-11-25/2026-11-26` is a two-day event). See [`When`].
//!
//! `reminder` is kept as minutes before the start, so moving an event on one side and changing
//! its reminder on the other merge cleanly; the CRM's absolute `Remind_At` is rewritten when
//! the start moves.
//!
//! Never mapped: CRM `Participants` and Graph `attendees` (writing attendees mails invitations;
//! design.md §1 item 4), recurrence (series are reported, not synced: see
//! [`crm_is_recurring`] and [`graph_series_kind`]).

mod mapping;
mod record;

pub use mapping::{
    canonical_to_crm, canonical_to_graph, crm_is_recurring, crm_to_canonical, graph_series_kind,
    graph_to_canonical, html_to_text, CRM_EVENT_FIELDS, MAX_CRM_DESCRIPTION, MAX_CRM_TITLE,
    MAX_CRM_VENUE, UNTITLED,
};
pub use record::{EventRecord, When, EVENT_FIELDS};

#[cfg(test)]
mod tests;
