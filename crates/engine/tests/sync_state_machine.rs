//! State-machine property test of the sync engine (sync-and-style.md §4.6): a random base of
//! contacts synced once, random user edits/deletes/creates on both sides, then sync rounds
//! against in-memory fakes that inject faults (429, 5xx, timeout after the write landed,
//! duplicated/reordered feed entries, 410 expiry, a crash at any remote call followed by a
//! restart from the SQLite file), then fault-free rounds. Checks convergence, zero writes on
//! a re-sync, no duplicates, no lost edit, no delete nobody made, exclusions respected, crash
//! equivalence (same contents as a fault-free run) and determinism by seed. Users also act
//! while the faulty rounds run (late edits between them), a side may be wiped wholesale (the
//! empty-side guard must pause), and a settled store holds no intent and cursors at the
//! feeds' ends.

mod fakes;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Once;

use crmsync_core::contact::ContactRecord;
use crmsync_core::planner::{ConflictPolicy, LinkState};
use crmsync_core::{CanonicalRecord, FieldMap, FieldValue, Side};
use crmsync_engine::{
    run_round, Account, ModuleKind, RoundOptions, RoundOutcome, RoundReport, Service, Store,
};
use fakes::{t, Fake, World, WorldClock, CRASH};
use proptest::prelude::*;

const FIELDS: [&str; 4] = ["givenName", "surname", "jobTitle", "department"];
const VALUES: [&str; 4] = ["", "Alpha", "Beta", "Gamma"];
const M: ModuleKind = ModuleKind::Contacts;

fn quiet_crashes() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied());
            if msg != Some(CRASH) {
                default(info);
            }
        }));
    });
}

fn make(fields: &[(usize, usize)], email: Option<String>) -> ContactRecord {
    let mut map = FieldMap::new();
    for &(f, v) in fields {
        map.insert(FIELDS[f].to_owned(), FieldValue::Text(VALUES[v].to_owned()));
    }
    if let Some(e) = email {
        map.insert("emailAddresses".to_owned(), FieldValue::List(vec![e]));
    }
    ContactRecord::from_fields(map).unwrap()
}

fn with_edits(r: &ContactRecord, edits: &[(usize, usize)]) -> ContactRecord {
    let mut map = r.fields().clone();
    for &(f, v) in edits {
        map.insert(FIELDS[f].to_owned(), FieldValue::Text(VALUES[v].to_owned()));
    }
    ContactRecord::from_fields(map).unwrap()
}

#[derive(Clone, Debug, PartialEq)]
enum Perturb {
    Keep,
    Delete,
    Edit(Vec<(usize, usize)>),
}

fn perturb() -> impl Strategy<Value = Perturb> {
    prop_oneof![
        3 => Just(Perturb::Keep),
        1 => Just(Perturb::Delete),
        3 => prop::collection::vec((0..FIELDS.len(), 0..VALUES.len()), 1..3).prop_map(Perturb::Edit),
    ]
}

#[derive(Clone, Debug)]
struct BaseItem {
    fields: Vec<(usize, usize)>,
    excluded: bool,
    crm: Perturb,
    graph: Perturb,
    /// An edit a user makes while the faulty rounds run (after `LATE_AFTER` of them), on one
    /// side, to an item nobody else touched: it must survive faults and crashes.
    late: Option<(bool, Vec<(usize, usize)>)>,
}

/// Faulty rounds before the late edits land (of `FAULTY_ROUNDS`).
const LATE_AFTER: usize = 3;
const FAULTY_ROUNDS: usize = 8;

/// A user empties one side of every link at once.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wipe {
    Crm,
    Graph,
}

#[derive(Clone, Debug)]
struct NewItem {
    fields: Vec<(usize, usize)>,
    /// Some(k): email "new{k}@example.com" (the same k on both sides pairs by natural key).
    email: Option<usize>,
    excluded: bool,
}

#[derive(Clone, Debug)]
struct Scenario {
    base: Vec<BaseItem>,
    new_crm: Vec<NewItem>,
    new_graph: Vec<NewItem>,
    policy: ConflictPolicy,
    propagation: bool,
    seed: u64,
    fault_rate: u64,
    wipe: Option<Wipe>,
}

