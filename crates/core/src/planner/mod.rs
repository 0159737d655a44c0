//! The planner: a pure function from (links with their last agreed base, CRM observations,
//! Graph observations, settings) to a [`Plan`].
//!
//! It implements the decision table of `reference/sync-and-style.md` §2.3 per link, matches
//! unlinked records (stamp, then natural key; never a second copy), merges field by field when
//! both sides changed, applies the conflict and delete policies, and trips the safety guards.
//! "Changed" always means: the hash of the canonical projection differs from the base.

mod display;
mod health;
mod merge;
mod outcome;
mod types;

use std::collections::{BTreeMap, BTreeSet};

pub use health::{Health, RecordHealth};
pub use merge::{merge, resolve_conflict, MergeOutcome, ResolveError};
pub use outcome::{LinkChange, LinkRow, MissingCreatedId, WriteOutcome};
pub use types::*;

use crate::policy::{on_graph_delete, ContainerStatus, Exclusion, GraphDeleteEffect};
use crate::{CanonicalRecord, Side};

/// Current state of one side of a link.
enum Now<'a, R> {
    Present(&'a Observed<R>),
    Deleted,
    Unobserved,
}

impl<R> Clone for Now<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Now<'_, R> {}

impl<'a, R: CanonicalRecord> Now<'a, R> {
    fn changed(&self, base: &R) -> bool {
        matches!(self, Self::Present(o) if o.record.fields() != base.fields())
    }
    fn record_or(&self, base: &'a R) -> &'a R {
        match self {
            Self::Present(o) => &o.record,
            _ => base,
        }
    }
    fn version_or(&self, stored: Option<&String>) -> Option<String> {
        match self {
            Self::Present(o) => Some(o.version.clone()),
            _ => stored.cloned(),
        }
    }
}

struct Ctx<'a, R> {
    crm: BTreeMap<&'a str, &'a Observation<R>>,
    graph: BTreeMap<&'a str, &'a Observation<R>>,
    settings: &'a PlanSettings,
    actions: Vec<Action<R>>,
    notes: Vec<Note>,
}

impl<'a, R: CanonicalRecord> Ctx<'a, R> {
    fn now(map: &BTreeMap<&'a str, &'a Observation<R>>, id: Option<&String>) -> Now<'a, R> {
        match id.and_then(|id| map.get(id.as_str())) {
            Some(Observation::Present(o)) => Now::Present(o),
            Some(Observation::Deleted { .. }) => Now::Deleted,
            None => Now::Unobserved,
        }
    }

    fn push(
        &mut self,
        link: &Link<R>,
        graph_id: Option<&String>,
        c: Now<'_, R>,
        g: Now<'_, R>,
        op: Op<R>,
        reason: Reason,
    ) {
        let label = op_label(&op).unwrap_or_else(|| c.record_or(g.record_or(&link.base)).label());
        self.actions.push(Action {
            label,
            link: Some(link.id),
            crm_id: link.crm_id.clone(),
            graph_id: graph_id.cloned(),
            crm_version: c.version_or(link.crm_version.as_ref()),
            graph_version: g.version_or(link.graph_version.as_ref()),
            op,
            reason,
        });
    }

    fn note(&mut self, side: Side, id: &str, kind: NoteKind) {
        self.notes.push(Note {
            side,
            id: id.to_owned(),
            kind,
        });
    }
}

