//! Contact values one side cannot carry to the other: Graph's limits (3 `emailAddresses`,
//! 2 `businessPhones`, 2 `homePhones`) or more Microsoft values than CRM fields mapped. The core
//! projection keeps them where they are (writes to that side never drop them) and reports them
//! as [`Overflow`]; here they become a note in the record's health, which stays until the
//! record is read again without them, is deleted, or a full listing no longer finds it.

use std::collections::BTreeMap;

use crmsync_core::contact::{ContactRecord, Projection};
use crmsync_core::planner::Observed;
use crmsync_core::Side;

/// "1st", "2nd", "3rd", "4th", ... "11th", "12th", "13th", "21st"...
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What one value of a Microsoft list field is called in a note, and several.
fn nouns(ms_field: &str) -> (&str, &str) {
    match ms_field {
        "emailAddresses" => ("e-mail", "e-mails"),
        "businessPhones" => ("business phone", "business phones"),
        "homePhones" => ("home phone", "home phones"),
        "imAddresses" => ("IM address", "IM addresses"),
        "children" => ("child", "children"),
        other => (other, other),
    }
}

/// The health note of a projection whose values do not all fit the other side, e.g.
/// "4th e-mail (Email_4__c) kept in the CRM only: Microsoft 365 holds at most 3 e-mails per
/// contact". `None` when everything fits.
pub(crate) fn overflow_note(p: &Projection) -> Option<String> {
    let notes: Vec<String> = p
        .overflow
        .iter()
        .map(|o| {
            let kept = p.record.list(&o.ms_field).len();
            let (noun, nouns) = nouns(&o.ms_field);
            let which: Vec<String> = (0..o.values.len())
                .map(|i| {
                    let nth = format!("{} {noun}", ordinal(kept + i + 1));
                    match o.crm_fields.get(i) {
                        Some(field) => format!("{nth} ({field})"),
                        None => nth,
                    }
                })
                .collect();
            let which = which.join(", ");
            match o.side {
                Side::Crm => format!(
                    "{which} kept in the CRM only: Microsoft 365 holds at most {kept} {nouns} per contact"
                ),
                Side::Graph => format!(
                    "{which} kept in Microsoft 365 only: the field mapping has {kept} CRM fields for {nouns}"
                ),
            }
        })
        .collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// The overflow notes of the records an adapter read, by record id: each one kept until the
/// record is read again (then replaced or dropped), deleted, or a full listing starts.
#[derive(Debug, Default)]
pub(crate) struct OverflowNotes(BTreeMap<String, String>);

impl OverflowNotes {
    /// The observation of a projected record, its note taken (or dropped when it has none).
    pub(crate) fn observe(&mut self, o: Observed<Projection>) -> Observed<ContactRecord> {
        match overflow_note(&o.record) {
            Some(note) => self.0.insert(o.id.clone(), note),
            None => self.0.remove(&o.id),
        };
        Observed {
            id: o.id,
            version: o.version,
            modified: o.modified,
            record: o.record.record,
            stamp: o.stamp,
            exclusion: o.exclusion,
        }
    }

    /// A record gone: its note with it.
    pub(crate) fn forget(&mut self, id: &str) {
        self.0.remove(id);
    }

    /// A full listing starts: what it does not find again is no longer anyone's concern.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Every note: (record id, note).
    pub(crate) fn list(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(id, note)| (id.clone(), note.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmsync_core::contact::Overflow;
    use crmsync_core::{CanonicalRecord, FieldMap, FieldValue};

    fn projection(list: &[&str], overflow: Vec<Overflow>) -> Projection {
        let mut fields = FieldMap::new();
        fields.insert(
            "emailAddresses".into(),
            FieldValue::List(list.iter().map(|s| (*s).to_owned()).collect()),
        );
        Projection {
            record: ContactRecord::from_fields(fields).unwrap(),
            overflow,
        }
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "111th"]
        );
    }

    #[test]
    fn notes_name_the_values_kept_on_one_side_only() {
        let three = ["a@x.example", "b@x.example", "c@x.example"];
        assert_eq!(overflow_note(&projection(&three, Vec::new())), None);
        let crm = projection(
            &three,
            vec![Overflow {
                side: Side::Crm,
                ms_field: "emailAddresses".into(),
                values: vec!["d@x.example".into(), "e@x.example".into()],
                crm_fields: vec!["Email_4__c".into(), "Email_5__c".into()],
            }],
        );
        assert_eq!(
            overflow_note(&crm).as_deref(),
            Some(
                "4th e-mail (Email_4__c), 5th e-mail (Email_5__c) kept in the CRM only: \
                 Microsoft 365 holds at most 3 e-mails per contact"
            )
        );
        let graph = projection(
            &three[..2],
            vec![Overflow {
                side: Side::Graph,
                ms_field: "emailAddresses".into(),
                values: vec!["c@x.example".into()],
                crm_fields: Vec::new(),
            }],
        );
        assert_eq!(
            overflow_note(&graph).as_deref(),
            Some(
                "3rd e-mail kept in Microsoft 365 only: the field mapping has 2 CRM fields \
                 for e-mails"
            )
        );
    }
}
