//! Deploy history on the key-value store, and SAE change order statuses in
//! words.

use crate::dedup::release;
use crate::store::{
    claimed_at_key, deploy_key, parse_expiry_key, record_key, record_key_time_ms, DeployRecord, Store, StoreError,
    EXPIRY_PREFIX, RECORD_PREFIX,
};

/// Most history entries kept after a prune; between prunes up to
/// [`PRUNE_EVERY`] more may exist.
pub(crate) const MAX_RECORDS: usize = 500;

/// Default number of entries `GET /deploys` returns.
pub(crate) const DEFAULT_LIST_LIMIT: usize = 50;

/// Appends between two prunes. Pruning lists every key of the store, whose
/// cost grows with the store (the benchmark measured it), so it runs on
/// every 500th append instead of on each one.
pub(crate) const PRUNE_EVERY: i64 = 500;

/// Counter of appends, which schedules pruning.
const APPENDS_KEY: &str = "history-appends";

/// Adds a history entry, and on every [`PRUNE_EVERY`]th append (the first
/// included) prunes the store.
pub(crate) fn append(
    store: &dyn Store,
    record: &DeployRecord,
    time_ms: u64,
    nonce: &str,
    retention_secs: u64,
) -> Result<(), StoreError> {
    let value = serde_json::to_vec(record).map_err(|e| StoreError(e.to_string()))?;
    store.set(&record_key(time_ms, &record.app_id, nonce), &value)?;
    if store.increment(APPENDS_KEY, 1)? % PRUNE_EVERY == 1 {
        prune(store, time_ms, retention_secs)?;
    }
    Ok(())
}

/// Deletes history entries past the retention time or beyond
/// [`MAX_RECORDS`], and claims and finished deploys past the retention time,
/// so the store keeps about one retention period of data. It lists the keys
/// once and reads only entries that are due.
pub(crate) fn prune(store: &dyn Store, now_ms: u64, retention_secs: u64) -> Result<(), StoreError> {
    let oldest_kept_ms = now_ms.saturating_sub(retention_secs.saturating_mul(1000));
    let oldest_kept_secs = oldest_kept_ms / 1000;
    let mut keys = store.keys_with_prefix("")?;
    keys.sort_unstable();

    // History entries: oldest first, by age, then by count.
    let records: Vec<&String> = keys.iter().filter(|k| k.starts_with(RECORD_PREFIX)).collect();
    let excess = records.len().saturating_sub(MAX_RECORDS);
    for (index, key) in records.iter().enumerate() {
        let expired = record_key_time_ms(key).is_none_or(|t| t < oldest_kept_ms);
        if index < excess || expired {
            store.delete(key)?;
        }
    }

    // Claims, found through the expiry index, which sorts by time.
    for key in keys.iter().filter(|k| k.starts_with(EXPIRY_PREFIX)) {
        let Some((time, app_id)) = parse_expiry_key(key) else {
            store.delete(key)?;
            continue;
        };
        if time >= oldest_kept_secs {
            break;
        }
        if let Some(image_id) = store.get(key)?.and_then(|v| String::from_utf8(v).ok()) {
            forget_if_expired(store, app_id, &image_id, oldest_kept_secs)?;
        }
        store.delete(key)?;
    }
    Ok(())
}

/// Deletes a claim and its finished deploy unless either was renewed inside
/// the retention period (a released claim can be won again later).
fn forget_if_expired(store: &dyn Store, app_id: &str, image_id: &str, oldest_kept_secs: u64) -> Result<(), StoreError> {
    let record_time = store
        .get(&deploy_key(app_id, image_id))?
        .and_then(|bytes| serde_json::from_slice::<DeployRecord>(&bytes).ok())
        .map(|record| record.time);
    let claimed_time = store
        .get(&claimed_at_key(app_id, image_id))?
        .and_then(|bytes| String::from_utf8(bytes).ok()?.parse::<u64>().ok());
    let renewed = [record_time, claimed_time]
        .into_iter()
        .flatten()
        .any(|t| t >= oldest_kept_secs);
    if !renewed {
        store.delete(&deploy_key(app_id, image_id))?;
        release(store, app_id, image_id)?;
    }
    Ok(())
}

/// Returns up to `limit` entries, newest first.
pub(crate) fn recent(store: &dyn Store, limit: usize) -> Result<Vec<DeployRecord>, StoreError> {
    let mut keys = store.keys_with_prefix(RECORD_PREFIX)?;
    keys.sort_unstable();
    let mut records = Vec::new();
    for key in keys.iter().rev() {
        if records.len() >= limit {
            break;
        }
        let Some(bytes) = store.get(key)? else { continue };
        if let Ok(record) = serde_json::from_slice::<DeployRecord>(&bytes) {
            records.push(record);
        }
    }
    Ok(records)
}

