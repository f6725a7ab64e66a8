"""What the caller gets when SAE fails, times out or cannot be reached."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from e2e_helpers import (
    actions,
    deploy_calls,
    new_app_id,
    post_push,
    push_event,
    vpc_image,
)

SAE_TIMEOUT_SECONDS = 2

# Maximum wait for the stand-in to start holding a request, in seconds.
LOG_WAIT_SECONDS = 5

# Attempts of one SAE call before the response is 503 sae_busy (MAX_ATTEMPTS in src/retry.rs).
MAX_ATTEMPTS = 4


@pytest.fixture(scope="module")
def host_variables():
    return {"sae_timeout_seconds": str(SAE_TIMEOUT_SECONDS)}


# SAE errors that mean SAE did not act are retried. When they persist, the
# response is 503 sae_busy with Retry-After. Other SAE errors are 502 sae_error.


def assert_sae_error_fields(body: dict, sae_code: str, sae_status: int, call) -> None:
    assert body["sae_code"] == sae_code
    assert body["sae_status"] == sae_status
    assert body["sae_message"]
    assert body["request_id"] == call.request_id


@pytest.mark.parametrize("sae_code", ["Throttling.User", "Application.ChangerOrderRunning"])
def test_transient_error_retried(host, sae, sae_code):
    sae.fail_next("DeployApplication", code=sae_code)
    event = push_event()
    app_id = new_app_id()
    mark = host.mark()

    reply = post_push(host, event, app_id)

    calls = deploy_calls(sae)
    assert [call.error_code for call in calls] == [sae_code, None]
    assert all(call.verified for call in calls)
    assert calls[0].headers["x-acs-signature-nonce"] != calls[1].headers["x-acs-signature-nonce"]
    assert reply.status == 200, reply.text
    assert reply.json["status"] == "deploying"
    assert reply.json["change_order_id"] == calls[1].change_order_id
    assert len(sae.deploys()) == 1
    [line] = host.request_logs(mark)
    assert line["retries"] == "1"


@pytest.mark.parametrize("sae_code", ["Throttling.User", "Application.ChangerOrderRunning"])
def test_persistent_busy_error(host, sae, sae_code):
    sae.fail_next("DeployApplication", code=sae_code, times=None)

    reply = post_push(host, push_event(), new_app_id())

    calls = deploy_calls(sae)
    assert len(calls) == MAX_ATTEMPTS
    assert all(call.verified and call.error_code == sae_code for call in calls)
    assert reply.status == 503, reply.text
    assert reply.json["code"] == "sae_busy"
    assert int(reply.headers["retry-after"]) >= 1
    assert_sae_error_fields(reply.json, sae_code, 400, calls[-1])
    assert sae.deploys() == []


def test_running_change_order_makes_next_deploy_busy(host, sae):
    app_id = new_app_id()
    first = post_push(host, push_event(), app_id)
    sae.set_change_order_status(first.json["change_order_id"], 1)

    second = post_push(host, push_event(), app_id)

    assert second.status == 503, second.text
    assert second.json["sae_code"] == "Application.ChangerOrderRunning"
    assert len(sae.deploys()) == 1


def test_server_error_checked_with_list(host, sae):
    sae.fail_next("DeployApplication", code="InternalError")
    mark = host.mark()

    reply = post_push(host, push_event(), new_app_id())

    deploy = deploy_calls(sae)[0]
    assert actions(sae) == ["DeployApplication", "ListChangeOrders"]
    assert all(call.verified for call in sae.calls)
    assert reply.status == 502, reply.text
    assert reply.json["code"] == "sae_error"
    assert_sae_error_fields(reply.json, "InternalError", 500, deploy)
    assert "ListChangeOrders shows no change order" in reply.json["detail"]
    assert sae.deploys() == []
    [line] = host.request_logs(mark)
    assert line["status"] == "502"
    assert line["sae_code"] == "InternalError"


def test_server_error_after_deploy_found_with_list(host, sae):
    sae.fail_next("DeployApplication", code="InternalError", after_action=True)
    event = push_event()
    app_id = new_app_id()

    reply = post_push(host, event, app_id)

    [created] = sae.deploys()
    assert actions(sae) == ["DeployApplication", "ListChangeOrders"]
    assert reply.status == 200, reply.text
    assert reply.json["status"] == "deploying"
    assert reply.json["change_order_id"] == created.change_order_id
    assert "ListChangeOrders" in reply.json["reason"]
    assert created.query["ImageUrl"] == vpc_image(event)


def test_client_error_not_retried(new_standin, launch):
    app_id = new_app_id()
    sae = new_standin(apps=[new_app_id()])
    host = launch(sae_endpoint=sae.url)

    reply = post_push(host, push_event(), app_id)

    [call] = deploy_calls(sae)
    assert call.verified
    assert reply.status == 502, reply.text
    assert reply.json["code"] == "sae_error"
    assert_sae_error_fields(reply.json, "InvalidApplication.NotFound", 400, call)
    assert "hint" not in reply.json


def test_wrong_secret_gets_hint(launch, sae):
    host = launch(sae_endpoint=sae.url, variables={"access_key_secret": "0" * 60})

    reply = post_push(host, push_event(), new_app_id())

    [call] = deploy_calls(sae)
    assert not call.verified
    assert call.error_code == "SignatureDoesNotMatch"
    assert reply.status == 502, reply.text
    assert reply.json["sae_code"] == "SignatureDoesNotMatch"
    assert "access_key_secret" in reply.json["hint"]


# Timeouts: 504 after sae_timeout_seconds.


def test_sae_timeout(host, sae):
    sae.hang_next("DeployApplication", seconds=None)
    mark = host.mark()

    reply = post_push(host, push_event(), new_app_id())
    sae.release_hangs()

    assert reply.status == 504, reply.text
    assert reply.json["code"] == "sae_timeout"
    assert f"{SAE_TIMEOUT_SECONDS} s" in reply.json["message"]
    assert "ListChangeOrders" in reply.json["detail"]
    assert actions(sae) == ["DeployApplication", "ListChangeOrders"]
    assert sae.deploys() == []
    [line] = host.request_logs(mark)
    assert line["status"] == "504"
    assert line["outcome"] == "failed"


@pytest.mark.parametrize(
    "fault, status, code",
    [("hang", 504, "sae_timeout"), ("InvalidParameter", 502, "sae_error")],
)
def test_failure_log_names_code(host, sae, fault, status, code):
    # Rejections such as 401 and 400 log `code=`; SAE failures should too.
    if fault == "hang":
        sae.hang_next("DeployApplication", seconds=None)
    else:
        sae.fail_next("DeployApplication", code=fault)
    mark = host.mark()

    reply = post_push(host, push_event(), new_app_id())
    sae.release_hangs()

    assert reply.status == status
    [line] = host.request_logs(mark)
    assert line["status"] == str(status)
    assert line.get("code") == code


def test_timeout_releases_claim(host, sae):
    sae.hang_next("DeployApplication", seconds=None)
    event = push_event()
    app_id = new_app_id()
    assert post_push(host, event, app_id).status == 504
    sae.release_hangs()

    retry = post_push(host, event, app_id)

    assert retry.status == 200, retry.text
    assert retry.json["status"] == "deploying"
    [created] = sae.deploys()
    assert created.query["ImageUrl"] == vpc_image(event)


def test_lost_response_found_with_list(host, sae):
    # The stand-in creates the change order, then delays its response past the timeout.
    sae.hang_next("DeployApplication", seconds=None, after_action=True)

    reply = post_push(host, push_event(), new_app_id())
    sae.release_hangs()

    [created] = sae.deploys()
    assert reply.status == 200, reply.text
    assert reply.json["status"] == "deploying"
    assert reply.json["change_order_id"] == created.change_order_id


class HangWatcher(logging.Handler):
    """Sets `held` when the stand-in starts holding a request (its `event=hang` log line)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.held = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("event=hang "):
            self.held.set()


