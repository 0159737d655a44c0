//! Typed sign-in and token failures.

/// A failed sign-in, refresh or keychain operation.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The refresh token is dead (`invalid_grant` / AADSTS700082 / AADSTS70008,
    /// Zoho `invalid_code`): the user must sign in again. Not retried.
    #[error("reconnect needed: {0}")]
    ReconnectNeeded(String),
    /// The user cancelled (or the app cancelled the wait).
    #[error("sign-in cancelled")]
    Cancelled,
    /// No redirect arrived in time.
    #[error("sign-in timed out")]
    TimedOut,
    /// The authorization server answered with an error on the redirect
    /// (`access_denied`, `interaction_required`, ...).
    #[error("authorization failed: {error}: {description}")]
    Authorization { error: String, description: String },
    /// The token endpoint refused the request.
    #[error("token endpoint error: {error}: {description}")]
    TokenEndpoint { error: String, description: String },
    /// Too many token requests (Zoho: 10 per refresh token per 10 minutes).
    #[error("token requests throttled: {0}")]
    Throttled(String),
    /// Connection or protocol failure talking to the token endpoint.
    #[error("network error: {0}")]
    Network(String),
    /// The browser could not be opened.
    #[error("could not open the browser: {0}")]
    Browser(String),
    /// No OS keychain on this machine. The user can opt in to
    /// [`crate::SessionOnlyStore`] (tokens kept in memory until the app exits).
    #[error("no OS keychain is available ({0}); sign-in can be kept for this session only (opt-in), nothing is written to disk")]
    NoKeychain(String),
    /// The keychain refused an operation.
    #[error("keychain error: {0}")]
    Keychain(String),
    /// Bad configuration or an unexpected answer.
    #[error("invalid configuration or response: {0}")]
    Invalid(String),
}
