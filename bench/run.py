#!/usr/bin/env python3
"""Run the benchmarks of sae-deploy-trigger and write target/bench/report.md.

scripts/bench builds the component, the host and the fast SAE stand-in, then
runs this script. Usage:

    bench/run.py [SECTION ...]
    bench/run.py --report      render report.md again from results.json

Sections: core, host, baseline, cold, size, profile (default: all, in that
order). Every server started here listens on 127.0.0.1 and every request
goes to 127.0.0.1; the component and the Python baseline are pointed at the
loopback stand-in. Each load run is bounded by wrk's duration.

Settings, from the environment:

    BENCH_DURATION       seconds of each measured wrk run (default 10)
    BENCH_CONNECTIONS    concurrent wrk connections (default 8)
    BENCH_COLD_RUNS      cold-start runs per variant (default 5)
    BENCH_GROWTH_WINDOWS extra wrk runs on a growing store (default 3)
    BENCH_GROWTH_SECONDS seconds of each such run (default 5)
"""

import csv
import datetime
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "target" / "bench"
LOGS = OUT / "logs"
HOST_BIN = ROOT / "target" / "host" / "sae-trigger-host"
FAST_SAE_BIN = ROOT / "target" / "bench-build" / "release" / "fast-sae"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
WASM = ROOT / "target" / "component" / "sae_deploy_trigger.wasm"
WRK_SCRIPT = ROOT / "bench" / "wrk" / "webhook.lua"
BASELINE = ROOT / "bench" / "baseline" / "handler.py"
ROUTES_FILE = ROOT / "benches" / "routes.json"
BODY_FILE = ROOT / "tests" / "fixtures" / "acr" / "personal-private.json"

SECTIONS = ["core", "host", "baseline", "cold", "size", "profile"]

# Throwaway credentials: they only ever reach the loopback stand-in.
TOKEN = "bench-webhook-token-0123456789abcdef"
ACCESS_KEY_ID = "LTAIbenchmarkKeyId"
ACCESS_KEY_SECRET = "bench-access-key-secret-0123456789"
APP_ID = "7171a6ca-d1cd-4928-8642-7d5cfe690000"

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
GROWTH_WINDOWS = int(os.environ.get("BENCH_GROWTH_WINDOWS", "3"))
GROWTH_SECONDS = int(os.environ.get("BENCH_GROWTH_SECONDS", "5"))
CALLGRIND_ITERATIONS = 200
# Keys that 10,000 earlier deploys leave in the store (four per digest),
# about one week of retention at one push a minute.
PRELOAD_KEYS = 40_000

CORE_STAGES = [
    "parse",
    "parse_rejected",
    "routes_table",
    "plan_single",
    "plan_routed",
    "sign",
    "event_single",
    "event_routed",
]

# Release-profile variants for the size table: overrides of the profile in
# Cargo.toml, as CARGO_PROFILE_RELEASE_* variables. The first row is the
# profile as Cargo.toml sets it.
# The row for the cargo build of "as shipped" followed by scripts/wasm-opt,
# which is what scripts/build produces and spin.toml serves.
WASM_OPT_LABEL = "as shipped, then wasm-opt -Oz (scripts/build)"

SIZE_VARIANTS = [
    ("as shipped", {}),
    ("opt-level = 3", {"OPT_LEVEL": "3"}),
    ("opt-level = s", {"OPT_LEVEL": "s"}),
    ("opt-level = z", {"OPT_LEVEL": "z"}),
    ("strip = false", {"STRIP": "false"}),
    ("lto = false", {"LTO": "false"}),
    ("codegen-units = 16", {"CODEGEN_UNITS": "16"}),
    ("panic = unwind", {"PANIC": "unwind"}),
    (
        "Cargo's default release profile",
        {"OPT_LEVEL": "3", "STRIP": "debuginfo", "LTO": "false", "CODEGEN_UNITS": "16", "PANIC": "unwind"},
    ),
]

