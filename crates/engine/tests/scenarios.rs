//! Targeted scenarios of the sync round against the in-memory fakes: guards, the container
//! deleted by the user, re-enable, dry run, the journal, and fault coverage.

mod fakes;

use std::rc::Rc;

use crmsync_core::contact::ContactRecord;
use crmsync_core::planner::{LinkState, Pause};
use crmsync_core::{CanonicalRecord, FieldMap, FieldValue, Side};
use crmsync_engine::{
    run_round, Account, JournalOp, ModuleKind, ModuleStatus, RoundOptions, RoundOutcome,
    RoundReport, Service, Store, StoreError, SyncError,
};
use fakes::{t, Fake, World, WorldClock};

const M: ModuleKind = ModuleKind::Contacts;

fn contact(given: &str, email: &str) -> ContactRecord {
    let mut map = FieldMap::new();
    map.insert("givenName".into(), FieldValue::Text(given.into()));
    map.insert(
        "emailAddresses".into(),
        FieldValue::List(vec![email.into()]),
    );
    ContactRecord::from_fields(map).unwrap()
}

struct Env {
    store: Store,
    world: Rc<World>,
    crm: Fake,
    graph: Fake,
}

impl Env {
    fn new(n: usize) -> Self {
        Self::with_store(Store::open_in_memory().unwrap(), n)
    }

    /// As [`Env::new`], with the store in a file (reopened after a crash, locked by a
    /// second process).
    fn on_file(path: &std::path::Path, n: usize) -> Self {
        Self::with_store(Store::open(path).unwrap(), n)
    }

    fn with_store(store: Store, n: usize) -> Self {
        for service in [Service::Zoho, Service::Microsoft] {
            store
                .save_account(&Account {
                    service,
                    user_id: "u1".into(),
                    email: "user@example.com".into(),
                    display_name: "User".into(),
                    organisation: "Org".into(),
                    data_centre: None,
                    connected_at: t(0),
                })
                .unwrap();
        }
        store.enable(M, t(0)).unwrap();
        let world = World::new(7);
        world.crashes.set(false);
        let mut crm = Fake::new("crm", world.clone());
        for i in 0..n {
            crm.user_create(
                contact(&format!("P{i}"), &format!("p{i}@example.com")),
                false,
            );
        }
        Self {
            store,
            graph: Fake::new("g", world.clone()),
            crm,
            world,
        }
    }

    fn round(&mut self, opts: RoundOptions) -> RoundReport<ContactRecord> {
        let clock = WorldClock(self.world.clone());
        run_round(
            &mut self.store,
            M,
            &mut self.crm,
            &mut self.graph,
            &clock,
            opts,
        )
        .unwrap()
    }

    fn settle(&mut self) {
        for _ in 0..10 {
            let r = self.round(RoundOptions::default());
            assert_eq!(r.outcome, RoundOutcome::Completed);
            if r.writes == 0 && r.plan.as_ref().is_some_and(|p| p.is_empty()) {
                return;
            }
        }
        panic!("no convergence");
    }
}

#[test]
fn first_sync_creates_the_folder_and_stamped_copies_then_nothing() {
    let mut env = Env::new(4);
    env.settle();
    assert_eq!(env.graph.container.as_deref(), Some("folder1"));
    assert_eq!(env.graph.items.len(), 4);
    for (id, it) in &env.crm.items {
        let copies: Vec<_> = env
            .graph
            .items
            .values()
            .filter(|g| g.stamp.as_deref() == Some(id))
            .collect();
        assert_eq!(copies.len(), 1, "{id}");
        assert_eq!(copies[0].record, it.record);
    }
    assert_eq!(
        env.crm.writes, 0,
        "the first sync writes nothing in the CRM"
    );
    let writes = env.graph.writes;
    let r = env.round(RoundOptions::default());
    assert_eq!((r.writes, env.graph.writes), (0, writes));
    let runs = env.store.runs(M, 10).unwrap();
    assert!(runs
        .iter()
        .all(|r| r.outcome.as_deref() == Some("completed")));
    assert!(env.store.module(M).unwrap().last_sync_at.is_some());
    let first = env.store.settings(M).unwrap().first_sync_at;
    assert!(first.is_some());
    env.settle();
    assert_eq!(
        env.store.settings(M).unwrap().first_sync_at,
        first,
        "set once"
    );
}

