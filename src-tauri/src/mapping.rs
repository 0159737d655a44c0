//! The contact field-mapping dialog's commands: what may be mapped (the Microsoft fields the
//! API supports, the CRM's fields read afresh from its metadata, custom ones included), the
//! current and default mappings, and saving a mapping after validation.
//!
//! The rules live in `crmsync-core` (`ContactMapping::validate`); this module only converts
//! to and from the IPC shapes.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::State;

use crmsync_core::contact::{
    ContactMapping, CrmField, CrmType, MappingEntry, MappingIssue, MsContent, MsShape,
    MS_CONTACT_FIELDS,
};
use crmsync_engine::ModuleKind;

use crate::commands::AppState;
use crate::error::{CommandError, ErrorCode};
use crate::sync::SyncService;

/// How many rows the dialog shows for a Microsoft list field without a fixed limit.
const OPEN_LIST_SLOTS: u32 = 2;

/// A Microsoft contact field the dialog offers (one row per slot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct MsFieldView {
    /// Graph property id (`givenName`, `businessAddress.city`, ...).
    pub id: String,
    /// English label (the UI translates by `id`).
    pub label: String,
    /// What the field holds: `line`, `multiline`, `email`, `phone`, `url` or `date`.
    pub content: String,
    /// Rows for this field: 1 for a single value; a list field takes several CRM fields, in
    /// order (Graph keeps at most 3 e-mails, 2 business and 2 home phones).
    pub slots: u32,
}

/// A CRM field a mapping may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct CrmFieldView {
    /// API name (`Mailing_City`, `Nickname_Custom`, ...).
    pub api_name: String,
    /// A readable name.
    pub label: String,
    /// Zoho data type (`text`, `email`, `phone`, `picklist`, `date`, ...).
    pub data_type: String,
    /// A custom field of this CRM org.
    pub custom: bool,
    /// The Microsoft fields (ids) whose content this field can carry both ways.
    pub targets: Vec<String>,
}

/// One line of a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct MappingLine {
    pub crm_field: String,
    pub ms_field: String,
}

/// Everything the dialog shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct MappingDialog {
    pub ms_fields: Vec<MsFieldView>,
    pub crm_fields: Vec<CrmFieldView>,
    /// The stored mapping (the default when none is stored yet).
    pub current: Vec<MappingLine>,
    /// The default mapping ("Reset to defaults").
    pub defaults: Vec<MappingLine>,
    /// The delete checkbox of Contacts.
    pub delete_propagation: bool,
}

/// A problem with a mapping, tied to the row(s) it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct MappingProblem {
    /// `unsupported_ms_field`, `unknown_crm_field`, `crm_field_mapped_twice`,
    /// `read_only_crm_field`, `incompatible_types`, `several_crm_fields_for_one_ms_field`,
    /// `more_fields_than_graph_holds` (a warning).
    pub kind: String,
    pub ms_field: Option<String>,
    pub crm_field: Option<String>,
    /// English text (the UI translates by `kind`).
    pub message: String,
    /// False for a warning: the mapping is saved anyway.
    pub blocking: bool,
}

/// The answer to Save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct MappingCheck {
    /// The mapping and the checkbox were stored (no blocking problem).
    pub saved: bool,
    pub problems: Vec<MappingProblem>,
}

fn content_key(c: MsContent) -> &'static str {
    match c {
        MsContent::Line => "line",
        MsContent::Multiline => "multiline",
        MsContent::Email => "email",
        MsContent::Phone => "phone",
        MsContent::Url => "url",
        MsContent::Date => "date",
    }
}

fn type_key(t: &CrmType) -> String {
    match t {
        CrmType::Text => "text".into(),
        CrmType::TextArea => "textarea".into(),
        CrmType::Email => "email".into(),
        CrmType::Phone => "phone".into(),
        CrmType::Picklist => "picklist".into(),
        CrmType::Website => "website".into(),
        CrmType::Lookup => "lookup".into(),
        CrmType::Date => "date".into(),
        CrmType::Other(s) => s.clone(),
    }
}

fn ms_views() -> Vec<MsFieldView> {
    MS_CONTACT_FIELDS
        .iter()
        .map(|f| MsFieldView {
            id: f.id.to_owned(),
            label: f.label.to_owned(),
            content: content_key(f.content).to_owned(),
            slots: match f.shape {
                MsShape::Scalar => 1,
                MsShape::List { capacity } => capacity
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(OPEN_LIST_SLOTS),
            },
        })
        .collect()
}