/// Plans one sync round. Pure and deterministic: the same input gives the same plan.
#[must_use]
pub fn plan<R: CanonicalRecord>(input: &PlanInput<R>) -> Plan<R> {
    let settings = &input.settings;
    if settings.container == ContainerStatus::Deleted {
        return Plan {
            actions: Vec::new(),
            notes: Vec::new(),
            pause: None,
            disable: Some(DisableReason::ContainerDeleted),
            absences: Vec::new(),
        };
    }
    let mut ctx = Ctx {
        crm: input.crm.iter().map(|o| (o.id(), o)).collect(),
        graph: input.graph.iter().map(|o| (o.id(), o)).collect(),
        settings,
        actions: Vec::new(),
        notes: Vec::new(),
    };
    // The latest observation per id (a feed may repeat an id; the later entry wins).
    let crm_present: Vec<&Observed<R>> = ctx.crm.values().filter_map(|o| present(o)).collect();
    let graph_present: Vec<&Observed<R>> = ctx.graph.values().filter_map(|o| present(o)).collect();
    let mut links: Vec<&Link<R>> = input.links.iter().collect();
    links.sort_by_key(|l| l.id);

    let link_by_crm: BTreeMap<&str, &Link<R>> = links
        .iter()
        .filter_map(|l| l.crm_id.as_deref().map(|id| (id, *l)))
        .collect();
    let linked_crm: BTreeSet<&str> = link_by_crm.keys().copied().collect();
    let linked_graph: BTreeSet<&str> = links.iter().filter_map(|l| l.graph_id.as_deref()).collect();

    // Unlinked present Graph items, by stamp (a stamp is the CRM id of the record it copies).
    let mut stamped: BTreeMap<&str, Vec<&Observed<R>>> = BTreeMap::new();
    for &obs in &graph_present {
        if linked_graph.contains(obs.id.as_str()) {
            continue;
        }
        if let Some(s) = obs.stamp.as_deref() {
            stamped.entry(s).or_default().push(obs);
        }
    }
    let mut claimed_graph: BTreeSet<String> = BTreeSet::new();

    // Links that lack their Graph copy re-attach a stamped copy (crash after create, expired
    // delta token, item restored by the user) instead of creating another one.
    let mut attached: BTreeMap<LinkId, String> = BTreeMap::new();
    for link in &links {
        if let (Some(crm_id), None) = (&link.crm_id, &link.graph_id) {
            if let Some(first) = stamped.get(crm_id.as_str()).and_then(|v| v.first()) {
                attached.insert(link.id, first.id.clone());
                claimed_graph.insert(first.id.clone());
            }
        }
    }

    // A detached CRM record (its Microsoft copy was deleted, propagation off) whose contact the
    // user re-created by hand in Microsoft 365 is re-linked by natural key rather than copied
    // into the CRM a second time, when the key is unambiguous everywhere.
    let mut unlinked_graph_by_key: BTreeMap<String, Vec<&Observed<R>>> = BTreeMap::new();
    for &obs in &graph_present {
        if !linked_graph.contains(obs.id.as_str())
            && !claimed_graph.contains(&obs.id)
            && obs.stamp.is_none()
        {
            if let Some(k) = obs.record.natural_key() {
                unlinked_graph_by_key.entry(k).or_default().push(obs);
            }
        }
    }
    let mut crm_keys: BTreeMap<String, usize> = BTreeMap::new();
    for &obs in &crm_present {
        if obs.exclusion.is_none() || linked_crm.contains(obs.id.as_str()) {
            if let Some(k) = obs.record.natural_key() {
                *crm_keys.entry(k).or_default() += 1;
            }
        }
    }
    for link in &links {
        if link.state != LinkState::Detached || attached.contains_key(&link.id) {
            continue;
        }
        let crm_now = link.crm_id.as_deref().and_then(|id| ctx.crm.get(id));
        let Some(Observation::Present(c)) = crm_now else {
            continue;
        };
        let Some(key) = c.record.natural_key() else {
            continue;
        };
        if let Some([g]) = unlinked_graph_by_key.get(&key).map(Vec::as_slice) {
            if crm_keys.get(&key) == Some(&1) {
                attached.insert(link.id, g.id.clone());
                claimed_graph.insert(g.id.clone());
            }
        }
    }

    for link in &links {
        decide_link(&mut ctx, link, attached.get(&link.id));
    }

    // Unlinked records.
    let mut crm_candidates: BTreeMap<&str, &Observed<R>> = BTreeMap::new();
    for &obs in &crm_present {
        if linked_crm.contains(obs.id.as_str()) || crm_candidates.contains_key(obs.id.as_str()) {
            continue;
        }
        match obs.exclusion {
            Some(exclusion) => ctx.note(Side::Crm, &obs.id, NoteKind::Excluded { exclusion }),
            None => {
                crm_candidates.insert(&obs.id, obs);
            }
        }
    }
    let mut graph_candidates: BTreeMap<&str, &Observed<R>> = BTreeMap::new();
    for &obs in &graph_present {
        if linked_graph.contains(obs.id.as_str()) || claimed_graph.contains(&obs.id) {
            continue;
        }
        graph_candidates.insert(&obs.id, obs);
    }

    let mut pairs: Vec<(&Observed<R>, &Observed<R>, Reason)> = Vec::new();
    // 1. By stamp.
    let graph_ids: Vec<&str> = graph_candidates.keys().copied().collect();
    for gid in graph_ids {
        let g = graph_candidates[gid];
        let Some(stamp) = g.stamp.as_deref() else {
            continue;
        };
        if let Some(c) = crm_candidates.remove(stamp) {
            graph_candidates.remove(gid);
            pairs.push((c, g, Reason::MatchedByStamp));
            continue;
        }
        graph_candidates.remove(gid);
        if let Some(link) = link_by_crm.get(stamp) {
            // Another copy of a linked record: ours, left by an interrupted create.
            if g.record.fields() == link.base.fields() {
                ctx.actions.push(Action {
                    label: g.record.label(),
                    link: None,
                    crm_id: None,
                    graph_id: Some(g.id.clone()),
                    crm_version: None,
                    graph_version: Some(g.version.clone()),
                    op: Op::DeleteInGraph {
                        expected_version: Some(g.version.clone()),
                    },
                    reason: Reason::DuplicateCopy,
                });
            } else {
                ctx.note(
                    Side::Graph,
                    &g.id,
                    NoteKind::DuplicateStamp {
                        crm_id: stamp.to_owned(),
                    },
                );
            }
        } else if matches!(ctx.crm.get(stamp), Some(Observation::Deleted { .. })) {
            // Our copy of a record deleted in the CRM: a CRM delete always removes it.
            ctx.actions.push(Action {
                label: g.record.label(),
                link: None,
                crm_id: Some(stamp.to_owned()),
                graph_id: Some(g.id.clone()),
                crm_version: None,
                graph_version: Some(g.version.clone()),
                op: Op::DeleteInGraph {
                    expected_version: Some(g.version.clone()),
                },
                reason: Reason::CopyOfDeletedRecord,
            });
        } else {
            ctx.note(
                Side::Graph,
                &g.id,
                NoteKind::StampTargetUnavailable {
                    crm_id: stamp.to_owned(),
                },
            );
        }
    }
    // CRM records stamped with a Graph id.
    let crm_ids: Vec<&str> = crm_candidates.keys().copied().collect();
    for cid in crm_ids {
        let c = crm_candidates[cid];
        if let Some(g) = c.stamp.as_deref().and_then(|s| graph_candidates.remove(s)) {
            crm_candidates.remove(cid);
            pairs.push((c, g, Reason::MatchedByStamp));
        }
    }
    // 2. By natural key, only when unambiguous on both sides.
    let mut crm_by_key: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (id, c) in &crm_candidates {
        if let Some(k) = c.record.natural_key() {
            crm_by_key.entry(k).or_default().push(id);
        }
    }
    let mut graph_by_key: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (id, g) in &graph_candidates {
        if let Some(k) = g.record.natural_key() {
            graph_by_key.entry(k).or_default().push(id);
        }
    }
    for (key, cids) in &crm_by_key {
        let Some(gids) = graph_by_key.get(key) else {
            continue;
        };
        if cids.len() == 1 && gids.len() == 1 {
            let c = crm_candidates.remove(cids[0]);
            let g = graph_candidates.remove(gids[0]);
            if let (Some(c), Some(g)) = (c, g) {
                pairs.push((c, g, Reason::MatchedByNaturalKey));
            }
        } else {
            for id in cids {
                crm_candidates.remove(id);
                ctx.note(
                    Side::Crm,
                    id,
                    NoteKind::AmbiguousNaturalKey { key: key.clone() },
                );
            }
            for id in gids {
                graph_candidates.remove(id);
                ctx.note(
                    Side::Graph,
                    id,
                    NoteKind::AmbiguousNaturalKey { key: key.clone() },
                );
            }
        }
    }
    for (c, g, reason) in pairs {
        decide_pair(&mut ctx, c, g, reason);
    }
    // 3. The rest is new.
    for c in crm_candidates.values() {
        ctx.actions.push(Action {
            label: c.record.label(),
            link: None,
            crm_id: Some(c.id.clone()),
            graph_id: None,
            crm_version: Some(c.version.clone()),
            graph_version: None,
            op: Op::CreateInGraph {
                record: c.record.clone(),
            },
            reason: Reason::NewInCrm,
        });
    }
    for g in graph_candidates.values() {
        ctx.actions.push(Action {
            label: g.record.label(),
            link: None,
            crm_id: None,
            graph_id: Some(g.id.clone()),
            crm_version: None,
            graph_version: Some(g.version.clone()),
            op: Op::CreateInCrm {
                record: g.record.clone(),
            },
            reason: Reason::NewInGraph,
        });
    }

    let absences = absences(input, &links);
    let pause = if settings.deletes_confirmed {
        None
    } else {
        guard(input, &links, &ctx.actions)
    };
    let Ctx {
        mut actions,
        mut notes,
        ..
    } = ctx;
    actions.sort_by(|a, b| {
        (a.link.is_none(), a.link, &a.crm_id, &a.graph_id).cmp(&(
            b.link.is_none(),
            b.link,
            &b.crm_id,
            &b.graph_id,
        ))
    });
    notes.sort_by(|a, b| (a.side, &a.id).cmp(&(b.side, &b.id)));
    Plan {
        actions,
        notes,
        pause,
        disable: None,
        absences,
    }
}