/// Finds the newest entry with this change order id.
pub(crate) fn find_change_order(store: &dyn Store, change_order_id: &str) -> Result<Option<DeployRecord>, StoreError> {
    let records = recent(store, MAX_RECORDS)?;
    Ok(records
        .into_iter()
        .find(|r| r.change_order_id.as_deref() == Some(change_order_id)))
}

/// Returns SAE's change order status code in words (`DescribeChangeOrder`
/// `Data.Status`, SAE OpenAPI 2019-05-06).
pub(crate) fn change_order_status(code: i64) -> &'static str {
    match code {
        0 => "preparing",
        1 => "running",
        2 => "succeeded",
        3 => "failed",
        6 => "terminated",
        8 => "waiting for manual batch confirmation",
        9 => "waiting for the next automatic batch",
        10 => "failed (system error)",
        11 => "pending approval",
        12 => "approved, waiting to run",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn record(app: &str, change_order: &str) -> DeployRecord {
        DeployRecord {
            time: 1,
            repository: "prod/gateway".into(),
            tag: "v1".into(),
            digest: None,
            app_id: app.into(),
            image: "img".into(),
            region: "cn-hangzhou".into(),
            route: None,
            outcome: "deploying".into(),
            reason: None,
            change_order_id: Some(change_order.into()),
            request_id: None,
            sae_code: None,
        }
    }

    #[test]
    fn newest_first_with_limit() {
        let store = MemoryStore::default();
        for i in 0..5u64 {
            append(&store, &record("a", &format!("co-{i}")), 1000 + i, "n", 3600).unwrap();
        }
        let recent = recent(&store, 3).unwrap();
        let ids: Vec<&str> = recent.iter().map(|r| r.change_order_id.as_deref().unwrap()).collect();
        assert_eq!(ids, ["co-4", "co-3", "co-2"]);
    }

    #[test]
    fn expired_entries_are_pruned() {
        let store = MemoryStore::default();
        append(&store, &record("a", "old"), 1_000, "n", 10).unwrap();
        append(&store, &record("a", "new"), 20_000, "n", 10).unwrap();
        prune(&store, 20_000, 10).unwrap();
        let all = recent(&store, 10).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].change_order_id.as_deref(), Some("new"));
    }

    #[test]
    fn count_is_capped() {
        let store = MemoryStore::default();
        let total = MAX_RECORDS + PRUNE_EVERY as usize * 3;
        for i in 0..total as u64 {
            append(&store, &record("a", &format!("co-{i}")), 10_000 + i, &format!("n{i}"), 3600).unwrap();
            let kept = store.keys_with_prefix(RECORD_PREFIX).unwrap().len();
            assert!(kept <= MAX_RECORDS + PRUNE_EVERY as usize, "{kept} entries after {i} appends");
        }
        prune(&store, 10_000 + total as u64, 3600).unwrap();
        assert_eq!(store.keys_with_prefix(RECORD_PREFIX).unwrap().len(), MAX_RECORDS);
        let newest = recent(&store, 1).unwrap();
        assert_eq!(newest[0].change_order_id, Some(format!("co-{}", total - 1)));
    }

    #[test]
    fn prune_forgets_expired_deploys_and_claims() {
        use crate::dedup::{claim, finish, Claim, ClaimPolicy};
        let store = MemoryStore::default();
        let policy = |now| ClaimPolicy { now, retention: 3600, stale_after: 60 };
        let app = "7171a6ca-d1cd-4928-8642-7d5cfe690000";
        let done = "sha256:aa:v1";
        let stuck = "sha256:bb:v2";
        let fresh = "sha256:cc:v3";
        assert_eq!(claim(&store, app, done, policy(100), &mut || false).unwrap(), Claim::Won);
        let mut finished = record(app, "co-1");
        finished.time = 100;
        finish(&store, &finished, done).unwrap();
        assert_eq!(claim(&store, app, stuck, policy(100), &mut || false).unwrap(), Claim::Won);
        assert_eq!(claim(&store, app, fresh, policy(5000), &mut || false).unwrap(), Claim::Won);

        prune(&store, 5_000_000, 3600).unwrap();
        let left: Vec<String> = store.map.lock().unwrap().keys().cloned().collect();
        assert!(left.iter().all(|k| !k.contains(done) && !k.contains(stuck)), "{left:?}");
        assert!(left.iter().any(|k| k.contains(fresh)), "{left:?}");
    }

    #[test]
    fn find_by_change_order() {
        let store = MemoryStore::default();
        append(&store, &record("a", "co-1"), 1000, "n1", 3600).unwrap();
        append(&store, &record("b", "co-2"), 1001, "n2", 3600).unwrap();
        assert_eq!(find_change_order(&store, "co-2").unwrap().unwrap().app_id, "b");
        assert!(find_change_order(&store, "co-9").unwrap().is_none());
    }

    #[test]
    fn status_words() {
        assert_eq!(change_order_status(2), "succeeded");
        assert_eq!(change_order_status(11), "pending approval");
        assert_eq!(change_order_status(99), "unknown");
    }
}
