use std::sync::Arc;
use std::thread;

use super::*;
use crate::dedup::{claim, finish, Claim, ClaimPolicy};
use crate::store::{claim_key, MemoryStore};

/// Retention used by these tests, seconds.
const RETENTION: u64 = 3600;

/// Start of an hour, unix seconds (2026-01-01T00:00:00Z).
const T0: u64 = 1_767_225_600;

/// The hour that starts at [`T0`].
const H0: u64 = T0 / BUCKET_SECS;

const APP: &str = "7171a6ca-d1cd-4928-8642-7d5cfe690000";

fn won(store: &MemoryStore, image_id: &str, now: u64) {
    let policy = ClaimPolicy { now, retention: RETENTION, stale_after: 60 };
    assert_eq!(claim(store, APP, image_id, policy, &mut || false).unwrap(), Claim::Won, "{image_id}");
}

fn finished(store: &MemoryStore, image_id: &str, time: u64) {
    let record = DeployRecord {
        time,
        repository: "prod/gateway".into(),
        tag: "v1".into(),
        digest: None,
        app_id: APP.into(),
        image: "img".into(),
        region: "cn-hangzhou".into(),
        route: None,
        outcome: "deploying".into(),
        reason: None,
        change_order_id: None,
        request_id: None,
        sae_code: None,
    };
    finish(store, &record, image_id).unwrap();
}

fn claimed(store: &MemoryStore, image_id: &str) -> bool {
    store.exists(&claim_key(APP, image_id)).unwrap()
}

fn cursor(store: &MemoryStore) -> Option<(u64, u64)> {
    read_cursor(store, EXPIRY_CURSOR_KEY).unwrap()
}

/// Fills hour `hour` with `count` won claims, images `<prefix>-<i>`.
fn claim_many(store: &MemoryStore, hour: u64, prefix: &str, count: u64) {
    for i in 0..count {
        won(store, &format!("{prefix}-{i}"), hour * BUCKET_SECS + i);
    }
}

#[test]
fn prune_forgets_exactly_the_expired_claims() {
    let store = MemoryStore::default();
    let next_hour = T0 + BUCKET_SECS;

    won(&store, "finished", T0 + 100);
    finished(&store, "finished", T0 + 100);
    won(&store, "unfinished", T0 + 200);
    won(&store, "won-again", T0 + 300);
    release(&store, APP, "won-again").unwrap();
    won(&store, "won-again", next_hour + 900);
    won(&store, "finished-again", T0 + 400);
    finished(&store, "finished-again", next_hour + 700);
    won(&store, "next-hour", next_hour + 100);
    finished(&store, "next-hour", next_hour + 100);

    // Oldest kept: next_hour + 600, so only the first hour is due. The claim
    // from next_hour + 100 is past retention but waits for its whole hour.
    let processed = prune(&store, next_hour + 600).unwrap();

    let cases: &[(&str, bool)] = &[
        ("finished", false),
        ("unfinished", false),
        ("won-again", true),
        ("finished-again", true),
        ("next-hour", true),
    ];
    for (image_id, kept) in cases {
        assert_eq!(claimed(&store, image_id), *kept, "claim {image_id}");
        assert_eq!(store.exists(&claimed_at_key(APP, image_id)).unwrap(), *kept, "claim time {image_id}");
    }
    assert!(!store.exists(&deploy_key(APP, "finished")).unwrap());
    assert!(store.exists(&deploy_key(APP, "finished-again")).unwrap());
    assert_eq!(processed, 4);
    assert!(store.keys(&format!("expiry:{H0}:")).is_empty());
    assert!(!store.exists(&expiry_count_key(H0)).unwrap());
    assert_eq!(store.keys(&format!("expiry:{}:", H0 + 1)).len(), 2);
    assert_eq!(cursor(&store), Some((H0 + 1, 1)));
}

#[test]
fn prune_work_is_bounded_and_resumes() {
    let store = MemoryStore::default();
    claim_many(&store, H0, "a", 120);
    claim_many(&store, H0 + 1, "b", 1);
    let oldest_kept = (H0 + 2) * BUCKET_SECS;

    // (entries processed, cursor after, claims left)
    let steps: &[(u64, (u64, u64), usize)] = &[
        (50, (H0, 51), 71),
        (50, (H0, 101), 21),
        (21, (H0 + 2, 1), 0),
        (0, (H0 + 2, 1), 0),
    ];
    for (index, (processed, after, left)) in steps.iter().enumerate() {
        assert_eq!(prune(&store, oldest_kept).unwrap(), *processed, "prune {index}");
        assert_eq!(cursor(&store), Some(*after), "prune {index}");
        assert_eq!(store.keys("claim:").len(), *left, "prune {index}");
    }
    assert!(store.keys("expiry").iter().all(|k| k == EXPIRY_CURSOR_KEY));
}