fn new_items(excludable: bool) -> impl Strategy<Value = Vec<NewItem>> {
    prop::collection::vec(
        (
            prop::collection::vec((0..FIELDS.len(), 1..VALUES.len()), 0..3),
            prop::option::of(0usize..3),
            prop::bool::weighted(if excludable { 0.2 } else { 0.0 }),
        )
            .prop_map(|(fields, email, excluded)| NewItem {
                fields,
                email,
                excluded,
            }),
        0..3,
    )
    .prop_map(|mut v| {
        // One email per side at most once (several unlinked records sharing a key are
        // deliberately not paired by the planner).
        let mut seen = std::collections::BTreeSet::new();
        for it in &mut v {
            if let Some(e) = it.email {
                if !seen.insert(e) {
                    it.email = None;
                }
            }
        }
        v
    })
}

/// An edit that leaves the record as it was is no modification.
fn effective(base: &[(usize, usize)], p: Perturb) -> Perturb {
    match p {
        Perturb::Edit(e) => {
            let b = make(base, None);
            if with_edits(&b, &e) == b {
                Perturb::Keep
            } else {
                Perturb::Edit(e)
            }
        }
        other => other,
    }
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(
            (
                prop::collection::vec((0..FIELDS.len(), 1..VALUES.len()), 0..4),
                prop::bool::weighted(0.15),
                perturb(),
                perturb(),
                prop::option::weighted(
                    0.3,
                    (
                        any::<bool>(),
                        prop::collection::vec((0..FIELDS.len(), 0..VALUES.len()), 1..3),
                    ),
                ),
            )
                .prop_map(|(fields, excluded, crm, graph, late)| {
                    let crm = effective(&fields, crm);
                    let graph = effective(&fields, graph);
                    // Only on an item nobody else touched, and only a real change.
                    let late = late.filter(|(_, e)| {
                        crm == Perturb::Keep
                            && graph == Perturb::Keep
                            && effective(&fields, Perturb::Edit(e.clone())) != Perturb::Keep
                    });
                    BaseItem {
                        crm,
                        graph,
                        fields,
                        excluded,
                        late,
                    }
                }),
            0..7,
        ),
        new_items(true),
        new_items(false),
        prop_oneof![
            Just(ConflictPolicy::Newest),
            Just(ConflictPolicy::CrmWins),
            Just(ConflictPolicy::GraphWins)
        ],
        any::<bool>(),
        any::<u64>(),
        prop_oneof![Just(0u64), 5u64..30],
        prop_oneof![
            8 => Just(None),
            1 => Just(Some(Wipe::Crm)),
            1 => Just(Some(Wipe::Graph)),
        ],
    )
        .prop_map(
            |(
                mut base,
                mut new_crm,
                mut new_graph,
                policy,
                propagation,
                seed,
                fault_rate,
                wipe,
            )| {
                // A wipe deletes every linked item on that side and leaves it empty; nothing
                // else happens to the base.
                match wipe {
                    Some(Wipe::Crm) => new_crm.clear(),
                    Some(Wipe::Graph) => new_graph.clear(),
                    None => {}
                }
                if let Some(side) = wipe {
                    for b in &mut base {
                        b.late = None;
                        let (deleted, kept) = match side {
                            Wipe::Crm => (&mut b.crm, &mut b.graph),
                            Wipe::Graph => (&mut b.graph, &mut b.crm),
                        };
                        *deleted = Perturb::Delete;
                        *kept = Perturb::Keep;
                    }
                }
                Scenario {
                    base,
                    new_crm,
                    new_graph,
                    policy,
                    propagation,
                    seed,
                    fault_rate,
                    wipe,
                }
            },
        )
}

struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Option<Store>,
    world: Rc<World>,
    crm: Fake,
    graph: Fake,
    crashes: usize,
    pauses: usize,
}

