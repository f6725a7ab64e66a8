"""Verification of Alibaba Cloud ROA requests signed with HMAC-SHA1 (signature version 1.0).

The string to sign and the signature come from the official SDK
(alibabacloud-tea-openapi, `Utils.get_string_to_sign` and
`Utils.get_roasignature`), so this module only parses the request and checks
the headers around the signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace
from urllib.parse import parse_qsl

from alibabacloud_tea_openapi.utils import Utils

from sae_standin.apierror import ApiError

API_VERSION = "2019-05-06"
MAX_CLOCK_SKEW_SECONDS = 15 * 60

_AUTHORIZATION = re.compile(r"acs ([^:\s]+):(\S+)")
_RFC1123_GMT = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT"
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_REQUIRED_HEADERS = (
    "x-acs-signature-method",
    "x-acs-signature-version",
    "x-acs-signature-nonce",
    "x-acs-version",
    "date",
)


@dataclass(frozen=True)
class IncomingRequest:
    """One HTTP request as the server received it, before any decoding of the query."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes


def decode_form(text: str, source: str) -> dict[str, str]:
    """Decode `key=value&...` strictly as UTF-8, with '+' as a space, rejecting repeated keys."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise ApiError("InvalidParameter", f"The {source} is not valid percent-encoded UTF-8: {error}.") from error
    decoded: dict[str, str] = {}
    for key, value in pairs:
        if key in decoded:
            raise ApiError("InvalidParameter", f"The {source} repeats the parameter {key!r}.")
        decoded[key] = value
    return decoded


def parse_http_date(value: str) -> float:
    """Parse an RFC 1123 GMT date such as 'Thu, 01 Jan 2026 00:00:00 GMT' into epoch seconds."""
    match = _RFC1123_GMT.fullmatch(value)
    if match is None:
        raise ApiError("InvalidTimeStamp.Format", f"The Date header {value!r} is not an RFC 1123 date in GMT.")
    weekday, day, month, year, hour, minute, second = match.groups()
    try:
        moment = datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc
        )
    except ValueError as error:
        raise ApiError("InvalidTimeStamp.Format", f"The Date header {value!r} is not a valid date: {error}.") from error
    if _WEEKDAYS[moment.weekday()] != weekday:
        raise ApiError("InvalidTimeStamp.Format", f"The Date header {value!r} names the wrong weekday.")
    return moment.timestamp()


class NonceCache:
    """Signature nonces seen per AccessKey id, kept while a replay could still pass the Date check."""

    def __init__(self, retention_seconds: float) -> None:
        self._retention_seconds = retention_seconds
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def contains(self, access_key_id: str, nonce: str, now: float) -> bool:
        with self._lock:
            self._prune(now)
            return (access_key_id, nonce) in self._seen

    def add(self, access_key_id: str, nonce: str, now: float) -> bool:
        """Record a nonce and return False when another request recorded it first."""
        with self._lock:
            self._prune(now)
            if (access_key_id, nonce) in self._seen:
                return False
            self._seen[(access_key_id, nonce)] = now
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def _prune(self, now: float) -> None:
        expired = [key for key, seen_at in self._seen.items() if now - seen_at > self._retention_seconds]
        for key in expired:
            del self._seen[key]


def string_to_sign(request: IncomingRequest, query: dict[str, str]) -> str:
    """Build the ROA string to sign with the official SDK's own function."""
    sdk_request = SimpleNamespace(method=request.method, pathname=request.path, headers=request.headers, query=query)
    return Utils.get_string_to_sign(sdk_request)


