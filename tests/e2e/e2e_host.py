"""The host process for the end-to-end tests: starting it behind the loopback
guard, collecting its output, sending it requests and parsing its log lines."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from e2e_helpers import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    HOST_BINARY,
    MANIFEST,
    WEBHOOK_TOKEN,
    SecretLedger,
)

# Variables passed as SPIN_VARIABLE_<NAME>; all others go in --variable flags,
# so that both ways of setting a variable are used.
ENVIRONMENT_VARIABLES = frozenset({"access_key_id", "access_key_secret", "security_token"})

# Limits on waits, in seconds. They only stop a hung test; no test asserts speed.
HOST_START_TIMEOUT = 60
REQUEST_TIMEOUT = 40
LOG_TIMEOUT = 5

LISTENING = re.compile(r"\bevent=listening address=(\S+)")
LOGFMT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


@dataclass
class Reply:
    """An HTTP response from the host."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def json(self) -> dict:
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise AssertionError(f"response {self.status} is not JSON: {self.text!r}") from error


def parse_logfmt(line: str) -> dict[str, str]:
    """Parse a `key=value` line; quoted values lose their quotes and escapes."""
    fields = {}
    for key, value in LOGFMT_FIELD.findall(line):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        fields[key] = value
    return fields


class HostProcess:
    """A running `sae-trigger-host` with its output collected line by line.

    stdout and stderr are read together, so `lines` also contains anything the
    host writes to stdout.
    """

    def __init__(self, ledger: SecretLedger, args: list[str], env: dict[str, str], state_dir: Path) -> None:
        self._ledger = ledger
        self.state_dir = state_dir
        self.address: str | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._stopped = False
        self._sent = 0
        self.process = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read_output, name="host-output", daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        for raw in self.process.stdout:
            line = raw.rstrip("\n")
            with self._lock:
                self._lines.append(line)
            match = LISTENING.search(line)
            if match and not self._listening.is_set():
                self.address = match.group(1)
                self._listening.set()

    def wait_listening(self) -> bool:
        """Wait for the `listening` line; return False if the host exited first."""
        deadline = time.monotonic() + HOST_START_TIMEOUT
        while time.monotonic() < deadline:
            if self._listening.wait(0.05):
                return True
            if self.process.poll() is not None:
                self._reader.join(LOG_TIMEOUT)
                return self._listening.is_set()
        raise AssertionError(f"the host printed no listening line within {HOST_START_TIMEOUT} s:\n{self.output()}")

    @property
    def port(self) -> int:
        assert self.address is not None, "the host is not listening"
        return int(self.address.rsplit(":", 1)[1])

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def output(self) -> str:
        return "\n".join(self.lines)

    def mark(self) -> int:
        """Return the line count once every request sent so far has its host
        and component lines, so that later lines belong to later requests."""
        deadline = time.monotonic() + LOG_TIMEOUT
        while time.monotonic() < deadline:
            lines = self.lines
            served = sum(line.startswith("event=http_request ") for line in lines)
            logged = sum(line.startswith("event=request ") for line in lines)
            if served >= self._sent and logged >= self._sent:
                break
            time.sleep(0.02)
        with self._lock:
            return len(self._lines)

    def settled_output(self, since: int = 0) -> str:
        """Return the output from line `since` on, once every request sent so
        far has its host and component lines."""
        self.mark()
        return "\n".join(self.lines[since:])

    def events(self, name: str, since: int = 0) -> list[dict[str, str]]:
        """Return the parsed `event=<name>` lines from line `since` on."""
        return [parse_logfmt(line) for line in self.lines[since:] if line.startswith(f"event={name} ")]

    def wait_for_events(self, name: str, count: int, since: int = 0) -> list[dict[str, str]]:
        """Wait until at least `count` `event=<name>` lines follow `since`."""
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            found = self.events(name, since)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def wait_for_fields(self, name: str, since: int, **fields: str) -> list[dict[str, str]]:
        """Wait until an `event=<name>` line after `since` carries every given
        field value; return all such lines (empty after the timeout)."""
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            found = [e for e in self.events(name, since) if all(e.get(k) == v for k, v in fields.items())]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def request_logs(self, since: int, requests: int = 1) -> list[dict[str, str]]:
        """Return the component's `event=request` lines after `since`, once the
        host has logged `requests` served requests and the component at least as
        many lines. Guest output reaches stderr asynchronously, so the host's
        `http_request` line may come before the component's line."""
        self.wait_for_events("http_request", requests, since)
        return self.wait_for_events("request", requests, since)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | list[tuple[str, str]] | str | None = None,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request on a new connection and return the response.

        An iterable body is sent with `Transfer-Encoding: chunked`.
        """
        if self.process.poll() is not None:
            raise AssertionError(f"the host exited with {self.process.returncode}:\n{self.output()}")
        target = path
        if query:
            target += "?" + (query if isinstance(query, str) else urlencode(query))
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            try:
                connection.request(method, target, body=body, headers=dict(headers or {}))
            except (BrokenPipeError, ConnectionResetError):
                # The host may respond to an oversized body early and close the
                # connection before the upload ends; its response is still readable.
                pass
            response = connection.getresponse()
            reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()
        with self._lock:
            self._sent += 1
        header_text = "\n".join(f"{k}: {v}" for k, v in reply.headers.items())
        self._ledger.record(f"response to {method} {path}", f"{header_text}\n{reply.text}")
        return reply

    def stop(self) -> None:
        """Stop the host and hand its output and state files to the ledger."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(LOG_TIMEOUT)
        self._ledger.record(f"output of the host with state dir {self.state_dir}", self.output())
        for path in sorted(self.state_dir.rglob("*")):
            if path.is_file():
                self._ledger.record(f"state file {path}", path.read_bytes().decode("latin-1"))