#[test]
fn a_disabled_module_does_not_run() {
    let mut env = Env::new(1);
    env.store.disable(M, t(1)).unwrap();
    let clock = WorldClock(env.world.clone());
    let err = run_round(
        &mut env.store,
        M,
        &mut env.crm,
        &mut env.graph,
        &clock,
        RoundOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SyncError::NotEnabled(ModuleKind::Contacts)));
    assert!(env.graph.container.is_none());
}

#[test]
fn dry_run_previews_and_writes_nothing() {
    let mut env = Env::new(3);
    let r = env.round(RoundOptions {
        dry_run: true,
        ..RoundOptions::default()
    });
    assert_eq!(r.outcome, RoundOutcome::Planned);
    let plan = r.plan.unwrap();
    assert_eq!(plan.actions.len(), 3);
    let text = plan.to_string();
    assert!(text.contains("P0"), "{text}");
    assert!(env.graph.items.is_empty());
    assert_eq!(env.crm.writes, 0);
    // The real run then does exactly the preview.
    let r = env.round(RoundOptions::default());
    assert_eq!(r.executed, 3);
    assert_eq!(env.graph.items.len(), 3);
}

#[test]
fn an_emptied_side_pauses_and_deletes_nothing_until_confirmed() {
    let mut env = Env::new(5);
    env.store.set_delete_propagation(M, true, t(0)).unwrap();
    env.settle();
    // Microsoft 365 suddenly lists nothing (no delete entries), and the cursor expired.
    env.graph.items.clear();
    env.graph.expire_next = true;
    let r = env.round(RoundOptions::default());
    assert!(
        matches!(
            r.outcome,
            RoundOutcome::Paused(Pause::SideEmpty {
                side: Side::Graph,
                ..
            })
        ),
        "{:?}",
        r.outcome
    );
    assert!(matches!(
        env.store.module(M).unwrap().status,
        ModuleStatus::Paused(_)
    ));
    // Still paused on the next rounds: the 404s would delete CRM records.
    for _ in 0..2 {
        let r = env.round(RoundOptions::default());
        assert!(
            matches!(r.outcome, RoundOutcome::Paused(_)),
            "{:?}",
            r.outcome
        );
    }
    assert_eq!(env.crm.items.len(), 5);
    assert_eq!(env.crm.writes, 0);
    // The user confirms: the deletes go through (propagation is on).
    let r = env.round(RoundOptions {
        deletes_confirmed: true,
        ..RoundOptions::default()
    });
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert!(env.crm.items.is_empty());
    assert_eq!(env.store.module(M).unwrap().status, ModuleStatus::Active);
}

#[test]
fn folder_deleted_in_microsoft_disables_and_a_re_enable_recreates_every_copy() {
    let mut env = Env::new(3);
    env.settle();
    env.graph.container = None;
    env.graph.items.clear();
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Disabled);
    let state = env.store.module(M).unwrap();
    assert!(!state.enabled);
    assert_eq!(env.crm.items.len(), 3);
    assert_eq!(env.crm.writes, 0, "nothing deleted in the CRM");
    assert_eq!(env.store.links::<ContactRecord>(M).unwrap().len(), 3);

    env.store.enable(M, t(5)).unwrap();
    env.settle();
    assert_eq!(env.graph.container.as_deref(), Some("folder2"));
    assert_eq!(env.graph.items.len(), 3);
    assert_eq!(env.crm.items.len(), 3);
    assert_eq!(env.crm.writes, 0);
    let links = env.store.links::<ContactRecord>(M).unwrap();
    assert!(links
        .iter()
        .all(|l| l.state == LinkState::Active && l.graph_id.is_some()));
}

#[test]
fn an_idle_round_reads_each_feed_once_and_never_checks_the_container() {
    let mut env = Env::new(3);
    env.settle();
    let (crm_reads, graph_reads) = (env.crm.reads, env.graph.reads);
    let checks = env.graph.container_checks;
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert!(r.plan.as_ref().is_some_and(|p| p.is_empty()));
    assert_eq!(env.crm.reads - crm_reads, 1, "the CRM feed only");
    assert_eq!(env.graph.reads - graph_reads, 1, "the Graph feed only");
    assert_eq!(env.graph.container_checks, checks, "no container check");
}

