//! Microsoft Graph contacts as the engine's Graph side: the "Zoho CRM Contacts" folder.

use crmsync_core::contact::{ContactRecord, ValidatedMapping};
use crmsync_core::planner::{Observation, Observed};
use crmsync_engine::{Changes, ContainerPort, PortError, RecordPort, Written};
use crmsync_graph::GraphClient;
use serde_json::Value;
use tokio::runtime::Handle;

use crate::contact_limits::OverflowNotes;
use crate::graph_common::{
    create_in_parallel, current_at, delta_feed, enc, etag, listed, text, time, GraphSide,
    StampedContainer,
};

/// The display name of the contact folder the module owns.
pub const CONTACT_FOLDER_NAME: &str = "Zoho CRM Contacts";

/// The name used when the user already has an unrelated folder called [`CONTACT_FOLDER_NAME`]
/// (Outlook refuses two folders with one name).
pub const CONTACT_FOLDER_FALLBACK_NAME: &str = "Zoho CRM Contacts (CRM Sync)";

/// The value of the CRM-id stamp property on the folder itself: how the folder is found again
/// (by stamp, never by name, so a user's own "Zoho CRM Contacts" folder is never taken over).
pub const CONTACT_FOLDER_STAMP: &str = "crmsync:contacts-folder";

/// The contact folder the module owns, as Graph creates and finds it.
const FOLDER: StampedContainer = StampedContainer {
    collection: "/contactFolders",
    name_key: "displayName",
    names: &[CONTACT_FOLDER_NAME, CONTACT_FOLDER_FALLBACK_NAME],
    stamp: CONTACT_FOLDER_STAMP,
    what: "contact folder",
};

/// The property that versions a contact.
const VERSION: &str = "changeKey";

/// The Graph side of the Contacts module.
pub struct GraphContacts {
    side: GraphSide,
    mapping: ValidatedMapping,
    folder: Option<String>,
    failures: Vec<(String, String)>,
    /// Contacts with more Microsoft values than CRM fields mapped: their health notes, across
    /// rounds.
    limits: OverflowNotes,
    /// The org's Contacts fields (to validate a stored mapping) and the stored mapping applied.
    pub(crate) mapping_source: crate::modules::MappingSource,
}

impl GraphContacts {
    /// `rt` runs the client's futures (the port calls block on it).
    #[must_use]
    pub fn new(client: GraphClient, rt: Handle, mapping: ValidatedMapping) -> Self {
        Self {
            side: GraphSide { client, rt },
            mapping,
            folder: None,
            failures: Vec::new(),
            limits: OverflowNotes::default(),
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

    /// Contacts that sync with Microsoft values the CRM fields mapped cannot hold (id, note
    /// naming them): those values stay in Microsoft 365 only, untouched by the sync. Listed
    /// until the contact is read again without them, is deleted, or a full listing no longer
    /// finds it.
    #[must_use]
    pub fn limit_notes(&self) -> Vec<(String, String)> {
        self.limits.list()
    }

    /// Projects records with `mapping` from now on.
    pub fn set_mapping(&mut self, mapping: ValidatedMapping) {
        self.mapping = mapping;
    }

    fn folder_id(&self) -> Result<&str, PortError> {
        self.folder.as_deref().ok_or(PortError::ContainerGone)
    }

    fn observe(&mut self, v: &Value) -> Option<Observed<ContactRecord>> {
        let id = text(v, "id")?.to_string();
        match self.mapping.graph_to_canonical(v) {
            Ok(p) => Some(self.limits.observe(Observed {
                version: text(v, VERSION).unwrap_or_default().to_string(),
                modified: time(v, "lastModifiedDateTime"),
                record: p,
                stamp: self.side.extended_stamp(v),
                exclusion: None,
                id,
            })),
            Err(e) => {
                self.failures.push((id, e.to_string()));
                None
            }
        }
    }

    fn get_raw(&self, id: &str) -> Result<Option<Value>, PortError> {
        let rest = format!(
            "/contacts/{}?$expand={}",
            enc(id),
            self.side.client.stamp_expand()
        );
        let Some(v) = self.side.get_opt(&rest)? else {
            return Ok(None);
        };
        // An item moved out of the folder is no longer part of the synced set.
        let folder = self.folder_id()?;
        if text(&v, "parentFolderId").is_some_and(|p| p != folder) {
            return Ok(None);
        }
        Ok(Some(v))
    }

    fn find_raw_by_stamp(&self, crm_id: &str) -> Result<Option<Value>, PortError> {
        let collection = format!("/contactFolders/{}/contacts", enc(self.folder_id()?));
        self.side.find_by_stamp_filter(&collection, crm_id)
    }
}

impl GraphContacts {
    /// The create of `RecordPort::create`, on `&self` so that several can run at once.
    fn create_one(
        &self,
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
                self.side.stamp_property(crm_id)?,
            );
        }
        let rest = format!("/contactFolders/{}/contacts", enc(&folder));
        self.side.create(&rest, body, stamp, VERSION, |crm_id| {
            self.find_raw_by_stamp(crm_id)
        })
    }
}

