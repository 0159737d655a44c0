//! The round hooks of both Events adapters (see [`crate::Adapter`]).

use crmsync_engine::ModuleSettings;

use super::{GraphEvents, ZohoEvents, SERIES_RULE};
use crate::modules::Adapter;

impl Adapter for ZohoEvents {
    fn prepare(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.set_first_sync_at(settings.first_sync_at);
        self.clear_failures();
        Ok(())
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.failures()
    }

    fn excluded(&self) -> Vec<(String, String)> {
        series_excluded(self.series())
    }
}

impl Adapter for GraphEvents {
    fn prepare(&mut self, _settings: &ModuleSettings) -> Result<(), String> {
        self.clear_failures();
        Ok(())
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.failures()
    }

    fn excluded(&self) -> Vec<(String, String)> {
        series_excluded(self.series())
    }
}

/// Recurring events, excluded by [`SERIES_RULE`].
fn series_excluded(ids: Vec<String>) -> Vec<(String, String)> {
    ids.into_iter()
        .map(|id| (id, SERIES_RULE.to_owned()))
        .collect()
}
