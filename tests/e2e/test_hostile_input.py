"""Hostile webhook requests: malformed or forged bodies, odd methods, content
types, tokens and query strings. Each rejected request must get a JSON error
response that names its cause, and must not reach the SAE stand-in at all."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

import pytest

from e2e_helpers import (
    WEBHOOK_TOKEN,
    encode,
    new_app_id,
    post_push,
    push_event,
    single_deploy,
    vpc_image,
)

# A well-formed token that is not this run's token.
OTHER_TOKEN = "whk" + secrets.token_hex(32)

# Token-like values that no response may contain.
TOKEN_VALUES = (WEBHOOK_TOKEN, WEBHOOK_TOKEN.upper(), OTHER_TOKEN)

DIGEST_SHAPED = "sha256:" + "0123456789abcdef" * 4
DEEP_ARRAY = "[" * 200 + "]" * 200


@dataclass(frozen=True)
class Expected:
    """Response a case must get. `code` None means a deploy (200)."""

    status: int
    code: str | None = None
    field: str | None = None
    parameter: str | None = None
    allow: str | None = None


DEPLOYS = Expected(200)
UNAUTHORIZED = Expected(401, "unauthorized")
BAD_APP_ID = Expected(400, "invalid_parameter", parameter="app_id")
INVALID_JSON = Expected(400, "invalid_json")


@pytest.fixture(scope="module", autouse=True)
def watch_wrong_tokens(ledger):
    """Make the run's leak check also look for the wrong tokens these cases send."""
    ledger.watch("wrong token", OTHER_TOKEN)
    ledger.watch("upper-cased token", WEBHOOK_TOKEN.upper())


def assert_response(reply, expected: Expected, sae, app_id: str) -> None:
    """Check status, JSON shape, named cause, token absence and the SAE calls."""
    assert reply.status == expected.status, reply.text
    assert reply.headers.get("content-type") == "application/json"
    payload = reply.json
    assert isinstance(payload, dict), reply.text
    response_text = reply.text + "\n" + "\n".join(f"{k}: {v}" for k, v in reply.headers.items())
    for value in TOKEN_VALUES:
        assert value not in response_text
    assert reply.headers.get("allow") == expected.allow

    if expected.code is None:
        call = single_deploy(sae)
        assert call.query["AppId"] == app_id
        assert payload["status"] == "deploying"
        return

    assert payload["code"] == expected.code
    assert isinstance(payload["message"], str)
    assert payload["message"]
    assert payload.get("field") == expected.field
    assert payload.get("parameter") == expected.parameter
    assert sae.calls == []


# Bodies. Each case changes one thing in a valid push.


def with_value(section: str, key: str, value: object) -> bytes:
    """Return a valid push body with `section.key` set to `value`."""
    event = push_event()
    event[section][key] = value
    return encode(event)


def with_bytes(old: bytes, new: bytes) -> bytes:
    """Return a valid push body with the bytes `old` replaced by `new` once."""
    body = encode(push_event("prod", "gateway", "v1.0.0"))
    assert old in body
    return body.replace(old, new, 1)


def bad_body(case_id: str, body: bytes, expected: Expected):
    return pytest.param(body, expected, id=case_id)


def bad_field(case_id: str, body: bytes, field_path: str, code: str = "invalid_field"):
    return pytest.param(body, Expected(400, code, field=field_path), id=case_id)


VALIDATED_FIELDS = [
    ("push_data", "tag"),
    ("push_data", "digest"),
    ("repository", "namespace"),
    ("repository", "name"),
    ("repository", "region"),
    ("repository", "repo_full_name"),
]
WRONG_TYPES = {"number": 7, "float": 1.5, "array": ["v1"], "object": {"a": "b"}, "boolean": True}

WRONG_TYPE_CASES = [
    bad_field(f"{section}.{key}-{kind}", with_value(section, key, value), f"{section}.{key}")
    for section, key in VALIDATED_FIELDS
    for kind, value in WRONG_TYPES.items()
]

# `null` means absent. A required field is then missing, and `region` too,
# because this module's host sets no `region` variable.
NULL_REQUIRED_CASES = [
    bad_field(f"{section}.{key}-null", with_value(section, key, None), f"{section}.{key}", "missing_field")
    for section, key in [("push_data", "tag"), ("repository", "namespace"), ("repository", "name"), ("repository", "region")]
]

def with_section(section: str, value: object) -> bytes:
    event = push_event()
    event[section] = value
    return encode(event)


