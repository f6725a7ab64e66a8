//! The SQLite database behind the `default` key-value store.
//!
//! The table layout is the one `spin up` uses in `.spin/sqlite_key_value.db`
//! (Spin 3's `key-value-spin` crate), so a database written by either program
//! can be read by the other. Integers written by `increment` are stored as
//! 8-byte little-endian `i64`, as Spin stores them.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// How long a write waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Keys with their values, `None` marking an absent key.
pub type KeyValues = Vec<(String, Option<Vec<u8>>)>;

/// A failed key-value operation.
#[derive(Debug)]
pub enum KvError {
    /// SQLite reported an error.
    Database(rusqlite::Error),
    /// `increment` found a value that is not an 8-byte little-endian integer.
    NotAnInteger { length: usize },
    /// `increment` would leave the `i64` range.
    Overflow,
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Database(error) => write!(f, "key-value database error: {error}"),
            Self::NotAnInteger { length } => write!(
                f,
                "the stored value is {length} bytes long, but increment needs an 8-byte little-endian integer"
            ),
            Self::Overflow => f.write_str("increment would overflow a 64-bit signed integer"),
        }
    }
}

impl std::error::Error for KvError {}

impl From<rusqlite::Error> for KvError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Database(error)
    }
}

/// A key-value database in which each store label is a partition of one table.
///
/// One connection is shared behind a mutex: [`SqliteKv::lock`] waits for it
/// and [`SqliteKv::try_lock`] takes it only when it is free. Read-modify-write
/// operations also run in `BEGIN IMMEDIATE` transactions, so they stay atomic
/// when several connections or processes use the same file.
pub struct SqliteKv {
    connection: Mutex<Connection>,
}

/// The locked connection, on which the key-value operations run.
pub struct KvConnection<'a> {
    connection: MutexGuard<'a, Connection>,
}

impl SqliteKv {
    /// Opens (creating if needed) the database file at `path` and its table.
    pub fn open(path: &Path) -> Result<Self, KvError> {
        Self::with_connection(Connection::open(path)?)
    }

    /// Opens a private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, KvError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<Self, KvError> {
        connection.busy_timeout(BUSY_TIMEOUT)?;

        // Write-ahead logging with `synchronous = NORMAL` syncs at checkpoints
        // instead of on every commit. A committed write can be lost on power
        // failure (not on a crash of this process), and each write costs
        // tens of microseconds instead of an fsync. In-memory databases keep
        // their own journal mode.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    /// Waits for the connection and locks it.
    pub fn lock(&self) -> KvConnection<'_> {
        // A panic while holding the lock leaves no partial SQLite state,
        // because SQLite rolls back an unfinished transaction.
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        KvConnection { connection }
    }

    /// Locks the connection if no other thread holds it, without waiting.
    pub fn try_lock(&self) -> Option<KvConnection<'_>> {
        let connection = match self.connection.try_lock() {
            Ok(connection) => connection,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(KvConnection { connection })
    }

    /// Returns the value under `key`, or `None`.
    pub fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.lock().get(store, key)
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.lock().set(store, key, value)
    }

    /// Removes `key`. Removing an absent key succeeds.
    pub fn delete(&self, store: &str, key: &str) -> Result<(), KvError> {
        self.lock().delete(store, key)
    }

    /// Returns whether `key` is present.
    pub fn exists(&self, store: &str, key: &str) -> Result<bool, KvError> {
        self.lock().exists(store, key)
    }

    /// Returns every key of `store`, sorted.
    pub fn keys(&self, store: &str) -> Result<Vec<String>, KvError> {
        self.lock().keys(store)
    }

    /// See [`KvConnection::get_many`].
    pub fn get_many(&self, store: &str, keys: &[String]) -> Result<KeyValues, KvError> {
        self.lock().get_many(store, keys)
    }

    /// See [`KvConnection::set_many`].
    pub fn set_many(&self, store: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        self.lock().set_many(store, pairs)
    }

    /// See [`KvConnection::delete_many`].
    pub fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), KvError> {
        self.lock().delete_many(store, keys)
    }

    /// See [`KvConnection::increment`].
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, KvError> {
        self.lock().increment(store, key, delta)
    }

    /// See [`KvConnection::compare_and_swap`].
    pub fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        self.lock().compare_and_swap(store, key, expected, new)
    }
}

impl KvConnection<'_> {
    /// Returns the value under `key`, or `None`.
    pub fn get(&mut self, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        read_value(&self.connection, store, key)
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub fn set(&mut self, store: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
        write_value(&self.connection, store, key, value)
    }

    /// Removes `key`. Removing an absent key succeeds.
    pub fn delete(&mut self, store: &str, key: &str) -> Result<(), KvError> {
        self.connection
            .prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
            .execute(params![store, key])?;
        Ok(())
    }

    /// Returns whether `key` is present.
    pub fn exists(&mut self, store: &str, key: &str) -> Result<bool, KvError> {
        let found = self
            .connection
            .prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?
            .exists(params![store, key])?;
        Ok(found)
    }

    /// Returns every key of `store`, sorted.
    pub fn keys(&mut self, store: &str) -> Result<Vec<String>, KvError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
        let keys = statement
            .query_map(params![store], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(keys)
    }

    /// Returns each requested key with its value, or `None` for an absent key,
    /// in the order requested.
    pub fn get_many(&mut self, store: &str, keys: &[String]) -> Result<KeyValues, KvError> {
        let mut found = Vec::new();
        for key in keys {
            found.push((key.clone(), read_value(&self.connection, store, key)?));
        }
        Ok(found)
    }

    /// Stores all pairs in one transaction.
    pub fn set_many(&mut self, store: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (key, value) in pairs {
            write_value(&transaction, store, key, value)?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// Removes all `keys` in one transaction.
    pub fn delete_many(&mut self, store: &str, keys: &[String]) -> Result<(), KvError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for key in keys {
            transaction
                .prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![store, key])?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// Adds `delta` to the integer under `key` (an absent key counts as 0)
    /// and returns the new value, in one IMMEDIATE transaction.
    pub fn increment(&mut self, store: &str, key: &str, delta: i64) -> Result<i64, KvError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = match read_value(&transaction, store, key)? {
            None => 0,
            Some(bytes) => {
                let array: [u8; 8] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| KvError::NotAnInteger {
                            length: bytes.len(),
                        })?;
                i64::from_le_bytes(array)
            }
        };
        let updated = current.checked_add(delta).ok_or(KvError::Overflow)?;
        write_value(&transaction, store, key, &updated.to_le_bytes())?;
        transaction.commit()?;
        Ok(updated)
    }

    /// Writes `new` under `key` only if the key still contains `expected`
    /// (`None` meaning absent). Returns whether the write happened.
    ///
    /// The compare and the write run in one IMMEDIATE transaction, so of two
    /// concurrent swaps from the same `expected` value only one succeeds.
    pub fn compare_and_swap(
        &mut self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = read_value(&transaction, store, key)?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        write_value(&transaction, store, key, new)?;
        transaction.commit()?;
        Ok(true)
    }
}

fn read_value(connection: &Connection, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
    let value = connection
        .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
        .query_row(params![store, key], |row| row.get(0))
        .optional()?;
    Ok(value)
}

fn write_value(
    connection: &Connection,
    store: &str,
    key: &str,
    value: &[u8],
) -> Result<(), KvError> {
    connection
        .prepare_cached(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT(store, key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![store, key, value])?;
    Ok(())
}
