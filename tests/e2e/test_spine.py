"""The main path: an ACR push becomes one signed DeployApplication with the right
image and application, in each way a caller can authenticate and configure it."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qsl

import pytest

from e2e_helpers import (
    ACCESS_KEY_ID,
    STS_ACCESS_KEY_ID,
    STS_ACCESS_KEY_SECRET,
    STS_TOKEN,
    WEBHOOK_TOKEN,
    acr_sample,
    deploy_calls,
    encode,
    new_app_id,
    post_push,
    push_event,
    single_deploy,
    vpc_image,
)

SAMPLE_IMAGES = {
    "enterprise": "registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:release-v2.0.1",
    "personal-private": "registry-vpc.cn-shanghai.aliyuncs.com/acme/order-api:v1.4.2",
}


def assert_deploying(reply, app_id: str, image: str, call) -> None:
    assert reply.status == 200, reply.text
    body = reply.json
    assert body["status"] == "deploying"
    assert body["app_id"] == app_id
    assert body["image"] == image
    assert body["change_order_id"] == call.change_order_id
    assert body["request_id"] == call.request_id


@pytest.mark.parametrize("sample", sorted(SAMPLE_IMAGES))
def test_sample_body_deploys(host, sae, sample):
    app_id = new_app_id()

    reply = post_push(host, acr_sample(sample), app_id)

    call = single_deploy(sae)
    assert call.method == "POST"
    assert call.path == "/pop/v1/sam/app/deployApplication"
    assert call.query["AppId"] == app_id
    assert call.query["ImageUrl"] == SAMPLE_IMAGES[sample]
    assert call.headers["authorization"].startswith(f"acs {ACCESS_KEY_ID}:")
    assert "x-acs-security-token" not in call.headers
    assert_deploying(reply, app_id, SAMPLE_IMAGES[sample], call)


def test_upper_case_repository_rejected(host, sae):
    reply = post_push(host, acr_sample("personal-public"), new_app_id())

    assert reply.status == 400
    assert reply.json["code"] == "invalid_field"
    assert reply.json["field"] == "repository.name"
    assert sae.calls == []


def test_lower_cased_public_sample_deploys(host, sae):
    event = acr_sample("personal-public")
    event["repository"]["name"] = event["repository"]["name"].lower()
    event["repository"]["repo_full_name"] = event["repository"]["repo_full_name"].lower()
    app_id = new_app_id()

    reply = post_push(host, event, app_id)

    call = single_deploy(sae)
    image = "registry-vpc.cn-hangzhou.aliyuncs.com/namespace/repotest:latest"
    assert call.query["ImageUrl"] == image
    assert call.query["AppId"] == app_id
    assert_deploying(reply, app_id, image, call)


def test_change_order_description_names_push(host, sae):
    event = push_event("prod", "gateway", "v3.1.0")

    post_push(host, event, new_app_id())

    # The description ends with a marker that finds the change order again
    # with ListChangeOrders when SAE's response is lost.
    digest = event["push_data"]["digest"]
    expected = f"sae-deploy-trigger: ACR push prod/gateway:v3.1.0 ({digest[:19]}) [delivery "
    description = single_deploy(sae).query["ChangeOrderDesc"]
    assert description.startswith(expected)
    assert re.fullmatch(r"[0-9a-z]{10}\]", description.removeprefix(expected))


def test_legacy_parameter_names(host, sae):
    event = push_event()
    app_id = new_app_id()
    query = {"ACCESS_TOKEN": WEBHOOK_TOKEN, "APP_ID": app_id}

    reply = host.request("POST", "/", query=query, body=encode(event))

    call = single_deploy(sae)
    assert call.query["AppId"] == app_id
    assert_deploying(reply, app_id, vpc_image(event), call)


def test_bearer_header(host, sae):
    event = push_event()
    app_id = new_app_id()

    reply = post_push(host, event, app_id, token=None, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})

    assert_deploying(reply, app_id, vpc_image(event), single_deploy(sae))


def test_url_and_header_tokens_together(host, sae):
    event = push_event()
    app_id = new_app_id()

    reply = post_push(host, event, app_id, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})

    assert_deploying(reply, app_id, vpc_image(event), single_deploy(sae))


def test_sts_credentials(launch, sae):
    host = launch(
        sae_endpoint=sae.url,
        variables={
            "access_key_id": STS_ACCESS_KEY_ID,
            "access_key_secret": STS_ACCESS_KEY_SECRET,
            "security_token": STS_TOKEN,
        },
    )
    event = push_event()
    app_id = new_app_id()

    reply = post_push(host, event, app_id)

    call = single_deploy(sae)
    assert call.headers["authorization"].startswith(f"acs {STS_ACCESS_KEY_ID}:")
    assert call.headers["x-acs-security-token"] == STS_TOKEN
    assert call.headers["x-acs-accesskey-id"] == STS_ACCESS_KEY_ID
    assert_deploying(reply, app_id, vpc_image(event), call)


def test_enterprise_instance_and_host(launch, new_standin):
    sae = new_standin(require_content_md5=True)
    registry = "myinst-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
    host = launch(
        sae_endpoint=sae.url,
        variables={"registry_host": registry, "acr_instance_id": "cri-e2etest0001"},
    )
    app_id = new_app_id()

    reply = post_push(host, acr_sample("enterprise"), app_id)

    call = single_deploy(sae)
    image = f"{registry}/prod/gateway:release-v2.0.1"
    assert call.query["ImageUrl"] == image
    assert "AcrInstanceId" not in call.query
    assert dict(parse_qsl(call.body.decode("ascii"))) == {"AcrInstanceId": "cri-e2etest0001"}
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert call.headers["content-md5"] == base64.b64encode(hashlib.md5(call.body).digest()).decode("ascii")
    assert_deploying(reply, app_id, image, call)


def test_registry_host_override(launch, sae):
    host = launch(sae_endpoint=sae.url, variables={"registry_host": "registry.cn-hangzhou.aliyuncs.com"})
    event = push_event("team", "api", "v2")

    post_push(host, event, new_app_id())

    assert single_deploy(sae).query["ImageUrl"] == "registry.cn-hangzhou.aliyuncs.com/team/api:v2"


def test_region_variable_over_body_region(launch, sae):
    host = launch(sae_endpoint=sae.url, variables={"region": "cn-beijing"})
    event = push_event(region="cn-hangzhou")
    app_id = new_app_id()

    reply = post_push(host, event, app_id)
    history = host.request("GET", "/deploys", query={"token": WEBHOOK_TOKEN}).json

    # The image stays in the registry's region. An ACR VPC host is reachable only
    # from its own region, so an app in another region pulls from the public host.
    assert single_deploy(sae).query["ImageUrl"] == "registry.cn-hangzhou.aliyuncs.com/prod/gateway:v1.0.0"
    assert reply.status == 200
    assert history["deploys"][0]["app_id"] == app_id
    assert history["deploys"][0]["region"] == "cn-beijing"


def test_region_variable_fills_missing_body_region(launch, sae):
    host = launch(sae_endpoint=sae.url, variables={"region": "cn-shenzhen"})
    event = push_event(region=None)

    reply = post_push(host, event, new_app_id())

    assert reply.status == 200, reply.text
    assert single_deploy(sae).query["ImageUrl"] == vpc_image(event, "cn-shenzhen")


def test_region_missing_everywhere(host, sae):
    reply = post_push(host, push_event(region=None), new_app_id())

    assert reply.status == 400
    assert reply.json["code"] == "missing_field"
    assert reply.json["field"] == "repository.region"
    assert sae.calls == []


def test_body_region_without_public_endpoint(host, sae):
    # With sae_endpoint set, any well-formed region is served by that endpoint.
    event = push_event(region="xx-private-1")

    reply = post_push(host, event, new_app_id())

    assert reply.status == 200, reply.text
    assert single_deploy(sae).query["ImageUrl"] == vpc_image(event)


def test_repeated_app_id_must_agree(host, sae):
    app_id = new_app_id()
    query = [("token", WEBHOOK_TOKEN), ("app_id", app_id), ("APP_ID", new_app_id())]

    reply = host.request("POST", "/", query=query, body=encode(push_event()))

    assert reply.status == 400
    assert reply.json["code"] == "invalid_parameter"
    assert reply.json["parameter"] == "app_id"
    assert deploy_calls(sae) == []


def test_request_log_line(host, sae):
    event = push_event("prod", "gateway", "v9.9.9")
    app_id = new_app_id()
    mark = host.mark()

    reply = post_push(host, event, app_id)

    [line] = host.request_logs(mark)
    assert line["endpoint"] == "trigger"
    assert line["status"] == "200"
    assert line["app_id"] == app_id
    assert line["repository"] == "prod/gateway"
    assert line["tag"] == "v9.9.9"
    assert line["outcome"] == "deploying"
    assert line["change_order_id"] == reply.json["change_order_id"]
    assert line["request_id"] == reply.json["request_id"]
