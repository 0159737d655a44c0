//! Microsoft Graph v1.0 client for CRM Sync.
//!
//! One [`GraphClient`] per mailbox. Every call carries
//! `Prefer: IdType="ImmutableId"` and `Prefer: outlook.timezone="UTC"`, at most
//! four requests are in flight, and a sliding request budget (10,000 per
//! 10 minutes by default) keeps the client under the Outlook limits so that
//! 429s stay rare; when they come, `Retry-After` is obeyed by every task of the
//! client (no retry storm). Errors are typed per failure class ([`GraphError`]).
//!
//! The client never opens a browser and never stores tokens: it asks a
//! [`TokenProvider`] for a bearer token before each request.

mod batch;
mod client;
mod error;
pub mod models;
mod pacing;

pub use batch::{BatchItem, BatchRequest, BatchResponse};
pub use client::{
    DeltaItem, DeltaPage, DeltaRound, GraphClient, GraphConfig, Mailbox, StaticToken,
    TokenProvider, TokenProviderError, DEFAULT_STAMP_PROPERTY,
};
pub use error::{ErrorClass, GraphError};
pub use pacing::RequestBudget;