SECTION_CASES = [
    bad_field(f"{section}-as-{kind}", with_section(section, value), section)
    for section in ("push_data", "repository")
    for kind, value in {"array": ["x"], "string": "x", "number": 5}.items()
]

SYNTAX_CASES = [
    bad_body("truncated", encode(push_event())[:-7], INVALID_JSON),
    bad_body("deep-nesting-in-tag", with_bytes(b'"v1.0.0"', DEEP_ARRAY.encode()), INVALID_JSON),
    bad_body("deep-nesting-in-unknown-key", with_bytes(b'"repo_type"', b'"x":' + DEEP_ARRAY.encode() + b',"repo_type"'), INVALID_JSON),
    bad_field("escaped-nul-in-tag", with_value("push_data", "tag", "v1\x00"), "push_data.tag"),
    bad_field("escaped-escape-in-name", with_value("repository", "name", "gate\x1bway"), "repository.name"),
    bad_body("raw-control-byte-in-tag", with_bytes(b'"v1.0.0"', b'"v1.0\x01.0"'), INVALID_JSON),
    bad_body("raw-newline-in-name", with_bytes(b'"gateway"', b'"gate\nway"'), INVALID_JSON),
    bad_body("raw-control-byte-before-object", b"\x01" + encode(push_event()), INVALID_JSON),
    bad_body("invalid-utf8-in-tag", with_bytes(b'"v1.0.0"', b'"v1.0\xff.0"'), INVALID_JSON),
    bad_body("overlong-utf8-slash-in-name", with_bytes(b'"gateway"', b'"gate\xc0\xafway"'), INVALID_JSON),
    bad_body("lone-surrogate-escape-in-tag", with_bytes(b'"v1.0.0"', b'"\\ud800"'), INVALID_JSON),
    # A leading byte order mark is skipped, so what follows it must still be JSON.
    bad_body("utf8-bom-then-truncated", b"\xef\xbb\xbf" + encode(push_event())[:40], INVALID_JSON),
    bad_body("utf8-bom-twice", b"\xef\xbb\xbf\xef\xbb\xbf" + encode(push_event()), INVALID_JSON),
    bad_field("tag-twice", with_bytes(b'"tag": "v1.0.0"', b'"tag": "v1.0.0", "tag": "v2.0.0"'), "push_data.tag"),
    bad_field("push-data-twice", with_bytes(b'{"push_data": ', b'{"push_data": {"tag": "v9"}, "push_data": '), "push_data"),
    bad_field("namespace-twice", with_bytes(b'"namespace": "prod"', b'"namespace": "prod", "namespace": "other"'), "repository.namespace"),
    bad_body("empty", b"", INVALID_JSON),
    bad_body("whitespace-only", b" \r\n\t ", INVALID_JSON),
    bad_field("null", b"null", "(body)"),
    bad_field("top-level-array", encode([push_event()]), "(body)"),
    bad_field("top-level-string", b'"push"', "(body)"),
]

HUGE_TAG = "a" * (60 * 1024)

REPOSITORY_CASES = [
    bad_field(f"{key}-{case_id}", encode(push_event(**{key: value})), f"repository.{key}")
    for key in ("namespace", "name")
    for case_id, value in {
        "slash": "a/b",
        "dot-dot": "..",
        "parent-path": "../etc",
        "at-sign": "a@b",
        "colon": "a:b",
        "space": "a b",
        "trailing-newline": "gateway\n",
        "upper-case": "Gateway",
        "leading-dash": "-gateway",
        "trailing-dot": "gateway.",
        "triple-underscore": "a___b",
        "cjk-letters": "网关",
        "accented-letter": "gatéway",
    }.items()
] + [
    bad_field("repository-256-bytes", encode(push_event("a" * 100, "b" * 155)), "repository.name"),
]

TAG_CASES = [
    bad_field(f"tag-{case_id}", encode(push_event(tag=value)), "push_data.tag")
    for case_id, value in {
        "129-chars": "a" * 129,
        "60-kib": HUGE_TAG,
        "plus": "v1+build",
        "space": "v1 0",
        "slash": "v1/0",
        "colon": "v1:0",
        "leading-dot": ".v1",
        "leading-dash": "-v1",
        "digest-shaped": DIGEST_SHAPED,
        "empty": "",
    }.items()
] + [
    bad_field(f"digest-{case_id}", encode(push_event(digest=value)), "push_data.digest")
    for case_id, value in {
        "md5": "md5:" + "0" * 32,
        "upper-hex": DIGEST_SHAPED.upper().replace("SHA256", "sha256"),
        "63-hex": DIGEST_SHAPED[:-1],
        "a-tag": "latest",
        "trailing-newline": DIGEST_SHAPED + "\n",
    }.items()
]

