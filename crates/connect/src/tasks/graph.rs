//! Microsoft To Do as the engine's Graph side of Tasks: the "Zoho CRM Tasks" list.
//!
//! * The list is this app's when it carries the open extension [`TASK_LIST_EXTENSION`]
//!   (graph-api.md §4: To Do lists take open extensions, not extended properties). A list
//!   created but not stamped (a lost answer) is found again by its exact name among the lists
//!   that are not well-known ones, when it holds nothing but this app's copies (a user's own
//!   list of that name is never adopted).
//! * Each task carries the CRM id in a `linkedResource` (`applicationName` [`LINK_APPLICATION`],
//!   `externalId` = the CRM id), written inline on create (graph-api.md §3).
//! * The version is the task's `@odata.etag`, sent back as `If-Match` on writes.

use crmsync_core::planner::Observed;
use crmsync_core::task::{TaskMapping, TaskRecord};
use crmsync_core::CanonicalRecord;
use crmsync_engine::{Changes, ContainerPort, PortError, RecordPort, Written};
use crmsync_graph::GraphClient;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::runtime::Handle;

use crate::error::graph_error;
use crate::graph_common::{
    create_in_parallel, current_at, delta_feed, enc, listed, text, time, written, GraphSide,
};

/// The display name of the To Do list the module owns.
pub const TASK_LIST_NAME: &str = "Zoho CRM Tasks";
/// The open extension that marks the list as this app's.
pub const TASK_LIST_EXTENSION: &str = "com.crmsync.tasks";
/// The `applicationName` of the linked resource that carries the CRM id on a task.
pub const LINK_APPLICATION: &str = "Zoho CRM";

/// The Graph side of the Tasks module.
pub struct GraphTasks {
    side: GraphSide,
    mapping: TaskMapping,
    list: Option<String>,
    failures: Vec<(String, String)>,
}

/// The property that versions a task (sent back as is in `If-Match`).
const VERSION: &str = "@odata.etag";

