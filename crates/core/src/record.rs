//! The trait every module's canonical record implements, so the planner is generic over modules.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RecordError;
use crate::value::{hash_fields, ContentHash, FieldMap};

/// A module's canonical record: the mapped, normalised projection both sides are compared on.
///
/// Implementations guarantee that [`CanonicalRecord::fields`] is already normalised (constructors
/// normalise), so two records are "the same" exactly when their field maps are equal, and
/// [`CanonicalRecord::hash`] is a pure function of those fields.
pub trait CanonicalRecord: Clone + Debug + PartialEq + Serialize + DeserializeOwned {
    /// Domain string mixed into the hash (for example `"contact"`).
    const DOMAIN: &'static str;

    /// The normalised fields (absent fields are omitted).
    fn fields(&self) -> &FieldMap;

    /// Builds a record from fields, normalising them.
    ///
    /// # Errors
    /// [`RecordError`] when a field is unknown to the module or has the wrong type.
    fn from_fields(fields: FieldMap) -> Result<Self, RecordError>;

    /// The natural key used to match records that are not linked yet (contacts: the primary
    /// email), normalised. `None` when the record has none.
    fn natural_key(&self) -> Option<String>;

    /// A short label for previews and logs (for example the contact's name).
    fn label(&self) -> String;

    /// The stable content hash of the normalised fields.
    fn hash(&self) -> ContentHash {
        hash_fields(Self::DOMAIN, self.fields())
    }

    /// The empty record (no fields), used as the merge base of two records that were never
    /// linked ("conflict-new").
    fn empty() -> Self {
        // An empty field map is valid for every module.
        Self::from_fields(FieldMap::new()).unwrap_or_else(|_| unreachable!("empty record"))
    }
}

/// Normalises every field with `normalize` (one field's id and value; `Ok(None)`: empty, so
/// dropped): what each module's [`CanonicalRecord::from_fields`] does.
pub(crate) fn normalize_fields(
    fields: FieldMap,
    normalize: impl Fn(
        &str,
        crate::value::FieldValue,
    ) -> Result<Option<crate::value::FieldValue>, RecordError>,
) -> Result<FieldMap, RecordError> {
    let mut out = FieldMap::new();
    for (id, value) in fields {
        if let Some(v) = normalize(&id, value)? {
            out.insert(id, v);
        }
    }
    Ok(out)
}

/// The plumbing of a canonical record type `$ty { fields: FieldMap }`: the `FieldMap`
/// conversions its serde form goes through (`#[serde(try_from = "FieldMap", into =
/// "FieldMap")]`, so a deserialised record is normalised too) and its text accessor.
macro_rules! field_record {
    ($ty:ident) => {
        impl TryFrom<$crate::value::FieldMap> for $ty {
            type Error = $crate::error::RecordError;
            fn try_from(fields: $crate::value::FieldMap) -> Result<Self, Self::Error> {
                <Self as $crate::record::CanonicalRecord>::from_fields(fields)
            }
        }

        impl From<$ty> for $crate::value::FieldMap {
            fn from(r: $ty) -> Self {
                r.fields
            }
        }

        impl $ty {
            /// A text field (None when absent or not a text).
            #[must_use]
            pub fn text(&self, id: &str) -> Option<&str> {
                match self.fields.get(id) {
                    Some($crate::value::FieldValue::Text(s)) => Some(s),
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use field_record;
