"""Signature verification of the SAE stand-in, driven by requests signed with the official SDK."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
import time
import uuid
from email.utils import formatdate

import pytest
from alibabacloud_tea_openapi.utils import Utils

from sae_standin.conftest import ACCESS_KEY_ID, APP_ID, SECRET, STS_ACCESS_KEY_ID, STS_SECRET
from sae_standin.sdk_signer import DEPLOY_PATH, SigningClient, encode_query, sdk_string_to_sign
from sae_standin.standin import SaeStandIn

DEPLOY_QUERY = {
    "AppId": APP_ID,
    "ChangeOrderDesc": "acr push v1.2.3",
    "ImageUrl": "registry-vpc.cn-hangzhou.aliyuncs.com/demo-ns/demo-app:v1.2.3",
    "MinReadyInstances": "1",
}

# SAE-shaped vectors: the SDK's own signatures for one DeployApplication request.
VECTOR_QUERY = {**DEPLOY_QUERY, "AppId": "7171a6ca-d1cd-4928-8642-7d5cfe690000"}
VECTOR_HEADERS = {
    "accept": "application/json",
    "date": "Thu, 01 Jan 2026 00:00:00 GMT",
    "x-acs-action": "DeployApplication",
    "x-acs-signature-method": "HMAC-SHA1",
    "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
    "x-acs-signature-version": "1.0",
    "x-acs-version": "2019-05-06",
}
VECTOR_CASES = {
    "A": ({}, "xRu0z3EADkzdJphY5no6o4Zyy3Q="),
    "B": (
        {"content-type": "application/x-www-form-urlencoded", "content-md5": "GxxyEUPNmV30uWlCCegTkg=="},
        "M3sK0fqnDGKTvbFpcWGzTalFYi0=",
    ),
    "C": ({"x-acs-accesskey-id": "STS.testid", "x-acs-security-token": "testtoken"}, "SW/jiXjisWCpWwghuyAA/PpK/sk="),
}
VECTOR_A_STRING_TO_SIGN = (
    "POST\napplication/json\n\n\nThu, 01 Jan 2026 00:00:00 GMT\n"
    "x-acs-action:DeployApplication\nx-acs-signature-method:HMAC-SHA1\n"
    "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\nx-acs-signature-version:1.0\n"
    "x-acs-version:2019-05-06\n/pop/v1/sam/app/deployApplication?AppId=7171a6ca-d1cd-4928-8642-7d5cfe690000"
    "&ChangeOrderDesc=acr push v1.2.3&ImageUrl=registry-vpc.cn-hangzhou.aliyuncs.com/demo-ns/demo-app:v1.2.3"
    "&MinReadyInstances=1"
)


@pytest.mark.parametrize("case", sorted(VECTOR_CASES))
def test_sdk_reproduces_sae_vectors(case):
    extra_headers, expected_signature = VECTOR_CASES[case]
    string_to_sign = sdk_string_to_sign("POST", DEPLOY_PATH, {**VECTOR_HEADERS, **extra_headers}, VECTOR_QUERY)
    assert Utils.get_roasignature(string_to_sign, "testsecret") == expected_signature


def test_sdk_string_to_sign_vector_a():
    assert sdk_string_to_sign("POST", DEPLOY_PATH, VECTOR_HEADERS, VECTOR_QUERY) == VECTOR_A_STRING_TO_SIGN


def test_sdk_generic_vectors():
    assert Utils.get_roasignature("stringtosign", "secret") == "OmuTAr79tpI6CRoAdmzKRq5lHs0="
    assert Utils.get_roasignature("GET\n\n\n\n\n", "secret") == "XGXDWA78AEvx/wmfxKoVCq/afWw="


def test_deploy_accepted(standin, client):
    response = client.call("DeployApplication", DEPLOY_QUERY)

    assert response.status == 200
    body = response.json
    assert body["Code"] == "200"
    assert body["Success"] is True
    assert body["Data"]["AppId"] == APP_ID
    assert body["Data"]["ChangeOrderId"]
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    deploys = standin.deploys()
    assert len(deploys) == 1
    assert deploys[0].verified is True
    assert deploys[0].query == DEPLOY_QUERY
    assert deploys[0].change_order_id == body["Data"]["ChangeOrderId"]
    assert standin.current_image(APP_ID) == DEPLOY_QUERY["ImageUrl"]


def test_wrong_signature_echoes_string_to_sign(standin, client):
    response = client.call("DeployApplication", DEPLOY_QUERY, secret="not-the-secret")

    assert response.status == 400
    assert response.code == "SignatureDoesNotMatch"
    call = standin.calls[-1]
    expected = sdk_string_to_sign("POST", DEPLOY_PATH, call.headers, DEPLOY_QUERY)
    assert response.json["Message"].endswith("server string to sign is:" + expected)
    assert set(response.json) == {"RequestId", "HostId", "Code", "Message"}
    assert call.verified is False
    assert call.error_code == "SignatureDoesNotMatch"
    assert standin.deploys() == []


def test_header_changed_after_signing(client):
    response = client.call("DeployApplication", DEPLOY_QUERY, override_headers={"accept": "application/xml"})
    assert response.status == 400
    assert response.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "acs " + ACCESS_KEY_ID, "ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host,Signature=ab", "acs a:b c"],
)
def test_bad_authorization_is_incomplete(client, authorization):
    response = client.call("DeployApplication", DEPLOY_QUERY, override_headers={"authorization": authorization})
    assert response.status == 400
    assert response.code == "IncompleteSignature"


def test_unknown_access_key(standin):
    stranger = SigningClient(standin.port, "LTAI-unknown", SECRET)
    response = stranger.call("DeployApplication", DEPLOY_QUERY)
    assert response.status == 404
    assert response.code == "InvalidAccessKeyId.NotFound"


@pytest.mark.parametrize(
    "header", ["x-acs-signature-method", "x-acs-signature-version", "x-acs-signature-nonce", "x-acs-version", "date"]
)
def test_missing_signature_header(client, header):
    response = client.call("DeployApplication", DEPLOY_QUERY, override_headers={header: None})
    assert response.status == 400
    assert response.code == "IncompleteSignature"
    assert header in response.json["Message"]


def test_unsupported_signature_method(client):
    response = client.call("DeployApplication", DEPLOY_QUERY, extra_headers={"x-acs-signature-method": "HMAC-SHA256"})
    assert response.status == 400
    assert response.code == "InvalidSignatureMethod"


def test_wrong_api_version(client):
    response = client.call("DeployApplication", DEPLOY_QUERY, extra_headers={"x-acs-version": "2017-08-01"})
    assert response.status == 404
    assert response.code == "InvalidApi.NotFound"


@pytest.mark.parametrize("offset_seconds", [-20 * 60, 20 * 60])
def test_stale_or_future_date_expired(client, offset_seconds):
    response = client.call("DeployApplication", DEPLOY_QUERY, date=formatdate(time.time() + offset_seconds, usegmt=True))
    assert response.status == 400
    assert response.code == "InvalidTimeStamp.Expired"


@pytest.mark.parametrize("offset_seconds", [-14 * 60, 14 * 60])
def test_date_within_skew_accepted(client, offset_seconds):
    response = client.call("DeployApplication", DEPLOY_QUERY, date=formatdate(time.time() + offset_seconds, usegmt=True))
    assert response.status == 200


@pytest.mark.parametrize(
    "date",
    [
        "2026-01-01T00:00:00Z",
        "Thu, 01 Jan 2026 00:00:00 +0000",
        "Fri, 01 Jan 2026 00:00:00 GMT",  # wrong weekday
        "Thu, 32 Jan 2026 00:00:00 GMT",
        "Thu, 1 Jan 2026 00:00:00 GMT",
    ],
)
def test_malformed_date(client, date):
    response = client.call("DeployApplication", DEPLOY_QUERY, date=date)
    assert response.status == 400
    assert response.code == "InvalidTimeStamp.Format"


def test_reused_nonce_rejected(standin, client):
    nonce = uuid.uuid4().hex
    first = client.call("DeployApplication", DEPLOY_QUERY, nonce=nonce)
    second = client.call("DeployApplication", DEPLOY_QUERY, nonce=nonce)

    assert first.status == 200
    assert second.status == 400
    assert second.code == "SignatureNonceUsed"
    assert len(standin.deploys()) == 1


def test_concurrent_nonce_reuse_accepts_one(standin, client):
    headers = client.signed_headers("POST", DEPLOY_PATH, DEPLOY_QUERY, "DeployApplication")
    target = f"{DEPLOY_PATH}?{encode_query(DEPLOY_QUERY)}"
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: client.send("POST", target, headers).status, range(6)))

    assert statuses.count(200) == 1
    assert statuses.count(400) == 5
    assert len(standin.deploys()) == 1


def test_nonce_of_rejected_request_stays_usable(client):
    nonce = uuid.uuid4().hex
    rejected = client.call("DeployApplication", DEPLOY_QUERY, nonce=nonce, secret="wrong")
    accepted = client.call("DeployApplication", DEPLOY_QUERY, nonce=nonce)
    assert rejected.code == "SignatureDoesNotMatch"
    assert accepted.status == 200


def test_sts_token_right(sts_client):
    response = sts_client.call("DeployApplication", DEPLOY_QUERY)
    assert response.status == 200


def test_sts_token_missing(standin):
    no_token = SigningClient(standin.port, STS_ACCESS_KEY_ID, STS_SECRET)
    response = no_token.call("DeployApplication", DEPLOY_QUERY)
    assert response.status == 400
    assert response.code == "MissingSecurityToken"


def test_sts_token_wrong(standin):
    wrong_token = SigningClient(standin.port, STS_ACCESS_KEY_ID, STS_SECRET, security_token="other-token")
    response = wrong_token.call("DeployApplication", DEPLOY_QUERY)
    assert response.status == 400
    assert response.code == "InvalidSecurityToken.MismatchWithAccessKey"


def test_sts_accesskey_header_mismatch(sts_client):
    response = sts_client.call("DeployApplication", DEPLOY_QUERY, extra_headers={"x-acs-accesskey-id": "STS.other"})
    assert response.status == 400
    assert response.code == "InvalidSecurityToken.MismatchWithAccessKey"


def test_token_with_long_term_key_rejected(standin):
    confused = SigningClient(standin.port, ACCESS_KEY_ID, SECRET, security_token="some-token")
    response = confused.call("DeployApplication", DEPLOY_QUERY)
    assert response.status == 400
    assert response.code == "InvalidSecurityToken.Malformed"


def test_content_md5_mismatch(client):
    body = b"AcrInstanceId=cri-abc123"
    response = client.call(
        "DeployApplication", DEPLOY_QUERY, body=body, extra_headers={"content-md5": "GxxyEUPNmV30uWlCCegTkA=="}
    )
    assert response.status == 400
    assert response.code == "ContentMD5NotMatched"


def test_body_without_content_md5_accepted_by_default(standin, client):
    response = client.call("DeployApplication", DEPLOY_QUERY, body=b"AcrInstanceId=cri-abc123", with_content_md5=False)
    assert response.status == 200
    assert standin.change_orders()[0]["AcrInstanceId"] == "cri-abc123"


def test_body_without_content_md5_rejected_when_required():
    with SaeStandIn({ACCESS_KEY_ID: SECRET}, require_content_md5=True) as strict:
        client = SigningClient(strict.port, ACCESS_KEY_ID, SECRET)
        response = client.call("DeployApplication", DEPLOY_QUERY, body=b"AcrInstanceId=cri-1", with_content_md5=False)
    assert response.status == 400
    assert response.code == "ContentMD5NotMatched"


def test_chunked_body_decoded(standin, client):
    chunks = [b"AcrInstance", b"Id=cri-", b"abc123"]
    response = client.call("DeployApplication", DEPLOY_QUERY, chunks=chunks)

    assert response.status == 200
    call = standin.calls[-1]
    assert call.chunked is True
    assert call.body == b"AcrInstanceId=cri-abc123"
    assert "content-length" not in call.headers
    assert standin.change_orders()[0]["AcrInstanceId"] == "cri-abc123"


def test_short_body_is_content_length_mismatch(standin):
    client = SigningClient(standin.port, ACCESS_KEY_ID, SECRET)
    headers = client.signed_headers("POST", DEPLOY_PATH, DEPLOY_QUERY, "DeployApplication", body=b"AcrInstanceId=x")
    lines = [f"POST {DEPLOY_PATH}?{encode_query(DEPLOY_QUERY)} HTTP/1.1", "Host: 127.0.0.1", "Content-Length: 40"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", standin.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\nAcrInstanceId=x").encode())
        connection.shutdown(socket.SHUT_WR)
        raw_response = connection.makefile("rb").read()
    assert raw_response.startswith(b"HTTP/1.1 400")
    assert b"ContentLengthDoesNotMatch" in raw_response


@pytest.mark.parametrize(
    "description",
    ["acr push v1.2.3", "unicode \u00fc\u4e2d\U0001f680", "a+b&c=d~e*f", "100% done / ok:yes", "tab\tand  spaces", ""],
)
def test_query_values_round_trip(standin, client, description):
    query = {**DEPLOY_QUERY, "ChangeOrderDesc": description}
    response = client.call("DeployApplication", query)

    assert response.status == 200
    assert standin.calls[-1].query["ChangeOrderDesc"] == description
    assert standin.change_orders()[-1]["Description"] == description


def test_plus_decodes_as_space(standin, client):
    query = {**DEPLOY_QUERY, "ChangeOrderDesc": "acr push v1"}
    response = client.call("DeployApplication", query, raw_query=encode_query(query).replace("%20", "+"))
    assert response.status == 200


def test_unencoded_plus_fails_signature(client):
    query = {**DEPLOY_QUERY, "ChangeOrderDesc": "a+b"}
    raw_query = encode_query(query).replace("%2B", "+")
    response = client.call("DeployApplication", query, raw_query=raw_query)
    assert response.status == 400
    assert response.code == "SignatureDoesNotMatch"


def test_unencoded_ampersand_fails_signature(client):
    query = {**DEPLOY_QUERY, "ChangeOrderDesc": "a&b=c"}
    raw_query = encode_query(query).replace("%26", "&").replace("%3D", "=")
    response = client.call("DeployApplication", query, raw_query=raw_query)
    assert response.status == 400
    assert response.code == "SignatureDoesNotMatch"


def test_invalid_utf8_query_rejected(client):
    query = {**DEPLOY_QUERY, "ChangeOrderDesc": "x"}
    raw_query = encode_query(query).replace("ChangeOrderDesc=x", "ChangeOrderDesc=%FF")
    response = client.call("DeployApplication", query, raw_query=raw_query)
    assert response.status == 400
    assert response.code == "InvalidParameter"


@pytest.mark.parametrize("wire_form", ["Empty=", "Empty"])
def test_empty_query_value_signed_as_bare_key(standin, client, wire_form):
    query = {**DEPLOY_QUERY, "Empty": ""}
    raw_query = encode_query(DEPLOY_QUERY) + "&" + wire_form
    response = client.call("DeployApplication", query, raw_query=raw_query)
    assert response.status == 200
    assert standin.calls[-1].query["Empty"] == ""


def test_repeated_query_key_rejected(client):
    raw_query = encode_query(DEPLOY_QUERY) + "&AppId=other"
    response = client.call("DeployApplication", DEPLOY_QUERY, raw_query=raw_query)
    assert response.status == 400
    assert response.code == "InvalidParameter"


def test_action_header_must_match_path(client):
    response = client.call("DeployApplication", DEPLOY_QUERY, extra_headers={"x-acs-action": "DeleteApplication"})
    assert response.status == 404
    assert response.code == "InvalidApi.NotFound"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", DEPLOY_PATH), ("POST", "/pop/v1/sam/app/deleteApplication"), ("POST", "/pop/v1/sam/app/DeployApplication")],
)
def test_unknown_api_not_found(standin, client, method, path):
    headers = client.signed_headers(method, path, {"AppId": APP_ID}, None)
    response = client.send(method, f"{path}?AppId={APP_ID}", headers)
    assert response.status == 404
    assert response.code == "InvalidApi.NotFound"
    assert standin.calls[-1].action is None


def test_logs_hold_no_secrets(standin, client, sts_client, caplog):
    caplog.set_level("INFO", logger="sae_standin")
    client.call("DeployApplication", DEPLOY_QUERY)
    client.call("DeployApplication", DEPLOY_QUERY, secret="wrong")
    sts_client.call("DeployApplication", DEPLOY_QUERY)

    text = caplog.text
    assert "event=request action=DeployApplication" in text
    assert "code=SignatureDoesNotMatch" in text
    for call in standin.calls:
        assert call.headers["authorization"].split(":", 1)[1] not in text
    for forbidden in (SECRET, STS_SECRET, "sts-token-value", "ChangeOrderDesc", "acr push"):
        assert forbidden not in text