fn crm_views(fields: &[CrmField]) -> Vec<CrmFieldView> {
    let mut out: Vec<CrmFieldView> = fields
        .iter()
        .filter(|f| !f.read_only)
        .filter_map(|f| {
            let targets: Vec<String> = MS_CONTACT_FIELDS
                .iter()
                .filter(|m| f.data_type.compatible_with(m.content))
                .map(|m| m.id.to_owned())
                .collect();
            (!targets.is_empty()).then(|| CrmFieldView {
                api_name: f.api_name.clone(),
                label: f.api_name.replace('_', " "),
                data_type: type_key(&f.data_type),
                custom: f.custom,
                targets,
            })
        })
        .collect();
    out.sort_by_key(|a| a.label.to_lowercase());
    out
}

fn lines(m: &ContactMapping) -> Vec<MappingLine> {
    m.entries
        .iter()
        .map(|e| MappingLine {
            crm_field: e.crm_field.clone(),
            ms_field: e.ms_field.clone(),
        })
        .collect()
}

fn problem(issue: &MappingIssue, blocking: bool) -> MappingProblem {
    let kind = serde_json::to_value(issue)
        .ok()
        .and_then(|v| v.get("issue").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let (ms_field, crm_field) = match issue {
        MappingIssue::UnsupportedMsField { ms_field } => (Some(ms_field.clone()), None),
        MappingIssue::UnknownCrmField { crm_field }
        | MappingIssue::CrmFieldMappedTwice { crm_field }
        | MappingIssue::ReadOnlyCrmField { crm_field } => (None, Some(crm_field.clone())),
        MappingIssue::IncompatibleTypes {
            crm_field,
            ms_field,
            ..
        } => (Some(ms_field.clone()), Some(crm_field.clone())),
        MappingIssue::SeveralCrmFieldsForOneMsField { ms_field, .. }
        | MappingIssue::MoreFieldsThanGraphHolds { ms_field, .. } => (Some(ms_field.clone()), None),
    };
    MappingProblem {
        kind,
        ms_field,
        crm_field,
        message: issue.to_string(),
        blocking,
    }
}

/// Validates `lines` against `fields`: the problems, and the mapping when none blocks.
fn check(
    lines: &[MappingLine],
    fields: &[CrmField],
) -> (Option<ContactMapping>, Vec<MappingProblem>) {
    let mapping = ContactMapping {
        entries: lines
            .iter()
            .filter(|l| !l.crm_field.is_empty())
            .map(|l| MappingEntry {
                crm_field: l.crm_field.clone(),
                ms_field: l.ms_field.clone(),
            })
            .collect(),
    };
    match mapping.validate(fields) {
        Ok(valid) => {
            let warnings = valid.warnings.iter().map(|w| problem(w, false)).collect();
            (Some(mapping), warnings)
        }
        Err(e) => (None, e.issues.iter().map(|i| problem(i, true)).collect()),
    }
}

async fn crm_fields(sync: &SyncService) -> Result<Vec<CrmField>, CommandError> {
    sync.with_runner(|r| r.mapping_fields(ModuleKind::Contacts))
        .await?
        .map_err(|e| CommandError::new(ErrorCode::Sync, e.to_string()))
}

/// What the contact field-mapping dialog shows. Reads the CRM's Contacts fields afresh, so a
/// custom field added since the last sign-in is offered.
///
/// # Errors
/// `not_syncing` when the accounts are not both connected; `sync` when the CRM's field
/// metadata cannot be read; `store`.
#[tauri::command]
#[specta::specta]
pub async fn contact_mapping(
    state: State<'_, AppState>,
    sync: State<'_, SyncService>,
) -> Result<MappingDialog, CommandError> {
    let fields = crm_fields(&sync).await?;
    let (stored, delete_propagation) = state.with_store(|store| {
        Ok((
            store.settings(ModuleKind::Contacts)?.field_mapping,
            store.module(ModuleKind::Contacts)?.delete_propagation,
        ))
    })?;
    let defaults = ContactMapping::default_mapping();
    let current = stored
        .as_deref()
        .and_then(|json| serde_json::from_str::<ContactMapping>(json).ok())
        .unwrap_or_else(|| defaults.clone());
    Ok(MappingDialog {
        ms_fields: ms_views(),
        crm_fields: crm_views(&fields),
        current: lines(&current),
        defaults: lines(&defaults),
        delete_propagation,
    })
}

/// Validates and stores the contact mapping and the delete checkbox (Save in the dialog). A
/// mapping with a blocking problem is not stored; every problem is returned for its row.
///
/// # Errors
/// As [`contact_mapping`].
#[tauri::command]
#[specta::specta]
pub async fn save_contact_mapping(
    state: State<'_, AppState>,
    sync: State<'_, SyncService>,
    lines: Vec<MappingLine>,
    delete_propagation: bool,
) -> Result<MappingCheck, CommandError> {
    let fields = crm_fields(&sync).await?;
    let (mapping, problems) = check(&lines, &fields);
    let Some(mapping) = mapping else {
        return Ok(MappingCheck {
            saved: false,
            problems,
        });
    };
    let json = serde_json::to_string(&mapping)
        .map_err(|e| CommandError::new(ErrorCode::InvalidInput, e.to_string()))?;
    // The default mapping is stored as "none", so a later default follows new releases.
    let stored = (mapping != ContactMapping::default_mapping()).then_some(json);
    state.with_store(|store| {
        store.set_field_mapping(ModuleKind::Contacts, stored.as_deref())?;
        store.set_delete_propagation(ModuleKind::Contacts, delete_propagation, Utc::now())?;
        Ok(())
    })?;
    tracing::info!(
        lines = mapping.entries.len(),
        delete_propagation,
        "contact mapping saved"
    );
    Ok(MappingCheck {
        saved: true,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmsync_core::contact::standard_crm_contact_fields;

    #[test]
    fn the_dialog_offers_every_supported_field_with_its_slots() {
        let ms = ms_views();
        assert_eq!(ms.len(), MS_CONTACT_FIELDS.len());
        let slots = |id: &str| ms.iter().find(|f| f.id == id).unwrap().slots;
        assert_eq!(slots("emailAddresses"), 3);
        assert_eq!(slots("businessPhones"), 2);
        assert_eq!(slots("givenName"), 1);
    }

    #[test]
    fn crm_fields_list_their_compatible_targets_and_skip_read_only_ones() {
        let mut fields = standard_crm_contact_fields();
        fields.push(CrmField {
            api_name: "Locked".into(),
            data_type: CrmType::Text,
            length: None,
            read_only: true,
            mandatory: false,
            custom: true,
        });
        let views = crm_views(&fields);
        assert!(views.iter().all(|v| v.api_name != "Locked"));
        let dob = views
            .iter()
            .find(|v| v.api_name == "Date_of_Birth")
            .unwrap();
        assert_eq!(dob.targets, vec!["birthday".to_owned()]);
        let email = views.iter().find(|v| v.api_name == "Email").unwrap();
        assert!(email.targets.contains(&"emailAddresses".to_owned()));
        assert!(!email.targets.contains(&"birthday".to_owned()));
    }

    #[test]
    fn the_default_mapping_checks_clean_and_a_duplicate_is_tied_to_its_field() {
        let fields = standard_crm_contact_fields();
        let defaults = lines(&ContactMapping::default_mapping());
        let (ok, problems) = check(&defaults, &fields);
        assert!(ok.is_some(), "{problems:?}");
        assert!(problems.iter().all(|p| !p.blocking));

        let mut twice = defaults.clone();
        twice.push(MappingLine {
            crm_field: "Email".into(),
            ms_field: "nickName".into(),
        });
        let (bad, problems) = check(&twice, &fields);
        assert!(bad.is_none());
        let p = problems
            .iter()
            .find(|p| p.kind == "crm_field_mapped_twice")
            .expect("reported");
        assert_eq!(p.crm_field.as_deref(), Some("Email"));
        assert!(p.blocking);
    }

    #[test]
    fn an_empty_row_is_no_line() {
        let fields = standard_crm_contact_fields();
        let mut rows = lines(&ContactMapping::default_mapping());
        rows.push(MappingLine {
            crm_field: String::new(),
            ms_field: "nickName".into(),
        });
        let (ok, _) = check(&rows, &fields);
        assert_eq!(ok.unwrap(), ContactMapping::default_mapping());
    }
}
