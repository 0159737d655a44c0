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
