"""Invalid or missing variables: 500 config_error naming the variable, or a
host that does not start."""

from __future__ import annotations

import pytest

from e2e_helpers import ACCESS_KEY_SECRET, WEBHOOK_TOKEN, new_app_id, post_push, push_event


@pytest.mark.parametrize(
    "variable, value",
    [
        ("sae_timeout_seconds", "26"),
        ("sae_timeout_seconds", "0"),
        ("retention_hours", "0"),
        ("region", "Hangzhou"),
        ("registry_host", "https://registry.cn-hangzhou.aliyuncs.com"),
        ("acr_instance_id", "instance-e2e"),
        ("access_key_secret", ACCESS_KEY_SECRET + "\n"),
        ("security_token", "token with spaces"),
    ],
)
def test_invalid_variable(launch, sae, variable, value):
    host = launch(sae_endpoint=sae.url, variables={variable: value})

    reply = post_push(host, push_event(), new_app_id())
    unauthenticated = post_push(host, push_event(), new_app_id(), token=None)

    assert reply.status == 500, reply.text
    assert reply.json["code"] == "config_error"
    assert reply.json["variable"] == variable
    assert f"`{variable}`" in reply.json["message"]
    assert value.strip() not in reply.text
    assert unauthenticated.status == 401
    assert sae.calls == []


def test_invalid_endpoint_variable(launch, sae, manifest_without_endpoint):
    # spin.toml puts sae_endpoint in allowed_outbound_hosts, where a path is a
    # startup error of the host; the copy without it lets the component see the value.
    host = launch(sae_endpoint=f"{sae.url}/v1", manifest=manifest_without_endpoint)

    reply = post_push(host, push_event(), new_app_id())

    assert reply.status == 500, reply.text
    assert reply.json["code"] == "config_error"
    assert reply.json["variable"] == "sae_endpoint"
    assert sae.calls == []


def test_endpoint_with_path_stops_host(launch, sae):
    host = launch(sae_endpoint=f"{sae.url}/v1", expect_listening=False)

    assert host.process.wait(timeout=10) != 0
    [failure] = host.events("startup_failed")
    assert "allowed_outbound_hosts" in failure["error"]


def test_short_webhook_token(launch, sae):
    short_token = "abcdef0123456"
    host = launch(sae_endpoint=sae.url, variables={"webhook_token": short_token})

    reply = post_push(host, push_event(), new_app_id(), token=short_token)

    assert reply.status == 500, reply.text
    assert reply.json["code"] == "config_error"
    assert reply.json["variable"] == "webhook_token"
    assert short_token not in reply.text
    assert sae.calls == []


@pytest.mark.parametrize("variable", ["webhook_token", "access_key_id", "access_key_secret"])
def test_missing_required_variable(launch, sae, variable):
    host = launch(sae_endpoint=sae.url, variables={variable: None}, expect_listening=False)

    assert host.process.wait(timeout=10) != 0
    assert host.events("listening") == []
    [failure] = host.events("startup_failed")
    assert variable in failure["error"]
    assert WEBHOOK_TOKEN not in host.output()


def test_healthz_reports_invalid_variable(launch, sae):
    host = launch(sae_endpoint=sae.url, variables={"sae_timeout_seconds": "99"})

    reply = host.request("GET", "/healthz", query={"token": WEBHOOK_TOKEN})

    assert reply.status == 200
    assert "sae_timeout_seconds" in reply.json["config"]
    assert sae.calls == []