#[test]
fn prune_opens_at_most_max_hours() {
    let store = MemoryStore::default();
    won(&store, "early", T0);
    won(&store, "late", T0 + 100 * BUCKET_SECS);
    let oldest_kept = (H0 + 200) * BUCKET_SECS;
    let first = H0 - 1;

    // (entries processed, cursor after)
    let steps: &[(u64, (u64, u64))] = &[
        (1, (first + MAX_PRUNE_HOURS, 1)),
        (1, (first + 2 * MAX_PRUNE_HOURS, 1)),
        (0, (H0 + 200, 1)),
    ];
    for (index, (processed, after)) in steps.iter().enumerate() {
        assert_eq!(prune(&store, oldest_kept).unwrap(), *processed, "prune {index}");
        assert_eq!(cursor(&store), Some(*after), "prune {index}");
    }
    assert!(!claimed(&store, "early"));
    assert!(!claimed(&store, "late"));
}

#[test]
fn prune_with_nothing_due_costs_one_get() {
    let store = MemoryStore::default();
    won(&store, "fresh", T0);
    let before = store.operation_count();
    assert_eq!(prune(&store, T0 + 10 - RETENTION).unwrap(), 0);
    assert_eq!(store.operation_count() - before, 1);
    assert!(claimed(&store, "fresh"));
}

#[test]
fn prune_without_cursor_does_nothing() {
    let store = MemoryStore::default();
    assert_eq!(prune(&store, T0).unwrap(), 0);
    assert_eq!(store.operation_count(), 1);
    assert!(store.keys("").is_empty());
}

#[test]
fn first_claim_starts_cursor_an_hour_early() {
    let store = MemoryStore::default();
    won(&store, "a", T0 + 5);
    assert_eq!(cursor(&store), Some((H0 - 1, 1)));
    won(&store, "b", T0 + 6);
    won(&store, "c", T0 + 3 * BUCKET_SECS);
    assert_eq!(cursor(&store), Some((H0 - 1, 1)), "later claims move the cursor");
    assert_eq!(read_counter(&store, &expiry_count_key(H0)).unwrap(), 2);
}

#[test]
fn unreadable_cursor_is_replaced() {
    let store = MemoryStore::default();
    store.set(EXPIRY_CURSOR_KEY, b"not a cursor").unwrap();
    won(&store, "a", T0 + 5);
    assert_eq!(cursor(&store), Some((H0 - 1, 1)));
}

#[test]
fn claims_older_than_retention_in_new_store() {
    // A store whose first claims are ten days old when it is first pruned.
    let store = MemoryStore::default();
    claim_many(&store, H0, "old", 3);
    assert_eq!(prune(&store, T0 + 10 * 86_400).unwrap(), 3);
    assert!(store.keys("claim").is_empty());
}

#[test]
fn stale_cursor_write_is_harmless() {
    // A slow prune may write back an older cursor after a faster one
    // advanced it. The entries in between are pruned again, which changes
    // nothing.
    let store = MemoryStore::default();
    claim_many(&store, H0, "old", 10);
    let oldest_kept = (H0 + 1) * BUCKET_SECS;
    let start = cursor(&store).unwrap();
    assert_eq!(prune(&store, oldest_kept).unwrap(), 10);
    won(&store, "new", oldest_kept + 1);

    write_cursor(&store, EXPIRY_CURSOR_KEY, start).unwrap();
    assert_eq!(prune(&store, oldest_kept).unwrap(), 0);
    assert_eq!(cursor(&store), Some((H0 + 1, 1)));
    assert_eq!(store.keys("claim:").len(), 1);
    assert!(claimed(&store, "new"));
}

#[test]
fn concurrent_prunes_keep_fresh_claims() {
    let store = Arc::new(MemoryStore::default());
    claim_many(&store, H0, "old", 200);
    let oldest_kept = (H0 + 2) * BUCKET_SECS;
    claim_many(&store, H0 + 2, "fresh", 20);

    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for _ in 0..10 {
                    prune(store.as_ref(), oldest_kept).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }

    // A thread may have written back an older cursor last, so finish the
    // walk from wherever it is.
    while prune(store.as_ref(), oldest_kept).unwrap() > 0 {}

    assert!(store.keys("claim:").iter().all(|k| k.contains(":fresh-")));
    assert_eq!(store.keys("claim:").len(), 20);
    assert!(store.keys(&format!("expiry:{H0}:")).is_empty());
    assert_eq!(cursor(&store), Some((H0 + 2, 1)));
}
