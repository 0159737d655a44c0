//! The engine worker's [`RoundRunner`] for the Contacts module.

use std::sync::atomic::AtomicBool;

use crmsync_engine::{ModuleKind, RoundOptions, RoundRunner, RoundSummary, Store};

use crate::{run_contacts_round, GraphContacts, SystemClock, ZohoContacts};

/// Runs Contacts rounds for [`crmsync_engine::Worker`] (which calls it on a blocking thread,
/// where the adapters may block on their runtime). Other modules are not connected yet and
/// are reported as failed rounds instead of being skipped silently.
pub struct ContactsRunner {
    pub store: Store,
    pub crm: ZohoContacts,
    pub graph: GraphContacts,
    pub options: RoundOptions,
}

impl ContactsRunner {
    #[must_use]
    pub fn new(store: Store, crm: ZohoContacts, graph: GraphContacts) -> Self {
        Self {
            store,
            crm,
            graph,
            options: RoundOptions::default(),
        }
    }
}

impl RoundRunner for ContactsRunner {
    fn enabled_modules(&mut self) -> Vec<ModuleKind> {
        self.store
            .modules()
            .map(|ms| {
                ms.into_iter()
                    .filter(|m| m.enabled)
                    .map(|m| m.module)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn run(&mut self, module: ModuleKind, cancel: &AtomicBool) -> RoundSummary {
        if module != ModuleKind::Contacts {
            return RoundSummary::Failed {
                error: format!("the {} module is not connected yet", module.as_str()),
            };
        }
        let result = run_contacts_round(
            &mut self.store,
            &mut self.crm,
            &mut self.graph,
            &SystemClock,
            self.options,
            cancel,
        );
        RoundSummary::of(&result)
    }
}
