//! Zoho CRM Contacts as the engine's CRM side, with the exclusion rules.

use chrono::{DateTime, Utc};
use crmsync_core::contact::{ContactRecord, ValidatedMapping};
use crmsync_core::planner::Observed;
use crmsync_core::ModuleKind;
use crmsync_engine::{Changes, PortError, RecordPort, Written};
use crmsync_zoho::ZohoClient;
use serde_json::Value;
use tokio::runtime::Handle;

use crate::contact_limits::OverflowNotes;
use crate::zoho_common::{coql_quote, CrmModule, CrmSide, Raw};

/// The fields listed: the mapped standard fields plus what the exclusions need.
pub const CONTACT_LIST_FIELDS: &[&str] = &[
    "Owner",
    "First_Name",
    "Last_Name",
    "Email",
    "Secondary_Email",
    "Phone",
    "Mobile",
    "Home_Phone",
    "Other_Phone",
    "Title",
    "Department",
    "Account_Name",
    "Mailing_Street",
    "Mailing_City",
    "Mailing_State",
    "Mailing_Zip",
    "Mailing_Country",
    "Other_Street",
    "Other_City",
    "Other_State",
    "Other_Zip",
    "Other_Country",
    "Date_of_Birth",
    "Description",
    "Assistant",
    "Created_Time",
    "Modified_Time",
];

/// The CRM Contacts module.
struct Contacts;

impl CrmModule for Contacts {
    const API_NAME: &'static str = "Contacts";
    const LIST_FIELDS: &'static [&'static str] = CONTACT_LIST_FIELDS;
    const KIND: ModuleKind = ModuleKind::Contacts;
}

/// A Contacts record as raw JSON.
type RawContact = Raw<Contacts>;

/// The CRM side of the Contacts module.
pub struct ZohoContacts {
    side: CrmSide<Contacts>,
    mapping: ValidatedMapping,
    /// Records with CRM values Microsoft 365 cannot hold (beyond its 3 e-mails / 2 phones):
    /// their health notes, across rounds.
    limits: OverflowNotes,
    /// The org's Contacts fields (to validate a stored mapping) and the stored mapping applied.
    pub(crate) mapping_source: crate::modules::MappingSource,
}

impl ZohoContacts {
    /// `user_id`: the signed-in CRM user (only the records they own sync).
    #[must_use]
    pub fn new(client: ZohoClient, rt: Handle, mapping: ValidatedMapping, user_id: String) -> Self {
        Self {
            side: CrmSide::new(client, rt, user_id),
            mapping,
            limits: OverflowNotes::default(),
            mapping_source: crate::modules::MappingSource::default(),
        }
    }

    /// The org's Contacts fields, to validate the mapping the user stores (see
    /// [`crate::Adapter::prepare`]).
    pub fn set_crm_fields(&mut self, fields: Vec<crmsync_core::contact::CrmField>) {
        self.mapping_source.crm_fields = fields;
    }

    /// The first-sync cap (10,000 contacts by default; tests lower it).
    pub fn set_first_sync_cap(&mut self, cap: Option<usize>) {
        self.side.cap = cap;
    }

    /// When the first sync ran (the store's `first_sync_at`); None before it.
    pub fn set_first_sync_at(&mut self, at: Option<DateTime<Utc>>) {
        self.side.first_sync_at = at;
    }

    /// Records the last calls could not project (id, error): their health, not observed.
    #[must_use]
    pub fn failures(&self) -> &[(String, String)] {
        &self.side.failures
    }

    pub(crate) fn clear_failures(&mut self) {
        self.side.failures.clear();
    }

    /// Records that sync with CRM values Microsoft 365 cannot hold (id, note naming them):
    /// those values stay in the CRM only, untouched by the sync. Listed until the record is
    /// read again without them, is deleted, or a full listing no longer finds it.
    #[must_use]
    pub fn limit_notes(&self) -> Vec<(String, String)> {
        self.limits.list()
    }

    /// Projects records with `mapping` from now on.
    pub fn set_mapping(&mut self, mapping: ValidatedMapping) {
        self.mapping = mapping;
    }

    /// The CRM client.
    #[must_use]
    pub fn client(&self) -> &ZohoClient {
        &self.side.client
    }

    /// The runtime the port calls block on.
    #[must_use]
    pub fn runtime(&self) -> &Handle {
        &self.side.rt
    }

