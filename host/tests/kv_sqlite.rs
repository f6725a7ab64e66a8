//! The SQLite key-value store: basic operations, atomic increment and CAS.

use std::path::Path;
use std::sync::{Arc, Barrier};

use sae_trigger_host::kv::{KvError, SqliteKv};

const STORE: &str = "default";

#[test]
fn kv_set_get_delete_exists() {
    let kv = SqliteKv::open_in_memory().unwrap();
    assert_eq!(kv.get(STORE, "a").unwrap(), None);
    assert!(!kv.exists(STORE, "a").unwrap());

    kv.set(STORE, "a", b"one").unwrap();
    assert_eq!(kv.get(STORE, "a").unwrap().as_deref(), Some(&b"one"[..]));
    assert!(kv.exists(STORE, "a").unwrap());

    kv.set(STORE, "a", b"two").unwrap();
    assert_eq!(kv.get(STORE, "a").unwrap().as_deref(), Some(&b"two"[..]));

    kv.delete(STORE, "a").unwrap();
    assert_eq!(kv.get(STORE, "a").unwrap(), None);
    kv.delete(STORE, "a").unwrap();
}

#[test]
fn kv_empty_value_and_binary_keys() {
    let kv = SqliteKv::open_in_memory().unwrap();
    kv.set(STORE, "empty", b"").unwrap();
    assert_eq!(kv.get(STORE, "empty").unwrap(), Some(Vec::new()));
    kv.set(STORE, "bytes", &[0, 255, 10]).unwrap();
    assert_eq!(kv.get(STORE, "bytes").unwrap(), Some(vec![0, 255, 10]));
}

#[test]
fn kv_keys_listed_per_store() {
    let kv = SqliteKv::open_in_memory().unwrap();
    kv.set(STORE, "b", b"1").unwrap();
    kv.set(STORE, "a", b"2").unwrap();
    kv.set("other", "c", b"3").unwrap();
    assert_eq!(kv.keys(STORE).unwrap(), vec!["a", "b"]);
    assert_eq!(kv.keys("other").unwrap(), vec!["c"]);
    assert_eq!(kv.get("other", "a").unwrap(), None);
}

#[test]
fn kv_batch_operations() {
    let kv = SqliteKv::open_in_memory().unwrap();
    kv.set_many(
        STORE,
        &[("x".into(), b"1".to_vec()), ("y".into(), b"2".to_vec())],
    )
    .unwrap();
    let found = kv
        .get_many(STORE, &["y".into(), "missing".into(), "x".into()])
        .unwrap();
    assert_eq!(
        found,
        vec![
            ("y".to_string(), Some(b"2".to_vec())),
            ("missing".to_string(), None),
            ("x".to_string(), Some(b"1".to_vec())),
        ]
    );
    kv.delete_many(STORE, &["x".into(), "missing".into()])
        .unwrap();
    assert_eq!(kv.keys(STORE).unwrap(), vec!["y"]);
}

#[test]
fn kv_increment_encoding() {
    let kv = SqliteKv::open_in_memory().unwrap();
    assert_eq!(kv.increment(STORE, "n", 1).unwrap(), 1);
    assert_eq!(kv.increment(STORE, "n", 2).unwrap(), 3);
    assert_eq!(kv.increment(STORE, "n", -10).unwrap(), -7);
    // Spin stores the counter as an 8-byte little-endian i64.
    assert_eq!(
        kv.get(STORE, "n").unwrap(),
        Some((-7i64).to_le_bytes().to_vec())
    );
}

#[test]
fn kv_increment_rejects_non_integer() {
    let kv = SqliteKv::open_in_memory().unwrap();
    kv.set(STORE, "text", b"12").unwrap();
    assert!(matches!(
        kv.increment(STORE, "text", 1),
        Err(KvError::NotAnInteger { length: 2 })
    ));
    kv.set(STORE, "max", &i64::MAX.to_le_bytes()).unwrap();
    assert!(matches!(
        kv.increment(STORE, "max", 1),
        Err(KvError::Overflow)
    ));
    assert_eq!(
        kv.get(STORE, "max").unwrap(),
        Some(i64::MAX.to_le_bytes().to_vec())
    );
}

