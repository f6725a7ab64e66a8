"""Tag policies of a route: glob, regexp, exact and semver, each admitting and
rejecting, and semver's comparison with the version the app runs."""

from __future__ import annotations

import json

import pytest

from e2e_helpers import (
    WEBHOOK_TOKEN,
    actions,
    deploy_calls,
    new_app_id,
    new_digest,
    post_push,
    push_event,
    vpc_image,
)

GLOB_APP = new_app_id()
REGEXP_APP = new_app_id()
EXACT_APP = new_app_id()
MAJOR_APP = new_app_id()
MINOR_APP = new_app_id()
PATCH_APP = new_app_id()
PRERELEASE_APP = new_app_id()

ROUTES = [
    {"name": "glob", "repository": "team/glob", "tags": "glob:release-*", "targets": [{"app_id": GLOB_APP}]},
    {"name": "regexp", "repository": "team/regexp", "tags": "regexp:build-[0-9]+", "targets": [{"app_id": REGEXP_APP}]},
    {"name": "exact", "repository": "team/exact", "tags": "exact:stable", "targets": [{"app_id": EXACT_APP}]},
    {"name": "major", "repository": "team/major", "tags": "semver:major", "targets": [{"app_id": MAJOR_APP}]},
    {"name": "minor", "repository": "team/minor", "tags": "semver:minor", "targets": [{"app_id": MINOR_APP}]},
    {"name": "patch", "repository": "team/patch", "tags": "semver:patch", "targets": [{"app_id": PATCH_APP}]},
    {
        "name": "prerelease",
        "repository": "team/pre",
        "tags": "semver:minor",
        "prerelease": True,
        "targets": [{"app_id": PRERELEASE_APP}],
    },
]

SEMVER_APPS = {"major": MAJOR_APP, "minor": MINOR_APP, "patch": PATCH_APP, "pre": PRERELEASE_APP}


@pytest.fixture(scope="module")
def host_variables():
    return {"routes": json.dumps(ROUTES)}


def running_image(repository: str, tag: str) -> str:
    return f"registry-vpc.cn-hangzhou.aliyuncs.com/{repository}:{tag}"


# Policies that need no running version: the route admits the tag or not.


@pytest.mark.parametrize(
    "name, tag, app_id",
    [
        ("glob", "release-2025.03", GLOB_APP),
        ("glob", "release-", GLOB_APP),
        ("regexp", "build-42", REGEXP_APP),
        ("exact", "stable", EXACT_APP),
    ],
)
def test_policy_admits(host, sae, name, tag, app_id):
    event = push_event("team", name, tag)

    reply = post_push(host, event)

    assert reply.status == 200, reply.text
    assert reply.json["status"] == "deploying"
    [call] = deploy_calls(sae)
    assert call.verified
    assert call.query["AppId"] == app_id
    assert call.query["ImageUrl"] == vpc_image(event)
    assert actions(sae) == ["DeployApplication"]


@pytest.mark.parametrize(
    "name, tag",
    [
        ("glob", "dev-1"),
        ("glob", "Release-1"),
        ("glob", "prerelease-1"),
        ("regexp", "build-42x"),
        ("regexp", "xbuild-42"),
        ("regexp", "build-"),
        ("exact", "stable2"),
        ("exact", "Stable"),
    ],
)
def test_policy_rejects(host, sae, name, tag):
    reply = post_push(host, push_event("team", name, tag))

    assert reply.status == 200, reply.text
    assert reply.json["status"] == "no_matching_route"
    assert sae.calls == []


# Semver: the tag must be a version, newer than the running one and within the level.


@pytest.mark.parametrize(
    "repository, running, tag",
    [
        ("major", "1.2.0", "2.0.0"),
        ("major", "1.2.0", "1.2.1"),
        ("minor", "1.2.0", "1.3.0"),
        ("minor", "1.2.0", "1.2.7"),
        ("patch", "1.2.0", "1.2.1"),
        ("minor", "v1.2.0", "1.3.0"),
        ("minor", "1.2.0", "v1.3.0"),
        ("patch", "V1.2.9", "v1.2.10"),
        ("pre", "1.2.0", "1.3.0-rc.1"),
        ("pre", "1.3.0-rc.1", "1.3.0-rc.2"),
        ("pre", "1.3.0-rc.2", "1.3.0"),
    ],
)
def test_semver_deploys_newer(host, sae, repository, running, tag):
    app_id = SEMVER_APPS[repository]
    sae.add_app(app_id, running_image(f"team/{repository}", running))
    event = push_event("team", repository, tag)

    reply = post_push(host, event)

    assert reply.status == 200, reply.text
    assert reply.json["status"] == "deploying", reply.text
    assert actions(sae) == ["DescribeApplicationConfig", "DeployApplication"]
    assert all(call.verified for call in sae.calls)
    assert sae.calls[0].query == {"AppId": app_id}
    assert deploy_calls(sae)[0].query["ImageUrl"] == vpc_image(event)
    assert sae.current_image(app_id) == vpc_image(event)


