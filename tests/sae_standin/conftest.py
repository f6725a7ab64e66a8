"""Fixtures: a running stand-in and clients signed with the official SDK's functions."""

from __future__ import annotations

import pytest

from sae_standin.sdk_signer import SigningClient
from sae_standin.standin import SaeStandIn

ACCESS_KEY_ID = "LTAI-test-key"
SECRET = "test-secret"
STS_ACCESS_KEY_ID = "STS.test-key"
STS_SECRET = "sts-secret"
STS_TOKEN = "sts-token-value"
APP_ID = "7171a6ca-d1cd-4928-8642-7d5cfe690000"


@pytest.fixture
def standin():
    with SaeStandIn(
        credentials={ACCESS_KEY_ID: SECRET, STS_ACCESS_KEY_ID: STS_SECRET},
        sts_tokens={STS_ACCESS_KEY_ID: STS_TOKEN},
    ) as server:
        yield server


@pytest.fixture
def client(standin):
    return SigningClient(standin.port, ACCESS_KEY_ID, SECRET)


@pytest.fixture
def sts_client(standin):
    return SigningClient(standin.port, STS_ACCESS_KEY_ID, STS_SECRET, security_token=STS_TOKEN)
