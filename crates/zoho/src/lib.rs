//! Zoho CRM v8 client for CRM Sync.
//!
//! Typed records for Contacts, Events and Tasks (custom fields kept in a field
//! map), listing with `fields` / `If-Modified-Since` / `sort_by=Modified_Time`
//! and paging past 2,000 records with `page_token`, writes in chunks of 100
//! with per-record results mapped back to the input, deleted records, COQL,
//! field metadata, users and profiles, timelines. Requests are paced within
//! the edition's concurrency and backed off exponentially on 429 (Zoho sends
//! no `Retry-After`). Errors are typed per failure class ([`ZohoError`]).

mod client;
mod error;
pub mod models;

pub use client::{
    DeletedType, ListQuery, Page, RecordResult, TokenProvider, TokenProviderError, ZohoClient,
    ZohoConfig, WRITE_CHUNK,
};
pub use error::{ErrorClass, ZohoError};