@pytest.mark.parametrize(
    "repository, running, tag, reason",
    [
        ("minor", "1.2.0", "1.1.9", "older than running"),
        ("minor", "v1.2.0", "1.0.0", "older than running"),
        ("major", "2.0.0", "1.9.9", "older than running"),
        ("minor", "1.2.0", "1.2.0", "same version"),
        ("minor", "1.2.0", "2.0.0", "outside the allowed minor range"),
        ("patch", "1.2.0", "1.3.0", "outside the allowed patch range"),
        ("pre", "1.3.0", "1.3.0-rc.1", "older than running"),
    ],
)
def test_semver_skips(host, sae, repository, running, tag, reason):
    app_id = SEMVER_APPS[repository]
    image = running_image(f"team/{repository}", running)
    sae.add_app(app_id, image)
    mark = host.mark()

    reply = post_push(host, push_event("team", repository, tag))

    assert reply.status == 200, reply.text
    assert reply.json["status"] == "skipped"
    [target] = reply.json["targets"]
    assert target["status"] == "skipped"
    assert target["app_id"] == app_id
    assert reason in target["reason"]
    assert target["change_order_id"] is None
    assert actions(sae) == ["DescribeApplicationConfig"]
    assert sae.calls[0].verified
    assert sae.current_image(app_id) == image
    [line] = host.request_logs(mark)
    assert line["outcome"] == "skipped"


def test_skip_kept_in_history(host, sae):
    sae.add_app(MINOR_APP, running_image("team/minor", "3.0.0"))

    post_push(host, push_event("team", "minor", "2.9.0"))

    newest = host.request("GET", "/deploys", query={"token": WEBHOOK_TOKEN, "limit": "1"}).json["deploys"][0]
    assert newest["app_id"] == MINOR_APP
    assert newest["outcome"] == "skipped"
    assert "older than running" in newest["reason"]
    assert newest["change_order_id"] is None


@pytest.mark.parametrize(
    "repository, tag",
    [
        ("minor", "1.3.0-rc.1"),
        ("minor", "latest"),
        ("minor", "1.3"),
        ("minor", "01.3.0"),
        ("patch", "1.2.3-"),
    ],
)
def test_semver_route_rejects_tag(host, sae, repository, tag):
    sae.add_app(SEMVER_APPS[repository], running_image(f"team/{repository}", "1.2.0"))

    reply = post_push(host, push_event("team", repository, tag))

    assert reply.status == 200, reply.text
    assert reply.json["status"] == "no_matching_route"
    assert sae.calls == []


@pytest.mark.parametrize(
    "running",
    [None, "registry-vpc.cn-hangzhou.aliyuncs.com/team/minor:latest", "registry-vpc.cn-hangzhou.aliyuncs.com/other/repo:9.0.0"],
    ids=["no-image", "non-semver-tag", "other-repository"],
)
def test_semver_without_comparable_version(host, sae, running):
    sae.add_app(MINOR_APP, running)

    reply = post_push(host, push_event("team", "minor", "0.1.0"))

    assert reply.json["status"] == "deploying", reply.text
    assert actions(sae) == ["DescribeApplicationConfig", "DeployApplication"]


def test_digest_pinned_running_image(host, sae):
    sae.add_app(MINOR_APP, f"registry-vpc.cn-hangzhou.aliyuncs.com/team/minor@{new_digest()}")

    reply = post_push(host, push_event("team", "minor", "0.0.1"))

    assert reply.json["status"] == "deploying", reply.text


def test_digest_as_tag_rejected(host, sae):
    reply = post_push(host, push_event("team", "glob", new_digest()))

    assert reply.status == 400
    assert reply.json["code"] == "invalid_field"
    assert reply.json["field"] == "push_data.tag"
    assert "digest" in reply.json["message"]
    assert sae.calls == []


def test_describe_failure_fails_target(host, sae):
    sae.fail_next("DescribeApplicationConfig", code="InvalidParameter")

    reply = post_push(host, push_event("team", "minor", "5.0.0"))

    assert reply.status == 502, reply.text
    [target] = reply.json["targets"]
    assert target["status"] == "failed"
    assert target["sae_code"] == "InvalidParameter"
    assert actions(sae) == ["DescribeApplicationConfig"]
