//! Property tests of the planner, CanopyCheck style (sync-and-style.md §4.1): a random base of
//! linked contacts, two independently perturbed sides (edits, deletes, creations), then rounds
//! of plan → shuffle → apply-as-if-succeeded on in-memory models of both services, until the
//! planner has nothing left to do. Checks termination, convergence, no duplicates, no lost
//! edit, no delete nobody made, and that nothing is silently ignored.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use crmsync_core::contact::ContactRecord;
use crmsync_core::planner::{
    plan, resolve_conflict, Action, ConflictPolicy, FieldChoices, Link, LinkChange, LinkState,
    Observation, Observed, Op, Pause, PlanInput, PlanSettings, Reason, WriteOutcome,
};
use crmsync_core::policy::{DeletePropagation, Exclusion};
use crmsync_core::{CanonicalRecord, FieldMap, FieldValue, Side};
use proptest::prelude::*;

const FIELDS: [&str; 4] = ["givenName", "surname", "jobTitle", "department"];
const VALUES: [&str; 4] = ["", "Alpha", "Beta", "Gamma"];
const NEW_EMAILS: [&str; 3] = ["n0@example.com", "n1@example.com", "n2@example.com"];

fn t(minute: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + minute * 60, 0).unwrap()
}

fn make(fields: &[(usize, usize)], email: Option<&str>) -> ContactRecord {
    let mut map = FieldMap::new();
    for &(f, v) in fields {
        map.insert(FIELDS[f].to_owned(), FieldValue::Text(VALUES[v].to_owned()));
    }
    if let Some(e) = email {
        map.insert(
            "emailAddresses".to_owned(),
            FieldValue::List(vec![e.to_owned()]),
        );
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

#[derive(Clone, Debug)]
enum Perturb {
    Keep,
    Delete,
    Edit(Vec<(usize, usize)>, i64),
}

fn perturb() -> impl Strategy<Value = Perturb> {
    prop_oneof![
        3 => Just(Perturb::Keep),
        1 => Just(Perturb::Delete),
        3 => (prop::collection::vec((0..FIELDS.len(), 0..VALUES.len()), 1..3), 1i64..5)
            .prop_map(|(e, m)| Perturb::Edit(e, m)),
    ]
}

#[derive(Clone, Debug)]
struct NewItem {
    fields: Vec<(usize, usize)>,
    email: Option<usize>,
    excluded: bool,
}

fn new_item() -> impl Strategy<Value = NewItem> {
    (
        prop::collection::vec((0..FIELDS.len(), 1..VALUES.len()), 0..3),
        prop::option::of(0..NEW_EMAILS.len()),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(fields, email, excluded)| NewItem {
            fields,
            email,
            excluded,
        })
}

#[derive(Clone, Debug)]
struct Scenario {
    base: Vec<Vec<(usize, usize)>>,
    crm: Vec<Perturb>,
    graph: Vec<Perturb>,
    new_crm: Vec<NewItem>,
    new_graph: Vec<NewItem>,
    policy: ConflictPolicy,
    propagation: DeletePropagation,
    shuffle_seed: u64,
    /// Feed lag: in the first rounds each base item's observation is missing with 1/3 chance.
    lag_seed: Option<u64>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (0usize..8)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(
                    prop::collection::vec((0..FIELDS.len(), 1..VALUES.len()), 0..4),
                    n,
                ),
                prop::collection::vec(perturb(), n),
                prop::collection::vec(perturb(), n),
                prop::collection::vec(new_item(), 0..3),
                prop::collection::vec(new_item(), 0..3),
                prop_oneof![
                    Just(ConflictPolicy::Newest),
                    Just(ConflictPolicy::CrmWins),
                    Just(ConflictPolicy::GraphWins),
                    Just(ConflictPolicy::Ask)
                ],
                prop_oneof![Just(DeletePropagation::Off), Just(DeletePropagation::On)],
                any::<u64>(),
                prop::option::of(any::<u64>()),
            )
        })
        .prop_map(
            |(
                base,
                crm,
                graph,
                new_crm,
                new_graph,
                policy,
                propagation,
                shuffle_seed,
                lag_seed,
            )| Scenario {
                base,
                crm,
                graph,
                new_crm,
                new_graph,
                policy,
                propagation,
                shuffle_seed,
                lag_seed,
            },
        )
}

