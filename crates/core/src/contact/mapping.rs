//! The editable field mapping CRM ⇄ Microsoft, its validation, and the projections of both
//! sides' raw JSON onto the canonical contact (and back).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{ms_field, CrmField, CrmType, MsContent, MsField, MsShape, MS_CONTACT_FIELDS};
use super::record::ContactRecord;
use crate::error::{json_kind, MappingError, RecordError};
use crate::record::CanonicalRecord;
use crate::value::{normalize_text, FieldMap, FieldValue};
use crate::Side;

/// One line of the mapping: a CRM field carried by a Microsoft field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingEntry {
    /// CRM API name (standard or custom).
    pub crm_field: String,
    /// Microsoft field id (see [`super::MS_CONTACT_FIELDS`]).
    pub ms_field: String,
}

/// The user-editable contact mapping. Several CRM fields may feed one Microsoft *list* field
/// (their order is the list order); a scalar Microsoft field takes exactly one CRM field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMapping {
    /// The mapping lines, in order.
    pub entries: Vec<MappingEntry>,
}

impl ContactMapping {
    /// The default mapping filled in when contacts are enabled.
    #[must_use]
    pub fn default_mapping() -> Self {
        let mut pairs: Vec<(String, &str)> = [
            ("Salutation", "title"),
            ("First_Name", "givenName"),
            ("Last_Name", "surname"),
            ("Email", "emailAddresses"),
            ("Secondary_Email", "emailAddresses"),
            ("Phone", "businessPhones"),
            ("Mobile", "mobilePhone"),
            ("Home_Phone", "homePhones"),
            ("Title", "jobTitle"),
            ("Department", "department"),
            ("Account_Name", "companyName"),
            ("Assistant", "assistantName"),
            ("Date_of_Birth", "birthday"),
            ("Description", "personalNotes"),
        ]
        .iter()
        .map(|(c, m)| ((*c).to_owned(), *m))
        .collect();
        for (prefix, address) in [("Mailing", "businessAddress"), ("Other", "otherAddress")] {
            for (part, ms_part) in [
                ("Street", "street"),
                ("City", "city"),
                ("State", "state"),
                ("Zip", "postalCode"),
                ("Country", "countryOrRegion"),
            ] {
                let ms = MS_CONTACT_FIELDS
                    .iter()
                    .find(|f| f.id == format!("{address}.{ms_part}"))
                    .map_or("", |f| f.id);
                pairs.push((format!("{prefix}_{part}"), ms));
            }
        }
        Self {
            entries: pairs
                .into_iter()
                .map(|(crm_field, ms)| MappingEntry {
                    crm_field,
                    ms_field: ms.to_owned(),
                })
                .collect(),
        }
    }

    /// Validates the mapping against the CRM's field list (standard and custom fields).
    ///
    /// Checks: every Microsoft field is one the API supports; every CRM field exists and is
    /// writable; types are compatible; a CRM field is used once; a scalar Microsoft field takes
    /// one CRM field. More CRM fields on a list than Graph can hold is allowed, with a warning:
    /// the extra values stay in the CRM and are reported per record.
    ///
    /// # Errors
    /// [`MappingError`] listing every blocking issue.
    pub fn validate(&self, crm_fields: &[CrmField]) -> Result<ValidatedMapping, MappingError> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut seen_crm = BTreeSet::new();
        let mut groups: BTreeMap<&'static str, Vec<CrmField>> = BTreeMap::new();
        for entry in &self.entries {
            let Some(ms) = ms_field(&entry.ms_field) else {
                errors.push(MappingIssue::UnsupportedMsField {
                    ms_field: entry.ms_field.clone(),
                });
                continue;
            };
            let Some(crm) = crm_fields.iter().find(|f| f.api_name == entry.crm_field) else {
                errors.push(MappingIssue::UnknownCrmField {
                    crm_field: entry.crm_field.clone(),
                });
                continue;
            };
            if !seen_crm.insert(crm.api_name.clone()) {
                errors.push(MappingIssue::CrmFieldMappedTwice {
                    crm_field: crm.api_name.clone(),
                });
                continue;
            }
            if crm.read_only {
                errors.push(MappingIssue::ReadOnlyCrmField {
                    crm_field: crm.api_name.clone(),
                });
                continue;
            }
            if !crm.data_type.compatible_with(ms.content) {
                errors.push(MappingIssue::IncompatibleTypes {
                    crm_field: crm.api_name.clone(),
                    crm_type: crm.data_type.clone(),
                    ms_field: ms.id.to_owned(),
                    ms_content: ms.content,
                });
                continue;
            }
            groups.entry(ms.id).or_default().push(crm.clone());
        }
        for (ms_id, crm) in &groups {
            let ms = ms_field(ms_id).unwrap_or_else(|| unreachable!("checked above"));
            match ms.shape {
                MsShape::Scalar if crm.len() > 1 => {
                    errors.push(MappingIssue::SeveralCrmFieldsForOneMsField {
                        ms_field: ms.id.to_owned(),
                        crm_fields: crm.iter().map(|f| f.api_name.clone()).collect(),
                    });
                }
                MsShape::List {
                    capacity: Some(cap),
                } if crm.len() > cap => warnings.push(MappingIssue::MoreFieldsThanGraphHolds {
                    ms_field: ms.id.to_owned(),
                    capacity: cap,
                    crm_fields: crm.iter().map(|f| f.api_name.clone()).collect(),
                }),
                _ => {}
            }
        }
        if !errors.is_empty() {
            return Err(MappingError { issues: errors });
        }
        let groups = MS_CONTACT_FIELDS
            .iter()
            .filter_map(|ms| {
                groups.get(ms.id).map(|crm| Group {
                    ms,
                    crm: crm.clone(),
                })
            })
            .collect();
        Ok(ValidatedMapping { groups, warnings })
    }
}

