//! Key-value storage behind a trait, with the keys and record format this
//! component writes. The Spin edge implements [`Store`] over
//! `wasi:keyvalue` (the `default` store); tests use [`MemoryStore`].
//!
//! Keys, all under Spin's 256-byte key limit (`<image_id>` is the digest,
//! followed by `:<tag>` when the image is deployed by tag):
//! - `claim:<app_id>:<image_id>`: counter from `atomics.increment`; the
//!   delivery that moves it to 1 owns the deploy.
//! - `claimed:<app_id>:<image_id>`: unix time of the winning claim, so a
//!   claim left by a crashed instance can be recognised as stale.
//! - `deploy:<app_id>:<image_id>`: the [`DeployRecord`] of a finished deploy.
//! - `expiry-count:<hour>` and `expiry:<hour>:<seq>`: the expiry index, one
//!   bucket per hour since the unix epoch. The counter numbers the claims
//!   won in that hour, and each entry names one claim's app and image.
//! - `expiry-cursor`: `<hour>:<seq>`, the oldest expiry entry not yet pruned.
//! - `history-appends`: counter of history entries, which picks the slot.
//! - `record:<slot>`: one history entry, in a ring of
//!   [`MAX_RECORDS`](crate::history::MAX_RECORDS) slots.
//! - `history-cursor`: `<seq>:<expires_ms>`, the oldest history entry not
//!   yet pruned and when it expires.
//!
//! The Spin key-value API cannot list keys by prefix, so no key is found by
//! listing: every key is derived from a counter or a cursor.
//!
//! NOTE: version 0.1.0 is unreleased, so stores holding the older key
//! formats (`record:<unix_ms>:…`, `expiry:<unix_secs>:<app_id>:…`) are not
//! migrated. Keys in those formats are never read or deleted.

use serde::{Deserialize, Serialize};

/// A storage failure, with the host's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store failed: {0}")]
pub(crate) struct StoreError(pub(crate) String);

/// The operations this component needs from a key-value store.
pub(crate) trait Store {
    /// Returns the value of a key.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a key.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Deletes a key; deleting a missing key is not an error.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Returns true when the key exists.
    fn exists(&self, key: &str) -> Result<bool, StoreError>;
    /// Adds `delta` to a counter atomically and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
}

impl<S: Store + ?Sized> Store for &S {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        (**self).exists(key)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        (**self).increment(key, delta)
    }
}

/// The outcome of one target, as kept in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeployRecord {
    /// Unix time, seconds.
    pub(crate) time: u64,
    /// `namespace/name`.
    pub(crate) repository: String,
    /// Pushed tag.
    pub(crate) tag: String,
    /// Pushed digest, when ACR sent one.
    pub(crate) digest: Option<String>,
    /// SAE application id.
    pub(crate) app_id: String,
    /// Image sent to SAE.
    pub(crate) image: String,
    /// SAE region of the application.
    pub(crate) region: String,
    /// Route that selected the target, when a route table is set.
    pub(crate) route: Option<String>,
    /// `deploying`, `skipped` or `failed`.
    pub(crate) outcome: String,
    /// The reason a target was skipped or failed.
    pub(crate) reason: Option<String>,
    /// SAE change order id.
    pub(crate) change_order_id: Option<String>,
    /// SAE request id of the last call.
    pub(crate) request_id: Option<String>,
    /// SAE error code, for failures.
    pub(crate) sae_code: Option<String>,
}

/// Returns the claim counter key for an (app, digest) pair.
pub(crate) fn claim_key(app_id: &str, image_id: &str) -> String {
    format!("claim:{app_id}:{image_id}")
}

/// Returns the key holding the time of the winning claim.
pub(crate) fn claimed_at_key(app_id: &str, image_id: &str) -> String {
    format!("claimed:{app_id}:{image_id}")
}

/// Returns the key of a finished deploy's record.
pub(crate) fn deploy_key(app_id: &str, image_id: &str) -> String {
    format!("deploy:{app_id}:{image_id}")
}

/// Key of the expiry index's cursor.
pub(crate) const EXPIRY_CURSOR_KEY: &str = "expiry-cursor";

/// Returns the key of the counter that numbers the claims won in `hour`.
pub(crate) fn expiry_count_key(hour: u64) -> String {
    format!("expiry-count:{hour}")
}

/// Returns the key of the `seq`th expiry entry of `hour`.
pub(crate) fn expiry_entry_key(hour: u64, seq: u64) -> String {
    format!("expiry:{hour}:{seq}")
}

/// Key of the counter of history appends.
pub(crate) const HISTORY_APPENDS_KEY: &str = "history-appends";

/// Key of the history ring's prune cursor.
pub(crate) const HISTORY_CURSOR_KEY: &str = "history-cursor";

/// Returns the key of a history ring slot.
pub(crate) fn history_slot_key(slot: u64) -> String {
    format!("record:{slot}")
}

