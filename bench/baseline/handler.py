"""Baseline for the benchmarks: the ACR-to-SAE webhook as a Python handler.

It does what a hand-written Function Compute or small-server handler does
today: check a token, read the ACR push body, build the image URL and call
DeployApplication with the official SDK (alibabacloud-sae20190506), then
respond with the change order id. It has none of sae-deploy-trigger's
deduplication, routing or history, so it does less work per webhook.

The SDK client is created once at start-up and shared by all requests, which
is cheaper than creating one per request as many function examples do.

Settings come from the environment:

    BASELINE_WEBHOOK_TOKEN        token expected in ?token= or a Bearer header
    BASELINE_ACCESS_KEY_ID        AccessKey id the SDK signs with
    BASELINE_ACCESS_KEY_SECRET    AccessKey secret the SDK signs with
    BASELINE_SAE_ENDPOINT         SAE endpoint as http://127.0.0.1:PORT

Only loopback SAE endpoints are accepted, so a benchmark run can never reach
Alibaba Cloud. Usage: handler.py [--port PORT]; port 0 picks a free port.
When ready it writes `event=listening url=http://127.0.0.1:PORT` to stderr.
"""

import argparse
import hmac
import ipaddress
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alibabacloud_sae20190506 import models as sae_models
from alibabacloud_sae20190506.client import Client
from alibabacloud_tea_openapi.utils_models import Config

MAX_BODY_BYTES = 64 * 1024


def loopback_authority(endpoint):
    """Return host:port of an http:// loopback endpoint, or raise ValueError."""
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.scheme != "http" or not parsed.hostname or parsed.port is None:
        raise ValueError(f"BASELINE_SAE_ENDPOINT {endpoint!r} is not http://HOST:PORT")
    if parsed.hostname != "localhost" and not ipaddress.ip_address(parsed.hostname).is_loopback:
        raise ValueError(f"BASELINE_SAE_ENDPOINT {endpoint!r} is not a loopback address")
    return f"{parsed.hostname}:{parsed.port}"


def make_client(environ):
    """Create the SAE SDK client, with the SDK's default signature (ACS3)."""
    config = Config(
        access_key_id=environ["BASELINE_ACCESS_KEY_ID"],
        access_key_secret=environ["BASELINE_ACCESS_KEY_SECRET"],
        endpoint=loopback_authority(environ["BASELINE_SAE_ENDPOINT"]),
        protocol="http",
    )
    return Client(config)


class WebhookHandler(BaseHTTPRequestHandler):
    """Serves POST /?app_id=...: one ACR push, one DeployApplication call."""

    protocol_version = "HTTP/1.1"
    client = None
    token = ""

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.send_json(413, {"error": f"body is over {MAX_BODY_BYTES} bytes"})
            return
        body = self.rfile.read(length)

        presented = query.get("token", [""])[0]
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            presented = authorization[len("Bearer "):]
        if not hmac.compare_digest(presented.encode(), self.token.encode()):
            self.send_json(401, {"error": "invalid or missing token"})
            return

        app_id = query.get("app_id", [""])[0]
        try:
            push = json.loads(body)
            repository = push["repository"]
            tag = push["push_data"]["tag"]
            namespace, name, region = repository["namespace"], repository["name"], repository["region"]
        except (ValueError, KeyError, TypeError) as error:
            self.send_json(400, {"error": f"invalid ACR body: {error!r}"})
            return
        if not app_id:
            self.send_json(400, {"error": "query parameter app_id is missing"})
            return

        image = f"registry-vpc.{region}.aliyuncs.com/{namespace}/{name}:{tag}"
        request = sae_models.DeployApplicationRequest(
            app_id=app_id,
            image_url=image,
            change_order_desc=f"ACR push {namespace}/{name}:{tag}",
        )
        try:
            response = self.client.deploy_application(request)
        except Exception as error:  # the SDK raises several unrelated types
            self.log_message("deploy failed app_id=%s error=%r", app_id, error)
            self.send_json(502, {"error": f"DeployApplication failed: {error}"})
            return
        self.send_json(
            200,
            {
                "app_id": app_id,
                "image": image,
                "change_order_id": response.body.data.change_order_id,
                "request_id": response.body.request_id,
            },
        )

    def send_json(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free port")
    args = parser.parse_args()

    # The SDK's HTTP stack honors proxy variables, and the stand-in is on loopback.
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del os.environ[name]
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"

    WebhookHandler.client = make_client(os.environ)
    WebhookHandler.token = os.environ["BASELINE_WEBHOOK_TOKEN"]
    server = ThreadingHTTPServer(("127.0.0.1", args.port), WebhookHandler)
    server.daemon_threads = True
    print(f"event=listening url=http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