TARGETS = {
    "wasm_bytes": 300_000,
    "core_event_us": 20.0,
    "cpu_ratio": 30.0,
    "memory_ratio": 10.0,
    "cold_ratio": 50.0,
    "webhooks_per_s": 1500.0,
}

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(cmd, **kwargs):
    """Run a command, failing loudly with its output when it fails."""
    kwargs.setdefault("cwd", ROOT)
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited with {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(extra=None):
    """Return the environment for a child: no proxies, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


# ---------------------------------------------------------------- processes


def cpu_seconds(pid):
    """Return utime + stime of a process and all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of the stat line; the split above starts at field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_mib(pid, field):
    """Return a kB field of /proc/<pid>/status, such as VmHWM, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def peak_rss_mib(pid):
    """Return VmHWM, the peak resident set size of a process, in MiB."""
    return status_mib(pid, "VmHWM")


def rss_mib(pid):
    """Return VmRSS, the resident set size of a process now, in MiB."""
    return status_mib(pid, "VmRSS")


class Server:
    """A server process started by this script, stopped by its pid."""

    def __init__(self, name, cmd, env, ready_pattern):
        self.name = name
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"{name}.log"
        self.log_file = open(self.log_path, "w")
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT
        )
        self.url = self._wait_ready(re.compile(ready_pattern))

    def _wait_ready(self, pattern, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            match = pattern.search(self.log_path.read_text(errors="replace"))
            if match:
                return match.group(1)
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} did not start within {timeout} s; see {self.log_path}")

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def start_fast_sae():
    return Server("fast-sae", [str(FAST_SAE_BIN), "--listen", "127.0.0.1:0"], clean_env(), r"event=listening url=(\S+)")


def fast_sae_deploys(fast_sae):
    host_port = fast_sae.url.removeprefix("http://")
    conn = http.client.HTTPConnection(host_port, timeout=10)
    conn.request("GET", "/__fast/stats")
    stats = json.loads(conn.getresponse().read())
    conn.close()
    return stats["deploys"]


def host_env(sae_url, routes=None, extra=None):
    variables = {
        "SPIN_VARIABLE_WEBHOOK_TOKEN": TOKEN,
        "SPIN_VARIABLE_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "SPIN_VARIABLE_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
        "SPIN_VARIABLE_SAE_ENDPOINT": sae_url,
    }
    if routes is not None:
        variables["SPIN_VARIABLE_ROUTES"] = routes
    variables.update(extra or {})
    return clean_env(variables)


def start_host(name, sae_url, state_dir, routes=None, listen="127.0.0.1:0", extra_env=None):
    cmd = [str(HOST_BIN), "-f", str(ROOT), "--listen", listen, "--state-dir", str(state_dir)]
    return Server(name, cmd, host_env(sae_url, routes, extra_env), r"event=listening address=(\S+)")


def baseline_env(sae_url, extra=None):
    return clean_env(
        {
            "BASELINE_WEBHOOK_TOKEN": TOKEN,
            "BASELINE_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "BASELINE_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "BASELINE_SAE_ENDPOINT": sae_url,
            **(extra or {}),
        }
    )


def start_baseline(name, sae_url, port=0):
    cmd = [str(VENV_PYTHON), str(BASELINE), "--port", str(port)]
    return Server(name, cmd, baseline_env(sae_url), r"event=listening url=(\S+)")


def fresh_dir(path):
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def preload_store(state_dir, count):
    """Fill the host's key-value store with what earlier deploys of other
    digests leave behind within the retention period, in the table layout
    the host uses. Per digest that is a claim counter, a claim time, an
    expiry-index entry and a finished deploy record, plus one expiry counter
    per hour, with the key formats of src/store.rs. The times are spread over the last 6 days, so that the
    component's pruning keeps them, as it would in a steady state."""
    now = int(time.time())
    digests = count // 4
    rows = []
    counters = {}
    for index in range(digests):
        digest = f"sha256:{index:064x}"
        tag = f"v1.{index // 100}.{index % 100}"
        image_id = f"{digest}:{tag}"
        deployed_at = now - 60 - index * 6 * 86400 // max(digests, 1)
        record = {
            "time": deployed_at,
            "repository": "acme/order-api",
            "tag": tag,
            "digest": digest,
            "app_id": APP_ID,
            "image": f"registry-vpc.cn-shanghai.aliyuncs.com/acme/order-api:{tag}",
            "region": "cn-shanghai",
            "route": None,
            "outcome": "deploying",
            "reason": None,
            "change_order_id": f"01db03d3-3ee9-48b3-b3d0-{index:012x}",
            "request_id": f"FA57BE1C-0000-4000-8000-{index:012X}",
            "sae_code": None,
        }
        rows.append(("default", f"claim:{APP_ID}:{image_id}", (1).to_bytes(8, "little")))
        rows.append(("default", f"claimed:{APP_ID}:{image_id}", str(deployed_at).encode()))
        hour = deployed_at // 3600
        seq = counters.get(hour, 0) + 1
        counters[hour] = seq
        entry = {"app_id": APP_ID, "image_id": image_id}
        rows.append(("default", f"expiry:{hour}:{seq}", json.dumps(entry).encode()))
        rows.append(("default", f"deploy:{APP_ID}:{image_id}", json.dumps(record).encode()))

    # Expiry counters are 8-byte little-endian integers, like every counter
    # the host's atomic increment writes, and the cursor starts at the oldest
    # hour, as the store's first claim would have set it.
    for hour, seq in counters.items():
        rows.append(("default", f"expiry-count:{hour}", seq.to_bytes(8, "little")))
    if counters:
        rows.append(("default", "expiry-cursor", f"{min(counters) - 1}:1".encode()))

    db = state_dir / "sqlite_key_value.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value ("
            "store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))"
        )
        conn.executemany("INSERT INTO spin_key_value (store, key, value) VALUES (?, ?, ?)", rows)


def store_keys(state_dir):
    db = state_dir / "sqlite_key_value.db"
    if not db.exists():
        return None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM spin_key_value").fetchone()[0]


# ---------------------------------------------------------------- load


