"""A loopback stand-in for Alibaba Cloud SAE's OpenAPI (version 2019-05-06, ROA style).

It verifies every request's HMAC-SHA1 signature with the official SDK's own
signing code, serves the five SAE calls the product makes, records every
request, and injects faults on request. See README.md beside this file.

Library use:
    with SaeStandIn(credentials={"AKID": "secret"}) as sae:
        ...  # send requests to sae.url
        assert sae.deploys()

Command line (serves until SIGINT or SIGTERM):
    python tests/sae_standin/standin.py --port 0 --access-key-id ID --access-key-secret-file PATH
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from collections.abc import Iterable, Mapping

if __package__ != "sae_standin":
    # When run as a script or imported as tests.sae_standin, put tests/ on sys.path
    # so that the package imports as sae_standin.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sae_standin.apierror import ApiError
from sae_standin.calls import Call, CallLog, Fault, FaultQueue
from sae_standin.handler import ROUTES, StandInRequestHandler
from sae_standin.roa import MAX_CLOCK_SKEW_SECONDS, RoaVerifier
from sae_standin.sae_state import STATUS_SUCCESS, SaeState

LOGGER = logging.getLogger("sae_standin")
ACTIONS = frozenset(ROUTES.values())


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    # stop() releases held requests itself, so closing need not wait for handler threads.
    block_on_close = False


class _LoopbackServerV6(_LoopbackServer):
    address_family = socket.AF_INET6


def _loopback_host(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError as error:
        raise ValueError(f"host must be a loopback IP address such as 127.0.0.1, got {host!r}") from error
    if not address.is_loopback:
        raise ValueError(f"host must be a loopback address, got {host!r}")
    return host


class SaeStandIn:
    """An SAE OpenAPI stand-in served on a loopback port from a background thread.

    credentials: AccessKey id -> AccessKey secret.
    sts_tokens: AccessKey id -> security token, for the ids that are STS credentials.
    apps: None accepts any well-formed AppId. Otherwise only these apps exist:
        an iterable of AppIds, or a mapping AppId -> current image URL (or None).
    require_content_md5: reject a request body without Content-MD5. The official
        SDK's ROA signer sends none, so SAE cannot require it, and the default is off.
    initial_change_order_status: Status of new change orders (2 = success, so the
        next deploy is not blocked; 1 = running blocks it with Application.ChangerOrderRunning).
    """

    def __init__(
        self,
        credentials: Mapping[str, str],
        sts_tokens: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        apps: Mapping[str, str | None] | Iterable[str] | None = None,
        require_content_md5: bool = False,
        initial_change_order_status: int = STATUS_SUCCESS,
        max_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS,
    ) -> None:
        host = _loopback_host(host)
        unknown_sts_ids = set(sts_tokens or {}) - set(credentials)
        if unknown_sts_ids:
            raise ValueError(f"sts_tokens names AccessKey ids without a secret in credentials: {sorted(unknown_sts_ids)}")
        self._verifier = RoaVerifier(dict(credentials), dict(sts_tokens or {}), require_content_md5, max_skew_seconds)
        if apps is None:
            self._initial_apps = None
        elif isinstance(apps, Mapping):
            self._initial_apps = dict(apps)
        else:
            self._initial_apps = {app_id: None for app_id in apps}
        self._initial_change_order_status = initial_change_order_status
        self._lock = threading.Lock()
        self._state = self._new_state()
        self._faults = FaultQueue()
        self._call_log = CallLog()
        self._release = threading.Event()
        self._stopped = False

        server_class = _LoopbackServerV6 if ":" in host else _LoopbackServer
        self._server = server_class((host, port), StandInRequestHandler)
        self._server.standin = self
        # A short poll interval keeps stop() fast, because shutdown() waits for the next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sae-standin", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        """Stop serving. Requests held by hang faults are closed without a response."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> SaeStandIn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Recording.

    @property
    def calls(self) -> list[Call]:
        """Copies of every request to an SAE API path so far, oldest first."""
        return self._call_log.snapshot()

    def deploys(self) -> list[Call]:
        """DeployApplication calls that created a change order, including those that then got an after_action fault."""
        return [call for call in self.calls if call.action == "DeployApplication" and call.change_order_id is not None]

    def change_orders(self) -> list[dict]:
        """Every change order, oldest first, with the parameters of the deploy that created it."""
        return self._state_for_request().change_orders()

    def reset(self) -> None:
        """Forget calls, faults, nonces and change orders, release held requests, and restore the initial apps."""
        self.release_hangs()
        self._faults.clear()
        self._call_log.clear()
        self._verifier.nonces.clear()
        with self._lock:
            self._state = self._new_state()

    # Applications and change orders.

    def add_app(self, app_id: str, image_url: str | None = None) -> None:
        """Register an application (needed when `apps` was given) and optionally seed its current image."""
        self._state_for_request().add_app(app_id, image_url)

    def current_image(self, app_id: str) -> str | None:
        return self._state_for_request().current_image(app_id)

    def set_change_order_status(self, change_order_id: str, status: int) -> None:
        """Set a change order's Status (0, 1, 2, 3, 6, 8, 9, 10, 11 or 12)."""
        self._state_for_request().set_change_order_status(change_order_id, status)

    # Fault injection.

    def fail_next(
        self,
        action: str,
        code: str = "InternalError",
        status: int | None = None,
        message: str | None = None,
        times: int | None = 1,
        headers: Mapping[str, str] | None = None,
        after_action: bool = False,
    ) -> None:
        """Respond to the next `times` verified requests for `action` ("*" for any) with an SAE error.

        status and message default from the code for codes in KNOWN_ERRORS, and
        Throttling.User gets its x-ratelimit-user-api header unless headers are given.
        times=None fails every matching request until reset(). With after_action,
        the action runs first (a deploy creates its change order) and then fails.
        """
        self._check_action(action)
        spec = {"code": code, "status": status, "message": message, "headers": dict(headers or {})}
        ApiError(**spec)  # Raises ValueError now for an unknown code without a status.
        self._faults.add(Fault(action=action, error_spec=spec, after_action=after_action, remaining=times))

    def hang_next(
        self, action: str, seconds: float | None = None, times: int | None = 1, after_action: bool = False
    ) -> None:
        """Hold the next `times` verified requests for `action` ("*" for any) before responding.

        seconds=None holds each request until release_hangs(), reset() or stop(),
        then closes the connection without a response. A finite hang responds
        normally afterwards, unless released first. With after_action, the action
        runs before the hold (a deploy creates its change order).
        """
        self._check_action(action)
        if seconds is not None and seconds < 0:
            raise ValueError(f"seconds must be at least 0 or None, got {seconds}")
        self._faults.add(Fault(action=action, hang_seconds=seconds, after_action=after_action, remaining=times))

    def release_hangs(self) -> None:
        """Close every request held by a hang fault now, without a response."""
        with self._lock:
            released = self._release
            if not self._stopped:
                self._release = threading.Event()
        released.set()

    # Internal, also used by the request handler.

    def _new_state(self) -> SaeState:
        state = SaeState(self._initial_apps is not None, self._initial_change_order_status)
        for app_id, image_url in (self._initial_apps or {}).items():
            state.add_app(app_id, image_url)
        return state

    def _state_for_request(self) -> SaeState:
        with self._lock:
            return self._state

    def _hang_release_event(self) -> threading.Event:
        with self._lock:
            return self._release

    @staticmethod
    def _check_action(action: str) -> None:
        if action != "*" and action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}, expected '*' or one of {sorted(ACTIONS)}")

    def _run_control(self, method: str, name: str, body: bytes) -> object:
        """Run one control API request and return its JSON result. Raises LookupError, ValueError or TypeError."""
        if method == "GET":
            if name == "calls":
                return {"calls": [call.to_json() for call in self.calls]}
            if name == "deploys":
                return {"deploys": [call.to_json() for call in self.deploys()]}
            if name == "change-orders":
                return {"change_orders": self.change_orders()}
            if name == "health":
                return {"ok": True}
            raise LookupError(f"no control endpoint GET /__standin/{name}")
        if method != "POST":
            raise LookupError(f"no control endpoint {method} /__standin/{name}")

        arguments = json.loads(body.decode("utf-8") or "{}")
        if not isinstance(arguments, dict):
            raise ValueError("the control request body must be a JSON object")
        operations = {
            "fail": self.fail_next,
            "hang": self.hang_next,
            "release": self.release_hangs,
            "reset": self.reset,
            "apps": self.add_app,
            "change-order-status": self.set_change_order_status,
        }
        operation = operations.get(name)
        if operation is None:
            raise LookupError(f"no control endpoint POST /__standin/{name}")
        try:
            operation(**arguments)
        except KeyError as error:
            raise ValueError(str(error)) from error
        return {"ok": True}


