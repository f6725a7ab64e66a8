"""HTTP request handler of the SAE stand-in: body framing, SAE API dispatch and the control API."""

from __future__ import annotations

import json
import logging
import re
import time
from http.server import BaseHTTPRequestHandler

from sae_standin.apierror import ApiError, new_request_id
from sae_standin.calls import Call, Fault
from sae_standin.roa import IncomingRequest, decode_form
from sae_standin.sae_state import success_body

LOGGER = logging.getLogger("sae_standin")

CONTROL_PREFIX = "/__standin/"
MAX_BODY_BYTES = 1024 * 1024
MAX_LINE_BYTES = 8192
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")

# (method, path) -> action, from the SDK's pathname/method for each call.
ROUTES = {
    ("POST", "/pop/v1/sam/app/deployApplication"): "DeployApplication",
    ("GET", "/pop/v1/sam/app/describeApplicationConfig"): "DescribeApplicationConfig",
    ("GET", "/pop/v1/sam/changeorder/DescribeChangeOrder"): "DescribeChangeOrder",
    ("GET", "/pop/v1/sam/app/describeApplicationStatus"): "DescribeApplicationStatus",
    ("GET", "/pop/v1/sam/changeorder/ListChangeOrders"): "ListChangeOrders",
}


class _DropConnection(Exception):
    """Raised to close the connection without a response, as an endless hang fault requires."""


def _header_text(value: str) -> str:
    # http.server decodes header bytes as ISO-8859-1. Clients may send UTF-8, so
    # re-decode when the bytes are valid UTF-8 and keep the text otherwise.
    try:
        return value.encode("iso-8859-1").decode("utf-8").strip()
    except UnicodeError:
        return value.strip()