#[test]
fn a_not_found_feed_with_the_folder_still_there_does_not_disable() {
    let mut env = Env::new(2);
    env.settle();
    env.graph.fail_next_read = Some(crmsync_engine::PortError::NotFound);
    let checks = env.graph.container_checks;
    let r = env.round(RoundOptions::default());
    assert_eq!(
        r.outcome,
        RoundOutcome::Interrupted(crmsync_engine::PortError::NotFound)
    );
    assert_eq!(env.graph.container_checks, checks + 1, "confirmed by id");
    let state = env.store.module(M).unwrap();
    assert!(
        state.enabled,
        "a 404 of something else is no deleted folder"
    );
    assert_eq!(
        env.store.settings(M).unwrap().container_id.as_deref(),
        Some("folder1")
    );
    assert_eq!(env.graph.items.len(), 2);
    env.settle();
    assert_eq!(env.graph.items.len(), 2);
    assert_eq!(env.crm.writes, 0);
}

#[test]
fn a_folder_deleted_with_a_pending_intent_still_disables() {
    let mut env = Env::new(2);
    env.settle();
    // A CRM record whose copy is being created when the round stops (a crash after the
    // intent row), then the folder is deleted by the user.
    env.crm
        .user_create(contact("New", "new@example.com"), false);
    env.graph.crash_after_next_write = true;
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        env.round(RoundOptions::default())
    }));
    assert!(crashed.is_err());
    assert_eq!(
        env.store.pending_intents::<ContactRecord>(M).unwrap().len(),
        1
    );
    env.graph.container = None;
    env.graph.items.clear();
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Disabled);
    assert!(!env.store.module(M).unwrap().enabled);
    assert_eq!(env.crm.items.len(), 3);
    assert_eq!(env.crm.writes, 0, "nothing deleted in the CRM");
}

#[test]
fn the_journal_keeps_the_before_image_of_each_change() {
    let mut env = Env::new(1);
    env.settle();
    let crm_id = env.crm.items.keys().next().unwrap().clone();
    let gid = env.graph.items.keys().next().unwrap().clone();
    env.graph
        .user_update(&gid, contact("Renamed", "p0@example.com"));
    env.settle();
    assert_eq!(
        env.crm.items[&crm_id].record,
        contact("Renamed", "p0@example.com")
    );
    let journal = env.store.journal(M).unwrap();
    let last = journal.last().unwrap();
    assert_eq!(last.side, Side::Crm);
    assert_eq!(last.op, JournalOp::Update);
    assert_eq!(last.item_id, crm_id);
    assert_eq!(last.changed_fields, vec!["givenName".to_owned()]);
    assert!(last.before.as_deref().unwrap().contains("P0"));
    assert!(last.after.as_deref().unwrap().contains("Renamed"));
    assert_eq!(journal.first().unwrap().op, JournalOp::Create);
}

fn with(r: &ContactRecord, field: &str, value: &str) -> ContactRecord {
    let mut map = r.fields().clone();
    map.insert(field.into(), FieldValue::Text(value.into()));
    ContactRecord::from_fields(map).unwrap()
}

#[test]
fn a_write_racing_a_user_edit_is_refused_then_merged_not_forced() {
    let mut env = Env::new(1);
    env.settle();
    let crm_id = env.crm.items.keys().next().unwrap().clone();
    let gid = env.graph.items.keys().next().unwrap().clone();
    let base = env.crm.items[&crm_id].record.clone();
    env.crm
        .user_update(&crm_id, with(&base, "givenName", "FromCrm"));
    // The user edits the Microsoft copy after the round read it, before it writes.
    env.graph.race_next_write = Some((gid.clone(), with(&base, "jobTitle", "FromGraph")));
    let r = env.round(RoundOptions::default());
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!(
        r.failures[0].error,
        crmsync_engine::PortError::PreconditionFailed
    );
    env.settle();
    let merged = with(
        &with(&base, "givenName", "FromCrm"),
        "jobTitle",
        "FromGraph",
    );
    assert_eq!(env.crm.items[&crm_id].record, merged);
    assert_eq!(env.graph.items[&gid].record, merged);
}