#[derive(Clone, Debug)]
struct Item {
    record: ContactRecord,
    version: u64,
    modified: i64,
    stamp: Option<String>,
    excluded: bool,
}

/// An in-memory service: items, tombstones of deleted ids, id and version counters.
#[derive(Default, Debug)]
struct Service {
    prefix: &'static str,
    items: BTreeMap<String, Item>,
    tombstones: BTreeSet<String>,
    next: u64,
    writes: usize,
}

impl Service {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            next: 1000,
            ..Self::default()
        }
    }

    fn observations(&self) -> Vec<Observation<ContactRecord>> {
        let mut out: Vec<_> = self
            .items
            .iter()
            .map(|(id, it)| {
                Observation::Present(Observed {
                    id: id.clone(),
                    version: it.version.to_string(),
                    modified: t(it.modified),
                    record: it.record.clone(),
                    stamp: it.stamp.clone(),
                    exclusion: it.excluded.then_some(Exclusion::NotOwner),
                })
            })
            .collect();
        out.extend(
            self.tombstones
                .iter()
                .map(|id| Observation::Deleted { id: id.clone() }),
        );
        out
    }

    /// Whether a write guarded by `expected` would be accepted (else 404 / 412).
    fn accepts(&self, id: Option<&str>, expected: Option<&str>) -> bool {
        id.and_then(|id| self.items.get(id))
            .is_some_and(|it| expected == Some(it.version.to_string().as_str()))
    }

    fn create(&mut self, record: ContactRecord, stamp: Option<String>) -> (String, String) {
        self.next += 1;
        self.writes += 1;
        let id = format!("{}{}", self.prefix, self.next);
        self.items.insert(
            id.clone(),
            Item {
                record,
                version: 1,
                modified: 100,
                stamp,
                excluded: false,
            },
        );
        (id, "1".to_owned())
    }

    fn update(&mut self, id: &str, expected: Option<&str>, record: ContactRecord) -> String {
        self.writes += 1;
        let it = self
            .items
            .get_mut(id)
            .unwrap_or_else(|| panic!("update of missing {id}"));
        assert_eq!(
            expected,
            Some(it.version.to_string().as_str()),
            "stale guard on {id}"
        );
        it.record = record;
        it.version += 1;
        it.modified = 100;
        it.version.to_string()
    }

    fn delete(&mut self, id: &str, expected: Option<&str>) {
        self.writes += 1;
        let it = self
            .items
            .remove(id)
            .unwrap_or_else(|| panic!("delete of missing {id}"));
        assert_eq!(
            expected,
            Some(it.version.to_string().as_str()),
            "stale delete guard on {id}"
        );
        self.tombstones.insert(id.to_owned());
    }

    fn user_edit(&mut self, id: &str, p: &Perturb) {
        match p {
            Perturb::Keep => {}
            Perturb::Delete => {
                self.items.remove(id);
                self.tombstones.insert(id.to_owned());
            }
            Perturb::Edit(edits, minute) => {
                let it = self.items.get_mut(id).unwrap();
                it.record = with_edits(&it.record, edits);
                it.version += 1;
                it.modified = *minute;
            }
        }
    }
}

struct World {
    crm: Service,
    graph: Service,
    links: BTreeMap<u64, Link<ContactRecord>>,
    next_link: u64,
}