impl RecordPort<ContactRecord> for GraphContacts {
    fn list_all(&mut self) -> Result<Changes<ContactRecord>, PortError> {
        let folder = self.folder_id()?.to_string();
        // The delta position first: anything that changes during the listing comes again.
        let delta_url = self.side.client.contacts_delta_url(Some(&folder));
        let round = self.side.delta(&delta_url)?;
        let rest = format!(
            "/contactFolders/{}/contacts?$top=100&$expand={}",
            enc(&folder),
            self.side.client.stamp_expand()
        );
        let items = self.side.list(&rest)?;
        self.limits.clear();
        Ok(listed(round, &items, |v| self.observe(v)))
    }

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<ContactRecord>, PortError> {
        let round = self.side.delta(cursor)?;
        let changes = delta_feed(round, |v| self.observe(v));
        for o in &changes.observations {
            if let Observation::Deleted { id } = o {
                self.limits.forget(id);
            }
        }
        Ok(changes)
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
        self.create_one(record, stamp)
    }

    /// Up to 4 at once (the mailbox's limit), each as [`Self::create_one`].
    fn create_many(
        &mut self,
        items: &[(&ContactRecord, Option<&str>)],
    ) -> Vec<Option<Result<Written, PortError>>> {
        create_in_parallel(&*self, items, Self::create_one)
    }

    fn update(
        &mut self,
        id: &str,
        record: &ContactRecord,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError> {
        let current = current_at(self.get_raw(id)?, VERSION, expected_version)?;
        let patch = self
            .mapping
            .canonical_to_graph(record, Some(&current))
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        let tag = expected_version.map(etag);
        self.side.patch(
            &format!("/contacts/{}", enc(id)),
            patch,
            tag.as_deref(),
            VERSION,
        )
    }

    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        let tag = expected_version.map(etag);
        self.side
            .delete(&format!("/contacts/{}", enc(id)), tag.as_deref())
    }
}

impl ContainerPort for GraphContacts {
    /// The contact folder stamped [`CONTACT_FOLDER_STAMP`], whatever its name now; a user's own
    /// folder named [`CONTACT_FOLDER_NAME`] is never taken (nor its contacts sent to the CRM).
    fn find_container(&mut self) -> Result<Option<String>, PortError> {
        self.side.find_stamped(&FOLDER)
    }

    /// A stamped folder named [`CONTACT_FOLDER_NAME`], or [`CONTACT_FOLDER_FALLBACK_NAME`] when
    /// the user already has a folder by that name.
    fn create_container(&mut self) -> Result<String, PortError> {
        self.side.create_stamped(&FOLDER)
    }

    fn container_exists(&mut self, id: &str) -> Result<bool, PortError> {
        self.side.exists(&format!("/contactFolders/{}", enc(id)))
    }

    fn delete_container(&mut self, id: &str) -> Result<(), PortError> {
        self.side
            .delete(&format!("/contactFolders/{}", enc(id)), None)
    }

    fn select_container(&mut self, id: &str) {
        self.folder = Some(id.to_string());
    }
}
