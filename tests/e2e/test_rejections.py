"""Requests the component rejects before calling SAE: authentication, bodies,
parameters, paths, methods and size limits. None of them may reach SAE."""

from __future__ import annotations

import json
import secrets

import pytest

from e2e_helpers import (
    WEBHOOK_TOKEN,
    encode,
    new_app_id,
    new_digest,
    post_push,
    push_event,
    single_deploy,
)

MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_BYTES = 4096


def assert_rejected(reply, status: int, code: str, sae) -> dict:
    assert reply.status == status, reply.text
    body = reply.json
    assert body["code"] == code
    assert body["message"]
    assert sae.calls == []
    return body


def padded_event(size: int) -> bytes:
    """Return a valid push body of exactly `size` bytes, padded with an unknown key."""
    event = push_event()
    event["padding"] = ""
    base = len(encode(event))
    event["padding"] = "x" * (size - base)
    body = encode(event)
    assert len(body) == size
    return body


# Authentication.


@pytest.mark.parametrize(
    "query, headers",
    [
        pytest.param({"token": "wrong-" + secrets.token_hex(24)}, {}, id="wrong-token"),
        pytest.param({}, {}, id="missing-token"),
        pytest.param({"token": ""}, {}, id="empty-token"),
        pytest.param({}, {"Authorization": "Bearer wrong-" + secrets.token_hex(24)}, id="wrong-bearer"),
        pytest.param({}, {"Authorization": "Basic " + secrets.token_hex(24)}, id="other-scheme"),
        pytest.param({"token": WEBHOOK_TOKEN.upper()}, {}, id="token-case-changed"),
        pytest.param({"token": WEBHOOK_TOKEN[:-1]}, {}, id="token-prefix"),
        pytest.param({"token": WEBHOOK_TOKEN}, {"Authorization": "Bearer wrong-" + secrets.token_hex(24)}, id="one-of-two-wrong"),
        pytest.param({"Token": WEBHOOK_TOKEN}, {}, id="parameter-name-case"),
    ],
)
def test_unauthorized(host, sae, ledger, query, headers):
    presented = [value for value in [*query.values(), *headers.values()] if value]
    for value in presented:
        # Parts of the real token are covered by the ledger's check of the token itself.
        if value not in WEBHOOK_TOKEN:
            ledger.watch("rejected token", value)
    app_id = new_app_id()
    mark = host.mark()

    reply = host.request("POST", "/", query={**query, "app_id": app_id}, body=encode(push_event()), headers=headers)

    assert_rejected(reply, 401, "unauthorized", sae)
    [line] = host.request_logs(mark)
    assert line["code"] == "unauthorized"
    output = host.settled_output(mark)
    for value in presented:
        assert value not in reply.text
        assert value not in output


def test_unauthorized_before_body_checks(host, sae):
    reply = host.request("POST", "/", query={"token": "x" * 20, "app_id": "not-an-id"}, body=b"{")

    assert_rejected(reply, 401, "unauthorized", sae)


# Bodies.


@pytest.mark.parametrize(
    "body, code, field",
    [
        pytest.param(b"", "invalid_json", None, id="empty"),
        pytest.param(b"{\"push_data\":", "invalid_json", None, id="truncated"),
        pytest.param(b"\xff\xfe", "invalid_json", None, id="not-utf8"),
        pytest.param(b"[]", "invalid_field", "(body)", id="array"),
        pytest.param(b"{}", "missing_field", "push_data", id="no-push-data"),
        pytest.param(
            json.dumps({"push_data": {"digest": new_digest()}, "repository": {"namespace": "ns", "name": "a"}}).encode(),
            "missing_field",
            "push_data.tag",
            id="no-tag",
        ),
        pytest.param(
            json.dumps({"push_data": {"tag": "v1"}, "repository": {"name": "a", "region": "cn-hangzhou"}}).encode(),
            "missing_field",
            "repository.namespace",
            id="no-namespace",
        ),
        pytest.param(encode(push_event(tag="v 1")), "invalid_field", "push_data.tag", id="tag-with-space"),
        pytest.param(encode(push_event(tag="sha256:" + "a" * 64)), "invalid_field", "push_data.tag", id="digest-as-tag"),
        pytest.param(encode(push_event(digest="md5:abc")), "invalid_field", "push_data.digest", id="bad-digest"),
        pytest.param(encode(push_event("../etc", "a")), "invalid_field", "repository.namespace", id="path-namespace"),
        pytest.param(encode(push_event(region="evil.example/x")), "invalid_field", "repository.region", id="bad-region"),
    ],
)
def test_invalid_body(host, sae, body, code, field):
    reply = host.request("POST", "/", query={"token": WEBHOOK_TOKEN, "app_id": new_app_id()}, body=body)

    body = assert_rejected(reply, 400, code, sae)
    assert body.get("field") == field


def test_full_name_must_match(host, sae):
    event = push_event("prod", "gateway")
    event["repository"]["repo_full_name"] = "other/gateway"

    reply = post_push(host, event, new_app_id())

    body = assert_rejected(reply, 400, "invalid_field", sae)
    assert body["field"] == "repository.repo_full_name"


# Query parameters.