/// The label of the record an operation carries, if it carries one.
fn op_label<R: CanonicalRecord>(op: &Op<R>) -> Option<String> {
    match op {
        Op::CreateInGraph { record } | Op::CreateInCrm { record } => Some(record.label()),
        Op::Update { base, .. } | Op::SaveLink { base } | Op::Detach { base } => Some(base.label()),
        Op::QueueConflict(c) => Some(c.crm.label()),
        Op::DeleteInCrm { .. } | Op::DeleteInGraph { .. } | Op::DropLink => None,
    }
}

fn present<R>(o: &Observation<R>) -> Option<&Observed<R>> {
    match o {
        Observation::Present(p) => Some(p),
        Observation::Deleted { .. } => None,
    }
}

fn decide_link<R: CanonicalRecord>(
    ctx: &mut Ctx<'_, R>,
    link: &Link<R>,
    attached: Option<&String>,
) {
    let graph_id = link.graph_id.as_ref().or(attached);
    let c = Ctx::now(&ctx.crm, link.crm_id.as_ref());
    let g = Ctx::now(&ctx.graph, graph_id);
    let base = &link.base;
    // A linked CRM record now owned by someone else leaves the user's Microsoft 365.
    let c_gone_owner = matches!(c, Now::Present(o) if o.exclusion == Some(Exclusion::NotOwner));

    match (&link.crm_id, graph_id) {
        (None, None) => ctx.push(link, None, c, g, Op::DropLink, Reason::DeletedOnBoth),
        (Some(_), None) => match c {
            Now::Deleted => ctx.push(link, None, c, g, Op::DropLink, Reason::DeletedInCrm),
            _ if c_gone_owner => ctx.push(link, None, c, g, Op::DropLink, Reason::OwnershipLost),
            _ if link.state == LinkState::Detached => {
                if c.changed(base) {
                    let record = c.record_or(base).clone();
                    ctx.push(
                        link,
                        None,
                        c,
                        g,
                        Op::CreateInGraph { record },
                        Reason::ChangedAfterDetach,
                    );
                } else if let Some(id) = &link.crm_id {
                    ctx.note(Side::Crm, id, NoteKind::Detached);
                }
            }
            _ => {
                let record = c.record_or(base).clone();
                ctx.push(
                    link,
                    None,
                    c,
                    g,
                    Op::CreateInGraph { record },
                    Reason::MissingCopy,
                );
            }
        },
        (None, Some(gid)) => match g {
            Now::Deleted => ctx.push(link, Some(gid), c, g, Op::DropLink, Reason::DeletedInGraph),
            _ => {
                let record = g.record_or(base).clone();
                ctx.push(
                    link,
                    Some(gid),
                    c,
                    g,
                    Op::CreateInCrm { record },
                    Reason::MissingCopy,
                );
            }
        },
        (Some(_), Some(gid)) => decide_linked_pair(ctx, link, gid, c, g, c_gone_owner),
    }
}