/// A problem found by [`ContactMapping::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "issue", rename_all = "snake_case")]
pub enum MappingIssue {
    /// The Microsoft field is not one the API supports for contacts.
    UnsupportedMsField {
        /// The rejected id.
        ms_field: String,
    },
    /// No such CRM field.
    UnknownCrmField {
        /// The rejected API name.
        crm_field: String,
    },
    /// A CRM field appears on two lines.
    CrmFieldMappedTwice {
        /// The field.
        crm_field: String,
    },
    /// A read-only CRM field cannot be synced two ways.
    ReadOnlyCrmField {
        /// The field.
        crm_field: String,
    },
    /// The CRM field's type cannot be carried by the Microsoft field.
    IncompatibleTypes {
        /// The CRM field.
        crm_field: String,
        /// Its type.
        crm_type: CrmType,
        /// The Microsoft field.
        ms_field: String,
        /// What the Microsoft field holds.
        ms_content: MsContent,
    },
    /// A single-value Microsoft field can take only one CRM field.
    SeveralCrmFieldsForOneMsField {
        /// The Microsoft field.
        ms_field: String,
        /// The CRM fields mapped to it.
        crm_fields: Vec<String>,
    },
    /// Warning: more CRM fields than Graph can hold; extra values stay in the CRM only.
    MoreFieldsThanGraphHolds {
        /// The Microsoft list field.
        ms_field: String,
        /// What Graph accepts.
        capacity: usize,
        /// The CRM fields mapped to it, in order.
        crm_fields: Vec<String>,
    },
}

impl fmt::Display for MappingIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedMsField { ms_field } => {
                write!(f, "Microsoft field `{ms_field}` is not supported by the API")
            }
            Self::UnknownCrmField { crm_field } => write!(f, "no CRM field `{crm_field}`"),
            Self::CrmFieldMappedTwice { crm_field } => {
                write!(f, "CRM field `{crm_field}` is mapped more than once")
            }
            Self::ReadOnlyCrmField { crm_field } => {
                write!(f, "CRM field `{crm_field}` is read-only")
            }
            Self::IncompatibleTypes {
                crm_field,
                crm_type,
                ms_field,
                ms_content,
            } => write!(
                f,
                "CRM field `{crm_field}` ({crm_type:?}) cannot be synced with `{ms_field}` ({ms_content:?})"
            ),
            Self::SeveralCrmFieldsForOneMsField {
                ms_field,
                crm_fields,
            } => write!(
                f,
                "Microsoft field `{ms_field}` takes one CRM field, got {}",
                crm_fields.join(", ")
            ),
            Self::MoreFieldsThanGraphHolds {
                ms_field,
                capacity,
                crm_fields,
            } => write!(
                f,
                "`{ms_field}` holds at most {capacity} values in Microsoft 365; values beyond that from {} stay in the CRM only",
                crm_fields.join(", ")
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Group {
    ms: &'static MsField,
    crm: Vec<CrmField>,
}

impl Group {
    /// How many values the canonical record carries for this field.
    fn capacity(&self) -> usize {
        match self.ms.shape {
            MsShape::Scalar => 1,
            MsShape::List { capacity } => {
                capacity.map_or(self.crm.len(), |c| c.min(self.crm.len()))
            }
        }
    }
}

/// Values that exist on one side but cannot be carried to the other (Graph's 3-email /
/// 2-phone limits, or more Microsoft values than mapped CRM fields). They are never deleted:
/// writes to that side keep them; they are reported in the record's health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overflow {
    /// The side that holds the extra values.
    pub side: Side,
    /// The Microsoft list field concerned.
    pub ms_field: String,
    /// The values kept on `side` only.
    pub values: Vec<String>,
    /// On the CRM side, the CRM fields holding them.
    pub crm_fields: Vec<String>,
}

