"""Secrets never leave the component: not in responses, logs, dry runs or the
key-value store, even when SAE quotes them back.

The session-wide check in conftest.py (`ledger`) also scans every response, host
output line, stand-in log line and state file of the whole run for this run's
secrets and signatures.
"""

from __future__ import annotations

import pytest

from e2e_helpers import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    STS_ACCESS_KEY_ID,
    STS_ACCESS_KEY_SECRET,
    STS_TOKEN,
    WEBHOOK_TOKEN,
    deploy_calls,
    new_app_id,
    post_push,
    push_event,
)

# A run of this many characters of a secret counts as a leak. Hex noise of
# this length cannot match by chance.
FRAGMENT_CHARS = 16

REDACTED = "[REDACTED]"


def fragments(secret: str) -> set[str]:
    return {secret[start : start + FRAGMENT_CHARS] for start in range(len(secret) - FRAGMENT_CHARS + 1)}


def leaked_fragments(text: str, secret: str) -> list[str]:
    return sorted(fragment for fragment in fragments(secret) if fragment in text)


@pytest.fixture
def sts_host(launch, sae):
    return launch(
        sae_endpoint=sae.url,
        variables={
            "access_key_id": STS_ACCESS_KEY_ID,
            "access_key_secret": STS_ACCESS_KEY_SECRET,
            "security_token": STS_TOKEN,
        },
    )


@pytest.fixture
def sts_host_wrong_secret(launch, sae):
    """An STS host whose secret SAE rejects. SAE's SignatureDoesNotMatch message
    quotes the string to sign, which contains the AccessKey id and the STS token."""
    return launch(
        sae_endpoint=sae.url,
        variables={
            "access_key_id": STS_ACCESS_KEY_ID,
            "access_key_secret": "f" * 40,
            "security_token": STS_TOKEN,
        },
    )


def stored_text(host) -> str:
    """Stop the host and return its state files (key-value database, logs) as text."""
    host.stop()
    files = sorted(path for path in host.state_dir.rglob("*") if path.is_file())
    return "\n".join(path.read_bytes().decode("latin-1") for path in files)


def quote_secrets_in_sae_error(sae) -> None:
    quoted = f"key {ACCESS_KEY_ID} secret {ACCESS_KEY_SECRET} token {WEBHOOK_TOKEN}"
    sae.fail_next("DeployApplication", code="InvalidParameter", message=quoted)


def test_sae_message_secrets_scrubbed(launch, sae):
    host = launch(sae_endpoint=sae.url)
    quote_secrets_in_sae_error(sae)
    mark = host.mark()

    reply = post_push(host, push_event(), new_app_id())
    history = host.request("GET", "/deploys", query={"token": WEBHOOK_TOKEN, "limit": "1"})

    assert reply.status == 502, reply.text
    assert reply.json["sae_message"] == f"key {REDACTED} secret {REDACTED} token {REDACTED}"
    assert REDACTED in history.json["deploys"][0]["reason"]
    output = host.settled_output(mark)
    for secret in (ACCESS_KEY_ID, ACCESS_KEY_SECRET, WEBHOOK_TOKEN):
        assert secret not in reply.text
        assert secret not in history.text
        assert secret not in output


def test_sae_message_secrets_not_stored(launch, sae):
    host = launch(sae_endpoint=sae.url)
    quote_secrets_in_sae_error(sae)
    post_push(host, push_event(), new_app_id())

    stored = stored_text(host)

    for secret in (ACCESS_KEY_ID, ACCESS_KEY_SECRET, WEBHOOK_TOKEN):
        assert secret not in stored


def test_signature_error_hides_sts_token(sts_host_wrong_secret, sae):
    host = sts_host_wrong_secret

    reply = post_push(host, push_event(), new_app_id())
    history = host.request("GET", "/deploys", query={"token": WEBHOOK_TOKEN})

    assert deploy_calls(sae)[0].error_code == "SignatureDoesNotMatch"
    assert reply.status == 502
    assert leaked_fragments(reply.text, STS_TOKEN) == []
    assert leaked_fragments(history.text, STS_TOKEN) == []
    assert leaked_fragments(host.settled_output(), STS_TOKEN) == []
    assert STS_ACCESS_KEY_ID not in reply.text


def test_store_holds_no_sts_credentials(sts_host_wrong_secret, sae):
    post_push(sts_host_wrong_secret, push_event(), new_app_id())

    stored = stored_text(sts_host_wrong_secret)

    assert deploy_calls(sae)[0].error_code == "SignatureDoesNotMatch"
    assert STS_ACCESS_KEY_ID not in stored
    assert leaked_fragments(stored, STS_TOKEN) == []


def test_sts_dry_run_redacts_headers(sts_host, sae):
    reply = post_push(sts_host, push_event(), new_app_id(), path="/explain")

    assert reply.status == 200, reply.text
    headers = reply.json["targets"][0]["request"]["headers"]
    assert "authorization" not in headers
    assert headers["x-acs-accesskey-id"] == REDACTED
    assert headers["x-acs-security-token"] == REDACTED
    assert STS_ACCESS_KEY_ID not in reply.text
    assert leaked_fragments(reply.text, STS_TOKEN) == []
    assert sae.calls == []


def test_sts_deploy_logs_no_secret(sts_host, sae):
    mark = sts_host.mark()

    reply = post_push(sts_host, push_event(), new_app_id())

    [call] = sae.deploys()
    signature = call.headers["authorization"].rsplit(":", 1)[1]
    output = sts_host.settled_output(mark)
    assert reply.status == 200, reply.text
    for secret in (STS_ACCESS_KEY_ID, STS_ACCESS_KEY_SECRET, STS_TOKEN, signature, WEBHOOK_TOKEN):
        assert secret not in reply.text
        assert secret not in output


def test_token_in_url_not_logged(host, sae):
    mark = host.mark()

    post_push(host, push_event(), new_app_id(), headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    host.request("GET", "/healthz", query={"token": WEBHOOK_TOKEN})
    host.request("GET", "/deploys/x", query={"token": WEBHOOK_TOKEN})
    output = host.settled_output(mark)
    assert "token=" not in output
    assert WEBHOOK_TOKEN not in output
    assert [line["path"] for line in host.events("http_request", mark)] == ["/", "/healthz", "/deploys/x"]


def test_secret_in_path_redacted(host, sae):
    mark = host.mark()

    host.request("GET", f"/{WEBHOOK_TOKEN}")
    host.request("GET", f"/deploys/{ACCESS_KEY_SECRET}", headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    output = host.settled_output(mark)
    assert WEBHOOK_TOKEN not in output
    assert ACCESS_KEY_SECRET not in output
    paths = [line["path"] for line in host.events("http_request", mark)]
    assert paths == ["/[REDACTED]", "/deploys/[REDACTED]"]


def test_healthz_shows_no_values(host, sae, standin_server):
    reply = host.request("GET", "/healthz", query={"token": WEBHOOK_TOKEN})

    for secret in (WEBHOOK_TOKEN, ACCESS_KEY_ID, ACCESS_KEY_SECRET):
        assert secret not in reply.text
    assert standin_server.url not in reply.text
    assert set(reply.json["variables"].values()) <= {True, False}
