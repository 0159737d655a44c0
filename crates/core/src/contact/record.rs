//! The canonical contact: values keyed by Microsoft field id.

use serde::{Deserialize, Serialize};

use super::fields::{ms_field, MsContent, MsShape};
use crate::error::RecordError;
use crate::record::{field_record, normalize_fields, CanonicalRecord};
use crate::value::{normalize_list, normalize_text, FieldMap, FieldValue};

/// A contact's canonical, normalised projection. Keys are Microsoft field ids
/// ([`super::MS_CONTACT_FIELDS`]); both sides are projected onto this shape through the mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FieldMap", into = "FieldMap")]
pub struct ContactRecord {
    fields: FieldMap,
}

field_record!(ContactRecord);

impl ContactRecord {
    /// Convenience accessor for a list field (empty when absent).
    #[must_use]
    pub fn list(&self, id: &str) -> &[String] {
        match self.fields.get(id) {
            Some(FieldValue::List(v)) => v,
            _ => &[],
        }
    }
}

/// Normalises one value for the Microsoft field `id`; `Ok(None)` when it is empty.
pub(crate) fn normalize_value(
    id: &str,
    value: FieldValue,
) -> Result<Option<FieldValue>, RecordError> {
    let field = ms_field(id).ok_or_else(|| RecordError::UnknownField(id.to_owned()))?;
    let mismatch = |found: &FieldValue| {
        let expected = match (field.shape, field.content) {
            (_, MsContent::Date) => "a date",
            (MsShape::Scalar, _) => "a text",
            (MsShape::List { .. }, _) => "a list of texts",
        };
        RecordError::mismatch(id, expected, found.kind())
    };
    let form = field.content.text_form();
    match (field.shape, field.content, value) {
        (MsShape::Scalar, MsContent::Date, FieldValue::Date(d)) => Ok(Some(FieldValue::Date(d))),
        (MsShape::Scalar, c, FieldValue::Text(s)) if c != MsContent::Date => {
            Ok(normalize_text(&s, form).map(FieldValue::Text))
        }
        (MsShape::List { .. }, _, FieldValue::List(items)) => {
            let items = normalize_list(items.iter().map(String::as_str), form);
            Ok((!items.is_empty()).then_some(FieldValue::List(items)))
        }
        (_, _, other) => Err(mismatch(&other)),
    }
}

impl CanonicalRecord for ContactRecord {
    const DOMAIN: &'static str = "contact";

    fn fields(&self) -> &FieldMap {
        &self.fields
    }

    fn from_fields(fields: FieldMap) -> Result<Self, RecordError> {
        Ok(Self {
            fields: normalize_fields(fields, normalize_value)?,
        })
    }

    fn natural_key(&self) -> Option<String> {
        self.list("emailAddresses").first().cloned()
    }

    fn label(&self) -> String {
        let name: Vec<&str> = ["givenName", "surname"]
            .iter()
            .filter_map(|id| self.text(id))
            .collect();
        if !name.is_empty() {
            return name.join(" ");
        }
        self.text("companyName")
            .map(str::to_owned)
            .or_else(|| self.natural_key())
            .unwrap_or_else(|| "(no name)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pairs: &[(&str, FieldValue)]) -> Result<ContactRecord, RecordError> {
        ContactRecord::from_fields(
            pairs
                .iter()
                .cloned()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    #[test]
    fn normalises_and_drops_empty() {
        let r = rec(&[
            ("givenName", FieldValue::Text("  Jane ".into())),
            ("surname", FieldValue::Text("   ".into())),
            (
                "emailAddresses",
                FieldValue::List(vec!["J@X.com".into(), "j@x.COM".into(), "".into()]),
            ),
        ])
        .unwrap();
        assert_eq!(r.text("givenName"), Some("Jane"));
        assert_eq!(r.text("surname"), None);
        assert_eq!(r.list("emailAddresses"), ["j@x.com".to_owned()]);
        assert_eq!(r.natural_key().as_deref(), Some("j@x.com"));
        assert_eq!(r.label(), "Jane");
    }

    #[test]
    fn rejects_unknown_fields_and_wrong_types() {
        assert_eq!(
            rec(&[("displayName", FieldValue::Text("x".into()))]),
            Err(RecordError::UnknownField("displayName".into()))
        );
        assert!(matches!(
            rec(&[("birthday", FieldValue::Text("1990-01-01".into()))]),
            Err(RecordError::TypeMismatch { .. })
        ));
        assert!(matches!(
            rec(&[("emailAddresses", FieldValue::Text("a@b".into()))]),
            Err(RecordError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn serde_round_trip_normalises() {
        let r = rec(&[("jobTitle", FieldValue::Text("CEO".into()))]).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        let back: ContactRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let bad: Result<ContactRecord, _> =
            serde_json::from_str(r#"{"nope":{"type":"text","value":"x"}}"#);
        assert!(bad.is_err());
    }
}