impl Harness {
    fn new(seed: u64) -> Self {
        quiet_crashes();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let store = Store::open(&path).unwrap();
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
        let world = World::new(seed);
        Self {
            _dir: dir,
            path,
            store: Some(store),
            crm: Fake::new("crm", world.clone()),
            graph: Fake::new("g", world.clone()),
            world,
            crashes: 0,
            pauses: 0,
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    /// One round; a simulated crash drops the store (uncommitted work is lost, as in a killed
    /// process) and reopens it from the file.
    fn round(&mut self, opts: RoundOptions) -> Option<RoundReport<ContactRecord>> {
        let clock = WorldClock(self.world.clone());
        let Self {
            store, crm, graph, ..
        } = self;
        let s = store.as_mut().unwrap();
        let result = catch_unwind(AssertUnwindSafe(|| {
            run_round(s, M, crm, graph, &clock, opts)
        }));
        match result {
            Ok(Ok(report)) => Some(report),
            Ok(Err(e)) => panic!("local failure: {e}"),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                if msg != CRASH {
                    std::panic::resume_unwind(payload);
                }
                self.crashes += 1;
                drop(self.store.take());
                self.store = Some(Store::open(&self.path).unwrap());
                None
            }
        }
    }

    /// Fault-free rounds until one has nothing to do. A guard pause must write nothing; the
    /// user then confirms (the deletes are theirs). Returns the number of rounds.
    fn settle(&mut self) -> Result<usize, TestCaseError> {
        self.world.fault_rate.set(0);
        let mut confirmed = false;
        for n in 1..=12 {
            let writes = (self.crm.writes, self.graph.writes);
            let r = self
                .round(RoundOptions {
                    deletes_confirmed: confirmed,
                    ..RoundOptions::default()
                })
                .unwrap();
            if let RoundOutcome::Paused(_) = r.outcome {
                prop_assert_eq!(
                    (self.crm.writes, self.graph.writes),
                    writes,
                    "a paused round wrote"
                );
                self.pauses += 1;
                confirmed = true;
                continue;
            }
            prop_assert_eq!(&r.outcome, &RoundOutcome::Completed, "round {}", n);
            prop_assert!(r.failures.is_empty(), "failures: {:?}", r.failures);
            if r.writes == 0 && r.plan.as_ref().is_some_and(|p| p.is_empty()) {
                return Ok(n);
            }
        }
        Err(TestCaseError::fail(
            "no convergence within 12 fault-free rounds",
        ))
    }

    fn graph_copy_of(&self, crm_id: &str) -> Option<String> {
        let links = self.store().links::<ContactRecord>(M).unwrap();
        links
            .iter()
            .find(|l| l.crm_id.as_deref() == Some(crm_id))
            .and_then(|l| l.graph_id.clone())
    }
}

/// What a run ended with, for comparisons.
#[derive(Debug, PartialEq)]
struct Final {
    crm: Vec<(String, ContactRecord)>,
    graph: Vec<(String, ContactRecord)>,
    crm_contents: Vec<String>,
    graph_contents: Vec<String>,
    journal: usize,
}

fn run(s: &Scenario, fault_rate: u64) -> Result<(Final, Harness), TestCaseError> {
    let mut h = Harness::new(s.seed);
    h.store()
        .set_conflict_policy(M, s.policy)
        .and_then(|_| h.store().set_delete_propagation(M, s.propagation, t(0)))
        .unwrap();
    // The base: created in the CRM, synced once.
    let base_ids: Vec<String> = s
        .base
        .iter()
        .enumerate()
        .map(|(i, b)| {
            h.crm.user_create(
                make(&b.fields, Some(format!("b{i}@example.com"))),
                b.excluded,
            )
        })
        .collect();
    h.settle()?;
    for (b, id) in s.base.iter().zip(&base_ids) {
        prop_assert_eq!(h.graph_copy_of(id).is_some(), !b.excluded);
    }

    // Users act on both sides.
    for (b, id) in s.base.iter().zip(&base_ids) {
        if b.excluded {
            continue;
        }
        let gid = h.graph_copy_of(id).unwrap();
        for (fake, p, id) in [(&mut h.crm, &b.crm, id), (&mut h.graph, &b.graph, &gid)] {
            match p {
                Perturb::Keep => {}
                Perturb::Delete => fake.user_delete(id),
                Perturb::Edit(e) => {
                    let r = with_edits(&fake.items[id].record, e);
                    fake.user_update(id, r);
                }
            }
        }
    }
    let new_crm_ids: Vec<String> = s
        .new_crm
        .iter()
        .map(|n| {
            h.crm.user_create(
                make(&n.fields, n.email.map(|k| format!("new{k}@example.com"))),
                n.excluded,
            )
        })
        .collect();
    for n in &s.new_graph {
        h.graph.user_create(
            make(&n.fields, n.email.map(|k| format!("new{k}@example.com"))),
            false,
        );
    }

    // Rounds with faults (users edit again part-way through), then fault-free rounds.
    h.world.fault_rate.set(fault_rate);
    for n in 0..FAULTY_ROUNDS {
        if n == LATE_AFTER {
            // The user edits, between two rounds, on whichever side they work in.
            let saved = h.world.fault_rate.replace(0);
            for (b, id) in s.base.iter().zip(&base_ids) {
                let Some((in_crm, e)) = b.late.as_ref().filter(|_| !b.excluded) else {
                    continue;
                };
                let gid = h.graph_copy_of(id);
                let (fake, id) = if *in_crm {
                    (&mut h.crm, id.clone())
                } else {
                    (&mut h.graph, gid.expect("a linked item has a copy"))
                };
                let r = with_edits(&fake.items[&id].record, e);
                fake.user_update(&id, r);
            }
            h.world.fault_rate.set(saved);
        }
        h.round(RoundOptions::default());
    }
    h.settle()?;
    // Empty-side guard: a user emptied one side of three or more links → a pause (which wrote
    // nothing, checked in `settle`) before any delete reaches the other side. A wiped
    // Microsoft side only deletes in the CRM when deletes propagate.
    let linked = s.base.iter().filter(|b| !b.excluded).count();
    let crm_wiped = s
        .base
        .iter()
        .all(|b| b.excluded || b.crm == Perturb::Delete);
    let graph_wiped = s
        .base
        .iter()
        .all(|b| b.excluded || b.graph == Perturb::Delete);
    if linked >= 3 && (crm_wiped || (graph_wiped && s.propagation)) {
        prop_assert!(
            h.pauses > 0,
            "a side emptied without a pause ({:?})",
            s.wipe
        );
    }
    // Nothing in flight, and each cursor at the end of its feed.
    prop_assert!(h
        .store()
        .pending_intents::<ContactRecord>(M)
        .unwrap()
        .is_empty());
    for (side, fake) in [(Side::Crm, &h.crm), (Side::Graph, &h.graph)] {
        prop_assert_eq!(
            h.store().cursor(M, side).unwrap(),
            Some(fake.log.len().to_string()),
            "{:?} cursor",
            side
        );
    }

    check_invariants(s, &h, &base_ids, &new_crm_ids)?;

    // Zero writes on a re-sync.
    let writes = (h.crm.writes, h.graph.writes);
    let r = h.round(RoundOptions::default()).unwrap();
    prop_assert_eq!(r.writes, 0);
    prop_assert_eq!((h.crm.writes, h.graph.writes), writes);

    let list = |f: &Fake| -> Vec<(String, ContactRecord)> {
        f.items
            .iter()
            .map(|(id, it)| (id.clone(), it.record.clone()))
            .collect()
    };
    let fin = Final {
        crm: list(&h.crm),
        graph: list(&h.graph),
        crm_contents: h.crm.contents(),
        graph_contents: h.graph.contents(),
        journal: h.store().journal(M).unwrap().len(),
    };
    Ok((fin, h))
}

fn check_invariants(
    s: &Scenario,
    h: &Harness,
    base_ids: &[String],
    new_crm_ids: &[String],
) -> Result<(), TestCaseError> {
    let links = h.store().links::<ContactRecord>(M).unwrap();
    // No duplicates, convergence: every eligible CRM record and every Graph item is in exactly
    // one link; linked pairs hold the same record.
    for (id, it) in &h.crm.items {
        let n = links
            .iter()
            .filter(|l| l.crm_id.as_deref() == Some(id))
            .count();
        if it.excluded {
            prop_assert_eq!(n, 0, "excluded {} linked", id);
            prop_assert!(
                h.graph
                    .items
                    .values()
                    .all(|g| g.stamp.as_deref() != Some(id)),
                "excluded {} copied",
                id
            );
        } else {
            prop_assert_eq!(n, 1, "CRM {} in {} links", id, n);
        }
    }
    for id in h.graph.items.keys() {
        let n = links
            .iter()
            .filter(|l| l.graph_id.as_deref() == Some(id))
            .count();
        prop_assert_eq!(n, 1, "Graph {} in {} links (a duplicate?)", id, n);
    }
    for l in &links {
        prop_assert!(l.state != LinkState::Conflict);
        let crm = l.crm_id.as_ref().and_then(|id| h.crm.items.get(id));
        prop_assert!(crm.is_some(), "link {} without its CRM record", l.id);
        let crm = crm.unwrap();
        match l.state {
            LinkState::Detached => prop_assert!(l.graph_id.is_none()),
            _ => {
                let g = l.graph_id.as_ref().and_then(|id| h.graph.items.get(id));
                prop_assert!(g.is_some(), "active link {} without its Graph item", l.id);
                prop_assert_eq!(&crm.record, &g.unwrap().record, "link {} differs", l.id);
                prop_assert_eq!(&crm.record, &l.base);
            }
        }
    }
    // No lost edit, no delete nobody made.
    for (b, id) in s.base.iter().zip(base_ids) {
        let crm = h.crm.items.get(id);
        if b.excluded {
            prop_assert_eq!(
                crm.map(|i| i.record.clone()),
                Some(make(
                    &b.fields,
                    Some(format!("b{}@example.com", base_index(base_ids, id)))
                ))
            );
            continue;
        }
        let deleted_by_user = b.crm == Perturb::Delete
            || (b.graph == Perturb::Delete && s.propagation && b.crm == Perturb::Keep);
        prop_assert_eq!(crm.is_none(), deleted_by_user, "CRM {} presence", id);
        let Some(crm) = crm else { continue };
        let base = make(
            &b.fields,
            Some(format!("b{}@example.com", base_index(base_ids, id))),
        );
        if let Some((_, e)) = &b.late {
            prop_assert_eq!(
                &crm.record,
                &with_edits(&base, e),
                "late edit lost on {}",
                id
            );
        }
        match (&b.crm, &b.graph) {
            (Perturb::Edit(e), Perturb::Keep | Perturb::Delete) => {
                prop_assert_eq!(
                    &crm.record,
                    &with_edits(&base, e),
                    "CRM edit lost on {}",
                    id
                )
            }
            (Perturb::Keep, Perturb::Edit(e)) => {
                prop_assert_eq!(
                    &crm.record,
                    &with_edits(&base, e),
                    "Graph edit lost on {}",
                    id
                )
            }
            _ => {}
        }
        if b.graph == Perturb::Delete && b.crm == Perturb::Keep {
            // Propagation off: kept in the CRM, unlinked from Microsoft 365.
            prop_assert!(h.graph_copy_of(id).is_none());
        } else {
            prop_assert!(h.graph_copy_of(id).is_some(), "CRM {} has no copy", id);
        }
    }
    for (n, id) in s.new_crm.iter().zip(new_crm_ids) {
        prop_assert!(
            h.crm.items.contains_key(id),
            "new CRM record {} deleted",
            id
        );
        prop_assert_eq!(h.graph_copy_of(id).is_some(), !n.excluded);
    }
    Ok(())
}

fn base_index(ids: &[String], id: &str) -> usize {
    ids.iter().position(|x| x == id).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sync_converges_under_faults_and_crashes(s in scenario()) {
        let (faulty, h) = run(&s, s.fault_rate)?;
        // Crash equivalence: the same contents as a fault-free run.
        let (clean, _) = run(&s, 0)?;
        prop_assert_eq!(&faulty.crm_contents, &clean.crm_contents);
        prop_assert_eq!(&faulty.graph_contents, &clean.graph_contents);
        // Determinism by seed: the same faults, the same result, ids included.
        if s.fault_rate > 0 {
            let (again, h2) = run(&s, s.fault_rate)?;
            prop_assert_eq!(&faulty, &again);
            prop_assert_eq!(h.crashes, h2.crashes);
        }
    }
}
