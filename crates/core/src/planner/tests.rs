//! Table tests: one per row of the decision table (sync-and-style.md §2.3), plus the policies,
//! guards and matching rules around it. Property tests live in `tests/planner_props.rs`.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::contact::ContactRecord;
use crate::policy::{ContainerStatus, DeletePropagation, Exclusion};
use crate::{FieldMap, FieldValue};

fn rec(pairs: &[(&str, &str)]) -> ContactRecord {
    let fields: FieldMap = pairs
        .iter()
        .map(|(k, v)| {
            let value = if *k == "emailAddresses" {
                FieldValue::List(v.split(',').map(str::to_owned).collect())
            } else {
                FieldValue::Text((*v).to_owned())
            };
            ((*k).to_owned(), value)
        })
        .collect();
    ContactRecord::from_fields(fields).unwrap()
}

fn t(minute: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + minute * 60, 0).unwrap()
}

fn observed(
    id: &str,
    version: &str,
    record: ContactRecord,
    minute: i64,
) -> Observed<ContactRecord> {
    Observed {
        id: id.to_owned(),
        version: version.to_owned(),
        modified: t(minute),
        record,
        stamp: None,
        exclusion: None,
    }
}

fn present(
    id: &str,
    version: &str,
    record: ContactRecord,
    minute: i64,
) -> Observation<ContactRecord> {
    Observation::Present(observed(id, version, record, minute))
}

fn stamped(
    id: &str,
    version: &str,
    record: ContactRecord,
    stamp: &str,
) -> Observation<ContactRecord> {
    let mut o = observed(id, version, record, 0);
    o.stamp = Some(stamp.to_owned());
    Observation::Present(o)
}

fn deleted(id: &str) -> Observation<ContactRecord> {
    Observation::Deleted { id: id.to_owned() }
}

fn link(id: LinkId, crm: &str, graph: &str, base: ContactRecord) -> Link<ContactRecord> {
    Link {
        id,
        crm_id: Some(crm.to_owned()),
        graph_id: Some(graph.to_owned()),
        crm_version: Some("c1".to_owned()),
        graph_version: Some("g1".to_owned()),
        base,
        state: LinkState::Active,
    }
}

fn input(
    links: Vec<Link<ContactRecord>>,
    crm: Vec<Observation<ContactRecord>>,
    graph: Vec<Observation<ContactRecord>>,
) -> PlanInput<ContactRecord> {
    PlanInput {
        links,
        crm,
        graph,
        crm_complete: false,
        graph_complete: false,
        settings: PlanSettings::default(),
    }
}

fn jane() -> ContactRecord {
    rec(&[
        ("givenName", "Jane"),
        ("surname", "Doe"),
        ("emailAddresses", "jane@example.com"),
    ])
}

fn only(plan: &Plan<ContactRecord>) -> &Action<ContactRecord> {
    assert_eq!(
        plan.actions.len(),
        1,
        "expected exactly one action, got:\n{plan}"
    );
    assert!(plan.executable(), "unexpected pause: {plan}");
    &plan.actions[0]
}

// ---- Row 1: CRM exists, Graph absent, no link → create in Graph.
#[test]
fn row1_new_in_crm_creates_in_graph() {
    let p = plan(&input(vec![], vec![present("c1", "v1", jane(), 0)], vec![]));
    let a = only(&p);
    assert_eq!(a.reason, Reason::NewInCrm);
    assert_eq!(a.link, None);
    assert_eq!(a.crm_id.as_deref(), Some("c1"));
    assert_eq!(a.op, Op::CreateInGraph { record: jane() });
}

// ---- Row 2: Graph exists, CRM absent, no link → create in CRM.
#[test]
fn row2_new_in_graph_creates_in_crm() {
    let p = plan(&input(vec![], vec![], vec![present("g1", "v1", jane(), 0)]));
    let a = only(&p);
    assert_eq!(a.reason, Reason::NewInGraph);
    assert_eq!(a.graph_id.as_deref(), Some("g1"));
    assert_eq!(a.op, Op::CreateInCrm { record: jane() });
}

// ---- Row 3: both exist, no link → match by stamp, then natural key; never a second copy.
#[test]
fn row3_equal_records_matched_by_stamp_are_linked() {
    let other_email = rec(&[("givenName", "Jane"), ("emailAddresses", "x@example.com")]);
    let p = plan(&input(
        vec![],
        vec![present("c1", "v1", other_email.clone(), 0)],
        vec![stamped("g1", "w1", other_email.clone(), "c1")],
    ));
    let a = only(&p);
    assert_eq!(a.reason, Reason::MatchedByStamp);
    assert_eq!(
        (a.crm_id.as_deref(), a.graph_id.as_deref()),
        (Some("c1"), Some("g1"))
    );
    assert_eq!(a.op, Op::SaveLink { base: other_email });
}