fn decide_linked_pair<R: CanonicalRecord>(
    ctx: &mut Ctx<'_, R>,
    link: &Link<R>,
    gid: &String,
    c: Now<'_, R>,
    g: Now<'_, R>,
    c_gone_owner: bool,
) {
    let base = &link.base;
    let gv = g.version_or(link.graph_version.as_ref());
    let cv = c.version_or(link.crm_version.as_ref());
    if c_gone_owner {
        match g {
            Now::Deleted => ctx.push(link, Some(gid), c, g, Op::DropLink, Reason::OwnershipLost),
            _ => ctx.push(
                link,
                Some(gid),
                c,
                g,
                Op::DeleteInGraph {
                    expected_version: gv,
                },
                Reason::OwnershipLost,
            ),
        }
        return;
    }
    match (c, g) {
        (Now::Deleted, Now::Deleted) => {
            ctx.push(link, Some(gid), c, g, Op::DropLink, Reason::DeletedOnBoth)
        }
        (Now::Deleted, _) => {
            if g.changed(base) {
                let record = g.record_or(base).clone();
                ctx.push(
                    link,
                    Some(gid),
                    c,
                    g,
                    Op::CreateInCrm { record },
                    Reason::ModificationBeatsDeletion,
                );
            } else {
                // A CRM delete always removes the Microsoft copy.
                ctx.push(
                    link,
                    Some(gid),
                    c,
                    g,
                    Op::DeleteInGraph {
                        expected_version: gv,
                    },
                    Reason::DeletedInCrm,
                );
            }
        }
        (_, Now::Deleted) => {
            if c.changed(base) {
                let record = c.record_or(base).clone();
                ctx.push(
                    link,
                    None,
                    c,
                    g,
                    Op::CreateInGraph { record },
                    Reason::ModificationBeatsDeletion,
                );
            } else {
                match on_graph_delete(ctx.settings.delete_propagation) {
                    GraphDeleteEffect::DeleteCrm => {
                        ctx.push(
                            link,
                            Some(gid),
                            c,
                            g,
                            Op::DeleteInCrm {
                                expected_version: cv,
                            },
                            Reason::DeletedInGraph,
                        );
                    }
                    GraphDeleteEffect::Detach => {
                        let base = c.record_or(base).clone();
                        ctx.push(
                            link,
                            Some(gid),
                            c,
                            g,
                            Op::Detach { base },
                            Reason::DeletedInGraph,
                        );
                    }
                }
            }
        }
        _ => {
            let c_rec = c.record_or(base);
            let g_rec = g.record_or(base);
            let c_changed = c.changed(base);
            let g_changed = g.changed(base);
            if link.state == LinkState::Conflict {
                if c_rec.fields() == g_rec.fields() {
                    ctx.push(
                        link,
                        Some(gid),
                        c,
                        g,
                        Op::SaveLink {
                            base: c_rec.clone(),
                        },
                        Reason::ChangedOnBoth,
                    );
                } else if let Some(id) = &link.crm_id {
                    ctx.note(Side::Crm, id, NoteKind::ConflictPending);
                }
                return;
            }
            match (c_changed, g_changed) {
                (false, false) => {
                    let bumped = matches!(c, Now::Present(o) if link.crm_version.as_ref() != Some(&o.version))
                        || matches!(g, Now::Present(o) if link.graph_version.as_ref() != Some(&o.version))
                        || link.graph_id.is_none();
                    if bumped {
                        ctx.push(
                            link,
                            Some(gid),
                            c,
                            g,
                            Op::SaveLink { base: base.clone() },
                            Reason::VersionsOnly,
                        );
                    }
                }
                (true, false) => {
                    let op = Op::Update {
                        crm: None,
                        graph: Some(Write::new(gv, g_rec, c_rec.clone())),
                        base: c_rec.clone(),
                    };
                    ctx.push(link, Some(gid), c, g, op, Reason::ChangedInCrm);
                }
                (false, true) => {
                    let op = Op::Update {
                        crm: Some(Write::new(cv, c_rec, g_rec.clone())),
                        graph: None,
                        base: g_rec.clone(),
                    };
                    ctx.push(link, Some(gid), c, g, op, Reason::ChangedInGraph);
                }
                (true, true) => {
                    if let (Now::Present(co), Now::Present(go)) = (c, g) {
                        let op = merged_op(ctx, base, co, go, cv, gv);
                        if let Some(op) = op {
                            ctx.push(link, Some(gid), c, g, op, Reason::ChangedOnBoth);
                        }
                    }
                }
            }
        }
    }
}