def wrk(url, mode, seconds):
    """Run wrk against `url` and return its summary with requests per second."""
    cmd = [
        "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "--latency",
        "-s", str(WRK_SCRIPT), url, "--", str(BODY_FILE), mode,
    ]
    result = run(cmd, env=clean_env({"WEBHOOK_TOKEN": TOKEN}), timeout=seconds + 60)
    match = re.search(r"^wrk_result (\{.*\})$", result.stdout, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{result.stdout}\n{result.stderr}")
    summary = json.loads(match.group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    summary["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    summary["rps"] = summary["requests"] / (summary["duration_us"] / 1e6)
    return summary


def measure_load(server, url, mode, seconds, fast_sae, state_dir=None):
    """Run one wrk load and return throughput, latency, CPU and memory of `server`."""
    deploys_before = fast_sae_deploys(fast_sae)
    cpu_before = cpu_seconds(server.pid)
    summary = wrk(url, mode, seconds)
    cpu = cpu_seconds(server.pid) - cpu_before
    deploys = fast_sae_deploys(fast_sae) - deploys_before
    requests = summary["requests"]
    return {
        "mode": mode,
        "connections": CONNECTIONS,
        "seconds": summary["duration_us"] / 1e6,
        "requests": requests,
        "rps": summary["rps"],
        "p50_ms": summary["latency_p50_us"] / 1000,
        "p90_ms": summary["latency_p90_us"] / 1000,
        "p99_ms": summary["latency_p99_us"] / 1000,
        "max_ms": summary["latency_max_us"] / 1000,
        "non_2xx": summary["non_2xx"],
        "socket_errors": sum(summary[k] for k in summary if k.startswith("errors_")),
        "cpu_s": cpu,
        "cpu_per_webhook_us": cpu / requests * 1e6 if requests else None,
        "peak_rss_mib": peak_rss_mib(server.pid),
        "sae_deploys": deploys,
        "store_keys": store_keys(state_dir) if state_dir else None,
    }


def warm_up(url, seconds=2):
    wrk(url, "unique", seconds)


def section_host(results):
    """Load the served component: unique digests, duplicates, routed, tmpfs."""
    fast_sae = start_fast_sae()
    routes = ROUTES_FILE.read_text()
    state = OUT / "state"
    # (label, name, wrk mode, routes, state dir, keys stored before the start)
    scenarios = [
        ("unique, app_id in URL, state on disk", "host-unique", "unique", None, state / "host-unique", 0),
        ("duplicate digest, app_id in URL", "host-duplicate", "same", None, state / "host-duplicate", 0),
        ("unique, 10-route table", "host-routed", "unique", routes, state / "host-routed", 0),
        ("unique, state on tmpfs", "host-tmpfs", "unique", None, Path("/dev/shm/sae-bench-state"), 0),
        (f"unique, store preloaded with {PRELOAD_KEYS:,} keys", "host-preloaded", "unique", None, state / "host-preloaded", PRELOAD_KEYS),
    ]
    rows = []
    try:
        for label, name, mode, routes, state_dir, preload in scenarios:
            fresh_dir(state_dir)
            if preload:
                preload_store(state_dir, preload)
            log(f"host: {label}")
            host = start_host(name, fast_sae.url, state_dir, routes)
            startup_rss = rss_mib(host.pid)
            try:
                url = f"http://{host.url}/" if routes else f"http://{host.url}/?app_id={APP_ID}"
                if mode == "unique":
                    warm_up(url)
                row = measure_load(host, url, mode, DURATION, fast_sae, state_dir)
                row["label"] = label
                row["name"] = name
                row["startup_rss_mib"] = startup_rss
                if name == "host-unique":
                    row["growth"] = measure_growth(host, url, fast_sae, state_dir)
                rows.append(row)
            finally:
                host.stop()
            if str(state_dir).startswith("/dev/shm/"):
                shutil.rmtree(state_dir, ignore_errors=True)
    finally:
        fast_sae.stop()
    results["host"] = rows


def measure_growth(host, url, fast_sae, state_dir):
    """Keep loading one host, to show how cost follows the store's size."""
    windows = []
    for index in range(GROWTH_WINDOWS):
        log(f"host: store growth window {index + 1}/{GROWTH_WINDOWS}")
        row = measure_load(host, url, "unique", GROWTH_SECONDS, fast_sae, state_dir)
        windows.append(row)
    return windows


def section_baseline(results):
    fast_sae = start_fast_sae()
    try:
        log("baseline: Python handler, unique digests")
        server = start_baseline("baseline", fast_sae.url)
        startup_rss = rss_mib(server.pid)
        try:
            url = f"{server.url}/?app_id={APP_ID}"
            warm_up(url)
            row = measure_load(server, url, "unique", DURATION, fast_sae)
            row["label"] = "unique, app_id in URL"
            row["name"] = "baseline-unique"
            row["startup_rss_mib"] = startup_rss
        finally:
            server.stop()
    finally:
        fast_sae.stop()
    results["baseline"] = [row]


# ---------------------------------------------------------------- cold start


def first_webhook_seconds(cmd, env, port, log_name, timeout=180):
    """Start `cmd`, POST one webhook as soon as it accepts, and return the
    seconds from the start to the end of the 200 response."""
    LOGS.mkdir(parents=True, exist_ok=True)
    body = BODY_FILE.read_bytes()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with open(LOGS / f"{log_name}.log", "w") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            while True:
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"{log_name}: no response within {timeout} s")
                if process.poll() is not None:
                    raise RuntimeError(f"{log_name}: exited with {process.returncode}; see {LOGS / log_name}.log")
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                try:
                    conn.request("POST", f"/?app_id={APP_ID}", body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except ConnectionRefusedError:
                    time.sleep(0.002)
                    continue
                finally:
                    conn.close()
                elapsed = time.perf_counter() - started
                if response.status != 200:
                    raise RuntimeError(f"{log_name}: first webhook got HTTP {response.status}")
                return elapsed
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def section_cold(results):
    fast_sae = start_fast_sae()
    cold_root = fresh_dir(OUT / "cold")
    rows = {}
    try:
        def host_run(label, index, cache_home):
            port = free_port()
            state_dir = fresh_dir(cold_root / f"state-{label}-{index}")
            cmd = [str(HOST_BIN), "-f", str(ROOT), "--listen", f"127.0.0.1:{port}", "--state-dir", str(state_dir)]
            env = host_env(fast_sae.url, extra={"HOME": str(cache_home), "XDG_CACHE_HOME": str(cache_home / ".cache")})
            return first_webhook_seconds(cmd, env, port, f"cold-{label}-{index}")

        # Warm: one unmeasured run fills a private compile cache.
        warm_home = fresh_dir(cold_root / "home-warm")
        host_run("prime", 0, warm_home)
        cache_files = sum(1 for p in (warm_home / ".cache").rglob("*") if p.is_file())
        log(f"cold: host, warm cache ({cache_files} cache files)")
        rows["host_warm"] = [host_run("host-warm", i, warm_home) for i in range(COLD_RUNS)]

        log("cold: host, empty cache")
        rows["host_cold"] = [host_run("host-cold", i, fresh_dir(cold_root / f"home-cold-{i}")) for i in range(COLD_RUNS)]

        log("cold: Python baseline")
        rows["baseline"] = []
        for index in range(COLD_RUNS):
            port = free_port()
            cmd = [str(VENV_PYTHON), str(BASELINE), "--port", str(port)]
            rows["baseline"].append(first_webhook_seconds(cmd, baseline_env(fast_sae.url), port, f"cold-baseline-{index}"))
    finally:
        fast_sae.stop()
    results["cold"] = {
        "host_breakdown_ms": host_start_breakdown(),
        "runs": rows,
        "median_ms": {k: statistics.median(v) * 1000 for k, v in rows.items()},
        "warm_cache_files": cache_files,
    }


def host_start_breakdown():
    """Return the median component load time and first-request time that the
    host logged in the cold-start runs, per variant."""
    breakdown = {}
    for variant in ("host-warm", "host-cold"):
        loads, requests = [], []
        for log_path in LOGS.glob(f"cold-{variant}-*.log"):
            text = log_path.read_text(errors="replace")
            load = re.search(r"event=component_loaded .*?load_ms=(\d+)", text)
            request = re.search(r"event=http_request .*?duration_ms=(\d+)", text)
            if load and request:
                loads.append(int(load.group(1)))
                requests.append(int(request.group(1)))
        if loads:
            breakdown[variant] = {"load_ms": statistics.median(loads), "first_request_ms": statistics.median(requests)}
    return breakdown


# ---------------------------------------------------------------- core


# The bench profile inherits `strip = true` from the release profile; keep
# symbols and line tables so callgrind can name functions.
BENCH_PROFILE_ENV = {"CARGO_PROFILE_BENCH_STRIP": "false", "CARGO_PROFILE_BENCH_DEBUG": "line-tables-only"}


def core_bench_binary():
    result = run(
        ["cargo", "bench", "--features", "internals", "--bench", "core", "--no-run", "--message-format=json"],
        env=dict(os.environ, **BENCH_PROFILE_ENV),
    )
    for line in result.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") and message["target"]["name"] == "core":
            return message["executable"]
    raise RuntimeError("cargo did not report the core bench executable")


def callgrind_total(binary, stage, iterations, out_file):
    env = dict(os.environ, CORE_BENCH_STAGE=stage, CORE_BENCH_ITERATIONS=str(iterations))
    result = run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", binary],
        env=env,
        timeout=600,
    )
    events = int(re.search(r"events=(\d+)", result.stdout).group(1))
    text = Path(out_file).read_text()
    total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    return int(total.group(1)), events


def run_criterion(extra_env, filter_regex=None):
    """Run the criterion bench and return {stage: {fixture: median and CI in ns}}."""
    started = time.time()
    args = ["cargo", "bench", "--features", "internals", "--bench", "core", "--",
            "--warm-up-time", "1", "--measurement-time", "3", "--noplot"]
    if filter_regex:
        args.append(filter_regex)
    criterion = run(args, env=dict(os.environ, **BENCH_PROFILE_ENV, **extra_env), timeout=1800)
    times = {}
    for estimates in (ROOT / "target" / "criterion").glob("*/*/new/estimates.json"):
        if estimates.stat().st_mtime < started:
            continue
        stage, fixture = estimates.parts[-4], estimates.parts[-3]
        data = json.loads(estimates.read_text())
        times.setdefault(stage, {})[fixture] = {
            "median_ns": data["median"]["point_estimate"],
            "low_ns": data["median"]["confidence_interval"]["lower_bound"],
            "high_ns": data["median"]["confidence_interval"]["upper_bound"],
        }
    return criterion.stdout, times


def section_core(results):
    log("core: building the criterion bench")
    binary = core_bench_binary()
    log("core: criterion (about 2 minutes)")
    output, times = run_criterion({})
    (OUT / "criterion.txt").write_text(output)

    log("core: instruction counts (callgrind)")
    profile_dir = fresh_dir(OUT / "callgrind")
    instructions = {}
    for stage in CORE_STAGES:
        base, _ = callgrind_total(binary, stage, 0, profile_dir / f"{stage}-0.out")
        total, events = callgrind_total(binary, stage, CALLGRIND_ITERATIONS, profile_dir / f"{stage}.out")
        instructions[stage] = (total - base) / events

    # The bench profile inherits the release profile's opt-level, which is set
    # for the component's size; the whole events at opt-level 3 show its cost.
    log("core: whole events again at opt-level 3")
    output_opt3, times_opt3 = run_criterion({"CARGO_PROFILE_BENCH_OPT_LEVEL": "3"}, "^event_")
    (OUT / "criterion-opt-level-3.txt").write_text(output_opt3)
    results["core"] = {
        "criterion": times,
        "criterion_opt_level_3": times_opt3,
        "bench_opt_level": release_profile().get("opt-level", 3),
        "instructions_per_event": instructions,
    }


# ---------------------------------------------------------------- size


def section_size(results):
    target_dir = OUT / "size-target"
    out_dir = fresh_dir(OUT / "size")
    rows = []
    for label, overrides in SIZE_VARIANTS:
        log(f"size: {label}")
        env = dict(os.environ, **{f"CARGO_PROFILE_RELEASE_{k}": v for k, v in overrides.items()})
        cmd = ["cargo", "build", "--release", "--target", "wasm32-wasip2", "-p", "sae-deploy-trigger",
               "--target-dir", str(target_dir)]
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        row = {"label": label, "overrides": overrides}
        if result.returncode == 0:
            wasm = target_dir / "wasm32-wasip2" / "release" / "sae_deploy_trigger.wasm"
            copy = out_dir / f"{variant_file_name(label)}.wasm"
            shutil.copyfile(wasm, copy)
            row["bytes"] = copy.stat().st_size
        else:
            errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
            row["error"] = errors[0] if errors else result.stderr.strip().splitlines()[-1]
        rows.append(row)
    # scripts/build runs wasm-opt on the cargo output; apply it to the
    # "as shipped" variant too, so the table shows what that step buys.
    shipped_cargo = out_dir / f"{variant_file_name(SIZE_VARIANTS[0][0])}.wasm"
    if shipped_cargo.exists():
        log("size: as shipped, then wasm-opt -Oz")
        optimized = out_dir / "as-shipped-wasm-opt.wasm"
        run([str(ROOT / "scripts" / "wasm-opt"), str(shipped_cargo), str(optimized)], timeout=600)
        rows.insert(1, {"label": WASM_OPT_LABEL, "overrides": {}, "bytes": optimized.stat().st_size})
    results["size"] = {
        "main_build_bytes": WASM.stat().st_size if WASM.exists() else None,
        "release_profile": release_profile(),
        "variants": rows,
        "sections": component_sections(out_dir / f"{variant_file_name(SIZE_VARIANTS[0][0])}.wasm"),
    }


def variant_file_name(label):
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40]


def release_profile():
    """Return `[profile.release]` of Cargo.toml as written."""
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f).get("profile", {}).get("release", {})


