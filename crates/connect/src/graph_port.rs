//! Microsoft Graph contacts as the engine's Graph side: the "Zoho CRM Contacts" folder.

use chrono::{DateTime, Utc};
use crmsync_core::contact::{ContactRecord, ValidatedMapping};
use crmsync_core::planner::{Observation, Observed};
use crmsync_engine::{Changes, ContainerPort, PortError, RecordPort, Written};
use crmsync_graph::{DeltaItem, GraphClient, GraphError};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::runtime::Handle;

use crate::error::graph_error;

/// The display name of the contact folder the module owns.
pub const CONTACT_FOLDER_NAME: &str = "Zoho CRM Contacts";

/// The Graph side of the Contacts module.
pub struct GraphContacts {
    client: GraphClient,
    rt: Handle,
    mapping: ValidatedMapping,
    folder: Option<String>,
    failures: Vec<(String, String)>,
    /// The org's Contacts fields (to validate a stored mapping) and the stored mapping applied.
    pub(crate) mapping_source: crate::modules::MappingSource,
}

fn enc(s: &str) -> String {
    // Graph ids are URL-safe base64 with '-', '_' and '='; escape what a path cannot carry.
    s.replace('%', "%25")
        .replace('/', "%2F")
        .replace('?', "%3F")
        .replace('#', "%23")
}

fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

impl GraphContacts {
    /// `rt` runs the client's futures (the port calls block on it).
    #[must_use]
    pub fn new(client: GraphClient, rt: Handle, mapping: ValidatedMapping) -> Self {
        Self {
            client,
            rt,
            mapping,
            folder: None,
            failures: Vec::new(),
            mapping_source: crate::modules::MappingSource::default(),
        }
    }

    /// The org's Contacts fields, to validate the mapping the user stores (see
    /// [`crate::Adapter::prepare`]).
    pub fn set_crm_fields(&mut self, fields: Vec<crmsync_core::contact::CrmField>) {
        self.mapping_source.crm_fields = fields;
    }

    /// The selected folder id.
    #[must_use]
    pub fn folder(&self) -> Option<&str> {
        self.folder.as_deref()
    }

    /// Items the last calls could not project (id, error): their health, not observed.
    #[must_use]
    pub fn failures(&self) -> &[(String, String)] {
        &self.failures
    }

    pub(crate) fn clear_failures(&mut self) {
        self.failures.clear();
    }

    /// Projects records with `mapping` from now on.
    pub fn set_mapping(&mut self, mapping: ValidatedMapping) {
        self.mapping = mapping;
    }

    fn folder_id(&self) -> Result<&str, PortError> {
        self.folder.as_deref().ok_or(PortError::ContainerGone)
    }

    fn call(
        &self,
        method: Method,
        rest: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<Value, GraphError> {
        self.rt
            .block_on(self.client.mailbox_json(method, rest, body, if_match))
    }

    fn observe(&mut self, v: &Value) -> Option<Observed<ContactRecord>> {
        let id = text(v, "id")?.to_string();
        match self.mapping.graph_to_canonical(v) {
            Ok(p) => Some(Observed {
                version: text(v, "changeKey").unwrap_or_default().to_string(),
                modified: text(v, "lastModifiedDateTime")
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map_or(DateTime::<Utc>::UNIX_EPOCH, |d| d.with_timezone(&Utc)),
                record: p.record,
                stamp: v
                    .get("singleValueExtendedProperties")
                    .and_then(|p| serde_json::from_value(p.clone()).ok())
                    .and_then(
                        |p: Vec<crmsync_graph::models::SingleValueExtendedProperty>| {
                            self.client.stamp_of(Some(&p))
                        },
                    ),
                exclusion: None,
                id,
            }),
            Err(e) => {
                self.failures.push((id, e.to_string()));
                None
            }
        }
    }

    fn written(v: &Value) -> Result<Written, PortError> {
        Ok(Written {
            id: text(v, "id")
                .ok_or_else(|| PortError::Unavailable("Graph answered without an id".into()))?
                .to_string(),
            version: text(v, "changeKey").unwrap_or_default().to_string(),
            modified: text(v, "lastModifiedDateTime")
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map_or(DateTime::<Utc>::UNIX_EPOCH, |d| d.with_timezone(&Utc)),
        })
    }

    fn get_raw(&self, id: &str) -> Result<Option<Value>, PortError> {
        let rest = format!(
            "/contacts/{}?$expand={}",
            enc(id),
            self.client.stamp_expand()
        );
        match self.call(Method::GET, &rest, None, None) {
            Ok(v) => {
                // An item moved out of the folder is no longer part of the synced set.
                let folder = self.folder_id()?;
                if text(&v, "parentFolderId").is_some_and(|p| p != folder) {
                    return Ok(None);
                }
                Ok(Some(v))
            }
            Err(GraphError::NotFound { .. }) => Ok(None),
            Err(e) => Err(graph_error(&e, false)),
        }
    }

    fn find_raw_by_stamp(&self, crm_id: &str) -> Result<Option<Value>, PortError> {
        let rest = format!(
            "/contactFolders/{}/contacts?{}",
            enc(self.folder_id()?),
            self.client.stamp_filter(crm_id)
        );
        self.rt
            .block_on(self.client.mailbox_list_json(&rest))
            .map(|v| v.into_iter().next())
            .map_err(|e| graph_error(&e, false))
    }
}

fn etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

impl RecordPort<ContactRecord> for GraphContacts {
    fn list_all(&mut self) -> Result<Changes<ContactRecord>, PortError> {
        let folder = self.folder_id()?.to_string();
        // The delta position first: anything that changes during the listing comes again.
        let delta_url = self.client.contacts_delta_url(Some(&folder));
        let round = self
            .rt
            .block_on(self.client.delta_round::<Value>(&delta_url))
            .map_err(|e| graph_error(&e, false))?;
        let rest = format!(
            "/contactFolders/{}/contacts?$top=100&$expand={}",
            enc(&folder),
            self.client.stamp_expand()
        );
        let items = self
            .rt
            .block_on(self.client.mailbox_list_json(&rest))
            .map_err(|e| graph_error(&e, false))?;
        let observations = items
            .iter()
            .filter_map(|v| self.observe(v))
            .map(Observation::Present)
            .collect();
        Ok(Changes {
            observations,
            cursor: round.delta_link,
        })
    }

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<ContactRecord>, PortError> {
        let round = self
            .rt
            .block_on(self.client.delta_round::<Value>(cursor))
            .map_err(|e| graph_error(&e, false))?;
        let mut observations = Vec::new();
        for item in round.items {
            match item {
                DeltaItem::Changed(v) => {
                    if let Some(o) = self.observe(&v) {
                        observations.push(Observation::Present(o));
                    }
                }
                DeltaItem::Removed { id, .. } => observations.push(Observation::Deleted { id }),
            }
        }
        Ok(Changes {
            observations,
            cursor: round.delta_link,
        })
    }

