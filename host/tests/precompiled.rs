//! The precompiled-component cache: written on the first load, loaded on
//! the next, and compiled again when an entry is missing or damaged.

mod support;

use std::path::{Path, PathBuf};

use sae_trigger_host::engine::build_engine;
use sae_trigger_host::precompiled::{cache_key, load_component, LoadPath};
use support::{fixture_wasm, start_host};
use wasmtime::Engine;

fn engine() -> Engine {
    build_engine(4).unwrap()
}

/// Returns the entry's artifact and digest files.
fn entry_files(engine: &Engine, cache_dir: &Path) -> (PathBuf, PathBuf) {
    let key = cache_key(engine, &std::fs::read(fixture_wasm()).unwrap());
    (
        cache_dir.join(format!("{key}.cwasm")),
        cache_dir.join(format!("{key}.sha256")),
    )
}

fn load_path(engine: &Engine, cache_dir: &Path) -> LoadPath {
    load_component(engine, &fixture_wasm(), Some(cache_dir))
        .unwrap()
        .path
}

#[test]
fn precompiled_written_then_loaded() {
    let engine = engine();
    let cache = tempfile::tempdir().unwrap();
    let (artifact, digest) = entry_files(&engine, cache.path());

    assert_eq!(
        load_path(&engine, cache.path()),
        LoadPath::CompiledAndWritten
    );
    assert!(artifact.exists());
    assert!(digest.exists());
    assert_eq!(load_path(&engine, cache.path()), LoadPath::Loaded);
}

#[test]
fn precompiled_truncated_entry_recompiled() {
    let engine = engine();
    let cache = tempfile::tempdir().unwrap();
    let (artifact, _) = entry_files(&engine, cache.path());
    load_path(&engine, cache.path());

    let bytes = std::fs::read(&artifact).unwrap();
    std::fs::write(&artifact, &bytes[..bytes.len() / 2]).unwrap();
    let loaded = load_component(&engine, &fixture_wasm(), Some(cache.path())).unwrap();
    assert_eq!(loaded.path, LoadPath::Recompiled);
    let problem = loaded.cache_problem.unwrap();
    assert!(problem.contains("does not match its SHA-256"), "{problem}");
    // The rewritten entry is valid again.
    assert_eq!(load_path(&engine, cache.path()), LoadPath::Loaded);
}

#[test]
fn precompiled_corrupted_byte_recompiled() {
    let engine = engine();
    let cache = tempfile::tempdir().unwrap();
    let (artifact, _) = entry_files(&engine, cache.path());
    load_path(&engine, cache.path());

    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();
    assert_eq!(load_path(&engine, cache.path()), LoadPath::Recompiled);
}

#[test]
fn precompiled_garbage_with_matching_digest_recompiled() {
    // A file that passes the digest check but is not an artifact of this
    // engine: Wasmtime's own checks reject it.
    let engine = engine();
    let cache = tempfile::tempdir().unwrap();
    let (artifact, digest) = entry_files(&engine, cache.path());
    load_path(&engine, cache.path());

    let garbage = b"not a precompiled component";
    std::fs::write(&artifact, garbage).unwrap();
    let garbage_digest = sha256_hex(garbage);
    std::fs::write(&digest, garbage_digest).unwrap();
    assert_eq!(load_path(&engine, cache.path()), LoadPath::Recompiled);
    assert_eq!(load_path(&engine, cache.path()), LoadPath::Loaded);
}

#[test]
fn precompiled_missing_digest_compiles() {
    let engine = engine();
    let cache = tempfile::tempdir().unwrap();
    let (_, digest) = entry_files(&engine, cache.path());
    load_path(&engine, cache.path());

    std::fs::remove_file(&digest).unwrap();
    assert_eq!(
        load_path(&engine, cache.path()),
        LoadPath::CompiledAndWritten
    );
}

#[test]
fn precompiled_unwritable_dir_still_loads() {
    let engine = engine();
    let dir = tempfile::tempdir().unwrap();
    // A file where the cache directory should be.
    let blocked = dir.path().join("cache");
    std::fs::write(&blocked, b"").unwrap();
    let loaded = load_component(&engine, &fixture_wasm(), Some(&blocked)).unwrap();
    assert_eq!(loaded.path, LoadPath::CompiledUncached);
    assert!(loaded.cache_problem.is_some());
}

#[test]
fn precompiled_other_engine_settings_miss() {
    let cache = tempfile::tempdir().unwrap();
    let pooled = engine();
    load_path(&pooled, cache.path());

    let mut config = wasmtime::Config::new();
    config.async_support(true).memory_reservation(1 << 30);
    let other = Engine::new(&config).unwrap();
    assert_ne!(
        entry_files(&pooled, cache.path()).0,
        entry_files(&other, cache.path()).0
    );
    assert_eq!(
        load_path(&other, cache.path()),
        LoadPath::CompiledAndWritten
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

const MANIFEST: &str = r#"spin_manifest_version = 2
[application]
name = "fixture"

[[trigger.http]]
route = "/..."
component = "fixture"

[component.fixture]
source = "WASM"
"#;

#[test]
fn precompiled_host_logs_source() {
    let cache = tempfile::tempdir().unwrap();
    let manifest = MANIFEST.replace("WASM", &fixture_wasm().display().to_string());
    let cache_home = cache.path().to_str().unwrap();
    let start = || start_host(&manifest, &[], &[("XDG_CACHE_HOME", cache_home)]);

    let first = start();
    first.wait_for_line("event=component_loaded component=fixture source=compiled_and_cached");
    drop(first);

    let second = start();
    second.wait_for_line("event=component_loaded component=fixture source=precompiled");
    assert_eq!(second.get("/print").0, 200);
    drop(second);

    let entries = cache.path().join("sae-trigger-host/components");
    for file in std::fs::read_dir(&entries).unwrap() {
        let path = file.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "cwasm")
        {
            std::fs::write(&path, b"truncated").unwrap();
        }
    }
    let third = start();
    third.wait_for_line("event=component_cache_unused component=fixture");
    third.wait_for_line("event=component_loaded component=fixture source=recompiled_invalid_cache");
    assert_eq!(third.get("/print").0, 200);
}
