"""Loopback stand-in for Alibaba Cloud SAE's OpenAPI, used by the tests. See README.md."""
