//! Contacts: the canonical contact, the Microsoft fields the API supports, the editable field
//! mapping (with its default and its validation) and the projections of both sides.

mod fields;
mod mapping;
mod record;

pub use fields::{
    ms_field, standard_crm_contact_fields, CrmField, CrmType, MsContent, MsField, MsShape,
    MAX_BUSINESS_PHONES, MAX_EMAILS, MAX_HOME_PHONES, MS_CONTACT_FIELDS,
};
pub use mapping::{
    ContactMapping, MappingEntry, MappingIssue, Overflow, Projection, ValidatedMapping,
};
pub use record::ContactRecord;

#[cfg(test)]
mod tests;
