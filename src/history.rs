//! Deploy history on the key-value store, and SAE change order statuses in
//! words.

use crate::store::{record_key, record_key_time_ms, DeployRecord, Store, StoreError, RECORD_PREFIX};

/// Most history entries kept; older ones are deleted when a new one is added.
pub(crate) const MAX_RECORDS: usize = 500;

/// Default number of entries `GET /deploys` returns.
pub(crate) const DEFAULT_LIST_LIMIT: usize = 50;

/// Adds a history entry and deletes entries past the retention time or
/// beyond [`MAX_RECORDS`].
pub(crate) fn append(
    store: &dyn Store,
    record: &DeployRecord,
    time_ms: u64,
    nonce: &str,
    retention_secs: u64,
) -> Result<(), StoreError> {
    let value = serde_json::to_vec(record).map_err(|e| StoreError(e.to_string()))?;
    store.set(&record_key(time_ms, &record.app_id, nonce), &value)?;

    // Prune: oldest first, by age, then by count.
    let mut keys = store.keys_with_prefix(RECORD_PREFIX)?;
    keys.sort();
    let oldest_kept_ms = time_ms.saturating_sub(retention_secs.saturating_mul(1000));
    let excess = keys.len().saturating_sub(MAX_RECORDS);
    for (index, key) in keys.iter().enumerate() {
        let expired = record_key_time_ms(key).is_none_or(|t| t < oldest_kept_ms);
        if index < excess || expired {
            store.delete(key)?;
        }
    }
    Ok(())
}

/// Returns up to `limit` entries, newest first.
pub(crate) fn recent(store: &dyn Store, limit: usize) -> Result<Vec<DeployRecord>, StoreError> {
    let mut keys = store.keys_with_prefix(RECORD_PREFIX)?;
    keys.sort();
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
        let all = recent(&store, 10).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].change_order_id.as_deref(), Some("new"));
    }

    #[test]
    fn count_is_capped() {
        let store = MemoryStore::default();
        for i in 0..(MAX_RECORDS as u64 + 5) {
            append(&store, &record("a", &format!("co-{i}")), 10_000 + i, "n", 3600).unwrap();
        }
        assert_eq!(store.keys_with_prefix(RECORD_PREFIX).unwrap().len(), MAX_RECORDS);
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
