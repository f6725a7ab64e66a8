//! Per-event cost of the pure core on the host target, for the sample ACR
//! bodies in `tests/fixtures/acr/` and the 10-route table in
//! `benches/routes.json`. A body that the parser rejects (such as ACR's
//! documentation sample with an upper-case repository name) is measured in
//! `parse_rejected` only.
//!
//! Stages, as the component runs them for one push:
//!
//! | id | work |
//! |---|---|
//! | `parse` | parse and validate the ACR body |
//! | `parse_rejected` | the same for a body that fails validation |
//! | `routes_table` | parse the `routes` variable (the component does this on every request) |
//! | `plan_single` | build the `DeployApplication` call for the URL's `app_id` (no table) |
//! | `plan_routed` | match the push against the table, then build the call |
//! | `sign` | sign the planned call (ROA, HMAC-SHA1) |
//! | `event_single` | `parse` + `plan_single` + `sign` |
//! | `event_routed` | `parse` + `routes_table` + `plan_routed` + `sign` |
//!
//! `cargo bench --features internals --bench core` runs the criterion
//! measurements. With `CORE_BENCH_STAGE=<id>` set, the binary instead runs
//! that stage `CORE_BENCH_ITERATIONS` times (default 1000) over the stage's
//! fixtures and exits. `bench/run.py` uses this mode under callgrind to count
//! instructions.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion};
use sae_deploy_trigger::internals::{parse_route_table, parse_webhook, plan_deploys, sign_all, Planned, Push, Routes};

/// The application id of single-app mode, as in `?app_id=…`.
const APP_ID: &str = "7171a6ca-d1cd-4928-8642-7d5cfe690000";

const ACCESS_KEY_SECRET: &str = "bench-access-key-secret-0123456789";

const NONCE: &str = "5d0b5f0e-2f5c-4f7e-9c1a-3b9e8f6a1d20";

const ROUTES: &str = include_str!("routes.json");

const STAGES: &[&str] = &[
    "parse",
    "parse_rejected",
    "routes_table",
    "plan_single",
    "plan_routed",
    "sign",
    "event_single",
    "event_routed",
];

/// One sample body. `accepted` is `None` when the parser rejects it.
struct Fixture {
    name: String,
    body: Vec<u8>,
    accepted: Option<Accepted>,
}

/// A valid push with the inputs of the later stages prepared.
struct Accepted {
    push: Push,
    planned_single: Planned,
}

fn signing_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_741_083_761)
}

fn load_fixtures(routes: &Routes, no_routes: &Routes) -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acr");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();

    let fixtures: Vec<Fixture> = paths.iter().map(|path| load_fixture(path, routes, no_routes)).collect();
    assert!(
        fixtures.iter().any(|fixture| fixture.accepted.is_some()),
        "no fixture in {} is a valid push",
        dir.display()
    );
    fixtures
}

fn load_fixture(path: &Path, routes: &Routes, no_routes: &Routes) -> Fixture {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let body = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let Ok(push) = parse_webhook(&body) else {
        return Fixture {
            name: stem,
            body,
            accepted: None,
        };
    };

    // Each valid fixture must match exactly one route with one target, so
    // that one event is one signed call in both modes.
    let routed = plan_deploys(&push, routes, "").unwrap_or_else(|e| panic!("{stem}: routing failed: {e}"));
    let signed = sign_all(&routed, ACCESS_KEY_SECRET, signing_time(), NONCE);
    assert_eq!(signed.len(), 1, "{stem}: expected one routed target in benches/routes.json");

    let planned_single = plan_deploys(&push, no_routes, APP_ID).unwrap_or_else(|e| panic!("{stem}: planning failed: {e}"));
    Fixture {
        name: stem,
        body,
        accepted: Some(Accepted { push, planned_single }),
    }
}