class RoaVerifier:
    """Checks a request the way SAE's gateway does, in the gateway's order, and raises ApiError on the first failure.

    `credentials` maps AccessKey id to secret. `sts_tokens` maps the AccessKey
    ids that are STS credentials to their security token.
    """

    def __init__(
        self,
        credentials: dict[str, str],
        sts_tokens: dict[str, str] | None = None,
        require_content_md5: bool = False,
        max_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS,
    ) -> None:
        self.credentials = dict(credentials)
        self.sts_tokens = dict(sts_tokens or {})
        self.require_content_md5 = require_content_md5
        self.max_skew_seconds = max_skew_seconds
        # A replay must still pass the Date check, which accepts dates up to
        # max_skew_seconds on either side of the receive time.
        self.nonces = NonceCache(retention_seconds=2 * max_skew_seconds)

    def verify(self, request: IncomingRequest, now: float | None = None) -> str:
        """Verify the request and return the AccessKey id that signed it."""
        now = time.time() if now is None else now
        headers = request.headers

        access_key_id, signature = self._parse_authorization(headers.get("authorization"))
        secret = self.credentials.get(access_key_id)
        if secret is None:
            raise ApiError("InvalidAccessKeyId.NotFound", f"The AccessKey id {access_key_id!r} does not exist.")

        self._check_signature_headers(headers)
        self._check_date(headers["date"], now)
        nonce = headers["x-acs-signature-nonce"]
        if self.nonces.contains(access_key_id, nonce, now):
            raise ApiError("SignatureNonceUsed", f"The signature nonce {nonce!r} was already used.")
        self._check_security_token(access_key_id, headers)
        self._check_content_md5(headers, request.body)

        query = decode_form(request.raw_query, "query string")
        expected_string_to_sign = string_to_sign(request, query)
        expected_signature = Utils.get_roasignature(expected_string_to_sign, secret)
        if not hmac.compare_digest(expected_signature.encode(), signature.encode()):
            raise ApiError(
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation. server string to sign is:" + expected_string_to_sign,
            )

        if not self.nonces.add(access_key_id, nonce, now):
            raise ApiError("SignatureNonceUsed", f"The signature nonce {nonce!r} was already used.")
        return access_key_id

    @staticmethod
    def _parse_authorization(value: str | None) -> tuple[str, str]:
        if value is None or value == "":
            raise ApiError("IncompleteSignature", "The Authorization header is missing.")
        match = _AUTHORIZATION.fullmatch(value)
        if match is None:
            # The header is not echoed because it carries the signature.
            raise ApiError(
                "IncompleteSignature",
                "The Authorization header is not in the form 'acs <AccessKeyId>:<Signature>'. "
                "This stand-in verifies only the ROA HMAC-SHA1 scheme.",
            )
        return match.group(1), match.group(2)

    @staticmethod
    def _check_signature_headers(headers: dict[str, str]) -> None:
        for name in _REQUIRED_HEADERS:
            if not headers.get(name):
                raise ApiError("IncompleteSignature", f"The {name} header is missing.")
        method = headers["x-acs-signature-method"]
        if method != "HMAC-SHA1":
            raise ApiError("InvalidSignatureMethod", f"The signature method {method!r} is not supported, use HMAC-SHA1.")
        version = headers["x-acs-signature-version"]
        if version != "1.0":
            raise ApiError("IncompleteSignature", f"The signature version {version!r} is not supported, use 1.0.")
        api_version = headers["x-acs-version"]
        if api_version != API_VERSION:
            raise ApiError("InvalidApi.NotFound", f"The API version {api_version!r} does not exist, use {API_VERSION}.")

    def _check_date(self, value: str, now: float) -> None:
        sent_at = parse_http_date(value)
        skew = abs(now - sent_at)
        if skew > self.max_skew_seconds:
            raise ApiError(
                "InvalidTimeStamp.Expired",
                f"The Date header {value!r} is {skew:.0f} s away from the server time, "
                f"more than the allowed {self.max_skew_seconds:.0f} s.",
            )

    def _check_security_token(self, access_key_id: str, headers: dict[str, str]) -> None:
        expected_token = self.sts_tokens.get(access_key_id)
        sent_token = headers.get("x-acs-security-token")
        header_key_id = headers.get("x-acs-accesskey-id")
        if header_key_id is not None and header_key_id != access_key_id:
            raise ApiError(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "The x-acs-accesskey-id header does not match the AccessKey id in the Authorization header.",
            )
        if expected_token is None:
            if sent_token is not None:
                raise ApiError(
                    "InvalidSecurityToken.Malformed",
                    f"The AccessKey id {access_key_id!r} is not an STS AccessKey, so the request must not carry "
                    "x-acs-security-token.",
                )
            return
        if not sent_token:
            raise ApiError("MissingSecurityToken", f"The STS AccessKey id {access_key_id!r} needs x-acs-security-token.")
        if not hmac.compare_digest(sent_token.encode(), expected_token.encode()):
            raise ApiError(
                "InvalidSecurityToken.MismatchWithAccessKey",
                f"The security token does not belong to the AccessKey id {access_key_id!r}.",
            )

    def _check_content_md5(self, headers: dict[str, str], body: bytes) -> None:
        sent = headers.get("content-md5")
        if sent is None:
            if body and self.require_content_md5:
                raise ApiError("ContentMD5NotMatched", "The request has a body but no Content-MD5 header.")
            return
        expected = base64.b64encode(hashlib.md5(body).digest()).decode("ascii")
        if sent != expected:
            raise ApiError(
                "ContentMD5NotMatched",
                f"The Content-MD5 header {sent!r} does not match the body ({len(body)} bytes, MD5 {expected}).",
            )