impl World {
    /// Performs an action's remote writes on the fake services, then commits the link change
    /// the core prescribes ([`Action::link_change`]), as the engine does.
    ///
    /// A write whose guard version is stale, or whose target is gone, is refused (as 412 / 404
    /// would be) and nothing is committed: the engine re-observes and re-plans.
    fn apply(&mut self, a: &Action<ContactRecord>) {
        let accepted = match &a.op {
            Op::Update { crm, graph, .. } => {
                crm.as_ref().is_none_or(|w| {
                    self.crm
                        .accepts(a.crm_id.as_deref(), w.expected_version.as_deref())
                }) && graph.as_ref().is_none_or(|w| {
                    self.graph
                        .accepts(a.graph_id.as_deref(), w.expected_version.as_deref())
                })
            }
            Op::DeleteInCrm { expected_version } => self
                .crm
                .accepts(a.crm_id.as_deref(), expected_version.as_deref()),
            Op::DeleteInGraph { expected_version } => self
                .graph
                .accepts(a.graph_id.as_deref(), expected_version.as_deref()),
            _ => true,
        };
        if !accepted {
            return;
        }
        let mut out = WriteOutcome::default();
        match &a.op {
            Op::CreateInGraph { record } => {
                let (gid, v) = self.graph.create(record.clone(), a.crm_id.clone());
                out.new_graph_id = Some(gid);
                out.graph_version = Some(v);
            }
            Op::CreateInCrm { record } => {
                let (cid, v) = self.crm.create(record.clone(), None);
                out.new_crm_id = Some(cid);
                out.crm_version = Some(v);
            }
            Op::Update { crm, graph, .. } => {
                out.crm_version = crm.as_ref().map(|w| {
                    self.crm.update(
                        a.crm_id.as_deref().unwrap(),
                        w.expected_version.as_deref(),
                        w.record.clone(),
                    )
                });
                out.graph_version = graph.as_ref().map(|w| {
                    self.graph.update(
                        a.graph_id.as_deref().unwrap(),
                        w.expected_version.as_deref(),
                        w.record.clone(),
                    )
                });
            }
            Op::DeleteInCrm { expected_version } => {
                assert!(a.link.is_some(), "CRM deletes only come from links");
                self.crm
                    .delete(a.crm_id.as_deref().unwrap(), expected_version.as_deref());
            }
            Op::DeleteInGraph { expected_version } => {
                self.graph
                    .delete(a.graph_id.as_deref().unwrap(), expected_version.as_deref());
            }
            Op::SaveLink { .. } | Op::Detach { .. } | Op::DropLink | Op::QueueConflict(_) => {}
        }
        match a.link_change(&out).expect("creates report their id") {
            LinkChange::Save(row) => {
                let id = row.id.unwrap_or_else(|| {
                    self.next_link += 1;
                    self.next_link
                });
                self.links.insert(
                    id,
                    Link {
                        id,
                        crm_id: row.crm_id,
                        graph_id: row.graph_id,
                        crm_version: row.crm_version,
                        graph_version: row.graph_version,
                        base: row.base,
                        state: row.state,
                    },
                );
            }
            LinkChange::Remove(id) => {
                assert!(
                    self.links.remove(&id).is_some(),
                    "removal of unknown link {id}"
                );
            }
            LinkChange::MarkConflict(id) => {
                self.links.get_mut(&id).expect("known link").state = LinkState::Conflict;
            }
            LinkChange::Nothing => {}
        }
    }

    /// Input as a lagging feed would give it: some base items missing, listings incomplete.
    fn lagged_input(&self, settings: PlanSettings, seed: &mut u64) -> PlanInput<ContactRecord> {
        let mut keep = |o: &Observation<ContactRecord>| {
            let id = o.id();
            if id.starts_with("cn") || id.starts_with("gn") {
                return true;
            }
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            !(*seed).is_multiple_of(3)
        };
        let mut input = self.input(settings);
        input.crm.retain(&mut keep);
        input.graph.retain(&mut keep);
        input.crm_complete = false;
        input.graph_complete = false;
        input
    }

    fn input(&self, settings: PlanSettings) -> PlanInput<ContactRecord> {
        PlanInput {
            links: self.links.values().cloned().collect(),
            crm: self.crm.observations(),
            graph: self.graph.observations(),
            crm_complete: true,
            graph_complete: true,
            settings,
        }
    }
}

