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
//! - `record:<unix_ms>:<app_id>:<nonce>`: one history entry per outcome.
//! - `expiry:<unix_secs>:<app_id>:<hash>`: one per won claim, holding the
//!   image id, so pruning finds old claims from the key alone.

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
    /// Returns every key that starts with `prefix`.
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
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
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).keys_with_prefix(prefix)
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

/// Prefix of expiry-index keys.
pub(crate) const EXPIRY_PREFIX: &str = "expiry:";

/// Returns the expiry-index key of a claim won at `time_secs`. The image id
/// is hashed (SHA-1, first 16 hex digits) to keep the key short, and the
/// value contains the image id itself.
pub(crate) fn expiry_key(time_secs: u64, app_id: &str, image_id: &str) -> String {
    use sha1::{Digest, Sha1};
    let hash: String = Sha1::digest(image_id.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{EXPIRY_PREFIX}{time_secs:012}:{app_id}:{hash}")
}

/// Returns the time and app id of an expiry-index key.
pub(crate) fn parse_expiry_key(key: &str) -> Option<(u64, &str)> {
    let mut parts = key.strip_prefix(EXPIRY_PREFIX)?.split(':');
    let time = parts.next()?.parse().ok()?;
    Some((time, parts.next()?))
}

/// Prefix of history keys.
pub(crate) const RECORD_PREFIX: &str = "record:";

/// Returns a history key; keys sort by time because the time is zero-padded.
pub(crate) fn record_key(time_ms: u64, app_id: &str, nonce: &str) -> String {
    format!("{RECORD_PREFIX}{time_ms:015}:{app_id}:{nonce}")
}

/// Returns the time of a history key, in milliseconds.
pub(crate) fn record_key_time_ms(key: &str) -> Option<u64> {
    key.strip_prefix(RECORD_PREFIX)?.split(':').next()?.parse().ok()
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

/// An in-memory store for tests, with the same semantics as the host's.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct MemoryStore {
    pub(crate) map: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
}

#[cfg(test)]
impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.map.lock().unwrap().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.map.lock().unwrap().remove(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.map.lock().unwrap().contains_key(key))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut map = self.map.lock().unwrap();
        let current = map
            .get(key)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
            .unwrap_or(0);
        let next = current + delta;
        map.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .map
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
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
    fn record_keys_sort_by_time() {
        let early = record_key(999, "app", "n1");
        let late = record_key(1_000_000, "app", "n0");
        assert!(early < late);
        assert_eq!(record_key_time_ms(&late), Some(1_000_000));
        assert_eq!(record_key_time_ms("other"), None);
    }

    #[test]
    fn expiry_keys_round_trip() {
        let key = expiry_key(1_767_225_600, "app", "sha256:aa:v1");
        assert!(key.starts_with("expiry:001767225600:app:"), "{key}");
        assert_eq!(parse_expiry_key(&key), Some((1_767_225_600, "app")));
        assert_ne!(key, expiry_key(1_767_225_600, "app", "sha256:aa:v2"));
        assert_eq!(parse_expiry_key("record:1:a:b"), None);
    }

    #[test]
    fn keys_fit_spin_limit() {
        let app = "7171a6ca-d1cd-4928-8642-7d5cfe690000";
        let image_id = format!("sha256:{}:{}", "a".repeat(64), "t".repeat(128));
        for key in [
            claim_key(app, &image_id),
            claimed_at_key(app, &image_id),
            deploy_key(app, &image_id),
            expiry_key(u64::MAX / 1_000_000, app, &image_id),
        ] {
            assert!(key.len() <= 256, "{key}");
        }
    }
}
