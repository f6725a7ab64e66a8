//! Deploy history on the key-value store, and SAE change order statuses in
//! words.
//!
//! History is a ring of [`MAX_RECORDS`] slots, `record:<slot>`. Each append
//! takes the next number from the atomic counter `history-appends` and
//! overwrites slot `(number - 1) % MAX_RECORDS`. Each slot's value contains its
//! number and expiry time, so a reader can tell an entry that was
//! overwritten, or not written yet, from the one it expects.

use serde::{Deserialize, Serialize};

use crate::expiry::{self, MAX_PRUNE_ENTRIES};
use crate::store::{
    history_slot_key, read_counter, read_cursor, write_cursor, DeployRecord, Store, StoreError, HISTORY_APPENDS_KEY,
    HISTORY_CURSOR_KEY,
};

/// Number of history slots, so the maximum number of entries kept.
pub(crate) const MAX_RECORDS: usize = 500;

/// [`MAX_RECORDS`] as a slot count.
const RING_LEN: u64 = MAX_RECORDS as u64;

/// Default number of entries `GET /deploys` returns.
pub(crate) const DEFAULT_LIST_LIMIT: usize = 50;

/// Appends between two prunes. A prune with nothing due costs two `get`s,
/// but concurrent deliveries that prune at the same time repeat the same
/// deletes. At most one claim is indexed per append, so [`MAX_PRUNE_ENTRIES`]
/// per prune removes a backlog five times faster than it grows.
pub(crate) const PRUNE_EVERY: u64 = 10;

/// One history slot's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct HistoryEntry {
    /// Append number from `history-appends`, starting at 1.
    seq: u64,
    /// Unix time in milliseconds after which the entry is no longer listed:
    /// the append time plus the retention period at that time.
    expires_ms: u64,
    record: DeployRecord,
}

/// Adds a history entry written at `time_ms`, and on every [`PRUNE_EVERY`]th
/// append (the first included) prunes the store.
pub(crate) fn append(
    store: &dyn Store,
    record: &DeployRecord,
    time_ms: u64,
    retention_secs: u64,
) -> Result<(), StoreError> {
    // The counter numbers the entry, and the number picks the slot.
    let seq = u64::try_from(store.increment(HISTORY_APPENDS_KEY, 1)?).unwrap_or(1);
    let entry = HistoryEntry {
        seq,
        expires_ms: time_ms.saturating_add(retention_secs.saturating_mul(1000)),
        record: record.clone(),
    };
    let value = serde_json::to_vec(&entry).map_err(|e| StoreError(e.to_string()))?;
    store.set(&slot_key(seq), &value)?;

    if seq % PRUNE_EVERY == 1 {
        prune(store, seq, time_ms, retention_secs)?;
    }
    Ok(())
}

/// Deletes claims and finished deploys past the retention period, through the
/// expiry index, and history entries past their expiry time. `appends` is the
/// current value of `history-appends`. Each part does at most
/// [`MAX_PRUNE_ENTRIES`] entries and continues from its cursor next time, so
/// the work does not depend on the size of the store.
pub(crate) fn prune(store: &dyn Store, appends: u64, now_ms: u64, retention_secs: u64) -> Result<(), StoreError> {
    let oldest_kept_ms = now_ms.saturating_sub(retention_secs.saturating_mul(1000));
    expiry::prune(store, oldest_kept_ms / 1000)?;
    prune_history(store, appends, now_ms)
}

/// Deletes expired history entries, oldest first, from the cursor
/// `history-cursor` (`<seq>:<expires_ms>`) up to the first unexpired entry.
fn prune_history(store: &dyn Store, appends: u64, now_ms: u64) -> Result<(), StoreError> {
    let cursor = read_cursor(store, HISTORY_CURSOR_KEY)?;
    let (cursor_seq, cursor_expires_ms) = cursor.unwrap_or((1, 0));

    // Entries older than one lap of the ring were overwritten already. The
    // cursor's expiry time applies only while the cursor is inside the ring.
    let first_seq = cursor_seq.max(oldest_in_ring(appends));
    if first_seq == cursor_seq && now_ms < cursor_expires_ms {
        return Ok(());
    }

    let mut seq = first_seq;
    let mut stop_expires_ms = 0;
    let mut checked = 0;
    while seq <= appends && checked < MAX_PRUNE_ENTRIES {
        checked += 1;
        match read_entry(store, seq)? {
            // The expected entry: stop at the first one still listed.
            Some(entry) if entry.seq == seq => {
                if now_ms < entry.expires_ms {
                    stop_expires_ms = entry.expires_ms;
                    break;
                }
                store.delete(&slot_key(seq))?;
            }
            // An entry from the previous lap: the append of `seq` is still
            // being written, and its entry is new.
            Some(entry) if entry.seq < seq => break,
            // Missing (another prune deleted it) or overwritten by a later
            // lap: nothing to delete.
            // NOTE: on the ring's first lap, an append that is still being
            // written is missing too. Its entry is then skipped here and stays
            // until the ring overwrites it, although `recent` hides it once
            // it expires.
            _ => {}
        }
        seq += 1;
    }

    if cursor != Some((seq, stop_expires_ms)) {
        write_cursor(store, HISTORY_CURSOR_KEY, (seq, stop_expires_ms))?;
    }
    Ok(())
}

/// Returns up to `limit` unexpired entries at `now_ms`, newest first.
pub(crate) fn recent(store: &dyn Store, limit: usize, now_ms: u64) -> Result<Vec<DeployRecord>, StoreError> {
    let appends = read_counter(store, HISTORY_APPENDS_KEY)?;
    let mut records = Vec::new();
    for seq in (oldest_in_ring(appends)..=appends).rev() {
        if records.len() >= limit {
            break;
        }

        // Skip slots that hold another lap's entry or an expired one.
        let Some(entry) = read_entry(store, seq)? else { continue };
        if entry.seq == seq && now_ms < entry.expires_ms {
            records.push(entry.record);
        }
    }
    Ok(records)
}

/// Finds the newest unexpired entry with this change order id.
pub(crate) fn find_change_order(
    store: &dyn Store,
    change_order_id: &str,
    now_ms: u64,
) -> Result<Option<DeployRecord>, StoreError> {
    let records = recent(store, MAX_RECORDS, now_ms)?;
    Ok(records
        .into_iter()
        .find(|r| r.change_order_id.as_deref() == Some(change_order_id)))
}

/// Returns the lowest append number whose slot may still hold its entry.
fn oldest_in_ring(appends: u64) -> u64 {
    appends.saturating_sub(RING_LEN - 1).max(1)
}

/// Returns the key of the slot that append number `seq` (from 1) writes.
fn slot_key(seq: u64) -> String {
    history_slot_key(seq.saturating_sub(1) % RING_LEN)
}

/// Reads the slot of append number `seq`. An unreadable value is `None`.
fn read_entry(store: &dyn Store, seq: u64) -> Result<Option<HistoryEntry>, StoreError> {
    let bytes = store.get(&slot_key(seq))?;
    Ok(bytes.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
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
#[path = "history_tests.rs"]
mod tests;
