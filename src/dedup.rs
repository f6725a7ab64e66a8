//! Exactly-once deploys per (application, image), on the key-value store.
//! The image is identified by its digest, plus its tag when deployed by tag.
//!
//! The first delivery of an image for an app takes a claim with an atomic
//! `increment` (the one that sees 1 wins); later deliveries wait for its
//! record and answer as duplicates. A failed deploy releases the claim so a
//! redelivery can try again.
//!
//! NOTE: if an instance dies after SAE accepted the deploy but before the
//! record is written, the claim stays unfinished until it is older than the
//! stale limit; a redelivery after that deploys the image a second time.

use std::time::Duration;

use crate::expiry;
use crate::store::{claim_key, claimed_at_key, deploy_key, DeployRecord, Store, StoreError};

/// How many times a delivery tries to take a claim that keeps being
/// released or found stale.
const MAX_CLAIM_ATTEMPTS: usize = 3;

/// Interval between checks while another delivery has the claim.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The result of trying to claim a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This delivery owns the deploy and must finish or release it.
    Won,
    /// The image was already deployed to the app; the original record.
    Duplicate(Box<DeployRecord>),
    /// Another delivery has the claim and did not finish within the wait.
    InProgress,
}

/// Limits that govern claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClaimPolicy {
    /// Current unix time, seconds.
    pub(crate) now: u64,
    /// How long a finished deploy counts for duplicates, seconds.
    pub(crate) retention: u64,
    /// Age after which an unfinished claim is taken over, seconds.
    pub(crate) stale_after: u64,
}

/// Tries to claim the deploy of `image_id` to `app_id`. `wait` sleeps one poll
/// interval and returns false when the caller's wait budget is spent.
pub(crate) fn claim(
    store: &dyn Store,
    app_id: &str,
    image_id: &str,
    policy: ClaimPolicy,
    wait: &mut dyn FnMut() -> bool,
) -> Result<Claim, StoreError> {
    let counter = claim_key(app_id, image_id);
    for _ in 0..MAX_CLAIM_ATTEMPTS {
        // A finished deploy inside the retention window is a duplicate.
        if let Some(record) = finished(store, app_id, image_id, policy)? {
            return Ok(Claim::Duplicate(Box::new(record)));
        }

        // The delivery that moves the counter to 1 owns the deploy.
        if store.increment(&counter, 1)? == 1 {
            store.set(&claimed_at_key(app_id, image_id), policy.now.to_string().as_bytes())?;
            expiry::add(store, policy.now, app_id, image_id)?;
            return Ok(Claim::Won);
        }

        // Someone else holds it: wait for a record, a release or staleness.
        loop {
            if let Some(record) = finished(store, app_id, image_id, policy)? {
                return Ok(Claim::Duplicate(Box::new(record)));
            }
            if !store.exists(&counter)? {
                break;
            }
            if is_stale(store, app_id, image_id, policy)? {
                release(store, app_id, image_id)?;
                break;
            }
            if !wait() {
                return Ok(Claim::InProgress);
            }
        }
    }
    Ok(Claim::InProgress)
}

/// Returns the finished deploy of this image to this app inside the
/// retention window, without changing the store (for dry runs).
pub(crate) fn lookup(
    store: &dyn Store,
    app_id: &str,
    image_id: &str,
    policy: ClaimPolicy,
) -> Result<Option<DeployRecord>, StoreError> {
    let Some(bytes) = store.get(&deploy_key(app_id, image_id))? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<DeployRecord>(&bytes)
        .ok()
        .filter(|record| policy.now.saturating_sub(record.time) < policy.retention))
}

/// Records a finished deploy under the claim, for later duplicates.
pub(crate) fn finish(store: &dyn Store, record: &DeployRecord, image_id: &str) -> Result<(), StoreError> {
    let value = serde_json::to_vec(record).map_err(|e| StoreError(e.to_string()))?;
    store.set(&deploy_key(&record.app_id, image_id), &value)
}

/// Gives up a claim so that a later delivery can deploy.
pub(crate) fn release(store: &dyn Store, app_id: &str, image_id: &str) -> Result<(), StoreError> {
    store.delete(&claimed_at_key(app_id, image_id))?;
    store.delete(&claim_key(app_id, image_id))
}

/// Returns the finished record when it is inside the retention window, and
/// clears an expired one together with its claim.
fn finished(
    store: &dyn Store,
    app_id: &str,
    image_id: &str,
    policy: ClaimPolicy,
) -> Result<Option<DeployRecord>, StoreError> {
    let key = deploy_key(app_id, image_id);
    let Some(bytes) = store.get(&key)? else {
        return Ok(None);
    };
    match serde_json::from_slice::<DeployRecord>(&bytes) {
        Ok(record) if policy.now.saturating_sub(record.time) < policy.retention => Ok(Some(record)),
        _ => {
            store.delete(&key)?;
            release(store, app_id, image_id)?;
            Ok(None)
        }
    }
}

/// Returns true when the claim's time is older than the limit. A claim whose
/// time is not written yet is fresh, because its owner is between the two writes.
fn is_stale(store: &dyn Store, app_id: &str, image_id: &str, policy: ClaimPolicy) -> Result<bool, StoreError> {
    let claimed_at = store
        .get(&claimed_at_key(app_id, image_id))?
        .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok());
    Ok(claimed_at.is_some_and(|at| policy.now.saturating_sub(at) > policy.stale_after))
}

#[cfg(test)]
#[path = "dedup_tests.rs"]
mod tests;