def component_sections(path):
    """Return the bytes of each top-level section kind of a component binary:
    the embedded core modules and the component's own type, alias, canonical
    ABI and custom sections."""
    names = {0: "custom", 1: "core module", 2: "core instance", 3: "core type", 4: "component", 5: "instance",
             6: "alias", 7: "type", 8: "canon", 9: "start", 10: "import", 11: "export"}
    if not path.exists():
        return {}
    data = path.read_bytes()
    sizes = {}
    offset = 8
    while offset < len(data):
        section_id = data[offset]
        size, offset = read_leb128(data, offset + 1)
        name = names.get(section_id, f"id {section_id}")
        sizes[name] = sizes.get(name, 0) + size
        offset += size
    return sizes


def read_leb128(data, offset):
    value, shift = 0, 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, offset


# ---------------------------------------------------------------- profile


def section_profile(results):
    """Find where the time and bytes go: callgrind top functions of the core,
    perf on the host under load, and twiggy on the component's code."""
    profile = {}
    profile_dir = OUT / "callgrind"
    for stage in ("event_single", "event_routed"):
        out_file = profile_dir / f"{stage}.out"
        if not out_file.exists():
            continue
        annotate = run(["callgrind_annotate", "--inclusive=yes", "--threshold=99", str(out_file)])
        (OUT / f"callgrind-{stage}.txt").write_text(annotate.stdout)
        profile[f"callgrind_{stage}"] = top_callgrind_lines(annotate.stdout, 25)

    if shutil.which("perf"):
        profile["perf_host_unique"] = perf_host("unique")
        profile["perf_host_same"] = perf_host("same")
    else:
        profile["perf_host_unique"] = "perf is not installed"

    twiggy = OUT / "tools" / "bin" / "twiggy"
    core_wasm = build_core_module()
    if twiggy.exists():
        top = run([str(twiggy), "top", "-n", "30", str(core_wasm)])
        (OUT / "twiggy-top.txt").write_text(top.stdout)
        csv = run([str(twiggy), "top", "-n", "1000000", "--format", "csv", str(core_wasm)])
        profile["twiggy_top"] = top.stdout
        profile["crate_bytes"] = bytes_by_crate(csv.stdout)
        profile["core_module_bytes"] = core_wasm.stat().st_size
    else:
        profile["twiggy_top"] = f"twiggy is not installed at {twiggy} (scripts/bench installs it)"
    results["profile"] = profile