#[test]
fn a_crash_right_after_a_create_leaves_no_duplicate_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let mut env = Env::on_file(&path, 2);
    // Crash right after the folder's create lands.
    let clock = WorldClock(env.world.clone());
    env.graph.crash_after_next_write = true;
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_round(
            &mut env.store,
            M,
            &mut env.crm,
            &mut env.graph,
            &clock,
            RoundOptions::default(),
        )
    }));
    assert!(crashed.is_err());
    // The folder create was the write that crashed: restart, then crash after a contact.
    env.store = Store::open(&path).unwrap();
    env.graph.crash_after_next_write = true;
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_round(
            &mut env.store,
            M,
            &mut env.crm,
            &mut env.graph,
            &clock,
            RoundOptions::default(),
        )
    }));
    assert!(crashed.is_err());
    assert_eq!(env.graph.items.len(), 1, "the first create landed");
    env.store = Store::open(&path).unwrap();
    // The two creates went out as one group: both intents were written first; one landed.
    assert_eq!(
        env.store.pending_intents::<ContactRecord>(M).unwrap().len(),
        2
    );
    env.settle();
    assert_eq!(
        env.store.pending_intents::<ContactRecord>(M).unwrap().len(),
        0
    );
    assert_eq!(env.graph.items.len(), 2, "no duplicate copy");
    assert_eq!(
        env.graph.containers_created, 1,
        "the folder was found again, not recreated"
    );
    assert_eq!(env.store.links::<ContactRecord>(M).unwrap().len(), 2);
}

#[test]
fn faults_are_exercised_and_the_sync_still_converges_without_duplicates() {
    let mut env = Env::new(12);
    env.world.fault_rate.set(35);
    let mut interrupted = 0;
    for _ in 0..20 {
        let r = env.round(RoundOptions::default());
        if matches!(r.outcome, RoundOutcome::Interrupted(_)) {
            interrupted += 1;
        }
    }
    assert!(interrupted > 0, "the fault generator injected nothing");
    env.world.fault_rate.set(0);
    env.settle();
    assert_eq!(env.graph.items.len(), 12);
    let mut stamps: Vec<_> = env.graph.items.values().map(|g| g.stamp.clone()).collect();
    stamps.sort();
    stamps.dedup();
    assert_eq!(stamps.len(), 12, "a CRM record has two copies");
    let outcomes: Vec<_> = env
        .store
        .runs(M, 100)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.outcome)
        .collect();
    assert!(outcomes
        .iter()
        .any(|o| o == "throttled" || o == "interrupted"));
}

#[test]
fn disabling_removes_the_folder_and_keeps_the_crm_then_re_enable_recreates() {
    let mut env = Env::new(3);
    env.settle();
    let clock = WorldClock(env.world.clone());
    crmsync_engine::disable_module::<ContactRecord, _>(&mut env.store, M, &mut env.graph, &clock)
        .unwrap()
        .unwrap();
    assert!(env.graph.container.is_none());
    assert!(env.graph.items.is_empty());
    assert_eq!(env.crm.items.len(), 3);
    assert_eq!(env.crm.writes, 0);
    assert!(!env.store.module(M).unwrap().enabled);
    assert_eq!(
        env.store.settings(M).unwrap().first_sync_at,
        None,
        "a re-enable is a first sync"
    );
    env.store.enable(M, t(9)).unwrap();
    env.settle();
    assert_eq!(env.graph.items.len(), 3);
    assert_eq!(env.crm.writes, 0);
}

#[test]
fn a_cancelled_round_stops_between_actions_and_resumes() {
    let mut env = Env::new(3);
    let clock = WorldClock(env.world.clone());
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let r = crmsync_engine::run_round_cancellable(
        &mut env.store,
        M,
        &mut env.crm,
        &mut env.graph,
        &clock,
        RoundOptions::default(),
        &cancel,
    )
    .unwrap();
    assert_eq!(r.outcome, RoundOutcome::Cancelled);
    assert!(env.graph.items.is_empty());
    env.settle();
    assert_eq!(env.graph.items.len(), 3);
}

#[test]
fn a_queued_conflict_waits_then_resolves_with_the_users_choice() {
    let mut env = Env::new(1);
    env.store
        .set_conflict_policy(M, crmsync_core::planner::ConflictPolicy::Ask)
        .unwrap();
    env.settle();
    let crm_id = env.crm.items.keys().next().unwrap().clone();
    let gid = env.graph.items.keys().next().unwrap().clone();
    let base = env.crm.items[&crm_id].record.clone();
    env.crm
        .user_update(&crm_id, with(&base, "givenName", "Crm"));
    env.graph
        .user_update(&gid, with(&base, "givenName", "Graph"));
    env.round(RoundOptions::default());
    let links = env.store.links::<ContactRecord>(M).unwrap();
    assert_eq!(links[0].state, LinkState::Conflict);
    // It waits: further rounds write nothing.
    let r = env.round(RoundOptions::default());
    assert_eq!(r.writes, 0);
    assert_eq!(
        env.crm.items[&crm_id].record,
        with(&base, "givenName", "Crm")
    );

    let clock = WorldClock(env.world.clone());
    let none = crmsync_core::planner::FieldChoices::new();
    let err = crmsync_engine::resolve_queued_conflict::<ContactRecord, _, _>(
        &mut env.store,
        M,
        links[0].id,
        &none,
        &mut env.crm,
        &mut env.graph,
        &clock,
    )
    .unwrap_err();
    assert!(matches!(err, SyncError::Resolve(_)), "{err}");
    let mut choices = crmsync_core::planner::FieldChoices::new();
    choices.insert("givenName".into(), Side::Graph);
    crmsync_engine::resolve_queued_conflict::<ContactRecord, _, _>(
        &mut env.store,
        M,
        links[0].id,
        &choices,
        &mut env.crm,
        &mut env.graph,
        &clock,
    )
    .unwrap()
    .unwrap();
    let want = with(&base, "givenName", "Graph");
    assert_eq!(env.crm.items[&crm_id].record, want);
    assert_eq!(env.graph.items[&gid].record, want);
    assert_eq!(
        env.store.links::<ContactRecord>(M).unwrap()[0].state,
        LinkState::Active
    );
    env.settle();
    let r = env.round(RoundOptions::default());
    assert_eq!(r.writes, 0);
}