/// The CRM id a task carries in its linked resources (read with `$expand=linkedResources`).
#[must_use]
pub fn task_stamp(task: &Value) -> Option<String> {
    task.get("linkedResources")?
        .as_array()?
        .iter()
        .find(|r| text(r, "applicationName") == Some(LINK_APPLICATION))
        .and_then(|r| text(r, "externalId"))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl GraphTasks {
    /// `rt` runs the client's futures (the port calls block on it).
    #[must_use]
    pub fn new(client: GraphClient, rt: Handle, mapping: TaskMapping) -> Self {
        Self {
            side: GraphSide { client, rt },
            mapping,
            list: None,
            failures: Vec::new(),
        }
    }

    /// The selected list id.
    #[must_use]
    pub fn list(&self) -> Option<&str> {
        self.list.as_deref()
    }

    /// Tasks the last calls could not project (id, error): their health, not observed.
    #[must_use]
    pub fn failures(&self) -> &[(String, String)] {
        &self.failures
    }

    /// Forgets the failures of earlier rounds.
    pub fn clear_failures(&mut self) {
        self.failures.clear();
    }

    fn list_id(&self) -> Result<&str, PortError> {
        self.list.as_deref().ok_or(PortError::ContainerGone)
    }

    fn tasks_rest(&self) -> Result<String, PortError> {
        Ok(format!("/todo/lists/{}/tasks", enc(self.list_id()?)))
    }

    fn observe(&mut self, v: &Value) -> Option<Observed<TaskRecord>> {
        let id = text(v, "id")?.to_string();
        match self.mapping.graph_to_canonical(v) {
            Ok(record) => Some(Observed {
                version: text(v, VERSION).unwrap_or_default().to_string(),
                modified: time(v, "lastModifiedDateTime"),
                record,
                stamp: task_stamp(v),
                exclusion: None,
                id,
            }),
            Err(e) => {
                self.failures.push((id, e.to_string()));
                None
            }
        }
    }

    fn get_raw(&self, id: &str) -> Result<Option<Value>, PortError> {
        let rest = format!("{}/{}?$expand=linkedResources", self.tasks_rest()?, enc(id));
        self.side.get_opt(&rest)
    }

    fn list_raw(&self) -> Result<Vec<Value>, PortError> {
        let rest = format!("{}?$expand=linkedResources&$top=100", self.tasks_rest()?);
        self.side.list(&rest)
    }

    /// The task stamped with `crm_id`. To Do has no filter on linked resources: the list is
    /// read with them expanded; a task the listing returns without them is read on its own.
    fn find_raw_by_stamp(&self, crm_id: &str) -> Result<Option<Value>, PortError> {
        let tasks = self.list_raw()?;
        if let Some(t) = tasks
            .iter()
            .find(|t| task_stamp(t).as_deref() == Some(crm_id))
        {
            return Ok(Some(t.clone()));
        }
        for t in tasks.iter().filter(|t| t.get("linkedResources").is_none()) {
            let Some(id) = text(t, "id") else { continue };
            if let Some(full) = self.get_raw(id)? {
                if task_stamp(&full).as_deref() == Some(crm_id) {
                    return Ok(Some(full));
                }
            }
        }
        Ok(None)
    }

    /// Stamps a list as this app's (best effort: an unstamped list holding only this app's
    /// copies is still found again, see `find_container`).
    fn stamp_list(&self, list_id: &str) {
        let stamp = json!({
            "@odata.type": "microsoft.graph.openTypeExtension",
            "extensionName": TASK_LIST_EXTENSION,
            "module": "tasks",
        });
        if let Err(e) = self.side.call(
            Method::POST,
            &format!("/todo/lists/{}/extensions", enc(list_id)),
            Some(stamp),
            None,
        ) {
            tracing::warn!(error = %e, "the To Do list could not be stamped");
        }
    }

    /// Whether every task of a list carries this app's stamp (true for an empty list).
    fn holds_only_copies(&self, list_id: &str) -> Result<bool, PortError> {
        let rest = format!(
            "/todo/lists/{}/tasks?$expand=linkedResources&$top=100",
            enc(list_id)
        );
        let tasks = self.side.list(&rest)?;
        Ok(tasks.iter().all(|t| task_stamp(t).is_some()))
    }

    fn is_stamped(&self, list_id: &str) -> Result<bool, PortError> {
        let rest = format!(
            "/todo/lists/{}/extensions/{}",
            enc(list_id),
            TASK_LIST_EXTENSION
        );
        self.side.exists(&rest)
    }
}

impl GraphTasks {
    /// The create of `RecordPort::create`, on `&self` so that several can run at once.
    fn create_one(&self, record: &TaskRecord, stamp: Option<&str>) -> Result<Written, PortError> {
        let rest = self.tasks_rest()?;
        let mut body = self
            .mapping
            .canonical_to_graph(record, None)
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        if let Some(crm_id) = stamp {
            body.insert(
                "linkedResources".into(),
                json!([{
                    "applicationName": LINK_APPLICATION,
                    "displayName": record.label(),
                    "externalId": crm_id,
                }]),
            );
        }
        self.side.create(&rest, body, stamp, VERSION, |crm_id| {
            self.find_raw_by_stamp(crm_id)
        })
    }
}

impl RecordPort<TaskRecord> for GraphTasks {
    fn list_all(&mut self) -> Result<Changes<TaskRecord>, PortError> {
        let list = self.list_id()?.to_string();
        // The delta position first: anything that changes during the listing comes again.
        let delta_url = self.side.client.tasks_delta_url(&list);
        let round = self.side.delta(&delta_url)?;
        let items = self.list_raw()?;
        Ok(listed(round, &items, |v| self.observe(v)))
    }

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<TaskRecord>, PortError> {
        let round = self.side.delta(cursor)?;
        Ok(delta_feed(round, |v| self.observe(v)))
    }

    fn get(&mut self, id: &str) -> Result<Option<Observed<TaskRecord>>, PortError> {
        Ok(self.get_raw(id)?.and_then(|v| self.observe(&v)))
    }

    fn find_by_stamp(&mut self, stamp: &str) -> Result<Option<Observed<TaskRecord>>, PortError> {
        Ok(self
            .find_raw_by_stamp(stamp)?
            .and_then(|v| self.observe(&v)))
    }

    fn create(&mut self, record: &TaskRecord, stamp: Option<&str>) -> Result<Written, PortError> {
        self.create_one(record, stamp)
    }

    /// Up to 4 at once (the mailbox's limit), each as [`Self::create_one`].
    fn create_many(
        &mut self,
        items: &[(&TaskRecord, Option<&str>)],
    ) -> Vec<Option<Result<Written, PortError>>> {
        create_in_parallel(&*self, items, Self::create_one)
    }

    fn update(
        &mut self,
        id: &str,
        record: &TaskRecord,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError> {
        let current = current_at(self.get_raw(id)?, VERSION, expected_version)?;
        let patch = self
            .mapping
            .canonical_to_graph(record, Some(&current))
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        if patch.is_empty() {
            return written(&current, VERSION);
        }
        // The version is the etag itself: `If-Match` carries it as read.
        let rest = format!("{}/{}", self.tasks_rest()?, enc(id));
        self.side.patch(&rest, patch, expected_version, VERSION)
    }

    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        let rest = format!("{}/{}", self.tasks_rest()?, enc(id));
        self.side.delete(&rest, expected_version)
    }
}

impl ContainerPort for GraphTasks {
    fn find_container(&mut self) -> Result<Option<String>, PortError> {
        let lists = self.side.list("/todo/lists")?;
        let named: Vec<&str> = lists
            .iter()
            .filter(|l| text(l, "displayName") == Some(TASK_LIST_NAME))
            .filter(|l| text(l, "wellknownListName").is_none_or(|w| w == "none"))
            .filter_map(|l| text(l, "id"))
            .collect();
        for id in &named {
            if self.is_stamped(id)? {
                return Ok(Some((*id).to_string()));
            }
        }
        // A list whose stamp was never written (lost answer): only one that holds nothing but
        // this app's copies, so a user's own list of that name never has its tasks taken
        // into the CRM. It is stamped now (best effort).
        for id in &named {
            if self.holds_only_copies(id)? {
                self.stamp_list(id);
                return Ok(Some((*id).to_string()));
            }
        }
        Ok(None)
    }

    fn create_container(&mut self) -> Result<String, PortError> {
        let v = self
            .side
            .call(
                Method::POST,
                "/todo/lists",
                Some(json!({"displayName": TASK_LIST_NAME})),
                None,
            )
            .map_err(|e| graph_error(&e, true))?;
        let id = text(&v, "id")
            .map(str::to_string)
            .ok_or_else(|| PortError::Unavailable("Graph answered without a list id".into()))?;
        self.stamp_list(&id);
        Ok(id)
    }

    fn container_exists(&mut self, id: &str) -> Result<bool, PortError> {
        self.side.exists(&format!("/todo/lists/{}", enc(id)))
    }

    fn delete_container(&mut self, id: &str) -> Result<(), PortError> {
        self.side.delete(&format!("/todo/lists/{}", enc(id)), None)
    }

    fn select_container(&mut self, id: &str) {
        self.list = Some(id.to_string());
    }
}
