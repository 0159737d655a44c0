//! The local SQLite store: versioned migrations, WAL, and typed access.
//!
//! Architecture invariant: the store holds sync state and identities only.
//! Tokens and client secrets never reach it (they live in the OS keychain).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::module::{
    Account, EnableError, ModuleKind, ModuleState, ModuleStatus, Service, UnknownModule,
};

/// The schema migrations, applied in order. Never edit one that has shipped:
/// add a new file instead. `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_modules_and_accounts.sql"),
    include_str!("../migrations/0002_sync_state.sql"),
    include_str!("../migrations/0003_health_and_restore.sql"),
];

/// Everything that can go wrong talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store was written by a newer version of CRM Sync (schema {found}, this build knows {known}); update the app")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error(transparent)]
    Enable(#[from] EnableError),
    #[error("cannot encode or decode {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("another CRM Sync (the app or `crmsync sync`) is syncing this data right now; it was left alone and will be tried again")]
    Busy,
    #[error("cannot lock {path} for syncing: {source}")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A handle on the store. Cheap operations, no background work. Several handles (and
/// processes: the app, `crmsync`) may read and write it; only one at a time may sync
/// ([`Store::exclusive`]).
pub struct Store {
    pub(crate) conn: Connection,
    /// The file whose lock says "a sync is writing to the services" (None in memory).
    lock_path: Option<PathBuf>,
}

/// Held while a round, a disable or a restore talks to the services: no second process
/// (or handle) can do the same on this store until it is dropped.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct SyncGuard {
    _file: Option<File>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// I/O or SQLite failures, or a schema newer than this build understands.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let mut store = Self::init(conn)?;
        let mut lock = path.as_os_str().to_owned();
        lock.push(".sync-lock");
        store.lock_path = Some(PathBuf::from(lock));
        Ok(store)
    }

    /// Takes the store's sync lock (an OS file lock beside the database, released when the
    /// guard drops or the process dies), or [`StoreError::Busy`] when another handle or
    /// process holds it. Two syncs on one store could both create the same record.
    ///
    /// # Errors
    /// [`StoreError::Busy`]; [`StoreError::Lock`] when the lock file cannot be opened.
    pub fn exclusive(&self) -> Result<SyncGuard, StoreError> {
        let Some(path) = &self.lock_path else {
            return Ok(SyncGuard { _file: None });
        };
        let io = |source| StoreError::Lock {
            path: path.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(SyncGuard { _file: Some(file) }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Busy),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// An in-memory store, for tests.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Store {
            conn,
            lock_path: None,
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let found: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The schema version (number of migrations applied).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// The SQLite journal mode in force (`wal` for a file store).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))?)
    }

    /// The state of every module, in [`ModuleKind::ALL`] order.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn modules(&self) -> Result<Vec<ModuleState>, StoreError> {
        ModuleKind::ALL
            .into_iter()
            .map(|m| self.module(m))
            .collect()
    }

    /// The state of one module.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn module(&self, module: ModuleKind) -> Result<ModuleState, StoreError> {
        let row = self.conn.query_row(
            "SELECT enabled, status, status_reason, delete_propagation, last_sync_at
             FROM modules WHERE module = ?1",
            params![module.as_str()],
            |r| {
                Ok((
                    r.get::<_, bool>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        let (enabled, status, reason, delete_propagation, last_sync_at) = row;
        Ok(ModuleState {
            module,
            enabled,
            status: parse_status(&status, reason)?,
            delete_propagation,
            last_sync_at: last_sync_at.as_deref().map(parse_time).transpose()?,
        })
    }

    /// Records a module's status (and whether it is enabled).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn set_status(
        &self,
        module: ModuleKind,
        enabled: bool,
        status: &ModuleStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE modules SET enabled = ?2, status = ?3, status_reason = ?4, updated_at = ?5
             WHERE module = ?1",
            params![
                module.as_str(),
                enabled,
                status.key(),
                status.reason(),
                format_time(now)
            ],
        )?;
        Ok(())
    }

    /// Enables a module. Sync needs both accounts connected; until they are,
    /// this fails with [`EnableError::NotConnected`] and changes nothing.
    ///
    /// # Errors
    /// [`StoreError::Enable`] when an account is missing; SQLite failures.
    pub fn enable(
        &self,
        module: ModuleKind,
        now: DateTime<Utc>,
    ) -> Result<ModuleState, StoreError> {
        for service in [Service::Zoho, Service::Microsoft] {
            if self.account(service)?.is_none() {
                return Err(EnableError::NotConnected(service).into());
            }
        }
        self.set_status(module, true, &ModuleStatus::Active, now)?;
        self.module(module)
    }

    /// Disables a module. Always allowed; it never touches CRM data.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn disable(
        &self,
        module: ModuleKind,
        now: DateTime<Utc>,
    ) -> Result<ModuleState, StoreError> {
        self.set_status(module, false, &ModuleStatus::Inactive, now)?;
        self.module(module)
    }

    /// Sets the module's "delete the CRM record when deleted in Microsoft 365" choice.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn set_delete_propagation(
        &self,
        module: ModuleKind,
        on: bool,
        now: DateTime<Utc>,
    ) -> Result<ModuleState, StoreError> {
        self.conn.execute(
            "UPDATE modules SET delete_propagation = ?2, updated_at = ?3 WHERE module = ?1",
            params![module.as_str(), on, format_time(now)],
        )?;
        self.module(module)
    }

    /// The connected account of a service, if any.
    ///
    /// # Errors
    /// SQLite failures or a corrupt row.
    pub fn account(&self, service: Service) -> Result<Option<Account>, StoreError> {
        self.conn
            .query_row(
                "SELECT user_id, email, display_name, organisation, data_centre, connected_at
                 FROM accounts WHERE service = ?1",
                params![service.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()?
            .map(
                |(user_id, email, display_name, organisation, data_centre, connected_at)| {
                    Ok(Account {
                        service,
                        user_id,
                        email,
                        display_name,
                        organisation,
                        data_centre,
                        connected_at: parse_time(&connected_at)?,
                    })
                },
            )
            .transpose()
    }

    /// Records (or replaces) the connected account of a service.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn save_account(&self, account: &Account) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO accounts (service, user_id, email, display_name, organisation, data_centre, connected_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (service) DO UPDATE SET
                user_id = excluded.user_id, email = excluded.email,
                display_name = excluded.display_name, organisation = excluded.organisation,
                data_centre = excluded.data_centre, connected_at = excluded.connected_at",
            params![
                account.service.as_str(),
                account.user_id,
                account.email,
                account.display_name,
                account.organisation,
                account.data_centre,
                format_time(account.connected_at)
            ],
        )?;
        Ok(())
    }

    /// Forgets the connected account of a service (disconnect). Only the
    /// identity row goes: sync state and CRM data are untouched. Returns
    /// whether there was one.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn remove_account(&self, service: Service) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM accounts WHERE service = ?1",
            params![service.as_str()],
        )?;
        Ok(n > 0)
    }
}

