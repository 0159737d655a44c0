//! The round hooks of both Events adapters (see [`crate::Adapter`]).

use crmsync_engine::ModuleSettings;

use super::{GraphEvents, ZohoEvents};
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
}

impl Adapter for GraphEvents {
    fn prepare(&mut self, _settings: &ModuleSettings) -> Result<(), String> {
        self.clear_failures();
        Ok(())
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.failures()
    }
}