/// Returns the fixtures `stage` runs on: `parse_rejected` takes the rejected
/// bodies, `routes_table` (which reads no body) the first valid one, and every
/// other stage all valid ones.
fn fixtures_for<'a>(stage: &str, fixtures: &'a [Fixture]) -> Vec<&'a Fixture> {
    let selected = fixtures
        .iter()
        .filter(|fixture| (stage == "parse_rejected") == fixture.accepted.is_none());
    if stage == "routes_table" {
        return selected.take(1).collect();
    }
    selected.collect()
}

/// Runs one stage on one fixture and returns something derived from every
/// result, so the optimizer cannot drop the work. Returns 0 for a stage that
/// does not apply to the fixture.
fn run_stage(stage: &str, fixture: &Fixture, routes: &Routes, no_routes: &Routes) -> usize {
    let accepted = fixture.accepted.as_ref();
    match (stage, accepted) {
        ("parse" | "parse_rejected", _) => usize::from(parse_webhook(black_box(&fixture.body)).is_ok()),
        (_, None) => 0,
        ("routes_table", _) => usize::from(parse_route_table(black_box(ROUTES)).is_ok()),
        ("plan_single", Some(a)) => usize::from(plan_deploys(black_box(&a.push), no_routes, APP_ID).is_ok()),
        ("plan_routed", Some(a)) => usize::from(plan_deploys(black_box(&a.push), routes, "").is_ok()),
        ("sign", Some(a)) => sign_all(black_box(&a.planned_single), ACCESS_KEY_SECRET, signing_time(), NONCE).len(),
        ("event_single", _) => event(&fixture.body, no_routes, APP_ID),
        ("event_routed", _) => match parse_route_table(black_box(ROUTES)) {
            Ok(table) => event(&fixture.body, &table, ""),
            Err(_) => 0,
        },
        (other, _) => panic!("unknown stage {other:?}; expected one of {STAGES:?}"),
    }
}

/// Parses, plans and signs one push, and returns the number of signed calls.
fn event(body: &[u8], routes: &Routes, app_id: &str) -> usize {
    let Ok(push) = parse_webhook(black_box(body)) else {
        return 0;
    };
    let Ok(planned) = plan_deploys(&push, routes, app_id) else {
        return 0;
    };
    sign_all(&planned, ACCESS_KEY_SECRET, signing_time(), NONCE).len()
}

fn bench_stages(c: &mut Criterion, fixtures: &[Fixture], routes: &Routes, no_routes: &Routes) {
    for &stage in STAGES {
        let mut group = c.benchmark_group(stage);
        for fixture in fixtures_for(stage, fixtures) {
            let id = if stage == "routes_table" { "10-routes" } else { fixture.name.as_str() };
            group.bench_with_input(BenchmarkId::from_parameter(id), fixture, |b, fixture| {
                b.iter(|| run_stage(stage, fixture, routes, no_routes))
            });
        }
        group.finish();
    }
}

/// Runs `stage` `iterations` times over each of its fixtures, for
/// instruction counting. A run with 0 iterations measures the setup alone.
fn count_stage(stage: &str, iterations: u64, fixtures: &[Fixture], routes: &Routes, no_routes: &Routes) {
    let selected = fixtures_for(stage, fixtures);
    let mut total = 0usize;
    for _ in 0..iterations {
        for fixture in &selected {
            total += run_stage(stage, fixture, routes, no_routes);
        }
    }
    let events = iterations * selected.len() as u64;
    println!("stage={stage} iterations={iterations} events={events} results={total}");
}

fn main() {
    let routes = parse_route_table(ROUTES).unwrap_or_else(|e| panic!("benches/routes.json is invalid: {e}"));
    let no_routes = parse_route_table("").unwrap_or_else(|e| panic!("an empty table failed to parse: {e}"));
    let fixtures = load_fixtures(&routes, &no_routes);

    if let Ok(stage) = std::env::var("CORE_BENCH_STAGE") {
        let iterations = std::env::var("CORE_BENCH_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        count_stage(&stage, iterations, &fixtures, &routes, &no_routes);
        return;
    }

    let mut criterion = Criterion::default().configure_from_args();
    bench_stages(&mut criterion, &fixtures, &routes, &no_routes);
    criterion.final_summary();
}