    fn get(&mut self, id: &str) -> Result<Option<Observed<ContactRecord>>, PortError> {
        Ok(self.get_raw(id)?.and_then(|v| self.observe(&v)))
    }

    fn find_by_stamp(&mut self, stamp: &str) -> Result<Option<Observed<ContactRecord>>, PortError> {
        Ok(self
            .find_raw_by_stamp(stamp)?
            .and_then(|v| self.observe(&v)))
    }

    fn create(
        &mut self,
        record: &ContactRecord,
        stamp: Option<&str>,
    ) -> Result<Written, PortError> {
        let folder = self.folder_id()?.to_string();
        let mut body = self
            .mapping
            .canonical_to_graph(record, None)
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        if let Some(crm_id) = stamp {
            body.insert(
                "singleValueExtendedProperties".into(),
                serde_json::to_value(self.client.stamp(crm_id))
                    .map_err(|e| PortError::Rejected(e.to_string()))?,
            );
        }
        let rest = format!("/contactFolders/{}/contacts", enc(&folder));
        match self.call(Method::POST, &rest, Some(Value::Object(body)), None) {
            Ok(v) => Self::written(&v),
            Err(e) => {
                let pe = graph_error(&e, true);
                if pe == PortError::Timeout {
                    // The answer was lost: the stamp tells whether the create landed.
                    if let Some(crm_id) = stamp {
                        if let Some(v) = self.find_raw_by_stamp(crm_id)? {
                            return Self::written(&v);
                        }
                    }
                }
                Err(pe)
            }
        }
    }

    fn update(
        &mut self,
        id: &str,
        record: &ContactRecord,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError> {
        let current = self.get_raw(id)?.ok_or(PortError::NotFound)?;
        if let Some(v) = expected_version {
            if text(&current, "changeKey") != Some(v) {
                return Err(PortError::PreconditionFailed);
            }
        }
        let patch = self
            .mapping
            .canonical_to_graph(record, Some(&current))
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        let tag = expected_version.map(etag);
        let v = self
            .call(
                Method::PATCH,
                &format!("/contacts/{}", enc(id)),
                Some(Value::Object(patch)),
                tag.as_deref(),
            )
            .map_err(|e| graph_error(&e, true))?;
        Self::written(&v)
    }

    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        let tag = expected_version.map(etag);
        self.call(
            Method::DELETE,
            &format!("/contacts/{}", enc(id)),
            None,
            tag.as_deref(),
        )
        .map(|_| ())
        .map_err(|e| graph_error(&e, true))
    }
}

impl ContainerPort for GraphContacts {
    fn find_container(&mut self) -> Result<Option<String>, PortError> {
        let folders = self
            .rt
            .block_on(self.client.mailbox_list_json("/contactFolders"))
            .map_err(|e| graph_error(&e, false))?;
        Ok(folders
            .iter()
            .find(|f| text(f, "displayName") == Some(CONTACT_FOLDER_NAME))
            .and_then(|f| text(f, "id"))
            .map(str::to_string))
    }

    fn create_container(&mut self) -> Result<String, PortError> {
        let v = self
            .call(
                Method::POST,
                "/contactFolders",
                Some(json!({"displayName": CONTACT_FOLDER_NAME})),
                None,
            )
            .map_err(|e| graph_error(&e, true))?;
        text(&v, "id")
            .map(str::to_string)
            .ok_or_else(|| PortError::Unavailable("Graph answered without a folder id".into()))
    }

    fn container_exists(&mut self, id: &str) -> Result<bool, PortError> {
        match self.call(
            Method::GET,
            &format!("/contactFolders/{}", enc(id)),
            None,
            None,
        ) {
            Ok(_) => Ok(true),
            Err(GraphError::NotFound { .. }) => Ok(false),
            Err(e) => Err(graph_error(&e, false)),
        }
    }

    fn delete_container(&mut self, id: &str) -> Result<(), PortError> {
        self.call(
            Method::DELETE,
            &format!("/contactFolders/{}", enc(id)),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| graph_error(&e, true))
    }

    fn select_container(&mut self, id: &str) {
        self.folder = Some(id.to_string());
    }
}