class StandInRequestHandler(BaseHTTPRequestHandler):
    """Serves SAE API paths and, under /__standin/, the control API. `self.server.standin` is the SaeStandIn."""

    protocol_version = "HTTP/1.1"
    server_version = "SaeStandIn/1.0"
    # Socket timeout in seconds. It bounds a client that sends fewer body bytes
    # than its Content-Length, and idle keep-alive connections.
    timeout = 30

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # http.server's own logging writes the request line with its query string, so it is replaced.
    def log_request(self, code: object = "-", size: object = "-") -> None:
        pass

    def log_message(self, format: str, *args: object) -> None:
        pass

    def log_error(self, format: str, *args: object) -> None:
        status = args[0] if args and isinstance(args[0], int) else "-"
        LOGGER.warning("event=protocol_error status=%s client=%s", status, self.client_address[0])

    def _handle(self) -> None:
        started = time.monotonic()
        path, _, raw_query = self.path.partition("?")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            text = _header_text(value)
            # Repeated fields are joined with commas, as RFC 9110 combines them.
            headers[key] = f"{headers[key]},{text}" if key in headers else text

        try:
            body = self._read_body()
        except ApiError as error:
            # The rest of the connection cannot be framed, so close it after the response.
            self.close_connection = True
            body_error = error
            body = b""
        else:
            body_error = None

        if path.startswith(CONTROL_PREFIX) and body_error is None:
            self._handle_control(path[len(CONTROL_PREFIX) :], body)
            return
        request = IncomingRequest(self.command, path, raw_query, headers, body)
        self._handle_api(request, chunked, started, body_error)

    def _read_body(self) -> bytes:
        transfer_encoding = self.headers.get("Transfer-Encoding")
        if transfer_encoding is not None:
            if transfer_encoding.strip().lower() != "chunked":
                raise ApiError("InvalidParameter", f"Transfer-Encoding {transfer_encoding!r} is not supported.")
            return self._read_chunked_body()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        if not length_text.strip().isdigit():
            raise ApiError("InvalidParameter", f"Content-Length {length_text!r} is not a number.")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise ApiError("InvalidParameter", f"The body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes.")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            body = b""
        if len(body) != length:
            raise ApiError("ContentLengthDoesNotMatch", f"Content-Length is {length}, but only {len(body)} body bytes arrived.")
        return body

    def _read_chunked_body(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        try:
            while True:
                size_line = self.rfile.readline(MAX_LINE_BYTES)
                size_text = size_line.split(b";", 1)[0].strip()
                if not _CHUNK_SIZE.fullmatch(size_text):
                    raise ApiError("InvalidParameter", f"Malformed chunk size line {size_line[:40]!r}.")
                size = int(size_text, 16)
                if size == 0:
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    raise ApiError("InvalidParameter", f"The chunked body exceeds the limit of {MAX_BODY_BYTES} bytes.")
                chunk = self.rfile.read(size)
                if len(chunk) != size or self.rfile.readline(MAX_LINE_BYTES).strip() != b"":
                    raise ApiError("InvalidParameter", "A chunk is shorter than its size or lacks its closing CRLF.")
                parts.append(chunk)
            # Skip the trailer section up to the empty line that ends the message.
            while self.rfile.readline(MAX_LINE_BYTES).strip() != b"":
                pass
        except TimeoutError as error:
            raise ApiError("InvalidParameter", "The chunked body stopped before its last chunk.") from error
        return b"".join(parts)

    def _handle_api(self, request: IncomingRequest, chunked: bool, started: float, body_error: ApiError | None) -> None:
        standin = self.server.standin
        request_id = new_request_id()
        action = ROUTES.get((request.method, request.path))
        call = Call(
            action=action,
            method=request.method,
            path=request.path,
            query={},
            headers=dict(request.headers),
            body=request.body,
            chunked=chunked,
            time=time.time(),
            request_id=request_id,
        )
        try:
            call.query = decode_form(request.raw_query, "query string")
        except ApiError:
            pass  # The verifier reports the encoding error in its turn.
        standin._call_log.append(call)

        self._fault_applied = False
        try:
            if body_error is not None:
                raise body_error
            status, payload = self._run_action(action, request, call, request_id)
            extra_headers: dict[str, str] = {}
            outcome = "accepted"
        except _DropConnection:
            self.close_connection = True
            LOGGER.info("event=request action=%s outcome=no_response request_id=%s", action or "-", request_id)
            return
        except ApiError as error:
            status, payload, extra_headers = error.status, error.body(request_id, self._host_id()), error.headers
            standin._call_log.update(call, error_code=error.code)
            if self._fault_applied:
                outcome = "fault"
            elif call.verified:
                outcome = "error"
            else:
                outcome = "rejected"
        standin._call_log.update(call, status=status)
        self._send_json(status, payload, request_id, extra_headers)
        elapsed_ms = (time.monotonic() - started) * 1000
        LOGGER.info(
            "event=request action=%s method=%s path=%s status=%d outcome=%s code=%s request_id=%s duration_ms=%.0f",
            action or "-",
            request.method,
            request.path,
            status,
            outcome,
            call.error_code or "-",
            request_id,
            elapsed_ms,
        )

    def _run_action(self, action: str | None, request: IncomingRequest, call: Call, request_id: str) -> tuple[int, bytes]:
        standin = self.server.standin
        if action is None:
            raise ApiError("InvalidApi.NotFound", f"No API matches {request.method} {request.path}.")
        header_action = request.headers.get("x-acs-action")
        if header_action is not None and header_action != action:
            raise ApiError(
                "InvalidApi.NotFound",
                f"The x-acs-action header {header_action!r} does not match {action}, the API at {request.method} {request.path}.",
            )

        standin._verifier.verify(request)
        standin._call_log.update(call, verified=True)
        query = decode_form(request.raw_query, "query string")
        form = self._decode_form_body(request)

        fault = standin._faults.take(action)
        if fault is not None and not fault.after_action:
            self._apply_fault(fault, call)
        data = standin._state_for_request().handlers[action](query, form)
        if action == "DeployApplication":
            standin._call_log.update(call, change_order_id=data["ChangeOrderId"])
        if fault is not None and fault.after_action:
            self._apply_fault(fault, call)
        return 200, json.dumps(success_body(request_id, data)).encode("utf-8")

    def _apply_fault(self, fault: Fault, call: Call) -> None:
        self._fault_applied = True
        if fault.error_spec is not None:
            raise fault.new_error()
        release = self.server.standin._hang_release_event()
        LOGGER.info("event=hang action=%s seconds=%s request_id=%s", call.action, fault.hang_seconds, call.request_id)
        released = release.wait(timeout=fault.hang_seconds)
        if released or fault.hang_seconds is None:
            raise _DropConnection()

    def _decode_form_body(self, request: IncomingRequest) -> dict[str, str]:
        if not request.body:
            return {}
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
            raise ApiError("InvalidParameter", f"The body has Content-Type {content_type!r}, expected application/x-www-form-urlencoded.")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError("InvalidParameter", f"The form body is not UTF-8: {error}.") from error
        return decode_form(text, "form body")

    def _handle_control(self, name: str, body: bytes) -> None:
        standin = self.server.standin
        try:
            result = standin._run_control(self.command, name, body)
            status = 200
        except LookupError as error:
            status, result = 404, {"error": str(error)}
        except (ValueError, TypeError) as error:
            status, result = 400, {"error": str(error)}
        self._send_json(status, json.dumps(result).encode("utf-8"), None, {})
        LOGGER.info("event=control method=%s name=%s status=%d", self.command, name, status)

    def _host_id(self) -> str:
        return self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])

    def _send_json(self, status: int, payload: bytes, request_id: str | None, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            if request_id is not None:
                self.send_header("x-acs-request-id", request_id)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            LOGGER.info("event=client_disconnected status=%d request_id=%s", status, request_id or "-")
