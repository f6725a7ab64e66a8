"""Fault injection, the control API and the command line of the SAE stand-in."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sae_standin.conftest import ACCESS_KEY_ID, APP_ID, SECRET
from sae_standin.sdk_signer import SigningClient

DEPLOY_QUERY = {"AppId": APP_ID, "ImageUrl": "registry.example/ns/app:v1", "ChangeOrderDesc": "acr push v1"}
STANDIN_SCRIPT = Path(__file__).with_name("standin.py")


def control(standin, method: str, name: str, arguments: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=10)
    try:
        body = None if arguments is None else json.dumps(arguments).encode()
        connection.request(method, f"/__standin/{name}", body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling.User", 400),
        ("Application.ChangerOrderRunning", 400),
        ("InternalError", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_fail_next_once(standin, client, code, status):
    standin.fail_next("DeployApplication", code=code)

    failed = client.call("DeployApplication", DEPLOY_QUERY)
    assert failed.status == status
    assert failed.code == code
    assert set(failed.json) == {"RequestId", "HostId", "Code", "Message"}
    assert client.call("DeployApplication", DEPLOY_QUERY).status == 200
    assert len(standin.deploys()) == 1


def test_throttling_has_rate_limit_header(standin, client):
    standin.fail_next("DeployApplication", code="Throttling.User")
    response = client.call("DeployApplication", DEPLOY_QUERY)
    assert re.fullmatch(r"Limit:1,Remain:0,TimeLeft:2000,Reset:\d+", response.headers["x-ratelimit-user-api"])


def test_fault_skips_other_actions_and_bad_signatures(standin, client):
    standin.fail_next("DeployApplication", code="InternalError")

    assert client.call("DescribeApplicationStatus", {"AppId": APP_ID}).status == 200
    assert client.call("DeployApplication", DEPLOY_QUERY, secret="wrong").code == "SignatureDoesNotMatch"
    assert client.call("DeployApplication", DEPLOY_QUERY).code == "InternalError"


def test_fault_times_and_wildcard(standin, client):
    standin.fail_next("*", code="ServiceUnavailable", times=2)
    assert client.call("DescribeApplicationConfig", {"AppId": APP_ID}).status == 503
    assert client.call("DeployApplication", DEPLOY_QUERY).status == 503
    assert client.call("DeployApplication", DEPLOY_QUERY).status == 200


def test_fault_every_request_until_reset(standin, client):
    standin.fail_next("DeployApplication", code="Throttling.User", times=None)
    for _ in range(3):
        assert client.call("DeployApplication", DEPLOY_QUERY).code == "Throttling.User"
    standin.reset()
    assert client.call("DeployApplication", DEPLOY_QUERY).status == 200


def test_custom_fault_code_and_headers(standin, client):
    standin.fail_next("DeployApplication", code="Forbidden.RAM", status=403, message="no", headers={"x-test": "1"})
    response = client.call("DeployApplication", DEPLOY_QUERY)
    assert response.status == 403
    assert response.json["Message"] == "no"
    assert response.headers["x-test"] == "1"


def test_fail_next_rejects_bad_arguments(standin):
    with pytest.raises(ValueError):
        standin.fail_next("DeployApplication", code="Made.Up")
    with pytest.raises(ValueError):
        standin.fail_next("DeleteApplication")
    with pytest.raises(ValueError):
        standin.fail_next("DeployApplication", times=0)
    with pytest.raises(ValueError):
        standin.hang_next("DeployApplication", seconds=-1)


def test_deploy_then_fail_creates_change_order(standin, client):
    standin.fail_next("DeployApplication", code="InternalError", after_action=True)

    response = client.call("DeployApplication", DEPLOY_QUERY)
    assert response.status == 500
    deploys = standin.deploys()
    assert len(deploys) == 1
    assert deploys[0].error_code == "InternalError"
    listed = client.call("ListChangeOrders", {"AppId": APP_ID}).json["Data"]["ChangeOrderList"]
    assert [item["ChangeOrderId"] for item in listed] == [deploys[0].change_order_id]


def test_timed_hang_responds_late(standin, client):
    standin.hang_next("DeployApplication", seconds=0.5)
    started = time.monotonic()
    response = client.call("DeployApplication", DEPLOY_QUERY)
    assert response.status == 200
    assert time.monotonic() - started >= 0.5


def test_endless_hang_never_responds(standin):
    impatient = SigningClient(standin.port, ACCESS_KEY_ID, SECRET, timeout=0.5)
    standin.hang_next("DeployApplication")

    with pytest.raises(TimeoutError):
        impatient.call("DeployApplication", DEPLOY_QUERY)
    held = standin.calls[-1]
    assert held.verified is True
    assert held.status is None
    assert standin.change_orders() == []
    standin.release_hangs()
    assert impatient.call("DeployApplication", DEPLOY_QUERY).status == 200


def test_released_hang_closes_connection(standin, client):
    standin.hang_next("DescribeApplicationStatus")
    outcome = {}

    def call_and_keep_error():
        try:
            outcome["response"] = client.call("DescribeApplicationStatus", {"AppId": APP_ID})
        except (http.client.RemoteDisconnected, ConnectionResetError) as error:
            outcome["error"] = error

    caller = threading.Thread(target=call_and_keep_error)
    caller.start()
    deadline = time.monotonic() + 5
    while not standin.calls and time.monotonic() < deadline:
        time.sleep(0.02)
    standin.release_hangs()
    caller.join(timeout=5)
    assert "error" in outcome


def test_deploy_then_hang_creates_change_order(standin):
    impatient = SigningClient(standin.port, ACCESS_KEY_ID, SECRET, timeout=0.5)
    standin.hang_next("DeployApplication", after_action=True)

    with pytest.raises(TimeoutError):
        impatient.call("DeployApplication", DEPLOY_QUERY)
    assert len(standin.change_orders()) == 1
    assert standin.deploys()[0].status is None


def test_control_api(standin, client):
    assert control(standin, "GET", "health") == (200, {"ok": True})
    assert control(standin, "POST", "apps", {"app_id": APP_ID, "image_url": "r/ns/app:v0"})[0] == 200
    assert client.call("DescribeApplicationConfig", {"AppId": APP_ID}).json["Data"]["ImageUrl"] == "r/ns/app:v0"

    assert control(standin, "POST", "fail", {"action": "DeployApplication", "code": "Throttling.User"})[0] == 200
    assert client.call("DeployApplication", DEPLOY_QUERY).code == "Throttling.User"
    assert control(standin, "POST", "fail", {"action": "DeployApplication", "code": "InternalError", "after_action": True})[0] == 200
    assert client.call("DeployApplication", DEPLOY_QUERY).status == 500

    status, deploys = control(standin, "GET", "deploys")
    assert status == 200
    change_order_id = deploys["deploys"][0]["change_order_id"]
    assert control(standin, "POST", "change-order-status", {"change_order_id": change_order_id, "status": 1})[0] == 200
    assert client.call("DeployApplication", DEPLOY_QUERY).code == "Application.ChangerOrderRunning"
    orders = control(standin, "GET", "change-orders")[1]["change_orders"]
    assert orders[0]["Status"] == 1

    calls = control(standin, "GET", "calls")[1]["calls"]
    assert [call["error_code"] for call in calls] == [None, "Throttling.User", "InternalError", "Application.ChangerOrderRunning"]
    assert calls[0]["query"] == {"AppId": APP_ID}
    assert calls[0]["verified"] is True

    assert control(standin, "POST", "reset", {}) == (200, {"ok": True})
    assert control(standin, "GET", "calls")[1] == {"calls": []}
    assert client.call("DeployApplication", DEPLOY_QUERY).status == 200


def test_control_api_hang_and_release(standin):
    impatient = SigningClient(standin.port, ACCESS_KEY_ID, SECRET, timeout=0.5)
    assert control(standin, "POST", "hang", {"action": "DeployApplication"})[0] == 200
    with pytest.raises(TimeoutError):
        impatient.call("DeployApplication", DEPLOY_QUERY)
    assert control(standin, "POST", "release", {})[0] == 200
    assert control(standin, "POST", "hang", {"action": "*", "seconds": 0.2})[0] == 200
    assert impatient.call("DeployApplication", DEPLOY_QUERY).status == 200


@pytest.mark.parametrize(
    ("method", "name", "arguments", "status"),
    [
        ("GET", "nothing", None, 404),
        ("POST", "nothing", {}, 404),
        ("POST", "fail", {"action": "DeployApplication", "colour": "red"}, 400),
        ("POST", "fail", {"action": "Unknown"}, 400),
        ("POST", "change-order-status", {"change_order_id": "missing", "status": 2}, 400),
        ("POST", "fail", ["not", "an", "object"], 400),
    ],
)
def test_control_api_errors(standin, method, name, arguments, status):
    response_status, response = control(standin, method, name, arguments)
    assert response_status == status
    assert response["error"]


def test_cli_serves_and_stops(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    command = [sys.executable, str(STANDIN_SCRIPT), "--port", "0", "--access-key-id", ACCESS_KEY_ID]
    command += ["--access-key-secret-file", str(secret_file), "--app", f"{APP_ID}=r/ns/app:v0"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    # Bounds the blocking readline below if the stand-in never starts.
    watchdog = threading.Timer(30, process.kill)
    watchdog.start()
    try:
        first_line = process.stderr.readline().strip()
        match = re.fullmatch(r"event=listening url=http://127\.0\.0\.1:(\d+)", first_line)
        assert match, first_line
        client = SigningClient(int(match.group(1)), ACCESS_KEY_ID, SECRET)
        assert client.call("DescribeApplicationConfig", {"AppId": APP_ID}).json["Data"]["ImageUrl"] == "r/ns/app:v0"
        assert client.call("DeployApplication", DEPLOY_QUERY, secret="wrong").code == "SignatureDoesNotMatch"
        assert client.call("DeployApplication", {"AppId": "unknown-app"}).code == "InvalidApplication.NotFound"
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=10)
        watchdog.cancel()
    assert process.returncode == 0
    log_lines = rest.strip().splitlines()
    assert log_lines[-1] == "event=stopped"
    assert "outcome=rejected code=SignatureDoesNotMatch" in rest
    assert "code=InvalidApplication.NotFound" in rest
    for forbidden in (SECRET, "acs " + ACCESS_KEY_ID, "AppId=", "?"):
        assert forbidden not in rest
