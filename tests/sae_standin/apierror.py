"""SAE OpenAPI errors: codes, HTTP statuses and the JSON error body.

Where the code/status pairs come from:
- SAE 2019-05-06 API reference, the error tables of each call: every
  InvalidApplication.NotFound, InvalidChangeOrder.NotFound, Application.*,
  System.Upgrading and InvalidParameter.* entry there is HTTP 400.
- Common gateway errors: the code names are the ones Alibaba Cloud's SDKs and
  Terraform provider check for. InvalidAccessKeyId.NotFound is 404 in the
  official Python core SDK's error reports. Alibaba Cloud's per-product error
  tables give InvalidApi.NotFound 404, Throttling.User 400, InternalError 500
  and ServiceUnavailable 503. The other gateway statuses (400) are an
  assumption.
The messages are this stand-in's own wording. Clients should match on Code.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

# code -> (HTTP status, default message)
KNOWN_ERRORS: dict[str, tuple[int, str]] = {
    "IncompleteSignature": (400, "The Authorization header is missing or is not in the form 'acs <AccessKeyId>:<Signature>'."),
    "InvalidAccessKeyId.NotFound": (404, "The AccessKey id in the Authorization header does not exist."),
    "InvalidSignatureMethod": (400, "The x-acs-signature-method header names an unsupported method."),
    "InvalidTimeStamp.Format": (400, "The Date header is not an RFC 1123 date in GMT."),
    "InvalidTimeStamp.Expired": (400, "The Date header is more than 15 minutes away from the server time."),
    "SignatureNonceUsed": (400, "The x-acs-signature-nonce value was already used."),
    "MissingSecurityToken": (400, "The x-acs-security-token header is missing for an STS AccessKey."),
    "InvalidSecurityToken.MismatchWithAccessKey": (400, "The security token does not belong to the AccessKey id."),
    "InvalidSecurityToken.Malformed": (400, "The security token is invalid."),
    "ContentMD5NotMatched": (400, "The Content-MD5 header does not match the request body."),
    "ContentLengthDoesNotMatch": (400, "The request body is shorter than the Content-Length header."),
    "SignatureDoesNotMatch": (400, "The request signature does not match the server's calculation."),
    "InvalidApi.NotFound": (404, "No API matches the request path and method."),
    "InvalidParameter": (400, "The request parameters are invalid."),
    "InvalidParameter.NotEmpty": (400, "A required parameter is missing."),
    "InvalidParameter.WithMessage": (400, "A parameter is invalid."),
    "InvalidApplication.NotFound": (400, "The application does not exist."),
    "InvalidChangeOrder.NotFound": (400, "The change order does not exist."),
    "Application.ChangerOrderRunning": (400, "A change order of the application is running. Retry later."),
    "Application.InvalidStatus": (400, "The application is in an abnormal state. Retry later."),
    "System.Upgrading": (400, "The service is being upgraded. Retry later."),
    "Throttling": (400, "The request was throttled."),
    "Throttling.User": (400, "The request was throttled by the per-user rate limit."),
    "Throttling.Api": (400, "The request was throttled by the per-API rate limit."),
    "InternalError": (500, "The server failed to process the request."),
    "ServiceUnavailable": (503, "The service is temporarily unavailable."),
}

# NOTE: the meaning of the Reset field is a guess (epoch milliseconds when the
# window ends). SAE documents only the header's presence and its field names.
THROTTLING_TIME_LEFT_MS = 2000


def new_request_id() -> str:
    """Return a request id in SAE's upper-case UUID form."""
    return str(uuid.uuid4()).upper()


def throttling_headers() -> dict[str, str]:
    """Return the rate-limit header SAE sends with Throttling.User."""
    reset_ms = int(time.time() * 1000) + THROTTLING_TIME_LEFT_MS
    value = f"Limit:1,Remain:0,TimeLeft:{THROTTLING_TIME_LEFT_MS},Reset:{reset_ms}"
    return {"x-ratelimit-user-api": value}


@dataclass
class ApiError(Exception):
    """An SAE error response: HTTP status, error code, message and extra headers."""

    code: str
    message: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known_status, known_message = KNOWN_ERRORS.get(self.code, (None, None))
        if self.status is None:
            if known_status is None:
                raise ValueError(f"error code {self.code!r} is not in KNOWN_ERRORS, so pass status explicitly")
            self.status = known_status
        if self.message is None:
            self.message = known_message or self.code
        if self.code == "Throttling.User" and not self.headers:
            self.headers = throttling_headers()
        super().__init__(f"{self.status} {self.code}: {self.message}")

    def body(self, request_id: str, host_id: str) -> bytes:
        """Encode the error in SAE's JSON error shape."""
        document = {
            "RequestId": request_id,
            "HostId": host_id,
            "Code": self.code,
            "Message": self.message,
        }
        return json.dumps(document).encode("utf-8")
