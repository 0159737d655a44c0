use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap() + Duration::minutes(minute)
}

fn entry(minute: i64, action: &str, source: &str) -> TimelineEntry {
    TimelineEntry {
        audited_time: t(minute),
        action: action.into(),
        source: source.into(),
    }
}

#[test]
fn only_the_owner_syncs() {
    assert!(is_owned_by(Some("u1"), "u1"));
    assert!(!is_owned_by(Some("u2"), "u1"));
    assert!(!is_owned_by(None, "u1"));
    assert!(!is_owned_by(Some(""), ""));
}

#[test]
fn timeline_is_needed_only_for_records_never_modified() {
    assert_eq!(import_check(t(0), t(5)), ImportCheck::ModifiedSinceCreation);
    assert_eq!(import_check(t(0), t(0)), ImportCheck::NeedsTimeline);
}

#[test]
fn sources_are_classified() {
    assert_eq!(classify_source("import"), SourceKind::Import);
    assert_eq!(classify_source("Data_Migration"), SourceKind::Import);
    assert_eq!(classify_source("bulk_write"), SourceKind::Import);
    assert_eq!(classify_source("bulkapi"), SourceKind::Import);
    assert_eq!(classify_source("mass_addition_via_ui"), SourceKind::Import);
    assert_eq!(classify_source("migration"), SourceKind::Import);
    assert_eq!(
        classify_source("mass_update_via_scheduler"),
        SourceKind::MassUpdate
    );
    assert_eq!(classify_source("crm_ui"), SourceKind::Individual);
    assert_eq!(classify_source("crm_api"), SourceKind::Individual);
    assert_eq!(classify_source("workflow"), SourceKind::Other);
}

#[test]
fn imported_records_are_excluded_unless_changed_individually_or_by_mass_update() {
    // Imported, never touched since.
    assert_eq!(
        classify_timeline(&[entry(0, "added", "import")]),
        Err(Exclusion::Imported)
    );
    // Imported, then only automation touched it.
    assert_eq!(
        classify_timeline(&[
            entry(0, "added", "data_migration"),
            entry(5, "updated", "workflow")
        ]),
        Err(Exclusion::Imported)
    );
    // Imported, then mass-updated: synced.
    assert_eq!(
        classify_timeline(&[
            entry(5, "updated", "mass_update"),
            entry(0, "added", "import")
        ]),
        Ok(())
    );
    // Imported, then edited by hand: synced.
    assert_eq!(
        classify_timeline(&[entry(0, "added", "import"), entry(9, "updated", "crm_ui")]),
        Ok(())
    );
    // Created by hand: synced.
    assert_eq!(classify_timeline(&[entry(0, "added", "crm_ui")]), Ok(()));
    // An "update" before the import entry does not count.
    assert_eq!(
        classify_timeline(&[entry(0, "updated", "crm_ui"), entry(3, "added", "import")]),
        Err(Exclusion::Imported)
    );
}

#[test]
fn first_sync_sends_the_most_recent_ten_thousand_contacts() {
    let candidates: Vec<FirstSyncCandidate> = (0..10_005)
        .map(|i| FirstSyncCandidate {
            crm_id: format!("c{i:05}"),
            modified: t(i),
            start: None,
            end: None,
        })
        .collect();
    let order = first_sync_order(ModuleKind::Contacts, t(0));
    let s = select_first_sync(&candidates, first_sync_cap(ModuleKind::Contacts), order);
    assert_eq!(s.selected.len(), 10_000);
    assert_eq!(s.selected[0], "c10004");
    assert_eq!(
        s.deferred,
        vec!["c00004", "c00003", "c00002", "c00001", "c00000"]
    );
    assert!(deferred_now_eligible(t(20_000), t(10_010)));
    assert!(!deferred_now_eligible(t(3), t(10_010)));
}

#[test]
fn first_sync_sends_upcoming_events_first_then_recent_ones() {
    let ev = |id: &str, start: i64| FirstSyncCandidate {
        crm_id: id.into(),
        modified: t(0),
        start: Some(t(start)),
        end: Some(t(start + 30)),
    };
    let now = t(1000);
    let c = vec![
        ev("past_old", 10),
        ev("future_far", 5000),
        ev("past_recent", 900),
        ev("future_soon", 1200),
    ];
    let s = select_first_sync(&c, Some(3), first_sync_order(ModuleKind::Events, now));
    assert_eq!(s.selected, vec!["future_soon", "future_far", "past_recent"]);
    assert_eq!(s.deferred, vec!["past_old"]);
    assert_eq!(first_sync_cap(ModuleKind::Events), Some(5_000));
    assert_eq!(first_sync_cap(ModuleKind::Tasks), None);
}

#[test]
fn delete_propagation_and_container_rules() {
    assert_eq!(DeletePropagation::default(), DeletePropagation::Off);
    assert_eq!(
        on_graph_delete(DeletePropagation::Off),
        GraphDeleteEffect::Detach
    );
    assert_eq!(
        on_graph_delete(DeletePropagation::On),
        GraphDeleteEffect::DeleteCrm
    );
    assert_eq!(
        on_container_status(ContainerStatus::Deleted),
        ModuleTransition::Disable
    );
    assert_eq!(
        on_container_status(ContainerStatus::Present),
        ModuleTransition::Continue
    );
}