def require_loopback_endpoint(endpoint: str) -> None:
    """Fail the test unless `endpoint` is `http://127.0.0.1:PORT`."""
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or port is None:
        pytest.fail(
            f"not starting the host: sae_endpoint {endpoint!r} is not http://127.0.0.1:PORT, "
            "and the component's default endpoints are public Alibaba Cloud hosts"
        )


def require_loopback_host_command(args: object, env: Mapping[str, str] | None) -> None:
    """Fail the test if `args` starts the host with an `sae_endpoint` that is
    not loopback. A `--variable sae_endpoint=` flag wins over the environment,
    as in the host."""
    if isinstance(args, (str, bytes, os.PathLike)):
        args = [args]
    words = [os.fsdecode(word) for word in args]
    if not words or Path(words[0]).name != HOST_BINARY.name:
        return
    endpoint = (env if env is not None else os.environ).get("SPIN_VARIABLE_SAE_ENDPOINT", "")
    flags = [f"--variable={value}" for flag, value in zip(words, words[1:]) if flag == "--variable"]
    flags += [word for word in words if word.startswith("--variable=")]
    for flag in flags:
        setting = flag.removeprefix("--variable=")
        if setting.startswith("sae_endpoint="):
            endpoint = setting.removeprefix("sae_endpoint=")
    require_loopback_endpoint(endpoint)


def launch_host(
    ledger: SecretLedger,
    *,
    sae_endpoint: str,
    state_dir: Path,
    variables: Mapping[str, str | None] | None = None,
    manifest: Path = MANIFEST,
    expect_listening: bool = True,
) -> HostProcess:
    """Start the host on a free loopback port with this run's token and AccessKey.

    `variables` adds or overrides variables; a value of None leaves that
    variable unset. `sae_endpoint` goes in SPIN_VARIABLE_SAE_ENDPOINT after
    the loopback guard has checked it.
    """
    values: dict[str, str | None] = {
        "webhook_token": WEBHOOK_TOKEN,
        "access_key_id": ACCESS_KEY_ID,
        "access_key_secret": ACCESS_KEY_SECRET,
    }
    values.update(variables or {})
    if "sae_endpoint" in values:
        pytest.fail("pass sae_endpoint as the sae_endpoint argument, so that the loopback guard checks it")
    require_loopback_endpoint(sae_endpoint)

    env = {name: value for name, value in os.environ.items() if not name.startswith("SPIN_VARIABLE_")}
    env["SPIN_VARIABLE_SAE_ENDPOINT"] = sae_endpoint
    args = [str(HOST_BINARY), "--from", str(manifest), "--listen", "127.0.0.1:0", "--state-dir", str(state_dir)]
    for name, value in values.items():
        if value is None:
            continue
        if name in ENVIRONMENT_VARIABLES:
            env[f"SPIN_VARIABLE_{name.upper()}"] = value
        else:
            args += ["--variable", f"{name}={value}"]

    host = HostProcess(ledger, args, env, state_dir)
    listening = host.wait_listening()
    if expect_listening and not listening:
        host.stop()
        raise AssertionError(f"the host exited with {host.process.returncode} before listening:\n{host.output()}")
    return host
