//! The expiry index: which claims to forget once they are past retention,
//! kept in hourly buckets so that pruning never lists the store.
//!
//! Each won claim adds an entry `expiry:<hour>:<seq>`, numbered by the
//! atomic counter `expiry-count:<hour>`. The cursor `expiry-cursor`
//! (`<hour>:<seq>`) names the oldest entry not yet pruned. [`prune`] walks
//! the entries from the cursor to the end of the last hour that is entirely
//! past retention, at most [`MAX_PRUNE_ENTRIES`] entries and
//! [`MAX_PRUNE_HOURS`] hours per call, and stores where it stopped.
//!
//! Concurrent prunes may process the same entries. That is harmless because
//! every step is a delete or a check of the claim's own times, and each prune
//! writes only a cursor up to which it has finished the work itself.

use serde::{Deserialize, Serialize};

use crate::dedup::release;
use crate::store::{
    claimed_at_key, deploy_key, expiry_count_key, expiry_entry_key, read_counter, read_cursor, write_cursor,
    DeployRecord, Store, StoreError, EXPIRY_CURSOR_KEY,
};

/// Width of one expiry bucket, seconds.
pub(crate) const BUCKET_SECS: u64 = 3600;

/// Maximum number of expiry entries one prune processes. Each costs about
/// seven store calls, so this bounds the time one request spends pruning.
pub(crate) const MAX_PRUNE_ENTRIES: u64 = 50;

/// Maximum number of hourly buckets one prune opens. An empty hour costs one
/// store call, so a store that was idle for weeks catches up over several
/// prunes.
pub(crate) const MAX_PRUNE_HOURS: u64 = 72;

/// The claim that an expiry entry points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ExpiryEntry {
    app_id: String,
    image_id: String,
}

/// Adds a claim won at `time_secs` to the expiry index.
pub(crate) fn add(store: &dyn Store, time_secs: u64, app_id: &str, image_id: &str) -> Result<(), StoreError> {
    let hour = time_secs / BUCKET_SECS;
    let entry = ExpiryEntry {
        app_id: app_id.to_owned(),
        image_id: image_id.to_owned(),
    };
    let value = serde_json::to_vec(&entry).map_err(|e| StoreError(e.to_string()))?;

    // The counter hands out the entry's number, so concurrent claims never
    // share a key.
    let seq = u64::try_from(store.increment(&expiry_count_key(hour), 1)?).unwrap_or(0);
    store.set(&expiry_entry_key(hour, seq), &value)?;

    // The first claim of a store, or the first claim of an hour when the
    // cursor is unreadable, starts the cursor. It starts one hour early
    // because two first claims that straddle an hour boundary may race, and
    // the later hour's write must still cover the earlier bucket.
    if seq == 1 && read_cursor(store, EXPIRY_CURSOR_KEY)?.is_none() {
        write_cursor(store, EXPIRY_CURSOR_KEY, (hour.saturating_sub(1), 1))?;
    }
    Ok(())
}

/// Forgets the claims of the buckets that lie entirely before
/// `oldest_kept_secs`, starting at the cursor. Returns the number of entries
/// processed. With nothing due it costs one `get`.
pub(crate) fn prune(store: &dyn Store, oldest_kept_secs: u64) -> Result<u64, StoreError> {
    // No cursor means that no claim has been indexed yet, or that the cursor
    // was unreadable. In the latter case the next hour's first claim starts a
    // new one.
    let Some(start) = read_cursor(store, EXPIRY_CURSOR_KEY)? else {
        return Ok(0);
    };
    let (mut hour, mut seq) = start;
    let end_hour = oldest_kept_secs / BUCKET_SECS;
    let mut processed = 0;
    let mut hours_opened = 0;

    while hour < end_hour && processed < MAX_PRUNE_ENTRIES && hours_opened < MAX_PRUNE_HOURS {
        hours_opened += 1;
        let count = read_counter(store, &expiry_count_key(hour))?;

        // Process this hour's entries until they or the budget run out.
        while seq <= count && processed < MAX_PRUNE_ENTRIES {
            forget_entry(store, &expiry_entry_key(hour, seq), oldest_kept_secs)?;
            seq += 1;
            processed += 1;
        }

        // A finished hour loses its counter. No claim adds to it any more,
        // because the hour ended at least one retention period (an hour or
        // more) ago.
        if seq > count {
            if count > 0 {
                store.delete(&expiry_count_key(hour))?;
            }
            hour += 1;
            seq = 1;
        }
    }

    if (hour, seq) != start {
        write_cursor(store, EXPIRY_CURSOR_KEY, (hour, seq))?;
    }
    Ok(processed)
}

/// Forgets the claim of one expiry entry unless it was renewed, then deletes
/// the entry. A missing or unreadable entry is only deleted.
fn forget_entry(store: &dyn Store, key: &str, oldest_kept_secs: u64) -> Result<(), StoreError> {
    let entry = store
        .get(key)?
        .and_then(|bytes| serde_json::from_slice::<ExpiryEntry>(&bytes).ok());
    if let Some(entry) = entry {
        forget_if_expired(store, &entry.app_id, &entry.image_id, oldest_kept_secs)?;
    }
    store.delete(key)
}

/// Deletes a claim and its finished deploy unless either was renewed inside
/// the retention period (a released claim can be won again later).
///
/// NOTE: a delivery that wins this claim again between the reads and the
/// deletes below loses its fresh claim, so a concurrent duplicate could
/// deploy a second time. That needs a redelivery at the moment the old claim
/// expires, and [`Store`] has no conditional delete to close the gap.
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

#[cfg(test)]
#[path = "expiry_tests.rs"]
mod tests;
