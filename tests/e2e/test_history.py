"""Read endpoints: deploy history, change order status and health."""

from __future__ import annotations

import uuid

import pytest

from e2e_helpers import (
    WEBHOOK_TOKEN,
    new_app_id,
    post_push,
    push_event,
    single_deploy,
    vpc_image,
)

RECORD_FIELDS = {
    "time",
    "time_utc",
    "repository",
    "tag",
    "digest",
    "app_id",
    "image",
    "region",
    "route",
    "outcome",
    "reason",
    "change_order_id",
    "request_id",
    "sae_code",
}

REPORTED_VARIABLES = {
    "webhook_token",
    "access_key_id",
    "access_key_secret",
    "security_token",
    "region",
    "sae_endpoint",
    "registry_host",
    "acr_instance_id",
    "routes",
}


def get(host, path: str, **query: str):
    return host.request("GET", path, query={"token": WEBHOOK_TOKEN, **query})


def deploy_three(host) -> list[tuple[str, dict]]:
    """Deploy three pushes to three new apps, oldest first."""
    deployed = []
    for tag in ("v1", "v2", "v3"):
        app_id = new_app_id()
        event = push_event("prod", "history", tag)
        assert post_push(host, event, app_id).status == 200
        deployed.append((app_id, event))
    return deployed


# GET /deploys


def test_deploys_newest_first(host, sae):
    deployed = deploy_three(host)

    reply = get(host, "/deploys")

    assert reply.status == 200, reply.text
    records = reply.json["deploys"]
    assert reply.json["count"] == len(records)
    newest = records[:3]
    assert [record["app_id"] for record in newest] == [app_id for app_id, _ in reversed(deployed)]
    change_orders = {call.query["AppId"]: call for call in sae.deploys()}
    for record, (app_id, event) in zip(newest, reversed(deployed)):
        assert set(record) == RECORD_FIELDS
        assert record["outcome"] == "deploying"
        assert record["repository"] == "prod/history"
        assert record["tag"] == event["push_data"]["tag"]
        assert record["digest"] == event["push_data"]["digest"]
        assert record["image"] == vpc_image(event)
        assert record["region"] == "cn-hangzhou"
        assert record["route"] is None
        assert record["change_order_id"] == change_orders[app_id].change_order_id
        assert record["request_id"] == change_orders[app_id].request_id
        assert record["time_utc"].endswith("Z")
    assert [record["time"] for record in newest] == sorted((record["time"] for record in newest), reverse=True)


def test_deploys_limit(host, sae):
    deployed = deploy_three(host)

    reply = get(host, "/deploys", limit="2")

    assert reply.status == 200, reply.text
    assert reply.json["count"] == 2
    assert [record["app_id"] for record in reply.json["deploys"]] == [deployed[2][0], deployed[1][0]]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "two", ""])
def test_deploys_invalid_limit(host, limit):
    reply = get(host, "/deploys", limit=limit)

    assert reply.status == 400, reply.text
    assert reply.json["code"] == "invalid_parameter"
    assert reply.json["parameter"] == "limit"


def test_deploys_records_failure(host, sae):
    sae.fail_next("DeployApplication", code="InvalidParameter")
    app_id = new_app_id()
    post_push(host, push_event(), app_id)

    newest = get(host, "/deploys", limit="1").json["deploys"][0]

    assert newest["app_id"] == app_id
    assert newest["outcome"] == "failed"
    assert newest["sae_code"] == "InvalidParameter"
    assert newest["change_order_id"] is None
    assert newest["reason"]


@pytest.mark.parametrize("path", ["/deploys", "/deploys/0a1b2c3d-0000-4000-8000-000000000000"])
@pytest.mark.parametrize(
    "query, headers",
    [({}, {}), ({"token": "wrong-" + uuid.uuid4().hex}, {}), ({}, {"Authorization": "Bearer " + uuid.uuid4().hex})],
    ids=["missing", "wrong", "wrong-bearer"],
)
def test_read_endpoints_need_token(host, sae, path, query, headers):
    reply = host.request("GET", path, query=query, headers=headers)

    assert reply.status == 401, reply.text
    assert reply.json["code"] == "unauthorized"
    assert "deploys" not in reply.json
    assert sae.calls == []