def build_core_module():
    """Build the component's core module, unstripped, for twiggy.

    twiggy reads core modules only, so the wasm32-wasip2 linker gets
    `--skip-wit-component` and leaves the module unwrapped. The name section stays, so
    twiggy can name functions.
    """
    log("profile: building the unstripped core module for twiggy")
    target_dir = OUT / "size-core-target"
    env = dict(os.environ, CARGO_PROFILE_RELEASE_STRIP="false", RUSTFLAGS="-C link-arg=--skip-wit-component")
    run(["cargo", "build", "--release", "--target", "wasm32-wasip2", "-p", "sae-deploy-trigger",
         "--target-dir", str(target_dir)], env=env, timeout=1800)
    return target_dir / "wasm32-wasip2" / "release" / "sae_deploy_trigger.wasm"


# Frames of the program's start-up and of the bench loop, left out of the
# callgrind summary because they include everything.
CALLGRIND_SKIP = re.compile(
    r"PROGRAM TOTALS|ld-linux|libc-start|below main|core::ops::function|std::rt::|std::panic|std::panicking"
    r"|__rust_begin_short_backtrace|core::main|core::run_stage|core::count_stage|core::event\b|\?\?\?:0x"
)


def top_callgrind_lines(text, count):
    lines = []
    for line in text.splitlines():
        if not re.match(r"^\s*[\d,]+ \(", line) or CALLGRIND_SKIP.search(line):
            continue
        # Drop the source file and the binary's path, keep the function.
        line = re.sub(r"\s+\[/[^\]]*\]$", "", line)
        line = re.sub(r"\)\s+\S*?:(?=\S)", ")  ", line, count=1)
        lines.append(line[:150])
    return "\n".join(lines[:count])


# Frames that show where a request's host CPU goes, for the perf summary.
PERF_FRAMES = re.compile(
    r"run_guest|SqliteKv::|sqlite3_step|instantiate|Store<T> as core::ops::drop|linear_lower_to_memory"
    r"|send_request|exc_page_fault|__x64_sys_futex|__x64_sys_(?:sendto|recvfrom|connect|write|fsync|epoll)"
    r"|HostFn::entrypoint|TeeWriter|log::event|serve_connection|new_store|new_incoming_request|call_handle"
)