/// A side's record projected onto the canonical contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projection {
    /// The canonical record.
    pub record: ContactRecord,
    /// Values that could not be carried (see [`Overflow`]).
    pub overflow: Vec<Overflow>,
}

/// A mapping that passed validation; it projects records both ways.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedMapping {
    groups: Vec<Group>,
    /// Non-blocking issues to show in the mapping dialog.
    pub warnings: Vec<MappingIssue>,
}

fn mismatch(field: &str, expected: &str, found: &Value) -> RecordError {
    RecordError::mismatch(field, expected, json_kind(found))
}

/// Reads a CRM value as text (lookups as their `name`).
fn crm_text(field: &str, v: Option<&Value>) -> Result<Option<String>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Object(o)) => match o.get("name") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            None | Some(Value::Null) => Ok(None),
            Some(other) => Err(mismatch(field, "a lookup name", other)),
        },
        Some(other) => Err(mismatch(field, "a text", other)),
    }
}

fn parse_date(field: &str, s: &str) -> Result<Option<NaiveDate>, RecordError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    // Graph sends a DateTimeOffset ("1974-07-22T00:00:00Z") or a bare date; the CRM a date.
    let day = t
        .get(..10)
        .filter(|_| t.len() == 10 || t.as_bytes()[10] == b'T');
    day.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .map(Some)
        .ok_or_else(|| RecordError::InvalidDate {
            field: field.to_owned(),
            value: s.to_owned(),
        })
}

fn crm_date(field: &str, v: Option<&Value>) -> Result<Option<NaiveDate>, RecordError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_date(field, s),
        Some(other) => Err(mismatch(field, "a date (yyyy-MM-dd)", other)),
    }
}

fn check_len(field: &str, value: &str, max: Option<usize>) -> Result<(), RecordError> {
    let len = value.chars().count();
    match max {
        Some(max) if len > max => Err(RecordError::TooLong {
            field: field.to_owned(),
            len,
            max,
        }),
        _ => Ok(()),
    }
}

/// Per-field normalised values of a CRM list group, in field order.
fn crm_list_values(
    group: &Group,
    rec: &Map<String, Value>,
) -> Result<Vec<Option<String>>, RecordError> {
    let form = group.ms.content.text_form();
    group
        .crm
        .iter()
        .map(|f| {
            Ok(crm_text(&f.api_name, rec.get(&f.api_name))?.and_then(|s| normalize_text(&s, form)))
        })
        .collect()
}

/// Splits per-field values into (canonical values, indexes of fields holding overflow).
fn split_overflow(values: &[Option<String>], cap: usize) -> (Vec<String>, Vec<usize>) {
    let mut kept: Vec<String> = Vec::new();
    let mut overflow_fields = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        if kept.contains(v) {
            continue;
        }
        if kept.len() < cap {
            kept.push(v.clone());
        } else {
            overflow_fields.push(i);
        }
    }
    (kept, overflow_fields)
}