def test_deploys_with_bearer(host):
    reply = host.request("GET", "/deploys", headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})

    assert reply.status == 200
    assert "deploys" in reply.json


# GET /deploys/<change_order_id>


@pytest.mark.parametrize("code, words", [(0, "preparing"), (1, "running"), (2, "succeeded"), (3, "failed"), (6, "terminated")])
def test_change_order_status(host, sae, code, words):
    app_id = new_app_id()
    event = push_event()
    deployed = post_push(host, event, app_id).json
    change_order_id = deployed["change_order_id"]
    sae.set_change_order_status(change_order_id, code)

    reply = get(host, f"/deploys/{change_order_id}")

    assert reply.status == 200, reply.text
    body = reply.json
    assert body["change_order_id"] == change_order_id
    assert body["status"] == words
    assert body["status_code"] == code
    assert body["app_id"] == app_id
    [describe] = [call for call in sae.calls if call.action == "DescribeChangeOrder"]
    assert describe.verified
    assert describe.query == {"ChangeOrderId": change_order_id}
    assert body["request_id"] == describe.request_id
    assert body["deploy"]["change_order_id"] == change_order_id
    assert body["deploy"]["image"] == vpc_image(event)


def test_unknown_change_order(host, sae):
    unknown = str(uuid.uuid4())

    reply = get(host, f"/deploys/{unknown}", region="cn-hangzhou")

    assert reply.status == 502, reply.text
    assert reply.json["code"] == "sae_error"
    assert reply.json["sae_code"] == "InvalidChangeOrder.NotFound"
    [describe] = sae.calls
    assert describe.verified
    assert describe.query == {"ChangeOrderId": unknown}
    assert reply.json["request_id"] == describe.request_id


def test_unknown_change_order_needs_region(host, sae):
    reply = get(host, f"/deploys/{uuid.uuid4()}")

    assert reply.status == 400, reply.text
    assert reply.json["code"] == "missing_parameter"
    assert reply.json["parameter"] == "region"
    assert sae.calls == []


@pytest.mark.parametrize("change_order_id", ["abc_def", "x" * 65, "a%20b"])
def test_invalid_change_order_id(host, sae, change_order_id):
    reply = get(host, f"/deploys/{change_order_id}")

    assert reply.status == 400, reply.text
    assert reply.json["code"] == "invalid_parameter"
    assert reply.json["parameter"] == "change_order_id"
    assert sae.calls == []


# GET /healthz


def test_healthz_without_token(host, sae):
    reply = host.request("GET", "/healthz")

    assert reply.status == 200
    assert reply.json == {"status": "ok"}
    for name in REPORTED_VARIABLES:
        assert name not in reply.text
    assert sae.calls == []


def test_healthz_with_token(host, sae, standin_server):
    reply = get(host, "/healthz")

    assert reply.status == 200, reply.text
    body = reply.json
    assert body["status"] == "ok"
    assert body["store"] == "ok"
    assert body["config"] == "ok"
    assert body["routes"] == 0
    expected = {name: name in {"webhook_token", "access_key_id", "access_key_secret", "sae_endpoint"} for name in REPORTED_VARIABLES}
    assert body["variables"] == expected
    assert standin_server.url not in reply.text
    assert sae.calls == []


def test_healthz_wrong_token(host, sae):
    reply = host.request("GET", "/healthz", query={"token": "wrong-" + uuid.uuid4().hex})

    assert reply.status == 401
    assert reply.json["code"] == "unauthorized"
    assert "variables" not in reply.json


def test_healthz_head(host):
    reply = host.request("HEAD", "/healthz")

    assert reply.status == 200
    assert reply.body == b""


def test_status_after_restart_uses_recorded_region(launch, sae, tmp_path):
    # The change order's region comes from history, so no ?region= is needed.
    state_dir = tmp_path / "state"
    event = push_event(region="cn-beijing")
    first = launch(sae_endpoint=sae.url, state_dir=state_dir)
    change_order_id = post_push(first, event, new_app_id()).json["change_order_id"]
    first.stop()
    second = launch(sae_endpoint=sae.url, state_dir=state_dir)

    reply = get(second, f"/deploys/{change_order_id}")

    assert reply.status == 200, reply.text
    assert reply.json["status"] == "succeeded"
    assert reply.json["deploy"]["region"] == "cn-beijing"
    single_deploy(sae)