fn run_threads(count: usize, work: impl Fn(usize) + Send + Sync + 'static) {
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new(count));
    let handles: Vec<_> = (0..count)
        .map(|index| {
            let (work, barrier) = (work.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                work(index);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

fn database_path(dir: &Path) -> std::path::PathBuf {
    dir.join("sqlite_key_value.db")
}

#[test]
fn kv_increment_atomic_across_connections() {
    // Each thread opens its own connection, as separate host processes
    // would, so only SQLite's locking keeps the increments atomic.
    const THREADS: usize = 10;
    const PER_THREAD: i64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let path = database_path(dir.path());
    SqliteKv::open(&path).unwrap();

    let thread_path = path.clone();
    run_threads(THREADS, move |_| {
        let kv = SqliteKv::open(&thread_path).unwrap();
        for _ in 0..PER_THREAD {
            kv.increment(STORE, "counter", 1).unwrap();
        }
    });

    let kv = SqliteKv::open(&path).unwrap();
    let expected = THREADS as i64 * PER_THREAD;
    assert_eq!(
        kv.get(STORE, "counter").unwrap(),
        Some(expected.to_le_bytes().to_vec())
    );
}

#[test]
fn kv_increment_atomic_shared_connection() {
    const THREADS: usize = 10;
    let kv = Arc::new(SqliteKv::open_in_memory().unwrap());
    let shared = kv.clone();
    run_threads(THREADS, move |_| {
        for _ in 0..50 {
            shared.increment(STORE, "counter", 2).unwrap();
        }
    });
    assert_eq!(
        kv.increment(STORE, "counter", 0).unwrap(),
        THREADS as i64 * 100
    );
}

#[test]
fn kv_cas_swaps_when_unchanged() {
    let kv = SqliteKv::open_in_memory().unwrap();
    kv.set(STORE, "k", b"old").unwrap();
    assert!(kv
        .compare_and_swap(STORE, "k", Some(b"old"), b"new")
        .unwrap());
    assert_eq!(kv.get(STORE, "k").unwrap(), Some(b"new".to_vec()));
}

#[test]
fn kv_cas_fails_when_changed() {
    let kv = SqliteKv::open_in_memory().unwrap();
    kv.set(STORE, "k", b"old").unwrap();
    kv.set(STORE, "k", b"changed").unwrap();
    assert!(!kv
        .compare_and_swap(STORE, "k", Some(b"old"), b"new")
        .unwrap());
    assert_eq!(kv.get(STORE, "k").unwrap(), Some(b"changed".to_vec()));
}

#[test]
fn kv_cas_absent_key_inserts_once() {
    let kv = SqliteKv::open_in_memory().unwrap();
    assert!(kv.compare_and_swap(STORE, "k", None, b"first").unwrap());
    assert!(!kv.compare_and_swap(STORE, "k", None, b"second").unwrap());
    assert_eq!(kv.get(STORE, "k").unwrap(), Some(b"first".to_vec()));
}

#[test]
fn kv_cas_concurrent_only_one_wins() {
    const THREADS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let path = database_path(dir.path());
    SqliteKv::open(&path)
        .unwrap()
        .set(STORE, "k", b"start")
        .unwrap();

    let wins = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (thread_path, thread_wins) = (path.clone(), wins.clone());
    run_threads(THREADS, move |index| {
        let kv = SqliteKv::open(&thread_path).unwrap();
        let value = format!("writer-{index}");
        if kv
            .compare_and_swap(STORE, "k", Some(b"start"), value.as_bytes())
            .unwrap()
        {
            thread_wins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });

    assert_eq!(wins.load(std::sync::atomic::Ordering::SeqCst), 1);
    let stored = SqliteKv::open(&path)
        .unwrap()
        .get(STORE, "k")
        .unwrap()
        .unwrap();
    assert!(stored.starts_with(b"writer-"), "{stored:?}");
}

#[test]
fn kv_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = database_path(dir.path());
    SqliteKv::open(&path)
        .unwrap()
        .set(STORE, "k", b"v")
        .unwrap();
    assert_eq!(
        SqliteKv::open(&path).unwrap().get(STORE, "k").unwrap(),
        Some(b"v".to_vec())
    );
}