def test_app_id_missing_without_routes(host, sae):
    reply = post_push(host, push_event())

    body = assert_rejected(reply, 400, "missing_parameter", sae)
    assert body["parameter"] == "app_id"


@pytest.mark.parametrize("app_id", ["app-1", "7171a6ca-d1cd-4928-8642-7d5cfe69000g", "../../etc/passwd", ""])
def test_app_id_invalid(host, sae, app_id):
    reply = post_push(host, push_event(), app_id)

    body = assert_rejected(reply, 400, "invalid_parameter", sae)
    assert body["parameter"] == "app_id"


# Paths and methods.


@pytest.mark.parametrize("path", ["/nothing", "/deploys/a/b", "//", "/explain/x"])
def test_unknown_path(host, sae, path):
    reply = host.request("POST", path, query={"token": WEBHOOK_TOKEN}, body=encode(push_event()))

    assert_rejected(reply, 404, "not_found", sae)


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/", "POST"),
        ("PUT", "/", "POST"),
        ("DELETE", "/explain", "POST"),
        ("POST", "/deploys", "GET, HEAD"),
        ("PATCH", "/healthz", "GET, HEAD"),
        ("POST", "/deploys/0a1b2c3d-0000-4000-8000-000000000000", "GET, HEAD"),
    ],
)
def test_method_not_allowed(host, sae, method, path, allow):
    reply = host.request(method, path, query={"token": WEBHOOK_TOKEN}, body=b"{}")

    assert_rejected(reply, 405, "method_not_allowed", sae)
    assert reply.headers["allow"] == allow


# Size limits.


def test_body_over_limit_with_length(host, sae):
    reply = host.request(
        "POST", "/", query={"token": WEBHOOK_TOKEN, "app_id": new_app_id()}, body=padded_event(MAX_BODY_BYTES + 1)
    )

    assert_rejected(reply, 413, "payload_too_large", sae)


def test_body_over_limit_chunked(host, sae):
    body = padded_event(MAX_BODY_BYTES + 1)
    chunks = iter([body[:40_000], body[40_000:]])

    reply = host.request("POST", "/", query={"token": WEBHOOK_TOKEN, "app_id": new_app_id()}, body=chunks)

    assert_rejected(reply, 413, "payload_too_large", sae)


def test_body_far_over_limit(host, sae):
    chunks = (b"x" * 16_384 for _ in range(64))

    reply = host.request("POST", "/", query={"token": WEBHOOK_TOKEN, "app_id": new_app_id()}, body=chunks)

    assert_rejected(reply, 413, "payload_too_large", sae)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_at_limit_deploys(host, sae, chunked):
    body = padded_event(MAX_BODY_BYTES)
    sent = iter([body[:30_000], body[30_000:]]) if chunked else body

    reply = host.request("POST", "/", query={"token": WEBHOOK_TOKEN, "app_id": new_app_id()}, body=sent)

    assert reply.status == 200, reply.text
    single_deploy(sae)


def test_query_over_limit(host, sae):
    prefix = f"token={WEBHOOK_TOKEN}&app_id={new_app_id()}&pad="
    query = prefix + "x" * (MAX_QUERY_BYTES + 1 - len(prefix))
    assert len(query) == MAX_QUERY_BYTES + 1

    reply = host.request("POST", "/", query=query, body=encode(push_event()))

    assert_rejected(reply, 414, "uri_too_long", sae)
    assert WEBHOOK_TOKEN not in reply.text


def test_query_at_limit_deploys(host, sae):
    prefix = f"token={WEBHOOK_TOKEN}&app_id={new_app_id()}&pad="
    query = prefix + "x" * (MAX_QUERY_BYTES - len(prefix))

    reply = host.request("POST", "/", query=query, body=encode(push_event()))

    assert reply.status == 200, reply.text
    single_deploy(sae)


# Logging.


def test_one_log_line_per_request(host, sae):
    requests = [
        ("POST", "/", {"token": WEBHOOK_TOKEN, "app_id": new_app_id()}, encode(push_event())),
        ("POST", "/", {"token": "wrong"}, b"{}"),
        ("GET", "/", {}, None),
        ("GET", "/nothing", {}, None),
        ("GET", "/healthz", {}, None),
        ("GET", "/deploys", {"token": WEBHOOK_TOKEN}, None),
        ("POST", "/explain", {"token": WEBHOOK_TOKEN, "app_id": new_app_id()}, encode(push_event())),
        ("POST", "/", {"token": WEBHOOK_TOKEN, "app_id": new_app_id()}, padded_event(MAX_BODY_BYTES + 1)),
        ("POST", "/", "pad=" + "x" * MAX_QUERY_BYTES, None),
        # A stray second line from the request before would show up in this window.
        ("GET", "/healthz", {}, None),
    ]
    expected_endpoints = [
        "trigger", "trigger", "trigger", "not_found", "healthz", "deploys", "explain", "trigger", "trigger", "healthz",
    ]

    for index, (method, path, query, body) in enumerate(requests):
        mark = host.mark()
        reply = host.request(method, path, query=query, body=body)
        lines = host.request_logs(mark)
        assert len(lines) == 1, f"{method} {path} logged {lines}"
        assert lines[0]["method"] == method
        assert lines[0]["endpoint"] == expected_endpoints[index]
        assert lines[0]["status"] == str(reply.status)