#[test]
fn row3_equal_records_matched_by_email_are_linked() {
    let p = plan(&input(
        vec![],
        vec![present("c1", "v1", jane(), 0)],
        vec![present(
            "g1",
            "w1",
            rec(&[
                ("givenName", "Jane"),
                ("surname", "Doe"),
                ("emailAddresses", "JANE@example.com "),
            ]),
            0,
        )],
    ));
    let a = only(&p);
    assert_eq!(a.reason, Reason::MatchedByNaturalKey);
    assert_eq!(a.op, Op::SaveLink { base: jane() });
}

#[test]
fn row3_different_records_conflict_new_merges_without_duplicating() {
    let crm = rec(&[
        ("givenName", "Jane"),
        ("emailAddresses", "jane@example.com"),
        ("jobTitle", "CEO"),
    ]);
    let graph = rec(&[
        ("givenName", "Jane"),
        ("emailAddresses", "jane@example.com"),
        ("department", "Sales"),
    ]);
    let p = plan(&input(
        vec![],
        vec![present("c1", "v1", crm, 0)],
        vec![present("g1", "w1", graph, 0)],
    ));
    let a = only(&p);
    let merged = rec(&[
        ("givenName", "Jane"),
        ("emailAddresses", "jane@example.com"),
        ("jobTitle", "CEO"),
        ("department", "Sales"),
    ]);
    match &a.op {
        Op::Update { crm, graph, base } => {
            assert_eq!(base, &merged);
            assert_eq!(crm.as_ref().map(|w| &w.record), Some(&merged));
            assert_eq!(graph.as_ref().map(|w| &w.record), Some(&merged));
            assert_eq!(
                crm.as_ref().unwrap().expected_version.as_deref(),
                Some("v1")
            );
        }
        other => panic!("expected a merge update, got {other:?}"),
    }
}

#[test]
fn row3_conflict_new_with_ask_policy_is_queued() {
    let crm = rec(&[("emailAddresses", "jane@example.com"), ("jobTitle", "CEO")]);
    let graph = rec(&[("emailAddresses", "jane@example.com"), ("jobTitle", "CTO")]);
    let mut i = input(
        vec![],
        vec![present("c1", "v1", crm, 0)],
        vec![present("g1", "w1", graph, 0)],
    );
    i.settings.conflict_policy = ConflictPolicy::Ask;
    let p = plan(&i);
    match &only(&p).op {
        Op::QueueConflict(c) => assert_eq!(c.fields, vec!["jobTitle".to_owned()]),
        other => panic!("expected a queued conflict, got {other:?}"),
    }
}

// ---- Row 4: CRM unchanged, Graph deleted → delete in CRM only if propagation is on.
#[test]
fn row4_graph_delete_with_propagation_on_deletes_crm() {
    let mut i = input(
        vec![link(1, "c1", "g1", jane())],
        vec![present("c1", "c1", jane(), 0)],
        vec![deleted("g1")],
    );
    i.settings.delete_propagation = DeletePropagation::On;
    let p = plan(&i);
    let a = only(&p);
    assert_eq!(a.reason, Reason::DeletedInGraph);
    assert_eq!(
        a.op,
        Op::DeleteInCrm {
            expected_version: Some("c1".into())
        }
    );
}

#[test]
fn row4_graph_delete_with_propagation_off_only_unlinks() {
    let i = input(
        vec![link(1, "c1", "g1", jane())],
        vec![],
        vec![deleted("g1")],
    );
    let p = plan(&i);
    let a = only(&p);
    assert_eq!(a.reason, Reason::DeletedInGraph);
    assert_eq!(a.op, Op::Detach { base: jane() });
}

// ---- Row 5: CRM changed, Graph deleted → re-create in Graph (modification beats deletion).
#[test]
fn row5_changed_beats_deleted_recreates_in_graph() {
    for propagation in [DeletePropagation::On, DeletePropagation::Off] {
        let edited = rec(&[
            ("givenName", "Janet"),
            ("surname", "Doe"),
            ("emailAddresses", "jane@example.com"),
        ]);
        let mut i = input(
            vec![link(1, "c1", "g1", jane())],
            vec![present("c1", "c2", edited.clone(), 0)],
            vec![deleted("g1")],
        );
        i.settings.delete_propagation = propagation;
        let p = plan(&i);
        let a = only(&p);
        assert_eq!(a.reason, Reason::ModificationBeatsDeletion);
        assert_eq!(a.graph_id, None, "the deleted Graph id must not be reused");
        assert_eq!(a.op, Op::CreateInGraph { record: edited });
    }
}