/// The operation for two present records with a base: save, update one/both sides, or queue.
fn merged_op<R: CanonicalRecord>(
    ctx: &mut Ctx<'_, R>,
    base: &R,
    c: &Observed<R>,
    g: &Observed<R>,
    cv: Option<String>,
    gv: Option<String>,
) -> Option<Op<R>> {
    if c.record.fields() == g.record.fields() {
        return Some(Op::SaveLink {
            base: c.record.clone(),
        });
    }
    match merge(base, c, g, ctx.settings.conflict_policy) {
        Ok(MergeOutcome::Merged(m)) => {
            let crm =
                (m.fields() != c.record.fields()).then(|| Write::new(cv, &c.record, m.clone()));
            let graph =
                (m.fields() != g.record.fields()).then(|| Write::new(gv, &g.record, m.clone()));
            Some(Op::Update {
                crm,
                graph,
                base: m,
            })
        }
        Ok(MergeOutcome::Conflict(conflict)) => Some(Op::QueueConflict(conflict)),
        Err(e) => {
            ctx.note(
                Side::Crm,
                &c.id,
                NoteKind::MergeFailed {
                    error: e.to_string(),
                },
            );
            None
        }
    }
}

fn decide_pair<R: CanonicalRecord>(
    ctx: &mut Ctx<'_, R>,
    c: &Observed<R>,
    g: &Observed<R>,
    reason: Reason,
) {
    let empty = R::empty();
    let op = merged_op(
        ctx,
        &empty,
        c,
        g,
        Some(c.version.clone()),
        Some(g.version.clone()),
    );
    if let Some(op) = op {
        ctx.actions.push(Action {
            label: op_label(&op).unwrap_or_else(|| c.record.label()),
            link: None,
            crm_id: Some(c.id.clone()),
            graph_id: Some(g.id.clone()),
            crm_version: Some(c.version.clone()),
            graph_version: Some(g.version.clone()),
            op,
            reason,
        });
    }
}

