"""Route tables: fan-out to several apps, per-target settings, the table as an
allowlist, and broken tables reported as config errors."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qsl

import pytest

from e2e_helpers import (
    WEBHOOK_TOKEN,
    deploy_calls,
    new_app_id,
    post_push,
    push_event,
    vpc_image,
)

WEB_A = new_app_id()
WEB_B = new_app_id()
DIGEST_APP = new_app_id()
CORP_APP = new_app_id()
SHARED_APP = new_app_id()
CORP_REGISTRY = "corp-registry-vpc.cn-shanghai.cr.aliyuncs.com"
UPDATE_STRATEGY = {"type": "GrayBatchUpdate", "grayUpdate": {"gray": 1}, "batchUpdate": {"batch": 2, "releaseType": "auto"}}

ROUTES = {
    "routes": [
        {"name": "web-fanout", "repository": "shop/web", "targets": [{"app_id": WEB_A}, {"app_id": WEB_B}]},
        {"name": "pinned", "repository": "team/digest", "targets": [{"app_id": DIGEST_APP, "deploy_by_digest": True}]},
        {
            "name": "corp",
            "repository": "corp/**",
            "tags": "glob:v*",
            "targets": [
                {
                    "app_id": CORP_APP,
                    "region": "cn-shanghai",
                    "registry_host": CORP_REGISTRY,
                    "acr_instance_id": "cri-corp0001",
                    "min_ready_instances": 1,
                    "min_ready_instance_ratio": 50,
                    "batch_wait_time": 10,
                    "update_strategy": UPDATE_STRATEGY,
                }
            ],
        },
        {"name": "shared-exact", "repository": "dup/app", "targets": [{"app_id": SHARED_APP}]},
        {"name": "shared-glob", "repository": "dup/*", "targets": [{"app_id": SHARED_APP}]},
    ]
}


@pytest.fixture(scope="module")
def host_variables(tmp_path_factory):
    # The table comes from a file, as `--variable routes=@FILE`.
    path = tmp_path_factory.mktemp("routes") / "routes.json"
    path.write_text(json.dumps(ROUTES, indent=2), encoding="utf-8")
    return {"routes": f"@{path}"}


def targets_by_app(reply) -> dict[str, dict]:
    return {target["app_id"]: target for target in reply.json["targets"]}


def test_fanout_deploys_every_target(host, sae):
    event = push_event("shop", "web", "build-17")

    reply = post_push(host, event)

    assert reply.status == 200, reply.text
    body = reply.json
    assert body["status"] == "deploying"
    assert body["repository"] == "shop/web"
    assert body["tag"] == "build-17"
    assert body["digest"] == event["push_data"]["digest"]
    calls = deploy_calls(sae)
    assert sorted(call.query["AppId"] for call in calls) == sorted([WEB_A, WEB_B])
    targets = targets_by_app(reply)
    for call in calls:
        assert call.verified
        assert call.query["ImageUrl"] == vpc_image(event)
        target = targets[call.query["AppId"]]
        assert target["status"] == "deploying"
        assert target["route"] == "web-fanout"
        assert target["image"] == vpc_image(event)
        assert target["change_order_id"] == call.change_order_id
        assert target["request_id"] == call.request_id


def test_url_app_id_narrows_targets(host, sae):
    reply = post_push(host, push_event("shop", "web"), WEB_B)

    assert reply.status == 200, reply.text
    [call] = deploy_calls(sae)
    assert call.query["AppId"] == WEB_B
    assert [target["app_id"] for target in reply.json["targets"]] == [WEB_B]


def test_url_app_id_outside_table(host, sae):
    mark = host.mark()

    reply = post_push(host, push_event("shop", "web"), new_app_id())

    assert reply.status == 200, reply.text
    assert reply.json["status"] == "no_matching_route"
    assert reply.json["targets"] == []
    assert sae.calls == []
    [line] = host.request_logs(mark)
    assert line["targets"] == "0"


def test_app_of_other_route_not_deployed(host, sae):
    # DIGEST_APP is in the table, but not on a route that admits shop/web.
    reply = post_push(host, push_event("shop", "web"), DIGEST_APP)

    assert reply.json["status"] == "no_matching_route"
    assert sae.calls == []


def test_push_matching_no_route(host, sae):
    reply = post_push(host, push_event("other", "repo"))

    assert reply.status == 200, reply.text
    assert reply.json["status"] == "no_matching_route"
    assert reply.json["repository"] == "other/repo"
    assert sae.calls == []


def test_deploy_by_digest(host, sae):
    event = push_event("team", "digest", "latest")
    digest = event["push_data"]["digest"]

    reply = post_push(host, event)

    [call] = deploy_calls(sae)
    image = f"registry-vpc.cn-hangzhou.aliyuncs.com/team/digest@{digest}"
    assert call.verified
    assert call.query["ImageUrl"] == image
    assert reply.json["targets"][0]["image"] == image


def test_deploy_by_digest_new_tag_is_duplicate(host, sae):
    event = push_event("team", "digest", "rc-1")
    first = post_push(host, event)
    event["push_data"]["tag"] = "v1.0.0"

    second = post_push(host, event)

    assert first.json["status"] == "deploying"
    assert second.json["status"] == "duplicate", second.text
    assert len(sae.deploys()) == 1


def test_deploy_by_digest_without_digest(host, sae):
    reply = post_push(host, push_event("team", "digest", "latest", digest=None))

    # A routed failure takes the status and code of its most severe target failure.
    assert reply.status == 400, reply.text
    assert reply.json["code"] == "missing_field"
    assert reply.json["status"] == "failed"
    [target] = reply.json["targets"]
    assert target["status"] == "failed"
    assert target["code"] == "missing_field"
    assert "push_data.digest" in target["reason"]
    assert sae.calls == []


def test_target_settings(host, sae):
    event = push_event("corp", "billing", "v5.0.0")

    reply = post_push(host, event)

    [call] = deploy_calls(sae)
    assert call.verified
    assert call.query["AppId"] == CORP_APP
    assert call.query["ImageUrl"] == f"{CORP_REGISTRY}/corp/billing:v5.0.0"
    assert call.query["MinReadyInstances"] == "1"
    assert call.query["MinReadyInstanceRatio"] == "50"
    assert call.query["BatchWaitTime"] == "10"
    assert json.loads(call.query["UpdateStrategy"]) == UPDATE_STRATEGY
    assert dict(parse_qsl(call.body.decode("ascii"))) == {"AcrInstanceId": "cri-corp0001"}
    assert call.headers["content-md5"] == base64.b64encode(hashlib.md5(call.body).digest()).decode("ascii")
    assert reply.json["status"] == "deploying"
    history = host.request("GET", "/deploys", query={"token": WEBHOOK_TOKEN, "limit": "1"}).json
    assert history["deploys"][0]["app_id"] == CORP_APP
    assert history["deploys"][0]["region"] == "cn-shanghai"
    assert history["deploys"][0]["route"] == "corp"


def test_repository_double_star_glob(host, sae):
    reply = post_push(host, push_event("corp", "tools-cli", "v1"))

    assert reply.json["status"] == "deploying"
    assert [call.query["AppId"] for call in deploy_calls(sae)] == [CORP_APP]


def test_app_on_two_routes_deploys_once(host, sae):
    reply = post_push(host, push_event("dup", "app"))

    assert reply.status == 200, reply.text
    [call] = deploy_calls(sae)
    assert call.query["AppId"] == SHARED_APP
    # The first route that names the app plans it; the second adds nothing.
    statuses = [(target["route"], target["status"]) for target in reply.json["targets"]]
    assert statuses == [("shared-exact", "deploying")]
    assert reply.json["targets"][0]["change_order_id"] == call.change_order_id


def test_app_on_two_routes_without_digest(host, sae):
    reply = post_push(host, push_event("dup", "app", digest=None))

    assert reply.status == 200, reply.text
    assert len(deploy_calls(sae)) == 1


def test_routes_make_app_id_optional(host, sae):
    reply = host.request("POST", "/", query={"token": WEBHOOK_TOKEN}, body=json.dumps(push_event("shop", "web")).encode())

    assert reply.status == 200, reply.text
    assert len(deploy_calls(sae)) == 2


def test_healthz_counts_routes(host):
    reply = host.request("GET", "/healthz", query={"token": WEBHOOK_TOKEN})

    assert reply.json["routes"] == len(ROUTES["routes"])
    assert reply.json["variables"]["routes"] is True


# Broken tables: 500 config_error naming the variable, the route and the field.

VALID_TARGETS = [{"app_id": "7171a6ca-d1cd-4928-8642-7d5cfe690000"}]


@pytest.mark.parametrize(
    "table, expected",
    [
        pytest.param('{"routes": [', ["not valid JSON", "line 1"], id="bad-json"),
        pytest.param(
            json.dumps([{"name": "gw", "repository": "prod/gw", "tags": "wildcard:*", "targets": VALID_TARGETS}]),
            ["route `gw`", "field `tags`", "wildcard"],
            id="unknown-policy",
        ),
        pytest.param(
            json.dumps([{"name": "gw", "repository": "prod/gw", "branch": "main", "targets": VALID_TARGETS}]),
            ["route `gw`", "field `branch`"],
            id="unknown-key",
        ),
        pytest.param(
            json.dumps([{"repository": "prod/gw", "targets": VALID_TARGETS}, {"repository": "Prod/*", "targets": VALID_TARGETS}]),
            ["route `routes[1]`", "field `repository`"],
            id="unnamed-route",
        ),
        pytest.param(
            json.dumps([{"name": "gw", "repository": "prod/gw", "targets": [{"app_id": "app-1"}]}]),
            ["route `gw`", "field `targets[0].app_id`"],
            id="bad-target",
        ),
        pytest.param(
            json.dumps([{"name": "gw", "repository": "prod/gw", "tags": "glob:*", "prerelease": True, "targets": VALID_TARGETS}]),
            ["route `gw`", "field `prerelease`"],
            id="prerelease-without-semver",
        ),
        pytest.param(
            '[{"name": "gw", "name": "gx", "repository": "prod/gw", "targets": []}]',
            ["appears twice"],
            id="repeated-key",
        ),
    ],
)
def test_broken_table(launch, sae, table, expected):
    host = launch(sae_endpoint=sae.url, variables={"routes": table})

    reply = post_push(host, push_event("prod", "gw"), new_app_id())
    health = host.request("GET", "/healthz", query={"token": WEBHOOK_TOKEN})

    assert reply.status == 500, reply.text
    assert reply.json["code"] == "config_error"
    assert reply.json["variable"] == "routes"
    for part in expected:
        assert part in reply.json["message"]
    assert sae.calls == []
    assert expected[0] in health.json["routes"]