fn parse_status(key: &str, reason: Option<String>) -> Result<ModuleStatus, StoreError> {
    let reason = || reason.clone().unwrap_or_default();
    Ok(match key {
        "inactive" => ModuleStatus::Inactive,
        "active" => ModuleStatus::Active,
        "paused" => ModuleStatus::Paused(reason()),
        "needs_sign_in" => ModuleStatus::NeedsSignIn,
        "error" => ModuleStatus::Error(reason()),
        other => {
            return Err(StoreError::Corrupt {
                table: "modules",
                detail: format!("unknown status {other:?}"),
            })
        }
    })
}

pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            table: "modules",
            detail: format!("bad timestamp {s:?}: {e}"),
        })
}

impl From<UnknownModule> for StoreError {
    fn from(e: UnknownModule) -> Self {
        StoreError::Corrupt {
            table: "modules",
            detail: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + secs, 0).unwrap()
    }

    fn account(service: Service) -> Account {
        Account {
            service,
            user_id: "u1".into(),
            email: "aiko.tanaka@sakura-demo.example".into(),
            display_name: "田中 愛子".into(),
            organisation: "Sakura Trading (Demo)".into(),
            data_centre: (service == Service::Zoho).then(|| "us".into()),
            connected_at: t(0),
        }
    }

    #[test]
    fn remove_account_forgets_only_that_service() {
        let store = Store::open_in_memory().unwrap();
        store.save_account(&account(Service::Zoho)).unwrap();
        store.save_account(&account(Service::Microsoft)).unwrap();
        assert!(store.remove_account(Service::Microsoft).unwrap());
        assert_eq!(store.account(Service::Microsoft).unwrap(), None);
        assert_eq!(
            store.account(Service::Zoho).unwrap(),
            Some(account(Service::Zoho))
        );
        assert!(!store.remove_account(Service::Microsoft).unwrap());
    }