fn absences<R>(input: &PlanInput<R>, links: &[&Link<R>]) -> Vec<Absence> {
    let mut out = Vec::new();
    for (side, complete, obs) in [
        (Side::Crm, input.crm_complete, &input.crm),
        (Side::Graph, input.graph_complete, &input.graph),
    ] {
        if !complete {
            continue;
        }
        let ids: BTreeSet<&str> = obs.iter().map(Observation::id).collect();
        for link in links {
            let id = match side {
                Side::Crm => &link.crm_id,
                Side::Graph => &link.graph_id,
            };
            if let Some(id) = id {
                if !ids.contains(id.as_str()) {
                    out.push(Absence {
                        side,
                        id: id.clone(),
                        link: link.id,
                    });
                }
            }
        }
    }
    out
}

fn guard<R>(input: &PlanInput<R>, links: &[&Link<R>], actions: &[Action<R>]) -> Option<Pause> {
    let g = &input.settings.guards;
    for (side, complete, obs) in [
        (Side::Crm, input.crm_complete, &input.crm),
        (Side::Graph, input.graph_complete, &input.graph),
    ] {
        let index: BTreeMap<&str, &Observation<R>> = obs.iter().map(|o| (o.id(), o)).collect();
        let linked: Vec<&str> = links
            .iter()
            .filter_map(|l| match side {
                Side::Crm => l.crm_id.as_deref(),
                Side::Graph => l.graph_id.as_deref(),
            })
            .collect();
        if linked.is_empty() || linked.len() < g.empty_side_min_links {
            continue;
        }
        let present_linked = linked
            .iter()
            .filter(|id| matches!(index.get(*id), Some(Observation::Present(_))))
            .count();
        let deleted_linked = linked
            .iter()
            .filter(|id| matches!(index.get(*id), Some(Observation::Deleted { .. })))
            .count();
        let listing_empty = complete && !obs.iter().any(|o| matches!(o, Observation::Present(_)));
        if present_linked == 0 && (deleted_linked == linked.len() || listing_empty) {
            return Some(Pause::SideEmpty {
                side,
                linked: linked.len(),
            });
        }
    }
    let deletes = actions
        .iter()
        .filter(|a| matches!(a.op, Op::DeleteInCrm { .. } | Op::DeleteInGraph { .. }))
        .count();
    let n = links.len();
    #[allow(clippy::cast_precision_loss)]
    let fraction_tripped = n > 0
        && deletes >= g.fraction_min_deletes
        && (deletes as f64) / (n as f64) > g.max_delete_fraction;
    if deletes > g.max_deletes || fraction_tripped {
        return Some(Pause::TooManyDeletes { deletes, links: n });
    }
    None
}

/// Prepares the kept links of a disabled module for a clean re-enable into a new, empty
/// container: Graph ids and versions are cleared (the old container is gone), so every CRM
/// record is created again in the new container, while detached records stay detached and
/// links with no CRM record are dropped. Nothing is deleted in the CRM.
#[must_use]
pub fn reset_links_for_reenable<R: CanonicalRecord>(links: Vec<Link<R>>) -> Vec<Link<R>> {
    links
        .into_iter()
        .filter(|l| l.crm_id.is_some())
        .map(|mut l| {
            l.graph_id = None;
            l.graph_version = None;
            if l.state == LinkState::Conflict {
                l.state = LinkState::Active;
            }
            l
        })
        .collect()
}

#[cfg(test)]
mod tests;
