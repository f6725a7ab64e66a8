"""Fixtures for the end-to-end tests of the served component.

The suite runs the built component in the local host (`target/host/sae-trigger-host`)
against the SAE stand-in, all on 127.0.0.1. `scripts/test` builds both
binaries first; this suite never builds them.

Scopes: each test module shares one stand-in (`standin_server`) and one host
(`host`, with the module's `host_variables`). The `sae` fixture resets the
stand-in around each test, so `sae.calls` holds only that test's calls. Tests
that need other variables start their own hosts with `launch`.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path

import pytest

from e2e_helpers import COMPONENT_WASM, HOST_BINARY, MANIFEST, REPO, RecordingStandIn, SecretLedger
from e2e_host import HostProcess, launch_host, require_loopback_host_command


class _LedgerLogHandler(logging.Handler):
    """Hands every stand-in log line to the ledger."""

    def __init__(self, ledger: SecretLedger) -> None:
        super().__init__(level=logging.DEBUG)
        self._ledger = ledger

    def emit(self, record: logging.LogRecord) -> None:
        self._ledger.record("stand-in log", self.format(record))


@pytest.fixture(scope="session", autouse=True)
def built_binaries() -> None:
    """Fail every test with one clear message when a binary is missing."""
    missing = [path for path in (HOST_BINARY, COMPONENT_WASM) if not path.is_file()]
    if missing:
        names = ", ".join(str(path.relative_to(REPO)) for path in missing)
        pytest.fail(
            f"missing {names}; build them with `scripts/build` and "
            "`cargo build -p sae-trigger-host --profile host`, or run scripts/test",
            pytrace=False,
        )
    newest_source = max(path.stat().st_mtime for path in (REPO / "src").rglob("*.rs"))
    if newest_source > COMPONENT_WASM.stat().st_mtime:
        warnings.warn(f"{COMPONENT_WASM.name} is older than src/; these tests run the old build", stacklevel=1)
    cargo_output = REPO / "target" / "wasm32-wasip2" / "release" / COMPONENT_WASM.name
    if cargo_output.is_file() and cargo_output.stat().st_mtime > COMPONENT_WASM.stat().st_mtime:
        warnings.warn(
            f"{COMPONENT_WASM.relative_to(REPO)} is older than the cargo output; run scripts/build", stacklevel=1
        )


E2E_DIR = Path(__file__).resolve().parent

# The run's ledger and its stand-in log handler, kept here for the teardown hook below.
_active_ledger: dict[str, object] = {}


@pytest.fixture(scope="session", autouse=True)
def ledger(built_binaries: None):
    """Record every response, host output line, state file and stand-in log
    line of the run. `pytest_runtest_teardown` checks them for secrets."""
    secret_ledger = SecretLedger()
    standin_logger = logging.getLogger("sae_standin")
    handler = _LedgerLogHandler(secret_ledger)
    _active_ledger.update(ledger=secret_ledger, handler=handler, level=standin_logger.level)
    standin_logger.setLevel(logging.INFO)
    standin_logger.addHandler(handler)
    yield secret_ledger
    _detach_log_handler()


def _detach_log_handler() -> None:
    if "handler" in _active_ledger:
        standin_logger = logging.getLogger("sae_standin")
        standin_logger.removeHandler(_active_ledger.pop("handler"))
        standin_logger.setLevel(_active_ledger.pop("level"))


def _in_e2e(item: pytest.Item | None) -> bool:
    return item is not None and E2E_DIR in Path(item.path).resolve().parents


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After the last end-to-end test, when its hosts and stand-ins have
    stopped, fail that test's teardown if any secret of the run leaked."""
    result = yield
    secret_ledger = _active_ledger.get("ledger")
    if secret_ledger is None or _in_e2e(nextitem):
        return result
    _detach_log_handler()
    leaks = secret_ledger.find_leaks()
    if leaks:
        pytest.fail("secrets leaked:\n" + "\n".join(leaks), pytrace=False)
    return result


class _GuardedPopen(subprocess.Popen):
    """`subprocess.Popen` that fails the test instead of starting the host without a loopback `sae_endpoint`."""

    def __init__(self, args, *positional, **options) -> None:
        require_loopback_host_command(args, options.get("env"))
        super().__init__(args, *positional, **options)


@pytest.fixture(scope="session", autouse=True)
def loopback_guard():
    """Fail any test that starts the host, by any means, with an `sae_endpoint`
    other than http://127.0.0.1:PORT: the component's default endpoints are
    public Alibaba Cloud hosts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", _GuardedPopen)
        yield


@pytest.fixture(autouse=True)
def ledger_test_name(ledger: SecretLedger, request: pytest.FixtureRequest):
    """Name the running test in the ledger, so that a leak report names where it happened."""
    ledger.current_test = request.node.nodeid
    yield


@pytest.fixture(scope="module")
def standin_server(ledger: SecretLedger):
    """One SAE stand-in per module, knowing this run's AccessKey and STS credentials."""
    server = RecordingStandIn(ledger)
    yield server
    server.stop()


@pytest.fixture
def sae(standin_server: RecordingStandIn):
    """The module's stand-in, reset before and after the test."""
    standin_server.reset()
    yield standin_server
    standin_server.reset()


@pytest.fixture(scope="module")
def host_variables() -> dict[str, str | None]:
    """Variables of the module's host besides the token, AccessKey and endpoint.
    Modules override this fixture."""
    return {}


@pytest.fixture(scope="module")
def host(ledger: SecretLedger, standin_server: RecordingStandIn, host_variables, tmp_path_factory, request):
    """One host per module with a fresh state directory, aimed at the module's stand-in."""
    process = launch_host(
        ledger,
        sae_endpoint=standin_server.url,
        state_dir=tmp_path_factory.mktemp(f"{request.module.__name__}-state"),
        variables=host_variables,
    )
    yield process
    process.stop()


@pytest.fixture
def launch(ledger: SecretLedger, tmp_path: Path):
    """Start extra hosts for one test; they are stopped when it ends.

    Takes the keyword arguments of `launch_host`; `state_dir` defaults to a
    new directory under the test's tmp_path.
    """
    started: list[HostProcess] = []

    def start(*, sae_endpoint: str, state_dir: Path | None = None, **options) -> HostProcess:
        directory = state_dir or tmp_path / f"host-state-{len(started)}"
        process = launch_host(ledger, sae_endpoint=sae_endpoint, state_dir=directory, **options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def new_standin(ledger: SecretLedger):
    """Start extra stand-ins for one test, e.g. with `require_content_md5=True`."""
    servers: list[RecordingStandIn] = []

    def start(**options) -> RecordingStandIn:
        server = RecordingStandIn(ledger, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def manifest_without_endpoint(tmp_path: Path) -> Path:
    """A copy of spin.toml whose `allowed_outbound_hosts` lacks `{{ sae_endpoint }}`,
    with the component source made absolute so the copy can live in tmp_path."""
    text = MANIFEST.read_text(encoding="utf-8")
    endpoint_line = '    "{{ sae_endpoint }}",\n'
    assert text.count(endpoint_line) == 1, "spin.toml no longer lists {{ sae_endpoint }} as expected"
    text = text.replace(endpoint_line, "")
    source_line = 'source = "target/component/sae_deploy_trigger.wasm"'
    assert text.count(source_line) == 1, "spin.toml no longer names the component source as expected"
    text = text.replace(source_line, f'source = "{COMPONENT_WASM}"')
    copy = tmp_path / "spin.toml"
    copy.write_text(text, encoding="utf-8")
    return copy
