"""Records of the requests the stand-in received, and the queue of injected faults."""

from __future__ import annotations

import base64
import dataclasses
import threading
from dataclasses import dataclass

from sae_standin.apierror import ApiError

ANY_ACTION = "*"


@dataclass
class Call:
    """One request to an SAE API path, as received.

    `status` is the HTTP status sent back, or None while the request is held by
    a hang fault or when it got no response. `error_code` is the SAE error
    code sent back, or None for a success.
    """

    action: str | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    chunked: bool
    time: float
    request_id: str
    verified: bool = False
    error_code: str | None = None
    status: int | None = None
    change_order_id: str | None = None

    def to_json(self) -> dict:
        document = dataclasses.asdict(self)
        document["body"] = self.body.decode("utf-8", errors="replace")
        document["body_base64"] = base64.b64encode(self.body).decode("ascii")
        return document


class CallLog:
    """Thread-safe list of Call records. Readers get copies, so later updates do not change them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def append(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def update(self, call: Call, **changes: object) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(call, name, value)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return [dataclasses.replace(call, query=dict(call.query), headers=dict(call.headers)) for call in self._calls]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


@dataclass
class Fault:
    """A planned misbehavior for the next matching requests.

    `error_spec` set: respond with `ApiError(**error_spec)`, built anew for each
    response so throttling headers stay fresh. `error_spec` None: hold the request
    for `hang_seconds` (None holds it until the stand-in releases hangs or stops,
    and then closes the connection without a response). With `after_action`, the
    action runs first, so a DeployApplication still creates its change order.
    `remaining` None applies the fault to every matching request.
    """

    action: str
    error_spec: dict | None = None
    hang_seconds: float | None = None
    after_action: bool = False
    remaining: int | None = 1

    def new_error(self) -> ApiError:
        return ApiError(**self.error_spec)


class FaultQueue:
    """Faults in the order they were added. The first one matching the action is applied."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError(f"times must be at least 1 or None for every request, got {fault.remaining}")
        with self._lock:
            self._faults.append(fault)

    def take(self, action: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.action not in (action, ANY_ACTION):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault
            return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
