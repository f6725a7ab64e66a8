use super::*;
use crate::dedup::{claim, finish, Claim, ClaimPolicy};
use crate::store::MemoryStore;

/// Retention used by these tests, seconds.
const RETENTION: u64 = 3600;

/// Append time of the first entry, unix milliseconds.
const START_MS: u64 = 1_767_225_600_000;

fn record(app: &str, change_order: &str) -> DeployRecord {
    DeployRecord {
        time: START_MS / 1000,
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

/// Appends `count` entries named `co-<i>`, one millisecond apart.
fn append_many(store: &MemoryStore, count: u64) {
    for i in 0..count {
        append(store, &record("a", &format!("co-{i}")), START_MS + i, RETENTION).unwrap();
    }
}

fn change_orders(records: &[DeployRecord]) -> Vec<String> {
    records.iter().filter_map(|r| r.change_order_id.clone()).collect()
}

fn names(range: impl Iterator<Item = u64>) -> Vec<String> {
    range.map(|i| format!("co-{i}")).collect()
}

#[test]
fn recent_newest_first_with_limit() {
    let store = MemoryStore::default();
    append_many(&store, 5);
    let cases: &[(usize, &[&str])] = &[
        (1, &["co-4"]),
        (3, &["co-4", "co-3", "co-2"]),
        (5, &["co-4", "co-3", "co-2", "co-1", "co-0"]),
        (50, &["co-4", "co-3", "co-2", "co-1", "co-0"]),
    ];
    for (limit, expected) in cases {
        let listed = recent(&store, *limit, START_MS).unwrap();
        assert_eq!(change_orders(&listed), *expected, "limit {limit}");
    }
}

#[test]
fn recent_on_empty_store() {
    let store = MemoryStore::default();
    assert!(recent(&store, 10, START_MS).unwrap().is_empty());
    assert!(store.keys("").is_empty(), "a read wrote a key");
}

#[test]
fn recent_skips_expired_entries() {
    let store = MemoryStore::default();
    append_many(&store, 3);
    let retention_ms = RETENTION * 1000;
    let cases: &[(u64, &[&str])] = &[
        (START_MS, &["co-2", "co-1", "co-0"]),
        (START_MS + retention_ms - 1, &["co-2", "co-1", "co-0"]),
        (START_MS + retention_ms, &["co-2", "co-1"]),
        (START_MS + retention_ms + 2, &[]),
    ];
    for (now_ms, expected) in cases {
        let listed = recent(&store, 10, *now_ms).unwrap();
        assert_eq!(change_orders(&listed), *expected, "now {now_ms}");
    }
}

#[test]
fn recent_skips_slot_not_written_yet() {
    // An append that took its number but has not written its slot yet
    // leaves the previous lap's entry there, which must not be listed.
    let store = MemoryStore::default();
    append_many(&store, RING_LEN);
    store.increment(HISTORY_APPENDS_KEY, 1).unwrap();
    let listed = recent(&store, 2, START_MS).unwrap();
    assert_eq!(change_orders(&listed), names((RING_LEN - 2..RING_LEN).rev()));
}

#[test]
fn ring_overwrites_oldest_slot() {
    let store = MemoryStore::default();
    let total = RING_LEN + 3;
    append_many(&store, total);

    assert_eq!(store.keys("record:").len(), MAX_RECORDS);
    let first_slot = store.get("record:0").unwrap().unwrap();
    let first: HistoryEntry = serde_json::from_slice(&first_slot).unwrap();
    assert_eq!(first.seq, RING_LEN + 1);

    let listed = recent(&store, MAX_RECORDS, START_MS).unwrap();
    assert_eq!(change_orders(&listed), names((3..total).rev()));
}

#[test]
fn find_by_change_order() {
    let store = MemoryStore::default();
    append(&store, &record("a", "co-1"), START_MS, RETENTION).unwrap();
    append(&store, &record("b", "co-2"), START_MS + 1, RETENTION).unwrap();
    assert_eq!(find_change_order(&store, "co-2", START_MS).unwrap().unwrap().app_id, "b");
    assert!(find_change_order(&store, "co-9", START_MS).unwrap().is_none());
    let later = START_MS + RETENTION * 1000 + 1;
    assert!(find_change_order(&store, "co-2", later).unwrap().is_none());
}

#[test]
fn prune_deletes_expired_entries_in_steps() {
    // 120 expired entries and 5 unexpired ones: each prune deletes at most
    // MAX_PRUNE_ENTRIES and the cursor carries over.
    let store = MemoryStore::default();
    append_many(&store, 120);
    let later_ms = START_MS + 1_000_000;
    for i in 0..5 {
        append(&store, &record("b", &format!("new-{i}")), later_ms + i, RETENTION).unwrap();
    }
    let appends = 125;
    let now_ms = START_MS + RETENTION * 1000 + 500;
    assert_eq!(store.keys("record:").len(), 125);

    let steps: &[(usize, u64)] = &[(75, 51), (25, 101), (5, 121), (5, 121)];
    for (index, (left, cursor_seq)) in steps.iter().enumerate() {
        prune(&store, appends, now_ms, RETENTION).unwrap();
        assert_eq!(store.keys("record:").len(), *left, "entries after prune {index}");
        let cursor = read_cursor(&store, HISTORY_CURSOR_KEY).unwrap().unwrap();
        assert_eq!(cursor.0, *cursor_seq, "cursor after prune {index}");
    }
    let listed = recent(&store, MAX_RECORDS, now_ms).unwrap();
    assert_eq!(change_orders(&listed), ["new-4", "new-3", "new-2", "new-1", "new-0"]);
}

#[test]
fn prune_with_nothing_due_costs_two_gets() {
    let store = MemoryStore::default();
    append_many(&store, 3);
    let policy = ClaimPolicy { now: START_MS / 1000, retention: RETENTION, stale_after: 60 };
    assert_eq!(claim(&store, "a", "sha256:aa", policy, &mut || false).unwrap(), Claim::Won);
    prune(&store, 3, START_MS, RETENTION).unwrap();

    let before = store.operation_count();
    prune(&store, 3, START_MS + 1000, RETENTION).unwrap();
    assert_eq!(store.operation_count() - before, 2, "one get per cursor");
}

#[test]
fn deploy_path_work_ignores_store_size() {
    // The same deploy costs the same store calls whatever else the store
    // contains, because no step lists keys.
    let mut costs = Vec::new();
    for unrelated_keys in [0, 1_000, 50_000] {
        let store = MemoryStore::default();
        for i in 0..unrelated_keys {
            store.set(&format!("deploy:other:{i}"), b"{}").unwrap();
        }
        let before = store.operation_count();
        let policy = ClaimPolicy { now: START_MS / 1000, retention: RETENTION, stale_after: 60 };
        assert_eq!(claim(&store, "a", "sha256:aa", policy, &mut || false).unwrap(), Claim::Won);
        finish(&store, &record("a", "co-1"), "sha256:aa").unwrap();
        append(&store, &record("a", "co-1"), START_MS, RETENTION).unwrap();
        costs.push(store.operation_count() - before);
    }
    assert_eq!(costs[0], costs[1], "{costs:?}");
    assert_eq!(costs[0], costs[2], "{costs:?}");
}

#[test]
fn prune_runs_every_tenth_append() {
    // Only a prune writes the history cursor.
    let cases: &[(i64, bool)] = &[(1, true), (2, false), (10, false), (11, true), (21, true), (500, false)];
    for (seq, prunes) in cases {
        let store = MemoryStore::default();
        store.increment(HISTORY_APPENDS_KEY, seq - 1).unwrap();
        append(&store, &record("a", "co"), START_MS, RETENTION).unwrap();
        assert_eq!(store.exists(HISTORY_CURSOR_KEY).unwrap(), *prunes, "append {seq}");
    }
}

#[test]
fn status_words() {
    assert_eq!(change_order_status(2), "succeeded");
    assert_eq!(change_order_status(11), "pending approval");
    assert_eq!(change_order_status(99), "unknown");
}