#[test]
fn a_dead_session_marks_the_module_as_needing_sign_in_and_a_later_round_recovers() {
    let mut env = Env::new(2);
    env.settle();
    env.crm.fail_next_read = Some(crmsync_engine::PortError::NeedsSignIn);
    let r = env.round(RoundOptions::default());
    assert_eq!(
        r.outcome,
        RoundOutcome::Interrupted(crmsync_engine::PortError::NeedsSignIn)
    );
    assert_eq!(
        env.store.module(M).unwrap().status,
        ModuleStatus::NeedsSignIn
    );
    env.settle();
    assert_eq!(env.store.module(M).unwrap().status, ModuleStatus::Active);
}

#[test]
fn health_is_stored_per_record_and_counted() {
    let mut env = Env::new(3);
    let excluded = env
        .crm
        .user_create(contact("Imported", "imp@example.com"), true);
    env.settle();
    let counts = env.store.module_counts(M).unwrap();
    assert_eq!((counts.synced, counts.excluded, counts.failing), (3, 1, 0));
    let rows = env
        .store
        .health(M, Some(crmsync_engine::HealthStatus::Excluded), None, 10)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].item_id, excluded);
    assert_eq!(rows[0].label, "Imported");
    assert!(rows[0].detail.is_some());
    // Searchable by label, case-insensitively; `%` is a literal.
    let found = env.store.health(M, None, Some("p1"), 10).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].status, crmsync_engine::HealthStatus::InSync);
    assert!(env.store.health(M, None, Some("%"), 10).unwrap().is_empty());
    // A dry run does not replace it; a disable clears it.
    env.round(RoundOptions {
        dry_run: true,
        ..RoundOptions::default()
    });
    assert_eq!(env.store.module_counts(M).unwrap().synced, 3);
    let clock = WorldClock(env.world.clone());
    crmsync_engine::disable_module::<ContactRecord, _>(&mut env.store, M, &mut env.graph, &clock)
        .unwrap()
        .unwrap();
    assert_eq!(
        env.store.module_counts(M).unwrap(),
        crmsync_engine::ModuleCounts::default()
    );
}