REGION_CASES = [
    bad_field(f"region-{case_id}", encode(push_event(region=value)), "repository.region")
    for case_id, value in {
        "host-suffix": "cn-hangzhou.evil.com",
        "parent-path": "../x",
        "upper-case": "CN-HANGZHOU",
        "100-chars": "cn-" + "a" * 97,
        "underscore": "cn_hangzhou",
    }.items()
] + [
    bad_field(f"full-name-{case_id}", with_value("repository", "repo_full_name", value), "repository.repo_full_name")
    for case_id, value in {
        "other-namespace": "other/gateway",
        "extra-component": "prod/gateway/x",
        "upper-case": "PROD/gateway",
    }.items()
]

BODY_CASES = [
    bad_body("control-valid-push", encode(push_event()), DEPLOYS),
    *SYNTAX_CASES,
    *WRONG_TYPE_CASES,
    *NULL_REQUIRED_CASES,
    *SECTION_CASES,
    *REPOSITORY_CASES,
    *TAG_CASES,
    *REGION_CASES,
]


@pytest.mark.parametrize("body, expected", BODY_CASES)
def test_hostile_body(host, sae, body, expected):
    app_id = new_app_id()

    reply = host.request("POST", "/", query={"token": WEBHOOK_TOKEN, "app_id": app_id}, body=body)

    assert_response(reply, expected, sae, app_id)


@pytest.mark.parametrize("key", ["digest", "repo_full_name"])
def test_null_optional_field_is_absent(host, sae, key):
    event = push_event()
    section = "push_data" if key == "digest" else "repository"
    event[section][key] = None
    app_id = new_app_id()

    reply = post_push(host, event, app_id)

    assert_response(reply, DEPLOYS, sae, app_id)
    assert single_deploy(sae).query["ImageUrl"] == vpc_image(event)


# Methods, tokens and query strings, each sent with a valid push.

APP_ID = new_app_id()


@dataclass(frozen=True)
class Hostile:
    """A request to `/`. `query` is a list of pairs or a raw query string."""

    method: str = "POST"
    query: list[tuple[str, str]] | str = field(default_factory=lambda: [("token", WEBHOOK_TOKEN), ("app_id", APP_ID)])
    headers: dict[str, str] = field(default_factory=dict)


def only_app_id(**headers: str) -> Hostile:
    return Hostile(query=[("app_id", APP_ID)], headers=headers)


def with_app_id(*values: tuple[str, str]) -> Hostile:
    return Hostile(query=[("token", WEBHOOK_TOKEN), *values])


LONG_QUERY = f"token={WEBHOOK_TOKEN}&app_id={APP_ID}&pad=" + "x" * 5000

