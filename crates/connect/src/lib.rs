//! Connects the sync engine to the real services for the Contacts module.
//!
//! * [`GraphContacts`]: the engine's `RecordPort<ContactRecord>` + `ContainerPort` over
//!   Microsoft Graph: the "Zoho CRM Contacts" contact folder, items stamped with the CRM id in a
//!   single-value extended property, delta feed, `If-Match` on writes.
//! * [`ZohoContacts`]: the engine's `RecordPort<ContactRecord>` over Zoho CRM Contacts, with the
//!   exclusions (owner, import/migration via the timeline for records never modified, the
//!   first-sync cap) and a duplicate-safe create (a lost answer is looked up by e-mail among
//!   the records this user created since the intent, never re-posted blindly).
//! * [`run_contacts_round`]: one engine round with both adapters; [`SystemClock`];
//!   [`SessionTokens`] (an auth `Session` as both services' token provider).
//! * [`modules`]: every module behind one type-erased interface ([`ModuleSync`]), the worker's
//!   [`SyncRunner`], previews ([`PlanDigest`]) and [`connect_modules`].
//!
//! The engine's ports are blocking; the adapters run the async clients on a tokio runtime
//! [`tokio::runtime::Handle`] with `block_on`, so a round must run on a thread that is not a
//! runtime worker (`tokio::task::spawn_blocking` or a plain thread).

mod contact_limits;
pub mod directory;
mod error;
pub mod events;
mod graph_common;
mod graph_port;
pub mod modules;
pub mod tasks;
mod tokens;
mod zoho_common;
mod zoho_port;

pub use error::{graph_error, zoho_error, ConnectError};
pub use events::{
    connect_events, events_adapters, GraphEvents, ZohoEvents, EVENTS_CALENDAR_NAME,
    EVENT_LIST_FIELDS,
};
pub use graph_port::{
    GraphContacts, CONTACT_FOLDER_FALLBACK_NAME, CONTACT_FOLDER_NAME, CONTACT_FOLDER_STAMP,
};
pub use modules::{
    connect_modules, Adapter, FailedRecord, ModuleAdapters, ModuleError, ModuleSync, PlanDigest,
    RoundDigest, SyncRunner,
};
pub use tasks::{connect_tasks, run_tasks_round, GraphTasks, ZohoTasks, TASK_LIST_NAME};
pub use tokens::{ControlTokens, SessionTokens};
pub use zoho_common::CRM_WATERMARK_SETTLE;
pub use zoho_port::{ZohoContacts, CONTACT_LIST_FIELDS};

use chrono::{DateTime, Utc};
use crmsync_core::contact::ContactRecord;
use crmsync_engine::{
    run_round_cancellable, Clock, ModuleKind, RoundOptions, RoundReport, Store, SyncError,
};
use std::sync::atomic::AtomicBool;

/// The wall clock (the CLI and the desktop shell are the places that read it).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Runs one Contacts round: passes the module's first-sync time to the CRM adapter (for the
/// first-sync cap), then runs the engine round with both adapters.
///
/// # Errors
/// [`SyncError`] from the engine (store failures, module not enabled).
pub fn run_contacts_round(
    store: &mut Store,
    crm: &mut ZohoContacts,
    graph: &mut GraphContacts,
    clock: &dyn Clock,
    opts: RoundOptions,
    cancel: &AtomicBool,
) -> Result<RoundReport<ContactRecord>, SyncError> {
    let settings = store.settings(ModuleKind::Contacts)?;
    crm.set_first_sync_at(settings.first_sync_at);
    crm.clear_failures();
    graph.clear_failures();
    run_round_cancellable(store, ModuleKind::Contacts, crm, graph, clock, opts, cancel)
}

/// The org's Contacts fields (standard and custom), from the CRM's field metadata: what a
/// contact mapping may name.
///
/// # Errors
/// [`ConnectError::Zoho`] when the metadata cannot be read.
pub async fn contact_crm_fields(
    zoho: &crmsync_zoho::ZohoClient,
) -> Result<Vec<crmsync_core::contact::CrmField>, ConnectError> {
    use crmsync_core::contact::{CrmField, CrmType};
    let meta = zoho.fields("Contacts").await?;
    Ok(meta
        .iter()
        .map(|f| CrmField {
            api_name: f.api_name.clone(),
            data_type: CrmType::from_api(f.data_type.as_deref().unwrap_or("text")),
            length: f.length.map(|l| l as usize),
            read_only: f.read_only.unwrap_or(false),
            mandatory: f.system_mandatory.unwrap_or(false),
            custom: f.custom_field.unwrap_or(false),
        })
        .collect())
}

/// Validates a contact mapping against the org's Contacts fields.
///
/// # Errors
/// [`ConnectError::Mapping`] with every issue.
pub fn validate_contact_mapping(
    mapping: &crmsync_core::contact::ContactMapping,
    crm_fields: &[crmsync_core::contact::CrmField],
) -> Result<crmsync_core::contact::ValidatedMapping, ConnectError> {
    mapping
        .validate(crm_fields)
        .map_err(|e| ConnectError::Mapping(e.to_string()))
}

/// The default contact mapping validated against the org's Contacts fields metadata.
///
/// # Errors
/// [`ConnectError::Zoho`] when the metadata cannot be read, [`ConnectError::Mapping`] when the
/// default mapping does not fit the org's fields.
pub async fn contact_mapping(
    zoho: &crmsync_zoho::ZohoClient,
) -> Result<crmsync_core::contact::ValidatedMapping, ConnectError> {
    let fields = contact_crm_fields(zoho).await?;
    validate_contact_mapping(
        &crmsync_core::contact::ContactMapping::default_mapping(),
        &fields,
    )
}

/// Builds both Contacts adapters for the signed-in users: reads the CRM user and the org's
/// field metadata, validates the default mapping.
///
/// # Errors
/// [`ConnectError`].
pub async fn connect_contacts(
    graph: crmsync_graph::GraphClient,
    zoho: crmsync_zoho::ZohoClient,
    rt: tokio::runtime::Handle,
) -> Result<(ZohoContacts, GraphContacts), ConnectError> {
    let me = zoho.current_user().await?;
    let mapping = contact_mapping(&zoho).await?;
    Ok((
        ZohoContacts::new(zoho, rt.clone(), mapping.clone(), me.id),
        GraphContacts::new(graph, rt, mapping),
    ))
}
