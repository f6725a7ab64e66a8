"""Helpers for the end-to-end tests: this run's secrets, the secret ledger, the
stand-in with this run's credentials, ACR bodies and checks on SAE calls.

The host process lives in e2e_host.py.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[2]
TESTS_DIR = REPO / "tests"
if str(TESTS_DIR) not in sys.path:
    # The stand-in imports as `sae_standin`, a package directly under tests/.
    sys.path.insert(0, str(TESTS_DIR))

from sae_standin.calls import Call  # noqa: E402
from sae_standin.standin import SaeStandIn  # noqa: E402

if TYPE_CHECKING:
    from e2e_host import HostProcess, Reply

HOST_BINARY = REPO / "target" / "host" / "sae-trigger-host"
COMPONENT_WASM = REPO / "target" / "component" / "sae_deploy_trigger.wasm"
MANIFEST = REPO / "spin.toml"
ACR_SAMPLES = TESTS_DIR / "fixtures" / "acr"

# This run's secrets. They are long and random, so finding one in any output
# means it leaked; it cannot be chance.
WEBHOOK_TOKEN = "whk" + secrets.token_hex(32)
ACCESS_KEY_ID = "LTAI5t" + secrets.token_hex(12)
ACCESS_KEY_SECRET = secrets.token_hex(30)
STS_ACCESS_KEY_ID = "STS.NU" + secrets.token_hex(14)
STS_ACCESS_KEY_SECRET = secrets.token_hex(30)
STS_TOKEN = "CAIS" + secrets.token_hex(150)

SECRETS = {
    "webhook_token": WEBHOOK_TOKEN,
    "access_key_id": ACCESS_KEY_ID,
    "access_key_secret": ACCESS_KEY_SECRET,
    "STS access_key_id": STS_ACCESS_KEY_ID,
    "STS access_key_secret": STS_ACCESS_KEY_SECRET,
    "security_token": STS_TOKEN,
}
CREDENTIALS = {ACCESS_KEY_ID: ACCESS_KEY_SECRET, STS_ACCESS_KEY_ID: STS_ACCESS_KEY_SECRET}
STS_TOKENS = {STS_ACCESS_KEY_ID: STS_TOKEN}


class SecretLedger:
    """Every secret of the run, and every text the run produced, checked at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = dict(SECRETS)
        self._outputs: list[tuple[str, str]] = []
        self.current_test = "(no test)"

    def watch(self, name: str, value: str) -> None:
        """Add a value that must appear in no output, e.g. a computed signature."""
        with self._lock:
            if value not in self._secrets.values():
                self._secrets[f"{name} #{len(self._secrets) + 1}"] = value

    def record(self, source: str, text: str) -> None:
        """Keep an output to check, named by its source and the running test."""
        with self._lock:
            self._outputs.append((f"{source} (recorded during {self.current_test})", text))

    def find_leaks(self) -> list[str]:
        """Return one line per (secret, output) pair in which the secret appears."""
        with self._lock:
            watched = list(self._secrets.items())
            outputs = list(self._outputs)
        leaks = []
        for name, value in watched:
            for source, text in outputs:
                if value in text:
                    leaks.append(f"{name} appears in {source}")
        return leaks


class RecordingStandIn(SaeStandIn):
    """The SAE stand-in with this run's credentials. It hands every signature
    it received to the ledger before `reset` or `stop` clears the calls."""

    def __init__(self, ledger: SecretLedger, **options: object) -> None:
        self._ledger = ledger
        super().__init__(credentials=CREDENTIALS, sts_tokens=STS_TOKENS, **options)

    def collect_signatures(self) -> None:
        for call in self.calls:
            authorization = call.headers.get("authorization", "")
            if ":" in authorization:
                self._ledger.watch("SAE signature", authorization.rsplit(":", 1)[1])

    def reset(self) -> None:
        self.collect_signatures()
        super().reset()

    def stop(self) -> None:
        self.collect_signatures()
        super().stop()


# ACR bodies and SAE expectations.


def new_app_id() -> str:
    """Return a fresh SAE application id (a UUID)."""
    return str(uuid.uuid4())


def new_digest() -> str:
    """Return a fresh manifest digest."""
    return "sha256:" + secrets.token_hex(32)


def acr_sample(name: str) -> dict:
    """Return a sample ACR body from tests/fixtures/acr, e.g. `enterprise`."""
    return json.loads((ACR_SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def push_event(
    namespace: str = "prod",
    name: str = "gateway",
    tag: str = "v1.0.0",
    *,
    digest: str | None | Callable[[], str] = new_digest,
    region: str | None = "cn-hangzhou",
) -> dict:
    """Return an ACR push body in the shape of the samples, with a fresh digest by default."""
    push_data = {"pushed_at": "2025-03-04 10:22:41", "tag": tag}
    if callable(digest):
        digest = digest()
    if digest is not None:
        push_data["digest"] = digest
    repository = {
        "name": name,
        "namespace": namespace,
        "repo_full_name": f"{namespace}/{name}",
        "repo_type": "PRIVATE",
    }
    if region is not None:
        repository["region"] = region
    return {"push_data": push_data, "repository": repository}


def encode(event: dict | bytes) -> bytes:
    return event if isinstance(event, bytes) else json.dumps(event).encode("utf-8")


def vpc_image(event: dict, region: str | None = None) -> str:
    """Return the `ImageUrl` the component builds on the default VPC registry host."""
    repository = event["repository"]
    region = region or repository["region"]
    return f"registry-vpc.{region}.aliyuncs.com/{repository['namespace']}/{repository['name']}:{event['push_data']['tag']}"


def post_push(
    host: HostProcess,
    event: dict | bytes,
    app_id: str | None = None,
    *,
    token: str | None = WEBHOOK_TOKEN,
    path: str = "/",
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """POST a push with the token and app_id in the query, as ACR sends it."""
    params = {}
    if token is not None:
        params["token"] = token
    if app_id is not None:
        params["app_id"] = app_id
    params.update(query or {})
    return host.request("POST", path, query=params, body=encode(event), headers=headers)


def deploy_calls(sae: SaeStandIn) -> list[Call]:
    """Return every DeployApplication request the stand-in received."""
    return [call for call in sae.calls if call.action == "DeployApplication"]


def single_deploy(sae: SaeStandIn) -> Call:
    """Return the one DeployApplication request, checking that it was signed correctly."""
    calls = deploy_calls(sae)
    assert len(calls) == 1, f"expected one DeployApplication, got {[c.query for c in calls]}"
    call = calls[0]
    assert call.verified, f"the stand-in rejected the signature: {call.error_code}"
    assert call.status == 200
    return call


def actions(sae: SaeStandIn) -> list[str | None]:
    return [call.action for call in sae.calls]