REQUEST_CASES = [
    pytest.param(Hostile(), DEPLOYS, id="control-valid-push"),
    *[
        pytest.param(Hostile(method=method), Expected(405, "method_not_allowed", allow="POST"), id=f"method-{method.lower()}")
        for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS")
    ],
    pytest.param(Hostile(headers={"Authorization": f"Bearer {OTHER_TOKEN}"}), UNAUTHORIZED, id="query-and-bearer-disagree"),
    pytest.param(
        Hostile(query=[("token", WEBHOOK_TOKEN), ("token", OTHER_TOKEN), ("app_id", APP_ID)]), UNAUTHORIZED, id="token-twice-different"
    ),
    pytest.param(
        Hostile(query=[("token", WEBHOOK_TOKEN), ("ACCESS_TOKEN", OTHER_TOKEN), ("app_id", APP_ID)]),
        UNAUTHORIZED,
        id="token-and-access-token-disagree",
    ),
    pytest.param(Hostile(query=[("token", WEBHOOK_TOKEN.upper()), ("app_id", APP_ID)]), UNAUTHORIZED, id="token-upper-case"),
    pytest.param(only_app_id(Authorization=f"Basic {WEBHOOK_TOKEN}"), UNAUTHORIZED, id="basic-scheme"),
    pytest.param(only_app_id(Authorization=f"Token {WEBHOOK_TOKEN}"), UNAUTHORIZED, id="token-scheme"),
    pytest.param(only_app_id(Authorization=WEBHOOK_TOKEN), UNAUTHORIZED, id="header-without-scheme"),
    pytest.param(only_app_id(Authorization=f"Bearer{WEBHOOK_TOKEN}"), UNAUTHORIZED, id="bearer-without-space"),
    pytest.param(only_app_id(Authorization=f"Bearer  {WEBHOOK_TOKEN}"), UNAUTHORIZED, id="bearer-two-spaces"),
    pytest.param(Hostile(query=f"token={WEBHOOK_TOKEN}%ff&app_id={APP_ID}"), UNAUTHORIZED, id="token-with-pct-ff"),
    pytest.param(Hostile(query=f"token={WEBHOOK_TOKEN}%zz&app_id={APP_ID}"), UNAUTHORIZED, id="token-with-pct-zz"),
    pytest.param(Hostile(query=f"token=%zz{WEBHOOK_TOKEN}&app_id={APP_ID}"), UNAUTHORIZED, id="token-after-pct-zz"),
    pytest.param(with_app_id(("app_id", "../etc")), BAD_APP_ID, id="app-id-parent-path"),
    pytest.param(with_app_id(("app_id", APP_ID + "0")), BAD_APP_ID, id="app-id-37-chars"),
    pytest.param(with_app_id(("app_id", APP_ID[:-4] + "****")), BAD_APP_ID, id="app-id-masked"),
    pytest.param(with_app_id(("app_id", APP_ID), ("app_id", new_app_id())), BAD_APP_ID, id="app-id-twice-different"),
    pytest.param(with_app_id(("app_id", APP_ID), ("APP_ID", new_app_id())), BAD_APP_ID, id="app-id-and-upper-name-differ"),
    pytest.param(Hostile(query=f"token={WEBHOOK_TOKEN}&app_id={APP_ID}%ff"), BAD_APP_ID, id="app-id-with-pct-ff"),
    pytest.param(Hostile(query=f"token={WEBHOOK_TOKEN}&app_id=%zz{APP_ID[3:]}"), BAD_APP_ID, id="app-id-with-pct-zz"),
    pytest.param(Hostile(query=LONG_QUERY), Expected(414, "uri_too_long"), id="query-5000-bytes"),
]


@pytest.mark.parametrize("request_case, expected", REQUEST_CASES)
def test_hostile_request(host, sae, request_case, expected):
    reply = host.request(
        request_case.method, "/", query=request_case.query, body=encode(push_event()), headers=request_case.headers
    )

    assert_response(reply, expected, sae, APP_ID)


def test_pct_garbage_in_unknown_parameter_ignored(host, sae):
    app_id = new_app_id()
    query = f"token={WEBHOOK_TOKEN}&app_id={app_id}&x=%zz&y=%ff&%zz=1"

    reply = host.request("POST", "/", query=query, body=encode(push_event()))

    assert_response(reply, DEPLOYS, sae, app_id)


# Content types: the component parses every body as JSON, whatever its type.


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
    ids=["none", "json", "text-plain", "form-urlencoded", "multipart"],
)
def test_content_type_ignored(host, sae, content_type):
    event = push_event()
    app_id = new_app_id()
    headers = {} if content_type is None else {"Content-Type": content_type}

    reply = post_push(host, event, app_id, headers=headers)

    assert_response(reply, DEPLOYS, sae, app_id)
    assert reply.json["image"] == vpc_image(event)
    assert single_deploy(sae).query["ImageUrl"] == vpc_image(event)


# Body keys the component does not validate.


def test_unvalidated_body_keys_never_reach_sae(host, sae):
    marker = "MARKER-" + secrets.token_hex(12)
    event = push_event()
    event["evil"] = marker
    event["push_data"]["pusher"] = marker + "-pusher"
    event["push_data"]["pushed_at"] = marker + "-pushed-at"
    event["repository"]["repo_type"] = "MARKER"
    event["repository"]["date_created"] = {"nested": [marker + "-nested"]}
    markers = [marker, "MARKER"]
    app_id = new_app_id()
    mark = host.mark()

    reply = post_push(host, event, app_id)

    assert_response(reply, DEPLOYS, sae, app_id)
    call = single_deploy(sae)
    assert call.query["ImageUrl"] == vpc_image(event)
    recorded = {
        "method and path": f"{call.method} {call.path}",
        "query": json.dumps(call.query),
        "headers": json.dumps(call.headers),
        "body": call.body.decode("utf-8", errors="replace"),
        "response": reply.text,
        "component log": host.settled_output(mark),
    }
    for place, text in recorded.items():
        for value in markers:
            assert value not in text, f"{value!r} reached the {place}"
