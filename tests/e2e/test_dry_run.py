"""Dry runs (`POST /explain`, `POST /?dry_run=true`): the normalized push, the
route evaluations, each target's decision and the exact SAE request, with no
SAE call and nothing written to history."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from e2e_helpers import WEBHOOK_TOKEN, acr_sample, new_app_id, post_push, push_event, vpc_image
from e2e_host import launch_host

GATEWAY_APP = new_app_id()
SEMVER_APP = new_app_id()
ROUTES = [
    {
        "name": "gateway",
        "repository": "prod/gateway",
        "tags": "glob:release-*",
        "targets": [{"app_id": GATEWAY_APP, "acr_instance_id": "cri-dryrun01", "batch_wait_time": 30}],
    },
    {"name": "semver", "repository": "prod/*", "tags": "semver:minor", "targets": [{"app_id": SEMVER_APP}]},
]


@pytest.fixture(scope="module")
def routes_host(ledger, standin_server, tmp_path_factory):
    process = launch_host(
        ledger,
        sae_endpoint=standin_server.url,
        state_dir=tmp_path_factory.mktemp("routes-state"),
        variables={"routes": json.dumps(ROUTES)},
    )
    yield process
    process.stop()


def history_count(host) -> int:
    return host.request("GET", "/deploys", query={"token": WEBHOOK_TOKEN}).json["count"]


def query_dict(request: dict) -> dict[str, str]:
    return {name: value for name, value in request["query"]}


@pytest.mark.parametrize(
    "path, query",
    [("/explain", {}), ("/", {"dry_run": "true"}), ("/", {"dry_run": "1"}), ("/explain/", {})],
    ids=["explain", "dry-run-true", "dry-run-1", "explain-slash"],
)
def test_single_app_dry_run(host, sae, path, query):
    event = acr_sample("enterprise")
    app_id = new_app_id()
    before = history_count(host)
    mark = host.mark()

    reply = post_push(host, event, app_id, path=path, query=query)
    [line] = host.request_logs(mark)

    assert reply.status == 200, reply.text
    assert line["outcome"] == "dry_run"
    body = reply.json
    assert body["status"] == "dry_run"
    assert body["mode"] == "single_app"
    assert body["routes"] is None
    assert body["event"] == {
        "repository": "prod/gateway",
        "namespace": "prod",
        "name": "gateway",
        "tag": "release-v2.0.1",
        "digest": event["push_data"]["digest"],
        "region": "cn-hangzhou",
    }
    [target] = body["targets"]
    assert target["app_id"] == app_id
    assert target["decision"] == "deploy"
    assert target["region"] == "cn-hangzhou"
    request = target["request"]
    assert request["method"] == "POST"
    assert request["path"] == "/pop/v1/sam/app/deployApplication"
    assert query_dict(request)["AppId"] == app_id
    assert query_dict(request)["ImageUrl"] == "registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:release-v2.0.1"
    assert dict(parse_qsl(urlsplit(request["url"]).query)) == query_dict(request)
    assert request["form"] is None
    assert "authorization" not in request["headers"]
    assert request["headers"]["x-acs-action"] == "DeployApplication"
    assert request["headers"]["x-acs-version"] == "2019-05-06"
    assert sae.calls == []
    assert history_count(host) == before


def test_dry_run_false_deploys(host, sae):
    reply = post_push(host, push_event(), new_app_id(), query={"dry_run": "false"})

    assert reply.json["status"] == "deploying"
    assert len(sae.deploys()) == 1


def test_dry_run_needs_token(host, sae):
    reply = post_push(host, push_event(), new_app_id(), path="/explain", token="wrong-" + new_app_id())

    assert reply.status == 401
    assert reply.json["code"] == "unauthorized"
    assert sae.calls == []


def test_dry_run_rejects_bad_body(host, sae):
    reply = post_push(host, b'{"push_data": {}}', new_app_id(), path="/explain")

    assert reply.status == 400
    assert reply.json["code"] == "missing_field"
    assert sae.calls == []


def test_dry_run_request_matches_real_call(host, sae):
    event = push_event("team", "api", "v4.2.0")
    app_id = new_app_id()
    explained = post_push(host, event, app_id, path="/explain").json["targets"][0]["request"]

    post_push(host, event, app_id)

    [call] = sae.deploys()
    sent = dict(call.query)
    explained_query = query_dict(explained)
    # Each attempt gets its own delivery marker at the end of the description.
    assert sent.pop("ChangeOrderDesc").split(" [delivery ")[0] == explained_query.pop("ChangeOrderDesc").split(" [delivery ")[0]
    assert sent == explained_query
    assert call.path == explained["path"]
    assert call.method == explained["method"]


def test_routes_dry_run(routes_host, sae):
    event = push_event("prod", "gateway", "release-3")
    before = history_count(routes_host)

    reply = post_push(routes_host, event, path="/explain")

    assert reply.status == 200, reply.text
    body = reply.json
    assert body["mode"] == "routes"
    evaluations = {evaluation["route"]: evaluation for evaluation in body["routes"]}
    assert set(evaluations) == {"gateway", "semver"}
    assert evaluations["gateway"]["matched"] is True
    assert evaluations["semver"]["repository_matched"] is True
    assert evaluations["semver"]["tag_matched"] is False
    assert evaluations["semver"]["matched"] is False
    assert "not a semver version" in evaluations["semver"]["reason"]
    [target] = body["targets"]
    assert target["app_id"] == GATEWAY_APP
    assert target["route"] == "gateway"
    assert target["decision"] == "deploy"
    request = target["request"]
    assert query_dict(request)["ImageUrl"] == vpc_image(event)
    assert query_dict(request)["BatchWaitTime"] == "30"
    assert request["form"] == "AcrInstanceId=cri-dryrun01"
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert "content-md5" in request["headers"]
    assert "authorization" not in request["headers"]
    assert sae.calls == []
    assert history_count(routes_host) == before


def test_routes_dry_run_semver_reads_nothing(routes_host, sae):
    sae.add_app(SEMVER_APP, "registry-vpc.cn-hangzhou.aliyuncs.com/prod/billing:9.0.0")

    reply = post_push(routes_host, push_event("prod", "billing", "1.0.0"), path="/explain")

    [target] = reply.json["targets"]
    assert target["app_id"] == SEMVER_APP
    assert target["decision"] == "deploy"
    assert "not read in a dry run" in target["reason"]
    assert sae.calls == []


def test_routes_dry_run_no_match(routes_host, sae):
    reply = post_push(routes_host, push_event("test", "other", "release-1"), path="/", query={"dry_run": "yes"})

    assert reply.status == 200, reply.text
    assert reply.json["targets"] == []
    assert all(not evaluation["matched"] for evaluation in reply.json["routes"])
    assert all(not evaluation["repository_matched"] for evaluation in reply.json["routes"])
    assert sae.calls == []


def test_routes_dry_run_allowlist(routes_host, sae):
    reply = post_push(routes_host, push_event("prod", "gateway", "release-3"), new_app_id(), path="/explain")

    assert reply.status == 200
    assert reply.json["targets"] == []
    assert sae.calls == []


def test_routes_dry_run_failing_target(routes_host, sae):
    event = push_event("prod", "gateway", "release-3", region=None)

    reply = post_push(routes_host, event, path="/explain")

    [target] = reply.json["targets"]
    assert target["decision"] == "fail"
    assert "repository.region" in target["reason"]
    assert "request" not in target
    assert sae.calls == []