def perf_host(mode):
    """Record the host under load (`unique` or `same` digests) with DWARF call
    graphs and return the self time per binary and the inclusive share of
    the frames in PERF_FRAMES."""
    fast_sae = start_fast_sae()
    state_dir = fresh_dir(Path(f"/dev/shm/sae-bench-perf-{mode}"))
    seconds = min(DURATION, 5)
    try:
        host = start_host(f"perf-host-{mode}", fast_sae.url, state_dir)
        try:
            url = f"http://{host.url}/?app_id={APP_ID}"
            wrk(url, mode, 2)
            data = OUT / f"host-{mode}.perf"
            recorder = subprocess.Popen(
                ["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-p", str(host.pid),
                 "-o", str(data), "--", "sleep", str(seconds + 1)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            cpu_before = cpu_seconds(host.pid)
            load = wrk(url, mode, seconds)
            cpu = cpu_seconds(host.pid) - cpu_before
            recorder.wait(timeout=seconds + 120)
            keys = store_keys(state_dir)
        finally:
            host.stop()
        reports = {}
        for kind, args in (("children", ["--children", "--sort", "symbol"]),
                           ("self", ["--no-children", "--sort", "dso,symbol"]),
                           ("dso", ["--no-children", "--sort", "dso"])):
            # --no-inline: resolving inlined frames runs addr2line per address,
            # which took over 15 minutes on the precompiled component's code.
            report = run(["perf", "report", "-i", str(data), *args, "--stdio", "-g", "none", "--no-inline"],
                         timeout=1200)
            (OUT / f"perf-host-{mode}-{kind}.txt").write_text(report.stdout)
            reports[kind] = report.stdout
        data.unlink(missing_ok=True)
    finally:
        fast_sae.stop()
        shutil.rmtree(state_dir, ignore_errors=True)

    dso_shares = []
    for line in reports["dso"].splitlines():
        match = re.match(r"^\s+([\d.]+)%\s+(.+?)\s*$", line)
        if match:
            dso_shares.append(f"{match.group(2)} {match.group(1)}%")
    header = (f"{load['requests']} webhooks in {seconds} s, {cpu / load['requests'] * 1e6:,.0f} µs CPU each, "
              f"{keys} keys in the store at the end\n"
              f"self time by binary: {', '.join(dso_shares[:5])}\n")
    seen = set()
    lines = []
    for line in reports["children"].splitlines():
        match = re.match(r"^\s+([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(.*?)\s*$", line)
        if not match or not PERF_FRAMES.search(match.group(3)):
            continue
        symbol = re.sub(r"::\{\{closure\}\}", "", match.group(3))[:110]
        if symbol in seen:
            continue
        seen.add(symbol)
        lines.append(f"{match.group(1):>6}%  {symbol}")
    return header + "inclusive  frame\n" + "\n".join(lines[:30])


PRIMITIVES = {"str", "bool", "char", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize",
              "u8", "u16", "u32", "u64", "u128", "usize", "T", "_"}


def crate_of(item):
    """Return the crate or section a twiggy item belongs to, judged from its
    name, or None for debug info and names, which the shipped build strips."""
    name = re.sub(r"\[[0-9a-f]{16}\]", "", item.strip())
    if name.startswith("custom section '.debug") or name.endswith('names" subsection'):
        return None
    if name.startswith("custom section 'component-type"):
        return "(component-type custom sections)"
    if name.startswith("custom section"):
        return "(other custom sections)"
    if name.startswith("data segment"):
        return "(data segments .rodata and .data)"
    if name.startswith("<"):
        # `<Type as Trait>::f`: the type's crate, or the trait's for a primitive type.
        own = re.match(r"^<(?:&(?:mut )?)?(?:dyn )?([A-Za-z_][A-Za-z0-9_]*)::", name)
        if own:
            return own.group(1)
        trait = re.search(r" as ([A-Za-z_][A-Za-z0-9_]*)::", name)
        if trait:
            return trait.group(1)
        return "(other generic code)"
    path = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)::", name)
    if path and path.group(1) not in PRIMITIVES:
        return path.group(1)
    if re.match(r"^[A-Za-z_][A-Za-z0-9_.$]*$", name):
        return "(C symbols: wasi-libc, dlmalloc)"
    section = re.match(r"^(import|export|type|elem|global|table|memory|code|data)\b", name)
    if section:
        return f"({section.group(1)} section)"
    return "(other)"


def bytes_by_crate(csv_text):
    """Sum twiggy's shallow sizes per crate, leaving out what strip removes."""
    totals = {}
    for row in csv.DictReader(io.StringIO(csv_text)):
        name = row.get("Name", "")
        size = row.get("ShallowSize", "")
        if not size.isdigit() or name.startswith(("Σ", "...")):
            continue
        crate = crate_of(name)
        if crate is not None:
            totals[crate] = totals.get(crate, 0) + int(size)
    return sorted(totals.items(), key=lambda item: -item[1])


# ---------------------------------------------------------------- machine


def busy_processes():
    """Return compilers and test runners running now that this script did not start."""
    ours = {os.getpid()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in ("rustc", "cargo", "cc", "ld", "rust-lld", "python3", "pytest", "wasm-component-", "cc1", "clippy-driver"):
            found.append(comm)
    return sorted(found)


def machine_info():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "not installed"

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "rustc": version(["rustc", "--version"]),
        "python": version([str(VENV_PYTHON), "--version"]),
        "wrk": version(["wrk", "--version"]) if shutil.which("wrk") else "not installed",
        "valgrind": version(["valgrind", "--version"]),
    }


def load_snapshot(section):
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return {"section": section, "loadavg_1m": float(load), "other_processes": busy_processes()}


# ---------------------------------------------------------------- report


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def verdict(ok):
    return "met" if ok else "**missed**"


def load_table(rows):
    lines = [
        "| run | requests | webhooks/s | p50 ms | p99 ms | max ms | CPU µs/webhook | RSS after start MiB | peak RSS MiB | SAE deploys | errors | store keys after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {fmt(row['requests'])} | {fmt(row['rps'])} | {fmt(row['p50_ms'], 2)} | "
            f"{fmt(row['p99_ms'], 2)} | {fmt(row.get('max_ms'), 0)} | {fmt(row['cpu_per_webhook_us'], 0)} | {fmt(row.get('startup_rss_mib'))} | {fmt(row['peak_rss_mib'])} | "
            f"{fmt(row['sae_deploys'])} | {fmt(row['non_2xx'] + row['socket_errors'])} | {fmt(row['store_keys'])} |"
        )
    return lines


def render(results):
    m = results["machine"]
    lines = [
        "# Benchmark report",
        "",
        f"Run {m['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}.",
        f"{m['rustc']}; {m['python']}; {m['wrk']}; {m['valgrind']}.",
        f"Load: wrk, 1 thread, {CONNECTIONS} connections, {DURATION} s per run after a 2 s warm-up; "
        "wrk, the server and the stand-in share the same cores.",
        "",
        "Load on the machine per section (1-minute load average, which includes this script's own",
        "load; compilers and test runners that this script did not start):",
        "",
    ]
    for snap in results["load"]:
        others = ", ".join(snap["other_processes"]) or "none"
        end = f", {snap['loadavg_1m_end']} at the end" if "loadavg_1m_end" in snap else ""
        lines.append(f"- {snap['section']}: load {snap['loadavg_1m']} at the start{end}; other processes at the start: {others}")
    lines.append("")

    checks = []
    core = results.get("core")
    if core:
        opt_level = json.dumps(core.get("bench_opt_level", 3))
        lines += ["## Pure core per event (host target, criterion median; callgrind instructions)", ""]
        lines += [f"The bench profile inherits the release profile, so this runs at opt-level {opt_level}; "
                  "the last column repeats the whole events at opt-level 3.", ""]
        lines += ["| stage | fixture | median µs | 95% CI µs | instructions/event (all fixtures) | median µs at opt-level 3 |",
                  "|---|---|---:|---:|---:|---:|"]
        for stage in CORE_STAGES:
            for fixture, t in sorted(core["criterion"].get(stage, {}).items()):
                opt3 = core.get("criterion_opt_level_3", {}).get(stage, {}).get(fixture)
                opt3_text = f"{opt3['median_ns'] / 1000:.2f}" if opt3 else ""
                lines.append(
                    f"| {stage} | {fixture} | {t['median_ns'] / 1000:.2f} | {t['low_ns'] / 1000:.2f}–{t['high_ns'] / 1000:.2f} | "
                    f"{fmt(core['instructions_per_event'].get(stage), 0)} | {opt3_text} |"
                )
        lines.append("")
        for stage in ("event_single", "event_routed"):
            worst = max((t["median_ns"] for t in core["criterion"].get(stage, {}).values()), default=None)
            if worst is not None:
                checks.append((f"pure core ≤ {TARGETS['core_event_us']:.0f} µs/event ({stage}, slowest fixture)",
                               f"{worst / 1000:.1f} µs", worst / 1000 <= TARGETS["core_event_us"]))

    host = results.get("host")
    baseline = results.get("baseline")
    if host or baseline:
        lines += ["## Through the host and the Python baseline (fast loopback SAE stand-in)", ""]
        lines += load_table((host or []) + [dict(r, label=f"Python baseline: {r['label']}") for r in (baseline or [])])
        lines += [
            "",
            "CPU is the server process's utime + stime over the measured run divided by the responses wrk counted.",
            "SAE deploys are the DeployApplication calls the stand-in received in that time; errors are non-2xx",
            "responses plus wrk's socket errors and timeouts; store keys are the rows of the host's key-value store",
            "at the end.",
            "",
        ]
        growth = next((r.get("growth") for r in host or [] if r.get("growth")), None)
        if growth:
            lines += [f"Store growth: the `unique, state on disk` host kept loaded for {GROWTH_WINDOWS} more runs of {GROWTH_SECONDS} s:", ""]
            lines += load_table([dict(r, label=f"window {i + 1}") for i, r in enumerate(growth)])
            lines.append("")
    ours = next((r for r in host or [] if r["name"] == "host-unique"), None)
    python = (baseline or [None])[0]
    if ours:
        checks.append((f"≥ {TARGETS['webhooks_per_s']:,.0f} webhooks/s through the host (unique digests)",
                       f"{ours['rps']:,.0f}/s", ours["rps"] >= TARGETS["webhooks_per_s"]))
    if ours and python:
        cpu_ratio = python["cpu_per_webhook_us"] / ours["cpu_per_webhook_us"]
        mem_ratio = python["peak_rss_mib"] / ours["peak_rss_mib"]
        lines += [
            "Ratios, unique digests (Python baseline ÷ ours):",
            "",
            f"- CPU per webhook: {cpu_ratio:.2f}× ({python['cpu_per_webhook_us']:,.0f} µs ÷ {ours['cpu_per_webhook_us']:,.0f} µs)",
            f"- peak RSS: {mem_ratio:.2f}× ({python['peak_rss_mib']:.1f} MiB ÷ {ours['peak_rss_mib']:.1f} MiB)",
            f"- throughput (ours ÷ Python): {ours['rps'] / python['rps']:.2f}×",
            f"- p50 latency: {python['p50_ms'] / ours['p50_ms']:.2f}×",
            "",
        ]
        checks.append((f"≥ {TARGETS['cpu_ratio']:.0f}× less CPU per webhook than Python", f"{cpu_ratio:.2f}×", cpu_ratio >= TARGETS["cpu_ratio"]))
        checks.append((f"≥ {TARGETS['memory_ratio']:.0f}× less peak memory than Python", f"{mem_ratio:.2f}×", mem_ratio >= TARGETS["memory_ratio"]))

    cold = results.get("cold")
    if cold:
        med = cold["median_ms"]
        lines += [f"## Cold start: process start to first answered webhook (median of {COLD_RUNS})", ""]
        lines += ["| server | median ms | runs ms |", "|---|---:|---|"]
        names = {
            "host_warm": f"host, warm compile cache ({cold['warm_cache_files']} files in a private XDG_CACHE_HOME)",
            "host_cold": "host, empty private XDG_CACHE_HOME and HOME",
            "baseline": "Python baseline",
        }
        for key, label in names.items():
            runs = ", ".join(f"{v * 1000:.0f}" for v in cold["runs"][key])
            lines.append(f"| {label} | {med[key]:,.0f} | {runs} |")
        lines.append("")
        for variant, parts in cold.get("host_breakdown_ms", {}).items():
            lines.append(f"- {variant}: the host logged component load {parts['load_ms']:.0f} ms "
                         f"and first request {parts['first_request_ms']:.0f} ms (medians)")
        lines.append("")
        warm_ratio = med["baseline"] / med["host_warm"]
        cold_ratio = med["baseline"] / med["host_cold"]
        lines += [f"Ratio Python ÷ host: {warm_ratio:.2f}× with a warm cache, {cold_ratio:.2f}× with an empty cache.", ""]
        checks.append((f"cold start ≥ {TARGETS['cold_ratio']:.0f}× faster (warm cache)", f"{warm_ratio:.2f}×", warm_ratio >= TARGETS["cold_ratio"]))
        checks.append((f"cold start ≥ {TARGETS['cold_ratio']:.0f}× faster (empty cache)", f"{cold_ratio:.2f}×", cold_ratio >= TARGETS["cold_ratio"]))

    size = results.get("size")
    if size:
        profile_text = ", ".join(f"{k} = {json.dumps(v)}" for k, v in size.get("release_profile", {}).items())
        lines += ["## Component size (wasm32-wasip2 release, built in target/bench/size-target)", ""]
        lines += [f"As shipped means `[profile.release]` of Cargo.toml: {profile_text}.", ""]
        lines += ["| profile | bytes | vs cargo build as shipped |", "|---|---:|---:|"]
        shipped = size["variants"][0].get("bytes")
        optimized = next((row.get("bytes") for row in size["variants"] if row["label"] == WASM_OPT_LABEL), None)
        for row in size["variants"]:
            if "bytes" in row:
                delta = f"{(row['bytes'] - shipped) / shipped * 100:+.1f}%" if shipped else "n/a"
                lines.append(f"| {row['label']} | {row['bytes']:,} | {delta} |")
            else:
                lines.append(f"| {row['label']} | build failed: {row['error']} | |")
        lines.append("")
        if size["main_build_bytes"]:
            lines += [f"The main build (`target/component`, from scripts/build) is {size['main_build_bytes']:,} bytes.", ""]
        if size.get("sections"):
            parts = ", ".join(f"{name} {value:,}" for name, value in sorted(size["sections"].items(), key=lambda kv: -kv[1]))
            lines += [f"Bytes by top-level section of the shipped component: {parts}.", ""]
        served_bytes = optimized or shipped
        if served_bytes:
            checks.append((f"`.wasm` ≤ {TARGETS['wasm_bytes']:,} bytes", f"{served_bytes:,} bytes",
                           served_bytes <= TARGETS["wasm_bytes"]))

    profile = results.get("profile")
    if profile:
        lines += ["## Profiles", ""]
        for key, title in (("callgrind_event_routed", "callgrind, event_routed, inclusive instructions"),
                           ("callgrind_event_single", "callgrind, event_single, inclusive instructions"),
                           ("perf_host_unique", "perf, host process under unique-digest load (state on tmpfs)"),
                           ("perf_host_same", "perf, host process under duplicate-digest load (state on tmpfs)")):
            if key in profile:
                lines += [f"### {title}", "", "```", profile[key], "```", ""]
        if "crate_bytes" in profile:
            lines += [f"### Code and data bytes by crate (twiggy, unstripped core module of {profile['core_module_bytes']:,} bytes)", ""]
            lines += ["| crate | bytes |", "|---|---:|"]
            lines += [f"| {crate} | {size:,} |" for crate, size in profile["crate_bytes"][:25]]
            lines.append("")
        if "twiggy_top" in profile:
            lines += ["### twiggy top 30", "", "```", profile["twiggy_top"].rstrip(), "```", ""]

    if checks:
        lines += ["## Targets", "", "| target | measured | result |", "|---|---:|---|"]
        lines += [f"| {name} | {value} | {verdict(ok)} |" for name, value, ok in checks]
        lines.append("")
    return "\n".join(lines)


def main():
    if sys.argv[1:] == ["--report"]:
        # Render target/bench/report.md again from the last run's results.
        results = json.loads((OUT / "results.json").read_text())
        write_report(results)
        return

    sections = sys.argv[1:] or SECTIONS
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        sys.exit(f"unknown section(s) {unknown}; choose from {SECTIONS}")

    OUT.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine_info(), "sections": sections, "load": []}
    runners = {
        "core": section_core,
        "host": section_host,
        "baseline": section_baseline,
        "cold": section_cold,
        "size": section_size,
        "profile": section_profile,
    }
    for section in SECTIONS:
        if section not in sections:
            continue
        snapshot = load_snapshot(section)
        runners[section](results)
        snapshot["loadavg_1m_end"] = load_snapshot(section)["loadavg_1m"]
        results["load"].append(snapshot)
        (OUT / "results.json").write_text(json.dumps(results, indent=2))

    write_report(results)
    log(f"wrote {OUT / 'report.md'} and {OUT / 'results.json'}")


def write_report(results):
    report = render(results)
    (OUT / "report.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
