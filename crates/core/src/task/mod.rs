//! Tasks: the canonical task (CRM Tasks ⇄ Microsoft To Do), its fixed field mapping and the
//! projections of both sides.
//!
//! The mapping is fixed (no user-editable mapping):
//!
//! | CRM (`Tasks`)  | To Do (`todoTask`)   | canonical field | rule |
//! |----------------|----------------------|-----------------|------|
//! | `Subject`      | `title`              | `title`         | one line, required by the CRM, at most 255 characters there |
//! | `Due_Date`     | `dueDateTime`        | `dueDateTime`   | date only: To Do keeps only the date, so only dates are compared |
//! | `Status`       | `status`             | `status`        | by class (see [`TodoStatus`]) |
//! | `Priority`     | `importance`         | `importance`    | by class (see [`TodoImportance`]) |
//! | `Description`  | `body.content`       | `body`          | multi-line text (an HTML body is read as its text) |
//!
//! **Classes and the no-clobber rule.** The canonical record holds the To Do value (the
//! *class*). A CRM picklist value is projected onto its class: the default values map one to one
//! (`Not Started`⇄`notStarted`, `In Progress`⇄`inProgress`, `Completed`⇄`completed`,
//! `Waiting for input`⇄`waitingOnOthers`, `Deferred`⇄`deferred`), so status is lossless for
//! them; priorities fold `Highest`/`High` → `high`, `Low`/`Lowest` → `low`, `Normal` → `normal`.
//! A value with no To Do twin (`Highest`, `Lowest`, an org's custom status) is projected onto the
//! nearest class (an unknown status onto `notStarted`, an unknown or empty priority onto
//! `normal`). When writing to the CRM, a field is written only when the class *changes*: the
//! CRM's own value is kept as long as To Do shows the same class, so a round trip never turns
//! `Highest` into `High`. When the class does change, the org's picklist value for that class is
//! written (the default name when the org has it, else the first value of that class).
//!
//! Tasks have no natural key: [`TaskRecord::natural_key`] is `None`; the connectors match a lost
//! CRM create by subject and due date among the records the user created since the intent.

mod mapping;
mod record;

pub use mapping::{TaskMapping, TodoImportance, TodoStatus};
pub use record::{TaskRecord, TASK_FIELDS};

#[cfg(test)]
mod tests;