#[test]
fn a_crm_record_the_sync_deleted_is_restored_once_from_the_journal() {
    let mut env = Env::new(2);
    env.store.set_delete_propagation(M, true, t(0)).unwrap();
    env.settle();
    let (gid, _) = env
        .graph
        .items
        .iter()
        .find(|(_, it)| it.record.label() == "P0")
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    env.graph.user_delete(&gid);
    env.settle();
    assert_eq!(env.crm.items.len(), 1, "propagated to the CRM");
    let journal = env.store.journal_recent(M, 10, None).unwrap();
    let delete = journal
        .iter()
        .find(|j| j.side == Side::Crm && j.op == JournalOp::Delete)
        .expect("journalled")
        .clone();
    assert!(
        journal.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    // A Microsoft 365 copy's delete is not restorable from here.
    let graph_create = journal.iter().find(|j| j.side == Side::Graph).unwrap();
    let clock = WorldClock(env.world.clone());
    assert!(matches!(
        crmsync_engine::restore_deleted::<ContactRecord, _>(
            &mut env.store,
            M,
            graph_create.id,
            &mut env.crm,
            &clock
        ),
        Err(SyncError::Restore(_))
    ));
    let new_id = crmsync_engine::restore_deleted::<ContactRecord, _>(
        &mut env.store,
        M,
        delete.id,
        &mut env.crm,
        &clock,
    )
    .unwrap()
    .unwrap();
    assert_eq!(env.crm.items[&new_id].record.label(), "P0");
    let again = crmsync_engine::restore_deleted::<ContactRecord, _>(
        &mut env.store,
        M,
        delete.id,
        &mut env.crm,
        &clock,
    );
    assert!(
        matches!(again, Err(SyncError::Restore(crmsync_engine::RestoreRefused::AlreadyRestored(ref id))) if *id == new_id)
    );
    // The next rounds copy it to Microsoft 365 again, once.
    env.settle();
    assert_eq!(env.crm.items.len(), 2);
    assert_eq!(env.graph.items.len(), 2);
    let entry = env.store.journal_entry(M, delete.id).unwrap().unwrap();
    assert_eq!(entry.restored_as.as_deref(), Some(new_id.as_str()));
}

#[test]
fn conflicts_under_ask_me_are_listed_side_by_side() {
    let mut env = Env::new(1);
    env.store
        .set_conflict_policy(M, crmsync_core::planner::ConflictPolicy::Ask)
        .unwrap();
    env.settle();
    let cid = env.crm.items.keys().next().unwrap().clone();
    let gid = env.graph.items.keys().next().unwrap().clone();
    env.crm
        .user_update(&cid, contact("FromCrm", "p0@example.com"));
    env.graph
        .user_update(&gid, contact("FromOutlook", "p0@example.com"));
    env.round(RoundOptions::default());
    let queued = crmsync_engine::queued_conflicts::<ContactRecord>(&env.store, M).unwrap();
    assert_eq!(queued.len(), 1);
    let q = &queued[0];
    assert_eq!(
        (q.crm_id.as_str(), q.graph_id.as_str()),
        (cid.as_str(), gid.as_str())
    );
    assert_eq!(q.fields.len(), 1);
    assert_eq!(q.fields[0].field, "givenName");
    assert_eq!(q.fields[0].base.as_deref(), Some("P0"));
    assert_eq!(q.fields[0].crm.as_deref(), Some("FromCrm"));
    assert_eq!(q.fields[0].graph.as_deref(), Some("FromOutlook"));
    assert_eq!(env.store.module_counts(M).unwrap().conflicts, 1);
}

#[test]
fn a_record_deferred_by_the_first_sync_cap_stays_deferred_when_a_feed_reads_it_again_unchanged() {
    let mut env = Env::new(2);
    let late = env
        .crm
        .user_create(contact("Late", "late@example.com"), false);
    env.crm.capped.insert(late.clone());
    env.settle();
    assert_eq!(env.graph.items.len(), 2, "the capped record is not copied");
    // The CRM feed reads it again, unchanged and without the listing's exclusion.
    env.crm.reread_next = vec![late.clone()];
    let r = env.round(RoundOptions::default());
    assert_eq!(r.writes, 0, "{:?}", r.plan);
    assert_eq!(env.graph.items.len(), 2);
    // Once it changes in the CRM, it syncs.
    env.crm
        .user_update(&late, contact("Late, edited", "late@example.com"));
    env.settle();
    assert_eq!(env.graph.items.len(), 3);
}

#[test]
fn a_second_process_on_the_same_store_waits_instead_of_syncing_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let mut env = Env::on_file(&path, 3);
    // Another process (the app, or `crmsync sync --watch`) is in the middle of a round.
    let other = Store::open(&path).unwrap();
    let held = other.exclusive().unwrap();
    let clock = WorldClock(env.world.clone());
    for attempt in [
        run_round(
            &mut env.store,
            M,
            &mut env.crm,
            &mut env.graph,
            &clock,
            RoundOptions::default(),
        )
        .map(|_| ()),
        crmsync_engine::disable_module::<ContactRecord, _>(
            &mut env.store,
            M,
            &mut env.graph,
            &clock,
        )
        .map(|_| ()),
    ] {
        assert!(
            matches!(attempt, Err(SyncError::Store(StoreError::Busy))),
            "{attempt:?}"
        );
    }
    assert!(env.store.runs(M, 10).unwrap().is_empty(), "no run recorded");
    assert_eq!((env.crm.writes, env.graph.writes), (0, 0));
    assert!(env.graph.items.is_empty() && env.graph.container.is_none());
    // Once it is done, this one syncs.
    drop(held);
    env.settle();
    assert_eq!(env.graph.items.len(), 3);
}