    /// The signed-in CRM user's id.
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.side.user_id
    }

    /// The fields the sync always needs, plus those of the mapping (custom ones too).
    fn fields(&self) -> Vec<String> {
        CrmSide::<Contacts>::list_fields(self.mapping.crm_fields())
    }

    /// Projects and classifies records; `listing`: a complete listing (the first-sync cap
    /// selects among the eligible records last modified before the first sync). Every record
    /// that cannot be projected is reported.
    fn observe_all(
        &mut self,
        recs: &[RawContact],
        listing: bool,
    ) -> Result<Vec<Observed<ContactRecord>>, PortError> {
        let mapping = &self.mapping;
        let projected = self.side.observe_projected(
            recs,
            listing,
            |m| mapping.crm_to_canonical(m),
            |_| true,
        )?;
        Ok(projected
            .into_iter()
            .map(|o| self.limits.observe(o))
            .collect())
    }

    fn observe_one(
        &mut self,
        r: Option<RawContact>,
    ) -> Result<Option<Observed<ContactRecord>>, PortError> {
        let Some(r) = r else {
            return Ok(None);
        };
        let mut v = self.observe_all(std::slice::from_ref(&r), false)?;
        Ok(v.pop())
    }

    /// The record a create of `record` made since `since` (local clock, with skew), owned by
    /// this user, if it landed: by e-mail when the contact has one, else by the name fields
    /// the create sent (`Last_Name` is mandatory in the CRM), the earliest such record.
    fn lookup_created(
        &self,
        record: &ContactRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<RawContact>, PortError> {
        use crmsync_core::CanonicalRecord;
        // (field, value) pairs a candidate must carry (case-insensitively).
        let keys: Vec<(&str, String)> = match record.natural_key() {
            Some(email) => vec![("Email", email)],
            None => {
                let body = self
                    .mapping
                    .canonical_to_crm(record, None)
                    .map_err(|e| PortError::Rejected(e.to_string()))?;
                let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
                let Some(last) = text("Last_Name") else {
                    return Ok(None);
                };
                let mut keys = vec![("Last_Name", last)];
                keys.extend(text("First_Name").map(|f| ("First_Name", f)));
                keys
            }
        };
        let (field, value) = &keys[0];
        let q = format!(
            "select id, Email, First_Name, Last_Name, Created_Time, Owner from {} where {field} = {}",
            Contacts::API_NAME,
            coql_quote(value)
        );
        self.side.lookup_created(&q, since, |r| {
            keys.iter().all(|(k, v)| {
                r.text(k)
                    .is_some_and(|x| x.trim().eq_ignore_ascii_case(v.trim()))
            })
        })
    }
}

impl RecordPort<ContactRecord> for ZohoContacts {
    fn list_all(&mut self) -> Result<Changes<ContactRecord>, PortError> {
        let feed = self.side.listing(self.fields())?;
        self.limits.clear();
        let present = self.observe_all(&feed.recs, true)?;
        feed.into_changes(present)
    }

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<ContactRecord>, PortError> {
        let feed = self.side.feed_since(self.fields(), cursor)?;
        let present = self.observe_all(&feed.recs, false)?;
        for id in &feed.deleted {
            self.limits.forget(id);
        }
        feed.into_changes(present)
    }

    fn get(&mut self, id: &str) -> Result<Option<Observed<ContactRecord>>, PortError> {
        let r = self.side.get_raw(id)?;
        self.observe_one(r)
    }

    fn find_by_stamp(
        &mut self,
        _stamp: &str,
    ) -> Result<Option<Observed<ContactRecord>>, PortError> {
        // CRM records carry no stamp field; see `find_created`.
        Ok(None)
    }

    fn find_created(
        &mut self,
        _stamp: &str,
        record: &ContactRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<Observed<ContactRecord>>, PortError> {
        let r = self.lookup_created(record, since)?;
        self.observe_one(r)
    }

    fn create(
        &mut self,
        record: &ContactRecord,
        _stamp: Option<&str>,
    ) -> Result<Written, PortError> {
        let body = self
            .mapping
            .canonical_to_crm(record, None)
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        self.side
            .create(body, |started| self.lookup_created(record, started))
    }

    fn update(
        &mut self,
        id: &str,
        record: &ContactRecord,
        expected_version: Option<&str>,
    ) -> Result<Written, PortError> {
        self.side.update(id, expected_version, |current| {
            self.mapping
                .canonical_to_crm(record, Some(current))
                .map_err(|e| PortError::Rejected(e.to_string()))
        })
    }

    fn delete(&mut self, id: &str, expected_version: Option<&str>) -> Result<(), PortError> {
        self.side.delete(id, expected_version)
    }
}
