use std::sync::Arc;
use std::thread;

use super::*;
use crate::store::MemoryStore;

const APP: &str = "7171a6ca-d1cd-4928-8642-7d5cfe690000";
const DIGEST: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

fn policy(now: u64) -> ClaimPolicy {
    ClaimPolicy {
        now,
        retention: 3600,
        stale_after: 60,
    }
}

fn record(time: u64) -> DeployRecord {
    DeployRecord {
        time,
        repository: "prod/gateway".into(),
        tag: "v1".into(),
        digest: Some(DIGEST.into()),
        app_id: APP.into(),
        image: "registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:v1".into(),
        region: "cn-hangzhou".into(),
        route: None,
        outcome: "deploying".into(),
        reason: None,
        change_order_id: Some("co-1".into()),
        request_id: Some("req-1".into()),
        sae_code: None,
    }
}

fn no_wait() -> impl FnMut() -> bool {
    || false
}

#[test]
fn first_claim_wins_then_duplicate() {
    let store = MemoryStore::default();
    assert_eq!(claim(&store, APP, DIGEST, policy(100), &mut no_wait()).unwrap(), Claim::Won);
    finish(&store, &record(100), DIGEST).unwrap();
    let again = claim(&store, APP, DIGEST, policy(101), &mut no_wait()).unwrap();
    assert_eq!(again, Claim::Duplicate(Box::new(record(100))));
}

#[test]
fn unfinished_claim_is_in_progress() {
    let store = MemoryStore::default();
    assert_eq!(claim(&store, APP, DIGEST, policy(100), &mut no_wait()).unwrap(), Claim::Won);
    assert_eq!(claim(&store, APP, DIGEST, policy(101), &mut no_wait()).unwrap(), Claim::InProgress);
}

#[test]
fn released_claim_can_be_taken_again() {
    let store = MemoryStore::default();
    assert_eq!(claim(&store, APP, DIGEST, policy(100), &mut no_wait()).unwrap(), Claim::Won);
    release(&store, APP, DIGEST).unwrap();
    assert_eq!(claim(&store, APP, DIGEST, policy(101), &mut no_wait()).unwrap(), Claim::Won);
}

#[test]
fn waiter_sees_record_written_while_waiting() {
    let store = MemoryStore::default();
    assert_eq!(claim(&store, APP, DIGEST, policy(100), &mut no_wait()).unwrap(), Claim::Won);
    let mut polls = 0;
    let mut wait = || {
        polls += 1;
        if polls == 2 {
            finish(&store, &record(100), DIGEST).unwrap();
        }
        polls < 5
    };
    let outcome = claim(&store, APP, DIGEST, policy(101), &mut wait).unwrap();
    assert_eq!(outcome, Claim::Duplicate(Box::new(record(100))));
}

#[test]
fn waiter_takes_over_after_release() {
    let store = MemoryStore::default();
    assert_eq!(claim(&store, APP, DIGEST, policy(100), &mut no_wait()).unwrap(), Claim::Won);
    let mut wait = || {
        release(&store, APP, DIGEST).unwrap();
        true
    };
    assert_eq!(claim(&store, APP, DIGEST, policy(101), &mut wait).unwrap(), Claim::Won);
}

#[test]
fn stale_claim_is_taken_over() {
    let store = MemoryStore::default();
    assert_eq!(claim(&store, APP, DIGEST, policy(100), &mut no_wait()).unwrap(), Claim::Won);
    assert_eq!(claim(&store, APP, DIGEST, policy(100 + 61), &mut no_wait()).unwrap(), Claim::Won);
}

#[test]
fn expired_record_allows_redeploy() {
    let store = MemoryStore::default();
    assert_eq!(claim(&store, APP, DIGEST, policy(100), &mut no_wait()).unwrap(), Claim::Won);
    finish(&store, &record(100), DIGEST).unwrap();
    assert_eq!(claim(&store, APP, DIGEST, policy(100 + 3600), &mut no_wait()).unwrap(), Claim::Won);
    assert!(!store.exists(&deploy_key(APP, DIGEST)).unwrap());
}

#[test]
fn other_app_or_digest_is_independent() {
    let store = MemoryStore::default();
    let other_digest = format!("sha256:{}", "b".repeat(64));
    assert_eq!(claim(&store, APP, DIGEST, policy(1), &mut no_wait()).unwrap(), Claim::Won);
    assert_eq!(claim(&store, APP, &other_digest, policy(1), &mut no_wait()).unwrap(), Claim::Won);
    let other_app = "00000000-0000-0000-0000-000000000000";
    assert_eq!(claim(&store, other_app, DIGEST, policy(1), &mut no_wait()).unwrap(), Claim::Won);
}

#[test]
fn ten_threads_one_winner() {
    let store = Arc::new(MemoryStore::default());
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let store = Arc::clone(&store);
            thread::spawn(move || claim(store.as_ref(), APP, DIGEST, policy(5), &mut || false).unwrap())
        })
        .collect();
    let outcomes: Vec<Claim> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners = outcomes.iter().filter(|c| **c == Claim::Won).count();
    assert_eq!(winners, 1, "{outcomes:?}");
}