@pytest.mark.parametrize("after_action", [False, True], ids=["before-deploy", "after-deploy"])
def test_dropped_connection_checked_with_list(host, sae, after_action):
    # The stand-in closes the connection without a response once the request
    # is held, so the component cannot tell whether SAE acted.
    watcher = HangWatcher()
    logging.getLogger("sae_standin").addHandler(watcher)
    sae.hang_next("DeployApplication", seconds=None, after_action=after_action)

    def drop_when_held() -> None:
        if watcher.held.wait(LOG_WAIT_SECONDS):
            sae.release_hangs()

    dropper = threading.Thread(target=drop_when_held)
    dropper.start()
    try:
        reply = post_push(host, push_event(), new_app_id())
    finally:
        dropper.join()
        logging.getLogger("sae_standin").removeHandler(watcher)

    assert watcher.held.is_set()
    assert actions(sae) == ["DeployApplication", "ListChangeOrders"]
    if after_action:
        [created] = sae.deploys()
        assert reply.status == 200, reply.text
        assert reply.json["change_order_id"] == created.change_order_id
    else:
        assert sae.deploys() == []
        assert reply.status == 502, reply.text
        assert reply.json["code"] == "sae_unreachable"
        assert "ListChangeOrders" in reply.json["detail"]


def test_timeout_and_list_failure(host, sae):
    sae.hang_next("DeployApplication", seconds=None)
    sae.fail_next("ListChangeOrders", code="InternalError")

    reply = post_push(host, push_event(), new_app_id())
    sae.release_hangs()

    assert reply.status == 504, reply.text
    assert reply.json["code"] == "sae_timeout"
    assert actions(sae) == ["DeployApplication", "ListChangeOrders"]


# Unreachable SAE: 502 sae_unreachable.


def closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_connection_refused(launch, sae):
    host = launch(sae_endpoint=f"http://127.0.0.1:{closed_loopback_port()}")

    reply = post_push(host, push_event(), new_app_id())

    assert reply.status == 502, reply.text
    assert reply.json["code"] == "sae_unreachable"
    assert "sae_code" not in reply.json


def test_endpoint_not_allowed_port_one(launch, manifest_without_endpoint):
    host = launch(sae_endpoint="http://127.0.0.1:1", manifest=manifest_without_endpoint)
    mark = host.mark()

    reply = post_push(host, push_event(), new_app_id())

    assert reply.status == 502, reply.text
    assert reply.json["code"] == "sae_unreachable"
    assert "allowed_outbound_hosts" in reply.json["message"]
    [denied] = host.wait_for_events("outbound_denied", 1, mark)
    assert denied["host"] == "127.0.0.1:1"
    assert denied["scheme"] == "http"


class ConnectionCounter:
    """A loopback TCP listener that counts the connections it accepts."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        self._socket.settimeout(0.05)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


def test_endpoint_not_allowed_never_connects(launch, manifest_without_endpoint):
    counter = ConnectionCounter()
    endpoint = counter.url
    try:
        host = launch(sae_endpoint=endpoint, manifest=manifest_without_endpoint)
        mark = host.mark()
        reply = post_push(host, push_event(), new_app_id())
        health = host.request("GET", "/healthz")
    finally:
        counter.close()

    assert reply.status == 502, reply.text
    assert reply.json["code"] == "sae_unreachable"
    assert health.status == 200
    [denied] = host.wait_for_events("outbound_denied", 1, mark)
    assert denied["host"] == endpoint.removeprefix("http://")
    assert counter.accepted == 0
