//! The Tasks module: CRM Tasks ⇄ the "Zoho CRM Tasks" Microsoft To Do list.
//!
//! * [`GraphTasks`]: the engine's `RecordPort<TaskRecord>` + `ContainerPort` over To Do (the
//!   list stamped with an open extension; tasks stamped with the CRM id in a linked resource).
//! * [`ZohoTasks`]: the engine's `RecordPort<TaskRecord>` over Zoho CRM Tasks, with the same
//!   exclusions as Contacts and a lost-create lookup by subject + due date.
//! * [`connect_tasks`] / [`tasks_adapters`] build both for the signed-in users (both implement
//!   [`Adapter`], so `connect_modules` runs them like every module); [`run_tasks_round`] runs
//!   one round directly.
//!
//! The mapping is fixed (`crmsync_core::task`); the org's picklist values and field lengths
//! are read from the CRM's field metadata.

mod graph;
mod zoho;

pub use graph::{task_stamp, GraphTasks, LINK_APPLICATION, TASK_LIST_EXTENSION, TASK_LIST_NAME};
pub use zoho::{ZohoTasks, TASK_LIST_FIELDS};

use std::sync::atomic::AtomicBool;

use crmsync_core::task::{TaskMapping, TaskRecord};
use crmsync_engine::{
    run_round_cancellable, Clock, ModuleKind, ModuleSettings, RoundOptions, RoundReport, Store,
    SyncError,
};
use serde_json::Value;

use crate::{Adapter, ConnectError};

/// The task mapping for the org: its Tasks `Status` and `Priority` picklist values and its
/// `Subject` / `Description` lengths, from the CRM's field metadata.
///
/// # Errors
/// [`ConnectError::Zoho`] when the metadata cannot be read.
pub async fn task_mapping(zoho: &crmsync_zoho::ZohoClient) -> Result<TaskMapping, ConnectError> {
    let meta = zoho.fields("Tasks").await?;
    let picklist = |name: &str| -> Vec<String> {
        meta.iter()
            .find(|f| f.api_name == name)
            .and_then(|f| f.pick_list_values.as_ref())
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| {
                        v.get("actual_value")
                            .or_else(|| v.get("display_value"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let length = |name: &str| -> Option<usize> {
        meta.iter()
            .find(|f| f.api_name == name)
            .and_then(|f| f.length)
            .map(|l| l as usize)
    };
    Ok(
        TaskMapping::new(picklist("Status"), picklist("Priority")).with_lengths(
            length("Subject").or(Some(255)),
            length("Description").or(Some(32_000)),
        ),
    )
}

/// Both Tasks adapters for an already-read CRM user (reads the org's Tasks field metadata).
///
/// # Errors
/// [`ConnectError::Zoho`] when the metadata cannot be read.
pub async fn tasks_adapters(
    graph: crmsync_graph::GraphClient,
    zoho: crmsync_zoho::ZohoClient,
    rt: tokio::runtime::Handle,
    me: &crmsync_zoho::models::ZUser,
) -> Result<(ZohoTasks, GraphTasks), ConnectError> {
    let mapping = task_mapping(&zoho).await?;
    Ok((
        ZohoTasks::new(zoho, rt.clone(), mapping.clone(), me.id.clone()),
        GraphTasks::new(graph, rt, mapping),
    ))
}

/// Builds both Tasks adapters for the signed-in users: reads the CRM user and the org's Tasks
/// field metadata.
///
/// # Errors
/// [`ConnectError`].
pub async fn connect_tasks(
    graph: crmsync_graph::GraphClient,
    zoho: crmsync_zoho::ZohoClient,
    rt: tokio::runtime::Handle,
) -> Result<(ZohoTasks, GraphTasks), ConnectError> {
    let me = zoho.current_user().await?;
    tasks_adapters(graph, zoho, rt, &me).await
}

impl Adapter for ZohoTasks {
    fn prepare(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.set_first_sync_at(settings.first_sync_at);
        self.clear_failures();
        Ok(())
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.failures().to_vec()
    }
}

impl Adapter for GraphTasks {
    fn prepare(&mut self, _settings: &ModuleSettings) -> Result<(), String> {
        self.clear_failures();
        Ok(())
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.failures().to_vec()
    }
}

/// Runs one Tasks round: passes the module's first-sync time to the CRM adapter, clears the
/// adapters' per-round failures, then runs the engine round.
///
/// # Errors
/// [`SyncError`] from the engine (store failures, module not enabled).
pub fn run_tasks_round(
    store: &mut Store,
    crm: &mut ZohoTasks,
    graph: &mut GraphTasks,
    clock: &dyn Clock,
    opts: RoundOptions,
    cancel: &AtomicBool,
) -> Result<RoundReport<TaskRecord>, SyncError> {
    let settings = store.settings(ModuleKind::Tasks)?;
    crm.set_first_sync_at(settings.first_sync_at);
    crm.clear_failures();
    graph.clear_failures();
    run_round_cancellable(store, ModuleKind::Tasks, crm, graph, clock, opts, cancel)
}
