//! design.md §4: "a poll with nothing changed costs one feed request per module per side",
//! counted by the emulators (`/control/graph/counters`, `/control/zoho/counters`): once a module
//! is in sync, an idle round makes exactly one Graph request (the delta; the container is not
//! checked up front) and the two calls of Zoho's feed (the changed records since the watermark,
//! then the deleted ones), even when more records than a page share the watermark's second.

mod common;

use std::collections::BTreeMap;

use common::*;
use crmsync_connect::{ZohoContacts, ZohoEvents, ZohoTasks, CRM_WATERMARK_SETTLE};
use crmsync_engine::{RoundOptions, RoundOutcome};
use reqwest::Method;
use serde_json::{json, Value};

/// The requests counted so far: Aiko's Graph requests, and Zoho's by method and endpoint.
fn counts<C: TestModule>(env: &ModuleEnv<C>) -> (u64, BTreeMap<String, u64>) {
    let g = env.graph_ctl(Method::GET, "/counters", Value::Null);
    let z = env.zoho(Method::GET, "/counters", Value::Null);
    let by_endpoint = z["by_endpoint"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    (g[AIKO]["total"].as_u64().unwrap(), by_endpoint)
}

/// The Zoho calls made between two counts (endpoint → calls).
fn zoho_since(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    after
        .iter()
        .filter_map(|(k, n)| {
            let d = n - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// Rounds until one writes nothing and plans nothing (records the module skips on purpose,
/// such as a generated recurring event, may fail on their own).
fn settle<C: TestModule>(env: &mut ModuleEnv<C>) {
    for _ in 0..8 {
        let r = env.round(RoundOptions::default());
        assert_eq!(r.outcome, RoundOutcome::Completed, "{:?}", r.failures);
        if r.writes == 0 && r.plan.as_ref().is_some_and(|p| p.is_empty()) {
            return;
        }
    }
    panic!("no convergence");
}

/// `generated` CRM records of the module (one call: they share one `Modified_Time` second),
/// settled; then, once the CRM's clock has left that second, a round reads it a last time and
/// the next idle round costs one request per side.
fn idle_round_costs_one_feed_request_per_side<C: TestModule>(api_name: &str, generated: usize) {
    let mut env = ModuleEnv::<C>::new();
    env.zoho(
        Method::POST,
        "/generate",
        json!({"as": AIKO, "module": api_name, "count": generated}),
    );
    settle(&mut env);
    std::thread::sleep(CRM_WATERMARK_SETTLE + std::time::Duration::from_millis(200));
    // The first poll after the sync re-reads the watermark's second (and closes it).
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert_eq!(r.writes, 0);

    for poll in 0..2 {
        let (graph_before, zoho_before) = counts(&env);
        let r = env.round(RoundOptions::default());
        assert_eq!(r.outcome, RoundOutcome::Completed);
        assert!(
            r.plan.as_ref().is_some_and(|p| p.is_empty()),
            "nothing to do"
        );
        assert_eq!(r.writes, 0);
        let (graph_after, zoho_after) = counts(&env);
        assert_eq!(
            graph_after - graph_before,
            1,
            "poll {poll}: one Graph request (the delta), no container check"
        );
        assert_eq!(
            zoho_since(&zoho_before, &zoho_after),
            vec![
                (format!("GET {api_name}"), 1),
                (format!("GET {api_name}/deleted"), 1),
            ],
            "poll {poll}: the changed records since the watermark, then the deleted ones"
        );
    }
}

#[test]
fn an_idle_contacts_round_costs_one_feed_request_per_side() {
    // More than a page (200) in the watermark's second.
    idle_round_costs_one_feed_request_per_side::<ZohoContacts>("Contacts", 450);
}

#[test]
fn an_idle_events_round_costs_one_feed_request_per_side() {
    idle_round_costs_one_feed_request_per_side::<ZohoEvents>("Events", 60);
}

#[test]
fn an_idle_tasks_round_costs_one_feed_request_per_side() {
    idle_round_costs_one_feed_request_per_side::<ZohoTasks>("Tasks", 60);
}

#[test]
fn a_crm_edit_after_the_watermark_second_closed_is_still_read() {
    let mut env = Env::new();
    let ids = env.crm_create(
        AIKO,
        "ui",
        vec![
            person("Ada", "Closed", "ada@closed.example"),
            person("Bo", "Closed", "bo@closed.example"),
        ],
    );
    env.settle();
    std::thread::sleep(CRM_WATERMARK_SETTLE + std::time::Duration::from_millis(200));
    env.settle(); // closes the watermark's second
    env.crm_update(&ids[0], json!({"First_Name": "Adaline"}));
    let r = env.round(RoundOptions::default());
    assert_eq!(r.outcome, RoundOutcome::Completed);
    assert_eq!(r.writes, 1, "the edit reached Outlook");
    let given: Vec<String> = env
        .folder_items()
        .iter()
        .filter_map(|i| i["givenName"].as_str().map(str::to_owned))
        .collect();
    assert!(given.contains(&"Adaline".to_owned()), "{given:?}");
    // The edit's second is re-read until it closes: the record comes again, unchanged.
    assert_eq!(env.settle(), 0);
}
