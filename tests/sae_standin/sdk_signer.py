"""A small ROA client for tests: signs with the official SDK's functions and sends with http.client.

It does not use the product's Rust signer, so the stand-in's own tests do not
depend on the code under test. Every step can be overridden to build a
deliberately broken request.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from types import SimpleNamespace
from urllib.parse import quote

from alibabacloud_tea_openapi.utils import Utils

DEPLOY_PATH = "/pop/v1/sam/app/deployApplication"
ACTION_PATHS = {
    "DeployApplication": ("POST", DEPLOY_PATH),
    "DescribeApplicationConfig": ("GET", "/pop/v1/sam/app/describeApplicationConfig"),
    "DescribeChangeOrder": ("GET", "/pop/v1/sam/changeorder/DescribeChangeOrder"),
    "DescribeApplicationStatus": ("GET", "/pop/v1/sam/app/describeApplicationStatus"),
    "ListChangeOrders": ("GET", "/pop/v1/sam/changeorder/ListChangeOrders"),
}


def encode_query(query: dict[str, str]) -> str:
    """Percent-encode keys and values with every reserved character escaped, '/' and ':' included."""
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in query.items())


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode("ascii")


def sdk_string_to_sign(method: str, path: str, headers: dict[str, str], query: dict[str, str]) -> str:
    return Utils.get_string_to_sign(SimpleNamespace(method=method, pathname=path, headers=headers, query=query))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        return self.json.get("Code")


@dataclass
class SigningClient:
    """Sends signed SAE requests to a stand-in on 127.0.0.1."""

    port: int
    access_key_id: str
    secret: str
    security_token: str | None = None
    timeout: float = 10.0

    def signed_headers(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        action: str | None,
        body: bytes = b"",
        date: str | None = None,
        nonce: str | None = None,
        extra_headers: dict[str, str] | None = None,
        with_content_md5: bool = True,
        secret: str | None = None,
    ) -> dict[str, str]:
        """Return the lower-cased headers of a request, Authorization included."""
        headers = {
            "accept": "application/json",
            "date": date or formatdate(usegmt=True),
            "x-acs-signature-method": "HMAC-SHA1",
            "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
            "x-acs-signature-version": "1.0",
            "x-acs-version": "2019-05-06",
        }
        if action is not None:
            headers["x-acs-action"] = action
        if body:
            headers["content-type"] = "application/x-www-form-urlencoded"
            if with_content_md5:
                headers["content-md5"] = content_md5(body)
        if self.security_token is not None:
            headers["x-acs-accesskey-id"] = self.access_key_id
            headers["x-acs-security-token"] = self.security_token
        headers.update(extra_headers or {})
        string_to_sign = sdk_string_to_sign(method, path, headers, query)
        signature = Utils.get_roasignature(string_to_sign, secret if secret is not None else self.secret)
        headers["authorization"] = f"acs {self.access_key_id}:{signature}"
        return headers

    def call(
        self,
        action: str,
        query: dict[str, str],
        body: bytes = b"",
        raw_query: str | None = None,
        chunks: list[bytes] | None = None,
        override_headers: dict[str, str | None] | None = None,
        **signing: object,
    ) -> Response:
        """Sign and send one call. `override_headers` changes headers after signing (None removes one)."""
        method, path = ACTION_PATHS[action]
        if chunks is not None:
            body = b"".join(chunks)
        headers = self.signed_headers(method, path, query, action, body=body, **signing)
        for name, value in (override_headers or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        wire_query = encode_query(query) if raw_query is None else raw_query
        return self.send(method, f"{path}?{wire_query}" if wire_query else path, headers, body, chunks)

    def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b"", chunks: list[bytes] | None = None
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            if chunks is not None:
                headers = {**headers, "transfer-encoding": "chunked"}
                connection.request(method, target, body=iter(chunks), headers=headers, encode_chunked=True)
            else:
                connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()