    #[test]
    fn fresh_store_lists_three_inactive_modules() {
        let store = Store::open_in_memory().unwrap();
        let modules = store.modules().unwrap();
        assert_eq!(
            modules.iter().map(|m| m.module).collect::<Vec<_>>(),
            ModuleKind::ALL
        );
        for m in &modules {
            assert!(!m.enabled);
            assert_eq!(m.status, ModuleStatus::Inactive);
            assert!(!m.delete_propagation, "delete propagation defaults to off");
            assert_eq!(m.last_sync_at, None);
        }
    }

    #[test]
    fn file_store_uses_wal_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/store.sqlite3");
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.journal_mode().unwrap(), "wal");
            store
                .set_status(
                    ModuleKind::Tasks,
                    true,
                    &ModuleStatus::Paused("guard".into()),
                    t(1),
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(
            store.module(ModuleKind::Tasks).unwrap().status,
            ModuleStatus::Paused("guard".into())
        );
    }

    #[test]
    fn one_sync_at_a_time_per_store_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let app = Store::open(&path).unwrap();
        let cli = Store::open(&path).unwrap();
        let held = app.exclusive().unwrap();
        assert!(matches!(cli.exclusive(), Err(StoreError::Busy)));
        // Reading and writing sync state stays open to both.
        cli.set_status(ModuleKind::Events, true, &ModuleStatus::Active, t(1))
            .unwrap();
        drop(held);
        let _cli = cli.exclusive().unwrap();
        assert!(matches!(app.exclusive(), Err(StoreError::Busy)));
        // In memory there is nobody else.
        let mem = Store::open_in_memory().unwrap();
        let _a = mem.exclusive().unwrap();
        let _b = mem.exclusive().unwrap();
    }

    #[test]
    fn refuses_a_schema_from_the_future() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        drop(Store::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        match Store::open(&path) {
            Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
            other => panic!("expected SchemaTooNew, got {:?}", other.err()),
        }
    }

    #[test]
    fn enabling_needs_both_accounts() {
        let store = Store::open_in_memory().unwrap();
        let err = store.enable(ModuleKind::Contacts, t(1)).unwrap_err();
        assert!(matches!(
            err,
            StoreError::Enable(EnableError::NotConnected(Service::Zoho))
        ));
        store.save_account(&account(Service::Zoho)).unwrap();
        let err = store.enable(ModuleKind::Contacts, t(1)).unwrap_err();
        assert_eq!(err.to_string(), "connect your Microsoft 365 account first");
        assert!(!store.module(ModuleKind::Contacts).unwrap().enabled);

        store.save_account(&account(Service::Microsoft)).unwrap();
        let state = store.enable(ModuleKind::Contacts, t(2)).unwrap();
        assert!(state.enabled);
        assert_eq!(state.status, ModuleStatus::Active);
        let state = store.disable(ModuleKind::Contacts, t(3)).unwrap();
        assert_eq!(state.status, ModuleStatus::Inactive);
    }

    #[test]
    fn accounts_round_trip_and_replace() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.account(Service::Zoho).unwrap(), None);
        let mut a = account(Service::Zoho);
        store.save_account(&a).unwrap();
        assert_eq!(store.account(Service::Zoho).unwrap(), Some(a.clone()));
        a.data_centre = Some("jp".into());
        store.save_account(&a).unwrap();
        assert_eq!(store.account(Service::Zoho).unwrap(), Some(a));
    }

    #[test]
    fn delete_propagation_is_per_module() {
        let store = Store::open_in_memory().unwrap();
        store
            .set_delete_propagation(ModuleKind::Events, true, t(1))
            .unwrap();
        assert!(store.module(ModuleKind::Events).unwrap().delete_propagation);
        assert!(
            !store
                .module(ModuleKind::Contacts)
                .unwrap()
                .delete_propagation
        );
    }

    #[test]
    fn module_keys_round_trip() {
        for m in ModuleKind::ALL {
            assert_eq!(m.as_str().parse::<ModuleKind>().unwrap(), m);
        }
        assert!("calendar".parse::<ModuleKind>().is_err());
    }
}
