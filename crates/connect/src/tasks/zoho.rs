//! Zoho CRM Tasks as the engine's CRM side, with the exclusion rules (owner only, import and
//! migration excluded through the timeline, the first-sync cap when one is set) and a
//! duplicate-safe create: a lost answer is looked up by subject and due date among the tasks
//! this user created since the intent, never re-posted blindly.

use chrono::{DateTime, Utc};
use crmsync_core::planner::Observed;
use crmsync_core::policy::Exclusion;
use crmsync_core::task::{TaskMapping, TaskRecord};
use crmsync_core::value::{normalize_text, TextForm};
use crmsync_core::ModuleKind;
use crmsync_engine::{Changes, PortError, RecordPort, Written};
use crmsync_zoho::ZohoClient;
use tokio::runtime::Handle;

use crate::zoho_common::{coql_quote, CrmModule, CrmSide, Raw};

/// The Tasks fields listed: the mapped fields plus what the exclusions need.
pub const TASK_LIST_FIELDS: &[&str] = &[
    "Owner",
    "Subject",
    "Due_Date",
    "Status",
    "Priority",
    "Description",
    "Closed_Time",
    "Created_Time",
    "Modified_Time",
];

/// The CRM Tasks module.
struct Tasks;

impl CrmModule for Tasks {
    const API_NAME: &'static str = "Tasks";
    const LIST_FIELDS: &'static [&'static str] = TASK_LIST_FIELDS;
    const KIND: ModuleKind = ModuleKind::Tasks;
}

/// A Tasks record as raw JSON.
type RawTask = Raw<Tasks>;

/// The CRM side of the Tasks module.
pub struct ZohoTasks {
    side: CrmSide<Tasks>,
    mapping: TaskMapping,
}

impl ZohoTasks {
    /// `user_id`: the signed-in CRM user (only the tasks they own sync).
    #[must_use]
    pub fn new(client: ZohoClient, rt: Handle, mapping: TaskMapping, user_id: String) -> Self {
        Self {
            side: CrmSide::new(client, rt, user_id),
            mapping,
        }
    }

    /// The first-sync cap (tasks have none by default; tests set one).
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

    /// Forgets the failures of earlier rounds.
    pub fn clear_failures(&mut self) {
        self.side.failures.clear();
    }

    /// The signed-in CRM user's id.
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.side.user_id
    }

    fn fields() -> Vec<String> {
        CrmSide::<Tasks>::list_fields([])
    }

    /// Projects and classifies records; `listing`: a complete listing (the first-sync cap, when
    /// set, selects among the eligible records last modified before the first sync).
    fn observe_all(
        &mut self,
        recs: &[RawTask],
        listing: bool,
    ) -> Result<Vec<Observed<TaskRecord>>, PortError> {
        let mapping = &self.mapping;
        // Only records that would sync are reported; another user's broken task is none of
        // this user's business.
        self.side.observe_projected(
            recs,
            listing,
            |m| mapping.crm_to_canonical(m),
            |exclusion| exclusion != Some(Exclusion::NotOwner),
        )
    }

    fn observe_one(
        &mut self,
        r: Option<RawTask>,
    ) -> Result<Option<Observed<TaskRecord>>, PortError> {
        let Some(r) = r else {
            return Ok(None);
        };
        let mut v = self.observe_all(std::slice::from_ref(&r), false)?;
        Ok(v.pop())
    }

    /// The task a create of `record` may have made since `since`: same subject and due date,
    /// owned by this user, created at or after `since` (less the clock skew), the earliest
    /// such. Tasks have no natural key and Zoho no idempotency key; subject + due date + owner
    /// + creation time is the narrowest match the API offers.
    fn lookup_created(
        &self,
        record: &TaskRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<RawTask>, PortError> {
        let Some(subject) = record.title() else {
            return Ok(None);
        };
        let q = format!(
            "select id, Subject, Due_Date, Created_Time, Owner from {} where Subject = {}",
            Tasks::API_NAME,
            coql_quote(subject)
        );
        let due = record.due().map(|d| d.format("%Y-%m-%d").to_string());
        self.side.lookup_created(&q, since, |r| {
            let same_subject = r
                .text("Subject")
                .and_then(|s| normalize_text(s, TextForm::Line))
                .as_deref()
                == Some(subject);
            let same_due = r.text("Due_Date").filter(|s| !s.is_empty()) == due.as_deref();
            same_subject && same_due
        })
    }
}

impl RecordPort<TaskRecord> for ZohoTasks {
    fn list_all(&mut self) -> Result<Changes<TaskRecord>, PortError> {
        let feed = self.side.listing(Self::fields())?;
        let present = self.observe_all(&feed.recs, true)?;
        feed.into_changes(present)
    }

    fn changes_since(&mut self, cursor: &str) -> Result<Changes<TaskRecord>, PortError> {
        let feed = self.side.feed_since(Self::fields(), cursor)?;
        let present = self.observe_all(&feed.recs, false)?;
        feed.into_changes(present)
    }

    fn get(&mut self, id: &str) -> Result<Option<Observed<TaskRecord>>, PortError> {
        let r = self.side.get_raw(id)?;
        self.observe_one(r)
    }

    fn find_by_stamp(&mut self, _stamp: &str) -> Result<Option<Observed<TaskRecord>>, PortError> {
        // CRM tasks carry no stamp field; see `find_created`.
        Ok(None)
    }

    fn find_created(
        &mut self,
        _stamp: &str,
        record: &TaskRecord,
        since: DateTime<Utc>,
    ) -> Result<Option<Observed<TaskRecord>>, PortError> {
        let r = self.lookup_created(record, since)?;
        self.observe_one(r)
    }

    fn create(&mut self, record: &TaskRecord, _stamp: Option<&str>) -> Result<Written, PortError> {
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
        record: &TaskRecord,
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