#[test]
fn row5_mirror_graph_changed_crm_deleted_recreates_in_crm() {
    let edited = rec(&[("givenName", "Jane"), ("jobTitle", "CEO")]);
    let p = plan(&input(
        vec![link(1, "c1", "g1", jane())],
        vec![deleted("c1")],
        vec![present("g1", "g2", edited.clone(), 0)],
    ));
    let a = only(&p);
    assert_eq!(a.reason, Reason::ModificationBeatsDeletion);
    assert_eq!(a.op, Op::CreateInCrm { record: edited });
}

#[test]
fn crm_delete_always_removes_the_microsoft_copy() {
    for propagation in [DeletePropagation::On, DeletePropagation::Off] {
        let mut i = input(
            vec![link(1, "c1", "g1", jane())],
            vec![deleted("c1")],
            vec![present("g1", "g1", jane(), 0)],
        );
        i.settings.delete_propagation = propagation;
        let p = plan(&i);
        let a = only(&p);
        assert_eq!(a.reason, Reason::DeletedInCrm);
        assert_eq!(
            a.op,
            Op::DeleteInGraph {
                expected_version: Some("g1".into())
            }
        );
    }
}

// ---- Row 6: deleted on both sides → drop the link.
#[test]
fn row6_deleted_on_both_drops_link() {
    let p = plan(&input(
        vec![link(1, "c1", "g1", jane())],
        vec![deleted("c1")],
        vec![deleted("g1")],
    ));
    let a = only(&p);
    assert_eq!(
        (a.op.clone(), a.reason),
        (Op::DropLink, Reason::DeletedOnBoth)
    );
}

// ---- Row 7: CRM changed, Graph unchanged → update Graph, guarded by its version.
#[test]
fn row7_crm_change_updates_graph() {
    let edited = rec(&[
        ("givenName", "Jane"),
        ("surname", "Doe-Smith"),
        ("emailAddresses", "jane@example.com"),
    ]);
    let p = plan(&input(
        vec![link(1, "c1", "g1", jane())],
        vec![present("c1", "c2", edited.clone(), 5)],
        vec![present("g1", "g1", jane(), 0)],
    ));
    let a = only(&p);
    assert_eq!(a.reason, Reason::ChangedInCrm);
    assert_eq!(
        a.op,
        Op::Update {
            crm: None,
            graph: Some(Write {
                expected_version: Some("g1".into()),
                record: edited.clone(),
                changed_fields: vec!["surname".into()],
            }),
            base: edited,
        }
    );
    assert_eq!(a.crm_version.as_deref(), Some("c2"));
}

// ---- Row 8: CRM unchanged, Graph changed → update the CRM.
#[test]
fn row8_graph_change_updates_crm() {
    let edited = rec(&[
        ("givenName", "Jane"),
        ("surname", "Doe"),
        ("emailAddresses", "jane@example.com"),
        ("mobilePhone", "+81 90 1234"),
    ]);
    // Graph changed; the CRM is not in this feed at all (unobserved = unchanged).
    let p = plan(&input(
        vec![link(1, "c1", "g1", jane())],
        vec![],
        vec![present("g1", "g2", edited.clone(), 5)],
    ));
    let a = only(&p);
    assert_eq!(a.reason, Reason::ChangedInGraph);
    assert_eq!(
        a.op,
        Op::Update {
            crm: Some(Write {
                expected_version: Some("c1".into()),
                record: edited.clone(),
                changed_fields: vec!["mobilePhone".into()],
            }),
            graph: None,
            base: edited,
        }
    );
}

// ---- Row 9: both changed to the same content → only refresh the link.
#[test]
fn row9_both_changed_equal_only_refreshes_link() {
    let edited = rec(&[("givenName", "Jane"), ("jobTitle", "CEO")]);
    let p = plan(&input(
        vec![link(1, "c1", "g1", jane())],
        vec![present("c1", "c2", edited.clone(), 1)],
        vec![present("g1", "g2", edited.clone(), 2)],
    ));
    let a = only(&p);
    assert_eq!(a.op, Op::SaveLink { base: edited });
    assert_eq!(
        (a.crm_version.as_deref(), a.graph_version.as_deref()),
        (Some("c2"), Some("g2"))
    );
}

