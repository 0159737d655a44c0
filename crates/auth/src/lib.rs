//! Sign-in for CRM Sync: OAuth 2.0 authorization code + PKCE (S256) with the
//! redirect on a loopback listener, token refresh with rotation, and tokens
//! kept only in the OS keychain.
//!
//! * [`microsoft`]: Microsoft identity platform (tenant, scopes, `login_hint`,
//!   `prompt=none` first when an account hint is known).
//! * [`zoho`]: Zoho accounts (data centre from the redirect's
//!   `accounts-server`, `api_domain` from the token response, `access_type=offline`).
//! * [`Session`]: access-token cache, refresh with rotated refresh tokens stored
//!   before they are used again, "reconnect needed" state on a dead refresh token.
//! * [`KeyringStore`]: the OS keychain; [`SessionOnlyStore`] is the explicit
//!   opt-in where no keychain exists (memory only, nothing written to disk).
//!
//! No Tauri here: the system browser is opened through a [`BrowserOpener`]
//! the caller passes (the desktop shell passes tauri-plugin-opener).

mod error;
pub mod loopback;
pub mod microsoft;
mod session;
mod store;
mod tokens;
pub mod zoho;

pub use error::AuthError;
pub use loopback::{BrowserOpener, CancelHandle, SignInOptions};
pub use session::{Session, SessionState};
pub use store::{KeyringStore, SessionOnlyStore, TokenStore, KEYRING_SERVICE};
pub use tokens::{Provider, Secret, TokenSet};