def _read_secret_file(path: str, description: str) -> str:
    try:
        with open(path, encoding="utf-8") as secret_file:
            value = secret_file.read().strip()
    except OSError as error:
        raise SystemExit(f"error: cannot read the {description} file: {error}") from error
    if not value:
        raise SystemExit(f"error: the {description} file {path} is empty")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a loopback stand-in for SAE's OpenAPI.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port, or 0 to pick a free one (default 0)")
    parser.add_argument("--access-key-id", required=True, help="the AccessKey id requests must be signed with")
    parser.add_argument("--access-key-secret-file", required=True, help="file containing the AccessKey secret")
    parser.add_argument("--security-token-file", help="file containing the STS security token, which makes the id an STS id")
    parser.add_argument(
        "--app",
        action="append",
        metavar="APP_ID[=IMAGE_URL]",
        help="register an application, optionally with its current image (repeatable). "
        "Without --app, any well-formed AppId is accepted.",
    )
    parser.add_argument("--require-content-md5", action="store_true", help="reject bodies sent without Content-MD5")
    parser.add_argument(
        "--initial-change-order-status", type=int, default=STATUS_SUCCESS, help="Status of new change orders (default 2)"
    )
    options = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")

    secret = _read_secret_file(options.access_key_secret_file, "AccessKey secret")
    sts_tokens = {}
    if options.security_token_file:
        sts_tokens[options.access_key_id] = _read_secret_file(options.security_token_file, "security token")
    apps = None
    if options.app is not None:
        apps = {}
        for entry in options.app:
            app_id, _, image_url = entry.partition("=")
            apps[app_id] = image_url or None

    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    try:
        standin = SaeStandIn(
            {options.access_key_id: secret},
            sts_tokens,
            host=options.host,
            port=options.port,
            apps=apps,
            require_content_md5=options.require_content_md5,
            initial_change_order_status=options.initial_change_order_status,
        )
    except ValueError as error:
        parser.error(str(error))
    except OSError as error:
        LOGGER.error("event=listen_failed host=%s port=%d error=%s", options.host, options.port, error)
        return 1
    LOGGER.info("event=listening url=%s", standin.url)
    try:
        stop_requested.wait()
    finally:
        standin.stop()
        LOGGER.info("event=stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