// ---- Row 10: both changed differently → field-level three-way merge.
#[test]
fn row10_disjoint_field_changes_merge_automatically() {
    let base = rec(&[
        ("givenName", "Jane"),
        ("surname", "Doe"),
        ("jobTitle", "Sales"),
    ]);
    let crm = rec(&[
        ("givenName", "Janet"),
        ("surname", "Doe"),
        ("jobTitle", "Sales"),
    ]);
    let graph = rec(&[
        ("givenName", "Jane"),
        ("surname", "Doe"),
        ("jobTitle", "Head of Sales"),
    ]);
    let p = plan(&input(
        vec![link(1, "c1", "g1", base)],
        vec![present("c1", "c2", crm, 1)],
        vec![present("g1", "g2", graph, 2)],
    ));
    let merged = rec(&[
        ("givenName", "Janet"),
        ("surname", "Doe"),
        ("jobTitle", "Head of Sales"),
    ]);
    let a = only(&p);
    assert_eq!(a.reason, Reason::ChangedOnBoth);
    match &a.op {
        Op::Update { crm, graph, base } => {
            assert_eq!(base, &merged);
            assert_eq!(crm.as_ref().unwrap().record, merged);
            assert_eq!(graph.as_ref().unwrap().record, merged);
        }
        other => panic!("{other:?}"),
    }
}

fn same_field_conflict(
    policy: ConflictPolicy,
    crm_minute: i64,
    graph_minute: i64,
) -> Op<ContactRecord> {
    let base = rec(&[("givenName", "Jane"), ("jobTitle", "Sales")]);
    let crm = rec(&[("givenName", "Jane"), ("jobTitle", "CEO")]);
    let graph = rec(&[("givenName", "Jane"), ("jobTitle", "CTO")]);
    let mut i = input(
        vec![link(1, "c1", "g1", base)],
        vec![present("c1", "c2", crm, crm_minute)],
        vec![present("g1", "g2", graph, graph_minute)],
    );
    i.settings.conflict_policy = policy;
    only(&plan(&i)).op.clone()
}

