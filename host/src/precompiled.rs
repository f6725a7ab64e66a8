//! A cache of precompiled components that this host writes and loads.
//!
//! Each entry is the output of [`Engine::precompile_component`] in
//! `<key>.cwasm`, next to `<key>.sha256` with the SHA-256 of that output.
//! The key hashes the component's bytes and the engine's compatibility hash,
//! so a changed component, Wasmtime version or engine setting misses. Both
//! files are written to a temporary name and renamed into place.
//!
//! [`Component::deserialize_file`] trusts its input as native code. This
//! module only passes it files in the cache directory that this host
//! created, after checking the file against its recorded SHA-256, so a
//! truncated or corrupted entry is compiled again instead of loaded.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Origin of a loaded component, logged as `source=` in the
/// `component_loaded` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadPath {
    /// A valid cache entry was mapped.
    Loaded,
    /// No entry existed: compiled, and the entry was written.
    CompiledAndWritten,
    /// The entry failed its check or failed to load: compiled and rewritten.
    Recompiled,
    /// Compiled, but the entry could not be written, or no cache is set.
    CompiledUncached,
}

impl LoadPath {
    /// Returns the `key=value` value that names this path.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loaded => "precompiled",
            Self::CompiledAndWritten => "compiled_and_cached",
            Self::Recompiled => "recompiled_invalid_cache",
            Self::CompiledUncached => "compiled_uncached",
        }
    }
}

/// A loaded component and how it was obtained.
pub struct Loaded {
    /// The component, ready to link.
    pub component: Component,
    /// The path that produced it.
    pub path: LoadPath,
    /// Why the cache was not used, when it was not: a rejected entry or a
    /// failed write. Contains paths and error text, never file contents.
    pub cache_problem: Option<String>,
}

/// Returns `$XDG_CACHE_HOME/sae-trigger-host/components`, or the same under
/// `$HOME/.cache`, or `None` when neither variable is an absolute path.
pub fn default_cache_dir() -> Option<PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let base =
        absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|home| home.join(".cache")))?;
    Some(base.join("sae-trigger-host").join("components"))
}

/// Loads the component in `wasm_path` from `cache_dir` when a valid entry
/// exists, and otherwise compiles it and writes the entry.
pub fn load_component(
    engine: &Engine,
    wasm_path: &Path,
    cache_dir: Option<&Path>,
) -> Result<Loaded> {
    let wasm = std::fs::read(wasm_path)
        .with_context(|| format!("failed to read {}", wasm_path.display()))?;
    let Some(cache_dir) = cache_dir else {
        return compile_only(engine, &wasm);
    };
    let entry = Entry::new(cache_dir, &cache_key(engine, &wasm));

    // Step 1: use a valid entry.
    let rejected = match entry.load(engine) {
        Ok(Some(component)) => {
            return Ok(Loaded {
                component,
                path: LoadPath::Loaded,
                cache_problem: None,
            })
        }
        Ok(None) => None,
        Err(error) => Some(format!("{error:#}")),
    };

    // Step 2: compile, then write the entry for the next start.
    let artifact = engine
        .precompile_component(&wasm)
        .context("failed to compile the component")?;
    let component = deserialize(engine, &artifact)?;
    let (path, cache_problem) = match (entry.store(&artifact), rejected) {
        (Ok(()), None) => (LoadPath::CompiledAndWritten, None),
        (Ok(()), Some(reason)) => (LoadPath::Recompiled, Some(reason)),
        (Err(error), reason) => {
            let write_error = format!("{error:#}");
            let problem = reason.map_or(write_error.clone(), |r| format!("{r}; {write_error}"));
            (LoadPath::CompiledUncached, Some(problem))
        }
    };
    Ok(Loaded {
        component,
        path,
        cache_problem,
    })
}

fn compile_only(engine: &Engine, wasm: &[u8]) -> Result<Loaded> {
    let artifact = engine
        .precompile_component(wasm)
        .context("failed to compile the component")?;
    Ok(Loaded {
        component: deserialize(engine, &artifact)?,
        path: LoadPath::CompiledUncached,
        cache_problem: Some("no cache directory is configured".to_string()),
    })
}

fn deserialize(engine: &Engine, artifact: &[u8]) -> Result<Component> {
    // SAFETY: `artifact` is what `precompile_component` returned a moment
    // ago in this process, not bytes read from outside.
    unsafe { Component::deserialize(engine, artifact) }
        .context("failed to load the freshly compiled component")
}

/// Returns the hex SHA-256 of the component bytes and the engine's
/// compatibility hash together.
pub fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_digest = hasher.0.finalize();
    let mut key = Sha256::new();
    key.update(engine_digest);
    key.update(Sha256::digest(wasm));
    hex(&key.finalize())
}

/// Feeds a [`Hash`] value into SHA-256, so the key is the same in every run
/// of the same binary (std's `DefaultHasher` gives no such promise).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Never called: the digest is read with `finalize`.
        0
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// The two files of one cache entry.
struct Entry {
    dir: PathBuf,
    artifact: PathBuf,
    digest: PathBuf,
}

impl Entry {
    fn new(dir: &Path, key: &str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            artifact: dir.join(format!("{key}.cwasm")),
            digest: dir.join(format!("{key}.sha256")),
        }
    }

    /// Returns the component when both files exist and match, `None` when
    /// the entry is missing, and an error when it is invalid.
    fn load(&self, engine: &Engine) -> Result<Option<Component>> {
        let expected = match std::fs::read_to_string(&self.digest) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).context(format!("failed to read {}", self.digest.display()))
            }
        };
        let bytes = match std::fs::read(&self.artifact) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).context(format!("failed to read {}", self.artifact.display()))
            }
        };
        if hex(&Sha256::digest(&bytes)) != expected.trim() {
            anyhow::bail!("{} does not match its SHA-256", self.artifact.display());
        }
        // SAFETY: this host wrote the file (see `store`) and its content
        // still has the SHA-256 recorded when it was written. Entries are
        // replaced by rename, never changed in place, so the file mapped here
        // is the one that was checked unless someone else writes to the
        // cache directory.
        let component = unsafe { Component::deserialize_file(engine, &self.artifact) }?;
        Ok(Some(component))
    }

    /// Writes both files, each to a temporary name and then renamed.
    fn store(&self, artifact: &[u8]) -> Result<()> {
        create_private_dir(&self.dir)?;
        write_atomically(&self.artifact, artifact)?;
        write_atomically(&self.digest, hex(&Sha256::digest(artifact)).as_bytes())
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create cache directory {}", dir.display()))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    // A name unique to this process and call, so concurrent writers of the
    // same entry never share a temporary file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let suffix = format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(suffix);
    let temporary = PathBuf::from(temporary);

    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create_new(&temporary)?;
        // No fsync: after a power loss the SHA-256 check rejects a
        // half-written artifact.
        file.write_all(bytes)?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(|| format!("failed to write {}", path.display()))
}