/// Reads a counter written by [`Store::increment`], or 0 when it is missing.
/// The stored encoding of a counter depends on the backend (the SQLite store
/// of this project's host keeps 8-byte little-endian integers), so the value
/// is read by adding zero instead of with `get`.
pub(crate) fn read_counter(store: &dyn Store, key: &str) -> Result<u64, StoreError> {
    if !store.exists(key)? {
        return Ok(0);
    }
    Ok(u64::try_from(store.increment(key, 0)?).unwrap_or(0))
}

/// Reads a cursor stored as two numbers, `<first>:<second>`. A missing or
/// malformed value is `None`.
pub(crate) fn read_cursor(store: &dyn Store, key: &str) -> Result<Option<(u64, u64)>, StoreError> {
    let Some(bytes) = store.get(key)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).unwrap_or_default();
    let Some((first, second)) = text.split_once(':') else {
        return Ok(None);
    };
    Ok(first.parse().ok().zip(second.parse().ok()))
}

/// Writes a cursor as `<first>:<second>`.
pub(crate) fn write_cursor(store: &dyn Store, key: &str, cursor: (u64, u64)) -> Result<(), StoreError> {
    store.set(key, format!("{}:{}", cursor.0, cursor.1).as_bytes())
}

/// Formats unix seconds as RFC 3339 UTC, e.g. `2026-01-01T00:00:00Z`.
pub(crate) fn rfc3339(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date, using the
/// era-based method from Howard Hinnant's `chrono`-compatible date algorithms.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// An in-memory store for tests, with the same semantics as the host's:
/// counters are 8-byte little-endian integers, as the host's SQLite store
/// keeps them.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct MemoryStore {
    pub(crate) map: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    /// Number of [`Store`] calls so far, to check how much work a step does.
    pub(crate) operations: std::sync::atomic::AtomicUsize,
}

#[cfg(test)]
impl MemoryStore {
    /// Returns the keys that start with `prefix`, without counting an operation.
    pub(crate) fn keys(&self, prefix: &str) -> Vec<String> {
        let map = self.map.lock().unwrap();
        map.keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }

    /// Returns the number of [`Store`] calls so far.
    pub(crate) fn operation_count(&self) -> usize {
        self.operations.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count_operation(&self) {
        self.operations.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.count_operation();
        Ok(self.map.lock().unwrap().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.count_operation();
        self.map.lock().unwrap().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.count_operation();
        self.map.lock().unwrap().remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.count_operation();
        Ok(self.map.lock().unwrap().contains_key(key))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.count_operation();
        let mut map = self.map.lock().unwrap();
        let current = match map.get(key) {
            None => 0,
            Some(bytes) => {
                let array: [u8; 8] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError(format!("{key} is not an integer")))?;
                i64::from_le_bytes(array)
            }
        };
        let next = current + delta;
        map.insert(key.to_owned(), next.to_le_bytes().to_vec());
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        let cases: &[(u64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_767_225_600, "2026-01-01T00:00:00Z"),
            (1_796_386_261, "2026-12-04T12:11:01Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ];
        for (seconds, text) in cases {
            assert_eq!(rfc3339(*seconds), *text, "{seconds}");
        }
    }

    #[test]
    fn counters_read_without_writing() {
        let store = MemoryStore::default();
        assert_eq!(read_counter(&store, "n").unwrap(), 0);
        assert!(!store.exists("n").unwrap(), "reading a missing counter creates it");
        store.increment("n", 3).unwrap();
        assert_eq!(read_counter(&store, "n").unwrap(), 3);
    }

    #[test]
    fn cursors_round_trip() {
        let store = MemoryStore::default();
        assert_eq!(read_cursor(&store, "c").unwrap(), None);
        write_cursor(&store, "c", (493_012, 7)).unwrap();
        assert_eq!(store.get("c").unwrap().unwrap(), b"493012:7");
        assert_eq!(read_cursor(&store, "c").unwrap(), Some((493_012, 7)));
        let malformed: &[&[u8]] = &[b"", b"1", b"1:", b":2", b"a:2", b"1:-2", b"\xff:1"];
        for value in malformed {
            store.set("c", value).unwrap();
            assert_eq!(read_cursor(&store, "c").unwrap(), None, "{value:?}");
        }
    }

    #[test]
    fn keys_fit_spin_limit() {
        let app = "7171a6ca-d1cd-4928-8642-7d5cfe690000";
        let image_id = format!("sha256:{}:{}", "a".repeat(64), "t".repeat(128));
        for key in [
            claim_key(app, &image_id),
            claimed_at_key(app, &image_id),
            deploy_key(app, &image_id),
            expiry_count_key(u64::MAX),
            expiry_entry_key(u64::MAX, u64::MAX),
            history_slot_key(u64::MAX),
        ] {
            assert!(key.len() <= 256, "{key}");
        }
    }
}