fn shuffle<T>(v: &mut [T], seed: &mut u64) {
    for i in (1..v.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        #[allow(clippy::cast_possible_truncation)]
        let j = (*seed % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// The expected final record of a base item, computed independently of the planner.
fn expected(
    base: &ContactRecord,
    c: &Perturb,
    g: &Perturb,
    policy: ConflictPolicy,
    propagation: DeletePropagation,
) -> (Option<ContactRecord>, &'static str) {
    let edited = |p: &Perturb| match p {
        Perturb::Edit(e, _) => with_edits(base, e),
        _ => base.clone(),
    };
    let (ce, ge) = (edited(c), edited(g));
    let (c_changed, g_changed) = (ce != *base, ge != *base);
    match (c, g) {
        (Perturb::Delete, Perturb::Delete) => (None, "gone"),
        (Perturb::Delete, _) => {
            if g_changed {
                (Some(ge), "linked")
            } else {
                (None, "gone")
            }
        }
        (_, Perturb::Delete) => {
            if c_changed {
                (Some(ce), "linked")
            } else if propagation == DeletePropagation::On {
                (None, "gone")
            } else {
                (Some(ce), "detached")
            }
        }
        _ => {
            let c_min = if let Perturb::Edit(_, m) = c { *m } else { 0 };
            let g_min = if let Perturb::Edit(_, m) = g { *m } else { 0 };
            let crm_wins = match policy {
                // The test resolves queued conflicts by choosing the CRM.
                ConflictPolicy::CrmWins | ConflictPolicy::Ask => true,
                ConflictPolicy::GraphWins => false,
                _ => c_min >= g_min,
            };
            let mut out = FieldMap::new();
            let keys: BTreeSet<&String> = base
                .fields()
                .keys()
                .chain(ce.fields().keys())
                .chain(ge.fields().keys())
                .collect();
            for k in keys {
                let (b, cv, gv) = (base.fields().get(k), ce.fields().get(k), ge.fields().get(k));
                let v = if cv == b {
                    gv
                } else if gv == b || crm_wins {
                    cv
                } else {
                    gv
                };
                if let Some(v) = v {
                    out.insert(k.clone(), v.clone());
                }
            }
            (Some(ContactRecord::from_fields(out).unwrap()), "linked")
        }
    }
}

/// Resolves every link in conflict state with "CRM" for every field; true if any was resolved.
fn resolve_all(world: &mut World) -> bool {
    let mut choices = FieldChoices::new();
    for f in FIELDS.iter().chain(["emailAddresses"].iter()) {
        choices.insert((*f).to_owned(), Side::Crm);
    }
    let pending: Vec<Link<ContactRecord>> = world
        .links
        .values()
        .filter(|l| l.state == LinkState::Conflict)
        .cloned()
        .collect();
    for l in &pending {
        let observe = |svc: &Service, id: &Option<String>| {
            let id = id.clone().expect("conflict links have both ids");
            svc.observations()
                .into_iter()
                .find_map(|o| match o {
                    Observation::Present(p) if p.id == id => Some(p),
                    _ => None,
                })
                .expect("both sides present while in conflict")
        };
        let (c, g) = (
            observe(&world.crm, &l.crm_id),
            observe(&world.graph, &l.graph_id),
        );
        let op = resolve_conflict(&l.base, &c, &g, &choices).expect("every field has a choice");
        world.apply(&Action {
            label: l.base.label(),
            link: Some(l.id),
            crm_id: l.crm_id.clone(),
            graph_id: l.graph_id.clone(),
            crm_version: Some(c.version.clone()),
            graph_version: Some(g.version.clone()),
            op,
            reason: Reason::ChangedOnBoth,
        });
    }
    !pending.is_empty()
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let mut world = World {
        crm: Service::new("c"),
        graph: Service::new("g"),
        links: BTreeMap::new(),
        next_link: 100,
    };
    let bases: Vec<ContactRecord> = s
        .base
        .iter()
        .enumerate()
        .map(|(i, f)| make(f, Some(&format!("b{i}@example.com"))))
        .collect();
    for (i, r) in bases.iter().enumerate() {
        let (cid, gid) = (format!("c{i}"), format!("g{i}"));
        for (svc, id, stamp) in [
            (&mut world.crm, &cid, None),
            (&mut world.graph, &gid, Some(cid.clone())),
        ] {
            svc.items.insert(
                id.clone(),
                Item {
                    record: r.clone(),
                    version: 1,
                    modified: 0,
                    stamp,
                    excluded: false,
                },
            );
        }
        world.links.insert(
            i as u64,
            Link {
                id: i as u64,
                crm_id: Some(cid),
                graph_id: Some(gid),
                crm_version: Some("1".into()),
                graph_version: Some("1".into()),
                base: r.clone(),
                state: LinkState::Active,
            },
        );
    }
    for (i, (c, g)) in s.crm.iter().zip(&s.graph).enumerate() {
        world.crm.user_edit(&format!("c{i}"), c);
        world.graph.user_edit(&format!("g{i}"), g);
    }
    for (k, n) in s.new_crm.iter().enumerate() {
        let id = format!("cn{k}");
        world.crm.items.insert(
            id,
            Item {
                record: make(&n.fields, n.email.map(|e| NEW_EMAILS[e])),
                version: 1,
                modified: 2,
                stamp: None,
                excluded: n.excluded,
            },
        );
    }
    for (k, n) in s.new_graph.iter().enumerate() {
        world.graph.items.insert(
            format!("gn{k}"),
            Item {
                record: make(&n.fields, n.email.map(|e| NEW_EMAILS[e])),
                version: 1,
                modified: 2,
                stamp: None,
                excluded: false,
            },
        );
    }

    let settings = PlanSettings {
        conflict_policy: s.policy,
        delete_propagation: s.propagation,
        deletes_confirmed: true,
        ..PlanSettings::default()
    };
    let mut seed = s.shuffle_seed | 1;
    let mut rounds = 0;
    let mut resolutions = 0;
    let mut lag = s.lag_seed.map(|l| l | 1);
    let final_plan = loop {
        let lagging = rounds < 2 && lag.is_some();
        let p = match lag.as_mut().filter(|_| lagging) {
            Some(l) => plan(&world.lagged_input(settings, l)),
            None => plan(&world.input(settings)),
        };
        prop_assert!(
            p.executable(),
            "plan paused although deletes are confirmed:\n{p}"
        );
        prop_assert!(
            lagging || p.absences.is_empty(),
            "absences with complete listings and tombstones:\n{p}"
        );
        if p.is_empty() && !lagging {
            // The user answers every queued conflict (choosing the CRM), as the UI would.
            if s.policy == ConflictPolicy::Ask && resolve_all(&mut world) {
                resolutions += 1;
                prop_assert!(resolutions <= 2, "conflicts keep coming back");
                continue;
            }
            break p;
        }
        if s.policy != ConflictPolicy::Ask {
            prop_assert!(
                !p.actions
                    .iter()
                    .any(|a| matches!(a.op, Op::QueueConflict(_))),
                "conflict queued without the ask policy"
            );
        }
        rounds += 1;
        prop_assert!(rounds <= 6, "no fixpoint after 6 rounds; last plan:\n{p}");
        let mut actions = p.actions.clone();
        shuffle(&mut actions, &mut seed);
        for a in &actions {
            world.apply(a);
        }
    };

    // Idempotence: one more round writes nothing.
    let writes = (world.crm.writes, world.graph.writes);
    prop_assert!(plan(&world.input(settings)).is_empty());
    prop_assert_eq!(writes, (world.crm.writes, world.graph.writes));

    // Convergence and no duplicates.
    let mut seen_crm = BTreeSet::new();
    let mut seen_graph = BTreeSet::new();
    for l in world.links.values() {
        let cid = l.crm_id.clone().expect("every final link has a CRM id");
        prop_assert!(seen_crm.insert(cid.clone()), "CRM id {} linked twice", cid);
        let c = &world.crm.items[&cid];
        prop_assert_eq!(&c.record, &l.base);
        match l.state {
            LinkState::Active => {
                let gid = l.graph_id.clone().expect("active link without Graph id");
                prop_assert!(
                    seen_graph.insert(gid.clone()),
                    "Graph id {} linked twice",
                    gid
                );
                prop_assert_eq!(&world.graph.items[&gid].record, &l.base);
            }
            LinkState::Detached => prop_assert!(l.graph_id.is_none()),
            LinkState::Conflict => prop_assert!(false, "a conflict was left unresolved"),
        }
    }
    // Nothing silently ignored: every unlinked item is explained by a note.
    let noted: BTreeSet<(Side, String)> = final_plan
        .notes
        .iter()
        .map(|n| (n.side, n.id.clone()))
        .collect();
    for id in world.crm.items.keys() {
        prop_assert!(
            seen_crm.contains(id) || noted.contains(&(Side::Crm, id.clone())),
            "CRM {} neither linked nor explained",
            id
        );
    }
    for id in world.graph.items.keys() {
        prop_assert!(
            seen_graph.contains(id) || noted.contains(&(Side::Graph, id.clone())),
            "Graph {} neither linked nor explained",
            id
        );
    }
    // Excluded records never reach Microsoft 365.
    for (id, it) in &world.crm.items {
        if it.excluded {
            prop_assert!(!seen_crm.contains(id), "excluded {} was synced", id);
        }
    }

    // No lost edit, no delete nobody made: each base item ends exactly as computed.
    for (i, base) in bases.iter().enumerate() {
        let (want, how) = expected(base, &s.crm[i], &s.graph[i], s.policy, s.propagation);
        let key = format!("b{i}@example.com");
        let link = world
            .links
            .values()
            .find(|l| l.base.natural_key().as_deref() == Some(key.as_str()));
        match how {
            "gone" => {
                prop_assert!(
                    !world.crm.items.contains_key(&format!("c{i}")),
                    "c{} should be deleted",
                    i
                );
                prop_assert!(
                    !world.graph.items.contains_key(&format!("g{i}")),
                    "g{} should be deleted",
                    i
                );
                prop_assert!(link.is_none());
            }
            "detached" => {
                let l = world
                    .links
                    .values()
                    .find(|l| l.crm_id.as_deref() == Some(&format!("c{i}")));
                prop_assert!(
                    l.is_some_and(|l| l.state == LinkState::Detached),
                    "c{} should be detached",
                    i
                );
                prop_assert_eq!(
                    &world.crm.items[&format!("c{i}")].record,
                    want.as_ref().unwrap()
                );
            }
            _ => {
                let l = link.expect("a surviving item stays linked");
                prop_assert_eq!(l.state, LinkState::Active);
                prop_assert_eq!(Some(&l.base), want.as_ref(), "item {} merged wrongly", i);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn planner_terminates_and_converges(s in scenario()) {
        run(&s)?;
    }

    /// The plan does not depend on the order observations arrive in.
    #[test]
    fn planner_ignores_observation_order(s in scenario(), seed in any::<u64>()) {
        let mut world_inputs = Vec::new();
        for rev in [false, true] {
            let mut crm = Service::new("c");
            let mut graph = Service::new("g");
            for (k, n) in s.new_crm.iter().enumerate() {
                crm.items.insert(format!("cn{k}"), Item { record: make(&n.fields, n.email.map(|e| NEW_EMAILS[e])), version: 1, modified: 2, stamp: None, excluded: n.excluded });
            }
            for (k, n) in s.new_graph.iter().enumerate() {
                graph.items.insert(format!("gn{k}"), Item { record: make(&n.fields, n.email.map(|e| NEW_EMAILS[e])), version: 1, modified: 2, stamp: None, excluded: false });
            }
            let mut c = crm.observations();
            let mut g = graph.observations();
            if rev {
                let mut sd = seed | 1;
                shuffle(&mut c, &mut sd);
                shuffle(&mut g, &mut sd);
            }
            world_inputs.push(PlanInput { links: vec![], crm: c, graph: g, crm_complete: true, graph_complete: true, settings: PlanSettings::default() });
        }
        prop_assert_eq!(plan(&world_inputs[0]), plan(&world_inputs[1]));
    }
}

/// `n` contacts linked and in agreement on both sides.
fn agreed_world(n: usize) -> World {
    let mut world = World {
        crm: Service::new("c"),
        graph: Service::new("g"),
        links: BTreeMap::new(),
        next_link: 100,
    };
    for i in 0..n {
        let r = make(&[(0, 1 + i % 3)], Some(&format!("b{i}@example.com")));
        let (cid, gid) = (format!("c{i}"), format!("g{i}"));
        for (svc, id) in [(&mut world.crm, &cid), (&mut world.graph, &gid)] {
            svc.items.insert(
                id.clone(),
                Item {
                    record: r.clone(),
                    version: 1,
                    modified: 0,
                    stamp: None,
                    excluded: false,
                },
            );
        }
        world.links.insert(
            i as u64,
            Link {
                id: i as u64,
                crm_id: Some(cid),
                graph_id: Some(gid),
                crm_version: Some("1".into()),
                graph_version: Some("1".into()),
                base: r,
                state: LinkState::Active,
            },
        );
    }
    world
}

fn is_destructive(op: &Op<ContactRecord>) -> bool {
    matches!(
        op,
        Op::DeleteInCrm { .. } | Op::DeleteInGraph { .. } | Op::Detach { .. } | Op::DropLink
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A side that is wiped (every linked item reported deleted, or a complete listing that
    /// comes back empty) pauses the plan instead of propagating, whatever the policies.
    #[test]
    fn wiped_side_pauses(
        n in 3usize..12,
        wipe_crm in any::<bool>(),
        by_tombstones in any::<bool>(),
        propagation in prop_oneof![Just(DeletePropagation::Off), Just(DeletePropagation::On)],
    ) {
        let mut world = agreed_world(n);
        let svc = if wipe_crm { &mut world.crm } else { &mut world.graph };
        let ids: Vec<String> = svc.items.keys().cloned().collect();
        for id in ids {
            svc.items.remove(&id);
            if by_tombstones {
                svc.tombstones.insert(id);
            }
        }
        let settings = PlanSettings { delete_propagation: propagation, ..PlanSettings::default() };
        let input = world.input(settings);
        let p = plan(&input);
        let side = if wipe_crm { Side::Crm } else { Side::Graph };
        prop_assert_eq!(p.pause.clone(), Some(Pause::SideEmpty { side, linked: n }));
        prop_assert!(!p.executable());
        if !by_tombstones {
            // Missing from a listing is never a delete, only an absence to confirm.
            prop_assert!(!p.actions.iter().any(|a| is_destructive(&a.op)));
            prop_assert_eq!(p.absences.len(), n);
        }
    }

    /// A partial feed (some items missing, no tombstones) never produces a delete, an unlink
    /// or a dropped link; with a complete listing the missing items are reported as absences.
    #[test]
    fn missing_items_are_never_deleted(
        n in 1usize..12,
        crm_keep in prop::collection::vec(any::<bool>(), 12),
        graph_keep in prop::collection::vec(any::<bool>(), 12),
        complete in any::<bool>(),
    ) {
        let mut world = agreed_world(n);
        for i in 0..n {
            if !crm_keep[i] {
                world.crm.items.remove(&format!("c{i}"));
            }
            if !graph_keep[i] {
                world.graph.items.remove(&format!("g{i}"));
            }
        }
        let mut input = world.input(PlanSettings::default());
        input.crm_complete = complete;
        input.graph_complete = complete;
        let p = plan(&input);
        prop_assert!(!p.actions.iter().any(|a| is_destructive(&a.op)), "{}", p);
        let missing = (0..n).filter(|&i| !crm_keep[i]).count() + (0..n).filter(|&i| !graph_keep[i]).count();
        prop_assert_eq!(p.absences.len(), if complete { missing } else { 0 });
    }
}