/// The normalised values of a Graph list property (emails read from `address`).
fn graph_list(ms: &MsField, v: Option<&Value>) -> Result<Vec<String>, RecordError> {
    let form = ms.content.text_form();
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(mismatch(ms.id, "a list", other)),
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let text = match (ms.content, item) {
            (MsContent::Email, Value::Object(o)) => match o.get("address") {
                Some(Value::String(s)) => Some(s.as_str()),
                None | Some(Value::Null) => None,
                Some(other) => return Err(mismatch(ms.id, "an email address", other)),
            },
            (_, Value::String(s)) => Some(s.as_str()),
            (_, Value::Null) => None,
            (_, other) => return Err(mismatch(ms.id, "a text", other)),
        };
        if let Some(n) = text.and_then(|t| normalize_text(t, form)) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

fn graph_scalar<'a>(
    obj: &'a Map<String, Value>,
    id: &str,
) -> Result<Option<&'a Value>, RecordError> {
    match id.split_once('.') {
        None => Ok(obj.get(id)),
        Some((address, part)) => match obj.get(address) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(a)) => Ok(a.get(part)),
            Some(other) => Err(mismatch(address, "an address object", other)),
        },
    }
}

impl ValidatedMapping {
    /// The Microsoft field ids this mapping syncs.
    pub fn ms_fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.groups.iter().map(|g| g.ms.id)
    }

    /// The CRM fields (API names) this mapping reads and writes, standard and custom.
    pub fn crm_fields(&self) -> impl Iterator<Item = &str> + '_ {
        self.groups
            .iter()
            .flat_map(|g| g.crm.iter().map(|f| f.api_name.as_str()))
    }

    /// Projects a CRM record (Zoho JSON object) onto the canonical contact.
    ///
    /// # Errors
    /// [`RecordError`] for this record only (wrong types, invalid dates).
    pub fn crm_to_canonical(&self, record: &Map<String, Value>) -> Result<Projection, RecordError> {
        let mut fields = FieldMap::new();
        let mut overflow = Vec::new();
        for g in &self.groups {
            let id = g.ms.id.to_owned();
            match (g.ms.shape, g.ms.content) {
                (MsShape::Scalar, MsContent::Date) => {
                    let f = &g.crm[0].api_name;
                    if let Some(d) = crm_date(f, record.get(f))? {
                        fields.insert(id, FieldValue::Date(d));
                    }
                }
                (MsShape::Scalar, content) => {
                    let f = &g.crm[0].api_name;
                    if let Some(s) = crm_text(f, record.get(f))?
                        .and_then(|s| normalize_text(&s, content.text_form()))
                    {
                        fields.insert(id, FieldValue::Text(s));
                    }
                }
                (MsShape::List { .. }, _) => {
                    let values = crm_list_values(g, record)?;
                    let (kept, extra) = split_overflow(&values, g.capacity());
                    if !extra.is_empty() {
                        overflow.push(Overflow {
                            side: Side::Crm,
                            ms_field: id.clone(),
                            values: extra.iter().filter_map(|&i| values[i].clone()).collect(),
                            crm_fields: extra.iter().map(|&i| g.crm[i].api_name.clone()).collect(),
                        });
                    }
                    if !kept.is_empty() {
                        fields.insert(id, FieldValue::List(kept));
                    }
                }
            }
        }
        Ok(Projection {
            record: ContactRecord::from_fields(fields)?,
            overflow,
        })
    }

    /// Projects a Graph contact (JSON object) onto the canonical contact.
    ///
    /// # Errors
    /// [`RecordError`] for this record only.
    pub fn graph_to_canonical(&self, contact: &Value) -> Result<Projection, RecordError> {
        let obj = contact.as_object().ok_or(RecordError::NotAnObject)?;
        let mut fields = FieldMap::new();
        let mut overflow = Vec::new();
        for g in &self.groups {
            let id = g.ms.id.to_owned();
            match (g.ms.shape, g.ms.content) {
                (MsShape::Scalar, content) => match graph_scalar(obj, g.ms.id)? {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) if content == MsContent::Date => {
                        if let Some(d) = parse_date(g.ms.id, s)? {
                            fields.insert(id, FieldValue::Date(d));
                        }
                    }
                    Some(Value::String(s)) => {
                        if let Some(n) = normalize_text(s, content.text_form()) {
                            fields.insert(id, FieldValue::Text(n));
                        }
                    }
                    Some(other) => return Err(mismatch(g.ms.id, "a text", other)),
                },
                (MsShape::List { .. }, _) => {
                    let mut values = graph_list(g.ms, obj.get(g.ms.id))?;
                    let cap = g.capacity();
                    if values.len() > cap {
                        overflow.push(Overflow {
                            side: Side::Graph,
                            ms_field: id.clone(),
                            values: values.split_off(cap),
                            crm_fields: Vec::new(),
                        });
                    }
                    if !values.is_empty() {
                        fields.insert(id, FieldValue::List(values));
                    }
                }
            }
        }
        Ok(Projection {
            record: ContactRecord::from_fields(fields)?,
            overflow,
        })
    }

    /// The CRM fields to write so the CRM record carries `record`.
    ///
    /// With `current` (an update), only fields whose value changes are returned, and CRM fields
    /// holding overflow values (beyond what Graph can carry) are left untouched; list values
    /// stay in the field that already holds them. Without `current` (a create), every non-empty
    /// mapped field is returned. Lookups are written as `{"name": ...}`.
    ///
    /// # Errors
    /// [`RecordError::MissingMandatory`] when a mandatory CRM field would be empty,
    /// [`RecordError::TooLong`] when a value exceeds the CRM field's length, and
    /// [`RecordError::TooManyValues`] when a list has more values than mapped CRM fields can
    /// hold; nothing is truncated or dropped.
    pub fn canonical_to_crm(
        &self,
        record: &ContactRecord,
        current: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, RecordError> {
        let mut out = Map::new();
        let fields = record.fields();
        for g in &self.groups {
            match g.ms.shape {
                MsShape::Scalar => {
                    let f = &g.crm[0];
                    let new = match fields.get(g.ms.id) {
                        Some(FieldValue::Text(s)) => Some(s.clone()),
                        Some(FieldValue::Date(d)) => Some(d.format("%Y-%m-%d").to_string()),
                        _ => None,
                    };
                    if let Some(cur) = current {
                        let old = if g.ms.content == MsContent::Date {
                            crm_date(&f.api_name, cur.get(&f.api_name))?
                                .map(|d| d.format("%Y-%m-%d").to_string())
                        } else {
                            crm_text(&f.api_name, cur.get(&f.api_name))?
                                .and_then(|s| normalize_text(&s, g.ms.content.text_form()))
                        };
                        if old == new {
                            continue;
                        }
                    }
                    put_crm(&mut out, f, new, current.is_some())?;
                }
                MsShape::List { .. } => {
                    let new: Vec<String> = match fields.get(g.ms.id) {
                        Some(FieldValue::List(v)) => v.clone(),
                        _ => Vec::new(),
                    };
                    let old: Vec<Option<String>> = match current {
                        Some(cur) => crm_list_values(g, cur)?,
                        None => vec![None; g.crm.len()],
                    };
                    let (_, overflow_idx) = split_overflow(&old, g.capacity());
                    let carriers: Vec<usize> = (0..g.crm.len())
                        .filter(|i| !overflow_idx.contains(i))
                        .collect();
                    if new.len() > carriers.len() {
                        return Err(RecordError::TooManyValues {
                            field: g.ms.id.to_owned(),
                            count: new.len(),
                            max: carriers.len(),
                        });
                    }
                    let mut assigned: Vec<Option<String>> = vec![None; g.crm.len()];
                    let mut placed: BTreeSet<&str> = BTreeSet::new();
                    for &i in &carriers {
                        if let Some(v) = &old[i] {
                            if new.contains(v) && placed.insert(v.as_str()) {
                                assigned[i] = Some(v.clone());
                            }
                        }
                    }
                    let mut pending = new.iter().filter(|v| !placed.contains(v.as_str()));
                    for &i in &carriers {
                        if assigned[i].is_none() {
                            assigned[i] = pending.next().cloned();
                        }
                    }
                    for &i in &carriers {
                        if current.is_some() && assigned[i] == old[i] {
                            continue;
                        }
                        put_crm(&mut out, &g.crm[i], assigned[i].clone(), current.is_some())?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The Graph contact properties to send (POST when `current` is `None`, PATCH otherwise) so
    /// the Graph contact carries `record`. Address objects are sent whole, keeping the parts that
    /// are not mapped; list values beyond what the CRM can carry are kept; `displayName` is
    /// composed from the name parts when those are mapped.
    ///
    /// # Errors
    /// [`RecordError::NotAnObject`] when `current` is not a JSON object,
    /// [`RecordError::TooManyValues`] when a list exceeds what Graph accepts.
    pub fn canonical_to_graph(
        &self,
        record: &ContactRecord,
        current: Option<&Value>,
    ) -> Result<Map<String, Value>, RecordError> {
        let cur = match current {
            None => None,
            Some(v) => Some(v.as_object().ok_or(RecordError::NotAnObject)?),
        };
        let creating = cur.is_none();
        let fields = record.fields();
        let mut out = Map::new();
        let mut addresses: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for g in &self.groups {
            let value = fields.get(g.ms.id);
            match (g.ms.shape, g.ms.id.split_once('.')) {
                (MsShape::Scalar, Some((address, part))) => {
                    let obj = addresses.entry(address).or_insert_with(|| {
                        cur.and_then(|c| c.get(address))
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default()
                    });
                    match value {
                        Some(v) => obj.insert(part.to_owned(), Value::String(v.display())),
                        None => obj.insert(part.to_owned(), Value::Null),
                    };
                }
                (MsShape::Scalar, None) => {
                    let v = match value {
                        Some(FieldValue::Date(d)) => {
                            Value::String(format!("{}T00:00:00Z", d.format("%Y-%m-%d")))
                        }
                        Some(v) => Value::String(v.display()),
                        None if creating => continue,
                        None => Value::Null,
                    };
                    out.insert(g.ms.id.to_owned(), v);
                }
                (MsShape::List { capacity }, _) => {
                    let mut values: Vec<String> = match value {
                        Some(FieldValue::List(v)) => v.clone(),
                        _ => Vec::new(),
                    };
                    if let Some(cap) = capacity.filter(|&c| values.len() > c) {
                        return Err(RecordError::TooManyValues {
                            field: g.ms.id.to_owned(),
                            count: values.len(),
                            max: cap,
                        });
                    }
                    let existing = graph_list(g.ms, cur.and_then(|c| c.get(g.ms.id)))?;
                    // Keep the Graph-only values (beyond what the CRM fields carry).
                    for extra in existing.iter().skip(g.capacity()) {
                        if capacity.is_some_and(|c| values.len() >= c) {
                            break;
                        }
                        if !values.contains(extra) {
                            values.push(extra.clone());
                        }
                    }
                    if creating && values.is_empty() {
                        continue;
                    }
                    let items = values
                        .into_iter()
                        .map(|v| {
                            if g.ms.content == MsContent::Email {
                                let name = email_name(cur, &v).unwrap_or_else(|| v.clone());
                                serde_json::json!({ "name": name, "address": v })
                            } else {
                                Value::String(v)
                            }
                        })
                        .collect();
                    out.insert(g.ms.id.to_owned(), Value::Array(items));
                }
            }
        }
        for (address, obj) in addresses {
            if creating && obj.values().all(Value::is_null) {
                continue;
            }
            out.insert(address.to_owned(), Value::Object(obj));
        }
        if self
            .groups
            .iter()
            .any(|g| g.ms.id == "givenName" || g.ms.id == "surname")
        {
            let label = ["givenName", "middleName", "surname"]
                .iter()
                .filter_map(|id| record.text(id))
                .collect::<Vec<_>>()
                .join(" ");
            if !label.is_empty() {
                out.insert("displayName".to_owned(), Value::String(label));
            }
        }
        Ok(out)
    }
}

fn email_name(cur: Option<&Map<String, Value>>, address: &str) -> Option<String> {
    cur?.get("emailAddresses")?
        .as_array()?
        .iter()
        .find_map(|e| {
            let o = e.as_object()?;
            let a = o.get("address")?.as_str()?;
            if normalize_text(a, crate::value::TextForm::Email).as_deref() == Some(address) {
                o.get("name")?.as_str().map(str::to_owned)
            } else {
                None
            }
        })
}

fn put_crm(
    out: &mut Map<String, Value>,
    f: &CrmField,
    value: Option<String>,
    updating: bool,
) -> Result<(), RecordError> {
    match value {
        Some(v) => {
            check_len(&f.api_name, &v, f.length)?;
            let json = if f.data_type == CrmType::Lookup {
                serde_json::json!({ "name": v })
            } else {
                Value::String(v)
            };
            out.insert(f.api_name.clone(), json);
        }
        None if f.mandatory => {
            return Err(RecordError::MissingMandatory {
                field: f.api_name.clone(),
            })
        }
        None if updating => {
            out.insert(f.api_name.clone(), Value::Null);
        }
        None => {}
    }
    Ok(())
}