fn winner(op: &Op<ContactRecord>) -> String {
    match op {
        Op::Update { base, .. } => base.text("jobTitle").unwrap().to_owned(),
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn row10_same_field_newest_wins_by_default() {
    assert_eq!(
        winner(&same_field_conflict(ConflictPolicy::Newest, 1, 2)),
        "CTO"
    );
    assert_eq!(
        winner(&same_field_conflict(ConflictPolicy::Newest, 3, 2)),
        "CEO"
    );
    // Ties go to the CRM.
    assert_eq!(
        winner(&same_field_conflict(ConflictPolicy::Newest, 2, 2)),
        "CEO"
    );
}

#[test]
fn row10_same_field_crm_or_graph_wins() {
    assert_eq!(
        winner(&same_field_conflict(ConflictPolicy::CrmWins, 1, 9)),
        "CEO"
    );
    assert_eq!(
        winner(&same_field_conflict(ConflictPolicy::GraphWins, 9, 1)),
        "CTO"
    );
}

#[test]
fn row10_same_field_ask_queues_conflict() {
    match same_field_conflict(ConflictPolicy::Ask, 1, 2) {
        Op::QueueConflict(c) => {
            assert_eq!(c.fields, vec!["jobTitle".to_owned()]);
            assert_eq!(c.crm.text("jobTitle"), Some("CEO"));
            assert_eq!(c.graph.text("jobTitle"), Some("CTO"));
            assert_eq!(c.base.text("jobTitle"), Some("Sales"));
        }
        other => panic!("{other:?}"),
    }
}

// ---- Around the table.
#[test]
fn converged_state_plans_nothing_and_echoes_only_refresh_versions() {
    let l = link(1, "c1", "g1", jane());
    let p = plan(&input(
        vec![l.clone()],
        vec![present("c1", "c1", jane(), 0)],
        vec![present("g1", "g1", jane(), 0)],
    ));
    assert!(p.is_empty(), "{p}");
    // Our own write echoed back with a new version but the same content: no write.
    let p = plan(&input(
        vec![l],
        vec![present("c1", "c9", jane(), 0)],
        vec![present("g1", "g1", jane(), 0)],
    ));
    let a = only(&p);
    assert_eq!(
        (a.op.clone(), a.reason),
        (Op::SaveLink { base: jane() }, Reason::VersionsOnly)
    );
}

#[test]
fn detached_record_is_pushed_again_only_when_it_changes_in_crm() {
    let mut l = link(1, "c1", "g1", jane());
    l.graph_id = None;
    l.graph_version = None;
    l.state = LinkState::Detached;
    let p = plan(&input(
        vec![l.clone()],
        vec![present("c1", "c1", jane(), 0)],
        vec![],
    ));
    assert!(p.is_empty());
    assert_eq!(p.notes[0].kind, NoteKind::Detached);
    let edited = rec(&[("givenName", "Jane"), ("jobTitle", "CEO")]);
    let p = plan(&input(
        vec![l.clone()],
        vec![present("c1", "c2", edited.clone(), 0)],
        vec![],
    ));
    let a = only(&p);
    assert_eq!(
        (a.op.clone(), a.reason),
        (
            Op::CreateInGraph { record: edited },
            Reason::ChangedAfterDetach
        )
    );
    let p = plan(&input(vec![l], vec![deleted("c1")], vec![]));
    assert_eq!(only(&p).op, Op::DropLink);
}

#[test]
fn ownership_lost_removes_the_microsoft_copy_only() {
    let mut o = observed("c1", "c2", jane(), 0);
    o.exclusion = Some(Exclusion::NotOwner);
    let p = plan(&input(
        vec![link(1, "c1", "g1", jane())],
        vec![Observation::Present(o)],
        vec![],
    ));
    let a = only(&p);
    assert_eq!(a.reason, Reason::OwnershipLost);
    assert!(matches!(a.op, Op::DeleteInGraph { .. }));
}

#[test]
fn excluded_records_are_not_synced_and_say_why() {
    let mut o = observed("c1", "v", jane(), 0);
    o.exclusion = Some(Exclusion::Imported);
    let p = plan(&input(vec![], vec![Observation::Present(o)], vec![]));
    assert!(p.is_empty());
    assert_eq!(
        p.notes,
        vec![Note {
            side: Side::Crm,
            id: "c1".into(),
            kind: NoteKind::Excluded {
                exclusion: Exclusion::Imported
            }
        }]
    );
}

#[test]
fn stamped_copy_reattaches_instead_of_creating_again() {
    let mut l = link(1, "c1", "g1", jane());
    l.graph_id = None;
    l.graph_version = None;
    let p = plan(&input(
        vec![l],
        vec![present("c1", "c1", jane(), 0)],
        vec![stamped("g7", "w1", jane(), "c1")],
    ));
    let a = only(&p);
    assert_eq!(a.graph_id.as_deref(), Some("g7"));
    assert!(matches!(a.op, Op::SaveLink { .. }), "{a:?}");
}

#[test]
fn duplicate_stamped_copy_is_removed_only_when_identical() {
    let l = link(1, "c1", "g1", jane());
    let graph = vec![
        present("g1", "g1", jane(), 0),
        stamped("g2", "w1", jane(), "c1"),
    ];
    let p = plan(&input(
        vec![l.clone()],
        vec![present("c1", "c1", jane(), 0)],
        graph,
    ));
    let a = only(&p);
    assert_eq!(
        (a.graph_id.as_deref(), a.reason),
        (Some("g2"), Reason::DuplicateCopy)
    );
    let other = rec(&[("givenName", "Someone else")]);
    let graph = vec![
        present("g1", "g1", jane(), 0),
        stamped("g2", "w1", other, "c1"),
    ];
    let p = plan(&input(vec![l], vec![present("c1", "c1", jane(), 0)], graph));
    assert!(p.is_empty());
    assert!(matches!(p.notes[0].kind, NoteKind::DuplicateStamp { .. }));
}

#[test]
fn stamped_copy_of_deleted_crm_record_is_removed_and_unknown_stamps_left_alone() {
    let p = plan(&input(
        vec![],
        vec![deleted("c1")],
        vec![stamped("g1", "w", jane(), "c1")],
    ));
    assert_eq!(only(&p).reason, Reason::CopyOfDeletedRecord);
    let p = plan(&input(
        vec![],
        vec![],
        vec![stamped("g1", "w", jane(), "c404")],
    ));
    assert!(
        p.is_empty(),
        "must neither create a CRM duplicate nor delete: {p}"
    );
    assert!(matches!(
        p.notes[0].kind,
        NoteKind::StampTargetUnavailable { .. }
    ));
}

#[test]
fn ambiguous_natural_key_never_pairs_or_duplicates() {
    let a = rec(&[("givenName", "A"), ("emailAddresses", "shared@example.com")]);
    let b = rec(&[("givenName", "B"), ("emailAddresses", "shared@example.com")]);
    let p = plan(&input(
        vec![],
        vec![present("c1", "v", a.clone(), 0), present("c2", "v", b, 0)],
        vec![present("g1", "w", a, 0)],
    ));
    assert!(p.is_empty(), "{p}");
    assert_eq!(p.notes.len(), 3);
}

#[test]
fn empty_side_guard_pauses_and_confirmation_releases() {
    let links: Vec<_> = (1..=4)
        .map(|i| link(i, &format!("c{i}"), &format!("g{i}"), jane()))
        .collect();
    let crm: Vec<_> = (1..=4)
        .map(|i| present(&format!("c{i}"), "c1", jane(), 0))
        .collect();
    let mut i = input(links, crm, vec![]);
    i.graph_complete = true;
    let p = plan(&i);
    assert_eq!(
        p.pause,
        Some(Pause::SideEmpty {
            side: Side::Graph,
            linked: 4
        })
    );
    assert!(!p.executable());
    // Absent from a complete listing is not a delete: nothing is planned, absences reported.
    assert!(p.is_empty());
    assert_eq!(p.absences.len(), 4);
    // The same through positive tombstones: the deletes are planned but paused.
    let links: Vec<_> = (1..=4)
        .map(|i| link(i, &format!("c{i}"), &format!("g{i}"), jane()))
        .collect();
    let mut i = input(
        links,
        vec![],
        (1..=4).map(|i| deleted(&format!("c{i}"))).collect(),
    );
    i.graph = vec![];
    i.crm = (1..=4).map(|i| deleted(&format!("c{i}"))).collect();
    let p = plan(&i);
    assert_eq!(
        p.pause,
        Some(Pause::SideEmpty {
            side: Side::Crm,
            linked: 4
        })
    );
    assert_eq!(p.deletes(), 4);
    i.settings.deletes_confirmed = true;
    assert!(plan(&i).executable());
}

#[test]
fn mass_delete_guard_pauses_above_threshold() {
    let links: Vec<_> = (1..=20)
        .map(|i| link(i, &format!("c{i}"), &format!("g{i}"), jane()))
        .collect();
    let mut crm: Vec<_> = (1..=20)
        .map(|i| present(&format!("c{i}"), "c1", jane(), 0))
        .collect();
    // 6 of 20 deleted in the CRM (30% > 25%, and >= 5): pause.
    for c in crm.iter_mut().take(6) {
        *c = deleted(c.id());
    }
    let i = input(links.clone(), crm.clone(), vec![]);
    let p = plan(&i);
    assert_eq!(
        p.pause,
        Some(Pause::TooManyDeletes {
            deletes: 6,
            links: 20
        })
    );
    // 4 of 20: below the minimum count, runs.
    crm[4] = present("c5", "c1", jane(), 0);
    crm[5] = present("c6", "c1", jane(), 0);
    let p = plan(&input(links, crm, vec![]));
    assert_eq!((p.deletes(), p.pause.clone()), (4, None));
}

#[test]
fn container_deleted_disables_and_deletes_nothing() {
    let mut i = input(
        vec![link(1, "c1", "g1", jane())],
        vec![present("c1", "c1", jane(), 0)],
        vec![deleted("g1")],
    );
    i.settings.container = ContainerStatus::Deleted;
    i.settings.delete_propagation = DeletePropagation::On;
    let p = plan(&i);
    assert_eq!(p.disable, Some(DisableReason::ContainerDeleted));
    assert!(p.actions.is_empty());
    assert!(!p.executable());
}

#[test]
fn reenable_after_reset_recreates_every_copy_and_deletes_nothing() {
    let mut detached = link(3, "c3", "g3", jane());
    detached.state = LinkState::Detached;
    detached.graph_id = None;
    let links = vec![
        link(1, "c1", "g1", jane()),
        link(2, "c2", "g2", jane()),
        detached,
    ];
    let mut graph_only = link(4, "c4", "g4", jane());
    graph_only.crm_id = None;
    let mut all = links.clone();
    all.push(graph_only);
    let reset = reset_links_for_reenable(all);
    assert_eq!(reset.len(), 3);
    let crm: Vec<_> = (1..=3)
        .map(|i| present(&format!("c{i}"), "c1", jane(), 0))
        .collect();
    let mut i = input(reset, crm, vec![]);
    i.graph_complete = true;
    let p = plan(&i);
    assert_eq!(p.deletes(), 0);
    let creates: Vec<_> = p
        .actions
        .iter()
        .filter(|a| matches!(a.op, Op::CreateInGraph { .. }))
        .map(|a| a.crm_id.clone().unwrap())
        .collect();
    assert_eq!(creates, vec!["c1".to_owned(), "c2".to_owned()]);
}

#[test]
fn pending_conflict_waits_until_resolved_or_equal() {
    let mut l = link(1, "c1", "g1", rec(&[("jobTitle", "Sales")]));
    l.state = LinkState::Conflict;
    let crm = observed("c1", "c2", rec(&[("jobTitle", "CEO")]), 1);
    let graph = observed("g1", "g2", rec(&[("jobTitle", "CTO")]), 2);
    let p = plan(&input(
        vec![l.clone()],
        vec![Observation::Present(crm.clone())],
        vec![Observation::Present(graph.clone())],
    ));
    assert!(p.is_empty());
    assert_eq!(p.notes[0].kind, NoteKind::ConflictPending);
    // The user picks Microsoft 365 for jobTitle.
    let mut choices = FieldChoices::new();
    assert_eq!(
        resolve_conflict(&l.base, &crm, &graph, &choices),
        Err(ResolveError::Unresolved("jobTitle".into()))
    );
    choices.insert("jobTitle".into(), Side::Graph);
    match resolve_conflict(&l.base, &crm, &graph, &choices).unwrap() {
        Op::Update {
            crm: Some(w),
            graph: None,
            base,
        } => {
            assert_eq!(base.text("jobTitle"), Some("CTO"));
            assert_eq!(w.expected_version.as_deref(), Some("c2"));
        }
        other => panic!("{other:?}"),
    }
    // Both sides made equal by the user: the link just returns to active.
    let p = plan(&input(
        vec![l],
        vec![Observation::Present(crm)],
        vec![present("g1", "g3", rec(&[("jobTitle", "CEO")]), 3)],
    ));
    assert!(matches!(only(&p).op, Op::SaveLink { .. }));
}

#[test]
fn plan_is_deterministic_and_printable() {
    let links = vec![link(2, "c2", "g2", jane()), link(1, "c1", "g1", jane())];
    let crm = vec![
        present("c9", "v", rec(&[("givenName", "New")]), 0),
        deleted("c1"),
    ];
    let graph = vec![
        present(
            "g2",
            "g5",
            rec(&[("givenName", "Jane"), ("jobTitle", "CEO")]),
            0,
        ),
        present("g8", "w", rec(&[("givenName", "Other")]), 0),
    ];
    let a = plan(&input(links.clone(), crm.clone(), graph.clone()));
    let mut rl = links;
    rl.reverse();
    let mut rc = crm;
    rc.reverse();
    let mut rg = graph;
    rg.reverse();
    let b = plan(&input(rl, rc, rg));
    assert_eq!(a, b);
    let text = a.to_string();
    assert!(
        text.starts_with(
            "Plan: 1 to create in Microsoft 365, 1 to create in the CRM, 1 to update, 1 to delete"
        ),
        "{text}"
    );
    assert!(
        text.contains("create in Microsoft 365: \"New\" (new in the CRM)"),
        "{text}"
    );
    assert!(
        text.contains("DELETE in Microsoft 365: \"Jane Doe\" (deleted in the CRM)"),
        "{text}"
    );
    assert!(text.contains("update the CRM: \"Jane\" (changed in Microsoft 365); CRM: emailAddresses, jobTitle, surname"), "{text}");
    let json = serde_json::to_string(&a).unwrap();
    let back: Plan<ContactRecord> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
}

#[test]
fn link_change_after_success() {
    let p = plan(&input(vec![], vec![present("c1", "v1", jane(), 0)], vec![]));
    let a = only(&p);
    assert_eq!(
        a.link_change(&WriteOutcome::default()),
        Err(MissingCreatedId("create in Graph"))
    );
    let out = WriteOutcome {
        new_graph_id: Some("g9".into()),
        graph_version: Some("w1".into()),
        ..WriteOutcome::default()
    };
    assert_eq!(
        a.link_change(&out),
        Ok(LinkChange::Save(LinkRow {
            id: None,
            crm_id: Some("c1".into()),
            graph_id: Some("g9".into()),
            crm_version: Some("v1".into()),
            graph_version: Some("w1".into()),
            base: jane(),
            state: LinkState::Active,
        }))
    );
    // Detach clears the Graph side; a CRM delete removes the link.
    let p = plan(&input(
        vec![link(4, "c1", "g1", jane())],
        vec![],
        vec![deleted("g1")],
    ));
    match only(&p).link_change(&WriteOutcome::default()).unwrap() {
        LinkChange::Save(row) => {
            assert_eq!(
                (row.id, row.graph_id, row.graph_version, row.state),
                (Some(4), None, None, LinkState::Detached)
            );
        }
        other => panic!("{other:?}"),
    }
    let p = plan(&input(
        vec![link(4, "c1", "g1", jane())],
        vec![deleted("c1")],
        vec![],
    ));
    assert_eq!(
        only(&p).link_change(&WriteOutcome::default()),
        Ok(LinkChange::Remove(4))
    );
}

#[test]
fn ten_thousand_contacts_plan_in_one_pass() {
    // First sync of 10,000 contacts and a steady-state poll over 10,000 links: no quadratic
    // behaviour (this would take minutes otherwise).
    let n = 10_000;
    let crm: Vec<_> = (0..n)
        .map(|i| {
            present(
                &format!("c{i}"),
                "c1",
                rec(&[
                    ("givenName", "P"),
                    ("emailAddresses", &format!("p{i}@x.com")),
                ]),
                0,
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let first = plan(&input(vec![], crm.clone(), vec![]));
    assert_eq!(first.actions.len(), n);
    let links: Vec<_> = (0..n)
        .map(|i| {
            link(
                i as u64,
                &format!("c{i}"),
                &format!("g{i}"),
                rec(&[
                    ("givenName", "P"),
                    ("emailAddresses", &format!("p{i}@x.com")),
                ]),
            )
        })
        .collect();
    let graph: Vec<_> = (0..n)
        .map(|i| {
            present(
                &format!("g{i}"),
                "g1",
                rec(&[
                    ("givenName", "P"),
                    ("emailAddresses", &format!("p{i}@x.com")),
                ]),
                0,
            )
        })
        .collect();
    let mut steady = input(links, crm, graph);
    steady.crm_complete = true;
    steady.graph_complete = true;
    assert!(plan(&steady).is_empty());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn plan_reports_health_per_record() {
    let mut excluded = observed("c2", "v", jane(), 0);
    excluded.exclusion = Some(Exclusion::NotOwner);
    let p = plan(&input(
        vec![link(1, "c1", "g1", jane())],
        vec![
            present("c1", "c9", rec(&[("givenName", "Edited")]), 0),
            Observation::Present(excluded),
        ],
        vec![deleted("g1")],
    ));
    let h = p.health();
    assert_eq!(
        h,
        vec![
            RecordHealth {
                side: Side::Crm,
                id: "c1".into(),
                health: Health::Pending {
                    reason: Reason::ModificationBeatsDeletion
                }
            },
            RecordHealth {
                side: Side::Crm,
                id: "c2".into(),
                health: Health::Excluded {
                    exclusion: Exclusion::NotOwner
                }
            },
        ]
    );
}

#[test]
fn repeated_feed_entries_use_the_latest() {
    // Created then deleted within one feed: nothing to create.
    let p = plan(&input(
        vec![],
        vec![present("c1", "v1", jane(), 0), deleted("c1")],
        vec![],
    ));
    assert!(p.is_empty(), "{p}");
    // The same item twice: one create, from the later entry.
    let later = rec(&[("givenName", "Later")]);
    let p = plan(&input(
        vec![],
        vec![],
        vec![
            present("g1", "w1", jane(), 0),
            present("g1", "w2", later.clone(), 1),
        ],
    ));
    assert_eq!(only(&p).op, Op::CreateInCrm { record: later });
}

#[test]
fn detached_record_relinks_when_the_user_recreates_it_in_microsoft() {
    let mut l = link(1, "c1", "g1", jane());
    l.graph_id = None;
    l.graph_version = None;
    l.state = LinkState::Detached;
    let recreated = rec(&[
        ("givenName", "Jane"),
        ("surname", "Doe"),
        ("emailAddresses", "jane@example.com"),
        ("mobilePhone", "+81 90"),
    ]);
    let p = plan(&input(
        vec![l.clone()],
        vec![present("c1", "c1", jane(), 0)],
        vec![present("g7", "w1", recreated.clone(), 3)],
    ));
    let a = only(&p);
    assert_eq!((a.link, a.graph_id.as_deref()), (Some(1), Some("g7")));
    assert_eq!(a.reason, Reason::ChangedInGraph);
    assert!(matches!(&a.op, Op::Update { crm: Some(w), graph: None, .. } if w.record == recreated));
    // Another CRM record with the same email makes it ambiguous: no re-link, no copy.
    let twin = present(
        "c2",
        "v",
        rec(&[
            ("givenName", "Twin"),
            ("emailAddresses", "jane@example.com"),
        ]),
        0,
    );
    let p = plan(&input(
        vec![l],
        vec![present("c1", "c1", jane(), 0), twin],
        vec![present("g7", "w1", recreated, 3)],
    ));
    assert!(p.actions.iter().all(|a| a.link != Some(1)), "{p}");
    assert!(
        !p.actions
            .iter()
            .any(|a| matches!(a.op, Op::CreateInCrm { .. })),
        "{p}"
    );
}
