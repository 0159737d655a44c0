//! Where token sets live: the OS keychain (Secret Service on Linux, Keychain
//! on macOS, Credential Manager on Windows), never a plaintext file.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::error::AuthError;

/// Keychain service name of every CRM Sync entry.
pub const KEYRING_SERVICE: &str = "crmsync";

/// A secret store keyed by account (e.g. `microsoft:aiko@…`, `zoho:…`).
/// Calls may block (D-Bus round trips): the [`crate::Session`] runs them on
/// the blocking pool.
pub trait TokenStore: Send + Sync {
    fn load(&self, key: &str) -> Result<Option<String>, AuthError>;
    fn save(&self, key: &str, value: &str) -> Result<(), AuthError>;
    fn delete(&self, key: &str) -> Result<(), AuthError>;
}

/// The OS keychain through the `keyring` crate.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
}

impl KeyringStore {
    /// The platform keychain, or [`AuthError::NoKeychain`] when the machine
    /// has none (no Secret Service on the session bus, no session bus): the
    /// app then tells the user and offers the explicit opt-in
    /// [`SessionOnlyStore`].
    pub fn open() -> Result<Self, AuthError> {
        Self::with_service(KEYRING_SERVICE)
    }

    /// Same as [`KeyringStore::open`] under another service name (tests).
    pub fn with_service(service: &str) -> Result<Self, AuthError> {
        if let Err(e) = keyring::Entry::store_status() {
            return Err(AuthError::NoKeychain(e.to_string()));
        }
        Ok(KeyringStore {
            service: service.to_string(),
        })
    }

    fn entry(&self, key: &str) -> Result<keyring::Entry, AuthError> {
        keyring::Entry::new(&self.service, key).map_err(map_err)
    }
}

fn map_err(e: keyring::Error) -> AuthError {
    match e {
        keyring::Error::NoDefaultStore => AuthError::NoKeychain(e.to_string()),
        other => AuthError::Keychain(other.to_string()),
    }
}

impl TokenStore for KeyringStore {
    fn load(&self, key: &str) -> Result<Option<String>, AuthError> {
        match self.entry(key)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    fn save(&self, key: &str, value: &str) -> Result<(), AuthError> {
        self.entry(key)?.set_password(value).map_err(map_err)
    }

    fn delete(&self, key: &str) -> Result<(), AuthError> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }
}

/// The documented opt-in where no keychain exists: tokens are kept in this
/// process's memory only and are gone when the app exits (the user signs in
/// again on the next start). Nothing is ever written to disk. Never chosen
/// silently: the app must ask the user after [`AuthError::NoKeychain`].
#[derive(Debug, Default)]
pub struct SessionOnlyStore {
    entries: Mutex<HashMap<String, String>>,
}

impl SessionOnlyStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for SessionOnlyStore {
    fn load(&self, key: &str) -> Result<Option<String>, AuthError> {
        Ok(self.entries.lock().get(key).cloned())
    }
    fn save(&self, key: &str, value: &str) -> Result<(), AuthError> {
        self.entries
            .lock()
            .insert(key.to_string(), value.to_string());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), AuthError> {
        self.entries.lock().remove(key);
        Ok(())
    }
}
