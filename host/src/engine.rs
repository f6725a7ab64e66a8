//! The Wasmtime engine and the limits of its pooling instance allocator.
//!
//! Every request gets a fresh component instance. The pooling allocator
//! reserves the address space for all instance slots once, at start-up, and
//! reuses a slot's memory, tables and fiber stack for later requests instead
//! of mapping and unmapping them per request.

use anyhow::{Context, Result};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Default for `--max-instances`: how many component instances, and so how
/// many requests, can run at once. A request beyond it gets `503`.
///
/// Each slot reserves address space for one linear memory (4 GiB plus
/// guard regions, the same as without the pool), so 1,000 slots reserve
/// about 4 TiB of the 128 TiB x86-64 user address space but no RAM.
pub const DEFAULT_MAX_INSTANCES: u32 = 1_000;

/// Core instances one component instance may create. A `wasm32-wasip2`
/// component built by rustc creates 3: its code and the two small modules
/// (shim and fixups) that `wit-component` adds.
pub const CORE_INSTANCES_PER_COMPONENT: u32 = 8;

/// Linear memories one component instance may define. A `wasm32-wasip2`
/// component built by rustc defines one, in its code module.
pub const MEMORIES_PER_COMPONENT: u32 = 1;

/// Tables one component instance may define. A `wasm32-wasip2` component
/// built by rustc defines 2: its code module's function table and the
/// shim's.
pub const TABLES_PER_COMPONENT: u32 = 4;

/// Bytes of each linear memory that stay mapped when its slot is freed and
/// are reset with `memset` instead of `madvise`, so the next request does not
/// page-fault them in again.
///
/// The served component starts with 17 pages (1.06 MiB) of memory. With
/// Linux's `PAGEMAP_SCAN` (6.7 or later) only pages that were written are
/// reset. The cost is resident memory: up to this much per slot that has
/// ever been used, and the number of used slots follows the highest
/// concurrency seen.
///
/// NOTE: 2 MiB is an estimate of one request's working set (the initial
/// memory plus some heap), not a measured figure.
pub const LINEAR_MEMORY_KEEP_RESIDENT: usize = 2 << 20;

/// Bytes of each table that stay mapped when its slot is freed. The served
/// component's largest table has 248 entries of 8 bytes.
pub const TABLE_KEEP_RESIDENT: usize = 16 << 10;

/// Creates the engine, with a pool of `max_instances` instance slots.
pub fn build_engine(max_instances: u32) -> Result<Engine> {
    let mut config = Config::new();
    config.async_support(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(
        max_instances,
    )));
    Engine::new(&config).context("failed to create the Wasmtime engine")
}

fn pooling_config(max_instances: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(max_instances)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .total_core_instances(max_instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(max_instances.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(max_instances.saturating_mul(TABLES_PER_COMPONENT))
        // One fiber stack per request: the guest runs on it from
        // instantiation to the end of `handle`.
        .total_stacks(max_instances)
        .linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    pool
}

/// Returns whether `error`, or one of its causes, is the pooling
/// allocator's error for a pool with no free slot.
pub fn is_pool_exhausted(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.is::<wasmtime::PoolConcurrencyLimitError>())
}
